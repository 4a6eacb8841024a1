using System;
using System.Collections.Generic;
using System.Linq;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Planning.Definitions;

/// <summary><c>lms</c>: <see cref="LmsUnitPlan.Depth"/> local multiscale blocks at the input width, then a 1x1
/// conv-norm-SiLU to the level width (runtime: <c>LmsUnit</c> of <c>LmsBlock</c>s).</summary>
public sealed class LmsBlock() : BlockDefinition(Declare())
{
    /// <summary>The reference's names of the LMS depthwise convolutions, by kernel position.</summary>
    private static readonly string[] ReferenceDepthwiseNames = { "local_dwc", "global_dwc_s", "global_dwc_m", "global_dwc_l" };

    private static BlockDeclaration Declare() => BuiltInDeclaration.Of("lms", "LmsUnit",
        "Local multiscale (LMS) blocks at the input width - channel slices, one depthwise conv per kernel size, + input, GroupNorm, GELU, " +
        "1x1 to C/reduction, 3x3 back to C, + input - then a 1x1 conv-norm-SiLU to the level width.",
        BuiltInDeclaration.List("kernels", "Odd depthwise kernel sizes, one per channel slice.", 1, 16, 1, 31, "[3, 5, 7, 9]") with { Odd = true, OddReason = "padding k/2 keeps the size" },
        BuiltInDeclaration.Int("depth", "LMS blocks in a row.", 1, 32, "1"),
        BuiltInDeclaration.Int("groups", "GroupNorm groups inside the block.", 1, 4096, "4"),
        BuiltInDeclaration.Int("reduction", "Bottleneck factor of the 1x1 / 3x3 pair.", 1, 4096, "4"));

    public override Type PlanType => typeof(LmsUnitPlan);

    public override BlockPlan? Resolve(IPlanningContext context, DeclaredBlockSpec block, int inChannels, int width, int level)
    {
        var kernels = Value(block, "kernels");
        var groups = Value(block, "groups");
        var reduction = Value(block, "reduction");
        bool ok = true;
        if (inChannels % kernels.Integers.Count != 0)
            ok = context.Report(DiagnosticKinds.LmsKernelDivisibility, kernels.Span,
                $"this LMS block works on {inChannels} channels, which do not split evenly into {kernels.Integers.Count} kernel groups");
        if (inChannels % groups.Integer != 0)
            ok = context.Report(DiagnosticKinds.GroupDivisibility, groups.Span,
                $"this LMS block works on {inChannels} channels, not divisible into {groups.Integer} GroupNorm groups");
        if (inChannels % reduction.Integer != 0)
            ok = context.Report(DiagnosticKinds.ChannelConstraint, reduction.Span,
                $"this LMS block works on {inChannels} channels, not divisible by its bottleneck reduction {reduction.Integer}");
        return ok ? new LmsUnitPlan(inChannels, width, kernels.Integers, Value(block, "depth").Integer, groups.Integer, reduction.Integer) : null;
    }

    public override int ReferenceModules(BlockPlan plan) => ((LmsUnitPlan)plan).Depth + 1;

    public override IEnumerable<Layer> Lower(LayerBuilder layers, BlockPlan plan, string o, Func<string> nextReference, int level)
    {
        var lms = (LmsUnitPlan)plan;
        var result = new List<Layer>();
        for (int d = 0; d < lms.Depth; d++)
            result.AddRange(Block(layers, lms, $"{o}.blocks.{d}", nextReference(), level));
        string r = nextReference();
        result.AddRange(layers.ConvNorm(o + ".project", r + ".0", r + ".1", level, lms.InChannels, lms.OutChannels, 1, bias: false));
        return result;
    }

    /// <summary>Alone, an LMS unit is the bare LMS block (the authors' CMUNeXtBlock_MK_resiual2), without its 1x1 projection.</summary>
    public override IEnumerable<Layer> LowerAlone(LayerBuilder layers, BlockPlan plan, string o, string reference) =>
        Block(layers, (LmsUnitPlan)plan, o, reference, 1);

    private static IEnumerable<Layer> Block(LayerBuilder layers, LmsUnitPlan lms, string o, string r, int level)
    {
        int c = lms.InChannels, n = lms.Kernels.Count, slice = c / n, bottleneck = c / lms.Reduction;
        for (int i = 0; i < n; i++)
        {
            string reference = n == ReferenceDepthwiseNames.Length ? ReferenceDepthwiseNames[i] : $"dwc_{i}";
            yield return new ConvLayer($"{o}.dwconv.{i}", $"{r}.{reference}", level, slice, slice, lms.Kernels[i], slice, true);
        }
        yield return new NormLayer(o + ".norm", r + ".norm_act.0", level, NormLayerKind.Group, c, false);
        foreach (var layer in layers.ConvNorm(o + ".reduce", r + ".conv_1x1_bn.0", r + ".conv_1x1_bn.1", level, c, bottleneck, 1, false))
            yield return layer;
        foreach (var layer in layers.ConvNorm(o + ".expand", r + ".conv_nxn_bn.0", r + ".conv_nxn_bn.1", level, bottleneck, c, 3, false))
            yield return layer;
    }

    public override IReadOnlyList<string> Arguments(BlockPlan plan, int dims)
    {
        var l = (LmsUnitPlan)plan;
        return new[]
        {
            $"dims: {dims}", $"inChannels: {l.InChannels}", $"outChannels: {l.OutChannels}",
            $"kernels: {IntArray(l.Kernels)}", $"depth: {l.Depth}", $"groups: {l.Groups}", $"reduction: {l.Reduction}", "norm: norm",
        };
    }
}
