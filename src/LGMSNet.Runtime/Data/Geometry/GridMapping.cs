using static TorchSharp.torch;

namespace LGMSNet.Runtime.Data.Geometry;

/// <summary>How a case's preprocessed (canonical, resampled) array relates to the grid it was stored on: the
/// <see cref="Orientation"/> that reoriented it, its stored size (k, j, i: our array order) and the size the plan
/// resampled it to (S, A, R). <see cref="Labels"/> takes the network's output back to the stored grid.</summary>
public sealed record GridMapping(Orientation Orientation, int[] StoredSize, int[] ResampledSize)
{
    /// <summary>The stored size reoriented, before resampling (S, A, R).</summary>
    public int[] CanonicalSize => Orientation.CanonicalSize(StoredSize);

    /// <summary>Logits [K, resampled size] → class indices on the stored grid [k × j × i]: the probabilities (not the
    /// labels) are resampled to the canonical size, thresholded or argmaxed there, and the labels are reoriented back
    /// (exactly: a permutation and mirror).</summary>
    public byte[] Labels(Tensor logits)
    {
        using var scope = NewDisposeScope();
        var labels = Resampling.ProbabilitiesToLabels(logits, CanonicalSize);
        var stored = Orientation.FromCanonical(labels);
        return stored.contiguous().data<byte>().ToArray();
    }
}
