using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Tests.Blocks;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using Xunit;

namespace LGMSNet.Runtime.Tests.Deploy;

/// <summary>A user block's <see cref="OnnxBlockContext.Conv"/> writes each convolution as its module has it (stride,
/// padding, dilation, groups), or refuses one ONNX's Conv cannot represent by its key: the test block ConvForms
/// (Blocks/ConvForms.cs; conv-forms.yaml in 2D, conv-forms3d.yaml in 3D).</summary>
public sealed class UserConvolutionExportTests
{
    [Theory]
    [InlineData("conv-forms", new[] { 12, 20 })]
    [InlineData("conv-forms3d", new[] { 6, 8, 10 })]
    public void Dilated_same_padded_grouped_and_strided_convolutions_export_as_the_module_computes(string stem, int[] size)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        OnnxExportTests.Randomise(network, 31);
        network.eval();
        var model = OnnxExporter.Export(network);
        var check = OnnxVerifier.Verify(network, Google.Protobuf.MessageExtensions.ToByteArray(model), size, batch: 2, seed: 6);
        Assert.True(check.Passed, $"{stem}: max |Δ| {check.MaxAbsDiff:E3}, relative {check.Relative:E3} > {check.Tolerance:E1}");

        long[] Attribute(string node, string name) =>
            model.Graph.Node.Single(n => n.OpType == "Conv" && n.Name.StartsWith(node + "/", StringComparison.Ordinal))
                .Attribute.Single(a => a.Name == name).Ints.ToArray();
        int dims = size.Length;
        long[] Each(long value) => Enumerable.Repeat(value, dims).ToArray();
        Assert.Equal(Each(2), Attribute("encoder1.1.dilated", "dilations"));
        Assert.Equal(Each(2).Concat(Each(2)), Attribute("encoder1.1.dilated", "pads"));
        Assert.Equal(Each(1).Concat(Each(2)), Attribute("encoder1.1.same", "pads")); // kernel 4, 'same': 1 before, 2 after
        Assert.Equal(Each(2), Attribute("encoder1.1.strided", "strides"));
        Assert.Equal(Each(1).Concat(Each(1)), Attribute("encoder1.1.strided", "pads"));
        long Group(string node) =>
            model.Graph.Node.Single(n => n.OpType == "Conv" && n.Name.StartsWith(node + "/", StringComparison.Ordinal))
                .Attribute.Single(a => a.Name == "group").I;
        Assert.Equal(2, Group("encoder1.1.dilated")); // groups: 2
        Assert.Equal(1, Group("encoder1.1.same"));
        Assert.Equal(1, Group("encoder1.1.strided"));
    }

    [Fact]
    public void A_convolution_that_pads_with_anything_but_zeros_is_refused_by_its_key()
    {
        using var network = CliRunner.Architectures.Single(a => a.Info.FileStem == "conv-forms").Create();
        var block = (ConvForms)network.named_modules().Single(m => m.name == "decoder1.1").module;
        block["same"].padding_mode = PaddingModes.Reflect;
        var error = Assert.Throws<IO.UserErrorException>(() => OnnxExporter.Export(network));
        Assert.Equal("cannot export ConvFormsNet to ONNX: the convolution 'decoder1.1.same' pads with reflect; ONNX Conv pads with zeros only " +
            "(pad explicitly with Node(\"Pad\", ...) and give the convolution padding 0); nothing was written", error.Message);
    }
}
