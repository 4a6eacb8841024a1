using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Training;

/// <summary>How a run stands, recorded in its run.json under "status" and kept current: written when a session
/// starts (running), after every epoch, and when it ends (finished, stopped or failed, with the one line that
/// said why). A process that dies without a word (SIGKILL, power loss, a native crash) leaves "running" behind;
/// <see cref="RunCondition"/> tells that apart from a live run by the process it names.</summary>
public sealed record RunStatus
{
    public const string Running = "running", Finished = "finished", Stopped = "stopped", Failed = "failed";

    public string State { get; init; } = Running;

    /// <summary>When this session of the run started (UTC); a resumed run starts a new session.</summary>
    public DateTime Started { get; init; }

    /// <summary>The last time the status was written (UTC): at least once per epoch while running.</summary>
    public DateTime Updated { get; init; }

    /// <summary>Epochs whose state is on disk (last.safetensors).</summary>
    public int EpochsDone { get; init; }

    public int Epochs { get; init; }

    public string Host { get; init; } = "";

    public int Pid { get; init; }

    /// <summary>The process's start time (UTC), so a reused process id is not mistaken for the run's process.</summary>
    public DateTime? ProcessStarted { get; init; }

    /// <summary>The line printed when the session ended (null while running).</summary>
    public string? Reason { get; init; }

    /// <summary>The signal that stopped the run (SIGTERM, SIGINT, SIGHUP), when one did.</summary>
    public string? Signal { get; init; }

    public int? ExitCode { get; init; }

    /// <summary>The file holding an internal fault's stack trace.</summary>
    public string? CrashFile { get; init; }

    /// <summary>The command that continues the run, when a checkpoint exists to continue from.</summary>
    public string? Resume { get; init; }

    public static RunStatus Start(int epochsDone, int epochs)
    {
        var self = ProcessIdentity.Current;
        var now = DateTime.UtcNow;
        return new RunStatus
        {
            State = Running, Started = now, Updated = now, EpochsDone = epochsDone, Epochs = epochs,
            Host = self.Host, Pid = self.Pid, ProcessStarted = self.ProcessStarted,
        };
    }
}

/// <summary>What a reader of a run folder concludes: the recorded state, or <see cref="Died"/> for a run recorded
/// as running whose process is gone, or <see cref="Unknown"/> for a folder without a recorded state (a run.json
/// written before states were recorded, whose metrics.json has no final report). <see cref="Description"/> is one
/// line for people.</summary>
public sealed record RunCondition(string State, string Description, RunStatus? Status)
{
    public const string Died = "died", Unknown = "unknown";

    public bool IsFinished => State == RunStatus.Finished;

    /// <summary>A live process is (or, on another host, may be) training this run.</summary>
    public bool IsRunning => State == RunStatus.Running;
}
