using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Blocks;

/// <summary>The user blocks a project declares (its own and those of the assemblies it references), by keyword.
/// The compiler reads YAML against it; the generator embeds the declarations an architecture uses as text
/// (<see cref="Serialize"/>) so the runtime re-derives the same plan from the same declarations.</summary>
public sealed record BlockCatalog(EquatableArray<BlockDeclaration> Blocks, EquatableArray<string> Broken)
{
    public BlockCatalog(EquatableArray<BlockDeclaration> blocks) : this(blocks, EquatableArray<string>.Empty)
    {
    }

    public static BlockCatalog Empty { get; } = new(EquatableArray<BlockDeclaration>.Empty);

    /// <summary>Whether <paramref name="keyword"/> is declared by a class whose declaration has errors (reported on the C#).</summary>
    public bool IsBroken(string keyword) => Broken.Contains(keyword);

    public BlockDeclaration? Find(string keyword) => Blocks.FirstOrDefault(b => b.Keyword == keyword);

    public IEnumerable<string> Keywords => Blocks.Select(b => b.Keyword);

    public BlockCatalog Union(BlockCatalog other) =>
        new(Blocks.Concat(other.Blocks.Where(b => Find(b.Keyword) == null).OrderBy(b => b.Keyword, StringComparer.Ordinal)).ToEquatableArray(),
            Broken.Concat(other.Broken).Distinct().ToEquatableArray());

    public BlockCatalog Only(IEnumerable<string> keywords)
    {
        var wanted = new HashSet<string>(keywords, StringComparer.Ordinal);
        return new(Blocks.Where(b => wanted.Contains(b.Keyword)).ToEquatableArray());
    }

    // ---- text form: one line per declaration or option, tab-separated, escaped -------------------------

    private const string Version = "lgms-blocks 2";

    public string Serialize()
    {
        if (Blocks.Count == 0) return "";
        var text = new StringBuilder(Version).Append('\n');
        foreach (var b in Blocks)
        {
            Line(text, "block", b.Keyword, b.TypeName, b.Description, b.Channels.ToString(), b.ChannelOption ?? "",
                string.Join(",", b.InputDivisibleBy), string.Join(",", b.StructuralParameters));
            foreach (var o in b.Options)
                Line(text, "option", o.Key, o.Parameter, o.Kind.ToString(), o.Description, OptionDeclaration.Num(o.Min), OptionDeclaration.Num(o.Max),
                    o.MinCount.ToString(CultureInfo.InvariantCulture), o.MaxCount.ToString(CultureInfo.InvariantCulture),
                    string.Join(",", o.Choices), string.Join(",", o.ChoiceMembers), o.ChoiceType, o.DefaultJson == null ? "\u0000" : o.DefaultJson,
                    (o.Optional ? "o" : "") + (o.Odd ? "d" : ""), o.NotWith ?? "", o.RangeReason ?? "", o.SkeletonJson ?? "");
        }
        return text.ToString();
    }

    public static BlockCatalog Parse(string? text)
    {
        if (string.IsNullOrEmpty(text)) return Empty;
        var lines = text!.Split('\n');
        if (lines[0] != Version) throw new FormatException($"block catalog: expected '{Version}', found '{lines[0]}'");
        var blocks = new List<BlockDeclaration>();
        var options = new List<OptionDeclaration>();
        BlockDeclaration? current = null;
        void Flush()
        {
            if (current != null) blocks.Add(current with { Options = options.ToEquatableArray() });
            options.Clear();
        }
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var f = line.Split('\t').Select(Unescape).ToArray();
            if (f[0] == "block")
            {
                Flush();
                current = new BlockDeclaration(f[1], f[2], f[3], EquatableArray<OptionDeclaration>.Empty,
                    (ChannelRule)Enum.Parse(typeof(ChannelRule), f[4]), f[5].Length == 0 ? null : f[5], List(f[6]), List(f[7]));
            }
            else if (f[0] == "option")
            {
                options.Add(new OptionDeclaration(f[1], f[2], (OptionKind)Enum.Parse(typeof(OptionKind), f[3]), f[4],
                    double.Parse(f[5], CultureInfo.InvariantCulture), double.Parse(f[6], CultureInfo.InvariantCulture),
                    int.Parse(f[7], CultureInfo.InvariantCulture), int.Parse(f[8], CultureInfo.InvariantCulture), List(f[9]), List(f[10]), f[11],
                    f[12] == "\u0000" ? null : f[12])
                {
                    Optional = f[13].Contains('o'), Odd = f[13].Contains('d'), NotWith = OrNull(f[14]), RangeReason = OrNull(f[15]), SkeletonJson = OrNull(f[16]),
                });
            }
            else throw new FormatException($"block catalog: unexpected line '{f[0]}'");
        }
        Flush();
        return new BlockCatalog(blocks.ToEquatableArray());
    }

    private static string? OrNull(string text) => text.Length == 0 ? null : text;

    private static EquatableArray<string> List(string text) =>
        text.Length == 0 ? EquatableArray<string>.Empty : text.Split(',').ToEquatableArray();

    private static void Line(StringBuilder text, params string[] fields) =>
        text.Append(string.Join("\t", fields.Select(Escape))).Append('\n');

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\t", "\\t").Replace("\n", "\\n").Replace("\r", "\\r");

    private static string Unescape(string s)
    {
        if (s.IndexOf('\\') < 0) return s;
        var result = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 == s.Length) { result.Append(s[i]); continue; }
            char next = s[++i];
            result.Append(next switch { 't' => '\t', 'n' => '\n', 'r' => '\r', _ => next });
        }
        return result.ToString();
    }
}
