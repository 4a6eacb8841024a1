using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>The one implementation of folding an eval-mode BatchNorm into a neighbouring convolution
/// (the inference form of <see cref="IFusable"/> blocks). An eval-mode BatchNorm is the per-channel
/// affine map z ↦ s⊙z + t with s = γ/√(σ² + ε) and t = β − μ·s.</summary>
public static class BatchNormFolding
{
    /// <summary>conv → norm becomes one convolution: w' = w·s (per output channel), b' = b·s + t
    /// (b = 0 for a convolution without bias).</summary>
    public static void IntoPreceding(Convolution conv, BatchNormLayer norm)
    {
        using var _ = no_grad();
        var (weight, bias) = Preceding(conv.weight!, conv.bias, Affine(norm));
        Primitives.SetConvParameters(conv, weight, bias);
    }

    /// <summary>norm → 1x1 conv becomes one convolution (a norm after an activation cannot fold
    /// backwards, but it feeds an affine map): W·(s⊙z + t) + b = (W·diag(s))·z + (W·t + b).</summary>
    public static void IntoFollowing(BatchNormLayer norm, Convolution next)
    {
        using var _ = no_grad();
        var (weight, bias) = Following(Affine(norm), next.weight!, next.bias!);
        Primitives.SetConvParameters(next, weight, bias);
    }

    /// <summary>The folded weight and bias of conv → affine (the tensor form of <see cref="IntoPreceding"/>, also
    /// used by the ONNX exporter).</summary>
    public static (Tensor Weight, Tensor Bias) Preceding(Tensor weight, Tensor? bias, (Tensor Scale, Tensor Shift) affine)
    {
        var shape = new long[weight.dim()];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        return (weight * affine.Scale.reshape(shape), bias is null ? affine.Shift : (bias * affine.Scale).Plus(affine.Shift));
    }

    /// <summary>The folded weight and bias of affine → 1x1 conv (the tensor form of <see cref="IntoFollowing"/>).</summary>
    public static (Tensor Weight, Tensor Bias) Following((Tensor Scale, Tensor Shift) affine, Tensor nextWeight, Tensor nextBias)
    {
        var shape = new long[nextWeight.dim()]; // [out, in, 1, 1(, 1)]
        Array.Fill(shape, 1L);
        shape[1] = -1;
        return (nextWeight * affine.Scale.reshape(shape), nextBias.Plus((nextWeight.flatten(1) * affine.Shift.reshape(1, -1)).sum(1)));
    }

    /// <summary>Per-channel scale and shift equal to the eval-mode <paramref name="norm"/>.</summary>
    public static (Tensor Scale, Tensor Shift) Affine(BatchNormLayer norm)
    {
        var scale = norm.Weight / norm.RunningVar.Plus(norm.Eps).sqrt();
        var shift = norm.Bias.Minus(norm.RunningMean * scale);
        return (scale, shift);
    }
}
