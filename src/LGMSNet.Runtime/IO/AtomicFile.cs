namespace LGMSNet.Runtime.IO;

/// <summary>Writes a file so that readers see either the old content or the complete new one:
/// write a temporary file in the same folder, flush it to disk, then rename it over the target.
/// A crash at any moment leaves the previous file intact.</summary>
public static class AtomicFile
{
    /// <summary><paramref name="temporaryName"/>: what the temporary file is called instead of the target's name (it is
    /// <c>.NAME.PID.GUID.tmp</c>), for folders where readers pick files by a part of their name (TensorBoard reads any
    /// file whose name contains "tfevents").</summary>
    public static void Write(string path, Action<Stream> write, string? temporaryName = null)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(directory);
        string temporary = Path.Combine(directory, $".{temporaryName ?? Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                using var stream = FaultInjection.Wrap(file, Path.GetFileName(full));
                write(stream);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            // Name the file and say what survived: a full disk or a lost mount must not read like a bug.
            if (e is IOException or UnauthorizedAccessException)
                throw new IOException($"cannot write {full}: {e.Message}; " +
                    (File.Exists(full) ? "its previous version is unchanged" : "nothing was written"), e);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            writer.Write(text);
        });
}
