using System.Diagnostics;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>Kills a real training process in the middle of writing a checkpoint and checks that the
/// previous checkpoint is intact and the run resumes from it.</summary>
[Collection("cli")]
public sealed class CrashTests() : TempFolderTest("lgms-crash-")
{
    [Fact]
    public void Killing_the_process_during_a_checkpoint_write_leaves_the_previous_checkpoint_intact()
    {
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        string cli = Path.Combine(Fixtures.RepoRoot, "architectures", "bin", configuration, "net10.0", "lgmsnet.dll");
        Assert.True(File.Exists(cli), cli + " not built");
        string run = Path.Combine(Dir, "run");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { cli, "train", "lgmsnet", "--data", "synthetic", "--epochs", "3", "--batch", "4", "--size", "32",
                     "--synthetic-train", "8", "--synthetic-val", "4", "--out", run })
            start.ArgumentList.Add(arg);
        start.Environment["LGMSNET_FAULT_WRITE_PAUSE_MS"] = "4000"; // every checkpoint write pauses after its first MiB
        using var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();

        // Wait for epoch 1's checkpoint to be complete and epoch 2's write of it to be under way.
        string last = Path.Combine(run, "last.safetensors");
        var clock = Stopwatch.StartNew();
        bool sawFirst = false;
        while (clock.Elapsed < TimeSpan.FromMinutes(3) && !process.HasExited)
        {
            if (File.Exists(last)) sawFirst = true;
            if (sawFirst && Directory.GetFiles(run, ".last.safetensors.*.tmp").Length > 0) break;
            Thread.Sleep(50);
        }
        Assert.False(process.HasExited, "the process ended before the second checkpoint write");
        process.Kill(entireProcessTree: true); // the supervisor and the training process
        process.WaitForExit();
        while (LGMSNet.Runtime.Training.RunFile.Inspect(run).IsRunning && clock.Elapsed < TimeSpan.FromMinutes(4)) Thread.Sleep(50);

        // The half-written temporary file is left behind; the checkpoint itself is the complete epoch-1 file.
        Assert.NotEmpty(Directory.GetFiles(run, ".last.safetensors.*.tmp"));
        var checkpoint = SafeTensorFile.Read(last);
        Assert.Equal(1, Checkpoint.ReadProgress(checkpoint)!.EpochsDone);
        using (var network = new LGMSNet.Architectures.LgmsNet()) Checkpoint.LoadWeights(network, last);

        var (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        Assert.Equal(3, Checkpoint.ReadProgress(SafeTensorFile.Read(last))!.EpochsDone);
    }
}
