using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Network;

/// <summary>A forward pass sets flush-to-zero and denormals-are-zero on the thread that calls it and on every thread of
/// its libtorch (OpenMP) team, however the thread's flags were before (issue 33: fp32 speed swung 2–3× with them).</summary>
public sealed class DenormalTests
{
    /// <summary>How many of a large tensor's denormal inputs survive a multiplication by 1 (DAZ makes them 0). Large
    /// enough that libtorch splits it over its threads, so every thread of the team has to have the flag.</summary>
    private static long SurvivingDenormals()
    {
        // Made and counted through their bits (copies and integer comparisons), so only the multiplication meets the flags.
        var values = new float[1 << 20];
        Array.Fill(values, BitConverter.Int32BitsToSingle(713624)); // 1e-39f
        using var denormal = tensor(values);
        using var product = denormal.mul(SafeOps.One);
        long surviving = 0;
        foreach (float value in product.data<float>()) if (BitConverter.SingleToInt32Bits(value) != 0) surviving++;
        return surviving;
    }

    [Fact]
    public void A_forward_pass_flushes_denormals_on_its_thread_and_its_team()
    {
        Assert.True(Denormals.Flushing, "LGMSNET_DENORMALS=keep is set in the test environment");
        long before = -1, after = -1, threads = 0;
        var thread = new Thread(() =>
        {
            // Two threads at least, so the team half is exercised (libtorch's default follows physical cores).
            int previous = get_num_threads();
            set_num_threads(Math.Max(2, previous));
            threads = get_num_threads();
            Assert.True(Denormals.Set(false), "this libtorch exports no setFlushDenormal");
            Denormals.ResetThisThread();
            before = SurvivingDenormals();
            var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == "unet-narrow");
            using var network = descriptor.Create();
            network.eval();
            using (no_grad())
            using (var input = randn(1, descriptor.Info.InChannels, 32, 32))
            using (network.forward(input)) { }
            after = SurvivingDenormals();
            set_num_threads(previous);
        });
        thread.Start();
        thread.Join();
        Assert.True(threads >= 2, $"libtorch runs {threads} thread(s): the team half of this test needs 2");
        Assert.Equal(1L << 20, before);
        Assert.Equal(0, after);
    }
}
