using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>Resume and checkpoints (issue 14, items 9, 10, 11 and 14): what a resumed run keeps, what it
/// refuses, and that it ends bit for bit where an uninterrupted run ends.</summary>
[Collection("cli")]
public sealed class ResumeTests() : TempFolderTest("lgms-resume-")
{
    private static string[] Tiny(string run, int epochs, params string[] extra) => new[]
    {
        "train", "lgmsnet", "--data", "synthetic", "--epochs", epochs.ToString(), "--batch", "4", "--size", "32",
        "--synthetic-train", "8", "--synthetic-val", "4", "--seed", "5", "--threads", "2", "--output", run,
    }.Concat(extra).ToArray();

    private static void Succeeds((int Code, string Out, string Error) result) => Assert.True(result.Code == 0, result.Out + result.Error);

    [Fact]
    public void A_resume_before_the_first_validation_still_selects_and_saves_the_best_checkpoint()
    {
        // Epoch 1 is not validated (--val-every 3), so the best score is still "none" in its checkpoint; the session then
        // dies in epoch 2 (a NaN loss at optimizer step 3, before any weight changes) and is resumed from epoch 1.
        Succeeds(CliRunner.Run(Tiny(Temp("straight"), 3, "--val-every", "3")));
        FaultInjection.NanAtStep = 3;
        try
        {
            Assert.Equal(1, CliRunner.Run(Tiny(Temp("resumed"), 3, "--val-every", "3")).Code);
        }
        finally
        {
            FaultInjection.NanAtStep = null;
        }
        Assert.False(File.Exists(Path.Combine(Temp("resumed"), Trainer.BestCheckpoint)));
        Succeeds(CliRunner.Run("train", "--resume", Temp("resumed")));

        Assert.True(File.Exists(Path.Combine(Temp("resumed"), Trainer.BestCheckpoint)), "no best checkpoint after the resume");
        var straight = CliRunner.ReadJson(Path.Combine(Temp("straight"), "metrics.json"));
        var resumed = CliRunner.ReadJson(Path.Combine(Temp("resumed"), "metrics.json"));
        Assert.Equal(System.Text.Json.JsonValueKind.Object, resumed.GetProperty("best").ValueKind);
        Assert.Equal(straight.GetProperty("best").GetProperty("epoch").GetInt32(), resumed.GetProperty("best").GetProperty("epoch").GetInt32());
        Assert.Equal(straight.GetProperty("final").GetProperty("iou").GetDouble(), resumed.GetProperty("final").GetProperty("iou").GetDouble());
    }

    [Fact]
    public void Non_finite_weights_are_never_saved_as_the_last_good_checkpoint()
    {
        // One step per epoch; right after step 2 (the last of epoch 2) a weight becomes +∞, as a float32 overflow in
        // an update would, while that step's loss was finite. Epoch 2 must not be checkpointed.
        string run = Temp("overflow");
        FaultInjection.InfiniteWeightAfterStep = 2;
        int code;
        string error;
        try
        {
            (code, _, error) = CliRunner.Run("train", "lgmsnet", "--data", "synthetic", "--epochs", "3", "--batch", "4", "--size", "32",
                "--synthetic-train", "4", "--synthetic-val", "2", "--output", run);
        }
        finally
        {
            FaultInjection.InfiniteWeightAfterStep = null;
        }
        Assert.Equal(1, code);
        Assert.Contains("not finite after epoch 2", error);
        Assert.Contains("last good checkpoint is " + Path.Combine(run, Trainer.LastCheckpoint) + " (epoch 1)", error);
        var last = SafeTensorFile.Read(Path.Combine(run, Trainer.LastCheckpoint));
        Assert.Equal(1, Checkpoint.ReadProgress(last)!.EpochsDone);
        foreach (var entry in last.Entries.Where(e => e.DType == SafeTensorDType.F32))
            Assert.All(last.ReadFloats(entry.Name), v => Assert.True(float.IsFinite(v), entry.Name));
        Assert.Single(CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").EnumerateArray());
    }

    [Fact]
    public void An_epochs_change_on_resume_is_saved_and_other_recipe_options_are_refused_by_name()
    {
        string run = Temp("longer");
        Succeeds(CliRunner.Run(Tiny(run, 2, "--stop-after", "1")));

        // Options that would change the run are refused, naming each, before anything is touched.
        var (code, _, error) = CliRunner.Run("train", "--resume", run, "--lr", "0.1", "-b", "2", "--seed", "7");
        Assert.Equal(2, code);
        Assert.Contains("--lr", error);
        Assert.Contains("--batch", error);
        Assert.Contains("--seed", error);
        Assert.Contains("cannot change on --resume", error);

        // --epochs can change; the new count is saved, so a later plain resume keeps it.
        Succeeds(CliRunner.Run("train", "--resume", run, "--epochs", "3", "--stop-after", "2"));
        Assert.Equal(3, CliRunner.ReadJson(Path.Combine(run, "run.json")).GetProperty("epochs").GetInt32());
        Succeeds(CliRunner.Run("train", "--resume", run));
        Assert.Equal(3, CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").GetArrayLength());
        Assert.Equal(3, Checkpoint.ReadProgress(SafeTensorFile.Read(Path.Combine(run, Trainer.LastCheckpoint)))!.EpochsDone);
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adamw")]
    public void Stopped_and_resumed_training_ends_with_bit_identical_weights_and_optimizer_state(string optimizer)
    {
        // A stopped session leaves exactly what a killed one leaves behind at an epoch boundary (last.safetensors,
        // run.json, split.json); resume restores from those files only.
        Succeeds(CliRunner.Run(Tiny(Temp("straight"), 3, "--optimizer", optimizer)));
        Succeeds(CliRunner.Run(Tiny(Temp("resumed"), 3, "--optimizer", optimizer, "--stop-after", "1")));
        Succeeds(CliRunner.Run("train", "--resume", Temp("resumed")));
        Succeeds(CliRunner.Run("train", "--resume", Temp("resumed"), "--stop-after", "3")); // already finished: nothing changes

        foreach (var file in new[] { Trainer.LastCheckpoint, Trainer.BestCheckpoint })
        {
            var a = SafeTensorFile.Read(Path.Combine(Temp("straight"), file));
            var b = SafeTensorFile.Read(Path.Combine(Temp("resumed"), file));
            Assert.Equal(a.Names.OrderBy(n => n, StringComparer.Ordinal), b.Names.OrderBy(n => n, StringComparer.Ordinal));
            if (file == Trainer.LastCheckpoint)
                Assert.Contains(a.Names, n => n.StartsWith("optimizer.", StringComparison.Ordinal));
            foreach (var name in a.Names)
                Assert.True(a.ReadRaw(name).AsSpan().SequenceEqual(b.ReadRaw(name)), $"{file}: tensor {name} differs after resume");
            var (pa, pb) = (Checkpoint.ReadProgress(a)!, Checkpoint.ReadProgress(b)!);
            Assert.Equal((pa.EpochsDone, pa.OptimizerSteps, pa.LearningRate), (pb.EpochsDone, pb.OptimizerSteps, pb.LearningRate));
        }
    }
}
