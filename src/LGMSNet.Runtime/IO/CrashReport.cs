using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace LGMSNet.Runtime.IO;

/// <summary>Keeps an internal fault's stack trace in a file (crash-&lt;time&gt;.txt), so the terminal shows one line
/// naming it and nothing is lost. Written into the given folder (a run folder), or into the temporary folder
/// when that one cannot be written (the fault may be exactly that).</summary>
public static class CrashReport
{
    /// <returns>The file written, or null when no folder could be written.</returns>
    public static string? Write(string? folder, Exception exception, IEnumerable<KeyValuePair<string, string>>? facts = null)
    {
        var now = DateTime.UtcNow;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"time: {now:yyyy-MM-dd HH:mm:ss} UTC");
        text.AppendLine(CultureInfo.InvariantCulture, $"command: {string.Join(" ", Environment.GetCommandLineArgs())}");
        text.AppendLine(CultureInfo.InvariantCulture, $"process: {Environment.ProcessId} on {Environment.MachineName}");
        text.AppendLine(CultureInfo.InvariantCulture, $"runtime: {RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription} ({RuntimeInformation.ProcessArchitecture})");
        if (facts != null)
            foreach (var (key, value) in facts) text.AppendLine(CultureInfo.InvariantCulture, $"{key}: {value}");
        text.AppendLine();
        text.AppendLine(exception.ToString());
        string name = $"crash-{now:yyyyMMdd-HHmmss}-{Environment.ProcessId}.txt";
        foreach (var candidate in new[] { folder, Path.GetTempPath() })
        {
            if (candidate == null) continue;
            try
            {
                string path = Path.Combine(Path.GetFullPath(candidate), candidate == folder ? name : "lgmsnet-" + name);
                AtomicFile.WriteAllText(path, text.ToString());
                return path;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return null;
    }
}
