namespace LGMSNet.Runtime.Blocks;

/// <summary>Describes one option of an <see cref="LgmsBlockAttribute"/> block (a constructor parameter): its YAML key,
/// range and description. Optional: without it the key is the parameter name in snake_case, integers take any value,
/// fractions 0..1, lists 1 to 16 entries. A nullable parameter defaulting to null (<c>int? mlp = null</c>) is an option
/// that may be left out: the block receives null and decides.</summary>
[AttributeUsage(AttributeTargets.Parameter, AllowMultiple = false, Inherited = false)]
public sealed class LgmsOptionAttribute : Attribute
{
    /// <summary>The YAML key (default: the parameter name in snake_case, <c>headDim</c> → <c>head_dim</c>).</summary>
    public string? Name { get; set; }

    /// <summary>One sentence shown in hovers, completions and the JSON Schema (default: the value's kind and range).</summary>
    public string Description { get; set; } = "";

    /// <summary>Smallest allowed value (of each entry of a list).</summary>
    public double Min { get; set; } = double.NaN;

    /// <summary>Largest allowed value (of each entry of a list).</summary>
    public double Max { get; set; } = double.NaN;

    /// <summary>Fewest entries of an <c>int[]</c> option.</summary>
    public int MinCount { get; set; } = 1;

    /// <summary>Most entries of an <c>int[]</c> option.</summary>
    public int MaxCount { get; set; } = 16;

    /// <summary>An <c>int[]</c> option holding one value per spatial axis; YAML may give one integer for all axes.</summary>
    public bool PerAxis { get; set; }

    /// <summary>The default of an <c>int[]</c> option (C# has no array default values).</summary>
    public int[]? Default { get; set; }

    /// <summary>Integer values (of each list entry) must be odd and positive (kernel sizes, say). Needs <see cref="Min"/> and
    /// <see cref="Max"/> as well (LGMS105 otherwise). A YAML value that is not odd is reported as
    /// "size 4 is invalid: size must be odd and positive".</summary>
    public bool Odd { get; set; }

    /// <summary>Another option this one cannot be given together with (as gms's split and ratio).</summary>
    public string? NotWith { get; set; }
}

/// <summary>A user block that states its multiply-adds, so <c>summary</c> and <c>list</c> count it (a block that does
/// not is reported as "declares no cost", never as zero). Count as the built-ins do: convolutions and linear layers
/// without bias adds, attention products; not norms, activations, pooling or resampling. A convolution costs
/// (output positions) · (output channels) · (input channels / groups) · (kernel volume).</summary>
public interface IBlockCost
{
    /// <summary>Multiply-adds of the block for one sample.</summary>
    /// <param name="spatialSize">The size of the feature map at the block's own level, one entry per spatial axis
    /// (<c>[H, W]</c> in 2D, <c>[D, H, W]</c> in 3D): the network's input size halved once per level below the first (a block
    /// in encoder3 or decoder3 of a network counted at 256×256 gets <c>[64, 64]</c>). The block receives its input at
    /// this size and must return it at this size; a strided convolution inside it works on fewer positions.</param>
    /// <returns>The count, without bias additions.</returns>
    long MultiplyAdds(IReadOnlyList<long> spatialSize);
}
