using System.Runtime.CompilerServices;
using LGMSNet.Runtime.IO;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>The one place that makes every convolution run in the memory layout (channels-last or contiguous
/// NCHW/NCDHW) that <see cref="ConvolutionKernels"/> chose for its shape on this machine: exact, and the faster where
/// both are. The check exists because oneDNN 3.7.1 (libtorch 2.10) computes some layouts wrong on this project's
/// AVX-512 machines (AMD EPYC, Zen 5), silently or fatally, never reported by libtorch:
/// <list type="bullet">
/// <item>contiguous float32 convolutions whose input channels per group are not a multiple of 16 (24 → 24, 3×3) return
/// wrong numbers or NaN (relative error 0.2–0.5: the padding of oneDNN's blocked layout is left uninitialised);</item>
/// <item>channels-last 1×1 convolutions to 512 or more output channels return wrong numbers (relative error 0.4–0.8,
/// from 1×2 to 16×32 maps, batch 1 to 8), and from 256 input to 1024 output channels end the process with SIGFPE (a
/// division by zero in brgemm's blocking heuristic, with two or more threads).</item>
/// </list>
/// There the check finds channels-last for every 3×3 and small 1×1 convolution, and contiguous for 1×1 convolutions
/// to more than 256 channels (never tried channels-last, see <see cref="ContiguousPointwiseAbove"/>). ConvolutionLayoutTests
/// checks the chosen kernels against float64. Values and state_dict keys do not depend on the layout.
/// <para>Correctness lives in the module: <see cref="Attach"/> gives each convolution a forward pre-hook,
/// <see cref="Guard"/>, that compares the weight's strides with its layout before every call (O(1): shape and strides,
/// never data) and re-lays it out in place when they differ — after construction, <c>load_state_dict</c>, a checkpoint
/// load, fusing or any replacement of the weight — so no caller has to prepare anything.
/// <c>SegmentationNetwork.PrepareConvolutionLayouts</c> remains an optimisation (the trainer calls it before creating
/// its optimizer, so optimizer state is created in the final layout).</para></summary>
public static class ConvolutionLayout
{
    private static readonly ConditionalWeakTable<Convolution, object> Guarded = new();
    private static readonly object Relayout = new();

    /// <summary>Makes <paramref name="conv"/> run in its layout on every call (once per convolution; further calls do
    /// nothing). libtorch runs a convolution channels-last when its input or its weight is channels-last, so a
    /// channels-last weight suffices for those; a contiguous convolution also gets its input made contiguous. A shape
    /// whose kernels the machine computes wrong in every layout gets its output recomputed in float64.</summary>
    public static Convolution Attach(Convolution conv)
    {
        if (!Guarded.TryAdd(conv, Relayout)) return conv;
        conv.register_forward_pre_hook((_, input) => Guard(conv.weight!, conv.groups, input));
        conv.register_forward_hook((_, input, output) =>
        {
            var weight = conv.weight!;
            if (ConvolutionKernels.For(weight.shape, conv.groups) == ConvolutionKernel.Float64)
                return ConvolutionKernels.Float64(input, weight, conv.bias, conv.groups);
            return FaultInjection.ConvolutionLayoutFault == null ? output
                : FaultInjection.CorruptConvolution(weight.shape[^1], IsChannelsLast(weight) || IsChannelsLast(input), output) ?? output;
        });
        return conv;
    }

    /// <summary>Whether <see cref="Attach"/> guards <paramref name="conv"/>.</summary>
    public static bool IsAttached(Convolution conv) => Guarded.TryGetValue(conv, out _);

    /// <summary>What every guarded convolution runs before each call: puts <paramref name="weight"/> in the layout
    /// <see cref="ConvolutionKernels"/> chose for its shape if its strides say it is not (in place: optimizers and
    /// state_dict keep the same tensor), and returns the input in a form the convolution then runs in that layout (made
    /// contiguous for a contiguous convolution; otherwise unchanged, the channels-last weight decides). Cost when nothing
    /// is to be done: reading two small arrays and one dictionary lookup.</summary>
    public static Tensor Guard(Tensor weight, long groups, Tensor input)
    {
        bool channelsLast = IsChannelsLastConvolution(weight, groups);
        if (!IsInLayout(weight, channelsLast)) PrepareWeight(weight, groups);
        return channelsLast || input.is_contiguous() ? input : input.contiguous();
    }

    /// <summary>Whether a convolution with this weight ([out, in / groups, k...]) and groups runs channels-last: what the
    /// kernel check found on this machine (<see cref="ConvolutionKernels"/>; a float64 fallback runs contiguous).</summary>
    public static bool IsChannelsLastConvolution(Tensor weight, long groups) =>
        ConvolutionKernels.For(weight.shape, groups) == ConvolutionKernel.ChannelsLast;

    /// <summary>1×1 convolutions with more output channels than this are never tried channels-last (on AMD Zen 5 with
    /// oneDNN 3.7.1 that kernel is wrong from 512 on and ends the process with SIGFPE from 256 → 1024).</summary>
    public const int ContiguousPointwiseAbove = 256;

    /// <summary>Puts the convolution's weight in its layout, in place (see <see cref="PrepareWeight(Tensor, long)"/>).</summary>
    public static void PrepareWeight(Convolution conv) => PrepareWeight(conv.weight!, conv.groups);

    /// <summary>Puts a convolution weight in its layout, in place (optimizers and state_dict keep the same tensor); a
    /// weight already there is left alone. Serialised, so two threads running one network for the first time do not
    /// both replace the storage.</summary>
    public static void PrepareWeight(Tensor weight, long groups)
    {
        bool channelsLast = IsChannelsLastConvolution(weight, groups);
        if (IsInLayout(weight, channelsLast)) return;
        lock (Relayout)
        {
            if (IsInLayout(weight, channelsLast)) return;
            // Outside inference mode: the copy becomes the weight's storage, and the weight stays a normal (trainable) tensor.
            using var normal = inference_mode(false);
            using var _ = no_grad();
            using var laidOut = InLayout(weight, channelsLast);
            weight.set_(laidOut);
        }
    }

    private static bool IsInLayout(Tensor weight, bool channelsLast) => channelsLast ? IsChannelsLast(weight) : weight.is_contiguous();

    /// <summary><paramref name="t"/> itself when already in the layout, else a copy in it.</summary>
    public static Tensor InLayout(Tensor t, bool channelsLast)
    {
        if (channelsLast) return IsChannelsLast(t) ? t : ToChannelsLast(t);
        return t.is_contiguous() ? t : t.contiguous();
    }

    /// <summary>A copy with exactly the channels-last strides <see cref="IsChannelsLast"/> asks for (NHWC / NDHWC memory,
    /// NCHW shape), size-1 axes included; other ranks are returned as they are. (Permuting to NHWC and calling
    /// <c>contiguous</c> would not do: for a depthwise [C, 1, k, k] or a 1×1 [O, I, 1, 1] weight the permuted view is
    /// already contiguous, no copy is made, and the weight keeps strides libtorch reads as contiguous.)</summary>
    public static Tensor ToChannelsLast(Tensor t)
    {
        if (t.dim() is not (4 or 5)) return t;
        var laidOut = ToChannelsLastEmpty(t);
        using var _ = no_grad();
        return laidOut.copy_(t);
    }

    /// <summary><paramref name="t"/> (4 or 5 dimensions) copied to channels-last memory as an operation autograd records
    /// (permute to NHWC / NDHWC, contiguous, permute back), for a tensor on the way to a gradient; unlike
    /// <see cref="ToChannelsLast"/>, a tensor with a size-1 channel or spatial axis may come back with strides that
    /// <see cref="IsChannelsLast"/> does not accept (libtorch treats them alike).</summary>
    internal static Tensor ToChannelsLastRecorded(Tensor t) => t.dim() switch
    {
        4 => t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2),
        5 => t.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3),
        _ => throw new ArgumentException($"channels-last needs 4 or 5 dimensions, not {t.dim()}", nameof(t)),
    };

    /// <summary>An uninitialised tensor of <paramref name="t"/>'s shape, type and device with the strides of
    /// <see cref="ToChannelsLast"/> (4 or 5 dimensions).</summary>
    internal static Tensor ToChannelsLastEmpty(Tensor t)
    {
        var shape = t.shape;
        int dims = shape.Length;
        if (dims is not (4 or 5)) throw new ArgumentException($"channels-last needs 4 or 5 dimensions, not {dims}", nameof(t));
        var strides = new long[dims];
        long stride = 1;
        for (int i = 0; i < dims; i++)
        {
            int axis = MemoryOrder(i, dims);
            strides[axis] = stride;
            stride *= shape[axis];
        }
        return empty_strided(shape, strides, t.dtype, t.device);
    }

    /// <summary>The axis that is <paramref name="i"/>-th innermost in channels-last memory: channel, then the spatial axes
    /// from the last, then batch.</summary>
    private static int MemoryOrder(int i, int dims) => i == 0 ? 1 : i == dims - 1 ? 0 : dims - i;

    /// <summary>Whether the strides are exactly those <see cref="ToChannelsLast"/> produces, size-1 axes included: libtorch
    /// reads an ambiguous tensor (a depthwise weight [C, 1, k, k] stored contiguously has channels-last strides on its
    /// non-trivial axes) as contiguous, and would then pick the contiguous kernels.</summary>
    public static bool IsChannelsLast(Tensor t)
    {
        var shape = t.shape;
        int dims = shape.Length;
        if (dims is not (4 or 5)) return false;
        var strides = t.stride();
        long expected = 1;
        for (int i = 0; i < dims; i++)
        {
            int axis = MemoryOrder(i, dims);
            if (strides[axis] != expected) return false;
            expected *= shape[axis];
        }
        return true;
    }
}
