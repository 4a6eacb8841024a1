using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Deploy;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Blocks;

/// <summary>A test-only user block whose convolutions are not the built-ins' stride 1, padding k/2, dilation 1, so its
/// ONNX export (<see cref="OnnxBlockContext.Conv"/>) must read each convolution's own geometry: a grouped 3x3 with
/// dilation 2 and padding 2, an even kernel 4 with padding 'same' (asymmetric: 1 before, 2 after), and a gate from a
/// strided (2) and padded (1) 3x3 without bias. Output = same(dilated(x)) · sigmoid(mean(strided(x))).</summary>
[LgmsBlock("conv_forms", Description = "Dilated, same-padded and strided convolutions (ONNX export test).",
    Channels = BlockChannels.SameAsInput, InputDivisibleBy = ["2"])]
public sealed class ConvForms : nn.Module<Tensor, Tensor>, IOnnxBlock
{
    private readonly long[] _spatialAxes;
#pragma warning disable IDE1006 // state_dict names
    private readonly Convolution dilated;
    private readonly Convolution same;
    private readonly Convolution strided;
#pragma warning restore IDE1006

    public ConvForms(int dims, int inChannels) : base(nameof(ConvForms))
    {
        _spatialAxes = Enumerable.Range(2, dims).Select(a => (long)a).ToArray();
        if (dims == 2)
        {
            dilated = nn.Conv2d(inChannels, inChannels, 3, padding: 2, dilation: 2, groups: 2);
            same = nn.Conv2d(inChannels, inChannels, 4, padding: Padding.Same);
            strided = nn.Conv2d(inChannels, inChannels, 3, stride: 2, padding: 1, bias: false);
        }
        else
        {
            dilated = nn.Conv3d(inChannels, inChannels, 3, padding: 2, dilation: 2, groups: 2);
            same = nn.Conv3d(inChannels, inChannels, 4, padding: Padding.Same);
            strided = nn.Conv3d(inChannels, inChannels, 3, stride: 2, padding: 1, bias: false);
        }
        RegisterComponents();
    }

    /// <summary>For tests: a convolution of this block by its key.</summary>
    public Convolution this[string key] => key switch { "dilated" => dilated, "same" => same, "strided" => strided, _ => throw new ArgumentException(key) };

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gate = nn.functional.sigmoid(strided.call(x).mean(_spatialAxes, keepdim: true));
        return scope.MoveToOuter(same.call(dilated.call(x)) * gate);
    }

    public string ExportOnnx(OnnxBlockContext onnx, string input)
    {
        string gate = onnx.Node("Sigmoid", onnx.Node("GlobalAveragePool", onnx.Conv(input, "strided")));
        return onnx.Node("Mul", onnx.Conv(onnx.Conv(input, "dilated"), "same"), gate);
    }
}
