using System.Diagnostics;
using System.Globalization;

namespace LGMSNet.Runtime.Studies;

/// <summary>Runs a sweep's unfinished runs on this machine, <c>parallel</c> at a time, each as its own
/// process (<c>sweep task</c>) with the cores divided between them (libtorch's thread count is per process).</summary>
public static class LocalExecutor
{
    /// <returns>The number of runs that failed.</returns>
    public static int Run(SweepFolder folder, SweepManifest manifest, int parallel, TextWriter log)
    {
        var states = folder.States(manifest);
        var todo = states.Select((s, i) => (s, i)).Where(p => SweepFolder.NeedsRun(p.s.State)).Select(p => p.i).ToList();
        int skipped = states.Count(s => s.State == SweepFolder.Done), running = states.Count(s => s.State == SweepFolder.Running);
        int threads = Math.Max(1, Environment.ProcessorCount / Math.Max(1, parallel));
        log.WriteLine($"{todo.Count} run(s) to do ({skipped} done, {running} running elsewhere), {parallel} at a time with {threads} thread(s) each");
        int failures = 0;
        var gate = new object();
        Parallel.ForEach(todo, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallel) }, index =>
        {
            var run = manifest.Runs[index];
            var start = new ProcessStartInfo(manifest.Program[0])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in manifest.Program.Skip(1)) start.ArgumentList.Add(argument);
            foreach (var argument in new[] { "sweep", "task", folder.Path, "--index", index.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture) })
                start.ArgumentList.Add(argument);
            lock (gate) log.WriteLine($"{run.Id}: started (log {folder.LogFile(run.Id)})");
            int code;
            using (var file = new StreamWriter(folder.LogFile(run.Id), append: true) { AutoFlush = true })
            using (var process = Process.Start(start)!)
            {
                void Write(string? line)
                {
                    if (line == null) return;
                    lock (file) file.WriteLine(line);
                }
                process.OutputDataReceived += (_, e) => Write(e.Data);
                process.ErrorDataReceived += (_, e) => Write(e.Data);
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                process.WaitForExit();
                code = process.ExitCode;
            }
            lock (gate)
            {
                string? reason = code == 0 ? null : folder.ReadStatus(run.Id)?.Reason;
                log.WriteLine($"{run.Id}: {(code == 0 ? "done" : $"{folder.ReadStatus(run.Id)?.State ?? "failed"} (exit code {code}{(reason != null ? ": " + reason : "")}; see {folder.LogFile(run.Id)})")}");
                if (code != 0) failures++;
            }
        });
        return failures;
    }
}
