using System;
using System.Collections.Generic;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Planning.Definitions;

/// <summary><c>gms</c>: global multiscale block — 3x3 and 1x1 conv-norm-SiLU, channels split into a sparse transformer
/// branch and a depthwise conv branch, fused (runtime: <c>GmsBlock</c> with <c>ConvBranch</c> and <c>TransformerLayer</c>).</summary>
public sealed class GmsBlock() : BlockDefinition(Declare())
{
    /// <summary>The reference's transformer fraction (96 of 128 and 48 of 64), used when a gms block gives neither split nor ratio.</summary>
    public const double DefaultRatio = 0.75;

    private static BlockDeclaration Declare() => BuiltInDeclaration.Of("gms", "GmsBlock",
        "Global multiscale (GMS) block: 3x3 and 1x1 conv-norm-SiLU, channels split into a sparse transformer branch (attention across " +
        "patches for each intra-patch offset) and a depthwise conv branch with residual; concat, 1x1, concat with the block input, 3x3.",
        BuiltInDeclaration.List("split",
            "[transformer, conv] channels of the two branches (they sum to the block's 1x1 width); a zero side drops that branch. Not with ratio.",
            2, 2, 0, 4096, null) with { Optional = true, NotWith = "ratio" },
        BuiltInDeclaration.Fraction("ratio", "Transformer fraction of the split, 0 to 1 (default 0.75). Not with split.")
            with { Optional = true, RangeReason = "it is the transformer fraction, between 0 and 1", SkeletonJson = "0.75" },
        BuiltInDeclaration.PerAxis("patch", "Patch size: one integer for every axis, or one per axis.", 1, 64, "2"),
        BuiltInDeclaration.Int("heads", "Attention heads.", 1, 64, "4"),
        BuiltInDeclaration.Int("head_dim", "Width of each attention head.", 1, 512, "8"),
        BuiltInDeclaration.Int("mlp", "Hidden width of the transformer's MLP. Default: 2 x the block's width.", 1, 65536, null) with { Optional = true },
        BuiltInDeclaration.Int("depth", "Transformer layers.", 1, 32, "1"));

    public override Type PlanType => typeof(GmsPlan);

    public override BlockPlan? Resolve(IPlanningContext context, DeclaredBlockSpec block, int inChannels, int width, int level)
    {
        int transformer, conv;
        var split = Value(block, "split");
        if (!split.IsAbsent)
        {
            transformer = split.Integers[0];
            conv = split.Integers[1];
            if (transformer + conv != width)
            {
                context.Report(DiagnosticKinds.SplitSum, split.Span,
                    $"split [{transformer}, {conv}] sums to {transformer + conv}, but this gms block outputs {width} channels " +
                    $"(the width of level {level}); the two parts must sum to {width}");
                return null;
            }
        }
        else
        {
            var ratio = Value(block, "ratio");
            transformer = (int)Math.Round((ratio.IsAbsent ? DefaultRatio : ratio.Number) * width, MidpointRounding.AwayFromZero);
            conv = width - transformer;
        }
        var patch = Value(block, "patch").Integers;
        // Each spatial size at this level must cut into whole patches (only the transformer branch unfolds).
        if (transformer > 0)
            for (int axis = 0; axis < context.Dims && axis < patch.Count; axis++)
                context.Require((1L << (level - 1)) * patch[axis], axis);
        var mlp = Value(block, "mlp");
        return new GmsPlan(inChannels, width, transformer, conv, patch, Value(block, "heads").Integer, Value(block, "head_dim").Integer,
            mlp.IsAbsent ? 2 * width : mlp.Integer, Value(block, "depth").Integer);
    }

    public override IEnumerable<Layer> Lower(LayerBuilder layers, BlockPlan plan, string o, Func<string> nextReference, int level) =>
        Lower(layers, (GmsPlan)plan, o, nextReference(), level);

    private static IEnumerable<Layer> Lower(LayerBuilder layers, GmsPlan g, string o, string r, int level)
    {
        int a = g.TransformerChannels, b = g.ConvChannels, inner = g.Heads * g.HeadDim;
        foreach (var layer in layers.ConvNorm(o + ".conv1", r + ".conv1.0", r + ".conv1.1", level, g.InChannels, g.OutChannels, 3, false))
            yield return layer;
        foreach (var layer in layers.ConvNorm(o + ".conv2", r + ".conv2.0", r + ".conv2.1", level, g.OutChannels, g.OutChannels, 1, false))
            yield return layer;
        if (b > 0)
        {
            // The conv branch keeps BatchNorm even where the network uses InstanceNorm (the reference's 3D code does).
            string suffix3 = layers.Dims == 3 ? "3x3x3" : "3x3", suffix1 = layers.Dims == 3 ? "1x1x1" : "1x1";
            yield return new ConvLayer(o + ".conv_branch.depthwise", $"{r}.conv_spilt.dwconv{suffix3}", level, b, b, 3, b, false);
            yield return new NormLayer(o + ".conv_branch.norm1", r + ".conv_spilt.bn1", level, NormLayerKind.Batch, b, false);
            yield return new ConvLayer(o + ".conv_branch.pointwise", $"{r}.conv_spilt.dwconv{suffix1}", level, b, b, 1, b, false);
            yield return new NormLayer(o + ".conv_branch.norm2", r + ".conv_spilt.bn2", level, NormLayerKind.Batch, b, false);
        }
        if (a > 0)
        {
            for (int l = 0; l < g.Depth; l++)
            {
                string t = $"{o}.transformer.{l}", rt = $"{r}.transformer.layers.{l}";
                yield return new NormLayer(t + ".attn_norm", rt + ".0.norm", level, NormLayerKind.Layer, a, false);
                yield return new LinearLayer(t + ".qkv", rt + ".0.to_qkv", level, a, 3 * inner, false);
                yield return new AttentionLayer(t + ".attention", level, g.Patch, g.Heads, g.HeadDim);
                yield return new LinearLayer(t + ".proj", rt + ".0.to_out.0", level, inner, a, true);
                yield return new NormLayer(t + ".ffn_norm", rt + ".1.net.0", level, NormLayerKind.Layer, a, false);
                yield return new LinearLayer(t + ".ffn1", rt + ".1.net.1", level, a, g.Mlp, true);
                yield return new LinearLayer(t + ".ffn2", rt + ".1.net.4", level, g.Mlp, a, true);
            }
        }
        foreach (var layer in layers.ConvNorm(o + ".conv3", r + ".conv3.0", r + ".conv3.1", level, g.OutChannels, g.OutChannels, 1, false))
            yield return layer;
        foreach (var layer in layers.ConvNorm(o + ".conv4", r + ".conv4.0", r + ".conv4.1", level, g.OutChannels + g.InChannels, g.OutChannels, 3, false))
            yield return layer;
    }

    public override IReadOnlyList<string> Arguments(BlockPlan plan, int dims)
    {
        var g = (GmsPlan)plan;
        return new[]
        {
            $"dims: {dims}", $"inChannels: {g.InChannels}", $"outChannels: {g.OutChannels}",
            $"transformerChannels: {g.TransformerChannels}", $"convChannels: {g.ConvChannels}", $"patch: {IntArray(g.Patch)}",
            $"heads: {g.Heads}", $"headDim: {g.HeadDim}", $"mlp: {g.Mlp}", $"depth: {g.Depth}", "norm: norm",
        };
    }
}
