namespace LGMSNet.Runtime.Blocks;

/// <summary>The network-wide normalisation (YAML <c>norm:</c>); GroupNorm uses <see cref="Groups"/> groups.</summary>
public readonly record struct NormSpec(Normalization Kind, int Groups);
