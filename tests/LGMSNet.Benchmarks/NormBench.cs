using System.Diagnostics;
using System.Globalization;
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>The <c>norm-kernels</c> benchmark: instance norm without gradients on the channels-last activations of a 96³
/// window of lgmsnet-3d (and contiguous ones), libtorch's batch norm (what the layer ran before) against the runtime's
/// two-pass kernel, out of place and in place, with a copy of the same tensor as the memory-speed yardstick; then a
/// conv-norm-SiLU block's norm and activation: the kernel in place followed by libtorch's <c>silu_</c>, against the kernel
/// with the SiLU in its own pass. Interleaved, medians; each result's largest difference from a float64 reference is
/// printed beside its time.</summary>
internal static class NormBench
{
    public static int Run(string[] args)
    {
        string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        int iterations = int.Parse(Option("--iterations", "15"), CultureInfo.InvariantCulture);
        int threads = int.Parse(Option("--threads", "2"), CultureInfo.InvariantCulture);
        double offset = double.Parse(Option("--mean", "3"), CultureInfo.InvariantCulture);
        LGMSNet.Runtime.TorchRuntime.EnsureLoaded();
        set_num_threads(threads);
        using var _ = no_grad();
        Console.WriteLine($"norm-kernels: instance norm without gradients, {threads} thread(s), {iterations} interleaved iterations, inputs N({offset}, 1)");
        Console.WriteLine($"{"shape",-26} {"layout",-13} {"copy ms",8} {"libtorch ms",12} {"kernel ms",10} {"in place ms",12} {"+ silu_ ms",10} {"fused ms",9}   max |error| libtorch / kernel");
        var shapes = new (long C, long Side)[] { (4, 96), (16, 96), (32, 96), (4, 48), (32, 48), (64, 24), (128, 12), (16, 256) };
        foreach (var (c, side) in shapes)
            foreach (bool channelsLast in new[] { true, false })
            {
                long[] shape = side == 256 ? new[] { 1, c, side, side } : new[] { 1, c, side, side, side };
                using var generator = new Generator(3);
                using var plain = randn(shape, generator: generator).add_(offset);
                using var x = channelsLast ? ConvolutionLayout.ToChannelsLast(plain) : plain.contiguous();
                using var reference = InstanceNormReference.Of(x);
                using var activated = nn.functional.silu(reference);
                var times = new List<double>[6];
                for (int k = 0; k < times.Length; k++) times[k] = new List<double>();
                double libtorchError = 0, kernelError = 0;
                for (int i = 0; i < iterations + 2; i++)
                {
                    var copy = Time(() => x.clone());
                    var layer = new InstanceNormLayer(c);
                    // libtorch's own batch norm on the tensor as it is (what the layer ran before the kernel; the layer's
                    // fallback now takes a contiguous copy for a few channels, see the second table).
                    var libtorch = Time(() => nn.functional.batch_norm(x, null, null, training: true, eps: layer.Eps));
                    var kernel = Time(() => layer.forward(x));
                    using var scratch = x.clone();
                    var inPlace = Time(() => InstanceNormKernel.TryNormalize(scratch, 1e-5, inPlace: true)!);
                    using var separate = x.clone();
                    var thenSilu = Time(() => InstanceNormKernel.TryNormalize(separate, 1e-5, inPlace: true)!.silu_());
                    using var together = x.clone();
                    var fused = Time(() => InstanceNormKernel.TryNormalize(together, 1e-5, inPlace: true, Activation.SiLU)!);
                    if (i >= 2)
                    {
                        times[0].Add(copy.Ms);
                        times[1].Add(libtorch.Ms);
                        times[2].Add(kernel.Ms);
                        times[3].Add(inPlace.Ms);
                        times[4].Add(thenSilu.Ms);
                        times[5].Add(fused.Ms);
                    }
                    libtorchError = Math.Max(libtorchError, InstanceNormReference.Error(libtorch.Result, reference));
                    kernelError = Math.Max(kernelError, Math.Max(InstanceNormReference.Error(kernel.Result, reference), InstanceNormReference.Error(scratch, reference)));
                    kernelError = Math.Max(kernelError, Math.Max(InstanceNormReference.Error(separate, activated), InstanceNormReference.Error(together, activated)));
                    copy.Result.Dispose();
                    libtorch.Result.Dispose();
                    kernel.Result.Dispose();
                }
                string name = string.Join("x", shape);
                Console.WriteLine($"{name,-26} {(channelsLast ? "channels-last" : "contiguous"),-13} {Median(times[0]),8:0.00} {Median(times[1]),12:0.00} {Median(times[2]),10:0.00} {Median(times[3]),12:0.00} {Median(times[4]),10:0.00} {Median(times[5]),9:0.00}   {libtorchError:0.0e+0} / {kernelError:0.0e+0}");
            }
        TrainingBatchNorm(iterations);
        return 0;
    }

    /// <summary>Training-mode batch norm, forward and backward, of channels-last [8, C, 128, 128] maps (a 2D training
    /// step's): libtorch on the channels-last tensor against the same through a contiguous copy and back, and which of the
    /// two <see cref="Primitives.TrainingBatchNorm(Tensor, Tensor?, Tensor?, Tensor?, Tensor?, double, double)"/> takes.</summary>
    private static void TrainingBatchNorm(int iterations)
    {
        Console.WriteLine();
        Console.WriteLine($"{"training batch norm",-26} {"forward + backward ms: channels-last",37} {"through a copy",15}   runtime takes");
        foreach (long c in new long[] { 2, 4, 8, 12, 16, 20, 24, 32, 64 })
        {
            using var generator = new Generator(5);
            using var plain = randn(new long[] { 8, c, 128, 128 }, generator: generator);
            using var upstream = ConvolutionLayout.ToChannelsLast(randn(new long[] { 8, c, 128, 128 }, generator: generator));
            var times = new[] { new List<double>(), new List<double>() };
            for (int i = 0; i < iterations + 2; i++)
                for (int k = 0; k < 2; k++)
                {
                    using var scope = NewDisposeScope();
                    using var grad = enable_grad();
                    var x = ConvolutionLayout.ToChannelsLast(plain).requires_grad_();
                    var weight = ones(c).requires_grad_();
                    var bias = zeros(c).requires_grad_();
                    var clock = Stopwatch.StartNew();
                    var y = Primitives.TrainingBatchNorm(x, zeros(c), ones(c), weight, bias, 0.1, 1e-5, throughContiguous: k == 1);
                    y.backward(new[] { upstream });
                    if (i >= 2) times[k].Add(clock.Elapsed.TotalMilliseconds);
                }
            using var probe = ConvolutionLayout.ToChannelsLast(plain);
            string taken = Primitives.BatchNormThroughContiguous(probe) ? "the copy" : "channels-last";
            Console.WriteLine($"{$"8x{c}x128x128",-26} {Median(times[0]),37:0.00} {Median(times[1]),15:0.00}   {taken}");
        }
    }

    private static (Tensor Result, double Ms) Time(Func<Tensor> body)
    {
        var clock = Stopwatch.StartNew();
        var result = body();
        return (result, clock.Elapsed.TotalMilliseconds);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
