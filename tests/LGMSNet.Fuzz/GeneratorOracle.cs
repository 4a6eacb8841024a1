using System.Diagnostics;
using LGMSNet.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace LGMSNet.Fuzz;

/// <summary>Runs the real generator (through Roslyn's driver, as the compiler does) on one YAML text
/// and judges the outcome: it must end in diagnostics or success within the time bound, never
/// throw, and any code it emits must compile without errors or warnings.</summary>
public sealed class GeneratorOracle
{
    private readonly CSharpCompilation _baseline;
    private readonly CSharpParseOptions _parse = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    public GeneratorOracle()
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).ToList();
        paths.Add(typeof(LGMSNet.Runtime.Network.SegmentationNetwork).Assembly.Location);
        paths.Add(typeof(LGMSNet.Dsl.ArchitectureCompiler).Assembly.Location);
        paths.Add(typeof(TorchSharp.torch).Assembly.Location);
        _baseline = CSharpCompilation.Create("Fuzz", Array.Empty<SyntaxTree>(),
            paths.Distinct().Select(p => MetadataReference.CreateFromFile(p)),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999));
    }

    public sealed record Verdict(bool Ok, string Outcome, double Seconds, string? Problem);

    public Verdict Judge(string yaml, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        var work = Task.Run(() => Run(yaml));
        if (!work.Wait(bound))
            return new Verdict(false, "timeout", bound.TotalSeconds, $"no result within {bound.TotalSeconds:0} s (hang?)");
        var (outcome, problem) = work.Result;
        return new Verdict(problem == null, outcome, clock.Elapsed.TotalSeconds, problem);
    }

    private (string Outcome, string? Problem) Run(string yaml)
    {
        try
        {
            GeneratorDriver driver = CSharpGeneratorDriver.Create(new[] { new ArchitectureGenerator().AsSourceGenerator() },
                new AdditionalText[] { new Text("architectures/fuzz.yaml", yaml) }, _parse, new Options());
            driver = driver.RunGeneratorsAndUpdateCompilation(_baseline, out var output, out var diagnostics);
            var result = driver.GetRunResult().Results.Single();
            if (result.Exception != null) return ("exception", "the generator threw " + result.Exception);
            var foreign = diagnostics.Where(d => !d.Id.StartsWith("LGMS", StringComparison.Ordinal)).ToList();
            if (foreign.Count > 0) return ("foreign diagnostic", string.Join("; ", foreign));
            bool failed = diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
            bool emitted = result.GeneratedSources.Any(s => s.HintName != LGMSNet.Dsl.GeneratedNames.HintName(LGMSNet.Dsl.GeneratedNames.Registry));
            if (failed && emitted) return ("emitted despite errors", "code was emitted for a file with errors");
            if (failed) return ("diagnostics: " + string.Join(",", diagnostics.Select(d => d.Id).Distinct().OrderBy(i => i)), null);
            if (!emitted) return ("no output", "no diagnostics and no module: the file vanished silently");
            // Text from the YAML must never become code: the only types are the architecture's class and the registry.
            var declared = result.GeneratedSources
                .SelectMany(s => s.SyntaxTree.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.BaseTypeDeclarationSyntax>())
                .Select(t => t.Identifier.ValueText).ToList();
            var expected = result.GeneratedSources.Select(s => s.HintName.Substring(0, s.HintName.Length - ".g.cs".Length)).ToList();
            if (!declared.OrderBy(d => d).SequenceEqual(expected.OrderBy(e => e)))
                return ("injected code", $"generated types [{string.Join(", ", declared)}], expected [{string.Join(", ", expected)}]");
            var problems = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
            return problems.Count == 0 ? ("compiled", null) : ("emitted code does not compile", string.Join("; ", problems.Take(5)));
        }
        catch (Exception e)
        {
            return ("exception", "the harness saw " + e);
        }
    }

    private sealed class Text(string path, string text) : AdditionalText
    {
        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }

    private sealed class Options : AnalyzerConfigOptionsProvider
    {
        private static readonly AnalyzerConfigOptions Empty = new Values();

        public override AnalyzerConfigOptions GlobalOptions => Empty;

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Empty;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Empty;

        private sealed class Values : AnalyzerConfigOptions
        {
            public override bool TryGetValue(string key, out string value)
            {
                value = key == "build_property.RootNamespace" ? "Fuzz.Models" : "";
                return key == "build_property.RootNamespace";
            }
        }
    }
}
