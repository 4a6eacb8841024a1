using Onnx;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>A block module (<see cref="Blocks.LgmsBlockAttribute"/>) that writes itself into an exported ONNX graph.
/// <see cref="OnnxExporter"/> walks the architecture and hands every YAML block its input through
/// <see cref="OnnxBlockWriters"/>: a writer registered for the module's type (the built-in blocks'), or this. A block with
/// neither is refused at export with its name and this interface, never written as a broken file.</summary>
public interface IOnnxBlock
{
    /// <summary>Adds the block's operators to <paramref name="onnx"/> and returns the name of its output value.</summary>
    string ExportOnnx(OnnxBlockContext onnx, string input);
}

/// <summary>Writes one kind of block module into an ONNX graph (registered by module type in <see cref="OnnxBlockWriters"/>):
/// the extension point for modules that cannot implement <see cref="IOnnxBlock"/> themselves.</summary>
public interface IOnnxBlockWriter
{
    string Export(OnnxBlockContext onnx, TorchSharp.torch.nn.Module block, string input);
}

/// <summary>Which writer exports which block module: the built-in blocks' writers (Deploy/BlockWriters), those registered
/// with <see cref="Register"/>, and any module implementing <see cref="IOnnxBlock"/>.</summary>
public static class OnnxBlockWriters
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, IOnnxBlockWriter> Writers = new(new Dictionary<Type, IOnnxBlockWriter>
    {
        [typeof(Blocks.LmsUnit)] = new BlockWriters.LmsUnitWriter(),
        [typeof(Blocks.GmsBlock)] = new BlockWriters.GmsBlockWriter(),
        [typeof(Blocks.FusionBlock)] = new BlockWriters.FusionBlockWriter(),
        [typeof(Blocks.DoubleConv)] = new BlockWriters.DoubleConvWriter(),
    });

    /// <summary>Exports modules of type <paramref name="module"/> with <paramref name="writer"/>.</summary>
    public static void Register(Type module, IOnnxBlockWriter writer) => Writers[module] = writer;

    public static IOnnxBlockWriter? For(TorchSharp.torch.nn.Module module) =>
        Writers.TryGetValue(module.GetType(), out var writer) ? writer : module is IOnnxBlock ? SelfWriting.Instance : null;

    private sealed class SelfWriting : IOnnxBlockWriter
    {
        public static readonly SelfWriting Instance = new();

        public string Export(OnnxBlockContext onnx, TorchSharp.torch.nn.Module block, string input) => ((IOnnxBlock)block).ExportOnnx(onnx, input);
    }
}

/// <summary>What a user block sees of the graph being exported: its own weights by state_dict key (relative to the block,
/// e.g. <c>squeeze.weight</c>; every one must be used, as for the built-ins), and operators to add.</summary>
public sealed class OnnxBlockContext
{
    private readonly OnnxGraph _graph;
    private readonly string _prefix;

    internal OnnxBlockContext(OnnxExporter.Writer writer, Dsl.Planning.BlockPlan plan, string prefix)
    {
        Writer = writer;
        Plan = plan;
        _graph = writer.Graph;
        _prefix = prefix;
        Dims = writer.Dims;
        Opset = writer.Options.Opset;
    }

    /// <summary>The exporter's layer writers (conv-norm with BatchNorm folding, the network's norm, activations), for the
    /// built-in blocks' writers.</summary>
    internal OnnxExporter.Writer Writer { get; }

    /// <summary>The planned block being written (its channels and options as the compiler resolved them).</summary>
    internal Dsl.Planning.BlockPlan Plan { get; }

    /// <summary>The block's module path (its state_dict prefix), e.g. <c>encoder1.1</c>.</summary>
    public string Prefix => _prefix;

    /// <summary>2 or 3 spatial axes (inputs are [batch, channels, (depth,) height, width]).</summary>
    public int Dims { get; }

    /// <summary>The operator set being written (17 to 23).</summary>
    public int Opset { get; }

    /// <summary>The block's tensor <paramref name="key"/> (float32, CPU), marked as exported.</summary>
    public Tensor Weight(string key) => Writer.Weight(_prefix + "." + key);

    /// <summary>Whether the block has a tensor <paramref name="key"/> (e.g. an optional bias).</summary>
    public bool HasWeight(string key) => Writer.HasWeight(_prefix + "." + key);

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

    /// <summary>The block's convolution submodule <paramref name="module"/> (a key relative to the block, e.g. <c>conv1</c>,
    /// naming a TorchSharp <c>Conv1d</c>/<c>Conv2d</c>/<c>Conv3d</c>) as an ONNX <c>Conv</c>: its <c>weight</c> and, if it
    /// has one, <c>bias</c>, with the module's own stride, padding (explicit or <c>Padding.Same</c>/<c>Valid</c>), dilation
    /// and groups. Returns the output value.</summary>
    /// <exception cref="IO.UserErrorException">The key names no convolution, a transposed one, or one whose padding mode is
    /// not zeros (reflect, replicate, circular): ONNX's <c>Conv</c> cannot represent it; the message names the key.</exception>
    public string Conv(string input, string module)
    {
        string path = _prefix + "." + module;
        var geometry = ConvolutionGeometry.Of(Writer.Module(path), path, Writer.Plan.Name);
        var weight = Weight(module + ".weight");
        var inputs = new List<string> { input, Constant(module + ".weight", weight) };
        if (HasWeight(module + ".bias")) inputs.Add(Constant(module + ".bias", Weight(module + ".bias")));
        return _graph.Node("Conv", path, inputs,
            OnnxGraph.Ints("kernel_shape", geometry.Kernel),
            OnnxGraph.Ints("pads", geometry.Pads),
            OnnxGraph.Ints("strides", geometry.Strides),
            OnnxGraph.Ints("dilations", geometry.Dilations),
            OnnxGraph.Int("group", geometry.Groups));
    }
}
