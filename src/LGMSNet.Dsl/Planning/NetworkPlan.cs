using System.Linq;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Planning;

/// <summary>A fully resolved network: every block knows its input and output channels.
/// Small and equatable, so the incremental generator can cache it.</summary>
public sealed record NetworkPlan(
    string Name,
    int Dims,
    int InChannels,
    int Classes,
    EquatableArray<int> Widths,
    NormKind Norm,
    int NormGroups,
    Upsampling Upsample,
    EquatableArray<int> InputMultiple,
    EquatableArray<int> DefaultInputSize,
    string Description,
    EquatableArray<StagePlan> Stages)
{
    public int Levels => Widths.Count;
}

public enum StageRole { Stem, Encoder, Up, Decoder, Head }

/// <summary>One top-level stage. <see cref="Level"/> is the resolution level it runs at
/// (1 = full resolution); <see cref="Name"/> is our module name, <see cref="ReferenceName"/>
/// the authors' (e.g. decoder4 ↔ Up_conv5); <see cref="Input"/> is what it is applied to.
/// The stages are listed in the order the forward pass runs them.</summary>
public sealed record StagePlan(
    StageRole Role,
    int Level,
    string Name,
    string ReferenceName,
    string PropertyName,
    int InChannels,
    int OutChannels,
    EquatableArray<BlockPlan> Blocks,
    StageInput Input);

/// <summary>What a stage is applied to: the output of the stage named <see cref="Source"/> (null: the
/// network input), max-pooled ×2 first when <see cref="Pool"/>, and placed after the output of the stage
/// named <see cref="Skip"/> in a channel concatenation when that is set (the skip connection comes first,
/// as in the reference).</summary>
public sealed record StageInput(string? Source, bool Pool = false, string? Skip = null);

public abstract record BlockPlan(int InChannels, int OutChannels)
{
    /// <summary>Short human description used in summaries and XML docs.</summary>
    public abstract string Describe();
}

/// <summary>Convolution (with bias) → norm → ReLU: the stem.</summary>
public sealed record StemPlan(int InChannels, int OutChannels) : BlockPlan(InChannels, OutChannels)
{
    public override string Describe() => $"conv 3x3 {InChannels}→{OutChannels}, norm, ReLU";
}

/// <summary><see cref="Depth"/> LMS blocks at the input width, then a 1x1 conv-norm-SiLU to the output width.</summary>
public sealed record LmsUnitPlan(int InChannels, int OutChannels, EquatableArray<int> Kernels, int Depth, int Groups, int Reduction)
    : BlockPlan(InChannels, OutChannels)
{
    public override string Describe() =>
        $"LMS x{Depth} ({InChannels} ch, kernels {string.Join("/", Kernels)}) + 1x1 {InChannels}→{OutChannels}";
}

/// <summary>GMS block: conv 3x3, conv 1x1, split into transformer (a) and conv (b) branches, fuse.</summary>
public sealed record GmsPlan(
    int InChannels, int OutChannels, int TransformerChannels, int ConvChannels, EquatableArray<int> Patch,
    int Heads, int HeadDim, int Mlp, int Depth) : BlockPlan(InChannels, OutChannels)
{
    public override string Describe() =>
        $"GMS {InChannels}→{OutChannels} split [{TransformerChannels}, {ConvChannels}] patch {string.Join("x", Patch)} mlp {Mlp}" +
        (Depth > 1 ? $" depth {Depth}" : "");
}

public sealed record FusionPlan(int InChannels, int OutChannels, int Expansion) : BlockPlan(InChannels, OutChannels)
{
    public override string Describe() => $"fusion {InChannels}→{OutChannels}";
}

public sealed record DoubleConvPlan(int InChannels, int OutChannels) : BlockPlan(InChannels, OutChannels)
{
    public override string Describe() => $"double conv {InChannels}→{OutChannels}";
}

/// <summary>Upsample x2 → conv 3x3 (bias) → norm → ReLU.</summary>
public sealed record UpConvPlan(int InChannels, int OutChannels) : BlockPlan(InChannels, OutChannels)
{
    public override string Describe() => $"upsample x2, conv 3x3 {InChannels}→{OutChannels}, norm, ReLU";
}

/// <summary>1x1 convolution to one logit per class.</summary>
public sealed record HeadPlan(int InChannels, int OutChannels) : BlockPlan(InChannels, OutChannels)
{
    public override string Describe() => $"conv 1x1 {InChannels}→{OutChannels} (logits)";
}

/// <summary>A user block: the class its declaration names, constructed with the planned channels and the option values.
/// The compiler does not see inside it: its parameters are counted on the built module, its multiply-adds come from
/// the block itself when it declares them (<c>IBlockCost</c>).</summary>
public sealed record CustomBlockPlan(int InChannels, int OutChannels, Blocks.BlockDeclaration Declaration, EquatableArray<Model.OptionValue> Values)
    : BlockPlan(InChannels, OutChannels)
{
    public override string Describe()
    {
        var options = Declaration.Options.Zip(Values, (o, v) => o.Key + " " + Format(o, v));
        string shown = string.Join(", ", options);
        return $"{Declaration.Keyword} {InChannels}→{OutChannels}" + (shown.Length > 0 ? $" ({shown})" : "");
    }

    /// <summary>An option value as YAML would write it.</summary>
    public static string Format(Blocks.OptionDeclaration option, Model.OptionValue value) => value.IsAbsent ? "not given" : option.Kind switch
    {
        Blocks.OptionKind.Integer => value.Integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Blocks.OptionKind.IntegerList or Blocks.OptionKind.PerAxis => "[" + string.Join(", ", value.Integers) + "]",
        Blocks.OptionKind.Fraction => value.Number.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        Blocks.OptionKind.Choice => option.Choices[value.Integer],
        _ => value.Integer != 0 ? "true" : "false",
    };
}
