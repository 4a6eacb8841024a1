using System.Globalization;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Reports;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Cli;

/// <summary>One session of a training run, supervised so that it never ends without saying why: it listens for
/// SIGTERM, SIGINT and SIGHUP (the first stops at a safe point, a second aborts), and every end — finished,
/// stopped, failed with an error, an internal fault on any thread — prints one line saying how, records it in
/// run.json, and names what was saved and the exact command that continues the run. An internal fault's stack
/// trace goes to a crash file in the run folder.</summary>
internal sealed class TrainingSession
{
    private static TrainingSession? _current;

    private readonly CliContext _context;
    private readonly TrainOptions _options;
    private readonly string _folder;
    private Trainer? _trainer;
    private int _ended;

    private TrainingSession(CliContext context, TrainOptions options)
    {
        _context = context;
        _options = options;
        _folder = Path.GetFullPath(options.OutputDir);
    }

    /// <summary>Runs <paramref name="train"/> (which creates the trainer through <c>create</c> and runs it with the stop token)
    /// and returns the exit code: 0 finished, 128 + the signal's number when stopped, the error's code when failed.</summary>
    public static int Run(CliContext context, TrainOptions options, string? folds, Func<Func<Trainer, Trainer>, CancellationToken, RunReport> train,
        Func<RunReport, string> finishedLine, TextWriter log)
    {
        var session = new TrainingSession(context, options);
        using var signals = StopSignals.Listen(
            signal => context.Error.WriteLine($"received {signal}: stopping at the next safe point and keeping the last complete epoch " +
                                              $"(send {signal} again to abort at once)"),
            signal => session.Abort(signal));
        _current = session;
        TrainingSupervisor.SessionStarted(session._folder);
        try
        {
            var report = train(trainer => session._trainer = trainer, signals.Token);
            string line = finishedLine(report);
            // A session ended early on purpose (--stop-after) is a stopped run that --resume continues.
            session.End(session.EpochsDone >= options.Epochs ? RunStatus.Finished : RunStatus.Stopped, line, exitCode: 0);
            log.WriteLine(line);
            return 0;
        }
        catch (RunStoppedException stopped)
        {
            string signal = signals.Received ?? "a stop request";
            int code = signals.Received != null ? StopSignals.ExitCode(signals.Received) : 1;
            string line = $"run stopped by {signal} during {stopped.Phase}: {session.Saved(stopped.EpochsDone)}{folds}";
            session.End(RunStatus.Stopped, line, code, signal: signals.Received);
            context.Error.WriteLine(line);
            return code;
        }
        catch (Exception e) when (LgmsCli.UserFacing(e) is { } message)
        {
            // A user mistake or an expected failure: the message, what survived, and how to continue; no stack trace.
            // Environment faults (a folder that cannot be written) also keep their stack trace, in a crash file.
            string? crash = e is IOException or UnauthorizedAccessException ? session.CrashFile(e) : null;
            string line = $"error: {message.TrimEnd('.')}. The run failed during {session.Phase}" +
                          (crash != null ? $"; details in {crash}" : "") + $"; {session.Saved(session.EpochsDone, failed: true)}{folds}";
            session.End(RunStatus.Failed, line, LgmsCli.ExitCode(e), crashFile: crash);
            context.Error.WriteLine(line);
            return LgmsCli.ExitCode(e);
        }
        catch (Exception e)
        {
            context.Error.WriteLine(session.Crash(e, background: false));
            return LgmsCli.InternalErrorCode;
        }
        finally
        {
            _current = null;
        }
    }

    /// <summary>The session in progress, for the last-resort handler of exceptions on other threads.</summary>
    public static TrainingSession? Current => _current;

    private string Phase => _trainer?.Phase ?? "starting";

    private int EpochsDone => _trainer?.EpochsDone ?? 0;

    /// <summary>An internal fault: the stack trace into a crash file, the run recorded as failed; returns the line to print.</summary>
    public string Crash(Exception e, bool background)
    {
        string? crash = CrashFile(e);
        var inner = e is Data.BatchPreparationException { InnerException: { } cause } ? cause : e;
        string line = $"internal error{(background ? " on a background thread" : "")}: {inner.GetType().Name}: {inner.Message.TrimEnd('.')}. " +
                      $"The run failed during {Phase}; " +
                      (crash != null ? $"the stack trace is in {crash} (please report it)" : "the stack trace could not be written anywhere: " + e) +
                      $"; {Saved(EpochsDone, failed: true)}";
        End(RunStatus.Failed, line, LgmsCli.InternalErrorCode, crashFile: crash);
        return line;
    }

    private string? CrashFile(Exception e) => CrashReport.Write(Directory.Exists(_folder) ? _folder : null, e, new Dictionary<string, string>
    {
        ["run folder"] = _folder,
        ["phase"] = Phase,
        ["epochs saved"] = EpochsDone.ToString(CultureInfo.InvariantCulture),
    });

    /// <summary>A second signal: record the abort and end the process now.</summary>
    private void Abort(string signal)
    {
        string line = $"run aborted by a second {signal} during {Phase}: {Saved(EpochsDone)}";
        End(RunStatus.Stopped, line, StopSignals.ExitCode(signal), signal: signal);
        _context.Error.WriteLine(line);
        _context.Error.Flush();
        _context.Out.Flush();
        StopSignals.TerminateNow(signal);
    }

    /// <summary>What is on disk after <paramref name="epochsDone"/> epochs, and the command that continues from it.</summary>
    private string Saved(int epochsDone, bool failed = false)
    {
        return epochsDone > 0 && HasCheckpoint
            ? $"epoch {epochsDone} of {_options.Epochs} is saved in {Path.Combine(_folder, Trainer.LastCheckpoint)}; " +
              $"{(failed ? "after fixing the cause, continue" : "continue")} with: {ResumeCommand}"
            : $"no epoch was complete, so nothing is saved to continue from; start it again with: {StartCommand}";
    }

    private bool HasCheckpoint => File.Exists(Path.Combine(_folder, Trainer.LastCheckpoint));

    private string ResumeCommand => ThisProgram.Command("train", "--resume", _folder);

    /// <summary>The command that started the run, from the folder it was started in (its paths may be relative).</summary>
    private string StartCommand => string.IsNullOrWhiteSpace(_options.CommandLine)
        ? ThisProgram.Command("train", _options.Architecture, "--output", _folder)
        : $"cd {ThisProgram.Quote(Environment.CurrentDirectory)} && {_options.CommandLine}";

    /// <summary>Records how the session ended (once; a failure to record is reported, never thrown over the line that says why).</summary>
    private void End(string state, string reason, int exitCode, string? signal = null, string? crashFile = null)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1 || !File.Exists(RunFile.PathOf(_folder))) return;
        bool resumable = EpochsDone > 0 && HasCheckpoint;
        try
        {
            RunFile.UpdateStatus(_folder, s => (s ?? RunStatus.Start(EpochsDone, _options.Epochs)) with
            {
                State = state, Updated = DateTime.UtcNow, EpochsDone = EpochsDone, Reason = reason, Signal = signal, ExitCode = exitCode,
                CrashFile = crashFile, Resume = state == RunStatus.Finished || !resumable ? null : ResumeCommand,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _context.Error.WriteLine($"warning: could not record the run's end in {RunFile.PathOf(_folder)}: {e.Message}");
        }
    }
}
