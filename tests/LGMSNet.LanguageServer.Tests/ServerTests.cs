using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using LGMSNet.Compiler.Tests.Support;
using LGMSNet.Dsl;

namespace LGMSNet.LanguageServer.Tests;

/// <summary>Versions, quick fixes, outline, hostile input and protocol misuse, against the real server process.</summary>
public sealed class ServerTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static readonly string Valid = File.ReadAllText(Repo.Path("architectures", "lgmsnet.yaml"));

    private LspClient Client => server.Client;

    [Fact]
    public void A_newer_version_replaces_the_older_ones_diagnostics()
    {
        string uri = LspClient.Uri(server.Write("edits.yaml", Valid));
        Client.Open(uri, Valid, 1);
        Assert.Empty(Client.WaitDiagnostics(uri, 1));
        // Typing: versions 2..30, the last one valid again; sent without waiting, as an editor sends keystrokes.
        for (int v = 2; v < 30; v++) Client.Change(uri, v, Valid.Replace("norm: batch", "norm: batch" + new string('h', v % 3 + 1)));
        Client.Change(uri, 30, Valid);
        Assert.Empty(Client.WaitDiagnostics(uri, 30));
        Client.Change(uri, 31, Valid.Replace("fusion", "fusoin"));
        var diagnostics = Client.WaitDiagnostics(uri, 31);
        Assert.Equal(3, diagnostics.Count);
        Thread.Sleep(300);
        var published = Client.Published(uri);
        // Debounced: far fewer compiles than changes; never an older version after a newer one.
        Assert.True(published.Count < 15, $"{published.Count} publishes for 31 versions");
        var versions = published.Select(p => (int)p["version"]!).ToList();
        Assert.Equal(versions.Order(), versions);
        Assert.Equal(31, versions[^1]);
    }

    [Fact]
    public void Incremental_edits_in_utf16_positions_give_the_diagnostics_of_the_resulting_text()
    {
        // An editor's keystrokes as range changes on a CRLF file; one edit ends after an emoji (two UTF-16 code units).
        string text = ServerFixture.Crlf(Valid);
        string uri = LspClient.Uri(server.Write("incremental.yaml", text));
        Client.Open(uri, text);
        Assert.Empty(Client.WaitDiagnostics(uri, 1));
        var lines = text.Split("\r\n");
        int encoderLine = Array.FindIndex(lines, l => l.StartsWith("  - lms", StringComparison.Ordinal));
        int close = lines[encoderLine].LastIndexOf(" }", StringComparison.Ordinal);
        var changes = new (int Line, int Start, int End, string Text)[]
        {
            (encoderLine, close, close, ", \"\U0001F600\": 1"),             // an unknown option key, an emoji
            (encoderLine, close + 2, close + 2 + 7, "depth: 2"),               // replaced: '"😀": 1' is 7 code units
            (encoderLine + 1, 4, 7, "lsm"),                                     // a typo in a block keyword
            (encoderLine + 2, 4, 5, "L"),                                       // another one
            (encoderLine + 2, 4, 5, "l"),                                       // undone
        };
        int version = 1;
        foreach (var change in changes)
        {
            version++;
            Client.Notify("textDocument/didChange", new JsonObject
            {
                ["textDocument"] = new JsonObject { ["uri"] = uri, ["version"] = version },
                ["contentChanges"] = new JsonArray(new JsonObject
                {
                    ["range"] = new JsonObject
                    {
                        ["start"] = new JsonObject { ["line"] = change.Line, ["character"] = change.Start },
                        ["end"] = new JsonObject { ["line"] = change.Line, ["character"] = change.End },
                    },
                    ["text"] = change.Text,
                }),
            });
            lines[change.Line] = lines[change.Line].Substring(0, change.Start) + change.Text + lines[change.Line].Substring(change.End);
        }
        var diagnostics = Client.WaitDiagnostics(uri, version);
        var expected = ArchitectureCompiler.Compile("incremental.yaml", string.Join("\r\n", lines)).Diagnostics;
        Assert.Equal(expected.Select(d => $"{d.Id} {d.Span.Line - 1}:{d.Span.Column - 1} {d.Message}"),
            diagnostics.Select(d => $"{d!["code"]} {d["range"]!["start"]!["line"]}:{d["range"]!["start"]!["character"]} {d["message"]}"));
        Assert.Equal("LGMS003", (string)Assert.Single(diagnostics)!["code"]!);
    }

    [Fact]
    public void Every_did_you_mean_has_a_quick_fix_and_applying_them_compiles()
    {
        string text = File.ReadAllText(Repo.Path("tests", "LGMSNet.LanguageServer.Tests", "Cases", "did-you-mean.yaml"));
        foreach (bool crlf in new[] { false, true })
        {
            string current = crlf ? ServerFixture.Crlf(text) : text;
            string uri = LspClient.Uri(server.Write(crlf ? "fix-crlf.yaml" : "fix.yaml", current));
            Client.Open(uri, current);
            var diagnostics = Client.WaitDiagnostics(uri, 1);
            Assert.Equal(6, diagnostics.Count);
            var edits = new List<(int Line, int Start, int End, string Text)>();
            foreach (var diagnostic in diagnostics)
            {
                Assert.Contains("did you mean", (string)diagnostic!["message"]!);
                var actions = Client.Result("textDocument/codeAction", new JsonObject
                {
                    ["textDocument"] = new JsonObject { ["uri"] = uri },
                    ["range"] = diagnostic["range"]!.DeepClone(),
                    ["context"] = new JsonObject { ["diagnostics"] = new JsonArray(diagnostic.DeepClone()) },
                })!.AsArray();
                var action = Assert.Single(actions);
                Assert.Equal("quickfix", (string?)action!["kind"]);
                var edit = Assert.Single(action["edit"]!["changes"]![uri]!.AsArray())!;
                Assert.Equal(diagnostic["data"]!["replacement"]!.ToString(), (string)edit["newText"]!);
                var r = edit["range"]!;
                Assert.Equal((int)r["start"]!["line"]!, (int)r["end"]!["line"]!);
                edits.Add(((int)r["start"]!["line"]!, (int)r["start"]!["character"]!, (int)r["end"]!["character"]!, (string)edit["newText"]!));
            }
            // Applied (right to left on each line), the file compiles.
            string newline = crlf ? "\r\n" : "\n";
            var lines = current.Split(newline).ToList();
            foreach (var e in edits.OrderByDescending(e => e.Start))
                lines[e.Line] = lines[e.Line].Substring(0, e.Start) + e.Text + lines[e.Line].Substring(e.End);
            string fixedText = string.Join(newline, lines);
            Assert.Empty(ArchitectureCompiler.Compile("fix.yaml", fixedText).Diagnostics);
            Client.Change(uri, 2, fixedText);
            Assert.Empty(Client.WaitDiagnostics(uri, 2));
        }
    }

    [Fact]
    public void A_quick_fix_never_names_a_key_the_mapping_already_has()
    {
        // 'nam' is nearest 'name', which is set: taking that would be a duplicate key (LGMS016). The fix offered is the
        // nearest free key, 'norm'; applied, the file compiles.
        string typo = Valid.Replace("\nnorm: batch\n", "\nnam: batch\n");
        Assert.NotEqual(Valid, typo);
        string uri = LspClient.Uri(server.Write("fix-free-key.yaml", typo));
        Client.Open(uri, typo);
        var diagnostic = Assert.Single(Client.WaitDiagnostics(uri, 1))!;
        var edit = Assert.Single(Assert.Single(CodeActions(uri, diagnostic))!["edit"]!["changes"]![uri]!.AsArray())!;
        Assert.Equal("norm", (string)edit["newText"]!);
        var lines = typo.Split('\n');
        var r = edit["range"]!;
        int line = (int)r["start"]!["line"]!, start = (int)r["start"]!["character"]!, end = (int)r["end"]!["character"]!;
        lines[line] = lines[line].Substring(0, start) + (string)edit["newText"]! + lines[line].Substring(end);
        string fixedText = string.Join('\n', lines);
        Assert.Empty(ArchitectureCompiler.Compile("fix-free-key.yaml", fixedText).Diagnostics);
        Client.Change(uri, 2, fixedText);
        Assert.Empty(Client.WaitDiagnostics(uri, 2));

        // 'widht' beside 'widths', 'kernel' beside 'kernels': nothing sensible remains, so no "did you mean" and no fix.
        const string stage = "lms: { kernels: [3, 5, 7, 9] }";
        int first = Valid.IndexOf(stage, StringComparison.Ordinal);
        Assert.True(first >= 0);
        string noFix = (Valid.Substring(0, first) + "lms: { kernels: [3, 5, 7, 9], kernel: [3] }" + Valid.Substring(first + stage.Length))
            .Replace("\nwidths: ", "\nwidht: 3\nwidths: ");
        string noFixUri = LspClient.Uri(server.Write("no-fix.yaml", noFix));
        Client.Open(noFixUri, noFix);
        var diagnostics = Client.WaitDiagnostics(noFixUri, 1);
        Assert.Equal(new[] { "LGMS002", "LGMS002" }, diagnostics.Select(d => (string)d!["code"]!));
        foreach (var d in diagnostics)
        {
            Assert.DoesNotContain("did you mean", (string)d!["message"]!);
            Assert.Empty(CodeActions(noFixUri, d));
        }
    }

    private JsonArray CodeActions(string uri, JsonNode diagnostic) => Client.Result("textDocument/codeAction", new JsonObject
    {
        ["textDocument"] = new JsonObject { ["uri"] = uri },
        ["range"] = diagnostic["range"]!.DeepClone(),
        ["context"] = new JsonObject { ["diagnostics"] = new JsonArray(diagnostic.DeepClone()) },
    })!.AsArray();

    [Fact]
    public void Outline_lists_top_level_keys_and_stages_with_shapes()
    {
        string uri = LspClient.Uri(server.Write("outline.yaml", Valid));
        Client.Open(uri, Valid);
        Client.WaitDiagnostics(uri, 1);
        var symbols = Client.Result("textDocument/documentSymbol", new JsonObject { ["textDocument"] = new JsonObject { ["uri"] = uri } })!.AsArray();
        Assert.Equal(new[] { "name", "description", "dims", "in_channels", "classes", "widths", "norm", "upsample", "input_size", "encoder", "decoder" },
            symbols.Select(s => (string)s!["name"]!));
        var encoder = symbols.Single(s => (string)s!["name"]! == "encoder")!["children"]!.AsArray();
        Assert.Equal("encoder1", (string)encoder[0]!["name"]!);
        Assert.Equal("lms: { kernels: [3, 5, 7, 9] } → 16x256x256", (string)encoder[0]!["detail"]!);
        var decoder = symbols.Single(s => (string)s!["name"]! == "decoder")!["children"]!.AsArray();
        Assert.Equal(new[] { "decoder4", "decoder3", "decoder2", "decoder1" }, decoder.Select(s => (string)s!["name"]!));
        var hints = Client.Result("textDocument/inlayHint", new JsonObject
        {
            ["textDocument"] = new JsonObject { ["uri"] = uri },
            ["range"] = new JsonObject { ["start"] = new JsonObject { ["line"] = 0, ["character"] = 0 }, ["end"] = new JsonObject { ["line"] = 99, ["character"] = 0 } },
        })!.AsArray();
        Assert.Equal(9, hints.Count);
        Assert.Equal("encoder5 → 128x16x16", (string)hints[4]!["label"]!);
        // The hint sits before the line's comment, on the entry's line.
        Assert.Equal(13, (int)hints[0]!["position"]!["line"]!);
        // The opening comment's hover gives summary's totals: the paper network's 2,321,393 parameters and 5.006 G multiply-adds.
        string totals = (string)Client.Result("textDocument/hover", LspClient.At(uri, 1, 5))!["contents"]!["value"]!;
        Assert.Contains("parameters: 2,321,393", totals);
        Assert.Contains("multiply-adds: 5.006 G", totals);
    }

    public static TheoryData<string> Hostile() => new() { "deep", "huge", "aliases", "binary", "empty", "mid-edit", "only-dashes" };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Hostile_input_is_answered_and_the_server_keeps_serving(string kind)
    {
        string text = kind switch
        {
            "deep" => "name: X\nencoder: " + new string('[', 5000) + new string(']', 5000) + "\n",
            "huge" => Valid + "# " + new string('x', 3 << 20) + "\n",
            "aliases" => "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
                         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
            "binary" => new string(Enumerable.Range(0, 4096).Select(i => (char)((i * 7919) % 0xD7FF)).ToArray()),
            "empty" => "",
            "mid-edit" => "name: X\ndims: 2\nencoder:\n  - lms: { kernels: [3, \n  - gms: { spl",
            _ => "- - - - -\n-\n- :\n",
        };
        string uri = LspClient.Uri(server.Write($"hostile-{kind}.yaml", ""));
        var clock = Stopwatch.StartNew();
        Client.Open(uri, text);
        var diagnostics = Client.WaitDiagnostics(uri, 1);
        Assert.NotEmpty(diagnostics);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"{kind}: {clock.Elapsed.TotalSeconds:0.0} s");
        // Every request still answers (possibly with nothing).
        for (int line = 0; line < 3; line++)
        {
            Client.Result("textDocument/hover", LspClient.At(uri, line, 3));
            Client.Result("textDocument/completion", LspClient.At(uri, line, 3));
        }
        Client.Result("textDocument/documentSymbol", new JsonObject { ["textDocument"] = new JsonObject { ["uri"] = uri } });
        string second = LspClient.Uri(server.Write($"after-{kind}.yaml", Valid));
        Client.Open(second, Valid.Replace("fusion", "fusoin"));
        Assert.Equal(3, Client.WaitDiagnostics(second, 1).Count);
    }

    [Fact]
    public void Requests_for_unopened_files_or_impossible_positions_get_empty_answers_or_errors()
    {
        string unopened = LspClient.Uri(Path.Combine(server.Folder, "never-opened.yaml"));
        Assert.Null(Client.Result("textDocument/hover", LspClient.At(unopened, 0, 0)));
        Assert.Empty(Client.Result("textDocument/documentSymbol", new JsonObject { ["textDocument"] = new JsonObject { ["uri"] = unopened } })!.AsArray());
        string uri = LspClient.Uri(server.Write("positions.yaml", Valid));
        Client.Open(uri, Valid);
        Client.WaitDiagnostics(uri, 1);
        Assert.Null(Client.Result("textDocument/hover", LspClient.At(uri, 5000, 0)));
        Assert.Null(Client.Result("textDocument/hover", LspClient.At(uri, -1, -7)));
        Assert.Empty(Client.Result("textDocument/completion", LspClient.At(uri, 99999, 3))!.AsArray());
        Assert.Equal(-32602, (int)Client.Request("textDocument/hover", new JsonObject { ["textDocument"] = new JsonObject { ["uri"] = uri } })["error"]!["code"]!);
        Assert.Equal(-32601, (int)Client.Request("workspace/executeCommand", new JsonObject())["error"]!["code"]!);
        // Broken JSON is answered with a parse error; an edit for a document that is not open is ignored.
        Client.SendRaw("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ");
        Client.Change(unopened, 3, "name: X");
        Client.Change(uri, 2, Valid.Replace("fusion", "fusoin"));
        Assert.Equal(3, Client.WaitDiagnostics(uri, 2).Count);
    }

    [Fact]
    public void A_compile_past_the_time_limit_is_reported_and_other_files_are_served()
    {
        using var client = new LspClient(new Dictionary<string, string> { ["LGMSNET_LSP_SLOW_FILE"] = "slow-one", ["LGMSNET_LSP_COMPILE_LIMIT_MS"] = "3000" });
        string slow = LspClient.Uri(server.Write("slow-one.yaml", Valid));
        string fast = LspClient.Uri(server.Write("fast-one.yaml", Valid));
        client.Open(slow, Valid);
        client.Open(fast, Valid.Replace("fusion", "fusoin"));
        Assert.Equal(3, client.WaitDiagnostics(fast, 1).Count);
        Assert.Empty(client.Published(slow)); // the fast file did not wait for the slow one
        var reported = Assert.Single(client.WaitDiagnostics(slow, 1));
        Assert.Contains("took longer than 3 s", (string)reported!["message"]!);
        // The server still answers on the slow file and others.
        client.Change(fast, 2, Valid);
        Assert.Empty(client.WaitDiagnostics(fast, 2));
    }

    [Fact]
    public void The_server_exits_cleanly_after_shutdown_and_exit()
    {
        var client = new LspClient();
        Assert.Null(client.Result("shutdown", new JsonObject()));
        client.Notify("exit", new JsonObject());
        Assert.Equal(0, client.WaitForExit());
        client.Dispose();
    }

    [Fact]
    public void Check_prints_the_builds_diagnostics()
    {
        string path = server.Write("check.yaml", File.ReadAllText(Repo.Path("tests", "LGMSNet.LanguageServer.Tests", "Cases", "did-you-mean.yaml")));
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { LspClient.ServerDll, "check", path }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(1, process.ExitCode);
        var (_, _, build) = GeneratorHarness.Run(new InMemoryText(path, File.ReadAllText(path)));
        // MSBuild's form of the same diagnostics: file(line,col): error LGMSnnn: message.
        Assert.Equal(build.Select(d => $"{path}({d.Location.GetLineSpan().StartLinePosition.Line + 1},{d.Location.GetLineSpan().StartLinePosition.Character + 1}): error {d.Id}: {d.GetMessage()}").Order(),
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
    }
}
