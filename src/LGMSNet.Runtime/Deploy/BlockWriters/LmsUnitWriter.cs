using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy.BlockWriters;

/// <summary><c>lms</c> (<see cref="LmsUnit"/>) in ONNX: merged depthwise convolutions, GroupNorm, the bottleneck pair, the 1x1 projection.</summary>
internal sealed class LmsUnitWriter : BuiltInBlockWriter<LmsUnitPlan>
{
    protected override string Write(OnnxExporter.Writer w, LmsUnitPlan plan, string o, string x) => LmsUnit(w, plan, o, x);

    private static string LmsUnit(OnnxExporter.Writer w, LmsUnitPlan lms, string o, string x)
    {
        for (int d = 0; d < lms.Depth; d++) x = LmsBlock(w, lms, $"{o}.blocks.{d}", x);
        return w.ConvNorm(x, o + ".project", 1, bias: false, Activation.SiLU);
    }

    /// <summary>dwconv (merged, includes the first residual) → GroupNorm → GELU → reduce → expand → + x.</summary>
    private static string LmsBlock(OnnxExporter.Writer w, LmsUnitPlan lms, string o, string x)
    {
        int n = lms.Kernels.Count;
        var weights = Enumerable.Range(0, n).Select(i => w.Weight($"{o}.dwconv.{i}.weight")).ToArray();
        var biases = Enumerable.Range(0, n).Select(i => w.Weight($"{o}.dwconv.{i}.bias")).ToArray();
        string y;
        if (w.Options.MergeLmsKernels)
        {
            var (weight, bias) = MergeDepthwise(w, weights, biases, lms.Kernels.ToArray());
            y = w.Conv(x, o + ".dwconv", weight, bias, lms.Kernels.Max(), lms.InChannels);
        }
        else
        {
            long slice = lms.InChannels / n;
            var parts = w.Graph.Nodes("Split", o + ".dwconv", new[] { x, w.Graph.Int64s(Enumerable.Repeat(slice, n).ToArray()) }, n, OnnxGraph.Int("axis", 1));
            var convolved = parts.Select((p, i) => w.Conv(p, $"{o}.dwconv.{i}", weights[i], biases[i], lms.Kernels[i], slice)).ToArray();
            y = w.Graph.Node("Add", o + ".residual1", new[] { w.Graph.Node("Concat", o + ".dwconv", convolved, OnnxGraph.Int("axis", 1)), x });
        }
        y = w.Activate(w.GroupNorm(y, o + ".norm", lms.Groups), o + ".norm", Activation.GELU);
        y = w.ConvNorm(y, o + ".reduce", 1, bias: false, Activation.SiLU);
        y = w.ConvNorm(y, o + ".expand", 3, bias: false, Activation.SiLU);
        return w.Graph.Node("Add", o + ".residual2", new[] { y, x });
    }

    /// <summary>LmsBlock.FuseForInference's merge: kernels zero-padded to the largest size and centred,
    /// +1 on the centre tap for the residual, biases concatenated.</summary>
    private static (Tensor Weight, Tensor Bias) MergeDepthwise(OnnxExporter.Writer w, Tensor[] weights, Tensor[] biases, int[] kernels)
    {
        int largest = kernels.Max();
        long slice = weights[0].shape[0], channels = slice * kernels.Length;
        var shape = new List<long> { channels, 1 };
        shape.AddRange(Enumerable.Repeat((long)largest, w.Dims));
        var merged = zeros(shape.ToArray(), dtype: ScalarType.Float32);
        for (int i = 0; i < kernels.Length; i++)
        {
            int offset = (largest - kernels[i]) / 2;
            var target = merged.narrow(0, i * slice, slice);
            for (int axis = 0; axis < w.Dims; axis++) target = target.narrow(2 + axis, offset, kernels[i]);
            target.copy_(weights[i]);
        }
        var centre = merged;
        for (int axis = 0; axis < w.Dims; axis++) centre = centre.narrow(2 + axis, largest / 2, 1);
        centre.add_(SafeOps.One, SafeOps.One);
        return (merged, torch.cat(biases, 0));
    }
}
