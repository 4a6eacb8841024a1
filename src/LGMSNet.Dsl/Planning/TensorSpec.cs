using System.Linq;

namespace LGMSNet.Dsl.Planning;

/// <summary>One state_dict entry: our key, the reference's key, its shape, and whether it is a
/// trainable parameter (false: a BatchNorm buffer; <see cref="IsInt64"/> for num_batches_tracked).</summary>
public sealed record TensorSpec(string Name, string ReferenceName, long[] Shape, bool IsParameter, bool IsInt64)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
}
