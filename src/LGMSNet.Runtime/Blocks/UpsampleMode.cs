namespace LGMSNet.Runtime.Blocks;

/// <summary>x2 up-sampling (YAML <c>upsample:</c>): bi/trilinear with align_corners=false (the
/// reference) or nearest neighbour (<see cref="Primitives.Upsample2x"/>).</summary>
public enum UpsampleMode { Linear, Nearest }
