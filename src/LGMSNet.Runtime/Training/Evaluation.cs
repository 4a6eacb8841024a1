using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Inference;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Training;

/// <summary>Mean metrics over a set of cases (each case scored on its own, then averaged, as the
/// reference's validation loop with batch size 1 does). Every metric except the loss is computed on the
/// prediction at the case's original mask resolution (2D images are resized for the network; the logits
/// are resized back bilinearly before thresholding, as predict does). <see cref="Hd95"/> and
/// <see cref="Nsd"/> are in physical units (<see cref="SurfaceMetrics"/>; NaN for the constant baselines).</summary>
public sealed record EvaluationResult(
    int Cases, double Loss, double Iou, double Dice, double F1, double Sensitivity, double Precision, double Specificity, double Accuracy,
    double[]? PerClassDice, double[]? PerClassIou, double Hd95 = double.NaN, double Nsd = double.NaN)
{
    /// <summary>Each case's own IoU and Dice (binary: of the foreground; multi-class: mean over foreground classes), in
    /// evaluation order; null for the constant baselines.</summary>
    public IReadOnlyList<CaseScore>? PerCase { get; init; }

    /// <summary>The number model selection maximises: IoU for binary tasks, mean foreground Dice otherwise.</summary>
    public double Score => PerClassDice is null ? Iou : Dice;
}

/// <summary>One case's scores (see <see cref="EvaluationResult.PerCase"/>).</summary>
public sealed record CaseScore(string Id, double Iou, double Dice)
{
    /// <summary>The case's HD95 and NSD (physical units; multi-class: mean over the classes present).</summary>
    public double Hd95 { get; init; } = double.NaN;

    public double Nsd { get; init; } = double.NaN;
}

/// <summary>Scores predictions against labels; also the trivial baselines (predict nothing / everything).</summary>
public static class Evaluation
{
    public static EvaluationResult Evaluate(Predictor predictor, IReadOnlyList<CaseData> cases, int classes, int batchSize,
        Action<int>? progress = null, Action<CaseData, byte[]>? onPrediction = null, CancellationToken cancel = default)
    {
        var binary = new List<BinaryMetrics>();
        var perClass = new List<ClassMetrics>();
        var surface = new List<SurfaceMetrics>();
        var perCase = new List<CaseScore>();
        double lossSum = 0;
        int done = 0;
        bool volumes = cases.Count > 0 && cases[0].Image.Size.Length == 3;
        for (int first = 0; first < cases.Count; first += volumes ? 1 : batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var group = cases.Skip(first).Take(volumes ? 1 : batchSize).ToList();
            using var scope = NewDisposeScope();
            Tensor logits;
            if (volumes)
            {
                logits = predictor.SlidingWindow(group[0].Image).unsqueeze(0);
            }
            else
            {
                var batch = Augment.Collate(group.Select(c => Augment.Transform2D(c, 0, false, false)).ToList(), group[0].Image.Channels, group[0].Image.Size);
                logits = predictor.Logits(batch.Images, batch.Count, batch.Channels, batch.Size);
            }
            for (int i = 0; i < group.Count; i++)
            {
                var label = group[i].Label ?? throw new DataException($"case '{group[i].Id}' has no label to evaluate against");
                var caseLogits = logits[i];
                var predicted = Predictor.Labels(caseLogits);
                onPrediction?.Invoke(group[i], predicted);
                using (var target = LabelTensor(label, classes))
                using (var loss = Losses.ForClasses(classes, caseLogits.unsqueeze(0), target.unsqueeze(0)))
                    lossSum += loss.item<float>();
                var (scored, truth) = AtOriginalResolution(group[i], caseLogits, predicted, label);
                var spacing = group[i].Source?.Spacing ?? Enumerable.Repeat(1.0, truth.Size.Length).ToArray();
                if (classes == 1)
                {
                    binary.Add(BinaryMetrics.Of(scored, truth.Data));
                    surface.Add(SurfaceMetrics.Of(scored, truth.Data, truth.Size, spacing));
                    perCase.Add(new CaseScore(group[i].Id, binary[^1].Iou, binary[^1].Dice) { Hd95 = surface[^1].Hd95, Nsd = surface[^1].Nsd });
                }
                else
                {
                    perClass.Add(ClassMetrics.Of(scored, truth.Data, classes));
                    surface.Add(SurfaceMetrics.OfClasses(scored, truth.Data, classes, truth.Size, spacing));
                    perCase.Add(new CaseScore(group[i].Id, perClass[^1].MeanIou, perClass[^1].MeanDice) { Hd95 = surface[^1].Hd95, Nsd = surface[^1].Nsd });
                }
                done++;
            }
            progress?.Invoke(done);
        }
        var meanSurface = SurfaceMetrics.Mean(surface);
        return Summarise(done, lossSum / Math.Max(1, done), binary, perClass) with { Hd95 = meanSurface.Hd95, Nsd = meanSurface.Nsd, PerCase = perCase };
    }

    /// <summary>The prediction and the mask at the case's original resolution: when the case was resized for
    /// the network, its logits are resized back (bilinear) and thresholded there; when a preprocessing plan reoriented
    /// and resampled it, its probabilities go back to the stored grid (<see cref="Data.Geometry.GridMapping.Labels"/>).</summary>
    private static (byte[] Predicted, LabelMap Target) AtOriginalResolution(CaseData data, Tensor logits, byte[] predicted, LabelMap label)
    {
        if (data.Source is { Mapping: { } mapping, OriginalLabel: { } stored }) return (mapping.Labels(logits), stored);
        if (data.Source?.OriginalLabel is not { } original || original.Size.SequenceEqual(label.Size)) return (predicted, label);
        using var scope = NewDisposeScope();
        var size = original.Size.Select(s => (long)s).ToArray();
        var resized = nn.functional.interpolate(logits.unsqueeze(0), size,
            mode: size.Length == 2 ? InterpolationMode.Bilinear : InterpolationMode.Trilinear, align_corners: false)[0];
        return (Predictor.Labels(resized), original);
    }

    /// <summary>Metrics of constant predictions: all background and all foreground (class 1).</summary>
    public static (EvaluationResult Empty, EvaluationResult Full) Baselines(IReadOnlyList<CaseData> cases, int classes)
    {
        EvaluationResult Constant(byte value)
        {
            var binary = new List<BinaryMetrics>();
            var perClass = new List<ClassMetrics>();
            foreach (var c in cases)
            {
                var label = (c.Source?.OriginalLabel ?? c.Label!).Data;
                var predicted = new byte[label.Length];
                Array.Fill(predicted, value);
                if (classes == 1) binary.Add(BinaryMetrics.Of(predicted, label));
                else perClass.Add(ClassMetrics.Of(predicted, label, classes));
            }
            return Summarise(cases.Count, double.NaN, binary, perClass);
        }
        return (Constant(0), Constant(1));
    }

    public static Tensor LabelTensor(LabelMap label, int classes)
    {
        var shape = new long[] { 1 }.Concat(label.Size.Select(s => (long)s)).ToArray();
        return classes == 1
            ? tensor(label.Data.Select(v => (float)v).ToArray(), shape)
            : tensor(label.Data.Select(v => (long)v).ToArray(), shape);
    }

    private static EvaluationResult Summarise(int cases, double loss, List<BinaryMetrics> binary, List<ClassMetrics> perClass)
    {
        if (binary.Count > 0 || perClass.Count == 0)
        {
            var m = BinaryMetrics.Mean(binary);
            return new EvaluationResult(cases, loss, m.Iou, m.Dice, m.F1, m.Sensitivity, m.Precision, m.Specificity, m.Accuracy, null, null);
        }
        var dice = ClassMetrics.MeanPerClass(perClass, m => m.Dice);
        var iou = ClassMetrics.MeanPerClass(perClass, m => m.Iou);
        double meanDice = ClassMetrics.NanMean(perClass.Select(m => m.MeanDice));
        return new EvaluationResult(cases, loss, ClassMetrics.NanMean(perClass.Select(m => m.MeanIou)), meanDice, meanDice,
            double.NaN, double.NaN, double.NaN, double.NaN, dice, iou);
    }
}
