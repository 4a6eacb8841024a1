using System.Text.Json.Nodes;
using LGMSNet.Dsl;
using LGMSNet.Dsl.Yaml;
using LGMSNet.LanguageServer.Protocol;
using LGMSNet.LanguageServer.Workspace;

namespace LGMSNet.LanguageServer.Features;

/// <summary>Outline, go to definition, inlay hints and quick fixes.</summary>
internal static class Navigation
{
    private const int SymbolKey = 20, SymbolArray = 18, SymbolObject = 19;

    /// <summary>The top-level keys, with encoder and decoder entries as their stages (shape at the default input size
    /// when the file compiles).</summary>
    public static JsonArray Symbols(DocumentAnalysis analysis)
    {
        var result = new JsonArray();
        if (analysis.Root is not YamlMapping top) return result;
        foreach (var entry in top.Entries)
        {
            var full = Join(entry.Key.Span, entry.Value.Span);
            var symbol = new JsonObject
            {
                ["name"] = entry.Key.Value,
                ["kind"] = entry.Value is YamlSequence && entry.Key.Value is "encoder" or "decoder" ? SymbolArray : SymbolKey,
                ["range"] = Lsp.Range(analysis.Lines, analysis.Offset(full.Start), analysis.Offset(full.End)),
                ["selectionRange"] = Lsp.Range(analysis, entry.Key.Span),
            };
            if (entry.Value is YamlScalar scalar) symbol["detail"] = scalar.Value;
            if (entry.Key.Value is "encoder" or "decoder" && entry.Value is YamlSequence stages)
            {
                var children = new JsonArray();
                for (int i = 0; i < stages.Items.Count; i++)
                {
                    var item = stages.Items[i];
                    var stage = analysis.Plan == null ? null : YamlLocator.Stage(analysis.Plan, entry.Key.Value, i);
                    string text = analysis.Compiled.YamlText.Substring(item.Span.Start, Math.Min(item.Span.Length, analysis.Compiled.YamlText.Length - item.Span.Start)).Trim();
                    string name = stage?.Name ?? $"{entry.Key.Value}[{i}]";
                    string detail = stage == null ? OneLine(text)
                        : $"{OneLine(text)} → {Formatting.Size(analysis.Costs!.First(c => c.Stage.Name == stage.Name).OutputShape)}";
                    children.Add(new JsonObject
                    {
                        ["name"] = name,
                        ["detail"] = detail,
                        ["kind"] = SymbolObject,
                        ["range"] = Lsp.Range(analysis, item.Span),
                        ["selectionRange"] = Lsp.Range(analysis, item.Span),
                    });
                }
                symbol["children"] = children;
            }
            result.Add(symbol);
        }
        return result;
    }

    /// <summary>From a user block's keyword to its C# class (null for built-in blocks and elsewhere).</summary>
    public static JsonObject? Definition(DocumentAnalysis analysis, int offset)
    {
        var place = YamlLocator.At(analysis, offset);
        if (place?.Block == null || place.Option != null || place.BlockNode == null) return null;
        if (!YamlLocator.Contains(place.BlockNode, analysis.CompilerOffset(offset))) return null;
        if (!analysis.Project.Sources.TryGetValue(place.Block, out var source)) return null;
        return new JsonObject
        {
            ["uri"] = Lsp.Uri(source.FilePath),
            ["range"] = Lsp.Range((source.Line, source.Character), (source.EndLine, source.EndCharacter)),
        };
    }

    /// <summary>Each encoder/decoder entry's output shape at the end of its line.</summary>
    public static JsonArray InlayHints(DocumentAnalysis analysis, int startOffset, int endOffset)
    {
        var result = new JsonArray();
        if (analysis.Plan == null || analysis.Root is not YamlMapping top) return result;
        foreach (var entry in top.Entries)
        {
            if (entry.Key.Value is not ("encoder" or "decoder") || entry.Value is not YamlSequence stages) continue;
            for (int i = 0; i < stages.Items.Count; i++)
            {
                var stage = YamlLocator.Stage(analysis.Plan, entry.Key.Value, i);
                if (stage == null) continue;
                var item = stages.Items[i];
                // The entry's last line (a block collection's span ends at the start of the line after it).
                int end = analysis.Offset(item.Span.Start + item.Span.Length);
                while (end > analysis.Offset(item.Span.Start) && char.IsWhiteSpace(analysis.Text[end - 1])) end--;
                var (line, _) = analysis.Lines.Position(end);
                int at = analysis.Lines.LineEnd(line);
                string lineText = analysis.Lines.LineText(line);
                int comment = lineText.IndexOf(" #", StringComparison.Ordinal);
                if (comment >= 0) at = analysis.Lines.LineStart(line) + comment;
                if (at < startOffset || at > endOffset) continue;
                var shape = analysis.Costs!.First(c => c.Stage.Name == stage.Name).OutputShape;
                result.Add(new JsonObject
                {
                    ["position"] = Lsp.Position(analysis.Lines.Position(at)),
                    ["label"] = $"{stage.Name} → {Formatting.Size(shape)}",
                    ["paddingLeft"] = true,
                });
            }
        }
        return result;
    }

    /// <summary>A quick fix for every diagnostic in range that suggests a replacement.</summary>
    public static JsonArray CodeActions(DocumentAnalysis analysis, string uri, int startOffset, int endOffset)
    {
        var result = new JsonArray();
        foreach (var diagnostic in analysis.Compiled.Diagnostics)
        {
            if (diagnostic.Replacement == null || diagnostic.Span.IsNone) continue;
            int start = analysis.Offset(diagnostic.Span.Start), end = start + diagnostic.Span.Length;
            if (end < startOffset || start > endOffset) continue;
            var edit = new JsonObject { ["range"] = Lsp.Range(analysis.Lines, start, end), ["newText"] = diagnostic.Replacement };
            result.Add(new JsonObject
            {
                ["title"] = $"Change to '{diagnostic.Replacement}'",
                ["kind"] = "quickfix",
                ["isPreferred"] = true,
                ["diagnostics"] = new JsonArray(Lsp.Diagnostic(analysis, diagnostic)),
                ["edit"] = new JsonObject { ["changes"] = new JsonObject { [uri] = new JsonArray(edit) } },
            });
        }
        return result;
    }

    private static (int Start, int End) Join(Dsl.Text.SourceSpan a, Dsl.Text.SourceSpan b) =>
        (Math.Min(a.Start, b.Start), Math.Max(a.Start + a.Length, b.Start + b.Length));

    private static string OneLine(string text)
    {
        string line = string.Join(" ", text.Split('\n', '\r').Select(l => l.Trim()).Where(l => l.Length > 0));
        return line.Length > 60 ? line.Substring(0, 57) + "..." : line;
    }
}
