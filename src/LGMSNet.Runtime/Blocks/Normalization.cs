namespace LGMSNet.Runtime.Blocks;

/// <summary>The network-wide normalisation layer (YAML <c>norm:</c>): BatchNorm (affine, running
/// statistics), InstanceNorm (no affine, no statistics: the reference's 3D choice) or GroupNorm.</summary>
public enum Normalization { Batch, Instance, Group }
