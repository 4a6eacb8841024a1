using LGMSNet.Runtime.Training;
using Xunit;

namespace LGMSNet.Runtime.Tests.Training;

/// <summary>Every metric formula on hand-made masks, including the empty-mask edge cases.</summary>
public sealed class MetricsTests
{
    private static byte[] Mask(string pattern) => pattern.Where(c => c is '0' or '1').Select(c => (byte)(c - '0')).ToArray();

    [Fact]
    public void Counts_give_the_reference_formulas()
    {
        // 4x4: target has 6 foreground pixels, prediction 5 → TP 4, FP 1, FN 2, TN 9.
        var target = Mask("1110 1110 0000 0000");
        var predicted = Mask("1100 1100 0010 0000");
        var m = BinaryMetrics.Of(predicted, target);
        Assert.Equal((4 + 1e-5) / (4 + 1 + 2 + 1e-5), m.Iou, 12);
        Assert.Equal(2 * m.Iou / (m.Iou + 1), m.Dice, 12);
        Assert.Equal(4.0 / 6, m.Sensitivity, 12);
        Assert.Equal(4.0 / 5, m.Precision, 12);
        Assert.Equal(9.0 / 10, m.Specificity, 12);
        Assert.Equal(13.0 / 16, m.Accuracy, 12);
        Assert.Equal(2 * (4.0 / 6) * (4.0 / 5) / (4.0 / 6 + 4.0 / 5 + 1e-6), m.F1, 12);
    }

    [Fact]
    public void Perfect_prediction_scores_one()
    {
        var mask = Mask("0110 0110 0000 0000");
        var m = BinaryMetrics.Of(mask, mask);
        Assert.Equal(1, m.Iou, 12);
        Assert.Equal(1, m.Dice, 12);
        Assert.Equal(1, m.Sensitivity, 12);
        Assert.Equal(1, m.Precision, 12);
        Assert.Equal(1, m.Accuracy, 12);
        Assert.Equal(1, m.F1, 5);
    }

    [Fact]
    public void Empty_target_and_empty_prediction_is_perfect_not_the_references_all_foreground_quirk()
    {
        var empty = new byte[16];
        var m = BinaryMetrics.Of(empty, empty);
        Assert.Equal(1, m.Iou, 12);
        Assert.Equal(1, m.Sensitivity);
        Assert.Equal(1, m.Precision);
        Assert.Equal(1, m.Specificity);
        Assert.Equal(1, m.Accuracy);
    }

    [Fact]
    public void False_positives_on_an_empty_target_score_zero()
    {
        var m = BinaryMetrics.Of(Mask("1000 0000 0000 0000"), new byte[16]);
        Assert.True(m.Iou < 1e-4);
        Assert.Equal(0, m.Precision);
        Assert.Equal(1, m.Sensitivity); // nothing to find, nothing missed
        Assert.True(m.F1 < 1e-5);
        Assert.Equal(15.0 / 16, m.Accuracy, 12);
        Assert.Equal(15.0 / 16, m.Specificity, 12);
    }

    [Fact]
    public void Missing_everything_scores_zero_sensitivity()
    {
        var m = BinaryMetrics.Of(new byte[16], Mask("1100 0000 0000 0000"));
        Assert.True(m.Iou < 1e-4);
        Assert.Equal(0, m.Sensitivity);
        Assert.Equal(1, m.Precision); // no positive predictions, none wrong
        Assert.True(m.F1 < 1e-5);
    }

    [Fact]
    public void Mean_averages_per_image_scores()
    {
        var a = BinaryMetrics.FromCounts(1, 0, 0, 3);
        var b = BinaryMetrics.FromCounts(0, 1, 1, 2);
        var mean = BinaryMetrics.Mean(new[] { a, b });
        Assert.Equal((a.Iou + b.Iou) / 2, mean.Iou, 12);
        Assert.Equal((a.Accuracy + b.Accuracy) / 2, mean.Accuracy, 12);
    }

    [Fact]
    public void Per_class_dice_ignores_classes_absent_from_both_and_scores_spurious_ones_zero()
    {
        // classes: 0 background, 1 present in both, 2 only predicted, 3 absent everywhere.
        byte[] target = { 0, 1, 1, 1, 0, 0 };
        byte[] predicted = { 0, 1, 1, 0, 2, 0 };
        var m = ClassMetrics.Of(predicted, target, 4);
        Assert.Equal(2.0 * 2 / (2 + 3), m.Dice[0], 12);
        Assert.Equal(2.0 / 3, m.Iou[0], 12);
        Assert.Equal(0, m.Dice[1]);
        Assert.True(double.IsNaN(m.Dice[2]));
        Assert.Equal((0.8 + 0) / 2, m.MeanDice, 12);
        var perClass = ClassMetrics.MeanPerClass(new[] { m, ClassMetrics.Of(target, target, 4) }, x => x.Dice);
        Assert.Equal((0.8 + 1) / 2, perClass[0], 12);
        Assert.Equal(0, perClass[1]);
        Assert.True(double.IsNaN(perClass[2]));
    }
}
