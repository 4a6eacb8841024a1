using System;
using System.Collections.Generic;
using System.IO;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Parsing;
using LGMSNet.Dsl.Planning;
using LGMSNet.Dsl.Text;
using LGMSNet.Dsl.Yaml;

namespace LGMSNet.Dsl;

/// <summary>The result of compiling one YAML file: the plan when it is valid, and every
/// diagnostic. Equatable, so it is the incremental generator's per-file model.</summary>
public sealed record CompiledArchitecture(
    string FilePath,
    string FileStem,
    string YamlText,
    NetworkPlan? Plan,
    string? Name,
    SourceSpan NameSpan,
    EquatableArray<DslDiagnostic> Diagnostics)
{
    public bool Succeeded => Plan != null;
}

/// <summary>YAML text → parse → plan. Used by the source generator at build time and by the
/// runtime (metadata, costs, key maps) so both see exactly the same architecture.</summary>
public static class ArchitectureCompiler
{
    public static CompiledArchitecture Compile(string filePath, string? text) => Compile(filePath, text, null);

    /// <summary>Compiles against the user blocks of <paramref name="blocks"/> (besides the built-in ones).</summary>
    public static CompiledArchitecture Compile(string filePath, string? text, BlockCatalog? blocks)
    {
        var diagnostics = new List<DslDiagnostic>();
        string stem = FileStem(filePath);
        text ??= "";
        // Hosts differ in whether they strip a UTF-8 byte-order mark; it is never part of the YAML.
        string yaml = text.Length > 0 && text[0] == '\uFEFF' ? text.Substring(1) : text;
        NetworkPlan? plan = null;
        string? name = null;
        SourceSpan nameSpan = default;
        try
        {
            var root = YamlDocumentReader.Read(yaml, filePath, diagnostics);
            var spec = root == null ? null : ArchitectureParser.Parse(root, filePath, diagnostics, blocks);
            if (spec != null)
            {
                name = spec.Name.Value;
                nameSpan = spec.Name.Span;
                plan = Planner.Plan(spec, filePath, diagnostics);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug of ours must still surface as a diagnostic, never as a crashed generator (CS8785).
            diagnostics.Add(DiagnosticKinds.Internal(filePath, "compiling", e));
        }
        bool failed = diagnostics.Exists(d => d.Severity == DslSeverity.Error);
        return new CompiledArchitecture(filePath, stem, yaml, failed ? null : plan, name, nameSpan, diagnostics.ToEquatableArray());
    }

    /// <summary>"architectures/lgmsnet-3d.yaml" → "lgmsnet-3d".</summary>
    public static string FileStem(string path)
    {
        string file = path.Replace('\\', '/');
        int slash = file.LastIndexOf('/');
        if (slash >= 0) file = file.Substring(slash + 1);
        int dot = file.LastIndexOf('.');
        return dot > 0 ? file.Substring(0, dot) : file;
    }

    public static bool IsArchitectureFile(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);
}
