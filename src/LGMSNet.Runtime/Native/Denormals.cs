using System.Runtime.InteropServices;
using TorchSharp;

namespace LGMSNet.Runtime;

/// <summary>Flush-to-zero and denormals-are-zero (the SSE/AVX MXCSR flags) for every thread that runs the network: the
/// .NET thread that calls it and the OpenMP team libtorch runs its parallel loops on. Without them a float32 value below
/// 1.2e-38 — GELU/SiLU tails, products of small weights — takes a microcode assist of ~100 cycles per operation, and the
/// same inference ran 2–3× slower or faster within one process depending on which threads happened to have the flags
/// (oneDNN's bf16 kernels leave them set on theirs). Numbers change only below 1.2e-38, where they become 0.</summary>
/// <remarks>libtorch's <c>at::Context::setFlushDenormal</c> (PyTorch's <c>torch.set_flush_denormal</c>) sets the flags on the
/// calling thread only, so it is called on this thread and then, through libgomp's <c>GOMP_parallel</c> (<see cref="OpenMpTeam.OnEachThread"/>), once on each thread
/// of this thread's team (libgomp keeps one team per calling thread). Done once per thread, from
/// <c>SegmentationNetwork</c>'s forward pass and when libtorch is loaded; a libtorch without the symbols is left as it is.
/// <c>LGMSNET_DENORMALS=keep</c> leaves the flags alone (for before/after measurements).</remarks>
internal static class Denormals
{
    [ThreadStatic] private static bool _done;

    // Itanium and MSVC names of the static bool at::Context::setFlushDenormal(bool).
    private static readonly string[] Symbols = { "_ZN2at7Context16setFlushDenormalEb", "?setFlushDenormal@Context@at@@SA_N_N@Z" };

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.U1)]
    private delegate bool SetFlushDenormal([MarshalAs(UnmanagedType.U1)] bool on);

    private static readonly Lazy<SetFlushDenormal?> Found = new(() =>
    {
        foreach (var name in Symbols)
            if (LibTorchExports.TryFind(name, out var address))
                return Marshal.GetDelegateForFunctionPointer<SetFlushDenormal>(address);
        return null;
    });

    /// <summary>Whether this process flushes denormals (false with <c>LGMSNET_DENORMALS=keep</c>).</summary>
    public static bool Flushing { get; } = Environment.GetEnvironmentVariable("LGMSNET_DENORMALS") != "keep";

    /// <summary>Sets the flags on this thread and on its OpenMP team, once per thread (then a thread-static read).</summary>
    public static void FlushOnThisThread()
    {
        if (_done) return;
        _done = true;
        if (Flushing) Set(true);
    }

    /// <summary>Sets (or clears) the flags on this thread and its OpenMP team now; false where libtorch lacks the symbols or
    /// says the CPU has no denormals-are-zero flag.</summary>
    internal static bool Set(bool flush)
    {
        if (Found.Value is not { } set || !set(flush)) return false;
        OpenMpTeam.OnEachThread(torch.get_num_threads(), () => set(flush));
        return true;
    }

    /// <summary>Forgets that this thread was set, so the next forward pass sets it again (tests).</summary>
    internal static void ResetThisThread() => _done = false;
}
