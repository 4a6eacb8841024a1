using System.Collections;
using System.Reflection;
using LGMSNet.Compiler.Tests.Support;
using LGMSNet.Generator;
using LGMSNet.Runtime.Network;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TorchSharp;
using Xunit;

namespace LGMSNet.Compiler.Tests;

public sealed class GeneratorTests
{
    private static InMemoryText Shipped(string stem) =>
        new(Repo.Path("architectures", stem + ".yaml"), File.ReadAllText(Repo.Path("architectures", stem + ".yaml")));

    private const string Tiny3D = """
        name: Tiny3D
        dims: 3
        in_channels: 2
        classes: 3
        widths: [8, 16, 32]
        encoder: [lms, lms, { gms: { split: [24, 8] } }]
        decoder: [{ gms: { ratio: 0.5 } }, [fusion, conv]]
        """;

    private const string UnetLike = """
        name: UnetLike
        dims: 2
        in_channels: 1
        classes: 2
        widths: [8, 16, 32]
        norm: group
        norm_groups: 4
        upsample: nearest
        encoder: [conv, conv, { lms: { kernels: [3, 3, 3, 3], depth: 2 } }]
        decoder: [{ gms: { split: [16, 0], depth: 2 } }, { gms: { split: [0, 8] } }]
        """;

    [Fact]
    public void Shipped_reference_architecture_matches_its_approved_snapshot()
    {
        var (_, output, diagnostics) = GeneratorHarness.Run(Shipped("lgmsnet"));
        Assert.Empty(diagnostics);
        Snapshot.Match("LgmsNet.g", Generated(output, "LgmsNet.g.cs"));
    }

    [Fact]
    public void Variant_and_registry_match_their_approved_snapshots()
    {
        var (_, output, diagnostics) = GeneratorHarness.Run(new InMemoryText("models/unet-like.yaml", UnetLike),
            new InMemoryText("models/tiny3d.yaml", Tiny3D));
        Assert.Empty(diagnostics);
        Snapshot.Match("UnetLike.g", Generated(output, "UnetLike.g.cs"));
        Snapshot.Match("CompiledArchitectures.g", Generated(output, "CompiledArchitectures.g.cs"));
    }

    /// <summary>UnetLike, Tiny3D and the shipped lgmsnet generated (without diagnostics), compiled warning-free and
    /// loaded once, for the tests that run the generated modules.</summary>
    private static readonly Lazy<(System.Reflection.Assembly Assembly, IReadOnlyList<ArchitectureDescriptor> All)> Sample = new(() =>
    {
        var (_, output, diagnostics) = GeneratorHarness.Run(new InMemoryText("models/unet-like.yaml", UnetLike),
            new InMemoryText("models/tiny3d.yaml", Tiny3D), Shipped("lgmsnet"));
        Assert.Empty(diagnostics);
        var assembly = GeneratorHarness.CompileAndLoad(output);
        return (assembly, (IReadOnlyList<ArchitectureDescriptor>)assembly.GetType($"{GeneratorHarness.Namespace}.CompiledArchitectures")!
            .GetProperty("All")!.GetValue(null)!);
    });

    [Fact]
    public void Generated_modules_compile_warning_free_and_run_in_2d_and_3d()
    {
        var (assembly, all) = Sample.Value;
        Assert.Equal(new[] { "lgmsnet", "tiny3d", "unet-like" }, all.Select(a => a.Info.FileStem));

        foreach (var descriptor in all)
        {
            using var network = descriptor.Create();
            network.eval();
            Assert.Equal(descriptor.Info.Parameters, network.parameters().Sum(p => p.numel()));
            var size = descriptor.Info.InputMultiple.Select(m => (long)m).ToArray();
            using var input = torch.randn(new long[] { 2, descriptor.Info.InChannels }.Concat(size).ToArray());
            using var _ = torch.no_grad();
            using var logits = network.forward(input);
            Assert.Equal(new long[] { 2, descriptor.Info.Classes }.Concat(size), logits.shape);
        }

        // Typed stage properties with the runtime block types.
        var unet = assembly.GetType($"{GeneratorHarness.Namespace}.UnetLike")!;
        Assert.Equal("DoubleConv", unet.GetProperty("Encoder1")!.PropertyType.Name);
        Assert.Equal("LmsUnit", unet.GetProperty("Encoder3")!.PropertyType.Name);
        Assert.Equal("GmsBlock", unet.GetProperty("Decoder2")!.PropertyType.Name);
        Assert.True(unet.IsSealed);
        var tiny = assembly.GetType($"{GeneratorHarness.Namespace}.Tiny3D")!;
        Assert.Equal("BlockSequence", tiny.GetProperty("Decoder1")!.PropertyType.Name);
    }

    /// <summary>Planning/Layers.cs describes every runtime block a second time (the generator counts
    /// parameters, multiply-adds and checkpoint keys without TorchSharp). This keeps the two in agreement:
    /// for every block type, norm kind and up-sampling mode, the modules TorchSharp builds have exactly the
    /// state_dict the plan's layers give (names, shapes, parameter or buffer) and as many parameters.</summary>
    [Fact]
    public void Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to()
    {
        var (assembly, all) = Sample.Value;

        var plans = all.Select(a => a.Info.Plan).ToList();
        var blockTypes = typeof(LGMSNet.Dsl.Planning.BlockPlan).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(LGMSNet.Dsl.Planning.BlockPlan)) && !t.IsAbstract)
            .Where(t => t != typeof(LGMSNet.Dsl.Planning.CustomBlockPlan)) // opaque to the compiler: UserBlockTests (both test projects)
            .ToList();
        Assert.All(blockTypes, t => Assert.Contains(plans.SelectMany(p => p.Stages).SelectMany(s => s.Blocks), b => b.GetType() == t));
        Assert.All(Enum.GetValues<LGMSNet.Dsl.Model.NormKind>(), n => Assert.Contains(plans, p => p.Norm == n));
        Assert.All(Enum.GetValues<LGMSNet.Dsl.Model.Upsampling>(), u => Assert.Contains(plans, p => p.Upsample == u));
        Assert.Contains(plans, p => p.Stages.Any(s => s.Blocks.Count > 1));

        foreach (var descriptor in all)
        {
            using var network = descriptor.Create();
            var expected = LGMSNet.Dsl.Planning.KeyMap.Tensors(descriptor.Info.Plan).ToList();
            var state = network.state_dict();
            Assert.Equal(expected.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), state.Keys.OrderBy(n => n, StringComparer.Ordinal));
            foreach (var tensor in expected) Assert.Equal(tensor.Shape, state[tensor.Name].shape);
            var parameters = network.named_parameters().Select(p => p.name).ToHashSet();
            Assert.All(expected, t => Assert.Equal(t.IsParameter, parameters.Contains(t.Name)));
            Assert.Equal(LGMSNet.Dsl.Planning.Costs.Parameters(descriptor.Info.Plan), network.parameters().Sum(p => p.numel()));
        }
    }

    [Fact]
    public void Generated_code_of_every_shipped_architecture_is_readable_and_needs_no_dsl_types()
    {
        var files = Directory.GetFiles(Repo.Path("architectures"), "*.yaml").OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => (AdditionalText)new InMemoryText(f, File.ReadAllText(f))).ToArray();
        Assert.True(files.Length >= 10, "the shipped architectures were not found");
        var (driver, output, diagnostics) = GeneratorHarness.Run(files);
        Assert.Empty(diagnostics);
        var sources = driver.GetRunResult().Results.Single().GeneratedSources;
        Assert.Equal(files.Length + 1, sources.Length);
        foreach (var source in sources)
        {
            var lines = source.SourceText.ToString().Split('\n');
            var longest = lines.Select((text, index) => (text, index)).MaxBy(l => l.text.Length);
            Assert.True(longest.text.Length <= 160, $"{source.HintName}({longest.index + 1}) is {longest.text.Length} characters long: {longest.text}");
            Assert.DoesNotContain("LGMSNet.Dsl", source.SourceText.ToString());
            Assert.Contains("[global::System.CodeDom.Compiler.GeneratedCode(\"LGMSNet.Generator\", ", source.SourceText.ToString());
        }
        // The generated assembly references the runtime and TorchSharp only, not the Dsl.
        var assembly = GeneratorHarness.CompileAndLoad(output);
        Assert.DoesNotContain(assembly.GetReferencedAssemblies(), a => a.Name == "LGMSNet.Dsl");
    }

    [Fact]
    public void A_broken_file_reports_located_errors_without_stopping_the_others()
    {
        string broken = UnetLike.Replace("name: UnetLike", "name: Broken").Replace("[16, 0]", "[16, 4]");
        var (driver, output, diagnostics) = GeneratorHarness.Run(new InMemoryText("models/broken.yaml", broken),
            new InMemoryText("models/tiny3d.yaml", Tiny3D));
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        var error = Assert.Single(diagnostics);
        Assert.Equal("LGMS009", error.Id);
        Assert.Equal("models/broken.yaml", error.Location.GetLineSpan().Path);
        Assert.Equal(new Microsoft.CodeAnalysis.Text.LinePosition(9, 26), error.Location.GetLineSpan().StartLinePosition); // (10,27) as MSBuild prints it
        Assert.Contains("Tiny3D.g.cs", result.GeneratedSources.Select(s => s.HintName));
        Assert.DoesNotContain("Broken.g.cs", result.GeneratedSources.Select(s => s.HintName));
        Assert.Contains("Tiny3D", Generated(output, "CompiledArchitectures.g.cs"));
        Assert.DoesNotContain("Broken", Generated(output, "CompiledArchitectures.g.cs"));
        GeneratorHarness.CompileAndLoad(output);
    }

    [Fact]
    public void Duplicate_names_are_errors_in_both_files_and_neither_is_emitted()
    {
        var (driver, _, diagnostics) = GeneratorHarness.Run(new InMemoryText("m/a.yaml", Tiny3D), new InMemoryText("m/b.yaml", Tiny3D));
        Assert.Equal(2, diagnostics.Count(d => d.Id == "LGMS014"));
        Assert.Equal(new[] { "m/a.yaml", "m/b.yaml" }, diagnostics.Select(d => d.Location.GetLineSpan().Path).OrderBy(p => p));
        Assert.Equal(new[] { "CompiledArchitectures.g.cs" }, driver.GetRunResult().Results.Single().GeneratedSources.Select(s => s.HintName));
    }

    [Theory]
    [InlineData("COMPILEDARCHITECTURES")]
    [InlineData("compiledArchitectures")]
    public void A_name_differing_from_the_registry_only_in_case_is_an_error_and_the_others_still_generate(string name)
    {
        // Hint names are compared case-insensitively: this used to crash the generator (CS8785) and lose every architecture.
        var (driver, output, diagnostics) = GeneratorHarness.Run(
            new InMemoryText("m/clash.yaml", Tiny3D.Replace("name: Tiny3D", "name: " + name)), new InMemoryText("m/unet-like.yaml", UnetLike));
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        var error = Assert.Single(diagnostics);
        Assert.Equal("LGMS015", error.Id);
        Assert.Equal("m/clash.yaml", error.Location.GetLineSpan().Path);
        Assert.Equal(new[] { "CompiledArchitectures.g.cs", "UnetLike.g.cs" }, result.GeneratedSources.Select(s => s.HintName).OrderBy(h => h));
        GeneratorHarness.CompileAndLoad(output);
    }

    [Fact]
    public void An_exception_while_emitting_one_file_is_LGMS099_for_that_file_only()
    {
        // A valid plan whose default input size (57344^3: patch 7 at level 1 and patch 64 at level 8) makes the
        // multiply-add count overflow a long while the emitter writes its XML docs.
        const string overflow = """
            name: Overflow
            dims: 3
            in_channels: 1
            classes: 1
            widths: [4096, 8, 8, 8, 8, 8, 8, 8]
            norm: group
            norm_groups: 1
            encoder: [{ gms: { patch: 7, split: [4096, 0] } }, conv, conv, conv, conv, conv, conv, { gms: { patch: 64, split: [8, 0] } }]
            decoder: [conv, conv, conv, conv, conv, conv, conv]
            """;
        Assert.True(LGMSNet.Dsl.ArchitectureCompiler.Compile("m/overflow.yaml", overflow).Succeeded);
        var (driver, output, diagnostics) = GeneratorHarness.Run(new InMemoryText("m/overflow.yaml", overflow), new InMemoryText("m/tiny3d.yaml", Tiny3D));
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        var error = Assert.Single(diagnostics);
        Assert.Equal("LGMS099", error.Id);
        Assert.Equal("m/overflow.yaml", error.Location.GetLineSpan().Path);
        Assert.Contains("OverflowException", error.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(new[] { "CompiledArchitectures.g.cs", "Tiny3D.g.cs" }, result.GeneratedSources.Select(s => s.HintName).OrderBy(h => h));
        Assert.DoesNotContain("Overflow", Generated(output, "CompiledArchitectures.g.cs"));
        GeneratorHarness.CompileAndLoad(output);
    }

    [Theory]
    [InlineData("\\L")]
    [InlineData("\\P")]
    [InlineData("\\N")]
    [InlineData("\\u2028")]
    [InlineData("\\u2029")]
    [InlineData("\\u0085")]
    [InlineData("\\r")]
    [InlineData("\\n")]
    [InlineData("\\r\\n")]
    public void Line_separators_in_a_description_cannot_end_the_comment_and_inject_code(string separator)
    {
        // U+2028, U+2029 and U+0085 end a C# line (so a /// comment); the rest of the text would become code.
        string yaml = Tiny3D + $"\ndescription: \"safe{separator}}} public sealed class Injected {{ }} /// <b>{separator}\"\n";
        var (_, output, diagnostics) = GeneratorHarness.Run(new InMemoryText("models/tiny3d.yaml", yaml));
        Assert.Empty(diagnostics);
        var assembly = GeneratorHarness.CompileAndLoad(output);
        Assert.Equal(new[] { "CompiledArchitectures", "Tiny3D" }, DeclaredTypes(assembly));
        var info = (ArchitectureInfo)assembly.GetType($"{GeneratorHarness.Namespace}.Tiny3D")!.GetProperty("Info")!.GetValue(null)!;
        Assert.Equal(yaml, info.Yaml);
    }

    [Theory]
    [InlineData("\u2028")]
    [InlineData("\u2029")]
    [InlineData("\u0085")]
    [InlineData("\r")]
    public void Line_separators_in_a_file_name_cannot_inject_code(string separator)
    {
        string stem = $"tiny{separator}}} public sealed class Injected {{ }} ";
        var (_, output, diagnostics) = GeneratorHarness.Run(new InMemoryText($"models/{stem}.yaml", Tiny3D));
        Assert.Empty(diagnostics);
        var assembly = GeneratorHarness.CompileAndLoad(output);
        Assert.Equal(new[] { "CompiledArchitectures", "Tiny3D" }, DeclaredTypes(assembly));
        var info = (ArchitectureInfo)assembly.GetType($"{GeneratorHarness.Namespace}.Tiny3D")!.GetProperty("Info")!.GetValue(null)!;
        Assert.Equal(stem, info.FileStem);
    }

    private static IEnumerable<string> DeclaredTypes(Assembly assembly) =>
        assembly.GetTypes().Where(t => !t.Name.Contains('<') && t.DeclaringType == null).Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal);

    [Fact]
    public void Non_yaml_additional_files_are_ignored()
    {
        var (driver, _, diagnostics) = GeneratorHarness.Run(new InMemoryText("notes/readme.txt", "name: nothing"));
        Assert.Empty(diagnostics);
        Assert.Single(driver.GetRunResult().Results.Single().GeneratedSources);
    }

    [Fact]
    public void An_unrelated_csharp_edit_leaves_every_step_cached()
    {
        var files = new AdditionalText[] { new InMemoryText("m/tiny3d.yaml", Tiny3D), new InMemoryText("m/unet-like.yaml", UnetLike) };
        var compilation = GeneratorHarness.Compilation();
        var driver = GeneratorHarness.Driver(files).RunGenerators(compilation);
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class Unrelated { }", GeneratorHarness.ParseOptions));
        var rerun = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (var step in TrackedSteps())
            foreach (var run in rerun.TrackedSteps[step])
                foreach (var (_, reason) in run.Outputs)
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"step {step} was {reason}");
        Assert.All(rerun.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs),
            o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void Editing_one_yaml_recompiles_and_re_emits_only_that_file()
    {
        var tiny = new InMemoryText("m/tiny3d.yaml", Tiny3D);
        var unet = new InMemoryText("m/unet-like.yaml", UnetLike);
        var compilation = GeneratorHarness.Compilation();
        var driver = GeneratorHarness.Driver(new AdditionalText[] { tiny, unet }).RunGenerators(compilation);
        var editedUnet = new InMemoryText("m/unet-like.yaml", UnetLike.Replace("classes: 2", "classes: 5"));
        var rerun = driver.ReplaceAdditionalText(unet, editedUnet).RunGenerators(compilation).GetRunResult().Results.Single();

        var compileReasons = rerun.TrackedSteps[ArchitectureGenerator.Steps.Compile].SelectMany(r => r.Outputs).Select(o => o.Reason).ToList();
        Assert.Equal(1, compileReasons.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(1, compileReasons.Count(r => r == IncrementalStepRunReason.Cached));

        var fileReasons = rerun.TrackedSteps[ArchitectureGenerator.Steps.File].SelectMany(r => r.Outputs).Select(o => o.Reason).ToList();
        Assert.Equal(1, fileReasons.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(1, fileReasons.Count(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));

        // The per-file source output re-runs for the edited file only; the registry (names unchanged) stays cached.
        var outputs = rerun.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs).Select(o => o.Reason).ToList();
        Assert.Equal(1, outputs.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Contains("classes: 5", rerun.GeneratedSources.Single(s => s.HintName == "UnetLike.g.cs").SourceText.ToString());
        Assert.Contains(rerun.TrackedSteps[ArchitectureGenerator.Steps.Registry].Single().Outputs.Single().Reason,
            new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged });
    }

    [Fact]
    public void Pipeline_state_holds_no_compilation_symbols_or_syntax()
    {
        var driver = GeneratorHarness.Driver(new AdditionalText[] { new InMemoryText("m/tiny3d.yaml", Tiny3D) })
            .RunGenerators(GeneratorHarness.Compilation());
        var result = driver.GetRunResult().Results.Single();
        foreach (var step in TrackedSteps())
            foreach (var run in result.TrackedSteps[step])
                foreach (var (value, _) in run.Outputs)
                    AssertNoRoslynObjects(value, step, new HashSet<object>(ReferenceEqualityComparer.Instance), 0);
    }

    private static IEnumerable<string> TrackedSteps() => new[]
    {
        ArchitectureGenerator.Steps.Compile, ArchitectureGenerator.Steps.Names, ArchitectureGenerator.Steps.File,
        ArchitectureGenerator.Steps.Emit, ArchitectureGenerator.Steps.Registry,
    };

    private static void AssertNoRoslynObjects(object? value, string step, HashSet<object> seen, int depth)
    {
        if (value is null || depth > 12 || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || !seen.Add(value)) return;
        var type = value.GetType();
        Assert.False(value is Compilation or ISymbol or SyntaxNode or SemanticModel or SyntaxTree,
            $"step {step} caches a {type.Name}, which holds the whole compilation alive and breaks caching");
        if (value is IEnumerable items)
        {
            foreach (var item in items) AssertNoRoslynObjects(item, step, seen, depth + 1);
            return;
        }
        foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            AssertNoRoslynObjects(field.GetValue(value), step, seen, depth + 1);
    }

    private static string Generated(Compilation output, string hintName) =>
        output.SyntaxTrees.Single(t => t.FilePath.EndsWith(hintName, StringComparison.Ordinal)).ToString();
}
