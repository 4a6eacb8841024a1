using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>CMUNeXt's fusion_conv (ARCHITECTURE.md §2.4): grouped 3x3 (2 groups: skip half and
/// up-sampled half) → GELU → norm, 1x1 to e·out → GELU → norm, 1x1 to out → GELU → norm. Note the
/// activation comes before the norm. Children: <c>conv1..3</c>, <c>norm1..3</c>.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class FusionBlock : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly Convolution conv1;
    private readonly nn.Module<Tensor, Tensor> norm1;
    private readonly Convolution conv2;
    private readonly nn.Module<Tensor, Tensor> norm2;
    private readonly Convolution conv3;
    private readonly nn.Module<Tensor, Tensor> norm3;
    private bool _fused;

    public FusionBlock(int dims, int inChannels, int outChannels, int expansion, NormSpec norm) : base(nameof(FusionBlock))
    {
        conv1 = Primitives.Conv(dims, inChannels, inChannels, 3, groups: 2);
        norm1 = Primitives.Norm(dims, norm, inChannels);
        conv2 = Primitives.Conv(dims, inChannels, (long)expansion * outChannels, 1);
        norm2 = Primitives.Norm(dims, norm, (long)expansion * outChannels);
        conv3 = Primitives.Conv(dims, (long)expansion * outChannels, outChannels, 1);
        norm3 = Primitives.Norm(dims, norm, outChannels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = Primitives.ActivateOwned(conv1.call(x), Activation.GELU);
        if (!_fused) y = Primitives.NormOwned(norm1, y);
        y = Primitives.ActivateOwned(conv2.call(y), Activation.GELU);
        if (!_fused) y = Primitives.NormOwned(norm2, y);
        y = Primitives.NormOwned(norm3, Primitives.ActivateOwned(conv3.call(y), Activation.GELU));
        return scope.MoveToOuter(y);
    }

    /// <summary>A BatchNorm after GELU cannot fold into the convolution before it, but it is an
    /// affine map feeding a 1x1 convolution, so it folds exactly into the one after it:
    /// (<see cref="BatchNormFolding.IntoFollowing"/>). norm3 stays (it is the block output).</summary>
    public void FuseForInference()
    {
        if (_fused || norm1 is not BatchNormLayer first || norm2 is not BatchNormLayer second) return;
        BatchNormFolding.IntoFollowing(first, conv2);
        BatchNormFolding.IntoFollowing(second, conv3);
        _fused = true;
    }
}
