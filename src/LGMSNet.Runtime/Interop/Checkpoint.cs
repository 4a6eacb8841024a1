using System.Globalization;
using LGMSNet.Runtime.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Interop;

/// <summary>Training progress stored with a checkpoint so that <c>train --resume</c> continues exactly.</summary>
public sealed record TrainingProgress(int EpochsDone, long OptimizerSteps, double LearningRate, string OptimizerKind, string RunStateJson,
    int[]? InputSize = null, Data.InputConvention? Convention = null);

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
        }
        if ((convention ?? progress?.Convention) is { } inputs) metadata["input_convention"] = inputs.ToString().ToLowerInvariant();
        SafeTensorWriter.Write(path, tensors, metadata);
    }

    /// <summary>Loads weights into <paramref name="network"/> from any of: our checkpoint, our plain
    /// weights, or a safetensors file in the authors' key layout (detected from its keys). Returns
    /// the file for further reads (optimizer state, progress) and a note when it was saved from a
    /// different YAML.</summary>
    public static (SafeTensorFile File, string? Note) LoadWeights(SegmentationNetwork network, string path)
    {
        var file = SafeTensorFile.Read(path);
        var map = WeightLayout.KeyMap(network.Architecture);
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
            return (file, note);
        }
        int reference = map.Count(t => file.Contains(t.ReferenceName));
        int ours = map.Count(t => file.Contains(t.Name));
        WeightLayout.Load(network, file, reference > ours ? KeyLayout.Reference : KeyLayout.Ours);
        return (file, note);
    }

    public static TrainingProgress? ReadProgress(SafeTensorFile file)
    {
        var m = file.Metadata;
        if (!m.TryGetValue("epochs_done", out var epochs)) return null;
        return new TrainingProgress(
            int.Parse(epochs, CultureInfo.InvariantCulture),
            long.Parse(m["optimizer_steps"], CultureInfo.InvariantCulture),
            double.Parse(m["learning_rate"], CultureInfo.InvariantCulture),
            m["optimizer"],
            m.GetValueOrDefault("run_state") ?? "{}",
            m.TryGetValue("input_size", out var size) ? size.Split('x').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray() : null);
    }

    /// <summary>How the weights expect their inputs (null when the file does not say).</summary>
    public static Data.InputConvention? ReadInputConvention(SafeTensorFile file) =>
        file.Metadata.TryGetValue("input_convention", out var value) && Enum.TryParse<Data.InputConvention>(value, ignoreCase: true, out var convention)
            ? convention
            : null;

    public static Dictionary<string, Tensor> ReadOptimizerState(SafeTensorFile file) =>
        file.Names.Where(n => n.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
            .ToDictionary(n => n[OptimizerPrefix.Length..], file.ToTensor, StringComparer.Ordinal);
}
