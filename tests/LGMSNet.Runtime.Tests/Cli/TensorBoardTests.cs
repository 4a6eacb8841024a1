using System.Text;
using System.Text.Json;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using SkiaSharp;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>TensorBoard event files (issue 35), read back with a reader of the tests' own (<see cref="EventFileReader"/>):
/// every epoch's numbers exactly once and equal to metrics.json across a SIGTERM and a resume, decodable overlay images,
/// the architecture and its final metrics as HParams, one HParams entry per run of a sweep, and a folder that cannot be
/// written costing one warning, never the run.</summary>
[Collection("cli")]
public sealed class TensorBoardTests() : TempFolderTest("lgms-tensorboard-")
{
    /// <summary>Two optimizer steps per epoch; fold 0 of 2, so the synthetic validation cases are a test split.</summary>
    private static string[] Tiny(string run, string arch = "lgmsnet", int epochs = 3, params string[] extra) => new[]
    {
        "train", arch, "--data", "synthetic", "--epochs", epochs.ToString(), "--batch", "4", "--size", "32",
        "--synthetic-train", "8", "--synthetic-val", "4", "--seed", "5", "--threads", "2", "--output", run, "--folds", "2", "--fold", "0",
    }.Concat(extra).ToArray();

    private static int EpochsRecorded(string run)
    {
        try
        {
            return File.Exists(RunFile.PathOf(run)) && CliRunner.ReadJson(RunFile.PathOf(run)).TryGetProperty("status", out var s) ? s.GetProperty("epochs_done").GetInt32() : 0;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return 0;
        }
    }

    private static IEnumerable<(string Tag, float Value)> Numbers(string prefix, JsonElement metrics)
    {
        foreach (var property in metrics.EnumerateObject())
        {
            if (property.Name is "epoch" or "cases") continue;
            if (property.Value.ValueKind == JsonValueKind.Number) yield return (prefix + property.Name, (float)property.Value.GetDouble());
            else if (property.Value.ValueKind == JsonValueKind.Array)
                for (int i = 0; i < property.Value.GetArrayLength(); i++)
                    if (property.Value[i].ValueKind == JsonValueKind.Number) yield return ($"{prefix}{property.Name}/{i + 1}", (float)property.Value[i].GetDouble());
        }
    }

    /// <summary>Every number metrics.json holds for each epoch (training numbers under epoch/, validation metrics under
    /// validation/), the final and test metrics: each once in the event files, at its epoch (final and test at the last),
    /// with the same value; and no scalar the files hold that metrics.json does not.</summary>
    private static void AssertScalarsEqualMetrics(string run, List<EventFileReader.Event> events)
    {
        var metrics = CliRunner.ReadJson(Path.Combine(run, "metrics.json"));
        var scalars = events.SelectMany(e => e.Values.Where(v => v.Scalar != null).Select(v => (v.Tag, e.Step, Value: v.Scalar!.Value))).ToList();
        var expected = new List<(string Tag, long Step, float Value)>();
        int last = 0;
        foreach (var epoch in metrics.GetProperty("epochs").EnumerateArray())
        {
            last = epoch.GetProperty("epoch").GetInt32();
            foreach (var (tag, value) in Numbers("", epoch))
            {
                bool training = tag is "train_loss" or "lr" or "seconds" or "working_set_bytes";
                expected.Add(((training ? "epoch/" : "validation/") + tag, last, value));
            }
        }
        // metrics.json's final row is the best checkpoint's evaluation: its epoch fields are placeholders, not numbers of an epoch.
        expected.AddRange(Numbers("final/", metrics.GetProperty("final")).Where(n => n.Tag is not ("final/seconds" or "final/working_set_bytes"))
            .Select(n => (n.Tag, (long)last, n.Value)));
        if (metrics.GetProperty("test").ValueKind == JsonValueKind.Object)
            expected.AddRange(Numbers("test/", metrics.GetProperty("test")).Select(n => (n.Tag, (long)last, n.Value)));
        Assert.Contains(expected, e => e.Tag == "validation/iou");
        Assert.Equal(expected.OrderBy(e => e.Tag, StringComparer.Ordinal).ThenBy(e => e.Step),
            scalars.OrderBy(e => e.Tag, StringComparer.Ordinal).ThenBy(e => e.Step));
    }

    private static List<EventFileReader.HParamsData> HParams(List<EventFileReader.Event> events, string tag) =>
        events.SelectMany(e => e.Values).Where(v => v.Tag == tag).Select(v =>
        {
            Assert.Equal("hparams", v.Plugin);
            return EventFileReader.DecodeHParams(v.PluginContent!);
        }).ToList();

    private static void AssertImage(EventFileReader.Value value)
    {
        Assert.NotNull(value.Image);
        Assert.True(value.Image!.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "not a PNG");
        using var bitmap = SKBitmap.Decode(value.Image);
        Assert.NotNull(bitmap);
        Assert.Equal((value.ImageWidth, value.ImageHeight), (bitmap.Width, bitmap.Height));
        Assert.True(bitmap.Width >= 128 && bitmap.Height >= 128);
    }

    [Fact]
    public void The_reader_computes_crc32c()
    {
        Assert.Equal(0xE3069283u, EventFileReader.Crc32C(Encoding.ASCII.GetBytes("123456789")));
    }

    [Fact]
    public void A_run_stopped_by_SIGTERM_and_resumed_has_every_epoch_once_equal_to_metrics_json_with_images_and_hparams()
    {
        string run = Temp("run");
        using (var process = new CliProcess(new Dictionary<string, string> { ["LGMSNET_FAULT_STEP_PAUSE_MS"] = "500" }, Tiny(run)))
        {
            process.WaitFor(() => EpochsRecorded(run) >= 1, "epoch 1 on disk");
            process.Signal(15);
            Assert.Equal(128 + 15, process.WaitForExit());
        }
        int saved = EpochsRecorded(run);
        var stopped = EventFileReader.ReadFolder(Path.Combine(run, "tensorboard"));
        Assert.Equal(Enumerable.Range(1, saved).Select(e => (long)e), stopped.Where(e => e.Values.Any(v => v.Tag == "epoch/train_loss")).Select(e => e.Step));

        var (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        double now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.Contains($"TensorBoard event files in {Path.Combine(run, "tensorboard")}", output);
        Assert.DoesNotContain("warning", output + error);
        string folder = Path.Combine(run, "tensorboard");
        Assert.Equal(2, Directory.GetFiles(folder, "events.out.tfevents.*").Length); // one per session
        var events = EventFileReader.ReadFolder(folder);
        Assert.All(Directory.GetFiles(folder), f => Assert.Equal("brain.Event:2", EventFileReader.ReadFile(f)[0].FileVersion));
        AssertScalarsEqualMetrics(run, events);
        Assert.All(events, e => Assert.InRange(e.WallTime, now - 600, now + 5)); // seconds since 1970, headers included

        // An overlay image at every validation (each epoch here) and at the end, each a PNG that decodes.
        var images = events.SelectMany(e => e.Values.Where(v => v.Image != null).Select(v => (v.Tag, e.Step, v))).ToList();
        Assert.Equal(new[] { 1L, 2, 3 }, images.Where(i => i.Tag == "overlays/validation").Select(i => i.Step));
        Assert.Equal(new[] { 3L }, images.Where(i => i.Tag == "overlays/final").Select(i => i.Step));
        Assert.All(images, i => AssertImage(i.v));

        // HParams: the architecture and the options as hyperparameters, the final metrics named; one session, ended.
        var metrics = CliRunner.ReadJson(Path.Combine(run, "metrics.json"));
        var start = Assert.Single(HParams(events, "_hparams_/session_start_info"));
        Assert.Equal("session_start_info", start.Kind);
        Assert.Equal(0, start.Version);
        Assert.Equal("LgmsNet", start.Hparams["architecture"]);
        Assert.Equal("16,32,64,128,128", start.Hparams["widths"]);
        Assert.Equal("3/5/7/9,3/5/7/9,3/5/7/9,-,-", start.Hparams["kernels"]);
        Assert.Equal("lms,lms,lms,gms,gms", start.Hparams["encoder"]);
        Assert.Equal("1,1,1,1,1", start.Hparams["encoder_blocks"]);
        Assert.Equal("1,2,1,1", start.Hparams["decoder_blocks"]);
        Assert.Equal((double)metrics.GetProperty("parameters").GetInt64(), start.Hparams["parameters"]);
        Assert.True((double)start.Hparams["multiply_adds"] > 0);
        Assert.Equal(3.0, start.Hparams["epochs"]);
        Assert.Equal("sgd", start.Hparams["optimizer"]);
        var experiment = Assert.Single(HParams(events, "_hparams_/experiment"));
        Assert.Equal(start.Hparams.Keys.Order(StringComparer.Ordinal), experiment.HparamNames.Order(StringComparer.Ordinal));
        Assert.Contains("final/iou", experiment.MetricTags);
        Assert.Contains("test/dice", experiment.MetricTags);
        foreach (var tag in experiment.MetricTags)
            Assert.Contains(events, e => e.Values.Any(v => v.Tag == tag && v.Scalar != null));
        Assert.Equal(1, Assert.Single(HParams(events, "_hparams_/session_end_info")).Status);
    }

    [Fact]
    public void A_finished_run_continued_and_a_run_whose_event_files_were_deleted_still_have_each_number_once()
    {
        string run = Temp("variety");
        var (code, output, error) = CliRunner.Run(Tiny(run, "variety", epochs: 2));
        Assert.True(code == 0, output + error);
        // Continued past its end: the first session's final metrics and HParams give way to the second's.
        (code, output, error) = CliRunner.Run("train", "--resume", run, "--epochs", "3");
        Assert.True(code == 0, output + error);
        var events = EventFileReader.ReadFolder(Path.Combine(run, "tensorboard"));
        AssertScalarsEqualMetrics(run, events);
        Assert.Contains(events, e => e.Values.Any(v => v.Tag == "validation/per_class_dice/2"));
        var start = Assert.Single(HParams(events, "_hparams_/session_start_info"));
        Assert.Equal("Variety", start.Hparams["architecture"]);
        Assert.Equal("3/5/7,3/5/7,-", start.Hparams["kernels"]);
        Assert.Equal("2,1,2", start.Hparams["encoder_blocks"]);
        Assert.Equal(3.0, start.Hparams["epochs"]);
        Assert.Single(HParams(events, "_hparams_/session_end_info"));
        Assert.Equal(new[] { 3L }, events.Where(e => e.Values.Any(v => v.Tag == "overlays/final")).Select(e => e.Step));

        // Event files lost (or a run from before them): the resumed session writes every saved epoch from the checkpoint.
        Directory.Delete(Path.Combine(run, "tensorboard"), true);
        (code, output, error) = CliRunner.Run("train", "--resume", run, "--epochs", "4");
        Assert.True(code == 0, output + error);
        events = EventFileReader.ReadFolder(Path.Combine(run, "tensorboard"));
        AssertScalarsEqualMetrics(run, events);
        Assert.Equal(new[] { 1L, 2, 3, 4 }, events.Where(e => e.Values.Any(v => v.Tag == "epoch/train_loss")).Select(e => e.Step));
    }

    [Fact]
    public void A_3d_run_writes_its_volumes_overlays_and_per_class_metrics()
    {
        string run = Temp("volumes");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", "synthetic", "--epochs", "2", "--size", "32",
            "--synthetic-train", "2", "--synthetic-val", "1", "--threads", "2", "--output", run);
        Assert.True(code == 0, output + error);
        Assert.DoesNotContain("warning", output + error);
        var events = EventFileReader.ReadFolder(Path.Combine(run, "tensorboard"));
        AssertScalarsEqualMetrics(run, events);
        Assert.Contains(events, e => e.Values.Any(v => v.Tag == "validation/per_class_dice/1"));
        var images = events.SelectMany(e => e.Values).Where(v => v.Image != null).ToList();
        Assert.Equal(3, images.Count); // two validations and the final one
        Assert.All(images, AssertImage);
        var start = Assert.Single(HParams(events, "_hparams_/session_start_info"));
        Assert.Equal(3.0, start.Hparams["dims"]);
        Assert.Equal("adamw", start.Hparams["optimizer"]);
    }

    [Fact]
    public void Event_files_that_cannot_be_written_mid_run_are_one_warning_and_the_run_finishes()
    {
        string run = Temp("run");
        using var process = new CliProcess(new Dictionary<string, string> { ["LGMSNET_FAULT_STEP_PAUSE_MS"] = "300" }, Tiny(run));
        process.WaitFor(() => EpochsRecorded(run) >= 1, "epoch 1 on disk");
        // As a lost mount would: the folder is gone and cannot be made again.
        string folder = Path.Combine(run, "tensorboard");
        Directory.Delete(folder, true);
        File.WriteAllText(folder, "in the way");
        Assert.Equal(0, process.WaitForExit());
        var warnings = (process.Out + process.Error).Split('\n').Where(l => l.Contains("warning", StringComparison.Ordinal)).ToList();
        Assert.True(warnings.Count == 1, process.Out + process.Error);
        Assert.Contains($"to the TensorBoard folder {folder}", warnings[0]);
        Assert.Contains("run finished: 3 of 3 epochs", process.Out);
        Assert.Equal(3, CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").GetArrayLength());
    }

    [Fact]
    public void A_sweep_of_three_variants_gives_three_hparams_entries_with_their_architectures_and_final_metrics()
    {
        Environment.SetEnvironmentVariable("LGMSNET_PROGRAM", Path.Combine(AppContext.BaseDirectory, "lgmsnet"));
        string data = TestData.ImageFolder(Temp("data"), 6);
        string split = TestData.Split(Temp("train.txt"), Enumerable.Range(0, 6).Select(i => $"case ({i})"));
        string sweep = Temp("variants.sweep.yaml");
        File.WriteAllText(sweep, $$"""
            name: variants
            architectures: [lgmsnet, lgmsnet-lms-k3333, unet-gms]
            datasets:
              - { name: img, data: {{data}}, train: {{split}} }
            seeds: [3]
            train: { epochs: 1, size: 32, batch: 3 }
            """);
        string folder = Temp("study");
        var (code, output, error) = CliRunner.Run("sweep", "run", sweep, "--output", folder);
        Assert.True(code == 0, output + error + string.Join("\n", Directory.GetFiles(Path.Combine(folder, "logs")).Select(File.ReadAllText)));
        Assert.Contains($"tensorboard --logdir {Path.Combine(folder, "runs")}", output);

        var entries = EventFileReader.HParamsEntries(Path.Combine(folder, "runs"));
        Assert.Equal(3, entries.Count);
        Assert.Equal(new[] { "LgmsNet", "LgmsNetLmsK3333", "UnetGms" }, entries.Select(e => (string)e.Hparams["architecture"]).Order(StringComparer.Ordinal));
        var kernels = entries.ToDictionary(e => (string)e.Hparams["yaml"], e => (string)e.Hparams["kernels"]);
        Assert.Equal("3/5/7/9,3/5/7/9,3/5/7/9,-,-", kernels["lgmsnet"]);
        Assert.Equal("3/3/3/3,3/3/3/3,3/3/3/3,-,-", kernels["lgmsnet-lms-k3333"]);
        foreach (var (run, hparams, metrics) in entries)
        {
            var report = CliRunner.ReadJson(Path.Combine(Path.GetDirectoryName(run)!, "metrics.json"));
            Assert.Equal((double)report.GetProperty("parameters").GetInt64(), hparams["parameters"]);
            Assert.Equal(1.0, hparams["epochs"]);
            Assert.Equal((float)report.GetProperty("final").GetProperty("iou").GetDouble(), metrics["final/iou"]);
            Assert.Equal((float)report.GetProperty("final").GetProperty("dice").GetDouble(), metrics["final/dice"]);
        }
    }

    [Fact]
    public void A_folder_that_cannot_be_written_is_one_warning_and_the_run_finishes()
    {
        string blocker = Temp("a-file");
        File.WriteAllText(blocker, "not a folder");
        string run = Temp("run");
        var (code, output, error) = CliRunner.Run(Tiny(run, epochs: 2, extra: new[] { "--tensorboard", Path.Combine(blocker, "tb") }));
        Assert.True(code == 0, output + error);
        var warnings = (output + error).Split('\n').Where(l => l.Contains("warning", StringComparison.Ordinal)).ToList();
        Assert.Single(warnings);
        Assert.Contains($"could not write the event file to the TensorBoard folder {Path.Combine(blocker, "tb")}", warnings[0]);
        Assert.Contains("training goes on", warnings[0]);
        Assert.Equal(2, CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").GetArrayLength());

        // A folder holding another run's event files is refused before anything runs (a resumed run trims its folder).
        string other = Temp("other-run");
        (code, _, error) = CliRunner.Run(Tiny(Temp("second"), epochs: 1, extra: new[] { "--tensorboard", Path.Combine(run, "tensorboard-none") }));
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run(Tiny(other, epochs: 1, extra: new[] { "--tensorboard", Path.Combine(run, "tensorboard-none") }));
        Assert.Equal(2, code);
        Assert.Contains($"error: --tensorboard {Path.Combine(run, "tensorboard-none")} already holds TensorBoard event files (of another run?); give each run a folder of its own", error);
        Assert.False(File.Exists(Path.Combine(other, "last.safetensors")));

        string off = Temp("off");
        (code, output, error) = CliRunner.Run(Tiny(off, epochs: 1, extra: new[] { "--no-tensorboard" }));
        Assert.True(code == 0, output + error);
        Assert.False(Directory.Exists(Path.Combine(off, "tensorboard")));
        Assert.False(CliRunner.ReadJson(RunFile.PathOf(off)).GetProperty("tensorboard").GetBoolean());
    }
}
