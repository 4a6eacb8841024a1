using System.Globalization;
using System.Text;
using LGMSNet.Dsl;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Language;
using LGMSNet.Dsl.Planning;
using LGMSNet.Dsl.Yaml;
using LGMSNet.LanguageServer.Workspace;

namespace LGMSNet.LanguageServer.Features;

/// <summary>Hover text (Markdown) from the compiler's plan and the declarations: a stage's or block's shapes, channels,
/// parameters and multiply-adds; an option's type, range, default and description; the file's totals on <c>name</c>.
/// Counts are the compiler's (<see cref="Costs"/>, the numbers <c>summary</c> prints for built-in blocks); a user block's
/// own parameters and multiply-adds are counted by <c>summary</c> on the built TorchSharp module, which this server does
/// not load, and the hover says so instead of printing a number.</summary>
internal static class HoverText
{
    public static string? At(DocumentAnalysis analysis, int offset)
    {
        var place = YamlLocator.At(analysis, offset);
        // The file's opening comments (before its first key): the totals.
        if (place == null && analysis.Root is YamlMapping { Entries.Count: > 0 } top && analysis.CompilerOffset(offset) < top.Entries[0].Key.Span.Start)
            return Totals(analysis);
        if (place?.TopKey == null) return null;
        var catalog = analysis.Project.Catalog;
        if (place.Option != null && place.Block != null && YamlLocator.Block(catalog, place.Block) is { } owner && owner.Option(place.Option) is { } option)
            return Option(owner, option);
        if (place.Block != null && place.EntryIndex is int entry)
            return Block(analysis, place.TopKey, entry, place.Block, place.BlockIndex);
        if (place.EntryIndex is int onlyEntry && analysis.Plan != null && YamlLocator.Stage(analysis.Plan, place.TopKey, onlyEntry) is { } stage)
            return StageText(analysis, stage, null, 0);
        var rule = LanguageRules.TopLevel.FirstOrDefault(r => r.Key == place.TopKey);
        if (rule == null) return null;
        var text = new StringBuilder(Key(rule));
        if (rule == LanguageRules.Name || rule == LanguageRules.Encoder || rule == LanguageRules.Decoder)
            if (Totals(analysis) is { } totals) text.Append("\n\n---\n\n").Append(totals);
        return text.ToString();
    }

    public static string Key(KeyRule rule)
    {
        var text = new StringBuilder($"**{rule.Key}**: {Kind(rule)}");
        if (rule.Required) text.Append(", required");
        if (rule.DefaultJson != null) text.Append($", default `{rule.DefaultJson.Trim('"')}`");
        text.Append("\n\n").Append(rule.Description);
        if (rule.RangeReason != null) text.Append(" (").Append(rule.RangeReason).Append(')');
        return text.ToString();
    }

    public static string Kind(KeyRule rule) => rule.Kind switch
    {
        ValueKind.Identifier => "a C# class name",
        ValueKind.Integer => $"an integer {rule.Min}..{rule.Max}",
        ValueKind.IntegerList => $"a list of {rule.MinCount} to {rule.MaxCount} integers {rule.Min}..{rule.Max}",
        ValueKind.PerAxis => $"an integer {rule.Min}..{rule.Max} or one per spatial axis",
        ValueKind.Choice => "one of " + string.Join(", ", rule.Choices),
        ValueKind.Text => "text",
        _ => "a list of stages",
    };

    public static string Option(BlockDeclaration block, OptionDeclaration option)
    {
        var text = new StringBuilder($"**{option.Key}** (option of `{block.Keyword}`): {option.Describe()}");
        if (option.Odd) text.Append(", odd");
        text.Append(option.DefaultJson != null ? $", default `{option.DefaultJson.Trim('"')}`" : option.Optional ? ", optional (no default)" : ", required");
        if (option.NotWith != null) text.Append($"; not together with `{option.NotWith}`");
        if (option.Description.Length > 0) text.Append("\n\n").Append(option.Description);
        if (option.RangeReason != null) text.Append(" (").Append(option.RangeReason).Append(')');
        return text.ToString();
    }

    private static string? Block(DocumentAnalysis analysis, string topKey, int entry, string keyword, int blockIndex)
    {
        var declaration = YamlLocator.Block(analysis.Project.Catalog, keyword);
        var text = new StringBuilder();
        if (declaration != null)
        {
            bool builtIn = Dsl.Planning.Definitions.BlockDefinitions.BuiltInKeywords.Contains(keyword);
            text.Append($"**{keyword}** ({(builtIn ? "built-in block" : "block " + declaration.DisplayType)})");
            if (declaration.Description.Length > 0) text.Append("\n\n").Append(declaration.Description);
            if (declaration.Options.Count > 0)
                text.Append("\n\nOptions: ").Append(string.Join("; ", declaration.Options.Select(o =>
                    $"`{o.Key}` {o.Describe()}" + (o.DefaultJson != null ? $" (default {o.DefaultJson.Trim('"')})" : o.Optional ? " (optional)" : " (required)"))));
        }
        if (analysis.Plan != null && YamlLocator.Stage(analysis.Plan, topKey, entry) is { } stage)
            text.Append(text.Length > 0 ? "\n\n---\n\n" : "").Append(StageText(analysis, stage, keyword, blockIndex));
        else if (analysis.Plan == null)
            text.Append(text.Length > 0 ? "\n\n" : "").Append("_Shapes and counts appear when the file compiles without errors._");
        return text.Length == 0 ? null : text.ToString();
    }

    public static string StageText(DocumentAnalysis analysis, StagePlan stage, string? keyword, int blockIndex)
    {
        var plan = analysis.Plan!;
        var cost = analysis.Costs!.First(c => c.Stage.Name == stage.Name);
        var size = Costs.SizeAt(stage.Level, plan.DefaultInputSize);
        var input = new[] { (long)stage.InChannels }.Concat(size);
        var text = new StringBuilder();
        text.Append($"**{stage.Name}** (reference `{stage.ReferenceName}`, level {stage.Level}): ")
            .Append($"{Formatting.Size(input)} → {Formatting.Size(cost.OutputShape)} (channels {stage.InChannels} → {stage.OutChannels}) ")
            .Append($"at input {Formatting.Size(plan.DefaultInputSize)}");
        var source = plan.Stages.FirstOrDefault(s => s.Name == stage.Input.Source);
        if (source != null)
            text.Append($"\n\ninput: {source.Name}" + (stage.Input.Pool ? " max-pooled ×2" : "") + (stage.Input.Skip != null ? $", after skip {stage.Input.Skip}" : ""));
        text.Append("\n\nblocks: ").Append(Formatting.Stage(stage));
        if (keyword != null && stage.Blocks.Count > 1 && blockIndex < stage.Blocks.Count && stage.Blocks[blockIndex] is { } block)
            text.Append($"\n\nthis `{keyword}`: {block.Describe()}, {block.InChannels} → {block.OutChannels} channels");
        text.Append($"\n\nparameters: {Formatting.Count(cost.Parameters)}; multiply-adds: {Formatting.Mega(cost.Macs.Total)} M");
        if (cost.Opaque.Count > 0)
            text.Append($" (without {string.Join(", ", cost.Opaque.Select(o => o.Block.Declaration.Keyword).Distinct())}: a user block's own parameters and " +
                        "multiply-adds are counted by `summary` on the built TorchSharp module, which this editor server does not load)");
        return text.ToString();
    }

    /// <summary>The totals <c>summary</c> prints, from the compiler's counts.</summary>
    public static string? Totals(DocumentAnalysis analysis)
    {
        var plan = analysis.Plan;
        if (plan == null) return null;
        var stages = analysis.Costs!;
        var macs = stages.Aggregate(default(MacCount), (sum, s) => sum + s.Macs);
        long parameters = stages.Sum(s => s.Parameters);
        var opaque = stages.SelectMany(s => s.Opaque).Select(o => o.Block.Declaration.Keyword).Distinct().ToList();
        var text = new StringBuilder();
        text.Append($"**{plan.Name}** ({analysis.Compiled.FileStem}.yaml): {plan.Dims}D, {plan.InChannels} → {plan.Classes}, ")
            .Append($"input {Formatting.Size(plan.DefaultInputSize)} (sizes must be multiples of {Formatting.Size(plan.InputMultiple)})\n\n");
        text.Append("| stage | block | in→out | output | parameters | MMACs |\n|---|---|---|---|---:|---:|\n");
        foreach (var s in stages)
            text.Append($"| {s.Stage.Name} | {Formatting.Stage(s.Stage).Replace("|", "\\|")} | {s.Stage.InChannels}→{s.Stage.OutChannels} | " +
                        $"{Formatting.Size(s.OutputShape)} | {Formatting.Count(s.Parameters)} | {Formatting.Mega(s.Macs.Total)} |\n");
        text.Append($"\nparameters: {Formatting.Count(parameters)}");
        text.Append($"\n\nmultiply-adds: {Formatting.Giga(macs.Total)} G = conv {Formatting.Giga(macs.Convolution)} G + linear {Formatting.Giga(macs.Linear)} G " +
                    $"+ attention {Formatting.Giga(macs.Attention)} G (bias adds, norms, activations, pooling and resampling not counted)");
        if (opaque.Count > 0)
            text.Append($"\n\nwithout the user blocks {string.Join(", ", opaque)}: their own parameters and multiply-adds are counted by `summary` " +
                        "on the built TorchSharp module, which this editor server does not load");
        return text.ToString();
    }

    internal static string Num(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
