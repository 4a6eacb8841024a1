using System.Diagnostics;

namespace LGMSNet.Runtime.IO;

/// <summary>Which process wrote a record: host, process id and the process's start time, so a later reader can
/// tell whether that process still lives (a reused process id belongs to a process started later).</summary>
public sealed record ProcessIdentity(string Host, int Pid, DateTime? ProcessStarted)
{
    /// <summary>Start times read twice from /proc differ by clock-tick rounding; anything beyond this is another process.</summary>
    private static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(2);

    public static ProcessIdentity Current
    {
        get
        {
            using var self = Process.GetCurrentProcess();
            return new ProcessIdentity(Environment.MachineName, Environment.ProcessId, self.StartTime.ToUniversalTime());
        }
    }

    /// <summary>True or false for a process of this host; null for another host's (it cannot be checked from here).</summary>
    public bool? IsAlive()
    {
        if (!string.Equals(Host, Environment.MachineName, StringComparison.Ordinal)) return null;
        return IsAlive(Pid, ProcessStarted);
    }

    /// <summary>A process that has ended but not been reaped yet (Linux state Z or X) is dead, though its id still exists.</summary>
    private static bool IsZombie(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] is 'Z' or 'X';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether process <paramref name="pid"/> of this host lives and, when <paramref name="started"/> is known,
    /// is the one started then.</summary>
    public static bool IsAlive(int pid, DateTime? started)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited || IsZombie(pid)) return false;
            return started is not { } expected || (process.StartTime.ToUniversalTime() - expected).Duration() <= Tolerance;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
