using Google.Protobuf;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Tests.Support;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Deploy;

/// <summary>The int8 rewrite: what is quantised, that ONNX Runtime really runs it as QLinearConv, and that it stays
/// close to the float model it came from.</summary>
public sealed class OnnxQuantizerTests
{
    private static (ModelProto Model, List<(float[] Data, long[] Shape)> Inputs) Float(string stem, int side)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        manual_seed(5); // the same weights every run
        using var network = descriptor.Create();
        OnnxExportTests.Randomise(network, 5);
        network.eval();
        var model = OnnxExporter.Export(network);
        var shape = new long[] { 1, descriptor.Info.InChannels }.Concat(Enumerable.Repeat((long)side, descriptor.Info.Dims)).ToArray();
        var inputs = Enumerable.Range(0, 3).Select(i =>
        {
            using var generator = new Generator((ulong)(7 + i));
            return (randn(shape, generator: generator).data<float>().ToArray(), shape);
        }).ToList();
        return (model, inputs);
    }

    private static Dictionary<string, int> OptimisedOperators(ModelProto model)
    {
        using var options = OnnxEngine.Options(1);
        return OnnxEngine.OptimisedOperators(model.ToByteArray(), options);
    }

    [Theory]
    [InlineData("lgmsnet", 64, false)]
    [InlineData("lgmsnet", 64, true)]
    [InlineData("variety", 32, false)]
    [InlineData("lgmsnet3d-small", 32, false)]
    public void Quantised_convolutions_run_as_QLinearConv_and_stay_close_to_float(string stem, int side, bool depthwise)
    {
        var (model, inputs) = Float(stem, side);
        var options = new QuantizationOptions { QuantizeDepthwise = depthwise, MinimumReduction = 0 };
        var convolutions = OnnxQuantizer.QuantisedConvolutions(model, options);
        int all = model.Graph.Node.Count(n => n.OpType == "Conv");
        Assert.NotEmpty(convolutions);
        Assert.True(convolutions.Count < all, "the head (the logits) stays float");
        var targets = OnnxQuantizer.CalibrationTargets(model, options);
        var ranges = OnnxCalibrator.Calibrate(model, targets, inputs, options, threads: 1);
        Assert.Equal(targets.OrderBy(t => t), ranges.Keys.OrderBy(t => t));
        Assert.All(ranges.Values, r => Assert.True(r.Min <= r.Max && float.IsFinite(r.Min) && float.IsFinite(r.Max)));

        var quantised = OnnxQuantizer.Quantize(model, ranges, options);
        // Weights of quantised convolutions are stored as int8 (per output channel), their biases as int32.
        var initializers = quantised.Graph.Initializer.ToDictionary(t => t.Name);
        var dequantised = quantised.Graph.Node.Where(n => n.OpType == "DequantizeLinear" && initializers.ContainsKey(n.Input[0])).ToList();
        Assert.Equal(convolutions.Count, dequantised.Count(n => initializers[n.Input[0]].DataType == (int)TensorProto.Types.DataType.Int8));
        Assert.All(dequantised, n => Assert.Equal(0, n.Attribute.Single(a => a.Name == "axis").I));
        Assert.True(quantised.ToByteArray().Length < model.ToByteArray().Length / 2, "int8 weights make the file smaller");

        // ONNX Runtime fuses every quantised convolution into its int8 kernel: that is what makes it faster.
        var operators = OptimisedOperators(quantised);
        Assert.Equal(convolutions.Count, operators.GetValueOrDefault("QLinearConv"));

        using var floatSession = OnnxEngine.Open(model.ToByteArray(), 1);
        using var intSession = OnnxEngine.Open(quantised.ToByteArray(), 1);
        foreach (var (data, shape) in inputs)
        {
            var (expected, _) = OnnxEngine.Run(floatSession, data, shape);
            var (actual, actualShape) = OnnxEngine.Run(intSession, data, shape);
            Assert.Equal(expected.Length, actual.Length);
            double error = Math.Sqrt(expected.Zip(actual, (e, a) => (double)(e - a) * (e - a)).Sum());
            double norm = Math.Sqrt(expected.Sum(e => (double)e * e));
            Assert.All(actual, v => Assert.True(float.IsFinite(v)));
            // On these randomised weights: LGMSNet 2D (batch norm) 0.5–3 %, the variety network (instance and group norm,
            // which rescale each channel's rounding noise by its own spread) ~10 %. The small 3D network (instance norm
            // over 2x2x2 voxels at its deepest level) loses far more (~40 %, the same with ONNX Runtime's graph
            // optimisation off, so it is the rounding, not a kernel): the export's accuracy report, measured on the
            // user's data, is what says whether int8 suits a model.
            if (shape.Length == 4) Assert.True(error / norm < (stem == "lgmsnet" ? 0.05 : 0.15), $"{stem}: relative L2 error of int8 {error / norm:0.000}");
        }
    }

    [Fact]
    public void Small_convolutions_stay_float_by_default()
    {
        var (model, _) = Float("lgmsnet", 64);
        var all = OnnxQuantizer.QuantisedConvolutions(model, new QuantizationOptions { MinimumReduction = 0 });
        var large = OnnxQuantizer.QuantisedConvolutions(model, new QuantizationOptions());
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
        long Reduction(NodeProto conv) => initializers[conv.Input[1]].Dims.Skip(1).Aggregate(1L, (a, b) => a * b);
        Assert.NotEmpty(large);
        Assert.True(large.Count < all.Count);
        Assert.All(large, c => Assert.True(Reduction(c) >= QuantizationOptions.DefaultMinimumReduction));
        Assert.All(all.Except(large), c => Assert.True(Reduction(c) < QuantizationOptions.DefaultMinimumReduction));
        // The stem (3 input channels, 3x3: 27 products per output) is one of them.
        Assert.DoesNotContain(large, c => c.Name.StartsWith("stem", StringComparison.Ordinal));
    }

    [Fact]
    public void A_tensor_without_a_calibrated_range_is_named()
    {
        var (model, _) = Float("lgmsnet", 64);
        var options = new QuantizationOptions { MinimumReduction = 0 };
        var targets = OnnxQuantizer.CalibrationTargets(model, options);
        var ranges = targets.Skip(1).ToDictionary(t => t, _ => new ActivationRange(-1, 1));
        var error = Assert.Throws<InvalidOperationException>(() => OnnxQuantizer.Quantize(model, ranges, options));
        Assert.Contains($"'{targets[0]}'", error.Message);
    }

    [Theory]
    [InlineData(-2f, 6f)]
    [InlineData(0f, 3f)]
    [InlineData(0.5f, 3f)]
    [InlineData(-4f, -1f)]
    public void Activation_ranges_keep_zero_exact(float min, float max)
    {
        var (scale, zero) = new ActivationRange(min, max).Uint8();
        Assert.True(scale > 0);
        // The range, widened to include 0, spans the 256 levels: q = 0 and q = 255 land within one step of its ends
        // (0 itself is the zero point, an integer: exact).
        float low = Math.Min(min, 0), high = Math.Max(max, 0);
        Assert.InRange((0 - zero) * scale, low - scale / 2, low + scale / 2);
        Assert.InRange((255 - zero) * scale, high - scale / 2, high + scale / 2);
    }
}
