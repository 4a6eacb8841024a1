using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Tests.Support;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Deploy;

/// <summary>The ONNX export of every architecture (shipped and test-only) under ONNX Runtime against
/// TorchSharp's eval output, and of the reference 2D model against the authors' PyTorch output.</summary>
public sealed class OnnxExportTests
{
    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        // Every architecture whose blocks all have an ONNX writer (a user block without one is refused: UserBlockTests).
        foreach (var a in CliRunner.Architectures)
        {
            using var network = a.Create();
            var modules = network.named_modules().ToDictionary(m => m.name, m => m.module);
            if (Layers.Of(a.Info.Plan).OfType<OpaqueLayer>().All(l => OnnxBlockWriters.For(modules[l.Name]) != null)) data.Add(a.Info.FileStem);
        }
        return data;
    }

    /// <summary>Fresh modules have identity BatchNorm statistics and unit norm weights, under which a wrong
    /// fold still looks right: give every norm parameter and statistic values of its own.</summary>
    internal static void Randomise(SegmentationNetwork network, long seed)
    {
        using var _ = no_grad();
        using var generator = new Generator((ulong)seed);
        foreach (var (name, tensor) in network.state_dict())
        {
            if (!tensor.is_floating_point() || tensor.dim() != 1) continue;
            var noise = randn(tensor.shape, generator: generator);
            if (name.EndsWith(".running_var", StringComparison.Ordinal)) tensor.copy_(rand(tensor.shape, generator: generator).Plus(0.5));
            else if (name.EndsWith(".weight", StringComparison.Ordinal)) tensor.copy_(noise.Times(0.2).Plus(1.0));
            else tensor.copy_(noise.Times(0.2));
        }
    }

    private static int[] TestSize(ArchitectureInfo info) => info.Dims == 2
        ? new[] { info.InputMultiple[0], 2 * info.InputMultiple[1] } // not square: a swapped axis would show
        : OnnxVerifier.DefaultSize(info); // at the input multiple, a small network's deepest instance norm sees one voxel

    [Theory]
    [MemberData(nameof(All))]
    public void Export_matches_TorchSharp_eval_output(string stem)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        Randomise(network, 11);
        network.eval();
        var model = OnnxExporter.ExportBytes(network);
        var check = OnnxVerifier.Verify(network, model, TestSize(descriptor.Info), batch: 2, seed: 3);
        Assert.True(check.Passed, $"{stem}: max |Δ| {check.MaxAbsDiff:E3}, relative {check.Relative:E3} > {check.Tolerance:E1}");
        if (descriptor.Info.Dims == 2)
        {
            // Dynamic axes: the same model at another size and batch.
            var other = descriptor.Info.InputMultiple.Select(m => 2 * m).ToArray();
            var again = OnnxVerifier.Verify(network, model, other, batch: 1, seed: 4);
            Assert.True(again.Passed, $"{stem} at {string.Join("x", other)}: relative {again.Relative:E3}");
        }
    }

    [Theory]
    [InlineData("variety", 17, false)] // LMS slices as separate convolutions
    [InlineData("variety", 20, true)]  // Gelu operator
    [InlineData("lgmsnet3d-small", 20, true)]
    [InlineData("variety", 23, true)] // Attention operator
    [InlineData("lgmsnet3d-small", 23, true)]
    public void Export_options_match_TorchSharp_eval_output(string stem, int opset, bool merge)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        Randomise(network, 12);
        var model = OnnxExporter.ExportBytes(network, new OnnxExportOptions { Opset = opset, MergeLmsKernels = merge });
        var check = OnnxVerifier.Verify(network, model, TestSize(descriptor.Info), batch: 1, seed: 5);
        Assert.True(check.Passed, $"{stem} opset {opset} merge {merge}: relative {check.Relative:E3}");
    }

    [Fact]
    public void Built_in_convolutions_are_written_with_their_modules_geometry()
    {
        // The built-ins' writers pass folded weights, but each Conv node's attributes come from its module (one emitter,
        // ConvolutionGeometry): unchanged, a 3x3 is written as before (pads 1, stride 1, no dilations attribute, group 1);
        // given dilation 2 and padding 2, the written node follows and the export still computes what the network does.
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == "variety");
        using var network = descriptor.Create();
        Randomise(network, 13);
        network.eval();
        var (key, conv) = network.named_modules().Select(m => (m.name, m.module as TorchSharp.Modules.Convolution))
            .First(m => m.Item2 is { } c && c.kernel_size.All(k => k == 3) && c.groups == 1 && m.name.EndsWith(".conv", StringComparison.Ordinal));
        int dims = descriptor.Info.Dims;
        long[] Each(long value) => Enumerable.Repeat(value, dims).ToArray();
        NodeProto Node(ModelProto model) => model.Graph.Node.Single(n => n.OpType == "Conv" && n.Name.StartsWith(key + "/", StringComparison.Ordinal));
        long[] Ints(NodeProto node, string name) => node.Attribute.Single(a => a.Name == name).Ints.ToArray();

        var plain = Node(OnnxExporter.Export(network));
        Assert.Equal(new[] { "kernel_shape", "pads", "strides", "group" }, plain.Attribute.Select(a => a.Name));
        Assert.Equal(Each(3), Ints(plain, "kernel_shape"));
        Assert.Equal(Each(1).Concat(Each(1)), Ints(plain, "pads"));
        Assert.Equal(Each(1), Ints(plain, "strides"));
        Assert.Equal(1, plain.Attribute.Single(a => a.Name == "group").I);

        conv!.dilation = Each(2);
        // TorchSharp's padding has no setter; its backing field is what forward reads.
        typeof(TorchSharp.Modules.Convolution).GetField("<padding>k__BackingField", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .SetValue(conv, Each(2));
        var model = OnnxExporter.Export(network);
        var dilated = Node(model);
        Assert.Equal(Each(2), Ints(dilated, "dilations"));
        Assert.Equal(Each(2).Concat(Each(2)), Ints(dilated, "pads"));
        var check = OnnxVerifier.Verify(network, Google.Protobuf.MessageExtensions.ToByteArray(model), TestSize(descriptor.Info), batch: 1, seed: 7);
        Assert.True(check.Passed, $"{key} dilated: max |Δ| {check.MaxAbsDiff:E3}, relative {check.Relative:E3} > {check.Tolerance:E1}");
    }

    [Fact]
    public void Reference_2D_model_matches_the_authors_PyTorch_output()
    {
        using var network = new LGMSNet.Architectures.LgmsNet();
        WeightLayout.Load(network, Fixtures.Load("lgmsnet2d", "weights.safetensors"), KeyLayout.Reference);
        var model = OnnxExporter.ExportBytes(network);
        var input = Fixtures.Load("lgmsnet2d", "input.safetensors").ToTensor("input");
        using var session = OnnxEngine.Open(model, threads: 0);
        var (values, shape) = OnnxEngine.Run(session, input.contiguous().data<float>().ToArray(), input.shape);
        using var logits = LGMSNet.Runtime.Data.Tensors.FromFloats(values, shape);
        TensorAssert.MaxRelative(logits, Fixtures.Load("lgmsnet2d", "expected.safetensors").ToTensor("eval_output"), 1e-4, "ONNX eval_output");
    }

    [Fact]
    public void Metadata_carries_what_a_deploying_program_needs()
    {
        using var network = new LGMSNet.Architectures.LgmsNet();
        var model = OnnxExporter.Export(network, new OnnxExportOptions { Convention = LGMSNet.Runtime.Data.InputConvention.Authors });
        Assert.Equal(OnnxExportOptions.DefaultOpset, model.OpsetImport.Single().Version);
        Assert.Equal(23, OnnxExportOptions.DefaultOpset);
        Assert.Equal("", model.OpsetImport.Single().Domain);
        var metadata = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("LgmsNet", metadata[OnnxMetadata.Architecture]);
        Assert.Equal(network.Architecture.YamlSha256, metadata[OnnxMetadata.YamlSha256]);
        Assert.Equal("1", metadata[OnnxMetadata.Classes]);
        Assert.Equal(string.Join("x", network.Architecture.InputMultiple), metadata[OnnxMetadata.InputMultiple]);
        Assert.Equal("authors", metadata[OnnxMetadata.InputConvention]);
        Assert.Equal("bgr", metadata[OnnxMetadata.ChannelOrder]);
        Assert.Equal("0.485,0.456,0.406", metadata[OnnxMetadata.Mean]);
        Assert.Equal("0.229,0.224,0.225", metadata[OnnxMetadata.Std]);
        // Only standard operators. Every BatchNorm after a convolution is folded: BatchNormalization nodes remain
        // only for the per-channel affines that cannot fold (3 fusion outputs, 4 GMS conv-branch pointwise maps,
        // and the GroupNorm affine of the 3 LMS blocks).
        Assert.All(model.Graph.Node, n => Assert.Equal("", n.Domain));
        Assert.Equal(3 + 4 + 3, model.Graph.Node.Count(n => n.OpType == "BatchNormalization"));
        // Dynamic batch and spatial axes.
        var dims = model.Graph.Input.Single().Type.TensorType.Shape.Dim;
        Assert.Equal(new[] { "batch", "", "height", "width" }, dims.Select(d => d.DimParam));
        // One merged depthwise convolution per LMS block (kernel 9), not four.
        Assert.Equal(3, model.Graph.Node.Count(n => n.OpType == "Conv" && n.Attribute.Single(a => a.Name == "kernel_shape").Ints[0] == 9));
    }

    [Fact]
    public void Exported_file_opens_for_its_architecture_and_is_refused_for_another()
    {
        string folder = Path.Combine(Path.GetTempPath(), "lgms-onnx-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var network = CliRunner.Architectures.Single(a => a.Info.FileStem == "variety").Create();
            string path = Path.Combine(folder, "variety.onnx");
            OnnxExporter.Save(OnnxExporter.Export(network), path);
            using (var session = OnnxEngine.Open(path, network.Architecture, threads: 1))
                Assert.Equal(OnnxExporter.InputName, session.InputMetadata.Keys.Single());
            var other = CliRunner.Architectures.Single(a => a.Info.FileStem == "lgmsnet").Info;
            var error = Assert.Throws<InvalidDataException>(() => OnnxEngine.Open(path, other, threads: 1));
            Assert.Contains("is a model of Variety, not LgmsNet", error.Message);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void A_fused_network_is_refused()
    {
        using var network = CliRunner.Architectures.Single(a => a.Info.FileStem == "variety").Create();
        network.FuseForInference();
        Assert.Throws<InvalidOperationException>(() => OnnxExporter.Export(network));
    }
}
