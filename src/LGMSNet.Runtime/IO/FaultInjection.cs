using static TorchSharp.torch;

namespace LGMSNet.Runtime.IO;

/// <summary>Test hooks that make faults reproducible (documented in docs/robustness.md). Each is
/// off unless its environment variable is set.</summary>
public static class FaultInjection
{
    /// <summary>LGMSNET_FAULT_NAN_STEP=N makes optimizer step N see a NaN loss.</summary>
    public static long? NanAtStep { get; set; } =
        long.TryParse(Environment.GetEnvironmentVariable("LGMSNET_FAULT_NAN_STEP"), out long step) ? step : null;

    /// <summary>LGMSNET_FAULT_INF_WEIGHT_STEP=N makes one weight +∞ right after optimizer step N (as a float32
    /// overflow in an update would), while that step's loss was finite.</summary>
    public static long? InfiniteWeightAfterStep { get; set; } =
        long.TryParse(Environment.GetEnvironmentVariable("LGMSNET_FAULT_INF_WEIGHT_STEP"), out long infStep) ? infStep : null;

    /// <summary>LGMSNET_FAULT_WRITE_PAUSE_MS=N pauses every atomic file write for N ms halfway through
    /// its bytes, so a test can kill the process in the middle of writing a checkpoint.</summary>
    public static int? WritePauseMilliseconds { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("LGMSNET_FAULT_WRITE_PAUSE_MS"), out int ms) ? ms : null;

    /// <summary>LGMSNET_FAULT_DISK_FULL=name:N makes the N-th atomic write of a file called <c>name</c> fail
    /// as a full disk does (ENOSPC) after its first 64 KiB, so a test can check that nothing earlier is lost.</summary>
    public static (string FileName, int Occurrence)? DiskFullAt { get; set; } = ParseNameCount(Environment.GetEnvironmentVariable("LGMSNET_FAULT_DISK_FULL"));

    /// <summary>LGMSNET_FAULT_DENIED=name:N makes the N-th atomic write of a file called <c>name</c> fail as an unwritable
    /// folder does (EACCES; tests run as root, for whom permissions deny nothing).</summary>
    public static (string FileName, int Occurrence)? DeniedAt { get; set; } = ParseNameCount(Environment.GetEnvironmentVariable("LGMSNET_FAULT_DENIED"));

    /// <summary>LGMSNET_FAULT_STEP_PAUSE_MS=N sleeps N ms after every optimizer step, so a test can signal a run in the middle of an epoch.</summary>
    public static int? StepPauseMilliseconds { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("LGMSNET_FAULT_STEP_PAUSE_MS"), out int stepMs) ? stepMs : null;

    /// <summary>LGMSNET_FAULT_THROW=place:E throws an internal fault in epoch E: <c>batch</c> in the batch loader's
    /// thread (the first batch), <c>thread</c> unhandled on a background thread of its own, <c>native</c> a native abort
    /// (SIGABRT, as libtorch's std::terminate), which no handler of the process can report.</summary>
    public static (string Place, int Epoch)? ThrowAt { get; set; } = ParseNameCount(Environment.GetEnvironmentVariable("LGMSNET_FAULT_THROW"));

    /// <summary>LGMSNET_FAULT_ONNX_MISMATCH=1 makes the ONNX check (<c>OnnxVerifier.Verify</c>: export's verification and the
    /// check behind <c>--engine auto</c>) find the export 100 % off TorchSharp, so a test can see a failed check's handling.</summary>
    public static bool OnnxCheckMismatch { get; set; } = Environment.GetEnvironmentVariable("LGMSNET_FAULT_ONNX_MISMATCH") == "1";

    /// <summary>LGMSNET_FAULT_FASTER_ENGINE=onnx|torch makes <c>--engine auto</c>'s measurement find that engine faster: after
    /// both are timed, the other one's time becomes at least twice its time. The decision is cached apart from real ones
    /// (the cache file records the hook), so tests see both branches on any machine.</summary>
    public static string? FasterEngine { get; set; } =
        Environment.GetEnvironmentVariable("LGMSNET_FAULT_FASTER_ENGINE") is var engine && engine is "onnx" or "torch" ? engine : null;

    /// <summary>LGMSNET_FAULT_CONV_LAYOUT=layout[:k] (layout <c>contiguous</c>, <c>channels-last</c> or <c>any</c>, k a kernel size) makes
    /// every convolution built by the runtime that runs in that layout (with that kernel size) return wrong numbers, as
    /// oneDNN 3.7.1 does on some AVX-512 CPUs, so tests can see that every forward pass runs the layout chosen for it
    /// on any machine. Read when a convolution is built.</summary>
    public static (string Layout, long? Kernel)? ConvolutionLayoutFault { get; set; } =
        ParseLayoutFault(Environment.GetEnvironmentVariable("LGMSNET_FAULT_CONV_LAYOUT"));

    /// <summary>LGMSNET_FAULT_SLOW_LAYOUT=channels-last|contiguous makes the kernel check's timing find that layout slower
    /// (<see cref="LGMSNet.Runtime.Blocks.ConvolutionKernels"/>): both exact layouts are still timed, then that layout's
    /// fastest call counts as at least twice the other's, so the check picks the other layout wherever it is exact.
    /// <c>channels-last-once</c> does that in the first timing round only, so the confirming second round decides on its
    /// own timings. The cache file records the hook, so its choices are kept apart from real ones; tests see every outcome
    /// on any machine.</summary>
    public static string? SlowLayout { get; set; } =
        Environment.GetEnvironmentVariable("LGMSNET_FAULT_SLOW_LAYOUT") is var slow && slow is "channels-last" or "contiguous" or "channels-last-once"
            ? slow : null;

    /// <summary>The time the kernel check counts for <paramref name="layout"/>, measured <paramref name="milliseconds"/>
    /// while the other exact layout took <paramref name="otherMilliseconds"/>: the measurement, or at least twice the
    /// other's when <see cref="SlowLayout"/> names this layout (in the first round only, for <c>-once</c>).</summary>
    public static double LayoutMilliseconds(string layout, double milliseconds, double otherMilliseconds, bool firstRound) =>
        SlowLayout == layout || firstRound && SlowLayout == layout + "-once" ? Math.Max(milliseconds, 2 * otherMilliseconds) : milliseconds;

    private static (string, long?)? ParseLayoutFault(string? value) => value?.Split(':') switch
    {
        [var layout] when layout is "contiguous" or "channels-last" or "any" => (layout, null),
        [var layout, var k] when layout is "contiguous" or "channels-last" or "any" && long.TryParse(k, out long kernel) => (layout, kernel),
        _ => null,
    };

    /// <summary>The output of a convolution with kernel size <paramref name="kernel"/> that libtorch ran channels-last or
    /// not (<paramref name="ranChannelsLast"/>), made wrong when <see cref="ConvolutionLayoutFault"/> names that layout
    /// (and kernel); otherwise null (unchanged).</summary>
    public static Tensor? CorruptConvolution(long kernel, bool ranChannelsLast, Tensor output)
    {
        if (ConvolutionLayoutFault is not { } fault || fault.Kernel is { } k && kernel != k) return null;
        return fault.Layout == "any" || (fault.Layout == "channels-last") == ranChannelsLast ? output.add(1.0) : null;
    }

    /// <summary>Ends the process as a fault in native code does (libc abort: SIGABRT).</summary>
    public static void NativeAbort() => Abort();

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "abort")]
    private static extern void Abort();

    private static readonly Dictionary<string, int> WritesByName = new(StringComparer.Ordinal);

    private static (string, int)? ParseNameCount(string? value) =>
        value?.Split(':') is [var name, var count] && int.TryParse(count, out int n) ? (name, n) : null;

    internal static Stream Wrap(Stream stream, string fileName)
    {
        if (DiskFullAt?.FileName == fileName || DeniedAt?.FileName == fileName)
        {
            int occurrence;
            lock (WritesByName)
                WritesByName[fileName] = occurrence = WritesByName.GetValueOrDefault(fileName) + 1;
            if (DeniedAt is { } denied && denied.FileName == fileName && occurrence == denied.Occurrence)
                throw new UnauthorizedAccessException($"Access to the path '{fileName}' is denied (injected by LGMSNET_FAULT_DENIED)");
            if (DiskFullAt is { } fault && fault.FileName == fileName && occurrence == fault.Occurrence) return new FullDiskStream(stream);
        }
        return WritePauseMilliseconds is { } pause ? new PausingStream(stream, pause) : new NonClosing(stream);
    }

    /// <summary>Forgets how many writes the disk-full fault has seen (tests).</summary>
    public static void ResetWriteCounts()
    {
        lock (WritesByName) WritesByName.Clear();
    }

    /// <summary>Accepts 64 KiB, then fails every write with the error a full disk gives.</summary>
    private sealed class FullDiskStream(Stream inner) : NonClosing(inner)
    {
        private long _written;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > 1 << 16)
                throw new IOException("No space left on device (injected by LGMSNET_FAULT_DISK_FULL)");
            base.Write(buffer);
            _written += buffer.Length;
        }
    }

    /// <summary>Passes writes through; sleeps once after the first megabyte (mid-checkpoint).</summary>
    private sealed class PausingStream(Stream inner, int pause) : NonClosing(inner)
    {
        private long _written;
        private bool _paused;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            base.Write(buffer);
            _written += buffer.Length;
            if (_paused || _written < 1 << 20) return;
            _paused = true;
            Inner.Flush();
            Thread.Sleep(pause);
        }
    }

    private class NonClosing(Stream inner) : Stream
    {
        protected Stream Inner { get; } = inner;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Inner.Length;
        public override long Position { get => Inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => Inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => Inner.Write(buffer);
    }
}
