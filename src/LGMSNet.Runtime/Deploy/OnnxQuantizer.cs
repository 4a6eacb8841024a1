// Design note: static int8 quantisation of an exported float graph, in QDQ form.
//
// The exporter writes the float graph; this file rewrites it. Each quantised convolution gets
//   x  → QuantizeLinear(uint8, per-tensor, calibrated) → DequantizeLinear → Conv ← DequantizeLinear ← int8 weight (per output channel, symmetric)
//                                                                          ↑ DequantizeLinear ← int32 bias (scale s_x·s_w[c], zero point 0)
//   Conv (→ Relu) → QuantizeLinear(uint8) → DequantizeLinear → every consumer
// which is the pattern ONNX Runtime's QDQ transformer turns into one QLinearConv (the Relu is dropped when the
// output's zero point is 0, i.e. Relu → Q is already a clamp). Activations are unsigned (U8S8: the x86 VNNI path),
// weights signed and symmetric (zero point 0), as ONNX Runtime's own quantize_static does by default.
//
// What stays float, and why:
//   * the head (the 1x1 convolution writing the logits): its output is the model's output; quantising it would
//     put a 1/255-of-range step on the decision boundary at logit 0;
//   * normalisation (Layer/Instance/Group norm), Softmax and Attention, GELU and SiLU: ONNX Runtime's CPU provider
//     has no int8 kernels for them, so a Q/DQ pair around them would only add rounding and copies;
//   * the transformer's MatMuls: they run on the coarsest level (a few hundred tokens) and cost little;
//   * depthwise convolutions by default: ONNX Runtime's QLinearConv has no fast depthwise kernel for large kernel
//     sizes (an LMS block merges 3x3..9x9), so they are measured slower in int8 (docs/benchmarks.md) and kept float
//     unless QuantizeDepthwise is set;
//   * small convolutions (fewer than MinimumReduction products per output value, e.g. the 3-channel stem and the narrow
//     full-resolution 1x1s): there the quantise/dequantise pair and the NHWC transposes ONNX Runtime puts around its
//     int8 kernel cost more than the int8 arithmetic saves (measured: docs/benchmarks.md).
// Calibration (OnnxCalibrator) measures each quantised tensor's range on the float graph with those tensors
// added as outputs; the rewrite only needs the ranges.
using Google.Protobuf;
using Onnx;

namespace LGMSNet.Runtime.Deploy;

/// <summary>Which parts of the graph are quantised (see the design note in OnnxQuantizer.cs).</summary>
public sealed record QuantizationOptions
{
    /// <summary>Also quantise depthwise convolutions (group = channels &gt; 1).</summary>
    public bool QuantizeDepthwise { get; init; }

    /// <summary>Other operators whose activation inputs and output are quantised too, so that ONNX Runtime runs them on uint8
    /// (QLinearSigmoid, QLinearMul, QLinearAdd, QLinearConcat, ...) instead of dequantising around them. Empty by default:
    /// measured in docs/benchmarks.md.</summary>
    public IReadOnlySet<string> Operators { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Quantise a convolution only when each output value sums at least this many products (input channels per
    /// group × kernel volume). Below it the int8 kernel saves less than the quantise/dequantise and layout changes around
    /// it cost (docs/benchmarks.md, "Reduced precision": 512 was the fastest of 0, 64, 128, 256, 512, 1024 and 2048 for
    /// LGMSNet 2D at 256²); 0 quantises every eligible convolution.</summary>
    public int MinimumReduction { get; init; } = DefaultMinimumReduction;

    public const int DefaultMinimumReduction = 512;

    /// <summary>Range of each activation: the observed minimum and maximum, or percentiles of the observed values.</summary>
    public CalibrationMethod Method { get; init; } = CalibrationMethod.Percentile;

    /// <summary><see cref="CalibrationMethod.Percentile"/>: the share of values (per image, per tensor) inside the range.</summary>
    public double Percentile { get; init; } = 99.999;
}

public enum CalibrationMethod
{
    MinMax,
    Percentile,
}

/// <summary>The range calibrated for one activation tensor.</summary>
public readonly record struct ActivationRange(float Min, float Max)
{
    /// <summary>uint8 asymmetric parameters of a range widened to include 0 (so 0 is exact, as padding needs).</summary>
    public (float Scale, byte ZeroPoint) Uint8()
    {
        float low = Math.Min(Min, 0f), high = Math.Max(Max, 0f);
        float scale = (high - low) / 255f;
        if (!(scale > 0) || !float.IsFinite(scale)) return (1f, 0);
        int zero = (int)Math.Round(-low / scale, MidpointRounding.ToEven);
        return (scale, (byte)Math.Clamp(zero, 0, 255));
    }
}

/// <summary>Rewrites a float graph written by <see cref="OnnxExporter"/> into QDQ int8 form.</summary>
public static class OnnxQuantizer
{
    private const int Uint8Type = (int)TensorProto.Types.DataType.Uint8;
    private const int Int8Type = (int)TensorProto.Types.DataType.Int8;
    private const int Int32Type = (int)TensorProto.Types.DataType.Int32;
    private const int FloatType = (int)TensorProto.Types.DataType.Float;

    /// <summary>The convolutions that are quantised (by node name).</summary>
    public static IReadOnlyList<NodeProto> QuantisedConvolutions(ModelProto model, QuantizationOptions options)
    {
        var graph = model.Graph;
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var consumers = Consumers(graph);
        var list = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (node.OpType != "Conv" || node.Input.Count < 2 || !initializers.TryGetValue(node.Input[1], out var weight)) continue;
            if (node.Input.Count > 2 && node.Input[2] != "" && !initializers.ContainsKey(node.Input[2])) continue;
            if (LeadsToOutput(node.Output[0], outputs, consumers)) continue; // the head: its output is the logits
            long group = node.Attribute.FirstOrDefault(a => a.Name == "group")?.I ?? 1;
            bool depthwise = group > 1 && weight.Dims[1] == 1 && group == weight.Dims[0];
            if (depthwise && !options.QuantizeDepthwise) continue;
            long reduction = weight.Dims.Skip(1).Aggregate(1L, (a, b) => a * b);
            if (reduction < options.MinimumReduction) continue;
            list.Add(node);
        }
        return list;
    }

    /// <summary>The activation tensors whose ranges calibration must measure: every quantised convolution's
    /// input, and its output (after a following Relu, which the quantised form absorbs); the activation inputs and
    /// output of every other quantised operator.</summary>
    public static IReadOnlyList<string> CalibrationTargets(ModelProto model, QuantizationOptions options)
    {
        var consumers = Consumers(model.Graph);
        var targets = new List<string>();
        foreach (var conv in QuantisedConvolutions(model, options))
        {
            targets.Add(conv.Input[0]);
            targets.Add(QuantisedOutput(conv, consumers));
        }
        foreach (var node in QuantisedOperators(model, options))
        {
            targets.AddRange(node.Input);
            targets.Add(node.Output[0]);
        }
        return targets.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>The nodes of <see cref="QuantizationOptions.Operators"/> that are quantised: those whose inputs are all
    /// activations (no constants) and whose output is not the model's.</summary>
    private static IReadOnlyList<NodeProto> QuantisedOperators(ModelProto model, QuantizationOptions options)
    {
        if (options.Operators.Count == 0) return Array.Empty<NodeProto>();
        var graph = model.Graph;
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var constants = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var consumers = Consumers(graph);
        // Shape arithmetic (the GMS token reshapes) is int64: a value is integer when Shape made it, or every input was integer.
        var integers = graph.Initializer.Where(t => t.DataType != FloatType).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            if (node.OpType == "Shape" || (node.Input.Count > 0 && node.Input.All(i => i != "" && integers.Contains(i))))
                foreach (var output in node.Output) integers.Add(output);
        return graph.Node.Where(n => n.OpType != "Conv" && options.Operators.Contains(n.OpType) && n.Output.Count == 1 && !integers.Contains(n.Output[0]) &&
                                     !n.Input.Any(integers.Contains) &&
                                     n.Input.All(i => i != "" && !constants.Contains(i)) && !LeadsToOutput(n.Output[0], outputs, consumers)).ToList();
    }

    /// <summary>A copy of <paramref name="model"/> that also outputs <paramref name="names"/> (for calibration).</summary>
    public static ModelProto WithOutputs(ModelProto model, IEnumerable<string> names)
    {
        var copy = model.Clone();
        var existing = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in names)
            if (existing.Add(name))
                copy.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = FloatType } } });
        return copy;
    }

    /// <summary>The QDQ model: <paramref name="model"/> with its quantised convolutions' weights, biases, inputs and outputs
    /// quantised with <paramref name="ranges"/> (one per <see cref="CalibrationTargets"/> entry).</summary>
    public static ModelProto Quantize(ModelProto model, IReadOnlyDictionary<string, ActivationRange> ranges, QuantizationOptions options)
    {
        var result = model.Clone();
        var graph = result.Graph;
        var convolutions = QuantisedConvolutions(result, options);
        var consumers = Consumers(graph);
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);

        // Activation tensors to quantise: name → (scale initializer, zero-point initializer).
        var activations = new Dictionary<string, (string Scale, string Zero, float ScaleValue)>(StringComparer.Ordinal);
        var added = new List<TensorProto>();
        int counter = 0;
        string Fresh(string hint) => $"{hint}_q{counter++}";
        (string, string, float) Activation(string name)
        {
            if (activations.TryGetValue(name, out var known)) return known;
            if (!ranges.TryGetValue(name, out var range))
                throw new InvalidOperationException($"no calibrated range for '{name}' (calibrate the same float model that is quantised)");
            var (scale, zero) = range.Uint8();
            var scaleName = Fresh(name + ".scale");
            var zeroName = Fresh(name + ".zero_point");
            added.Add(FloatTensor(scaleName, new[] { scale }));
            added.Add(new TensorProto { Name = zeroName, DataType = Uint8Type, RawData = ByteString.CopyFrom(zero) });
            return activations[name] = (scaleName, zeroName, scale);
        }

        foreach (var node in QuantisedOperators(result, options))
        {
            foreach (var input in node.Input) Activation(input);
            Activation(node.Output[0]);
        }

        var weightDequantize = new List<NodeProto>();
        foreach (var conv in convolutions)
        {
            var (_, _, inputScale) = Activation(conv.Input[0]);
            Activation(QuantisedOutput(conv, consumers));

            // Weight: int8, symmetric, one scale per output channel (axis 0).
            var weight = initializers[conv.Input[1]];
            var values = Floats(weight);
            int outChannels = (int)weight.Dims[0], perChannel = values.Length / outChannels;
            var scales = new float[outChannels];
            var quantised = new sbyte[values.Length];
            for (int c = 0; c < outChannels; c++)
            {
                float largest = 0;
                for (int i = 0; i < perChannel; i++) largest = Math.Max(largest, Math.Abs(values[c * perChannel + i]));
                scales[c] = largest > 0 ? largest / 127f : 1f;
                for (int i = 0; i < perChannel; i++)
                    quantised[c * perChannel + i] = (sbyte)Math.Clamp((int)Math.Round(values[c * perChannel + i] / scales[c], MidpointRounding.ToEven), -127, 127);
            }
            string weightName = Fresh(weight.Name + ".int8");
            var weightTensor = new TensorProto { Name = weightName, DataType = Int8Type, RawData = ByteString.CopyFrom((byte[])(Array)quantised) };
            weightTensor.Dims.AddRange(weight.Dims);
            added.Add(weightTensor);
            string weightScale = Fresh(weight.Name + ".scale");
            added.Add(FloatTensor(weightScale, scales, outChannels));
            string weightZero = Fresh(weight.Name + ".zero_point");
            var weightZeroTensor = new TensorProto { Name = weightZero, DataType = Int8Type, RawData = ByteString.CopyFrom(new byte[outChannels]) };
            weightZeroTensor.Dims.Add(outChannels);
            added.Add(weightZeroTensor);
            string dequantisedWeight = Fresh(weight.Name + ".dequantized");
            weightDequantize.Add(Dequantize(conv.Name + ".weight", weightName, weightScale, weightZero, dequantisedWeight, axis: 0));
            conv.Input[1] = dequantisedWeight;

            // Bias: int32 at scale s_x·s_w[c] (what QLinearConv adds to its int32 accumulator).
            if (conv.Input.Count > 2 && conv.Input[2] != "")
            {
                var bias = Floats(initializers[conv.Input[2]]);
                var biasScales = scales.Select(s => s * inputScale).ToArray();
                var biasValues = new int[outChannels];
                for (int c = 0; c < outChannels; c++)
                    biasValues[c] = (int)Math.Clamp(Math.Round(bias[c] / biasScales[c], MidpointRounding.ToEven), int.MinValue + 1, int.MaxValue);
                var biasBytes = new byte[outChannels * 4];
                Buffer.BlockCopy(biasValues, 0, biasBytes, 0, biasBytes.Length);
                string biasName = Fresh(conv.Input[2] + ".int32");
                var biasTensor = new TensorProto { Name = biasName, DataType = Int32Type, RawData = ByteString.CopyFrom(biasBytes) };
                biasTensor.Dims.Add(outChannels);
                added.Add(biasTensor);
                string biasScale = Fresh(conv.Input[2] + ".scale");
                added.Add(FloatTensor(biasScale, biasScales, outChannels));
                string biasZero = Fresh(conv.Input[2] + ".zero_point");
                var biasZeroTensor = new TensorProto { Name = biasZero, DataType = Int32Type, RawData = ByteString.CopyFrom(new byte[outChannels * 4]) };
                biasZeroTensor.Dims.Add(outChannels);
                added.Add(biasZeroTensor);
                string dequantisedBias = Fresh(conv.Input[2] + ".dequantized");
                weightDequantize.Add(Dequantize(conv.Name + ".bias", biasName, biasScale, biasZero, dequantisedBias, axis: 0));
                conv.Input[2] = dequantisedBias;
            }
        }

        // Every consumer of a quantised activation reads its dequantised value; the Q → DQ pair follows its producer.
        var replaced = activations.Keys.ToDictionary(n => n, n => Fresh(n + ".dequantized"), StringComparer.Ordinal);
        foreach (var node in graph.Node)
            for (int i = 0; i < node.Input.Count; i++)
                if (replaced.TryGetValue(node.Input[i], out var dq)) node.Input[i] = dq;
        var pairs = activations.ToDictionary(a => a.Key, a =>
        {
            string q = Fresh(a.Key + ".quantized");
            return new[]
            {
                Node("QuantizeLinear", a.Key + "/QuantizeLinear", new[] { a.Key, a.Value.Scale, a.Value.Zero }, q),
                Dequantize(a.Key, q, a.Value.Scale, a.Value.Zero, replaced[a.Key], axis: null),
            };
        }, StringComparer.Ordinal);

        var nodes = new List<NodeProto>(weightDequantize);
        foreach (var input in graph.Input)
            if (pairs.TryGetValue(input.Name, out var pair)) nodes.AddRange(pair);
        foreach (var node in graph.Node)
        {
            nodes.Add(node);
            foreach (var output in node.Output)
                if (pairs.TryGetValue(output, out var pair)) nodes.AddRange(pair);
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        graph.Initializer.AddRange(added);
        var used = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var stale = graph.Initializer.Where(t => !used.Contains(t.Name)).ToList();
        foreach (var tensor in stale) graph.Initializer.Remove(tensor);
        return result;
    }

    /// <summary>The tensor whose range is the convolution's output range: its output, or the output of a Relu that is
    /// its only consumer.</summary>
    private static string QuantisedOutput(NodeProto conv, IReadOnlyDictionary<string, List<NodeProto>> consumers)
    {
        string output = conv.Output[0];
        return consumers.TryGetValue(output, out var users) && users.Count == 1 && users[0].OpType == "Relu" ? users[0].Output[0] : output;
    }

    private static bool LeadsToOutput(string value, HashSet<string> outputs, IReadOnlyDictionary<string, List<NodeProto>> consumers) =>
        outputs.Contains(value) || (consumers.TryGetValue(value, out var users) && users.Count == 1 && users[0].OpType == "Relu" && outputs.Contains(users[0].Output[0]));

    private static Dictionary<string, List<NodeProto>> Consumers(GraphProto graph)
    {
        var map = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var input in node.Input)
                if (input != "")
                {
                    if (!map.TryGetValue(input, out var list)) map[input] = list = new List<NodeProto>();
                    if (!list.Contains(node)) list.Add(node);
                }
        return map;
    }

    private static float[] Floats(TensorProto tensor)
    {
        if (tensor.DataType != FloatType) throw new InvalidOperationException($"initializer '{tensor.Name}' is not float32");
        if (!tensor.RawData.IsEmpty)
        {
            var values = new float[tensor.RawData.Length / 4];
            Buffer.BlockCopy(tensor.RawData.ToByteArray(), 0, values, 0, tensor.RawData.Length);
            return values;
        }
        return tensor.FloatData.ToArray();
    }

    private static TensorProto FloatTensor(string name, float[] values, params long[] dims) => OnnxGraph.FloatTensor(name, values, dims);

    private static NodeProto Dequantize(string name, string input, string scale, string zero, string output, long? axis)
    {
        var node = Node("DequantizeLinear", name + "/DequantizeLinear", new[] { input, scale, zero }, output);
        if (axis is { } a) node.Attribute.Add(OnnxGraph.Int("axis", a));
        return node;
    }

    private static NodeProto Node(string opType, string name, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }
}
