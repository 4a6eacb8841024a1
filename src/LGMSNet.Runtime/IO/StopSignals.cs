using System.Runtime.InteropServices;

namespace LGMSNet.Runtime.IO;

/// <summary>Turns SIGTERM, SIGINT and SIGHUP — what Slurm, <c>timeout</c>, Ctrl+C and a closed terminal send —
/// from "the runtime ends the process without a word" (its default: exit 143, 130 or 129, nothing printed)
/// into a stop request that the work in progress honours at its next safe point (<see cref="Token"/>). The
/// first signal calls <c>onFirst</c>; a second one (the same signal repeated within <see cref="DuplicateWindow"/> is one
/// delivery, not two) calls <c>onSecond</c>, which is expected to end the process at once. Disposing restores the default
/// handling.</summary>
public sealed class StopSignals : IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<string> _onFirst;
    private readonly Action<string> _onSecond;
    private int _received;
    private readonly System.Diagnostics.Stopwatch _first = new();

    /// <summary>The same signal again within this time is the same event delivered twice, not a second request.</summary>
    public static readonly TimeSpan DuplicateWindow = TimeSpan.FromMilliseconds(500);

    private StopSignals(Action<string> onFirst, Action<string> onSecond)
    {
        _onFirst = onFirst;
        _onSecond = onSecond;
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGHUP })
            _registrations.Add(PosixSignalRegistration.Create(signal, Handle));
    }

    /// <summary>Starts listening. <paramref name="onFirst"/> and <paramref name="onSecond"/> get the signal's name (e.g. SIGTERM).</summary>
    public static StopSignals Listen(Action<string> onFirst, Action<string> onSecond) => new(onFirst, onSecond);

    /// <summary>Cancelled when the first stop signal arrives.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>The first signal received (e.g. "SIGTERM"), or null.</summary>
    public string? Received { get; private set; }

    /// <summary>The exit status a shell reports for a process ended by <paramref name="signal"/>: 128 + its number.</summary>
    public static int ExitCode(string signal) => 128 + (Numbers.TryGetValue(signal, out int number)
        ? number
        : throw new ArgumentOutOfRangeException(nameof(signal), signal, "not a stop signal"));

    /// <summary>The stop signal an exit status of 128 + N reports (e.g. 143 → SIGTERM), or null.</summary>
    public static string? FromExitCode(int code) => Numbers.FirstOrDefault(p => 128 + p.Value == code).Key;

    /// <summary>The stop signals and their numbers (the same on Linux and macOS).</summary>
    public static IReadOnlyDictionary<string, int> Numbers { get; } = new Dictionary<string, int> { ["SIGHUP"] = 1, ["SIGINT"] = 2, ["SIGTERM"] = 15 };

    /// <summary>Sends signal <paramref name="signal"/> (a number) to process <paramref name="pid"/>; false when it failed.</summary>
    public static bool Send(int pid, int signal) => SendSignal(pid, signal) == 0;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>Ends the process now, as <paramref name="signal"/>'s default action does (exit status 128 + its number): the
    /// disposition is reset and the signal raised, so no exit handler runs while other threads are inside native code
    /// (Environment.Exit there can crash libtorch's teardown).</summary>
    public static void TerminateNow(string signal)
    {
        int number = ExitCode(signal) - 128;
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            SetDisposition(number, IntPtr.Zero); // SIG_DFL
            Raise(number);
            Thread.Sleep(Timeout.Infinite);
        }
        Environment.Exit(ExitCode(signal));
    }

    [DllImport("libc", EntryPoint = "signal")]
    private static extern IntPtr SetDisposition(int signal, IntPtr handler);

    [DllImport("libc", EntryPoint = "raise")]
    private static extern int Raise(int signal);

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true; // never the runtime's silent default
        string name = context.Signal switch
        {
            PosixSignal.SIGTERM => "SIGTERM",
            PosixSignal.SIGINT => "SIGINT",
            _ => "SIGHUP",
        };
        lock (_registrations)
        {
            // One signal often arrives twice at once: a terminal's Ctrl+C or hang-up, timeout and Slurm signal every process
            // of the group or job, which reaches a supervised trainer both directly and forwarded by its supervisor.
            if (Received == name && _first.Elapsed < DuplicateWindow) return;
            _received++;
        }
        if (_received == 1)
        {
            Received = name;
            _first.Restart();
            _onFirst(name);
            _stop.Cancel();
        }
        else
        {
            _onSecond(name);
        }
    }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _registrations.Clear();
        _stop.Dispose();
    }
}
