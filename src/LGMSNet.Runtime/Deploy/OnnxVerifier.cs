using LGMSNet.Runtime.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>How far ONNX Runtime's output is from TorchSharp's eval output on the same input.</summary>
public sealed record OnnxVerification(long[] InputShape, double MaxAbsDiff, double MaxAbsReference, double Tolerance)
{
    public const double DefaultTolerance = 1e-4;

    /// <summary>max |Δ| / max |torch|.</summary>
    public double Relative => MaxAbsDiff / Math.Max(MaxAbsReference, double.Epsilon);

    public bool Passed => Relative <= Tolerance;
}

/// <summary>Runs an exported model and the (unfused, eval-mode) network it came from on one seeded input.</summary>
public static class OnnxVerifier
{
    public static OnnxVerification Verify(SegmentationNetwork network, byte[] model, int[] size, int batch = 1, long seed = 0,
        double tolerance = OnnxVerification.DefaultTolerance, int threads = 0)
    {
        using var session = OnnxEngine.Open(model, threads);
        return Verify(network, session, size, batch, seed, tolerance);
    }

    /// <summary>The same check on a session already open (which the caller keeps).</summary>
    public static OnnxVerification Verify(SegmentationNetwork network, Microsoft.ML.OnnxRuntime.InferenceSession session, int[] size, int batch = 1,
        long seed = 0, double tolerance = OnnxVerification.DefaultTolerance)
    {
        var info = network.Architecture;
        var shape = new long[] { batch, info.InChannels }.Concat(size.Select(s => (long)s)).ToArray();
        if (info.CheckInputSize(shape.Skip(2).ToArray()) is { } problem) throw new ArgumentException(problem);
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed);
        var input = randn(shape, generator: generator);
        bool wasTraining = network.training;
        network.eval();
        network.PrepareConvolutionLayouts();
        Tensor expected;
        using (no_grad()) expected = network.forward(input).to_type(ScalarType.Float64);
        if (wasTraining) network.train();
        var (values, outputShape) = OnnxEngine.Run(session, input.contiguous().data<float>().ToArray(), shape);
        if (!outputShape.SequenceEqual(expected.shape))
            throw new InvalidOperationException($"ONNX output shape [{string.Join(", ", outputShape)}] differs from TorchSharp's [{string.Join(", ", expected.shape)}]");
        var actual = Data.Tensors.FromFloats(values, outputShape).to_type(ScalarType.Float64);
        double maxDiff = (actual - expected).abs().max().item<double>();
        double maxRef = expected.abs().max().item<double>();
        return new OnnxVerification(shape, maxDiff, maxRef, tolerance);
    }
}
