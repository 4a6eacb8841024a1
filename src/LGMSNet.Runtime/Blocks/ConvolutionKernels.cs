using System.Diagnostics;
using LGMSNet.Runtime.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>How one convolution shape runs: the layout whose float32 kernel was exact on this machine, or float64
/// when neither was.</summary>
public enum ConvolutionKernel
{
    ChannelsLast,
    Contiguous,
    Float64,
}

/// <summary>Kernels checked on the machine that runs them (issue 33). The first time a convolution shape (dimensionality,
/// channels, kernel, groups) is used, its float32 result in each layout (channels-last, contiguous) is compared with a
/// float64 convolution on a small random input (batch 4, 12×16 or 6×8×8). A shape no layout computes exactly runs in
/// float64 (one line on stderr says so); a shape with one exact layout runs in it; where both are exact, both are timed
/// as a network runs them, and the faster is used (<see cref="Time"/>: batch 1 at <see cref="TimingSize"/>, interleaved
/// calls, the fastest call of each compared): the tensors between convolutions are channels-last, so a contiguous
/// convolution's time includes making its input contiguous and its output channels-last again. Contiguous must be at
/// least <see cref="Margin"/> faster to be chosen, in two rounds of timing, so that noise does not move a shape away
/// from the layout its neighbours use. Layouts that are not exact are never timed. Channels-last is not tried for 1×1 convolutions to more
/// than 256 channels, whose channels-last kernel ends the process with SIGFPE on AMD Zen 5 (oneDNN 3.7.1, two or more
/// threads): a probe cannot survive that. What was found (<see cref="Finding"/>: the layout, the exact layouts, the
/// timings) is kept in a JSON file per CPU (model and flags), libtorch version and version of this check (<see cref="CachePath"/>);
/// a file recorded under other keys is ignored and rewritten, so the check never runs twice for one machine, libtorch and
/// shape. The check runs on the CPU with the process's thread count; a network on a GPU follows the CPU's choice (both
/// layouts are correct there, and the float64 fallback is too).</summary>
public static class ConvolutionKernels
{
    /// <summary>A convolution shape: rank 2 or 3, output channels, input channels per group, groups, kernel sizes.</summary>
    public readonly record struct Shape(int Dims, long Out, long InPerGroup, long Groups, long K0, long K1, long K2)
    {
        public static Shape Of(long[] weightShape, long groups) => new(weightShape.Length - 2, weightShape[0], weightShape[1], groups,
            weightShape[2], weightShape[3], weightShape.Length > 4 ? weightShape[4] : 0);

        public bool IsPointwise => K0 == 1 && K1 == 1 && (Dims == 2 || K2 == 1);

        public long[] Kernel => Dims == 2 ? new[] { K0, K1 } : new[] { K0, K1, K2 };

        public override string ToString() =>
            $"{Dims}d {InPerGroup * Groups}>{Out} k{string.Join("x", Kernel)} g{Groups}";
    }

    /// <summary>One layout's timed calls (<see cref="Time"/>): the fastest and the median, in milliseconds.</summary>
    public sealed record Timing(double FastestMs, double MedianMs);

    /// <summary>What the check found for one shape: the layout used (<c>channels-last</c>, <c>contiguous</c> or
    /// <c>float64</c>), the float32 layouts that were exact, and each layout's timing at <see cref="TimingSize"/> in the
    /// round that decided (null for a layout not timed: layouts are timed only when both are exact; a second round
    /// confirms contiguous), and how many rounds were timed (0 when none, 2 when the first found contiguous faster; null in a
    /// file written before rounds were recorded). The timings are the measured ones, before any test hook's penalty
    /// (<see cref="FaultInjection.SlowLayout"/>, which the file records).</summary>
    public sealed record Finding(string Layout, string[] Exact, Timing? ChannelsLast, Timing? Contiguous, int? Rounds = null)
    {
        /// <summary>The kernel <see cref="Layout"/> names (<see cref="Name"/> read back), or null for a name this version
        /// does not know.</summary>
        public ConvolutionKernel? Kernel => Enum.GetValues<ConvolutionKernel>().Where(k => Name(k) == Layout).Select(k => (ConvolutionKernel?)k).FirstOrDefault();
    }

    /// <summary>The version of the check: a cache file written by another version (1: the first exact layout, untimed) is
    /// ignored and rewritten.</summary>
    public const int CheckVersion = 2;

    private sealed record CacheFile(int Check, string Cpu, string Libtorch, string? Fault, Dictionary<string, Finding> Kernels);

    private static readonly object Lock = new();
    private static Dictionary<Shape, ConvolutionKernel>? _known;
    private static Dictionary<string, Finding> _recorded = new();
    private static string? _cachePath;
    private static int _checks;
    private static double _checkMilliseconds;

    /// <summary>The cache file: <c>LGMSNET_KERNEL_CACHE</c>, else <c>conv-kernels.json</c> in the per-machine cache folder
    /// (<see cref="MachineCache.PathOf"/>). Setting it (tests; null: the default) forgets what this process knows.</summary>
    [System.Diagnostics.CodeAnalysis.AllowNull]
    public static string CachePath
    {
        get => _cachePath ?? MachineCache.PathOf("conv-kernels.json", "LGMSNET_KERNEL_CACHE");
        set
        {
            lock (Lock)
            {
                _cachePath = value;
                _known = null;
                _recorded = new Dictionary<string, Finding>();
            }
        }
    }

    /// <summary>How many shapes this process has checked (the cache spares the rest).</summary>
    public static int ChecksRun => _checks;

    /// <summary>Wall time those checks took, in milliseconds.</summary>
    public static double CheckMilliseconds => _checkMilliseconds;

    /// <summary>What this process knows, per shape (<see cref="Shape.ToString"/>): checked now or read from the cache file.</summary>
    public static IReadOnlyDictionary<string, Finding> Findings
    {
        get
        {
            lock (Lock) return new Dictionary<string, Finding>(_recorded);
        }
    }

    /// <summary>The libtorch (and TorchSharp) the kernels were checked with.</summary>
    public static string LibtorchKey { get; } = $"libtorch {torch.__version__}, TorchSharp {typeof(torch).Assembly.GetName().Version}";

    /// <summary>The kernel for a convolution with this weight shape and groups: from memory, else the cache file, else checked now.</summary>
    public static ConvolutionKernel For(long[] weightShape, long groups)
    {
        var shape = Shape.Of(weightShape, groups);
        var known = _known;
        if (known != null && known.TryGetValue(shape, out var kernel)) return kernel;
        lock (Lock)
        {
            known = _known ??= Load();
            if (known.TryGetValue(shape, out kernel)) return kernel;
            var clock = Stopwatch.StartNew();
            var finding = Check(shape);
            kernel = finding.Kernel!.Value;
            _checkMilliseconds += clock.Elapsed.TotalMilliseconds;
            _checks++;
            if (kernel == ConvolutionKernel.Float64)
                Console.Error.WriteLine($"warning: no float32 convolution layout computes {shape} exactly on this CPU ({LibtorchKey}); " +
                                        "it runs in float64 (correct, slower)");
            // Copy on write: readers outside the lock see a complete dictionary.
            _known = new Dictionary<Shape, ConvolutionKernel>(known) { [shape] = kernel };
            _recorded[shape.ToString()] = finding;
            Save();
            return kernel;
        }
    }

    /// <summary>Checks <paramref name="shape"/>: which layouts are exact, and, when both are, which is faster.</summary>
    private static Finding Check(Shape shape)
    {
        using var normal = inference_mode(false);
        using var _ = no_grad();
        var exact = ExactLayouts(shape);
        if (exact.Count == 0) return new Finding(Name(ConvolutionKernel.Float64), [], null, null, 0);
        var names = exact.Select(Name).ToArray();
        if (exact.Count == 1) return new Finding(names[0], names, null, null, 0);
        // Leaving channels-last must be confirmed by a second, independent round: a burst of noise can slow every call of
        // one layout in a round (seen here: all seven channels-last calls of a 192→128 3×3×3 convolution at 7.3 ms, its
        // usual 4 ms, while a contiguous one took 4.3 ms).
        var (channelsLast, contiguous) = Time(shape);
        int rounds = 1;
        bool contiguousFaster = ContiguousFaster(channelsLast, contiguous, firstRound: true);
        if (contiguousFaster)
        {
            (channelsLast, contiguous) = Time(shape);
            rounds = 2;
            contiguousFaster = ContiguousFaster(channelsLast, contiguous, firstRound: false);
        }
        return new Finding(Name(contiguousFaster ? ConvolutionKernel.Contiguous : ConvolutionKernel.ChannelsLast), names, channelsLast, contiguous, rounds);
    }

    /// <summary>Whether contiguous's fastest call beats channels-last's by <see cref="Margin"/> (after any test hook's penalty).</summary>
    private static bool ContiguousFaster(Timing channelsLast, Timing contiguous, bool firstRound)
    {
        string cl = Name(ConvolutionKernel.ChannelsLast), co = Name(ConvolutionKernel.Contiguous);
        return FaultInjection.LayoutMilliseconds(co, contiguous.FastestMs, channelsLast.FastestMs, firstRound)
               <= (1 - Margin) * FaultInjection.LayoutMilliseconds(cl, channelsLast.FastestMs, contiguous.FastestMs, firstRound);
    }

    /// <summary>The layouts, in the order channels-last, contiguous, whose float32 result for <paramref name="shape"/>
    /// equals float64 on a small random input (within <see cref="Tolerance"/>).</summary>
    private static List<ConvolutionKernel> ExactLayouts(Shape shape)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(20261207);
        long inChannels = shape.InPerGroup * shape.Groups;
        var spatial = shape.Dims == 2 ? new long[] { 12, 16 } : new long[] { 6, 8, 8 };
        var input = randn(new long[] { 4, inChannels }.Concat(spatial).ToArray(), generator: generator);
        var (weight, bias) = RandomParameters(shape, generator);
        var expected = Convolve(input.to_type(ScalarType.Float64), weight.to_type(ScalarType.Float64), bias.to_type(ScalarType.Float64), shape);
        double scale = expected.abs().max().item<double>();
        var exact = new List<ConvolutionKernel>();
        foreach (var candidate in new[] { ConvolutionKernel.ChannelsLast, ConvolutionKernel.Contiguous })
        {
            bool channelsLast = candidate == ConvolutionKernel.ChannelsLast;
            if (channelsLast && shape.IsPointwise && shape.Out > ConvolutionLayout.ContiguousPointwiseAbove) continue; // SIGFPE on Zen 5
            var output = Convolve(ConvolutionLayout.InLayout(input, channelsLast), ConvolutionLayout.InLayout(weight, channelsLast), bias, shape);
            output = FaultInjection.CorruptConvolution(shape.K0, channelsLast, output) ?? output;
            double error = (output.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
            if (double.IsFinite(error) && error <= Tolerance * scale) exact.Add(candidate);
        }
        return exact;
    }

    /// <summary>A random weight (scaled so outputs stay of order one) and bias for <paramref name="shape"/>.</summary>
    private static (Tensor Weight, Tensor Bias) RandomParameters(Shape shape, Generator generator)
    {
        var weight = randn(new long[] { shape.Out, shape.InPerGroup }.Concat(shape.Kernel).ToArray(), generator: generator)
                     / Math.Sqrt(shape.InPerGroup * shape.Kernel.Aggregate(1L, (a, b) => a * b));
        return (weight, randn(new[] { shape.Out }, generator: generator));
    }

    /// <summary>How much faster contiguous must be than channels-last to be chosen (0.25: its fastest call at most 75 % of
    /// channels-last's). Channels-last is the default because the tensors between convolutions are in it, and the timing
    /// of one convolution does not see everything a contiguous one costs a network: at the small timing size its
    /// conversions stay in cache, and the operations after it see a contiguous tensor. With a 10 % margin the check
    /// picked contiguous for near-ties on an Intel Xeon (2 threads: 32→16 3×3×3 in one run, 384→128 3×3×3 in another, their
    /// fastest calls 10–14 % quicker), and running such shapes contiguous made lgmsnet-3d's 96³ window slower (32→16
    /// alone 6–15 %, the six deep 3×3×3 shapes of 64–384 channels 8–17 %; docs/benchmarks.md); over repeated checks
    /// contiguous's fastest call was never more than 16 % quicker there.</summary>
    public const double Margin = 0.25;

    /// <summary>The FLOPs (2 × multiply-adds) one timed call is sized to: large enough that a call is not dominated by
    /// libtorch's per-call overhead, small enough that the check stays a few seconds for a whole network.</summary>
    public const double TimingFlops = 50e6;

    /// <summary>Untimed calls of each layout before the timed ones (oneDNN creates its kernel on the first).</summary>
    public const int TimingWarmUp = 2;

    /// <summary>Timed calls of each layout, interleaved (odd, so the median is one call).</summary>
    public const int TimingRepetitions = 7;

    /// <summary>The spatial size the check times <paramref name="shape"/> at (batch 1): square or cubic, the side chosen so
    /// that one call costs about <see cref="TimingFlops"/>, within 16–128 (2D) or 8–32 (3D).</summary>
    public static long[] TimingSize(Shape shape)
    {
        double flopsPerPoint = 2.0 * shape.Out * shape.InPerGroup * shape.Kernel.Aggregate(1L, (a, b) => a * b);
        var (min, max) = shape.Dims == 2 ? (16L, 128L) : (8L, 32L);
        long side = Math.Clamp((long)Math.Round(Math.Pow(TimingFlops / flopsPerPoint, 1.0 / shape.Dims)), min, max);
        return Enumerable.Repeat(side, shape.Dims).ToArray();
    }

    /// <summary>One call of <paramref name="shape"/> in each layout, timed as it runs inside a network whose tensors between
    /// convolutions are channels-last: channels-last is the convolution on a channels-last input and weight; contiguous is
    /// making the input contiguous, the convolution with a contiguous weight, and bringing the output back to
    /// channels-last. Batch 1 at <see cref="TimingSize"/>, the process's threads; <see cref="TimingWarmUp"/> untimed calls
    /// each, then <see cref="TimingRepetitions"/> timed calls each, alternating which layout goes first. The check
    /// compares the fastest calls: on a shared 2-core machine some calls take 3–5× longer (a thread descheduled), and over
    /// repeated checks the contiguous / channels-last ratio of the large 3D convolutions' medians ranged 0.54–1.51 (so the
    /// choice flipped from run to run), that of their fastest calls 0.86–1.16.</summary>
    private static (Timing ChannelsLast, Timing Contiguous) Time(Shape shape)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(20261208);
        long inChannels = shape.InPerGroup * shape.Groups;
        var input = ConvolutionLayout.ToChannelsLast(randn(new long[] { 1, inChannels }.Concat(TimingSize(shape)).ToArray(), generator: generator));
        var (weight, bias) = RandomParameters(shape, generator);
        var channelsLastWeight = ConvolutionLayout.InLayout(weight, channelsLast: true);
        var contiguousWeight = ConvolutionLayout.InLayout(weight, channelsLast: false);

        double Call(bool channelsLast)
        {
            using var call = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            if (channelsLast) Convolve(input, channelsLastWeight, bias, shape);
            else ConvolutionLayout.InLayout(Convolve(ConvolutionLayout.InLayout(input, channelsLast: false), contiguousWeight, bias, shape), channelsLast: true);
            return clock.Elapsed.TotalMilliseconds;
        }

        for (int i = 0; i < TimingWarmUp; i++)
        {
            Call(true);
            Call(false);
        }
        var channelsLastTimes = new double[TimingRepetitions];
        var contiguousTimes = new double[TimingRepetitions];
        for (int i = 0; i < TimingRepetitions; i++)
        {
            bool channelsLastFirst = i % 2 == 0;
            if (channelsLastFirst) channelsLastTimes[i] = Call(true);
            contiguousTimes[i] = Call(false);
            if (!channelsLastFirst) channelsLastTimes[i] = Call(true);
        }
        // TimingRepetitions is odd: the median is the middle call.
        static Timing Of(double[] times) => new(times.Min(), times.Order().ElementAt(times.Length / 2));
        return (Of(channelsLastTimes), Of(contiguousTimes));
    }

    /// <summary>Largest error accepted, relative to the output's largest magnitude (float32 noise is about 1e-6; the
    /// faults seen are 0.2 and more).</summary>
    public const double Tolerance = 1e-4;

    /// <summary>The convolution every runtime convolution computes: stride 1, padding k/2, no dilation.</summary>
    public static Tensor Convolve(Tensor input, Tensor weight, Tensor? bias, Shape shape)
    {
        var padding = shape.Kernel.Select(k => k / 2).ToArray();
        return shape.Dims == 2
            ? nn.functional.conv2d(input, weight, bias, padding: padding, groups: shape.Groups)
            : nn.functional.conv3d(input, weight, bias, padding: padding, groups: shape.Groups);
    }

    /// <summary>The fallback: the convolution in float64, cast back to the input's type.</summary>
    public static Tensor Float64(Tensor input, Tensor weight, Tensor? bias, long groups)
    {
        var shape = Shape.Of(weight.shape, groups);
        return Convolve(input.to_type(ScalarType.Float64), weight.to_type(ScalarType.Float64), bias?.to_type(ScalarType.Float64), shape)
            .to_type(input.dtype);
    }

    private static string Name(ConvolutionKernel kernel) => kernel switch
    {
        ConvolutionKernel.ChannelsLast => "channels-last",
        ConvolutionKernel.Contiguous => "contiguous",
        _ => "float64",
    };

    /// <summary>The test hooks the check ran under (its choices are kept apart from real ones), or null.</summary>
    private static string? FaultKey
    {
        get
        {
            var parts = new List<string>();
            if (FaultInjection.ConvolutionLayoutFault is { } f) parts.Add($"wrong {f.Layout}:{f.Kernel}");
            if (FaultInjection.SlowLayout is { } slow) parts.Add($"slow {slow}");
            return parts.Count == 0 ? null : string.Join("; ", parts);
        }
    }

    /// <summary>The shapes the cache file records for this check version, CPU, libtorch and test hooks (none if it records others).</summary>
    private static Dictionary<Shape, ConvolutionKernel> Load()
    {
        _recorded = new Dictionary<string, Finding>();
        var known = new Dictionary<Shape, ConvolutionKernel>();
        var file = MachineCache.Read<CacheFile>(CachePath);
        if (file?.Kernels == null || file.Check != CheckVersion || file.Cpu != MachineCache.CpuKey || file.Libtorch != LibtorchKey
            || file.Fault != FaultKey) return known;
        foreach (var (key, finding) in file.Kernels)
            if (ParseShape(key) is { } shape && finding?.Kernel is { } kernel && finding.Exact != null)
            {
                known[shape] = kernel;
                _recorded[key] = finding;
            }
        return known;
    }

    private static void Save() => MachineCache.Write(CachePath, new CacheFile(CheckVersion, MachineCache.CpuKey, LibtorchKey, FaultKey, _recorded));

    /// <summary>Reads back <see cref="Shape.ToString"/>: "2d 24>24 k3x3 g1".</summary>
    public static Shape? ParseShape(string key)
    {
        var parts = key.Split(' ');
        if (parts.Length != 4 || parts[1].Split('>') is not [var inText, var outText] || !parts[2].StartsWith('k') || !parts[3].StartsWith('g')) return null;
        if (!int.TryParse(parts[0].TrimEnd('d'), out int dims) || !long.TryParse(inText, out long inChannels) || !long.TryParse(outText, out long outChannels)
            || !long.TryParse(parts[3][1..], out long groups) || groups <= 0) return null;
        var kernel = parts[2][1..].Split('x').Select(k => long.TryParse(k, out long v) ? v : -1).ToArray();
        if (kernel.Length != dims || kernel.Any(k => k <= 0) || dims is not (2 or 3)) return null;
        return new Shape(dims, outChannels, inChannels / groups, groups, kernel[0], kernel[1], dims == 3 ? kernel[2] : 0);
    }
}
