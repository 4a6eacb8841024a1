using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Golden;

/// <summary>The 3D code path (InstanceNorm, BatchNorm3d only in the GMS conv branch, 2x2x2 patches,
/// trilinear up-sampling, non-cubic input) against tests/fixtures/reference/lgmsnet3d-small.</summary>
public sealed class LgmsNet3DGoldenTests
{
    [Fact]
    public void Reduced_width_3d_network_has_the_reference_parameter_count()
    {
        var fixture = Fixtures.Load("lgmsnet3d-small", "golden.safetensors");
        using var network = new LgmsNet3DSmall();
        Assert.Equal(long.Parse(fixture.Metadata["parameters"]), network.parameters().Sum(p => p.numel()));
        Assert.Equal(long.Parse(fixture.Metadata["parameters"]), LgmsNet3DSmall.Info.Parameters);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Logits_match_the_reference(bool training)
    {
        var fixture = GoldenFixture.Open(Fixtures.Reference("lgmsnet3d-small", "golden.safetensors"), variant: null);
        using var network = fixture.LoadInto(new LgmsNet3DSmall());
        network.train(training);
        using var _ = no_grad();
        using var logits = network.forward(fixture.Input());
        TensorAssert.Within(training
            ? ReferenceComparison.Compare("3D train output", logits, fixture.TrainOutput()!, ReferenceComparison.TrainTolerance)
            : ReferenceComparison.Compare("3D eval output", logits, fixture.EvalOutput(), ReferenceComparison.EvalTolerance(3)));
    }

    [Fact]
    public void Full_width_3d_network_has_the_code_parameter_count_not_the_papers()
    {
        using var network = new LGMSNet.Architectures.LgmsNet3D();
        Assert.Equal(6_193_742L, network.parameters().Sum(p => p.numel()));
        Assert.Equal(6_193_742L, LGMSNet.Architectures.LgmsNet3D.Info.Parameters);
        Assert.Equal(68_635_289_088L, LGMSNet.Architectures.LgmsNet3D.Info.MultiplyAdds); // 96^3, README: 68.64 G
    }
}
