using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using LGMSNet.Dsl;
using LGMSNet.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

// Usage:
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- onnx [--model ../shared/reference/onnx/lgmsnet2d_256.onnx] [--iterations 15] [--threads 2]
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- generator [BenchmarkDotNet arguments]
string command = args.Length > 0 ? args[0] : "onnx";
if (command == "generator")
{
    BenchmarkRunner.Run<GeneratorBenchmark>(args: args.Skip(1).ToArray());
    return 0;
}
if (command != "onnx")
{
    Console.Error.WriteLine("commands: onnx, generator");
    return 2;
}
string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
string model = Option("--model", Path.Combine(Repo.Root, "..", "shared", "reference", "onnx", "lgmsnet2d_256.onnx"));
int iterations = int.Parse(Option("--iterations", "15"), CultureInfo.InvariantCulture);
int threads = int.Parse(Option("--threads", "2"), CultureInfo.InvariantCulture);
if (!File.Exists(model))
{
    Console.Error.WriteLine($"ONNX model not found: {model} (give --model)");
    return 2;
}

LGMSNet.Runtime.TorchRuntime.EnsureLoaded();
torch.set_num_threads(threads);
torch.manual_seed(0);
using var network = new LGMSNet.Architectures.LgmsNet();
network.FuseForInference();
using var input = randn(1, 3, 256, 256);
var data = input.data<float>().ToArray();

using var sessionOptions = new SessionOptions
{
    GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
    IntraOpNumThreads = threads,
    InterOpNumThreads = 1,
};
// ORT's workers spin-wait after each run by default, which on a 2-core machine steals the cores
// from libtorch's next iteration (and libtorch's OpenMP threads do the same to ORT): no spinning.
sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
using var session = new InferenceSession(model, sessionOptions);
var onnxInput = new DenseTensor<float>(data, new[] { 1, 3, 256, 256 });
string inputName = session.InputMetadata.Keys.First();

double Ours()
{
    var clock = Stopwatch.StartNew();
    using (var output = network.forward(input)) { }
    return clock.Elapsed.TotalSeconds;
}
double Onnx()
{
    var clock = Stopwatch.StartNew();
    using (var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(inputName, onnxInput) })) { }
    return clock.Elapsed.TotalSeconds;
}

for (int i = 0; i < 3; i++) { Ours(); Onnx(); }
var ours = new List<double>();
var onnx = new List<double>();
for (int i = 0; i < iterations; i++)
{
    // Interleaved, alternating which goes first, so both see the same machine noise.
    if (i % 2 == 0) { ours.Add(Ours()); onnx.Add(Onnx()); }
    else { onnx.Add(Onnx()); ours.Add(Ours()); }
}
string Report(List<double> t)
{
    t.Sort();
    double median = t[t.Count / 2];
    return $"{1 / median:0.00} images/s (median {median * 1000:0.0} ms, min {t[0] * 1000:0.0}, max {t[^1] * 1000:0.0})";
}
Console.WriteLine($"256x256, batch 1, {threads} threads, {iterations} interleaved iterations after 3 warm-ups");
Console.WriteLine($"  LGMSNet.Dsl fused (TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch): {Report(ours)}");
Console.WriteLine($"  ONNX Runtime {OrtEnv.Instance().GetVersionString()} ORT_ENABLE_ALL:                {Report(onnx)}");
Console.WriteLine($"  ratio ours/ORT: {onnx.OrderBy(x => x).ElementAt(onnx.Count / 2) / ours.OrderBy(x => x).ElementAt(ours.Count / 2):0.00}");
return 0;

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
