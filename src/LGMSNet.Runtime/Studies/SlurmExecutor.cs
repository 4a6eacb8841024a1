using System.Diagnostics;
using System.Globalization;
using System.Text;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Studies;

/// <summary>Runs a sweep on a Slurm cluster: one array job whose tasks are the unfinished runs, each task
/// calling this program (<c>sweep task DIR --index $SLURM_ARRAY_TASK_ID</c>). Tasks are requeue-safe: a
/// requeued, cancelled or lost task resumes from its run's last checkpoint when it (or a later
/// <c>sweep run</c>) starts again.</summary>
public static class SlurmExecutor
{
    public const string ScriptName = "sweep.sbatch";

    /// <summary>Writes DIR/slurm/sweep.sbatch for the given runs (indices into the manifest).</summary>
    public static string WriteScript(SweepFolder folder, SweepManifest manifest, IReadOnlyList<int> indices)
    {
        string slurm = Path.Combine(folder.Path, "slurm");
        Directory.CreateDirectory(slurm);
        var script = new StringBuilder();
        script.AppendLine("#!/bin/bash");
        script.AppendLine($"#SBATCH --job-name={manifest.Name}");
        script.AppendLine($"#SBATCH --array={string.Join(",", indices.Select(i => i.ToString(CultureInfo.InvariantCulture)))}");
        script.AppendLine($"#SBATCH --output={Path.Combine(slurm, "task-%A_%a.log")}");
        script.AppendLine("#SBATCH --open-mode=append");
        script.AppendLine("#SBATCH --requeue");
        if (manifest.Device == "cuda") script.AppendLine("#SBATCH --gres=gpu:1");
        script.AppendLine("# Each task runs one run of the sweep; a requeued or repeated task resumes the run from its last checkpoint.");
        script.AppendLine("set -euo pipefail");
        script.AppendLine($"exec {string.Join(" ", manifest.Program.Select(Quote))} sweep task {Quote(folder.Path)} --index \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-0}}\"");
        string path = Path.Combine(slurm, ScriptName);
        AtomicFile.WriteAllText(path, script.ToString());
        return path;
    }

    /// <summary>Submits the script with sbatch (extra arguments first); returns the array job id.</summary>
    public static string Submit(string script, IReadOnlyList<string> slurmArguments)
    {
        var (code, output, error) = Execute("sbatch", slurmArguments.Append("--parsable").Append(script).ToList());
        if (code != 0) throw new UserErrorException($"sbatch failed (exit code {code}): {error.Trim()}");
        string id = output.Trim().Split(';')[0];
        if (id.Length == 0 || !id.All(char.IsAsciiDigit)) throw new UserErrorException($"sbatch printed no job id: {output.Trim()}");
        File.AppendAllText(Path.Combine(Path.GetDirectoryName(script)!, "jobs.txt"), id + Environment.NewLine);
        return id;
    }

    /// <summary>Live Slurm states of array tasks, keyed <c>job_task</c> (squeue; finished tasks are absent).</summary>
    public static Dictionary<string, string> States(string? job = null)
    {
        var arguments = new List<string> { "-h", "-r", "-o", "%i %T" };
        if (job != null) arguments.AddRange(new[] { "-j", job });
        var (code, output, error) = Execute("squeue", arguments);
        // squeue exits non-zero for a job id it no longer knows: nothing of it is queued or running.
        if (code != 0 && job == null) throw new UserErrorException($"squeue failed (exit code {code}): {error.Trim()}");
        var states = new Dictionary<string, string>(StringComparer.Ordinal);
        if (code != 0) return states;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', 2);
            if (parts.Length == 2) states[parts[0]] = parts[1];
        }
        return states;
    }

    /// <summary>Polls until no task of the array job is queued or running.</summary>
    public static void Wait(string job, TextWriter log, TimeSpan poll)
    {
        string last = "";
        while (true)
        {
            var states = States(job);
            if (states.Count == 0) return;
            string summary = string.Join(", ", states.Values.GroupBy(s => s).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key.ToLowerInvariant()}"));
            if (summary != last) log.WriteLine($"job {job}: {summary}");
            last = summary;
            Thread.Sleep(poll);
        }
    }

    /// <summary>Whether Slurm's client commands are on the PATH.</summary>
    public static bool Available => Which("sbatch") != null && Which("squeue") != null;

    public static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, program)).FirstOrDefault(File.Exists);

    private static string Quote(string value) =>
        value.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:,".Contains(c)) ? value : "'" + value.Replace("'", "'\\''") + "'";

    private static (int Code, string Output, string Error) Execute(string program, IReadOnlyList<string> arguments)
    {
        if (Which(program) == null) throw new UserErrorException($"'{program}' not found on the PATH: --executor slurm needs the Slurm client commands (sbatch, squeue)", 2);
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }
}
