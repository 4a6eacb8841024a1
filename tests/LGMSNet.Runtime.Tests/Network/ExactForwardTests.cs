using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Network;

/// <summary>Every forward pass is exact whoever calls it (issue 33): a network whose widths are not multiples of 16
/// (UnetNarrow: 24/48/96, 3×3 convolutions — the shapes whose contiguous kernels oneDNN 3.7.1 computes wrong on this
/// project's AMD Zen 5 machines) equals its float64 self however it was built or loaded, with no preparation by the
/// caller. So that this fails on any CPU when a convolution runs in the wrong layout, not only on the faulty ones, the
/// tests inject the fault (<see cref="KernelFault"/>: every contiguous convolution wrong).</summary>
[Collection("cli")]
public sealed class ExactForwardTests() : TempFolderTest("lgms-exact-")
{
    private static readonly ArchitectureDescriptor Narrow = CliRunner.Architectures.Single(a => a.Info.FileStem == "unet-narrow");

    private static void Randomise(SegmentationNetwork network)
    {
        manual_seed(11);
        using var _ = no_grad();
        foreach (var module in network.modules().OfType<BatchNormLayer>())
        {
            module.RunningMean.copy_(randn_like(module.RunningMean) * 0.2);
            module.RunningVar.copy_(rand_like(module.RunningVar) + 0.5);
        }
        foreach (var (_, p) in network.named_parameters()) p.add_(randn_like(p) * 0.01);
    }

    /// <summary>A network with random weights and statistics, built the way <paramref name="how"/> says, never prepared.</summary>
    private SegmentationNetwork Build(string how, Dictionary<string, Tensor> values)
    {
        var network = Narrow.Create();
        switch (how)
        {
            case "constructor":
                Randomise(network);
                break;
            case "load_state_dict":
                network.load_state_dict(values);
                break;
            case "checkpoint":
                using (var source = Narrow.Create())
                {
                    source.load_state_dict(values);
                    Checkpoint.Save(Temp("weights.safetensors"), source);
                }
                Checkpoint.LoadWeights(network, Temp("weights.safetensors"));
                break;
            case "fused":
                network.load_state_dict(values);
                network.FuseForInference();
                break;
            case "replaced after a forward":
                network.load_state_dict(values);
                network.eval();
                using (no_grad()) network.forward(randn(1, 3, 16, 16)).Dispose();
                // Weights replaced in place by contiguous copies (as a user's set_, or a tool that rebuilds them): the next
                // forward pass must lay them out again.
                using (no_grad())
                    foreach (var conv in network.modules().OfType<Convolution>())
                        conv.weight!.set_(conv.weight!.contiguous());
                Assert.Contains(network.modules().OfType<Convolution>(), c => !ConvolutionLayout.IsChannelsLast(c.weight!));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(how), how, null);
        }
        network.eval();
        return network;
    }

    [Theory]
    [InlineData("constructor")]
    [InlineData("load_state_dict")]
    [InlineData("checkpoint")]
    [InlineData("fused")]
    [InlineData("replaced after a forward")]
    public void Forward_without_preparation_equals_float64(string how)
    {
        using var scope = NewDisposeScope();
        var (values, input, expected) = Float64Reference(4, 3, 32, 64);

        using var fault = new KernelFault(("contiguous", null));
        manual_seed(5);
        using var network = Build(how, values);
        Tensor actual;
        using (no_grad()) actual = network.forward(input);
        TensorAssert.MaxRelative(actual, expected, 1e-4, $"UnetNarrow built by {how}, forward without preparation");
        foreach (var conv in network.modules().OfType<Convolution>())
            Assert.True(ConvolutionLayout.IsChannelsLast(conv.weight!), "a 3x3 convolution's weight is not channels-last after a forward pass");
    }

    /// <summary>A user block that builds its convolutions with <c>nn.Conv2d</c> itself (the template's squeeze-and-excitation)
    /// gets the same guard from the network on its first forward pass.</summary>
    [Fact]
    public void A_user_blocks_own_convolutions_are_guarded_too()
    {
        using var scope = NewDisposeScope();
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == "lgmsnet-se");
        manual_seed(4);
        using var network = descriptor.Create();
        network.eval();
        using var reference = descriptor.Create();
        reference.load_state_dict(network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
        reference.eval();
        reference.to(ScalarType.Float64);
        var input = randn(2, 3, 32, 32);
        using var fault = new KernelFault(("contiguous", null));
        using var _ = no_grad();
        TensorAssert.MaxRelative(network.forward(input), reference.forward(input.to_type(ScalarType.Float64)), 1e-4, "LgmsNetSe, forward without preparation");
        var convolutions = network.modules().OfType<Convolution>().ToList();
        Assert.Contains(convolutions, c => c.GetType() == typeof(Conv2d) && c.weight!.shape[2] == 1 && c.weight!.shape[0] == 4); // SE's squeeze 16 -> 4
        Assert.All(convolutions, c => Assert.True(ConvolutionLayout.IsAttached(c), "a convolution without the layout guard"));
    }

    /// <summary><see cref="Segmenter.ForNetwork"/> around a network that nobody prepared equals float64.</summary>
    [Fact]
    public void Segmenter_for_network_is_exact()
    {
        using var scope = NewDisposeScope();
        var (values, input, expected) = Float64Reference(2, 3, 32, 32);

        using var fault = new KernelFault(("contiguous", null));
        var network = Narrow.Create();
        network.load_state_dict(values);
        network.eval();
        using var segmenter = Segmenter.ForNetwork(network, CPU, new[] { 32, 32 }, InputConvention.Standard);
        var logits = segmenter.Predictor.Logits(input.contiguous().data<float>().ToArray(), 2, 3, new[] { 32, 32 });
        TensorAssert.MaxRelative(logits, expected, 1e-4, "Segmenter.ForNetwork on an unprepared network");
    }

    /// <summary>The trainer's final evaluation loads the best checkpoint into a fresh network; it must equal that
    /// checkpoint's validation metrics recorded at its epoch (it did not, on the faulty CPUs, before the network laid out
    /// its own convolutions).</summary>
    [Fact]
    public void The_final_evaluation_equals_the_best_epochs_validation()
    {
        string data = TestData.ImageFolder(Temp("data"), 8);
        var ids = Enumerable.Range(0, 8).Select(i => $"case ({i})").ToList();
        string train = TestData.Split(Temp("train.txt"), ids.Take(5));
        string val = TestData.Split(Temp("val.txt"), ids.Skip(5));
        string run = Temp("run");
        using (new KernelFault(("contiguous", null)))
        {
            var (code, output, error) = CliRunner.Run("train", "unet-narrow", "--data", data, "--train-split", train, "--val-split", val,
                "--epochs", "2", "--batch", "4", "--size", "32", "--out", run);
            Assert.True(code == 0, output + error);
        }
        var metrics = CliRunner.ReadJson(Path.Combine(run, "metrics.json"));
        var best = metrics.GetProperty("best");
        var final = metrics.GetProperty("final");
        Assert.Equal(best.GetProperty("epoch").GetInt32(), final.GetProperty("epoch").GetInt32());
        foreach (var field in new[] { "iou", "f1", "acc", "se", "pc", "val_loss" })
            Assert.True(Math.Abs(best.GetProperty(field).GetDouble() - final.GetProperty(field).GetDouble()) <= 1e-5,
                $"{field}: best epoch {best.GetProperty(field).GetDouble()}, final evaluation {final.GetProperty(field).GetDouble()}");
    }

    /// <summary>Seeded random weights of unet-narrow, a random input of <paramref name="shape"/>, and the output of a float64
    /// copy of the network on it: the reference every exactness test compares with (tensors live in the caller's scope).</summary>
    private static (Dictionary<string, Tensor> Values, Tensor Input, Tensor Expected) Float64Reference(params long[] shape)
    {
        manual_seed(5);
        using var source = Narrow.Create();
        Randomise(source);
        var values = source.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        using var reference = Narrow.Create();
        reference.load_state_dict(values);
        reference.eval();
        reference.to(ScalarType.Float64);
        var input = randn(shape);
        using (no_grad()) return (values, input, reference.forward(input.to_type(ScalarType.Float64)));
    }
}
