using System.Text;
using System.Text.Json.Nodes;
using LGMSNet.Compiler.Tests.Support;

namespace LGMSNet.LanguageServer.Tests;

/// <summary>Hover and completion against expected text files: each Baselines/hover-*.yaml or complete-*.yaml holds a
/// cursor marker <c>|^|</c>; the server's answer there, rendered as text, must equal the .expected.txt beside it. Each file
/// runs as an LF and a CRLF copy with the same expectation. LGMS_UPDATE_BASELINES=1 rewrites the expected files.</summary>
public sealed class BaselineTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Marker = "|^|";
    private static readonly string Folder = Repo.Path("tests", "LGMSNet.LanguageServer.Tests", "Baselines");

    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        foreach (string file in Directory.GetFiles(Folder, "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file), false);
            data.Add(Path.GetFileName(file), true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Answer_at_the_cursor_matches_its_baseline(string file, bool crlf)
    {
        string source = File.ReadAllText(Path.Combine(Folder, file)).Replace("\r\n", "\n");
        if (crlf) source = ServerFixture.Crlf(source);
        int marker = source.IndexOf(Marker, StringComparison.Ordinal);
        Assert.True(marker >= 0, $"{file} has no {Marker} marker");
        string text = source.Remove(marker, Marker.Length);
        int line = text.Take(marker).Count(c => c == '\n');
        int character = marker - (text.LastIndexOf('\n', Math.Max(0, marker - 1)) + 1);
        if (marker == 0) character = 0;
        string path = server.Write(Path.Combine(crlf ? "crlf" : "lf", file), text);
        string uri = LspClient.Uri(path);
        server.Client.Open(uri, text);
        server.Client.WaitDiagnostics(uri, 1);

        string actual = file.StartsWith("hover-", StringComparison.Ordinal)
            ? (string?)server.Client.Result("textDocument/hover", LspClient.At(uri, line, character))?["contents"]?["value"] ?? "(no hover)"
            : Completions(server.Client.Result("textDocument/completion", LspClient.At(uri, line, character)), line, character);
        actual = actual.Replace("\r\n", "\n").TrimEnd() + "\n";
        string expectedFile = Path.Combine(Folder, Path.GetFileNameWithoutExtension(file) + ".expected.txt");
        if (Environment.GetEnvironmentVariable("LGMS_UPDATE_BASELINES") == "1" && !crlf)
            File.WriteAllText(expectedFile, actual, new UTF8Encoding(false));
        Assert.True(File.Exists(expectedFile), $"missing {expectedFile}: run with LGMS_UPDATE_BASELINES=1 and review it");
        Assert.Equal(File.ReadAllText(expectedFile).Replace("\r\n", "\n"), actual);
    }

    /// <summary>One line per item: label, the text it inserts, the range it replaces (relative to the cursor), detail.</summary>
    private static string Completions(JsonNode? result, int line, int character)
    {
        var items = result?["items"]?.AsArray() ?? new JsonArray();
        if (items.Count == 0) return "(no completions)";
        return string.Join("\n", items.Select(i =>
        {
            var range = i!["textEdit"]!["range"]!;
            Assert.Equal(line, (int)range["start"]!["line"]!);
            Assert.Equal(line, (int)range["end"]!["line"]!);
            Assert.Equal(character, (int)range["end"]!["character"]!);
            int replaced = character - (int)range["start"]!["character"]!;
            return $"{i["label"]} => {i["textEdit"]!["newText"]} (replaces {replaced}) — {i["detail"]}";
        }));
    }
}
