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
/// <item><term><see cref="StemPlan"/>, and the CBS pairs inside LMS and GMS blocks (<see cref="LayerBuilder.ConvNorm"/>)</term><description><c>ConvNormAct</c></description></item>
/// <item><term>each YAML block: its definition's <c>Lower</c> (Planning/Definitions: the lms, gms, fusion and conv
/// files, and user blocks' one opaque layer)</term><description>the class its declaration names</description></item>
/// <item><term><see cref="UpConvPlan"/> (<c>Of</c>, role Up)</term><description><c>UpConv</c></description></item>
/// <item><term><see cref="HeadPlan"/> (<c>Of</c>, role Head)</term><description><c>ConvHead</c></description></item>
/// </list>
/// Each runtime block's doc points back here. A change to either side must keep them in agreement, which
/// <c>GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to</c>
/// (tests/LGMSNet.Compiler.Tests) checks: for every block type, norm kind and up-sampling mode, the
/// state_dict TorchSharp builds equals <see cref="KeyMap"/>'s (names, shapes, parameter or buffer).</summary>
public static class Layers
{
    public static IEnumerable<Layer> Of(NetworkPlan plan) => plan.Stages.SelectMany(s => Of(plan, s));

    public static IEnumerable<Layer> Of(NetworkPlan plan, StagePlan stage)
    {
        var layers = new LayerBuilder(plan.Dims, plan.Norm);
        switch (stage.Role)
        {
            case StageRole.Stem:
                return layers.ConvNorm(stage.Name, "stem.conv.0", "stem.conv.1", 1, stage.InChannels, stage.OutChannels, 3, bias: true,
                    convName: "stem.conv", normName: "stem.norm");
            case StageRole.Up:
                return layers.ConvNorm(stage.Name, stage.ReferenceName + ".up.1", stage.ReferenceName + ".up.2", stage.Level,
                    stage.InChannels, stage.OutChannels, 3, bias: true, convName: stage.Name + ".conv", normName: stage.Name + ".norm");
            case StageRole.Head:
                return new Layer[] { new ConvLayer(stage.Name, stage.ReferenceName, 1, stage.InChannels, stage.OutChannels, 1, 1, true) };
            default:
                return Stage(layers, stage);
        }
    }

    /// <summary>The layers of one block on its own, with our names under <paramref name="prefix"/> and the
    /// reference's under <paramref name="referencePrefix"/> (as the reference builds the block alone).</summary>
    public static IEnumerable<Layer> OfBlock(int dims, NormKind norm, BlockPlan block, string prefix, string referencePrefix)
    {
        var layers = new LayerBuilder(dims, norm);
        return Block(layers, block, prefix, () => referencePrefix, 1, alone: true);
    }

    /// <summary>Channel counts normalised by the network-wide norm inside one block (for norm: group checks).</summary>
    public static IEnumerable<int> NormalizedChannels(BlockPlan block)
    {
        var layers = new LayerBuilder(2, NormKind.Group);
        return Block(layers, block, "b", () => "b", 1, alone: false).OfType<NormLayer>().Where(n => n.IsNetworkNorm).Select(n => n.Channels);
    }

    private static IEnumerable<Layer> Stage(LayerBuilder layers, StagePlan stage)
    {
        // The reference builds a stage as an nn.Sequential of modules (a block may be several entries: an LMS unit
        // contributes its LMS blocks and its 1x1 projection). Encoder stages are always Sequential; a decoder stage
        // with a single module is that module itself (Up_conv5).
        int flat = stage.Blocks.Sum(b => b is StemPlan or UpConvPlan or HeadPlan ? 1 : Definitions.BlockDefinitions.Of(b).ReferenceModules(b));
        bool indexed = stage.Role == StageRole.Encoder || flat > 1;
        int index = 0;
        string NextReference() => indexed ? $"{stage.ReferenceName}.{index++}" : stage.ReferenceName;

        var result = new List<Layer>();
        for (int i = 0; i < stage.Blocks.Count; i++)
        {
            string name = stage.Blocks.Count == 1 ? stage.Name : $"{stage.Name}.{i}";
            result.AddRange(Block(layers, stage.Blocks[i], name, NextReference, stage.Level, alone: false));
        }
        return result;
    }

    private static IEnumerable<Layer> Block(LayerBuilder layers, BlockPlan block, string o, Func<string> nextReference, int level, bool alone)
    {
        switch (block)
        {
            case StemPlan stem: return layers.ConvNorm(o, o + ".0", o + ".1", level, stem.InChannels, stem.OutChannels, 3, bias: true);
            case UpConvPlan up: return layers.ConvNorm(o, o + ".up.1", o + ".up.2", level, up.InChannels, up.OutChannels, 3, bias: true);
            case HeadPlan head: return new Layer[] { new ConvLayer(o, o, level, head.InChannels, head.OutChannels, 1, 1, true) };
        }
        var definition = Definitions.BlockDefinitions.Of(block);
        return alone ? definition.LowerAlone(layers, block, o, nextReference()) : definition.Lower(layers, block, o, nextReference, level);
    }
}

/// <summary>Layer helpers the block definitions lower with: conv-norm pairs and the network's norm.</summary>
public sealed class LayerBuilder
{
    public LayerBuilder(int dims, NormKind norm)
    {
        Dims = dims;
        NetworkNorm = norm;
    }

    public int Dims { get; }

    public NormKind NetworkNorm { get; }

    /// <summary>conv → norm (→ activation): our "conv"/"norm" children, the reference's ".0"/".1".</summary>
    public IEnumerable<Layer> ConvNorm(string o, string refConv, string refNorm, int level, int cin, int cout, int kernel, bool bias,
        string? convName = null, string? normName = null)
    {
        yield return new ConvLayer(convName ?? o + ".conv", refConv, level, cin, cout, kernel, 1, bias);
        yield return Norm(o: normName ?? o + ".norm", r: refNorm, level: level, channels: cout);
    }

    /// <summary>The network's norm (YAML <c>norm:</c>) over <paramref name="channels"/>.</summary>
    public NormLayer Norm(string o, string r, int level, int channels) =>
        new(o, r, level, NetworkNorm switch
        {
            NormKind.Batch => NormLayerKind.Batch,
            NormKind.Instance => NormLayerKind.Instance,
            _ => NormLayerKind.Group,
        }, channels, true);
}
