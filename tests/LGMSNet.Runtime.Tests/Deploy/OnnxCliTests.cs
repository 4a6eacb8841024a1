using System.Text.Json;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Deploy;

/// <summary>The ONNX side of the command line: export --format onnx (verified), eval/predict/bench --engine onnx.</summary>
[Collection("cli")]
public sealed class OnnxCliTests() : TempFolderTest("lgms-onnx-cli-")
{
    /// <summary>A checkpoint of <paramref name="stem"/> with randomised weights and norm statistics.</summary>
    private string Weights(string stem)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        OnnxExportTests.Randomise(network, 31);
        string path = Temp(stem + ".safetensors");
        Checkpoint.Save(path, network);
        return path;
    }

    [Fact]
    public void Export_onnx_verifies_and_writes_a_model_for_the_architecture()
    {
        string weights = Weights("variety"), model = Temp("variety.onnx");
        var (code, output, error) = CliRunner.Run("export", "variety", "--weights", weights, "--format", "onnx", "--out", model);
        Assert.True(code == 0, output + error);
        Assert.Contains("verified: ONNX Runtime vs TorchSharp", output);
        Assert.Contains("ONNX opset 23", output);
        var info = CliRunner.Architectures.Single(a => a.Info.FileStem == "variety").Info;
        using (var session = OnnxEngine.Open(model, info, threads: 1))
            Assert.Equal("Variety", session.ModelMetadata.CustomMetadataMap[OnnxMetadata.Architecture]);

        (code, output, error) = CliRunner.Run("export", "variety", "--weights", weights, "--format", "onnx", "--out", Temp("v17.onnx"), "--opset", "17", "--no-verify");
        Assert.True(code == 0, output + error);
        Assert.DoesNotContain("verified", output);

        (code, _, error) = CliRunner.Run("export", "variety", "--weights", weights, "--format", "onnx", "--out", Temp("bad.onnx"), "--opset", "16");
        Assert.Equal(2, code);
        Assert.Contains("--opset 16", error);
        Assert.False(File.Exists(Temp("bad.onnx")));

        // 3D: checked by default at the smallest size where the deepest level sees 2 voxels per axis (lgmsnet3d-small: 32³,
        // its input multiple).
        (code, output, error) = CliRunner.Run("export", "lgmsnet3d-small", "--weights", Weights("lgmsnet3d-small"), "--format", "onnx", "--out", Temp("small3d.onnx"));
        Assert.True(code == 0, output + error);
        Assert.Contains("verified: ONNX Runtime vs TorchSharp on a seeded input [1, 1, 32, 32, 32]", output);

        // The default format is still safetensors.
        (code, output, error) = CliRunner.Run("export", "variety", "--weights", weights, "--out", Temp("plain.safetensors"));
        Assert.True(code == 0, error);
        Assert.Contains("reference layout", output);
    }

    [Fact]
    public void A_small_3D_network_verifies_at_the_default_size_and_a_failed_check_never_reads_as_verified()
    {
        // tiny3d's input multiple is 4, where its deepest instance norm (two poolings down) sees one voxel: 8³ is the default.
        string weights = Weights("tiny3d");
        var (code, output, error) = CliRunner.Run("export", "tiny3d", "--weights", weights, "--format", "onnx", "--out", Temp("tiny.onnx"));
        Assert.True(code == 0, output + error);
        Assert.Contains("verified: ONNX Runtime vs TorchSharp on a seeded input [1, 1, 8, 8, 8]", output);
        Assert.True(File.Exists(Temp("tiny.onnx")));

        // A failed check (injected: the export 100 % off) prints no "verified" and writes no file. (At the input multiple, 4³,
        // the deepest instance norm sees one voxel; that check failed on rounding while libtorch's instance_norm computed it,
        // and passes since instance norm runs as a per-sample batch norm, which gives the exact 0 there as ONNX Runtime does.)
        LGMSNet.Runtime.IO.FaultInjection.OnnxCheckMismatch = true;
        try
        {
            (code, output, error) = CliRunner.Run("export", "tiny3d", "--weights", weights, "--format", "onnx", "--verify-size", "4", "--out", Temp("tiny4.onnx"));
        }
        finally
        {
            LGMSNet.Runtime.IO.FaultInjection.OnnxCheckMismatch = false;
        }
        Assert.Equal(1, code);
        Assert.DoesNotContain("verified", output);
        Assert.Contains("error: verification failed: ONNX Runtime vs TorchSharp on a seeded input [1, 1, 4, 4, 4]", error);
        Assert.Contains("was not written", error);
        Assert.False(File.Exists(Temp("tiny4.onnx")));
    }

    [Fact]
    public void Eval_metrics_of_the_onnx_engine_agree_with_the_torch_engine()
    {
        string weights = Weights("lgmsnet");
        string data = TestData.ImageFolder(Temp("folder"), 6);
        var common = new[] { "eval", "lgmsnet", "--weights", weights, "--data", data, "--size", "64", "--json", "--threads", "2" };
        var (code, output, error) = CliRunner.Run(common.Concat(new[] { "--engine", "torch" }).ToArray());
        Assert.True(code == 0, error);
        var torch = CliRunner.Json(output);
        // ONNX Runtime on the in-memory export (what --engine auto runs where it measures faster: AutoEngineTests).
        (code, output, error) = CliRunner.Run(common.Concat(new[] { "--engine", "onnx" }).ToArray());
        Assert.True(code == 0, error);
        var onnx = CliRunner.Json(output);
        (code, output, error) = CliRunner.Run(common.Concat(new[] { "--no-fuse" }).ToArray());
        Assert.True(code == 0, error);
        Assert.Equal("torch", CliRunner.Json(output).GetProperty("engine").GetString());
        Assert.Equal("onnx", onnx.GetProperty("engine").GetString());
        Assert.Equal("torch", torch.GetProperty("engine").GetString());
        var a = Numbers(torch.GetProperty("metrics"));
        var b = Numbers(onnx.GetProperty("metrics"));
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        Assert.Contains("val_loss", a.Keys);
        foreach (var (key, value) in a)
            Assert.True(Math.Abs(value - b[key]) <= 1e-4, $"metric {key}: torch {value:R}, onnx {b[key]:R}");

        // The same through an exported file, without the weights.
        string model = Temp("lgmsnet.onnx");
        (code, output, error) = CliRunner.Run("export", "lgmsnet", "--weights", weights, "--format", "onnx", "--out", model, "--no-verify");
        Assert.True(code == 0, error);
        (code, output, error) = CliRunner.Run("eval", "lgmsnet", "--engine", "onnx", "--model", model, "--data", data, "--size", "64", "--json");
        Assert.True(code == 0, error);
        var fromFile = Numbers(CliRunner.Json(output).GetProperty("metrics"));
        foreach (var (key, value) in a)
            Assert.True(Math.Abs(value - fromFile[key]) <= 1e-4, $"metric {key} (--model): torch {value:R}, onnx {fromFile[key]:R}");
    }

    [Fact]
    public void Auto_falls_back_to_the_fused_torch_engine_when_the_export_does_not_match()
    {
        string weights = Weights("lgmsnet");
        string data = TestData.ImageFolder(Temp("folder"), 4);
        var common = new[] { "eval", "lgmsnet", "--weights", weights, "--data", data, "--size", "64", "--json" };
        var (code, output, error) = CliRunner.Run(common.Concat(new[] { "--engine", "torch" }).ToArray());
        Assert.True(code == 0, error);
        var torch = Numbers(CliRunner.Json(output).GetProperty("metrics"));
        LGMSNet.Runtime.IO.FaultInjection.OnnxCheckMismatch = true;
        // An empty decision cache: one that had measured TorchSharp faster here would skip the export (AutoEngineTests).
        AutoEngine.CachePath = Temp("engine-choice.json");
        try
        {
            (code, output, error) = CliRunner.Run(common);
        }
        finally
        {
            LGMSNet.Runtime.IO.FaultInjection.OnnxCheckMismatch = false;
            AutoEngine.CachePath = null;
        }
        Assert.True(code == 0, error);
        Assert.Contains("note: running TorchSharp (--engine auto): its ONNX export differs from TorchSharp", error);
        var json = CliRunner.Json(output);
        Assert.Equal("torch", json.GetProperty("engine").GetString());
        // The fallback is the fused inference form, as --engine torch runs: the same metrics.
        foreach (var (key, value) in torch)
            Assert.Equal(value, Numbers(json.GetProperty("metrics"))[key], 6);
    }

    [Fact]
    public void Predict_with_an_onnx_model_writes_the_torch_engines_masks()
    {
        string weights = Weights("lgmsnet");
        string data = TestData.ImageFolder(Temp("folder"), 3);
        string model = Temp("lgmsnet.onnx");
        var (code, _, error) = CliRunner.Run("export", "lgmsnet", "--weights", weights, "--format", "onnx", "--out", model, "--no-verify");
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("predict", "lgmsnet", "--weights", weights, "--input", Path.Combine(data, "images"), "--output", Temp("torch"), "--size", "64");
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("predict", "lgmsnet", "--engine", "onnx", "--model", model, "--input", Path.Combine(data, "images"), "--output", Temp("onnx"), "--size", "64");
        Assert.True(code == 0, error);
        foreach (var file in Directory.GetFiles(Temp("torch")))
        {
            var expected = LGMSNet.Runtime.Data.ImageCodec.Read(file).Pixels;
            var actual = LGMSNet.Runtime.Data.ImageCodec.Read(Path.Combine(Temp("onnx"), Path.GetFileName(file))).Pixels;
            int differing = expected.Where((v, i) => v != actual[i]).Count();
            Assert.True(differing <= expected.Length / 1000, $"{Path.GetFileName(file)}: {differing / 3} pixels differ");
        }
    }

    [Fact]
    public void Bench_onnx_engine_reports_images_per_second()
    {
        var (code, output, error) = CliRunner.Run("bench", "variety", "--engine", "onnx", "--no-train", "--iterations", "2", "--warmup", "1", "--size", "32", "--json");
        Assert.True(code == 0, error);
        var json = CliRunner.Json(output);
        Assert.Equal("onnx", json.GetProperty("engine").GetString());
        Assert.True(json.GetProperty("inference_images_per_second").GetDouble() > 0);
    }

    [Fact]
    public void A_model_of_another_architecture_is_refused_with_a_clear_error()
    {
        string model = Temp("variety.onnx");
        var (code, _, error) = CliRunner.Run("export", "variety", "--weights", Weights("variety"), "--format", "onnx", "--out", model, "--no-verify");
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("eval", "lgmsnet", "--engine", "onnx", "--model", model, "--data", "synthetic");
        Assert.Equal(1, code);
        Assert.Contains("is a model of Variety, not LgmsNet", error);
        Assert.DoesNotContain("internal error", error);
        (code, _, error) = CliRunner.Run("eval", "lgmsnet", "--model", model, "--data", "synthetic");
        Assert.Equal(1, code);
        Assert.Contains("is a model of Variety, not LgmsNet", error);
        (code, _, error) = CliRunner.Run("eval", "lgmsnet", "--engine", "torch", "--model", model, "--data", "synthetic");
        Assert.Equal(2, code);
        Assert.Contains("--model runs an exported model in ONNX Runtime; it does not go with --engine torch", error);
        (code, _, error) = CliRunner.Run("eval", "lgmsnet", "--model", model, "--data", "synthetic", "--device", "cuda");
        Assert.Equal(2, code);
        Assert.Contains("--model runs in ONNX Runtime on the CPU", error);
    }

    private static Dictionary<string, double> Numbers(JsonElement element, string prefix = "")
    {
        var result = new Dictionary<string, double>();
        foreach (var property in element.EnumerateObject())
        {
            string key = prefix + property.Name;
            switch (property.Value.ValueKind)
            {
                case JsonValueKind.Number: result[key] = property.Value.GetDouble(); break;
                case JsonValueKind.Object: foreach (var (k, v) in Numbers(property.Value, key + ".")) result[k] = v; break;
                case JsonValueKind.Array:
                    int i = 0;
                    foreach (var item in property.Value.EnumerateArray())
                        if (item.ValueKind == JsonValueKind.Number) result[$"{key}[{i++}]"] = item.GetDouble();
                    break;
            }
        }
        return result;
    }
}
