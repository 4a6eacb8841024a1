using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>conv → norm → activation; children <c>conv</c> and <c>norm</c>. The reference's
/// CBS helpers (conv_1x1_bn / conv_nxn_bn: no bias, SiLU), its stem (bias, ReLU) and the
/// up-convolution core are all this block.</summary>
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

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = conv.call(x);
        if (!_normFolded) y = norm.call(y);
        return scope.MoveToOuter(Primitives.Activate(y, _activation));
    }

    /// <summary>Folds an eval-mode BatchNorm into the convolution: w' = w·s, b' = (b − μ)·s + β.</summary>
    public void FuseForInference()
    {
        if (_normFolded || norm is not BatchNormLayer batchNorm) return;
        using var _ = no_grad();
        var (scale, shift) = Primitives.BatchNormAffine(batchNorm);
        var weight = conv.weight! * Primitives.PerOutputChannel(scale, conv.weight!);
        var bias = conv.bias is null ? shift : (conv.bias * scale).Plus(shift);
        Primitives.SetConvParameters(conv, weight, bias);
        _normFolded = true;
    }
}
