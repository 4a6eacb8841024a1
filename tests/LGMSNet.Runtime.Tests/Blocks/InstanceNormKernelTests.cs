using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Blocks;

/// <summary>The instance norm that runs when no gradient is recorded (<see cref="InstanceNormKernel"/>): within float32
/// rounding of a float64 reference in both layouts, for channel counts that are and are not multiples of its vector width,
/// 2D and 3D, one and several samples, and means far from zero (where libtorch's channels-last batch norm, which ran
/// before, loses precision); in place only for an owned tensor without a gradient; the cases it does not handle left to
/// libtorch; and its loop on libtorch's OpenMP team.</summary>
[Collection("cli")]
public sealed class InstanceNormKernelTests
{
    public static TheoryData<int, long, long, bool, double> Cases()
    {
        var cases = new TheoryData<int, long, long, bool, double>();
        foreach (int dims in new[] { 2, 3 })
            foreach (long channels in new long[] { 1, 3, 8, 16, 24, 37 })
                foreach (bool channelsLast in new[] { true, false })
                    cases.Add(dims, channels, channels % 2 + 1, channelsLast, channels == 24 ? 1000 : 3);
        // The theory's sizes (190² and 33³) split every tensor of 3 channels or more into parts, one per thread.
        return cases;
    }

    private static Tensor Input(int dims, long channels, long batch, bool channelsLast, double mean, long? side = null)
    {
        side ??= dims == 2 ? 190 : 33;
        using var generator = new Generator(11);
        var shape = new[] { batch, channels }.Concat(Enumerable.Repeat(side.Value, dims)).ToArray();
        // Each channel its own scale and offset around the mean, so a mixed-up channel shows.
        using var scales = rand(new[] { 1, channels }.Concat(Enumerable.Repeat(1L, dims)).ToArray(), generator: generator).add_(0.5);
        using var plain = randn(shape, generator: generator).mul_(scales).add_(scales * mean);
        return channelsLast ? ConvolutionLayout.ToChannelsLast(plain) : plain.contiguous();
    }

    private static Tensor Reference(Tensor x) => InstanceNormReference.Of(x);

    private static double Error(Tensor result, Tensor reference) => InstanceNormReference.Error(result, reference);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_a_float64_reference_in_both_layouts(int dims, long channels, long batch, bool channelsLast, double mean)
    {
        using var x = Input(dims, channels, batch, channelsLast, mean);
        using var before = x.clone();
        using var reference = Reference(x);
        using var _ = no_grad();
        var layer = new InstanceNormLayer(channels);
        using var result = InstanceNormKernel.TryNormalize(x, layer.Eps, inPlace: false);
        Assert.NotNull(result);
        Assert.True(Error(result!, reference) < 2e-6, $"kernel off the float64 reference by {Error(result!, reference):E2}");
        Assert.Equal(channelsLast, ConvolutionLayout.IsChannelsLast(result!)); // the input's layout, so the next convolution runs in it
        Assert.True(x.eq(before).all().item<bool>(), "out of place changed its input");
        // The layer's own forward is the kernel when no gradient is recorded.
        using var forward = layer.forward(x);
        Assert.True(forward.eq(result!).all().item<bool>());
    }

    /// <summary>A mean 50 times the spread (where libtorch 2.10's channels-last batch norm, which ran before, is off by
    /// about 1e-3: in the message, not asserted, as another libtorch may do better).</summary>
    [Fact]
    public void Stays_within_float32_rounding_for_a_mean_far_from_zero()
    {
        using var x = Input(3, 16, 1, channelsLast: true, mean: 50, side: 40);
        using var reference = Reference(x);
        using var _ = no_grad();
        var layer = new InstanceNormLayer(16);
        using var kernel = layer.forward(x);
        Tensor libtorch;
        InstanceNormKernel.Enabled = false;
        try
        {
            libtorch = layer.forward(x);
        }
        finally
        {
            InstanceNormKernel.Enabled = true;
        }
        double kernelError = Error(kernel, reference), libtorchError = Error(libtorch, reference);
        libtorch.Dispose();
        Assert.True(kernelError < 2e-6, $"kernel {kernelError:E2} off float64 (libtorch's batch norm {libtorchError:E2})");
    }

    [Fact]
    public void Normalises_in_place_only_an_owned_tensor_without_a_gradient()
    {
        var layer = new InstanceNormLayer(8);
        foreach (bool channelsLast in new[] { true, false })
        {
            using var x = Input(3, 8, 2, channelsLast, mean: 3);
            using var reference = Reference(x);
            using (no_grad())
            {
                var result = layer.ForwardOwned(x);
                Assert.Equal(x.Handle, result.Handle);
                Assert.True(Error(x, reference) < 2e-6, $"{(channelsLast ? "channels-last" : "contiguous")} in place: {Error(x, reference):E2}");
            }
        }
        // A gradient to record: libtorch's batch norm, out of place, and backward works.
        using var leaf = Input(3, 8, 1, channelsLast: true, mean: 3).requires_grad_();
        using var tracked = leaf * 1;
        using var trackedBefore = tracked.detach().clone();
        using var output = layer.ForwardOwned(tracked);
        Assert.NotEqual(tracked.Handle, output.Handle);
        Assert.True(tracked.detach().eq(trackedBefore).all().item<bool>());
        output.square().sum().backward();
        Assert.NotNull(leaf.grad);
    }

    [Fact]
    public void Leaves_to_libtorch_what_it_does_not_handle()
    {
        using var _ = no_grad();
        using var wide = randn(1, 4, 8, 8, dtype: ScalarType.Float64);
        Assert.Null(InstanceNormKernel.TryNormalize(wide, 1e-5, inPlace: false));
        using var square = randn(1, 4, 8, 8);
        using var transposed = square.transpose(2, 3); // neither layout
        Assert.Null(InstanceNormKernel.TryNormalize(transposed, 1e-5, inPlace: false));
        using var single = randn(new long[] { 1, 4, 1, 1, 1 }); // one position: libtorch's statistics refuse it, and so does the layer
        Assert.Null(InstanceNormKernel.TryNormalize(single, 1e-5, inPlace: false));
        // Not handled still gives the right numbers through the layer.
        using var reference = Reference(transposed);
        using var result = new InstanceNormLayer(4).forward(transposed);
        Assert.True(Error(result, reference) < 1e-5);
    }

    [Fact]
    public void Runs_each_part_once_on_libtorchs_team_and_rethrows_a_failure()
    {
        if (OperatingSystem.IsLinux()) Assert.True(OpenMpTeam.Found, "libgomp's GOMP_parallel was not found through libtorch");
        int previous = get_num_threads();
        set_num_threads(2);
        try
        {
            var seen = new List<(long Begin, long End, int Part, int Thread)>();
            OpenMpTeam.For(10_007, 2, (begin, end, part) =>
            {
                lock (seen) seen.Add((begin, end, part, Environment.CurrentManagedThreadId));
            });
            var ordered = seen.OrderBy(s => s.Begin).ToList();
            if (OpenMpTeam.Found) Assert.Equal(2, seen.Select(s => s.Thread).Distinct().Count()); // this thread and one of the team
            Assert.Equal(new[] { 0, 1 }, ordered.Select(s => s.Part));
            Assert.Equal(0, ordered[0].Begin);
            Assert.Equal(ordered[0].End, ordered[1].Begin);
            Assert.Equal(10_007, ordered[1].End);
            var error = Assert.Throws<InvalidOperationException>(() => OpenMpTeam.For(100, 2, (_, _, part) =>
            {
                if (part == 1) throw new InvalidOperationException("part 1 failed");
            }));
            Assert.Equal("part 1 failed", error.Message);
        }
        finally
        {
            set_num_threads(previous);
        }
    }
}
