using System;
using System.Collections.Generic;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Planning.Definitions;

/// <summary><c>fusion</c>: CMUNeXt's skip fusion — grouped 3x3 (2 groups), 1x1 to expansion x out, 1x1 to out, each
/// followed by GELU then norm (runtime: <c>FusionBlock</c>).</summary>
public sealed class FusionBlock() : BlockDefinition(Declare())
{
    private static BlockDeclaration Declare() => BuiltInDeclaration.Of("fusion", "FusionBlock",
        "CMUNeXt's skip fusion: grouped 3x3 (2 groups), 1x1 to expansion x out, 1x1 to out, each followed by GELU then norm.",
        BuiltInDeclaration.Int("expansion", "Expansion factor of the middle 1x1.", 1, 64, "4"));

    public override Type PlanType => typeof(FusionPlan);

    public override BlockPlan? Resolve(IPlanningContext context, DeclaredBlockSpec block, int inChannels, int width, int level)
    {
        if (inChannels % 2 != 0)
        {
            context.Report(DiagnosticKinds.ChannelConstraint, block.Span,
                $"fusion's grouped 3x3 convolution splits its {inChannels} input channels into 2 groups; the count must be even");
            return null;
        }
        return new FusionPlan(inChannels, width, Value(block, "expansion").Integer);
    }

    public override IEnumerable<Layer> Lower(LayerBuilder layers, BlockPlan plan, string o, Func<string> nextReference, int level) =>
        Lower(layers, (FusionPlan)plan, o, nextReference(), level);

    private static IEnumerable<Layer> Lower(LayerBuilder layers, FusionPlan f, string o, string r, int level)
    {
        int hidden = f.Expansion * f.OutChannels;
        yield return new ConvLayer(o + ".conv1", r + ".conv.0", level, f.InChannels, f.InChannels, 3, 2, true);
        yield return layers.Norm(o + ".norm1", r + ".conv.2", level, f.InChannels);
        yield return new ConvLayer(o + ".conv2", r + ".conv.3", level, f.InChannels, hidden, 1, 1, true);
        yield return layers.Norm(o + ".norm2", r + ".conv.5", level, hidden);
        yield return new ConvLayer(o + ".conv3", r + ".conv.6", level, hidden, f.OutChannels, 1, 1, true);
        yield return layers.Norm(o + ".norm3", r + ".conv.8", level, f.OutChannels);
    }

    public override IReadOnlyList<string> Arguments(BlockPlan plan, int dims)
    {
        var f = (FusionPlan)plan;
        return new[] { $"dims: {dims}", $"inChannels: {f.InChannels}", $"outChannels: {f.OutChannels}", $"expansion: {f.Expansion}", "norm: norm" };
    }
}
