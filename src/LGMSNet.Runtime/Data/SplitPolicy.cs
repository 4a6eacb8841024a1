using System.Text.Json;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Data;

/// <summary>What the user asked for: split files (one case per line), how to carve a validation split
/// when none is given, and whether training cases may also be validation or test cases. With
/// <see cref="Folds"/> K ≥ 2, validation is fold <see cref="Fold"/> of a K-fold partition of the training
/// cases instead (<see cref="SplitPolicy.KFold"/>).</summary>
public sealed record SplitRequest(string? TrainFile, string? ValidationFile, string? TestFile, long Seed, double ValidationFraction, bool AllowOverlap,
    int Folds = 0, int Fold = 0);

/// <summary>Which cases train, which select the model (validation) and which are held out (test).
/// Split files are taken as given; without a validation split, a seeded fraction of the training split
/// (or, without one, of every case not otherwise assigned) is held out. The result is recorded in
/// split.json so a resumed run uses exactly the same cases. A training case that is also a validation or
/// test case makes the selection or the reported numbers optimistic, so it is an error naming the cases
/// unless the user allows it (then a warning).</summary>
public static class SplitPolicy
{
    public const string Train = "train";
    public const string Validation = "val";
    public const string Test = "test";
    public const string FileName = "split.json";

    /// <summary>The split.json key listing the cases of fold <paramref name="fold"/> (K-fold runs record every fold).</summary>
    public static string FoldKey(int fold) => $"fold-{fold}";

    /// <summary>K-fold partition of <paramref name="pool"/>: the case names sorted, shuffled with a fixed seed
    /// that depends only on K (never on --seed or the architecture, so every run of a study sees the same
    /// folds and comparisons are paired), then dealt round-robin; each fold sorted. Fold sizes differ by at most one.</summary>
    public static List<List<string>> KFold(IEnumerable<string> pool, int folds)
    {
        var cases = pool.Distinct(StringComparer.Ordinal).OrderBy(x => x, StringComparer.Ordinal).ToList();
        if (folds < 2) throw new DataException($"--folds {folds}: K-fold needs at least 2 folds");
        if (cases.Count < folds) throw new DataException($"--folds {folds}: only {cases.Count} training case(s) to divide into {folds} folds");
        var order = Rng.For(0, "k-fold", folds).Permutation(cases.Count);
        var result = Enumerable.Range(0, folds).Select(_ => new List<string>()).ToList();
        for (int i = 0; i < order.Length; i++) result[i % folds].Add(cases[order[i]]);
        foreach (var fold in result) fold.Sort(StringComparer.Ordinal);
        return result;
    }

    /// <summary>Validation = fold <paramref name="fold"/>, training = the other folds; every fold recorded under <see cref="FoldKey"/>.</summary>
    public static void ApplyFold(Dictionary<string, List<string>> splits, IReadOnlyList<string> pool, int folds, int fold)
    {
        if (fold < 0 || fold >= folds) throw new DataException($"--fold {fold}: folds are numbered 0 to {folds - 1}");
        var partition = KFold(pool, folds);
        splits[Validation] = partition[fold];
        splits[Train] = partition.Where((_, i) => i != fold).SelectMany(f => f).OrderBy(x => x, StringComparer.Ordinal).ToList();
        for (int i = 0; i < folds; i++) splits[FoldKey(i)] = partition[i];
    }

    /// <summary>Assigns cases to splits; <paramref name="allCases"/> is asked only when some split must be derived.</summary>
    public static Dictionary<string, List<string>> Assign(SplitRequest request, Func<IReadOnlyList<string>> allCases, Action<string> warn)
    {
        var splits = new Dictionary<string, List<string>>();
        if (request.TrainFile != null) splits[Train] = ImageFolderDataset.ReadSplit(request.TrainFile);
        if (request.ValidationFile != null) splits[Validation] = ImageFolderDataset.ReadSplit(request.ValidationFile);
        if (request.TestFile != null) splits[Test] = ImageFolderDataset.ReadSplit(request.TestFile);
        if (request.Folds > 0)
        {
            if (request.ValidationFile != null) throw new DataException("--folds and --val-split exclude each other (with --folds, validation is the held-out fold)");
            var pool = splits.TryGetValue(Train, out var listed) ? listed : allCases().Except(splits.Values.SelectMany(v => v)).ToList();
            ApplyFold(splits, pool, request.Folds, request.Fold);
        }
        else if (!splits.ContainsKey(Validation))
        {
            var pool = splits.TryGetValue(Train, out var given)
                ? given
                : allCases().Except(splits.Values.SelectMany(v => v)).ToList();
            var order = Rng.For(request.Seed, "split").Permutation(pool.Count).Select(i => pool[i]).ToList();
            int validationCount = Math.Clamp((int)Math.Round(order.Count * request.ValidationFraction), 1, Math.Max(1, order.Count - 1));
            splits[Validation] = order.Take(validationCount).OrderBy(x => x, StringComparer.Ordinal).ToList();
            splits[Train] = order.Skip(validationCount).OrderBy(x => x, StringComparer.Ordinal).ToList();
        }
        else if (!splits.ContainsKey(Train))
        {
            splits[Train] = allCases().Except(splits.Values.SelectMany(v => v)).OrderBy(x => x, StringComparer.Ordinal).ToList();
        }
        var problems = new List<string>();
        foreach (var (split, name) in new[] { (Validation, "validation"), (Test, "test") })
        {
            if (!splits.TryGetValue(split, out var other)) continue;
            var overlap = splits[Train].Intersect(other, StringComparer.Ordinal).ToList();
            if (overlap.Count == 0) continue;
            const int shown = 10;
            string problem = $"{overlap.Count} case(s) are both training and {name} cases: " +
                             string.Join(", ", overlap.Take(shown).Select(id => $"'{id}'")) + (overlap.Count > shown ? $" and {overlap.Count - shown} more" : "");
            if (request.AllowOverlap) warn("warning: " + problem + " (allowed by --allow-overlap)");
            else problems.Add(problem);
        }
        if (problems.Count > 0)
            throw new DataException(string.Join("; ", problems) + ". Fix the split files, or give --allow-overlap if this is intended.");
        return splits;
    }

    /// <summary>The splits recorded in a run folder, or null when it has none.</summary>
    public static Dictionary<string, List<string>>? Read(string runFolder)
    {
        string file = Path.Combine(runFolder, FileName);
        return File.Exists(file) ? JsonSerializer.Deserialize<Dictionary<string, List<string>>>(File.ReadAllText(file)) : null;
    }

    public static void Write(string runFolder, Dictionary<string, List<string>> splits) =>
        AtomicFile.WriteAllText(Path.Combine(runFolder, FileName), RuntimeJson.Serialize(splits));
}
