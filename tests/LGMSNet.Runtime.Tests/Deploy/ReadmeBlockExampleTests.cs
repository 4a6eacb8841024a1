using System.Xml.Linq;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Deploy;

/// <summary>The README's complete block example (Blocks/DilatedResidual.cs: dilated convolution, BatchNorm, residual; cost
/// and ONNX writer) is the file this project compiles: the README shows exactly it, and in 2D and 3D it counts what a
/// forward pass computes and exports through the command line to an ONNX model that ONNX Runtime verifies.</summary>
[Collection("cli")]
public sealed class ReadmeBlockExampleTests() : TempFolderTest("lgms-readme-block-")
{
    private static string BlockFile => Path.Combine(Fixtures.RepoRoot, "tests", "LGMSNet.Runtime.Tests", "Blocks", "DilatedResidual.cs");

    [Fact]
    public void The_readme_shows_exactly_the_block_that_is_compiled_and_exported()
    {
        var lines = File.ReadAllLines(BlockFile);
        string example = string.Join("\n", lines.SkipWhile(l => l.StartsWith("//", StringComparison.Ordinal))).TrimEnd('\n');
        string readme = File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "README.md")).Replace("\r\n", "\n");
        Assert.Contains("```csharp\n" + example + "\n```", readme);
    }

    [Theory]
    [InlineData("dilated", new[] { 24, 40 })]
    [InlineData("dilated3d", new[] { 8, 12, 16 })]
    public void The_example_block_counts_its_cost_and_exports_in_2d_and_3d(string stem, int[] size)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        // Its declared multiply-adds are exactly what a forward pass computes, as the built-ins' are.
        Assert.Empty(descriptor.Info.UncostedBlocks);
        long declared = NetworkCosts.PerStage(network, size).Sum(s => s.MultiplyAdds);
        using (var counter = new LGMSNet.Runtime.Tests.Network.MacCounter(network))
        using (TorchSharp.torch.no_grad())
        using (var input = TorchSharp.torch.zeros(new long[] { 1, 1 }.Concat(size.Select(s => (long)s)).ToArray()))
        {
            network.eval();
            using (network.forward(input)) { }
            Assert.Equal(counter.Total.Total, declared);
        }

        // BatchNorm statistics of their own, so a wrong eval-mode BatchNorm in the writer shows; then the user's path.
        OnnxExportTests.Randomise(network, 41);
        string weights = Temp(stem + ".safetensors"), model = Temp(stem + ".onnx");
        Checkpoint.Save(weights, network);
        var (code, output, error) = CliRunner.Run("export", stem, "--weights", weights, "--format", "onnx", "--out", model,
            "--verify-size", string.Join("x", size));
        Assert.True(code == 0, output + error);
        Assert.Contains("ONNX Runtime vs TorchSharp", output);
        var check = OnnxVerifier.Verify(network, File.ReadAllBytes(model), size, batch: 2, seed: 9);
        Assert.True(check.Passed, $"{stem}: relative {check.Relative:E3}");
    }

    /// <summary>The block-author API is documented in the XML file the runtime package ships (the build makes a missing
    /// comment there an error; this checks the file exists and holds them).</summary>
    [Fact]
    public void The_runtime_ships_xml_docs_for_the_block_author_api()
    {
        string xml = Path.Combine(AppContext.BaseDirectory, "LGMSNet.Runtime.xml");
        Assert.True(File.Exists(xml), xml + " is missing");
        var documented = XDocument.Load(xml).Descendants("member")
            .Where(m => m.Element("summary") is { } s && s.Value.Trim().Length > 0).Select(m => m.Attribute("name")!.Value).ToList();
        foreach (var type in new[]
                 {
                     typeof(IOnnxBlock), typeof(IOnnxBlockWriter), typeof(OnnxBlockWriters), typeof(OnnxBlockContext), typeof(LGMSNet.Runtime.Blocks.IBlockCost),
                     typeof(LGMSNet.Runtime.Blocks.LgmsBlockAttribute), typeof(LGMSNet.Runtime.Blocks.LgmsOptionAttribute), typeof(LGMSNet.Runtime.Blocks.BlockChannels), typeof(LGMSNet.Runtime.Blocks.NormSpec),
                 })
        {
            Assert.Contains("T:" + type.FullName, documented);
            var members = type.GetMembers(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.DeclaredOnly)
                .Where(m => m is System.Reflection.MethodInfo { IsSpecialName: false } or System.Reflection.PropertyInfo or System.Reflection.FieldInfo { IsSpecialName: false })
                .Where(m => type != typeof(LGMSNet.Runtime.Blocks.NormSpec) || m is System.Reflection.PropertyInfo) // a record struct's generated members
                .Where(m => !type.IsEnum || m is System.Reflection.FieldInfo { IsStatic: true });
            foreach (var member in members)
            {
                string prefix = member switch { System.Reflection.MethodInfo => "M:", System.Reflection.PropertyInfo => "P:", _ => "F:" } + type.FullName + "." + member.Name;
                Assert.True(documented.Any(d => d == prefix || d.StartsWith(prefix + "(", StringComparison.Ordinal)), $"{prefix} has no <summary> in {xml}");
            }
        }
    }
}
