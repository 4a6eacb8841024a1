using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Data.Geometry;
using LGMSNet.Runtime.Data.Preprocessing;
using LGMSNet.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Geometry;

/// <summary>Geometry read from NIfTI headers: every orientation code family, sform-only and qform-only headers, oblique grids,
/// exact reorientation and its inverse, label resampling that never invents a class, and the mapping of predictions back.</summary>
public sealed class GeometryTests() : TempFolderTest("lgms-geometry-")
{
    /// <summary>All 48 axis codes: a permutation of R/L, A/P, S/I letters, one per world axis.</summary>
    public static IEnumerable<object[]> Codes()
    {
        var pairs = new[] { "RL", "AP", "SI" };
        foreach (var order in new[] { new[] { 0, 1, 2 }, new[] { 0, 2, 1 }, new[] { 1, 0, 2 }, new[] { 1, 2, 0 }, new[] { 2, 0, 1 }, new[] { 2, 1, 0 } })
            for (int signs = 0; signs < 8; signs++)
                yield return new object[] { string.Concat(Enumerable.Range(0, 3).Select(v => pairs[order[v]][(signs >> v) & 1])) };
    }

    [Theory]
    [MemberData(nameof(Codes))]
    public void Every_orientation_code_is_read_from_the_sform_and_from_the_qform_and_reoriented_exactly(string code)
    {
        var size = new[] { 5, 6, 7 };
        var affine = Phantom.Affine(code, new[] { 1.0, 1.5, 2.5 }, size);
        foreach (var (sform, qform) in new[] { (true, false), (false, true) })
        {
            string path = Temp($"{code}-{sform}.nii");
            Nifti.WriteFloat(path, new Volume(new float[5 * 6 * 7], 1, new[] { 7, 6, 5 }), Phantom.Header(size, affine, sform, qform));
            var grid = VoxelGrid.Of(Nifti.ReadHeader(path), path);
            Assert.Equal(sform ? "sform" : "qform", grid.Source);
            Assert.Equal(code, grid.Orientation.Code);
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 4; c++) Assert.Equal(affine[r, c], grid.Affine[r, c], 4);
        }

        // Reorientation is a permutation and mirror: undone exactly, and it puts R, A, S on the array's width, height, depth.
        var orientation = VoxelGrid.Of(Phantom.Header(size, affine), code).Orientation;
        using var values = arange(5 * 6 * 7, ScalarType.Float32).reshape(1, 7, 6, 5);
        using var canonical = orientation.ToCanonical(values);
        Assert.Equal(orientation.CanonicalSize(new[] { 7, 6, 5 }), canonical.shape.Skip(1).Select(s => (int)s).ToArray());
        using var back = orientation.FromCanonical(canonical);
        Assert.Equal(values.data<float>().ToArray(), back.data<float>().ToArray());
        var spacing = orientation.CanonicalSpacing(VoxelGrid.Of(Phantom.Header(size, affine), code));
        Assert.Equal(new[] { 2.5, 1.5, 1.0 }[2 - orientation.Axes[2]], spacing[0], 6); // S spacing is that of the voxel axis running along S
    }

    [Fact]
    public void One_world_volume_stored_in_two_orientations_becomes_one_canonical_array()
    {
        var size = new[] { 20, 24, 18 };
        var ras = Phantom.Affine("RAS", new[] { 2.0, 2.0, 3.0 }, size);
        var (image, _) = Phantom.Sample(size, ras);
        var reference = Canonical(image, ras, size);
        foreach (var code in new[] { "LPS", "PSR", "ILA", "SRP" })
        {
            // The same voxel centres in world space, listed along other axes.
            var permutedSize = new int[3];
            var spacing = new double[3];
            for (int v = 0; v < 3; v++)
            {
                int w = "RLAPSI".IndexOf(code[v]) / 2;
                permutedSize[v] = size[w];
                spacing[v] = new[] { 2.0, 2.0, 3.0 }[w];
            }
            var affine = Phantom.Affine(code, spacing, permutedSize);
            var (stored, _) = Phantom.Sample(permutedSize, affine);
            Assert.Equal(reference, Canonical(stored, affine, permutedSize));
        }
    }

    private static float[] Canonical(Volume image, double[,] affine, int[] size)
    {
        var orientation = VoxelGrid.Of(Phantom.Header(size, affine), "test").Orientation;
        using var tensor = orientation.ToCanonical(Tensors.FromFloats(image.Data, new long[] { 1 }.Concat(image.Size.Select(s => (long)s)).ToArray()));
        return tensor.data<float>().ToArray();
    }

    [Fact]
    public void An_oblique_grid_is_reoriented_to_its_closest_axes_and_its_obliquity_reported()
    {
        var size = new[] { 10, 12, 8 };
        var grid = VoxelGrid.Of(Phantom.Header(size, Phantom.Affine("LPS", new[] { 1.0, 1.0, 2.0 }, size, obliqueDegrees: 20)), "oblique");
        Assert.Equal("LPS", grid.Orientation.Code);
        Assert.Equal(20, grid.Orientation.ObliqueDegrees, 3);
        Assert.Equal(new[] { 2.0, 1.0, 1.0 }, grid.Orientation.CanonicalSpacing(grid).Select(s => Math.Round(s, 6)));
        // Past 45 degrees the closest axes swap: a 70-degree turn about S makes i run closest to A.
        var turned = VoxelGrid.Of(Phantom.Header(size, Phantom.Affine("RAS", new[] { 1.0, 1.0, 2.0 }, size, obliqueDegrees: 70)), "turned");
        Assert.Equal("ALS", turned.Orientation.Code);
        Assert.Equal(20, turned.Orientation.ObliqueDegrees, 3);
    }

    [Fact]
    public void Headers_without_orientation_singular_affines_and_slices_are_named()
    {
        var size = new[] { 6, 6, 6 };
        var affine = Phantom.Affine("LPS", new[] { 1.0, 1.0, 1.0 }, size);
        var none = VoxelGrid.Of(Phantom.Header(size, affine, sform: false, qform: false), "none");
        Assert.True(none.Assumed);
        Assert.Equal("RAS", none.Orientation.Code); // used as stored
        string? note = null;
        CasePreprocessor.Grid(Phantom.Header(size, affine, false, false), "c1", "c1.nii", n => note = n);
        Assert.Contains("case 'c1': c1.nii has no orientation (qform_code and sform_code are both 0)", note);

        var singular = (double[,])affine.Clone();
        for (int r = 0; r < 3; r++) singular[r, 1] = singular[r, 0]; // j runs along i
        var e = Assert.Throws<DataException>(() => VoxelGrid.Of(Phantom.Header(size, singular, sform: true, qform: false), "case 'bad': bad.nii"));
        Assert.Contains("case 'bad': bad.nii: the sform affine is singular", e.Message);

        var slice = Phantom.Header(new[] { 6, 6, 1 }, Phantom.Affine("RAS", new[] { 1.0, 1.0, 1.0 }, new[] { 6, 6, 1 }));
        e = Assert.Throws<DataException>(() => CasePreprocessor.Grid(slice, "s", "s.nii"));
        Assert.Contains("case 's': s.nii is 6x6x1 voxels: a 2D slice stored as 3D", e.Message);

        var shifted = (double[,])affine.Clone();
        shifted[0, 3] += 0.5;
        e = Assert.Throws<DataException>(() => CasePreprocessor.CheckLabelGrid(VoxelGrid.Of(Phantom.Header(size, affine), "i"),
            VoxelGrid.Of(Phantom.Header(size, shifted), "l"), "c2", "l.nii"));
        Assert.Contains("case 'c2': the label l.nii is not on its image's grid: affine entry [0,3]", e.Message);
    }

    [Fact]
    public void Resampled_labels_never_gain_a_class()
    {
        var rng = new Rng(5);
        var values = new byte[12 * 14 * 16];
        var classes = new byte[] { 0, 2, 5 };
        for (int i = 0; i < values.Length; i++) values[i] = classes[rng.Next(3)];
        using var labels = Tensors.FromBytes(values, new long[] { 1, 12, 14, 16 });
        foreach (var size in new[] { new[] { 7, 9, 11 }, new[] { 25, 30, 31 }, new[] { 12, 7, 40 } })
        {
            using var resampled = Resampling.Labels(labels, size);
            Assert.Equal(size, resampled.shape.Skip(1).Select(s => (int)s).ToArray());
            var present = resampled.data<byte>().ToArray().Distinct().Order().ToArray();
            Assert.Subset(new HashSet<byte>(classes), new HashSet<byte>(present));
        }
    }

    [Fact]
    public void A_prepared_case_maps_back_onto_its_own_grid()
    {
        foreach (var code in new[] { "RAS", "LPS", "PIR" })
        {
            var size = new[] { 30, 28, 20 };
            var spacing = new[] { 1.2, 1.2, 2.4 };
            var affine = Phantom.Affine(code, spacing, size);
            var grid = VoxelGrid.Of(Phantom.Header(size, affine), code);
            var (image, labels) = Phantom.Sample(size, affine);
            // The stored spacing: only the reorientation acts, and the way back is exact.
            var same = new PreprocessingPlan("RAS", grid.Orientation.CanonicalSpacing(grid).Reverse().ToArray(), IntensityScheme.ZScore, "test");
            var prepared = CasePreprocessor.Prepare(same, grid, image, labels, code);
            Assert.Equal(labels.Data, prepared.Mapping.Labels(OneHot(prepared.Label!, 3)));
            // Resampled to 1.5 mm and back: the probabilities come back onto the stored grid, nearly everywhere as they were.
            var coarse = new PreprocessingPlan("RAS", new[] { 1.5, 1.5, 1.5 }, IntensityScheme.ZScore, "test");
            prepared = CasePreprocessor.Prepare(coarse, grid, image, labels, code);
            Assert.Equal(CasePreprocessor.PlannedSize(coarse, grid), prepared.Image.Size);
            var back = prepared.Mapping.Labels(OneHot(prepared.Label!, 3));
            Assert.Equal(labels.Data.Length, back.Length);
            double agreement = labels.Data.Zip(back).Count(p => p.First == p.Second) / (double)back.Length;
            Assert.True(agreement > 0.97, $"{code}: {agreement:P1} of voxels agree after a round trip");
        }
    }

    private static Tensor OneHot(LabelMap labels, int classes)
    {
        using var t = Tensors.FromBytes(labels.Data, labels.Size.Select(s => (long)s).ToArray()).to_type(ScalarType.Int64);
        return nn.functional.one_hot(t, classes).permute(3, 0, 1, 2).to_type(ScalarType.Float32).mul(10).contiguous();
    }
}
