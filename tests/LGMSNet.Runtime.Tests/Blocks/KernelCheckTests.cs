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
/// float64 once per CPU and libtorch, the result is cached in a file and reused, a cache for another libtorch or CPU is
/// ignored, and a layout made wrong (injected) is avoided or, when every layout is wrong, replaced by float64 with one
/// line on stderr.</summary>
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
        Assert.Equal(LGMSNet.Runtime.IO.MachineCache.CpuKey, (string?)file["cpu"]);
        Assert.Equal(ConvolutionKernels.LibtorchKey, (string?)file["libtorch"]);
        Assert.Equal(NarrowShapes, file["kernels"]!.AsObject().Count);

        // A second build in this process, and one as a new process would (memory forgotten, the file read): no checks.
        ForwardIsExact("second build").Dispose();
        ConvolutionKernels.CachePath = cache.CachePath;
        ForwardIsExact("build after reading the cache file").Dispose();
        Assert.Equal(NarrowShapes, ConvolutionKernels.ChecksRun - before);
    }

    [Theory]
    [InlineData("libtorch")]
    [InlineData("cpu")]
    public void A_cache_recorded_for_another_libtorch_or_cpu_is_checked_again(string key)
    {
        using var cache = new KernelFault(null);
        ForwardIsExact("first build").Dispose();
        var file = JsonNode.Parse(File.ReadAllText(cache.CachePath))!;
        file[key] = "something else";
        File.WriteAllText(cache.CachePath, file.ToJsonString());
        ConvolutionKernels.CachePath = cache.CachePath;
        int before = ConvolutionKernels.ChecksRun;
        ForwardIsExact($"build after the cache's {key} changed").Dispose();
        Assert.Equal(NarrowShapes, ConvolutionKernels.ChecksRun - before);
        Assert.Equal(key == "cpu" ? LGMSNet.Runtime.IO.MachineCache.CpuKey : ConvolutionKernels.LibtorchKey,
            (string?)JsonNode.Parse(File.ReadAllText(cache.CachePath))![key]);
    }

    [Fact]
    public void A_layout_that_computes_a_shape_wrong_is_not_used()
    {
        using var cache = new KernelFault(("channels-last", 3));
        using var network = ForwardIsExact("channels-last 3x3 kernels faulty");
        foreach (var conv in network.modules().OfType<Convolution>())
            Assert.True(conv.weight!.is_contiguous() && !ConvolutionLayout.IsChannelsLast(conv.weight!), "a 3x3 convolution still runs channels-last");
        var kernels = JsonNode.Parse(File.ReadAllText(cache.CachePath))!["kernels"]!.AsObject();
        Assert.Equal("contiguous", (string?)kernels["2d 24>24 k3x3 g1"]);
        Assert.Equal("channels-last", (string?)kernels["2d 24>1 k1x1 g1"]);
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
        Assert.Equal("float64", (string?)JsonNode.Parse(File.ReadAllText(cache.CachePath))!["kernels"]!["2d 24>24 k3x3 g1"]);
    }
}
