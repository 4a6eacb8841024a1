using System.Globalization;
using System.Text.Json;
using Json.Schema;
using LGMSNet.Compiler.Tests.Support;
using LGMSNet.Dsl;
using LGMSNet.Dsl.Language;
using Xunit;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LGMSNet.Compiler.Tests;

/// <summary>schemas/lgmsnet.schema.json: regenerated from the compiler's language table and compared with the
/// committed file; every shipped YAML points at it and validates against it (JsonSchema.Net, draft 2020-12);
/// wrong files are rejected by the schema as well as by the compiler.</summary>
public sealed class SchemaTests
{
    private static readonly string SchemaPath = Repo.Path("schemas", JsonSchemaWriter.FileName);

    private static readonly Lazy<JsonSchema> Schema = new(() => JsonSchema.FromText(File.ReadAllText(SchemaPath)));

    [Fact]
    public void The_committed_schema_is_what_the_language_table_generates()
    {
        string expected = JsonSchemaWriter.Write();
        string actual = File.Exists(SchemaPath) ? File.ReadAllText(SchemaPath).Replace("\r\n", "\n") : "";
        if (actual != expected)
        {
            string received = Path.ChangeExtension(SchemaPath, ".received.json");
            File.WriteAllText(received, expected);
            Assert.Fail($"{SchemaPath} is out of date with LGMSNet.Dsl.Language.LanguageRules; the generated schema was written to " +
                        $"{received}: review it and move it over the committed file (or run `lgmsnet schema --output {SchemaPath}`).");
        }
    }

    public static TheoryData<string> ShippedYaml()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Repo.Path("architectures"), "*.yaml")
                     .Concat(Directory.GetFiles(Repo.Path("tests", "LGMSNet.Runtime.Tests", "architectures"), "*.yaml"))
                     .OrderBy(f => f, StringComparer.Ordinal))
        {
            // Files using a project's own blocks name that project's schema (the schema command's output, with the blocks):
            // the runtime tests hold those schemas equal to what the command writes, the language-server test validates them.
            if (!File.ReadLines(file).First().EndsWith("/schemas/" + JsonSchemaWriter.FileName, StringComparison.Ordinal)) continue;
            data.Add(Path.GetRelativePath(Repo.Root, file));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ShippedYaml))]
    public void Every_shipped_yaml_points_editors_at_the_schema_and_validates_against_it(string relativePath)
    {
        string path = Repo.Path(relativePath);
        string firstLine = File.ReadLines(path).First();
        const string prefix = "# yaml-language-server: $schema=";
        Assert.StartsWith(prefix, firstLine);
        string target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, firstLine[prefix.Length..].Trim()));
        Assert.Equal(Path.GetFullPath(SchemaPath), target);

        var result = Validate(File.ReadAllText(path));
        Assert.True(result.IsValid, relativePath + ": " + Errors(result));
        Assert.Empty(ArchitectureCompiler.Compile(relativePath, File.ReadAllText(path)).Diagnostics);
    }

    private const string Valid = """
        name: Tiny
        dims: 2
        in_channels: 1
        classes: 1
        widths: [8, 16, 32]
        encoder:
          - lms: { kernels: [3, 5] }
          - lms
          - gms: { split: [24, 8] }
        decoder:
          - [fusion, conv]
          - fusion
        """;

    [Fact]
    public void The_valid_example_passes_both()
    {
        Assert.True(Validate(Valid).IsValid, Errors(Validate(Valid)));
        Assert.Empty(ArchitectureCompiler.Compile("x.yaml", Valid).Diagnostics);
    }

    public static TheoryData<string, string, string> WrongFiles() => new()
    {
        { "unknown top-level key", "widths: [8, 16, 32]", "widths: [8, 16, 32]\nwidth: 3" },
        { "unknown block", "  - lms\n", "  - lmss\n" },
        { "unknown block option", "kernels: [3, 5]", "kernel: [3, 5]" },
        { "wrong type", "classes: 1", "classes: one" },
        { "wrong type of a list", "widths: [8, 16, 32]", "widths: 8" },
        { "out of range", "in_channels: 1", "in_channels: 0" },
        { "out of range (classes beyond a byte label)", "classes: 1", "classes: 300" },
        { "even kernel", "kernels: [3, 5]", "kernels: [3, 4]" },
        { "dims not 2 or 3", "dims: 2", "dims: 4" },
        { "unknown norm", "classes: 1", "classes: 1\nnorm: layer" },
        { "split and ratio together", "split: [24, 8]", "split: [24, 8], ratio: 0.5" },
        { "missing required key", "classes: 1\n", "" },
        { "two blocks in one mapping", "  - lms\n", "  - { lms: {}, gms: {} }\n" },
    };

    [Theory]
    [MemberData(nameof(WrongFiles))]
    public void A_wrong_file_is_rejected_by_the_schema_and_by_the_compiler(string what, string find, string replace)
    {
        Assert.Contains(find, Valid);
        string yaml = Valid.Replace(find, replace);
        Assert.False(Validate(yaml).IsValid, $"{what}: the schema accepted\n{yaml}");
        Assert.NotEmpty(ArchitectureCompiler.Compile("x.yaml", yaml).Diagnostics);
    }

    /// <summary>The parser reads its ranges from the same table: one past each integer key's maximum is a
    /// compiler error and a schema error.</summary>
    [Fact]
    public void Every_integer_range_in_the_table_is_enforced_by_the_compiler_and_the_schema()
    {
        var cases = new List<(string Yaml, string Key)>
        {
            (Valid.Replace("in_channels: 1", "in_channels: " + (LanguageRules.InChannels.Max + 1)), "in_channels"),
            (Valid.Replace("classes: 1", "classes: " + (LanguageRules.Classes.Max + 1)), "classes"),
            (Valid.Replace("classes: 1", "classes: 1\nnorm_groups: " + (LanguageRules.NormGroups.Max + 1)), "norm_groups"),
            (Valid.Replace("widths: [8, 16, 32]", $"widths: [8, 16, {LanguageRules.Widths.Max + 1}]"), "widths"),
        };
        LGMSNet.Dsl.Blocks.BlockDeclaration Block(string keyword) => LGMSNet.Dsl.Planning.Definitions.BlockDefinitions.BuiltIn.Find(keyword)!;
        foreach (var option in Block("lms").Options.Where(o => o.Kind == LGMSNet.Dsl.Blocks.OptionKind.Integer))
            cases.Add((Valid.Replace("lms: { kernels: [3, 5] }", $"lms: {{ {option.Key}: {option.Max + 1} }}"), "lms." + option.Key));
        foreach (var option in Block("gms").Options.Where(o => o.Kind == LGMSNet.Dsl.Blocks.OptionKind.Integer))
            cases.Add((Valid.Replace("gms: { split: [24, 8] }", $"gms: {{ split: [24, 8], {option.Key}: {option.Max + 1} }}"), "gms." + option.Key));
        cases.Add((Valid.Replace("[fusion, conv]", $"[{{ fusion: {{ expansion: {Block("fusion").Option("expansion")!.Max + 1} }} }}, conv]"), "fusion.expansion"));

        foreach (var (yaml, key) in cases) Assert.NotEqual(Valid, yaml);

        foreach (var (yaml, key) in cases)
        {
            Assert.False(Validate(yaml).IsValid, $"{key}: the schema accepted one past the maximum");
            var diagnostics = ArchitectureCompiler.Compile("x.yaml", yaml).Diagnostics;
            Assert.True(diagnostics.Any(d => d.Message.Contains("out of range", StringComparison.Ordinal)),
                $"{key}: expected an out-of-range diagnostic, got [{string.Join("; ", diagnostics)}]");
        }
    }

    private static EvaluationResults Validate(string yaml)
    {
        using var document = JsonDocument.Parse(YamlToJson(yaml));
        return Schema.Value.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
    }

    private static string Errors(EvaluationResults results) => string.Join("; ",
        (results.Details ?? new List<EvaluationResults>()).Where(d => d.Errors != null)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));

    /// <summary>YAML as an editor's YAML language server sees it (YAML 1.2 core schema): plain scalars that look
    /// like numbers, booleans or null are those; everything else is a string.</summary>
    private static string YamlToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            if (stream.Documents.Count == 0) writer.WriteNullValue();
            else Write(writer, stream.Documents[0].RootNode);
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Write(Utf8JsonWriter writer, YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                writer.WriteStartObject();
                foreach (var (key, value) in map.Children)
                {
                    writer.WritePropertyName(((YamlScalarNode)key).Value ?? "");
                    Write(writer, value);
                }
                writer.WriteEndObject();
                break;
            case YamlSequenceNode list:
                writer.WriteStartArray();
                foreach (var item in list.Children) Write(writer, item);
                writer.WriteEndArray();
                break;
            case YamlScalarNode scalar:
                string text = scalar.Value ?? "";
                if (scalar.Style != ScalarStyle.Plain) writer.WriteStringValue(text);
                else if (text is "" or "~" or "null" or "Null" or "NULL") writer.WriteNullValue();
                else if (text is "true" or "True" or "TRUE") writer.WriteBooleanValue(true);
                else if (text is "false" or "False" or "FALSE") writer.WriteBooleanValue(false);
                else if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long integer)) writer.WriteNumberValue(integer);
                else if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number)) writer.WriteNumberValue(number);
                else writer.WriteStringValue(text);
                break;
        }
    }
}
