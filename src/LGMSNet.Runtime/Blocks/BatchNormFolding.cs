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
        var (scale, shift) = Affine(norm);
        var weight = conv.weight!;
        var shape = new long[weight.dim()];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        var bias = conv.bias is null ? shift : (conv.bias * scale).Plus(shift);
        Primitives.SetConvParameters(conv, weight * scale.reshape(shape), bias);
    }

    /// <summary>norm → 1x1 conv becomes one convolution (a norm after an activation cannot fold
    /// backwards, but it feeds an affine map): W·(s⊙z + t) + b = (W·diag(s))·z + (W·t + b).</summary>
    public static void IntoFollowing(BatchNormLayer norm, Convolution next)
    {
        using var _ = no_grad();
        var (scale, shift) = Affine(norm);
        var weight = next.weight!; // [out, in, 1, 1(, 1)]
        var shape = new long[weight.dim()];
        Array.Fill(shape, 1L);
        shape[1] = -1;
        var bias = next.bias!.Plus((weight.flatten(1) * shift.reshape(1, -1)).sum(1));
        Primitives.SetConvParameters(next, weight * scale.reshape(shape), bias);
    }

    /// <summary>Per-channel scale and shift equal to the eval-mode <paramref name="norm"/>.</summary>
    private static (Tensor Scale, Tensor Shift) Affine(BatchNormLayer norm)
    {
        var scale = norm.Weight / norm.RunningVar.Plus(norm.Eps).sqrt();
        var shift = norm.Bias.Minus(norm.RunningMean * scale);
        return (scale, shift);
    }
}
