using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Studies;

/// <summary>What <c>sweep run</c> froze into the sweep folder (sweep.json): the plan, the program every
/// task runs (this executable) and the device.</summary>
public sealed record SweepManifest(string Name, string File, IReadOnlyList<string> Program, string Device, IReadOnlyList<SweepRun> Runs);

/// <summary>A run's recorded state (status/&lt;id&gt;.json), written by the task that runs it.</summary>
public sealed record RunStatus(string State, int? ExitCode, string Host, int Pid, DateTime Started, DateTime? Finished, string? SlurmJob);

/// <summary>A run as <c>sweep status</c> shows it: state is pending, running, done or failed; a run whose
/// process died (killed, cancelled, node lost) is pending again and resumes from its last checkpoint.</summary>
public sealed record SweepRunState(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("architecture")] string Architecture,
    [property: JsonPropertyName("dataset")] string Dataset,
    [property: JsonPropertyName("split")] string Split,
    [property: JsonPropertyName("seed")] long Seed,
    [property: JsonPropertyName("epochs_done")] int EpochsDone,
    [property: JsonPropertyName("exit_code")] int? ExitCode,
    [property: JsonPropertyName("slurm_job")] string? SlurmJob,
    [property: JsonPropertyName("slurm_state")] string? SlurmState);

/// <summary>The folder of a study: sweep.json, runs/&lt;id&gt;/ (each a train run folder), status/ and logs/.</summary>
public sealed class SweepFolder(string path)
{
    public const string ManifestFile = "sweep.json";
    public const string Pending = "pending", Running = "running", Done = "done", Failed = "failed";

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public string RunFolder(string id) => System.IO.Path.Combine(Path, "runs", id);

    public string LogFile(string id) => System.IO.Path.Combine(Path, "logs", id + ".log");

    private string StatusFile(string id) => System.IO.Path.Combine(Path, "status", id + ".json");

    public bool Exists => File.Exists(System.IO.Path.Combine(Path, ManifestFile));

    public SweepManifest ReadManifest()
    {
        string file = System.IO.Path.Combine(Path, ManifestFile);
        if (!File.Exists(file)) throw new UserErrorException($"{Path}: no {ManifestFile} (not a sweep folder; start one with 'sweep run <file> --output {Path}')", 2);
        return JsonSerializer.Deserialize<SweepManifest>(File.ReadAllText(file), RuntimeJson.Options)!;
    }

    public void WriteManifest(SweepManifest manifest)
    {
        Directory.CreateDirectory(Path);
        Directory.CreateDirectory(System.IO.Path.Combine(Path, "logs"));
        Directory.CreateDirectory(System.IO.Path.Combine(Path, "status"));
        AtomicFile.WriteAllText(System.IO.Path.Combine(Path, ManifestFile), RuntimeJson.Serialize(manifest));
    }

    public RunStatus? ReadStatus(string id) =>
        File.Exists(StatusFile(id)) ? JsonSerializer.Deserialize<RunStatus>(File.ReadAllText(StatusFile(id)), RuntimeJson.Options) : null;

    public void WriteStatus(string id, RunStatus status) => AtomicFile.WriteAllText(StatusFile(id), RuntimeJson.Serialize(status));

    /// <summary>Every run's state. <paramref name="slurmStates"/> maps a Slurm job id (array job_task) to its
    /// Slurm state, when Slurm is in use.</summary>
    public IReadOnlyList<SweepRunState> States(SweepManifest manifest, IReadOnlyDictionary<string, string>? slurmStates = null)
    {
        var jobs = SlurmJobs();
        return manifest.Runs.Select((run, index) =>
        {
            var status = ReadStatus(run.Id);
            string? job = status?.SlurmJob;
            string? slurm = job != null && slurmStates != null && slurmStates.TryGetValue(job, out var s) ? s : null;
            if (slurm == null && slurmStates != null)
            {
                // A task still queued (or requeued) has no status of its own yet.
                foreach (var submitted in jobs)
                    if (slurmStates.TryGetValue($"{submitted}_{index}", out var queued)) { job = $"{submitted}_{index}"; slurm = queued; }
            }
            string state = status?.State switch
            {
                Done => Done,
                Failed => Failed,
                Running when IsAlive(status, slurm) => Running,
                _ => Pending,
            };
            return new SweepRunState(run.Id, state, run.Architecture, run.Dataset, run.Split, run.Seed, EpochsDone(run.Id), status?.ExitCode, job, slurm);
        }).ToList();
    }

    /// <summary>The Slurm array jobs submitted for this sweep (slurm/jobs.txt), oldest first.</summary>
    public IReadOnlyList<string> SlurmJobs()
    {
        string file = System.IO.Path.Combine(Path, "slurm", "jobs.txt");
        return File.Exists(file) ? File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToList() : Array.Empty<string>();
    }

    /// <summary>Runs a task recorded as running are still running when their process (same host) or Slurm job lives.</summary>
    private static bool IsAlive(RunStatus status, string? slurmState)
    {
        if (status.SlurmJob != null) return slurmState is "RUNNING" or "PENDING" or "CONFIGURING" or "COMPLETING" or "REQUEUED" or "RESIZING" or "SUSPENDED";
        if (status.Host != Environment.MachineName) return true; // another machine's process: trust the record
        try
        {
            using var process = Process.GetProcessById(status.Pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private int EpochsDone(string id)
    {
        string metrics = System.IO.Path.Combine(RunFolder(id), "metrics.json");
        if (!File.Exists(metrics)) return 0;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(metrics));
            return document.RootElement.TryGetProperty("epochs", out var epochs) ? epochs.GetArrayLength() : 0;
        }
        catch (JsonException)
        {
            return 0;
        }
    }

    /// <summary>Runs one run of the sweep in this process (<c>sweep task</c>): records it as running, starts
    /// it, or resumes it from its last checkpoint when an earlier attempt was interrupted, then records the outcome.</summary>
    public int RunTask(SweepManifest manifest, int index, int threads, Func<string[], int> train, TextWriter log)
    {
        if (index < 0 || index >= manifest.Runs.Count)
            throw new UserErrorException($"--index {index}: the sweep has runs 0 to {manifest.Runs.Count - 1}", 2);
        var run = manifest.Runs[index];
        if (ReadStatus(run.Id)?.State == Done)
        {
            log.WriteLine($"{run.Id}: already done");
            return 0;
        }
        string? slurmJob = Environment.GetEnvironmentVariable("SLURM_ARRAY_JOB_ID") is { } array && Environment.GetEnvironmentVariable("SLURM_ARRAY_TASK_ID") is { } task
            ? $"{array}_{task}" : null;
        var started = DateTime.UtcNow;
        WriteStatus(run.Id, new RunStatus(Running, null, Environment.MachineName, Environment.ProcessId, started, null, slurmJob));
        string folder = RunFolder(run.Id);
        var extra = threads > 0 ? new[] { "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture) } : Array.Empty<string>();
        string[] arguments;
        if (File.Exists(System.IO.Path.Combine(folder, "last.safetensors")))
        {
            log.WriteLine($"{run.Id}: resuming {folder}");
            arguments = new[] { "train", "--resume", folder, "--device", manifest.Device }.Concat(extra).ToArray();
        }
        else
        {
            // An attempt that did not finish an epoch left nothing worth keeping.
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
            log.WriteLine($"{run.Id}: starting");
            arguments = run.TrainArguments.Concat(new[] { "--output", folder, "--device", manifest.Device }).Concat(extra).ToArray();
        }
        int code = train(arguments);
        WriteStatus(run.Id, new RunStatus(code == 0 ? Done : Failed, code, Environment.MachineName, Environment.ProcessId, started, DateTime.UtcNow, slurmJob));
        log.WriteLine($"{run.Id}: {(code == 0 ? Done : $"failed (exit code {code})")}");
        return code;
    }

    /// <summary>The command line that runs this program again: LGMSNET_PROGRAM when set (an executable, or
    /// a .dll run with dotnet), else this process's executable (with the entry assembly under <c>dotnet</c>).</summary>
    public static IReadOnlyList<string> ThisProgram()
    {
        if (Environment.GetEnvironmentVariable("LGMSNET_PROGRAM") is { Length: > 0 } program)
            return program.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? new[] { "dotnet", System.IO.Path.GetFullPath(program) } : new[] { System.IO.Path.GetFullPath(program) };
        string self = Environment.ProcessPath ?? throw new UserErrorException("cannot tell which program is running; set LGMSNET_PROGRAM to it", 2);
        return System.IO.Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? new[] { self, Assembly.GetEntryAssembly()?.Location ?? throw new UserErrorException("cannot tell which program is running; set LGMSNET_PROGRAM to it", 2) }
            : new[] { self };
    }
}
