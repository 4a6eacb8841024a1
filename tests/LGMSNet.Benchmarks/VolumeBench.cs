using System.Diagnostics;
using System.Globalization;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Data.Preprocessing;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Inference;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Benchmarks of 3D volumes stored as hospitals store them (issue 26):
/// <c>volumes-memory</c> trains the same run through the real CLI on N and on 4N cases and prints each trainer's peak
/// resident set (the cases are read from the memory-mapped cache, so it must not grow with N);
/// <c>volumes-speed</c> times <c>predict</c>'s whole path (read, plan, sliding window, probabilities back onto the input's
/// grid) on a 1 mm brain-sized volume and a BTCV-sized CT for TorchSharp and ONNX Runtime, interleaved, and preprocessing
/// throughput (volumes per minute into the cache).</summary>
internal static class VolumeBench
{
    private static string Option(string[] args, string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;

    private static int Int(string[] args, string name, int fallback) => int.Parse(Option(args, name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

    /// <summary>Writes <paramref name="cases"/> volumes of <paramref name="size"/> (x, y, z) voxels at <paramref name="spacing"/> mm:
    /// noise with two spheres of class 1 and 2, RAS headers (or LPS, as DICOM converters write CT).</summary>
    private static string Dataset(string root, int cases, int[] size, double[] spacing, int classes, bool lps = false, bool gzip = true,
        Func<int, int[]>? sizeOf = null)
    {
        Directory.CreateDirectory(Path.Combine(root, "imagesTr"));
        Directory.CreateDirectory(Path.Combine(root, "labelsTr"));
        var entries = new List<string>();
        for (int n = 0; n < cases; n++)
        {
            string name = $"case_{n:D3}.nii" + (gzip ? ".gz" : "");
            Write(Path.Combine(root, "imagesTr", name), Path.Combine(root, "labelsTr", name), sizeOf?.Invoke(n) ?? size, spacing, lps, seed: n);
            entries.Add($$"""{"image": "./imagesTr/{{name}}", "label": "./labelsTr/{{name}}"}""");
        }
        string labels = string.Join(", ", Enumerable.Range(0, classes).Select(c => $"\"{c}\": \"class {c}\""));
        File.WriteAllText(Path.Combine(root, "dataset.json"), $$"""{"labels": {{{labels}}}, "training": [{{string.Join(", ", entries)}}]}""");
        return root;
    }

    private static void Write(string image, string? label, int[] size, double[] spacing, bool lps, int seed)
    {
        int nx = size[0], ny = size[1], nz = size[2];
        var values = new float[(long)nx * ny * nz];
        var labels = new byte[values.Length];
        var rng = new Rng((ulong)seed + 1);
        double cx = nx / 2.0, cy = ny / 2.0, cz = nz / 2.0, r = Math.Min(nx * spacing[0], Math.Min(ny * spacing[1], nz * spacing[2])) / 6;
        Parallel.For(0, nz, z =>
        {
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++)
                {
                    long i = ((long)z * ny + y) * nx + x;
                    double dx = (x - cx) * spacing[0], dy = (y - cy) * spacing[1], dz = (z - cz) * spacing[2];
                    byte c = (dx + r) * (dx + r) + dy * dy + dz * dz < r * r ? (byte)1 : (dx - r) * (dx - r) + dy * dy + dz * dz < r * r / 2 ? (byte)2 : (byte)0;
                    labels[i] = c;
                    values[i] = c * 80 + (float)((x * 7 + y * 13 + z * 31 + seed) % 50);
                }
        });
        var header = Nifti.Geometry(new[] { nz, ny, nx }, new[] { (float)spacing[2], (float)spacing[1], (float)spacing[0] });
        if (lps)
        {
            header.SrowX[0] = -header.SrowX[0];
            header.SrowY[1] = -header.SrowY[1];
            header = header with { QformCode = 0 };
        }
        Nifti.WriteFloat(image, new Volume(values, 1, new[] { nz, ny, nx }), header);
        if (label != null) Nifti.WriteLabels(label, new LabelMap(labels, new[] { nz, ny, nx }), header);
    }

    public static int Memory(string[] args)
    {
        int n = Int(args, "--cases", 4), edge = Int(args, "--edge", 192), patch = Int(args, "--patch", 32);
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        string cli = Option(args, "--cli", Path.Combine(Repo.Root, "architectures", "bin", configuration, "net10.0", "lgmsnet.dll"));
        string root = Path.Combine(Path.GetTempPath(), $"lgms-volumes-memory-{Environment.ProcessId}");
        Console.WriteLine($"volumes-memory: {n} and {4 * n} training cases of {edge}^3 voxels (float32: {edge * edge * edge * 4L / (1 << 20)} MiB each, " +
                          $"{4 * n * (edge * edge * edge * 5L) / (1 << 20)} MiB of images and labels for {4 * n} cases), 2 validation cases of {2 * patch}^3, lgmsnet-3d, " +
                          $"{patch}^3 patches, 1 epoch, through the CLI, N and 4N interleaved twice");
        try
        {
            var rows = new List<(int Cases, long Rss, string Line)>();
            string data = Dataset(Path.Combine(root, "data"), 4 * n + 2, new[] { edge, edge, edge }, new[] { 1.0, 1.0, 1.0 }, 14, gzip: false,
                sizeOf: i => i < 2 ? new[] { 2 * patch, 2 * patch, 2 * patch } : new[] { edge, edge, edge });
            // Each size first fills its own cache (preprocessing), then runs again on it (patches read from the cache only).
            foreach (var (cases, phase) in new[] { (n, "cache filled"), (4 * n, "cache filled"), (n, "cache reused"), (4 * n, "cache reused") })
            {
                string train = Path.Combine(root, $"train-{cases}.txt"), validation = Path.Combine(root, "val.txt");
                File.WriteAllLines(train, Enumerable.Range(2, cases).Select(i => $"case_{i:D3}"));
                File.WriteAllLines(validation, new[] { "case_000", "case_001" });
                string run = Path.Combine(root, $"run-{cases}-{rows.Count}");
                var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in new[] { cli, "train", "lgmsnet-3d", "--data", data, "--train-split", train, "--val-split", validation, "--epochs", "1",
                             "--size", patch.ToString(CultureInfo.InvariantCulture), "--cache", Path.Combine(root, $"cache-{cases}"), "--output", run })
                    start.ArgumentList.Add(a);
                var clock = Stopwatch.StartNew();
                using var process = Process.Start(start)!;
                var lines = new List<string>();
                process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (lines) lines.Add(e.Data); };
                process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (lines) lines.Add(e.Data); };
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                long peak = 0;
                while (!process.WaitForExit(200))
                    if (Soak.Status(run) is { Pid: > 0 } s) peak = Math.Max(peak, Soak.Rss(s.Pid));
                process.WaitForExit();
                string summary = lines.LastOrDefault(l => l.Contains("peak memory", StringComparison.Ordinal)) ?? lines.LastOrDefault() ?? "";
                if (process.ExitCode != 0)
                {
                    Console.WriteLine(string.Join("\n", lines));
                    return 1;
                }
                rows.Add((cases, peak, summary.Trim()));
                Console.WriteLine($"{cases,4} training cases, {phase}: trainer peak RSS {peak / (1 << 20),6} MiB in {clock.Elapsed.TotalSeconds:0} s ({summary.Trim()})");
            }
            Console.WriteLine($"peak RSS with {4 * n} cases / with {n}: cache filled {(double)rows[1].Rss / rows[0].Rss:0.00}x, cache reused {(double)rows[3].Rss / rows[2].Rss:0.00}x");
            return 0;
        }
        finally
        {
            if (args.Contains("--keep")) Console.WriteLine($"kept {root}");
            else Directory.Delete(root, true);
        }
    }

    public static int Speed(string[] args)
    {
        int repeats = Int(args, "--repeats", 2), threads = Int(args, "--threads", Environment.ProcessorCount);
        torch.set_num_threads(threads);
        string root = Path.Combine(Path.GetTempPath(), $"lgms-volumes-speed-{Environment.ProcessId}");
        var descriptor = LGMSNet.Architectures.CompiledArchitectures.All.Single(a => a.Info.Matches("lgmsnet-3d"));
        try
        {
            // Brain-sized MRI at 1 mm (planned at 1 mm: no resampling); BTCV-sized CT at 0.8 x 0.8 x 2.5 mm, LPS as DICOM
            // converters store it, planned as the paper's recipe (1.5 x 1.5 x 2.0 mm, window -175..250).
            var volumes = new[]
            {
                ("brain 200x240x200 @ 1 mm", Dataset(Path.Combine(root, "brain"), 3, new[] { 200, 240, 200 }, new[] { 1.0, 1.0, 1.0 }, 14, gzip: false),
                    new PreprocessingPlan("RAS", new[] { 1.0, 1.0, 1.0 }, IntensityScheme.ZScore, "bench")),
                ("BTCV-sized CT 512x512x150 @ 0.8x0.8x2.5 mm (LPS)", Dataset(Path.Combine(root, "ct"), 3, new[] { 512, 512, 150 }, new[] { 0.8, 0.8, 2.5 }, 14, lps: true, gzip: false),
                    new PreprocessingPlan("RAS", new[] { 1.5, 1.5, 2.0 }, IntensityScheme.Parse("window:-175,250"), "bench")),
            };
            Console.WriteLine($"volumes-speed: lgmsnet-3d (random weights), 96^3 windows, 50 % overlap, {threads} thread(s), {repeats} repeat(s) interleaved");
            string only = Option(args, "--only", "");
            if (only.Length > 0) volumes = volumes.Where(v => v.Item1.StartsWith(only, StringComparison.OrdinalIgnoreCase)).ToArray();
            var engines = Option(args, "--engines", "torch,onnx").Split(',');
            foreach (var (name, data, plan) in volumes)
            {
                // Preprocessing throughput: the whole cache fill (read, reorient, normalise, resample, write) of 3 volumes.
                var dataset = new DecathlonDataset(data, 1, 14);
                var cache = new PreprocessedCache(Path.Combine(root, "cache-" + Path.GetFileName(data)), plan);
                var clock = Stopwatch.StartNew();
                cache.Prepare(dataset, (_, _) => { }, new List<(int, string)>());
                double minutes = clock.Elapsed.TotalMinutes;
                Console.WriteLine($"{name}: preprocessing {dataset.CaseIds.Count / minutes:0.0} volumes/min ({clock.Elapsed.TotalSeconds / dataset.CaseIds.Count:0.0} s each, {Environment.ProcessorCount} cores)");
            }
            manual_seed(1);
            using var network = descriptor.Create();
            network.eval();
            var onnx = engines.Contains("onnx") ? OnnxEngine.FromNetwork(network, threads) : null;
            network.FuseForInference();
            var times = new Dictionary<string, List<double>>();
            for (int r = 0; r < repeats; r++)
                foreach (var (name, data, plan) in volumes)
                    foreach (var (engine, net) in new (string, LGMSNet.Runtime.Network.SegmentationNetwork?)[] { ("torch", network), ("onnx", onnx) }.Where(e => e.Item2 != null).Select(e => (e.Item1, e.Item2!)))
                    {
                        var segmenter = Segmenter.ForNetwork(net, CPU, new[] { 96, 96, 96 }, InputConvention.Standard, plan: plan);
                        string input = Path.Combine(data, "imagesTr", "case_000.nii"), output = Path.Combine(root, $"prediction-{engine}.nii");
                        var clock = Stopwatch.StartNew();
                        var (labels, header) = segmenter.SegmentVolume(input);
                        Nifti.WriteLabels(output, labels, header);
                        double seconds = clock.Elapsed.TotalSeconds;
                        string key = $"{name}, {engine}";
                        (times.TryGetValue(key, out var list) ? list : times[key] = new List<double>()).Add(seconds);
                        Console.WriteLine($"  {key}: {seconds:0.0} s");
                    }
            foreach (var (key, list) in times) Console.WriteLine($"median {key}: {Median(list):0.0} s per volume ({list.Count} run(s))");
            return 0;
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
