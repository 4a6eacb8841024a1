using System.Text;
using System.Text.Json.Nodes;
using LGMSNet.Compiler.Tests.Support;
using LGMSNet.Dsl;

namespace LGMSNet.LanguageServer.Tests;

/// <summary>For every file of the compiler's bad-YAML corpus (the fuzz corpus) and this project's cases (did-you-mean,
/// an astral-plane character, tabs, a byte-order mark, planner and range errors, a file mid-edit), in LF and CRLF form:
/// the server's diagnostics are the build's (the generator run as the compiler runs it): same codes, messages, and
/// positions, in UTF-16 code units from the same offsets.</summary>
public sealed class DiagnosticParityTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    public static TheoryData<string, bool> Files()
    {
        var data = new TheoryData<string, bool>();
        foreach (string file in Directory.GetFiles(Repo.Path("tests", "LGMSNet.Compiler.Tests", "FuzzCorpus"), "*.yaml")
                     .Concat(Directory.GetFiles(Repo.Path("tests", "LGMSNet.LanguageServer.Tests", "Cases"), "*.yaml")).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(Repo.Root, file), false);
            data.Add(Path.GetRelativePath(Repo.Root, file), true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Server_diagnostics_equal_the_builds(string file, bool crlf)
    {
        string text = new UTF8Encoding(false).GetString(File.ReadAllBytes(Repo.Path(file)));
        if (crlf) text = ServerFixture.Crlf(text);
        string path = server.Write(Path.Combine(crlf ? "crlf" : "lf", Path.GetFileName(Path.GetDirectoryName(file)!), Path.GetFileName(file)), text);
        string uri = LspClient.Uri(path);
        server.Client.Open(uri, text, 7);
        var published = server.Client.WaitDiagnostics(uri, 7);

        var (_, _, build) = GeneratorHarness.Run(new InMemoryText(path, text));
        int bom = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;
        var expected = build.Select(d =>
        {
            var (line, character) = Utf16Position(text, bom + d.Location.SourceSpan.Start);
            var (endLine, endCharacter) = Utf16Position(text, bom + d.Location.SourceSpan.End);
            return $"{d.Id} ({line},{character})-({endLine},{endCharacter}) {d.GetMessage()}";
        }).Order(StringComparer.Ordinal).ToList();
        var actual = published.Select(d =>
        {
            Assert.Equal("lgmsnet", (string?)d!["source"]);
            var r = d["range"]!;
            return $"{d["code"]} ({r["start"]!["line"]},{r["start"]!["character"]})-({r["end"]!["line"]},{r["end"]!["character"]}) {d["message"]}";
        }).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, actual);

        // Where LSP and MSBuild count lines alike (no YAML-only line breaks U+0085/U+2028/U+2029 before the position),
        // the LSP position is MSBuild's line and column minus one: columns count UTF-16 code units in both, so an emoji
        // counts two, a tab one, and "\r\n" ends one line.
        foreach (var d in build.Where(d => d.Location.SourceSpan.Length >= 0 && !text.Substring(0, Math.Min(text.Length, bom + d.Location.SourceSpan.Start)).Any(c => c is '\u0085' or '\u2028' or '\u2029')))
        {
            if (d.Location.GetLineSpan().StartLinePosition == default && d.Location.SourceSpan.Start == 0) continue;
            var msbuild = d.Location.GetLineSpan().StartLinePosition;
            Assert.Equal((msbuild.Line, msbuild.Character), Utf16Position(text, bom + d.Location.SourceSpan.Start));
        }
    }

    [Fact]
    public void An_astral_character_counts_two_code_units_in_the_build_and_in_the_server()
    {
        string text = File.ReadAllText(Repo.Path("tests", "LGMSNet.LanguageServer.Tests", "Cases", "astral.yaml"));
        var lsm = ArchitectureCompiler.Compile("a.yaml", text).Diagnostics.Single(d => d.Message.Contains("'lsm'"));
        // encoder: ["😀", lsm, lms] — '"😀", ' is 6 UTF-16 code units (5 code points): lsm starts at column 17.
        Assert.Equal((7, 17), (lsm.Span.Line, lsm.Span.Column));
    }

    /// <summary>An independent oracle: LSP's line ends ("\r\n", "\n", "\r"), characters in UTF-16 code units.</summary>
    private static (int Line, int Character) Utf16Position(string text, int offset)
    {
        offset = Math.Min(offset, text.Length);
        int line = 0, start = 0;
        for (int i = 0; i < offset; i++)
        {
            if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                if (i + 1 == offset) return (line, i - start);
                i++;
            }
            if (text[i] is '\r' or '\n')
            {
                line++;
                start = i + 1;
            }
        }
        return (line, offset - start);
    }
}
