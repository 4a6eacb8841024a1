using System;
using System.Collections.Generic;
using System.Linq;

namespace LGMSNet.Dsl.Planning;

/// <summary>One state_dict entry: our key, the reference's key, its shape, and whether it is a
/// trainable parameter (false: a BatchNorm buffer; <see cref="IsInt64"/> for num_batches_tracked).</summary>
public sealed record TensorSpec(string Name, string ReferenceName, long[] Shape, bool IsParameter, bool IsInt64)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Multiply-accumulate counts by category, following the convention of
/// shared/reference/README.md: convolutions and linear layers without bias adds, plus the two
/// attention products (q·kᵀ and attention·v). Norms, activations, pooling and resampling are not counted.</summary>
public readonly record struct MacCount(long Convolution, long Linear, long Attention)
{
    public long Total => Convolution + Linear + Attention;

    public static MacCount operator +(MacCount a, MacCount b) =>
        new(a.Convolution + b.Convolution, a.Linear + b.Linear, a.Attention + b.Attention);
}

public sealed record StageCost(StagePlan Stage, long Parameters, MacCount Macs, long[] OutputShape);

public static class Costs
{
    public static IEnumerable<TensorSpec> Tensors(NetworkPlan plan) => Layers.Of(plan).SelectMany(l => Tensors(plan.Dims, l));

    public static IEnumerable<TensorSpec> Tensors(int dims, Layer layer)
    {
        switch (layer)
        {
            case ConvLayer c:
                {
                    var shape = new List<long> { c.Out, c.In / c.Groups };
                    shape.AddRange(Enumerable.Repeat((long)c.Kernel, dims));
                    yield return new TensorSpec(c.Name + ".weight", c.ReferenceName + ".weight", shape.ToArray(), true, false);
                    if (c.Bias) yield return new TensorSpec(c.Name + ".bias", c.ReferenceName + ".bias", new long[] { c.Out }, true, false);
                    break;
                }
            case LinearLayer l:
                yield return new TensorSpec(l.Name + ".weight", l.ReferenceName + ".weight", new long[] { l.Out, l.In }, true, false);
                if (l.Bias) yield return new TensorSpec(l.Name + ".bias", l.ReferenceName + ".bias", new long[] { l.Out }, true, false);
                break;
            case NormLayer n when n.Kind != NormLayerKind.Instance:
                yield return new TensorSpec(n.Name + ".weight", n.ReferenceName + ".weight", new long[] { n.Channels }, true, false);
                yield return new TensorSpec(n.Name + ".bias", n.ReferenceName + ".bias", new long[] { n.Channels }, true, false);
                if (n.Kind == NormLayerKind.Batch)
                {
                    yield return new TensorSpec(n.Name + ".running_mean", n.ReferenceName + ".running_mean", new long[] { n.Channels }, false, false);
                    yield return new TensorSpec(n.Name + ".running_var", n.ReferenceName + ".running_var", new long[] { n.Channels }, false, false);
                    yield return new TensorSpec(n.Name + ".num_batches_tracked", n.ReferenceName + ".num_batches_tracked", Array.Empty<long>(), false, true);
                }
                break;
        }
    }

    public static long Parameters(NetworkPlan plan) => Tensors(plan).Where(t => t.IsParameter).Sum(t => t.Elements);

    public static long Parameters(NetworkPlan plan, StagePlan stage) =>
        Layers.Of(plan, stage).SelectMany(l => Tensors(plan.Dims, l)).Where(t => t.IsParameter).Sum(t => t.Elements);

    /// <summary>Checks an input size against the architecture; returns an explanation or null.</summary>
    public static string? CheckInputSize(NetworkPlan plan, IReadOnlyList<int> size)
    {
        if (size.Count != plan.Dims) return $"expected {plan.Dims} spatial sizes, got {size.Count}";
        for (int axis = 0; axis < plan.Dims; axis++)
        {
            if (size[axis] <= 0 || size[axis] % plan.InputMultiple[axis] != 0)
                return $"size {size[axis]} on axis {axis} is not a positive multiple of {plan.InputMultiple[axis]} " +
                       $"(this architecture needs multiples of {string.Join("x", plan.InputMultiple)})";
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
            long parameters = layers.SelectMany(l => Tensors(plan.Dims, l)).Where(t => t.IsParameter).Sum(t => t.Elements);
            var shape = new List<long> { stage.OutChannels };
            shape.AddRange(inputSize.Select(s => (long)(s >> (stage.Level - 1))));
            return new StageCost(stage, parameters, macs, shape.ToArray());
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
