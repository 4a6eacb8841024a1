using System.Collections.Immutable;
using System.Reflection;
using LGMSNet.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace LGMSNet.Compiler.Tests.Support;

public sealed class InMemoryText(string path, string text) : AdditionalText
{
    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
}

internal sealed class GlobalOptions(Dictionary<string, string> values) : AnalyzerConfigOptions
{
    public override bool TryGetValue(string key, out string value) => values.TryGetValue(key, out value!);
}

internal sealed class OptionsProvider(AnalyzerConfigOptions global) : AnalyzerConfigOptionsProvider
{
    private static readonly AnalyzerConfigOptions Empty = new GlobalOptions(new());

    public override AnalyzerConfigOptions GlobalOptions => global;

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Empty;

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Empty;
}

/// <summary>Runs <see cref="ArchitectureGenerator"/> in-process, the way the compiler does.</summary>
public static class GeneratorHarness
{
    public const string Namespace = "Test.Models";

    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    public static CSharpCompilation Compilation(params SyntaxTree[] trees) => CSharpCompilation.Create(
        "GeneratedModels_" + Guid.NewGuid().ToString("N"),
        trees,
        References.Value,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable,
            warningLevel: 9999));

    public static GeneratorDriver Driver(IEnumerable<AdditionalText> files, bool trackSteps = true) =>
        CSharpGeneratorDriver.Create(
            new[] { new ArchitectureGenerator().AsSourceGenerator() },
            files,
            ParseOptions,
            new OptionsProvider(new GlobalOptions(new() { ["build_property.RootNamespace"] = Namespace })),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    public static (GeneratorDriver Driver, Compilation Output, ImmutableArray<Diagnostic> Diagnostics) Run(params AdditionalText[] files)
    {
        var driver = Driver(files).RunGeneratorsAndUpdateCompilation(Compilation(), out var output, out var diagnostics);
        return (driver, output, diagnostics);
    }

    /// <summary>Compiles the generator output and loads it (errors and warnings fail the test).</summary>
    public static Assembly CompileAndLoad(Compilation output)
    {
        using var stream = new MemoryStream();
        var result = output.Emit(stream);
        var problems = result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        if (!result.Success || problems.Count > 0)
            throw new InvalidOperationException("generated code does not compile cleanly:\n" + string.Join("\n", problems));
        return Assembly.Load(stream.ToArray());
    }

    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(System.IO.Path.PathSeparator).ToList();
        paths.Add(typeof(LGMSNet.Runtime.Network.SegmentationNetwork).Assembly.Location);
        paths.Add(typeof(LGMSNet.Dsl.ArchitectureCompiler).Assembly.Location);
        paths.Add(typeof(TorchSharp.torch).Assembly.Location);
        return paths.Distinct().Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray();
    });
}
