using static TorchSharp.torch;

namespace LGMSNet.Runtime.Data.Geometry;

/// <summary>How a volume's voxel axes map onto the world axes R, A, S: <see cref="Axes"/>[w] is the voxel axis
/// (0 = i, 1 = j, 2 = k) closest to world axis w, <see cref="Flips"/>[w] whether it runs the opposite way. Reorienting
/// permutes and mirrors the array — no interpolation, so it is exact and undone exactly — until voxel axes run
/// R, A, S (our arrays are then [S, A, R]: depth runs inferior to superior, height posterior to anterior, width left
/// to right). An oblique grid (axes not parallel to the world's) is reoriented to its closest axes and not rotated:
/// the residual rotation (<see cref="ObliqueDegrees"/>, at most 45° per axis by construction) stays in the affine, as
/// nibabel's <c>as_closest_canonical</c> does. Rotating into world axes would interpolate the image and its labels
/// once more and cut off corners; what matters for the network — that every case is seen with the same axis order
/// and handedness, a left kidney never mirrored into a right one — holds without it.</summary>
public sealed record Orientation(int[] Axes, bool[] Flips, double ObliqueDegrees)
{
    private static readonly string[] Positive = { "R", "A", "S" }, Negative = { "L", "P", "I" };

    /// <summary>The closest assignment of voxel axes to world axes: of the six permutations, the one with the largest
    /// sum of |cosine| between each voxel axis and its world axis (ties: the first in a fixed order).</summary>
    public static Orientation Closest(VoxelGrid grid)
    {
        var unit = new double[3, 3]; // unit[w, v]: component w of voxel axis v, normalised
        for (int v = 0; v < 3; v++)
        {
            double length = grid.VoxelSize(v);
            for (int w = 0; w < 3; w++) unit[w, v] = grid.Affine[w, v] / length;
        }
        int[]? best = null;
        double bestScore = double.NegativeInfinity;
        foreach (var permutation in new[] { new[] { 0, 1, 2 }, new[] { 0, 2, 1 }, new[] { 1, 0, 2 }, new[] { 1, 2, 0 }, new[] { 2, 0, 1 }, new[] { 2, 1, 0 } })
        {
            double score = Enumerable.Range(0, 3).Sum(w => Math.Abs(unit[w, permutation[w]]));
            if (score > bestScore + 1e-9)
            {
                best = permutation;
                bestScore = score;
            }
        }
        var flips = Enumerable.Range(0, 3).Select(w => unit[w, best![w]] < 0).ToArray();
        double oblique = Enumerable.Range(0, 3).Max(w => Math.Acos(Math.Min(1, Math.Abs(unit[w, best![w]]))) * 180 / Math.PI);
        return new Orientation(best!, flips, oblique);
    }

    /// <summary>The axis codes of the stored voxel axes i, j, k, as nibabel's <c>aff2axcodes</c> writes them ("RAS", "LPS", "PSR", ...).</summary>
    public string Code
    {
        get
        {
            var letters = new string[3];
            for (int w = 0; w < 3; w++) letters[Axes[w]] = Flips[w] ? Negative[w] : Positive[w];
            return string.Concat(letters);
        }
    }

    public bool IsIdentity => Axes.SequenceEqual(new[] { 0, 1, 2 }) && !Flips.Any(f => f);

    /// <summary>The tensor dimensions (of [channels, k, j, i]) in the order that makes them [channels, S, A, R].</summary>
    private long[] Permutation => new long[] { 0, 3 - Axes[2], 3 - Axes[1], 3 - Axes[0] };

    /// <summary>Mirrored dimensions of the reoriented tensor [channels, S, A, R].</summary>
    private long[] Mirrored => Enumerable.Range(1, 3).Where(d => Flips[3 - d]).Select(d => (long)d).ToArray();

    /// <summary>[channels, k, j, i] as stored → [channels, S, A, R].</summary>
    public Tensor ToCanonical(Tensor stored)
    {
        var permuted = stored.permute(Permutation);
        return Mirrored.Length == 0 ? permuted.contiguous() : permuted.flip(Mirrored).contiguous();
    }

    /// <summary>[channels, S, A, R] → [channels, k, j, i] as stored (the exact inverse of <see cref="ToCanonical"/>).</summary>
    public Tensor FromCanonical(Tensor canonical)
    {
        var unflipped = Mirrored.Length == 0 ? canonical : canonical.flip(Mirrored);
        var forward = Permutation;
        var inverse = new long[4];
        for (int d = 0; d < 4; d++) inverse[forward[d]] = d;
        return unflipped.permute(inverse).contiguous();
    }

    /// <summary>A stored array size (k, j, i) in canonical order (S, A, R).</summary>
    public int[] CanonicalSize(int[] stored) => new[] { stored[2 - Axes[2]], stored[2 - Axes[1]], stored[2 - Axes[0]] };

    /// <summary>Voxel sizes along S, A, R of a grid reoriented by this orientation.</summary>
    public double[] CanonicalSpacing(VoxelGrid grid) => new[] { grid.VoxelSize(Axes[2]), grid.VoxelSize(Axes[1]), grid.VoxelSize(Axes[0]) };
}
