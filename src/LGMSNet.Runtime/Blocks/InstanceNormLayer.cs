using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>InstanceNorm over 2D or 3D maps with PyTorch's semantics for <c>InstanceNorm2d/3d(C)</c> (no affine, no
/// running statistics, eps 1e-5, biased variance): no parameters, no state_dict entries. Computed as a group norm with one
/// group per channel — the same statistics — because libtorch's instance_norm reshapes its input to
/// [1, N·C, ...] and so copies a channels-last activation to NCDHW and back around every norm, while its group norm runs
/// channels-last in place of layout. In 3D those two copies of every full-resolution activation (and the page faults of
/// the fresh tensors) took more time than the convolutions (docs/benchmarks.md, issue 33).</summary>
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

    public override Tensor forward(Tensor x) => nn.functional.group_norm(x, Channels, null, null, Eps);
}
