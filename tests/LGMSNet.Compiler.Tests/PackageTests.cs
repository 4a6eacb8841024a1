using System.Text.Json;
using LGMSNet.Compiler.Tests.Support;
using LGMSNet.Dsl;
using LGMSNet.Dsl.Planning;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>The packages as a user consumes them (the README's "Use it in your own project" commands): pack the
/// solution into a folder feed, install the template from it, create a project outside the repository, restore
/// it against that feed plus the normal package source, build it, see a YAML mistake reported at its
/// file(line,col), fix it, and run summary and a one-epoch training through the project's own command line; install the
/// language server from the feed as a tool and see its check report what the build reports.</summary>
public sealed class PackageTests
{
    private const string Broken = """
        name: Tiny
        dims: 2
        in_channels: 1
        classes: 1
        widths: [8, 16, 32]
        encoder: [lms, lmss, { gms: { split: [24, 8] } }]
        decoder: [fusion, fusion]
        """;

    /// <summary>A block of the user's own, different from the template's, written as README "Write your own block" teaches.</summary>
    private const string PointwiseBlock = """
        using LGMSNet.Runtime.Blocks;
        using LGMSNet.Runtime.Deploy;
        using TorchSharp;
        using static TorchSharp.torch;

        namespace MyNets;

        [LgmsBlock("pointwise", Description = "Grouped 1x1 convolution to the level width, then ReLU.", InputDivisibleBy = ["groups"])]
        public sealed class Pointwise : nn.Module<Tensor, Tensor>, IBlockCost, IOnnxBlock
        {
            private readonly nn.Module<Tensor, Tensor> conv;
            private readonly int _in, _out, _groups;

            public Pointwise(int dims, int inChannels, int outChannels, [LgmsOption(Min = 1, Max = 8)] int groups = 1) : base(nameof(Pointwise))
            {
                conv = dims == 2 ? nn.Conv2d(inChannels, outChannels, 1, groups: groups) : nn.Conv3d(inChannels, outChannels, 1, groups: groups);
                (_in, _out, _groups) = (inChannels, outChannels, groups);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => nn.functional.relu(conv.call(x));

            public long MultiplyAdds(IReadOnlyList<long> spatialSize) => spatialSize.Aggregate(1L, (a, b) => a * b) * (_in / _groups) * _out;

            public string ExportOnnx(OnnxBlockContext onnx, string input) => onnx.Node("Relu", onnx.Conv(input, "conv"));
        }
        """;

    private const string WithBlock = """
        name: Pointy
        dims: 2
        in_channels: 1
        classes: 1
        widths: [8, 16]
        encoder:
          - [lms, { pointwise: { group: 2 } }]
          - pointwise
        decoder:
          - [fusion, { pointwise: { groups: 4 } }]
        """;

    [Fact]
    public void A_project_created_from_the_packed_template_builds_reports_yaml_errors_and_trains()
    {
        string root = Path.Combine(Path.GetTempPath(), "lgms-packages-" + Guid.NewGuid().ToString("N")[..8]);
        string feed = Path.Combine(root, "feed"), hive = Path.Combine(root, "hive"), work = Path.Combine(root, "work");
        string project = Path.Combine(work, "MyNets");
        // A version no cache can hold yet, so the restore below can only take the packages just packed.
        string version = "0.2.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);
        Directory.CreateDirectory(work);
        try
        {
            // Isolation only (not part of the README's commands): a private global-packages folder so nothing leaks
            // into the user's cache, with that cache as a fallback so TorchSharp is not downloaded again.
            File.WriteAllText(Path.Combine(work, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <config><add key="globalPackagesFolder" value="{Path.Combine(root, "packages")}" /></config>
                  <fallbackPackageFolders><add key="user-cache" value="{UserPackageCache()}" /></fallbackPackageFolders>
                </configuration>
                """);
            // Disk only (not part of the README's commands; changes no build result): hard-link the packages' files into
            // bin instead of copying them, and copy only this machine's platform's native files (as the repository's own
            // builds do), so this project costs megabytes, not TorchSharp's 1.7 GB, on a small CI disk.
            File.WriteAllText(Path.Combine(work, "Directory.Build.props"), """
                <Project>
                  <PropertyGroup><CreateHardLinksForCopyLocalIfPossible>true</CreateHardLinksForCopyLocalIfPossible></PropertyGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(work, "Directory.Build.targets"), $"""
                <Project>
                  <Import Project="{Path.Combine(Repo.Root, "build", "HostNativeAssets.targets")}" />
                </Project>
                """);

            Expect(Repo.Root, $"pack LGMSNet.Dsl.sln -c Release -o \"{feed}\" -p:Version={version} --disable-build-servers -nodeReuse:false");
            foreach (string id in new[] { "LGMSNet.Dsl", "LGMSNet.Runtime", "LGMSNet.Templates", "LGMSNet.LanguageServer" })
                Assert.True(File.Exists(Path.Combine(feed, $"{id}.{version}.nupkg")), $"{id}.{version}.nupkg was not packed");
            // Every assembly a package ships comes with its XML documentation, so an editor describes the API (the template
            // package ships no assembly).
            foreach (string id in new[] { "LGMSNet.Dsl", "LGMSNet.Runtime", "LGMSNet.Templates" })
            {
                using var package = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.nupkg"));
                var libraries = package.Entries.Where(e => e.FullName.StartsWith("lib/", StringComparison.Ordinal) && e.FullName.EndsWith(".dll", StringComparison.Ordinal)).ToList();
                Assert.True(id != "LGMSNet.Templates" ? libraries.Count > 0 : libraries.Count == 0, $"{id}: {string.Join(", ", libraries.Select(e => e.FullName))}");
                foreach (var library in libraries)
                {
                    string docs = Path.ChangeExtension(library.FullName, ".xml");
                    var entry = package.GetEntry(docs);
                    Assert.True(entry != null, $"{id}.{version}.nupkg has {library.FullName} but no {docs}");
                    using var reader = new StreamReader(entry.Open());
                    Assert.Contains("<member name=\"T:", reader.ReadToEnd());
                }
            }
            using (var runtime = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed, $"LGMSNet.Runtime.{version}.nupkg")))
            {
                using var reader = new StreamReader(runtime.GetEntry("lib/net10.0/LGMSNet.Runtime.xml")!.Open());
                string xml = reader.ReadToEnd();
                Assert.Contains("M:LGMSNet.Runtime.Deploy.OnnxBlockContext.Conv(System.String,System.String)", xml);
                Assert.Contains("M:LGMSNet.Runtime.Blocks.IBlockCost.MultiplyAdds(System.Collections.Generic.IReadOnlyList{System.Int64})", xml);
            }

            Expect(work, $"new install \"{Path.Combine(feed, $"LGMSNet.Templates.{version}.nupkg")}\" --debug:custom-hive \"{hive}\"");
            Expect(work, $"new lgmsnet -o MyNets --debug:custom-hive \"{hive}\"");
            foreach (string file in new[] { "MyNets.csproj", "Program.cs", "lgmsnet.yaml", "lgmsnet.schema.json", ".gitignore", "README.md", ".vscode/extensions.json" })
                Assert.True(File.Exists(Path.Combine(project, file)), $"the template did not create {file}");
            Assert.Contains($"Version=\"{version}\"", File.ReadAllText(Path.Combine(project, "MyNets.csproj")));
            Assert.StartsWith("# yaml-language-server: $schema=lgmsnet.schema.json", File.ReadAllText(Path.Combine(project, "lgmsnet.yaml")));

            // The README's commands: a nuget.config with the normal source, plus the feed.
            Expect(project, "new nugetconfig");
            Expect(project, $"nuget add source \"{feed}\" --name lgmsnet-feed --configfile nuget.config");
            Expect(project, "build -nologo --disable-build-servers");
            Assert.Single(Directory.GetFiles(Path.Combine(project, "obj"), "LgmsNet.g.cs", SearchOption.AllDirectories));

            File.WriteAllText(Path.Combine(project, "tiny.yaml"), Broken);
            var (code, output) = Dotnet.Run(project, "build -nologo --disable-build-servers");
            Assert.True(code != 0, "the build must fail on tiny.yaml:\n" + output);
            Assert.Contains($"{Path.Combine(project, "tiny.yaml")}(6,16): error LGMS003: unknown block 'lmss'", output);

            string fixedYaml = Broken.Replace("lmss", "lms");
            File.WriteAllText(Path.Combine(project, "tiny.yaml"), fixedYaml);
            Expect(project, "build -nologo --disable-build-servers");

            // Exact parameter counts, against the compiler's own count of the same YAML.
            var plan = ArchitectureCompiler.Compile("tiny.yaml", fixedYaml).Plan!;
            var summary = JsonDocument.Parse(Expect(project, "run --no-build -- summary tiny --json").Output).RootElement;
            Assert.Equal(Costs.Parameters(plan), summary.GetProperty("parameters").GetInt64());
            Assert.Equal(summary.GetProperty("parameters").GetInt64(), summary.GetProperty("parameters_counted").GetInt64());
            var reference = JsonDocument.Parse(Expect(project, "run --no-build -- summary lgmsnet --json").Output).RootElement;
            Assert.Equal(2_321_393, reference.GetProperty("parameters").GetInt64());

            Expect(project, "run --no-build -- train tiny --data synthetic --epochs 1 --size 32 --batch 4 " +
                            "--synthetic-train 8 --synthetic-val 4 --output runs/one-epoch");
            var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(project, "runs", "one-epoch", "metrics.json"))).RootElement;
            Assert.Equal(1, metrics.GetProperty("epochs").GetArrayLength());
            Assert.True(File.Exists(Path.Combine(project, "runs", "one-epoch", "last.safetensors")));

            // The template's own block (SqueezeExcitation.cs, lgmsnet-se.yaml) builds, counts and is in the editor schema.
            var se = JsonDocument.Parse(Expect(project, "run --no-build -- summary lgmsnet-se --json").Output).RootElement;
            Assert.Equal(2_323_189, se.GetProperty("parameters").GetInt64());
            Assert.Contains("\"se\"", File.ReadAllText(Path.Combine(project, "lgmsnet.schema.json")));

            // A block of the user's own, used with a mistake: the error is at the YAML's line and column; fixed, it trains and exports.
            File.WriteAllText(Path.Combine(project, "Pointwise.cs"), PointwiseBlock);
            File.WriteAllText(Path.Combine(project, "pointy.yaml"), WithBlock);
            (code, output) = Dotnet.Run(project, "build -nologo --disable-build-servers");
            Assert.True(code != 0, "the build must fail on pointy.yaml:\n" + output);
            string buildLine = $"{Path.Combine(project, "pointy.yaml")}(7,26): error LGMS002: unknown key 'group'; did you mean 'groups'?";
            Assert.Contains(buildLine, output);

            // The language server as a project installs it (a dotnet tool from the same feed): 'lgmsnet check' prints the
            // build's line for the same mistake, having read the project's own block from its C# without a build.
            Expect(project, "new tool-manifest");
            Expect(project, $"tool install LGMSNet.LanguageServer --version {version} --add-source \"{feed}\"");
            (code, output) = Dotnet.Run(project, $"tool run lgmsnet check \"{Path.Combine(project, "pointy.yaml")}\" \"{Path.Combine(project, "lgmsnet-se.yaml")}\"");
            Assert.True(code == 1, $"check must fail on pointy.yaml:\n{output}");
            Assert.Equal(new[] { buildLine }, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1));
            File.WriteAllText(Path.Combine(project, "pointy.yaml"), WithBlock.Replace("group: 2", "groups: 2"));
            Expect(project, "build -nologo --disable-build-servers");
            var pointy = JsonDocument.Parse(Expect(project, "run --no-build -- summary pointy --json").Output).RootElement;
            Assert.Equal(pointy.GetProperty("parameters_counted").GetInt64(), pointy.GetProperty("parameters").GetInt64());
            // At 256x256: encoder1's pointwise 8→8 in 2 groups, encoder2's 8→16, decoder1's 16→8 in 4 groups (after fusion: 8→8 in 4 groups).
            long pointwiseMacs = 256L * 256 * 4 * 8 + 128L * 128 * 8 * 16 + 256L * 256 * 2 * 8;
            Assert.Equal(pointwiseMacs, pointy.GetProperty("macs_breakdown").GetProperty("user_blocks").GetInt64());
            Expect(project, "run --no-build -- train pointy --data synthetic --epochs 1 --size 32 --batch 4 " +
                            "--synthetic-train 8 --synthetic-val 4 --output runs/pointy");
            var exported = Expect(project, "run --no-build -- export pointy --weights runs/pointy/last.safetensors --format onnx --out pointy.onnx").Output;
            Assert.Contains("verified: ONNX Runtime vs TorchSharp", exported);
            Assert.True(File.Exists(Path.Combine(project, "pointy.onnx")));
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    private static (int ExitCode, string Output) Expect(string directory, string arguments)
    {
        var (code, output) = Dotnet.Run(directory, arguments);
        Assert.True(code == 0, $"exit code {code}:\n{output}");
        // Dotnet.Run prefixes the command line; hand back only what the command printed.
        return (code, output[(output.IndexOf('\n') + 1)..]);
    }

    private static string UserPackageCache() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
}
