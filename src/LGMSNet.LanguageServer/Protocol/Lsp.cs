using System.Text.Json.Nodes;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Text;
using LGMSNet.LanguageServer.Workspace;

namespace LGMSNet.LanguageServer.Protocol;

/// <summary>LSP's JSON shapes for the server's plain results.</summary>
internal static class Lsp
{
    public const string Source = "lgmsnet";

    public static JsonObject Position((int Line, int Character) p) => new() { ["line"] = p.Line, ["character"] = p.Character };

    public static JsonObject Range((int Line, int Character) start, (int Line, int Character) end) =>
        new() { ["start"] = Position(start), ["end"] = Position(end) };

    public static JsonObject Range(LineMap lines, int startOffset, int endOffset) => Range(lines.Position(startOffset), lines.Position(endOffset));

    public static JsonObject Range(DocumentAnalysis analysis, SourceSpan span)
    {
        var (start, end) = analysis.Range(span);
        return Range(start, end);
    }

    public static int Severity(DslSeverity severity) => severity switch
    {
        DslSeverity.Error => 1,
        DslSeverity.Warning => 2,
        _ => 3,
    };

    /// <summary>A compiler diagnostic as LSP reports it: same code and message as the build; its range from the
    /// compiler's offsets in UTF-16 code units; the "did you mean" replacement as data for the quick fix.</summary>
    public static JsonObject Diagnostic(DocumentAnalysis analysis, DslDiagnostic diagnostic)
    {
        var json = new JsonObject
        {
            ["range"] = Range(analysis, diagnostic.Span),
            ["severity"] = Severity(diagnostic.Severity),
            ["code"] = diagnostic.Id,
            ["source"] = Source,
            ["message"] = diagnostic.Message,
        };
        if (diagnostic.Replacement != null) json["data"] = new JsonObject { ["replacement"] = diagnostic.Replacement };
        return json;
    }

    public static string Uri(string path) => new Uri(Path.GetFullPath(path)).AbsoluteUri;

    /// <summary>The local path of a file: URI, or null for other schemes (untitled:, ...).</summary>
    public static string? PathOf(string uri)
    {
        if (!System.Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || !parsed.IsFile) return null;
        return parsed.LocalPath;
    }
}
