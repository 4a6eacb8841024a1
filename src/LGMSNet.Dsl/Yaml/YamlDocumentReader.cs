using System;
using System.Collections.Generic;
using System.IO;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace LGMSNet.Dsl.Yaml;

/// <summary>Bounds that keep hostile input cheap: an architecture file is a few hundred bytes.</summary>
public sealed record YamlLimits(int MaxCharacters, int MaxDepth, int MaxExpandedNodes)
{
    public static YamlLimits Default { get; } = new(1 << 20, 64, 100_000);
}

/// <summary>Reads one YAML document into a <see cref="YamlNode"/> tree from YamlDotNet's event
/// stream. Reports (never throws) syntax errors, tags, multiple documents, duplicate keys,
/// non-scalar keys, excessive nesting and alias expansion bombs.</summary>
public static class YamlDocumentReader
{
    private sealed class Frame
    {
        public Frame(SourceSpan start, bool isMapping) { Start = start; IsMapping = isMapping; }
        public SourceSpan Start { get; }
        public bool IsMapping { get; }
        public List<YamlNode> Items { get; } = new();
        public List<KeyValuePair<YamlScalar, YamlNode>> Entries { get; } = new();
        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);
        public YamlScalar? PendingKey { get; set; }
        public bool PendingKeyInvalid { get; set; }
        public string? Anchor { get; set; }
        public long Weight { get; set; } = 1;
    }

    public static YamlNode? Read(string text, string filePath, List<DslDiagnostic> diagnostics, YamlLimits? limits = null)
    {
        limits ??= YamlLimits.Default;
        if (text.Length > limits.MaxCharacters)
        {
            diagnostics.Add(DiagnosticKinds.UnsupportedYaml.At(filePath, Point(1, 1, 0),
                $"the file has {text.Length:N0} characters; architecture files are limited to {limits.MaxCharacters:N0}"));
            return null;
        }

        var anchors = new Dictionary<string, (YamlNode Node, long Weight)>(StringComparer.Ordinal);
        var stack = new Stack<Frame>();
        YamlNode? root = null;
        long rootWeight = 0;
        int documents = 0;
        bool failed = false;

        void Fail(SourceSpan at, DiagnosticKind kind, string message)
        {
            diagnostics.Add(kind.At(filePath, at, message));
            failed = true;
        }

        // Adds a finished node to its parent (or makes it the root).
        void Attach(YamlNode node, long weight, SourceSpan at)
        {
            if (stack.Count == 0)
            {
                root = node;
                rootWeight = weight;
                return;
            }
            var parent = stack.Peek();
            parent.Weight += weight;
            if (parent.Weight > limits.MaxExpandedNodes)
            {
                Fail(at, DiagnosticKinds.UnsupportedYaml,
                    $"the document expands to more than {limits.MaxExpandedNodes:N0} nodes (aliases of aliases?); refusing to read it");
                return;
            }
            if (!parent.IsMapping)
            {
                parent.Items.Add(node);
                return;
            }
            if (parent.PendingKey == null && !parent.PendingKeyInvalid)
            {
                if (node is YamlScalar key)
                {
                    if (!parent.Keys.Add(key.Value))
                        Fail(key.Span, DiagnosticKinds.DuplicateKey, $"duplicate key '{key.Value}'");
                    parent.PendingKey = key;
                }
                else
                {
                    Fail(node.Span, DiagnosticKinds.UnsupportedYaml, "mapping keys must be plain names, not " + node.Describe());
                    parent.PendingKeyInvalid = true;
                }
                return;
            }
            if (parent.PendingKey != null) parent.Entries.Add(new(parent.PendingKey, node));
            parent.PendingKey = null;
            parent.PendingKeyInvalid = false;
        }

        // Ends the innermost sequence or mapping: builds its node, records its anchor, attaches it.
        void Close(SourceSpan end, Func<Frame, SourceSpan, YamlNode> build)
        {
            var frame = stack.Pop();
            var node = build(frame, Join(frame.Start, end));
            if (frame.Anchor != null) anchors[frame.Anchor] = (node, frame.Weight);
            Attach(node, frame.Weight, node.Span);
        }

        bool CheckTag(NodeEvent e)
        {
            if (e.Tag.IsEmpty || e.Tag.IsNonSpecific) return true;
            Fail(Span(e.Start, e.End), DiagnosticKinds.UnsupportedYaml,
                $"YAML tags such as '{e.Tag.Value}' are not supported: architecture files are read as plain data");
            return false;
        }

        Mark? lastRead = null;
        try
        {
            var parser = new Parser(new StringReader(text));
            while (!failed && parser.MoveNext())
            {
                var current = parser.Current;
                if (current != null) lastRead = current.End;
                switch (current)
                {
                    case DocumentStart start when !start.IsImplicit || documents > 0:
                        documents++;
                        if (documents > 1)
                            Fail(Span(start.Start, start.End), DiagnosticKinds.UnsupportedYaml,
                                "an architecture file holds exactly one YAML document");
                        break;
                    case DocumentStart:
                        documents++;
                        break;
                    case Scalar scalar:
                        if (!CheckTag(scalar)) break;
                        {
                            var node = new YamlScalar(scalar.Value, scalar.Style == ScalarStyle.Plain, Span(scalar.Start, scalar.End));
                            if (!scalar.Anchor.IsEmpty) anchors[scalar.Anchor.Value] = (node, 1);
                            Attach(node, 1, node.Span);
                        }
                        break;
                    case AnchorAlias alias:
                        if (!anchors.TryGetValue(alias.Value.Value, out var target))
                        {
                            Fail(Span(alias.Start, alias.End), DiagnosticKinds.YamlSyntax, $"unknown alias '*{alias.Value.Value}'");
                            break;
                        }
                        Attach(target.Node, target.Weight, Span(alias.Start, alias.End));
                        break;
                    case SequenceStart seq:
                        if (!CheckTag(seq)) break;
                        Push(new Frame(Span(seq.Start, seq.End), false) { Anchor = seq.Anchor.IsEmpty ? null : seq.Anchor.Value });
                        break;
                    case MappingStart map:
                        if (!CheckTag(map)) break;
                        Push(new Frame(Span(map.Start, map.End), true) { Anchor = map.Anchor.IsEmpty ? null : map.Anchor.Value });
                        break;
                    case SequenceEnd end:
                        Close(Span(end.Start, end.End), (frame, span) => new YamlSequence(frame.Items, span));
                        break;
                    case MappingEnd end:
                        Close(Span(end.Start, end.End), (frame, span) => new YamlMapping(frame.Entries, span));
                        break;
                }
            }
        }
        catch (YamlException e)
        {
            diagnostics.Add(DiagnosticKinds.YamlSyntax.At(filePath, Span(e.Start, e.End), CleanMessage(e.Message)));
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // YamlDotNet should only throw YamlException; anything else is still the file's fault (seen on a half-typed file
            // with unclosed '[' lists): point where reading stopped, which is where an editor's user is typing.
            diagnostics.Add(lastRead is { } at
                ? DiagnosticKinds.YamlSyntax.At(filePath, Span(at, at), "the YAML cannot be read after this point (the reader failed: " + e.Message + ")")
                : DiagnosticKinds.YamlSyntax.At(filePath, Point(1, 1, 0), "the YAML reader failed: " + e.Message));
            return null;
        }

        void Push(Frame frame)
        {
            if (stack.Count >= limits.MaxDepth)
            {
                Fail(frame.Start, DiagnosticKinds.UnsupportedYaml, $"nesting deeper than {limits.MaxDepth} levels");
                return;
            }
            stack.Push(frame);
        }

        if (failed) return null;
        _ = rootWeight;
        if (root == null || root is YamlScalar { IsNull: true })
        {
            diagnostics.Add(DiagnosticKinds.EmptyFile.At(filePath, Point(1, 1, 0),
                "the file defines no architecture (expected a mapping with name, dims, widths, encoder, decoder)"));
            return null;
        }
        return root;
    }

    private static string CleanMessage(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line...): "; our location already says that.
        int dash = message.IndexOf("): ", StringComparison.Ordinal);
        string text = message.StartsWith("(Line:", StringComparison.Ordinal) && dash >= 0 ? message.Substring(dash + 3) : message;
        return text.Trim().TrimEnd('.');
    }

    private static SourceSpan Point(int line, int column, int index) => new(index, 0, line, column, line, column);

    private static SourceSpan Span(Mark start, Mark end)
    {
        int startIndex = (int)Math.Min(start.Index, int.MaxValue);
        int endIndex = (int)Math.Min(end.Index, int.MaxValue);
        return new SourceSpan(startIndex, Math.Max(0, endIndex - startIndex), (int)start.Line, (int)start.Column, (int)end.Line, (int)end.Column);
    }

    private static SourceSpan Join(SourceSpan start, SourceSpan end) =>
        new(start.Start, Math.Max(0, end.Start + end.Length - start.Start), start.Line, start.Column, end.EndLine, end.EndColumn);
}
