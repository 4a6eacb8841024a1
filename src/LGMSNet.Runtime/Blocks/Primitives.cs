using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>Dimension-generic layer factories: one code path serves 2D and 3D.</summary>
public static class Primitives
{
    /// <summary>A convolution that runs in the memory layout <see cref="ConvolutionLayout"/> chooses for it.</summary>
    public static Convolution Conv(int dims, long inChannels, long outChannels, long kernel, long groups = 1, bool bias = true) => ConvolutionLayout.Attach(dims switch
    {
        2 => nn.Conv2d(inChannels, outChannels, kernel, padding: kernel / 2, groups: groups, bias: bias),
        3 => nn.Conv3d(inChannels, outChannels, kernel, padding: kernel / 2, groups: groups, bias: bias),
        _ => throw new ArgumentOutOfRangeException(nameof(dims), dims, "dims must be 2 or 3"),
    });

    /// <summary>BatchNorm for 2D or 3D maps (the functional batch_norm serves both).</summary>
    public static BatchNormLayer BatchNorm(int dims, long channels) => dims is 2 or 3
        ? new BatchNormLayer(channels)
        : throw new ArgumentOutOfRangeException(nameof(dims), dims, "dims must be 2 or 3");

    /// <summary>BatchNorm (affine, running stats), InstanceNorm (no affine, no stats: the
    /// reference's 3D choice) or GroupNorm.</summary>
    public static nn.Module<Tensor, Tensor> Norm(int dims, NormSpec norm, long channels) => norm.Kind switch
    {
        Normalization.Batch => BatchNorm(dims, channels),
        Normalization.Instance => dims is 2 or 3 ? new InstanceNormLayer(channels) : throw new ArgumentOutOfRangeException(nameof(dims), dims, "dims must be 2 or 3"),
        Normalization.Group => GroupNorm(norm.Groups, channels),
        _ => throw new ArgumentOutOfRangeException(nameof(norm)),
    };

    /// <summary>GroupNorm with PyTorch's initialisation (weight 1, bias 0). TorchSharp 0.107's
    /// nn.GroupNorm leaves both uninitialised, which silently wrecks training from scratch.</summary>
    public static GroupNorm GroupNorm(long groups, long channels)
    {
        var norm = nn.GroupNorm(groups, channels);
        using var _ = no_grad();
        norm.weight!.fill_(1);
        norm.bias!.zero_();
        return norm;
    }

    public static Tensor Activate(Tensor x, Activation activation) => activation switch
    {
        Activation.None => x,
        Activation.ReLU => nn.functional.relu(x),
        Activation.SiLU => nn.functional.silu(x),
        Activation.GELU => nn.functional.gelu(x), // exact erf form, as the reference
        _ => throw new ArgumentOutOfRangeException(nameof(activation)),
    };

    /// <summary>Whether <see cref="ActivateOwned"/> and <see cref="AddOwned"/> may write into their first argument (tests turn it
    /// off to compute the out-of-place reference).</summary>
    internal static bool InPlace { get; set; } = true;

    /// <summary><see cref="Activate"/> for a tensor that the caller alone holds (a fresh output of the layer before): in
    /// place when no gradient flows through it (inference: no full-size allocation, and no write-allocate traffic for
    /// a new tensor; the same kernel, so the same values), out of place when one does (autograd keeps the input).</summary>
    internal static Tensor ActivateOwned(Tensor owned, Activation activation) => owned.requires_grad || !InPlace ? Activate(owned, activation) : activation switch
    {
        Activation.None => owned,
        Activation.ReLU => owned.relu_(),
        Activation.SiLU => owned.silu_(),
        Activation.GELU => owned.gelu_(),
        _ => throw new ArgumentOutOfRangeException(nameof(activation)),
    };

    /// <summary><paramref name="owned"/> + <paramref name="other"/>, into <paramref name="owned"/> when no gradient
    /// flows through it (see <see cref="ActivateOwned"/>).</summary>
    internal static Tensor AddOwned(Tensor owned, Tensor other) =>
        owned.requires_grad || !InPlace || owned.dtype != other.dtype || !owned.shape.SequenceEqual(other.shape) ? owned.Plus(other) : owned.add_(other);

    /// <summary><paramref name="norm"/> applied to a tensor that the caller alone holds: an instance norm normalises it in
    /// place when no gradient flows through it (see <see cref="ActivateOwned"/>); other norms run as they are. An instance
    /// norm is called directly here, so module hooks registered on it do not run (it has no parameters or state; hooks on
    /// the block around it do).</summary>
    internal static Tensor NormOwned(nn.Module<Tensor, Tensor> norm, Tensor owned) => NormActivateOwned(norm, owned, Activation.None);

    /// <summary><paramref name="norm"/> then <paramref name="activation"/> on a tensor that the caller alone holds (see
    /// <see cref="NormOwned"/>): an instance norm's kernel applies the activation in the pass that writes the norm (two
    /// passes over memory for the two, where they took three); otherwise they run one after the other. (The other order,
    /// a fusion block's GELU before its norm, stays two operations: the kernel's 8-wide GELU in its statistics pass
    /// measured slower than libtorch's own pass.)</summary>
    internal static Tensor NormActivateOwned(nn.Module<Tensor, Tensor> norm, Tensor owned, Activation activation) =>
        norm is InstanceNormLayer instance ? instance.ForwardOwned(owned, activation) : ActivateOwned(norm.call(owned), activation);

    /// <summary>libtorch's batch norm with batch statistics (a batch norm in training; an instance norm per sample wherever
    /// its kernel does not run), in the layout it is fast in: a float32 CPU channels-last input with fewer than 16
    /// channels, or a channel count that is not a multiple of 8, is normalised as a contiguous copy and the result brought
    /// back to channels-last (both recorded by autograd). libtorch's channels-last kernel, forward and backward, is slow
    /// there (<c>norm-kernels</c>, [8, C, 128, 128], ms, channels-last against through the copy: 4 channels 32.5 / 2.5, 8
    /// channels 8.8 / 4.3, 12 channels 40.7 / 9.0, 20 channels 40.7 / 18.3), while from 16 channels on, in multiples of 8,
    /// channels-last is the faster (16: 2.3 / 11.4; 24: 13.8 / 19.1; 32: 6.8 / 30.2) — measured on this project's Intel machine, not checked
    /// per machine (docs/benchmarks.md). Both paths give the same values up to the order of a sum.</summary>
    internal static Tensor TrainingBatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, double momentum, double eps) =>
        TrainingBatchNorm(x, runningMean, runningVar, weight, bias, momentum, eps, throughContiguous: BatchNormThroughContiguous(x));

    /// <summary>Whether <see cref="TrainingBatchNorm(Tensor, Tensor?, Tensor?, Tensor?, Tensor?, double, double)"/> takes
    /// the contiguous copy for <paramref name="x"/>. A tensor whose strides are both channels-last and contiguous (one
    /// channel, or one position) needs no copy.</summary>
    internal static bool BatchNormThroughContiguous(Tensor x)
    {
        if (x.dim() is not (4 or 5) || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32) return false;
        long channels = x.shape[1];
        return (channels < 16 || channels % 8 != 0) && ConvolutionLayout.IsChannelsLast(x) && !x.is_contiguous();
    }

    /// <summary><see cref="TrainingBatchNorm(Tensor, Tensor?, Tensor?, Tensor?, Tensor?, double, double)"/> with the
    /// path given (the <c>norm-kernels</c> benchmark times both).</summary>
    internal static Tensor TrainingBatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias, double momentum, double eps, bool throughContiguous)
    {
        if (!throughContiguous) return nn.functional.batch_norm(x, runningMean, runningVar, weight, bias, training: true, momentum, eps);
        using var scope = NewDisposeScope();
        var y = nn.functional.batch_norm(x.contiguous(), runningMean, runningVar, weight, bias, training: true, momentum, eps);
        return scope.MoveToOuter(ConvolutionLayout.ToChannelsLastRecorded(y));
    }

    public static Tensor MaxPool2x(Tensor x, int dims) => dims == 2
        ? nn.functional.max_pool2d(x, new long[] { 2, 2 }, new long[] { 2, 2 })
        : nn.functional.max_pool3d(x, new long[] { 2, 2, 2 }, new long[] { 2, 2, 2 });

    /// <summary>x2 up-sampling; linear means bi/trilinear with align_corners=false (the reference).</summary>
    public static Tensor Upsample2x(Tensor x, int dims, UpsampleMode mode)
    {
        var scale = Enumerable.Repeat(2.0, dims).ToArray();
        if (mode == UpsampleMode.Nearest)
            return nn.functional.interpolate(x, scale_factor: scale, mode: InterpolationMode.Nearest);
        return nn.functional.interpolate(x, scale_factor: scale,
            mode: dims == 2 ? InterpolationMode.Bilinear : InterpolationMode.Trilinear, align_corners: false);
    }

    /// <summary>Replaces a convolution's weight and bias (used when folding normalisation into it).</summary>
    public static void SetConvParameters(Convolution conv, Tensor weight, Tensor bias)
    {
        using var _ = no_grad();
        conv.weight = new Parameter(weight.detach().contiguous(), requires_grad: false);
        conv.bias = new Parameter(bias.detach().contiguous(), requires_grad: false);
        ConvolutionLayout.PrepareWeight(conv);
    }
}
