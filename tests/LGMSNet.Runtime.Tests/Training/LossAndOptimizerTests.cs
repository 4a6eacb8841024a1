using LGMSNet.Runtime.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Training;

public sealed class LossAndOptimizerTests
{
    [Fact]
    public void Cross_entropy_dice_matches_a_hand_computation()
    {
        // One sample, 2 classes, 2 pixels: logits (0, ln 3) → p1 = 0.75; (0, 0) → p1 = 0.5. Labels: 1, 0.
        using var logits = tensor(new float[] { 0, 0, MathF.Log(3), 0 }, new long[] { 1, 2, 2 });
        using var labels = tensor(new long[] { 1, 0 }, new long[] { 1, 1, 2 });
        using var loss = Losses.CrossEntropyDice(logits, labels);
        double ce = (-Math.Log(0.75) - Math.Log(0.5)) / 2;
        // class 0: p = (0.25, 0.5), y = (0, 1); class 1: p = (0.75, 0.5), y = (1, 0)
        double dice0 = 1 - 2 * 0.5 / (1 + 0.25 * 0.25 + 0.25 + 1e-6);
        double dice1 = 1 - 2 * 0.75 / (1 + 0.75 * 0.75 + 0.25 + 1e-6);
        Assert.Equal(ce + (dice0 + dice1) / 2, loss.item<float>(), 5);
    }

    [Fact]
    public void Bce_dice_of_a_perfect_confident_prediction_is_near_zero()
    {
        using var target = tensor(new float[] { 1, 0, 1, 0 }, new long[] { 1, 1, 2, 2 });
        using var logits = (target * 40 - 20).contiguous();
        using var loss = Losses.BceDice(logits, target);
        Assert.True(loss.item<float>() < 1e-5);
    }

    [Fact]
    public void Sgd_matches_pytorchs_update_rule_with_momentum_and_weight_decay()
    {
        using var parameter = new TorchSharp.Modules.Parameter(tensor(new float[] { 1, -2 }));
        using var optimizer = new Optimizer(OptimizerKind.Sgd, new[] { ("w", parameter) }, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01);
        double[] w = { 1, -2 }, buffer = { 0, 0 };
        for (int step = 0; step < 3; step++)
        {
            using (var loss = (parameter * parameter).sum()) { optimizer.ZeroGrad(); loss.backward(); }
            optimizer.Step();
            for (int i = 0; i < 2; i++)
            {
                double d = 2 * w[i] + 0.01 * w[i];
                buffer[i] = step == 0 ? d : 0.9 * buffer[i] + d;
                w[i] -= 0.1 * buffer[i];
            }
        }
        var actual = parameter.data<float>().ToArray();
        Assert.Equal(w[0], actual[0], 5);
        Assert.Equal(w[1], actual[1], 5);
        Assert.Equal(3, optimizer.Steps);
    }

    [Fact]
    public void Poly_schedule_starts_at_the_base_rate_and_reaches_zero()
    {
        var schedule = new PolySchedule(0.02, 100);
        Assert.Equal(0.02, schedule.RateAfter(0));
        Assert.Equal(0.02 * Math.Pow(0.5, 0.9), schedule.RateAfter(50), 12);
        Assert.Equal(0, schedule.RateAfter(100));
    }
}
