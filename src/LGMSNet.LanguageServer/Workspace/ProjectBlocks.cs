using LGMSNet.Dsl.Blocks;
using LGMSNet.Generator.Blocks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LGMSNet.LanguageServer.Workspace;

/// <summary>Where a user block is declared: its class's name in the C# source (0-based line and UTF-16 character, as
/// Roslyn and LSP count them).</summary>
public sealed record BlockSource(string FilePath, int Line, int Character, int EndLine, int EndCharacter);

/// <summary>A project's blocks as the generator would read them: the catalog the YAML compiles against, the declaration
/// diagnostics (LGMS101–106, located in the C#), where each block's class is, and a note when the blocks could not be read.</summary>
internal sealed record ProjectCatalog(
    string? ProjectFile,
    BlockCatalog Catalog,
    IReadOnlyList<DeclarationDiagnostic> Diagnostics,
    IReadOnlyDictionary<string, BlockSource> Sources,
    string? Problem)
{
    public static ProjectCatalog None { get; } = new(null, BlockCatalog.Empty, Array.Empty<DeclarationDiagnostic>(),
        new Dictionary<string, BlockSource>(), null);
}

/// <summary>One project's C# without a build: its files parsed with Roslyn (re-parsed only when a file's time stamp or
/// size changes), compiled against the assemblies it references, and its <c>[LgmsBlock]</c> classes read with the
/// generator's own <see cref="BlockReader"/>. Method bodies with errors do not matter: declarations are read from
/// symbols, so a project that does not compile still gives every block whose class and attribute bind.</summary>
internal sealed class ProjectBlocks(string projectFile)
{
    private static readonly CSharpParseOptions Parse = new(LanguageVersion.Latest);

    private readonly object _gate = new();
    private readonly Dictionary<string, (DateTime Stamp, long Size, SyntaxTree Tree)> _trees = new(StringComparer.Ordinal);
    private IReadOnlyList<string> _referencePaths = Array.Empty<string>();
    private IReadOnlyList<MetadataReference> _references = Array.Empty<MetadataReference>();
    private string? _referenceProblem;
    private IReadOnlyList<BlockRead> _referencedBlocks = Array.Empty<BlockRead>();
    private ProjectCatalog? _current;

    public string ProjectFile { get; } = projectFile;

    public string Directory { get; } = Path.GetDirectoryName(projectFile)!;

    /// <summary>The catalog, re-read only when a C# file or the references changed since the last call.</summary>
    public ProjectCatalog Read(CancellationToken cancellation = default)
    {
        lock (_gate)
        {
            bool changed = RefreshReferences();
            changed |= RefreshTrees();
            if (_current != null && !changed) return _current;
            _current = Build(cancellation);
            return _current;
        }
    }

    private bool RefreshReferences()
    {
        var (paths, problem) = ProjectReferences.Assemblies(ProjectFile);
        if (paths.SequenceEqual(_referencePaths) && problem == _referenceProblem) return false;
        _referencePaths = paths;
        _referenceProblem = problem;
        _references = paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
        var references = CSharpCompilation.Create("LgmsReferences", references: _references);
        _referencedBlocks = BlockReader.FromReferences(references, CancellationToken.None).ToList();
        return true;
    }

    private bool RefreshTrees()
    {
        bool changed = false;
        var files = ProjectReferences.SourceFiles(ProjectFile);
        foreach (string gone in _trees.Keys.Except(files).ToList())
        {
            _trees.Remove(gone);
            changed = true;
        }
        foreach (string file in files)
        {
            try
            {
                var info = new FileInfo(file);
                if (_trees.TryGetValue(file, out var known) && known.Stamp == info.LastWriteTimeUtc && known.Size == info.Length) continue;
                string text = File.ReadAllText(file);
                _trees[file] = (info.LastWriteTimeUtc, info.Length, CSharpSyntaxTree.ParseText(text, Parse, file));
                changed = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Deleted or being written: the watcher reports the next change.
            }
        }
        return changed;
    }

    private ProjectCatalog Build(CancellationToken cancellation)
    {
        var compilation = CSharpCompilation.Create("LgmsProject", _trees.Values.Select(t => t.Tree), _references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var reads = new List<BlockRead>();
        var sources = new Dictionary<string, BlockSource>(StringComparer.Ordinal);
        var seen = new HashSet<ISymbol>(SymbolEqualityComparer.Default);
        foreach (var tree in compilation.SyntaxTrees)
        {
            SemanticModel? model = null;
            foreach (var declaration in tree.GetRoot(cancellation).DescendantNodes().OfType<TypeDeclarationSyntax>())
            {
                if (declaration.AttributeLists.Count == 0) continue;
                model ??= compilation.GetSemanticModel(tree);
                if (model.GetDeclaredSymbol(declaration, cancellation) is not INamedTypeSymbol type || !seen.Add(type)) continue;
                var attribute = type.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == BlockReader.BlockAttribute);
                if (attribute == null) continue;
                var read = BlockReader.SafeRead(type, attribute, cancellation);
                reads.Add(read);
                var span = declaration.Identifier.GetLocation().GetLineSpan();
                sources.TryAdd(read.Keyword, new BlockSource(tree.FilePath, span.StartLinePosition.Line, span.StartLinePosition.Character,
                    span.EndLinePosition.Line, span.EndLinePosition.Character));
            }
        }
        var (catalog, diagnostics) = BlockReader.Catalog(reads.Concat(_referencedBlocks));
        return new ProjectCatalog(ProjectFile, catalog, diagnostics.ToList(), sources, _referenceProblem);
    }
}
