using System.Text.Json;
using System.Text.Json.Nodes;
using LGMSNet.Compiler.Tests.Support;
using LGMSNet.Dsl;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>The editor schema as VS Code's YAML extension sees it: the real yaml-language-server 2.0.0, started with
/// --stdio and driven over LSP by tests/lsp/drive.js (Node built-ins only). The server is installed into tests/lsp by
/// .ci/run, or by this test when it is missing (npm install yaml-language-server@2.0.0); never skipped.</summary>
public sealed class LanguageServerTests
{
    private const string ServerVersion = "2.0.0";

    private static readonly Lazy<string> Server = new(Install);

    private static string Install()
    {
        string folder = Repo.Path("tests", "lsp");
        string server = Path.Combine(folder, "node_modules", "yaml-language-server", "bin", "yaml-language-server");
        string package = Path.Combine(folder, "node_modules", "yaml-language-server", "package.json");
        if (!File.Exists(server) || !File.ReadAllText(package).Contains($"\"version\": \"{ServerVersion}\"", StringComparison.Ordinal))
        {
            var (code, output) = Run("npm", $"install --prefix \"{folder}\" --no-save --no-package-lock --no-audit --no-fund yaml-language-server@{ServerVersion}", folder);
            Assert.True(code == 0 && File.Exists(server), $"could not install yaml-language-server {ServerVersion} with npm (.ci/run does): {output}");
        }
        return server;
    }

    private static (int Code, string Output) Run(string file, string arguments, string directory) =>
        Processes.Run(file, arguments, directory, TimeSpan.FromMinutes(3));

    /// <summary>Runs one LSP session over the documents and requests; returns drive.js's results by request id.</summary>
    private static Dictionary<string, JsonElement> Drive(JsonArray documents, JsonArray requests)
    {
        string spec = Path.Combine(Path.GetTempPath(), $"lgms-lsp-{Guid.NewGuid():N}.json");
        File.WriteAllText(spec, new JsonObject { ["rootPath"] = Repo.Root, ["timeoutMs"] = 120000, ["documents"] = documents, ["requests"] = requests }.ToJsonString());
        try
        {
            var (code, output) = Run("node", $"\"{Repo.Path("tests", "lsp", "drive.js")}\" \"{Server.Value}\" \"{spec}\"", Repo.Root);
            Assert.True(code == 0, output);
            var json = JsonDocument.Parse(output).RootElement;
            Assert.True(json.GetProperty("ok").GetBoolean(), output);
            var results = json.GetProperty("results").EnumerateArray().ToDictionary(r => r.GetProperty("id").GetString()!, r => r);
            foreach (var (id, result) in results)
                Assert.False(result.TryGetProperty("error", out var error), $"{id}: {error}");
            return results;
        }
        finally
        {
            File.Delete(spec);
        }
    }

    private static JsonObject Doc(string id, string path, string text) => new() { ["id"] = id, ["path"] = path, ["text"] = text };

    private static JsonObject Request(string id, string type, string doc) => new() { ["id"] = id, ["type"] = type, ["doc"] = doc };

    private static IEnumerable<JsonElement> Diagnostics(Dictionary<string, JsonElement> results, string id) => results[id].GetProperty("diagnostics").EnumerateArray();

    private static string Template(string file) => Repo.Path("src", "LGMSNet.Templates", "content", "lgmsnet", file);

    public static TheoryData<string> Files() => new(ShippedFiles().Select(f => Path.GetRelativePath(Repo.Root, f)));

    private static IEnumerable<string> ShippedFiles() =>
        Directory.GetFiles(Repo.Path("architectures"), "*.yaml")
            .Concat(Directory.GetFiles(Repo.Path("tests", "LGMSNet.Runtime.Tests", "architectures"), "*.yaml"))
            .Concat(Directory.GetFiles(Template(""), "*.yaml"))
            .OrderBy(f => f, StringComparer.Ordinal);

    [Fact]
    public void Every_shipped_file_and_the_templates_have_no_diagnostics_in_the_editor()
    {
        var documents = new JsonArray();
        var requests = new JsonArray();
        int n = 0;
        foreach (var file in ShippedFiles())
        {
            documents.Add(Doc($"f{n}", file, File.ReadAllText(file)));
            requests.Add(Request($"f{n}", "diagnostics", $"f{n}"));
            n++;
        }
        // The template's lgmsnet.yaml is the repository's, with its modeline pointing at the schema beside it (template.json).
        string main = File.ReadAllText(Repo.Path("architectures", "lgmsnet.yaml")).Replace("$schema=../schemas/lgmsnet.schema.json", "$schema=lgmsnet.schema.json");
        documents.Add(Doc("template-main", Template("lgmsnet.yaml"), main));
        requests.Add(Request("template-main", "diagnostics", "template-main"));
        var results = Drive(documents, requests);
        foreach (var request in requests)
        {
            string id = request!["id"]!.GetValue<string>();
            var found = Diagnostics(results, id).Select(d => d.GetProperty("message").GetString()).ToList();
            Assert.True(found.Count == 0, $"{documents.Single(d => d!["id"]!.GetValue<string>() == id)!["path"]}: {string.Join("; ", found)}");
        }
    }

    private const string Probe = """
        # yaml-language-server: $schema=../schemas/lgmsnet.schema.json
        name: Probe
        dims: 2
        in_channels: 3
        classes: 1
        widths: [16, 32, 64, 128]
        encoder:
          - lms: { kernals: [3, 5, 7, 9] }
          - lms: { kernels: [3, 4] }
          - gms: { split: [96, 32], ratio: 0.5 }
          - gms: { hedas: 2 }
        decoder:
          - fusion
          - fusion
          - fusion

        """;

    [Fact]
    public void Planted_mistakes_are_reported_on_their_line_in_the_compilers_words()
    {
        var documents = new JsonArray
        {
            Doc("probe", Repo.Path("architectures", "probe.yaml"), Probe),
            Doc("name", Repo.Path("architectures", "name.yaml"), Probe.Replace("name: Probe", "name: probe")),
            Doc("se", Template("probe-se.yaml"),
                File.ReadAllText(Template("lgmsnet-se.yaml")).Replace("se: { reduction: 4 } }]", "se: { reductoin: 4 } }]").Replace("se: { reduction: 8 } }]", "se: { reduction: 300 } }]")),
        };
        var results = Drive(documents, new JsonArray { Request("probe", "diagnostics", "probe"), Request("name", "diagnostics", "name"), Request("se", "diagnostics", "se") });

        (int Line, string Message)[] Found(string id) =>
            Diagnostics(results, id).Select(d => (int.Parse(d.GetProperty("range").GetString()!.Split(':')[0], System.Globalization.CultureInfo.InvariantCulture) + 1,
                d.GetProperty("message").GetString()!)).ToArray();

        var probe = Found("probe");
        Assert.Contains((8, "Property kernals is not allowed."), probe);
        Assert.Contains(probe, d => d.Line == 9 && d.Message.Contains("kernels must be odd and positive, 1 to 31", StringComparison.Ordinal));
        Assert.Contains((10, "give either 'split' or 'ratio', not both"), probe);
        Assert.Contains((11, "Property hedas is not allowed."), probe);
        Assert.DoesNotContain(probe, d => d.Message.Contains("Expected \"null\"", StringComparison.Ordinal) || d.Message.Contains("not allowed.", StringComparison.Ordinal) && d.Message.StartsWith("Matches", StringComparison.Ordinal));
        Assert.Contains(Found("name"), d => d.Line == 2 && d.Message.Contains("not all lower-case (C# reserves those, CS8981)", StringComparison.Ordinal));

        var se = Found("se");
        Assert.Contains(se, d => d.Line == 14 && d.Message == "Property reductoin is not allowed.");
        Assert.Contains(se, d => d.Line == 16 && d.Message.Contains("above the maximum of 256", StringComparison.Ordinal));
    }

    /// <summary>At the start of a file that holds only the modeline, the server offers the whole-file skeleton (the schema's
    /// title) and every top-level key. Each is applied as the editor would (snippet placeholders at their defaults): the
    /// skeleton must compile as it stands, and every key whose insertion carries a value must carry one the compiler
    /// accepts (checked in the skeleton's file, with that key's line in place of the skeleton's). A key inserted with an
    /// empty value (<c>norm: </c>, a choice the server leaves to the user) carries nothing to reject.</summary>
    [Theory]
    [InlineData("architectures/empty.yaml", "# yaml-language-server: $schema=../schemas/lgmsnet.schema.json\n")]
    [InlineData("src/LGMSNet.Templates/content/lgmsnet/empty.yaml", "# yaml-language-server: $schema=lgmsnet.schema.json\n")]
    public void Completion_in_an_empty_file_inserts_only_values_the_compiler_accepts(string relative, string modeline)
    {
        var documents = new JsonArray { Doc("empty", Repo.Path(relative.Split('/')), modeline) };
        var requests = new JsonArray { new JsonObject { ["id"] = "start", ["type"] = "completion", ["doc"] = "empty", ["line"] = 1, ["character"] = 0, ["applyAll"] = true } };
        var applied = Drive(documents, requests)["start"].GetProperty("appliedAll").EnumerateArray()
            .Select(a => (Label: a.GetProperty("label").GetString()!, Kind: a.GetProperty("kind").GetInt32(), Text: a.GetProperty("text").GetString()!)).ToList();

        var skeleton = applied.Where(a => a.Kind == 7).ToList(); // CompletionItemKind.Class: the schema's whole-file skeleton
        Assert.Equal(new[] { "LGMSNet architecture" }, skeleton.Select(s => s.Label));
        string file = skeleton[0].Text;
        var diagnostics = ArchitectureCompiler.Compile("empty.yaml", file).Diagnostics;
        Assert.True(diagnostics.Count == 0, $"the skeleton does not compile:\n{file}\n{string.Join("\n", diagnostics)}");
        foreach (var key in Dsl.Language.LanguageRules.TopLevel.Where(r => r.Required))
            Assert.Contains(applied, a => a.Label == key.Key && a.Kind == 10);

        // The skeleton's file as top-level entries (a key's line and its indented or list continuation lines).
        var entries = TopLevelEntries(file);
        foreach (var (label, kind, text) in applied.Where(a => a.Kind != 7))
        {
            Assert.Equal(10, kind); // CompletionItemKind.Property
            string inserted = text[modeline.Length..].TrimEnd();
            Assert.StartsWith(label + ":", inserted, StringComparison.Ordinal);
            if (inserted == label + ":") continue; // an empty value, left to the user
            string probe = modeline + string.Join("\n", entries.Where(e => e.Key != label).Select(e => e.Text)) + "\n" + inserted + "\n";
            var found = ArchitectureCompiler.Compile("empty.yaml", probe).Diagnostics;
            Assert.True(found.Count == 0, $"completing '{label}' inserts '{inserted}', which the compiler rejects: {string.Join("; ", found)}");
        }
    }

    private static List<(string Key, string Text)> TopLevelEntries(string file)
    {
        var entries = new List<(string Key, string Text)>();
        foreach (var line in file.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')))
        {
            if (!char.IsWhiteSpace(line[0])) entries.Add((line[..line.IndexOf(':', StringComparison.Ordinal)], line));
            else entries[^1] = (entries[^1].Key, entries[^1].Text + "\n" + line);
        }
        return entries;
    }

    [Fact]
    public void Completion_inserts_valid_blocks_and_a_user_blocks_options_and_hover_names_the_key()
    {
        string lines = Probe.Replace("  - lms: { kernals: [3, 5, 7, 9] }\n", "  - \n");
        string se = File.ReadAllText(Template("lgmsnet-se.yaml")).Replace("  - [lms, { se: { reduction: 4 } }]\n  - [lms, { se: { reduction: 4 } }]", "  - se:\n      \n  - lms");
        var documents = new JsonArray
        {
            Doc("block", Repo.Path("architectures", "complete.yaml"), lines),
            Doc("se", Template("complete-se.yaml"), se),
            Doc("hover", Repo.Path("architectures", "hover.yaml"), Probe),
        };
        var requests = new JsonArray
        {
            new JsonObject { ["id"] = "lms", ["type"] = "completion", ["doc"] = "block", ["find"] = "  - \n", ["offset"] = 4, ["apply"] = "lms", ["applyKind"] = 12 },
            new JsonObject { ["id"] = "snippet", ["type"] = "completion", ["doc"] = "block", ["find"] = "  - \n", ["offset"] = 4, ["apply"] = "lms with options" },
            new JsonObject { ["id"] = "user", ["type"] = "completion", ["doc"] = "block", ["find"] = "  - \n", ["offset"] = 4, ["labels"] = new JsonArray("se") },
            new JsonObject { ["id"] = "option", ["type"] = "completion", ["doc"] = "se", ["find"] = "  - se:\n      \n", ["offset"] = 14, ["apply"] = "reduction" },
            new JsonObject { ["id"] = "hover", ["type"] = "hover", ["doc"] = "hover", ["find"] = "kernels", ["offset"] = 2 },
            new JsonObject { ["id"] = "required", ["type"] = "hover", ["doc"] = "hover", ["find"] = "\ndims:", ["offset"] = 2 },
        };
        var results = Drive(documents, requests);

        string Applied(string id) => results[id].GetProperty("applied").GetProperty("text").GetString()
            ?? throw new InvalidOperationException(results[id].ToString());
        Assert.Contains("  - lms\n  - lms: { kernels: [3, 4] }", Applied("lms"));
        Assert.DoesNotContain("lms: lms", Applied("lms"));
        Assert.Contains("  - lms: { kernels: [3, 5, 7, 9] }\n", Applied("snippet"));
        // Both completions give files the compiler reads (the planted kernels [3, 4] and the rest of the probe aside).
        foreach (var id in new[] { "lms", "snippet" })
        {
            string fixedText = Applied(id).Replace("  - lms: { kernels: [3, 4] }", "  - lms").Replace("  - gms: { split: [96, 32], ratio: 0.5 }", "  - gms")
                .Replace("  - gms: { hedas: 2 }", "  - gms");
            Assert.Empty(ArchitectureCompiler.Compile("complete.yaml", fixedText).Diagnostics);
        }
        // The repository's schema has no user blocks; the template's has its se block, whose option completes with its default.
        Assert.Equal(0, results["user"].GetProperty("items").GetArrayLength());
        Assert.Contains("  - se:\n      reduction: 4\n", Applied("option"));

        string hover = results["hover"].GetProperty("hover").GetString()!;
        Assert.StartsWith("#### kernels", hover);
        Assert.Contains("Odd depthwise kernel sizes", hover);
        Assert.DoesNotContain("LGMSNet architecture", hover);

        // A required key's schema default is only its skeleton value: the hover that shows it says the key is required.
        string required = results["required"].GetProperty("hover").GetString()!;
        Assert.StartsWith("#### dims", required);
        Assert.Contains("Required: it has no default; 2 is only the value an editor inserts for it.", required);
    }
}
