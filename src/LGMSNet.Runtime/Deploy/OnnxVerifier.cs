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
    /// <summary>Voxels per axis the deepest level sees at <see cref="DefaultSize"/>. With one (a small network at its input
    /// multiple) an instance norm there normalises a single value: its variance is rounding, amplified by 1/sqrt(eps), and
    /// the check measures that (5e-3 to 3e-2 relative on tests/…/tiny3d.yaml), not the export. Two per axis (8 voxels in 3D)
    /// already measured 1.6e-6 to 6e-6 there; larger inputs only add float32 accumulation (lgmsnet3d-small: 1.4e-5 at 32³,
    /// 4.8e-5 at 64³, ~2e-4 at 96³) and time, so the smallest size past the degenerate one is the sharpest check.</summary>
    public const int DeepestLevelVoxels = 2;

    /// <summary>The default input size of the check, meaningful for every architecture: per axis the smallest valid size
    /// (a multiple of the input multiple) at which the deepest level sees at least <see cref="DeepestLevelVoxels"/> voxels;
    /// in 2D the training size <paramref name="trainedSize"/> where that is larger (a 2D check at that size is cheap and
    /// within tolerance), in 3D never more (slower, and nearer the tolerance: see <see cref="DeepestLevelVoxels"/>).</summary>
    public static int[] DefaultSize(ArchitectureInfo info, IReadOnlyList<int>? trainedSize = null)
    {
        int deepest = 1 << (info.Plan.Stages.Max(s => s.Level) - 1);
        var size = info.InputMultiple.Select(m => (DeepestLevelVoxels * deepest + m - 1) / m * m).ToArray();
        if (info.Dims == 2 && trainedSize != null)
            for (int a = 0; a < size.Length; a++) size[a] = Math.Max(size[a], trainedSize[a]);
        return size;
    }

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
        Tensor expected;
        using (no_grad()) expected = network.forward(input).to_type(ScalarType.Float64);
        if (wasTraining) network.train();
        var (values, outputShape) = OnnxEngine.Run(session, input.contiguous().data<float>().ToArray(), shape);
        if (!outputShape.SequenceEqual(expected.shape))
            throw new InvalidOperationException($"ONNX output shape [{string.Join(", ", outputShape)}] differs from TorchSharp's [{string.Join(", ", expected.shape)}]");
        var actual = Data.Tensors.FromFloats(values, outputShape).to_type(ScalarType.Float64);
        double maxDiff = (actual - expected).abs().max().item<double>();
        double maxRef = expected.abs().max().item<double>();
        if (IO.FaultInjection.OnnxCheckMismatch) maxDiff = maxRef; // a test hook: 100 % off, for export's check and auto's alike
        return new OnnxVerification(shape, maxDiff, maxRef, tolerance);
    }
}
