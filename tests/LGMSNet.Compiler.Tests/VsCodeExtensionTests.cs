using System.Text.Json;
using LGMSNet.Compiler.Tests.Support;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>The VS Code extension (editors/vscode) as its README builds it: <c>npm ci &amp;&amp; npm run package</c> bundles it,
/// runs its node tests (the architecture-file rule over this repository's files, the server command, the bundle loaded
/// with a stand-in for the vscode module), packs the .vsix and checks its contents. Node and npm are installed by .ci/run;
/// the npm registry must be reachable for <c>npm ci</c>. Not VS Code itself, which cannot run here.</summary>
public sealed class VsCodeExtensionTests
{
    private static string Extension(params string[] parts) => Repo.Path(new[] { "editors", "vscode" }.Concat(parts).ToArray());

    [Fact]
    public void The_extension_installs_from_its_lockfile_passes_its_tests_and_packs_a_checked_vsix()
    {
        var (code, output) = Processes.Run("npm", "ci --no-audit --no-fund", Extension(), TimeSpan.FromMinutes(4));
        Assert.True(code == 0, "npm ci in editors/vscode failed:\n" + output);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Extension("package.json")));
        string vsix = Extension($"{manifest.RootElement.GetProperty("name").GetString()}-{manifest.RootElement.GetProperty("version").GetString()}.vsix");
        File.Delete(vsix);

        (code, output) = Processes.Run("npm", "run package", Extension(), TimeSpan.FromMinutes(3));
        Assert.True(code == 0, "npm run package in editors/vscode failed:\n" + output);
        Assert.Matches(@"(?m)^# fail 0$", output);
        Assert.Matches(@"(?m)^# pass [1-9]\d+$", output);
        Assert.Contains("contents checked", output);
        Assert.True(File.Exists(vsix), $"{vsix} was not written:\n{output}");
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
