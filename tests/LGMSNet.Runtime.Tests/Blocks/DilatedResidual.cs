// The README's complete example of a block of your own ("Write your own block", "The ONNX writer"): compiled by the test
// project, used by architectures/dilated.yaml (2D) and dilated3d.yaml (3D), counted and exported by ReadmeBlockExampleTests,
// which also checks that the README shows exactly the lines below this header.
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Deploy;
using TorchSharp;
using static TorchSharp.torch;

namespace MyNets;

/// <summary>A dilated residual block: k×k convolution with dilation d → BatchNorm → ReLU → 1x1 convolution → BatchNorm,
/// added to the input, → ReLU. Keeps its input channels and size.</summary>
[LgmsBlock("dilated_res", Description = "Dilated k×k conv, BatchNorm, ReLU, 1x1 conv, BatchNorm, plus the input, ReLU.",
    Channels = BlockChannels.SameAsInput)]
public sealed class DilatedResidual : nn.Module<Tensor, Tensor>, IBlockCost, IOnnxBlock
{
    private const double Eps = 1e-5;
    private readonly long _channels, _kernel;
#pragma warning disable IDE1006 // fields named as their state_dict keys: conv1.weight, norm1.running_mean, ...
    private readonly nn.Module<Tensor, Tensor> conv1, norm1, conv2, norm2;
#pragma warning restore IDE1006

    public DilatedResidual(int dims, int inChannels,
        [LgmsOption(Odd = true, Min = 1, Max = 7, Description = "Kernel size of the dilated convolution.")] int kernel = 3,
        [LgmsOption(Min = 1, Max = 8, Description = "Dilation: the kernel's taps are this far apart.")] int dilation = 2)
        : base(nameof(DilatedResidual))
    {
        (_channels, _kernel) = (inChannels, kernel);
        long padding = dilation * (kernel - 1) / 2; // keeps the size
        conv1 = dims == 2
            ? nn.Conv2d(inChannels, inChannels, kernel, padding: padding, dilation: dilation, bias: false)
            : nn.Conv3d(inChannels, inChannels, kernel, padding: padding, dilation: dilation, bias: false);
        conv2 = dims == 2 ? nn.Conv2d(inChannels, inChannels, 1, bias: false) : nn.Conv3d(inChannels, inChannels, 1, bias: false);
        norm1 = dims == 2 ? nn.BatchNorm2d(inChannels, eps: Eps) : nn.BatchNorm3d(inChannels, eps: Eps);
        norm2 = dims == 2 ? nn.BatchNorm2d(inChannels, eps: Eps) : nn.BatchNorm3d(inChannels, eps: Eps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = norm2.call(conv2.call(nn.functional.relu(norm1.call(conv1.call(x)))));
        return scope.MoveToOuter(nn.functional.relu(x + y));
    }

    /// <summary>Both convolutions run at every position of the block's level: C·C·k^dims + C·C multiply-adds each.</summary>
    public long MultiplyAdds(IReadOnlyList<long> spatialSize)
    {
        long positions = spatialSize.Aggregate(1L, (a, b) => a * b);
        long taps = (long)Math.Pow(_kernel, spatialSize.Count);
        return positions * _channels * _channels * (taps + 1);
    }

    /// <summary>Conv (dilation and padding read from conv1) → BatchNormalization → Relu → Conv → BatchNormalization → Add → Relu.</summary>
    public string ExportOnnx(OnnxBlockContext onnx, string input)
    {
        string y = onnx.Node("Relu", BatchNorm(onnx, onnx.Conv(input, "conv1"), "norm1"));
        y = BatchNorm(onnx, onnx.Conv(y, "conv2"), "norm2");
        return onnx.Node("Relu", onnx.Node("Add", input, y));
    }

    /// <summary>Eval-mode BatchNorm from the module's weight, bias and running statistics.</summary>
    private static string BatchNorm(OnnxBlockContext onnx, string x, string norm)
    {
        string Input(string name) => onnx.Constant($"{norm}.{name}", onnx.Weight($"{norm}.{name}"));
        return onnx.Node("BatchNormalization", new[] { x, Input("weight"), Input("bias"), Input("running_mean"), Input("running_var") },
            OnnxBlockContext.Float("epsilon", (float)Eps));
    }
}
