using System.Linq;
using LGMSNet.Dsl;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;
using LGMSNet.Generator.Blocks;
using LGMSNet.Generator.Emit;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace LGMSNet.Generator;

/// <summary>Compiles every <c>*.yaml</c> AdditionalFile into a typed TorchSharp module, plus a
/// registry of all of them. The pipeline holds only small equatable values (file text, plan,
/// diagnostics, namespace) so unrelated edits leave every step cached.</summary>
[Generator(LanguageNames.CSharp)]
public sealed class ArchitectureGenerator : IIncrementalGenerator
{
    public static class Steps
    {
        public const string Compile = "LGMSNet.Compile";
        public const string Names = "LGMSNet.Names";
        public const string File = "LGMSNet.File";
        public const string Emit = "LGMSNet.Emit";
        public const string Registry = "LGMSNet.Registry";
        public const string Blocks = "LGMSNet.Blocks";
        public const string ReferencedBlocks = "LGMSNet.ReferencedBlocks";
        public const string Catalog = "LGMSNet.Catalog";
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var ns = context.AnalyzerConfigOptionsProvider.Select((options, _) => Namespace(options.GlobalOptions));

        // User blocks: [LgmsBlock] classes of this project (syntax-driven, cached per class) and of the assemblies it
        // references (read from metadata), merged into one equatable catalog that every YAML file compiles against.
        var declared = context.SyntaxProvider
            .ForAttributeWithMetadataName(BlockReader.BlockAttribute,
                static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.TypeDeclarationSyntax,
                static (ctx, ct) => BlockReader.SafeRead((INamedTypeSymbol)ctx.TargetSymbol, ctx.Attributes[0], ct))
            .WithTrackingName(Steps.Blocks);
        // Re-read only when the references change (not on every edit of the project's own code).
        var referenced = context.CompilationProvider
            .WithComparer(SameReferences.Instance)
            .Select((compilation, ct) => BlockReader.FromReferences(compilation, ct))
            .WithTrackingName(Steps.ReferencedBlocks);
        var catalogModel = declared.Collect()
            .Combine(referenced)
            .Select((input, _) =>
            {
                var (catalog, diagnostics) = BlockReader.Catalog(input.Left.Concat(input.Right));
                return new CatalogModel(catalog, diagnostics);
            })
            .WithTrackingName(Steps.Catalog);
        context.RegisterSourceOutput(catalogModel, static (spc, model) =>
        {
            foreach (var diagnostic in model.Diagnostics)
                spc.ReportDiagnostic(DiagnosticDescriptors.ToRoslyn(diagnostic));
        });
        var catalog = catalogModel.Select((model, _) => model.Catalog);

        var compiled = context.AdditionalTextsProvider
            .Where(text => ArchitectureCompiler.IsArchitectureFile(text.Path))
            .Combine(catalog)
            .Select((input, ct) => ArchitectureCompiler.Compile(input.Left.Path, input.Left.GetText(ct)?.ToString(), input.Right))
            .WithTrackingName(Steps.Compile);

        var names = compiled
            .Select((file, _) => new ArchitectureName(file.Name, file.FileStem, file.FilePath, file.NameSpan))
            .Collect()
            .Select((all, _) => all.OrderBy(n => n.FilePath, System.StringComparer.Ordinal).ToEquatableArray())
            .WithTrackingName(Steps.Names);

        var files = compiled
            .Combine(names)
            .Combine(ns)
            .Select((input, _) =>
            {
                var ((file, all), @namespace) = input;
                var self = new ArchitectureName(file.Name, file.FileStem, file.FilePath, file.NameSpan);
                return new FileModel(file, ArchitectureNames.Conflicts(self, all), @namespace);
            })
            .WithTrackingName(Steps.File);

        // Emission runs in its own step, guarded like compilation: an exception of ours becomes LGMS099 for
        // that file, which is then left out of the registry, and every other architecture still generates.
        var emitted = files
            .Select((model, _) => EmitSource(model))
            .WithTrackingName(Steps.Emit);

        context.RegisterSourceOutput(emitted, static (spc, file) => AddFile(spc, file));

        var registry = emitted
            .Where(file => file.Source != null)
            .Select((file, _) => new RegistryEntry(file.ClassName!, file.FileStem))
            .Collect()
            .Combine(ns)
            .Combine(catalog)
            .Select((input, _) => new RegistryModel(input.Left.Left.OrderBy(e => e.FileStem, System.StringComparer.Ordinal).ToEquatableArray(),
                input.Left.Right, input.Right.Serialize()))
            .WithTrackingName(Steps.Registry);

        context.RegisterSourceOutput(registry, static (spc, model) =>
            spc.AddSource(GeneratedNames.HintName(GeneratedNames.Registry), RegistryEmitter.Emit(model)));
    }

    private static EmittedFile EmitSource(FileModel model)
    {
        var architecture = model.Architecture;
        var diagnostics = architecture.Diagnostics.Concat(model.Conflicts).ToEquatableArray();
        if (!model.CanEmit)
            return new EmittedFile(architecture.FilePath, architecture.FileStem, null, null, diagnostics);
        string className = architecture.Plan!.Name;
        try
        {
            return new EmittedFile(architecture.FilePath, architecture.FileStem, className, ModuleEmitter.Emit(architecture, model.Namespace), diagnostics);
        }
        catch (System.Exception e) when (e is not System.OutOfMemoryException and not System.OperationCanceledException)
        {
            return new EmittedFile(architecture.FilePath, architecture.FileStem, null, null,
                diagnostics.Append(DiagnosticKinds.Internal(architecture.FilePath, "emitting", e)).ToEquatableArray());
        }
    }

    private static void AddFile(SourceProductionContext context, EmittedFile file)
    {
        foreach (var diagnostic in file.Diagnostics)
            context.ReportDiagnostic(DiagnosticDescriptors.ToRoslyn(diagnostic));
        if (file.Source == null) return;
        try
        {
            context.AddSource(GeneratedNames.HintName(file.ClassName!), file.Source);
        }
        catch (System.ArgumentException e)
        {
            // A hint-name clash the name checks did not foresee: report it on the file instead of crashing (CS8785).
            context.ReportDiagnostic(DiagnosticDescriptors.ToRoslyn(DiagnosticKinds.Internal(file.FilePath, "adding the generated file of", e)));
        }
    }

    private static string Namespace(AnalyzerConfigOptions options)
    {
        if (options.TryGetValue("build_property.LgmsArchitecturesNamespace", out var configured) && !string.IsNullOrWhiteSpace(configured))
            return configured.Trim();
        if (options.TryGetValue("build_property.RootNamespace", out var root) && !string.IsNullOrWhiteSpace(root))
            return root.Trim();
        return "LGMSNet.Architectures";
    }
}

/// <summary>Compilations are equal here when they reference the same metadata (the same reference objects, in order):
/// what <see cref="BlockReader.FromReferences"/> reads depends on nothing else.</summary>
internal sealed class SameReferences : System.Collections.Generic.IEqualityComparer<Compilation>
{
    public static readonly SameReferences Instance = new();

    public bool Equals(Compilation? x, Compilation? y) =>
        ReferenceEquals(x, y) || (x != null && y != null && x.References.SequenceEqual(y.References));

    public int GetHashCode(Compilation obj) => obj.References.Count();
}

/// <summary>Per-file model: the compiled file, cross-file name conflicts and the target namespace.</summary>
internal sealed record FileModel(CompiledArchitecture Architecture, EquatableArray<DslDiagnostic> Conflicts, string Namespace)
{
    public bool CanEmit => Architecture.Succeeded && Conflicts.Count == 0;
}

/// <summary>One file's generated source (null when it has errors or emission failed) and its diagnostics.</summary>
internal sealed record EmittedFile(string FilePath, string FileStem, string? ClassName, string? Source, EquatableArray<DslDiagnostic> Diagnostics);

internal sealed record RegistryEntry(string ClassName, string FileStem);

/// <summary>The registry: every emitted architecture, and the project's block catalog as text (for <c>schema</c>).</summary>
internal sealed record RegistryModel(EquatableArray<RegistryEntry> Entries, string Namespace, string Blocks);

/// <summary>The project's block catalog and the diagnostics of the declarations it was read from.</summary>
internal sealed record CatalogModel(LGMSNet.Dsl.Blocks.BlockCatalog Catalog, EquatableArray<Blocks.DeclarationDiagnostic> Diagnostics);
