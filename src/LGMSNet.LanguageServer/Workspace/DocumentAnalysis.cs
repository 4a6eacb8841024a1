using LGMSNet.Dsl;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Planning;
using LGMSNet.Dsl.Text;
using LGMSNet.Dsl.Yaml;

namespace LGMSNet.LanguageServer.Workspace;

/// <summary>One compile of one version of a document: the compiler's result (the build's, exactly), the located YAML
/// tree for hover and outline, and the position mapping.</summary>
internal sealed class DocumentAnalysis
{
    private IReadOnlyList<StageCost>? _costs;

    private DocumentAnalysis(string path, int version, string text, CompiledArchitecture compiled, YamlNode? root, ProjectCatalog project)
    {
        Path = path;
        Version = version;
        Text = text;
        Lines = new LineMap(text);
        Compiled = compiled;
        Root = root;
        Project = project;
        // The compiler drops a leading byte-order mark; its offsets count from after it.
        Bom = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;
    }

    public string Path { get; }
    public int Version { get; }
    public string Text { get; }
    public LineMap Lines { get; }
    public CompiledArchitecture Compiled { get; }
    public YamlNode? Root { get; }
    public ProjectCatalog Project { get; }
    public int Bom { get; }

    public NetworkPlan? Plan => Compiled.Plan;

    /// <summary>Per-stage counts at the plan's default input size (null without a plan).</summary>
    public IReadOnlyList<StageCost>? Costs => _costs ??= Plan == null ? null : Dsl.Planning.Costs.PerStage(Plan, Plan.DefaultInputSize);

    /// <summary>Compiles <paramref name="text"/> with the compiler the build runs (<see cref="ArchitectureCompiler.Compile(string, string?, Dsl.Blocks.BlockCatalog?)"/>).</summary>
    public static DocumentAnalysis Compile(string path, int version, string text, ProjectCatalog project)
    {
        var compiled = ArchitectureCompiler.Compile(path, text, project.Catalog);
        YamlNode? root = compiled.Diagnostics.Any(d => d.Id is "LGMS001" or "LGMS017" or "LGMS021") ? null
            : YamlDocumentReader.Read(compiled.YamlText, path, new List<DslDiagnostic>());
        return new DocumentAnalysis(path, version, text, compiled, root, project);
    }

    /// <summary>The document offset of a compiler offset.</summary>
    public int Offset(int compilerOffset) => compilerOffset + Bom;

    /// <summary>The compiler offset of a document offset.</summary>
    public int CompilerOffset(int documentOffset) => documentOffset - Bom;

    public ((int Line, int Character) Start, (int Line, int Character) End) Range(SourceSpan span)
    {
        if (span.IsNone) return ((0, 0), (0, 0));
        int start = Offset(span.Start);
        return (Lines.Position(start), Lines.Position(start + span.Length));
    }
}
