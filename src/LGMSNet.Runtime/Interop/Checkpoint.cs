using System.Globalization;
using LGMSNet.Runtime.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Interop;

/// <summary>Training progress stored with a checkpoint so that <c>train --resume</c> continues exactly.</summary>
public sealed record TrainingProgress(int EpochsDone, long OptimizerSteps, double LearningRate, string OptimizerKind, string RunStateJson,
    int[]? InputSize = null, Data.InputConvention? Convention = null, Data.Preprocessing.PreprocessingPlan? Plan = null);

/// <summary>Weights loaded by <see cref="Checkpoint.LoadWeights"/>: the file (for optimizer state and
/// progress), a note when it was saved from a different YAML, the key layout it was found in, and the input
/// convention the weights expect: the one the file records, else <see cref="Data.InputConvention.Authors"/>
/// for a file in the authors' key layout that we did not write (their PyTorch state_dict), else null
/// (unknown: callers use <see cref="Data.InputConvention.Standard"/>).</summary>
public sealed record LoadedWeights(SafeTensorFile File, string? Note, KeyLayout Layout, Data.InputConvention? Convention)
{
    public void Deconstruct(out SafeTensorFile file, out string? note)
    {
        file = File;
        note = Note;
    }
}

/// <summary>Our weight and checkpoint files: safetensors with the module's state under "model.",
/// optional optimizer state under "optimizer.", and metadata naming the architecture and the hash of
/// its YAML. Written atomically (temporary file, flush, rename).</summary>
public static class Checkpoint
{
    public const string Format = "lgmsnet-checkpoint/1";
    private const string ModelPrefix = "model.";
    private const string OptimizerPrefix = "optimizer.";

    public static void Save(string path, SegmentationNetwork network, IReadOnlyDictionary<string, Tensor>? optimizerState = null, TrainingProgress? progress = null,
        Data.InputConvention? convention = null)
    {
        if (network.IsFusedForInference)
            throw new InvalidOperationException("a network fused for inference cannot be saved as a checkpoint");
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, tensor) in WeightLayout.Export(network, KeyLayout.Ours)) tensors[ModelPrefix + key] = tensor;
        if (optimizerState != null)
            foreach (var (key, tensor) in optimizerState) tensors[OptimizerPrefix + key] = tensor;
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["architecture"] = network.Architecture.Name,
            ["file_stem"] = network.Architecture.FileStem,
            ["yaml_sha256"] = network.Architecture.YamlSha256,
            ["yaml"] = network.Architecture.Yaml,
            ["parameters"] = network.Architecture.Parameters.ToString(CultureInfo.InvariantCulture),
        };
        if (progress != null)
        {
            metadata["epochs_done"] = progress.EpochsDone.ToString(CultureInfo.InvariantCulture);
            metadata["optimizer_steps"] = progress.OptimizerSteps.ToString(CultureInfo.InvariantCulture);
            metadata["learning_rate"] = progress.LearningRate.ToString("R", CultureInfo.InvariantCulture);
            metadata["optimizer"] = progress.OptimizerKind;
            metadata["run_state"] = progress.RunStateJson;
            if (progress.InputSize != null) metadata["input_size"] = string.Join("x", progress.InputSize);
            if (progress.Plan != null) metadata[PlanKey] = progress.Plan.Core.ToJson();
        }
        if ((convention ?? progress?.Convention) is { } inputs) metadata["input_convention"] = inputs.ToString().ToLowerInvariant();
        SafeTensorWriter.Write(path, tensors, metadata);
    }

    /// <summary>Loads weights into <paramref name="network"/> from any of: our checkpoint, our plain
    /// weights, or a safetensors file in the authors' key layout (detected from its keys). Returns
    /// the file for further reads (optimizer state, progress), a note when it was saved from a
    /// different YAML, and the key layout and input convention of the weights.</summary>
    public static LoadedWeights LoadWeights(SegmentationNetwork network, string path)
    {
        var file = SafeTensorFile.Read(path);
        var map = WeightLayout.KeyMap(network);
        string? savedFrom = file.Metadata.GetValueOrDefault("architecture");
        string? note = null;
        if (file.Metadata.GetValueOrDefault("format") == Format)
        {
            if (savedFrom != null && !string.Equals(savedFrom, network.Architecture.Name, StringComparison.OrdinalIgnoreCase))
                note = $"{path} was saved from architecture {savedFrom}; loading it into {network.Architecture.Name}";
            else if (file.Metadata.GetValueOrDefault("yaml_sha256") is { } hash && hash != network.Architecture.YamlSha256)
                note = $"{path} was saved from a different version of {network.Architecture.FileStem}.yaml (YAML hash differs)";
            try
            {
                WeightLayout.Load(network, file, KeyLayout.Ours, ModelPrefix);
            }
            catch (WeightMismatchException e) when (savedFrom != null)
            {
                throw new WeightMismatchException($"{path} holds weights of {savedFrom}, which do not fit {network.Architecture.Name}: " +
                    e.Message[(e.Message.IndexOf(':') + 1)..].TrimStart(), e.Problems);
            }
            return new LoadedWeights(file, note, KeyLayout.Ours, ReadInputConvention(file));
        }
        int reference = map.Count(t => file.Contains(t.ReferenceName));
        int ours = map.Count(t => file.Contains(t.Name));
        var layout = reference > ours ? KeyLayout.Reference : KeyLayout.Ours;
        WeightLayout.Load(network, file, layout);
        // A reference-layout file we did not write (our export records the YAML hash) comes from the authors'
        // code, whose loader feeds BGR inputs normalised on 0-255 and divided by 255 again.
        bool fromAuthors = layout == KeyLayout.Reference && !file.Metadata.ContainsKey("yaml_sha256");
        return new LoadedWeights(file, note, layout, ReadInputConvention(file) ?? (fromAuthors ? Data.InputConvention.Authors : null));
    }

    /// <summary>The training progress a checkpoint records (null for plain weights). Corrupt or missing
    /// fields are a <see cref="SafeTensorsException"/> naming the file and the field.</summary>
    public static TrainingProgress? ReadProgress(SafeTensorFile file)
    {
        var m = file.Metadata;
        if (!m.ContainsKey("epochs_done")) return null;
        string Get(string key) => m.TryGetValue(key, out var value)
            ? value
            : throw new SafeTensorsException($"{file.Source}: corrupt checkpoint metadata: training progress has no '{key}'");
        SafeTensorsException Bad(string key, string what) =>
            new($"{file.Source}: corrupt checkpoint metadata: '{key}' = '{m[key]}' is not {what}");
        T Parse<T>(string key, string what, Func<T, bool> valid) where T : ISpanParsable<T> =>
            T.TryParse(Get(key), CultureInfo.InvariantCulture, out var value) && valid(value) ? value : throw Bad(key, what);
        int[]? size = null;
        if (m.TryGetValue("input_size", out var text))
        {
            var parts = text.Split('x');
            size = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out size[i]) || size[i] <= 0)
                    throw Bad("input_size", "a size such as 256x256");
        }
        string runState = m.GetValueOrDefault("run_state") ?? "{}";
        try
        {
            using var parsed = System.Text.Json.JsonDocument.Parse(runState);
            if (parsed.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object) throw Bad("run_state", "a JSON object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new SafeTensorsException($"{file.Source}: corrupt checkpoint metadata: 'run_state' is not valid JSON ({e.Message})");
        }
        return new TrainingProgress(
            Parse<int>("epochs_done", "a number of epochs", v => v >= 0),
            Parse<long>("optimizer_steps", "a number of steps", v => v >= 0),
            Parse<double>("learning_rate", "a finite learning rate", double.IsFinite),
            Get("optimizer"),
            runState,
            size);
    }

    /// <summary>The metadata key of the preprocessing plan a 3D run's checkpoints carry.</summary>
    public const string PlanKey = "preprocessing_plan";

    /// <summary>The preprocessing plan the weights were trained with (null: none, e.g. a checkpoint written before plans
    /// existed, a 2D run, or a synthetic one); a plan that does not parse is corrupt metadata.</summary>
    public static Data.Preprocessing.PreprocessingPlan? ReadPlan(SafeTensorFile file)
    {
        if (!file.Metadata.TryGetValue(PlanKey, out var json)) return null;
        try
        {
            return Data.Preprocessing.PreprocessingPlan.FromJson(json, $"{file.Source}: metadata '{PlanKey}'");
        }
        catch (Data.DataException e)
        {
            throw new SafeTensorsException(e.Message);
        }
    }

    /// <summary>How the weights expect their inputs (null when the file does not say; a value other than
    /// standard or authors is corrupt metadata, never silently one of them).</summary>
    public static Data.InputConvention? ReadInputConvention(SafeTensorFile file)
    {
        if (!file.Metadata.TryGetValue("input_convention", out var value)) return null;
        return value.ToLowerInvariant() switch
        {
            "standard" => Data.InputConvention.Standard,
            "authors" => Data.InputConvention.Authors,
            _ => throw new SafeTensorsException($"{file.Source}: corrupt checkpoint metadata: 'input_convention' = '{value}' is not standard or authors"),
        };
    }

    public static Dictionary<string, Tensor> ReadOptimizerState(SafeTensorFile file) =>
        file.Names.Where(n => n.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
            .ToDictionary(n => n[OptimizerPrefix.Length..], file.ToTensor, StringComparer.Ordinal);
}
