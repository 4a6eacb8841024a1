using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

/// <summary><c>soak</c>: trains for many epochs through the real CLI (its own supervised process) while CPU-burning
/// processes load every core, interrupts the run once with SIGTERM and resumes it, and checks that every session ended
/// with a line saying how and a run.json state to match. Prints one summary; exit 0 only when nothing ended silently
/// and the run finished.</summary>
internal static class Soak
{
    public static int Run(string[] args)
    {
        string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        int Int(string name, int fallback) => int.Parse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        int epochs = Int("--epochs", 60), burners = Int("--burners", 2 * Environment.ProcessorCount), interruptAt = Int("--interrupt-after", epochs / 3);
        string folder = Path.GetFullPath(Option("--output", Path.Combine("runs", $"soak-{DateTime.Now:yyyyMMdd-HHmmss}")));
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        string cli = Option("--cli", Path.Combine(Repo.Root, "architectures", "bin", configuration, "net10.0", "lgmsnet.dll"));
        if (!File.Exists(cli))
        {
            Console.Error.WriteLine($"{cli} not built (dotnet build architectures -c {configuration}), or give --cli");
            return 2;
        }
        var train = new List<string>
        {
            "train", Option("--arch", "lgmsnet"), "--data", Option("--data", "synthetic"), "--epochs", epochs.ToString(CultureInfo.InvariantCulture),
            "--batch", Option("--batch", "8"), "--size", Option("--size", "64"), "--synthetic-train", Option("--synthetic-train", "128"),
            "--synthetic-val", Option("--synthetic-val", "32"), "--threads", Option("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)),
            "--output", folder,
        };
        Console.WriteLine($"soak: {string.Join(" ", train)}; {burners} CPU-burning process(es) on {Environment.ProcessorCount} core(s); SIGTERM after epoch {interruptAt}, then --resume");
        var burning = Enumerable.Range(0, burners).Select(_ => Process.Start(new ProcessStartInfo("sh", new[] { "-c", "while :; do :; done" }) { UseShellExecute = false })!).ToList();
        var clock = Stopwatch.StartNew();
        var sessions = new List<(int Code, string LastLine, string? State, int Epochs)>();
        long peakRss = 0;
        try
        {
            for (int session = 0; session < 4; session++)
            {
                var arguments = session == 0 ? train : new List<string> { "train", "--resume", folder };
                var (code, last, rss) = Session(cli, arguments, folder, session == 0 ? interruptAt : null);
                peakRss = Math.Max(peakRss, rss);
                var status = Status(folder);
                sessions.Add((code, last, status?.State, status?.Epochs ?? 0));
                Console.WriteLine($"session {session + 1}: exit {code}, run.json {status?.State ?? "-"} after {status?.Epochs ?? 0} epoch(s); last line: {last}");
                if (status?.State == "finished" || (code != 0 && status?.State != "stopped")) break;
            }
        }
        finally
        {
            foreach (var burner in burning)
            {
                try { burner.Kill(); } catch (InvalidOperationException) { }
                burner.Dispose();
            }
        }
        bool silent = sessions.Any(s => !(s.LastLine.StartsWith("run finished", StringComparison.Ordinal) || s.LastLine.StartsWith("run stopped", StringComparison.Ordinal)
                                          || s.LastLine.StartsWith("error:", StringComparison.Ordinal) || s.LastLine.StartsWith("internal error", StringComparison.Ordinal)));
        bool finished = sessions.Count > 0 && sessions[^1].State == "finished";
        double? best = BestScore(folder);
        Console.WriteLine($"soak result: {(finished ? "finished" : "NOT finished")}, {sessions.Count} session(s), {(silent ? "a session ended WITHOUT a final line" : "every session ended with a line saying how")}; " +
                          $"{sessions.LastOrDefault().Epochs} epochs in {clock.Elapsed.TotalMinutes:0.0} min under {burners} burner(s); best validation score {best?.ToString("0.0000", CultureInfo.InvariantCulture) ?? "-"}; " +
                          $"trainer peak RSS {peakRss / (1 << 20)} MiB; run folder {folder}");
        return finished && !silent ? 0 : 1;
    }

    /// <summary>Runs one CLI session; sends SIGTERM to it once <paramref name="interruptAfter"/> epochs are on disk.</summary>
    private static (int Code, string LastLine, long PeakRss) Session(string cli, List<string> arguments, string folder, int? interruptAfter)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(cli);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string last = "";
        void Line(string? text)
        {
            if (string.IsNullOrWhiteSpace(text)) return;
            Console.WriteLine("  | " + text);
            lock (start) last = text;
        }
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        long peak = 0;
        bool signalled = false;
        while (!process.WaitForExit(500))
        {
            var status = Status(folder);
            if (status is { Pid: > 0 } s) peak = Math.Max(peak, Rss(s.Pid));
            if (!signalled && interruptAfter is { } after && status?.Epochs >= after)
            {
                signalled = true;
                Process.Start("kill", new[] { "-TERM", process.Id.ToString(CultureInfo.InvariantCulture) })!.WaitForExit();
            }
        }
        process.WaitForExit();
        lock (start) return (process.ExitCode, last, peak);
    }

    internal sealed record Recorded(string State, int Epochs, int Pid);

    internal static Recorded? Status(string folder)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "run.json")));
            if (!document.RootElement.TryGetProperty("status", out var s)) return null;
            return new Recorded(s.GetProperty("state").GetString()!, s.GetProperty("epochs_done").GetInt32(), s.GetProperty("pid").GetInt32());
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    private static double? BestScore(string folder)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "metrics.json")));
            var best = document.RootElement.GetProperty("best");
            return best.TryGetProperty("iou", out var iou) && iou.ValueKind == JsonValueKind.Number ? iou.GetDouble() : null;
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The peak resident set (VmHWM) of a live process on Linux; 0 where unknown.</summary>
    internal static long Rss(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line == null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
