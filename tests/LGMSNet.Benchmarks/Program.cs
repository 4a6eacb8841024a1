using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using LGMSNet.Dsl;
using LGMSNet.Generator;
using LGMSNet.Runtime.Deploy;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

// Usage:
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- onnx [--arch lgmsnet] [--size 256] [--batch 1,8]
//       [--model ../shared/reference/onnx/lgmsnet2d_256.onnx] [--iterations 15] [--threads 2] [--opt-level all|extended|basic]
//       [--spin] [--split-lms] [--no-authors] [--int8-depthwise] [--int8-ops Sigmoid,Mul,...]... [--no-bf16] [--profile DIR]
//     interleaves ONNX Runtime on the authors' export (LGMSNet 2D at 256 only), on our float export at opsets 17 and 23
//     and on our int8 export, and our fused TorchSharp path in fp32 and bf16 (OnnxBench.cs).
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- generator [BenchmarkDotNet arguments]
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- soak [--epochs 60] [--burners 2xcores] [--interrupt-after N]
//       [--arch lgmsnet] [--data synthetic] [--size 64] [--batch 8] [--output DIR]
//     trains through the real CLI while CPU burners load every core, SIGTERMs it once and resumes (Soak.cs).
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- volumes-memory [--cases 6] [--edge 160] [--keep]
//     trains lgmsnet-3d through the CLI on N and 4N cached cases (interleaved, twice) and prints each trainer's peak RSS (VolumeBench.cs).
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- volumes-speed [--repeats 2] [--threads 2] [--only brain|btcv] [--engines torch,onnx]
//     seconds per volume of predict (brain-sized MRI, BTCV-sized CT; TorchSharp and ONNX Runtime) and preprocessing volumes/min.
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- lsp [--edits 1000] [--memory-edits 10000]
//     the real `lgmsnet lsp` process (build src/LGMSNet.LanguageServer -c Release first): didChange → publishDiagnostics
//     p50/p95 on lgmsnet.yaml and a 3D architecture with a user block, and its resident memory over many edits (LspBench.cs).
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- pytorch-compare [--what 3d-infer,3d-train,2d-infer,2d-train]
//       [--rounds 2] [--iterations 3] [--warmup 1] [--threads 2] [--peak-gflops G] [--infer-3d 96] [--train-3d 64]
//       [--infer-2d 256] [--train-2d 128] [--train-batch 8] [--python /usr/bin/python3]
//     the authors' networks under PyTorch 1.13 (Debian python3-torch; pytorch/bench.py, a subprocess) and ours in-process,
//     interleaved round by round: a 96³ window of lgmsnet-3d (fused, unfused; share of the fp32 peak), a 64³ 3D training
//     step, 2D inference 256² and a 2D training step 128² batch 8 (PytorchCompare.cs). Exits 2 when PyTorch is missing.
//     The PyTorch port itself: /usr/bin/python3 tests/LGMSNet.Benchmarks/pytorch/lgmsnet_torch.py verify
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- kernel-check [--arch lgmsnet,lgmsnet-3d] [--threads N]
//     the convolution kernel check on a fresh cache, per architecture (unfused and fused shapes): shapes checked, its
//     cost, and per shape the exact layouts, the one chosen and both timings (KernelCheckBench.cs).
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- norm-kernels [--iterations 15] [--threads 2] [--mean 3]
//     instance norm without gradients on lgmsnet-3d's activation shapes: libtorch's batch norm against the runtime's kernel
//     (out of place, in place), a copy as the memory-speed yardstick, and each one's error from float64 (NormBench.cs).
string command = args.Length > 0 ? args[0] : "onnx";
if (command == "volumes-memory") return VolumeBench.Memory(args.Skip(1).ToArray());
if (command == "volumes-speed") return VolumeBench.Speed(args.Skip(1).ToArray());
if (command == "soak") return Soak.Run(args.Skip(1).ToArray());
if (command == "generator")
{
    BenchmarkRunner.Run<GeneratorBenchmark>(args: args.Skip(1).ToArray());
    return 0;
}
if (command == "onnx") return OnnxBench.Run(args.Skip(1).ToArray());
if (command == "lsp") return LspBench.Run(args.Skip(1).ToArray());
if (command == "pytorch-compare") return PytorchCompare.Run(args.Skip(1).ToArray());
if (command == "stability") return Stability.Run(args.Skip(1).ToArray());
if (command == "kernel-check") return KernelCheckBench.Run(args.Skip(1).ToArray());
if (command == "norm-kernels") return NormBench.Run(args.Skip(1).ToArray());
Console.Error.WriteLine("commands: onnx, generator, soak, volumes-memory, volumes-speed, lsp, pytorch-compare, stability, kernel-check, norm-kernels");
return 2;

/// <summary>The generator's cost per YAML file: parse + plan, and a full incremental-driver run with emission.</summary>
[MemoryDiagnoser]
[InProcess] // a separately built child process loses LGMSNet.Dsl, which the generator project keeps private
public class GeneratorBenchmark
{
    private string _yaml = "";
    private GeneratorDriver _driver = null!;
    private CSharpCompilation _compilation = null!;

    [GlobalSetup]
    public void Setup()
    {
        _yaml = File.ReadAllText(Path.Combine(Repo.Root, "architectures", "lgmsnet.yaml"));
        _compilation = CSharpCompilation.Create("bench", references: new[] { MetadataReference.CreateFromFile(typeof(object).Assembly.Location) });
        _driver = CSharpGeneratorDriver.Create(new[] { new ArchitectureGenerator().AsSourceGenerator() },
            new AdditionalText[] { new Text("architectures/lgmsnet.yaml", _yaml) });
        // Measure real work: one run must emit the module and report no diagnostics.
        var result = _driver.RunGenerators(_compilation).GetRunResult();
        if (result.GeneratedTrees.Length == 0 || result.Diagnostics.Length > 0 || result.Results.Any(r => r.Exception != null))
            throw new InvalidOperationException($"the generator did not emit lgmsnet.yaml: {string.Join("; ", result.Diagnostics)}");
        Console.WriteLine($"// generator emits {result.GeneratedTrees.Length} files, {result.GeneratedTrees.Sum(t => t.Length):N0} characters");
    }

    [Benchmark(Description = "parse + validate + plan one YAML")]
    public object Compile() => ArchitectureCompiler.Compile("architectures/lgmsnet.yaml", _yaml);

    [Benchmark(Description = "generator run (compile + emit) for one YAML")]
    public object Generate() => _driver.RunGenerators(_compilation);

    private sealed class Text(string path, string text) : AdditionalText
    {
        public override string Path { get; } = path;
        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }
}

internal static class Repo
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LGMSNet.Dsl.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
