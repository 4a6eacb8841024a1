using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Interop;

/// <summary>One compared output: how far ours is from the reference's, and whether that is within tolerance.</summary>
public sealed record ComparisonRow(string Name, double MaxAbsDiff, double MaxAbsReference, double Relative, double RelativeL2, double Tolerance, bool Passed)
{
    /// <summary>A one-line account for a failed check.</summary>
    public string Describe() =>
        $"{Name}: max |Δ| = {MaxAbsDiff:E3}, max |ref| = {MaxAbsReference:E3}, |Δ|/|ref| = {Relative:E3} (tolerance {Tolerance:E1}), relative L2 {RelativeL2:E3}";
}

/// <summary>Our network against the authors' PyTorch outputs (a <see cref="GoldenFixture"/>), with the
/// tolerances of the reference README: the one engine behind <c>check-reference</c> and the golden tests.</summary>
public static class ReferenceComparison
{
    /// <summary>Eval logits: max|Δ|/max|ref| ≤ 1e-4 in 2D, 3e-4 in 3D (longer float32 reductions).</summary>
    public static double EvalTolerance(int dims) => dims == 3 ? 3e-4 : 1e-4;

    /// <summary>Every intermediate stage output in eval mode.</summary>
    public const double StageTolerance = 1e-4;

    /// <summary>Training-mode logits (batch statistics).</summary>
    public const double TrainTolerance = 3e-4;

    /// <summary>The loss of one training step, relative.</summary>
    public const double LossTolerance = 1e-5;

    /// <summary>Every check the fixture supports: eval output, each stage it holds, train output and loss.
    /// <paramref name="tolerance"/> overrides every bound; <paramref name="loss"/> is the recipe's loss (logits, target).</summary>
    public static List<ComparisonRow> Check(ArchitectureDescriptor descriptor, GoldenFixture fixture, double? tolerance, Func<Tensor, Tensor, Tensor> loss)
    {
        var rows = new List<ComparisonRow>();
        using var input = fixture.Input();

        using (var network = fixture.LoadNetwork(descriptor))
        {
            network.eval();
            using var _ = no_grad();
            var stages = network.ForwardStages(input);
            rows.Add(Compare("eval output", stages["head"], fixture.EvalOutput(), tolerance ?? EvalTolerance(descriptor.Info.Dims)));
            foreach (var stage in network.Architecture.Plan.Stages)
                if (fixture.StageOutput(stage.ReferenceName) is { } expected)
                    rows.Add(Compare($"stage {stage.Name} ({stage.ReferenceName})", stages[stage.Name], expected, tolerance ?? StageTolerance));
            foreach (var t in stages.Values) t.Dispose();
        }

        if (fixture.TrainOutput() is { } trainExpected)
        {
            using var network = fixture.LoadNetwork(descriptor);
            network.train();
            using var logits = network.forward(input);
            rows.Add(Compare("train output", logits, trainExpected, tolerance ?? TrainTolerance));
            if (fixture.Target() is { } target && fixture.Loss() is { } expectedLoss)
            {
                using var value = loss(logits, target);
                rows.Add(CompareLoss("loss", value.item<float>(), expectedLoss, tolerance ?? LossTolerance));
            }
        }
        return rows;
    }

    /// <summary>max |actual − expected| ≤ tolerance · max |expected| (the reference README's criterion).
    /// A shape difference is a user-facing error: the YAML does not match the fixture's configuration.</summary>
    public static ComparisonRow Compare(string name, Tensor actual, Tensor expected, double tolerance)
    {
        if (!actual.shape.SequenceEqual(expected.shape))
            throw new UserErrorException($"{name}: shape [{string.Join(", ", actual.shape)}] differs from the reference's [{string.Join(", ", expected.shape)}] — " +
                                         "does the architecture's YAML match the fixture's configuration?");
        using var scope = NewDisposeScope();
        var a = actual.detach().cpu().to_type(ScalarType.Float64);
        var e = expected.detach().cpu().to_type(ScalarType.Float64);
        double maxDiff = (a - e).abs().max().item<double>();
        double maxRef = e.abs().max().item<double>();
        double relL2 = (a - e).norm().item<double>() / Math.Max(e.norm().item<double>(), double.Epsilon);
        double relative = maxDiff / Math.Max(maxRef, double.Epsilon);
        return new ComparisonRow(name, maxDiff, maxRef, relative, relL2, tolerance, relative <= tolerance);
    }

    /// <summary>|actual − expected| ≤ tolerance · |expected| for a scalar such as the loss.</summary>
    public static ComparisonRow CompareLoss(string name, double actual, double expected, double tolerance)
    {
        double diff = Math.Abs(actual - expected), relative = diff / Math.Abs(expected);
        return new ComparisonRow(name, diff, Math.Abs(expected), relative, relative, tolerance, diff <= tolerance * Math.Abs(expected));
    }
}
