using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LGMSNet.Runtime.IO;

/// <summary>Per-machine cache files: what the runtime measured or checked on this machine, kept so it is not done
/// again (the convolution kernel check, the <c>--engine auto</c> decision). Each lives in one folder, <c>$XDG_CACHE_HOME/lgmsnet/</c>
/// (else <c>~/.cache/lgmsnet/</c>), unless its own environment variable names a file. A file only spares work: one that
/// is missing, unreadable or corrupt reads as empty, and one that cannot be written is left as it is. Each file records
/// the keys it was made under (<see cref="CpuKey"/> and the versions that matter to it); its owner ignores, and rewrites,
/// a file recorded under other keys.</summary>
public static class MachineCache
{
    /// <summary>The file called <paramref name="fileName"/>: the path in <paramref name="variable"/> when that environment
    /// variable is set, else in <c>$XDG_CACHE_HOME/lgmsnet/</c>, else in <c>~/.cache/lgmsnet/</c>.</summary>
    public static string PathOf(string fileName, string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } given ? given
            : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "lgmsnet", fileName);

    /// <summary>The file's contents (<see cref="RuntimeJson"/>), or null when it is missing, unreadable or corrupt.</summary>
    public static T? Read<T>(string path) where T : class
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<T>(File.ReadAllText(path), RuntimeJson.Options) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>Writes the file atomically; a folder that cannot be written is left alone (the process still remembers,
    /// the next one measures again).</summary>
    public static void Write<T>(string path, T contents)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            AtomicFile.WriteAllText(path, RuntimeJson.Serialize(contents));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only spares work.
        }
    }

    /// <summary>This machine's key: the CPU model and a hash of its feature flags (/proc/cpuinfo on Linux; elsewhere the
    /// process architecture).</summary>
    public static string CpuKey { get; } = ReadCpuKey();

    private static string ReadCpuKey()
    {
        string? model = null, flags = null;
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.Split(':', 2) is not [var key, var value]) continue;
                key = key.Trim();
                if (key == "model name") model ??= value.Trim();
                else if (key is "flags" or "Features") flags ??= value.Trim();
                if (model != null && flags != null) break;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux: the architecture alone.
        }
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(flags ?? "")))[..12].ToLowerInvariant();
        return $"{model ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString()} (flags {hash})";
    }
}
