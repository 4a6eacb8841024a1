using System.Linq;
using LGMSNet.Dsl;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;
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
        public const string Registry = "LGMSNet.Registry";
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var ns = context.AnalyzerConfigOptionsProvider.Select((options, _) => Namespace(options.GlobalOptions));

        var compiled = context.AdditionalTextsProvider
            .Where(text => ArchitectureCompiler.IsArchitectureFile(text.Path))
            .Select((text, ct) => ArchitectureCompiler.Compile(text.Path, text.GetText(ct)?.ToString()))
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

        context.RegisterSourceOutput(files, static (spc, model) => EmitFile(spc, model));

        var registry = files
            .Where(model => model.CanEmit)
            .Select((model, _) => new RegistryEntry(model.Architecture.Plan!.Name, model.Architecture.FileStem))
            .Collect()
            .Combine(ns)
            .Select((input, _) => new RegistryModel(input.Left.OrderBy(e => e.FileStem, System.StringComparer.Ordinal).ToEquatableArray(), input.Right))
            .WithTrackingName(Steps.Registry);

        context.RegisterSourceOutput(registry, static (spc, model) =>
            spc.AddSource("CompiledArchitectures.g.cs", RegistryEmitter.Emit(model)));
    }

    private static void EmitFile(SourceProductionContext context, FileModel model)
    {
        foreach (var diagnostic in model.Architecture.Diagnostics.Concat(model.Conflicts))
            context.ReportDiagnostic(DiagnosticDescriptors.ToRoslyn(diagnostic));
        if (model.CanEmit)
            context.AddSource(model.Architecture.Plan!.Name + ".g.cs", ModuleEmitter.Emit(model.Architecture, model.Namespace));
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

/// <summary>Per-file model: the compiled file, cross-file name conflicts and the target namespace.</summary>
internal sealed record FileModel(CompiledArchitecture Architecture, EquatableArray<DslDiagnostic> Conflicts, string Namespace)
{
    public bool CanEmit => Architecture.Succeeded && Conflicts.Count == 0;
}

internal sealed record RegistryEntry(string ClassName, string FileStem);

internal sealed record RegistryModel(EquatableArray<RegistryEntry> Entries, string Namespace);
