using Google.Protobuf;
using Onnx;

namespace LGMSNet.Runtime.Deploy;

/// <summary>A small writer over OnnxSharp's generated onnx.proto messages: adds nodes with fresh
/// value names, float and int64 initializers, and the attributes the exporter uses. It knows
/// nothing about networks; <see cref="OnnxExporter"/> says what to add.</summary>
internal sealed class OnnxGraph
{
    private readonly GraphProto _graph = new() { Name = "lgmsnet" };
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);

    public GraphProto Proto => _graph;

    /// <summary>A value name not used before, derived from <paramref name="hint"/>.</summary>
    public string Fresh(string hint)
    {
        int n = _counters.TryGetValue(hint, out var c) ? c : 0;
        _counters[hint] = n + 1;
        return n == 0 ? hint : $"{hint}_{n}";
    }

    /// <summary>Adds one node with a single output named after <paramref name="name"/>; returns that output.</summary>
    public string Node(string opType, string name, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Nodes(opType, name, inputs, 1, attributes)[0];

    /// <summary>Adds one node with <paramref name="outputs"/> outputs.</summary>
    public string[] Nodes(string opType, string name, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        string nodeName = Fresh(name + "/" + opType);
        var node = new NodeProto { OpType = opType, Name = nodeName };
        node.Input.AddRange(inputs);
        var names = Enumerable.Range(0, outputs).Select(i => outputs == 1 ? nodeName : $"{nodeName}:{i}").ToArray();
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return names;
    }

    /// <summary>A float32 initializer holding <paramref name="values"/> in row-major order.</summary>
    public string Floats(string name, float[] values, params long[] dims)
    {
        if (values.Length != dims.Aggregate(1L, (a, b) => a * b))
            throw new ArgumentException($"{name}: {values.Length} values do not fill shape [{string.Join(", ", dims)}]");
        string unique = Fresh(name);
        _graph.Initializer.Add(FloatTensor(unique, values, dims));
        return unique;
    }

    /// <summary>A float32 tensor (an initializer) named <paramref name="name"/>, row-major raw data.</summary>
    public static TensorProto FloatTensor(string name, float[] values, params long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian");
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    /// <summary>A float32 scalar initializer, shared between identical uses.</summary>
    public string FloatScalar(float value)
    {
        string key = "f" + value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        if (_constants.TryGetValue(key, out var existing)) return existing;
        string name = Floats("const_f32", new[] { value });
        _constants[key] = name;
        return name;
    }

    /// <summary>A 1-D int64 initializer (shapes, axes, split sizes), shared between identical uses.</summary>
    public string Int64s(params long[] values)
    {
        string key = string.Join(",", values);
        if (_constants.TryGetValue(key, out var existing)) return existing;
        var bytes = new byte[values.Length * sizeof(long)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        string name = Fresh("const_i64");
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.Add(values.Length);
        _graph.Initializer.Add(tensor);
        _constants[key] = name;
        return name;
    }

    public void Input(string name, int elementType, IEnumerable<object> dims) => _graph.Input.Add(ValueInfo(name, elementType, dims));

    public void Output(string name, int elementType, IEnumerable<object> dims) => _graph.Output.Add(ValueInfo(name, elementType, dims));

    /// <summary>Renames the output of the last node that produced <paramref name="value"/> to <paramref name="name"/>.</summary>
    public void RenameOutput(string value, string name)
    {
        foreach (var node in _graph.Node)
            for (int i = 0; i < node.Output.Count; i++)
                if (node.Output[i] == value) node.Output[i] = name;
        foreach (var node in _graph.Node)
            for (int i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == value) node.Input[i] = name;
    }

    private static ValueInfoProto ValueInfo(string name, int elementType, IEnumerable<object> dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
            shape.Dim.Add(dim is string param
                ? new TensorShapeProto.Types.Dimension { DimParam = param }
                : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(dim, System.Globalization.CultureInfo.InvariantCulture) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } },
        };
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }
}
