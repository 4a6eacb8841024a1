using System.Text;

namespace LGMSNet.LanguageServer.Tests;

/// <summary>One server process shared by a test class, and a scratch folder outside any project (built-in blocks only,
/// as the generator harness compiles).</summary>
public sealed class ServerFixture : IDisposable
{
    public LspClient Client { get; } = new();

    public string Folder { get; } = Directory.CreateTempSubdirectory("lgms-lsp-").FullName;

    /// <summary>Writes a file (name may hold a subfolder: each test uses its own names, so no document is opened twice).</summary>
    public string Write(string name, string text)
    {
        string path = Path.Combine(Folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));
        return path;
    }

    public void Dispose()
    {
        Client.Dispose();
        Directory.Delete(Folder, true);
    }

    /// <summary>The same text with "\r\n" line ends.</summary>
    public static string Crlf(string text) => text.Replace("\r\n", "\n").Replace("\n", "\r\n");
}
