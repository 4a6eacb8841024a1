using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Network;

/// <summary>The fused inference form (BatchNorm folded into convolutions, LMS kernels merged into one
/// depthwise convolution) must equal the training form in eval mode.</summary>
public sealed class FusionTests
{
    /// <summary>Random weights with non-trivial BatchNorm statistics, so that folding matters.</summary>
    private static void Randomise(SegmentationNetwork network, int seed)
    {
        torch.manual_seed(seed);
        using var _ = no_grad();
        foreach (var module in network.modules().OfType<LGMSNet.Runtime.Blocks.BatchNormLayer>())
        {
            module.RunningMean.copy_(randn_like(module.RunningMean) * 0.2);
            module.RunningVar.copy_(rand_like(module.RunningVar) + 0.5);
            module.Weight.copy_(randn_like(module.Weight) * 0.3 + 1);
            module.Bias.copy_(randn_like(module.Bias) * 0.2);
        }
        foreach (var (_, p) in network.named_parameters()) p.add_(randn_like(p) * 0.01);
    }

    private static void AssertFusedEqual(SegmentationNetwork reference, Func<SegmentationNetwork> fresh, Tensor input, string what)
    {
        reference.eval();
        using var _ = no_grad();
        using var expected = reference.forward(input);
        using var fused = fresh();
        foreach (var (key, value) in fused.state_dict()) value.copy_(reference.state_dict()[key]);
        fused.FuseForInference();
        Assert.True(fused.IsFusedForInference);
        using var actual = fused.forward(input);
        TensorAssert.MaxRelative(actual, expected, 1e-4, what);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Fused_2d_equals_unfused_on_random_weights(int seed)
    {
        using var network = new LGMSNet.Architectures.LgmsNet();
        Randomise(network, seed);
        using var input = randn(2, 3, 64, 96);
        AssertFusedEqual(network, () => new LGMSNet.Architectures.LgmsNet(), input, $"fused 2D (seed {seed})");
    }

    /// <summary>Every compiled architecture (shipped variants and test ones: U-Net double convs, nearest
    /// up-sampling, group norm, single- and three-kernel LMS, LMS and GMS depth 2, non-square patches,
    /// pure-transformer and pure-conv GMS, 3D) fuses to an equal network.</summary>
    [Theory]
    [MemberData(nameof(CliRunner.Stems), MemberType = typeof(CliRunner))]
    public void Fused_equals_unfused_for_every_architecture(string stem)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        Randomise(network, 3);
        var info = descriptor.Info;
        var size = info.InputMultiple.Select(m => (long)(info.Dims == 3 ? Math.Max(m, 32) : Math.Max(m, 32) * 2)).ToArray();
        using var input = randn(new long[] { 2, info.InChannels }.Concat(size).ToArray());
        AssertFusedEqual(network, descriptor.Create, input, $"fused {stem}");
    }

    [Fact]
    public void Fused_2d_equals_unfused_on_the_golden_calibrated_weights()
    {
        using var network = new LGMSNet.Architectures.LgmsNet();
        WeightLayout.Load(network, Fixtures.Load("lgmsnet2d", "weights.safetensors"), KeyLayout.Reference);
        var calibrated = Fixtures.Load("lgmsnet2d", "calibrated_bn_stats.safetensors");
        var map = WeightLayout.KeyMap(network).ToDictionary(t => t.ReferenceName, t => t.Name);
        using (no_grad())
            foreach (var name in calibrated.Names) network.state_dict()[map[name]].copy_(calibrated.ToTensor(name));
        var input = Fixtures.Load("lgmsnet2d", "input.safetensors").ToTensor("input");
        AssertFusedEqual(network, () => new LGMSNet.Architectures.LgmsNet(), input, "fused 2D, golden calibrated weights");
        // And the fused network still reproduces the reference's output.
        using var fused = new LGMSNet.Architectures.LgmsNet();
        using var _ = no_grad();
        foreach (var (key, value) in fused.state_dict()) value.copy_(network.state_dict()[key]);
        fused.FuseForInference();
        TensorAssert.MaxRelative(fused.forward(input), Fixtures.Load("lgmsnet2d", "expected_calibrated.safetensors").ToTensor("eval_output"), 1e-4,
            "fused vs reference calibrated eval_output");
    }

    [Fact]
    public void Fused_3d_equals_unfused_on_the_golden_weights()
    {
        var fixture = Fixtures.Load("lgmsnet3d-small", "golden.safetensors");
        using var network = new LgmsNet3DSmall();
        WeightLayout.Load(network, fixture, KeyLayout.Reference, "weights.");
        AssertFusedEqual(network, () => new LgmsNet3DSmall(), fixture.ToTensor("input"), "fused 3D, golden weights");
    }

    [Fact]
    public void A_fused_network_refuses_training_checkpointing_and_export()
    {
        using var network = new LGMSNet.Architectures.LgmsNet();
        network.FuseForInference();
        Assert.Throws<InvalidOperationException>(() => network.train());
        Assert.Throws<InvalidOperationException>(() => Checkpoint.Save(Path.Combine(Path.GetTempPath(), "never.safetensors"), network));
        Assert.Throws<InvalidOperationException>(() => WeightLayout.Export(network, KeyLayout.Reference));
    }
}

/// <summary>Fresh modules must start from PyTorch's initialisation (regression: TorchSharp's
/// GroupNorm left its affine parameters uninitialised).</summary>
public sealed class InitialisationTests
{
    [Fact]
    public void Fresh_networks_have_pytorch_norm_initialisation_and_finite_outputs()
    {
        foreach (var create in new Func<SegmentationNetwork>[] { () => new LGMSNet.Architectures.LgmsNet(), () => new LgmsNet3DSmall() })
        {
            using var network = create();
            foreach (var norm in network.modules().OfType<GroupNorm>())
            {
                Assert.True(norm.weight!.eq(1).all().item<bool>(), "GroupNorm weight must start at 1");
                Assert.True(norm.bias!.eq(0).all().item<bool>(), "GroupNorm bias must start at 0");
            }
            foreach (var norm in network.modules().OfType<LayerNorm>())
                Assert.True(norm.weight!.eq(1).all().item<bool>() && norm.bias!.eq(0).all().item<bool>(), "LayerNorm must start at 1/0");
            network.eval();
            var size = network.Architecture.InputMultiple.Select(m => (long)m * 2).ToArray();
            using var _ = no_grad();
            using var output = network.forward(randn(new long[] { 1, network.Architecture.InChannels }.Concat(size).ToArray()));
            Assert.True(output.isfinite().all().item<bool>());
            Assert.True(output.abs().max().item<float>() < 100);
        }
    }
}
