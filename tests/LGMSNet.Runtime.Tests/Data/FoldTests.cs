using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Data;

/// <summary>K-fold cross-validation: a seeded partition of the training cases that does not depend on
/// --seed or the architecture (paired comparisons), recorded in split.json; the test split is untouched.</summary>
public sealed class FoldTests() : TempFolderTest("lgms-folds-")
{
    private static List<string> Strings(System.Text.Json.JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToList();

    [Fact]
    public void Partition_is_disjoint_balanced_complete_and_independent_of_input_order()
    {
        var pool = Enumerable.Range(0, 23).Select(i => $"c{i:D2}").ToList();
        var folds = SplitPolicy.KFold(pool, 5);
        Assert.Equal(5, folds.Count);
        Assert.Equal(pool.OrderBy(x => x, StringComparer.Ordinal), folds.SelectMany(f => f).OrderBy(x => x, StringComparer.Ordinal));
        Assert.True(folds.Max(f => f.Count) - folds.Min(f => f.Count) <= 1);
        var again = SplitPolicy.KFold(Enumerable.Reverse(pool), 5);
        Assert.Equal(folds, again);
        Assert.NotEqual(folds[0], pool.Take(folds[0].Count).ToList()); // shuffled, not consecutive
        Assert.Throws<DataException>(() => SplitPolicy.KFold(pool.Take(3), 5));
        Assert.Throws<DataException>(() => SplitPolicy.KFold(pool, 1));
    }

    [Fact]
    public void Folds_are_the_same_for_every_seed_and_architecture_and_leave_the_test_split_alone()
    {
        string data = TestData.ImageFolder(Path.Combine(Dir, "data"), 12);
        var ids = Enumerable.Range(0, 12).Select(i => $"case ({i})").ToList();
        string train = TestData.Split(Path.Combine(Dir, "train.txt"), ids.Take(9));
        string test = TestData.Split(Path.Combine(Dir, "test.txt"), ids.Skip(9));
        var splits = new List<System.Text.Json.JsonElement>();
        foreach (var (arch, seed) in new[] { ("lgmsnet", "1"), ("unet", "2") })
        {
            string run = Path.Combine(Dir, $"{arch}-{seed}");
            var (code, output, error) = CliRunner.Run("train", arch, "--data", data, "--train-split", train, "--test-split", test,
                "--folds", "3", "--fold", "1", "--seed", seed, "--epochs", "1", "--batch", "3", "--size", "32", "--output", run);
            Assert.True(code == 0, output + error);
            splits.Add(CliRunner.ReadJson(Path.Combine(run, "split.json")));
            var metrics = CliRunner.ReadJson(Path.Combine(run, "metrics.json"));
            Assert.Equal(3, metrics.GetProperty("cases").GetProperty("validation").GetInt32());
            Assert.Equal(6, metrics.GetProperty("cases").GetProperty("train").GetInt32());
            Assert.Equal(3, metrics.GetProperty("options").GetProperty("folds").GetInt32());
        }
        var expected = SplitPolicy.KFold(ids.Take(9), 3);
        foreach (var split in splits)
        {
            Assert.Equal(expected[1], Strings(split.GetProperty("val")));
            Assert.Equal(expected[0].Concat(expected[2]).OrderBy(x => x, StringComparer.Ordinal), Strings(split.GetProperty("train")));
            Assert.Equal(ids.Skip(9), Strings(split.GetProperty("test")));
            for (int f = 0; f < 3; f++) Assert.Equal(expected[f], Strings(split.GetProperty(SplitPolicy.FoldKey(f))));
        }
    }

    [Fact]
    public void Folds_alone_trains_every_fold_in_its_own_folder()
    {
        string run = Path.Combine(Dir, "all");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", "synthetic", "--synthetic-train", "6", "--synthetic-val", "2",
            "--folds", "2", "--epochs", "1", "--batch", "3", "--size", "32", "--output", run);
        Assert.True(code == 0, output + error);
        var validation = new List<List<string>>();
        for (int f = 0; f < 2; f++)
        {
            var split = CliRunner.ReadJson(Path.Combine(run, $"fold-{f}", "split.json"));
            validation.Add(Strings(split.GetProperty("val")));
            Assert.Equal(3, Strings(split.GetProperty("train")).Count);
            Assert.Equal(2, Strings(split.GetProperty("test")).Count); // the synthetic validation cases, held out
            var metrics = CliRunner.ReadJson(Path.Combine(run, $"fold-{f}", "metrics.json"));
            Assert.Equal(2, metrics.GetProperty("test").GetProperty("cases").GetInt32());
        }
        Assert.Empty(validation[0].Intersect(validation[1]));

        (code, _, error) = CliRunner.Run("train", "lgmsnet", "--folds", "2", "--fold", "2", "--epochs", "1", "--output", Path.Combine(Dir, "bad"));
        Assert.Equal(2, code);
        Assert.Contains("--fold 2: folds are numbered 0 to 1", error);
    }
}
