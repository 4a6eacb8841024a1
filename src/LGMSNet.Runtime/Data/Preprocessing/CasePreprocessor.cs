using LGMSNet.Runtime.Data.Geometry;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Data.Preprocessing;

/// <summary>A case once preprocessed: image [channels, S, A, R] normalised and resampled, labels likewise (one-hot
/// linear), and the mapping back to the stored grid.</summary>
public sealed record PreparedCase(Volume Image, LabelMap? Label, GridMapping Mapping);

/// <summary>Applies a <see cref="PreprocessingPlan"/> to one case (reorient exactly, normalise, resample), and takes
/// a case's fingerprint for planning. The checks every 3D case passes first live here too, so training, eval and
/// predict refuse the same inputs with the same words.</summary>
public static class CasePreprocessor
{
    /// <summary>Foreground intensities kept per case for the ct scheme (nnU-Net keeps 10,000 per case too).</summary>
    public const int ForegroundSamples = 10_000;

    /// <summary>The grid of an image, checked: a 3D volume (no axis of one voxel: a 2D slice stored as 3D is refused) with a
    /// usable affine; <paramref name="assumed"/> hears, once, when its orientation is an assumption (both codes 0).</summary>
    public static VoxelGrid Grid(Nifti.Header header, string id, string path, Action<string>? assumed = null)
    {
        if (header.SpatialSize.Any(s => s < 2))
            throw new DataException($"case '{id}': {path} is {VoxelGrid.Shape(header.SpatialSize)} voxels: a 2D slice stored as 3D; " +
                                    "a 3D architecture needs volumes (train a 2D architecture on slices instead)");
        var grid = VoxelGrid.Of(header, $"case '{id}': {path}");
        if (grid.Assumed)
            assumed?.Invoke($"case '{id}': {path} has no orientation (qform_code and sform_code are both 0); " +
                            "assumed its voxel axes run R, A, S with the pixdim spacing, i.e. it is used as stored");
        return grid;
    }

    /// <summary>Refuses a label stored on another grid than its image (size, or affine beyond a thousandth of a voxel). A label
    /// without orientation codes (both 0: some tools save masks so) has no grid of its own and is taken on its image's.</summary>
    public static void CheckLabelGrid(VoxelGrid image, VoxelGrid label, string id, string labelPath)
    {
        if (label.Assumed) return;
        if (image.Difference(label) is { } difference)
            throw new DataException($"case '{id}': the label {labelPath} is not on its image's grid: {difference}; " +
                                    "resample the label onto the image (nearest neighbour) or fix its header");
    }

    /// <summary>A case's fingerprint; its foreground intensities only when <paramref name="image"/> is given (the ct scheme
    /// needs them, the others plan from headers alone), added to <paramref name="foreground"/> per channel.</summary>
    public static CaseFingerprint Fingerprint(string id, VoxelGrid grid, Volume? image, LabelMap? label, List<float[]>[]? foreground)
    {
        var orientation = grid.Orientation;
        var canonicalArray = orientation.CanonicalSize(grid.Size);
        var canonicalSpacing = orientation.CanonicalSpacing(grid);
        var percentiles = new double[image?.Channels ?? 0][];
        int voxels = image?.Voxels ?? 0;
        for (int c = 0; c < percentiles.Length; c++)
        {
            var sample = Foreground(image!.Data.AsSpan(c * voxels, voxels), label?.Data, id, c);
            foreground?[c].Add(sample);
            var sorted = (float[])sample.Clone();
            Array.Sort(sorted);
            percentiles[c] = sorted.Length == 0
                ? new[] { double.NaN, double.NaN, double.NaN }
                : new[] { 0.5, 50, 99.5 }.Select(p => Statistics.PercentileOfSorted<float>(sorted, p)).ToArray();
        }
        return new CaseFingerprint(id, new[] { grid.Size[2], grid.Size[1], grid.Size[0] },
            new[] { grid.VoxelSize(0), grid.VoxelSize(1), grid.VoxelSize(2) }, orientation.Code, grid.Source, Math.Round(orientation.ObliqueDegrees, 3),
            new[] { canonicalArray[2], canonicalArray[1], canonicalArray[0] }, new[] { canonicalSpacing[2], canonicalSpacing[1], canonicalSpacing[0] },
            percentiles);
    }

    /// <summary>Up to <see cref="ForegroundSamples"/> intensities of voxels whose label is not background, evenly spaced
    /// through the case (deterministic); the whole volume when there is no label.</summary>
    private static float[] Foreground(ReadOnlySpan<float> values, byte[]? labels, string id, int channel)
    {
        var indices = new List<int>();
        for (int i = 0; i < values.Length; i++)
            if (labels == null || labels[i] != 0) indices.Add(i);
        int step = Math.Max(1, indices.Count / ForegroundSamples);
        var sample = new List<float>(Math.Min(indices.Count, ForegroundSamples + 1));
        for (int n = 0; n < indices.Count; n += step)
        {
            float v = values[indices[n]];
            if (!float.IsFinite(v)) throw new DataException($"case '{id}': channel {channel} holds NaN or infinite values");
            sample.Add(v);
        }
        return sample.ToArray();
    }

    /// <summary>The size (S, A, R) <paramref name="grid"/> takes under <paramref name="plan"/>.</summary>
    public static int[] PlannedSize(PreprocessingPlan plan, VoxelGrid grid)
    {
        var orientation = grid.Orientation;
        return Resampling.TargetSize(orientation.CanonicalSize(grid.Size), orientation.CanonicalSpacing(grid), plan.ArraySpacing);
    }

    /// <summary>Reorients (exactly), normalises and resamples one case. <paramref name="image"/> is not changed.</summary>
    public static PreparedCase Prepare(PreprocessingPlan plan, VoxelGrid grid, Volume image, LabelMap? label, string id)
    {
        var orientation = grid.Orientation;
        var target = PlannedSize(plan, grid);
        using var scope = NewDisposeScope();
        var shape = new long[] { image.Channels }.Concat(image.Size.Select(s => (long)s)).ToArray();
        var canonical = orientation.ToCanonical(Tensors.FromFloats(image.Data, shape));
        var values = canonical.data<float>().ToArray();
        plan.Intensity.Apply(values, image.Channels, $"case '{id}'");
        var canonicalShape = canonical.shape;
        var resampled = Resampling.Linear(Tensors.FromFloats(values, canonicalShape), target);
        var prepared = new Volume(resampled.data<float>().ToArray(), image.Channels, target);
        LabelMap? labels = null;
        if (label != null)
        {
            var stored = Tensors.FromBytes(label.Data, new long[] { 1 }.Concat(label.Size.Select(s => (long)s)).ToArray());
            var resampledLabels = Resampling.Labels(orientation.ToCanonical(stored), target);
            labels = new LabelMap(resampledLabels.contiguous().data<byte>().ToArray(), target, label.Encoding);
        }
        return new PreparedCase(prepared, labels, new GridMapping(orientation, image.Size, target));
    }
}
