using System.Runtime.InteropServices;

namespace LGMSNet.Runtime;

/// <summary>Makes glibc keep freed memory for reuse instead of returning it to the kernel. libtorch allocates every
/// tensor with malloc, and glibc serves blocks over 32 MiB (a 3D activation is 56–450 MiB) with a fresh mmap and gives
/// them back with munmap on free, so each forward pass and training step had the kernel fault in and zero every page of
/// every large tensor again: 30–45 % of a 3D window's and a 3D training step's time went to page faults and
/// <c>clear_page</c>. With mmap for large blocks off (<c>M_MMAP_MAX</c> 0) and the heap never trimmed (<c>M_TRIM_THRESHOLD</c>
/// −1), the second pass reuses the first pass's pages: a 96³ window 1.77 → 1.13 s, a 64³ batch-8 step 32 → 16 s, at the
/// price of a higher resident peak (9.4 → 12.7 GiB for that step), which the process keeps. A first version trimmed above
/// 2 GiB of free heap (the largest positive value); a sliding-window <c>predict</c> of a brain volume freed more than that
/// after each window and had it faulted in again: 17 M page faults, 140–156 s; never trimming, 3 M and 107.5 s.
/// docs/benchmarks.md has the measurements.</summary>
/// <remarks>glibc applies it to its main arena, which serves the process's main thread — where the CLI's commands run;
/// other threads' arenas still map blocks over 64 MiB afresh (glibc maps those whatever the setting). Process-wide and once: from <see cref="TorchRuntime.EnsureLoaded"/> and from the first forward pass of any
/// network. Linux with glibc only (elsewhere, or where mallopt is missing, nothing changes). <c>LGMSNET_MALLOC=default</c>
/// leaves glibc's defaults (for a process that must return memory, and for before/after measurements).</remarks>
public static class Allocator
{
    private static int _done;

    private const int TrimThreshold = -1; // M_TRIM_THRESHOLD
    private const int MmapMax = -4; // M_MMAP_MAX

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    /// <summary>Whether this process keeps freed memory (false with <c>LGMSNET_MALLOC=default</c>).</summary>
    public static bool Reusing { get; } = Environment.GetEnvironmentVariable("LGMSNET_MALLOC") != "default";

    /// <summary>Whether glibc accepted the policy in this process (set by the first <see cref="KeepFreedMemory"/>).</summary>
    public static bool Applied { get; private set; }

    /// <summary>Sets glibc's allocation policy as described above (once; later calls do nothing).</summary>
    public static void KeepFreedMemory()
    {
        // A plain read first: this runs on every forward pass, and only the first needs the interlocked write.
        if (Volatile.Read(ref _done) == 1 || Interlocked.Exchange(ref _done, 1) == 1 || !Reusing || !OperatingSystem.IsLinux()) return;
        try
        {
            Applied = Mallopt(MmapMax, 0) == 1 && Mallopt(TrimThreshold, -1) == 1; // -1: never trim (glibc reads it as SIZE_MAX)
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // not glibc: its own policy stays
        }
    }
}
