using System.Globalization;

namespace LGMSNet.Runtime.Studies;

/// <summary>One training run of a study. <see cref="Id"/> is stable (dataset, architecture, split or fold,
/// seed), so the same sweep file always plans the same ids and a rerun finds its earlier runs.
/// <see cref="Group"/> names the data partition and seed: runs with equal groups are paired.</summary>
public sealed record SweepRun(string Id, string Dataset, string Architecture, string Split, long Seed, IReadOnlyList<string> TrainArguments)
{
    public string Group => $"{Dataset}/{Split}/s{Seed}";
}

/// <summary>Expands a sweep into its runs: datasets × splits or folds × architectures × seeds.</summary>
public static class SweepPlanner
{
    /// <summary>The runs, in a fixed order; <c>train</c> arguments lack <c>--output</c>, <c>--device</c> and
    /// <c>--threads</c>, which the executor adds.</summary>
    public static IReadOnlyList<SweepRun> Plan(SweepSpec spec)
    {
        var runs = new List<SweepRun>();
        foreach (var dataset in spec.Datasets)
        {
            var partitions = new List<(string Name, List<string> Arguments)>();
            if (dataset.Splits.Count > 0)
            {
                for (int i = 0; i < dataset.Splits.Count; i++)
                {
                    var split = dataset.Splits[i];
                    var arguments = new List<string> { "--train-split", split.Train };
                    if (split.Validation != null) arguments.AddRange(new[] { "--val-split", split.Validation });
                    if (split.Test != null) arguments.AddRange(new[] { "--test-split", split.Test });
                    partitions.Add(($"split{i + 1}", arguments));
                }
            }
            else if (dataset.Folds > 0)
            {
                for (int fold = 0; fold < dataset.Folds; fold++)
                {
                    var arguments = new List<string>();
                    if (dataset.Train != null) arguments.AddRange(new[] { "--train-split", dataset.Train });
                    if (dataset.Test != null) arguments.AddRange(new[] { "--test-split", dataset.Test });
                    arguments.AddRange(new[] { "--folds", Number(dataset.Folds), "--fold", Number(fold) });
                    partitions.Add(($"fold{fold}", arguments));
                }
            }
            else
            {
                var arguments = new List<string> { "--train-split", dataset.Train! };
                if (dataset.Test != null) arguments.AddRange(new[] { "--test-split", dataset.Test });
                partitions.Add(("train", arguments));
            }
            foreach (var (partition, partitionArguments) in partitions)
                foreach (var architecture in spec.Architectures)
                    foreach (var seed in spec.Seeds)
                    {
                        var arguments = new List<string> { "train", architecture, "--data", dataset.Data };
                        arguments.AddRange(partitionArguments);
                        arguments.AddRange(new[] { "--seed", seed.ToString(CultureInfo.InvariantCulture) });
                        foreach (var option in spec.Train)
                        {
                            if (option.Value is "true" or "True") arguments.Add("--" + option.Name);
                            else if (option.Value is not ("false" or "False")) arguments.AddRange(new[] { "--" + option.Name, option.Value });
                        }
                        runs.Add(new SweepRun($"{dataset.Name}.{architecture}.{partition}.s{seed}", dataset.Name, architecture, partition, seed, arguments));
                    }
        }
        return runs;
    }

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
