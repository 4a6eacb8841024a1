namespace LGMSNet.Runtime.Blocks;

/// <summary>The network-wide normalisation (YAML <c>norm:</c>); GroupNorm uses <see cref="Groups"/> groups. A block's
/// constructor receives it as its <c>norm</c> parameter, to normalise as the network does.</summary>
/// <param name="Kind">Batch, instance or group norm (YAML <c>norm:</c>; default batch in 2D, instance in 3D).</param>
/// <param name="Groups">Groups of a group norm (YAML <c>norm_groups:</c>); unused by the others.</param>
public readonly record struct NormSpec(Normalization Kind, int Groups);
