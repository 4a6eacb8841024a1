using System.Collections.Generic;
using LGMSNet.Dsl.Text;

namespace LGMSNet.Dsl.Yaml;

/// <summary>A YAML value with its position. The tree is plain data: no tags, no object
/// construction; aliases point at the anchored node (shared, never copied).</summary>
public abstract class YamlNode
{
    protected YamlNode(SourceSpan span) => Span = span;

    public SourceSpan Span { get; }

    /// <summary>How this node reads in a message: <c>"abc"</c>, <c>a list</c>, <c>a mapping</c>.</summary>
    public abstract string Describe();
}

public sealed class YamlScalar : YamlNode
{
    public YamlScalar(string value, bool isPlain, SourceSpan span) : base(span)
    {
        Value = value;
        IsPlain = isPlain;
    }

    public string Value { get; }

    /// <summary>Unquoted: only plain scalars are read as numbers, booleans or null.</summary>
    public bool IsPlain { get; }

    public bool IsNull => IsPlain && (Value.Length == 0 || Value == "~" || Value == "null" || Value == "Null" || Value == "NULL");

    public override string Describe()
    {
        string shown = Value.Length > 40 ? Value.Substring(0, 40) + "..." : Value;
        return IsPlain ? $"'{shown}'" : $"the string \"{shown}\"";
    }
}

public sealed class YamlSequence : YamlNode
{
    public YamlSequence(IReadOnlyList<YamlNode> items, SourceSpan span) : base(span) => Items = items;

    public IReadOnlyList<YamlNode> Items { get; }

    public override string Describe() => "a list";
}

public sealed class YamlMapping : YamlNode
{
    public YamlMapping(IReadOnlyList<KeyValuePair<YamlScalar, YamlNode>> entries, SourceSpan span) : base(span) => Entries = entries;

    public IReadOnlyList<KeyValuePair<YamlScalar, YamlNode>> Entries { get; }

    public override string Describe() => "a mapping";
}
