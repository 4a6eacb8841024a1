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
/// channels, kernel, groups) is used, its float32 result in each layout is compared with a float64 convolution on a
/// small random input; the first exact layout in the order channels-last (oneDNN's fastest here, and the layout the
/// tensors between convolutions are already in), contiguous is used, and a shape no layout computes exactly runs in
/// float64 (one line on stderr says so). Layouts are preferred in that order rather than timed: on a shared 2-core
/// machine timings of one small convolution are noise. Channels-last is not tried for 1×1 convolutions to more than
/// 256 channels, whose channels-last kernel ends the process with SIGFPE on AMD Zen 5 (oneDNN 3.7.1, two or more
/// threads): a probe cannot survive that. The results are kept in a JSON file per CPU (model and flags) and libtorch
/// version (<see cref="CachePath"/>); a file recorded for another CPU or libtorch is ignored and rewritten, so the
/// check never runs twice for one machine, libtorch and shape. The check runs on the CPU at one small input size
/// (batch 4, 12×16 or 6×8×8) with the process's thread count; a network on a GPU follows the CPU's choice (both layouts
/// are correct there, and the float64 fallback is too).</summary>
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

    private sealed record CacheFile(string Cpu, string Libtorch, string? Fault, Dictionary<string, string> Kernels);

    private static readonly object Lock = new();
    private static Dictionary<Shape, ConvolutionKernel>? _known;
    private static Dictionary<string, string> _recorded = new();
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
            }
        }
    }

    /// <summary>How many shapes this process has checked (the cache spares the rest).</summary>
    public static int ChecksRun => _checks;

    /// <summary>Wall time those checks took, in milliseconds.</summary>
    public static double CheckMilliseconds => _checkMilliseconds;

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
            kernel = Check(shape);
            _checkMilliseconds += clock.Elapsed.TotalMilliseconds;
            _checks++;
            if (kernel == ConvolutionKernel.Float64)
                Console.Error.WriteLine($"warning: no float32 convolution layout computes {shape} exactly on this CPU ({LibtorchKey}); " +
                                        "it runs in float64 (correct, slower)");
            // Copy on write: readers outside the lock see a complete dictionary.
            _known = new Dictionary<Shape, ConvolutionKernel>(known) { [shape] = kernel };
            _recorded[shape.ToString()] = Name(kernel);
            Save();
            return kernel;
        }
    }

    /// <summary>Compares each layout's float32 result for <paramref name="shape"/> with float64 on a small random input.</summary>
    private static ConvolutionKernel Check(Shape shape)
    {
        using var scope = NewDisposeScope();
        using var normal = inference_mode(false);
        using var _ = no_grad();
        using var generator = new Generator(20261207);
        long inChannels = shape.InPerGroup * shape.Groups;
        var spatial = shape.Dims == 2 ? new long[] { 12, 16 } : new long[] { 6, 8, 8 };
        var input = randn(new long[] { 4, inChannels }.Concat(spatial).ToArray(), generator: generator);
        var weight = randn(new long[] { shape.Out, shape.InPerGroup }.Concat(shape.Kernel).ToArray(), generator: generator)
                     / Math.Sqrt(shape.InPerGroup * shape.Kernel.Aggregate(1L, (a, b) => a * b));
        var bias = randn(new[] { shape.Out }, generator: generator);
        var expected = Convolve(input.to_type(ScalarType.Float64), weight.to_type(ScalarType.Float64), bias.to_type(ScalarType.Float64), shape);
        double scale = expected.abs().max().item<double>();
        foreach (var candidate in new[] { ConvolutionKernel.ChannelsLast, ConvolutionKernel.Contiguous })
        {
            bool channelsLast = candidate == ConvolutionKernel.ChannelsLast;
            if (channelsLast && shape.IsPointwise && shape.Out > ConvolutionLayout.ContiguousPointwiseAbove) continue; // SIGFPE on Zen 5
            var output = Convolve(ConvolutionLayout.InLayout(input, channelsLast), ConvolutionLayout.InLayout(weight, channelsLast), bias, shape);
            output = FaultInjection.CorruptConvolution(shape.K0, channelsLast, output) ?? output;
            double error = (output.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
            if (double.IsFinite(error) && error <= Tolerance * scale) return candidate;
        }
        return ConvolutionKernel.Float64;
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

    private static string? FaultKey => FaultInjection.ConvolutionLayoutFault is { } f ? $"{f.Layout}:{f.Kernel}" : null;

    /// <summary>The shapes the cache file records for this CPU, libtorch and injected fault (none if it records others).</summary>
    private static Dictionary<Shape, ConvolutionKernel> Load()
    {
        _recorded = new Dictionary<string, string>();
        var known = new Dictionary<Shape, ConvolutionKernel>();
        var file = MachineCache.Read<CacheFile>(CachePath);
        if (file?.Kernels == null || file.Cpu != MachineCache.CpuKey || file.Libtorch != LibtorchKey || file.Fault != FaultKey) return known;
        foreach (var (key, value) in file.Kernels)
            if (ParseShape(key) is { } shape && value switch
                {
                    "channels-last" => ConvolutionKernel.ChannelsLast,
                    "contiguous" => ConvolutionKernel.Contiguous,
                    "float64" => ConvolutionKernel.Float64,
                    _ => (ConvolutionKernel?)null,
                } is { } kernel)
            {
                known[shape] = kernel;
                _recorded[key] = value;
            }
        return known;
    }

    private static void Save() => MachineCache.Write(CachePath, new CacheFile(MachineCache.CpuKey, LibtorchKey, FaultKey, _recorded));

    /// <summary>Reads back <see cref="Shape.ToString"/>: "2d 24>24 k3x3 g1".</summary>
    private static Shape? ParseShape(string key)
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
