using LGMSNet.Dsl;
using LGMSNet.Dsl.Diagnostics;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>One test per diagnostic: the id, the exact line and column of the offending YAML node,
/// and the words a user needs. Positions are given by the text they point at, so the expected
/// line/column is computed from the YAML itself (1-based, as MSBuild prints them).</summary>
public sealed class DiagnosticTests
{
    private const string File = "architectures/x.yaml";

    private const string Valid = """
        name: Tiny
        dims: 2
        in_channels: 1
        classes: 1
        widths: [8, 16, 32]
        encoder:
          - lms
          - lms
          - gms: { split: [24, 8] }
        decoder:
          - fusion
          - fusion
        """;

    private static IReadOnlyList<DslDiagnostic> Compile(string yaml) => ArchitectureCompiler.Compile(File, yaml).Diagnostics;

    /// <summary>Asserts exactly one diagnostic, with <paramref name="id"/>, located at the
    /// <paramref name="occurrence"/>-th occurrence of <paramref name="at"/>.</summary>
    private static DslDiagnostic Expect(string yaml, string id, string at, int occurrence = 1, params string[] words)
    {
        var diagnostics = Compile(yaml);
        var diagnostic = Assert.Single(diagnostics);
        Assert.Equal(id, diagnostic.Id);
        var (line, column) = Position(yaml, at, occurrence);
        Assert.True(line == diagnostic.Span.Line && column == diagnostic.Span.Column,
            $"expected {id} at ({line},{column}) ('{at}'), got {diagnostic}");
        foreach (var word in words) Assert.Contains(word, diagnostic.Message);
        Assert.Equal(DslSeverity.Error, diagnostic.Severity);
        Assert.StartsWith($"{File}({line},{column}): error {id}: ", diagnostic.ToMsBuildString());
        return diagnostic;
    }

    private static (int Line, int Column) Position(string text, string fragment, int occurrence)
    {
        int index = -1;
        for (int i = 0; i < occurrence; i++)
        {
            index = text.IndexOf(fragment, index + 1, StringComparison.Ordinal);
            Assert.True(index >= 0, $"'{fragment}' not found in the test YAML");
        }
        int line = 1 + text.Take(index).Count(c => c == '\n');
        int column = index - (text.LastIndexOf('\n', Math.Max(0, index - 1)) + 1) + 1;
        if (index == 0) column = 1;
        return (line, column);
    }

    [Fact]
    public void Valid_architecture_has_no_diagnostics()
    {
        var result = ArchitectureCompiler.Compile(File, Valid);
        Assert.Empty(result.Diagnostics);
        Assert.NotNull(result.Plan);
    }

    [Fact]
    public void LGMS001_yaml_syntax_error_points_at_the_bad_character() =>
        Expect(Valid.Replace("dims: 2", "dims: 2: 3"), "LGMS001", ": 3", 1, "found invalid mapping");

    [Fact]
    public void LGMS001_unclosed_flow_sequence_is_reported() =>
        Assert.Equal("LGMS001", Assert.Single(Compile(Valid.Replace("widths: [8, 16, 32]", "widths: [8, 16, 32"))).Id);

    [Fact]
    public void LGMS001_a_half_typed_file_that_breaks_the_reader_points_where_reading_stopped()
    {
        // Two unclosed lists: YamlDotNet 18 throws InvalidOperationException instead of a YamlException here.
        const string yaml = "name: MidEdit\ndims: 2\nin_channels: 1\nclasses: 1\nwidths: [8, 16, 32\nencoder:\n  - lms: { kernels: [3,\n";
        var diagnostic = Assert.Single(Compile(yaml));
        Assert.Equal("LGMS001", diagnostic.Id);
        Assert.StartsWith("the YAML cannot be read after this point", diagnostic.Message);
        Assert.True(diagnostic.Span.Line > 1, $"points at the start of the file: {diagnostic}");
    }

    [Fact]
    public void LGMS002_unknown_top_level_key_suggests_the_closest() =>
        Expect(Valid.Replace("classes: 1", "classes: 1\nnrom: batch"), "LGMS002", "nrom", 1, "unknown key 'nrom'", "did you mean 'norm'?");

    [Fact]
    public void LGMS002_never_suggests_a_key_the_mapping_already_has()
    {
        // 'widths' is set: suggesting it would make the fix a duplicate key (LGMS016); nothing else is close, so the list.
        var top = Expect(Valid.Replace("classes: 1", "classes: 1\nwidht: 3"), "LGMS002", "widht", 1, "unknown key 'widht'", "top-level keys are: name, ");
        Assert.DoesNotContain("did you mean", top.Message);
        Assert.Null(top.Replacement);
        // The next closest key that is free is suggested instead ('name' is set, 'norm' is not).
        Assert.Equal("norm", Expect(Valid.Replace("classes: 1", "classes: 1\nnam: batch"), "LGMS002", "nam:", 1, "did you mean 'norm'?").Replacement);
        // Block options likewise.
        var option = Expect(Valid.Replace("  - lms\n  - lms", "  - lms: { kernels: [3, 5, 7, 9], kernel: [3] }\n  - lms"), "LGMS002", "kernel:", 1,
            "unknown key 'kernel'", "lms options are: kernels, ");
        Assert.DoesNotContain("did you mean", option.Message);
        Assert.Null(option.Replacement);
    }

    [Fact]
    public void LGMS002_unknown_block_option_suggests_the_closest() =>
        Expect(Valid.Replace("  - lms\n  - lms", "  - lms: { kernel: [3, 5, 7, 9] }\n  - lms"), "LGMS002", "kernel", 1, "did you mean 'kernels'?");

    [Fact]
    public void LGMS002_option_on_a_block_without_options() =>
        Expect(Valid.Replace("  - fusion\n  - fusion", "  - fusion\n  - conv: { depth: 2 }"), "LGMS002", "depth", 1, "'conv' takes no options");

    [Fact]
    public void LGMS003_unknown_block_suggests_the_closest() =>
        Expect(Valid.Replace("  - lms\n  - lms", "  - lms\n  - lsm"), "LGMS003", "lsm", 1, "unknown block 'lsm'", "did you mean 'lms'?");

    [Fact]
    public void Did_you_mean_diagnostics_carry_the_suggested_word_for_quick_fixes()
    {
        var diagnostics = Compile(Valid.Replace("  - lms\n  - lms", "  - lsm\n  - lms: { kernal: [3] }").Replace("classes: 1", "classes: 1\nnorm: batchh\nupsampel: linear"));
        Assert.Equal(new[] { "upsample", "batch", "lms", "kernels" }, diagnostics.Select(d => d.Replacement));
        // Without a close word the message lists the choices and there is nothing to replace with.
        Assert.Null(Assert.Single(Compile(Valid.Replace("  - lms\n  - lms", "  - lms\n  - zzzzzz"))).Replacement);
    }

    [Fact]
    public void LGMS004_quoted_number_is_a_string_not_an_integer() =>
        Expect(Valid.Replace("in_channels: 1", "in_channels: \"1\""), "LGMS004", "\"1\"", 1, "in_channels must be an integer", "string");

    [Fact]
    public void LGMS004_widths_must_be_a_list() =>
        Expect(Valid.Replace("widths: [8, 16, 32]", "widths: 16"), "LGMS004", "16", 1, "'widths' must be a list");

    [Fact]
    public void LGMS004_float_where_an_integer_belongs() =>
        Expect(Valid.Replace("classes: 1", "classes: 1e308"), "LGMS004", "1e308", 1, "classes must be an integer");

    [Fact]
    public void LGMS004_two_blocks_in_one_entry() =>
        Expect(Valid.Replace("  - gms: { split: [24, 8] }", "  - { gms: { split: [24, 8] }, lms: {} }"), "LGMS004", "lms: {}", 1, "write a list");

    [Fact]
    public void LGMS005_zero_classes_is_out_of_range() =>
        Expect(Valid.Replace("classes: 1", "classes: 0"), "LGMS005", "0", 1, "classes 0 is out of range (1..256)");

    [Fact]
    public void LGMS005_integer_overflow_is_out_of_range() =>
        Expect(Valid.Replace("in_channels: 1", "in_channels: 2147483648"), "LGMS005", "2147483648", 1, "out of range");

    [Fact]
    public void LGMS005_ratio_above_one() =>
        Expect(Valid.Replace("{ split: [24, 8] }", "{ ratio: 1.5 }"), "LGMS005", "1.5", 1, "ratio 1.5 is out of range");

    [Fact]
    public void LGMS005_unknown_norm_suggests_the_closest() =>
        Expect(Valid.Replace("classes: 1", "classes: 1\nnorm: bacth"), "LGMS005", "bacth", 1, "did you mean 'batch'?");

    [Fact]
    public void LGMS006_missing_required_key_points_at_the_document() =>
        Expect(Valid.Replace("in_channels: 1\n", ""), "LGMS006", "name", 1, "missing required key 'in_channels'");

    [Fact]
    public void LGMS007_dims_must_be_2_or_3() =>
        Expect(Valid.Replace("dims: 2", "dims: 4"), "LGMS007", "4", 1, "dims must be 2 (images) or 3 (volumes), found 4");

    [Fact]
    public void LGMS008_encoder_entries_must_match_the_widths() =>
        Expect(Valid.Replace("  - gms: { split: [24, 8] }", "  - gms: { split: [24, 8] }\n  - lms"), "LGMS008", "- lms", 1,
            "encoder has 4 entries but widths lists 3 levels");

    [Fact]
    public void LGMS008_decoder_entries_must_be_one_fewer_than_levels() =>
        Expect(Valid.Replace("  - fusion\n  - fusion", "  - fusion"), "LGMS008", "- fusion", 1, "decoder has 1 entries but a 3-level network needs 2");

    [Fact]
    public void LGMS009_gms_split_must_sum_to_the_block_width() =>
        Expect(Valid.Replace("[24, 8]", "[24, 16]"), "LGMS009", "[24, 16]", 1, "sums to 40", "outputs 32 channels", "level 3");

    [Fact]
    public void LGMS009_decoder_split_is_checked_against_the_decoder_level_width() =>
        Expect(Valid.Replace("  - fusion\n  - fusion", "  - gms: { split: [24, 8] }\n  - fusion"), "LGMS009", "[24, 8]", 2, "outputs 16 channels");

    [Fact]
    public void LGMS010_lms_width_must_divide_into_kernel_groups() =>
        Expect(Valid.Replace("  - lms\n  - lms", "  - lms: { kernels: [3, 5, 7] }\n  - lms"), "LGMS010", "[3, 5, 7]", 1, "8 channels", "3 kernel groups");

    [Fact]
    public void LGMS011_lms_width_must_divide_into_groupnorm_groups() =>
        Expect(Valid.Replace("  - lms\n  - lms", "  - lms: { groups: 3 }\n  - lms"), "LGMS011", "3 }", 1, "not divisible into 3 GroupNorm groups");

    [Fact]
    public void LGMS011_network_group_norm_must_divide_every_normalised_width()
    {
        var yaml = Valid.Replace("classes: 1", "classes: 1\nnorm: group\nnorm_groups: 3");
        var diagnostics = Compile(yaml);
        Assert.All(diagnostics, d => Assert.Equal("LGMS011", d.Id));
        var stem = diagnostics[0]; // the stem's 8 channels, reported at the widths list that sets them
        Assert.Equal(Position(yaml, "[8, 16, 32]", 1), (stem.Span.Line, stem.Span.Column));
        Assert.Contains("normalises 8 channels here, not divisible by norm_groups 3", stem.Message);
    }

    [Fact]
    public void LGMS012_even_kernel_is_rejected() =>
        Expect(Valid.Replace("  - lms\n  - lms", "  - lms: { kernels: [3, 4, 5, 7] }\n  - lms"), "LGMS012", "4, 5", 1, "kernels entry 4 is invalid", "odd and positive");

    [Fact]
    public void LGMS012_negative_kernel_is_rejected() =>
        Expect(Valid.Replace("  - lms\n  - lms", "  - lms: { kernels: [-3, 5, 7, 9] }\n  - lms"), "LGMS012", "-3", 1, "kernels entry -3 is invalid");

    [Fact]
    public void LGMS013_patch_list_length_must_match_dims() =>
        Expect(Valid.Replace("{ split: [24, 8] }", "{ split: [24, 8], patch: [2, 2, 2] }"), "LGMS013", "[2, 2, 2]", 1, "lists 3 sizes but dims is 2");

    [Fact]
    public void LGMS014_duplicate_names_across_files_point_at_each_name()
    {
        var a = new ArchitectureName("Tiny", "a", "architectures/a.yaml", ArchitectureCompiler.Compile("architectures/a.yaml", Valid).NameSpan);
        var b = new ArchitectureName("tiny", "b", "architectures/b.yaml", a.NameSpan);
        var diagnostic = Assert.Single(ArchitectureNames.Conflicts(a, new[] { a, b }));
        Assert.Equal("LGMS014", diagnostic.Id);
        Assert.Equal((1, 7), (diagnostic.Span.Line, diagnostic.Span.Column));
        Assert.Contains("also used by b.yaml", diagnostic.Message);
        Assert.Single(ArchitectureNames.Conflicts(b, new[] { a, b }));
    }

    [Fact]
    public void LGMS014_name_equal_to_another_files_stem_is_ambiguous()
    {
        var a = new ArchitectureName("Unet", "a", "architectures/a.yaml", default);
        var b = new ArchitectureName("Other", "unet", "architectures/unet.yaml", default);
        Assert.Contains("ambiguous", Assert.Single(ArchitectureNames.Conflicts(a, new[] { a, b })).Message);
        Assert.Empty(ArchitectureNames.Conflicts(b, new[] { a, b }));
    }

    [Fact]
    public void LGMS015_name_must_be_a_class_name() =>
        Expect(Valid.Replace("name: Tiny", "name: 3d-net"), "LGMS015", "3d-net", 1, "not a valid C# class name");

    [Fact]
    public void LGMS015_all_lower_case_names_are_refused_because_csharp_reserves_them() =>
        Expect(Valid.Replace("name: Tiny", "name: lsm"), "LGMS015", "lsm", 1, "all lower-case", "'Lsm'");

    [Fact]
    public void LGMS015_reserved_member_names_are_refused() =>
        Expect(Valid.Replace("name: Tiny", "name: Encoder1"), "LGMS015", "Encoder1", 1, "reserved");

    [Theory]
    [InlineData("COMPILEDARCHITECTURES")]
    [InlineData("Compiledarchitectures")]
    [InlineData("ENCODER2")]
    [InlineData("INFO")]
    public void LGMS015_reserved_names_are_refused_in_any_letter_case(string name) =>
        // Roslyn compares generated file (hint) names case-insensitively: COMPILEDARCHITECTURES.g.cs
        // would collide with the registry's CompiledArchitectures.g.cs and crash the generator (CS8785).
        Expect(Valid.Replace("name: Tiny", "name: " + name), "LGMS015", name, 1, "reserved");

    [Fact]
    public void LGMS016_duplicate_key_points_at_the_second() =>
        Expect(Valid.Replace("dims: 2", "dims: 2\ndims: 3"), "LGMS016", "dims", 2, "duplicate key 'dims'");

    [Fact]
    public void LGMS017_type_tags_are_refused() =>
        Expect(Valid.Replace("name: Tiny", "name: !!python/object/apply:os.system [ls]"), "LGMS017", "!!python", 1, "tags", "plain data");

    [Fact]
    public void LGMS017_alias_expansion_bomb_is_refused()
    {
        var bomb = new System.Text.StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i = 1; i < 9; i++)
            bomb.Append($"a{i}: &a{i} [" + string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10)) + "]\n");
        var diagnostic = Assert.Single(Compile(bomb + Valid));
        Assert.Equal("LGMS017", diagnostic.Id);
        Assert.Contains("expands to more than", diagnostic.Message);
    }

    [Fact]
    public void LGMS017_aliases_within_bounds_are_fine() =>
        Assert.Empty(Compile(Valid.Replace("  - lms\n  - lms", "  - &block { lms: { kernels: [3, 5, 7, 9] } }\n  - *block")));

    [Fact]
    public void LGMS017_multiple_documents_are_refused() =>
        Expect(Valid + "\n---\nname: Other\n", "LGMS017", "---", 1, "exactly one YAML document");

    [Fact]
    public void LGMS017_deep_nesting_is_refused()
    {
        // The document mapping is level 1, so the 64th '[' is the first one too deep.
        var diagnostic = Assert.Single(Compile(Valid + "\nextra: " + new string('[', 100) + new string(']', 100)));
        Assert.Equal("LGMS017", diagnostic.Id);
        Assert.Equal((13, "extra: ".Length + 64), (diagnostic.Span.Line, diagnostic.Span.Column));
        Assert.Contains("nesting deeper than 64", diagnostic.Message);
    }

    [Fact]
    public void LGMS018_split_and_ratio_together() =>
        Expect(Valid.Replace("{ split: [24, 8] }", "{ split: [24, 8], ratio: 0.5 }"), "LGMS018", "0.5", 1, "either");

    [Fact]
    public void LGMS019_fusion_needs_an_even_input_width() =>
        Expect(Valid.Replace("widths: [8, 16, 32]", "widths: [7, 16, 32]")
                .Replace("  - lms\n  - lms\n  - gms: { split: [24, 8] }", "  - conv\n  - fusion\n  - conv")
                .Replace("  - fusion\n  - fusion", "  - conv\n  - conv"),
            "LGMS019", "fusion", 1, "7 input channels", "must be even");

    [Fact]
    public void LGMS020_input_size_must_be_a_multiple_of_the_architecture_multiple() =>
        Expect(Valid.Replace("classes: 1", "classes: 1\ninput_size: 100"), "LGMS020", "100", 1, "not a multiple of 8");

    [Fact]
    public void LGMS005_classes_beyond_a_byte_label_map_are_refused()
    {
        // Labels are bytes at run time (label maps, NIfTI uint8 output): classes 0..255.
        var diagnostic = Expect(Valid.Replace("classes: 1", "classes: 257"), "LGMS005", "257", 1, "classes", "256");
        Assert.Equal((4, 10), (diagnostic.Span.Line, diagnostic.Span.Column));
        Assert.Empty(Compile(Valid.Replace("classes: 1", "classes: 256")));
    }

    [Fact]
    public void LGMS021_empty_file() => Expect("# nothing here\n", "LGMS021", "#", 1, "defines no architecture");

    [Fact]
    public void Several_independent_mistakes_are_all_reported()
    {
        var yaml = Valid.Replace("classes: 1", "classes: 1\nwidht: 3").Replace("  - fusion\n  - fusion", "  - fusion\n  - fusoin");
        var ids = Compile(yaml).Select(d => d.Id).OrderBy(i => i).ToList();
        Assert.Equal(new[] { "LGMS002", "LGMS003" }, ids);
    }

    [Fact]
    public void An_unknown_block_does_not_hide_channel_errors_elsewhere()
    {
        var yaml = Valid.Replace("  - fusion\n  - fusion", "  - fusion\n  - fusoin");
        Assert.Equal(new[] { "LGMS003" }, Compile(yaml).Select(d => d.Id));
        // The unknown block stands in for its entry; a split error two levels away is still found.
        var withSplitError = yaml.Replace("split: [24, 8]", "split: [24, 4]");
        Assert.Equal(new[] { "LGMS003", "LGMS009" }, Compile(withSplitError).Select(d => d.Id).OrderBy(i => i));
        Assert.Null(ArchitectureCompiler.Compile(File, withSplitError).Plan);
    }

    [Fact]
    public void Every_diagnostic_kind_has_a_unique_id() =>
        Assert.Equal(DiagnosticKinds.All.Length, DiagnosticKinds.All.Select(k => k.Id).Distinct().Count());
}
