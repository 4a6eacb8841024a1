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
/// without bias adds, attention products; not norms, activations, pooling or resampling.</summary>
public interface IBlockCost
{
    /// <summary>Multiply-adds for one sample whose spatial size at this block is <paramref name="spatialSize"/>.</summary>
    long MultiplyAdds(IReadOnlyList<long> spatialSize);
}
