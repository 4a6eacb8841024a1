using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>eval and predict never report a silent "perfect" score, never overwrite inputs or existing
/// files, write lossless masks, and follow the input convention of the weights they are given.</summary>
[Collection("cli")]
public sealed class InferenceSafetyTests() : TempFolderTest("lgms-inference-")
{
    /// <summary>Untrained lgmsnet weights in our checkpoint format.</summary>
    private string Weights()
    {
        string path = Temp("weights.safetensors");
        if (!File.Exists(path))
        {
            using var network = new LGMSNet.Architectures.LgmsNet();
            Checkpoint.Save(path, network);
        }
        return path;
    }

    [Fact]
    public void Eval_on_a_set_without_foreground_warns_loudly_and_records_it_in_json()
    {
        string data = TestData.ImageFolder(Temp("empty-masks"), 3);
        foreach (var mask in Directory.GetFiles(Path.Combine(data, "masks", "0")))
            ImageCodec.WriteGray(mask, new byte[56 * 40], 56, 40);
        var (code, output, error) = CliRunner.Run("eval", "lgmsnet", "--weights", Weights(), "--data", data, "--size", "32", "--json");
        Assert.True(code == 0, output + error);
        Assert.Contains("warning: evaluation set: none of the 3 cases has any foreground", error);
        var labels = CliRunner.Json(output).GetProperty("labels");
        Assert.Equal(0, labels.GetProperty("cases_with_foreground").GetInt32());
        Assert.Equal("no_foreground", labels.GetProperty("warnings")[0].GetProperty("kind").GetString());
    }

    /// <summary>A folder with a PNG, a JPEG and a BMP image.</summary>
    private string Images(string name)
    {
        string folder = Temp(name);
        Directory.CreateDirectory(folder);
        var rgb = Enumerable.Range(0, 40 * 30 * 3).Select(i => (byte)(i * 7 % 251)).ToArray();
        TestData.WriteRgb(Path.Combine(folder, "a.png"), rgb, 40, 30);
        TestData.WriteRgb(Path.Combine(folder, "b.jpg"), rgb, 40, 30);
        TestData.WriteBmp(Path.Combine(folder, "c.bmp"), 40, 30);
        return folder;
    }

    private (int Code, string Out, string Error) Predict(string input, string output, params string[] extra) =>
        CliRunner.Run(new[] { "predict", "lgmsnet", "--weights", Weights(), "--input", input, "--output", output, "--size", "32" }.Concat(extra).ToArray());

    private static Dictionary<string, byte[]> Snapshot(string folder) =>
        Directory.GetFiles(folder).ToDictionary(f => f, File.ReadAllBytes);

    [Fact]
    public void Jpeg_inputs_get_lossless_png_masks_unless_the_user_asks_for_the_same_format()
    {
        string images = Images("jpeg-in"), masks = Temp("jpeg-masks");
        var (code, output, error) = Predict(images, masks);
        Assert.True(code == 0, output + error);
        Assert.Equal(new[] { "a.png", "b.png", "c.png" }, Directory.GetFiles(masks).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal));
        foreach (var mask in Directory.GetFiles(masks))
            Assert.All(ImageCodec.Gray(ImageCodec.Read(mask)), v => Assert.True(v is 0 or 255, $"{mask}: value {v}"));

        string same = Temp("same-masks");
        (code, output, error) = Predict(images, same, "--mask-format", "same");
        Assert.True(code == 0, output + error);
        Assert.Equal(new[] { "a.png", "b.jpg", "c.png" }, Directory.GetFiles(same).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal));
    }

    [Fact]
    public void Output_equal_to_the_input_folder_is_refused_and_no_image_changes()
    {
        string images = Images("same-folder");
        var before = Snapshot(images);
        var (code, _, error) = Predict(images, images);
        Assert.Equal(2, code);
        Assert.Contains("is the --input folder", error);
        Assert.Equal(before, Snapshot(images));

        // A single file whose mask would land on itself.
        (code, _, error) = Predict(Path.Combine(images, "a.png"), images);
        Assert.Equal(2, code);
        Assert.Contains("a.png", error);
        Assert.Contains("which is an input", error);
        Assert.Equal(before, Snapshot(images));
    }

    [Fact]
    public void Existing_masks_are_refused_unless_overwrite_and_two_inputs_never_share_a_mask()
    {
        string images = Images("existing"), masks = Temp("existing-masks");
        Directory.CreateDirectory(masks);
        File.WriteAllText(Path.Combine(masks, "b.png"), "keep me");
        var (code, _, error) = Predict(images, masks);
        Assert.Equal(2, code);
        Assert.Contains(Path.Combine(masks, "b.png"), error);
        Assert.Contains("--overwrite", error);
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(masks, "b.png")));
        Assert.False(File.Exists(Path.Combine(masks, "a.png"))); // nothing written before the check

        (code, var output, error) = Predict(images, masks, "--overwrite");
        Assert.True(code == 0, output + error);
        Assert.NotEqual("keep me", File.ReadAllText(Path.Combine(masks, "b.png")));

        // c.bmp and c.png would both become c.png.
        TestData.WriteRgb(Path.Combine(images, "c.png"), new byte[40 * 30 * 3], 40, 30);
        (code, _, error) = Predict(images, Temp("clash-masks"));
        Assert.Equal(2, code);
        Assert.Contains("c.bmp", error);
        Assert.Contains("c.png", error);
    }
}
