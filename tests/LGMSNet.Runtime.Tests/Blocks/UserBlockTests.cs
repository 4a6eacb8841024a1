using System.Text.Json;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Blocks;

/// <summary>User blocks ([LgmsBlock] classes) through the whole product: the template's squeeze-and-excitation block
/// (SqueezeExcitation.cs, used by the template's lgmsnet-se.yaml) and a test block that declares no cost and no export.</summary>
[Collection("cli")]
public sealed class UserBlockTests() : TempFolderTest("lgms-user-blocks-")
{
    /// <summary>Parameters of one SE gate on C channels squeezed by r: two 1x1 convolutions with bias.</summary>
    private static long SeParameters(int c, int r) => c * (c / r) + c / r + (c / r) * c + c;

    [Fact]
    public void Summary_counts_user_blocks_exactly_and_adds_their_declared_multiply_adds()
    {
        var (code, output, error) = CliRunner.Run("summary", "lgmsnet-se", "--json");
        Assert.True(code == 0, output + error);
        var json = CliRunner.Json(output);
        var (baseCode, baseOutput, _) = CliRunner.Run("summary", "lgmsnet", "--json");
        Assert.Equal(0, baseCode);
        var lgmsnet = CliRunner.Json(baseOutput);

        long expected = lgmsnet.GetProperty("parameters").GetInt64() + SeParameters(16, 4) + SeParameters(32, 4) + SeParameters(64, 8);
        Assert.Equal(2_323_189, expected);
        Assert.Equal(expected, json.GetProperty("parameters").GetInt64());
        Assert.Equal(expected, json.GetProperty("parameters_counted").GetInt64());
        // SE runs its two 1x1 convolutions on the pooled vector: 2·C·C/r multiply-adds each.
        long seMacs = 2 * 16 * 4 + 2 * 32 * 8 + 2 * 64 * 8;
        Assert.Equal(lgmsnet.GetProperty("macs").GetInt64() + seMacs, json.GetProperty("macs").GetInt64());
        Assert.Equal(seMacs, json.GetProperty("macs_breakdown").GetProperty("user_blocks").GetInt64());
        var encoder1 = json.GetProperty("stages").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "encoder1");
        Assert.StartsWith("LMS x1 (16 ch", encoder1.GetProperty("block").GetString());
        Assert.Contains("se 16→16 (reduction 4)", encoder1.GetProperty("block").GetString());
        Assert.Equal(0, json.GetProperty("macs_uncounted_blocks").GetArrayLength());

        (code, output, error) = CliRunner.Run("summary", "lgmsnet-se");
        Assert.True(code == 0, output + error);
        Assert.Contains("parameters: 2,323,189 (TorchSharp counts 2,323,189)", output);
        Assert.DoesNotContain("no cost", output);
    }

    [Fact]
    public void A_block_that_declares_no_cost_is_reported_as_such_not_as_zero()
    {
        var (code, output, error) = CliRunner.Run("summary", "scaled", "--json");
        Assert.True(code == 0, output + error);
        var json = CliRunner.Json(output);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("macs").ValueKind);
        Assert.Equal(new[] { "scale" }, json.GetProperty("macs_uncounted_blocks").EnumerateArray().Select(e => e.GetString()));
        using (var network = CliRunner.Architectures.Single(a => a.Info.FileStem == "scaled").Create())
            Assert.Equal(network.parameters().Sum(p => p.numel()), json.GetProperty("parameters").GetInt64());

        (code, output, error) = CliRunner.Run("summary", "scaled");
        Assert.True(code == 0, output + error);
        Assert.Contains("scale: no cost declared", output);
        Assert.Contains("multiply-adds incomplete: scale declare(s) no cost", output);
        (code, output, error) = CliRunner.Run("list");
        Assert.True(code == 0, output + error);
        Assert.Contains("scale (no cost declared)", output);
    }

    [Fact]
    public void Options_of_every_kind_reach_the_constructor()
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == "scaled");
        using var network = descriptor.Create();
        var blocks = network.named_modules().Where(m => m.module is ChannelScale).Select(m => (m.name, block: (ChannelScale)m.module)).ToList();
        Assert.Equal(new[] { "decoder1.0", "encoder1.1", "encoder2.0" }, blocks.Select(b => b.name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.Equal(Squash.None, blocks.Single(b => b.name == "encoder1.1").block.Squashing);
        Assert.Equal(Squash.HardTanh, blocks.Single(b => b.name == "encoder2.0").block.Squashing);
        var state = network.state_dict();
        Assert.Equal(new long[] { 8, 8, 3, 1 }, state["encoder1.1.project.weight"].shape);   // kernel: [3, 1]
        Assert.Equal(new long[] { 16, 16, 3, 3 }, state["decoder1.0.project.weight"].shape); // kernel: 3 on both axes
        Assert.Equal(new long[] { 16, 8, 1, 1 }, state["encoder2.0.project.weight"].shape);  // default kernel [1]
        using var output = network.call(TorchSharp.torch.randn(2, 1, 32, 32));
        Assert.Equal(new long[] { 2, 2, 32, 32 }, output.shape);
    }

    [Fact]
    public void Train_resume_eval_and_onnx_export_work_with_the_template_block()
    {
        string run = Temp("run");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet-se", "-d", "synthetic", "-e", "2", "-b", "2", "--size", "64",
            "--synthetic-train", "4", "--synthetic-val", "2", "-o", run, "--stop-after", "1");
        Assert.True(code == 0, output + error);
        Assert.Equal(1, CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").GetArrayLength());
        (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        Assert.Equal(2, CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").GetArrayLength());

        string weights = Path.Combine(run, "last.safetensors");
        Assert.True(File.Exists(weights), string.Join(", ", Directory.GetFiles(run).Select(Path.GetFileName)));
        // The checkpoint holds the SE tensors under the network's state_dict keys prefixed with "model." (README, "Write your
        // own block") and loads back into the same network.
        var file = SafeTensorFile.Read(weights);
        Assert.Contains("model.encoder1.1.squeeze.weight", file.Names);
        Assert.DoesNotContain("encoder1.1.squeeze.weight", file.Names);

        string model = Temp("se.onnx");
        (code, output, error) = CliRunner.Run("export", "lgmsnet-se", "--weights", weights, "--format", "onnx", "--out", model);
        Assert.True(code == 0, output + error);
        Assert.Contains("verified: ONNX Runtime vs TorchSharp", output);
        (code, output, error) = CliRunner.Run("eval", "lgmsnet-se", "-w", weights, "-d", "synthetic", "--size", "64", "--engine", "onnx", "--model", model);
        Assert.True(code == 0, output + error);
    }

    [Fact]
    public void K_fold_training_an_ensemble_eval_and_predict_work_with_a_user_block()
    {
        string runs = Temp("folds");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet-se", "--data", "synthetic", "--synthetic-train", "6", "--synthetic-val", "2",
            "--folds", "2", "--epochs", "1", "--batch", "3", "--size", "32", "--output", runs);
        Assert.True(code == 0, output + error);
        (code, output, error) = CliRunner.Run("eval", "lgmsnet-se", "-w", runs, "--data", "synthetic", "--size", "32", "--json");
        Assert.True(code == 0, output + error);
        Assert.Equal(2, CliRunner.Json(output).GetProperty("members").GetInt32());

        string images = Path.Combine(TestData.ImageFolder(Temp("data"), 2), "images");
        string masks = Temp("masks");
        (code, output, error) = CliRunner.Run("predict", "lgmsnet-se", "-w", Path.Combine(runs, "fold-0", "best.safetensors"), "--input", images, "--output", masks);
        Assert.True(code == 0, output + error);
        Assert.Equal(2, Directory.GetFiles(masks).Length);
    }

    [Fact]
    public void Export_refuses_a_block_without_an_onnx_rule_by_name_and_writes_nothing()
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == "scaled");
        string weights = Temp("scaled.safetensors");
        using (var network = descriptor.Create()) Checkpoint.Save(weights, network);
        string model = Temp("scaled.onnx");
        var (code, output, error) = CliRunner.Run("export", "scaled", "--weights", weights, "--format", "onnx", "--out", model);
        Assert.Equal(2, code);
        Assert.Contains("its block 'scale' (LGMSNet.Runtime.Tests.Blocks.ChannelScale, at encoder1.1) does not say how to export itself", error);
        Assert.Contains("IOnnxBlock", error);
        Assert.False(File.Exists(model));
    }

    /// <summary>The schemas that name user blocks: the template's (its example block) and this project's (for scaled.yaml).</summary>
    [Theory]
    [InlineData("src/LGMSNet.Templates/content/lgmsnet/lgmsnet.schema.json", "se")]
    [InlineData("tests/LGMSNet.Runtime.Tests/architectures/test-blocks.schema.json", "")]
    public void Committed_schemas_with_user_blocks_are_what_the_schema_command_writes(string relative, string only)
    {
        var catalog = LGMSNet.Dsl.Blocks.BlockCatalog.Parse(CompiledArchitectures.BlockCatalog);
        if (only.Length > 0) catalog = catalog.Only(only.Split(','));
        string expected = LGMSNet.Dsl.Language.JsonSchemaWriter.Write(catalog);
        string path = Path.Combine(RepoRoot(), relative);
        string actual = File.Exists(path) ? File.ReadAllText(path).Replace("\r\n", "\n") : "";
        if (actual != expected)
        {
            File.WriteAllText(path + ".received", expected);
            Assert.Fail($"{relative} is out of date; the schema command's output was written to {relative}.received: review it and move it over.");
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LGMSNet.Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public void Schema_command_includes_the_projects_blocks_with_their_options()
    {
        var (code, output, error) = CliRunner.Run("schema");
        Assert.True(code == 0, output + error);
        var defs = CliRunner.Json(output).GetProperty("$defs");
        var se = defs.GetProperty("se");
        Assert.Equal(4, se.GetProperty("properties").GetProperty("reduction").GetProperty("default").GetInt32());
        Assert.Equal(256, se.GetProperty("properties").GetProperty("reduction").GetProperty("maximum").GetInt32());
        var scale = defs.GetProperty("scale");
        Assert.Equal("out", scale.GetProperty("required")[0].GetString());
        Assert.Equal(new[] { "none", "hard_tanh" }, scale.GetProperty("properties").GetProperty("squash").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
    }
}
