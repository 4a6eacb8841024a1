using System.Text.Json;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Data;

/// <summary>What the user asked for: split files (one case per line) and how to carve a validation split
/// when none is given.</summary>
public sealed record SplitRequest(string? TrainFile, string? ValidationFile, string? TestFile, long Seed, double ValidationFraction);

/// <summary>Which cases train, which select the model (validation) and which are held out (test).
/// Split files are taken as given; without a validation split, a seeded fraction of the training split
/// (or, without one, of every case not otherwise assigned) is held out. The result is recorded in
/// split.json so a resumed run uses exactly the same cases.</summary>
public static class SplitPolicy
{
    public const string Train = "train";
    public const string Validation = "val";
    public const string Test = "test";
    public const string FileName = "split.json";

    /// <summary>Assigns cases to splits; <paramref name="allCases"/> is asked only when some split must be derived.</summary>
    public static Dictionary<string, List<string>> Assign(SplitRequest request, Func<IReadOnlyList<string>> allCases, Action<string> warn)
    {
        var splits = new Dictionary<string, List<string>>();
        if (request.TrainFile != null) splits[Train] = ImageFolderDataset.ReadSplit(request.TrainFile);
        if (request.ValidationFile != null) splits[Validation] = ImageFolderDataset.ReadSplit(request.ValidationFile);
        if (request.TestFile != null) splits[Test] = ImageFolderDataset.ReadSplit(request.TestFile);
        if (!splits.ContainsKey(Validation))
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
        var overlap = splits[Train].Intersect(splits[Validation]).ToList();
        if (overlap.Count > 0)
            warn($"warning: {overlap.Count} case(s) are in both the training and validation splits (e.g. '{overlap[0]}')");
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
