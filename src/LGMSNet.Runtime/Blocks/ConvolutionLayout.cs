using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>The one place that decides the memory layout each convolution runs in (contiguous NCHW/NCDHW or
/// channels-last), attached to every convolution <see cref="Primitives.Conv"/> builds: before each call the weight
/// and the input are put in the convolution's layout. The rule follows two oneDNN 3.7.1 (libtorch 2.10) faults found
/// on AVX-512 CPUs (AMD EPYC Zen 5 here), each silently wrong or fatal, never reported:
/// <list type="bullet">
/// <item>contiguous float32 convolutions whose input channels per group are not a multiple of 16 (24 → 24, 3×3)
/// return wrong numbers or NaN (|Δ| ≈ 13 on outputs of ≈ 50: padding of the blocked layout left uninitialised);</item>
/// <item>channels-last 1×1 convolutions with many output channels on small maps (128 → 1024 at 2×2, batch 4) return
/// wrong numbers, and at 512 → 1024 end the process with SIGFPE (a division by zero in brgemm's blocking heuristic).</item>
/// </list>
/// So: channels-last when the input channels per group are not a multiple of 16 (depthwise convolutions included),
/// contiguous otherwise. Each kernel that rule selects was checked exact against float64 on that CPU
/// (ConvolutionLayoutTests). Values and state_dict keys do not depend on the layout.</summary>
public static class ConvolutionLayout
{
    /// <summary>Makes <paramref name="conv"/> run in its layout on every call.</summary>
    public static Convolution Attach(Convolution conv)
    {
        conv.register_forward_pre_hook((_, input) => Prepare(conv, input));
        return conv;
    }

    /// <summary>Whether a convolution with this weight ([out, in / groups, k...]) runs channels-last.</summary>
    public static bool IsChannelsLastConvolution(Tensor weight) => weight.shape[1] % 16 != 0;

    /// <summary>Puts the weight (in place, so optimizers and state_dict keep the same tensor) and returns the input in the
    /// convolution's layout. Also used before training so optimizer state is created in the final layout.</summary>
    public static Tensor Prepare(Convolution conv, Tensor input)
    {
        PrepareWeight(conv);
        return InLayout(input, IsChannelsLastConvolution(conv.weight!));
    }

    public static void PrepareWeight(Convolution conv)
    {
        var weight = conv.weight!;
        bool channelsLast = IsChannelsLastConvolution(weight);
        if (IsChannelsLast(weight) == channelsLast && (channelsLast || weight.is_contiguous())) return;
        using var _ = no_grad();
        weight.set_(InLayout(weight, channelsLast));
    }

    /// <summary><paramref name="t"/> itself when already in the layout, else a copy in it.</summary>
    public static Tensor InLayout(Tensor t, bool channelsLast)
    {
        if (channelsLast) return IsChannelsLast(t) ? t : ToChannelsLast(t);
        return t.is_contiguous() ? t : t.contiguous();
    }

    /// <summary>The same tensor with channels-last strides (NHWC / NDHWC memory, NCHW shape).</summary>
    public static Tensor ToChannelsLast(Tensor t) => t.dim() switch
    {
        4 => t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2),
        5 => t.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3),
        _ => t,
    };

    /// <summary>Whether the strides are exactly those of <see cref="ToChannelsLast"/> (axes of size 1 ignored).</summary>
    public static bool IsChannelsLast(Tensor t)
    {
        int dims = (int)t.dim();
        if (dims is not (4 or 5)) return false;
        // Memory order: batch, spatial axes..., channel (innermost).
        var order = new List<int> { 0 };
        for (int axis = 2; axis < dims; axis++) order.Add(axis);
        order.Add(1);
        long expected = 1;
        for (int i = order.Count - 1; i >= 0; i--)
        {
            int axis = order[i];
            if (t.shape[axis] != 1 && t.stride(axis) != expected) return false;
            expected *= t.shape[axis];
        }
        return true;
    }
}
