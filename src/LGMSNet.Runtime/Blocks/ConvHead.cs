using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>The 1x1 output convolution producing raw logits (no sigmoid/softmax: losses and
/// metrics apply them). Parameters <c>weight</c> and <c>bias</c> directly on this module.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class ConvHead : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;

    public ConvHead(int dims, int inChannels, int outChannels) : base(nameof(ConvHead))
    {
        // Initialise exactly as a PyTorch Conv would, then own the parameters directly.
        using var template = Primitives.Conv(dims, inChannels, outChannels, 1);
        weight = new Parameter(template.weight!.detach().clone());
        bias = new Parameter(template.bias!.detach().clone());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = ConvolutionLayout.Guard(weight, 1, x); // as every convolution: run in its layout whoever calls it
        if (ConvolutionKernels.For(weight.shape, 1) == ConvolutionKernel.Float64) return ConvolutionKernels.Float64(x, weight, bias, 1);
        return weight.dim() == 4 ? nn.functional.conv2d(x, weight, bias) : nn.functional.conv3d(x, weight, bias);
    }

    /// <summary>Puts the weight in its convolution layout now (<see cref="ConvolutionLayout.PrepareWeight(Tensor, long)"/>).</summary>
    public void PrepareLayout() => ConvolutionLayout.PrepareWeight(weight, 1);
}
