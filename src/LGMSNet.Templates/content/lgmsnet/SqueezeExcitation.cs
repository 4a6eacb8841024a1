using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Deploy;
using TorchSharp;
using static TorchSharp.torch;

namespace LgmsNetProject;

/// <summary>Squeeze-and-excitation (Hu et al., CVPR 2018): a channel gate. The input is averaged over space, squeezed
/// by a 1x1 convolution to C/reduction channels, ReLU, expanded back to C, sigmoid, and each input channel is scaled by
/// its gate. The YAML keyword is <c>se</c>: <c>- [lms, { se: { reduction: 8 } }]</c>.</summary>
/// <remarks>An example of a block of your own (README, "Write your own block"): the attribute names the keyword and the
/// channel rule, the constructor's parameters are the options, <see cref="IBlockCost"/> states its multiply-adds and
/// <see cref="IOnnxBlock"/> its ONNX export. Fields are named as their state_dict keys (<c>squeeze.weight</c>, ...).</remarks>
[LgmsBlock("se", Description = "Squeeze-and-excitation channel gate: global average pool, 1x1 to C/reduction, ReLU, 1x1 back to C, sigmoid, scale the input.",
    Channels = BlockChannels.SameAsInput, InputDivisibleBy = ["reduction"])]
public sealed class SqueezeExcitation : nn.Module<Tensor, Tensor>, IBlockCost, IOnnxBlock
{
    private readonly long[] _spatialAxes;
    private readonly int _channels;
    private readonly int _hidden;
#pragma warning disable IDE1006 // state_dict names
    private readonly nn.Module<Tensor, Tensor> squeeze;
    private readonly nn.Module<Tensor, Tensor> excite;
#pragma warning restore IDE1006

    /// <param name="dims">2 (images) or 3 (volumes); given by the network.</param>
    /// <param name="inChannels">The channels the block sees where the YAML puts it; given by the network.</param>
    /// <param name="reduction">How much the gate's hidden layer is squeezed.</param>
    public SqueezeExcitation(int dims, int inChannels,
        [LgmsOption(Min = 1, Max = 256, Description = "Squeeze factor: the gate's hidden layer has C/reduction channels.")] int reduction = 4)
        : base(nameof(SqueezeExcitation))
    {
        _spatialAxes = Enumerable.Range(2, dims).Select(a => (long)a).ToArray();
        _channels = inChannels;
        _hidden = inChannels / reduction;
        squeeze = dims == 2 ? nn.Conv2d(inChannels, _hidden, 1) : nn.Conv3d(inChannels, _hidden, 1);
        excite = dims == 2 ? nn.Conv2d(_hidden, inChannels, 1) : nn.Conv3d(_hidden, inChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gate = x.mean(_spatialAxes, keepdim: true);
        gate = nn.functional.sigmoid(excite.call(nn.functional.relu(squeeze.call(gate))));
        return scope.MoveToOuter(x * gate);
    }

    /// <summary>The two 1x1 convolutions run once per sample (on the pooled vector), whatever the spatial size.</summary>
    public long MultiplyAdds(IReadOnlyList<long> spatialSize) => 2L * _channels * _hidden;

    /// <summary>GlobalAveragePool → Conv 1x1 → Relu → Conv 1x1 → Sigmoid → Mul with the input.</summary>
    public string ExportOnnx(OnnxBlockContext onnx, string input)
    {
        string gate = onnx.Node("GlobalAveragePool", input);
        gate = onnx.Node("Relu", onnx.Conv(gate, "squeeze"));
        gate = onnx.Node("Sigmoid", onnx.Conv(gate, "excite"));
        return onnx.Node("Mul", input, gate);
    }
}
