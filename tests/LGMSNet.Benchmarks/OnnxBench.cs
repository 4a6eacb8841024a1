using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using LGMSNet.Runtime.Deploy;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>The <c>onnx</c> benchmark: every inference engine and precision side by side, interleaved in one process
/// (so each sees the same machine noise), at each batch size asked for. Medians; ratios to the authors' export.
/// The weights are the architecture's seeded initialisation: speed does not depend on their values, and the int8
/// model is calibrated on seeded random inputs (its accuracy is what <c>export --precision int8</c> measures).</summary>
internal static class OnnxBench
{
    private sealed record Engine(string Name, Func<float[], long[], double> Run, long Memory, bool IsAuthors = false);

    public static int Run(string[] args)
    {
        string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        bool Flag(string name) => args.Contains(name);
        string authorsModel = Option("--model", Path.Combine(Repo.Root, "..", "shared", "reference", "onnx", "lgmsnet2d_256.onnx"));
        int iterations = int.Parse(Option("--iterations", "15"), CultureInfo.InvariantCulture);
        int threads = int.Parse(Option("--threads", "2"), CultureInfo.InvariantCulture);
        string archName = Option("--arch", "lgmsnet");
        var batches = Option("--batch", "1,8").Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray();
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
        var spatial = Enumerable.Repeat((long)side, descriptor.Info.Dims).ToArray();
        bool authors = descriptor.Info.Name == "LgmsNet" && side == 256 && !Flag("--no-authors");
        if (authors && !File.Exists(authorsModel))
        {
            Console.Error.WriteLine($"ONNX model not found: {authorsModel} (give --model, or --no-authors)");
            return 2;
        }

        LGMSNet.Runtime.TorchRuntime.EnsureLoaded();
        torch.set_num_threads(threads);
        torch.manual_seed(0);
        using var process = Process.GetCurrentProcess();
        long Rss()
        {
            process.Refresh();
            return process.WorkingSet64;
        }
        long baseline = Rss();
        using var network = descriptor.Create();
        network.eval();

        SessionOptions Options()
        {
            var options = new SessionOptions { GraphOptimizationLevel = optimisation, IntraOpNumThreads = threads, InterOpNumThreads = 1 };
            // Workers spin-wait after each run by default, which on 2 cores steals them from the next engine: no spinning.
            if (!Flag("--spin")) options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            if (Option("--profile", "") is { Length: > 0 } profile)
            {
                Directory.CreateDirectory(profile);
                options.EnableProfiling = true;
                options.ProfileOutputPathPrefix = Path.Combine(profile, "ort");
            }
            return options;
        }

        var sessions = new List<InferenceSession>();
        var engines = new List<Engine>();
        var notes = new List<string>();
        void AddOrt(string name, byte[]? bytes, string? path = null)
        {
            long before = Rss();
            using var options = Options();
            var session = bytes != null ? new InferenceSession(bytes, options) : new InferenceSession(path!, options);
            sessions.Add(session);
            string inputName = session.InputMetadata.Keys.First();
            engines.Add(new Engine(name, (data, shape) =>
            {
                var tensor = new DenseTensor<float>(data, shape.Select(d => (int)d).ToArray());
                var clock = Stopwatch.StartNew();
                using (var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(inputName, tensor) })) { }
                return clock.Elapsed.TotalSeconds;
            }, Rss() - before, IsAuthors: path != null));
        }

        // --torch-only: TorchSharp's engines alone (interleaved with each other, not with ONNX Runtime, whose thread pool
        // idles libtorch's OpenMP workers between runs: TorchSharp measured about 3x slower interleaved with ORT than alone).
        bool ortEngines = !Flag("--torch-only");
        if (authors && ortEngines) AddOrt($"ORT fp32, authors' export ({Path.GetFileName(authorsModel)})", null, authorsModel);
        var exported = new Dictionary<int, ModelProto>();
        foreach (int opset in new[] { 17, 23 })
        {
            exported[opset] = OnnxExporter.Export(network, new OnnxExportOptions { Opset = opset, MergeLmsKernels = !Flag("--split-lms") });
            var check = OnnxVerifier.Verify(network, exported[opset].ToByteArray(), spatial.Select(d => (int)d).ToArray(), threads: threads);
            notes.Add($"opset {opset}: ORT vs TorchSharp max |Δ| {check.MaxAbsDiff:E2}, relative {check.Relative:E2}");
            if (ortEngines) AddOrt($"ORT fp32, our export, opset {opset}", exported[opset].ToByteArray());
        }

        // int8: calibrated on seeded random inputs (speed only).
        var calibrationInputs = Enumerable.Range(0, 4).Select(i =>
        {
            using var generator = new Generator((ulong)(100 + i));
            var shape = new long[] { 1, descriptor.Info.InChannels }.Concat(spatial).ToArray();
            return (randn(shape, generator: generator).data<float>().ToArray(), shape);
        }).ToList();
        var variants = new List<(int Opset, QuantizationOptions Options, string Label)>
        {
            (17, new QuantizationOptions(), ""),
            (23, new QuantizationOptions(), ""),
        };
        foreach (var minimum in Option("--int8-min-reduction", "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => int.Parse(v, CultureInfo.InvariantCulture)))
            variants.Add((23, new QuantizationOptions { MinimumReduction = minimum }, $", reduction ≥ {minimum}"));
        if (Flag("--int8-depthwise")) variants.Add((23, new QuantizationOptions { QuantizeDepthwise = true }, ", depthwise int8"));
        foreach (var ops in args.Where((a, i) => i > 0 && args[i - 1] == "--int8-ops"))
            variants.Add((23, new QuantizationOptions { QuantizeDepthwise = Flag("--int8-depthwise"), Operators = ops.Split(',').ToHashSet() },
                $"{(Flag("--int8-depthwise") ? ", depthwise" : "")}, +{ops}"));
        foreach (var (opset, options, label) in ortEngines ? variants : new())
        {
            var ranges = OnnxCalibrator.Calibrate(exported[opset], OnnxQuantizer.CalibrationTargets(exported[opset], options), calibrationInputs, options, threads);
            var quantised = OnnxQuantizer.Quantize(exported[opset], ranges, options);
            notes.Add($"int8 opset {opset}{label}: after ORT's optimisation {Describe(quantised, Options)}");
            AddOrt($"ORT int8, our export, opset {opset}{label}", quantised.ToByteArray());
        }

        long beforeTorch = Rss();
        var fused = descriptor.Create();
        fused.load_state_dict(network.state_dict());
        fused.FuseForInference();
        engines.Add(new Engine($"TorchSharp {typeof(torch).Assembly.GetName().Version} fused fp32", (data, shape) => TimeTorch(fused, data, shape, ScalarType.Float32), Rss() - beforeTorch));
        LGMSNet.Runtime.Network.SegmentationNetwork? bf16 = null;
        if (!Flag("--no-bf16"))
        {
            long before = Rss();
            bf16 = descriptor.Create();
            bf16.load_state_dict(network.state_dict());
            bf16.FuseForInference();
            bf16.to(ScalarType.BFloat16);
            engines.Add(new Engine("TorchSharp fused bf16 (oneDNN, AVX-512 BF16)", (data, shape) => TimeTorch(bf16, data, shape, ScalarType.BFloat16), Rss() - before));
        }

        Console.WriteLine($"{descriptor.Info.Name} {string.Join("x", spatial)}, {threads} threads, {iterations} interleaved iterations after 3 warm-ups per batch size; " +
                          $"ONNX Runtime {OrtEnv.Instance().GetVersionString()} {optimisation}, spinning {(Flag("--spin") ? "on" : "off")}; {Environment.ProcessorCount} logical CPUs");
        foreach (var note in notes) Console.WriteLine("  " + note);
        foreach (int batch in batches)
        {
            var shape = new long[] { batch, descriptor.Info.InChannels }.Concat(spatial).ToArray();
            using var input = randn(shape);
            var data = input.data<float>().ToArray();
            for (int i = 0; i < 3; i++)
                foreach (var engine in engines) engine.Run(data, shape);
            var times = engines.Select(_ => new List<double>()).ToArray();
            for (int i = 0; i < iterations; i++)
                for (int j = 0; j < engines.Count; j++)
                {
                    int k = (i + j) % engines.Count; // rotate which goes first
                    times[k].Add(engines[k].Run(data, shape));
                }
            double reference = authors && ortEngines ? Median(times[0]) : double.NaN;
            Console.WriteLine($"batch {batch}:");
            for (int j = 0; j < engines.Count; j++)
            {
                var t = times[j].OrderBy(x => x).ToList();
                double median = t[t.Count / 2];
                string ratio = authors && ortEngines ? $"  ×{reference / median:0.00} vs authors'" : "";
                Console.WriteLine($"  {engines[j].Name,-58} {batch / median,7:0.00} img/s  (median {median * 1000:0.0} ms, min {t[0] * 1000:0.0}, max {t[^1] * 1000:0.0}){ratio}; " +
                                  $"+{engines[j].Memory / 1024.0 / 1024.0:0} MiB at load");
            }
        }
        if (Flag("--stages"))
        {
            var torchStages = TorchStages(fused, spatial, descriptor.Info.InChannels, iterations);
            var columns = new List<(string Name, Dictionary<string, double> Ms)> { ("TorchSharp fp32", torchStages) };
            var best = exported[23];
            columns.Add(("ORT fp32 opset 23", OrtStages(best, spatial, descriptor.Info.InChannels, iterations, threads, optimisation)));
            var int8 = variants[1];
            var int8Ranges = OnnxCalibrator.Calibrate(best, OnnxQuantizer.CalibrationTargets(best, int8.Options), calibrationInputs, int8.Options, threads);
            columns.Add(("ORT int8 opset 23", OrtStages(OnnxQuantizer.Quantize(best, int8Ranges, int8.Options), spatial, descriptor.Info.InChannels, iterations, threads, optimisation)));
            var stages = columns.SelectMany(c => c.Ms.Keys).Distinct().OrderBy(StageOrder).ToList();
            Console.WriteLine($"per stage, batch 1, ms (medians over {iterations} runs; TorchSharp timed at stage boundaries, ORT from its per-node profile — " +
                              "node times only, so ORT's column sums to less than its wall time):");
            Console.WriteLine($"  {"stage",-12}" + string.Concat(columns.Select(c => $"{c.Name,20}")));
            foreach (var stage in stages)
                Console.WriteLine($"  {stage,-12}" + string.Concat(columns.Select(c => $"{(c.Ms.TryGetValue(stage, out var v) ? v.ToString("0.0", CultureInfo.InvariantCulture) : "-"),20}")));
            Console.WriteLine($"  {"total",-12}" + string.Concat(columns.Select(c => $"{c.Ms.Values.Sum().ToString("0.0", CultureInfo.InvariantCulture),20}")));
        }

        process.Refresh();
        Console.WriteLine($"process peak working set {process.PeakWorkingSet64 / 1024.0 / 1024.0:0} MiB (baseline before models {baseline / 1024.0 / 1024.0:0} MiB)");
        if (Option("--profile", "") is { Length: > 0 })
            foreach (var (session, engine) in sessions.Zip(engines))
                Console.WriteLine($"  profile of {engine.Name}: {session.EndProfiling()}");
        foreach (var session in sessions) session.Dispose();
        fused.Dispose();
        bf16?.Dispose();
        return 0;
    }

    private static double Median(List<double> t) => t.OrderBy(x => x).ElementAt(t.Count / 2);

    /// <summary>stem, encoder1.., then up/decoder from the deepest, head.</summary>
    private static (int, int) StageOrder(string stage)
    {
        int level = int.TryParse(new string(stage.Where(char.IsDigit).ToArray()), out var l) ? l : 0;
        return stage.StartsWith("stem", StringComparison.Ordinal) ? (0, 0)
            : stage.StartsWith("encoder", StringComparison.Ordinal) ? (1, level)
            : stage.StartsWith("up", StringComparison.Ordinal) || stage.StartsWith("decoder", StringComparison.Ordinal) ? (2, -2 * level + (stage.StartsWith("up", StringComparison.Ordinal) ? 0 : 1))
            : stage == "head" ? (3, 0) : (4, 0);
    }

    /// <summary>Median ms per stage of the TorchSharp network (time between consecutive stage outputs).</summary>
    private static Dictionary<string, double> TorchStages(LGMSNet.Runtime.Network.SegmentationNetwork network, long[] spatial, int channels, int iterations)
    {
        var samples = new Dictionary<string, List<double>>();
        using var input = randn(new long[] { 1, channels }.Concat(spatial).ToArray());
        for (int i = 0; i < iterations + 2; i++)
        {
            using var _ = no_grad();
            var clock = Stopwatch.StartNew();
            double previous = 0;
            int run = i;
            using var output = network.ForwardObserved(input, (stage, _) =>
            {
                double now = clock.Elapsed.TotalSeconds;
                if (run >= 2)
                {
                    if (!samples.TryGetValue(stage, out var list)) samples[stage] = list = new List<double>();
                    list.Add((now - previous) * 1000);
                }
                previous = now;
            });
        }
        return samples.ToDictionary(s => s.Key, s => Median(s.Value));
    }

    /// <summary>Median ms per stage of an ONNX Runtime session, from its profile: node kernel times grouped by the stage that
    /// names the node (the exporter names every node after its block; fused nodes keep one of their names).</summary>
    private static Dictionary<string, double> OrtStages(ModelProto model, long[] spatial, int channels, int iterations, int threads, GraphOptimizationLevel level)
    {
        string prefix = Path.Combine(Path.GetTempPath(), $"lgmsnet-stages-{Environment.ProcessId}");
        using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = threads, InterOpNumThreads = 1, EnableProfiling = true, ProfileOutputPathPrefix = prefix };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        using var session = new InferenceSession(model.ToByteArray(), options);
        var shape = new long[] { 1, channels }.Concat(spatial).ToArray();
        using var input = randn(shape);
        var data = input.data<float>().ToArray();
        for (int i = 0; i < iterations + 2; i++) OnnxEngine.Run(session, data, shape);
        string file = session.EndProfiling();
        var perRun = new Dictionary<string, List<double>>();
        using (var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file)))
        {
            int run = -1;
            var current = new Dictionary<string, double>();
            foreach (var e in json.RootElement.EnumerateArray())
            {
                string cat = e.TryGetProperty("cat", out var c) ? c.GetString() ?? "" : "";
                string name = e.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "";
                if (cat == "Session" && name == "model_run")
                {
                    if (run >= 2) foreach (var (k, v) in current) (perRun.TryGetValue(k, out var l) ? l : perRun[k] = new List<double>()).Add(v);
                    current.Clear();
                    run++;
                    continue;
                }
                if (cat != "Node" || !name.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
                string node = name[..^"_kernel_time".Length];
                // Nodes ONNX Runtime inserts itself (layout reorders, transposes around NHWC int8 kernels) are named "<Op>_token_<n>".
                string stage = !node.Contains('.') && !node.Contains('/') ? "(inserted)" : node.Split('.', '/')[0];
                current[stage] = current.GetValueOrDefault(stage) + e.GetProperty("dur").GetDouble() / 1000;
            }
        }
        File.Delete(file);
        return perRun.ToDictionary(s => s.Key, s => Median(s.Value));
    }

    private static double TimeTorch(LGMSNet.Runtime.Network.SegmentationNetwork network, float[] data, long[] shape, ScalarType type)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var clock = Stopwatch.StartNew();
        var input = LGMSNet.Runtime.Data.Tensors.FromFloats(data, shape).to(type);
        var output = network.forward(input).to(ScalarType.Float32);
        output.data<float>()[0].ToString(CultureInfo.InvariantCulture); // materialise
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>The operators of a model after ONNX Runtime's optimisation (how many convolutions became QLinearConv).</summary>
    private static string Describe(ModelProto model, Func<SessionOptions> options)
    {
        using var o = options();
        var counts = OnnxEngine.OptimisedOperators(model.ToByteArray(), o);
        return string.Join(", ", counts.OrderByDescending(c => c.Value).Select(c => $"{c.Value} {c.Key}"));
    }
}
