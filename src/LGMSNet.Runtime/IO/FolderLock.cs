namespace LGMSNet.Runtime.IO;

/// <summary>An exclusive claim on a folder for as long as one process works in it: the file <see cref="FileName"/> in the
/// folder, held open with <see cref="FileShare.None"/> (on Linux and macOS .NET takes <c>flock(LOCK_EX)</c> on it, on Windows
/// a share mode). The operating system drops the claim when the holder closes it or dies in any way, SIGKILL included,
/// so a claim is never stale and the file left behind means nothing. Two claims conflict even within one process.
/// Whoever deletes a claimed folder's contents must keep the file: a new file would be a new, unclaimed lock.</summary>
public sealed class FolderLock : IDisposable
{
    /// <summary>The lock file's name in a claimed folder.</summary>
    public const string FileName = ".lock";

    private readonly FileStream _file;

    private FolderLock(FileStream file) => _file = file;

    /// <summary>The lock file of <paramref name="folder"/>.</summary>
    public static string PathOf(string folder) => Path.Combine(folder, FileName);

    /// <summary>Claims the existing <paramref name="folder"/>; null when another holder (this process included) has it.
    /// Other failures (a folder that cannot be written) throw as file operations do.</summary>
    public static FolderLock? TryAcquire(string folder)
    {
        try
        {
            return new FolderLock(new FileStream(PathOf(folder), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None));
        }
        catch (IOException e) when (IsHeldElsewhere(e))
        {
            return null;
        }
    }

    /// <summary>The sharing violation .NET reports for a file another handle holds: EWOULDBLOCK from flock (11 on Linux,
    /// 35 on macOS), or Windows' ERROR_SHARING_VIOLATION / ERROR_LOCK_VIOLATION.</summary>
    private static bool IsHeldElsewhere(IOException e) =>
        e is not (FileNotFoundException or DirectoryNotFoundException or PathTooLongException)
        && (OperatingSystem.IsWindows() ? e.HResult is unchecked((int)0x80070020) or unchecked((int)0x80070021)
            : e.HResult == (OperatingSystem.IsLinux() ? 11 : 35));

    /// <summary>Deletes everything in <paramref name="folder"/> but its lock file (which this claim must hold).</summary>
    public void ClearFolder(string folder)
    {
        if (!string.Equals(Path.GetFullPath(PathOf(folder)), _file.Name, StringComparison.Ordinal))
            throw new InvalidOperationException($"{folder} is not the folder this lock claims ({_file.Name})");
        foreach (var directory in Directory.EnumerateDirectories(folder)) Directory.Delete(directory, true);
        foreach (var file in Directory.EnumerateFiles(folder))
            if (!string.Equals(Path.GetFileName(file), FileName, StringComparison.Ordinal)) File.Delete(file);
    }

    /// <summary>Gives the claim up (a process that dies gives it up as well).</summary>
    public void Dispose() => _file.Dispose();
}
