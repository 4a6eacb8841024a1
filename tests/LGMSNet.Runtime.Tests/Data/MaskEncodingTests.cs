using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Data;

/// <summary>Binary masks stored as 0/1, 0/255 or noisy JPEG all load as the same foreground, the rule
/// applied to each file is recorded, and a set without any foreground is reported, never scored as perfect.</summary>
public sealed class MaskEncodingTests() : TempFolderTest("lgms-masks-")
{
    private const int Width = 56, Height = 40;
    private static ImageFolderDataset Open(string data, int classes = 1) => new(data, new ImageFolderOptions(new[] { Height, Width }, 3, classes));

    private static byte[] Disc(int cx, int cy, int r, byte value) =>
        Enumerable.Range(0, Width * Height).Select(i => (i % Width - cx) * (i % Width - cx) + (i / Width - cy) * (i / Width - cy) <= r * r ? value : (byte)0).ToArray();

    /// <summary>Three cases with the same disc, its mask stored as 0/1 PNG, 0/255 PNG and 0/255 JPEG.</summary>
    private string ThreeEncodings()
    {
        string data = TestData.ImageFolder(Path.Combine(Dir, "three"), 3);
        string masks = Path.Combine(data, "masks", "0");
        foreach (var file in Directory.GetFiles(masks)) File.Delete(file);
        ImageCodec.WriteGray(Path.Combine(masks, "case (0).png"), Disc(20, 20, 9, 1), Width, Height);
        ImageCodec.WriteGray(Path.Combine(masks, "case (1).png"), Disc(20, 20, 9, 255), Width, Height);
        ImageCodec.WriteGray(Path.Combine(masks, "case (2).jpg"), Disc(20, 20, 9, 255), Width, Height);
        return data;
    }

    [Fact]
    public void Zero_one_zero_255_and_jpeg_masks_load_the_same_foreground()
    {
        var dataset = Open(ThreeEncodings());
        var expected = Disc(20, 20, 9, 1);
        int area = expected.Count(v => v == 1);
        Assert.Equal(expected, dataset.Load(0).Label!.Data); // 0/1: foreground is 1 (was: all background)
        Assert.Equal(expected, dataset.Load(1).Label!.Data); // 0/255
        var jpeg = dataset.Load(2).Label!.Data;
        int differing = jpeg.Zip(expected).Count(p => p.First != p.Second);
        Assert.True(differing <= area / 20, $"JPEG mask differs from the disc in {differing} of {area} pixels");
    }

    [Fact]
    public void The_rule_applied_to_each_mask_is_recorded_per_dataset()
    {
        var dataset = Open(ThreeEncodings());
        var cases = Enumerable.Range(0, 3).Select(dataset.Load).ToList();
        Assert.Equal(new[] { MaskEncoding.ZeroOne, MaskEncoding.ZeroAnd255, MaskEncoding.Graded }, cases.Select(c => c.Label!.Encoding));

        var summary = LabelSummary.Of("training", cases);
        Assert.Equal(3, summary.Cases);
        Assert.Equal(3, summary.CasesWithForeground);
        Assert.Equal(1, summary.MaskEncodings["zero_one"]);
        Assert.Equal(1, summary.MaskEncodings["zero_255"]);
        Assert.Equal(1, summary.MaskEncodings["graded"]);
        Assert.InRange(summary.ForegroundFraction, 0.1, 0.2); // a radius-9 disc in 56 x 40 is 11.4 %
        Assert.Empty(summary.Warnings);
    }

    [Fact]
    public void A_set_without_foreground_is_a_warning_naming_the_set()
    {
        string data = TestData.ImageFolder(Path.Combine(Dir, "empty"), 4);
        foreach (var mask in Directory.GetFiles(Path.Combine(data, "masks", "0")))
            ImageCodec.WriteGray(mask, new byte[Width * Height], Width, Height);
        var dataset = Open(data);
        var summary = LabelSummary.Of("validation", Enumerable.Range(0, 4).Select(dataset.Load).ToList());
        Assert.Equal(0, summary.CasesWithForeground);
        Assert.Equal(4, summary.MaskEncodings["empty"]);
        var warning = Assert.Single(summary.Warnings);
        Assert.Equal(DataWarningKind.NoForeground, warning.Kind);
        Assert.Contains("validation", warning.Message);
        Assert.Contains("none of the 4 cases", warning.Message);
    }

    [Fact]
    public void Faint_masks_are_a_warning_naming_the_cases()
    {
        // Values 0/100: neither 0/1 nor reaching the 128 threshold; read as empty, and said so.
        string data = TestData.ImageFolder(Path.Combine(Dir, "faint"), 2);
        string mask = Directory.GetFiles(Path.Combine(data, "masks", "0")).OrderBy(f => f, StringComparer.Ordinal).First();
        ImageCodec.WriteGray(mask, Disc(20, 20, 9, 100), Width, Height);
        var dataset = Open(data);
        var cases = Enumerable.Range(0, 2).Select(dataset.Load).ToList();
        Assert.Equal(MaskEncoding.Faint, cases[0].Label!.Encoding);
        var warning = Assert.Single(LabelSummary.Of("training", cases).Warnings);
        Assert.Equal(DataWarningKind.FaintMasks, warning.Kind);
        Assert.Equal(new[] { "case (0)" }, warning.Cases);
        Assert.Contains("case (0)", warning.Message);
    }

    [Fact]
    public void Multi_class_label_maps_are_taken_as_they_are()
    {
        string data = TestData.ImageFolder(Path.Combine(Dir, "multi"), 1);
        string mask = Directory.GetFiles(Path.Combine(data, "masks", "0")).Single();
        var labels = Disc(20, 20, 9, 1).Zip(Disc(40, 20, 5, 2), (a, b) => (byte)Math.Max(a, b)).ToArray();
        ImageCodec.WriteGray(mask, labels, Width, Height);
        var loaded = Open(data, classes: 3).Load(0).Label!;
        Assert.Equal(labels, loaded.Data);
        Assert.Equal(MaskEncoding.ClassIndices, loaded.Encoding);
    }
}
