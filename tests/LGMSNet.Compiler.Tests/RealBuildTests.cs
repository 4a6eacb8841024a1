using LGMSNet.Compiler.Tests.Support;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>The generator must load inside the real compiler with its dependencies (LGMSNet.Dsl,
/// YamlDotNet) — an in-memory driver cannot show that. Builds a fresh project that consumes the
/// generator exactly as architectures/ does.</summary>
public sealed class RealBuildTests
{
    private const string Good = """
        name: Good
        dims: 2
        in_channels: 1
        classes: 1
        widths: [8, 16, 32]
        encoder: [lms, lms, { gms: { split: [24, 8] } }]
        decoder: [fusion, fusion]
        """;

    [Fact]
    public void Dotnet_build_reports_yaml_errors_in_msbuild_form_and_still_compiles_the_valid_files()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lgms-build-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "Probe.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                    <RootNamespace>Probe.Models</RootNamespace>
                    <EmitCompilerGeneratedFiles>true</EmitCompilerGeneratedFiles>
                  </PropertyGroup>
                  <ItemGroup>
                    <ProjectReference Include="{Repo.Path("src", "LGMSNet.Runtime", "LGMSNet.Runtime.csproj")}" />
                  </ItemGroup>
                  <Import Project="{Repo.Path("build", "LGMSNet.Architectures.targets")}" />
                </Project>
                """);
            File.WriteAllText(Path.Combine(dir, "good.yaml"), Good);
            File.WriteAllText(Path.Combine(dir, "broken.yaml"), Good.Replace("name: Good", "name: Broken").Replace("[24, 8]", "[24, 9]"));

            var (exitCode, output) = Build(dir);
            Assert.True(exitCode != 0, "the build must fail on broken.yaml:\n" + output);
            Assert.Contains($"{Path.Combine(dir, "broken.yaml")}(6,37): error LGMS009: split [24, 9] sums to 33", output);
            Assert.DoesNotContain("CS8785", output); // the generator never crashed
            Assert.DoesNotContain("CS8032", output); // and it (with YamlDotNet and LGMSNet.Dsl) loaded
            Assert.Single(Directory.GetFiles(dir, "Good.g.cs", SearchOption.AllDirectories));
            Assert.Empty(Directory.GetFiles(dir, "Broken.g.cs", SearchOption.AllDirectories));

            File.Delete(Path.Combine(dir, "broken.yaml"));
            (exitCode, output) = Build(dir);
            Assert.True(exitCode == 0, "the valid architecture must build warning-free:\n" + output);
            Assert.DoesNotContain(": warning ", output);
            Assert.Contains("0 Warning(s)", output);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    private static (int ExitCode, string Output) Build(string dir) =>
        Dotnet.Run(dir, $"build Probe.csproj -c {Dotnet.Configuration} -nologo --disable-build-servers -clp:NoSummary");
}
