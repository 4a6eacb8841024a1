using System;
using System.Collections.Generic;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Planning.Definitions;

/// <summary><c>conv</c>: U-Net double convolution — 3x3, norm, ReLU, twice (runtime: <c>DoubleConv</c>).</summary>
public sealed class ConvBlock() : BlockDefinition(BuiltInDeclaration.Of("conv", "DoubleConv", "U-Net double convolution (3x3, norm, ReLU, twice). No options."))
{
    public override Type PlanType => typeof(DoubleConvPlan);

    public override BlockPlan? Resolve(IPlanningContext context, DeclaredBlockSpec block, int inChannels, int width, int level) =>
        new DoubleConvPlan(inChannels, width);

    public override IEnumerable<Layer> Lower(LayerBuilder layers, BlockPlan plan, string o, Func<string> nextReference, int level)
    {
        var conv = (DoubleConvPlan)plan;
        string r = nextReference();
        return new Layer[]
        {
            new ConvLayer(o + ".conv1", r + ".conv.0", level, conv.InChannels, conv.OutChannels, 3, 1, true),
            layers.Norm(o + ".norm1", r + ".conv.1", level, conv.OutChannels),
            new ConvLayer(o + ".conv2", r + ".conv.3", level, conv.OutChannels, conv.OutChannels, 3, 1, true),
            layers.Norm(o + ".norm2", r + ".conv.4", level, conv.OutChannels),
        };
    }

    public override IReadOnlyList<string> Arguments(BlockPlan plan, int dims) =>
        new[] { $"dims: {dims}", $"inChannels: {plan.InChannels}", $"outChannels: {plan.OutChannels}", "norm: norm" };
}
