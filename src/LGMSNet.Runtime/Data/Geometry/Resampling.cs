using static TorchSharp.torch;

namespace LGMSNet.Runtime.Data.Geometry;

/// <summary>Resampling with libtorch's own interpolation (align_corners = false: voxel centres map as
/// <c>(x + 0.5)·scale − 0.5</c>, which is mirror-symmetric, so two orientations of one volume resample to one array).
/// Images and probabilities: trilinear. Labels: one-hot linear as nnU-Net — each class present is interpolated as a
/// 0/1 mask and every voxel takes the class with the largest value — so no class that was not there can appear and
/// thin structures are not eroded the way nearest-neighbour sampling erodes them.</summary>
public static class Resampling
{
    /// <summary>The size (S, A, R) a canonical array of <paramref name="size"/> voxels of <paramref name="spacing"/> mm
    /// takes at <paramref name="target"/> mm (both in array order): rounded, at least one voxel.</summary>
    public static int[] TargetSize(int[] size, double[] spacing, double[] target) =>
        Enumerable.Range(0, size.Length).Select(a => Math.Max(1, (int)Math.Round(size[a] * spacing[a] / target[a]))).ToArray();

    /// <summary>[channels, spatial...] float → the same channels at <paramref name="size"/> (trilinear).</summary>
    public static Tensor Linear(Tensor values, int[] size)
    {
        if (values.shape.Skip(1).Select(s => (int)s).SequenceEqual(size)) return values.alias();
        using var scope = NewDisposeScope();
        var resized = nn.functional.interpolate(values.unsqueeze(0), size.Select(s => (long)s).ToArray(), mode: InterpolationMode.Trilinear, align_corners: false)[0];
        return scope.MoveToOuter(resized.contiguous());
    }

    /// <summary>[1, spatial...] class indices (byte) → class indices at <paramref name="size"/> (one-hot linear).</summary>
    public static Tensor Labels(Tensor labels, int[] size)
    {
        if (labels.shape.Skip(1).Select(s => (int)s).SequenceEqual(size)) return labels.alias();
        using var scope = NewDisposeScope();
        var present = labels.unique().Item1.to_type(ScalarType.Int64).data<long>().ToArray();
        Tensor? best = null, choice = null;
        foreach (long c in present)
        {
            using var inner = NewDisposeScope();
            var mask = Linear(labels.eq(c).to_type(ScalarType.Float32), size);
            if (best is null)
            {
                best = inner.MoveToOuter(mask);
                choice = inner.MoveToOuter(full(mask.shape, c, ScalarType.Byte));
                continue;
            }
            var wins = mask.gt(best);
            best.copy_(where(wins, mask, best));
            choice!.masked_fill_(wins, c);
        }
        return scope.MoveToOuter(choice!);
    }

    /// <summary>Class indices [1, size...] from logits [K, spatial...] resampled as probabilities (sigmoid, or softmax
    /// over classes) to <paramref name="size"/> class by class: threshold 0.5, or the class of largest probability.</summary>
    public static Tensor ProbabilitiesToLabels(Tensor logits, int[] size)
    {
        using var scope = NewDisposeScope();
        if (logits.shape[0] == 1)
            return scope.MoveToOuter(Linear(logits.sigmoid(), size).gt(0.5).to_type(ScalarType.Byte));
        var probabilities = logits.softmax(0);
        Tensor? best = null, choice = null;
        for (int c = 0; c < logits.shape[0]; c++)
        {
            using var inner = NewDisposeScope();
            var p = Linear(probabilities.narrow(0, c, 1), size);
            if (best is null)
            {
                best = inner.MoveToOuter(p.contiguous());
                choice = inner.MoveToOuter(zeros(p.shape, ScalarType.Byte));
                continue;
            }
            var wins = p.gt(best);
            best.copy_(where(wins, p, best));
            choice!.masked_fill_(wins, c);
        }
        return scope.MoveToOuter(choice!);
    }
}
