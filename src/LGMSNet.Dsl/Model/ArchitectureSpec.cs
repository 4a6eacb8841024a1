using System;
using LGMSNet.Dsl.Text;

namespace LGMSNet.Dsl.Model;

public enum NormKind { Batch, Instance, Group }

public enum Upsampling { Linear, Nearest }

/// <summary>A value read from YAML together with where it was written (for diagnostics).</summary>
public readonly record struct Located<T>(T Value, SourceSpan Span);

/// <summary>The architecture exactly as the YAML file states it (defaults filled in, nothing
/// resolved). <see cref="Planning.Planner"/> turns it into a <see cref="Planning.NetworkPlan"/>.</summary>
public sealed record ArchitectureSpec(
    Located<string> Name,
    Located<int> Dims,
    Located<int> InChannels,
    Located<int> Classes,
    Located<EquatableArray<int>> Widths,
    Located<NormKind> Norm,
    Located<int> NormGroups,
    Upsampling Upsample,
    Located<EquatableArray<int>>? InputSize,
    string Description,
    Located<EquatableArray<StageSpec>> Encoder,
    Located<EquatableArray<StageSpec>> Decoder);

/// <summary>One encoder or decoder entry: a block, or a list of blocks applied in order.</summary>
public sealed record StageSpec(EquatableArray<BlockSpec> Blocks, SourceSpan Span);

public abstract record BlockSpec(SourceSpan Span)
{
    /// <summary>The block's name in the YAML language.</summary>
    public abstract string Keyword { get; }
}

/// <summary>A block entry that could not be read (an unknown block name; its error is already
/// reported). It stands in for the block so that the rest of the file is still checked, like a
/// compiler that keeps binding after an unknown identifier.</summary>
public sealed record UnresolvedBlockSpec(string Name, SourceSpan Span) : BlockSpec(Span)
{
    public override string Keyword => Name;
}

/// <summary>One option value of a block as the YAML gives it (or its declared default): integers for
/// integer, list and per-axis options (per-axis expanded to one per spatial axis), <see cref="Number"/> for
/// fractions, the choice's index, or 0/1 for booleans.</summary>
public sealed record OptionValue(string Key, EquatableArray<int> Integers, double Number, SourceSpan Span)
{
    public int Integer => Integers[0];

    /// <summary>An optional option left out (no default; the block decides).</summary>
    public bool IsAbsent => Integers.Count == 0 && double.IsNaN(Number);

    public static OptionValue Absent(string key, SourceSpan span) => new(key, EquatableArray<int>.Empty, double.NaN, span);
}

/// <summary>A block with its option values in declaration order: built-in or declared in C# (<c>[LgmsBlock("se")]</c>),
/// read the same way from its <see cref="Blocks.BlockDeclaration"/>.</summary>
public sealed record DeclaredBlockSpec(Blocks.BlockDeclaration Declaration, EquatableArray<OptionValue> Values, SourceSpan Span) : BlockSpec(Span)
{
    public override string Keyword => Declaration.Keyword;
}
