using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Cli;

/// <summary>Runs <c>train</c> in a child process of this program and watches it, so that even a death the training
/// process cannot report — a native fault in libtorch or another native library (SIGSEGV, SIGFPE, SIGBUS, SIGILL,
/// SIGABRT), or SIGKILL from the kernel's out-of-memory killer or <c>kill -9</c> — ends with one line saying how,
/// what was saved and how to continue, recorded in run.json and in a crash file. The child shares the terminal
/// (progress bars, --json output) and gets every stop signal the supervisor receives; it stops by itself when the
/// supervisor dies. Not used for in-process calls (tests, embedding), and off with LGMSNET_SUPERVISOR=0.</summary>
internal static class TrainingSupervisor
{
    /// <summary>Set in the child: it is the supervised training process; holds the file it names its run folder in.</summary>
    public const string SessionFileVariable = "LGMSNET_SUPERVISED_SESSION";

    private static readonly Dictionary<int, string> Faults = new()
    {
        [4] = "SIGILL (an illegal instruction in native code)",
        [6] = "SIGABRT (native code aborted, e.g. libtorch's std::terminate)",
        [7] = "SIGBUS (a bus error in native code, e.g. a memory-mapped file that shrank)",
        [8] = "SIGFPE (an arithmetic fault in native code, e.g. a division by zero in libtorch or oneDNN)",
        [9] = "SIGKILL (kill -9, or the kernel's out-of-memory killer: see dmesg)",
        [11] = "SIGSEGV (a segmentation fault in native code)",
    };


    /// <summary>Whether this invocation should train under a supervisor: a real program's <c>train</c> on the process's
    /// own console, not already supervised, not turned off.</summary>
    public static bool Applies(string[] args, TextWriter? output, TextWriter? error) =>
        args.Length > 0 && args[0] == "train" && !args.Any(a => a is "-h" or "--help" or "-?")
        && (output == null || ReferenceEquals(output, Console.Out)) && (error == null || ReferenceEquals(error, Console.Error))
        && Environment.GetEnvironmentVariable(SessionFileVariable) == null
        && Environment.GetEnvironmentVariable("LGMSNET_SUPERVISOR") != "0"
        && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS());

    public static int Run(string[] args, TextWriter error)
    {
        string sessionFile = Path.Combine(Path.GetTempPath(), $"lgmsnet-session-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
        var program = ThisProgram.Invocation();
        var start = new ProcessStartInfo(program[0]) { UseShellExecute = false };
        foreach (var argument in program.Skip(1).Concat(args)) start.ArgumentList.Add(argument);
        start.Environment[SessionFileVariable] = sessionFile;
        Process child;
        try
        {
            child = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            error.WriteLine($"warning: cannot start a supervised training process ({e.Message}); training without a supervisor");
            return -1;
        }
        using (child)
        using (var forward = new SignalForwarder(child.Id))
        {
            child.WaitForExit();
            int code = child.ExitCode;
            try
            {
                if (code > 128 && Faults.TryGetValue(code - 128, out var fault)) Report(child.Id, fault, code, sessionFile, error, stopped: false);
                else if (StopSignals.FromExitCode(code) is { } stop) Report(child.Id, stop, code, sessionFile, error, stopped: true);
            }
            finally
            {
                try { File.Delete(sessionFile); } catch (IOException) { }
            }
            return code;
        }
    }

    /// <summary>In the supervised child: names the run folder of the session starting now, and asks the kernel to send
    /// SIGTERM when the supervisor dies (so a killed supervisor leaves no orphan training on).</summary>
    public static void SessionStarted(string folder)
    {
        if (Environment.GetEnvironmentVariable(SessionFileVariable) is not { Length: > 0 } file) return;
        try
        {
            File.WriteAllText(file, folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        if (OperatingSystem.IsLinux()) _ = SetParentDeathSignal(1 /* PR_SET_PDEATHSIG */, 15 /* SIGTERM */);
    }

    [DllImport("libc", EntryPoint = "prctl")]
    private static extern int SetParentDeathSignal(int option, ulong signal);

    /// <summary>The child died of <paramref name="fault"/> without recording how its run ended: record it, say it once.</summary>
    private static void Report(int pid, string fault, int code, string sessionFile, TextWriter error, bool stopped)
    {
        string? folder = File.Exists(sessionFile) ? File.ReadAllText(sessionFile).Trim() : null;
        // The child's claim on the folder died with it: claim it while recording the end, so that a run started in the
        // meantime (which holds the claim then) is never overwritten with this one's end.
        using var claim = folder != null && Directory.Exists(folder) ? TryClaim(folder) : null;
        var status = claim != null ? RunFile.ReadStatus(folder!) : null;
        if (status != null && status.Pid == pid && status.State != RunStatus.Running) return; // the child said how it ended
        string how = stopped ? $"ended by {fault} while it was starting, before it could stop at a safe point" : $"died of {fault}";
        if (folder == null || status == null || status.State != RunStatus.Running || status.Pid != pid)
        {
            error.WriteLine($"{(stopped ? "run stopped" : "error")}: the training process ({pid}) {how}" +
                            (folder != null ? $"; run folder {folder}" : " before it started a run; nothing was saved"));
            return;
        }
        int done = status.EpochsDone;
        string name = fault.Split(' ')[0];
        string where = done < status.Epochs ? $"during epoch {done + 1} of {status.Epochs}" : "after its last epoch";
        bool resumable = done > 0 && File.Exists(Path.Combine(folder, Trainer.LastCheckpoint));
        string resume = ThisProgram.Command("train", "--resume", folder);
        var facts = new Dictionary<string, string>
        {
            ["run folder"] = folder,
            ["training process"] = pid.ToString(CultureInfo.InvariantCulture),
            ["ended by"] = fault,
            ["exit status"] = code.ToString(CultureInfo.InvariantCulture),
            ["epochs saved"] = done.ToString(CultureInfo.InvariantCulture),
            ["hint"] = "a native fault has no managed stack trace; run the resume command under gdb, or set DOTNET_DbgEnableMiniDump=1 for a core dump",
        };
        string? crash = stopped ? null : CrashReport.Write(folder, new NativeFault($"the training process died of {fault}"), facts);
        string line = $"{(stopped ? "run stopped" : "error")}: the training process {how} {where}" +
                      (crash != null ? $"; details in {crash}" : "") + "; " +
                      (resumable
                          ? $"epoch {done} of {status.Epochs} is saved in {Path.Combine(folder, Trainer.LastCheckpoint)}; continue with: {resume}"
                          : "no epoch was complete, so nothing is saved to continue from; start it again");
        try
        {
            RunFile.WriteStatus(folder, status with
            {
                State = stopped ? RunStatus.Stopped : RunStatus.Failed, Updated = DateTime.UtcNow, Reason = line, Signal = name, ExitCode = code, CrashFile = crash,
                Resume = resumable ? resume : null,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"warning: could not record the run's end in {RunFile.PathOf(folder)}: {e.Message}");
        }
        error.WriteLine(line);
    }

    private static FolderLock? TryClaim(string folder)
    {
        try
        {
            return FolderLock.TryAcquire(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private sealed class NativeFault(string message) : Exception(message);

    /// <summary>Passes SIGTERM, SIGINT and SIGHUP on to the child (which decides what they mean) instead of ending the supervisor.</summary>
    private sealed class SignalForwarder : IDisposable
    {
        private readonly List<PosixSignalRegistration> _registrations = new();

        public SignalForwarder(int pid)
        {
            foreach (var (signal, name) in new[] { (PosixSignal.SIGTERM, "SIGTERM"), (PosixSignal.SIGINT, "SIGINT"), (PosixSignal.SIGHUP, "SIGHUP") })
                _registrations.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    _ = StopSignals.Send(pid, StopSignals.Numbers[name]);
                }));
        }

        public void Dispose()
        {
            foreach (var registration in _registrations) registration.Dispose();
        }
    }
}
