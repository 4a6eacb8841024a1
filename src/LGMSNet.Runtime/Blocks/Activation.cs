namespace LGMSNet.Runtime.Blocks;

/// <summary>The activation a block applies after its normalisation (<see cref="Primitives.Activate"/>).</summary>
public enum Activation { None, ReLU, SiLU, GELU }
