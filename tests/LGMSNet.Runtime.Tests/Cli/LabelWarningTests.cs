using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>A run on masks that load empty must say so, loudly and in metrics.json, instead of reporting a perfect
/// score (issue 14, item 1); and every run records how each split's masks were encoded.</summary>
public sealed class LabelWarningTests() : TempFolderTest("lgms-label-warnings-")
{
    [Fact]
    public void A_validation_set_without_foreground_is_a_warning_in_the_run_and_in_metrics_json()
    {
        string data = TestData.ImageFolder(Temp("folder"), 8);
        var ids = Enumerable.Range(0, 8).Select(i => $"case ({i})").ToList();
        // Validation masks are empty (as 0/1 masks were after loading before the fix).
        foreach (var id in ids.Skip(6))
        {
            string mask = Path.Combine(data, "masks", "0", id + ".png");
            var decoded = ImageCodec.Read(mask);
            ImageCodec.WriteGray(mask, new byte[decoded.Width * decoded.Height], decoded.Width, decoded.Height);
        }
        string train = TestData.Split(Temp("train.txt"), ids.Take(6));
        string val = TestData.Split(Temp("val.txt"), ids.Skip(6));
        string run = Temp("run");

        var (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", data, "--train-split", train, "--val-split", val,
            "--epochs", "1", "--batch", "4", "--size", "32", "--output", run);
        Assert.True(code == 0, output + error);
        Assert.Contains("warning: validation: none of the 2 cases has any foreground", output);

        var metrics = CliRunner.ReadJson(Path.Combine(run, "metrics.json"));
        var warning = Assert.Single(metrics.GetProperty("warnings").EnumerateArray());
        Assert.Equal("no_foreground", warning.GetProperty("kind").GetString());
        Assert.Equal("validation", warning.GetProperty("set").GetString());
        var labels = metrics.GetProperty("labels");
        Assert.Equal(6, labels.GetProperty("training").GetProperty("cases_with_foreground").GetInt32());
        Assert.Equal(0, labels.GetProperty("validation").GetProperty("cases_with_foreground").GetInt32());
        Assert.Equal(2, labels.GetProperty("validation").GetProperty("mask_encodings").GetProperty("empty").GetInt32());
        Assert.Equal(6, labels.GetProperty("training").GetProperty("mask_encodings").GetProperty("zero_255").GetInt32());
    }
}
