using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LGMSNet.Dsl;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;
using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>bench</c>: the measuring instrument for speed and memory (never a unit test).</summary>
internal static class BenchCommand
{
    /// <summary>The network <c>--engine auto</c> runs for <paramref name="network"/> (random weights, unfused) on batches of
    /// <paramref name="batch"/> at <paramref name="size"/>, with the line that says why; a network not chosen is disposed.</summary>
    private static SegmentationNetwork Auto(SegmentationNetwork network, int batch, int[] size, int threads, CliContext context)
    {
        network.eval();
        var chosen = Deploy.AutoEngine.Choose(network, batch, size, threads, line => context.Error.WriteLine("note: " + line), out var decision);
        if (!ReferenceEquals(chosen, network)) network.Dispose();
        if (decision != null) context.Error.WriteLine("note: " + decision.Describe(Deploy.AutoEngine.CachePath));
        return chosen;
    }

    public static Command Create(CliContext context)
    {
        var arch = new Argument<string>("arch") { Description = "Architecture to measure." };
        var batch = new Option<int>("--batch", "-b") { Description = "Inference batch size.", DefaultValueFactory = _ => 1 };
        var size = new Option<string?>("--size", "-s") { Description = "Inference input size (default: the YAML's input_size, 256 for lgmsnet)." };
        var trainBatch = new Option<int>("--train-batch") { Description = "Training-step batch size.", DefaultValueFactory = _ => 8 };
        var trainSize = new Option<string?>("--train-size") { Description = "Training-step input size (default 128 in 2D, 64 in 3D)." };
        var threads = new Option<int>("--threads") { Description = "libtorch CPU threads (default: all cores)." };
        var iterations = new Option<int>("--iterations") { Description = "Timed iterations per measurement.", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up iterations.", DefaultValueFactory = _ => 3 };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var perStage = new Option<bool>("--per-stage") { Description = "Also time every stage of the fused inference pass." };
        var skipTrain = new Option<bool>("--no-train") { Description = "Measure inference only." };
        var memorySteps = new Option<int>("--memory-steps") { Description = "Run N training steps and compare the working set at step N with step N/10 (steady-state check)." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var engine = new Option<string>("--engine")
        {
            Description = "Inference engine measured against unfused TorchSharp: auto (what eval and predict run by default: on the CPU the checked engine " +
                          "measured faster on this machine for this batch and size, cached; torch with --per-stage and on CUDA), " +
                          "torch (fused TorchSharp) or onnx (ONNX Runtime, CPU).",
            DefaultValueFactory = _ => "auto",
        };
        engine.AcceptOnlyFromAmong("auto", "torch", "onnx");
        var model = new Option<string?>("--model") { Description = "--engine onnx: an exported model.onnx (default: the same weights exported in memory)." };
        var command = new Command("bench", "Measure inference (fused and unfused) and training-step throughput, spread and memory.")
            { arch, batch, size, trainBatch, trainSize, threads, iterations, warmup, device, perStage, skipTrain, memorySteps, json, engine, model };
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            var info = descriptor.Info;
            var dev = TorchRuntime.Device(result.GetValue(device)!);
            if (result.GetValue(threads) > 0) torch.set_num_threads(result.GetValue(threads));
            int[] inferSize = result.GetValue(size) is { } s ? Format.ParseSize(s, info.Dims) : info.MultiplyAddsInputSize.ToArray();
            int[] stepSize = result.GetValue(trainSize) is { } t ? Format.ParseSize(t, info.Dims) : Enumerable.Repeat(info.Dims == 2 ? 128 : 64, info.Dims).ToArray();
            foreach (var candidate in new[] { inferSize, stepSize })
                if (info.CheckInputSize(candidate.Select(v => (long)v).ToArray()) is { } problem) throw new UserErrorException(problem, 2);
            int n = Math.Max(1, result.GetValue(iterations)), w = Math.Max(0, result.GetValue(warmup));
            int b = Math.Max(1, result.GetValue(batch)), tb = Math.Max(1, result.GetValue(trainBatch));
            var log = result.GetValue(json) ? context.Error : context.Out;

            // Two copies with identical weights: the training form and the fused inference form.
            torch.manual_seed(0);
            using var unfused = descriptor.Create();
            unfused.to(dev);
            unfused.eval();
            string chosen = result.GetValue(engine)!;
            if (chosen == "onnx" && dev.type != DeviceType.CPU) throw new UserErrorException("--engine onnx runs on the CPU (--device cpu)", 2);
            if (chosen == "onnx" && result.GetValue(perStage)) throw new UserErrorException("--per-stage times TorchSharp stages; it does not apply to --engine onnx", 2);
            if (result.GetValue(model) != null && chosen == "torch") throw new UserErrorException("--model runs an exported model in ONNX Runtime; it does not go with --engine torch", 2);
            if (result.GetValue(model) != null && dev.type != DeviceType.CPU) throw new UserErrorException("--model runs in ONNX Runtime on the CPU (--device cpu)", 2);
            // auto: what eval and predict run by default, decided for this batch and size (Deploy.AutoEngine); with --model that model.
            bool measure = chosen == "auto" && result.GetValue(model) == null && dev.type == DeviceType.CPU && !result.GetValue(perStage);
            bool onnx = chosen == "onnx" || (chosen == "auto" && result.GetValue(model) != null);
            torch.manual_seed(0);
            using SegmentationNetwork fused = measure ? Auto(descriptor.Create(), b, inferSize, result.GetValue(threads), context)
                : !onnx ? descriptor.Create()
                : result.GetValue(model) is { } path ? Deploy.OnnxEngine.FromFile(path, info, result.GetValue(threads))
                : Deploy.OnnxEngine.FromNetwork(unfused, result.GetValue(threads));
            onnx = fused is Deploy.OnnxNetwork;
            fused.to(dev);
            if (!onnx) fused.FuseForInference();
            string fusedName = onnx ? "onnx" : "fused";

            using var input = randn(Shape(b, info.InChannels, inferSize), device: dev);
            // Interleave fused and unfused so both see the same machine noise.
            var fusedTimes = new List<double>();
            var unfusedTimes = new List<double>();
            for (int i = 0; i < w + n; i++)
            {
                double f = SpeedProbe.Inference(fused, input, dev), u = SpeedProbe.Inference(unfused, input, dev);
                if (i < w) continue;
                fusedTimes.Add(f);
                unfusedTimes.Add(u);
            }
            var fusedTiming = SpeedProbe.Timing.Of(fusedTimes);
            var unfusedTiming = SpeedProbe.Timing.Of(unfusedTimes);
            log.WriteLine($"{info.Name} on {Describe(dev)}, {torch.get_num_threads()} threads");
            log.WriteLine($"inference {Formatting.Size(inferSize.Select(v => (long)v))} batch {b}: {fusedName} {Ips(b, fusedTiming)} images/s " +
                          $"(median {Ms(fusedTiming.Median)}, p10–p90 {Ms(fusedTiming.P10)}–{Ms(fusedTiming.P90)}); " +
                          $"unfused {Ips(b, unfusedTiming)} images/s (median {Ms(unfusedTiming.Median)})");

            List<(string Stage, double Seconds)>? stages = null;
            if (result.GetValue(perStage)) stages = StageTimes(fused, input, dev, n, w);

            SpeedProbe.Timing? trainTiming = null;
            if (!result.GetValue(skipTrain))
            {
                trainTiming = SpeedProbe.TrainingSteps(descriptor, dev, tb, stepSize, w, n, out _);
                log.WriteLine($"training step {Formatting.Size(stepSize.Select(v => (long)v))} batch {tb} (forward, {(info.Classes == 1 ? "BCE+Dice" : "CE+Dice")}, backward, SGD): " +
                              $"{Ips(tb, trainTiming)} images/s (median {Ms(trainTiming.Median)}, p10–p90 {Ms(trainTiming.P10)}–{Ms(trainTiming.P90)})");
            }

            (long Early, long Late, double Growth, long[] Trajectory)? memory = null;
            if (result.GetValue(memorySteps) is int steps and > 0)
            {
                SpeedProbe.TrainingSteps(descriptor, dev, tb, stepSize, 0, steps, out var workingSets);
                long early = workingSets[Math.Max(0, steps / 10 - 1)], late = workingSets[^1];
                var trajectory = Enumerable.Range(1, 10).Select(k => workingSets[Math.Max(0, k * steps / 10 - 1)]).ToArray();
                memory = (early, late, (double)late / early - 1, trajectory);
                log.WriteLine($"memory over {steps} training steps: working set {ByteSize.Format(early)} at step {steps / 10}, " +
                              $"{ByteSize.Format(late)} at step {steps} ({(memory.Value.Growth * 100).ToString("+0.0;-0.0", CultureInfo.InvariantCulture)}%); " +
                              $"every {steps / 10} steps: {string.Join(", ", trajectory.Select(b => (b >> 20) + " MiB"))}");
            }
            long peak = Process.GetCurrentProcess().PeakWorkingSet64;
            log.WriteLine($"peak working set {ByteSize.Format(peak)}");

            if (stages != null)
            {
                double total = stages.Sum(x => x.Seconds);
                var table = new TextTable("stage", "ms", "share").AlignRight(1, 2);
                foreach (var (stage, seconds) in stages)
                    table.Add(stage, (seconds * 1000).ToString("0.00", CultureInfo.InvariantCulture), (seconds / total).ToString("0.0%", CultureInfo.InvariantCulture));
                log.WriteLine(table);
            }

            if (result.GetValue(json))
            {
                context.WriteJson(new Dictionary<string, object?>
                {
                    ["architecture"] = info.Name,
                    ["device"] = Describe(dev),
                    ["threads"] = torch.get_num_threads(),
                    ["engine"] = onnx ? "onnx" : "torch",
                    ["batch"] = b,
                    ["size"] = inferSize,
                    ["inference_images_per_second"] = b / fusedTiming.Median,
                    ["inference_seconds"] = fusedTiming,
                    ["unfused_inference_images_per_second"] = b / unfusedTiming.Median,
                    ["unfused_inference_seconds"] = unfusedTiming,
                    ["train_batch"] = tb,
                    ["train_size"] = stepSize,
                    ["train_images_per_second"] = trainTiming == null ? null : tb / trainTiming.Median,
                    ["train_step_seconds"] = trainTiming,
                    ["peak_memory_bytes"] = peak,
                    ["memory_steady_state"] = memory == null ? null : new
                    {
                        early_bytes = memory.Value.Early, late_bytes = memory.Value.Late, growth = memory.Value.Growth, working_set_every_tenth = memory.Value.Trajectory,
                    },
                    ["stages"] = stages?.Select(x => new { stage = x.Stage, seconds = x.Seconds }).ToList(),
                });
            }
            return 0;
        });
        return command;
    }

    private static long[] Shape(int batch, int channels, int[] size) => new long[] { batch, channels }.Concat(size.Select(s => (long)s)).ToArray();

    private static string Describe(Device device) => device.type == DeviceType.CUDA ? "cuda" : "cpu";

    private static string Ips(int batch, SpeedProbe.Timing timing) => (batch / timing.Median).ToString("0.00", CultureInfo.InvariantCulture);

    private static string Ms(double seconds) => (seconds * 1000).ToString("0.0", CultureInfo.InvariantCulture) + " ms";

    /// <summary>Median time of each stage (stages run one after another, so the observer's timestamps separate them).</summary>
    private static List<(string, double)> StageTimes(SegmentationNetwork network, Tensor input, Device device, int iterations, int warmup)
    {
        var samples = new Dictionary<string, List<double>>();
        var order = new List<string>();
        for (int i = 0; i < warmup + iterations; i++)
        {
            using var _ = no_grad();
            SpeedProbe.Synchronize(device);
            var clock = Stopwatch.StartNew();
            double previous = 0;
            using var output = network.ForwardObserved(input, (stage, _) =>
            {
                SpeedProbe.Synchronize(device);
                double now = clock.Elapsed.TotalSeconds;
                if (i >= warmup)
                {
                    if (!samples.ContainsKey(stage)) { samples[stage] = new List<double>(); order.Add(stage); }
                    samples[stage].Add(now - previous);
                }
                previous = now;
            });
        }
        return order.Select(stage => (stage, SpeedProbe.Timing.Of(samples[stage]).Median)).ToList();
    }
}
