namespace LGMSNet.Runtime.Data.Geometry;

/// <summary>Where a volume's voxels lie in the world: the 4×4 affine from voxel index (i, j, k) — i the fastest
/// axis in the file, our arrays' last — to NIfTI world coordinates (RAS+, millimetres), and which header field gave it.
/// The affine follows the precedence nibabel uses (<c>get_best_affine</c>): the sform when its code is non-zero,
/// else the qform when its code is non-zero (built as nifti1_io builds it). With both codes 0 (NIfTI "method 1") we do
/// not follow nibabel's Analyze-style fallback (x mirrored, origin centred): the pixdim spacing on axes assumed to be R,
/// A and S, so the volume is used as stored, as before plans existed, and callers say so (<see cref="Assumed"/>).</summary>
public sealed record VoxelGrid(int[] Size, double[,] Affine, string Source)
{
    /// <summary>Both codes were 0: the orientation is an assumption, which callers must say.</summary>
    public bool Assumed => Source == "pixdim";

    /// <summary>The grid of a NIfTI header; <paramref name="where"/> names the file in errors (a singular or non-finite affine).</summary>
    public static VoxelGrid Of(Nifti.Header header, string where)
    {
        var affine = new double[4, 4];
        affine[3, 3] = 1;
        string source;
        if (header.SformCode > 0)
        {
            source = "sform";
            var rows = new[] { header.SrowX, header.SrowY, header.SrowZ };
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 4; c++) affine[r, c] = rows[r][c];
        }
        else if (header.QformCode > 0)
        {
            source = "qform";
            double b = header.Quatern[0], c = header.Quatern[1], d = header.Quatern[2];
            double a = 1 - (b * b + c * c + d * d);
            if (a < 1e-7)
            {
                // nifti1_io: a 180° rotation; (b, c, d) rescaled to unit length.
                double norm = Math.Sqrt(b * b + c * c + d * d);
                if (norm > 0) (b, c, d) = (b / norm, c / norm, d / norm);
                a = 0;
            }
            else a = Math.Sqrt(a);
            double qfac = header.Pixdim[0] < 0 ? -1 : 1;
            var rotation = new double[,]
            {
                { a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c) },
                { 2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b) },
                { 2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b },
            };
            // nifti1_io: a voxel size that is not positive counts as 1; qfac then mirrors k.
            static double Size(float v) => v > 0 && float.IsFinite(v) ? v : 1;
            var scale = new[] { Size(header.Pixdim[1]), Size(header.Pixdim[2]), qfac * Size(header.Pixdim[3]) };
            for (int r = 0; r < 3; r++)
            {
                for (int k = 0; k < 3; k++) affine[r, k] = rotation[r, k] * scale[k];
                affine[r, 3] = header.Quatern[3 + r];
            }
        }
        else
        {
            source = "pixdim";
            for (int k = 0; k < 3; k++) affine[k, k] = header.Pixdim[k + 1] > 0 && float.IsFinite(header.Pixdim[k + 1]) ? header.Pixdim[k + 1] : 1;
        }
        var grid = new VoxelGrid(header.SpatialSize, affine, source);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                if (!double.IsFinite(affine[r, c]))
                    throw new DataException($"{where}: the {source} affine holds a non-finite number; the volume has no usable geometry");
        double det = grid.Determinant3();
        double scaleProduct = Enumerable.Range(0, 3).Select(grid.VoxelSize).Aggregate(1.0, (x, y) => x * y);
        if (scaleProduct == 0 || Math.Abs(det) < 1e-6 * scaleProduct)
            throw new DataException($"{where}: the {source} affine is singular (determinant {det:G3}): two voxel axes point the same way or one has zero length; " +
                                    "the volume has no usable geometry - fix the header (e.g. with nibabel) before using it");
        return grid;
    }

    /// <summary>Length of voxel axis <paramref name="axis"/> (0 = i, 1 = j, 2 = k) in millimetres.</summary>
    public double VoxelSize(int axis) =>
        Math.Sqrt(Affine[0, axis] * Affine[0, axis] + Affine[1, axis] * Affine[1, axis] + Affine[2, axis] * Affine[2, axis]);

    /// <summary>Voxel sizes in our array order (k, j, i: depth, height, width).</summary>
    public double[] ArraySpacing => new[] { VoxelSize(2), VoxelSize(1), VoxelSize(0) };

    public double Determinant3() =>
        Affine[0, 0] * (Affine[1, 1] * Affine[2, 2] - Affine[1, 2] * Affine[2, 1])
        - Affine[0, 1] * (Affine[1, 0] * Affine[2, 2] - Affine[1, 2] * Affine[2, 0])
        + Affine[0, 2] * (Affine[1, 0] * Affine[2, 1] - Affine[1, 1] * Affine[2, 0]);

    /// <summary>The reorientation that makes voxel axes run along R, A and S (the closest ones: see <see cref="Orientation.Closest"/>).</summary>
    public Orientation Orientation => Orientation.Closest(this);

    /// <summary>World coordinates (mm) of voxel (i, j, k).</summary>
    public double[] World(double i, double j, double k) => Enumerable.Range(0, 3).Select(r => Affine[r, 0] * i + Affine[r, 1] * j + Affine[r, 2] * k + Affine[r, 3]).ToArray();

    /// <summary>Whether <paramref name="other"/> is the same grid: the same size, and every entry of the affines' top three
    /// rows within <paramref name="tolerance"/> of the largest voxel size (labels saved by another tool round the header).</summary>
    public string? Difference(VoxelGrid other, double tolerance = 1e-3)
    {
        if (!Size.SequenceEqual(other.Size))
            return $"size {Shape(Size)} differs from {Shape(other.Size)}";
        double scale = Math.Max(1e-6, Enumerable.Range(0, 3).Max(VoxelSize));
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                if (Math.Abs(Affine[r, c] - other.Affine[r, c]) > tolerance * scale)
                    return $"affine entry [{r},{c}] is {other.Affine[r, c]:G6} instead of {Affine[r, c]:G6} (more than {tolerance:G2} of a voxel apart)";
        return null;
    }

    /// <summary>x × y × z (NIfTI order) of a size held as depth, height, width.</summary>
    public static string Shape(int[] size) => $"{size[2]}x{size[1]}x{size[0]}";
}
