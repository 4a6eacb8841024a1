using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Embedding;

/// <summary>The in-process API a .NET application uses (README "Embedding"): the example compiles (it is this
/// project's code), runs on a checkpoint written by a real training run, and is what the README shows.</summary>
public sealed class EmbeddingTests() : TempFolderTest("lgms-embedding-")
{
    [Fact]
    public void The_readme_example_runs_on_a_trained_checkpoint_and_scores_the_mask_at_the_image_size()
    {
        string data = TestData.ImageFolder(Temp("data"), 6, width: 56, height: 40);
        string run = Temp("run");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", data, "--epochs", "1", "--batch", "4", "--size", "32",
            "--val-fraction", "0.34", "--output", run);
        Assert.True(code == 0, output + error);

        string image = Directory.GetFiles(Path.Combine(data, "images")).OrderBy(f => f, StringComparer.Ordinal).First();
        string truth = Path.Combine(data, "masks", "0", Path.GetFileNameWithoutExtension(image) + ".png");
        var (mask, metrics) = EmbeddingExample.Run(Path.Combine(run, "best.safetensors"), image, truth);

        Assert.Equal(new[] { 40, 56 }, mask.Size);                       // the image's size, not the network's 32x32
        Assert.All(mask.Data, v => Assert.True(v <= 1));
        Assert.InRange(metrics.Iou, 0, 1);

        // The CLI's predict goes through the same Segmenter: same mask, written 0/255.
        (code, output, error) = CliRunner.Run("predict", "lgmsnet", "--weights", Path.Combine(run, "best.safetensors"), "--input", image,
            "--output", Temp("masks"));
        Assert.True(code == 0, output + error);
        var written = ImageCodec.Gray(ImageCodec.Read(Path.Combine(Temp("masks"), Path.GetFileNameWithoutExtension(image) + ".png")));
        Assert.Equal(mask.Data.Select(v => (byte)(v * 255)), written);
    }

    [Fact]
    public void The_readme_shows_exactly_the_example_that_is_tested()
    {
        var lines = File.ReadAllLines(Path.Combine(Fixtures.RepoRoot, "tests", "LGMSNet.Runtime.Tests", "Embedding", "EmbeddingExample.cs"));
        int begin = Array.FindIndex(lines, l => l.Trim() == "// README example begins");
        int end = Array.FindIndex(lines, l => l.Trim() == "// README example ends");
        Assert.True(begin >= 0 && end > begin);
        int indent = lines[begin].Length - lines[begin].TrimStart().Length;
        string example = string.Join("\n", lines[(begin + 1)..end].Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
        string readme = File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "README.md")).Replace("\r\n", "\n");
        Assert.Contains(example, readme);
    }
}
