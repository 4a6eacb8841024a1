using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary><c>score</c> against hand-computed cases, with the definitions the README states, and its refusals.</summary>
[Collection("cli")]
public sealed class ScoreCommandTests() : TempFolderTest("lgms-score-")
{
    [Fact]
    public void Two_d_masks_score_as_computed_by_hand()
    {
        string truth = Directory.CreateDirectory(Temp("truth")).FullName, predicted = Directory.CreateDirectory(Temp("pred")).FullName;
        // 4x4 masks. Truth: pixels (1,1) and (1,2); prediction: (1,1) only, saved 0/255 as predict writes binary masks.
        var t = new byte[16];
        t[5] = t[6] = 1;
        var p = new byte[16];
        p[5] = 255;
        TestData.WriteRgb(Path.Combine(truth, "a.png"), Gray(t), 4, 4, grayscale: true);
        TestData.WriteRgb(Path.Combine(predicted, "a.png"), Gray(p), 4, 4, grayscale: true);
        var (code, output, error) = CliRunner.Run("score", "--predictions", predicted, "--truth", truth, "--tolerance", "0.5", "--json");
        Assert.True(code == 0, output + error);
        var json = CliRunner.Json(output);
        var mean = json.GetProperty("mean");
        // TP 1, FP 0, FN 1: IoU = (1 + 1e-5)/(2 + 1e-5); Dice = 2 IoU/(IoU + 1).
        double iou = (1 + 1e-5) / (2 + 1e-5);
        Assert.Equal(iou, mean.GetProperty("iou").GetDouble(), 9);
        Assert.Equal(2 * iou / (iou + 1), mean.GetProperty("dice").GetDouble(), 9);
        // Surface distances: prediction → truth [0]; truth → prediction [0, 1]; HD95 = max(0, 0 + 0.95·1) = 0.95.
        Assert.Equal(0.95, mean.GetProperty("hd95").GetDouble(), 9);
        // NSD at 0.5 pixels: 1 of 1 prediction and 1 of 2 truth surface pixels within: 2/3.
        Assert.Equal(2.0 / 3, mean.GetProperty("nsd").GetDouble(), 9);
        Assert.Equal(1, json.GetProperty("classes").GetInt32());
        var csv = File.ReadAllLines(Path.Combine(predicted, "scores.csv"));
        Assert.Equal("case,label,iou,dice,hd95,nsd", csv[0]);
        Assert.StartsWith("a,1,", csv[1]);
        Assert.StartsWith("(mean),all,", csv[^1]);
        Assert.True(File.Exists(Path.Combine(predicted, "scores.json")));
    }

    private static byte[] Gray(byte[] values) => values.SelectMany(v => new[] { v, v, v }).ToArray();

    private static byte[] Disc(int width, int height, int cx, int cy, int r, byte value)
    {
        var mask = new byte[width * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) mask[y * width + x] = value;
        return mask;
    }

    [Fact]
    public void Jpeg_truths_are_binary_masks_as_eval_reads_them()
    {
        // An image-folder dataset whose masks are JPEG (quality 100: compression still adds grey levels at the disc edges),
        // and predictions saved as PNG 0/255 discs a little off the truth.
        const int width = 48, height = 40;
        string root = Temp("data"), predicted = Directory.CreateDirectory(Temp("pred")).FullName;
        string truth = Directory.CreateDirectory(Path.Combine(root, "masks")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "images"));
        var cases = new[] { ("a", 20, 18, 10, 22, 19, 10), ("b", 26, 20, 12, 25, 22, 11) };
        var expected = new List<BinaryMetrics>();
        foreach (var (id, tx, ty, tr, px, py, pr) in cases)
        {
            TestData.WriteRgb(Path.Combine(root, "images", id + ".png"), Gray(Disc(width, height, tx, ty, tr, 200)), width, height);
            ImageCodec.WriteGray(Path.Combine(truth, id + ".jpg"), Disc(width, height, tx, ty, tr, 255), width, height);
            var prediction = Disc(width, height, px, py, pr, 255);
            ImageCodec.WriteGray(Path.Combine(predicted, id + ".png"), prediction, width, height);
            Assert.Contains(ImageCodec.Gray(ImageCodec.Read(Path.Combine(truth, id + ".jpg"))), v => v is not (0 or 255)); // the JPEG is not clean 0/255
            // eval's reading of the truth: the dataset's own label at the image's size.
            var label = new ImageFolderDataset(root, new ImageFolderOptions(new[] { height, width }, 3, 1), new[] { id }).Load(0).Source!.OriginalLabel!;
            expected.Add(BinaryMetrics.Of(prediction.Select(v => (byte)(v > 0 ? 1 : 0)).ToArray(), label.Data));
        }
        var (code, output, error) = CliRunner.Run("score", "--predictions", predicted, "--truth", truth, "--json");
        Assert.True(code == 0, output + error);
        var json = CliRunner.Json(output);
        Assert.Equal(1, json.GetProperty("classes").GetInt32());
        double dice = json.GetProperty("mean").GetProperty("dice").GetDouble();
        Assert.Equal(BinaryMetrics.Mean(expected).Dice, dice, 9);
        Assert.InRange(dice, 0.85, 0.99);

        // A multi-class map (values 2..127 are class indices) still counts its classes.
        foreach (var id in new[] { "a", "b" }) File.Delete(Path.Combine(truth, id + ".jpg"));
        ImageCodec.WriteGray(Path.Combine(truth, "a.png"), Disc(width, height, 20, 18, 10, 1), width, height);
        ImageCodec.WriteGray(Path.Combine(truth, "b.png"), Disc(width, height, 26, 20, 12, 2), width, height);
        ImageCodec.WriteGray(Path.Combine(predicted, "a.png"), Disc(width, height, 20, 18, 10, 1), width, height);
        ImageCodec.WriteGray(Path.Combine(predicted, "b.png"), Disc(width, height, 26, 20, 12, 2), width, height);
        (code, output, error) = CliRunner.Run("score", "--predictions", predicted, "--truth", truth, "--json");
        Assert.True(code == 0, output + error);
        Assert.Equal(3, CliRunner.Json(output).GetProperty("classes").GetInt32());
    }

    [Fact]
    public void Volumes_score_per_class_in_millimetres_and_pairs_on_different_grids_are_refused()
    {
        string truth = Directory.CreateDirectory(Temp("truth")).FullName, predicted = Directory.CreateDirectory(Temp("pred")).FullName;
        var size = new[] { 6, 8, 10 }; // i, j, k
        var affine = Phantom.Affine("LPS", new[] { 1.0, 2.0, 3.0 }, size);
        var header = Phantom.Header(size, affine);
        int voxels = 6 * 8 * 10;
        var t = new byte[voxels];
        var p = new byte[voxels];
        for (int i = 0; i < voxels; i++)
        {
            t[i] = i < 20 ? (byte)1 : i >= 100 && i < 110 ? (byte)2 : (byte)0;
            p[i] = i < 20 ? (byte)1 : i >= 300 && i < 305 ? (byte)3 : (byte)0; // class 1 exact, class 2 missed, class 3 invented
        }
        var arraySize = new[] { 10, 8, 6 };
        Nifti.WriteLabels(Path.Combine(truth, "c1.nii.gz"), new LabelMap(t, arraySize), header);
        Nifti.WriteLabels(Path.Combine(predicted, "c1.nii.gz"), new LabelMap(p, arraySize), header);
        string scores = Temp("scores");
        var (code, output, error) = CliRunner.Run("score", "-p", predicted, "-t", truth, "--json", "--output", scores);
        Assert.True(code == 0, output + error);
        var json = CliRunner.Json(output);
        Assert.Equal(4, json.GetProperty("classes").GetInt32());
        var perClass = json.GetProperty("per_class");
        Assert.Equal(1.0, perClass[0].GetProperty("dice").GetDouble(), 9);
        Assert.Equal(0.0, perClass[0].GetProperty("hd95").GetDouble(), 9);
        Assert.Equal(0.0, perClass[1].GetProperty("dice").GetDouble(), 9);
        // Missed entirely: HD95 is the image diagonal in mm, sqrt((6·1)² + (8·2)² + (10·3)²).
        Assert.Equal(Math.Sqrt(36 + 256 + 900), perClass[1].GetProperty("hd95").GetDouble(), 6);
        Assert.Equal(0.0, perClass[2].GetProperty("dice").GetDouble(), 9);
        Assert.Equal(1.0 / 3, json.GetProperty("mean").GetProperty("dice").GetDouble(), 9);
        Assert.True(File.Exists(Path.Combine(scores, "scores.csv")));

        // A truth saved without orientation codes (as many label files are) has no grid of its own: only sizes must agree,
        // and the voxel sizes come from the prediction's header.
        Nifti.WriteLabels(Path.Combine(truth, "c1.nii.gz"), new LabelMap(t, arraySize), Phantom.Header(size, affine, sform: false, qform: false));
        (code, output, error) = CliRunner.Run("score", "-p", predicted, "-t", truth, "--json", "--output", scores);
        Assert.True(code == 0, output + error);
        Assert.Equal(Math.Sqrt(36 + 256 + 900), CliRunner.Json(output).GetProperty("per_class")[1].GetProperty("hd95").GetDouble(), 6);
        Nifti.WriteLabels(Path.Combine(truth, "c1.nii.gz"), new LabelMap(t, arraySize), header);

        // The prediction moved by half a voxel: refused, naming the case and what differs.
        var moved = (double[,])affine.Clone();
        moved[2, 3] += 1.5;
        Nifti.WriteLabels(Path.Combine(predicted, "c1.nii.gz"), new LabelMap(p, arraySize), Phantom.Header(size, moved));
        (code, _, error) = CliRunner.Run("score", "-p", predicted, "-t", truth);
        Assert.Equal(2, code);
        Assert.Contains("case 'c1': the prediction", error);
        Assert.Contains("is not on the truth's grid: affine entry [2,3]", error);

        // A truth without a prediction.
        Nifti.WriteLabels(Path.Combine(truth, "c2.nii.gz"), new LabelMap(t, arraySize), header);
        (code, _, error) = CliRunner.Run("score", "-p", predicted, "-t", truth);
        Assert.Equal(2, code);
        Assert.Contains("1 case(s) of --truth have no prediction", error);
        Assert.Contains("'c2'", error);
    }
}
