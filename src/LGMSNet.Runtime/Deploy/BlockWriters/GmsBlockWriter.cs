using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy.BlockWriters;

/// <summary><c>gms</c> (<see cref="GmsBlock"/>) in ONNX: conv-norm pairs, the token unfold, transformer layers (Attention from opset 23), the conv branch, the fusing convolutions.</summary>
internal sealed class GmsBlockWriter : BuiltInBlockWriter<GmsPlan>
{
    protected override string Write(OnnxExporter.Writer w, GmsPlan plan, string o, string x) => Gms(w, plan, o, x);

    private static string Gms(OnnxExporter.Writer w, GmsPlan g, string o, string input)
    {
        string x = w.ConvNorm(input, o + ".conv1", 3, bias: false, Activation.SiLU);
        x = w.ConvNorm(x, o + ".conv2", 1, bias: false, Activation.SiLU);
        int a = g.TransformerChannels, b = g.ConvChannels;
        string? tokensPart = null, localPart = null;
        if (a > 0 && b > 0)
        {
            var halves = w.Graph.Nodes("Split", o + ".split", new[] { x, w.Graph.Int64s(a, b) }, 2, OnnxGraph.Int("axis", 1));
            (tokensPart, localPart) = (halves[0], halves[1]);
        }
        else if (a > 0) tokensPart = x;
        else localPart = x;

        var parts = new List<string>(2);
        if (tokensPart != null)
        {
            string tokens = Unfold(w, tokensPart, g, o);
            for (int l = 0; l < g.Depth; l++) tokens = TransformerLayer(w, tokens, g, $"{o}.transformer.{l}");
            parts.Add(FoldTokens(w, tokens, tokensPart, g, o));
        }
        if (localPart != null)
        {
            // depthwise 3x3 (+BN) → ReLU → depthwise 1x1 (+BN, a per-channel affine) → + input
            string c = o + ".conv_branch";
            var (dwWeight, dwBias) = w.FoldBatchNorm(w.Weight(c + ".depthwise.weight"), null, c + ".norm1");
            string y = w.Graph.Node("Relu", c, new[] { w.Conv(localPart, c + ".depthwise", dwWeight, dwBias, 3, b) });
            var (pwWeight, pwBias) = w.FoldBatchNorm(w.Weight(c + ".pointwise.weight"), null, c + ".norm2");
            y = w.Affine(y, c + ".pointwise", pwWeight.flatten(), pwBias);
            parts.Add(w.Graph.Node("Add", c + ".residual", new[] { y, localPart }));
        }
        string fused = parts.Count == 1 ? parts[0] : w.Graph.Node("Concat", o + ".branches", parts, OnnxGraph.Int("axis", 1));
        fused = w.ConvNorm(fused, o + ".conv3", 1, bias: false, Activation.SiLU);
        string joined = w.Graph.Node("Concat", o + ".conv4", new[] { fused, input }, OnnxGraph.Int("axis", 1));
        return w.ConvNorm(joined, o + ".conv4", 3, bias: false, Activation.SiLU);
    }

    /// <summary>[B, a, S1..Sd] → [B·P, N, a] (GmsBlock.Unfold with batch and sequence axes merged, which
    /// is what attention needs): sequence p = intra-patch offset, token n = patch-grid position.</summary>
    private static string Unfold(OnnxExporter.Writer w, string x, GmsPlan g, string o)
    {
        var parts = new List<string> { w.Graph.Int64s(0, g.TransformerChannels) };
        var grids = new List<string>();
        for (int axis = 0; axis < w.Dims; axis++)
        {
            grids.Add(GridSize(w, x, axis, g.Patch[axis], o));
            parts.Add(grids[^1]);
            parts.Add(w.Graph.Int64s(g.Patch[axis]));
        }
        string shape = w.Graph.Node("Concat", o + ".unfold_shape", parts, OnnxGraph.Int("axis", 0));
        string split = w.Graph.Node("Reshape", o + ".unfold", new[] { x, shape });
        var order = new List<long> { 0 };
        for (int axis = 0; axis < w.Dims; axis++) order.Add(3 + 2 * axis);
        for (int axis = 0; axis < w.Dims; axis++) order.Add(2 + 2 * axis);
        order.Add(1);
        string moved = w.Graph.Node("Transpose", o + ".unfold", new[] { split }, OnnxGraph.Ints("perm", order.ToArray()));
        string tokens = grids[0];
        for (int axis = 1; axis < w.Dims; axis++) tokens = w.Graph.Node("Mul", o + ".tokens", new[] { tokens, grids[axis] });
        string target = w.Graph.Node("Concat", o + ".unfold_shape", new[] { w.Graph.Int64s(-1), tokens, w.Graph.Int64s(g.TransformerChannels) },
            OnnxGraph.Int("axis", 0));
        return w.Graph.Node("Reshape", o + ".unfold", new[] { moved, target });
    }

    /// <summary>The inverse of <see cref="Unfold"/>, back to the shape of <paramref name="like"/>.</summary>
    private static string FoldTokens(OnnxExporter.Writer w, string tokens, string like, GmsPlan g, string o)
    {
        var parts = new List<string> { w.Graph.Int64s(new long[] { -1 }.Concat(g.Patch.Select(p => (long)p)).ToArray()) };
        for (int axis = 0; axis < w.Dims; axis++) parts.Add(GridSize(w, like, axis, g.Patch[axis], o));
        parts.Add(w.Graph.Int64s(g.TransformerChannels));
        string shape = w.Graph.Node("Concat", o + ".fold_shape", parts, OnnxGraph.Int("axis", 0));
        string split = w.Graph.Node("Reshape", o + ".fold", new[] { tokens, shape });
        var order = new List<long> { 0, 2 * w.Dims + 1 };
        for (int axis = 0; axis < w.Dims; axis++)
        {
            order.Add(w.Dims + 1 + axis);
            order.Add(1 + axis);
        }
        string moved = w.Graph.Node("Transpose", o + ".fold", new[] { split }, OnnxGraph.Ints("perm", order.ToArray()));
        return w.Graph.Node("Reshape", o + ".fold", new[] { moved, w.Graph.Node("Shape", o + ".fold", new[] { like }) });
    }

    /// <summary>Spatial size of axis <paramref name="axis"/> divided by the patch size, as a 1-element int64 tensor.</summary>
    private static string GridSize(OnnxExporter.Writer w, string x, int axis, int patch, string o)
    {
        string size = w.Graph.Node("Shape", o + ".grid", new[] { x }, OnnxGraph.Int("start", 2 + axis), OnnxGraph.Int("end", 3 + axis));
        return patch == 1 ? size : w.Graph.Node("Div", o + ".grid", new[] { size, w.Graph.Int64s(patch) });
    }

    /// <summary>x + proj(attention(LN(x))), then x + ffn2(SiLU(ffn1(LN(x)))), on [B·P, N, a]. From opset 23
    /// the attention is ONNX's Attention operator; before, MatMul → Softmax → MatMul per head.</summary>
    private static string TransformerLayer(OnnxExporter.Writer w, string x, GmsPlan g, string t)
    {
        int a = g.TransformerChannels, h = g.Heads, d = g.HeadDim, inner = h * d;
        string normed = w.LayerNorm(x, t + ".attn_norm", a);
        var qkv = w.Weight(t + ".qkv.weight"); // [3·h·d, a]: q, k, v row blocks; head i uses rows i·d..(i+1)·d of each
        bool fused = w.Options.Opset >= 23;
        // scaled_dot_product_attention's scale 1/√d: the Attention operator's default, otherwise folded into q.
        var q = fused ? qkv.narrow(0, 0, inner) : qkv.narrow(0, 0, inner).Times(1.0 / Math.Sqrt(d));
        var k = qkv.narrow(0, inner, inner);
        var v = qkv.narrow(0, 2 * inner, inner);
        string Project(Tensor weight, string name) => w.Graph.Node("MatMul", t + "." + name, new[] { normed, w.Floats(t + "." + name, weight.t(), a, inner) });
        string attended;
        if (fused)
        {
            attended = w.Graph.Node("Attention", t + ".attention", new[] { Project(q, "q"), Project(k, "k"), Project(v, "v") },
                OnnxGraph.Int("q_num_heads", h), OnnxGraph.Int("kv_num_heads", h));
        }
        else
        {
            string heads = w.Graph.Int64s(0, 0, h, d);
            string Heads(string y, string name, long[] perm) =>
                w.Graph.Node("Transpose", t + "." + name, new[] { w.Graph.Node("Reshape", t + "." + name, new[] { y, heads }) }, OnnxGraph.Ints("perm", perm));
            string query = Heads(Project(q, "q"), "q", new long[] { 0, 2, 1, 3 }); // [BP, h, N, d]
            string key = Heads(Project(k, "k"), "k", new long[] { 0, 2, 3, 1 });   // [BP, h, d, N]
            string value = Heads(Project(v, "v"), "v", new long[] { 0, 2, 1, 3 }); // [BP, h, N, d]
            string scores = w.Graph.Node("MatMul", t + ".scores", new[] { query, key });
            string weights = w.Graph.Node("Softmax", t + ".softmax", new[] { scores }, OnnxGraph.Int("axis", -1));
            attended = w.Graph.Node("MatMul", t + ".attend", new[] { weights, value });
            attended = w.Graph.Node("Transpose", t + ".merge", new[] { attended }, OnnxGraph.Ints("perm", 0, 2, 1, 3));
            attended = w.Graph.Node("Reshape", t + ".merge", new[] { attended, w.Graph.Int64s(0, 0, inner) });
        }
        x = w.Graph.Node("Add", t + ".residual1", new[] { w.Linear(attended, t + ".proj", inner, a), x });

        string f = w.LayerNorm(x, t + ".ffn_norm", a);
        f = w.Activate(w.Linear(f, t + ".ffn1", a, g.Mlp), t + ".ffn1", Activation.SiLU);
        f = w.Linear(f, t + ".ffn2", g.Mlp, a);
        return w.Graph.Node("Add", t + ".residual2", new[] { f, x });
    }
}
