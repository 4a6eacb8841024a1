using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>U-Net double convolution: two <see cref="ConvNormAct"/> (3x3 conv with bias → norm → ReLU).
/// Children (flat, as the reference's layout): <c>conv1</c>, <c>norm1</c>, <c>conv2</c>, <c>norm2</c>.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class DoubleConv : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly ConvNormAct _first;
    private readonly ConvNormAct _second;

    public DoubleConv(int dims, int inChannels, int outChannels, NormSpec norm) : base(nameof(DoubleConv))
    {
        _first = new ConvNormAct(dims, inChannels, outChannels, 3, bias: true, norm, Activation.ReLU);
        _second = new ConvNormAct(dims, outChannels, outChannels, 3, bias: true, norm, Activation.ReLU);
        // The two units' layers are registered flat, so the keys stay conv1.weight, norm1.weight, ...
        _first.RegisterFlat(this, "conv1", "norm1");
        _second.RegisterFlat(this, "conv2", "norm2");
    }

    /// <summary>TorchSharp would register every module-typed field as a child (also lazily, when this block
    /// is registered in its parent); the layers are already registered flat, so there is nothing to add.</summary>
    protected override void RegisterComponents()
    {
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return scope.MoveToOuter(_second.call(_first.call(x)));
    }

    public void FuseForInference()
    {
        _first.FuseForInference();
        _second.FuseForInference();
    }
}
