using System.Globalization;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Text;
using LGMSNet.Dsl.Yaml;

namespace LGMSNet.Runtime.Studies;

/// <summary>One explicit (official) split of a sweep dataset: files of case names; without a validation
/// file, training carves its validation cases out of the training split.</summary>
public sealed record SweepSplit(string Train, string? Validation, string? Test);

/// <summary>A dataset of a sweep: a data folder (or <c>synthetic</c>) with either explicit splits or
/// K-fold cross-validation over the listed (or all) training cases; paths are absolute.</summary>
public sealed record SweepDataset(string Name, string Data, IReadOnlyList<SweepSplit> Splits, string? Train, string? Test, int Folds);

/// <summary>A train option set by the sweep (the <c>train</c> mapping), with where it was written.</summary>
public sealed record SweepOption(string Name, string Value, SourceSpan Span);

/// <summary>A study (<c>*.sweep.yaml</c>): architectures × datasets × splits or folds × seeds, all trained
/// with the same <c>train</c> options.</summary>
public sealed record SweepSpec(string Name, string File, IReadOnlyList<string> Architectures, IReadOnlyList<SweepDataset> Datasets,
    IReadOnlyList<long> Seeds, IReadOnlyList<SweepOption> Train);

/// <summary>A sweep file that is not valid; each problem reads <c>file(line,col): error: message</c>, like the compiler's.</summary>
public sealed class SweepException(IReadOnlyList<string> problems) : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>Reads and validates a sweep file before anything runs: unknown keys, architectures and train
/// options, missing data folders and split files, and malformed values are errors with their position.</summary>
public static class SweepReader
{
    /// <summary>Train options the sweep itself sets per run; the <c>train</c> mapping may not give them.</summary>
    public static readonly IReadOnlySet<string> Reserved = new HashSet<string>(StringComparer.Ordinal)
    {
        "data", "train-split", "val-split", "test-split", "seed", "output", "out", "resume", "folds", "fold", "json", "device", "threads", "stop-after",
    };

    /// <param name="resolveArchitecture">An architecture's file stem, or null when none matches.</param>
    /// <param name="trainOptions">The names (without dashes) of <c>train</c>'s options.</param>
    public static SweepSpec Read(string path, Func<string, string?> resolveArchitecture, IReadOnlySet<string> trainOptions)
    {
        string full = Path.GetFullPath(path);
        if (!System.IO.File.Exists(full)) throw new SweepException(new[] { $"{path}: error: no such sweep file" });
        var diagnostics = new List<DslDiagnostic>();
        var root = YamlDocumentReader.Read(System.IO.File.ReadAllText(full), path, diagnostics);
        var problems = diagnostics.Select(d => $"{path}({d.Span.Line},{d.Span.Column}): error: {d.Message}").ToList();
        if (problems.Count > 0 || root == null) throw new SweepException(problems.Count > 0 ? problems : new[] { $"{path}: error: the file is empty" });
        string folder = Path.GetDirectoryName(full)!;
        void Error(YamlNode node, string message) => problems.Add($"{path}({node.Span.Line},{node.Span.Column}): error: {message}");

        if (root is not YamlMapping top)
        {
            Error(root, $"a sweep file is a mapping (name, architectures, datasets, seeds, train), not {root.Describe()}");
            throw new SweepException(problems);
        }
        var known = new[] { "name", "architectures", "datasets", "seeds", "train" };
        foreach (var (key, _) in top.Entries)
            if (!known.Contains(key.Value)) Error(key, $"unknown key '{key.Value}' (a sweep has {string.Join(", ", known)})");
        YamlNode? Get(YamlMapping map, string key) => map.Entries.FirstOrDefault(e => e.Key.Value == key).Value;

        string name = "";
        if (Get(top, "name") is YamlScalar { IsNull: false } n && IsIdentifier(n.Value)) name = n.Value;
        else Error(Get(top, "name") ?? top, "'name' is required: letters, digits, '-' and '_' (it names the study)");

        var architectures = new List<string>();
        foreach (var item in List(Get(top, "architectures"), top, "architectures", Error))
        {
            if (item is not YamlScalar { IsNull: false } s) { Error(item, $"an architecture is a name, not {item.Describe()}"); continue; }
            if (resolveArchitecture(s.Value) is { } stem)
            {
                if (architectures.Contains(stem)) Error(s, $"architecture '{s.Value}' is listed twice");
                else architectures.Add(stem);
            }
            else Error(s, $"unknown architecture '{s.Value}' (see 'list')");
        }

        var seeds = new List<long>();
        foreach (var item in List(Get(top, "seeds"), top, "seeds", Error))
        {
            if (item is YamlScalar { IsPlain: true } s && long.TryParse(s.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long seed))
            {
                if (seeds.Contains(seed)) Error(s, $"seed {seed} is listed twice");
                else seeds.Add(seed);
            }
            else Error(item, $"a seed is an integer, not {item.Describe()}");
        }

        var datasets = new List<SweepDataset>();
        foreach (var item in List(Get(top, "datasets"), top, "datasets", Error))
        {
            if (item is not YamlMapping map) { Error(item, $"a dataset is a mapping (name, data, splits or train/folds), not {item.Describe()}"); continue; }
            var dataset = ReadDataset(map, folder, Error, Get);
            if (dataset == null) continue;
            if (datasets.Any(d => d.Name == dataset.Name)) Error(map, $"dataset name '{dataset.Name}' is used twice");
            else datasets.Add(dataset);
        }

        var train = new List<SweepOption>();
        if (Get(top, "train") is { } trainNode)
        {
            if (trainNode is not YamlMapping options) Error(trainNode, $"'train' is a mapping of train options (epochs: 60, size: 128, ...), not {trainNode.Describe()}");
            else
                foreach (var (key, value) in options.Entries)
                {
                    if (Reserved.Contains(key.Value)) Error(key, $"'{key.Value}' is set by the sweep for each run; it cannot be a train option here");
                    else if (!trainOptions.Contains(key.Value))
                        Error(key, $"unknown train option '{key.Value}' (train's options: {string.Join(", ", trainOptions.Except(Reserved).Order(StringComparer.Ordinal))})");
                    else if (value is not YamlScalar { IsNull: false } scalar) Error(value, $"the value of '{key.Value}' is a single value, not {value.Describe()}");
                    else train.Add(new SweepOption(key.Value, scalar.Value, scalar.Span));
                }
        }
        if (problems.Count > 0) throw new SweepException(problems);
        return new SweepSpec(name, full, architectures, datasets, seeds, train);
    }

    private static SweepDataset? ReadDataset(YamlMapping map, string folder, Action<YamlNode, string> error, Func<YamlMapping, string, YamlNode?> get)
    {
        var known = new[] { "name", "data", "splits", "train", "test", "folds" };
        foreach (var (key, _) in map.Entries)
            if (!known.Contains(key.Value)) error(key, $"unknown dataset key '{key.Value}' (a dataset has {string.Join(", ", known)})");
        string? name = get(map, "name") is YamlScalar { IsNull: false } n && IsIdentifier(n.Value) ? n.Value : null;
        if (name == null) error(get(map, "name") ?? map, "a dataset needs a 'name': letters, digits, '-' and '_'");
        string? data = null;
        if (get(map, "data") is YamlScalar { IsNull: false } d)
        {
            data = string.Equals(d.Value, "synthetic", StringComparison.OrdinalIgnoreCase) ? "synthetic" : Path.GetFullPath(Path.Combine(folder, d.Value));
            if (data != "synthetic" && !Directory.Exists(data)) { error(d, $"data folder '{d.Value}' not found (looked at {data})"); data = null; }
        }
        else error(get(map, "data") ?? map, "a dataset needs 'data': a dataset folder (relative to the sweep file) or 'synthetic'");

        string? File(YamlNode? node, string what)
        {
            if (node == null) return null;
            if (node is not YamlScalar { IsNull: false } s) { error(node, $"'{what}' is a file of case names, not {node.Describe()}"); return null; }
            // Split files are looked up in the data folder first (datasets ship them), then beside the sweep file.
            var candidates = new[] { data is null or "synthetic" ? null : Path.Combine(data, s.Value), Path.Combine(folder, s.Value) }
                .Where(c => c != null).Select(c => Path.GetFullPath(c!)).ToList();
            var found = candidates.FirstOrDefault(System.IO.File.Exists);
            if (found == null) error(s, $"split file '{s.Value}' not found (looked at {string.Join(" and ", candidates)})");
            return found;
        }

        var splits = new List<SweepSplit>();
        if (get(map, "splits") is { } splitsNode)
        {
            if (splitsNode is not YamlSequence sequence || sequence.Items.Count == 0)
                error(splitsNode, $"'splits' is a non-empty list of {{ train: ..., test: ... }}, not {splitsNode.Describe()}");
            else
                foreach (var item in sequence.Items)
                {
                    if (item is not YamlMapping split) { error(item, $"a split is a mapping {{ train: ..., val: ..., test: ... }}, not {item.Describe()}"); continue; }
                    foreach (var (key, _) in split.Entries)
                        if (key.Value is not ("train" or "val" or "test")) error(key, $"unknown split key '{key.Value}' (a split has train, val, test)");
                    if (get(split, "train") == null) { error(split, "a split needs 'train'"); continue; }
                    var trainFile = File(get(split, "train"), "train");
                    if (trainFile != null) splits.Add(new SweepSplit(trainFile, File(get(split, "val"), "val"), File(get(split, "test"), "test")));
                }
        }
        string? train = File(get(map, "train"), "train"), test = File(get(map, "test"), "test");
        int folds = 0;
        if (get(map, "folds") is { } foldsNode)
        {
            if (foldsNode is YamlScalar { IsPlain: true } f && int.TryParse(f.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out folds) && folds >= 2) { }
            else { error(foldsNode, $"'folds' is an integer of at least 2, not {foldsNode.Describe()}"); folds = 0; }
        }
        if (get(map, "splits") != null && (get(map, "folds") != null || get(map, "train") != null || get(map, "test") != null))
            error(map, $"dataset '{name}': give either 'splits' or 'train'/'test'/'folds', not both");
        if (get(map, "splits") == null && get(map, "folds") == null && get(map, "train") == null && data != "synthetic")
            error(map, $"dataset '{name}': give 'splits' (official splits), or 'folds' (K-fold over 'train' or all cases)");
        if (data == "synthetic" && get(map, "folds") == null) error(map, $"dataset '{name}': synthetic data needs 'folds'");
        return name == null || data == null ? null : new SweepDataset(name, data, splits, train, test, folds);
    }

    private static IReadOnlyList<YamlNode> List(YamlNode? node, YamlNode parent, string key, Action<YamlNode, string> error)
    {
        if (node is YamlSequence { Items.Count: > 0 } sequence) return sequence.Items;
        error(node ?? parent, node == null ? $"'{key}' is required (a non-empty list)" : $"'{key}' is a non-empty list, not {node.Describe()}");
        return Array.Empty<YamlNode>();
    }

    private static bool IsIdentifier(string value) => value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
