using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>The <c>pytorch-compare</c> benchmark (issue 33): the authors' networks under PyTorch 1.13 (Debian
/// python3-torch; <c>pytorch/bench.py</c> on <c>pytorch/lgmsnet_torch.py</c>, whose <c>verify</c> checks it against the
/// reference fixtures) side by side with our TorchSharp engine, in one run. Each round runs bench.py as a subprocess,
/// then the same measurements here; the rounds interleave the two, so both see the same machine. Ours: inference fused
/// and unfused, interleaved with each other as <c>bench</c> does; training steps with the trainer's own step function
/// (<see cref="SpeedProbe"/>, shared with <c>bench</c>).</summary>
internal static class PytorchCompare
{
    private static readonly string[] Known = { "3d-infer", "3d-train", "2d-infer", "2d-train" };

    private sealed record Measurement(string Name, ArchitectureDescriptor Descriptor, bool Training, int Batch, int Edge)
    {
        public int[] Size => Enumerable.Repeat(Edge, Descriptor.Info.Dims).ToArray();

        public string Shape => $"{Batch}×{Descriptor.Info.InChannels}×{string.Join("×", Size)}";
    }

    private sealed record Round(double PyTorch, double Fused, double? Unfused);

    public static int Run(string[] args)
    {
        string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        int Integer(string name, string fallback, int minimum)
        {
            string text = Option(name, fallback);
            if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) || value < minimum)
                throw new ArgumentException($"{name} {text}: expected a whole number ≥ {minimum}");
            return value;
        }

        string python = Option("--python", "/usr/bin/python3");
        string script = Path.Combine(Repo.Root, "tests", "LGMSNet.Benchmarks", "pytorch", "bench.py");
        int rounds, iterations, warmup, threads, trainBatch, infer3d, train3d, infer2d, train2d;
        string[] what;
        double? peakOption = null;
        try
        {
            rounds = Integer("--rounds", "2", 1);
            iterations = Integer("--iterations", "3", 1);
            warmup = Integer("--warmup", "1", 0);
            threads = Integer("--threads", "2", 1);
            trainBatch = Integer("--train-batch", "8", 1);
            infer3d = Integer("--infer-3d", "96", 32);
            train3d = Integer("--train-3d", "64", 32);
            infer2d = Integer("--infer-2d", "256", 32);
            train2d = Integer("--train-2d", "128", 32);
            what = Option("--what", string.Join(",", Known)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (what.Length == 0 || what.FirstOrDefault(w => !Known.Contains(w)) is { } unknown)
                throw new ArgumentException($"--what: unknown measurement '{what.FirstOrDefault(w => !Known.Contains(w))}'; choose from {string.Join(", ", Known)}");
            if (args.Contains("--peak-gflops"))
            {
                string text = Option("--peak-gflops", "");
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double peak) || !(peak > 0))
                    throw new ArgumentException($"--peak-gflops {text}: expected a positive number of GFLOP/s");
                peakOption = peak;
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        string? torchVersion = PyTorchVersion(python);
        if (torchVersion == null)
        {
            Console.Error.WriteLine($"PyTorch is not available: {python} cannot import torch (install Debian's python3-torch, or give --python)");
            return 2;
        }
        if (!File.Exists(script))
        {
            Console.Error.WriteLine($"the PyTorch side of the comparison is missing: {script}");
            return 2;
        }

        var architectures = LGMSNet.Architectures.CompiledArchitectures.All;
        ArchitectureDescriptor Find(string name) => architectures.Single(a => a.Info.Matches(name));
        var byName = new Dictionary<string, Measurement>
        {
            ["3d-infer"] = new("3d-infer", Find("lgmsnet-3d"), false, 1, infer3d),
            ["3d-train"] = new("3d-train", Find("lgmsnet-3d"), true, trainBatch, train3d),
            ["2d-infer"] = new("2d-infer", Find("lgmsnet"), false, 1, infer2d),
            ["2d-train"] = new("2d-train", Find("lgmsnet"), true, trainBatch, train2d),
        };
        var measurements = Known.Where(what.Contains).Select(n => byName[n]).ToList();
        foreach (var m in measurements)
            if (m.Descriptor.Info.CheckInputSize(m.Size.Select(v => (long)v).ToArray()) is { } problem)
            {
                Console.Error.WriteLine($"{m.Name} at {m.Edge}: {problem}");
                return 2;
            }

        LGMSNet.Runtime.TorchRuntime.EnsureLoaded();
        torch.set_num_threads(threads);
        var (peakGflops, peakSource) = peakOption is { } given ? (given, "--peak-gflops") : CpuPeak();
        Console.WriteLine($"PyTorch {torchVersion} ({python}) against TorchSharp {typeof(torch).Assembly.GetName().Version} in-process; " +
                          $"{threads} threads each; rounds: {rounds} (PyTorch, then ours); per measurement {iterations} timed iterations after {warmup} warm-up");
        Console.WriteLine($"fp32 peak assumed: {peakGflops.ToString("0.#", CultureInfo.InvariantCulture)} GFLOP/s ({peakSource})");

        var results = measurements.ToDictionary(m => m.Name, _ => new List<Round>());
        for (int round = 1; round <= rounds; round++)
        {
            var pytorch = RunPyTorch(python, script, measurements, iterations, warmup, threads, trainBatch, infer3d, train3d, infer2d, train2d);
            if (pytorch == null) return 1;
            foreach (var m in measurements)
            {
                if (!pytorch.TryGetValue(m.Name, out double theirs))
                {
                    Console.Error.WriteLine($"bench.py printed no result for {m.Name}");
                    return 1;
                }
                var (fused, unfused) = m.Training ? (Training(m, iterations, warmup), (double?)null) : Inference(m, iterations, warmup);
                results[m.Name].Add(new Round(theirs, fused, unfused));
                Console.WriteLine($"  round {round}, {m.Name} {m.Shape}: PyTorch {S(theirs)}, ours {(m.Training ? "" : "fused ")}{S(fused)}" +
                                  (unfused is { } u ? $", unfused {S(u)}" : "") + " (medians)");
            }
        }

        // The FLOPs of an inference window: twice the planner's multiply-adds (conv + linear + attention products) at that size.
        double Gflop(Measurement m)
        {
            using var network = m.Descriptor.Create();
            return 2.0 * NetworkCosts.PerStage(network, m.Size).Sum(s => s.MultiplyAdds) * m.Batch / 1e9;
        }
        var rows = new List<string[]>
        {
            new[] { "measurement", "input", "PyTorch 1.13 s", "ours fused s", "ours unfused s", "PyTorch / ours", "share of fp32 peak (fused; unfused)" },
        };
        foreach (var m in measurements)
        {
            var r = results[m.Name];
            string Join(Func<Round, string> cell) => string.Join(" / ", r.Select(cell));
            string share = "";
            if (!m.Training)
            {
                double gflop = Gflop(m);
                share = $"{gflop.ToString("0.0", CultureInfo.InvariantCulture)} GFLOP: " +
                        Join(x => $"{Percent(gflop / x.Fused / peakGflops)}; {Percent(gflop / x.Unfused!.Value / peakGflops)}");
            }
            rows.Add(new[]
            {
                m.Name + (m.Training ? " (step)" : ""), m.Shape, Join(x => S(x.PyTorch)), Join(x => S(x.Fused)),
                m.Training ? "—" : Join(x => S(x.Unfused!.Value)), Join(x => $"{(x.PyTorch / x.Fused).ToString("0.00", CultureInfo.InvariantCulture)}×"), share,
            });
        }
        Console.WriteLine($"seconds per iteration (median of {iterations}) in each round, rounds separated by /; " +
                          "training rows: our training step (there is no fused form)");
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(row => row[c].Length)).ToArray();
        foreach (var row in rows)
            Console.WriteLine("  " + string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        return 0;
    }

    private static string S(double seconds) => seconds.ToString(seconds < 1 ? "0.000" : "0.00", CultureInfo.InvariantCulture);

    private static string Percent(double fraction) => (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %";

    /// <summary>torch.__version__ under <paramref name="python"/>, or null when it cannot import torch.</summary>
    private static string? PyTorchVersion(string python)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-c", "import torch; print(torch.__version__)" }) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            _ = stderr.Result;
            return process.ExitCode == 0 && output.Length > 0 ? output : null;
        }
        catch (Win32Exception)
        {
            return null; // no such interpreter
        }
    }

    /// <summary>One run of bench.py: the median seconds of each measurement, from its JSON lines (null after an error line).</summary>
    private static Dictionary<string, double>? RunPyTorch(string python, string script, List<Measurement> measurements, int iterations, int warmup,
        int threads, int trainBatch, int infer3d, int train3d, int infer2d, int train2d)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, UseShellExecute = false };
        var arguments = new List<string>
        {
            script, "--what", string.Join(",", measurements.Select(m => m.Name)), "--iterations", Str(iterations), "--warmup", Str(warmup),
            "--threads", Str(threads), "--train-batch", Str(trainBatch), "--infer-3d", Str(infer3d), "--train-3d", Str(train3d),
            "--infer-2d", Str(infer2d), "--train-2d", Str(train2d),
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var results = new Dictionary<string, double>();
        string? line;
        while ((line = process.StandardOutput.ReadLine()) != null)
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            var seconds = root.GetProperty("seconds").EnumerateArray().Select(e => e.GetDouble()).ToList();
            // The median by our own rule (bench.py prints the same), so both sides use one statistic.
            results[root.GetProperty("name").GetString()!] = SpeedProbe.Timing.Of(seconds).Median;
        }
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            Console.Error.WriteLine($"bench.py exited with code {process.ExitCode} (its error is above)");
            return null;
        }
        return results;
    }

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Ours: the fused inference form and the unfused one (same seed, so the same weights), timed interleaved.</summary>
    private static (double Fused, double? Unfused) Inference(Measurement m, int iterations, int warmup)
    {
        var cpu = torch.CPU;
        torch.manual_seed(0);
        using var unfused = m.Descriptor.Create();
        unfused.eval();
        torch.manual_seed(0);
        using var fused = m.Descriptor.Create();
        fused.FuseForInference();
        using var input = randn(new long[] { m.Batch, m.Descriptor.Info.InChannels }.Concat(m.Size.Select(s => (long)s)).ToArray());
        var fusedTimes = new List<double>();
        var unfusedTimes = new List<double>();
        for (int i = 0; i < warmup + iterations; i++)
        {
            double f = SpeedProbe.Inference(fused, input, cpu), u = SpeedProbe.Inference(unfused, input, cpu);
            if (i < warmup) continue;
            fusedTimes.Add(f);
            unfusedTimes.Add(u);
        }
        return (SpeedProbe.Timing.Of(fusedTimes).Median, SpeedProbe.Timing.Of(unfusedTimes).Median);
    }

    private static double Training(Measurement m, int iterations, int warmup) =>
        SpeedProbe.TrainingSteps(m.Descriptor, torch.CPU, m.Batch, m.Size, warmup, iterations, out _).Median;

    /// <summary>The CPU's fp32 peak: physical cores × the highest "cpu MHz" in /proc/cpuinfo × 64 FLOP per cycle (AVX-512:
    /// 16 fp32 lanes × 2 FLOP per FMA × two FMA units). An assumption, printed as such; --peak-gflops overrides it.</summary>
    private static (double Gflops, string How) CpuPeak()
    {
        const int flopPerCycle = 64;
        var cores = new HashSet<string>();
        int processors = 0;
        double mhz = 0;
        string physical = "", model = "unknown CPU";
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                if (key == "processor") processors++;
                else if (key == "model name") model = value;
                else if (key == "physical id") physical = value;
                else if (key == "core id") cores.Add(physical + "/" + value);
                else if (key == "cpu MHz" && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) mhz = Math.Max(mhz, v);
            }
        }
        catch (IOException)
        {
            // no /proc/cpuinfo: fall through to the processor count
        }
        int count = cores.Count > 0 ? cores.Count : processors > 0 ? processors : Environment.ProcessorCount;
        if (mhz <= 0) return (double.NaN, $"no 'cpu MHz' in /proc/cpuinfo for {model}; give --peak-gflops");
        var how = new StringBuilder($"{model}: {count} cores × {mhz.ToString("0", CultureInfo.InvariantCulture)} MHz from /proc/cpuinfo × ");
        how.Append($"{flopPerCycle} FLOP/cycle (AVX-512, 2 FMA units); give --peak-gflops to override");
        return (count * mhz / 1000 * flopPerCycle, how.ToString());
    }
}
