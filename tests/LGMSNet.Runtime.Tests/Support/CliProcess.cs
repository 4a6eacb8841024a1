using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace LGMSNet.Runtime.Tests.Support;

/// <summary>The real CLI (architectures/bin/.../lgmsnet.dll) as its own process, for what only a process shows:
/// signals, the last-resort handler of other threads' exceptions, a SIGKILL. The stop signals' dispositions are reset to
/// the default (env --default-signal): a process started in the background by a shell inherits SIGINT ignored, and one
/// under nohup inherits SIGHUP ignored — which the CLI rightly keeps ignoring, so a SIGHUP test run from nohup failed.</summary>
public sealed class CliProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _error = new();

    public CliProcess(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        string cli = Path.Combine(Fixtures.RepoRoot, "architectures", "bin", configuration, "net10.0", "lgmsnet.dll");
        if (!File.Exists(cli)) throw new InvalidOperationException(cli + " not built");
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "--default-signal=HUP,INT,TERM", "dotnet", cli }.Concat(arguments)) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { lock (_out) if (e.Data != null) _out.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_error) if (e.Data != null) _error.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public string Out
    {
        get { lock (_out) return _out.ToString(); }
    }

    public string Error
    {
        get { lock (_error) return _error.ToString(); }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Sends a signal by number (1 SIGHUP, 2 SIGINT, 9 SIGKILL, 15 SIGTERM).</summary>
    public void Signal(int signal) => Signal(_process.Id, signal);

    /// <summary>Sends a signal to any process (e.g. the supervised trainer, whose pid run.json records).</summary>
    public static void Signal(int pid, int signal)
    {
        if (!LGMSNet.Runtime.IO.StopSignals.Send(pid, signal)) throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Runs the CLI to its end; returns its exit code and standard error.</summary>
    public static (int Code, string Error) RunToEnd(IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        using var process = new CliProcess(environment, arguments);
        int code = process.WaitForExit();
        return (code, process.Error);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails naming <paramref name="what"/> (and what the process said) otherwise.</summary>
    public void WaitFor(Func<bool> condition, string what, int seconds = 180)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (_process.HasExited) throw new InvalidOperationException($"the process ended (exit {_process.ExitCode}) before {what}:\n{Out}\n{Error}");
            if (clock.Elapsed.TotalSeconds > seconds) throw new TimeoutException($"no {what} after {seconds} s:\n{Out}\n{Error}");
            Thread.Sleep(50);
        }
    }

    /// <summary>Waits for the process to end and returns its exit code (128 + N for a process killed by signal N).</summary>
    public int WaitForExit(int seconds = 180)
    {
        if (!_process.WaitForExit(TimeSpan.FromSeconds(seconds)))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the process did not end within {seconds} s:\n{Out}\n{Error}");
        }
        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
