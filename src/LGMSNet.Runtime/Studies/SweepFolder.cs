using System.Text.Json;
using System.Text.Json.Serialization;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Studies;

/// <summary>What <c>sweep run</c> froze into the sweep folder (sweep.json): the plan, the program every
/// task runs (this executable) and the device.</summary>
public sealed record SweepManifest(string Name, string File, IReadOnlyList<string> Program, string Device, IReadOnlyList<SweepRun> Runs);

/// <summary>A run's recorded state (status/&lt;id&gt;.json), written by the task that runs it.</summary>
public sealed record SweepTaskStatus(string State, int? ExitCode, string Host, int Pid, DateTime Started, DateTime? Finished, string? SlurmJob,
    string? Reason = null, DateTime? ProcessStarted = null);

/// <summary>A run as <c>sweep status</c> shows it: state is pending, running, done, stopped (by a signal: Slurm's
/// scancel or time limit, Ctrl+C), failed, or died (its task process is gone without recording an end: SIGKILL, the
/// out-of-memory killer, a lost node); <see cref="Reason"/> says why for the last three. Every state but done and running
/// is run again by the next <c>sweep run</c>, resuming from the run's last checkpoint.</summary>
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
    [property: JsonPropertyName("slurm_state")] string? SlurmState,
    [property: JsonPropertyName("reason")] string? Reason = null);

/// <summary>The folder of a study: sweep.json, runs/&lt;id&gt;/ (each a train run folder), status/ and logs/.</summary>
public sealed class SweepFolder(string path)
{
    public const string ManifestFile = "sweep.json";
    public const string Pending = "pending", Running = "running", Done = "done", Failed = "failed", Stopped = "stopped", Died = "died";

    /// <summary>Whether <c>sweep run</c> (re)starts a run in this state: everything but done and running.</summary>
    public static bool NeedsRun(string state) => state is not (Done or Running);

    public string Path { get; } = System.IO.Path.GetFullPath(path);

    public string RunFolder(string id) => System.IO.Path.Combine(RunsFolder, id);

    /// <summary>The folder of every run's folder (what <c>tensorboard --logdir</c> is given to compare the runs).</summary>
    public string RunsFolder => System.IO.Path.Combine(Path, "runs");

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

    public SweepTaskStatus? ReadStatus(string id) =>
        File.Exists(StatusFile(id)) ? JsonSerializer.Deserialize<SweepTaskStatus>(File.ReadAllText(StatusFile(id)), RuntimeJson.Options) : null;

    public void WriteStatus(string id, SweepTaskStatus status) => AtomicFile.WriteAllText(StatusFile(id), RuntimeJson.Serialize(status));

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
            var (state, reason) = status?.State switch
            {
                Done => (Done, null),
                Failed or Stopped => (status.State, status.Reason),
                Running when IsAlive(status, slurm) => (Running, null),
                Running => (Died, DiedReason(run.Id, status)),
                _ => (Pending, (string?)null),
            };
            return new SweepRunState(run.Id, state, run.Architecture, run.Dataset, run.Split, run.Seed, EpochsDone(run.Id), status?.ExitCode, job, slurm, reason);
        }).ToList();
    }

    /// <summary>The Slurm array jobs submitted for this sweep (slurm/jobs.txt), oldest first.</summary>
    public IReadOnlyList<string> SlurmJobs()
    {
        string file = System.IO.Path.Combine(Path, "slurm", "jobs.txt");
        return File.Exists(file) ? File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToList() : Array.Empty<string>();
    }

    /// <summary>Runs a task recorded as running are still running when their process (same host) or Slurm job lives.</summary>
    private static bool IsAlive(SweepTaskStatus status, string? slurmState)
    {
        if (status.SlurmJob != null) return slurmState is "RUNNING" or "PENDING" or "CONFIGURING" or "COMPLETING" or "REQUEUED" or "RESIZING" or "SUSPENDED";
        // Another machine's process cannot be checked from here: trust the record.
        return status.Host != Environment.MachineName || ProcessIdentity.IsAlive(status.Pid, status.ProcessStarted);
    }

    /// <summary>Why a task recorded as running is gone: what its run folder recorded, else that it died without a word.</summary>
    private string DiedReason(string id, SweepTaskStatus status)
    {
        var condition = RunFile.Inspect(RunFolder(id));
        if (condition.State is not (RunCondition.Unknown or RunStatus.Running or RunStatus.Finished)) return condition.Description;
        return $"its task (process {status.Pid} on {status.Host}{(status.SlurmJob != null ? $", Slurm job {status.SlurmJob}" : "")}) is gone without recording an end " +
               "(SIGKILL, the out-of-memory killer, a lost node or a power loss)";
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
        var self = ProcessIdentity.Current;
        WriteStatus(run.Id, new SweepTaskStatus(Running, null, self.Host, self.Pid, started, null, slurmJob, ProcessStarted: self.ProcessStarted));
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
            // An attempt that did not finish an epoch left nothing worth keeping, unless it is still starting (it holds the
            // folder's lock, which must survive: a new lock file would not be the one that process holds).
            if (Directory.Exists(folder))
            {
                using var claim = FolderLock.TryAcquire(folder);
                if (claim == null)
                {
                    string refusal = $"another process is training the run folder {folder} (it holds {FolderLock.PathOf(folder)}); stop it first, or let it finish";
                    WriteStatus(run.Id, new SweepTaskStatus(Failed, 2, self.Host, self.Pid, started, DateTime.UtcNow, slurmJob, refusal, self.ProcessStarted));
                    throw new UserErrorException($"{run.Id}: {refusal}", 2);
                }
                claim.ClearFolder(folder);
            }
            log.WriteLine($"{run.Id}: starting");
            arguments = run.TrainArguments.Concat(new[] { "--output", folder, "--device", manifest.Device }).Concat(extra).ToArray();
        }
        int code = train(arguments);
        // The run's own record says how it ended (stopped by a signal, failed and why); the task keeps that line.
        var condition = RunFile.Inspect(folder);
        string? signal = StopSignals.FromExitCode(code);
        string state = code == 0 ? Done : condition.State == RunStatus.Stopped || signal != null ? Stopped : Failed;
        string? reason = code == 0 ? null : condition.Status is { State: not RunStatus.Running, Reason: { } recorded } ? recorded
            : signal != null ? $"stopped by {signal} (exit code {code}) before the run recorded anything"
            : $"train exited with code {code} before recording its end";
        WriteStatus(run.Id, new SweepTaskStatus(state, code, self.Host, self.Pid, started, DateTime.UtcNow, slurmJob, reason, self.ProcessStarted));
        log.WriteLine($"{run.Id}: {(code == 0 ? Done : $"{state} (exit code {code}): {reason}")}");
        return code;
    }
}
