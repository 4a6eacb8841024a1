using System;
using System.Linq;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Blocks;

/// <summary>What a block option's YAML value is (and which C# parameter type receives it).</summary>
public enum OptionKind
{
    /// <summary><c>int</c>.</summary>
    Integer,
    /// <summary><c>int[]</c>: a list of integers.</summary>
    IntegerList,
    /// <summary><c>int[]</c> marked per-axis: one integer for every spatial axis, or one per axis.</summary>
    PerAxis,
    /// <summary><c>double</c> (or <c>float</c>) within a range (default 0..1).</summary>
    Fraction,
    /// <summary>An enum: one of its members, written in snake_case.</summary>
    Choice,
    /// <summary><c>bool</c>.</summary>
    Boolean,
}

/// <summary>How a block's output channels follow from where it sits.</summary>
public enum ChannelRule
{
    /// <summary>The block maps its input to the level width (as the built-in blocks do).</summary>
    LevelWidth,
    /// <summary>The block keeps its input channels (a gate, an attention, a normaliser).</summary>
    SameAsInput,
    /// <summary>The block outputs as many channels as one of its integer options says.</summary>
    FromOption,
}

/// <summary>One option of a user block: its YAML key, the constructor parameter it becomes, its type, range and default.
/// <see cref="DefaultJson"/> null means required.</summary>
public sealed record OptionDeclaration(
    string Key,
    string Parameter,
    OptionKind Kind,
    string Description,
    double Min,
    double Max,
    int MinCount,
    int MaxCount,
    EquatableArray<string> Choices,
    EquatableArray<string> ChoiceMembers,
    string ChoiceType,
    string? DefaultJson)
{
    public bool Required => DefaultJson == null && !Optional;

    /// <summary>The option may be left out without a default (C#: a nullable parameter defaulting to null); the block
    /// decides what that means (gms: no mlp → twice its width).</summary>
    public bool Optional { get; init; }

    /// <summary>Integer values (of each list entry) must be odd and positive.</summary>
    public bool Odd { get; init; }

    /// <summary>Why the values must be odd, where the language knows it (the built-in blocks' kernels: "padding k/2 keeps the
    /// size"); a user block's <c>Odd</c> option has none, since its padding is the block's own business.</summary>
    public string? OddReason { get; init; }

    /// <summary>The odd rule in words, for diagnostics and the schema: "kernels must be odd and positive (padding k/2 keeps
    /// the size)"; <paramref name="range"/> (e.g. "1 to 31") is inserted before the reason.</summary>
    public string OddRule(string? range = null) =>
        $"{Key} must be odd and positive" + (range != null ? ", " + range : "") + (OddReason != null ? $" ({OddReason})" : "");

    /// <summary>Another option this one cannot be given together with (gms: split and ratio).</summary>
    public string? NotWith { get; init; }

    /// <summary>Why the range is what it is, appended to the out-of-range diagnostic.</summary>
    public string? RangeReason { get; init; }

    /// <summary>What an editor's skeleton inserts when there is no default (the schema's <c>default</c>; never read).</summary>
    public string? SkeletonJson { get; init; }

    /// <summary>The default's integers (<c>4</c> → [4]; <c>[3, 5]</c> → [3, 5]).</summary>
    public int[] DefaultIntegers() => (DefaultJson ?? "").Trim('[', ']').Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries)
        .Select(t => int.Parse(t.Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>How the value is described to people ("an integer 1..64", "one of sigmoid, hard_sigmoid").</summary>
    public string Describe() => Kind switch
    {
        OptionKind.Integer => $"an integer {Num(Min)}..{Num(Max)}",
        OptionKind.IntegerList => $"a list of {MinCount} to {MaxCount} integers {Num(Min)}..{Num(Max)}",
        OptionKind.PerAxis => $"an integer {Num(Min)}..{Num(Max)} or one per spatial axis",
        OptionKind.Fraction => $"a number {Num(Min)}..{Num(Max)}",
        OptionKind.Choice => "one of " + string.Join(", ", Choices),
        _ => "true or false",
    };

    internal static string Num(double value) => value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A block of the language as its C# declaration states it: the YAML keyword, the class the generated
/// module constructs, its options, its channel rule and constraints (whether it states its cost and ONNX export is the
/// runtime's question: <c>IBlockCost</c>, <c>OnnxBlockWriters</c>). Equatable plain data, so the incremental generator caches it; serialisable (<see cref="BlockCatalog"/>)
/// so the runtime sees the same declaration the compiler saw.</summary>
public sealed record BlockDeclaration(
    string Keyword,
    string TypeName,
    string Description,
    EquatableArray<OptionDeclaration> Options,
    ChannelRule Channels,
    string? ChannelOption,
    EquatableArray<string> InputDivisibleBy,
    EquatableArray<string> StructuralParameters)
{
    public OptionDeclaration? Option(string key) => Options.FirstOrDefault(o => o.Key == key);

    /// <summary>The C# type name without <c>global::</c>, for messages.</summary>
    public string DisplayType => TypeName.StartsWith("global::", StringComparison.Ordinal) ? TypeName.Substring(8) : TypeName;

    /// <summary>Whether the constructor takes the structural parameter <paramref name="name"/> (dims, inChannels, outChannels, norm).</summary>
    public bool Takes(string name) => StructuralParameters.Contains(name);
}
