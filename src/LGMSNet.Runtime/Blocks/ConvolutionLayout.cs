using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>The one place that decides the memory layout each convolution runs in (channels-last or contiguous
/// NCHW/NCDHW), attached to every convolution <see cref="Primitives.Conv"/> builds. The rule follows oneDNN 3.7.1 (libtorch 2.10) faults found on this
/// project's AVX-512 machines (AMD EPYC, Zen 5), each silently wrong or fatal, never reported by libtorch:
/// <list type="bullet">
/// <item>contiguous float32 convolutions whose input channels per group are not a multiple of 16 (24 → 24, 3×3) return
/// wrong numbers or NaN (relative error 0.2–0.5: the padding of oneDNN's blocked layout is left uninitialised);</item>
/// <item>channels-last 1×1 convolutions to 512 or more output channels return wrong numbers (relative error 0.4–0.8,
/// from 1×2 to 16×32 maps, batch 1 to 8), and from 256 input to 1024 output channels end the process with SIGFPE (a
/// division by zero in brgemm's blocking heuristic, with two or more threads).</item>
/// </list>
/// So: channels-last (oneDNN's fastest layout, and exact for every 3×3 and small 1×1 convolution probed), except 1×1
/// convolutions with more than 256 output channels, which run contiguous (exact for every input channel count probed,
/// 8 to 512). ConvolutionLayoutTests checks the chosen kernels against float64. Values and state_dict keys do not
/// depend on the layout.</summary>
public static class ConvolutionLayout
{
    /// <summary>Makes <paramref name="conv"/> run in its layout. libtorch runs a convolution channels-last when its input or
    /// its weight is channels-last, so for most convolutions a channels-last weight suffices: <see cref="PrepareWeight"/>
    /// puts it there, through <c>SegmentationNetwork.PrepareConvolutionLayouts</c> (before training, after fusing, before
    /// unfused inference) and whenever a weight is replaced. The few contiguous convolutions also get their input made contiguous before
    /// each call, by a hook registered here.</summary>
    public static Convolution Attach(Convolution conv)
    {
        if (!IsChannelsLastConvolution(conv.weight!))
            conv.register_forward_pre_hook((_, input) => input.is_contiguous() ? input : input.contiguous());
        return conv;
    }

    /// <summary>Whether a convolution with this weight ([out, in / groups, k...]) runs channels-last: all but the 1×1
    /// convolutions with more than <see cref="ContiguousPointwiseAbove"/> output channels.</summary>
    public static bool IsChannelsLastConvolution(Tensor weight) =>
        !(weight.shape.Skip(2).All(k => k == 1) && weight.shape[0] > ContiguousPointwiseAbove);

    /// <summary>1×1 convolutions with more output channels than this run contiguous (channels-last is wrong from 512 on).</summary>
    public const int ContiguousPointwiseAbove = 256;

    /// <summary>Puts the weight in its convolution's layout, in place (optimizers and state_dict keep the same tensor);
    /// called before training so optimizer state is created in the final layout, and after a weight is replaced.</summary>
    public static void PrepareWeight(Convolution conv)
    {
        var weight = conv.weight!;
        bool channelsLast = IsChannelsLastConvolution(weight);
        if (channelsLast ? IsChannelsLast(weight) : weight.is_contiguous()) return;
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

    /// <summary>Whether the strides are exactly those <see cref="ToChannelsLast"/> produces, size-1 axes included: libtorch
    /// reads an ambiguous tensor (a depthwise weight [C, 1, k, k] stored contiguously has channels-last strides on its
    /// non-trivial axes) as contiguous, and would then pick the contiguous kernels.</summary>
    public static bool IsChannelsLast(Tensor t)
    {
        var shape = t.shape;
        int dims = shape.Length;
        if (dims is not (4 or 5)) return false;
        var strides = t.stride();
        // Memory order, innermost first: channel, then the spatial axes from the last, then batch.
        long expected = 1;
        for (int i = 0; i < dims; i++)
        {
            int axis = i == 0 ? 1 : i == dims - 1 ? 0 : dims - i;
            if (strides[axis] != expected) return false;
            expected *= shape[axis];
        }
        return true;
    }
}
