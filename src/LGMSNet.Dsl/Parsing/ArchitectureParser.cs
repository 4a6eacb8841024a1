using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Language;
using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Planning.Definitions;
using LGMSNet.Dsl.Text;
using LGMSNet.Dsl.Yaml;

namespace LGMSNet.Dsl.Parsing;

/// <summary>Maps a YAML tree onto <see cref="ArchitectureSpec"/>: keys, types, ranges and block
/// syntax. Channel arithmetic (which depends on where a block sits) is the planner's job.</summary>
public sealed class ArchitectureParser
{
    // Keys, ranges and defaults come from LanguageRules, which also writes the editor schema.
    public static readonly string[] TopLevelKeys = LanguageRules.KeysOf(LanguageRules.TopLevel);
    public static readonly string[] NormNames = LanguageRules.NormNames;
    public static readonly string[] UpsampleNames = LanguageRules.UpsampleNames;

    /// <inheritdoc cref="LanguageRules.MaxClasses"/>
    public const int MaxClasses = LanguageRules.MaxClasses;

    private readonly string _file;
    private readonly List<DslDiagnostic> _diagnostics;
    private readonly BlockCatalog _blocks;
    private readonly string[] _blockNames;
    private bool _fatal; // a required value is unusable, so no spec can be built

    private ArchitectureParser(string file, List<DslDiagnostic> diagnostics, BlockCatalog? blocks)
    {
        _file = file;
        _diagnostics = diagnostics;
        // Built-in and user blocks are read the same way, from their declarations.
        _blocks = BlockDefinitions.With(blocks);
        _blockNames = _blocks.Keywords.ToArray();
    }

    public static ArchitectureSpec? Parse(YamlNode root, string filePath, List<DslDiagnostic> diagnostics, BlockCatalog? blocks = null) =>
        new ArchitectureParser(filePath, diagnostics, blocks).ParseRoot(root);

    private ArchitectureSpec? ParseRoot(YamlNode root)
    {
        if (root is not YamlMapping top)
        {
            Report(DiagnosticKinds.WrongType, root.Span,
                $"an architecture file must be a mapping (name: ..., dims: ..., widths: ...), found {root.Describe()}");
            return null;
        }
        var keys = Keys(top, TopLevelKeys, "top-level keys");

        var name = Required(keys, top, "name", n => ParseName(n));
        var dims = Required(keys, top, "dims", n => ParseDims(n));
        var inChannels = Required(keys, top, "in_channels", n => Int(n, LanguageRules.InChannels));
        var classes = Required(keys, top, "classes", n => Int(n, LanguageRules.Classes));
        var widths = Required(keys, top, "widths", n => IntList(n, LanguageRules.Widths));
        int dimsValue = dims?.Value ?? 0;

        var norm = Optional(keys, "norm", n => Choice(n, "norm", NormNames))
            is { } normChoice
            ? new Located<NormKind>((NormKind)normChoice.Value, normChoice.Span)
            : new Located<NormKind>(dimsValue == 3 ? NormKind.Instance : NormKind.Batch, top.Span);
        var normGroups = Optional(keys, "norm_groups", n => Int(n, LanguageRules.NormGroups)) ?? new Located<int>(LanguageRules.NormGroups.DefaultInteger, top.Span);
        var upsample = Optional(keys, "upsample", n => Choice(n, "upsample", UpsampleNames));
        var inputSize = Optional(keys, "input_size", n => PerAxis(n, LanguageRules.InputSize, dimsValue));
        string description = Optional(keys, "description", n => Text(n, "description"))?.Value ?? "";

        var encoder = Required(keys, top, "encoder", n => Stages(n, "encoder", dimsValue));
        var decoder = Required(keys, top, "decoder", n => Stages(n, "decoder", dimsValue));

        if (_fatal || name == null || dims == null || inChannels == null || classes == null || widths == null
            || encoder == null || decoder == null)
            return null;

        return new ArchitectureSpec(name.Value, dims.Value, inChannels.Value, classes.Value, widths.Value, norm, normGroups,
            (Upsampling)(upsample?.Value ?? 0), inputSize, description, encoder.Value, decoder.Value);
    }

    // ---- stages and blocks -------------------------------------------------------------------

    private Located<EquatableArray<StageSpec>>? Stages(YamlNode node, string key, int dims)
    {
        if (node is not YamlSequence list)
        {
            Report(DiagnosticKinds.WrongType, node.Span, $"'{key}' must be a list with one entry per level, found {node.Describe()}");
            return null;
        }
        var stages = new List<StageSpec>();
        foreach (var item in list.Items)
        {
            var stage = Stage(item, key, dims);
            if (stage != null) stages.Add(stage);
        }
        return stages.Count == list.Items.Count ? new(stages.ToEquatableArray(), list.Span) : null;
    }

    private StageSpec? Stage(YamlNode node, string key, int dims)
    {
        if (node is YamlSequence sequence)
        {
            if (sequence.Items.Count == 0)
            {
                Report(DiagnosticKinds.WrongType, node.Span, $"an {key} entry needs at least one block");
                return null;
            }
            var blocks = new List<BlockSpec>();
            foreach (var item in sequence.Items)
            {
                if (item is YamlSequence)
                {
                    Report(DiagnosticKinds.WrongType, item.Span, "blocks of a level are listed once: a list inside a block list is not allowed");
                    _fatal = true;
                    continue;
                }
                var block = Block(item, dims);
                if (block != null) blocks.Add(block);
            }
            return blocks.Count == sequence.Items.Count ? new StageSpec(blocks.ToEquatableArray(), node.Span) : null;
        }
        var single = Block(node, dims);
        return single == null ? null : new StageSpec(EquatableArray.Of(single), node.Span);
    }

    private BlockSpec? Block(YamlNode node, int dims)
    {
        YamlScalar nameNode;
        YamlNode? options = null;
        switch (node)
        {
            case YamlScalar scalar when !scalar.IsNull:
                nameNode = scalar;
                break;
            case YamlMapping { Entries.Count: 1 } mapping:
                nameNode = mapping.Entries[0].Key;
                options = mapping.Entries[0].Value;
                break;
            case YamlMapping { Entries.Count: > 1 } mapping:
                Fatal(DiagnosticKinds.WrongType, mapping.Entries[1].Key.Span,
                    $"a block entry names one block, found '{mapping.Entries[0].Key.Value}' and '{mapping.Entries[1].Key.Value}'; " +
                    "write a list such as [fusion, { gms: { split: [48, 16] } }] to apply several blocks in order");
                return null;
            default:
                Fatal(DiagnosticKinds.WrongType, node.Span,
                    $"expected a block (one of {string.Join(", ", _blockNames)}), found {node.Describe()}");
                return null;
        }

        if (options is YamlScalar { IsNull: true }) options = null;
        YamlMapping? optionMap = null;
        if (options != null)
        {
            optionMap = options as YamlMapping;
            if (optionMap == null)
            {
                Fatal(DiagnosticKinds.WrongType, options.Span,
                    $"the options of '{nameNode.Value}' must be a mapping such as {{ kernels: [3, 5, 7, 9] }}, found {options.Describe()}");
                return null;
            }
        }

        if (_blocks.Find(nameNode.Value) is { } declared) return ReadBlock(declared, optionMap, node.Span, dims);
        if (_blocks.IsBroken(nameNode.Value))
        {
            Report(DiagnosticKinds.BrokenBlock, nameNode.Span,
                $"block '{nameNode.Value}' cannot be used: its C# declaration has errors (LGMS101-LGMS106, reported on the class)");
            return new UnresolvedBlockSpec(nameNode.Value, node.Span);
        }
        string blockHint = Suggestions.Hint(nameNode.Value, _blockNames, "blocks", out string? block);
        Report(DiagnosticKinds.UnknownBlock, nameNode.Span, $"unknown block '{nameNode.Value}'" + blockHint, block);
        return new UnresolvedBlockSpec(nameNode.Value, node.Span);
    }

    /// <summary>A block, built in or declared in C#: every option read by its declared kind and range, defaults filled in.</summary>
    private DeclaredBlockSpec? ReadBlock(BlockDeclaration block, YamlMapping? options, SourceSpan span, int dims)
    {
        var keys = Keys(options, block.Options.Select(o => o.Key).ToArray(), block.Keyword + " options");
        var values = new List<OptionValue>();
        bool ok = true;
        foreach (var option in block.Options)
        {
            if (!keys.TryGetValue(option.Key, out var node) || node is YamlScalar { IsNull: true })
            {
                if (option.Required)
                {
                    Report(DiagnosticKinds.MissingKey, span, $"block '{block.Keyword}' needs option '{option.Key}' ({option.Describe()}): it has no default");
                    ok = false;
                    continue;
                }
                if (option.DefaultJson == null)
                {
                    values.Add(OptionValue.Absent(option.Key, span));
                    continue;
                }
                var defaulted = Default(option, span, dims);
                if (option.Kind == OptionKind.PerAxis && dims is 2 or 3 && defaulted.Integers.Count != dims)
                {
                    Report(DiagnosticKinds.PatchLength, span,
                        $"the default of '{block.Keyword}' option '{option.Key}' lists {defaulted.Integers.Count} sizes but dims is {dims}: give '{option.Key}' here");
                    ok = false;
                    continue;
                }
                values.Add(defaulted);
                continue;
            }
            var value = OptionOf(option, node, dims);
            if (value == null) ok = false;
            else values.Add(value);
        }
        // Options that exclude each other (gms: split and ratio): reported on the later one, the block still read.
        foreach (var option in block.Options.Where(o => o.NotWith != null))
        {
            var mine = values.FirstOrDefault(v => v.Key == option.Key);
            var other = values.FirstOrDefault(v => v.Key == option.NotWith);
            if (mine is { IsAbsent: false } && other is { IsAbsent: false } && keys.ContainsKey(option.Key) && keys.ContainsKey(option.NotWith!))
            {
                var later = other.Span.Start > mine.Span.Start ? other : mine;
                Report(DiagnosticKinds.SplitAndRatio, later.Span, $"give either '{option.Key}' or '{option.NotWith}', not both");
            }
        }
        if (!ok)
        {
            _fatal = true;
            return null;
        }
        return new DeclaredBlockSpec(block, values.ToEquatableArray(), span);
    }

    private static OptionValue Default(OptionDeclaration option, SourceSpan span, int dims)
    {
        string json = option.DefaultJson!;
        switch (option.Kind)
        {
            case OptionKind.Fraction:
                return new OptionValue(option.Key, EquatableArray<int>.Empty, double.Parse(json, CultureInfo.InvariantCulture), span);
            case OptionKind.Boolean:
                return new OptionValue(option.Key, EquatableArray.Of(json == "true" ? 1 : 0), 0, span);
            case OptionKind.Choice:
                return new OptionValue(option.Key, EquatableArray.Of(option.Choices.ToList().IndexOf(json.Trim('"'))), 0, span);
            case OptionKind.PerAxis:
                {
                    var values = option.DefaultIntegers();
                    return new OptionValue(option.Key, values.Length == 1 ? Repeat(values[0], dims) : values.ToEquatableArray(), 0, span);
                }
            default:
                return new OptionValue(option.Key, option.DefaultIntegers().ToEquatableArray(), 0, span);
        }
    }

    private OptionValue? OptionOf(OptionDeclaration option, YamlNode node, int dims)
    {
        string what = option.Key;
        int min = (int)Math.Max(int.MinValue, Math.Ceiling(option.Min)), max = (int)Math.Min(int.MaxValue, Math.Floor(option.Max));
        switch (option.Kind)
        {
            case OptionKind.Integer:
                return Int(node, what, min, max, option.RangeReason) is { } i && IsOddIfNeeded(option, i.Value, node)
                    ? new OptionValue(option.Key, EquatableArray.Of(i.Value), 0, node.Span) : null;
            case OptionKind.IntegerList when option.Odd:
                return OddList(option, node, min, max);
            case OptionKind.IntegerList:
                return IntList(node, option.Key, option.MinCount, option.MaxCount, min, max) is { } list
                    ? new OptionValue(option.Key, list.Value, 0, node.Span) : null;
            case OptionKind.PerAxis:
                return PerAxis(node, option.Key, dims, min, max) is { } axes && axes.Value.All(v => IsOddIfNeeded(option, v, node))
                    ? new OptionValue(option.Key, axes.Value, 0, node.Span) : null;
            case OptionKind.Fraction:
                if (node is YamlScalar { IsPlain: true } s
                    && double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number)
                    && !double.IsNaN(number) && !double.IsInfinity(number))
                {
                    if (number >= option.Min && number <= option.Max) return new OptionValue(option.Key, EquatableArray<int>.Empty, number, node.Span);
                    Report(DiagnosticKinds.OutOfRange, node.Span,
                        $"{what} {Truncate(s.Value)} is out of range ({OptionDeclaration.Num(option.Min)}..{OptionDeclaration.Num(option.Max)})" +
                        (option.RangeReason == null ? "" : ": " + option.RangeReason));
                    return null;
                }
                Report(DiagnosticKinds.WrongType, node.Span, $"'{what}' must be {option.Describe()}, found {node.Describe()}");
                return null;
            case OptionKind.Choice:
                return Choice(node, what, option.Choices.ToArray()) is { } c ? new OptionValue(option.Key, EquatableArray.Of(c.Value), 0, node.Span) : null;
            default:
                if (node is YamlScalar { IsPlain: true } b && (b.Value == "true" || b.Value == "false"))
                    return new OptionValue(option.Key, EquatableArray.Of(b.Value == "true" ? 1 : 0), 0, node.Span);
                Report(DiagnosticKinds.WrongType, node.Span, $"'{what}' must be true or false, found {node.Describe()}");
                return null;
        }
    }

    private bool IsOddIfNeeded(OptionDeclaration option, int value, YamlNode node)
    {
        if (!option.Odd || (value > 0 && value % 2 == 1)) return true;
        Report(DiagnosticKinds.InvalidKernel, node.Span, $"{option.Key} {value} is invalid: {option.OddRule()}");
        return false;
    }

    /// <summary>A list of odd sizes (an <c>Odd</c> option, e.g. lms's kernels): each entry odd and positive, then in range.</summary>
    private OptionValue? OddList(OptionDeclaration option, YamlNode node, int min, int max)
    {
        if (node is not YamlSequence list)
        {
            Report(DiagnosticKinds.WrongType, node.Span, $"'{option.Key}' must be a list of odd sizes such as [3, 5, 7, 9], found {node.Describe()}");
            return null;
        }
        if (list.Items.Count < option.MinCount || list.Items.Count > option.MaxCount)
        {
            Report(DiagnosticKinds.OutOfRange, node.Span, $"'{option.Key}' must list {option.MinCount} to {option.MaxCount} sizes, found {list.Items.Count}");
            return null;
        }
        var values = new List<int>();
        foreach (var item in list.Items)
        {
            var k = Int(item, $"each entry of '{option.Key}'", int.MinValue, int.MaxValue);
            if (k == null) return null;
            if (k.Value.Value <= 0 || k.Value.Value % 2 == 0)
            {
                Report(DiagnosticKinds.InvalidKernel, item.Span,
                    $"{option.Key} entry {k.Value.Value} is invalid: {option.OddRule()}");
                return null;
            }
            if (k.Value.Value < min || k.Value.Value > max)
            {
                Report(DiagnosticKinds.OutOfRange, item.Span, $"{option.Key} entry {k.Value.Value} is out of range ({min}..{max})");
                return null;
            }
            values.Add(k.Value.Value);
        }
        return new OptionValue(option.Key, values.ToEquatableArray(), 0, node.Span);
    }

    // ---- top-level values --------------------------------------------------------------------

    private Located<string>? ParseName(YamlNode node)
    {
        var text = Text(node, "name");
        if (text == null) return null;
        string name = text.Value.Value;
        if (!IsIdentifier(name))
        {
            Report(DiagnosticKinds.InvalidName, node.Span,
                $"name '{Truncate(name)}' is not a valid C# class name (letters, digits and '_', not starting with a digit, at most 100 characters)");
            return null;
        }
        if (CSharpKeywords.Contains(name) || GeneratedNames.IsReserved(name))
        {
            Report(DiagnosticKinds.InvalidName, node.Span,
                $"name '{name}' is reserved (the generator emits a class, member or file of that name, compared case-insensitively); choose another class name");
            return null;
        }
        if (name.All(c => c is >= 'a' and <= 'z'))
        {
            // C# warns on such type names (CS8981: they may become keywords), which breaks warning-free builds.
            Report(DiagnosticKinds.InvalidName, node.Span,
                $"name '{name}' is all lower-case letters, which C# reserves for future keywords; capitalise it (e.g. '{char.ToUpperInvariant(name[0]) + name.Substring(1)}')");
            return null;
        }
        return text;
    }

    private Located<int>? ParseDims(YamlNode node)
    {
        var dims = Int(node, "dims", int.MinValue, int.MaxValue);
        if (dims == null) return null;
        if (dims.Value.Value is 2 or 3) return dims;
        Report(DiagnosticKinds.InvalidDims, node.Span, $"dims must be 2 (images) or 3 (volumes), found {dims.Value.Value}");
        return null;
    }

    // ---- typed readers -------------------------------------------------------------------------

    private Dictionary<string, YamlNode> Keys(YamlMapping? mapping, string[] allowed, string what)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        if (mapping == null) return result;
        // A "did you mean" never names a key this mapping already has: taking it would give a duplicate key (LGMS016).
        var present = new HashSet<string>(mapping.Entries.Select(e => e.Key.Value), StringComparer.Ordinal);
        foreach (var entry in mapping.Entries)
        {
            string key = entry.Key.Value;
            if (Array.IndexOf(allowed, key) >= 0)
            {
                result[key] = entry.Value;
                continue;
            }
            string? closest = null;
            string hint = allowed.Length == 0
                ? $"; '{what.Split(' ')[0]}' takes no options"
                : Suggestions.Hint(key, allowed, what, present, out closest);
            // A block name typed where a top-level key belongs is a common slip; say so.
            Report(DiagnosticKinds.UnknownKey, entry.Key.Span, $"unknown key '{Truncate(key)}'{hint}", closest);
        }
        return result;
    }

    private Located<T>? Required<T>(Dictionary<string, YamlNode> keys, YamlMapping owner, string key, Func<YamlNode, Located<T>?> read)
    {
        if (!keys.TryGetValue(key, out var node))
        {
            Fatal(DiagnosticKinds.MissingKey, owner.Span, $"missing required key '{key}'");
            return null;
        }
        var value = read(node);
        if (value == null) _fatal = true;
        return value;
    }

    private Located<T>? Optional<T>(Dictionary<string, YamlNode> keys, string key, Func<YamlNode, Located<T>?> read)
    {
        if (!keys.TryGetValue(key, out var node) || node is YamlScalar { IsNull: true }) return null;
        var value = read(node);
        if (value == null) _fatal = true;
        return value;
    }

    private Located<int>? Int(YamlNode node, KeyRule rule) => Int(node, rule.Key, rule.Min, rule.Max, rule.RangeReason);

    private Located<EquatableArray<int>>? IntList(YamlNode node, KeyRule rule) =>
        IntList(node, rule.Key, rule.MinCount, rule.MaxCount, rule.Min, rule.Max);

    private Located<EquatableArray<int>>? PerAxis(YamlNode node, KeyRule rule, int dims) => PerAxis(node, rule.Key, dims, rule.Min, rule.Max);

    private Located<int>? Int(YamlNode node, string what, int min, int max, string? why = null)
    {
        if (node is YamlScalar { IsPlain: true } s && IsInteger(s.Value))
        {
            bool parsed = long.TryParse(s.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value);
            if (parsed && value >= min && value <= max) return new((int)value, node.Span);
            Report(DiagnosticKinds.OutOfRange, node.Span, $"{what} {Truncate(s.Value)} is out of range ({min}..{max})" + (why == null ? "" : ": " + why));
            return null;
        }
        Report(DiagnosticKinds.WrongType, node.Span, $"{what} must be an integer, found {node.Describe()}");
        return null;
    }

    private Located<EquatableArray<int>>? IntList(YamlNode node, string what, int minCount, int maxCount, int min, int max)
    {
        if (node is not YamlSequence list)
        {
            Report(DiagnosticKinds.WrongType, node.Span, $"'{what}' must be a list of integers, found {node.Describe()}");
            return null;
        }
        if (list.Items.Count < minCount || list.Items.Count > maxCount)
        {
            string expected = minCount == maxCount ? $"exactly {minCount}" : $"{minCount} to {maxCount}";
            Report(minCount == maxCount ? DiagnosticKinds.WrongType : DiagnosticKinds.OutOfRange, node.Span,
                $"'{what}' must have {expected} entries, found {list.Items.Count}");
            return null;
        }
        var values = new List<int>();
        foreach (var item in list.Items)
        {
            var value = Int(item, $"each entry of '{what}'", min, max);
            if (value == null) return null;
            values.Add(value.Value.Value);
        }
        return new(values.ToEquatableArray(), node.Span);
    }

    /// <summary>An int (same for every axis) or a list with one int per spatial axis.</summary>
    private Located<EquatableArray<int>>? PerAxis(YamlNode node, string what, int dims, int min, int max)
    {
        if (node is YamlScalar)
        {
            var single = Int(node, what, min, max);
            return single == null ? null : new(Repeat(single.Value.Value, Math.Max(dims, 1)), node.Span);
        }
        if (node is YamlSequence list && dims is 2 or 3 && list.Items.Count != dims)
        {
            Report(DiagnosticKinds.PatchLength, node.Span,
                $"'{what}' lists {list.Items.Count} sizes but dims is {dims}: give one size per spatial axis, or a single integer");
            return null;
        }
        return IntList(node, what, 2, 3, min, max);
    }

    private Located<int>? Choice(YamlNode node, string what, string[] options)
    {
        if (node is YamlScalar { IsPlain: true } s)
        {
            int index = Array.IndexOf(options, s.Value);
            if (index >= 0) return new(index, node.Span);
            var closest = Suggestions.Closest(s.Value, options);
            Report(DiagnosticKinds.OutOfRange, node.Span,
                $"{what} '{Truncate(s.Value)}' is not one of {string.Join(", ", options)}" + Suggestions.DidYouMean(closest), closest);
            return null;
        }
        Report(DiagnosticKinds.WrongType, node.Span, $"{what} must be one of {string.Join(", ", options)}, found {node.Describe()}");
        return null;
    }

    private Located<string>? Text(YamlNode node, string what)
    {
        if (node is YamlScalar s && !s.IsNull) return new(s.Value, node.Span);
        Report(DiagnosticKinds.WrongType, node.Span, $"{what} must be text, found {node.Describe()}");
        return null;
    }

    // ---- helpers -------------------------------------------------------------------------------

    /// <summary>Reports a diagnostic; <paramref name="replacement"/> is what a "did you mean" suggests in place of the text at
    /// <paramref name="span"/> (the editor's quick fix).</summary>
    private void Report(DiagnosticKind kind, SourceSpan span, string message, string? replacement = null) =>
        _diagnostics.Add(kind.At(_file, span, message) with { Replacement = replacement });

    private void Fatal(DiagnosticKind kind, SourceSpan span, string message)
    {
        Report(kind, span, message);
        _fatal = true;
    }

    private static EquatableArray<int> Repeat(int value, int count) => Enumerable.Repeat(value, Math.Max(count, 1)).ToEquatableArray();

    private static bool IsInteger(string text)
    {
        int start = text.Length > 0 && (text[0] == '-' || text[0] == '+') ? 1 : 0;
        if (start == text.Length) return false;
        for (int i = start; i < text.Length; i++)
            if (text[i] is < '0' or > '9') return false;
        return true;
    }

    private static bool IsIdentifier(string name)
    {
        if (name.Length is 0 or > 100 || !(char.IsLetter(name[0]) || name[0] == '_')) return false;
        foreach (char c in name)
            if (!(c < 128 && (char.IsLetterOrDigit(c) || c == '_'))) return false;
        return true;
    }

    private static string Truncate(string text) => text.Length > 40 ? text.Substring(0, 40) + "..." : text;

    private static readonly HashSet<string> CSharpKeywords = new(StringComparer.Ordinal)
    {
        "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const", "continue",
        "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit", "extern", "false", "finally",
        "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int", "interface", "internal", "is", "lock", "long",
        "namespace", "new", "null", "object", "operator", "out", "override", "params", "private", "protected", "public",
        "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static", "string", "struct", "switch",
        "this", "throw", "true", "try", "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void",
        "volatile", "while", "System", "TorchSharp", "LGMSNet",
    };
}
