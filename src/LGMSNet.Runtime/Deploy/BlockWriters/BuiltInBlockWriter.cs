using LGMSNet.Dsl.Planning;
using TorchSharp;

namespace LGMSNet.Runtime.Deploy.BlockWriters;

/// <summary>A built-in block's ONNX writer: the planned block (<typeparamref name="TPlan"/>) written with the exporter's
/// layer writers under the block's module path.</summary>
internal abstract class BuiltInBlockWriter<TPlan> : IOnnxBlockWriter where TPlan : BlockPlan
{
    public string Export(OnnxBlockContext onnx, torch.nn.Module block, string input) => Write(onnx.Writer, (TPlan)onnx.Plan, onnx.Prefix, input);

    protected abstract string Write(OnnxExporter.Writer w, TPlan plan, string o, string x);
}
