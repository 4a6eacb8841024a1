using LGMSNet.Runtime.Training;
using Xunit;

namespace LGMSNet.Runtime.Tests.Training;

/// <summary>HD95 and NSD on hand-made masks whose surface distances can be worked out on paper,
/// including anisotropic spacing, 3D and the empty cases.</summary>
public sealed class SurfaceMetricsTests
{
    private static byte[] Mask(int height, int width, params (int Y, int X)[] on)
    {
        var mask = new byte[height * width];
        foreach (var (y, x) in on) mask[y * width + x] = 1;
        return mask;
    }

    private static (int, int)[] Square(int top, int left, int side) =>
        Enumerable.Range(top, side).SelectMany(y => Enumerable.Range(left, side).Select(x => (y, x))).ToArray();

    [Fact]
    public void Identical_masks_score_zero_distance_and_full_nsd()
    {
        var mask = Mask(8, 8, Square(2, 2, 4));
        var m = SurfaceMetrics.Of(mask, mask, new[] { 8, 8 }, new[] { 1.0, 1.0 });
        Assert.Equal(0, m.Hd95, 12);
        Assert.Equal(1, m.Nsd, 12);
    }

    [Fact]
    public void Single_pixels_three_apart_are_three_apart_and_outside_a_tolerance_of_two()
    {
        var target = Mask(6, 8, (2, 2));
        var predicted = Mask(6, 8, (2, 5));
        var m = SurfaceMetrics.Of(predicted, target, new[] { 6, 8 }, new[] { 1.0, 1.0 });
        Assert.Equal(3, m.Hd95, 12);
        Assert.Equal(0, m.Nsd, 12);
        Assert.Equal(1, SurfaceMetrics.Of(predicted, target, new[] { 6, 8 }, new[] { 1.0, 1.0 }, tolerance: 3).Nsd, 12);
    }

    [Fact]
    public void Anisotropic_spacing_scales_each_axis()
    {
        // Three columns apart at 0.5 per column: 1.5 (inside the default tolerance of 2).
        var target = Mask(6, 8, (2, 2));
        var predicted = Mask(6, 8, (2, 5));
        var wide = SurfaceMetrics.Of(predicted, target, new[] { 6, 8 }, new[] { 1.0, 0.5 });
        Assert.Equal(1.5, wide.Hd95, 12);
        Assert.Equal(1, wide.Nsd, 12);
        // Two rows and three columns apart at (2.0, 0.5): sqrt(4² + 1.5²).
        var diagonal = SurfaceMetrics.Of(Mask(6, 8, (4, 5)), target, new[] { 6, 8 }, new[] { 2.0, 0.5 });
        Assert.Equal(Math.Sqrt(16 + 2.25), diagonal.Hd95, 12);
    }

    [Fact]
    public void Volumes_use_the_slice_spacing()
    {
        int[] size = { 4, 3, 3 };
        var target = new byte[36];
        var predicted = new byte[36];
        target[(0 * 3 + 1) * 3 + 1] = 1;
        predicted[(2 * 3 + 1) * 3 + 1] = 1; // two slices further
        var m = SurfaceMetrics.Of(predicted, target, size, new[] { 2.5, 0.7, 0.7 });
        Assert.Equal(5, m.Hd95, 12);
        Assert.Equal(0, m.Nsd, 12);
        Assert.Equal(1, SurfaceMetrics.Of(predicted, target, size, new[] { 2.5, 0.7, 0.7 }, tolerance: 5).Nsd, 12);
    }

    [Fact]
    public void Hd95_interpolates_the_95th_percentile_of_each_direction()
    {
        // Target: a 10-pixel line (all surface). Prediction: the line plus one stray pixel 5 rows below.
        // Prediction→target distances: ten 0s and one 5; the 95th percentile is at position 9.5 → 2.5.
        var line = Enumerable.Range(0, 10).Select(x => (0, x)).ToArray();
        var target = Mask(8, 10, line);
        var predicted = Mask(8, 10, line.Append((5, 0)).ToArray());
        var m = SurfaceMetrics.Of(predicted, target, new[] { 8, 10 }, new[] { 1.0, 1.0 });
        Assert.Equal(2.5, m.Hd95, 12);
        Assert.Equal(20.0 / 21, m.Nsd, 12);
    }

    [Fact]
    public void Only_boundary_pixels_form_the_surface()
    {
        // 5x5 target square and the 3x3 square inside it: every prediction surface pixel is 1 from the
        // target ring; the ring's 12 edge pixels are 1 and its 4 corners √2 from the 3x3 ring (its centre is interior).
        var target = Mask(7, 7, Square(1, 1, 5));
        var predicted = Mask(7, 7, Square(2, 2, 3));
        var m = SurfaceMetrics.Of(predicted, target, new[] { 7, 7 }, new[] { 1.0, 1.0 }, tolerance: 1);
        Assert.Equal(Math.Sqrt(2), m.Hd95, 12);
        Assert.Equal((8 + 12) / 24.0, m.Nsd, 12);
    }

    [Fact]
    public void Foreground_on_the_image_border_is_surface()
    {
        // A full image is all surface along its border and interior elsewhere: predicted full vs target
        // the 3x3 centre of a 5x5 image. Target ring pixels are 1 (edges) or √2 (corners) from the border.
        var full = Enumerable.Repeat((byte)1, 25).ToArray();
        var target = Mask(5, 5, Square(1, 1, 3));
        var m = SurfaceMetrics.Of(full, target, new[] { 5, 5 }, new[] { 1.0, 1.0 }, tolerance: 1);
        // Border (16 pixels): 12 are 1 and the 4 corners √2 from the ring; all 8 ring pixels are 1 from the border.
        Assert.Equal(Math.Sqrt(2), m.Hd95, 12);
        Assert.Equal((12 + 8) / 24.0, m.Nsd, 12);
    }

    [Fact]
    public void Empty_cases_follow_the_documented_rules()
    {
        var empty = new byte[12];
        var one = Mask(3, 4, (1, 1));
        var both = SurfaceMetrics.Of(empty, empty, new[] { 3, 4 }, new[] { 1.0, 1.0 });
        Assert.Equal(0, both.Hd95);
        Assert.Equal(1, both.Nsd);
        // One empty: HD95 is the image diagonal in physical units (3 rows of 1 and 4 columns of 1 → 5), NSD 0.
        foreach (var (p, t) in new[] { (one, empty), (empty, one) })
        {
            var m = SurfaceMetrics.Of(p, t, new[] { 3, 4 }, new[] { 1.0, 1.0 });
            Assert.Equal(5, m.Hd95, 12);
            Assert.Equal(0, m.Nsd);
        }
        Assert.Equal(Math.Sqrt(36 + 4), SurfaceMetrics.Of(one, empty, new[] { 3, 4 }, new[] { 2.0, 0.5 }).Hd95, 12);
    }

    [Fact]
    public void Classes_absent_from_both_maps_are_left_out_of_the_mean()
    {
        // Class 1 matches exactly; class 2 is three apart; class 3 is absent everywhere.
        var target = new byte[6 * 8];
        var predicted = new byte[6 * 8];
        target[0] = predicted[0] = 1;
        target[2 * 8 + 2] = 2;
        predicted[2 * 8 + 5] = 2;
        var m = SurfaceMetrics.OfClasses(predicted, target, 4, new[] { 6, 8 }, new[] { 1.0, 1.0 });
        Assert.Equal((0 + 3) / 2.0, m.Hd95, 12);
        Assert.Equal((1 + 0) / 2.0, m.Nsd, 12);
    }

    [Fact]
    public void Distance_transform_matches_brute_force_with_spacing()
    {
        var random = new Random(7);
        int[] shape = { 3, 7, 9 };
        double[] spacing = { 1.7, 0.6, 1.1 };
        var sites = Enumerable.Range(0, 3 * 7 * 9).Select(_ => random.NextDouble() < 0.08).ToArray();
        sites[5] = true;
        var fast = SurfaceMetrics.DistanceTransform(sites, shape, spacing);
        for (int i = 0; i < sites.Length; i++)
        {
            double best = double.PositiveInfinity;
            for (int j = 0; j < sites.Length; j++)
            {
                if (!sites[j]) continue;
                double dz = (i / 63 - j / 63) * spacing[0], dy = (i / 9 % 7 - j / 9 % 7) * spacing[1], dx = (i % 9 - j % 9) * spacing[2];
                best = Math.Min(best, dz * dz + dy * dy + dx * dx);
            }
            Assert.Equal(best, fast[i], 9);
        }
    }
}
