using LGMSNet.Runtime.Blocks;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Blocks;

/// <summary>Every convolution runs in the layout <see cref="ConvolutionLayout"/> picks, and in that layout oneDNN's float32
/// result equals float64 to float32 noise — including the shapes whose other layout is wrong or fatal on AVX-512 CPUs
/// such as this project's AMD EPYC (Zen 5): 24 input channels in NCHW, and channels-last 1×1 convolutions to 512 or
/// more channels (the 256/512 → 1024 cases that end the process with SIGFPE in channels-last run here in their chosen,
/// contiguous layout; a regression would crash this test).</summary>
public sealed class ConvolutionLayoutTests
{
    public static TheoryData<int, int, int, int, int, int> Shapes() => new()
    {
        // in, out, kernel, groups, size, batch
        { 24, 24, 3, 1, 32, 4 },
        { 24, 64, 3, 1, 2, 4 },
        { 3, 16, 3, 1, 32, 2 },
        { 48, 24, 3, 1, 16, 4 },
        { 128, 1024, 1, 1, 2, 4 },
        { 512, 1024, 1, 1, 2, 4 },
        { 512, 1024, 1, 1, 4, 4 },
        { 256, 1024, 1, 1, 16, 1 },
        { 64, 512, 1, 1, 8, 2 },
        { 24, 512, 1, 1, 8, 2 },
        { 64, 256, 1, 1, 8, 4 },
        { 128, 1024, 3, 1, 4, 2 },
        { 24, 24, 3, 24, 16, 4 },
        { 48, 48, 3, 2, 16, 4 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void A_convolution_in_its_layout_matches_float64(int inChannels, int outChannels, int kernel, int groups, int size, int batch)
    {
        manual_seed(3);
        using var scope = NewDisposeScope();
        using var conv = Primitives.Conv(2, inChannels, outChannels, kernel, groups, bias: true);
        var input = randn(batch, inChannels, size, 2 * size);
        var output = conv.call(input);
        bool channelsLast = ConvolutionLayout.IsChannelsLastConvolution(conv.weight!, groups);
        if (kernel == 1 && outChannels > ConvolutionLayout.ContiguousPointwiseAbove) Assert.False(channelsLast); // never tried: SIGFPE on Zen 5
        // Nothing prepared it: the convolution's own guard laid the weight out before running.
        Assert.True(channelsLast ? ConvolutionLayout.IsChannelsLast(conv.weight!) : conv.weight!.is_contiguous());
        var expected = nn.functional.conv2d(input.to_type(ScalarType.Float64), conv.weight!.to_type(ScalarType.Float64).contiguous(),
            conv.bias!.to_type(ScalarType.Float64), padding: new long[] { kernel / 2, kernel / 2 }, groups: groups);
        double relative = (output.to_type(ScalarType.Float64) - expected).abs().max().item<double>() / expected.abs().max().item<double>();
        Assert.True(relative < 1e-5, $"relative error {relative:E2}");
    }

    [Fact]
    public void Layouts_are_recognised_by_their_strides()
    {
        using var scope = NewDisposeScope();
        var plain = randn(2, 24, 5, 7);
        Assert.False(ConvolutionLayout.IsChannelsLast(plain));
        Assert.True(ConvolutionLayout.IsChannelsLast(ConvolutionLayout.ToChannelsLast(plain)));
        Assert.True(ConvolutionLayout.IsChannelsLast(ConvolutionLayout.ToChannelsLast(randn(new long[] { 2, 8, 3, 5, 7 }))));
        Assert.Same(plain, ConvolutionLayout.InLayout(plain, channelsLast: false));
    }
}
