using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>conv → norm → activation; children <c>conv</c> and <c>norm</c>. The reference's
/// CBS helpers (conv_1x1_bn / conv_nxn_bn: no bias, SiLU) and its stem (bias, ReLU) are this block;
/// <see cref="DoubleConv"/> and <see cref="UpConv"/> are built from it.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class ConvNormAct : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly Convolution conv;
    private readonly nn.Module<Tensor, Tensor> norm;
    private readonly Activation _activation;
    private bool _normFolded;

    public ConvNormAct(int dims, long inChannels, long outChannels, long kernel, bool bias, NormSpec norm, Activation activation)
        : base(nameof(ConvNormAct))
    {
        conv = Primitives.Conv(dims, inChannels, outChannels, kernel, bias: bias);
        this.norm = Primitives.Norm(dims, norm, outChannels);
        _activation = activation;
        RegisterComponents();
    }

    public Convolution Conv => conv;

    public nn.Module<Tensor, Tensor> Norm => norm;

    /// <summary>Registers this block's convolution and norm directly on <paramref name="owner"/> under
    /// <paramref name="convName"/> and <paramref name="normName"/>, for blocks whose state_dict layout
    /// (the reference's) has the two flat, without this block's own level.</summary>
    public void RegisterFlat(nn.Module owner, string convName, string normName)
    {
        owner.register_module(convName, conv);
        owner.register_module(normName, norm);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = conv.call(x);
        return scope.MoveToOuter(_normFolded ? Primitives.ActivateOwned(y, _activation) : Primitives.NormActivateOwned(norm, y, _activation));
    }

    /// <summary>Folds an eval-mode BatchNorm into the convolution (<see cref="BatchNormFolding.IntoPreceding"/>).</summary>
    public void FuseForInference()
    {
        if (_normFolded || norm is not BatchNormLayer batchNorm) return;
        BatchNormFolding.IntoPreceding(conv, batchNorm);
        _normFolded = true;
    }
}
