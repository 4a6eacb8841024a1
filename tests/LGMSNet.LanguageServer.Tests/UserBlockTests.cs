using System.Text.Json.Nodes;
using LGMSNet.Compiler.Tests.Support;

namespace LGMSNet.LanguageServer.Tests;

/// <summary>A project's own blocks without a build: a temporary project folder (a .csproj, the runtime and TorchSharp
/// assemblies in its bin/ as a build or restore leaves them, an architecture using a block 'gate' that does not exist
/// yet). Writing the block's C# file makes the diagnostic disappear; completion, hover and go-to-definition see it; a
/// broken declaration gives LGMS107 on the YAML and the declaration's error on the C# file.</summary>
public sealed class UserBlockTests : IDisposable
{
    private readonly string _project = Directory.CreateTempSubdirectory("lgms-lsp-project-").FullName;

    private const string Yaml = """
        name: Gated
        dims: 2
        in_channels: 1
        classes: 1
        widths: [8, 16, 32]
        input_size: 64
        encoder:
          - [lms, gate]
          - lms
          - gms: { split: [24, 8] }
        decoder:
          - fusion
          - [fusion, { gate: { factor: 2 } }]
        """;

    private const string Block = """
        using LGMSNet.Runtime.Blocks;
        using TorchSharp;
        using static TorchSharp.torch;

        namespace Scratch;

        /// <summary>Scales its input.</summary>
        [LgmsBlock("gate", Description = "Multiplies its input by a learned per-channel gate.", Channels = BlockChannels.SameAsInput)]
        public sealed class Gate : nn.Module<Tensor, Tensor>
        {
            public Gate(int dims, int inChannels, [LgmsOption(Min = 1, Max = 8, Description = "Gate sharpness.")] int factor = 1) : base(nameof(Gate))
            {
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => x;
        }
        """;

    public UserBlockTests()
    {
        File.WriteAllText(Path.Combine(_project, "Scratch.csproj"), "<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup></Project>");
        string bin = Directory.CreateDirectory(Path.Combine(_project, "bin", "Debug", "net10.0")).FullName;
        foreach (var assembly in new[] { typeof(LGMSNet.Runtime.Network.SegmentationNetwork).Assembly, typeof(TorchSharp.torch).Assembly })
            File.Copy(assembly.Location, Path.Combine(bin, Path.GetFileName(assembly.Location)));
        // A file that does not compile (a syntax error in a method body) does not hide the project's blocks.
        File.WriteAllText(Path.Combine(_project, "Broken.cs"), "namespace Scratch; public static class Helper { public static int F() => ; }");
    }

    public void Dispose() => Directory.Delete(_project, true);

    [Fact]
    public void Without_its_own_watcher_the_server_follows_the_clients_file_events()
    {
        string yaml = Path.Combine(_project, "gated.yaml");
        File.WriteAllText(yaml, Yaml);
        string uri = LspClient.Uri(yaml);
        using var client = new LspClient(new Dictionary<string, string> { ["LGMSNET_LSP_WATCH"] = "0" }, watchedFiles: true);
        client.Open(uri, Yaml);
        Assert.Equal(2, client.WaitDiagnostics(uri, 1).Count);
        string source = Path.Combine(_project, "Gate.cs");
        File.WriteAllText(source, Block);
        client.Notify("workspace/didChangeWatchedFiles", new JsonObject { ["changes"] = new JsonArray(new JsonObject { ["uri"] = LspClient.Uri(source), ["type"] = 1 }) });
        client.WaitDiagnostics(uri, 1, d => d.Count == 0, 30_000);
    }

    [Fact]
    public void A_built_project_does_not_see_its_blocks_twice()
    {
        // The project built: bin/ holds Scratch.dll with the Gate class as metadata. Read as a reference it would declare
        // 'gate' a second time (LGMS103, then LGMS107 on the YAML); the project's own output is not one of its references.
        File.WriteAllText(Path.Combine(_project, "Gate.cs"), Block);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(LGMSNet.Runtime.Network.SegmentationNetwork).Assembly.Location).Append(typeof(TorchSharp.torch).Assembly.Location)
            .Distinct().Select(p => Microsoft.CodeAnalysis.MetadataReference.CreateFromFile(p));
        var compilation = Microsoft.CodeAnalysis.CSharp.CSharpCompilation.Create("Scratch",
            new[] { Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(Block) }, references,
            new Microsoft.CodeAnalysis.CSharp.CSharpCompilationOptions(Microsoft.CodeAnalysis.OutputKind.DynamicallyLinkedLibrary));
        Microsoft.CodeAnalysis.Emit.EmitResult emitted;
        using (var output = File.Create(Path.Combine(_project, "bin", "Debug", "net10.0", "Scratch.dll")))
            emitted = compilation.Emit(output);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        string yaml = Path.Combine(_project, "gated.yaml");
        File.WriteAllText(yaml, Yaml);
        using var client = new LspClient();
        client.Open(LspClient.Uri(yaml), Yaml);
        Assert.Empty(client.WaitDiagnostics(LspClient.Uri(yaml), 1));
    }

    [Fact]
    public void A_block_written_to_disk_is_known_without_a_build()
    {
        string yaml = Path.Combine(_project, "gated.yaml");
        File.WriteAllText(yaml, Yaml);
        string uri = LspClient.Uri(yaml);
        using var client = new LspClient(new Dictionary<string, string> { ["LGMSNET_LSP_TRACE"] = "1" }, watchedFiles: true);
        client.Open(uri, Yaml);
        var before = client.WaitDiagnostics(uri, 1);
        Assert.Equal(new[] { "LGMS003", "LGMS003" }, before.Select(d => (string)d!["code"]!));

        string source = Path.Combine(_project, "Blocks", "Gate.cs");
        Directory.CreateDirectory(Path.GetDirectoryName(source)!);
        File.WriteAllText(source, Block);
        // The server's own file watcher sees the new file (no notification from this client).
        client.WaitDiagnostics(uri, 1, d => d.Count == 0, 30_000);

        // Completion where a block stands offers it; hover shows its declaration; definition goes to its class.
        var items = client.Result("textDocument/completion", LspClient.At(uri, 8, 4))!["items"]!.AsArray();
        var gate = items.Single(i => (string)i!["label"]! == "gate")!;
        Assert.Equal("Scratch.Gate", (string)gate["detail"]!);
        string hover = (string)client.Result("textDocument/hover", LspClient.At(uri, 7, 11))!["contents"]!["value"]!;
        Assert.Contains("**gate** (block Scratch.Gate)", hover);
        Assert.Contains("Multiplies its input by a learned per-channel gate.", hover);
        Assert.Contains("`factor` an integer 1..8 (default 1)", hover);
        Assert.Contains("8x64x64 → 8x64x64", hover);
        Assert.Contains("counted by `summary` on the built TorchSharp module", hover);
        string optionHover = (string)client.Result("textDocument/hover", LspClient.At(uri, 12, 24))!["contents"]!["value"]!;
        Assert.StartsWith("**factor** (option of `gate`): an integer 1..8, default `1`", optionHover);
        var definition = client.Result("textDocument/definition", LspClient.At(uri, 7, 11))!;
        Assert.Equal(LspClient.Uri(source), (string)definition["uri"]!);
        Assert.Equal(8, (int)definition["range"]!["start"]!["line"]!);
        Assert.Equal(20, (int)definition["range"]!["start"]!["character"]!);
        var values = client.Result("textDocument/completion", LspClient.At(uri, 12, 32))!["items"]!.AsArray();
        Assert.Equal(Enumerable.Range(1, 8).Select(i => i.ToString()), values.Select(v => (string)v!["label"]!));

        // An option the language cannot write: the YAML says LGMS107, the C# file gets the declaration's LGMS102.
        File.WriteAllText(source, Block.Replace("int factor = 1", "string factor = \"x\""));
        client.Notify("workspace/didChangeWatchedFiles", new JsonObject { ["changes"] = new JsonArray(new JsonObject { ["uri"] = LspClient.Uri(source), ["type"] = 2 }) });
        var broken = client.WaitDiagnostics(uri, 1, d => d.Count > 0 && d.All(x => (string)x!["code"]! == "LGMS107"), 30_000);
        Assert.Equal(2, broken.Count);
        var declaration = client.WaitDiagnostics(LspClient.Uri(source), null, d => d.Count > 0, 30_000);
        Assert.Equal("LGMS102", (string)declaration[0]!["code"]!);
        Assert.Contains("option 'factor' has type string", (string)declaration[0]!["message"]!);
    }
}
