using System.Diagnostics;
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Training;

/// <summary>How the speed instruments time the network: one inference pass, and full training steps with the
/// trainer's own step function. Shared by <c>bench</c> and the benchmark project's <c>pytorch-compare</c>, so both
/// measure the same thing.</summary>
public static class SpeedProbe
{
    /// <summary>Order statistics of timed iterations (seconds).</summary>
    public sealed record Timing(double Median, double Min, double Max, double P10, double P90, int Samples)
    {
        /// <summary>The element at round(q·(n−1)) of the sorted samples (round half to even) for each quantile q.</summary>
        public static Timing Of(IReadOnlyList<double> seconds)
        {
            var sorted = seconds.OrderBy(s => s).ToArray();
            double At(double q) => sorted[(int)Math.Round(q * (sorted.Length - 1))];
            return new Timing(At(0.5), sorted[0], sorted[^1], At(0.1), At(0.9), sorted.Length);
        }
    }

    /// <summary>Waits for queued GPU work (a no-op on the CPU).</summary>
    public static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize();
    }

    /// <summary>Seconds of one forward pass without gradients, output disposed.</summary>
    public static double Inference(SegmentationNetwork network, Tensor input, Device device)
    {
        using var _ = no_grad();
        Synchronize(device);
        var clock = Stopwatch.StartNew();
        using (var output = network.forward(input)) Synchronize(device);
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Full training steps on a freshly built network (seed 0): forward, the recipe's loss for the architecture's
    /// classes (BCE+Dice or CE+Dice, <see cref="Losses.ForClasses"/>), backward, SGD (lr 0.01, momentum 0.9, weight decay
    /// 1e-4) — <see cref="TrainingStep.Run"/>, as the trainer runs it — on a random input and random labels; every tensor
    /// disposed each step. <paramref name="workingSets"/>: the process working set after each step.</summary>
    public static Timing TrainingSteps(ArchitectureDescriptor descriptor, Device device, int batch, int[] size, int warmup, int iterations,
        out List<long> workingSets)
    {
        var info = descriptor.Info;
        torch.manual_seed(0);
        using var network = descriptor.Create();
        network.to(device);
        network.PrepareConvolutionLayouts(); // as the trainer does
        network.train();
        using var optimizer = new Optimizer(OptimizerKind.Sgd, network.named_parameters().Select(p => (p.name, p.parameter)), 0.01);
        var shape = new long[] { batch, info.InChannels }.Concat(size.Select(s => (long)s)).ToArray();
        var targetShape = new long[] { batch, 1 }.Concat(size.Select(s => (long)s)).ToArray();
        using var input = randn(shape, device: device);
        using var target = info.Classes == 1
            ? rand(targetShape, device: device).Greater(0.7).to_type(ScalarType.Float32)
            : randint(0, info.Classes, targetShape, device: device);
        var times = new List<double>();
        workingSets = new List<long>();
        using var process = Process.GetCurrentProcess();
        for (int i = 0; i < warmup + iterations; i++)
        {
            Synchronize(device);
            var clock = Stopwatch.StartNew();
            TrainingStep.Run(network, optimizer, input, target, info.Classes);
            Synchronize(device);
            if (i >= warmup) times.Add(clock.Elapsed.TotalSeconds);
            process.Refresh();
            workingSets.Add(process.WorkingSet64);
        }
        return Timing.Of(times);
    }
}
