using System.Globalization;
using System.Text;
using LGMSNet.Runtime.Data;

namespace LGMSNet.Fuzz;

/// <summary>Produces hostile architecture files: mutations of real ones and random documents.</summary>
public sealed class YamlMutator(IReadOnlyList<string> seeds)
{
    private static readonly string[] ExtremeValues =
    {
        "-1", "0", "-0", "2147483647", "2147483648", "-2147483649", "9223372036854775808", "99999999999999999999999", "1e308", "-1e308",
        "1e-308", ".nan", "NaN", ".inf", "-.inf", "0x10", "0o17", "1_000", "+5", "007", "3.5", "1,5",
    };

    private static readonly string[] WrongTypes =
    {
        "[]", "{}", "[1, [2]]", "{ a: 1 }", "null", "~", "true", "false", "'quoted'", "\"16\"", "yes", "no", "lms", "|\n  block text",
        ">-\n  folded", "!!str 5", "!!binary aGVsbG8=", "!!python/object/apply:os.system ['ls']", "!custom 3", "*undefined", "&anchor 3",
    };

    private static readonly string[] Strange =
    {
        "\u0000", "\u0007", "\u001b[31m", "\u202e", "\u200b", "\ufeff", "\uffff", "\ud83d\ude00", "e\u0301", "\t", "\r", "\u2028", "\u2029", "\u0085",
        "é", "名前", "\\", "\"", "'", "#", ":", "- ", "? ", "%YAML 1.2", "---", "...", "{", "]", "&", "*", "!", "|", ">", "@", "`",
    };

    private static readonly string[] Words =
    {
        "name", "dims", "in_channels", "classes", "widths", "norm", "upsample", "encoder", "decoder", "lms", "gms", "fusion", "conv",
        "kernels", "depth", "groups", "split", "ratio", "patch", "heads", "head_dim", "mlp", "reduction", "expansion", "input_size",
        "norm_groups", "description", "widht", "lsm", "gsm", "splt", "kernel", "Conv", "LMS", "batch", "instance", "group", "linear",
        "nearest",
    };

    /// <summary>Characters that end a line in C# (and so a // or /// comment), raw or as YAML escapes.</summary>
    private static readonly string[] LineSeparators =
    {
        "\u2028", "\u2029", "\u0085", "\r", "\n", "\r\n", "\\L", "\\P", "\\N", "\\u2028", "\\u2029", "\\u0085", "\\x85", "\\r", "\\n",
    };

    /// <summary>What an attacker would put after a line break to break out of a comment or a string.</summary>
    private static readonly string[] Payloads =
    {
        "} public sealed class Injected { } /// ", "\\\" + Injected() + \\\"", "*/ class Injected { } /*", "#error injected", "</summary> <b>",
        "\"; class Injected { } //", "\\\"); class Injected { }", "@\"", "\"\"\"",
    };

    public sealed record Case(string Description, string Text);

    public Case Next(Rng rng)
    {
        double kind = rng.NextDouble();
        if (kind < 0.2) return Random(rng);
        var (description, text) = (seeds[rng.Next(seeds.Count)], "");
        text = description;
        description = "mutated shipped file";
        int mutations = 1 + rng.Next(rng.Chance(0.2) ? 6 : 2);
        var applied = new List<string>();
        for (int m = 0; m < mutations; m++)
        {
            var (name, result) = Mutate(text, rng);
            applied.Add(name);
            text = result;
        }
        return new Case(description + ": " + string.Join(", ", applied), text);
    }

    private (string, string) Mutate(string text, Rng rng)
    {
        var lines = text.Split('\n').ToList();
        int line = rng.Next(Math.Max(1, lines.Count));
        switch (rng.Next(20))
        {
            case 0:
                if (lines.Count > 0) lines.RemoveAt(line);
                return ("delete line", string.Join("\n", lines));
            case 1:
                if (lines.Count > 0) lines.Insert(line, lines[line]);
                return ("duplicate line", string.Join("\n", lines));
            case 2:
                if (lines.Count > 1)
                {
                    int other = rng.Next(lines.Count);
                    (lines[line], lines[other]) = (lines[other], lines[line]);
                }
                return ("swap lines", string.Join("\n", lines));
            case 3: return ("extreme value", ReplaceToken(text, rng, IsNumber, ExtremeValues[rng.Next(ExtremeValues.Length)]));
            case 4: return ("wrong type", ReplaceToken(text, rng, _ => true, WrongTypes[rng.Next(WrongTypes.Length)]));
            case 5: return ("strange character", text.Insert(rng.Next(text.Length + 1), Strange[rng.Next(Strange.Length)]));
            case 6: return ("tabs", text.Replace("  ", "\t"));
            case 7: return ("BOM", "\ufeff" + text);
            case 8: return ("CRLF", text.Replace("\n", "\r\n"));
            case 9: return ("CR only", text.Replace("\n", "\r"));
            case 10:
                {
                    int depth = 1 + rng.Next(300);
                    string open = rng.Chance(0.5) ? string.Concat(Enumerable.Repeat("[", depth)) : string.Concat(Enumerable.Repeat("{a: ", depth));
                    string close = open.StartsWith('[') ? new string(']', depth) : new string('}', depth);
                    return ($"nesting {depth}", ReplaceToken(text, rng, _ => true, open + "1" + close));
                }
            case 11: return ("alias bomb", AliasBomb(rng) + text);
            case 12:
                {
                    int size = (1 + rng.Next(3)) << 20;
                    return ($"{size >> 20} MB", rng.Chance(0.5)
                        ? text + "\n# " + new string('x', size)
                        : text + "\nextra: [" + string.Join(",", Enumerable.Repeat("1", size / 2)) + "]");
                }
            case 13: return ("truncate", text[..rng.Next(text.Length + 1)]);
            case 14:
                {
                    var chars = text.ToCharArray();
                    for (int i = 0; i < 1 + rng.Next(5) && chars.Length > 0; i++) chars[rng.Next(chars.Length)] = (char)rng.Next(128);
                    return ("flip characters", new string(chars));
                }
            case 15: return ("rename word", ReplaceToken(text, rng, t => t.All(c => char.IsLetter(c) || c == '_'), Words[rng.Next(Words.Length)]));
            case 16: return ("second document", text + "\n---\n" + text);
            case 17:
                {
                    string anchorLine = "shared: &block { lms: { kernels: [3, 5, 7, 9] } }\n";
                    return ("anchors", anchorLine + text.Replace("- lms: { kernels: [3, 5, 7, 9] }", "- *block"));
                }
            case 18: return LineSeparatorText(text, rng);
            default:
                return ("empty", rng.Chance(0.5) ? "" : rng.Chance(0.5) ? "   \n\t\n" : "# only a comment\n");
        }
    }

    /// <summary>Text copied into the generated C# (description, comments kept in the embedded YAML)
    /// holding a line separator followed by code.</summary>
    private static (string, string) LineSeparatorText(string text, Rng rng)
    {
        string separator = LineSeparators[rng.Next(LineSeparators.Length)];
        string payload = Payloads[rng.Next(Payloads.Length)];
        string escaped = payload.Replace("\\", "\\\\").Replace("\"", "\\\"");
        switch (rng.Next(4))
        {
            case 0: return ("line separator in a quoted description", WithoutDescription(text) + $"\ndescription: \"x{separator}{escaped}{separator}\"\n");
            case 1: return ("line separator in a plain description", WithoutDescription(text) + $"\ndescription: x{separator}{payload}\n");
            case 2: return ("line separator in a comment", $"# x{separator}{payload}\n" + text);
            default: return ("line separator in a block description", WithoutDescription(text) + $"\ndescription: |\n  x{separator}{payload}\n  {payload}\n");
        }
    }

    private static string WithoutDescription(string text) =>
        string.Join("\n", text.Split('\n').Where(l => !l.StartsWith("description:", StringComparison.Ordinal)));

    /// <summary>A random document following the schema loosely: valid and invalid values alike.</summary>
    private Case Random(Rng rng)
    {
        int levels = 1 + rng.Next(7);
        var sb = new StringBuilder();
        if (rng.Chance(0.95)) sb.Append("name: ").Append(rng.Chance(0.9) ? "Random" + rng.Next(1000) : Words[rng.Next(Words.Length)]).Append('\n');
        sb.Append("dims: ").Append(rng.Chance(0.8) ? 2 + rng.Next(2) : rng.Next(6) - 1).Append('\n');
        sb.Append("in_channels: ").Append(Value(rng, 1 + rng.Next(4))).Append('\n');
        sb.Append("classes: ").Append(Value(rng, 1 + rng.Next(5))).Append('\n');
        var widths = Enumerable.Range(0, levels).Select(_ => (8 << rng.Next(5)) * (rng.Chance(0.9) ? 1 : 3)).ToList();
        sb.Append("widths: [").Append(string.Join(", ", widths.Select(w => Value(rng, w)))).Append("]\n");
        if (rng.Chance(0.3)) sb.Append("norm: ").Append(new[] { "batch", "instance", "group", "bacth" }[rng.Next(4)]).Append('\n');
        if (rng.Chance(0.2)) sb.Append("norm_groups: ").Append(Value(rng, 1 << rng.Next(4))).Append('\n');
        if (rng.Chance(0.2)) sb.Append("upsample: ").Append(rng.Chance(0.5) ? "linear" : "nearest").Append('\n');
        if (rng.Chance(0.2)) sb.Append("input_size: ").Append(Value(rng, 32 * (1 + rng.Next(8)))).Append('\n');
        if (rng.Chance(0.1))
            sb.Append("description: \"x").Append(LineSeparators[rng.Next(LineSeparators.Length)]).Append("} class Injected { } ///\"\n");
        sb.Append("encoder:\n");
        int encoder = levels + (rng.Chance(0.9) ? 0 : rng.Next(3) - 1);
        for (int i = 0; i < encoder; i++) sb.Append("  - ").Append(Block(rng, widths[Math.Min(i, widths.Count - 1)])).Append('\n');
        sb.Append("decoder:");
        int decoder = levels - 1 + (rng.Chance(0.9) ? 0 : rng.Next(3) - 1);
        if (decoder <= 0) sb.Append(" []");
        sb.Append('\n');
        for (int i = 0; i < decoder; i++)
        {
            int width = widths[Math.Max(0, levels - 2 - i)];
            sb.Append("  - ").Append(rng.Chance(0.25) ? $"[{Block(rng, width)}, {Block(rng, width)}]" : Block(rng, width)).Append('\n');
        }
        return new Case($"random document ({levels} levels)", sb.ToString());
    }

    private static string Block(Rng rng, int width)
    {
        switch (rng.Next(5))
        {
            case 0: return "lms";
            case 1:
                {
                    var kernels = Enumerable.Range(0, 1 + rng.Next(5)).Select(_ => rng.Chance(0.9) ? 1 + 2 * rng.Next(5) : rng.Next(10) - 2);
                    return $"{{ lms: {{ kernels: [{string.Join(", ", kernels)}]{(rng.Chance(0.3) ? $", depth: {Value(rng, 1 + rng.Next(3))}" : "")}" +
                           $"{(rng.Chance(0.2) ? $", groups: {Value(rng, 1 << rng.Next(4))}" : "")} }} }}";
                }
            case 2:
                {
                    int a = rng.Chance(0.8) ? width * 3 / 4 : rng.Next(width + 1);
                    string split = rng.Chance(0.7) ? $"split: [{a}, {(rng.Chance(0.85) ? width - a : rng.Next(width))}]" : $"ratio: {rng.NextDouble().ToString("0.##", CultureInfo.InvariantCulture)}";
                    return $"{{ gms: {{ {split}{(rng.Chance(0.3) ? $", patch: {(rng.Chance(0.5) ? Value(rng, 1 + rng.Next(3)) : $"[{1 + rng.Next(3)}, {1 + rng.Next(3)}]")}" : "")}" +
                           $"{(rng.Chance(0.2) ? $", heads: {Value(rng, 1 + rng.Next(8))}, head_dim: {Value(rng, 4 << rng.Next(3))}" : "")}" +
                           $"{(rng.Chance(0.2) ? $", depth: {Value(rng, 1 + rng.Next(3))}" : "")} }} }}";
                }
            case 3: return rng.Chance(0.8) ? "fusion" : $"{{ fusion: {{ expansion: {Value(rng, 1 + rng.Next(5))} }} }}";
            default: return rng.Chance(0.9) ? "conv" : Words[rng.Next(Words.Length)];
        }
    }

    private static string Value(Rng rng, int plausible) => rng.Chance(0.93) ? plausible.ToString(CultureInfo.InvariantCulture) : ExtremeValues[rng.Next(ExtremeValues.Length)];

    private static string ReplaceToken(string text, Rng rng, Func<string, bool> accept, string replacement)
    {
        var tokens = new List<(int Start, int Length)>();
        int i = 0;
        while (i < text.Length)
        {
            if (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '-' or '.')
            {
                int start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '-' or '.')) i++;
                if (accept(text.Substring(start, i - start))) tokens.Add((start, i - start));
            }
            else i++;
        }
        if (tokens.Count == 0) return text + "\n" + replacement;
        var (at, length) = tokens[rng.Next(tokens.Count)];
        return text[..at] + replacement + text[(at + length)..];
    }

    private static bool IsNumber(string token) => token.All(char.IsDigit);

    /// <summary>The classic "billion laughs": nine levels of ten aliases each.</summary>
    public static string AliasBomb(Rng rng)
    {
        int levels = 6 + rng.Next(4);
        var sb = new StringBuilder("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (int l = 1; l < levels; l++)
            sb.Append($"l{l}: &l{l} [").Append(string.Join(", ", Enumerable.Repeat($"*l{l - 1}", 10))).Append("]\n");
        return sb.ToString();
    }
}
