using System.Collections.Generic;
using System.Linq;
using LGMSNet.Dsl.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace LGMSNet.Generator;

/// <summary>Turns the Dsl's data-only diagnostics into Roslyn diagnostics located in the YAML file,
/// which MSBuild prints as <c>file.yaml(line,col): error LGMS0NN: message</c>.</summary>
internal static class DiagnosticDescriptors
{
    private static readonly Dictionary<string, DiagnosticDescriptor> ById = DiagnosticKinds.All.ToDictionary(
        k => k.Id,
        k => new DiagnosticDescriptor(k.Id, k.Title, "{0}", "LGMSNet.Architecture", Convert(k.Severity), isEnabledByDefault: true,
            helpLinkUri: "https://github.com/lgmsnet/LGMSNet.Dsl/blob/main/README.md#diagnostics"));

    public static Diagnostic ToRoslyn(DslDiagnostic diagnostic)
    {
        var span = diagnostic.Span;
        var location = span.IsNone
            ? Location.Create(diagnostic.FilePath, default, default)
            : Location.Create(diagnostic.FilePath, new TextSpan(span.Start, span.Length),
                new LinePositionSpan(new LinePosition(span.Line - 1, span.Column - 1), new LinePosition(span.EndLine - 1, span.EndColumn - 1)));
        return Diagnostic.Create(ById[diagnostic.Id], location, diagnostic.Message);
    }

    /// <summary>A diagnostic on a C# block declaration, at its place in the C# source (none for metadata).</summary>
    public static Diagnostic ToRoslyn(Blocks.DeclarationDiagnostic diagnostic) =>
        Diagnostic.Create(ById[diagnostic.Id], diagnostic.Location?.ToLocation() ?? Location.None, diagnostic.Message);

    private static DiagnosticSeverity Convert(DslSeverity severity) => severity switch
    {
        DslSeverity.Error => DiagnosticSeverity.Error,
        DslSeverity.Warning => DiagnosticSeverity.Warning,
        _ => DiagnosticSeverity.Info,
    };
}
