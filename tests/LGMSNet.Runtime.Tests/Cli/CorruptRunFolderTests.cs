using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>A run folder whose run.json is damaged is a user-facing error naming the file (exit 2), never
/// "internal error" (issue 14, item 13).</summary>
public sealed class CorruptRunFolderTests() : TempFolderTest("lgms-corrupt-run-")
{
    [Theory]
    [InlineData("{ \"architecture\": ")]
    [InlineData("null")]
    [InlineData("{ \"epochs\": \"many\" }")]
    [InlineData("{ }")]
    public void A_damaged_run_json_is_an_error_naming_the_file(string content)
    {
        string run = Temp("run");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", "synthetic", "--epochs", "2", "--stop-after", "1",
            "--batch", "4", "--size", "32", "--synthetic-train", "8", "--synthetic-val", "4", "--output", run);
        Assert.True(code == 0, output + error);

        File.WriteAllText(Path.Combine(run, "run.json"), content);
        (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.Equal(2, code);
        Assert.Contains($"{Path.Combine(run, "run.json")}: not a valid run.json", error);
        Assert.DoesNotContain("internal error", error);
    }
}
