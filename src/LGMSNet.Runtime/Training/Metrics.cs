namespace LGMSNet.Runtime.Training;

/// <summary>Binary segmentation metrics of one image (ARCHITECTURE.md §6), from thresholded maps.
/// IoU = (TP + 1e-5)/(TP + FP + FN + 1e-5); Dice = 2·IoU/(IoU + 1); SE = TP/(TP + FN);
/// PC = TP/(TP + FP); SP = TN/(TN + FP); ACC = (TP + TN)/N; F1 = 2·SE·PC/(SE + PC + 1e-6).
/// Deviation from the reference, on purpose: the reference re-binarises the ground truth as
/// GT == max(GT), so an empty target becomes all-foreground for SE/PC/SP/ACC. We use the target as
/// it is and define 0/0 as 1 (nothing to find and nothing wrongly found), so an empty prediction on
/// an empty target scores 1 everywhere and any false positive on it scores PC = F1 = IoU = 0.</summary>
public sealed record BinaryMetrics(double Iou, double Dice, double F1, double Sensitivity, double Precision, double Specificity, double Accuracy)
{
    public static BinaryMetrics Of(ReadOnlySpan<byte> predicted, ReadOnlySpan<byte> target)
    {
        if (predicted.Length != target.Length) throw new ArgumentException("prediction and target sizes differ");
        long tp = 0, fp = 0, fn = 0, tn = 0;
        for (int i = 0; i < predicted.Length; i++)
        {
            bool p = predicted[i] != 0, t = target[i] != 0;
            if (p && t) tp++;
            else if (p) fp++;
            else if (t) fn++;
            else tn++;
        }
        return FromCounts(tp, fp, fn, tn);
    }

    public static BinaryMetrics FromCounts(long tp, long fp, long fn, long tn)
    {
        const double smooth = 1e-5;
        double iou = (tp + smooth) / (tp + fp + fn + smooth);
        double se = Ratio(tp, tp + fn), pc = Ratio(tp, tp + fp), sp = Ratio(tn, tn + fp);
        double accuracy = (double)(tp + tn) / Math.Max(1, tp + tn + fp + fn);
        return new BinaryMetrics(iou, 2 * iou / (iou + 1), 2 * se * pc / (se + pc + 1e-6), se, pc, sp, accuracy);
    }

    private static double Ratio(long numerator, long denominator) => denominator == 0 ? 1.0 : (double)numerator / denominator;

    public static BinaryMetrics Mean(IReadOnlyCollection<BinaryMetrics> all) => all.Count == 0
        ? new BinaryMetrics(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN)
        : new BinaryMetrics(all.Average(m => m.Iou), all.Average(m => m.Dice), all.Average(m => m.F1), all.Average(m => m.Sensitivity),
            all.Average(m => m.Precision), all.Average(m => m.Specificity), all.Average(m => m.Accuracy));
}

/// <summary>Multi-class metrics of one image or volume: Dice and IoU per foreground class. A class
/// absent from both target and prediction has no defined score and is left out of that case's mean
/// (as MONAI's DiceMetric with ignore_empty does); predicted but absent scores 0.</summary>
public sealed record ClassMetrics(double[] Dice, double[] Iou)
{
    public static ClassMetrics Of(ReadOnlySpan<byte> predicted, ReadOnlySpan<byte> target, int classes)
    {
        var tp = new long[classes];
        var predictedCount = new long[classes];
        var targetCount = new long[classes];
        for (int i = 0; i < predicted.Length; i++)
        {
            predictedCount[predicted[i]]++;
            targetCount[target[i]]++;
            if (predicted[i] == target[i]) tp[predicted[i]]++;
        }
        var dice = new double[classes - 1];
        var iou = new double[classes - 1];
        for (int c = 1; c < classes; c++)
        {
            long denominator = predictedCount[c] + targetCount[c];
            dice[c - 1] = denominator == 0 ? double.NaN : 2.0 * tp[c] / denominator;
            iou[c - 1] = denominator == 0 ? double.NaN : (double)tp[c] / (denominator - tp[c]);
        }
        return new ClassMetrics(dice, iou);
    }

    public double MeanDice => NanMean(Dice);

    public double MeanIou => NanMean(Iou);

    public static double NanMean(IEnumerable<double> values)
    {
        var defined = values.Where(v => !double.IsNaN(v)).ToList();
        return defined.Count == 0 ? double.NaN : defined.Average();
    }

    /// <summary>Per class: mean over cases where the class is defined.</summary>
    public static double[] MeanPerClass(IReadOnlyList<ClassMetrics> all, Func<ClassMetrics, double[]> select) =>
        all.Count == 0 ? Array.Empty<double>() : Enumerable.Range(0, select(all[0]).Length).Select(c => NanMean(all.Select(m => select(m)[c]))).ToArray();
}
