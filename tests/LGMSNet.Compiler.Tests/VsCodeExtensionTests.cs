using System.Reflection;
using System.Text.Json;
using LGMSNet.Compiler.Tests.Support;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>The VS Code extension (editors/vscode) as its README builds it: <c>npm ci &amp;&amp; npm run package</c> bundles it,
/// runs its node tests (the architecture-file rule over this repository's files, the server command, the bundle loaded
/// with a stand-in for the vscode module), packs the .vsix and checks its contents; <c>npm run e2e</c> drives the server
/// built with this solution through vscode-languageclient's protocol library and the bundled extension. Node and npm are installed by .ci/run;
/// the npm registry must be reachable for <c>npm ci</c>. Not VS Code itself, which cannot run here.</summary>
public sealed class VsCodeExtensionTests
{
    private static string Extension(params string[] parts) => Repo.Path(new[] { "editors", "vscode" }.Concat(parts).ToArray());

    /// <summary><c>npm ci</c>, once for the tests of this class (they run one after another).</summary>
    private static readonly Lazy<(int Code, string Output)> Installed =
        new(() => Processes.Run("npm", "ci --no-audit --no-fund", Extension(), TimeSpan.FromMinutes(4)));

    private static void Install() =>
        Assert.True(Installed.Value.Code == 0, "npm ci in editors/vscode failed:\n" + Installed.Value.Output);

    /// <summary>The server built with this solution (the project reference's GetTargetPath, recorded at build time).</summary>
    private static string ServerDll
    {
        get
        {
            string? path = typeof(VsCodeExtensionTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .SingleOrDefault(a => a.Key == "LanguageServerDll")?.Value;
            Assert.False(string.IsNullOrEmpty(path), "the test assembly does not record LanguageServerDll (see the csproj)");
            Assert.True(File.Exists(path), $"server not built: {path}");
            return path;
        }
    }

    [Fact]
    public void The_extension_installs_from_its_lockfile_passes_its_tests_and_packs_a_checked_vsix()
    {
        Install();
        using var manifest = JsonDocument.Parse(File.ReadAllText(Extension("package.json")));
        string vsix = Extension($"{manifest.RootElement.GetProperty("name").GetString()}-{manifest.RootElement.GetProperty("version").GetString()}.vsix");
        File.Delete(vsix);

        var (code, output) = Processes.Run("npm", "run package", Extension(), TimeSpan.FromMinutes(3));
        Assert.True(code == 0, "npm run package in editors/vscode failed:\n" + output);
        Assert.Matches(@"(?m)^# fail 0$", output);
        Assert.Matches(@"(?m)^# pass [1-9]\d+$", output);
        Assert.Contains("contents checked", output);
        Assert.True(File.Exists(vsix), $"{vsix} was not written:\n{output}");
    }

    [Fact]
    public void The_e2e_script_drives_the_built_server_through_the_protocol_library_and_the_bundled_extension()
    {
        Install();
        var (code, output) = Processes.Run("npm", $"run e2e -- --server-path \"{ServerDll}\"", Extension(), TimeSpan.FromSeconds(90));
        Assert.True(code == 0, "npm run e2e in editors/vscode failed:\n" + output);
        // The script's report: the JSON object printed last on stdout, from a line "{" to a line "}".
        int start = output.IndexOf("\n{\n", StringComparison.Ordinal);
        int end = start < 0 ? -1 : output.IndexOf("\n}", start + 1, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "no JSON report in:\n" + output);
        using var report = JsonDocument.Parse(output.Substring(start + 1, end + 2 - (start + 1)));
        var root = report.RootElement;
        Assert.True(root.GetProperty("ok").GetBoolean(), output);
        // Protocol library: the compiler's LGMS003 at the misspelt `lmss`, then the fixed version without errors.
        var first = root.GetProperty("version1");
        Assert.Equal("LGMS003", first.GetProperty("code").GetString());
        Assert.Equal("lgmsnet", first.GetProperty("source").GetString());
        Assert.Contains("unknown block 'lmss'", first.GetProperty("message").GetString());
        Assert.Equal(0, root.GetProperty("version2").GetProperty("errors").GetInt32());
        // The bundled extension (with a stand-in for the vscode module): only the architecture retyped, the error shown.
        var extension = root.GetProperty("extension");
        Assert.Equal(new[] { "architectures/lgmsnet.yaml -> lgmsnet-yaml" },
            extension.GetProperty("retyped").EnumerateArray().Select(e => e.GetString()!.Replace('\\', '/')));
        Assert.Equal("LGMS003", extension.GetProperty("code").GetString());
        foreach (string axis in new[] { "line", "character" })
            Assert.Equal(first.GetProperty("start").GetProperty(axis).GetInt32(), extension.GetProperty("start").GetProperty(axis).GetInt32());
    }

    [Fact]
    public void Projects_made_by_dotnet_new_recommend_the_extension_by_its_id()
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Extension("package.json")));
        string id = $"{manifest.RootElement.GetProperty("publisher").GetString()}.{manifest.RootElement.GetProperty("name").GetString()}";
        using var recommendations = JsonDocument.Parse(File.ReadAllText(Repo.Path("src", "LGMSNet.Templates", "content", "lgmsnet", ".vscode", "extensions.json")));
        var ids = recommendations.RootElement.GetProperty("recommendations").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(new[] { id, "redhat.vscode-yaml" }, ids);
    }
}
