using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Network;

/// <summary>Without a gradient to record the blocks activate and add into their own fresh outputs
/// (<see cref="Primitives.ActivateOwned"/>, <see cref="Primitives.AddOwned"/>: 5–8 % of a 3D window, docs/benchmarks.md).
/// That must never change a number or touch a tensor the caller holds: for every compiled architecture, fused and not,
/// the forward pass with no gradient equals, bit for bit, the same pass computed out of place, and leaves
/// its input as it was.</summary>
[Collection("cli")]
public sealed class InPlaceInferenceTests
{
    [Theory]
    [MemberData(nameof(CliRunner.Stems), MemberType = typeof(CliRunner))]
    public void Inference_in_place_equals_the_recorded_pass_and_keeps_the_input(string stem)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        var info = descriptor.Info;
        var size = info.InputMultiple.Select(m => (long)Math.Max(m, info.Dims == 3 ? 16 : 32)).ToArray();
        manual_seed(5);
        using var input = randn(new long[] { 2, info.InChannels }.Concat(size).ToArray());
        using var original = input.clone();
        foreach (bool fuse in new[] { false, true })
        {
            using var network = descriptor.Create();
            network.eval();
            using (no_grad())
                foreach (var (_, p) in network.named_parameters()) p.add_(randn_like(p) * 0.01);
            if (fuse) network.FuseForInference();
            Tensor recorded;
            Primitives.InPlace = false;
            try
            {
                using (inference_mode()) recorded = network.forward(input);
            }
            finally
            {
                Primitives.InPlace = true;
            }
            Tensor inPlace;
            using (inference_mode()) inPlace = network.forward(input);
            Assert.True(Same(recorded, inPlace),
                $"{stem}{(fuse ? " fused" : "")}: no-gradient pass differs from the out-of-place one by {(recorded - inPlace).abs().max().item<float>():E2}");
            Assert.True(Same(input, original), $"{stem}{(fuse ? " fused" : "")}: the forward pass changed its input");
            recorded.Dispose();
            inPlace.Dispose();
        }
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    [Fact]
    public void Owned_tensors_are_activated_in_place_only_without_a_gradient()
    {
        using var plain = randn(4, 8);
        using var plainBefore = plain.clone();
        using (no_grad())
        {
            var activated = Primitives.ActivateOwned(plain, Activation.GELU);
            Assert.True(Same(plain, activated), "no gradient: GELU into the owned tensor");
            Assert.True(Same(activated, nn.functional.gelu(plainBefore)));
        }
        using var leaf = randn(4, 8).requires_grad_();
        using var tracked = leaf * 2;
        using var trackedBefore = tracked.detach().clone();
        var result = Primitives.ActivateOwned(tracked, Activation.SiLU);
        Assert.True(Same(tracked.detach(), trackedBefore), "a gradient to record: out of place");
        result.sum().backward(); // the recorded input is intact: backward works
        Assert.NotNull(leaf.grad);
        using (no_grad())
        {
            using var owned = randn(4, 8);
            using var other = randn(4, 8);
            using var sum = owned + other;
            Primitives.AddOwned(owned, other);
            Assert.True(Same(owned, sum), "no gradient: added into the owned tensor");
            using var second = randn(4, 8);
            using var secondBefore = second.clone();
            using var wide = randn(4, 8, dtype: ScalarType.Float64);
            var promoted = Primitives.AddOwned(second, wide);
            Assert.Equal(ScalarType.Float64, promoted.dtype); // type promotion, as Plus: out of place
            Assert.True(Same(second, secondBefore));
        }
    }
}
