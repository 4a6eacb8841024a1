using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Text;

namespace LGMSNet.Dsl.Planning.Definitions;

/// <summary>A block declared in C# with <c>[LgmsBlock]</c>: its declared channel rule and constraints, one opaque layer
/// (the compiler does not see inside it), and its constructor called with the planned channels and every option.</summary>
public sealed class UserBlock(BlockDeclaration declaration) : BlockDefinition(declaration)
{
    public override Type PlanType => typeof(CustomBlockPlan);

    public override BlockPlan? Resolve(IPlanningContext context, DeclaredBlockSpec block, int inChannels, int width, int level)
    {
        OptionValue? ValueOf(string key) => block.Values.FirstOrDefault(v => v.Key == key);
        bool ok = true;
        foreach (string divisor in Declaration.InputDivisibleBy)
        {
            int by;
            SourceSpan span = block.Span;
            string source;
            if (int.TryParse(divisor, NumberStyles.None, CultureInfo.InvariantCulture, out by))
                source = by.ToString(CultureInfo.InvariantCulture);
            else if (ValueOf(divisor) is { IsAbsent: false } value)
            {
                by = value.Integer;
                span = value.Span;
                source = $"its {divisor} {by}";
            }
            else continue; // checked when the declaration was read
            if (by > 0 && inChannels % by == 0) continue;
            ok = context.Report(DiagnosticKinds.ChannelConstraint, span,
                $"'{Declaration.Keyword}' works on {inChannels} input channels here, not divisible by {source} as its declaration requires (InputDivisibleBy)");
        }
        int outChannels = Declaration.Channels switch
        {
            ChannelRule.SameAsInput => inChannels,
            ChannelRule.FromOption => ValueOf(Declaration.ChannelOption!)?.Integer ?? width,
            _ => width,
        };
        return ok ? new CustomBlockPlan(inChannels, outChannels, Declaration, block.Values) : null;
    }

    public override IEnumerable<Layer> Lower(LayerBuilder layers, BlockPlan plan, string o, Func<string> nextReference, int level) =>
        new Layer[] { new OpaqueLayer(o, nextReference(), level, (CustomBlockPlan)plan) };

    public override IReadOnlyList<string> Arguments(BlockPlan plan, int dims)
    {
        var block = (CustomBlockPlan)plan;
        var arguments = new List<string>();
        if (Declaration.Takes("dims")) arguments.Add($"dims: {dims}");
        if (Declaration.Takes("inChannels")) arguments.Add($"inChannels: {block.InChannels}");
        if (Declaration.Takes("outChannels")) arguments.Add($"outChannels: {block.OutChannels}");
        for (int i = 0; i < Declaration.Options.Count; i++)
            arguments.Add($"@{Declaration.Options[i].Parameter}: {Literal(Declaration.Options[i], block.Values[i])}");
        if (Declaration.Takes("norm")) arguments.Add("norm: norm");
        return arguments;
    }

    private static string Literal(OptionDeclaration option, OptionValue value)
    {
        if (value.IsAbsent) return "null";
        return option.Kind switch
        {
            OptionKind.Integer => value.Integer.ToString(CultureInfo.InvariantCulture),
            OptionKind.IntegerList or OptionKind.PerAxis => IntArray(value.Integers),
            OptionKind.Fraction => value.Number.ToString("R", CultureInfo.InvariantCulture) + "d",
            OptionKind.Choice => $"{option.ChoiceType}.@{option.ChoiceMembers[value.Integer]}",
            _ => value.Integer != 0 ? "true" : "false",
        };
    }
}
