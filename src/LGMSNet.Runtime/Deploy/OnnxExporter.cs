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
    private sealed class Writer
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

        private string Block(BlockPlan block, string o, string x) => block switch
        {
            StemPlan => ConvNorm(x, o, 3, bias: true, Activation.ReLU),
            UpConvPlan => ConvNorm(Upsample(x, o), o, 3, bias: true, Activation.ReLU),
            HeadPlan => Conv(x, o, Weight(o + ".weight"), Weight(o + ".bias"), 1, 1),
            LmsUnitPlan lms => LmsUnit(lms, o, x),
            GmsPlan gms => Gms(gms, o, x),
            FusionPlan => Fusion(o, x),
            DoubleConvPlan => DoubleConv(o, x),
            CustomBlockPlan custom => Custom(custom, o, x),
            _ => throw new NotSupportedException($"ONNX export has no rule for {block.GetType().Name} ({o})"),
        };

        // ---- blocks -------------------------------------------------------------------------------------

        /// <summary>A user block writes itself (<see cref="IOnnxBlock"/>); one that cannot is refused by name.</summary>
        private string Custom(CustomBlockPlan block, string o, string x)
        {
            var declaration = block.Declaration;
            if (!_modules.TryGetValue(o, out var module) || module is not IOnnxBlock exportable)
                throw new IO.UserErrorException(
                    $"cannot export {_plan.Name} to ONNX: its block '{declaration.Keyword}' ({declaration.DisplayType}, at {o}) does not say how to export itself. " +
                    $"Implement LGMSNet.Runtime.Deploy.IOnnxBlock on {declaration.DisplayType} (README, \"Write your own block\"); nothing was written", 2);
            return exportable.ExportOnnx(new OnnxBlockContext(Graph, o, _dims, _options.Opset, Weight, key => _weights.ContainsKey(key)), x);
        }

        private string LmsUnit(LmsUnitPlan lms, string o, string x)
        {
            for (int d = 0; d < lms.Depth; d++) x = LmsBlock(lms, $"{o}.blocks.{d}", x);
            return ConvNorm(x, o + ".project", 1, bias: false, Activation.SiLU);
        }

        /// <summary>dwconv (merged, includes the first residual) → GroupNorm → GELU → reduce → expand → + x.</summary>
        private string LmsBlock(LmsUnitPlan lms, string o, string x)
        {
            int n = lms.Kernels.Count;
            var weights = Enumerable.Range(0, n).Select(i => Weight($"{o}.dwconv.{i}.weight")).ToArray();
            var biases = Enumerable.Range(0, n).Select(i => Weight($"{o}.dwconv.{i}.bias")).ToArray();
            string y;
            if (_options.MergeLmsKernels)
            {
                var (weight, bias) = MergeDepthwise(weights, biases, lms.Kernels.ToArray());
                y = Conv(x, o + ".dwconv", weight, bias, lms.Kernels.Max(), lms.InChannels);
            }
            else
            {
                long slice = lms.InChannels / n;
                var parts = Graph.Nodes("Split", o + ".dwconv", new[] { x, Graph.Int64s(Enumerable.Repeat(slice, n).ToArray()) }, n, OnnxGraph.Int("axis", 1));
                var convolved = parts.Select((p, i) => Conv(p, $"{o}.dwconv.{i}", weights[i], biases[i], lms.Kernels[i], slice)).ToArray();
                y = Graph.Node("Add", o + ".residual1", new[] { Graph.Node("Concat", o + ".dwconv", convolved, OnnxGraph.Int("axis", 1)), x });
            }
            y = Activate(GroupNorm(y, o + ".norm", lms.Groups), o + ".norm", Activation.GELU);
            y = ConvNorm(y, o + ".reduce", 1, bias: false, Activation.SiLU);
            y = ConvNorm(y, o + ".expand", 3, bias: false, Activation.SiLU);
            return Graph.Node("Add", o + ".residual2", new[] { y, x });
        }

        /// <summary>LmsBlock.FuseForInference's merge: kernels zero-padded to the largest size and centred,
        /// +1 on the centre tap for the residual, biases concatenated.</summary>
        private (Tensor Weight, Tensor Bias) MergeDepthwise(Tensor[] weights, Tensor[] biases, int[] kernels)
        {
            int largest = kernels.Max();
            long slice = weights[0].shape[0], channels = slice * kernels.Length;
            var shape = new List<long> { channels, 1 };
            shape.AddRange(Enumerable.Repeat((long)largest, _dims));
            var merged = zeros(shape.ToArray(), dtype: ScalarType.Float32);
            for (int i = 0; i < kernels.Length; i++)
            {
                int offset = (largest - kernels[i]) / 2;
                var target = merged.narrow(0, i * slice, slice);
                for (int axis = 0; axis < _dims; axis++) target = target.narrow(2 + axis, offset, kernels[i]);
                target.copy_(weights[i]);
            }
            var centre = merged;
            for (int axis = 0; axis < _dims; axis++) centre = centre.narrow(2 + axis, largest / 2, 1);
            centre.add_(SafeOps.One, SafeOps.One);
            return (merged, torch.cat(biases, 0));
        }

        private string Gms(GmsPlan g, string o, string input)
        {
            string x = ConvNorm(input, o + ".conv1", 3, bias: false, Activation.SiLU);
            x = ConvNorm(x, o + ".conv2", 1, bias: false, Activation.SiLU);
            int a = g.TransformerChannels, b = g.ConvChannels;
            string? tokensPart = null, localPart = null;
            if (a > 0 && b > 0)
            {
                var halves = Graph.Nodes("Split", o + ".split", new[] { x, Graph.Int64s(a, b) }, 2, OnnxGraph.Int("axis", 1));
                (tokensPart, localPart) = (halves[0], halves[1]);
            }
            else if (a > 0) tokensPart = x;
            else localPart = x;

            var parts = new List<string>(2);
            if (tokensPart != null)
            {
                string tokens = Unfold(tokensPart, g, o);
                for (int l = 0; l < g.Depth; l++) tokens = TransformerLayer(tokens, g, $"{o}.transformer.{l}");
                parts.Add(FoldTokens(tokens, tokensPart, g, o));
            }
            if (localPart != null)
            {
                // depthwise 3x3 (+BN) → ReLU → depthwise 1x1 (+BN, a per-channel affine) → + input
                string c = o + ".conv_branch";
                var (dwWeight, dwBias) = FoldBatchNorm(Weight(c + ".depthwise.weight"), null, c + ".norm1");
                string y = Graph.Node("Relu", c, new[] { Conv(localPart, c + ".depthwise", dwWeight, dwBias, 3, b) });
                var (pwWeight, pwBias) = FoldBatchNorm(Weight(c + ".pointwise.weight"), null, c + ".norm2");
                y = Affine(y, c + ".pointwise", pwWeight.flatten(), pwBias);
                parts.Add(Graph.Node("Add", c + ".residual", new[] { y, localPart }));
            }
            string fused = parts.Count == 1 ? parts[0] : Graph.Node("Concat", o + ".branches", parts, OnnxGraph.Int("axis", 1));
            fused = ConvNorm(fused, o + ".conv3", 1, bias: false, Activation.SiLU);
            string joined = Graph.Node("Concat", o + ".conv4", new[] { fused, input }, OnnxGraph.Int("axis", 1));
            return ConvNorm(joined, o + ".conv4", 3, bias: false, Activation.SiLU);
        }

        /// <summary>[B, a, S1..Sd] → [B·P, N, a] (GmsBlock.Unfold with batch and sequence axes merged, which
        /// is what attention needs): sequence p = intra-patch offset, token n = patch-grid position.</summary>
        private string Unfold(string x, GmsPlan g, string o)
        {
            var parts = new List<string> { Graph.Int64s(0, g.TransformerChannels) };
            var grids = new List<string>();
            for (int axis = 0; axis < _dims; axis++)
            {
                grids.Add(GridSize(x, axis, g.Patch[axis], o));
                parts.Add(grids[^1]);
                parts.Add(Graph.Int64s(g.Patch[axis]));
            }
            string shape = Graph.Node("Concat", o + ".unfold_shape", parts, OnnxGraph.Int("axis", 0));
            string split = Graph.Node("Reshape", o + ".unfold", new[] { x, shape });
            var order = new List<long> { 0 };
            for (int axis = 0; axis < _dims; axis++) order.Add(3 + 2 * axis);
            for (int axis = 0; axis < _dims; axis++) order.Add(2 + 2 * axis);
            order.Add(1);
            string moved = Graph.Node("Transpose", o + ".unfold", new[] { split }, OnnxGraph.Ints("perm", order.ToArray()));
            string tokens = grids[0];
            for (int axis = 1; axis < _dims; axis++) tokens = Graph.Node("Mul", o + ".tokens", new[] { tokens, grids[axis] });
            string target = Graph.Node("Concat", o + ".unfold_shape", new[] { Graph.Int64s(-1), tokens, Graph.Int64s(g.TransformerChannels) },
                OnnxGraph.Int("axis", 0));
            return Graph.Node("Reshape", o + ".unfold", new[] { moved, target });
        }

        /// <summary>The inverse of <see cref="Unfold"/>, back to the shape of <paramref name="like"/>.</summary>
        private string FoldTokens(string tokens, string like, GmsPlan g, string o)
        {
            var parts = new List<string> { Graph.Int64s(new long[] { -1 }.Concat(g.Patch.Select(p => (long)p)).ToArray()) };
            for (int axis = 0; axis < _dims; axis++) parts.Add(GridSize(like, axis, g.Patch[axis], o));
            parts.Add(Graph.Int64s(g.TransformerChannels));
            string shape = Graph.Node("Concat", o + ".fold_shape", parts, OnnxGraph.Int("axis", 0));
            string split = Graph.Node("Reshape", o + ".fold", new[] { tokens, shape });
            var order = new List<long> { 0, 2 * _dims + 1 };
            for (int axis = 0; axis < _dims; axis++)
            {
                order.Add(_dims + 1 + axis);
                order.Add(1 + axis);
            }
            string moved = Graph.Node("Transpose", o + ".fold", new[] { split }, OnnxGraph.Ints("perm", order.ToArray()));
            return Graph.Node("Reshape", o + ".fold", new[] { moved, Graph.Node("Shape", o + ".fold", new[] { like }) });
        }

        /// <summary>Spatial size of axis <paramref name="axis"/> divided by the patch size, as a 1-element int64 tensor.</summary>
        private string GridSize(string x, int axis, int patch, string o)
        {
            string size = Graph.Node("Shape", o + ".grid", new[] { x }, OnnxGraph.Int("start", 2 + axis), OnnxGraph.Int("end", 3 + axis));
            return patch == 1 ? size : Graph.Node("Div", o + ".grid", new[] { size, Graph.Int64s(patch) });
        }

        /// <summary>x + proj(attention(LN(x))), then x + ffn2(SiLU(ffn1(LN(x)))), on [B·P, N, a]. From opset 23
        /// the attention is ONNX's Attention operator; before, MatMul → Softmax → MatMul per head.</summary>
        private string TransformerLayer(string x, GmsPlan g, string t)
        {
            int a = g.TransformerChannels, h = g.Heads, d = g.HeadDim, inner = h * d;
            string normed = LayerNorm(x, t + ".attn_norm", a);
            var qkv = Weight(t + ".qkv.weight"); // [3·h·d, a]: q, k, v row blocks; head i uses rows i·d..(i+1)·d of each
            bool fused = _options.Opset >= 23;
            // scaled_dot_product_attention's scale 1/√d: the Attention operator's default, otherwise folded into q.
            var q = fused ? qkv.narrow(0, 0, inner) : qkv.narrow(0, 0, inner).Times(1.0 / Math.Sqrt(d));
            var k = qkv.narrow(0, inner, inner);
            var v = qkv.narrow(0, 2 * inner, inner);
            string Project(Tensor w, string name) => Graph.Node("MatMul", t + "." + name, new[] { normed, Floats(t + "." + name, w.t(), a, inner) });
            string attended;
            if (fused)
            {
                attended = Graph.Node("Attention", t + ".attention", new[] { Project(q, "q"), Project(k, "k"), Project(v, "v") },
                    OnnxGraph.Int("q_num_heads", h), OnnxGraph.Int("kv_num_heads", h));
            }
            else
            {
                string heads = Graph.Int64s(0, 0, h, d);
                string Heads(string y, string name, long[] perm) =>
                    Graph.Node("Transpose", t + "." + name, new[] { Graph.Node("Reshape", t + "." + name, new[] { y, heads }) }, OnnxGraph.Ints("perm", perm));
                string query = Heads(Project(q, "q"), "q", new long[] { 0, 2, 1, 3 }); // [BP, h, N, d]
                string key = Heads(Project(k, "k"), "k", new long[] { 0, 2, 3, 1 });   // [BP, h, d, N]
                string value = Heads(Project(v, "v"), "v", new long[] { 0, 2, 1, 3 }); // [BP, h, N, d]
                string scores = Graph.Node("MatMul", t + ".scores", new[] { query, key });
                string weights = Graph.Node("Softmax", t + ".softmax", new[] { scores }, OnnxGraph.Int("axis", -1));
                attended = Graph.Node("MatMul", t + ".attend", new[] { weights, value });
                attended = Graph.Node("Transpose", t + ".merge", new[] { attended }, OnnxGraph.Ints("perm", 0, 2, 1, 3));
                attended = Graph.Node("Reshape", t + ".merge", new[] { attended, Graph.Int64s(0, 0, inner) });
            }
            x = Graph.Node("Add", t + ".residual1", new[] { Linear(attended, t + ".proj", inner, a), x });

            string f = LayerNorm(x, t + ".ffn_norm", a);
            f = Activate(Linear(f, t + ".ffn1", a, g.Mlp), t + ".ffn1", Activation.SiLU);
            f = Linear(f, t + ".ffn2", g.Mlp, a);
            return Graph.Node("Add", t + ".residual2", new[] { f, x });
        }

        /// <summary>grouped 3x3 → GELU → norm1 → 1x1 → GELU → norm2 → 1x1 → GELU → norm3; with BatchNorm,
        /// norm1 and norm2 fold into the next 1x1 convolution (FusionBlock.FuseForInference).</summary>
        private string Fusion(string o, string x)
        {
            var w1 = Weight(o + ".conv1.weight");
            var w2 = Weight(o + ".conv2.weight");
            var w3 = Weight(o + ".conv3.weight");
            var b1 = Weight(o + ".conv1.bias");
            var b2 = Weight(o + ".conv2.bias");
            var b3 = Weight(o + ".conv3.bias");
            string y = Activate(Conv(x, o + ".conv1", w1, b1, 3, 2), o + ".conv1", Activation.GELU);
            if (_plan.Norm == NormKind.Batch)
            {
                (w2, b2) = FoldIntoNext(o + ".norm1", w2, b2);
                (w3, b3) = FoldIntoNext(o + ".norm2", w3, b3);
            }
            else y = Norm(y, o + ".norm1");
            y = Activate(Conv(y, o + ".conv2", w2, b2, 1, 1), o + ".conv2", Activation.GELU);
            if (_plan.Norm != NormKind.Batch) y = Norm(y, o + ".norm2");
            y = Activate(Conv(y, o + ".conv3", w3, b3, 1, 1), o + ".conv3", Activation.GELU);
            return Norm(y, o + ".norm3");
        }

        private string DoubleConv(string o, string x)
        {
            x = ConvNorm(x, o + ".conv1", o + ".norm1", 3, bias: true, Activation.ReLU);
            return ConvNorm(x, o + ".conv2", o + ".norm2", 3, bias: true, Activation.ReLU);
        }

        // ---- layers -------------------------------------------------------------------------------------

        private string ConvNorm(string x, string o, int kernel, bool bias, Activation activation) =>
            ConvNorm(x, o + ".conv", o + ".norm", kernel, bias, activation);

        /// <summary>conv → network norm (BatchNorm folded into the convolution) → activation.</summary>
        private string ConvNorm(string x, string conv, string norm, int kernel, bool bias, Activation activation)
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
        private (Tensor Weight, Tensor Bias) FoldBatchNorm(Tensor weight, Tensor? bias, string norm) =>
            BatchNormFolding.Preceding(weight, bias, BatchNormAffine(norm));

        /// <summary>An affine map before a 1x1 convolution folds into it (<see cref="BatchNormFolding.Following"/>).</summary>
        private (Tensor Weight, Tensor Bias) FoldIntoNext(string norm, Tensor next, Tensor bias) =>
            BatchNormFolding.Following(BatchNormAffine(norm), next, bias);

        private (Tensor Scale, Tensor Shift) BatchNormAffine(string norm)
        {
            if (!_modules.TryGetValue(norm, out var module) || module is not BatchNormLayer batchNorm)
                throw new InvalidOperationException($"{_plan.Name}: expected a BatchNorm at '{norm}'");
            foreach (var suffix in new[] { ".weight", ".bias", ".running_mean", ".running_var" }) Weight(norm + suffix);
            var (scale, shift) = BatchNormFolding.Affine(batchNorm);
            return (scale.to_type(ScalarType.Float32), shift.to_type(ScalarType.Float32));
        }

        /// <summary>The network's norm as a separate operator (BatchNorm: a per-channel affine).</summary>
        private string Norm(string x, string norm)
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
        private long ChannelsOf(string norm) =>
            _normChannels.Value.TryGetValue(norm, out var channels)
                ? channels
                : throw new InvalidOperationException($"{_plan.Name}: the plan has no norm layer '{norm}'");

        private string InstanceNorm(string x, string name, Tensor? gamma, Tensor? beta, long channels) =>
            Graph.Node("InstanceNormalization", name, new[]
            {
                x,
                Floats(name + ".scale", gamma ?? ones(channels), channels),
                Floats(name + ".bias", beta ?? zeros(channels), channels),
            }, OnnxGraph.Float("epsilon", NormEps));

        /// <summary>GroupNorm: Reshape [B, G, -1] → InstanceNormalization → Reshape back → per-channel affine.</summary>
        private string GroupNorm(string x, string norm, int groups)
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

        private string LayerNorm(string x, string name, int channels) =>
            Graph.Node("LayerNormalization", name, new[]
            {
                x, Floats(name + ".weight", Weight(name + ".weight"), channels), Floats(name + ".bias", Weight(name + ".bias"), channels),
            }, OnnxGraph.Int("axis", -1), OnnxGraph.Float("epsilon", NormEps));

        /// <summary>x·s + t with per-channel s, t (axis 1), written as BatchNormalization with mean 0, variance 1
        /// and epsilon 0: ONNX Runtime runs that in its blocked (NCHWc) layout, where a Mul/Add pair would
        /// force a layout conversion.</summary>
        private string Affine(string x, string name, Tensor scale, Tensor shift)
        {
            long channels = scale.shape[0];
            return Graph.Node("BatchNormalization", name, new[]
            {
                x, Floats(name + ".scale", scale, channels), Floats(name + ".shift", shift, channels),
                Floats(name + ".mean", zeros(channels), channels), Floats(name + ".var", ones(channels), channels),
            }, OnnxGraph.Float("epsilon", 0f));
        }

        private string Linear(string x, string name, int inFeatures, int outFeatures)
        {
            string y = Graph.Node("MatMul", name, new[] { x, Floats(name + ".weight", Weight(name + ".weight").t(), inFeatures, outFeatures) });
            return Graph.Node("Add", name, new[] { y, Floats(name + ".bias", Weight(name + ".bias"), outFeatures) });
        }

        private string Conv(string x, string name, Tensor weight, Tensor? bias, int kernel, long groups)
        {
            var inputs = new List<string> { x, Floats(name + ".weight", weight, weight.shape) };
            if (bias is not null) inputs.Add(Floats(name + ".bias", bias, bias.shape));
            long pad = kernel / 2;
            return Graph.Node("Conv", name, inputs,
                OnnxGraph.Ints("kernel_shape", Enumerable.Repeat((long)kernel, _dims).ToArray()),
                OnnxGraph.Ints("pads", Enumerable.Repeat(pad, 2 * _dims).ToArray()),
                OnnxGraph.Ints("strides", Enumerable.Repeat(1L, _dims).ToArray()),
                OnnxGraph.Int("group", groups));
        }

        private string MaxPool(string x, string name) =>
            Graph.Node("MaxPool", name + ".pool", new[] { x },
                OnnxGraph.Ints("kernel_shape", Enumerable.Repeat(2L, _dims).ToArray()),
                OnnxGraph.Ints("strides", Enumerable.Repeat(2L, _dims).ToArray()));

        /// <summary>x2 up-sampling as Primitives.Upsample2x: (bi/tri)linear with align_corners=false is
        /// half_pixel; PyTorch's nearest is asymmetric + floor.</summary>
        private string Upsample(string x, string name)
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

        private string Activate(string x, string name, Activation activation)
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

        private string Scalar(string name, float value) => Graph.FloatScalar(value);

        // ---- weights ------------------------------------------------------------------------------------

        private Tensor Weight(string key)
        {
            if (!_weights.TryGetValue(key, out var tensor))
                throw new InvalidOperationException($"ONNX export of {_plan.Name}: the state_dict has no '{key}'");
            _used.Add(key);
            return tensor.detach().to_type(ScalarType.Float32).cpu();
        }

        private string Floats(string name, Tensor tensor, params long[] shape) =>
            Graph.Floats(name, tensor.contiguous().data<float>().ToArray(), shape);
    }
}
