using System.Text.Json.Nodes;
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Blocks;

/// <summary>Kernels checked on the machine that runs them (issue 33): each distinct convolution shape is checked against
/// float64 once per CPU and libtorch, the faster of its exact layouts is used (timed; a test hook makes either layout
/// the slower one on any machine), the result is cached in a file and reused, a cache for another libtorch, CPU or check
/// version is ignored, and a layout made wrong (injected) is avoided, never timed, or, when every layout is wrong,
/// replaced by float64 with one line on stderr.</summary>
[Collection("cli")]
public sealed class KernelCheckTests
{
    private static readonly ArchitectureDescriptor Narrow = CliRunner.Architectures.Single(a => a.Info.FileStem == "unet-narrow");

    /// <summary>UnetNarrow's distinct convolution shapes: 3→24, 24→24, 24→48, 48→48, 48→96, 96→96, 144→48, 72→24 (3×3), 24→1 (1×1 head).</summary>
    private const int NarrowShapes = 9;

    /// <summary>A forward pass of a fresh UnetNarrow, compared with its float64 self.</summary>
    private static SegmentationNetwork ForwardIsExact(string what)
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        var network = Narrow.Create();
        network.eval();
        using var reference = Narrow.Create();
        reference.load_state_dict(network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
        reference.eval();
        reference.to(ScalarType.Float64);
        var input = randn(2, 3, 32, 32);
        using var _ = no_grad();
        TensorAssert.MaxRelative(network.forward(input), reference.forward(input.to_type(ScalarType.Float64)), 1e-4, what);
        return network;
    }

    /// <summary>The cache file's findings per shape.</summary>
    private static Dictionary<string, JsonNode> Kernels(string cachePath) =>
        JsonNode.Parse(File.ReadAllText(cachePath))!["kernels"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!);

    private static string Layout(JsonNode finding) => (string)finding["layout"]!;

    private static string[] Exact(JsonNode finding) => finding["exact"]!.AsArray().Select(n => (string)n!).ToArray();

    /// <summary>The fastest call of <paramref name="layout"/> the file records for a shape, or null when it was not timed.</summary>
    private static double? Fastest(JsonNode finding, string layout) =>
        (double?)finding[layout == "channels-last" ? "channels_last" : "contiguous"]?["fastest_ms"];

    /// <summary>Both layouts timed when both are exact (fastest and median, positive), neither otherwise.</summary>
    private static void AssertTimedIffBothExact(string shape, JsonNode finding)
    {
        bool both = Exact(finding).Length == 2;
        foreach (var layout in new[] { "channels_last", "contiguous" })
        {
            var timing = finding[layout];
            if (!both)
            {
                Assert.True(timing == null, $"{shape}: {layout} was timed although only {string.Join(",", Exact(finding))} is exact");
                continue;
            }
            Assert.True(timing != null, $"{shape}: {layout} was not timed although both layouts are exact");
            double fastest = (double)timing!["fastest_ms"]!, median = (double)timing["median_ms"]!;
            Assert.True(fastest > 0 && median >= fastest, $"{shape}: {layout} fastest {fastest} ms, median {median} ms");
        }
    }

    /// <summary>Every convolution of <paramref name="network"/> has its weight in the layout the check chose for its shape.</summary>
    private static void AssertWeightsInTheirChosenLayout(SegmentationNetwork network)
    {
        var findings = ConvolutionKernels.Findings;
        foreach (var conv in network.modules().OfType<Convolution>())
        {
            var shape = ConvolutionKernels.Shape.Of(conv.weight!.shape, conv.groups).ToString();
            bool channelsLast = findings[shape].Layout == "channels-last";
            Assert.True(channelsLast ? ConvolutionLayout.IsChannelsLast(conv.weight!) : conv.weight!.is_contiguous() && !ConvolutionLayout.IsChannelsLast(conv.weight!),
                $"{shape}: the weight is not in the layout the check chose ({findings[shape].Layout})");
        }
    }

    [Fact]
    public void Each_shape_is_checked_once_and_the_cache_file_is_reused_by_the_next_process()
    {
        using var cache = new KernelFault(null);
        int before = ConvolutionKernels.ChecksRun;
        double ms = ConvolutionKernels.CheckMilliseconds;
        ForwardIsExact("first build").Dispose();
        Assert.Equal(NarrowShapes, ConvolutionKernels.ChecksRun - before);
        Console.WriteLine($"kernel check: {NarrowShapes} shapes in {ConvolutionKernels.CheckMilliseconds - ms:F0} ms");
        var file = JsonNode.Parse(File.ReadAllText(cache.CachePath))!;
        Assert.Equal(ConvolutionKernels.CheckVersion, (int?)file["check"]);
        Assert.Equal(LGMSNet.Runtime.IO.MachineCache.CpuKey, (string?)file["cpu"]);
        Assert.Equal(ConvolutionKernels.LibtorchKey, (string?)file["libtorch"]);
        var kernels = Kernels(cache.CachePath);
        Assert.Equal(NarrowShapes, kernels.Count);
        foreach (var (shape, finding) in kernels)
        {
            Assert.Contains(Layout(finding), Exact(finding));
            AssertTimedIffBothExact(shape, finding);
        }

        // A second build in this process, and one as a new process would (memory forgotten, the file read): no checks,
        // and what the file recorded is what the process knows.
        ForwardIsExact("second build").Dispose();
        ConvolutionKernels.CachePath = cache.CachePath;
        using (var network = ForwardIsExact("build after reading the cache file")) AssertWeightsInTheirChosenLayout(network);
        Assert.Equal(NarrowShapes, ConvolutionKernels.ChecksRun - before);
        var known = ConvolutionKernels.Findings;
        Assert.Equal(kernels.Keys.Order(), known.Keys.Order());
        foreach (var (shape, finding) in kernels)
        {
            Assert.Equal(Layout(finding), known[shape].Layout);
            Assert.Equal(Fastest(finding, "channels-last"), known[shape].ChannelsLast?.FastestMs);
            Assert.Equal(Fastest(finding, "contiguous"), known[shape].Contiguous?.FastestMs);
        }
    }

    [Theory]
    [InlineData("libtorch")]
    [InlineData("cpu")]
    [InlineData("check")]
    public void A_cache_recorded_for_another_libtorch_cpu_or_check_version_is_checked_again(string key)
    {
        using var cache = new KernelFault(null);
        ForwardIsExact("first build").Dispose();
        var file = JsonNode.Parse(File.ReadAllText(cache.CachePath))!;
        file[key] = key == "check" ? ConvolutionKernels.CheckVersion - 1 : "something else";
        File.WriteAllText(cache.CachePath, file.ToJsonString());
        ConvolutionKernels.CachePath = cache.CachePath;
        int before = ConvolutionKernels.ChecksRun;
        ForwardIsExact($"build after the cache's {key} changed").Dispose();
        Assert.Equal(NarrowShapes, ConvolutionKernels.ChecksRun - before);
        var rewritten = JsonNode.Parse(File.ReadAllText(cache.CachePath))!;
        Assert.Equal(ConvolutionKernels.CheckVersion, (int?)rewritten["check"]);
        Assert.Equal(LGMSNet.Runtime.IO.MachineCache.CpuKey, (string?)rewritten["cpu"]);
        Assert.Equal(ConvolutionKernels.LibtorchKey, (string?)rewritten["libtorch"]);
    }

    /// <summary>A file written by the first, untimed check (no check version; per shape only the first exact layout) for
    /// this very CPU and libtorch is checked again and rewritten, not trusted.</summary>
    [Fact]
    public void A_cache_written_by_the_untimed_check_is_checked_again()
    {
        using var cache = new KernelFault(null);
        ForwardIsExact("first build").Dispose();
        var old = new JsonObject
        {
            ["cpu"] = LGMSNet.Runtime.IO.MachineCache.CpuKey,
            ["libtorch"] = ConvolutionKernels.LibtorchKey,
            ["fault"] = null,
            ["kernels"] = new JsonObject(Kernels(cache.CachePath).Keys.Select(k => KeyValuePair.Create(k, (JsonNode?)JsonValue.Create("channels-last")))),
        };
        File.WriteAllText(cache.CachePath, old.ToJsonString());
        ConvolutionKernels.CachePath = cache.CachePath;
        int before = ConvolutionKernels.ChecksRun;
        ForwardIsExact("build after an untimed check's cache").Dispose();
        Assert.Equal(NarrowShapes, ConvolutionKernels.ChecksRun - before);
        Assert.Equal(ConvolutionKernels.CheckVersion, (int?)JsonNode.Parse(File.ReadAllText(cache.CachePath))!["check"]);
        foreach (var (shape, finding) in Kernels(cache.CachePath)) AssertTimedIffBothExact(shape, finding);
    }

    /// <summary>With one layout timed slower (<c>LGMSNET_FAULT_SLOW_LAYOUT</c>), every shape where the other layout is
    /// exact runs in that other layout — both still measured and recorded — and the forward pass equals float64.</summary>
    [Theory]
    [InlineData("channels-last", "contiguous")]
    [InlineData("contiguous", "channels-last")]
    public void The_faster_exact_layout_is_chosen(string slow, string fast)
    {
        using var cache = new KernelFault(null, slow);
        using var network = ForwardIsExact($"{slow} timed slower");
        var kernels = Kernels(cache.CachePath);
        Assert.Equal(NarrowShapes, kernels.Count);
        foreach (var (shape, finding) in kernels)
        {
            var exact = Exact(finding);
            Assert.True((exact.Contains(fast) ? fast : exact.FirstOrDefault() ?? "float64") == Layout(finding),
                $"{shape}: exact {string.Join(",", exact)}, {slow} timed slower, chose {Layout(finding)}");
            AssertTimedIffBothExact(shape, finding);
            // Leaving channels-last takes a confirming second round; staying in it, one.
            Assert.Equal(exact.Length < 2 ? 0 : slow == "channels-last" ? 2 : 1, (int)finding["rounds"]!);
        }
        Assert.Contains(kernels.Values, f => Layout(f) == fast);
        Assert.Equal($"slow {slow}", (string?)JsonNode.Parse(File.ReadAllText(cache.CachePath))!["fault"]);
        AssertWeightsInTheirChosenLayout(network);
    }

    /// <summary>A first round that finds contiguous faster is not enough: with channels-last timed slower in the first round
    /// only (<c>channels-last-once</c>), every shape where both layouts are exact is timed a second time, and that round's
    /// own timings (recorded in the file, without the hook's penalty) decide — on this machine, whatever it is.</summary>
    [Fact]
    public void Leaving_channels_last_takes_a_second_round_that_decides_on_its_own_timings()
    {
        using var cache = new KernelFault(null, "channels-last-once");
        using var network = ForwardIsExact("channels-last timed slower in the first round only");
        var kernels = Kernels(cache.CachePath);
        Assert.Contains(kernels.Values, f => Exact(f).Length == 2);
        foreach (var (shape, finding) in kernels)
        {
            AssertTimedIffBothExact(shape, finding);
            if (Exact(finding).Length < 2) continue;
            Assert.Equal(2, (int)finding["rounds"]!);
            double channelsLast = Fastest(finding, "channels-last")!.Value, contiguous = Fastest(finding, "contiguous")!.Value;
            string expected = contiguous <= (1 - ConvolutionKernels.Margin) * channelsLast ? "contiguous" : "channels-last";
            Assert.True(expected == Layout(finding),
                $"{shape}: second round channels-last {channelsLast} ms, contiguous {contiguous} ms, chose {Layout(finding)}");
        }
        Assert.Equal("slow channels-last-once", (string?)JsonNode.Parse(File.ReadAllText(cache.CachePath))!["fault"]);
        AssertWeightsInTheirChosenLayout(network);
    }

    /// <summary>The hook as a user sets it: <c>LGMSNET_FAULT_SLOW_LAYOUT</c> in the environment of a real CLI process (with
    /// <c>LGMSNET_KERNEL_CACHE</c> naming the cache) reaches the check, which the cache file records.</summary>
    [Fact]
    public void The_slow_layout_hook_is_read_from_the_environment()
    {
        string folder = Directory.CreateTempSubdirectory("lgms-kernels-env-").FullName;
        try
        {
            string cachePath = Path.Combine(folder, "conv-kernels.json");
            var (code, error) = CliProcess.RunToEnd(
                new Dictionary<string, string> { ["LGMSNET_FAULT_SLOW_LAYOUT"] = "channels-last", ["LGMSNET_KERNEL_CACHE"] = cachePath },
                "bench", "lgmsnet", "--size", "32", "--no-train", "--iterations", "1", "--engine", "torch");
            Assert.True(code == 0, error);
            Assert.Equal("slow channels-last", (string?)JsonNode.Parse(File.ReadAllText(cachePath))!["fault"]);
            var kernels = Kernels(cachePath);
            Assert.NotEmpty(kernels);
            foreach (var (shape, finding) in kernels)
            {
                if (Exact(finding).Contains("contiguous")) Assert.Equal("contiguous", Layout(finding));
                AssertTimedIffBothExact(shape, finding);
            }
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    /// <summary>A layout that computes a shape wrong is never timed nor chosen, even when the exact one is "slow".</summary>
    [Theory]
    [InlineData("contiguous", null, "channels-last")]
    [InlineData("channels-last", 3L, "contiguous")]
    public void An_inexact_layout_is_not_chosen_even_when_the_exact_one_is_timed_slower(string wrong, long? kernel, string slow)
    {
        using var cache = new KernelFault((wrong, kernel), slow);
        using var network = ForwardIsExact($"{wrong} wrong{(kernel is { } k ? $" for {k}x{k}" : "")}, {slow} timed slower");
        var kernels = Kernels(cache.CachePath);
        foreach (var (shape, finding) in kernels)
        {
            bool faulty = kernel == null || shape.Contains($" k{kernel}x{kernel} ");
            if (faulty)
            {
                Assert.DoesNotContain(wrong, Exact(finding));
                Assert.Equal(slow, Layout(finding));
            }
            else if (Exact(finding).Length == 2) Assert.NotEqual(slow, Layout(finding));
            else Assert.Equal(Exact(finding).Single(), Layout(finding));
            AssertTimedIffBothExact(shape, finding);
        }
        Assert.Contains(kernels.Keys, shape => kernel == null || shape.Contains($" k{kernel}x{kernel} "));
        AssertWeightsInTheirChosenLayout(network);
    }

    [Fact]
    public void A_layout_that_computes_a_shape_wrong_is_not_used()
    {
        using var cache = new KernelFault(("channels-last", 3));
        using var network = ForwardIsExact("channels-last 3x3 kernels faulty");
        foreach (var conv in network.modules().OfType<Convolution>())
            Assert.True(conv.weight!.is_contiguous() && !ConvolutionLayout.IsChannelsLast(conv.weight!), "a 3x3 convolution still runs channels-last");
        var kernels = JsonNode.Parse(File.ReadAllText(cache.CachePath))!["kernels"]!.AsObject();
        Assert.Equal("contiguous", (string?)kernels["2d 24>24 k3x3 g1"]!["layout"]);
        Assert.Equal("channels-last", (string?)kernels["2d 24>1 k1x1 g1"]!["layout"]);
    }

    [Fact]
    public void A_shape_no_layout_computes_exactly_falls_back_to_float64_with_one_line()
    {
        using var cache = new KernelFault(("any", 3));
        var error = new StringWriter();
        var original = Console.Error;
        Console.SetError(error);
        try
        {
            ForwardIsExact("every 3x3 kernel faulty").Dispose();
            ForwardIsExact("again").Dispose();
        }
        finally
        {
            Console.SetError(original);
        }
        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(NarrowShapes - 1, lines.Length); // one line per 3x3 shape, once
        Assert.Contains(lines, l => l.Contains("2d 24>24 k3x3 g1") && l.Contains("float64"));
        var finding = Kernels(cache.CachePath)["2d 24>24 k3x3 g1"];
        Assert.Equal("float64", Layout(finding));
        Assert.Empty(Exact(finding));
        AssertTimedIffBothExact("2d 24>24 k3x3 g1", finding);
    }
}
