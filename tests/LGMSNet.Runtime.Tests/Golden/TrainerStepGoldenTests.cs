using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Golden;

/// <summary>The reference's one-step fixture run through the path <c>train</c> takes (as Trainer.Run sets it up):
/// channels-last weights, <see cref="TrainingStep"/> (channels-last input, the recipe's loss, the finite check),
/// our <see cref="Optimizer"/> with the default 2D recipe and the schedule's first rate. The plain-network golden
/// test (<see cref="LgmsNet2DGoldenTests"/>) pins the model; this one pins what training does with it.</summary>
public sealed class TrainerStepGoldenTests
{
    private static readonly string[] Compared =
    {
        "Conv_1x1.weight", "stem.conv.0.weight", "encoder4.0.transformer.layers.0.0.to_qkv.weight",
        "Up_conv4.1.transformer.layers.0.0.to_qkv.weight",
    };

    /// <summary>Gradient tolerances of shared/reference/README.md: the head's gradient is tight, deep ones are
    /// relative-L2 3e-2 (float32 summation order through the whole network).</summary>
    private static double Tolerance(string name) => name == "Conv_1x1.weight" ? 1e-4 : 3e-2;

    [Fact]
    public void One_step_through_the_training_path_matches_the_reference_and_the_recipe_update()
    {
        var recipe = new TrainOptions();
        Assert.Equal(OptimizerKind.Sgd, recipe.Optimizer); // the 2D reference recipe this test pins

        using var network = new LGMSNet.Architectures.LgmsNet();
        WeightLayout.Load(network, Fixtures.Load("lgmsnet2d", "weights.safetensors"), KeyLayout.Reference);
        network.PrepareConvolutionLayouts();
        network.train();
        var map = WeightLayout.KeyMap(network).ToDictionary(t => t.ReferenceName, t => t.Name);
        var parameters = network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var before = Compared.ToDictionary(n => n, n => parameters[map[n]].detach().clone());

        using var optimizer = new Optimizer(recipe.Optimizer, network.named_parameters().Select(p => (p.name, p.parameter)),
            recipe.LearningRate, recipe.Momentum, recipe.WeightDecay);
        var schedule = new PolySchedule(recipe.LearningRate, TotalSteps: 1000);
        optimizer.LearningRate = schedule.Rate(1, optimizer.Steps);
        double lr = optimizer.LearningRate;

        var data = Fixtures.Load("lgmsnet2d", "input.safetensors");
        var expected = Fixtures.Load("lgmsnet2d", "expected.safetensors");
        double loss = TrainingStep.Run(network, optimizer, data.ToTensor("input"), data.ToTensor("target"), network.Architecture.Classes);

        double expectedLoss = expected.ToTensor("loss").item<float>();
        Assert.True(Math.Abs(loss - expectedLoss) <= 1e-5 * Math.Abs(expectedLoss), $"loss {loss:R} vs reference {expectedLoss:R}");
        Assert.Equal(1, optimizer.Steps);

        foreach (var name in Compared)
        {
            var parameter = parameters[map[name]];
            var referenceGrad = expected.ToTensor("grad." + name);
            TensorAssert.RelativeL2(parameter.grad!, referenceGrad, Tolerance(name), "grad " + name);

            // SGD with momentum and weight decay, first step: buffer = g + wd·w, w ← w − lr·buffer.
            using var direction = referenceGrad + recipe.WeightDecay * before[name];
            TensorAssert.RelativeL2(optimizer.State[map[name] + ".momentum_buffer"], direction, Tolerance(name), "momentum buffer " + name);
            using var change = parameter.detach() - before[name];
            TensorAssert.RelativeL2(change, -lr * direction, Tolerance(name), "update of " + name);
        }

        var buffers = network.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        foreach (var name in expected.Names.Where(n => n.StartsWith("bn_after.", StringComparison.Ordinal)))
        {
            var actual = buffers[map[name["bn_after.".Length..]]];
            using var diff = (actual - expected.ToTensor(name)).abs().max();
            Assert.True(diff.item<float>() <= 1e-6, $"{name}: max |Δ| {diff.item<float>():E3} > 1e-6");
        }
    }
}
