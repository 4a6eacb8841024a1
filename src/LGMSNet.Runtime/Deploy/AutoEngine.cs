using System.Diagnostics;
using System.Globalization;
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>What <c>--engine auto</c> runs on the CPU (issue 33): the engine measured faster on this machine, for this
/// network and input, among the engines that passed their check. First ONNX Runtime's in-memory export is checked
/// against TorchSharp on a seeded input (<see cref="OnnxEngine.FromNetworkVerified"/>); an export that fails the check,
/// or cannot be made, is never run. Then one forward pass of each engine (the fused TorchSharp network, the checked
/// ONNX Runtime session) is timed on the same random input of the shape that will run (a batch of images as eval or
/// predict pass them; in 3D one sliding window): a warm-up call each, then calls interleaved, at most
/// <see cref="MaxCalls"/> each, and no further call once an engine's timed calls would pass <see cref="BudgetSeconds"/>
/// (so an engine whose call is slow, a 96³ window, is called twice: warm-up and one timed call); the medians decide. The decision is cached (<see cref="CachePath"/>) per CPU,
/// libtorch and ONNX Runtime version (the file's keys: a file recorded under others is ignored and rewritten) and
/// per architecture, input shape, threads and precision (an entry each), so a machine measures each case once. A
/// cached TorchSharp decision skips the export; a cached ONNX Runtime decision still checks the export (the check is
/// about these weights, the timing about the architecture).</summary>
public static class AutoEngine
{
    /// <summary>Largest number of timed calls per engine.</summary>
    public const int MaxCalls = 5;

    /// <summary>Time the timed calls of one engine may take, in seconds, beyond their first call.</summary>
    public const double BudgetSeconds = 1.0;

    /// <summary>The choice and what it rests on: seconds per forward pass of a batch of <see cref="Batch"/> inputs of
    /// <see cref="Size"/>, each engine's median; <see cref="Cached"/> when read from the cache file.</summary>
    public sealed record Decision(string Engine, double TorchSeconds, double OnnxSeconds, int Batch, int[] Size, bool Cached)
    {
        /// <summary>Wall time the measurement took (warm-up and timed calls of both engines); 0 for a cached decision.</summary>
        public double MeasuringSeconds { get; init; }

        /// <summary>One line: the engine, both times per image or window, and where the decision is kept.</summary>
        public string Describe(string cachePath)
        {
            string unit = Size.Length == 3 ? "window" : "image";
            bool onnx = Engine == "onnx";
            double chosen = (onnx ? OnnxSeconds : TorchSeconds) / Batch, other = (onnx ? TorchSeconds : OnnxSeconds) / Batch;
            string hook = FaultInjection.FasterEngine is { } forced ? $" [test hook: {forced} made faster]" : "";
            return $"--engine auto runs {Engine}: {Seconds(chosen)} vs {Seconds(other)} ({(onnx ? "torch" : "onnx")}) per {LGMSNet.Dsl.Formatting.Size(Size)} {unit}, " +
                   (Cached ? $"measured on this machine earlier (cached in {cachePath})"
                       : $"measured on this machine in {Seconds(MeasuringSeconds)} (cached in {cachePath})") + hook;
        }

        private static string Seconds(double seconds) => seconds >= 1
            ? seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
            : (seconds * 1000).ToString(seconds >= 0.01 ? "0" : "0.0", CultureInfo.InvariantCulture) + " ms";
    }

    private sealed record Entry(string Engine, double TorchSeconds, double OnnxSeconds, string Measured);

    private sealed record CacheFile(string Cpu, string Libtorch, string OnnxRuntime, string? Fault, Dictionary<string, Entry> Decisions);

    private static readonly object Lock = new();
    private static string? _cachePath;
    private static int _measurements;

    /// <summary>The cache file: <c>LGMSNET_ENGINE_CACHE</c>, else <c>engine-choice.json</c> in the per-machine cache folder
    /// (<see cref="MachineCache.PathOf"/>), beside the kernel check's. Settable for tests (null: the default).</summary>
    [System.Diagnostics.CodeAnalysis.AllowNull]
    public static string CachePath
    {
        get => _cachePath ?? MachineCache.PathOf("engine-choice.json", "LGMSNET_ENGINE_CACHE");
        set => _cachePath = value;
    }

    /// <summary>How many decisions this process measured (the cache spares the rest).</summary>
    public static int Measurements => _measurements;

    /// <summary>The ONNX Runtime the decisions were measured with.</summary>
    public static string OnnxRuntimeKey { get; } = $"ONNX Runtime {OrtEnv.Instance().GetVersionString()}";

    /// <summary>The engine <c>--engine auto</c> runs for <paramref name="segmenter"/> on the CPU, which must hold the unfused
    /// network (<see cref="Segmenter.Load"/> with <c>fuse: false</c>; the export reads it): a segmenter with the checked
    /// ONNX Runtime session, or with its own network fused. It is timed on batches of <paramref name="batch"/> inputs of
    /// the segmenter's input size (2D: images as eval or predict batch them; 3D: the CLI times one window). <paramref name="decision"/> says what was chosen and why (<see cref="Decision.Describe"/>: the line to show);
    /// it is null when the export failed its check, and then <paramref name="note"/> hears why. <paramref name="segmenter"/>
    /// is consumed when another is returned.</summary>
    public static Segmenter Choose(Segmenter segmenter, int batch, int threads, Action<string> note, out Decision? decision)
    {
        var chosen = Choose(segmenter.Network, batch, segmenter.InputSize, threads, note, out decision);
        return ReferenceEquals(chosen, segmenter.Network) ? segmenter : segmenter.WithNetwork(chosen);
    }

    /// <summary>As <see cref="Choose(Segmenter, int, int, Action{string}, out Decision?)"/> for a network (unfused, on the CPU,
    /// weights loaded): returns either <paramref name="network"/>, fused, or an ONNX Runtime network of its export, and then
    /// <paramref name="network"/> is the caller's to dispose. <paramref name="decision"/> is null when the export failed its
    /// check (the note says why).</summary>
    public static SegmentationNetwork Choose(SegmentationNetwork network, int batch, int[] size, int threads, Action<string> note, out Decision? decision)
    {
        if (network.IsFusedForInference) throw new ArgumentException("--engine auto exports the unfused network: load it with fuse: false", nameof(network));
        var shape = new long[] { batch, network.Architecture.InChannels }.Concat(size.Select(s => (long)s)).ToArray();
        string key = Key(network.Architecture, shape, threads);
        decision = Cached(key, batch, size);
        if (decision is { Engine: "torch" })
        {
            network.FuseForInference();
            return network;
        }
        var onnx = OnnxEngine.FromNetworkVerified(network, threads, out var reason);
        if (onnx == null)
        {
            decision = null;
            note($"running TorchSharp (--engine auto): {reason}");
            network.FuseForInference();
            return network;
        }
        if (decision == null)
        {
            network.FuseForInference(); // the form TorchSharp would run
            var clock = Stopwatch.StartNew();
            var (torchSeconds, onnxSeconds) = Measure(network, onnx, shape);
            decision = new Decision(onnxSeconds < torchSeconds ? "onnx" : "torch", torchSeconds, onnxSeconds, batch, size, Cached: false)
                { MeasuringSeconds = clock.Elapsed.TotalSeconds };
            Record(key, decision);
        }
        if (decision.Engine == "onnx") return onnx;
        onnx.Dispose();
        network.FuseForInference();
        return network;
    }

    /// <summary>The cache entry's key: the architecture (name, YAML hash, dimensionality, widths), the input shape, the
    /// threads and the precision both engines run in; and the process settings that change TorchSharp's speed when opted
    /// out of (<c>LGMSNET_MALLOC</c>, <c>LGMSNET_DENORMALS</c>).</summary>
    private static string Key(ArchitectureInfo info, long[] shape, int threads) =>
        $"{info.Name} yaml {info.YamlSha256[..Math.Min(12, info.YamlSha256.Length)]} {info.Dims}d widths {string.Join(",", info.Plan.Widths)} | " +
        $"input [{string.Join(", ", shape)}] | threads {(threads > 0 ? threads : get_num_threads())} | float32" +
        (Allocator.Reusing && Denormals.Flushing ? "" : $" | malloc {(Allocator.Reusing ? "reuse" : "default")} denormals {(Denormals.Flushing ? "flush" : "keep")}");

    /// <summary>Medians of each engine's timed calls, after a warm-up call each (see the class comment).</summary>
    private static (double Torch, double Onnx) Measure(SegmentationNetwork torchNetwork, SegmentationNetwork onnxNetwork, long[] shape)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var generator = new Generator(20261207);
        var input = randn(shape, generator: generator);
        Time(torchNetwork, input);
        Time(onnxNetwork, input);
        var torchTimes = new List<double>();
        var onnxTimes = new List<double>();
        while (torchTimes.Count < MaxCalls)
        {
            // Alternate which engine goes first, so neither always runs on a cache the other warmed.
            bool torchFirst = torchTimes.Count % 2 == 0;
            double first = Time(torchFirst ? torchNetwork : onnxNetwork, input), second = Time(torchFirst ? onnxNetwork : torchNetwork, input);
            torchTimes.Add(torchFirst ? first : second);
            onnxTimes.Add(torchFirst ? second : first);
            if (torchTimes.Sum() + torchTimes[^1] > BudgetSeconds || onnxTimes.Sum() + onnxTimes[^1] > BudgetSeconds) break;
        }
        Interlocked.Increment(ref _measurements);
        double torch = Median(torchTimes), onnx = Median(onnxTimes);
        return FaultInjection.FasterEngine switch
        {
            "onnx" => (Math.Max(torch, 2 * onnx), onnx),
            "torch" => (torch, Math.Max(onnx, 2 * torch)),
            _ => (torch, onnx),
        };
    }

    private static double Time(SegmentationNetwork network, Tensor input)
    {
        var clock = Stopwatch.StartNew();
        using var output = network.forward(input);
        return clock.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>The cache file, if it was recorded under this machine's keys (and the same test hook).</summary>
    private static CacheFile? Load()
    {
        var file = MachineCache.Read<CacheFile>(CachePath);
        return file?.Decisions != null && file.Cpu == MachineCache.CpuKey && file.Libtorch == ConvolutionKernels.LibtorchKey
               && file.OnnxRuntime == OnnxRuntimeKey && file.Fault == FaultInjection.FasterEngine ? file : null;
    }

    private static Decision? Cached(string key, int batch, int[] size)
    {
        lock (Lock)
            return Load()?.Decisions.GetValueOrDefault(key) is { Engine: "onnx" or "torch" } entry
                   && double.IsFinite(entry.TorchSeconds) && double.IsFinite(entry.OnnxSeconds)
                ? new Decision(entry.Engine, entry.TorchSeconds, entry.OnnxSeconds, batch, size, Cached: true)
                : null;
    }

    private static void Record(string key, Decision decision)
    {
        lock (Lock)
        {
            var decisions = Load()?.Decisions ?? new Dictionary<string, Entry>();
            decisions[key] = new Entry(decision.Engine, decision.TorchSeconds, decision.OnnxSeconds, DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            MachineCache.Write(CachePath, new CacheFile(MachineCache.CpuKey, ConvolutionKernels.LibtorchKey, OnnxRuntimeKey, FaultInjection.FasterEngine, decisions));
        }
    }
}
