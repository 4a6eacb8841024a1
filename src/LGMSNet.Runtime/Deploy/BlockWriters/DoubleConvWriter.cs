using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy.BlockWriters;

/// <summary><c>conv</c> (<see cref="DoubleConv"/>) in ONNX: two conv-norm-ReLU.</summary>
internal sealed class DoubleConvWriter : BuiltInBlockWriter<DoubleConvPlan>
{
    protected override string Write(OnnxExporter.Writer w, DoubleConvPlan plan, string o, string x) => DoubleConv(w, o, x);

    private static string DoubleConv(OnnxExporter.Writer w, string o, string x)
    {
        x = w.ConvNorm(x, o + ".conv1", o + ".norm1", 3, bias: true, Activation.ReLU);
        return w.ConvNorm(x, o + ".conv2", o + ".norm2", 3, bias: true, Activation.ReLU);
    }
}
