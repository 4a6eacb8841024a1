using LGMSNet.Dsl.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>CMUNeXt's fusion_conv (ARCHITECTURE.md §2.4): grouped 3x3 (2 groups: skip half and
/// up-sampled half) → GELU → norm, 1x1 to e·out → GELU → norm, 1x1 to out → GELU → norm. Note the
/// activation comes before the norm. Children: <c>conv1..3</c>, <c>norm1..3</c>.</summary>
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
        var y = nn.functional.gelu(conv1.call(x));
        if (!_fused) y = norm1.call(y);
        y = nn.functional.gelu(conv2.call(y));
        if (!_fused) y = norm2.call(y);
        y = norm3.call(nn.functional.gelu(conv3.call(y)));
        return scope.MoveToOuter(y);
    }

    /// <summary>A BatchNorm after GELU cannot fold into the convolution before it, but it is an
    /// affine map feeding a 1x1 convolution, so it folds exactly into the one after it:
    /// W·(s⊙z + t) + b = (W·diag(s))·z + (W·t + b). norm3 stays (it is the block output).</summary>
    public void FuseForInference()
    {
        if (_fused || norm1 is not BatchNormLayer first || norm2 is not BatchNormLayer second) return;
        using var _ = no_grad();
        FoldIntoNext(first, conv2);
        FoldIntoNext(second, conv3);
        _fused = true;
    }

    private static void FoldIntoNext(BatchNormLayer norm, Convolution next)
    {
        var (scale, shift) = Primitives.BatchNormAffine(norm);
        var w = next.weight!; // [out, in, 1, 1(, 1)]
        var inputShape = new long[w.dim()];
        Array.Fill(inputShape, 1L);
        inputShape[1] = -1;
        var weight = w * scale.reshape(inputShape);
        var bias = next.bias!.Plus((w.flatten(1) * shift.reshape(1, -1)).sum(1));
        Primitives.SetConvParameters(next, weight, bias);
    }
}

/// <summary>U-Net double convolution: (3x3 conv with bias → norm → ReLU) twice.
/// Children: <c>conv1</c>, <c>norm1</c>, <c>conv2</c>, <c>norm2</c>.</summary>
public sealed class DoubleConv : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly Convolution conv1;
    private readonly nn.Module<Tensor, Tensor> norm1;
    private readonly Convolution conv2;
    private readonly nn.Module<Tensor, Tensor> norm2;
    private bool _fused;

    public DoubleConv(int dims, int inChannels, int outChannels, NormSpec norm) : base(nameof(DoubleConv))
    {
        conv1 = Primitives.Conv(dims, inChannels, outChannels, 3);
        norm1 = Primitives.Norm(dims, norm, outChannels);
        conv2 = Primitives.Conv(dims, outChannels, outChannels, 3);
        norm2 = Primitives.Norm(dims, norm, outChannels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = conv1.call(x);
        if (!_fused) y = norm1.call(y);
        y = conv2.call(nn.functional.relu(y));
        if (!_fused) y = norm2.call(y);
        return scope.MoveToOuter(nn.functional.relu(y));
    }

    public void FuseForInference()
    {
        if (_fused || norm1 is not BatchNormLayer first || norm2 is not BatchNormLayer second) return;
        using var _ = no_grad();
        foreach (var (conv, norm) in new[] { (conv1, first), (conv2, second) })
        {
            var (scale, shift) = Primitives.BatchNormAffine(norm);
            Primitives.SetConvParameters(conv, conv.weight! * Primitives.PerOutputChannel(scale, conv.weight!), (conv.bias! * scale).Plus(shift));
        }
        _fused = true;
    }
}

/// <summary>up_conv (ARCHITECTURE.md §2.3): x2 up-sampling → 3x3 conv (bias) → norm → ReLU.
/// Children: <c>conv</c>, <c>norm</c>.</summary>
public sealed class UpConv : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly Convolution conv;
    private readonly nn.Module<Tensor, Tensor> norm;
    private readonly int _dims;
    private readonly Upsampling _mode;
    private bool _fused;

    public UpConv(int dims, int inChannels, int outChannels, Upsampling mode, NormSpec norm) : base(nameof(UpConv))
    {
        _dims = dims;
        _mode = mode;
        conv = Primitives.Conv(dims, inChannels, outChannels, 3);
        this.norm = Primitives.Norm(dims, norm, outChannels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = conv.call(Primitives.Upsample2x(x, _dims, _mode));
        if (!_fused) y = norm.call(y);
        return scope.MoveToOuter(nn.functional.relu(y));
    }

    public void FuseForInference()
    {
        if (_fused || norm is not BatchNormLayer batchNorm) return;
        using var _ = no_grad();
        var (scale, shift) = Primitives.BatchNormAffine(batchNorm);
        Primitives.SetConvParameters(conv, conv.weight! * Primitives.PerOutputChannel(scale, conv.weight!), (conv.bias! * scale).Plus(shift));
        _fused = true;
    }
}

/// <summary>The 1x1 output convolution producing raw logits (no sigmoid/softmax: losses and
/// metrics apply them). Parameters <c>weight</c> and <c>bias</c> directly on this module.</summary>
public sealed class ConvHead : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;

    public ConvHead(int dims, int inChannels, int classes) : base(nameof(ConvHead))
    {
        // Initialise exactly as a PyTorch Conv would, then own the parameters directly.
        using var template = Primitives.Conv(dims, inChannels, classes, 1);
        weight = new Parameter(template.weight!.detach().clone());
        bias = new Parameter(template.bias!.detach().clone());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => weight.dim() == 4
        ? nn.functional.conv2d(x, weight, bias)
        : nn.functional.conv3d(x, weight, bias);
}

/// <summary>Several blocks applied in order (a YAML list entry). Children: <c>0</c>, <c>1</c>, ...</summary>
public sealed class BlockSequence : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor>[] _blocks;

    public BlockSequence(params nn.Module<Tensor, Tensor>[] blocks) : base(nameof(BlockSequence))
    {
        _blocks = blocks;
        for (int i = 0; i < blocks.Length; i++) register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), blocks[i]);
    }

    public IReadOnlyList<nn.Module<Tensor, Tensor>> Blocks => _blocks;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var block in _blocks) x = block.call(x);
        return scope.MoveToOuter(x);
    }
}
