using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LGMSNet.Runtime.Tests.Studies;

/// <summary>A real one-node Slurm cluster on this machine for the duration of a test: Debian's slurm-wlm
/// and munge, with a generated slurm.conf, munge key and state in a temporary folder, run by the current
/// user. It starts munged, slurmctld and slurmd in the foreground and stops exactly those processes.</summary>
public sealed class SlurmCluster : IDisposable
{
    public static readonly string[] Daemons = { "munged", "slurmctld", "slurmd" };
    public static readonly string[] Clients = { "sbatch", "squeue", "scancel", "sinfo" };

    public const string HowToEnable = "Slurm integration test skipped: slurm-wlm and munge are not installed (" +
                                      "install them with 'apt-get install -y slurm-wlm munge' as root; .ci/run does this).";

    private readonly List<Process> _processes = new();
    private readonly string? _previousConf;

    public string Folder { get; } = Directory.CreateTempSubdirectory("lgms-slurm-").FullName;

    public string Conf => Path.Combine(Folder, "slurm.conf");

    public static bool Available => Daemons.Concat(Clients).All(p => Find(p) != null);

    public static string? Find(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(new[] { "/usr/sbin", "/usr/bin", "/sbin" })
            .Select(folder => Path.Combine(folder, program)).FirstOrDefault(File.Exists);

    public SlurmCluster()
    {
        string host = Environment.MachineName, user = Environment.UserName;
        foreach (var sub in new[] { "state", "spool", "log" }) Directory.CreateDirectory(Path.Combine(Folder, sub));
        string key = Path.Combine(Folder, "munge.key");
        File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(key, UnixFileMode.UserRead);
        string socket = Path.Combine(Folder, "munge.socket");
        File.WriteAllText(Conf, $"""
            ClusterName=lgmstest
            SlurmctldHost={host}
            SlurmUser={user}
            SlurmdUser={user}
            SlurmctldPort={FreePort()}
            SlurmdPort={FreePort()}
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={socket}
            StateSaveLocation={Path.Combine(Folder, "state")}
            SlurmdSpoolDir={Path.Combine(Folder, "spool")}
            SlurmctldPidFile={Path.Combine(Folder, "slurmctld.pid")}
            SlurmdPidFile={Path.Combine(Folder, "slurmd.pid")}
            SlurmctldLogFile={Path.Combine(Folder, "log", "slurmctld.log")}
            SlurmdLogFile={Path.Combine(Folder, "log", "slurmd.log")}
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            MpiDefault=none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            ReturnToService=2
            NodeName={host} CPUs={Environment.ProcessorCount} State=UNKNOWN
            PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP

            """);
        _previousConf = Environment.GetEnvironmentVariable("SLURM_CONF");
        Environment.SetEnvironmentVariable("SLURM_CONF", Conf);
        try
        {
            Start("munged", "-F", "--force", $"--key-file={key}", $"--socket={socket}", $"--pid-file={Path.Combine(Folder, "munged.pid")}",
                $"--log-file={Path.Combine(Folder, "log", "munged.log")}", $"--seed-file={Path.Combine(Folder, "munge.seed")}");
            WaitFor(() => File.Exists(socket), "munged to create its socket");
            Start("slurmctld", "-D", "-i", "-f", Conf);
            Start("slurmd", "-D", "-f", Conf);
            WaitFor(() => Run("sinfo", "-h", "-o", "%T").Output.Trim() == "idle", "the node to become idle");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private void Start(string daemon, params string[] arguments)
    {
        var start = new ProcessStartInfo(Find(daemon)!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["SLURM_CONF"] = Conf;
        var process = Process.Start(start)!;
        string log = Path.Combine(Folder, "log", daemon + ".out");
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_processes) File.AppendAllText(log, e.Data + "\n"); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_processes) File.AppendAllText(log, e.Data + "\n"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
    }

    public (int Code, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(Find(program)!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["SLURM_CONF"] = Conf;
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    public void WaitFor(Func<bool> condition, string what, int seconds = 60)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            foreach (var process in _processes)
                if (process.HasExited) throw new InvalidOperationException($"{process.StartInfo.FileName} exited ({process.ExitCode}) while waiting for {what}: {Logs()}");
            if (clock.Elapsed.TotalSeconds > seconds) throw new TimeoutException($"waited {seconds} s for {what}: {Logs()}");
            Thread.Sleep(200);
        }
    }

    public string Logs() => string.Join("\n", Directory.GetFiles(Path.Combine(Folder, "log")).Select(f => $"== {f}\n{File.ReadAllText(f)}"));

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Stops exactly the daemons this cluster started (by their process), newest first, then removes its folder.</summary>
    public void Dispose()
    {
        for (int i = _processes.Count - 1; i >= 0; i--)
        {
            var process = _processes[i];
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(10_000);
            }
            process.Dispose();
        }
        _processes.Clear();
        Environment.SetEnvironmentVariable("SLURM_CONF", _previousConf);
        try { Directory.Delete(Folder, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A test that needs a real Slurm: skipped, with how to enable it, where the binaries are missing.</summary>
public sealed class SlurmFactAttribute : Xunit.FactAttribute
{
    public SlurmFactAttribute()
    {
        if (!SlurmCluster.Available) Skip = SlurmCluster.HowToEnable;
    }
}
