using Onnx;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>A block module (<see cref="Blocks.LgmsBlockAttribute"/>) that writes itself into an exported ONNX graph.
/// <see cref="OnnxExporter"/> walks the architecture and hands every YAML block its input through
/// <see cref="OnnxBlockWriters"/>: a writer registered for the module's type (the built-in blocks'), or this. A block with
/// neither is refused at export with its name and this interface, never written as a broken file.</summary>
/// <remarks><c>export</c> then runs the model in ONNX Runtime against the module's own eval-mode forward pass and fails
/// when they disagree, so a writer that computes something else than <c>forward</c> is caught at export.</remarks>
/// <example>A squeeze-and-excitation gate (the template's <c>SqueezeExcitation.cs</c>):
/// <code>
/// public string ExportOnnx(OnnxBlockContext onnx, string input)
/// {
///     string gate = onnx.Node("Relu", onnx.Conv(onnx.Node("GlobalAveragePool", input), "squeeze"));
///     return onnx.Node("Mul", input, onnx.Node("Sigmoid", onnx.Conv(gate, "excite")));
/// }
/// </code></example>
public interface IOnnxBlock
{
    /// <summary>Adds the block's operators to <paramref name="onnx"/> and returns the name of its output value.</summary>
    /// <param name="onnx">The graph as the block sees it: its weights by key, operators to add.</param>
    /// <param name="input">The name of the block's input value ([batch, channels, (depth,) height, width], float32).</param>
    /// <returns>The name of the block's output value (a name some <see cref="OnnxBlockContext.Node(string, string[])"/> call
    /// returned), of the shape <c>forward</c> returns.</returns>
    string ExportOnnx(OnnxBlockContext onnx, string input);
}

/// <summary>Writes one kind of block module into an ONNX graph (registered by module type in <see cref="OnnxBlockWriters"/>):
/// the extension point for modules that cannot implement <see cref="IOnnxBlock"/> themselves.</summary>
public interface IOnnxBlockWriter
{
    /// <summary>Adds <paramref name="block"/>'s operators to <paramref name="onnx"/> and returns the name of its output value.</summary>
    /// <param name="onnx">The graph as the block sees it (its weights by key relative to the block, operators to add).</param>
    /// <param name="block">The block module being exported (of the type this writer was registered for).</param>
    /// <param name="input">The name of the block's input value.</param>
    /// <returns>The name of the block's output value.</returns>
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

    /// <summary>Exports modules of type <paramref name="module"/> with <paramref name="writer"/> (replacing any writer
    /// registered for it before): for a block class you cannot change to implement <see cref="IOnnxBlock"/>.</summary>
    /// <param name="module">The exact module type (not its base types).</param>
    /// <param name="writer">What writes modules of that type.</param>
    public static void Register(Type module, IOnnxBlockWriter writer) => Writers[module] = writer;

    /// <summary>The writer that exports <paramref name="module"/>: one registered for its exact type, else the module itself
    /// when it implements <see cref="IOnnxBlock"/>, else null (the exporter then refuses the architecture by the block's name).</summary>
    /// <param name="module">A block module of a network.</param>
    public static IOnnxBlockWriter? For(TorchSharp.torch.nn.Module module) =>
        Writers.TryGetValue(module.GetType(), out var writer) ? writer : module is IOnnxBlock ? SelfWriting.Instance : null;

    private sealed class SelfWriting : IOnnxBlockWriter
    {
        public static readonly SelfWriting Instance = new();

        public string Export(OnnxBlockContext onnx, TorchSharp.torch.nn.Module block, string input) => ((IOnnxBlock)block).ExportOnnx(onnx, input);
    }
}

/// <summary>What a block sees of the ONNX graph being exported: its own tensors by state_dict key relative to the block
/// (<c>squeeze.weight</c>, <c>norm.running_mean</c>; every tensor of the network must be read at least once, or the export fails
/// naming the ones left over), and operators to add (<see cref="Node(string, string[])"/>, <see cref="Conv"/>,
/// <see cref="Constant"/>). Values are named by strings: each method returns the name of the value it adds.</summary>
/// <remarks>Operators are of the default ONNX domain at operator set <see cref="Opset"/> (17 to 23; see the ONNX operator
/// documentation for each operator's inputs and attributes). Batch and spatial axes are dynamic: compute shapes in the graph
/// (<c>Shape</c>, <c>Reshape</c>), not from a fixed size. BatchNorm is not folded for you: read its
/// <c>weight</c>, <c>bias</c>, <c>running_mean</c> and <c>running_var</c> with <see cref="Weight"/> and write
/// <c>BatchNormalization</c> (inputs: x, scale, bias, mean, var; attribute <c>epsilon</c>, TorchSharp's default 1e-5).</remarks>
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

    /// <summary>The block's module path (its state_dict prefix in the network), e.g. <c>encoder1.1</c>; in a training
    /// checkpoint its tensors are under <c>model.</c> + this.</summary>
    public string Prefix => _prefix;

    /// <summary>2 or 3 spatial axes (inputs are [batch, channels, (depth,) height, width]).</summary>
    public int Dims { get; }

    /// <summary>The operator set being written (17 to 23; <c>export --opset</c>): an operator newer than it (e.g. <c>Gelu</c>, 20)
    /// needs a fallback written from older ones.</summary>
    public int Opset { get; }

    /// <summary>The block's tensor <paramref name="key"/> (float32, CPU), marked as used: a parameter or a buffer, e.g.
    /// <c>conv.weight</c> or a BatchNorm's <c>norm.running_var</c>. Add it to the graph with <see cref="Constant"/>.</summary>
    /// <param name="key">The state_dict key relative to the block (its field names joined by '.').</param>
    /// <exception cref="InvalidOperationException">The block has no such tensor.</exception>
    public Tensor Weight(string key) => Writer.Weight(_prefix + "." + key);

    /// <summary>Whether the block has a tensor <paramref name="key"/> (e.g. an optional bias).</summary>
    /// <param name="key">The state_dict key relative to the block.</param>
    public bool HasWeight(string key) => Writer.HasWeight(_prefix + "." + key);

    /// <summary>An operator of the default ONNX domain with no attributes, e.g. <c>Node("Relu", x)</c> or
    /// <c>Node("Add", x, y)</c>; returns the name of its (first) output.</summary>
    /// <param name="op">The ONNX operator type (<c>Relu</c>, <c>Mul</c>, <c>GlobalAveragePool</c>, ...).</param>
    /// <param name="inputs">Its inputs' names, in the operator's order (<c>""</c> for an optional input left out).</param>
    public string Node(string op, params string[] inputs) => _graph.Node(op, _prefix, inputs);

    /// <summary>An operator with attributes, e.g.
    /// <c>Node("MaxPool", new[] { x }, Ints("kernel_shape", 3, 3), Ints("strides", 1, 1), Ints("pads", 1, 1, 1, 1))</c>;
    /// returns the name of its (first) output.</summary>
    /// <param name="op">The ONNX operator type.</param>
    /// <param name="inputs">Its inputs' names, in the operator's order.</param>
    /// <param name="attributes">Its attributes, made with <see cref="Int"/>, <see cref="Ints"/>, <see cref="Float"/> and <see cref="Text"/>.</param>
    public string Node(string op, string[] inputs, params AttributeProto[] attributes) => _graph.Node(op, _prefix, inputs, attributes);

    /// <summary>An integer attribute, e.g. <c>Int("axis", 1)</c> or <c>Int("group", 4)</c>.</summary>
    /// <param name="name">The attribute's name as the operator defines it.</param>
    /// <param name="value">Its value.</param>
    public static AttributeProto Int(string name, long value) => OnnxGraph.Int(name, value);

    /// <summary>A list-of-integers attribute, e.g. <c>Ints("kernel_shape", 3, 3)</c> or <c>Ints("pads", 1, 1, 1, 1)</c> (ONNX
    /// pads are all begins, then all ends).</summary>
    /// <param name="name">The attribute's name as the operator defines it.</param>
    /// <param name="values">Its values.</param>
    public static AttributeProto Ints(string name, params long[] values) => OnnxGraph.Ints(name, values);

    /// <summary>A float attribute, e.g. <c>Float("epsilon", 1e-5f)</c> or <c>Float("alpha", 0.1f)</c>.</summary>
    /// <param name="name">The attribute's name as the operator defines it.</param>
    /// <param name="value">Its value.</param>
    public static AttributeProto Float(string name, float value) => OnnxGraph.Float(name, value);

    /// <summary>A string attribute, e.g. <c>Text("mode", "linear")</c>.</summary>
    /// <param name="name">The attribute's name as the operator defines it.</param>
    /// <param name="value">Its value.</param>
    public static AttributeProto Text(string name, string value) => OnnxGraph.String(name, value);

    /// <summary>A float32 constant (an initializer) holding <paramref name="tensor"/>, e.g. a weight read with
    /// <see cref="Weight"/> (transformed as you need: <c>Weight("fc.weight").t()</c>) or a tensor you make
    /// (<c>torch.tensor(new[] { 0.5f })</c>); returns its name.</summary>
    /// <param name="name">A name for it, unique within the block (prefixed with the block's path).</param>
    /// <param name="tensor">Its value (any dtype and device; converted to float32 on the CPU, shape kept).</param>
    public string Constant(string name, Tensor tensor) =>
        _graph.Floats(_prefix + "." + name, tensor.detach().to_type(ScalarType.Float32).cpu().contiguous().data<float>().ToArray(), tensor.shape);

    /// <summary>The block's convolution submodule <paramref name="module"/> (a key relative to the block, e.g. <c>conv1</c>,
    /// naming a TorchSharp <c>Conv1d</c>/<c>Conv2d</c>/<c>Conv3d</c>) as an ONNX <c>Conv</c>: its <c>weight</c> and, if it
    /// has one, <c>bias</c>, with the module's own stride, padding (explicit or <c>Padding.Same</c>/<c>Valid</c>), dilation
    /// and groups. Returns the output value.</summary>
    /// <exception cref="IO.UserErrorException">The key names no convolution, a transposed one, or one whose padding mode is
    /// not zeros (reflect, replicate, circular): ONNX's <c>Conv</c> cannot represent it; the message names the key.</exception>
    /// <param name="input">The name of the value to convolve.</param>
    /// <param name="module">The convolution's key relative to the block (its field name), e.g. <c>squeeze</c>.</param>
    /// <remarks>A BatchNorm after it is not folded in: write it with <c>BatchNormalization</c> (see the class remarks).</remarks>
    public string Conv(string input, string module)
    {
        string path = _prefix + "." + module;
        var geometry = ConvolutionGeometry.Of(Writer.Module(path), path, Writer.Plan.Name);
        return Writer.Conv(input, path, Weight(module + ".weight"), HasWeight(module + ".bias") ? Weight(module + ".bias") : null, geometry);
    }
}
