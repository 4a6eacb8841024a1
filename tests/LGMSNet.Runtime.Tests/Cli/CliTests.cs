using System.Text.Json;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>The command line end to end, in-process: model commands, reference checks, and tiny
/// training, evaluation and prediction runs on synthetic data and on folders made by the test.</summary>
[Collection("cli")]
public sealed class CliTests() : TempFolderTest("lgms-cli-")
{
    [Fact]
    public void Summary_json_agrees_with_the_reference_counts()
    {
        var (code, output, error) = CliRunner.Run("summary", "LGMSNET", "--json");
        Assert.True(code == 0, error);
        var json = CliRunner.Json(output);
        Assert.Equal(2_321_393, json.GetProperty("parameters").GetInt64());
        Assert.Equal(2_321_393, json.GetProperty("parameters_counted").GetInt64());
        Assert.Equal(5_005_590_528, json.GetProperty("macs").GetInt64());
        Assert.Equal(32, json.GetProperty("input_multiple").GetInt32());
        Assert.Equal(15, json.GetProperty("stages").GetArrayLength());

        (code, output, _) = CliRunner.Run("summary", "lgmsnet-3d", "--size", "64", "--json");
        Assert.Equal(0, code);
        Assert.Equal(6_193_742, CliRunner.Json(output).GetProperty("parameters").GetInt64());
    }

    [Fact]
    public void List_shows_every_compiled_architecture()
    {
        var (code, output, _) = CliRunner.Run("list");
        Assert.Equal(0, code);
        foreach (var stem in new[] { "lgmsnet", "lgmsnet-3d", "lgmsnet3d-small" }) Assert.Contains(stem, output);
    }

    [Fact]
    public void User_mistakes_get_one_clear_line_and_no_stack_trace()
    {
        var (code, _, error) = CliRunner.Run("summary", "lgmsnt");
        Assert.Equal(2, code);
        Assert.Contains("unknown architecture 'lgmsnt'; did you mean 'lgmsnet'?", error);

        (code, _, error) = CliRunner.Run("summary", "lgmsnet", "--size", "100");
        Assert.Equal(2, code);
        Assert.Contains("not a positive multiple of 32", error);

        (code, _, error) = CliRunner.Run("train", "lgmsnet", "--data", Temp("missing"), "--out", Temp("run"), "--epochs", "1");
        Assert.Equal(1, code);
        Assert.Contains("no such folder", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void Check_reference_passes_on_the_2d_folder_and_3d_single_file_and_fails_above_tolerance()
    {
        var (code, output, error) = CliRunner.Run("check-reference", "lgmsnet", "--golden", Fixtures.Reference("lgmsnet2d"), "--json");
        Assert.True(code == 0, output + error);
        var checks = CliRunner.Json(output).GetProperty("checks");
        Assert.Contains(checks.EnumerateArray(), c => c.GetProperty("name").GetString() == "stage decoder3 (Up_conv4)");
        Assert.Contains(checks.EnumerateArray(), c => c.GetProperty("name").GetString() == "loss");

        (code, output, error) = CliRunner.Run("check-reference", "lgmsnet3d-small", "--golden", Fixtures.Reference("lgmsnet3d-small", "golden.safetensors"));
        Assert.True(code == 0, output + error);
        Assert.Contains("all 2 checks within tolerance", output);

        (code, output, _) = CliRunner.Run("check-reference", "lgmsnet3d-small", "--golden", Fixtures.Reference("lgmsnet3d-small", "golden.safetensors"),
            "--tolerance", "1e-12");
        Assert.Equal(1, code);
        Assert.Contains("FAIL", output);

        // The wrong architecture for a fixture: a clear message naming the tensors, not a crash.
        (code, _, error) = CliRunner.Run("check-reference", "lgmsnet-3d", "--golden", Fixtures.Reference("lgmsnet3d-small", "golden.safetensors"));
        Assert.Equal(1, code);
        Assert.Contains("stem.conv.0.weight", error);
    }

    [Fact]
    public void Import_then_export_returns_the_reference_weights()
    {
        string ours = Temp("ours.safetensors"), back = Temp("back.safetensors");
        var (code, _, error) = CliRunner.Run("import", "lgmsnet3d-small", "--from", Fixtures.Reference("lgmsnet3d-small", "golden.safetensors"), "--out", ours);
        Assert.True(code == 0, error);
        // Imported weights remember that they expect the authors' input convention (eval/predict apply it).
        Assert.Equal(InputConvention.Authors, Checkpoint.ReadInputConvention(SafeTensorFile.Read(ours)));
        (code, _, error) = CliRunner.Run("export", "lgmsnet3d-small", "--weights", ours, "--out", back);
        Assert.True(code == 0, error);
        var original = Fixtures.Load("lgmsnet3d-small", "golden.safetensors");
        var exported = SafeTensorFile.Read(back);
        foreach (var name in original.Names.Where(n => n.StartsWith("weights.", StringComparison.Ordinal)))
            Assert.Equal(original.ReadRaw(name), exported.ReadRaw(name["weights.".Length..]));
        Assert.Equal(original.Names.Count(n => n.StartsWith("weights.", StringComparison.Ordinal)), exported.Names.Count());
    }

    [Fact]
    public void Tiny_synthetic_training_learns_and_writes_every_artifact()
    {
        string run = Temp("synthetic");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", "synthetic", "--epochs", "4", "--batch", "4", "--size", "32",
            "--synthetic-train", "24", "--synthetic-val", "8", "--out", run);
        Assert.True(code == 0, output + error);
        foreach (var file in new[] { "metrics.json", "curves.png", "overlays.png", "best.safetensors", "last.safetensors", "run.json", "command.txt", "lgmsnet.yaml" })
            Assert.True(File.Exists(Path.Combine(run, file)), file + " missing");
        var metrics = CliRunner.ReadJson(Path.Combine(run, "metrics.json"));
        var epochs = metrics.GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal(4, epochs.Count);
        Assert.True(epochs[^1].GetProperty("train_loss").GetDouble() < epochs[0].GetProperty("train_loss").GetDouble(), "training loss must decrease");
        foreach (var key in new[] { "best", "final" })
            foreach (var field in new[] { "epoch", "iou", "f1", "se", "pc", "acc", "val_loss" })
                Assert.True(metrics.GetProperty(key).TryGetProperty(field, out _), $"{key}.{field} missing");
        Assert.Equal(File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "architectures", "lgmsnet.yaml")), File.ReadAllText(Path.Combine(run, "lgmsnet.yaml")));
    }

    [Fact]
    public void Folder_dataset_trains_evaluates_and_predicts_in_the_inputs_format_and_size()
    {
        string data = TestData.ImageFolder(Temp("folder"), 12, jpegMasks: false);
        var ids = Enumerable.Range(0, 12).Select(i => $"case ({i})").ToList();
        string train = TestData.Split(Temp("train.txt"), ids.Take(8));
        string val = TestData.Split(Temp("val.txt"), ids.Skip(8).Take(2));
        string test = TestData.Split(Temp("test.txt"), ids.Skip(10));
        string run = Temp("folder-run");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", data, "--train-split", train, "--val-split", val, "--test-split", test,
            "--epochs", "2", "--batch", "4", "--size", "32", "--out", run);
        Assert.True(code == 0, output + error);
        var metrics = CliRunner.ReadJson(Path.Combine(run, "metrics.json"));
        Assert.Equal(2, metrics.GetProperty("test").GetProperty("cases").GetInt32());
        Assert.Equal(8, metrics.GetProperty("cases").GetProperty("train").GetInt32());

        // Without --val-split, validation is carved (seeded) out of the training split and recorded.
        string carved = Temp("carved-run");
        (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", data, "--train-split", train, "--test-split", test,
            "--val-fraction", "0.25", "--epochs", "1", "--batch", "4", "--size", "32", "--out", carved);
        Assert.True(code == 0, output + error);
        var split = CliRunner.ReadJson(Path.Combine(carved, "split.json"));
        Assert.Equal(6, split.GetProperty("train").GetArrayLength());
        Assert.Equal(2, split.GetProperty("val").GetArrayLength());
        Assert.Empty(split.GetProperty("train").EnumerateArray().Select(e => e.GetString()).Intersect(split.GetProperty("val").EnumerateArray().Select(e => e.GetString())));

        (code, output, error) = CliRunner.Run("eval", "lgmsnet", "--weights", Path.Combine(run, "best.safetensors"), "--data", data, "--split", test, "--json");
        Assert.True(code == 0, error);
        var evaluation = CliRunner.Json(output);
        Assert.Equal(2, evaluation.GetProperty("metrics").GetProperty("cases").GetInt32());
        Assert.Equal(new[] { 32, 32 }, evaluation.GetProperty("input_size").EnumerateArray().Select(e => e.GetInt32()));

        string masks = Temp("masks");
        (code, output, error) = CliRunner.Run("predict", "lgmsnet", "--weights", Path.Combine(run, "best.safetensors"),
            "--input", Path.Combine(data, "images"), "--output", masks);
        Assert.True(code == 0, error);
        foreach (var image in Directory.GetFiles(Path.Combine(data, "images")))
        {
            string mask = Path.Combine(masks, Path.ChangeExtension(Path.GetFileName(image), ".png")); // lossless masks, JPEG inputs too
            Assert.True(File.Exists(mask), mask);
            var (input, predicted) = (ImageCodec.Read(image), ImageCodec.Read(mask));
            Assert.Equal((input.Width, input.Height), (predicted.Width, predicted.Height));
            if (mask.EndsWith(".png", StringComparison.Ordinal)) Assert.All(ImageCodec.Gray(predicted), v => Assert.True(v is 0 or 255));
        }

        // A BMP input (readable, not encodable) gets a PNG mask of its size, named after it.
        string bmpFolder = Temp("bmp");
        Directory.CreateDirectory(bmpFolder);
        TestData.WriteBmp(Path.Combine(bmpFolder, "scan.bmp"), width: 45, height: 30);
        (code, output, error) = CliRunner.Run("predict", "lgmsnet", "--weights", Path.Combine(run, "best.safetensors"),
            "--input", bmpFolder, "--output", masks);
        Assert.True(code == 0, error);
        var bmpMask = ImageCodec.Read(Path.Combine(masks, "scan.png"));
        Assert.Equal((45, 30), (bmpMask.Width, bmpMask.Height));
        Assert.False(File.Exists(Path.Combine(masks, "scan.bmp")));
    }

    [Fact]
    public void Resumed_training_ends_exactly_like_an_uninterrupted_run()
    {
        string[] Args(string run, int epochs) => new[]
        {
            "train", "lgmsnet", "--data", "synthetic", "--epochs", epochs.ToString(), "--batch", "4", "--size", "32",
            "--synthetic-train", "12", "--synthetic-val", "4", "--seed", "5", "--out", run,
        };
        var (code, _, error) = CliRunner.Run(Args(Temp("straight"), 4));
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run(Args(Temp("interrupted"), 4).Append("--stop-after").Append("2").ToArray());
        Assert.True(code == 0, error);
        Assert.Equal(2, CliRunner.ReadJson(Path.Combine(Temp("interrupted"), "metrics.json")).GetProperty("epochs").GetArrayLength());
        (code, _, error) = CliRunner.Run("train", "--resume", Temp("interrupted"));
        Assert.True(code == 0, error);

        var straight = CliRunner.ReadJson(Path.Combine(Temp("straight"), "metrics.json")).GetProperty("epochs").EnumerateArray().ToList();
        var resumed = CliRunner.ReadJson(Path.Combine(Temp("interrupted"), "metrics.json")).GetProperty("epochs").EnumerateArray().ToList();
        Assert.Equal(4, resumed.Count);
        for (int e = 0; e < 4; e++)
            foreach (var key in new[] { "train_loss", "val_loss", "iou", "f1", "lr" })
                Assert.Equal(straight[e].GetProperty(key).GetDouble(), resumed[e].GetProperty(key).GetDouble()); // bit-identical on CPU
    }

    [Fact]
    public void A_nan_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint()
    {
        string run = Temp("nan");
        // 12 cases, batch 4: three steps per epoch; step 5 is the second step of epoch 2.
        LGMSNet.Runtime.IO.FaultInjection.NanAtStep = 5;
        try
        {
            var (code, _, error) = CliRunner.Run("train", "lgmsnet", "--data", "synthetic", "--epochs", "3", "--batch", "4", "--size", "32",
                "--synthetic-train", "12", "--synthetic-val", "4", "--out", run);
            Assert.Equal(1, code);
            Assert.Contains("training diverged", error);
            Assert.Contains("epoch 2, step 2", error);
        }
        finally
        {
            LGMSNet.Runtime.IO.FaultInjection.NanAtStep = null;
        }
        var last = SafeTensorFile.Read(Path.Combine(run, "last.safetensors"));
        Assert.Equal(1, Checkpoint.ReadProgress(last)!.EpochsDone);
        Assert.Single(CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").EnumerateArray());
    }

    [Fact]
    public void A_full_disk_at_a_checkpoint_write_names_the_file_and_keeps_the_previous_checkpoint()
    {
        string run = Temp("disk-full");
        // The second write of last.safetensors (end of epoch 2) fails after 64 KiB, as ENOSPC would.
        FaultInjection.ResetWriteCounts();
        FaultInjection.DiskFullAt = ("last.safetensors", 2);
        try
        {
            var (code, _, error) = CliRunner.Run("train", "lgmsnet", "--data", "synthetic", "--epochs", "3", "--batch", "4", "--size", "32",
                "--synthetic-train", "8", "--synthetic-val", "4", "--out", run);
            Assert.Equal(1, code);
            Assert.StartsWith("error: cannot write " + Path.GetFullPath(Path.Combine(run, "last.safetensors")), error);
            Assert.Contains("No space left on device", error);
            Assert.Contains("its previous version is unchanged", error);
            Assert.DoesNotContain("internal error", error);
        }
        finally
        {
            FaultInjection.DiskFullAt = null;
            FaultInjection.ResetWriteCounts();
        }
        // No temporary file is left; the checkpoint is the complete epoch-1 one and the metrics still parse.
        Assert.Empty(Directory.GetFiles(run, "*.tmp"));
        string last = Path.Combine(run, "last.safetensors");
        Assert.Equal(1, Checkpoint.ReadProgress(SafeTensorFile.Read(last))!.EpochsDone);
        Assert.Single(CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").EnumerateArray());

        // Once there is space again, the run continues from epoch 1 and finishes.
        var (resumed, output, resumeError) = CliRunner.Run("train", "--resume", run);
        Assert.True(resumed == 0, output + resumeError);
        Assert.Equal(3, Checkpoint.ReadProgress(SafeTensorFile.Read(last))!.EpochsDone);
    }

    [Fact]
    public void Unwritable_output_is_refused_before_training_starts()
    {
        string blocker = Temp("a-file");
        File.WriteAllText(blocker, "not a folder");
        var (code, _, error) = CliRunner.Run("train", "lgmsnet", "--epochs", "1", "--size", "32", "--synthetic-train", "4",
            "--synthetic-val", "2", "--out", Path.Combine(blocker, "run"));
        Assert.Equal(1, code);
        Assert.Contains("cannot write to the output folder", error);
    }

    [Fact]
    public void Three_d_training_on_a_decathlon_folder_and_prediction_keep_the_nifti_geometry()
    {
        string data = TestData.Decathlon(Temp("msd"), 3, new[] { 36, 40, 40 }, classes: 4);
        string run = Temp("run3d");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--batch", "2", "--size", "32",
            "--out", run);
        Assert.True(code == 0, output + error);
        var final = CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("final");
        Assert.Equal(3, final.GetProperty("per_class_dice").GetArrayLength());

        string masks = Temp("masks3d");
        (code, _, error) = CliRunner.Run("predict", "lgmsnet3d-small", "--weights", Path.Combine(run, "last.safetensors"),
            "--input", Path.Combine(data, "imagesTr"), "--output", masks);
        Assert.True(code == 0, error);
        var (inputHeader, inputVolume) = Nifti.Read(Path.Combine(data, "imagesTr", "vol_000.nii.gz"));
        var (outputHeader, labels) = Nifti.Read(Path.Combine(masks, "vol_000.nii.gz"));
        Assert.Equal(inputVolume.Size, labels.Size);
        Assert.Equal(inputHeader.Pixdim, outputHeader.Pixdim);
        Assert.Equal(inputHeader.SrowZ, outputHeader.SrowZ);
        Assert.All(labels.Data, v => Assert.True(v is >= 0 and < 4));
    }
}

[CollectionDefinition("cli", DisableParallelization = true)]
public sealed class CliCollection;

/// <summary>Undefined numbers (a baseline's loss, a class absent everywhere) must stay valid JSON for any parser.</summary>
public sealed class JsonOutputTests
{
    [Fact]
    public void Non_finite_numbers_are_written_as_null_and_read_back()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(new { loss = double.NaN, dice = new[] { 0.5, double.PositiveInfinity } }, LGMSNet.Runtime.IO.RuntimeJson.Options);
        var parsed = System.Text.Json.JsonDocument.Parse(json).RootElement;
        Assert.Equal(System.Text.Json.JsonValueKind.Null, parsed.GetProperty("loss").ValueKind);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, parsed.GetProperty("dice")[1].ValueKind);
        var back = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, double>>("{\"a\": null, \"b\": \"NaN\", \"c\": 1.5}", LGMSNet.Runtime.IO.RuntimeJson.Options)!;
        Assert.True(double.IsNaN(back["a"]) && double.IsNaN(back["b"]));
        Assert.Equal(1.5, back["c"]);
    }
}
