using System;
using System.Collections.Generic;
using System.Linq;

namespace LGMSNet.Dsl.Planning;

/// <summary>Multiply-accumulate counts by category, following the convention of
/// shared/reference/README.md: convolutions and linear layers without bias adds, plus the two
/// attention products (q·kᵀ and attention·v). Norms, activations, pooling and resampling are not counted.</summary>
public readonly record struct MacCount(long Convolution, long Linear, long Attention)
{
    public long Total => Convolution + Linear + Attention;

    public static MacCount operator +(MacCount a, MacCount b) =>
        new(a.Convolution + b.Convolution, a.Linear + b.Linear, a.Attention + b.Attention);
}

/// <summary>A stage's counts. <see cref="Opaque"/> lists its user blocks, whose parameters and multiply-adds the
/// compiler cannot see (not included in <see cref="Parameters"/> and <see cref="Macs"/>): the runtime counts them on the
/// built module (<c>NetworkCosts</c>).</summary>
public sealed record StageCost(StagePlan Stage, long Parameters, MacCount Macs, long[] OutputShape, IReadOnlyList<OpaqueLayer> Opaque)
{
    public StageCost(StagePlan stage, long parameters, MacCount macs, long[] outputShape) : this(stage, parameters, macs, outputShape, Array.Empty<OpaqueLayer>())
    {
    }
}

/// <summary>Parameter and multiply-add counts of a plan, from its <see cref="Layers"/> (no TorchSharp).</summary>
public static class Costs
{
    /// <summary>Whether the compiler counts every parameter and multiply-add itself (no user blocks).</summary>
    public static bool IsComplete(NetworkPlan plan) => !Layers.Of(plan).OfType<OpaqueLayer>().Any();

    /// <summary>The spatial size a layer at <paramref name="level"/> sees for a network input of <paramref name="inputSize"/>.</summary>
    public static long[] SizeAt(int level, IReadOnlyList<int> inputSize) => inputSize.Select(s => (long)(s >> (level - 1))).ToArray();

    public static long Parameters(NetworkPlan plan) => KeyMap.Tensors(plan).Where(t => t.IsParameter).Sum(t => t.Elements);

    public static long Parameters(NetworkPlan plan, StagePlan stage) =>
        Layers.Of(plan, stage).SelectMany(l => KeyMap.Tensors(plan.Dims, l)).Where(t => t.IsParameter).Sum(t => t.Elements);

    /// <summary>Checks an input size against the architecture; returns an explanation or null.</summary>
    public static string? CheckInputSize(NetworkPlan plan, IReadOnlyList<int> size) =>
        CheckInputSize(plan.Dims, plan.InputMultiple, size.Select(s => (long)s).ToList());

    /// <summary>The one input-size check (the compiler's costs, <c>summary --size</c> and every module's
    /// forward pass through ArchitectureInfo): one spatial size per axis, each a positive multiple of
    /// <paramref name="inputMultiple"/>. Returns an explanation or null.</summary>
    public static string? CheckInputSize(int dims, IReadOnlyList<int> inputMultiple, IReadOnlyList<long> size)
    {
        if (size.Count != dims) return $"expected {dims} spatial sizes, got {size.Count}";
        for (int axis = 0; axis < dims; axis++)
        {
            if (size[axis] <= 0 || size[axis] % inputMultiple[axis] != 0)
                return $"size {size[axis]} on axis {axis} is not a positive multiple of {inputMultiple[axis]} " +
                       $"(this architecture needs multiples of {Formatting.Size(inputMultiple)})";
        }
        return null;
    }

    public static IReadOnlyList<StageCost> PerStage(NetworkPlan plan, IReadOnlyList<int> inputSize)
    {
        string? problem = CheckInputSize(plan, inputSize);
        if (problem != null) throw new ArgumentException(problem, nameof(inputSize));
        return plan.Stages.Select(stage =>
        {
            var layers = Layers.Of(plan, stage).ToList();
            var macs = layers.Aggregate(default(MacCount), (sum, layer) => sum + Macs(layer, inputSize));
            long parameters = layers.SelectMany(l => KeyMap.Tensors(plan.Dims, l)).Where(t => t.IsParameter).Sum(t => t.Elements);
            var shape = new List<long> { stage.OutChannels };
            shape.AddRange(inputSize.Select(s => (long)(s >> (stage.Level - 1))));
            return new StageCost(stage, parameters, macs, shape.ToArray(), layers.OfType<OpaqueLayer>().ToList());
        }).ToList();
    }

    public static MacCount Macs(NetworkPlan plan, IReadOnlyList<int> inputSize) =>
        PerStage(plan, inputSize).Aggregate(default(MacCount), (sum, s) => sum + s.Macs);

    private static MacCount Macs(Layer layer, IReadOnlyList<int> inputSize)
    {
        long[] sizes = inputSize.Select(s => (long)(s >> (layer.Level - 1))).ToArray();
        long positions = sizes.Aggregate(1L, (a, b) => a * b);
        switch (layer)
        {
            case ConvLayer c:
                long kernel = (long)Math.Pow(c.Kernel, sizes.Length);
                return new MacCount(checked(positions * c.Out * (c.In / c.Groups) * kernel), 0, 0);
            case LinearLayer l:
                return new MacCount(0, checked(positions * l.In * l.Out), 0);
            case AttentionLayer a:
                long sequences = a.Patch.Aggregate(1L, (x, p) => x * p);
                long tokens = positions / sequences;
                return new MacCount(0, 0, checked(sequences * a.Heads * 2 * tokens * tokens * a.HeadDim));
            default:
                return default;
        }
    }
}
