namespace LGMSNet.Runtime.Blocks;

/// <summary>Makes a TorchSharp module (<c>nn.Module&lt;Tensor, Tensor&gt;</c>) a block of the YAML language under
/// <paramref name="keyword"/>: <c>- se: { reduction: 8 }</c> in an encoder or decoder entry constructs it. The source
/// generator reads this declaration at build time (README, "Write your own block"):
/// <list type="bullet">
/// <item>the class has exactly one public constructor; its parameters named <c>dims</c>, <c>inChannels</c>,
/// <c>outChannels</c> (int) and <c>norm</c> (<see cref="NormSpec"/>) receive what the planner decided, every other
/// parameter is a YAML option (int, int[], double, bool or an enum; see <see cref="LgmsOptionAttribute"/>), its C#
/// default value the option's default;</item>
/// <item><see cref="Channels"/> (or <see cref="ChannelsFrom"/>) states the output channels, <see cref="InputDivisibleBy"/>
/// what the input channels must divide by;</item>
/// <item>implementing <see cref="IBlockCost"/> declares its multiply-adds, <c>LGMSNet.Runtime.Deploy.IOnnxBlock</c> its ONNX export.</item>
/// </list>
/// A declaration the language cannot use is a build error (LGMS101–LGMS106) on the declaration itself.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class LgmsBlockAttribute(string keyword) : Attribute
{
    /// <summary>The YAML keyword: lower-case letters, digits and '_', starting with a letter.</summary>
    public string Keyword { get; } = keyword;

    /// <summary>One sentence shown in summaries, hovers and the JSON Schema.</summary>
    public string Description { get; set; } = "";

    /// <summary>The block's output channels (default: the level width, as the built-in blocks).</summary>
    public BlockChannels Channels { get; set; } = BlockChannels.LevelWidth;

    /// <summary>An integer option whose value is the output channel count (implies <see cref="BlockChannels.FromOption"/>).</summary>
    public string? ChannelsFrom { get; set; }

    /// <summary>Divisors of the input channel count: option names (their value) or positive integers, e.g. <c>["reduction", "2"]</c>.</summary>
    public string[] InputDivisibleBy { get; set; } = [];
}

/// <summary>How a user block's output channels follow from where it sits.</summary>
public enum BlockChannels
{
    /// <summary>The block maps its input channels to the level width.</summary>
    LevelWidth,

    /// <summary>The block keeps its input channels (gates, attentions).</summary>
    SameAsInput,

    /// <summary>An integer option gives the output channels (<see cref="LgmsBlockAttribute.ChannelsFrom"/>).</summary>
    FromOption,
}
