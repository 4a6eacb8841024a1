using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Interop;

/// <summary>The two fixture layouts of shared/reference: a folder (weights/input/expected
/// [/intermediates_eval].safetensors) or one file (weights.*, input, output.eval, output.train).</summary>
public sealed class GoldenFixture
{
    private readonly SafeTensorFile _weights;
    private readonly string _weightsPrefix;
    private readonly SafeTensorFile _inputs;
    private readonly SafeTensorFile _expected;
    private readonly SafeTensorFile? _stages;
    private readonly bool _singleFile;

    private GoldenFixture(string description, SafeTensorFile weights, string prefix, SafeTensorFile inputs, SafeTensorFile expected,
        SafeTensorFile? stages, bool singleFile)
    {
        Description = description;
        _weights = weights;
        _weightsPrefix = prefix;
        _inputs = inputs;
        _expected = expected;
        _stages = stages;
        _singleFile = singleFile;
    }

    public string Description { get; }

    public static GoldenFixture Open(string path, string? variant)
    {
        if (Directory.Exists(path))
        {
            string suffix = string.IsNullOrEmpty(variant) ? "" : "_" + variant;
            string Need(string file)
            {
                string full = Path.Combine(path, file);
                return File.Exists(full) ? full : throw new UserErrorException($"golden folder {path} has no {file}", 2);
            }
            string? stages = Path.Combine(path, "intermediates_eval.safetensors");
            return new GoldenFixture(path + (variant != null ? $" ({variant})" : ""),
                SafeTensorFile.Read(Need($"weights{suffix}.safetensors")), "",
                SafeTensorFile.Read(Need("input.safetensors")),
                SafeTensorFile.Read(Need($"expected{suffix}.safetensors")),
                variant == null && File.Exists(stages) ? SafeTensorFile.Read(stages) : null, false);
        }
        if (!File.Exists(path)) throw new UserErrorException($"--golden {path}: no such file or folder", 2);
        if (variant != null) throw new UserErrorException("--variant applies to the folder layout only", 2);
        var file = SafeTensorFile.Read(path);
        foreach (var key in new[] { "input", "output.eval" })
            if (!file.Contains(key)) throw new UserErrorException($"{path}: a single-file golden needs '{key}', 'output.train' and 'weights.*' tensors", 2);
        return new GoldenFixture(path, file, "weights.", file, file, null, true);
    }

    public SegmentationNetwork LoadNetwork(ArchitectureDescriptor descriptor) => LoadInto(descriptor.Create());

    /// <summary>Loads the fixture's reference weights into <paramref name="network"/> and returns it.</summary>
    public T LoadInto<T>(T network) where T : SegmentationNetwork
    {
        WeightLayout.Load(network, _weights, KeyLayout.Reference, _weightsPrefix);
        return network;
    }

    public Tensor Input() => _inputs.ToTensor("input");

    public Tensor? Target() => _inputs.Contains("target") ? _inputs.ToTensor("target") : null;

    public Tensor EvalOutput() => _expected.ToTensor(_singleFile ? "output.eval" : "eval_output");

    public Tensor? TrainOutput()
    {
        string key = _singleFile ? "output.train" : "train_output";
        return _expected.Contains(key) ? _expected.ToTensor(key) : null;
    }

    public double? Loss() => !_singleFile && _expected.Contains("loss") ? _expected.ReadFloats("loss")[0] : null;

    public Tensor? StageOutput(string referenceName) => _stages is { } s && s.Contains(referenceName) ? s.ToTensor(referenceName) : null;
}
