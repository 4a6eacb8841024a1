using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>Option names shared by every command (-o/--output and the short forms), the deprecated --out,
/// and recipe defaults that come from the architecture's YAML.</summary>
[Collection("cli")]
public sealed class CliConventionTests() : TempFolderTest("lgms-conv-")
{
    [Theory]
    [InlineData("--output")]
    [InlineData("-o")]
    [InlineData("--out")]
    public void Import_and_export_write_where_output_says_in_every_spelling(string spelling)
    {
        string ours = Temp("ours.safetensors"), back = Temp("back.safetensors");
        var (code, _, error) = CliRunner.Run("import", "lgmsnet3d-small", "--from", Fixtures.Reference("lgmsnet3d-small", "golden.safetensors"), spelling, ours);
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("export", "lgmsnet3d-small", "-w", ours, spelling, back);
        Assert.True(code == 0, error);
        Assert.Equal(SafeTensorFile.Read(ours).Names.Count(), SafeTensorFile.Read(back).Names.Count());
    }

    [Fact]
    public void Output_is_required_once_and_the_old_spelling_is_hidden_from_help()
    {
        var (code, _, error) = CliRunner.Run("import", "lgmsnet3d-small", "--from", Fixtures.Reference("lgmsnet3d-small", "golden.safetensors"));
        Assert.NotEqual(0, code);
        Assert.Contains("'--output' is required", error);

        (code, _, error) = CliRunner.Run("export", "lgmsnet3d-small", "-w", "x.safetensors", "--output", Temp("a"), "--out", Temp("b"));
        Assert.NotEqual(0, code);
        Assert.Contains("give --output once", error);

        foreach (var command in new[] { "train", "import", "export", "predict" })
        {
            var (helpCode, help, _) = CliRunner.Run(command, "--help");
            Assert.Equal(0, helpCode);
            Assert.Contains("-o, --output", help);
            Assert.DoesNotContain("--out ", help);
        }
    }

    [Fact]
    public void Train_defaults_to_the_yaml_input_size_and_takes_short_options()
    {
        // The same network compiled with input_size 64: what the generator emits as MultiplyAddsInputSize.
        var info = LGMSNet.Architectures.LgmsNet.Info;
        var small = new ArchitectureDescriptor(new ArchitectureInfo("LgmsNetAt64", "lgmsnet-at-64", info.Dims, info.InChannels, info.Classes,
            info.Parameters, info.MultiplyAdds, new[] { 64, 64 }, info.InputMultiple.ToArray(), info.Yaml.Replace("input_size: 256", "input_size: 64")),
            () => new LGMSNet.Architectures.LgmsNet());
        string run = Temp("run");
        var output = new StringWriter();
        var error = new StringWriter();
        int code = LGMSNet.Runtime.Cli.LgmsCli.Run(new[] { "train", "lgmsnet-at-64", "-d", "synthetic", "-e", "1", "-b", "2",
            "--synthetic-train", "4", "--synthetic-val", "2", "-o", run }, new[] { small }, output, error);
        Assert.True(code == 0, output + error.ToString());
        var size = CliRunner.ReadJson(Path.Combine(run, "run.json")).GetProperty("size").EnumerateArray().Select(v => v.GetInt32());
        Assert.Equal(new[] { 64, 64 }, size);
        Assert.Contains("size 64x64", output.ToString());
        Assert.Equal(1, CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("options").GetProperty("epochs").GetInt32());
    }
}
