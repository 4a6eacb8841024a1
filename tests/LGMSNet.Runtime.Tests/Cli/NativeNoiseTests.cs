using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>libtorch's own log lines stay out of the user's terminal: NNPACK, which libtorch would initialise (and, on a CPU
/// without AVX2 and FMA, report "Could not initialize NNPACK! Reason: Unsupported hardware." once per process) the first time
/// a convolution reaches its NNPACK check, is switched off when libtorch is loaded.</summary>
[Collection("cli")]
public sealed class NativeNoiseTests() : TempFolderTest("lgms-native-noise-")
{
    [Fact]
    public void Loading_libtorch_switches_nnpack_off()
    {
        TorchRuntime.EnsureLoaded();
        // Null would mean the packaged libtorch no longer exports the switch: the test must then be revisited, not pass.
        Assert.Equal(false, Nnpack.Enabled());
    }

    /// <summary>A training run (supervised child process and all) and an eval, as their own processes: batch 1 with a 1x1
    /// head convolution on one thread is a convolution oneDNN declines, so libtorch asks about NNPACK. Where NNPACK
    /// initialises (a CPU with AVX2 and FMA) libtorch prints nothing either way; this is the user's check on the machines
    /// where it does not.</summary>
    [Fact]
    public void Commands_print_no_nnpack_line()
    {
        string run = Temp("run");
        var (code, error) = CliProcess.RunToEnd(new Dictionary<string, string>(),
            "train", "unet", "--data", "synthetic", "--epochs", "1", "--batch", "1", "--size", "32",
            "--synthetic-train", "2", "--synthetic-val", "1", "--threads", "1", "--output", run);
        Assert.True(code == 0, error);
        Assert.DoesNotContain("NNPACK", error);
        (code, error) = CliProcess.RunToEnd(new Dictionary<string, string>(),
            "eval", "unet", "-w", Path.Combine(run, "last.safetensors"), "--data", "synthetic", "--size", "32", "--threads", "1");
        Assert.True(code == 0, error);
        Assert.DoesNotContain("NNPACK", error);
    }
}
