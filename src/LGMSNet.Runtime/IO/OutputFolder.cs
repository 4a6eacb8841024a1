namespace LGMSNet.Runtime.IO;

/// <summary>Checks an output folder before hours of work go into it: it can be created and written,
/// and the disk has room for what will be written.</summary>
public static class OutputFolder
{
    /// <summary>Creates <paramref name="folder"/>, proves a file can be written there, and that at least
    /// <paramref name="neededBytes"/> are free (<paramref name="purpose"/> names what needs them in the message).</summary>
    public static void Prepare(string folder, long neededBytes, string purpose)
    {
        try
        {
            Directory.CreateDirectory(folder);
            AtomicFile.WriteAllText(Path.Combine(folder, ".write-test"), "ok");
            File.Delete(Path.Combine(folder, ".write-test"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"cannot write to the output folder {folder}: {e.Message}");
        }
        long free = new DriveInfo(folder).AvailableFreeSpace;
        if (free < neededBytes)
            throw new UserErrorException($"only {ByteSize.Format(free)} free in {folder}; {purpose} needs about {ByteSize.Format(neededBytes)}");
    }
}
