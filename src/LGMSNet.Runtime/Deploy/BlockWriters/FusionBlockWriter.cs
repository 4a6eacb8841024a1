using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy.BlockWriters;

/// <summary><c>fusion</c> (<see cref="FusionBlock"/>) in ONNX.</summary>
internal sealed class FusionBlockWriter : BuiltInBlockWriter<FusionPlan>
{
    protected override string Write(OnnxExporter.Writer w, FusionPlan plan, string o, string x) => Fusion(w, o, x);

    /// <summary>grouped 3x3 → GELU → norm1 → 1x1 → GELU → norm2 → 1x1 → GELU → norm3; with BatchNorm,
    /// norm1 and norm2 fold into the next 1x1 convolution (FusionBlock.FuseForInference).</summary>
    private static string Fusion(OnnxExporter.Writer w, string o, string x)
    {
        var w1 = w.Weight(o + ".conv1.weight");
        var w2 = w.Weight(o + ".conv2.weight");
        var w3 = w.Weight(o + ".conv3.weight");
        var b1 = w.Weight(o + ".conv1.bias");
        var b2 = w.Weight(o + ".conv2.bias");
        var b3 = w.Weight(o + ".conv3.bias");
        string y = w.Activate(w.Conv(x, o + ".conv1", w1, b1, 3, 2), o + ".conv1", Activation.GELU);
        if (w.Plan.Norm == NormKind.Batch)
        {
            (w2, b2) = w.FoldIntoNext(o + ".norm1", w2, b2);
            (w3, b3) = w.FoldIntoNext(o + ".norm2", w3, b3);
        }
        else y = w.Norm(y, o + ".norm1");
        y = w.Activate(w.Conv(y, o + ".conv2", w2, b2, 1, 1), o + ".conv2", Activation.GELU);
        if (w.Plan.Norm != NormKind.Batch) y = w.Norm(y, o + ".norm2");
        y = w.Activate(w.Conv(y, o + ".conv3", w3, b3, 1, 1), o + ".conv3", Activation.GELU);
        return w.Norm(y, o + ".norm3");
    }
}
