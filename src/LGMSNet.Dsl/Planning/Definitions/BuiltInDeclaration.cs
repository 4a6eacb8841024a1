using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Planning.Definitions;

/// <summary>Writes the built-in blocks' declarations as the generator reads a user's <c>[LgmsBlock]</c> class: the
/// runtime class they construct, their options with ranges and defaults, level-width channels.</summary>
internal static class BuiltInDeclaration
{
    public static BlockDeclaration Of(string keyword, string runtimeClass, string description, params OptionDeclaration[] options) =>
        new(keyword, "global::LGMSNet.Runtime.Blocks." + runtimeClass, description, options.ToEquatableArray(), ChannelRule.LevelWidth, null,
            EquatableArray<string>.Empty, EquatableArray.Of("dims", "inChannels", "outChannels", "norm"));

    public static OptionDeclaration Int(string key, string description, int min, int max, string? defaultJson) =>
        new(key, key, OptionKind.Integer, description, min, max, 0, 0, EquatableArray<string>.Empty, EquatableArray<string>.Empty, "", defaultJson);

    public static OptionDeclaration List(string key, string description, int minCount, int maxCount, int min, int max, string? defaultJson) =>
        new(key, key, OptionKind.IntegerList, description, min, max, minCount, maxCount, EquatableArray<string>.Empty, EquatableArray<string>.Empty, "", defaultJson);

    public static OptionDeclaration PerAxis(string key, string description, int min, int max, string defaultJson) =>
        new(key, key, OptionKind.PerAxis, description, min, max, 0, 0, EquatableArray<string>.Empty, EquatableArray<string>.Empty, "", defaultJson);

    public static OptionDeclaration Fraction(string key, string description) =>
        new(key, key, OptionKind.Fraction, description, 0, 1, 0, 0, EquatableArray<string>.Empty, EquatableArray<string>.Empty, "", null);
}
