using LGMSNet.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Network;

/// <summary>A network's first forward pass sets glibc's policy of keeping freed memory (issue 33: re-faulting and zeroing
/// every page of every 3D activation took a third of the time). glibc applies it to its main arena — the main thread's,
/// where the CLI runs; a test runs on a pool thread, so this checks that the policy was asked for and accepted (the
/// speed it buys is measured by the benchmarks, docs/benchmarks.md).</summary>
public sealed class AllocatorTests
{
    [Fact]
    public void A_forward_pass_sets_the_policy_of_keeping_freed_memory()
    {
        Assert.True(Allocator.Reusing, "LGMSNET_MALLOC=default is set in the test environment");
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == "unet-narrow");
        using (var network = descriptor.Create())
        using (no_grad())
        using (var input = randn(1, descriptor.Info.InChannels, 32, 32))
        using (network.forward(input)) { }
        Assert.True(Allocator.Applied, "glibc did not accept M_MMAP_MAX / M_TRIM_THRESHOLD");
    }
}
