using System.Globalization;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Training;

/// <summary>One optimisation step, shared by the trainer and the benchmark so both measure the same thing:
/// forward (channels-last input), the recipe's loss, a finite-loss check before any weight changes,
/// backward and the optimizer step.</summary>
public static class TrainingStep
{
    public readonly record struct Failure(int Index, double Loss)
    {
        public string Describe => double.IsFinite(Loss) ? "NaN (injected)" : Loss.ToString(CultureInfo.InvariantCulture);
    }

    public static double Run(SegmentationNetwork network, Optimizer optimizer, Tensor input, Tensor target, int classes,
        Func<Failure, Exception>? onDiverged = null, int index = 0)
    {
        using var scope = NewDisposeScope();
        var loss = Losses.ForClasses(classes, network.forward(input), target);
        double value = loss.item<float>();
        if (!double.IsFinite(value) || FaultInjection.NanAtStep == optimizer.Steps + 1)
            throw onDiverged?.Invoke(new Failure(index, value)) ?? new TrainingDivergedException($"training diverged: the loss is {value}");
        optimizer.ZeroGrad();
        loss.backward();
        optimizer.Step();
        if (FaultInjection.InfiniteWeightAfterStep == optimizer.Steps)
            using (no_grad())
            {
                var element = network.parameters().First().alias();
                while (element.dim() > 0) element = element.select(0, 0);
                element.fill_(float.PositiveInfinity);
            }
        return value;
    }
}
