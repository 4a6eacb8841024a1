using LGMSNet.Runtime.Blocks;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Blocks;

/// <summary>Training-mode batch norm of a channels-last tensor (<see cref="Primitives.TrainingBatchNorm"/>): where it goes
/// through a contiguous copy (fewer than 16 channels, or not a multiple of 8) it gives libtorch's own values, gradients
/// and running statistics, and a channels-last result, as where it does not.</summary>
public sealed class TrainingBatchNormTests
{
    [Theory]
    [InlineData(2, 4L, true)]
    [InlineData(2, 12L, true)]
    [InlineData(2, 24L, false)]
    [InlineData(2, 1L, false)] // one channel: channels-last and contiguous at once, no copy
    [InlineData(3, 4L, true)]
    [InlineData(3, 20L, true)]
    [InlineData(3, 16L, false)]
    public void Matches_libtorchs_channels_last_batch_norm_in_values_gradients_and_running_statistics(int dims, long channels, bool throughCopy)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var shape = new[] { 3L, channels }.Concat(Enumerable.Repeat(dims == 2 ? 24L : 10L, dims)).ToArray();
        var plain = randn(shape, generator: generator).mul_(2).add_(1);
        var upstream = randn(shape, generator: generator);
        Assert.Equal(throughCopy, Primitives.BatchNormThroughContiguous(ConvolutionLayout.ToChannelsLast(plain)));
        var ours = Run(plain, upstream, channels, (x, mean, variance, weight, bias) =>
            Primitives.TrainingBatchNorm(x, mean, variance, weight, bias, 0.1, 1e-5));
        var libtorch = Run(plain, upstream, channels, (x, mean, variance, weight, bias) =>
            nn.functional.batch_norm(x, mean, variance, weight, bias, training: true, 0.1, 1e-5));
        // (One channel: both layouts are the same memory, and libtorch's strides for it are its own choice.)
        if (channels > 1) Assert.True(ours.ChannelsLast, "the result is not channels-last");
        for (int i = 0; i < ours.Tensors.Length; i++)
        {
            // Relative to the largest value: a gradient of a weight is a sum over every position, added in another order.
            double difference = (ours.Tensors[i] - libtorch.Tensors[i]).abs().max().item<float>();
            double scale = Math.Max(1, libtorch.Tensors[i].abs().max().item<float>());
            Assert.True(difference <= 2e-6 * scale, $"{Names[i]} differs from libtorch's by {difference:E2} (largest value {scale:G4})");
        }
    }

    private static readonly string[] Names = { "output", "input gradient", "weight gradient", "bias gradient", "running mean", "running variance" };

    private static (Tensor[] Tensors, bool ChannelsLast) Run(Tensor plain, Tensor upstream, long channels, Func<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> norm)
    {
        var x = ConvolutionLayout.ToChannelsLast(plain).requires_grad_();
        var weight = linspace(0.5, 1.5, channels).requires_grad_();
        var bias = linspace(-1, 1, channels).requires_grad_();
        var mean = zeros(channels);
        var variance = ones(channels);
        var y = norm(x, mean, variance, weight, bias);
        y.backward(new[] { upstream });
        return (new[] { y.detach(), x.grad!, weight.grad!, bias.grad!, mean, variance }, ConvolutionLayout.IsChannelsLast(y));
    }
}
