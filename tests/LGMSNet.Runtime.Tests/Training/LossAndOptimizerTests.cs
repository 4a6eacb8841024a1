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

    /// <summary>Several steps on parameters of several shapes (a channels-last convolution weight among them), with the
    /// rate changing between steps as the schedule changes it, equal bit for bit to PyTorch's per-tensor SGD written out
    /// here: d = g.add(p, alpha = wd); buffer = d.clone() on the first step, buffer.mul_(m).add_(d) after; p.add_(buffer,
    /// alpha = −lr) (no momentum: p.add_(d, alpha = −lr)). A parameter that stops getting a gradient after the first step
    /// (<c>unused</c>) is stepped with a zero gradient, as the zero-filled gradients of PyTorch 1.13's zero_grad() were.</summary>
    [Theory]
    [InlineData(0.9, 1e-2)]
    [InlineData(0.9, 0.0)]
    [InlineData(0.0, 1e-4)]
    public void Sgd_over_several_steps_equals_pytorchs_per_tensor_rule_bit_for_bit(double momentum, double weightDecay)
    {
        manual_seed(7);
        var weight = new TorchSharp.Modules.Parameter(LGMSNet.Runtime.Blocks.ConvolutionLayout.ToChannelsLast(randn(6, 3, 3, 3)));
        var bias = new TorchSharp.Modules.Parameter(randn(6));
        var matrix = new TorchSharp.Modules.Parameter(randn(4, 5));
        var unused = new TorchSharp.Modules.Parameter(randn(3));
        var named = new[] { ("conv.weight", weight), ("conv.bias", bias), ("linear.weight", matrix), ("unused", unused) };
        Assert.True(LGMSNet.Runtime.Blocks.ConvolutionLayout.IsChannelsLast(weight));
        using var input = randn(2, 3, 7, 7);
        using var vector = randn(5, 2);
        var reference = named.ToDictionary(n => n.Item1, n => n.Item2.detach().clone());
        var buffers = new Dictionary<string, Tensor>();
        using var optimizer = new Optimizer(OptimizerKind.Sgd, named, learningRate: 0.1, momentum: momentum, weightDecay: weightDecay);
        for (int step = 0; step < 5; step++)
        {
            optimizer.LearningRate = 0.1 * (1 - 0.15 * step);
            optimizer.ZeroGrad();
            using (var main = nn.functional.conv2d(input, weight, bias).square().mean() + matrix.matmul(vector).tanh().sum())
            using (var loss = step == 0 ? main + unused.square().sum() : main.alias())
                loss.backward();
            if (step > 0) Assert.Null(unused.grad);
            using var m = momentum.ToScalar();
            using var wd = weightDecay.ToScalar();
            using var rate = (-optimizer.LearningRate).ToScalar();
            foreach (var (name, p) in named)
            {
                Assert.True(p.eq(reference[name]).all().item<bool>(), $"{name} left the rule before step {step + 1}");
                using var _ = no_grad();
                using var g = p.grad is { } grad ? grad.clone() : zeros_like(p);
                var d = g.add(reference[name], wd);
                if (momentum != 0)
                {
                    if (buffers.TryGetValue(name, out var buffer)) buffer.mul_(m).add_(d);
                    else buffers[name] = buffer = d.clone();
                    d = buffer;
                }
                reference[name].add_(d, rate);
            }
            optimizer.Step();
            foreach (var (name, p) in named)
            {
                Assert.True(p.eq(reference[name]).all().item<bool>(), $"{name} differs from PyTorch's rule after step {step + 1}");
                if (momentum != 0)
                    Assert.True(optimizer.State[name + ".momentum_buffer"].eq(buffers[name]).all().item<bool>(), $"{name}'s momentum buffer after step {step + 1}");
            }
        }
        Assert.True(LGMSNet.Runtime.Blocks.ConvolutionLayout.IsChannelsLast(weight), "the step changed the weight's layout");
        Assert.Equal(momentum != 0 ? 4 : 0, optimizer.State.Count);
    }

    [Fact]
    public void Zero_grad_drops_the_gradients_so_the_next_backward_pass_does_not_add_onto_zeros()
    {
        using var parameter = new TorchSharp.Modules.Parameter(tensor(new float[] { 1, -2 }));
        using var optimizer = new Optimizer(OptimizerKind.Sgd, new[] { ("w", parameter) }, learningRate: 0.1);
        using (var loss = (parameter * parameter).sum()) loss.backward();
        Assert.NotNull(parameter.grad);
        optimizer.ZeroGrad();
        Assert.Null(parameter.grad);
        using (var loss = (parameter * 3).sum()) loss.backward();
        Assert.Equal(new float[] { 3, 3 }, parameter.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Poly_schedule_follows_main_py_steps_one_and_two_use_the_base_rate()
    {
        // main.py: optimizer.step(); lr = base * (1 - iter_num / max_iter) ** 0.9; iter_num += 1
        var schedule = new PolySchedule(0.02, 100);
        double Reference(long step)
        {
            double lr = 0.02;
            for (long iter = 0; iter < step - 1; iter++) lr = 0.02 * Math.Pow(1 - (double)iter / 100, 0.9);
            return lr;
        }
        for (long step = 1; step <= 100; step++)
            Assert.Equal(Reference(step), schedule.Rate(1, stepsTaken: step - 1), 12);
    }

    [Fact]
    public void Warmup_cosine_follows_pl_bolts_linear_warmup_cosine_annealing()
    {
        var schedule = new WarmupCosineSchedule(1e-4, WarmupEpochs: 5, Epochs: 25);
        Assert.Equal(0, schedule.Rate(1, 0));                     // warm-up starts at 0
        Assert.Equal(1e-4 * 2 / 4, schedule.Rate(3, 0), 15);
        Assert.Equal(1e-4, schedule.Rate(6, 0), 15);              // first epoch after warm-up: the base rate
        Assert.Equal(1e-4 * 0.5 * (1 + Math.Cos(Math.PI * 10 / 20)), schedule.Rate(16, 0), 15);
        Assert.True(schedule.Rate(25, 0) < 1e-6);
    }
}
