using System.Collections.Generic;
using System.Linq;

namespace LGMSNet.Dsl.Language;

/// <summary>What a key's value is. Drives both the parser's readers and the JSON Schema's types.</summary>
public enum ValueKind
{
    /// <summary>A C# class name.</summary>
    Identifier,
    Integer,
    /// <summary>A list of integers (<see cref="KeyRule.MinCount"/>..<see cref="KeyRule.MaxCount"/> entries).</summary>
    IntegerList,
    /// <summary>One integer for every spatial axis, or a list with one per axis.</summary>
    PerAxis,
    /// <summary>One of <see cref="KeyRule.Choices"/>.</summary>
    Choice,
    Text,
    /// <summary>A list of stages: one entry per level.</summary>
    Stages,
}

/// <summary>One key of the language: its type, range, default and meaning. The parser reads values with
/// these ranges, and <see cref="JsonSchemaWriter"/> writes the editor schema from the same objects, so the
/// two cannot drift.</summary>
public sealed class KeyRule
{
    public KeyRule(string key, ValueKind kind, string description, bool required = false, int min = 0, int max = 0,
        int minCount = 0, int maxCount = 0, string[]? choices = null, string? defaultJson = null, string? rangeReason = null,
        string? skeletonJson = null)
    {
        SkeletonJson = skeletonJson;
        Key = key;
        Kind = kind;
        Description = description;
        Required = required;
        Min = min;
        Max = max;
        MinCount = minCount;
        MaxCount = maxCount;
        Choices = choices ?? new string[0];
        DefaultJson = defaultJson;
        RangeReason = rangeReason;
    }

    public string Key { get; }
    public ValueKind Kind { get; }
    public string Description { get; }
    public bool Required { get; }
    /// <summary>Smallest and largest value of an integer (or of each integer of a list).</summary>
    public int Min { get; }
    public int Max { get; }
    /// <summary>Fewest and most entries of a list.</summary>
    public int MinCount { get; }
    public int MaxCount { get; }
    public IReadOnlyList<string> Choices { get; }
    /// <summary>The default as a JSON literal, when it does not depend on other keys.</summary>
    public string? DefaultJson { get; }
    /// <summary>The default's integers (<c>4</c> → [4]; <c>[3, 5, 7, 9]</c> → [3, 5, 7, 9]).</summary>
    public int[] DefaultIntegers => (DefaultJson ?? throw new System.InvalidOperationException($"'{Key}' has no fixed default"))
        .Trim('[', ']').Split(',').Select(t => int.Parse(t.Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    public int DefaultInteger => DefaultIntegers.Single();

    /// <summary>What an editor inserts for a required key (alone, or in the whole-file skeleton at the start of an empty
    /// file): written as the schema's <c>default</c>, which yaml-language-server inserts as the key's value (without it, an
    /// integer gets 0 and a list one 0, values the language rejects). Never read by the parser; the required keys'
    /// skeletons together form a file that compiles (<c>LanguageServerTests</c> checks this with the real server).</summary>
    public string? SkeletonJson { get; }

    /// <summary>Why the range is what it is, appended to the out-of-range diagnostic.</summary>
    public string? RangeReason { get; }
}

/// <summary>The architecture language's top-level keys: the single source of the parser's keys and ranges and of
/// schemas/lgmsnet.schema.json (README "The YAML language" describes the same). Blocks and their options are
/// declarations (<see cref="Planning.Definitions.BlockDefinitions"/>), built in or a project's own.</summary>
public static class LanguageRules
{
    /// <summary>The most classes a network may have: the runtime stores class labels as one byte per
    /// pixel or voxel (label maps, the uint8 NIfTI output), so labels run 0..255. <c>classes: 1</c> is
    /// binary (labels 0 and 1, one logit); <c>classes: N</c> with N &gt; 1 means labels 0..N−1 (0 = background).</summary>
    public const int MaxClasses = byte.MaxValue + 1;

    public static readonly string[] NormNames = { "batch", "instance", "group" };
    public static readonly string[] UpsampleNames = { "linear", "nearest" };

    public static readonly KeyRule Name = new("name", ValueKind.Identifier,
        "C# class name of the generated module: letters, digits and '_', not starting with a digit, at most 100 characters; " +
        "not a C# keyword, not all lower-case (C# reserves those, CS8981), not a name the generator uses (CompiledArchitectures, Info, Stem, Head, Encoder1, ...).",
        required: true, skeletonJson: "\"MyNet\"");

    public static readonly KeyRule Dims = new("dims", ValueKind.Integer, "2 (images) or 3 (volumes).", required: true, min: 2, max: 3, skeletonJson: "2");

    public static readonly KeyRule InChannels = new("in_channels", ValueKind.Integer, "Input channels (3 for RGB images, 1 for CT/MRI).",
        required: true, min: 1, max: 256, skeletonJson: "3");

    public static readonly KeyRule Classes = new("classes", ValueKind.Integer,
        "1 = binary segmentation (one logit); N > 1 = one logit per class, labels 0..N-1 with 0 = background.",
        required: true, min: 1, max: MaxClasses, skeletonJson: "1",
        rangeReason: "class labels are stored as one byte per pixel or voxel, so labels 0..255 (0 = background)");

    public static readonly KeyRule Widths = new("widths", ValueKind.IntegerList,
        "Channels per resolution level, full resolution first (max-pool x2 between levels); 2 to 8 levels.",
        required: true, minCount: 2, maxCount: 8, min: 1, max: 4096, skeletonJson: "[16, 32, 64, 128, 128]");

    public static readonly KeyRule Norm = new("norm", ValueKind.Choice,
        "Norm of the stem, conv-norm-act helpers, up-convolutions, fusion and conv blocks. Default: batch in 2D, instance in 3D.",
        choices: NormNames);

    public static readonly KeyRule NormGroups = new("norm_groups", ValueKind.Integer, "Groups when norm is group.",
        min: 1, max: 4096, defaultJson: "4");

    public static readonly KeyRule Upsample = new("upsample", ValueKind.Choice,
        "Up-sampling of the up-convolutions: linear (bi/trilinear, align_corners=False) or nearest.",
        choices: UpsampleNames, defaultJson: "\"linear\"");

    public static readonly KeyRule InputSize = new("input_size", ValueKind.PerAxis,
        "The size costs are reported at (generated docs, summary) and train's default size: one integer for every axis or one per axis. " +
        "Default 256 (2D) or 96 (3D), rounded up to a valid multiple.",
        min: 1, max: 4096);

    public static readonly KeyRule Description = new("description", ValueKind.Text, "Free text copied into the generated XML docs.");

    public static readonly KeyRule Encoder = new("encoder", ValueKind.Stages,
        "One entry per level, full resolution first: a block, a block with options, or a list of blocks applied in order.",
        required: true, skeletonJson: "[\"lms\", \"lms\", \"lms\", \"gms\", \"gms\"]");

    public static readonly KeyRule Decoder = new("decoder", ValueKind.Stages,
        "One entry per level below the deepest, deepest first; each follows an up-convolution and the skip concatenation.",
        required: true, skeletonJson: "[\"gms\", \"fusion\", \"fusion\", \"fusion\"]");

    public static readonly IReadOnlyList<KeyRule> TopLevel = new[]
    {
        Name, Dims, InChannels, Classes, Widths, Norm, NormGroups, Upsample, Encoder, Decoder, InputSize, Description,
    };

    public static string[] KeysOf(IEnumerable<KeyRule> rules) => rules.Select(r => r.Key).ToArray();
}
