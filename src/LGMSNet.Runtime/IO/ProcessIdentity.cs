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

    /// <summary>Whether process <paramref name="pid"/> of this host lives and, when <paramref name="started"/> is known,
    /// is the one started then.</summary>
    public static bool IsAlive(int pid, DateTime? started)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited) return false;
            return started is not { } expected || (process.StartTime.ToUniversalTime() - expected).Duration() <= Tolerance;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
