using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Data.Preprocessing;
using Xunit;

namespace LGMSNet.Runtime.Tests.Geometry;

/// <summary>The plan's numbers: the median spacing, nnU-Net's anisotropy rule, given spacings, the intensity schemes, the
/// plan's identity (what the cache is keyed by) and mirroring.</summary>
public sealed class PlanTests
{
    private static CaseFingerprint Case(string id, double[] spacing, int[] size) =>
        new(id, size, spacing, "RAS", "sform", 0, size, spacing, Array.Empty<double[]>());

    [Fact]
    public void The_target_spacing_is_the_median_per_axis()
    {
        var plan = PreprocessingPlan.Create(new[]
        {
            Case("a", new[] { 0.8, 0.8, 1.0 }, new[] { 200, 200, 150 }),
            Case("b", new[] { 1.0, 1.0, 1.5 }, new[] { 160, 160, 100 }),
            Case("c", new[] { 0.7, 0.7, 1.2 }, new[] { 230, 230, 120 }),
            Case("d", new[] { 0.9, 0.9, 2.0 }, new[] { 180, 180, 80 }),
        }, null, IntensityScheme.ZScore);
        Assert.Equal(new[] { 0.85, 0.85, 1.35 }, plan.Spacing);
        Assert.Equal("median of the planned cases", plan.SpacingRule);
        Assert.Equal(new[] { 1.35, 0.85, 0.85 }, plan.ArraySpacing);
    }

    [Fact]
    public void Anisotropic_data_takes_the_tenth_percentile_on_its_coarse_axis_as_nnunet_does()
    {
        // Thick slices (5 mm, median) under 0.8 mm pixels, and few of them: the coarse axis gets its 10th percentile.
        var cases = Enumerable.Range(0, 10).Select(i => Case($"c{i}", new[] { 0.8, 0.8, i < 2 ? 2.5 : 5.0 }, new[] { 512, 512, i < 2 ? 80 : 40 })).ToList();
        var plan = PreprocessingPlan.Create(cases, null, IntensityScheme.ZScore);
        // numpy.percentile([2.5, 2.5, 5 x 8], 10) = 2.5 + 0.9 * (2.5 - 2.5) = 2.5 (sorted positions 0.9 between 2.5 and 2.5)
        Assert.Equal(new[] { 0.8, 0.8, 2.5 }, plan.Spacing);
        Assert.Contains("axis z is anisotropic", plan.SpacingRule);
        // Not anisotropic in size (as many slices as pixels): the median stands.
        var thick = Enumerable.Range(0, 10).Select(i => Case($"t{i}", new[] { 0.8, 0.8, i < 2 ? 2.5 : 5.0 }, new[] { 100, 100, 100 })).ToList();
        Assert.Equal(new[] { 0.8, 0.8, 5.0 }, PreprocessingPlan.Create(thick, null, IntensityScheme.ZScore).Spacing);
        // A given spacing is used as given.
        var given = PreprocessingPlan.Create(cases, new[] { 1.5, 1.5, 2.0 }, IntensityScheme.ZScore);
        Assert.Equal(new[] { 1.5, 1.5, 2.0 }, given.Spacing);
        Assert.Equal("given (--spacing)", given.SpacingRule);
    }

    [Fact]
    public void Intensity_schemes_do_what_they_say()
    {
        var window = IntensityScheme.Parse("window:-175,250");
        var values = new float[] { -1000, -175, 37.5f, 250, 3000 };
        window.Apply(values, 1, "w");
        Assert.Equal(new[] { 0f, 0f, 0.5f, 1f, 1f }, values);

        // ct: pooled foreground samples 0..199 → p0.5 = 0.995, p99.5 = 198.005, mean 99.5, std sqrt((200² − 1)/12).
        var samples = new[] { new List<float[]> { Enumerable.Range(0, 100).Select(v => (float)v).ToArray(), Enumerable.Range(100, 100).Select(v => (float)v).ToArray() } };
        var ct = IntensityScheme.Ct(samples.Select(s => (IReadOnlyList<float[]>)s).ToArray());
        Assert.Equal(0.995, ct.Low![0], 6);
        Assert.Equal(198.005, ct.High![0], 6);
        Assert.Equal(99.5, ct.Mean![0], 6);
        Assert.Equal(Math.Sqrt((200.0 * 200 - 1) / 12), ct.Std![0], 6);
        var data = new float[] { -50, 99.5f, 500 };
        ct.Apply(data, 1, "c");
        Assert.Equal((0.995 - 99.5) / ct.Std[0], data[0], 4);
        Assert.Equal(0, data[1], 6);
        Assert.Equal((198.005 - 99.5) / ct.Std[0], data[2], 4);

        var bad = Assert.Throws<DataException>(() => IntensityScheme.ZScore.Apply(new[] { 1f, float.NaN }, 1, "case 'n'"));
        Assert.Contains("case 'n': volume contains NaN", bad.Message);
        Assert.Throws<ArgumentException>(() => IntensityScheme.Parse("hounsfield"));
    }

    [Fact]
    public void The_plans_identity_is_what_changes_the_data()
    {
        var a = new PreprocessingPlan("RAS", new[] { 1.5, 1.5, 2.0 }, IntensityScheme.ZScore, "given");
        var b = a with { SpacingRule = "other words", MirrorAxes = "none", Cases = new[] { Case("x", new[] { 1.0, 1.0, 1.0 }, new[] { 2, 2, 2 }) } };
        Assert.Equal(a.Key, b.Key);
        Assert.NotEqual(a.Key, (a with { Spacing = new[] { 1.5, 1.5, 2.5 } }).Key);
        Assert.NotEqual(a.Key, (a with { Intensity = IntensityScheme.Parse("window:-175,250") }).Key);
        var back = PreprocessingPlan.FromJson(b.ToJson(), "plan");
        Assert.Equal(b.Key, back.Key);
        Assert.Equal("none", back.MirrorAxes);
        Assert.Equal(new[] { true, true, false }, PreprocessingPlan.MirrorMask("y,z")); // array order z, y, x: never x (left-right)
        Assert.Throws<ArgumentException>(() => PreprocessingPlan.MirrorMask("x,x"));
        Assert.Throws<DataException>(() => PreprocessingPlan.FromJson("""{"orientation": "LPS", "spacing": [1, 1, 1], "intensity": {"kind": "zscore"}}""", "p"));
    }

    [Fact]
    public void Patches_are_never_mirrored_or_turned_across_an_axis_left_out()
    {
        var source = new RecordingSource();
        var image = new float[8 * 8 * 8];
        var label = new byte[8 * 8 * 8];
        for (int seed = 0; seed < 400; seed++)
            Augment.Patch(source, new Rng((ulong)seed), new[] { 8, 8, 8 }, true, image, label, mirrorAxes: new[] { true, true, false });
        Assert.Contains(source.Flips, f => f[0]);
        Assert.Contains(source.Flips, f => f[1]);
        Assert.DoesNotContain(source.Flips, f => f[2]);
        // Quarter turns would carry x onto y (two of them mirror both): off too.
        Assert.All(source.Turns, t => Assert.Equal(0, t));
        var all = new RecordingSource();
        for (int seed = 0; seed < 400; seed++) Augment.Patch(all, new Rng((ulong)seed), new[] { 8, 8, 8 }, true, image, label);
        Assert.Contains(all.Flips, f => f[2]);
        Assert.Contains(all.Turns, t => t != 0);
    }

    /// <summary>A patch source that records the mirroring it is asked for.</summary>
    private sealed class RecordingSource : IPatchSource
    {
        public List<bool[]> Flips { get; } = new();

        public List<int> Turns { get; } = new();

        public string Id => "r";

        public int[] Size => new[] { 16, 16, 16 };

        public int Channels => 1;

        public bool HasLabels => false;

        public int? ForegroundVoxel(Rng rng) => null;

        public void Crop(int[] start, int[] patch, Span<float> image, Span<byte> label, bool[]? flips, int turns)
        {
            Flips.Add(flips!);
            Turns.Add(turns);
        }
    }
}
