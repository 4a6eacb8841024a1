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
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- onnx [--arch lgmsnet] [--size 256] [--model ../shared/reference/onnx/lgmsnet2d_256.onnx]
//       [--iterations 15] [--threads 2] [--opt-level all|extended|basic] [--spin] [--opset 17] [--split-lms] [--no-authors]
//     interleaves (a) ONNX Runtime on the authors' export (LGMSNet 2D at 256 only), (b) ONNX Runtime on our export
//     of the same architecture, (c) our fused TorchSharp path.
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- generator [BenchmarkDotNet arguments]
//   dotnet run -c Release --project tests/LGMSNet.Benchmarks -- soak [--epochs 60] [--burners 2xcores] [--interrupt-after N]
//       [--arch lgmsnet] [--data synthetic] [--size 64] [--batch 8] [--output DIR]
//     trains through the real CLI while CPU burners load every core, SIGTERMs it once and resumes (Soak.cs).
string command = args.Length > 0 ? args[0] : "onnx";
if (command == "soak") return Soak.Run(args.Skip(1).ToArray());
if (command == "generator")
{
    BenchmarkRunner.Run<GeneratorBenchmark>(args: args.Skip(1).ToArray());
    return 0;
}
if (command != "onnx")
{
    Console.Error.WriteLine("commands: onnx, generator, soak");
    return 2;
}
string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
bool Flag(string name) => args.Contains(name);
string model = Option("--model", Path.Combine(Repo.Root, "..", "shared", "reference", "onnx", "lgmsnet2d_256.onnx"));
int iterations = int.Parse(Option("--iterations", "15"), CultureInfo.InvariantCulture);
int threads = int.Parse(Option("--threads", "2"), CultureInfo.InvariantCulture);
string archName = Option("--arch", "lgmsnet");
var descriptor = LGMSNet.Architectures.CompiledArchitectures.All.SingleOrDefault(a => a.Info.Matches(archName));
if (descriptor == null)
{
    Console.Error.WriteLine($"unknown architecture {archName}");
    return 2;
}
int side = int.Parse(Option("--size", descriptor.Info.MultiplyAddsInputSize[0].ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
var optimisation = Option("--opt-level", "all") switch
{
    "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
};
var exportOptions = new OnnxExportOptions
{
    Opset = int.Parse(Option("--opset", OnnxExportOptions.DefaultOpset.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
    MergeLmsKernels = !Flag("--split-lms"),
};
long[] shape = new long[] { 1, descriptor.Info.InChannels }.Concat(Enumerable.Repeat((long)side, descriptor.Info.Dims)).ToArray();
// (a) runs only where the authors' model applies: LGMSNet 2D at the 256x256 it was exported for.
bool authors = descriptor.Info.Name == "LgmsNet" && side == 256 && !Flag("--no-authors");
if (authors && !File.Exists(model))
{
    Console.Error.WriteLine($"ONNX model not found: {model} (give --model, or --no-authors)");
    return 2;
}

LGMSNet.Runtime.TorchRuntime.EnsureLoaded();
torch.set_num_threads(threads);
torch.manual_seed(0);
using var process = Process.GetCurrentProcess();
long Rss() { process.Refresh(); return process.WorkingSet64; }
long baseline = Rss();
using var network = descriptor.Create();
network.eval();
var exportClock = Stopwatch.StartNew();
var ours = OnnxExporter.ExportBytes(network, exportOptions);
double exportSeconds = exportClock.Elapsed.TotalSeconds;
using var input = randn(shape);
var data = input.data<float>().ToArray();

SessionOptions Options()
{
    var options = new SessionOptions { GraphOptimizationLevel = optimisation, IntraOpNumThreads = threads, InterOpNumThreads = 1 };
    // ORT's workers spin-wait after each run by default, which on a 2-core machine steals the cores
    // from libtorch's next iteration (and libtorch's OpenMP threads do the same to ORT): no spinning.
    if (!Flag("--spin")) options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
    // --profile DIR: ORT's per-node timings (chrome-trace JSON) for each session, to see where time goes.
    if (Option("--profile", "") is { Length: > 0 } profile)
    {
        Directory.CreateDirectory(profile);
        options.EnableProfiling = true;
        options.ProfileOutputPathPrefix = Path.Combine(profile, "ort");
    }
    if (Option("--save-optimized", "") is { Length: > 0 } saved) options.OptimizedModelFilePath = saved;
    return options;
}
var engines = new List<(string Name, Func<double> Run, long Memory)>();
InferenceSession? authorsSession = null;
if (authors)
{
    long before = Rss();
    using var options = Options();
    authorsSession = new InferenceSession(model, options);
    string authorsInput = authorsSession.InputMetadata.Keys.First();
    var tensor = new DenseTensor<float>(data, shape.Select(d => (int)d).ToArray());
    engines.Add(($"(a) ORT, authors' export ({Path.GetFileName(model)})", () =>
    {
        var clock = Stopwatch.StartNew();
        using (var results = authorsSession.Run(new[] { NamedOnnxValue.CreateFromTensor(authorsInput, tensor) })) { }
        return clock.Elapsed.TotalSeconds;
    }, Rss() - before));
}
long beforeOurs = Rss();
InferenceSession oursSession;
using (var options = Options()) oursSession = new InferenceSession(ours, options);
var check = OnnxVerifier.Verify(network, ours, shape.Skip(2).Select(d => (int)d).ToArray(), threads: threads);
engines.Add(($"(b) ORT, our export (opset {exportOptions.Opset}{(exportOptions.MergeLmsKernels ? "" : ", split LMS")})", () =>
{
    var clock = Stopwatch.StartNew();
    OnnxEngine.Run(oursSession, data, shape);
    return clock.Elapsed.TotalSeconds;
}, Rss() - beforeOurs));
long beforeTorch = Rss();
using var fused = descriptor.Create();
fused.load_state_dict(network.state_dict());
fused.FuseForInference();
using (var warm = fused.forward(input)) { }
engines.Add(($"(c) TorchSharp {typeof(torch).Assembly.GetName().Version} fused", () =>
{
    var clock = Stopwatch.StartNew();
    using (var output = fused.forward(input)) { }
    return clock.Elapsed.TotalSeconds;
}, Rss() - beforeTorch));

for (int i = 0; i < 3; i++) foreach (var engine in engines) engine.Run();
var times = engines.Select(_ => new List<double>()).ToArray();
for (int i = 0; i < iterations; i++)
{
    // Interleaved, rotating which goes first, so every engine sees the same machine noise.
    for (int j = 0; j < engines.Count; j++)
    {
        int k = (i + j) % engines.Count;
        times[k].Add(engines[k].Run());
    }
}
double Median(List<double> t) => t.OrderBy(x => x).ElementAt(t.Count / 2);
string Report(List<double> t)
{
    t.Sort();
    double median = t[t.Count / 2];
    return $"{1 / median:0.00} images/s (median {median * 1000:0.0} ms, min {t[0] * 1000:0.0}, max {t[^1] * 1000:0.0})";
}
Console.WriteLine($"{descriptor.Info.Name} {string.Join("x", shape.Skip(2))}, batch 1, {threads} threads, {iterations} interleaved iterations after 3 warm-ups; " +
                  $"ONNX Runtime {OrtEnv.Instance().GetVersionString()} {optimisation}, spinning {(Flag("--spin") ? "on" : "off")}");
Console.WriteLine($"  export {exportSeconds * 1000:0} ms, {ours.Length / 1024.0 / 1024.0:0.00} MiB; ORT vs TorchSharp: max |Δ| {check.MaxAbsDiff:E2}, relative {check.Relative:E2}");
for (int j = 0; j < engines.Count; j++)
    Console.WriteLine($"  {engines[j].Name}: {Report(times[j])}; resident memory +{engines[j].Memory / 1024.0 / 1024.0:0} MiB at load");
if (authors) Console.WriteLine($"  ratio (b)/(a), speed: {Median(times[0]) / Median(times[1]):0.00}");
Console.WriteLine($"  ratio (b)/(c), speed: {Median(times[^1]) / Median(times[authors ? 1 : 0]):0.00}");
process.Refresh();
Console.WriteLine($"  process peak working set {process.PeakWorkingSet64 / 1024.0 / 1024.0:0} MiB (baseline before models {baseline / 1024.0 / 1024.0:0} MiB)");
if (Option("--profile", "") is { Length: > 0 })
{
    if (authorsSession != null) Console.WriteLine($"  profile (a): {authorsSession.EndProfiling()}");
    Console.WriteLine($"  profile (b): {oursSession.EndProfiling()}");
}
oursSession.Dispose();
authorsSession?.Dispose();
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
