using System.Text.Json.Nodes;
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Deploy;

/// <summary><c>--engine auto</c> (issue 33): the engine measured faster on this machine for this network and input, never
/// one that failed its check, measured once and then read from a cache file per CPU, libtorch, ONNX Runtime,
/// architecture, input shape, threads and precision. Small networks at small sizes, through the real CLI; each test has
/// a cache file of its own.</summary>
[Collection("cli")]
public sealed class AutoEngineTests : TempFolderTest, IDisposable
{
    private readonly int _threads = TorchSharp.torch.get_num_threads();

    public AutoEngineTests() : base("lgms-auto-engine-") => AutoEngine.CachePath = CachePath;

    private string CachePath => Temp("engine-choice.json");

    void IDisposable.Dispose()
    {
        AutoEngine.CachePath = null;
        FaultInjection.FasterEngine = null;
        FaultInjection.OnnxCheckMismatch = false;
        TorchSharp.torch.set_num_threads(_threads); // --threads sets libtorch's for the whole process
        Dispose();
    }

    private string Weights(string stem)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        OnnxExportTests.Randomise(network, 33);
        string path = Temp(stem + ".safetensors");
        Checkpoint.Save(path, network);
        return path;
    }

    /// <summary>eval --json of a small 2D network (unet-narrow at 32x32) or a small 3D one (tiny3d, 16³ windows).</summary>
    private string[] Eval(int dims, string? size = null, int threads = 1)
    {
        string stem = dims == 2 ? "unet-narrow" : "tiny3d";
        string weights = File.Exists(Temp(stem + ".safetensors")) ? Temp(stem + ".safetensors") : Weights(stem);
        string data = dims == 2
            ? (Directory.Exists(Temp("images")) ? Temp("images") : TestData.ImageFolder(Temp("images"), 2))
            : (Directory.Exists(Temp("volumes")) ? Temp("volumes") : TestData.Decathlon(Temp("volumes"), 1, new[] { 16, 20, 16 }, classes: 2));
        return new[] { "eval", stem, "--weights", weights, "--data", data, "--size", size ?? (dims == 2 ? "32" : "16"), "--threads", $"{threads}", "--json" };
    }

    private static (string Engine, string Error) Run(string[] arguments)
    {
        var (code, output, error) = CliRunner.Run(arguments);
        Assert.True(code == 0, output + error);
        return (CliRunner.Json(output).GetProperty("engine").GetString()!, error);
    }

    private JsonObject Decisions() => JsonNode.Parse(File.ReadAllText(CachePath))!["decisions"]!.AsObject();

    [Fact]
    public void The_decision_is_measured_once_cached_with_its_keys_and_read_back_by_the_next_run()
    {
        var (engine, error) = Run(Eval(2));
        Assert.Contains($"note: --engine auto runs {engine}: ", error);
        Assert.Matches($@"per 32x32 image, measured on this machine in [0-9.]+ m?s \(cached in {System.Text.RegularExpressions.Regex.Escape(CachePath)}\)", error);
        Assert.DoesNotContain("earlier", error);

        var file = JsonNode.Parse(File.ReadAllText(CachePath))!;
        Assert.Equal(MachineCache.CpuKey, (string?)file["cpu"]);
        Assert.Equal(ConvolutionKernels.LibtorchKey, (string?)file["libtorch"]);
        Assert.Equal(AutoEngine.OnnxRuntimeKey, (string?)file["onnx_runtime"]);
        var (key, entry) = Assert.Single(Decisions());
        // eval passes 2D images four at a time: that is the shape measured.
        Assert.StartsWith("UnetNarrow yaml ", key);
        Assert.EndsWith("2d widths 24,48,96 | input [4, 3, 32, 32] | threads 1 | float32", key);
        double torch = (double)entry!["torch_seconds"]!, onnx = (double)entry["onnx_seconds"]!;
        Assert.True(torch > 0 && onnx > 0, entry.ToJsonString());
        // The engine that runs is the one measured faster.
        Assert.Equal(onnx < torch ? "onnx" : "torch", (string?)entry["engine"]);
        Assert.Equal((string?)entry["engine"], engine);
        string measured = (string)entry["measured"]!;

        // The next run reads the decision: no timing (the entry is untouched), the same engine, and says so.
        (var again, error) = Run(Eval(2));
        Assert.Equal(engine, again);
        Assert.Contains($"note: --engine auto runs {engine}: ", error);
        Assert.Contains($"measured on this machine earlier (cached in {CachePath})", error);
        Assert.Equal(measured, (string)Decisions()[key]!["measured"]!);

        // Another thread count, input size or batch (predict passes one image at a time) is another case, measured once more.
        Assert.Contains("per 32x32 image, measured on this machine in ", Run(Eval(2, threads: 2)).Error);
        Assert.Contains(Decisions(), d => d.Key.EndsWith("input [4, 3, 32, 32] | threads 2 | float32", StringComparison.Ordinal));
        Assert.Contains("per 64x64 image, measured on this machine in ", Run(Eval(2, size: "64")).Error);
        Assert.Contains(Decisions(), d => d.Key.EndsWith("input [4, 3, 64, 64] | threads 1 | float32", StringComparison.Ordinal));
        var (code, output, predicted) = CliRunner.Run("predict", "unet-narrow", "--weights", Temp("unet-narrow.safetensors"), "--input",
            Path.Combine(Temp("images"), "images"), "--output", Temp("masks"), "--size", "32", "--threads", "1");
        Assert.True(code == 0, output + predicted);
        Assert.Contains("note: --engine auto runs ", predicted);
        Assert.Contains("per 32x32 image, measured on this machine in ", predicted);
        Assert.Contains(Decisions(), d => d.Key.EndsWith("input [1, 3, 32, 32] | threads 1 | float32", StringComparison.Ordinal));
        Assert.Equal(4, Decisions().Count);
        Assert.Equal(2, Directory.GetFiles(Temp("masks")).Length);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("libtorch")]
    [InlineData("onnx_runtime")]
    [InlineData("architecture")]
    public void A_cache_recorded_under_another_cpu_libtorch_onnx_runtime_or_architecture_is_measured_again(string part)
    {
        Run(Eval(2));
        var file = JsonNode.Parse(File.ReadAllText(CachePath))!;
        var (key, entry) = Assert.Single(Decisions());
        string measured = (string)entry!["measured"]!;
        if (part == "architecture")
        {
            // The decision of another version of the YAML (its hash differs).
            var decisions = file["decisions"]!.AsObject();
            decisions.Remove(key);
            decisions[System.Text.RegularExpressions.Regex.Replace(key, "yaml [0-9a-f]+", "yaml 000000000000")] = entry.DeepClone();
        }
        else file[part] = "something else";
        File.WriteAllText(CachePath, file.ToJsonString());

        var (_, error) = Run(Eval(2));
        Assert.Contains("measured on this machine in ", error);
        Assert.DoesNotContain("earlier", error);
        file = JsonNode.Parse(File.ReadAllText(CachePath))!;
        if (part == "architecture")
        {
            Assert.Equal(2, Decisions().Count);
            Assert.NotEqual(measured, (string)Decisions()[key]!["measured"]!);
        }
        else
        {
            Assert.NotEqual("something else", (string?)file[part]);
            Assert.NotEqual(measured, (string)Assert.Single(Decisions()).Value!["measured"]!);
        }
    }

    [Theory]
    [InlineData(2, "onnx")]
    [InlineData(2, "torch")]
    [InlineData(3, "onnx")]
    [InlineData(3, "torch")]
    public void The_engine_measured_faster_runs_in_2D_and_3D(int dims, string faster)
    {
        FaultInjection.FasterEngine = faster;
        var (engine, error) = Run(Eval(dims));
        Assert.Equal(faster, engine);
        string unit = dims == 2 ? "32x32 image" : "16x16x16 window";
        Assert.Contains($"note: --engine auto runs {faster}: ", error);
        Assert.Contains($"({(faster == "onnx" ? "torch" : "onnx")}) per {unit}, measured on this machine in ", error);
        var file = JsonNode.Parse(File.ReadAllText(CachePath))!;
        Assert.Equal(faster, (string?)file["fault"]);
        var (key, entry) = Assert.Single(Decisions());
        // 3D: one sliding window per timed call.
        Assert.Contains(dims == 2 ? "input [4, 3, 32, 32]" : "input [1, 1, 16, 16, 16]", key);
        double torch = (double)entry!["torch_seconds"]!, onnx = (double)entry["onnx_seconds"]!;
        Assert.True(faster == "onnx" ? onnx < torch : torch < onnx, entry.ToJsonString());

        // A cached decision gives the same engine without timing.
        (engine, error) = Run(Eval(dims));
        Assert.Equal(faster, engine);
        Assert.Contains("measured on this machine earlier", error);

        // A real run does not read the hook's decisions.
        FaultInjection.FasterEngine = null;
        (_, error) = Run(Eval(dims));
        Assert.Contains("measured on this machine in ", error);
        Assert.Null((string?)JsonNode.Parse(File.ReadAllText(CachePath))!["fault"]);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void An_export_that_fails_its_check_never_runs_even_when_it_was_measured_faster(int dims)
    {
        // Measured (and cached) faster...
        FaultInjection.FasterEngine = "onnx";
        Assert.Equal("onnx", Run(Eval(dims)).Engine);
        // ...but these weights' export fails its check: TorchSharp runs, with the reason, and nothing is measured.
        FaultInjection.OnnxCheckMismatch = true;
        string before = File.ReadAllText(CachePath);
        var (engine, error) = Run(Eval(dims));
        Assert.Equal("torch", engine);
        Assert.Contains("note: running TorchSharp (--engine auto): its ONNX export differs from TorchSharp", error);
        Assert.DoesNotContain("--engine auto runs", error);
        Assert.Equal(before, File.ReadAllText(CachePath));

        // Without a cached decision the check still comes first: no measurement, nothing cached.
        File.Delete(CachePath);
        (engine, error) = Run(Eval(dims));
        Assert.Equal("torch", engine);
        Assert.Contains("note: running TorchSharp (--engine auto)", error);
        Assert.False(File.Exists(CachePath));
    }

    [Fact]
    public void A_cached_torch_decision_runs_torchsharp_without_exporting()
    {
        FaultInjection.FasterEngine = "torch";
        Assert.Equal("torch", Run(Eval(3)).Engine);
        // Were the export made and checked, the injected mismatch would say so.
        FaultInjection.OnnxCheckMismatch = true;
        var (engine, error) = Run(Eval(3));
        Assert.Equal("torch", engine);
        Assert.Contains("--engine auto runs torch: ", error);
        Assert.Contains("measured on this machine earlier", error);
        Assert.DoesNotContain("running TorchSharp", error);
    }

    [Fact]
    public void Bench_auto_runs_the_decision_for_its_batch_and_size()
    {
        FaultInjection.FasterEngine = "onnx";
        var (code, output, error) = CliRunner.Run("bench", "unet-narrow", "--no-train", "--iterations", "1", "--warmup", "0", "--size", "32",
            "--batch", "2", "--threads", "1", "--json");
        Assert.True(code == 0, output + error);
        Assert.Equal("onnx", CliRunner.Json(output).GetProperty("engine").GetString());
        Assert.Contains("note: --engine auto runs onnx: ", error);
        Assert.Contains("input [2, 3, 32, 32] | threads 1", Assert.Single(Decisions()).Key);
        FaultInjection.FasterEngine = "torch";
        (code, output, error) = CliRunner.Run("bench", "unet-narrow", "--no-train", "--iterations", "1", "--warmup", "0", "--size", "32",
            "--batch", "2", "--threads", "1", "--json");
        Assert.True(code == 0, output + error);
        Assert.Equal("torch", CliRunner.Json(output).GetProperty("engine").GetString());
    }
}
