// Design note: ONNX export compiled from the architecture, not traced.
//
// TorchSharp cannot trace or export (dotnet/TorchSharp#1281), but it does not have to: the compiled
// architecture (ArchitectureInfo.Plan: stages, blocks and their options) already states the whole
// graph. This exporter walks that plan (stem → encoders with 2x max-pooling between levels → for each
// level deepest first: up-convolution, concat(skip, up), decoder → 1x1 head), exactly the topology the
// generator emits, and writes each block as standard ONNX operators. Weights are read from the unfused
// module by state_dict key (WeightLayout.Export, the checkpoint contract) — never from block fields —
// and are fused on the way out:
//   * every BatchNorm that follows a convolution is folded into it (Primitives.BatchNormAffine, the
//     runtime's fold helper); a fusion block's BatchNorms after GELU fold into the next 1x1 convolution;
//   * an LMS block's per-slice depthwise convolutions become one depthwise convolution with centred,
//     zero-padded kernels, the first residual added as +1 on the centre tap (as LmsBlock's fused form);
//   * tokens live as [B·P, N, a] (batch and patch-offset sequences merged); q, k and v are three MatMuls;
//     from opset 23 attention is ONNX's Attention operator, before that MatMul → Softmax → MatMul with
//     the scale 1/√d folded into the query weights and k reshaped straight into [.., d, N].
//   * a per-channel affine that cannot fold (a fusion block's last BatchNorm, the GMS conv branch's
//     depthwise 1x1) is a BatchNormalization with mean 0, variance 1, epsilon 0, which ORT keeps in its
//     blocked NCHWc layout.
// Instance norm is InstanceNormalization, group norm is Reshape → InstanceNormalization → Reshape →
// per-channel affine (valid from opset 17; GroupNormalization-18 had per-group scales), layer norm is
// LayerNormalization (opset 17). Batch and spatial axes are dynamic; shapes inside the GMS token
// reshapes are computed from Shape(start, end) at run time. Opset 23 by default, 17 for older runtimes; opset 20+ writes GELU
// as the Gelu operator instead of its erf expansion. The protobuf messages are OnnxSharp's generated
// onnx.proto types over Google.Protobuf. Every tensor of the state_dict must be consumed, which
// catches a key that the plan and this file disagree about.
using System.Globalization;
using Google.Protobuf;
using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>How the exported graph is written.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>The oldest operator set the exporter writes (LayerNormalization), for older runtimes.</summary>
    public const int MinOpset = 17;

    /// <summary>The default: opset 23's Attention operator is the fastest form in ONNX Runtime (docs/benchmarks.md), in float32
    /// and, more so, in int8.</summary>
    public const int DefaultOpset = 23;

    /// <summary>The newest operator set the exporter writes and ONNX Runtime 1.31 has been checked with.</summary>
    public const int MaxOpset = 23;

    /// <summary>ONNX operator set (17 or newer).</summary>
    public int Opset { get; init; } = DefaultOpset;

    /// <summary>How the weights expect their inputs (written to the metadata).</summary>
    public Data.InputConvention Convention { get; init; } = Data.InputConvention.Standard;

    /// <summary>The size the weights were trained at (metadata <c>lgmsnet.input_size</c>); null: the YAML's input size.</summary>
    public int[]? InputSize { get; init; }

    /// <summary>The preprocessing plan the weights were trained with (3D; metadata <c>lgmsnet.preprocessing_plan</c>), so a
    /// deploying program — and <c>eval</c>/<c>predict --model</c> — prepares volumes as training did.</summary>
    public Data.Preprocessing.PreprocessingPlan? Plan { get; init; }

    /// <summary>One merged depthwise convolution per LMS block (true) or one per kernel size on channel slices.</summary>
    public bool MergeLmsKernels { get; init; } = true;
}

/// <summary>Writes a <see cref="ModelProto"/> for a network (see the design note at the top of this file).</summary>
public static class OnnxExporter
{
    public const string InputName = "input";
    public const string OutputName = "logits";
    private const float NormEps = 1e-5f; // PyTorch's default for batch, instance, group and layer norm (the runtime's choice)
    private const int FloatType = (int)TensorProto.Types.DataType.Float;

    public static ModelProto Export(SegmentationNetwork network, OnnxExportOptions? options = null)
    {
        options ??= new OnnxExportOptions();
        if (options.Opset < OnnxExportOptions.MinOpset || options.Opset > OnnxExportOptions.MaxOpset)
            throw new ArgumentException($"opset {options.Opset} is not supported: the exporter writes opsets {OnnxExportOptions.MinOpset} (LayerNormalization) to {OnnxExportOptions.MaxOpset}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var writer = new Writer(network, options);
        writer.Build();
        writer.CheckAllWeightsUsed();

        var model = new ModelProto
        {
            IrVersion = IrVersionFor(options.Opset),
            ProducerName = "LGMSNet.Dsl",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            Domain = "lgmsnet",
            ModelVersion = 1,
            DocString = $"{network.Architecture.Name} compiled from {network.Architecture.FileStem}.yaml by LGMSNet.Dsl",
            Graph = writer.Graph.Proto,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        foreach (var (key, value) in OnnxMetadata.For(network.Architecture, options.Convention, options.InputSize, options.Plan))
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    /// <summary>The IR version the ONNX standard pairs with an operator set (opset 17–18: IR 8; 19–20: 9; 21–22: 10; 23: 11).</summary>
    public static int IrVersionFor(int opset) => opset switch { <= 18 => 8, <= 20 => 9, <= 22 => 10, _ => 11 };

    public static byte[] ExportBytes(SegmentationNetwork network, OnnxExportOptions? options = null) => Export(network, options).ToByteArray();

    /// <summary>Writes the model atomically (temporary file, then rename).</summary>
    public static void Save(ModelProto model, string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        IO.AtomicFile.Write(full, model.WriteTo);
    }

    /// <summary>One export: the weights, the graph under construction, and a method per block.</summary>
    internal sealed class Writer
    {
        private readonly SegmentationNetwork _network;
        private readonly NetworkPlan _plan;
        private readonly OnnxExportOptions _options;
        private readonly Dictionary<string, Tensor> _weights;
        private readonly Dictionary<string, nn.Module> _modules;
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);
        private readonly int _dims;
        private readonly Lazy<Dictionary<string, int>> _normChannels;

        public Writer(SegmentationNetwork network, OnnxExportOptions options)
        {
            _network = network;
            _plan = network.Architecture.Plan;
            _options = options;
            _weights = WeightLayout.Export(network, KeyLayout.Ours);
            _modules = network.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
            _dims = _plan.Dims;
            _normChannels = new(() => Layers.Of(_plan).OfType<NormLayer>().ToDictionary(l => l.Name, l => l.Channels, StringComparer.Ordinal));
        }

        public OnnxGraph Graph { get; } = new();

        internal NetworkPlan Plan => _plan;

        internal OnnxExportOptions Options => _options;

        internal int Dims => _dims;

        public void Build()
        {
            var axes = _dims == 2 ? new[] { "height", "width" } : new[] { "depth", "height", "width" };
            Graph.Input(InputName, FloatType, new object[] { "batch", _plan.InChannels }.Concat(axes));

            StagePlan Stage(StageRole role, int level) => _plan.Stages.Single(s => s.Role == role && s.Level == level);
            string x = RunStage(Stage(StageRole.Stem, 1), InputName);
            var skips = new string[_plan.Levels + 1];
            for (int level = 1; level <= _plan.Levels; level++)
            {
                string source = level == 1 ? x : MaxPool(skips[level - 1], $"encoder{level}");
                skips[level] = RunStage(Stage(StageRole.Encoder, level), source);
            }
            string current = skips[_plan.Levels];
            for (int level = _plan.Levels - 1; level >= 1; level--)
            {
                string up = RunStage(Stage(StageRole.Up, level), current);
                var decoder = Stage(StageRole.Decoder, level);
                string joined = Graph.Node("Concat", decoder.Name, new[] { skips[level], up }, OnnxGraph.Int("axis", 1));
                current = RunStage(decoder, joined);
            }
            string logits = RunStage(Stage(StageRole.Head, 1), current);
            Graph.RenameOutput(logits, OutputName);
            Graph.Output(OutputName, FloatType, new object[] { "batch", _plan.Classes }.Concat(axes));
        }

        public void CheckAllWeightsUsed()
        {
            var unused = _weights.Keys.Where(k => !_used.Contains(k) && !k.EndsWith(".num_batches_tracked", StringComparison.Ordinal)).ToList();
            if (unused.Count > 0)
                throw new InvalidOperationException($"ONNX export of {_plan.Name} left {unused.Count} weight(s) unused: {string.Join(", ", unused.Take(10))}");
        }

        private string RunStage(StagePlan stage, string x)
        {
            for (int i = 0; i < stage.Blocks.Count; i++)
                x = Block(stage.Blocks[i], stage.Blocks.Count == 1 ? stage.Name : $"{stage.Name}.{i}", x);
            return x;
        }

        /// <summary>The network's own stem, up-convolutions and head are written here; every YAML block, built in or a
        /// project's own, goes through <see cref="OnnxBlockWriters"/>, found by its module's type.</summary>
        private string Block(BlockPlan block, string o, string x) => block switch
        {
            StemPlan => ConvNorm(x, o, 3, bias: true, Activation.ReLU),
            UpConvPlan => ConvNorm(Upsample(x, o), o, 3, bias: true, Activation.ReLU),
            HeadPlan => Conv(x, o, Weight(o + ".weight"), Weight(o + ".bias"), 1, 1),
            _ => YamlBlock(block, o, x),
        };

        // ---- blocks -------------------------------------------------------------------------------------

        /// <summary>A YAML block: the writer registered for its module's type, or the module's own <see cref="IOnnxBlock"/>;
        /// a block with neither is refused by name before anything is written.</summary>
        private string YamlBlock(BlockPlan block, string o, string x)
        {
            var declaration = Dsl.Planning.Definitions.BlockDefinitions.Of(block).Declaration;
            if (!_modules.TryGetValue(o, out var module) || OnnxBlockWriters.For(module) is not { } writer)
                throw new IO.UserErrorException(
                    $"cannot export {_plan.Name} to ONNX: its block '{declaration.Keyword}' ({declaration.DisplayType}, at {o}) does not say how to export itself. " +
                    $"Implement LGMSNet.Runtime.Deploy.IOnnxBlock on {declaration.DisplayType} (README, \"Write your own block\"); nothing was written", 2);
            return writer.Export(new OnnxBlockContext(this, block, o), module, x);
        }

        // ---- layers -------------------------------------------------------------------------------------

        internal string ConvNorm(string x, string o, int kernel, bool bias, Activation activation) =>
            ConvNorm(x, o + ".conv", o + ".norm", kernel, bias, activation);

        /// <summary>conv → network norm (BatchNorm folded into the convolution) → activation.</summary>
        internal string ConvNorm(string x, string conv, string norm, int kernel, bool bias, Activation activation)
        {
            var weight = Weight(conv + ".weight");
            Tensor? b = bias ? Weight(conv + ".bias") : null;
            string y;
            if (_plan.Norm == NormKind.Batch)
            {
                var (w, fb) = FoldBatchNorm(weight, b, norm);
                y = Conv(x, conv, w, fb, kernel, 1);
            }
            else y = Norm(Conv(x, conv, weight, b, kernel, 1), norm);
            return Activate(y, conv, activation);
        }

        /// <summary>w' = w·s, b' = b·s + t (the runtime's own fold, <see cref="BatchNormFolding.Preceding"/>).</summary>
        internal (Tensor Weight, Tensor Bias) FoldBatchNorm(Tensor weight, Tensor? bias, string norm) =>
            BatchNormFolding.Preceding(weight, bias, BatchNormAffine(norm));

        /// <summary>An affine map before a 1x1 convolution folds into it (<see cref="BatchNormFolding.Following"/>).</summary>
        internal (Tensor Weight, Tensor Bias) FoldIntoNext(string norm, Tensor next, Tensor bias) =>
            BatchNormFolding.Following(BatchNormAffine(norm), next, bias);

        internal (Tensor Scale, Tensor Shift) BatchNormAffine(string norm)
        {
            if (!_modules.TryGetValue(norm, out var module) || module is not BatchNormLayer batchNorm)
                throw new InvalidOperationException($"{_plan.Name}: expected a BatchNorm at '{norm}'");
            foreach (var suffix in new[] { ".weight", ".bias", ".running_mean", ".running_var" }) Weight(norm + suffix);
            var (scale, shift) = BatchNormFolding.Affine(batchNorm);
            return (scale.to_type(ScalarType.Float32), shift.to_type(ScalarType.Float32));
        }

        /// <summary>The network's norm as a separate operator (BatchNorm: a per-channel affine).</summary>
        internal string Norm(string x, string norm)
        {
            switch (_plan.Norm)
            {
                case NormKind.Batch:
                    {
                        var (scale, shift) = BatchNormAffine(norm);
                        return Affine(x, norm, scale, shift);
                    }
                case NormKind.Instance:
                    return InstanceNorm(x, norm, null, null, ChannelsOf(norm));
                case NormKind.Group:
                    return GroupNorm(x, norm, _plan.NormGroups);
                default:
                    throw new NotSupportedException(_plan.Norm.ToString());
            }
        }

        /// <summary>Channels of a norm layer from the plan's layer list (an instance norm has no weights to read them from).</summary>
        internal long ChannelsOf(string norm) =>
            _normChannels.Value.TryGetValue(norm, out var channels)
                ? channels
                : throw new InvalidOperationException($"{_plan.Name}: the plan has no norm layer '{norm}'");

        internal string InstanceNorm(string x, string name, Tensor? gamma, Tensor? beta, long channels) =>
            Graph.Node("InstanceNormalization", name, new[]
            {
                x,
                Floats(name + ".scale", gamma ?? ones(channels), channels),
                Floats(name + ".bias", beta ?? zeros(channels), channels),
            }, OnnxGraph.Float("epsilon", NormEps));

        /// <summary>GroupNorm: Reshape [B, G, -1] → InstanceNormalization → Reshape back → per-channel affine.</summary>
        internal string GroupNorm(string x, string norm, int groups)
        {
            var gamma = Weight(norm + ".weight");
            var beta = Weight(norm + ".bias");
            long channels = gamma.shape[0];
            if (groups == channels) return InstanceNorm(x, norm, gamma, beta, channels);
            string grouped = Graph.Node("Reshape", norm, new[] { x, Graph.Int64s(0, groups, -1) });
            string normalised = InstanceNorm(grouped, norm, null, null, groups);
            string back = Graph.Node("Reshape", norm, new[] { normalised, Graph.Node("Shape", norm, new[] { x }) });
            return Affine(back, norm, gamma, beta);
        }

        internal string LayerNorm(string x, string name, int channels) =>
            Graph.Node("LayerNormalization", name, new[]
            {
                x, Floats(name + ".weight", Weight(name + ".weight"), channels), Floats(name + ".bias", Weight(name + ".bias"), channels),
            }, OnnxGraph.Int("axis", -1), OnnxGraph.Float("epsilon", NormEps));

        /// <summary>x·s + t with per-channel s, t (axis 1), written as BatchNormalization with mean 0, variance 1
        /// and epsilon 0: ONNX Runtime runs that in its blocked (NCHWc) layout, where a Mul/Add pair would
        /// force a layout conversion.</summary>
        internal string Affine(string x, string name, Tensor scale, Tensor shift)
        {
            long channels = scale.shape[0];
            return Graph.Node("BatchNormalization", name, new[]
            {
                x, Floats(name + ".scale", scale, channels), Floats(name + ".shift", shift, channels),
                Floats(name + ".mean", zeros(channels), channels), Floats(name + ".var", ones(channels), channels),
            }, OnnxGraph.Float("epsilon", 0f));
        }

        internal string Linear(string x, string name, int inFeatures, int outFeatures)
        {
            string y = Graph.Node("MatMul", name, new[] { x, Floats(name + ".weight", Weight(name + ".weight").t(), inFeatures, outFeatures) });
            return Graph.Node("Add", name, new[] { y, Floats(name + ".bias", Weight(name + ".bias"), outFeatures) });
        }

        /// <summary>A built-in's convolution at <paramref name="name"/> with <paramref name="weight"/> (folded or merged, so
        /// passed in): the geometry of the module at that key where it is a convolution, else (a head's own weights, the
        /// LMS block's merged kernels) the built-ins' centred form of <paramref name="kernel"/> and <paramref name="groups"/>.</summary>
        internal string Conv(string x, string name, Tensor weight, Tensor? bias, int kernel, long groups)
        {
            if (Module(name) is not TorchSharp.Modules.Convolution module)
                return Conv(x, name, weight, bias, ConvolutionGeometry.Centered(_dims, kernel, groups));
            var geometry = ConvolutionGeometry.Of(module, name, _plan.Name);
            if (geometry.Kernel.Any(k => k != kernel) || geometry.Groups != groups)
                throw new InvalidOperationException($"ONNX export of {_plan.Name}: the writer of '{name}' gives kernel {kernel} and {groups} group(s), " +
                    $"its module has kernel {string.Join('x', geometry.Kernel)} and {geometry.Groups} group(s)");
            return Conv(x, name, weight, bias, geometry);
        }

        /// <summary>Every ONNX <c>Conv</c> node, built in or a block's own (<see cref="OnnxBlockContext.Conv"/>).</summary>
        internal string Conv(string x, string name, Tensor weight, Tensor? bias, ConvolutionGeometry geometry)
        {
            var inputs = new List<string> { x, Floats(name + ".weight", weight, weight.shape) };
            if (bias is not null) inputs.Add(Floats(name + ".bias", bias, bias.shape));
            return Graph.Node("Conv", name, inputs, geometry.Attributes());
        }

        internal string MaxPool(string x, string name) =>
            Graph.Node("MaxPool", name + ".pool", new[] { x },
                OnnxGraph.Ints("kernel_shape", Enumerable.Repeat(2L, _dims).ToArray()),
                OnnxGraph.Ints("strides", Enumerable.Repeat(2L, _dims).ToArray()));

        /// <summary>x2 up-sampling as Primitives.Upsample2x: (bi/tri)linear with align_corners=false is
        /// half_pixel; PyTorch's nearest is asymmetric + floor.</summary>
        internal string Upsample(string x, string name)
        {
            var scales = new float[] { 1, 1 }.Concat(Enumerable.Repeat(2f, _dims)).ToArray();
            string scalesName = Graph.Floats(name + ".scales", scales, scales.Length);
            var attributes = _plan.Upsample == Upsampling.Linear
                ? new[] { OnnxGraph.String("mode", "linear"), OnnxGraph.String("coordinate_transformation_mode", "half_pixel") }
                : new[]
                {
                    OnnxGraph.String("mode", "nearest"), OnnxGraph.String("coordinate_transformation_mode", "asymmetric"),
                    OnnxGraph.String("nearest_mode", "floor"),
                };
            return Graph.Node("Resize", name + ".upsample", new[] { x, "", scalesName }, attributes);
        }

        internal string Activate(string x, string name, Activation activation)
        {
            switch (activation)
            {
                case Activation.None:
                    return x;
                case Activation.ReLU:
                    return Graph.Node("Relu", name, new[] { x });
                case Activation.SiLU:
                    return Graph.Node("Mul", name + ".silu", new[] { x, Graph.Node("Sigmoid", name + ".silu", new[] { x }) });
                case Activation.GELU:
                    if (_options.Opset >= 20) return Graph.Node("Gelu", name, new[] { x }, OnnxGraph.String("approximate", "none"));
                    {
                        // 0.5·x·(1 + erf(x/√2)), the exact form (ORT fuses this pattern into its Gelu kernel)
                        string scaled = Graph.Node("Div", name + ".gelu", new[] { x, Scalar(name + ".sqrt2", MathF.Sqrt(2f)) });
                        string erf = Graph.Node("Erf", name + ".gelu", new[] { scaled });
                        string plusOne = Graph.Node("Add", name + ".gelu", new[] { erf, Scalar(name + ".one", 1f) });
                        string product = Graph.Node("Mul", name + ".gelu", new[] { x, plusOne });
                        return Graph.Node("Mul", name + ".gelu", new[] { product, Scalar(name + ".half", 0.5f) });
                    }
                default:
                    throw new ArgumentOutOfRangeException(nameof(activation));
            }
        }

        internal string Scalar(string name, float value) => Graph.FloatScalar(value);

        // ---- weights ------------------------------------------------------------------------------------

        internal bool HasWeight(string key) => _weights.ContainsKey(key);

        /// <summary>The network's submodule at <paramref name="path"/> (a state_dict prefix), or null.</summary>
        internal nn.Module? Module(string path) => _modules.TryGetValue(path, out var module) ? module : null;

        internal Tensor Weight(string key)
        {
            if (!_weights.TryGetValue(key, out var tensor))
                throw new InvalidOperationException($"ONNX export of {_plan.Name}: the state_dict has no '{key}'");
            _used.Add(key);
            return tensor.detach().to_type(ScalarType.Float32).cpu();
        }

        internal string Floats(string name, Tensor tensor, params long[] shape) =>
            Graph.Floats(name, tensor.contiguous().data<float>().ToArray(), shape);
    }
}
