using System;
using System.Collections.Generic;
using System.Linq;

namespace LGMSNet.Dsl.Planning;

/// <summary>The checkpoint key map: every state_dict entry of a plan, in our layout and the reference's,
/// derived from its <see cref="Layers"/> (so parameter counts and keys cannot disagree).</summary>
public static class KeyMap
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
}
