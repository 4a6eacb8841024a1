namespace LGMSNet.Runtime.Blocks;

/// <summary>The network-wide normalisation layer (YAML <c>norm:</c>): BatchNorm (affine, running
/// statistics), InstanceNorm (no affine, no statistics: the reference's 3D choice) or GroupNorm.</summary>
public enum Normalization
{
    /// <summary>BatchNorm: affine, with running statistics (YAML <c>batch</c>).</summary>
    Batch,

    /// <summary>InstanceNorm: no affine, no running statistics (YAML <c>instance</c>).</summary>
    Instance,

    /// <summary>GroupNorm over <see cref="NormSpec.Groups"/> groups, affine (YAML <c>group</c>).</summary>
    Group,
}
