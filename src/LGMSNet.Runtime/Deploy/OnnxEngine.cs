using LGMSNet.Runtime.Network;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>ONNX Runtime sessions for exported models, with the session options we measured
/// (docs/benchmarks.md): full graph optimisation, one inter-op thread, no spin-waiting.</summary>
public static class OnnxEngine
{
    /// <summary>Session options; <paramref name="threads"/> ≤ 0 lets ONNX Runtime use every core.</summary>
    public static SessionOptions Options(int threads)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            InterOpNumThreads = 1,
        };
        if (threads > 0) options.IntraOpNumThreads = threads;
        // Spinning workers steal cores from whatever runs between two inferences (data loading, libtorch).
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return options;
    }

    public static InferenceSession Open(byte[] model, int threads)
    {
        using var options = Options(threads);
        return new InferenceSession(model, options);
    }

    /// <summary>Opens a model file and checks that its metadata names <paramref name="architecture"/>
    /// (a model of another architecture, or of another version of its YAML, is refused).</summary>
    public static InferenceSession Open(string path, ArchitectureInfo architecture, int threads)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"ONNX model {path} does not exist", path);
        InferenceSession session;
        try
        {
            using var options = Options(threads);
            session = new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"{path} is not a model ONNX Runtime can load: {e.Message}", e);
        }
        var metadata = session.ModelMetadata.CustomMetadataMap;
        string? name = metadata.GetValueOrDefault(OnnxMetadata.Architecture);
        string? hash = metadata.GetValueOrDefault(OnnxMetadata.YamlSha256);
        string? problem = name == null ? $"{path} has no '{OnnxMetadata.Architecture}' metadata (not exported by LGMSNet.Dsl)"
            : !string.Equals(name, architecture.Name, StringComparison.OrdinalIgnoreCase) ? $"{path} is a model of {name}, not {architecture.Name}"
            : hash != architecture.YamlSha256 ? $"{path} was exported from a different version of {architecture.FileStem}.yaml (YAML SHA-256 differs)"
            : null;
        if (problem != null)
        {
            session.Dispose();
            throw new InvalidDataException(problem);
        }
        return session;
    }

    /// <summary>The engine for a network in memory: exported at <see cref="OnnxExportOptions.MaxOpset"/> (ONNX
    /// Runtime's Attention kernel: faster and, at 512², about half the peak memory of opset 17 — the portable
    /// default for files), then opened. The network itself is not kept.</summary>
    public static OnnxNetwork FromNetwork(SegmentationNetwork network, int threads) =>
        new(network.Architecture, Open(OnnxExporter.ExportBytes(network, new OnnxExportOptions { Opset = OnnxExportOptions.MaxOpset }), threads));

    /// <summary>What <c>--engine auto</c> runs on the CPU: ONNX Runtime on the network's in-memory export (measured faster than
    /// the TorchSharp engine: docs/benchmarks.md), once it gives TorchSharp's output on a seeded input of <see cref="OnnxVerifier.DefaultSize"/>
    /// within the export tolerance. Null, with the reason, when the network cannot be exported or the check fails.</summary>
    public static OnnxNetwork? FromNetworkVerified(SegmentationNetwork network, int threads, out string? reason)
    {
        InferenceSession? session = null;
        OnnxVerification check;
        try
        {
            // One session: the one that is checked is the one that runs.
            session = Open(OnnxExporter.ExportBytes(network, new OnnxExportOptions { Opset = OnnxExportOptions.MaxOpset }), threads);
            check = OnnxVerifier.Verify(network, session, OnnxVerifier.DefaultSize(network.Architecture));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Any failure to export or run the export means: use TorchSharp, and say why.
            session?.Dispose();
            reason = $"its ONNX export could not be checked ({e.GetType().Name}: {e.Message})";
            return null;
        }
        if (!check.Passed)
        {
            session.Dispose();
            reason = $"its ONNX export differs from TorchSharp by {check.Relative:0.00E+00} relative (> {check.Tolerance:0.0E+00})";
            return null;
        }
        reason = null;
        return new OnnxNetwork(network.Architecture, session);
    }

    /// <summary>How many nodes of each operator a model has after ONNX Runtime's graph optimisation (e.g. how many
    /// convolutions became QLinearConv): a diagnostic for tests and benchmarks.</summary>
    public static Dictionary<string, int> OptimisedOperators(byte[] model, SessionOptions options)
    {
        string path = Path.Combine(Path.GetTempPath(), $"lgmsnet-optimised-{Guid.NewGuid():N}.onnx");
        try
        {
            options.OptimizedModelFilePath = path;
            using (new InferenceSession(model, options)) { }
            return Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Node.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count());
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The engine for an exported model file (checked against <paramref name="architecture"/>).</summary>
    public static OnnxNetwork FromFile(string path, ArchitectureInfo architecture, int threads) => new(architecture, Open(path, architecture, threads));

    /// <summary>Runs one float32 input through the session: (logits, their shape).</summary>
    public static (float[] Values, long[] Shape) Run(InferenceSession session, float[] input, long[] shape)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, new[] { OnnxExporter.InputName }, new[] { value }, new[] { OnnxExporter.OutputName });
        var output = outputs[0];
        return (output.GetTensorDataAsSpan<float>().ToArray(), output.GetTensorTypeAndShape().Shape);
    }
}

/// <summary>An exported model behind the <see cref="SegmentationNetwork"/> interface, so that eval,
/// predict and bench run it through the same predictor, preprocessing and metrics as the TorchSharp
/// engine. CPU only; stage outputs other than the logits ("head") are not observable.</summary>
public sealed class OnnxNetwork : SegmentationNetwork
{
    private readonly InferenceSession _session;

    public OnnxNetwork(ArchitectureInfo info, InferenceSession session) : base(info)
    {
        _session = session;
        eval();
    }

    protected override Tensor Forward(Tensor input, StageObserver? observe)
    {
        if (input.device_type != DeviceType.CPU) throw new InvalidOperationException("the ONNX engine runs on the CPU; give CPU tensors");
        using var contiguous = input.to_type(ScalarType.Float32).contiguous();
        var (values, shape) = OnnxEngine.Run(_session, contiguous.data<float>().ToArray(), input.shape);
        var logits = Data.Tensors.FromFloats(values, shape);
        observe?.Invoke("head", logits);
        return logits;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _session.Dispose();
        base.Dispose(disposing);
    }
}
