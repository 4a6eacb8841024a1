using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>A case that trains must not also select the model or be reported as held out (issue 14, item 5).</summary>
[Collection("cli")]
public sealed class SplitOverlapTests() : TempFolderTest("lgms-overlap-")
{
    [Fact]
    public void Training_cases_in_the_validation_or_test_split_are_an_error_naming_them_unless_allowed()
    {
        string data = TestData.ImageFolder(Temp("folder"), 8);
        var ids = Enumerable.Range(0, 8).Select(i => $"case ({i})").ToList();
        string train = TestData.Split(Temp("train.txt"), ids.Take(6));
        string val = TestData.Split(Temp("val.txt"), ids.Skip(6));
        string[] Train(string run, params string[] extra) => new[] { "train", "lgmsnet", "--data", data, "--train-split", train,
            "--epochs", "1", "--batch", "4", "--size", "32", "--output", run }.Concat(extra).ToArray();

        // Test cases that also train: refused, naming the cases and the way out.
        string leakyTest = TestData.Split(Temp("test.txt"), new[] { "case (1)", "case (4)", "case (7)" });
        var (code, _, error) = CliRunner.Run(Train(Temp("run-test"), "--val-split", val, "--test-split", leakyTest));
        Assert.Equal(1, code);
        Assert.Contains("2 case(s) are both training and test cases: 'case (1)', 'case (4)'", error);
        Assert.Contains("--allow-overlap", error);
        Assert.False(File.Exists(Path.Combine(Temp("run-test"), "last.safetensors")));

        // Validation cases that also train: refused the same way (it used to be a warning).
        string leakyVal = TestData.Split(Temp("leaky-val.txt"), new[] { "case (2)", "case (6)" });
        (code, _, error) = CliRunner.Run(Train(Temp("run-val"), "--val-split", leakyVal));
        Assert.Equal(1, code);
        Assert.Contains("1 case(s) are both training and validation cases: 'case (2)'", error);

        // The rare user who means it says so, and still gets the warning.
        (code, var output, error) = CliRunner.Run(Train(Temp("run-allowed"), "--val-split", leakyVal, "--test-split", leakyTest, "--allow-overlap"));
        Assert.True(code == 0, output + error);
        Assert.Contains("warning: 1 case(s) are both training and validation cases", output);
        Assert.Contains("warning: 2 case(s) are both training and test cases", output);
    }
}
