using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy.BlockWriters;

/// <summary><c>conv</c> (<see cref="DoubleConv"/>) in ONNX: two conv-norm-ReLU.</summary>
internal sealed class DoubleConvWriter : IOnnxBlockWriter
{
    public string Export(OnnxBlockContext onnx, nn.Module block, string input)
    {
        var w = onnx.Writer;
        return DoubleConv(w, onnx.Prefix, input);
    }

    private static string DoubleConv(OnnxExporter.Writer w, string o, string x)
    {
        x = w.ConvNorm(x, o + ".conv1", o + ".norm1", 3, bias: true, Activation.ReLU);
        return w.ConvNorm(x, o + ".conv2", o + ".norm2", 3, bias: true, Activation.ReLU);
    }
}
