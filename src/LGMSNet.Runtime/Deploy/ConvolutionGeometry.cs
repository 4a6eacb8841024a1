using TorchSharp;
using TorchSharp.Modules;

namespace LGMSNet.Runtime.Deploy;

/// <summary>The attributes of an ONNX <c>Conv</c> (kernel, pads, strides, dilations, group), read from a TorchSharp
/// convolution module (<see cref="Of"/>) so every written convolution computes what its module computes, or — for a
/// convolution with no module of its own, such as the built-in LMS block's merged depthwise kernels — the built-ins'
/// centred form (<see cref="Centered"/>). <see cref="Attributes"/> is the one place a <c>Conv</c> node's attributes are
/// written (<see cref="OnnxExporter.Writer.Conv(string, string, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor?, ConvolutionGeometry)"/>).
/// A module ONNX's Conv cannot represent — not a convolution, a transposed one, a padding mode other than zeros — is
/// refused by the module's key.</summary>
internal sealed record ConvolutionGeometry(long[] Kernel, long[] Pads, long[] Strides, long[] Dilations, long Groups)
{
    /// <summary>Stride 1, dilation 1 and padding k/2 on every side (the size kept for an odd kernel): the built-in
    /// blocks' convolutions (<see cref="Blocks.Primitives.Conv"/>).</summary>
    public static ConvolutionGeometry Centered(int dims, long kernel, long groups) => new(
        Enumerable.Repeat(kernel, dims).ToArray(), Enumerable.Repeat(kernel / 2, 2 * dims).ToArray(),
        Enumerable.Repeat(1L, dims).ToArray(), Enumerable.Repeat(1L, dims).ToArray(), groups);

    /// <summary>The node's attributes. Dilations are written only where one is not 1 (ONNX's default), so graphs of
    /// undilated convolutions stay as they were before dilations were read.</summary>
    public Onnx.AttributeProto[] Attributes()
    {
        var attributes = new List<Onnx.AttributeProto>
        {
            OnnxGraph.Ints("kernel_shape", Kernel), OnnxGraph.Ints("pads", Pads), OnnxGraph.Ints("strides", Strides),
        };
        if (Dilations.Any(d => d != 1)) attributes.Add(OnnxGraph.Ints("dilations", Dilations));
        attributes.Add(OnnxGraph.Int("group", Groups));
        return attributes.ToArray();
    }

    public static ConvolutionGeometry Of(TorchSharp.torch.nn.Module? module, string path, string architecture)
    {
        IO.UserErrorException Refuse(string why) =>
            new($"cannot export {architecture} to ONNX: the convolution '{path}' {why}; nothing was written", 2);

        if (module is not Convolution conv)
            throw Refuse(module is null ? "does not exist (OnnxBlockContext.Conv takes the key of a Conv1d, Conv2d or Conv3d submodule of the block)"
                : $"is a {module.GetType().Name}, not a Conv1d, Conv2d or Conv3d");
        if (conv.transposed) throw Refuse("is transposed; ONNX Conv writes forward convolutions only (write ConvTranspose with Node)");
        if (conv.padding_mode != PaddingModes.Zeros)
            throw Refuse($"pads with {conv.padding_mode.ToString().ToLowerInvariant()}; ONNX Conv pads with zeros only " +
                "(pad explicitly with Node(\"Pad\", ...) and give the convolution padding 0)");
        var kernel = conv.kernel_size;
        int axes = kernel.Length;
        if (conv.stride.Length != axes || conv.dilation.Length != axes)
            throw Refuse($"has {conv.stride.Length} strides and {conv.dilation.Length} dilations for {axes} kernel axes");
        long[] begin, end;
        if (conv.padding is { } padding)
        {
            if (padding.Length != axes) throw Refuse($"has {padding.Length} paddings for {axes} kernel axes");
            begin = padding;
            end = padding;
        }
        else if (conv.padding_type == Padding.Same)
        {
            // As TorchSharp (and PyTorch) pad for 'same': dilation·(k − 1) in all, the odd one at the end.
            var total = Enumerable.Range(0, axes).Select(i => conv.dilation[i] * (kernel[i] - 1)).ToArray();
            begin = total.Select(t => t / 2).ToArray();
            end = total.Select((t, i) => t - begin[i]).ToArray();
        }
        else
        {
            begin = new long[axes];
            end = new long[axes];
        }
        return new ConvolutionGeometry(kernel.ToArray(), begin.Concat(end).ToArray(), conv.stride.ToArray(), conv.dilation.ToArray(), conv.groups);
    }
}
