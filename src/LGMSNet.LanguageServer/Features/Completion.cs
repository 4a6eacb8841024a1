using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Language;
using LGMSNet.Dsl.Planning.Definitions;
using LGMSNet.LanguageServer.Workspace;

namespace LGMSNet.LanguageServer.Features;

internal enum CompletionKind { TopLevelKey, Block, Option, Value }

/// <summary>One completion: what the list shows, what replaces the word at the cursor, and the explanation.</summary>
internal sealed record CompletionEntry(string Label, string InsertText, CompletionKind Kind, string Detail, string Documentation);

/// <summary>Completion from the text before the cursor (it must work on a file that does not parse while it is being
/// typed): the enclosing top-level key, and for encoder/decoder entries a small bracket-aware reading of the entry
/// (a block, a list of blocks, a block's options mapping in flow or block style, an option's value).</summary>
internal static class Completion
{
    private enum Frame { Blocks, Options, Value }

    private sealed class State(Frame kind, string? block, string? option, char close)
    {
        public Frame Kind { get; } = kind;
        public string? Block { get; } = block;
        public string? Option { get; } = option;
        public char Close { get; set; } = close;
        public bool InList { get; set; }
        public HashSet<string> Given { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>The completions at <paramref name="offset"/> and the length of the word before it that they replace.</summary>
    public static (IReadOnlyList<CompletionEntry> Items, int WordStart) At(string text, int offset, BlockCatalog project)
    {
        var lines = new LineMap(text);
        var (line, character) = lines.Position(offset);
        int lineStart = lines.LineStart(line);
        int wordStart = offset;
        while (wordStart > lineStart && IsWord(text[wordStart - 1])) wordStart--;
        string before = text.Substring(lineStart, wordStart - lineStart);
        var blocks = BlockDefinitions.With(project);
        var empty = (Array.Empty<CompletionEntry>(), wordStart);
        if (before.TrimStart().StartsWith('#') || InComment(before)) return empty;

        // A top-level key: at column 0 of a line.
        if (before.Length == 0) return (TopLevelKeys(lines, line), wordStart);

        // The enclosing top-level key.
        int keyLine = line;
        while (keyLine >= 0 && !IsTopLevelKeyLine(lines.LineText(keyLine))) keyLine--;
        if (keyLine < 0) return empty;
        string keyText = lines.LineText(keyLine);
        string key = keyText.Substring(0, keyText.IndexOf(':')).Trim();
        int valueStart = lines.LineStart(keyLine) + keyText.IndexOf(':') + 1;
        if (key is "encoder" or "decoder")
        {
            int itemStart = valueStart;
            for (int l = line; l > keyLine; l--)
            {
                string t = lines.LineText(l);
                string trimmed = t.TrimStart();
                int indent = t.Length - trimmed.Length;
                if ((trimmed.StartsWith("- ", StringComparison.Ordinal) || trimmed == "-") && lines.LineStart(l) + indent < wordStart)
                {
                    itemStart = lines.LineStart(l) + indent + 1;
                    break;
                }
            }
            var state = Read(text.Substring(itemStart, wordStart - itemStart));
            return (Offer(state, blocks), wordStart);
        }
        if (keyLine != line) return empty;
        var rule = LanguageRules.TopLevel.FirstOrDefault(r => r.Key == key);
        string value = text.Substring(valueStart, wordStart - valueStart).Trim();
        if (rule == null || value.Length > 0) return empty;
        var values = rule.Kind switch
        {
            ValueKind.Choice => rule.Choices,
            ValueKind.Integer when rule.Max - rule.Min < 16 => Enumerable.Range(rule.Min, rule.Max - rule.Min + 1).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList(),
            _ => (IReadOnlyList<string>)Array.Empty<string>(),
        };
        return (values.Select(v => new CompletionEntry(v, v, CompletionKind.Value, rule.Key, rule.Description)).ToList(), wordStart);
    }

    private static IReadOnlyList<CompletionEntry> TopLevelKeys(LineMap lines, int current)
    {
        var present = new HashSet<string>(StringComparer.Ordinal);
        for (int l = 0; l < lines.LineCount; l++)
        {
            string t = lines.LineText(l);
            if (l != current && IsTopLevelKeyLine(t)) present.Add(t.Substring(0, t.IndexOf(':')).Trim());
        }
        return LanguageRules.TopLevel.Where(r => !present.Contains(r.Key)).Select(r =>
        {
            string? value = r.DefaultJson ?? r.SkeletonJson;
            string insert = r.Kind == ValueKind.Stages ? r.Key + ":" : value != null ? $"{r.Key}: {value.Trim('"')}" : r.Key + ": ";
            return new CompletionEntry(r.Key, insert, CompletionKind.TopLevelKey, HoverText.Kind(r) + (r.DefaultJson != null ? ", default " + r.DefaultJson.Trim('"') : ""),
                r.Description);
        }).ToList();
    }

    private static IReadOnlyList<CompletionEntry> Offer(State state, BlockCatalog blocks)
    {
        switch (state.Kind)
        {
            case Frame.Blocks:
                return blocks.Blocks.Select(b => new CompletionEntry(b.Keyword, b.Keyword, CompletionKind.Block,
                    BlockDefinitions.BuiltInKeywords.Contains(b.Keyword) ? "built-in block" : b.DisplayType,
                    b.Description + (b.Options.Count == 0 ? "" : "\n\nOptions: " + string.Join(", ", b.Options.Select(o => o.Key + (o.DefaultJson != null ? " = " + o.DefaultJson.Trim('"') : "")))))).ToList();
            case Frame.Options when blocks.Find(state.Block!) is { } block:
                // Neither an option already given nor one that cannot stand beside a given one (gms: split and ratio).
                return block.Options.Where(o => !state.Given.Contains(o.Key) && !(o.NotWith != null && state.Given.Contains(o.NotWith))
                                                && !block.Options.Any(g => state.Given.Contains(g.Key) && g.NotWith == o.Key)).Select(o =>
                {
                    string? value = o.DefaultJson ?? o.SkeletonJson;
                    string insert = value != null ? $"{o.Key}: {value.Trim('"')}" : o.Key + ": ";
                    return new CompletionEntry(o.Key, insert, CompletionKind.Option, o.Describe() + (o.DefaultJson != null ? ", default " + o.DefaultJson.Trim('"') : ""),
                        HoverText.Option(block, o));
                }).ToList();
            case Frame.Value when blocks.Find(state.Block!)?.Option(state.Option!) is { } option:
                return Values(option, state.InList).Select(v => new CompletionEntry(v, v, CompletionKind.Value, option.Describe(), option.Description)).ToList();
            default:
                return Array.Empty<CompletionEntry>();
        }
    }

    /// <summary>The valid values of an option where they are few: enum members, true/false, odd sizes, small ranges.</summary>
    public static IReadOnlyList<string> Values(OptionDeclaration option, bool inList)
    {
        switch (option.Kind)
        {
            case OptionKind.Choice:
                return option.Choices.ToList();
            case OptionKind.Boolean:
                return new[] { "true", "false" };
            case OptionKind.Integer or OptionKind.PerAxis or OptionKind.IntegerList:
                if (option.Kind == OptionKind.IntegerList && !inList) return option.DefaultJson != null ? new[] { option.DefaultJson } : Array.Empty<string>();
                long min = (long)Math.Max(option.Min, option.Odd ? 1 : option.Min), max = (long)option.Max;
                var values = new List<string>();
                for (long v = min; v <= max && values.Count < 16; v++)
                    if (!option.Odd || v % 2 != 0) values.Add(v.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return option.Odd || max - min < 16 ? values : Array.Empty<string>();
            default:
                return Array.Empty<string>();
        }
    }

    /// <summary>Reads an encoder/decoder entry up to the cursor into the innermost context.</summary>
    private static State Read(string item)
    {
        var stack = new Stack<State>();
        stack.Push(new State(Frame.Blocks, null, null, '\0'));
        int i = 0;
        while (i < item.Length)
        {
            char c = item[i];
            var top = stack.Peek();
            if (c == '#' && (i == 0 || char.IsWhiteSpace(item[i - 1])))
            {
                while (i < item.Length && item[i] != '\n') i++;
                continue;
            }
            if (c is '"' or '\'')
            {
                int end = item.IndexOf(c, i + 1);
                i = end < 0 ? item.Length : end + 1;
                continue;
            }
            if (IsWord(c))
            {
                int start = i;
                while (i < item.Length && IsWord(item[i])) i++;
                string word = item.Substring(start, i - start);
                int j = i;
                while (j < item.Length && item[j] is ' ' or '\t') j++;
                if (j < item.Length && item[j] == ':')
                {
                    i = j + 1;
                    if (top.Kind == Frame.Blocks) stack.Push(new State(Frame.Options, word, null, '\0'));
                    else if (top.Kind == Frame.Options)
                    {
                        top.Given.Add(word);
                        stack.Push(new State(Frame.Value, top.Block, word, '\0'));
                    }
                }
                continue;
            }
            switch (c)
            {
                case '[':
                    if (top.Kind == Frame.Value) top.InList = true;
                    else if (top.Kind == Frame.Blocks) stack.Push(new State(Frame.Blocks, null, null, ']'));
                    break;
                case ']':
                    if (top.Kind == Frame.Value && top.InList) top.InList = false;
                    else Pop(stack, ']');
                    break;
                case '{':
                    if (top.Kind == Frame.Options && top.Close == '\0') top.Close = '}';
                    else if (top.Kind == Frame.Blocks) stack.Push(new State(Frame.Blocks, null, null, '}'));
                    break;
                case '}':
                    Pop(stack, '}');
                    break;
                case ',':
                    if (top.Kind == Frame.Value && !top.InList) stack.Pop();
                    else if (top.Kind == Frame.Options && top.Close == '\0') stack.Pop();
                    break;
                case '\n':
                    if (top.Kind == Frame.Value && !top.InList) stack.Pop();
                    break;
            }
            i++;
        }
        return stack.Peek();
    }

    private static void Pop(Stack<State> stack, char close)
    {
        while (stack.Count > 1)
        {
            var popped = stack.Pop();
            if (popped.Close == close) return;
        }
    }

    private static bool IsTopLevelKeyLine(string line) =>
        line.Length > 0 && IsWord(line[0]) && line.IndexOf(':') > 0 && line.Substring(0, line.IndexOf(':')).All(IsWord);

    private static bool InComment(string before)
    {
        bool quoted = false;
        for (int i = 0; i < before.Length; i++)
        {
            if (before[i] is '"' or '\'') quoted = !quoted;
            if (!quoted && before[i] == '#' && (i == 0 || char.IsWhiteSpace(before[i - 1]))) return true;
        }
        return false;
    }

    private static bool IsWord(char c) => c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '_';
}
