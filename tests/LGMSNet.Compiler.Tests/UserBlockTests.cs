using LGMSNet.Generator;
using LGMSNet.Compiler.Tests.Support;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>User blocks in the generator: [LgmsBlock] classes read from C#, checked on their declaration (LGMS101–107 at
/// the C# line and column), used from YAML with errors at the YAML's line and column, and cached incrementally.</summary>
public sealed class UserBlockTests
{
    /// <summary>A squeeze-and-excitation gate declared the way the README teaches (line numbers matter below).</summary>
    private const string Gate = """
        #pragma warning disable CS1591
        using LGMSNet.Runtime.Blocks;
        using TorchSharp;
        using static TorchSharp.torch;

        namespace Lab;

        public enum Squash { Sigmoid, HardSigmoid }

        [LgmsBlock("gate", Description = "channel gate", Channels = BlockChannels.SameAsInput, InputDivisibleBy = ["reduction"])]
        public sealed class Gate : nn.Module<Tensor, Tensor>
        {
            public Gate(int dims, int inChannels, [LgmsOption(Min = 1, Max = 64)] int reduction = 4, Squash squash = Squash.Sigmoid,
                [LgmsOption(PerAxis = true, Min = 1, Max = 7, Default = [1])] int[] window = null!, double mix = 0.5, bool residual = false)
                : base(nameof(Gate))
            {
                Dims = dims;
                Reduction = reduction;
            }

            public int Dims { get; }
            public int Reduction { get; }

            public override Tensor forward(Tensor x) => x;
        }
        """;

    private const string Yaml = """
        name: Gated
        dims: 2
        in_channels: 1
        classes: 2
        widths: [8, 16]
        encoder:
          - [conv, { gate: { reduction: 2, squash: hard_sigmoid, window: [3, 5] } }]
          - [lms, gate]
        decoder:
          - [fusion, { gate: { mix: 0.25, residual: true } }]
        """;

    private static SyntaxTree Tree(string code, string path = "Lab/Gate.cs") => CSharpSyntaxTree.ParseText(code, GeneratorHarness.ParseOptions, path);

    private static (GeneratorDriver Driver, Compilation Output, System.Collections.Immutable.ImmutableArray<Diagnostic> Diagnostics) Run(
        string csharp, params AdditionalText[] files)
    {
        var driver = GeneratorHarness.Driver(files).RunGeneratorsAndUpdateCompilation(GeneratorHarness.Compilation(Tree(csharp)), out var output, out var diagnostics);
        return (driver, output, diagnostics);
    }

    private static string Where(Diagnostic d)
    {
        var span = d.Location.GetLineSpan();
        return $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1}): {d.Id}: {d.GetMessage()}";
    }

    [Fact]
    public void A_declared_block_is_constructed_with_its_planned_channels_and_every_option()
    {
        var (driver, output, diagnostics) = Run(Gate, new InMemoryText("m/gated.yaml", Yaml));
        Assert.Empty(diagnostics);
        string source = driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith("Gated.g.cs", StringComparison.Ordinal)).ToString();
        string calls = string.Join(" ", source.Split('\n').Select(l => l.Trim()));
        Assert.Contains("new global::Lab.Gate( dims: 2, inChannels: 8, @reduction: 2, @squash: global::Lab.Squash.@HardSigmoid, @window: new[] { 3, 5 } , @mix: 0.5d, @residual: false)"
            .Replace("} ,", "},"), calls);
        Assert.Contains("new global::Lab.Gate( dims: 2, inChannels: 16, @reduction: 4, @squash: global::Lab.Squash.@Sigmoid, @window: new[] { 1, 1 }, @mix: 0.5d, @residual: false)", calls);
        Assert.Contains("dims: 2, inChannels: 8, @reduction: 4, @squash: global::Lab.Squash.@Sigmoid, @window: new[] { 1, 1 }, @mix: 0.25d, @residual: true)", calls);
        Assert.Contains("parameters: null,", source); // counted on the built module
        var assembly = GeneratorHarness.CompileAndLoad(output);
        Assert.NotNull(assembly.GetType(GeneratorHarness.Namespace + ".Gated"));
        string registry = driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith("CompiledArchitectures.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("gate\\tglobal::Lab.Gate", registry);
    }

    [Theory]
    [InlineData("- [lms, gat]", 8, 11, "LGMS003", "unknown block 'gat'; did you mean 'gate'?")]
    [InlineData("- [lms, { gate: { reductoin: 2 } }]", 8, 21, "LGMS002", "unknown key 'reductoin'; did you mean 'reduction'?")]
    [InlineData("- [lms, { gate: { reduction: two } }]", 8, 32, "LGMS004", "reduction must be an integer, found 'two'")]
    [InlineData("- [lms, { gate: { reduction: 65 } }]", 8, 32, "LGMS005", "reduction 65 is out of range (1..64)")]
    [InlineData("- [lms, { gate: { squash: tanh } }]", 8, 29, "LGMS005", "squash 'tanh' is not one of sigmoid, hard_sigmoid")]
    [InlineData("- [lms, { gate: { mix: 1.5 } }]", 8, 26, "LGMS005", "mix 1.5 is out of range (0..1)")]
    [InlineData("- [lms, { gate: { residual: 1 } }]", 8, 31, "LGMS004", "'residual' must be true or false")]
    [InlineData("- [lms, { gate: { window: [1, 2, 3] } }]", 8, 29, "LGMS013", "'window' lists 3 sizes but dims is 2")]
    [InlineData("- [lms, { gate: { reduction: 3 } }]", 8, 32, "LGMS019", "'gate' works on 16 input channels here, not divisible by its reduction 3 as its declaration requires")]
    public void Mistakes_in_using_a_block_are_errors_at_the_yaml_line_and_column(string level2, int line, int column, string id, string message)
    {
        string yaml = Yaml.Replace("  - [lms, gate]", "  " + level2);
        var (_, _, diagnostics) = Run(Gate, new InMemoryText("m/gated.yaml", yaml));
        var error = diagnostics.FirstOrDefault(d => d.Id == id);
        Assert.True(error != null, string.Join("\n", diagnostics.Select(Where)));
        var span = error!.Location.GetLineSpan();
        Assert.Equal("m/gated.yaml", span.Path);
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
        Assert.True(error.GetMessage().Contains(message, StringComparison.Ordinal), error.GetMessage());
    }

    [Fact]
    public void A_block_whose_output_is_not_the_level_width_at_the_end_of_an_entry_is_an_error_there()
    {
        string yaml = Yaml.Replace("  - [fusion, { gate: { mix: 0.25, residual: true } }]", "  - [gate, fusion]\n").Replace("  - [lms, gate]", "  - [lms, gate]");
        yaml = yaml.Replace("  - [gate, fusion]", "  - gate");
        var (_, _, diagnostics) = Run(Gate, new InMemoryText("m/gated.yaml", yaml));
        var error = Assert.Single(diagnostics, d => d.Id == "LGMS019");
        Assert.Equal("m/gated.yaml(10,5): LGMS019: 'gate' outputs 16 channels (it keeps its input channels), but this entry of level 1 must end at the level width 8: follow it with a block that maps to 8 channels",
            Where(error));
    }

    [Theory]
    [InlineData("int reduction = 4", "string name = \"x\"", 13, 82, "LGMS102", "block 'gate': option 'name' has type string, which the language cannot write; use int, int[], double, bool or an enum")]
    [InlineData("[LgmsOption(Min = 1, Max = 64)] int reduction = 4", "[LgmsOption(Min = 1, Max = 64)] int reduction = 0", 13, 79, "LGMS105", "block 'gate': the default 0 of option 'reduction' is outside its own range 1..64")]
    [InlineData("[LgmsBlock(\"gate\"", "[LgmsBlock(\"lms\"", 10, 2, "LGMS104", "block keyword 'lms' is a built-in block of the language")]
    [InlineData("[LgmsBlock(\"gate\"", "[LgmsBlock(\"Gate\"", 10, 2, "LGMS106", "block keyword 'Gate' of Lab.Gate must be lower-case letters")]
    [InlineData("InputDivisibleBy = [\"reduction\"]", "InputDivisibleBy = [\"groups\"]", 10, 2, "LGMS106", "InputDivisibleBy entry 'groups' is neither a positive integer nor one of its integer options (reduction)")]
    [InlineData("    public Gate(int dims", "    internal Gate(int dims", 11, 21, "LGMS101", "block 'gate': Lab.Gate has no public constructor the generated module can call")]
    [InlineData("public sealed class Gate : nn.Module<Tensor, Tensor>", "public sealed class Gate : nn.Module<Tensor, (Tensor, Tensor)>", 11, 21, "LGMS101", "must derive from TorchSharp's nn.Module<Tensor, Tensor>")]
    public void A_declaration_the_language_cannot_use_is_an_error_on_the_csharp(string from, string to, int line, int column, string id, string message)
    {
        string csharp = Gate.Replace(from, to);
        if (id == "LGMS101" && to.Contains("(Tensor, Tensor)", StringComparison.Ordinal))
            csharp = csharp.Replace("public override Tensor forward(Tensor x) => x;", "public override (Tensor, Tensor) forward(Tensor x) => (x, x);");
        Assert.NotEqual(Gate, csharp);
        var (_, _, diagnostics) = Run(csharp, new InMemoryText("m/gated.yaml", Yaml));
        var error = diagnostics.FirstOrDefault(d => d.Id == id);
        Assert.True(error != null, string.Join("\n", diagnostics.Select(Where)));
        var span = error!.Location.GetLineSpan();
        Assert.Equal("Lab/Gate.cs", span.Path);
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
        Assert.True(error.GetMessage().Contains(message, StringComparison.Ordinal), error.GetMessage());
        Assert.DoesNotContain(diagnostics, d => d.Id is "CS8785" or "LGMS099");
        // The YAML that uses it is told why it cannot be used (unless the keyword itself changed).
        if (id != "LGMS104" && id != "LGMS106" || message.Contains("InputDivisibleBy", StringComparison.Ordinal))
            Assert.Contains(diagnostics, d => d.Id == "LGMS107" && d.Location.GetLineSpan().Path == "m/gated.yaml");
    }

    /// <summary>What the built-in blocks need, a user's block can declare too: odd sizes, options that exclude each other,
    /// options that may be left out (nullable, default null).</summary>
    private const string Window = """
        #pragma warning disable CS1591
        using LGMSNet.Runtime.Blocks;
        using TorchSharp;
        using static TorchSharp.torch;

        namespace Lab;

        [LgmsBlock("window")]
        public sealed class Window : nn.Module<Tensor, Tensor>
        {
            public Window(int dims, [LgmsOption(Odd = true, Min = 1, Max = 9)] int size = 3, [LgmsOption(NotWith = "share")] int? width = null,
                double? share = null) : base(nameof(Window)) { Size = size; Width = width; Share = share; }

            public int Size { get; }
            public int? Width { get; }
            public double? Share { get; }

            public override Tensor forward(Tensor x) => x;
        }
        """;

    [Theory]
    [InlineData("window", null, "@size: 3, @width: null, @share: null")]
    [InlineData("{ window: { size: 5, width: 12 } }", null, "@size: 5, @width: 12, @share: null")]
    [InlineData("{ window: { size: 4 } }", "LGMS012:size 4 is invalid: size must be odd and positive", null)]
    [InlineData("{ window: { width: 4, share: 0.5 } }", "LGMS018:give either 'width' or 'share', not both", null)]
    public void Odd_exclusive_and_optional_options_are_checked_like_the_built_ins(string block, string? error, string? arguments)
    {
        string yaml = Yaml.Replace("  - [lms, gate]", "  - [lms, " + block + "]");
        var (driver, _, diagnostics) = Run(Gate + "\n" + Window.Replace("#pragma warning disable CS1591", "").Replace("using LGMSNet.Runtime.Blocks;\nusing TorchSharp;\nusing static TorchSharp.torch;\n\nnamespace Lab;", ""),
            new InMemoryText("m/gated.yaml", yaml));
        if (error != null)
        {
            // The whole message: a user block's odd option says nothing of the built-in kernels' padding k/2.
            Assert.True(diagnostics.Any(d => $"{d.Id}:{d.GetMessage()}" == error), string.Join("\n", diagnostics.Select(d => $"{d.Id}:{d.GetMessage()}")));
            return;
        }
        Assert.Empty(diagnostics);
        string source = driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith("Gated.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains(arguments!, string.Join(" ", source.Split('\n').Select(l => l.Trim())));
    }

    /// <summary>Declarations a user gets wrong while typing never crash the generator (CS8785 would lose every architecture):
    /// non-constant attribute arguments (the C# compiler reports CS0182 on them), a named argument given twice (CS0643).</summary>
    [Theory]
    [InlineData("[LgmsOption(PerAxis = true, Min = 1, Max = 7, Default = [1])]", "[LgmsOption(PerAxis = true, Min = 1, Max = 7, Default = Defaults.Window)]", null, null)]
    [InlineData("[LgmsOption(PerAxis = true, Min = 1, Max = 7, Default = [1])]", "[LgmsOption(PerAxis = true, Min = 1, Max = 7, Default = [1, Dims])]", null, null)]
    [InlineData("Description = \"channel gate\",", "Description = \"a\", Description = \"b\",", null, null)]
    [InlineData("InputDivisibleBy = [\"reduction\"]", "InputDivisibleBy = Defaults.Divisors", null, null)]
    [InlineData("[LgmsOption(Min = 1, Max = 64)] int reduction = 4", "[LgmsOption(Odd = true)] int reduction = 3", "LGMS105", "is Odd; declare Min and Max")]
    [InlineData("Channels = BlockChannels.SameAsInput,", "ChannelsFrom = \"reduction\", Channels = BlockChannels.SameAsInput,", "LGMS106", "give one of them")]
    public void Broken_attribute_arguments_are_diagnostics_not_crashes(string from, string to, string? id, string? message)
    {
        string csharp = Gate.Replace(from, to) + "\nnamespace Lab { public static class Defaults { public static readonly int[] Window = { 1 }; public static readonly string[] Divisors = { \"2\" }; } }";
        Assert.NotEqual(Gate, Gate.Replace(from, to));
        var (_, _, diagnostics) = Run(csharp, new InMemoryText("m/gated.yaml", Yaml));
        Assert.DoesNotContain(diagnostics, d => d.Id is "CS8785" or "LGMS099");
        if (id != null)
            Assert.True(diagnostics.Any(d => d.Id == id && d.GetMessage().Contains(message!, StringComparison.Ordinal)), string.Join("\n", diagnostics.Select(Where)));
    }

    [Fact]
    public void A_channel_count_option_must_always_have_a_value_of_at_least_one()
    {
        string csharp = Gate.Replace("Channels = BlockChannels.SameAsInput,", "ChannelsFrom = \"width\",")
            .Replace("bool residual = false)", "bool residual = false, int? width = null)");
        var (_, _, diagnostics) = Run(csharp, new InMemoryText("m/gated.yaml", Yaml));
        Assert.Contains(diagnostics, d => d.Id == "LGMS106" && d.GetMessage().Contains("ChannelsFrom option 'width' gives a channel count", StringComparison.Ordinal));
        Assert.DoesNotContain(diagnostics, d => d.Id is "CS8785" or "LGMS099");
    }

    [Fact]
    public void A_block_named_like_a_schema_definition_does_not_replace_it()
    {
        var stages = LGMSNet.Dsl.Planning.Definitions.BlockDefinitions.BuiltIn.Find("fusion")! with { Keyword = "stages", TypeName = "global::Lab.Stages" };
        var block = stages with { Keyword = "block", TypeName = "global::Lab.Block" };
        string schema = LGMSNet.Dsl.Language.JsonSchemaWriter.Write(new LGMSNet.Dsl.Blocks.BlockCatalog(LGMSNet.Dsl.Model.EquatableArray.Of(stages, block)));
        var defs = System.Text.Json.JsonDocument.Parse(schema).RootElement.GetProperty("$defs");
        Assert.Equal("array", defs.GetProperty("lgms-stages").GetProperty("type").GetString());
        Assert.True(defs.GetProperty("lgms-block").TryGetProperty("anyOf", out _));
        Assert.Equal("stages", defs.GetProperty("stages").GetProperty("title").GetString());
    }

    [Fact]
    public void Two_classes_with_one_keyword_are_both_reported()
    {
        string second = Gate.Replace("namespace Lab;", "namespace Lab.Other;").Replace("public enum Squash { Sigmoid, HardSigmoid }", "");
        second = second.Replace("Squash squash = Squash.Sigmoid,", "");
        var driver = GeneratorHarness.Driver(new AdditionalText[] { new InMemoryText("m/gated.yaml", Yaml) })
            .RunGeneratorsAndUpdateCompilation(GeneratorHarness.Compilation(Tree(Gate), Tree(second, "Lab/Other.cs")), out _, out var diagnostics);
        var duplicates = diagnostics.Where(d => d.Id == "LGMS103").Select(d => d.Location.GetLineSpan().Path).OrderBy(p => p, StringComparer.Ordinal);
        Assert.Equal(new[] { "Lab/Gate.cs", "Lab/Other.cs" }, duplicates);
        Assert.Contains(diagnostics, d => d.Id == "LGMS103" && d.GetMessage().Contains("global::Lab.Gate", StringComparison.Ordinal) == false
            && d.GetMessage().Contains("Lab.Gate, Lab.Other.Gate", StringComparison.Ordinal));
    }

    [Fact]
    public void Editing_a_yaml_does_not_re_read_the_blocks_and_an_unrelated_csharp_edit_does_not_re_emit()
    {
        var yaml = new InMemoryText("m/gated.yaml", Yaml);
        var compilation = GeneratorHarness.Compilation(Tree(Gate));
        var driver = GeneratorHarness.Driver(new AdditionalText[] { yaml }).RunGenerators(compilation);

        var edited = new InMemoryText("m/gated.yaml", Yaml.Replace("classes: 2", "classes: 3"));
        var afterYaml = driver.ReplaceAdditionalText(yaml, edited).RunGenerators(compilation).GetRunResult().Results.Single();
        foreach (var step in new[] { ArchitectureGenerator.Steps.Blocks, ArchitectureGenerator.Steps.Catalog })
            Assert.All(afterYaml.TrackedSteps[step].SelectMany(r => r.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
        Assert.Contains(afterYaml.TrackedSteps[ArchitectureGenerator.Steps.Emit].SelectMany(r => r.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);

        var unrelated = compilation.AddSyntaxTrees(Tree("namespace Lab; public static class Notes { public const int X = 1; }", "Lab/Notes.cs"));
        var afterCs = driver.RunGenerators(unrelated).GetRunResult().Results.Single();
        foreach (var step in new[] { ArchitectureGenerator.Steps.Catalog, ArchitectureGenerator.Steps.Compile, ArchitectureGenerator.Steps.Emit })
            Assert.All(afterCs.TrackedSteps[step].SelectMany(r => r.Outputs),
                o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step} was {o.Reason}"));
        Assert.All(afterCs.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(r => r.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));

        // Changing the block's declaration (a default) does re-emit the architecture that uses it.
        var changed = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Single(), Tree(Gate.Replace("int reduction = 4", "int reduction = 8")));
        var afterBlock = driver.RunGenerators(changed).GetRunResult().Results.Single();
        Assert.Contains("@reduction: 8", afterBlock.GeneratedSources.Single(s => s.HintName == "Gated.g.cs").SourceText.ToString());
    }
}
