using Onnx;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>A user block (<see cref="Blocks.LgmsBlockAttribute"/>) that writes itself into an exported ONNX graph: the
/// extension point of <see cref="OnnxExporter"/>, which walks the architecture and hands each user block its input.
/// A block without it is refused at export with its name and this interface, never written as a broken file.</summary>
public interface IOnnxBlock
{
    /// <summary>Adds the block's operators to <paramref name="onnx"/> and returns the name of its output value.</summary>
    string ExportOnnx(OnnxBlockContext onnx, string input);
}

/// <summary>What a user block sees of the graph being exported: its own weights by state_dict key (relative to the block,
/// e.g. <c>squeeze.weight</c>; every one must be used, as for the built-ins), and operators to add.</summary>
public sealed class OnnxBlockContext
{
    private readonly OnnxGraph _graph;
    private readonly string _prefix;
    private readonly Func<string, Tensor> _weight;
    private readonly Func<string, bool> _has;

    internal OnnxBlockContext(OnnxGraph graph, string prefix, int dims, int opset, Func<string, Tensor> weight, Func<string, bool> has)
    {
        _graph = graph;
        _prefix = prefix;
        Dims = dims;
        Opset = opset;
        _weight = weight;
        _has = has;
    }

    /// <summary>2 or 3 spatial axes (inputs are [batch, channels, (depth,) height, width]).</summary>
    public int Dims { get; }

    /// <summary>The operator set being written (17 to 23).</summary>
    public int Opset { get; }

    /// <summary>The block's tensor <paramref name="key"/> (float32, CPU), marked as exported.</summary>
    public Tensor Weight(string key) => _weight(_prefix + "." + key);

    /// <summary>Whether the block has a tensor <paramref name="key"/> (e.g. an optional bias).</summary>
    public bool HasWeight(string key) => _has(_prefix + "." + key);

    /// <summary>An operator of the default ONNX domain; returns its output.</summary>
    public string Node(string op, params string[] inputs) => _graph.Node(op, _prefix, inputs);

    /// <summary>An operator with attributes (<see cref="Int"/>, <see cref="Ints"/>, <see cref="Float"/>, <see cref="Text"/>).</summary>
    public string Node(string op, string[] inputs, params AttributeProto[] attributes) => _graph.Node(op, _prefix, inputs, attributes);

    public static AttributeProto Int(string name, long value) => OnnxGraph.Int(name, value);

    public static AttributeProto Ints(string name, params long[] values) => OnnxGraph.Ints(name, values);

    public static AttributeProto Float(string name, float value) => OnnxGraph.Float(name, value);

    public static AttributeProto Text(string name, string value) => OnnxGraph.String(name, value);

    /// <summary>A float32 constant (an initializer) holding <paramref name="tensor"/>.</summary>
    public string Constant(string name, Tensor tensor) =>
        _graph.Floats(_prefix + "." + name, tensor.detach().to_type(ScalarType.Float32).cpu().contiguous().data<float>().ToArray(), tensor.shape);

    /// <summary>The block's convolution <paramref name="module"/> (its <c>weight</c> and, if it has one, <c>bias</c>), stride 1,
    /// padding kernel/2, <paramref name="groups"/> groups.</summary>
    public string Conv(string input, string module, long groups = 1)
    {
        var weight = Weight(module + ".weight");
        var inputs = new List<string> { input, Constant(module + ".weight", weight) };
        if (HasWeight(module + ".bias")) inputs.Add(Constant(module + ".bias", Weight(module + ".bias")));
        var kernel = weight.shape.Skip(2).ToArray();
        return _graph.Node("Conv", _prefix + "." + module, inputs,
            OnnxGraph.Ints("kernel_shape", kernel),
            OnnxGraph.Ints("pads", kernel.Select(k => k / 2).Concat(kernel.Select(k => k / 2)).ToArray()),
            OnnxGraph.Ints("strides", Enumerable.Repeat(1L, kernel.Length).ToArray()),
            OnnxGraph.Int("group", groups));
    }
}
