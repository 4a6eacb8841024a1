using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using Xunit;

namespace LGMSNet.Runtime.Tests.Training;

/// <summary>eval scores the prediction at each image's original size: its numbers equal scoring predict's
/// masks (written at the input's size) against the original masks, case by case, then averaged.</summary>
public sealed class EvaluationResolutionTests() : TempFolderTest("lgms-eval-res-")
{
    [Fact]
    public void Eval_metrics_equal_predicted_masks_scored_at_the_original_size()
    {
        // 56x40 images, trained and evaluated at 32x32; the PNG cases only (predict writes JPEG inputs as lossy JPEG).
        string data = TestData.ImageFolder(Path.Combine(Dir, "data"), 9);
        var ids = Enumerable.Range(0, 9).Select(i => $"case ({i})").ToList();
        string train = TestData.Split(Path.Combine(Dir, "train.txt"), ids.Take(6));
        string val = TestData.Split(Path.Combine(Dir, "val.txt"), new[] { ids[6], ids[7] });
        string run = Path.Combine(Dir, "run");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", data, "--train-split", train, "--val-split", val,
            "--epochs", "1", "--batch", "3", "--size", "32", "--output", run);
        Assert.True(code == 0, output + error);
        var recorded = CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("final");
        Assert.True(recorded.TryGetProperty("hd95", out _) && recorded.TryGetProperty("nsd", out _), "metrics.json lacks hd95/nsd");

        string pngCases = TestData.Split(Path.Combine(Dir, "png.txt"), new[] { ids[0], ids[1], ids[3], ids[4], ids[7] });
        (code, output, error) = CliRunner.Run("eval", "lgmsnet", "--weights", Path.Combine(run, "best.safetensors"), "--data", data,
            "--split", pngCases, "--json");
        Assert.True(code == 0, error);
        var metrics = CliRunner.Json(output).GetProperty("metrics");

        string images = Path.Combine(Dir, "images");
        Directory.CreateDirectory(images);
        foreach (var id in File.ReadAllLines(pngCases).Where(l => l.Length > 0))
            File.Copy(Path.Combine(data, "images", id + ".png"), Path.Combine(images, id + ".png"));
        string masks = Path.Combine(Dir, "masks");
        (code, _, error) = CliRunner.Run("predict", "lgmsnet", "--weights", Path.Combine(run, "best.safetensors"), "--input", images, "--output", masks);
        Assert.True(code == 0, error);

        var overlap = new List<BinaryMetrics>();
        var surface = new List<SurfaceMetrics>();
        foreach (var file in Directory.GetFiles(masks))
        {
            var predicted = ImageCodec.Read(file);
            var truth = ImageCodec.Read(Path.Combine(data, "masks", "0", Path.GetFileName(file)));
            Assert.Equal((56, 40), (predicted.Width, predicted.Height));
            var p = ImageCodec.Gray(predicted).Select(v => v >= 128 ? (byte)1 : (byte)0).ToArray();
            var t = ImageCodec.Gray(truth).Select(v => v >= 128 ? (byte)1 : (byte)0).ToArray();
            overlap.Add(BinaryMetrics.Of(p, t));
            surface.Add(SurfaceMetrics.Of(p, t, new[] { 40, 56 }, new[] { 1.0, 1.0 }));
        }
        Assert.Equal(5, overlap.Count);
        var mean = BinaryMetrics.Mean(overlap);
        var meanSurface = SurfaceMetrics.Mean(surface);
        Assert.Equal(mean.Iou, metrics.GetProperty("iou").GetDouble(), 5);
        Assert.Equal(mean.Dice, metrics.GetProperty("dice").GetDouble(), 5);
        Assert.Equal(meanSurface.Hd95, metrics.GetProperty("hd95").GetDouble(), 5);
        Assert.Equal(meanSurface.Nsd, metrics.GetProperty("nsd").GetDouble(), 5);
    }
}
