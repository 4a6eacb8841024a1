namespace LGMSNet.Runtime.Training;

/// <summary>Boundary metrics of one image or volume, in physical units (the spacing of each axis, e.g.
/// NIfTI pixdim in mm; 1 per pixel for 2D images): the 95th-percentile Hausdorff distance (HD95) and the
/// normalised surface Dice (NSD) at a tolerance.
///
/// Definitions follow MONAI (<c>compute_hausdorff_distance(percentile=95)</c>, <c>compute_surface_dice</c>):
/// the surface of a mask is its foreground voxels with a face neighbour (4-connectivity in 2D,
/// 6-connectivity in 3D) that is background or outside the image (binary erosion, border = background);
/// distances are Euclidean with the spacing, from each surface voxel to the nearest surface voxel of the
/// other mask. HD95 = max of the two directed 95th percentiles (linear interpolation, as numpy);
/// NSD = (prediction surface voxels within the tolerance of the target surface + target surface voxels
/// within the tolerance of the prediction surface) / (all surface voxels of both).
///
/// Empty masks (MONAI returns NaN or infinity here, nnU-Net v1 NaN; neither can be averaged over cases):
/// both empty: HD95 = 0, NSD = 1 (nothing to find and nothing wrongly found, as the overlap metrics'
/// 0/0 = 1 in <see cref="BinaryMetrics"/>); exactly one empty: HD95 = the image diagonal in physical units
/// (the largest distance possible inside the image), NSD = 0 (no surface voxel within tolerance).
/// For multi-class masks each foreground class is scored on its own; a class absent from both target
/// and prediction is left out of the mean, as <see cref="ClassMetrics"/> does for Dice.</summary>
public sealed record SurfaceMetrics(double Hd95, double Nsd)
{
    /// <summary>The NSD tolerance used unless told otherwise, in physical units (mm for NIfTI volumes).</summary>
    public const double DefaultTolerance = 2.0;

    /// <summary>Binary masks (non-zero = foreground) of the given spatial size (H, W or D, H, W).</summary>
    public static SurfaceMetrics Of(ReadOnlySpan<byte> predicted, ReadOnlySpan<byte> target, int[] size, double[] spacing,
        double tolerance = DefaultTolerance) =>
        Of(Select(predicted, v => v != 0), Select(target, v => v != 0), size, spacing, tolerance);

    /// <summary>Multi-class label maps: the mean over foreground classes 1..K-1 present in either map.</summary>
    public static SurfaceMetrics OfClasses(ReadOnlySpan<byte> predicted, ReadOnlySpan<byte> target, int classes, int[] size, double[] spacing,
        double tolerance = DefaultTolerance)
    {
        var hd = new List<double>();
        var nsd = new List<double>();
        for (int c = 1; c < classes; c++)
        {
            byte label = (byte)c;
            var p = Select(predicted, v => v == label);
            var t = Select(target, v => v == label);
            if (Array.IndexOf(p, true) < 0 && Array.IndexOf(t, true) < 0) continue;
            var m = Of(p, t, size, spacing, tolerance);
            hd.Add(m.Hd95);
            nsd.Add(m.Nsd);
        }
        return hd.Count == 0 ? new SurfaceMetrics(double.NaN, double.NaN) : new SurfaceMetrics(hd.Average(), nsd.Average());
    }

    /// <summary>Mean over cases of the defined values (NaN when none is).</summary>
    public static SurfaceMetrics Mean(IEnumerable<SurfaceMetrics> all)
    {
        var list = all.ToList();
        return new SurfaceMetrics(ClassMetrics.NanMean(list.Select(m => m.Hd95)), ClassMetrics.NanMean(list.Select(m => m.Nsd)));
    }

    private static bool[] Select(ReadOnlySpan<byte> values, Func<byte, bool> foreground)
    {
        var mask = new bool[values.Length];
        for (int i = 0; i < values.Length; i++) mask[i] = foreground(values[i]);
        return mask;
    }

    private static SurfaceMetrics Of(bool[] predicted, bool[] target, int[] size, double[] spacing, double tolerance)
    {
        if (size.Length is not (2 or 3)) throw new ArgumentException("surface metrics need a 2D or 3D size");
        if (spacing.Length != size.Length) throw new ArgumentException("spacing and size have different dimensions");
        long voxels = size.Aggregate(1L, (a, b) => a * b);
        if (predicted.Length != voxels || target.Length != voxels) throw new ArgumentException("mask sizes do not match the size");
        if (spacing.Any(s => !(s > 0) || !double.IsFinite(s))) throw new ArgumentException("spacing must be positive");
        // Work in 3D (a 2D image is one slice; its depth axis has no neighbours).
        var shape = size.Length == 3 ? size : new[] { 1, size[0], size[1] };
        var step = size.Length == 3 ? spacing : new[] { 1.0, spacing[0], spacing[1] };
        bool flat = size.Length == 2;
        bool anyPredicted = Array.IndexOf(predicted, true) >= 0, anyTarget = Array.IndexOf(target, true) >= 0;
        if (!anyPredicted && !anyTarget) return new SurfaceMetrics(0, 1);
        if (!anyPredicted || !anyTarget)
            return new SurfaceMetrics(Math.Sqrt(size.Select((n, axis) => Math.Pow(n * spacing[axis], 2)).Sum()), 0);

        // Only the bounding box of both masks (plus one voxel, so surfaces see their neighbours) matters:
        // every surface voxel lies in it, and the distance transform on a box holding all sites is exact.
        var low = new int[3];
        var high = new int[3];
        for (int a = 0; a < 3; a++) { low[a] = int.MaxValue; high[a] = -1; }
        for (int z = 0, i = 0; z < shape[0]; z++)
            for (int y = 0; y < shape[1]; y++)
                for (int x = 0; x < shape[2]; x++, i++)
                    if (predicted[i] || target[i])
                    {
                        low[0] = Math.Min(low[0], z); high[0] = Math.Max(high[0], z);
                        low[1] = Math.Min(low[1], y); high[1] = Math.Max(high[1], y);
                        low[2] = Math.Min(low[2], x); high[2] = Math.Max(high[2], x);
                    }
        var box = new int[3];
        for (int a = 0; a < 3; a++)
        {
            low[a] = Math.Max(0, low[a] - 1);
            high[a] = Math.Min(shape[a] - 1, high[a] + 1);
            box[a] = high[a] - low[a] + 1;
        }
        var predictedSurface = Surface(predicted, shape, flat, low, box);
        var targetSurface = Surface(target, shape, flat, low, box);
        var toTarget = DistanceTransform(targetSurface, box, step);
        var toPredicted = DistanceTransform(predictedSurface, box, step);
        var fromPredicted = Gather(predictedSurface, toTarget);
        var fromTarget = Gather(targetSurface, toPredicted);
        double hd95 = Math.Max(Percentile(fromPredicted, 95), Percentile(fromTarget, 95));
        double within = fromPredicted.Count(d => d <= tolerance) + fromTarget.Count(d => d <= tolerance);
        return new SurfaceMetrics(hd95, within / (fromPredicted.Length + fromTarget.Length));
    }

    /// <summary>Surface voxels of <paramref name="mask"/> inside the box (box-local, row-major).</summary>
    private static bool[] Surface(bool[] mask, int[] shape, bool flat, int[] low, int[] box)
    {
        var surface = new bool[box[0] * box[1] * box[2]];
        bool Foreground(int z, int y, int x) =>
            z >= 0 && y >= 0 && x >= 0 && z < shape[0] && y < shape[1] && x < shape[2] && mask[(z * shape[1] + y) * shape[2] + x];
        for (int bz = 0, i = 0; bz < box[0]; bz++)
            for (int by = 0; by < box[1]; by++)
                for (int bx = 0; bx < box[2]; bx++, i++)
                {
                    int z = bz + low[0], y = by + low[1], x = bx + low[2];
                    if (!Foreground(z, y, x)) continue;
                    bool inside = Foreground(z, y - 1, x) && Foreground(z, y + 1, x) && Foreground(z, y, x - 1) && Foreground(z, y, x + 1)
                                  && (flat || (Foreground(z - 1, y, x) && Foreground(z + 1, y, x)));
                    surface[i] = !inside;
                }
        return surface;
    }

    private static double[] Gather(bool[] surface, double[] squaredDistance)
    {
        var values = new List<double>();
        for (int i = 0; i < surface.Length; i++)
            if (surface[i]) values.Add(Math.Sqrt(squaredDistance[i]));
        return values.ToArray();
    }

    /// <summary>Squared Euclidean distance (with spacing) from every voxel to the nearest site: the exact
    /// separable transform of Felzenszwalb and Huttenlocher, one axis at a time.</summary>
    internal static double[] DistanceTransform(bool[] sites, int[] shape, double[] spacing)
    {
        var f = new double[sites.Length];
        for (int i = 0; i < f.Length; i++) f[i] = sites[i] ? 0 : double.PositiveInfinity;
        int maxLength = shape.Max();
        var line = new double[maxLength];
        var output = new double[maxLength];
        var v = new int[maxLength];
        var z = new double[maxLength + 1];
        var strides = new[] { shape[1] * shape[2], shape[2], 1 };
        for (int axis = 0; axis < 3; axis++)
        {
            if (shape[axis] == 1) continue;
            int n = shape[axis], stride = strides[axis];
            int[] others = Enumerable.Range(0, 3).Where(a => a != axis).ToArray();
            for (int i0 = 0; i0 < shape[others[0]]; i0++)
                for (int i1 = 0; i1 < shape[others[1]]; i1++)
                {
                    int start = i0 * strides[others[0]] + i1 * strides[others[1]];
                    for (int q = 0; q < n; q++) line[q] = f[start + q * stride];
                    Transform1D(line, output, n, spacing[axis], v, z);
                    for (int q = 0; q < n; q++) f[start + q * stride] = output[q];
                }
        }
        return f;
    }

    private static void Transform1D(double[] f, double[] d, int n, double spacing, int[] v, double[] z)
    {
        int k = -1;
        for (int q = 0; q < n; q++)
        {
            if (double.IsPositiveInfinity(f[q])) continue;
            double xq = q * spacing;
            while (k >= 0)
            {
                double xv = v[k] * spacing;
                double s = (f[q] + xq * xq - (f[v[k]] + xv * xv)) / (2 * (xq - xv));
                if (s <= z[k]) { k--; continue; }
                k++;
                v[k] = q;
                z[k] = s;
                break;
            }
            if (k < 0)
            {
                k = 0;
                v[0] = q;
                z[0] = double.NegativeInfinity;
            }
            z[k + 1] = double.PositiveInfinity;
        }
        if (k < 0)
        {
            Array.Fill(d, double.PositiveInfinity, 0, n);
            return;
        }
        int j = 0;
        for (int q = 0; q < n; q++)
        {
            double x = q * spacing;
            while (z[j + 1] < x) j++;
            double dx = x - v[j] * spacing;
            d[q] = dx * dx + f[v[j]];
        }
    }

    /// <summary>The p-th percentile with linear interpolation between order statistics (numpy's default).</summary>
    internal static double Percentile(double[] values, double p)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        return Data.Statistics.PercentileOfSorted<double>(sorted, p);
    }
}
