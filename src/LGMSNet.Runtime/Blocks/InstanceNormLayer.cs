using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>InstanceNorm over 2D or 3D maps with PyTorch's semantics for <c>InstanceNorm2d/3d(C)</c> (no affine, no
/// running statistics, eps 1e-5, biased variance): no parameters, no state_dict entries. Computed per sample as libtorch's
/// batch norm with batch statistics (for one sample those are its instance statistics), because libtorch's instance_norm
/// reshapes its input to [1, N·C, ...] and so copies a channels-last activation to NCDHW and back around every norm, while
/// batch norm runs in the input's layout. In 3D those copies (and the page faults of the fresh tensors) took more time
/// than the convolutions (docs/benchmarks.md, issue 33). libtorch's group norm with one group per channel also keeps the
/// layout but accumulates E[x²] − E[x]² in float: 1.2–1.6e-4 relative off ONNX Runtime on lgmsnet-3d, over the export
/// check's 1e-4; batch norm's two-pass statistics stay within it. Where no gradient is recorded (float32, CPU), the
/// runtime's own kernel runs instead (<see cref="InstanceNormKernel"/>: float64 statistics, two passes over memory, in
/// place for a block's own tensor through <see cref="ForwardOwned"/>, with the activation after it in its second pass).</summary>
public sealed class InstanceNormLayer : nn.Module<Tensor, Tensor>
{
    public InstanceNormLayer(long channels, double eps = 1e-5) : base(nameof(InstanceNormLayer))
    {
        Channels = channels;
        Eps = eps;
    }

    /// <summary>Channels normalised (one group each).</summary>
    public long Channels { get; }

    /// <summary>Added to the variance.</summary>
    public double Eps { get; }

    public override Tensor forward(Tensor x) => InstanceNormKernel.TryNormalize(x, Eps, inPlace: false) ?? Train(x);

    /// <summary><see cref="forward"/> then <paramref name="activation"/> for a tensor that the caller alone holds: in the
    /// kernel, normalised in place when no gradient is recorded (see <see cref="Primitives.ActivateOwned"/>) with the
    /// activation applied in its second pass; where the kernel does not run (a gradient is recorded, another type or
    /// layout), libtorch's norm and then the activation.</summary>
    internal Tensor ForwardOwned(Tensor owned, Activation activation = Activation.None) =>
        InstanceNormKernel.TryNormalize(owned, Eps, inPlace: Primitives.InPlace, activation) ?? Primitives.ActivateOwned(Train(owned), activation);

    /// <summary>libtorch's batch norm with batch statistics: recorded by autograd (training), and every case the kernel
    /// leaves.</summary>
    private Tensor Train(Tensor x)
    {
        // Per sample, libtorch's batch norm with batch statistics is this sample's instance norm, and it runs in the
        // input's layout (channels-last too), with two-pass statistics.
        if (x.shape[0] <= 1) return Primitives.TrainingBatchNorm(x, null, null, null, null, 0.1, Eps);
        using var scope = NewDisposeScope();
        // split, not narrow per sample: its backward concatenates the gradients once (narrow's would zero-fill and add a
        // full-size tensor per sample).
        var parts = x.split(1, 0).Select(sample => Primitives.TrainingBatchNorm(sample, null, null, null, null, 0.1, Eps)).ToArray();
        return scope.MoveToOuter(torch.cat(parts, 0));
    }
}
