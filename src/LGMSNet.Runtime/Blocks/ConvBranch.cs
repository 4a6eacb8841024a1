using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>The GMS conv branch: depthwise 3x3 → BatchNorm → ReLU → depthwise 1x1 → BatchNorm
/// (BatchNorm in 3D too, as in the reference). Children: <c>depthwise</c>, <c>norm1</c>,
/// <c>pointwise</c>, <c>norm2</c>. The block adds the residual.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class ConvBranch : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly Convolution depthwise;
    private readonly BatchNormLayer norm1;
    private readonly Convolution pointwise;
    private readonly BatchNormLayer norm2;
    private bool _fused;

    public ConvBranch(int dims, int channels) : base(nameof(ConvBranch))
    {
        depthwise = Primitives.Conv(dims, channels, channels, 3, groups: channels, bias: false);
        norm1 = Primitives.BatchNorm(dims, channels);
        pointwise = Primitives.Conv(dims, channels, channels, 1, groups: channels, bias: false);
        norm2 = Primitives.BatchNorm(dims, channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = depthwise.call(x);
        if (!_fused) y = norm1.call(y);
        y = pointwise.call(Primitives.ActivateOwned(y, Activation.ReLU));
        if (!_fused) y = norm2.call(y);
        return scope.MoveToOuter(y);
    }

    public void FuseForInference()
    {
        if (_fused) return;
        BatchNormFolding.IntoPreceding(depthwise, norm1);
        BatchNormFolding.IntoPreceding(pointwise, norm2);
        _fused = true;
    }
}
