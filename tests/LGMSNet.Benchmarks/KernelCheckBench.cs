using System.Globalization;
using LGMSNet.Runtime.Blocks;
using TorchSharp;

/// <summary><c>kernel-check</c>: the convolution kernel check (issue 33) on a fresh cache, as a machine's first run sees
/// it: per architecture, the network is built and its convolutions laid out unfused (training's shapes) and fused
/// (inference's shapes), and the command prints how many shapes were checked, what that cost, and per shape the exact
/// layouts, the one chosen and the two medians at the timing size.</summary>
internal static class KernelCheckBench
{
    public static int Run(string[] args)
    {
        var architectures = "lgmsnet,lgmsnet-3d".Split(',');
        int threads = 0;
        for (int i = 0; i + 1 < args.Length; i += 2)
            switch (args[i])
            {
                case "--arch": architectures = args[i + 1].Split(',', StringSplitOptions.RemoveEmptyEntries); break;
                case "--threads": threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}; usage: kernel-check [--arch lgmsnet,lgmsnet-3d] [--threads N]");
                    return 2;
            }
        LGMSNet.Runtime.TorchRuntime.EnsureLoaded();
        if (threads > 0) torch.set_num_threads(threads);
        var all = LGMSNet.Architectures.CompiledArchitectures.All;
        string folder = Directory.CreateTempSubdirectory("lgms-kernel-check-").FullName;
        try
        {
            foreach (var name in architectures)
            {
                var descriptor = all.SingleOrDefault(a => a.Info.Matches(name));
                if (descriptor == null)
                {
                    Console.Error.WriteLine($"no architecture {name}");
                    return 2;
                }
                ConvolutionKernels.CachePath = Path.Combine(folder, $"{name}.json");
                int checks = ConvolutionKernels.ChecksRun;
                double ms = ConvolutionKernels.CheckMilliseconds;
                using (var network = descriptor.Create())
                {
                    network.PrepareConvolutionLayouts();
                    network.FuseForInference();
                    network.PrepareConvolutionLayouts();
                }
                var findings = ConvolutionKernels.Findings;
                Console.WriteLine($"{name}: {ConvolutionKernels.ChecksRun - checks} shapes checked in " +
                                  $"{(ConvolutionKernels.CheckMilliseconds - ms).ToString("0", CultureInfo.InvariantCulture)} ms " +
                                  $"({torch.get_num_threads()} threads; {ConvolutionKernels.LibtorchKey}); chosen: " +
                                  string.Join(", ", findings.Values.GroupBy(f => f.Layout).OrderBy(g => g.Key).Select(g => $"{g.Count()} {g.Key}")));
                Console.WriteLine($"  {"shape",-24} {"timed at",-10} {"exact",-26} {"chosen",-14} {"channels-last (fastest / median)",33} {"contiguous (fastest / median)",30}");
                foreach (var (key, f) in findings.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    string size = f.ChannelsLast != null && ConvolutionKernels.ParseShape(key) is { } shape ? string.Join("×", ConvolutionKernels.TimingSize(shape)) : "";
                    Console.WriteLine($"  {key,-24} {size,-10} {string.Join(",", f.Exact),-26} {f.Layout,-14} {Ms(f.ChannelsLast),33} {Ms(f.Contiguous),30}");
                }
            }
        }
        finally
        {
            ConvolutionKernels.CachePath = null;
            Directory.Delete(folder, true);
        }
        return 0;
    }

    private static string Ms(ConvolutionKernels.Timing? timing) => timing == null ? "—"
        : $"{timing.FastestMs.ToString("0.000", CultureInfo.InvariantCulture)} / {timing.MedianMs.ToString("0.000", CultureInfo.InvariantCulture)} ms";
}
