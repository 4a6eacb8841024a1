using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>The <c>stability</c> benchmark (issue 33, "stable speed"): the spread of fused fp32 TorchSharp inference
/// over repeated runs inside one process, first on its own, then again right after the bf16 network has run (the
/// condition under which the issue saw fp32 run 2–3× faster than otherwise). Each run is warm-up iterations and timed
/// iterations on the same input; a run's median is one number of the table. Run it once as it is (denormals flushed, the
/// runtime's default) and once with <c>LGMSNET_DENORMALS=keep</c> to compare.</summary>
internal static class Stability
{
    public static int Run(string[] args)
    {
        string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        int Number(string name, int fallback) => int.Parse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        int runs = Number("--runs", 10), iterations = Number("--iterations", 15), warmup = Number("--warmup", 3), threads = Number("--threads", 2);
        string archName = Option("--arch", "lgmsnet");
        var descriptor = LGMSNet.Architectures.CompiledArchitectures.All.SingleOrDefault(a => a.Info.Matches(archName));
        if (descriptor == null)
        {
            Console.Error.WriteLine($"unknown architecture {archName}");
            return 2;
        }
        int side = Number("--size", descriptor.Info.MultiplyAddsInputSize[0]);

        LGMSNet.Runtime.TorchRuntime.EnsureLoaded();
        torch.set_num_threads(threads);
        torch.manual_seed(0);
        using var network = descriptor.Create();
        network.eval();
        using var bf16 = descriptor.Create();
        bf16.eval();
        bf16.load_state_dict(network.state_dict());
        network.FuseForInference();
        bf16.FuseForInference();
        bf16.to(ScalarType.BFloat16);

        var shape = new long[] { 1, descriptor.Info.InChannels }.Concat(Enumerable.Repeat((long)side, descriptor.Info.Dims)).ToArray();
        using var generator = new Generator(7);
        using var input = randn(shape, generator: generator);
        using var input16 = input.to(ScalarType.BFloat16);

        string denormals = Environment.GetEnvironmentVariable("LGMSNET_DENORMALS") == "keep" ? "kept (LGMSNET_DENORMALS=keep)" : "flushed (default)";
        Console.WriteLine($"{descriptor.Info.Name} {string.Join("x", shape.Skip(2))}, batch 1, {threads} threads, fused fp32, denormals {denormals}; " +
                          $"{runs} runs of {warmup} warm-up + {iterations} timed iterations, then the bf16 network, then {runs} runs again");

        var before = Enumerable.Range(0, runs).Select(_ => RunOnce(network, input, warmup, iterations)).ToList();
        var bf16Times = RunOnce(bf16, input16, warmup, iterations);
        var after = Enumerable.Range(0, runs).Select(_ => RunOnce(network, input, warmup, iterations)).ToList();

        Console.WriteLine("run   fp32 before bf16: median (p10–p90) ms   fp32 after bf16: median (p10–p90) ms");
        for (int i = 0; i < runs; i++)
            Console.WriteLine($"{i + 1,3}   {Describe(before[i]),-36}   {Describe(after[i])}");
        Console.WriteLine($"bf16 network: {Describe(bf16Times)}");
        foreach (var (label, set) in new[] { ("before bf16", before), ("after bf16", after), ("all", before.Concat(after).ToList()) })
        {
            var medians = set.Select(t => Percentile(t, 0.5)).ToArray();
            Console.WriteLine($"{label}: run medians {Ms(medians.Min())}–{Ms(medians.Max())} ms (max/min {medians.Max() / medians.Min():F2}), " +
                              $"median of run medians {Ms(Percentile(medians, 0.5))} ms; every iteration p10–p90 " +
                              $"{Ms(Percentile(set.SelectMany(t => t).ToArray(), 0.1))}–{Ms(Percentile(set.SelectMany(t => t).ToArray(), 0.9))} ms");
        }
        return 0;
    }

    /// <summary>One run: warm-up passes, then the timed ones, each timed as <c>bench</c> times an inference pass
    /// (<see cref="LGMSNet.Runtime.Training.SpeedProbe.Inference"/>).</summary>
    private static double[] RunOnce(LGMSNet.Runtime.Network.SegmentationNetwork network, Tensor input, int warmup, int iterations)
    {
        for (int i = 0; i < warmup; i++) LGMSNet.Runtime.Training.SpeedProbe.Inference(network, input, CPU);
        return Enumerable.Range(0, iterations).Select(_ => LGMSNet.Runtime.Training.SpeedProbe.Inference(network, input, CPU)).ToArray();
    }

    private static string Describe(double[] times) =>
        $"{Ms(Percentile(times, 0.5))} ({Ms(Percentile(times, 0.1))}–{Ms(Percentile(times, 0.9))})";

    private static string Ms(double seconds) => (seconds * 1000).ToString("F1", CultureInfo.InvariantCulture);

    private static double Percentile(double[] values, double q) =>
        LGMSNet.Runtime.Data.Statistics.PercentileOfSorted<double>(values.Order().ToArray(), q * 100);
}
