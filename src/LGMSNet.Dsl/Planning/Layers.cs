using System;
using System.Collections.Generic;
using System.Linq;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Planning;

public enum NormLayerKind { Batch, Instance, Group, Layer }

/// <summary>A primitive layer of the network with its state_dict prefix in our layout
/// (<see cref="Name"/>) and in the authors' PyTorch layout (<see cref="ReferenceName"/>).
/// Parameter counts, multiply-adds and the weight key map are all derived from these, so the
/// three cannot disagree; a test checks them against the modules TorchSharp builds.</summary>
public abstract record Layer(string Name, string ReferenceName, int Level);

public sealed record ConvLayer(string Name, string ReferenceName, int Level, int In, int Out, int Kernel, int Groups, bool Bias)
    : Layer(Name, ReferenceName, Level);

public sealed record NormLayer(string Name, string ReferenceName, int Level, NormLayerKind Kind, int Channels, bool IsNetworkNorm)
    : Layer(Name, ReferenceName, Level);

public sealed record LinearLayer(string Name, string ReferenceName, int Level, int In, int Out, bool Bias)
    : Layer(Name, ReferenceName, Level);

/// <summary>softmax(q·kᵀ/√d)·v inside each of the patch-offset sequences (no parameters).</summary>
public sealed record AttentionLayer(string Name, int Level, EquatableArray<int> Patch, int Heads, int HeadDim)
    : Layer(Name, Name, Level);

/// <summary>A user block's module at <see cref="Layer.Name"/>: the compiler does not see inside it, so its tensors are
/// read from the built module (<c>WeightLayout</c>), its parameters counted there, its multiply-adds asked of the block.</summary>
public sealed record OpaqueLayer(string Name, string ReferenceName, int Level, CustomBlockPlan Block)
    : Layer(Name, ReferenceName, Level);

/// <summary>The layers of every block, as the compiler counts them without TorchSharp: a second
/// description of each runtime block (src/LGMSNet.Runtime/Blocks), one entry per pair —
/// <list type="table">
/// <listheader><term>block plan (lowered by)</term><description>runtime module</description></listheader>
/// <item><term><see cref="StemPlan"/>, and the CBS pairs inside LMS and GMS blocks (<c>ConvNorm</c>)</term><description><c>ConvNormAct</c></description></item>
/// <item><term><see cref="LmsUnitPlan"/> (<c>Block</c>; each LMS block: <c>Lms</c>)</term><description><c>LmsUnit</c>, <c>LmsBlock</c></description></item>
/// <item><term><see cref="GmsPlan"/> (<c>Gms</c>)</term><description><c>GmsBlock</c> with <c>ConvBranch</c> and <c>TransformerLayer</c></description></item>
/// <item><term><see cref="FusionPlan"/> (<c>Fusion</c>)</term><description><c>FusionBlock</c></description></item>
/// <item><term><see cref="DoubleConvPlan"/> (<c>Block</c>)</term><description><c>DoubleConv</c></description></item>
/// <item><term><see cref="UpConvPlan"/> (<c>Of</c>, role Up)</term><description><c>UpConv</c></description></item>
/// <item><term><see cref="HeadPlan"/> (<c>Of</c>, role Head)</term><description><c>ConvHead</c></description></item>
/// </list>
/// Each runtime block's doc points back here. A change to either side must keep them in agreement, which
/// <c>GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to</c>
/// (tests/LGMSNet.Compiler.Tests) checks: for every block type, norm kind and up-sampling mode, the
/// state_dict TorchSharp builds equals <see cref="KeyMap"/>'s (names, shapes, parameter or buffer).</summary>
public static class Layers
{
    /// <summary>The reference's names of the LMS depthwise convolutions, by kernel position.</summary>
    private static readonly string[] ReferenceDepthwiseNames = { "local_dwc", "global_dwc_s", "global_dwc_m", "global_dwc_l" };

    public static IEnumerable<Layer> Of(NetworkPlan plan) => plan.Stages.SelectMany(s => Of(plan, s));

    public static IEnumerable<Layer> Of(NetworkPlan plan, StagePlan stage)
    {
        var lowering = new Lowering(plan.Dims, plan.Norm);
        switch (stage.Role)
        {
            case StageRole.Stem:
                return lowering.ConvNorm(stage.Name, "stem.conv.0", "stem.conv.1", 1, stage.InChannels, stage.OutChannels, 3, bias: true,
                    convName: "stem.conv", normName: "stem.norm");
            case StageRole.Up:
                return lowering.ConvNorm(stage.Name, stage.ReferenceName + ".up.1", stage.ReferenceName + ".up.2", stage.Level,
                    stage.InChannels, stage.OutChannels, 3, bias: true, convName: stage.Name + ".conv", normName: stage.Name + ".norm");
            case StageRole.Head:
                return new Layer[] { new ConvLayer(stage.Name, stage.ReferenceName, 1, stage.InChannels, stage.OutChannels, 1, 1, true) };
            default:
                return lowering.Stage(stage);
        }
    }

    /// <summary>The layers of one block on its own, with our names under <paramref name="prefix"/> and the
    /// reference's under <paramref name="referencePrefix"/>. An LMS unit is lowered as the bare LMS
    /// block (the authors' CMUNeXtBlock_MK_resiual2), without its 1x1 projection.</summary>
    public static IEnumerable<Layer> OfBlock(int dims, NormKind norm, BlockPlan block, string prefix, string referencePrefix)
    {
        var lowering = new Lowering(dims, norm);
        return block is LmsUnitPlan lms
            ? lowering.Lms(lms, prefix, referencePrefix, 1)
            : lowering.Block(block, prefix, () => referencePrefix, 1);
    }

    /// <summary>Channel counts normalised by the network-wide norm inside one block (for norm: group checks).</summary>
    public static IEnumerable<int> NormalizedChannels(BlockPlan block)
    {
        var lowering = new Lowering(2, NormKind.Group);
        return lowering.Block(block, "b", () => "b", 1).OfType<NormLayer>().Where(n => n.IsNetworkNorm).Select(n => n.Channels);
    }

    private sealed class Lowering
    {
        private readonly int _dims;
        private readonly NormKind _norm;

        public Lowering(int dims, NormKind norm)
        {
            _dims = dims;
            _norm = norm;
        }

        public IEnumerable<Layer> Stage(StagePlan stage)
        {
            // The reference builds a stage as an nn.Sequential of modules; an LMS unit contributes
            // its LMS blocks and its 1x1 projection as separate entries. Encoder stages are always
            // Sequential; a decoder stage with a single module is that module itself (Up_conv5).
            int flat = stage.Blocks.Sum(b => b is LmsUnitPlan lms ? lms.Depth + 1 : 1);
            bool indexed = stage.Role == StageRole.Encoder || flat > 1;
            int index = 0;
            string NextReference() => indexed ? $"{stage.ReferenceName}.{index++}" : stage.ReferenceName;

            var layers = new List<Layer>();
            for (int i = 0; i < stage.Blocks.Count; i++)
            {
                string name = stage.Blocks.Count == 1 ? stage.Name : $"{stage.Name}.{i}";
                layers.AddRange(Block(stage.Blocks[i], name, NextReference, stage.Level));
            }
            return layers;
        }

        public IEnumerable<Layer> Block(BlockPlan block, string o, Func<string> nextReference, int level)
        {
            switch (block)
            {
                case LmsUnitPlan lms:
                    {
                        var layers = new List<Layer>();
                        for (int d = 0; d < lms.Depth; d++)
                            layers.AddRange(Lms(lms, $"{o}.blocks.{d}", nextReference(), level));
                        string r = nextReference();
                        layers.AddRange(ConvNorm(o + ".project", r + ".0", r + ".1", level, lms.InChannels, lms.OutChannels, 1, bias: false));
                        return layers;
                    }
                case GmsPlan gms: return Gms(gms, o, nextReference(), level);
                case FusionPlan fusion: return Fusion(fusion, o, nextReference(), level);
                case DoubleConvPlan conv:
                    {
                        string r = nextReference();
                        return new Layer[]
                        {
                            new ConvLayer(o + ".conv1", r + ".conv.0", level, conv.InChannels, conv.OutChannels, 3, 1, true),
                            Norm(o + ".norm1", r + ".conv.1", level, conv.OutChannels),
                            new ConvLayer(o + ".conv2", r + ".conv.3", level, conv.OutChannels, conv.OutChannels, 3, 1, true),
                            Norm(o + ".norm2", r + ".conv.4", level, conv.OutChannels),
                        };
                    }
                case StemPlan stem: return ConvNorm(o, o + ".0", o + ".1", level, stem.InChannels, stem.OutChannels, 3, bias: true);
                case UpConvPlan up: return ConvNorm(o, o + ".up.1", o + ".up.2", level, up.InChannels, up.OutChannels, 3, bias: true);
                case HeadPlan head: return new Layer[] { new ConvLayer(o, o, level, head.InChannels, head.OutChannels, 1, 1, true) };
                case CustomBlockPlan custom: return new Layer[] { new OpaqueLayer(o, nextReference(), level, custom) };
                default: throw new InvalidOperationException("unknown block plan " + block.GetType().Name);
            }
        }

        /// <summary>conv → norm (→ activation): our "conv"/"norm" children, the reference's ".0"/".1".</summary>
        public IEnumerable<Layer> ConvNorm(string o, string refConv, string refNorm, int level, int cin, int cout, int kernel, bool bias,
            string? convName = null, string? normName = null)
        {
            yield return new ConvLayer(convName ?? o + ".conv", refConv, level, cin, cout, kernel, 1, bias);
            yield return Norm(normName ?? o + ".norm", refNorm, level, cout);
        }

        public IEnumerable<Layer> Lms(LmsUnitPlan lms, string o, string r, int level)
        {
            int c = lms.InChannels, n = lms.Kernels.Count, slice = c / n, bottleneck = c / lms.Reduction;
            for (int i = 0; i < n; i++)
            {
                string reference = n == ReferenceDepthwiseNames.Length ? ReferenceDepthwiseNames[i] : $"dwc_{i}";
                yield return new ConvLayer($"{o}.dwconv.{i}", $"{r}.{reference}", level, slice, slice, lms.Kernels[i], slice, true);
            }
            yield return new NormLayer(o + ".norm", r + ".norm_act.0", level, NormLayerKind.Group, c, false);
            foreach (var layer in ConvNorm(o + ".reduce", r + ".conv_1x1_bn.0", r + ".conv_1x1_bn.1", level, c, bottleneck, 1, false))
                yield return layer;
            foreach (var layer in ConvNorm(o + ".expand", r + ".conv_nxn_bn.0", r + ".conv_nxn_bn.1", level, bottleneck, c, 3, false))
                yield return layer;
        }

        private IEnumerable<Layer> Gms(GmsPlan g, string o, string r, int level)
        {
            int a = g.TransformerChannels, b = g.ConvChannels, inner = g.Heads * g.HeadDim;
            foreach (var layer in ConvNorm(o + ".conv1", r + ".conv1.0", r + ".conv1.1", level, g.InChannels, g.OutChannels, 3, false))
                yield return layer;
            foreach (var layer in ConvNorm(o + ".conv2", r + ".conv2.0", r + ".conv2.1", level, g.OutChannels, g.OutChannels, 1, false))
                yield return layer;
            if (b > 0)
            {
                // The conv branch keeps BatchNorm even where the network uses InstanceNorm (the reference's 3D code does).
                string suffix3 = _dims == 3 ? "3x3x3" : "3x3", suffix1 = _dims == 3 ? "1x1x1" : "1x1";
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
            foreach (var layer in ConvNorm(o + ".conv3", r + ".conv3.0", r + ".conv3.1", level, g.OutChannels, g.OutChannels, 1, false))
                yield return layer;
            foreach (var layer in ConvNorm(o + ".conv4", r + ".conv4.0", r + ".conv4.1", level, g.OutChannels + g.InChannels, g.OutChannels, 3, false))
                yield return layer;
        }

        private IEnumerable<Layer> Fusion(FusionPlan f, string o, string r, int level)
        {
            int hidden = f.Expansion * f.OutChannels;
            yield return new ConvLayer(o + ".conv1", r + ".conv.0", level, f.InChannels, f.InChannels, 3, 2, true);
            yield return Norm(o + ".norm1", r + ".conv.2", level, f.InChannels);
            yield return new ConvLayer(o + ".conv2", r + ".conv.3", level, f.InChannels, hidden, 1, 1, true);
            yield return Norm(o + ".norm2", r + ".conv.5", level, hidden);
            yield return new ConvLayer(o + ".conv3", r + ".conv.6", level, hidden, f.OutChannels, 1, 1, true);
            yield return Norm(o + ".norm3", r + ".conv.8", level, f.OutChannels);
        }

        private NormLayer Norm(string o, string r, int level, int channels) =>
            new(o, r, level, _norm switch
            {
                NormKind.Batch => NormLayerKind.Batch,
                NormKind.Instance => NormLayerKind.Instance,
                _ => NormLayerKind.Group,
            }, channels, true);
    }
}
