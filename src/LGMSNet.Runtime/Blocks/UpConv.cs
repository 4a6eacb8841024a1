using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>up_conv (ARCHITECTURE.md §2.3): x2 up-sampling, then a <see cref="ConvNormAct"/> (3x3 conv
/// with bias → norm → ReLU). Children (flat, as the reference's layout): <c>conv</c>, <c>norm</c>.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class UpConv : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly ConvNormAct _convNormAct;
    private readonly int _dims;
    private readonly UpsampleMode _mode;

    public UpConv(int dims, int inChannels, int outChannels, UpsampleMode mode, NormSpec norm) : base(nameof(UpConv))
    {
        _dims = dims;
        _mode = mode;
        _convNormAct = new ConvNormAct(dims, inChannels, outChannels, 3, bias: true, norm, Activation.ReLU);
        // The layers are registered flat, so the keys stay conv.weight, norm.weight, ...
        _convNormAct.RegisterFlat(this, "conv", "norm");
    }

    /// <summary>TorchSharp would register every module-typed field as a child (also lazily, when this block
    /// is registered in its parent); the layers are already registered flat, so there is nothing to add.</summary>
    protected override void RegisterComponents()
    {
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return scope.MoveToOuter(_convNormAct.call(Primitives.Upsample2x(x, _dims, _mode)));
    }

    public void FuseForInference() => _convNormAct.FuseForInference();
}
