using System.Text.Json;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Data.Geometry;
using LGMSNet.Runtime.Data.Preprocessing;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Geometry;

/// <summary>3D runs on volumes stored as hospitals store them (mixed orientations, spacings, an oblique grid): the plan,
/// the cache, predictions written back on each input's own grid, and the refusals, end to end through the CLI.</summary>
[Collection("cli")]
public sealed class PlannedVolumeCliTests() : TempFolderTest("lgms-planned-")
{
    private static readonly (string, double[], double)[] Mixed =
    {
        ("RAS", new[] { 2.0, 2.0, 2.0 }, 0), ("LPS", new[] { 1.5, 1.5, 3.0 }, 0), ("PSR", new[] { 2.0, 3.0, 2.0 }, 0), ("RAS", new[] { 2.0, 2.0, 2.5 }, 15),
    };

    [Fact]
    public void A_run_plans_from_its_training_cases_caches_them_and_its_checkpoints_carry_the_plan()
    {
        string data = Phantom.Decathlon(Temp("mixed"), 5, Mixed, extentMm: 88, classes: 4);
        string run = Temp("run");
        string train = TestData.Split(Temp("train.txt"), Enumerable.Range(0, 4).Select(i => $"case_{i:D3}"));
        string validation = TestData.Split(Temp("val.txt"), new[] { "case_004" });
        string[] splits = { "--train-split", train, "--val-split", validation };
        var (code, output, error) = CliRunner.Run(new[] { "train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32", "--output", run }.Concat(splits).ToArray());
        Assert.True(code == 0, output + error);
        // Planned from training and validation (5 cases). Median per axis of R: 2, 1.5, 2, 2, 2; A: the same; S: 2, 3, 3, 2.5, 2
        // (PSR's j runs along S at 3 mm).
        Assert.True(output.Contains("plan from 5 development case(s) (training and validation; never the test split): orientation RAS; " +
                                    "spacing 2 x 2 x 2.5 mm (x, y, z; median of the planned cases)"), output);
        Assert.True(output.Contains("mirroring along y,z"), output);
        Assert.True(output.Contains("stored orientations: RAS 3, LPS 1, PSR 1; oblique up to 15 degrees"), output);
        Assert.True(output.Contains("preprocessed 5 case(s) into"), output);
        Assert.True(output.Contains("(0 reused from earlier runs)"), output);

        var plan = PreprocessingPlan.FromJson(File.ReadAllText(Path.Combine(run, "plan.json")), "plan.json");
        Assert.Equal(new[] { 2.0, 2.0, 2.5 }, plan.Spacing);
        Assert.Equal(5, plan.Cases!.Count);
        Assert.Contains(plan.Cases, c => c.Orientation == "PSR" && c.Spacing.SequenceEqual(new[] { 2.0, 3.0, 2.0 }));
        var checkpoint = LGMSNet.Runtime.Interop.SafeTensorFile.Read(Path.Combine(run, "best.safetensors"));
        var carried = LGMSNet.Runtime.Interop.Checkpoint.ReadPlan(checkpoint)!;
        Assert.Equal(plan.Key, carried.Key);
        Assert.Null(carried.Cases); // the checkpoint carries the plan, not the fingerprint

        // A second run with an equal plan reuses every case; a changed file is preprocessed again.
        (code, output, error) = CliRunner.Run(new[] { "train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32", "--output", Temp("run2") }.Concat(splits).ToArray());
        Assert.True(code == 0, output + error);
        Assert.True(output.Contains("(5 reused from earlier runs)"), output);
        var affine = Phantom.Affine("RAS", new[] { 2.0, 2.0, 2.0 }, new[] { 44, 44, 44 });
        Phantom.Write(Path.Combine(data, "imagesTr", "case_000.nii.gz"), null, new[] { 44, 44, 44 }, affine, noise: 8, seed: 99);
        (code, output, error) = CliRunner.Run(new[] { "train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32", "--output", Temp("run3") }.Concat(splits).ToArray());
        Assert.True(code == 0, output + error);
        Assert.True(output.Contains("(4 reused from earlier runs)"), output);

        // eval applies the plan on its own and scores on each case's stored grid, per case.
        string table = Temp("cases.csv");
        (code, output, error) = CliRunner.Run("eval", "lgmsnet3d-small", "-w", Path.Combine(run, "best.safetensors"), "--data", data, "--per-case", table, "--json");
        Assert.True(code == 0, output + error);
        Assert.Contains("preprocessing plan of", error);
        var lines = File.ReadAllLines(table);
        Assert.Equal("case,iou,dice,hd95,nsd", lines[0]);
        Assert.Equal(6, lines.Length);
        Assert.Equal(5, CliRunner.Json(output).GetProperty("per_case").GetArrayLength());
    }

    [Fact]
    public void Predictions_are_written_on_each_inputs_grid_and_two_orientations_agree_in_world_space()
    {
        // Train briefly so the checkpoint carries a plan, then predict the same anatomy stored three ways.
        string data = Phantom.Decathlon(Temp("data"), 3, Mixed, extentMm: 100, classes: 4);
        string run = Temp("run");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32", "--output", run);
        Assert.True(code == 0, output + error);

        string inputs = Directory.CreateDirectory(Temp("inputs")).FullName;
        var layouts = new (string Name, string Code, double[] Spacing, double Oblique, bool Sform, bool Qform)[]
        {
            ("ras", "RAS", new[] { 2.0, 2.0, 2.0 }, 0, true, true),
            ("lps", "LPS", new[] { 2.0, 2.0, 2.0 }, 0, true, false),  // sform only
            ("ail", "AIL", new[] { 2.0, 2.0, 2.0 }, 0, false, true),  // qform only, permuted axes
            ("oblique", "RAS", new[] { 1.6, 1.6, 3.2 }, 12, true, true),
        };
        foreach (var (name, orientation, spacing, oblique, sform, qform) in layouts)
        {
            var size = spacing.Select(s => (int)Math.Round(80 / s)).ToArray();
            Phantom.Write(Path.Combine(inputs, name + ".nii.gz"), null, size, Phantom.Affine(orientation, spacing, size, oblique), sform, qform, noise: 0);
        }
        string masks = Temp("masks");
        (code, output, error) = CliRunner.Run("predict", "lgmsnet3d-small", "-w", Path.Combine(run, "best.safetensors"), "--input", inputs, "--output", masks);
        Assert.True(code == 0, output + error);
        foreach (var (name, _, _, _, _, _) in layouts)
        {
            var input = Nifti.ReadHeader(Path.Combine(inputs, name + ".nii.gz"));
            var (mask, labels) = Nifti.Read(Path.Combine(masks, name + ".nii.gz"));
            Assert.Equal(input.Dim.Take(4), mask.Dim.Take(4));
            Assert.Equal(input.Pixdim.Take(4), mask.Pixdim.Take(4));
            Assert.Equal((input.QformCode, input.SformCode), (mask.QformCode, mask.SformCode));
            Assert.Equal(input.Quatern, mask.Quatern);
            Assert.Equal(input.SrowX.Concat(input.SrowY).Concat(input.SrowZ), mask.SrowX.Concat(mask.SrowY).Concat(mask.SrowZ));
            Assert.Equal(input.XyztUnits, mask.XyztUnits);
            Assert.All(labels.Data, v => Assert.True(v is >= 0 and < 4));
        }

        // The same voxel centres in RAS, LPS and AIL order: identical once mapped into world space (here: reoriented to RAS).
        // Checked with weights that predict every class somewhere (an untrained network), so agreement is not agreement on nothing.
        var descriptor = CliRunner.Architectures.Single(a => a.Info.Matches("lgmsnet3d-small"));
        var plan = PreprocessingPlan.FromJson(File.ReadAllText(Path.Combine(run, "plan.json")), "plan.json");
        manual_seed(7);
        using var network = descriptor.Create();
        network.eval();
        using var segmenter = Segmenter.ForNetwork(network, CPU, new[] { 32, 32, 32 }, InputConvention.Standard, plan: plan);
        byte[]? reference = null;
        foreach (var name in new[] { "ras", "lps", "ail" })
        {
            string file = Path.Combine(inputs, name + ".nii.gz");
            var (labels, header) = segmenter.SegmentVolume(file);
            var grid = VoxelGrid.Of(header, file);
            using var stored = Tensors.FromBytes(labels.Data, new long[] { 1 }.Concat(labels.Size.Select(s => (long)s)).ToArray());
            using var world = grid.Orientation.ToCanonical(stored);
            var values = world.data<byte>().ToArray();
            Assert.True(values.Distinct().Count() > 1, $"{name}: the untrained network predicts one class everywhere");
            if (reference == null) reference = values;
            else Assert.Equal(reference, values);
        }
    }

    [Fact]
    public void Segmenting_a_volume_in_memory_applies_the_checkpoints_plan_as_predict_does_or_refuses_without_its_grid()
    {
        // A ct plan in RAS at 2.5 mm; the volume is stored LPS at 2 x 2 x 3 mm, so the plan reorients, resamples and clips.
        var plan = new PreprocessingPlan("RAS", new[] { 2.5, 2.5, 2.5 },
            new IntensityScheme("ct", Low: new[] { 90.0 }, High: new[] { 200.0 }, Mean: new[] { 130.0 }, Std: new[] { 35.0 }), "test");
        var size = new[] { 44, 34, 24 }; // i, j, k
        string file = Temp("case.nii.gz");
        Phantom.Write(file, null, size, Phantom.Affine("LPS", new[] { 2.0, 2.0, 3.0 }, size), noise: 4);
        // Two checkpoints of one untrained network: one carries the plan, as a 3D run's checkpoints do.
        var descriptor = CliRunner.Architectures.Single(a => a.Info.Matches("lgmsnet3d-small"));
        string planned = Temp("planned.safetensors"), unplanned = Temp("unplanned.safetensors");
        manual_seed(7);
        using (var network = descriptor.Create())
        {
            Checkpoint.Save(planned, network, progress: new TrainingProgress(1, 1, 0.01, "adamw", "{}", new[] { 32, 32, 32 }, Plan: plan));
            Checkpoint.Save(unplanned, network, progress: new TrainingProgress(1, 1, 0.01, "adamw", "{}", new[] { 32, 32, 32 }));
        }
        using var segmenter = Segmenter.Load(descriptor.Create(), planned);
        Assert.Equal(plan.Key, segmenter.Plan!.Key);
        var (expected, header) = segmenter.SegmentVolume(file); // predict's path
        var (_, volume) = Nifti.Read(file);
        var stored = (float[])volume.Data.Clone();

        var labels = segmenter.Segment(volume, VoxelGrid.Of(header, file), "case");
        Assert.Equal(volume.Size, labels.Size);
        Assert.Equal(expected.Data, labels.Data);
        Assert.Equal(stored, volume.Data); // the caller's volume is not changed
        Assert.True(labels.Data.Distinct().Count() > 1, "the untrained network predicts one class everywhere");

        // What Segment(volume) did before, whatever the plan: per-case z-score on the stored grid. Other labels.
        using (var asStored = Segmenter.Load(descriptor.Create(), unplanned))
            Assert.NotEqual(labels.Data, asStored.Segment(volume, "case").Data);

        // Without its grid a volume cannot be put through the plan: refused, saying what to call instead.
        var refusal = Assert.Throws<LGMSNet.Runtime.IO.UserErrorException>(() => segmenter.Segment(volume, "case"));
        Assert.Contains("case: LgmsNet3DSmall's weights were trained with a preprocessing plan (orientation RAS; spacing 2.5 x 2.5 x 2.5 mm", refusal.Message);
        Assert.Contains("intensity ct", refusal.Message);
        Assert.Contains("call Segment(volume, grid)", refusal.Message);
    }

    [Fact]
    public void Bad_volumes_are_refused_naming_the_case_before_anything_is_written()
    {
        // A label on another grid than its image.
        string data = Phantom.Decathlon(Temp("shifted"), 3, Mixed, extentMm: 100, classes: 4);
        var size = new[] { 50, 50, 50 };
        var affine = Phantom.Affine("RAS", new[] { 2.0, 2.0, 2.0 }, size);
        affine[1, 3] += 4; // 2 voxels along A
        var (_, labels) = Phantom.Sample(size, affine);
        Nifti.WriteLabels(Path.Combine(data, "labelsTr", "case_000.nii.gz"), labels, Phantom.Header(size, affine));
        string run = Temp("run-shifted");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32", "--output", run);
        Assert.NotEqual(0, code);
        Assert.Contains("case 'case_000': the label", output + error);
        Assert.Contains("is not on its image's grid: affine entry [1,3]", output + error);
        Assert.False(File.Exists(Path.Combine(run, "plan.json")));

        // A case smaller than one patch once resampled.
        data = Phantom.Decathlon(Temp("small"), 3, Mixed, extentMm: 50, classes: 4);
        (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32", "--output", Temp("run-small"));
        Assert.NotEqual(0, code);
        Assert.Matches("case 'case_00[0-2]' is \\d+x\\d+x\\d+ voxels after resampling to .* mm, smaller than one 32x32x32 patch", output + error);

        // A 2D slice stored as 3D.
        data = Phantom.Decathlon(Temp("slice"), 3, Mixed, extentMm: 100, classes: 4);
        var flat = new[] { 40, 40, 1 };
        Phantom.Write(Path.Combine(data, "imagesTr", "case_001.nii.gz"), Path.Combine(data, "labelsTr", "case_001.nii.gz"), flat,
            Phantom.Affine("RAS", new[] { 2.0, 2.0, 2.0 }, flat));
        (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32", "--output", Temp("run-slice"));
        Assert.NotEqual(0, code);
        Assert.Contains("case 'case_001':", output + error);
        Assert.Contains("a 2D slice stored as 3D", output + error);

        // Options that make no sense are refused before anything runs.
        (code, _, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--spacing", "1.5,x,2", "--output", Temp("run-bad"));
        Assert.Equal(2, code);
        Assert.Contains("--spacing 1.5,x,2: give three voxel sizes in mm", error);
        (code, _, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--intensity", "window:250,-175", "--output", Temp("run-bad2"));
        Assert.Equal(2, code);
        Assert.Contains("the window's upper bound must exceed its lower bound", error);
        (code, _, error) = CliRunner.Run("train", "lgmsnet", "--data", "synthetic", "--mirror-axes", "y,z", "--output", Temp("run-bad3"));
        Assert.Equal(2, code);
        Assert.Contains("--mirror-axes: only for 3D architectures", error);
    }

    [Fact]
    public void The_papers_recipe_and_a_checkpoint_without_a_plan()
    {
        // --spacing, the CT window and no mirroring: the plan says so and the cases are resampled to it.
        string data = Phantom.Decathlon(Temp("ct"), 3, Mixed, extentMm: 100, classes: 4);
        string run = Temp("recipe");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32",
            "--spacing", "1.5,1.5,2.0", "--intensity", "window:-175,250", "--mirror-axes", "none", "--cache", Temp("cache"), "--output", run);
        Assert.True(code == 0, output + error);
        Assert.True(output.Contains("spacing 1.5 x 1.5 x 2 mm (x, y, z; given (--spacing)); intensity window:-175,250 (clip, then scale to 0-1); mirroring none"), output);
        Assert.Single(Directory.GetDirectories(Temp("cache")));
        var plan = PreprocessingPlan.FromJson(File.ReadAllText(Path.Combine(run, "plan.json")), "plan.json");
        Assert.Equal(new bool[3], plan.ArrayMirrorAxes);
        var cached = Directory.GetFiles(Directory.GetDirectories(Temp("cache"))[0], "*.json")
            .Select(f => JsonSerializer.Deserialize<CachedCaseInfo>(File.ReadAllText(f), LGMSNet.Runtime.IO.RuntimeJson.Options)!).ToList();
        Assert.Equal(3, cached.Count);
        Assert.All(cached, c => Assert.Equal(new[] { 50, 67, 67 }, c.Size)); // S, A, R: about 100 mm at 2.0 mm (S) and 1.5 mm (A, R)

        // ct: the numbers come from the training foreground and are printed.
        (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", data, "--epochs", "1", "--size", "32", "--intensity", "ct",
            "--output", Temp("ct-run"));
        Assert.True(code == 0, output + error);
        Assert.Matches("intensity ct \\(clip to the training foreground's 0.5-99.5 percentiles [-0-9.]+\\.\\.[-0-9.]+, mean [-0-9.]+, std [0-9.]+\\)", output);

        // Weights written before plans (here: a synthetic 3D run, which has no geometry) are used as stored, and say so.
        string old = Temp("old");
        (code, output, error) = CliRunner.Run("train", "lgmsnet3d-small", "--data", "synthetic", "--epochs", "1", "--size", "32", "--synthetic-train", "2",
            "--synthetic-val", "1", "--output", old);
        Assert.True(code == 0, output + error);
        (code, output, error) = CliRunner.Run("predict", "lgmsnet3d-small", "-w", Path.Combine(old, "best.safetensors"), "--input",
            Path.Combine(data, "imagesTr", "case_000.nii.gz"), "--output", Temp("old-masks"));
        Assert.True(code == 0, output + error);
        Assert.Contains("carries no preprocessing plan (written before plans existed): volumes are used as stored", error);
    }

    [Fact]
    public void A_binary_3d_run_trains_predicts_and_resumes_with_its_plan_even_without_plan_json()
    {
        string data = Phantom.Decathlon(Temp("binary"), 3, Mixed, extentMm: 100, binary: true);
        string run = Temp("run");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet3d-binary", "--data", data, "--epochs", "2", "--stop-after", "1", "--size", "32",
            "--output", run);
        Assert.True(code == 0, output + error);
        // plan.json lost (a copied run folder): the resumed run takes the plan its last checkpoint carries.
        File.Delete(Path.Combine(run, "plan.json"));
        (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        Assert.True(output.Contains("plan of the run (plan.json): orientation RAS"), output);
        Assert.DoesNotContain("used as stored", output);

        string masks = Temp("masks");
        (code, output, error) = CliRunner.Run("predict", "lgmsnet3d-binary", "-w", Path.Combine(run, "best.safetensors"), "--input",
            Path.Combine(data, "imagesTr"), "--output", masks);
        Assert.True(code == 0, output + error);
        var (input, image) = Nifti.Read(Path.Combine(data, "imagesTr", "case_001.nii.gz"));
        var (mask, labels) = Nifti.Read(Path.Combine(masks, "case_001.nii.gz"));
        Assert.Equal(image.Size, labels.Size);
        Assert.Equal(input.SrowX.Concat(input.SrowY).Concat(input.SrowZ), mask.SrowX.Concat(mask.SrowY).Concat(mask.SrowZ));
        Assert.All(labels.Data, v => Assert.True(v is 0 or 1));
        (code, output, error) = CliRunner.Run("eval", "lgmsnet3d-binary", "-w", Path.Combine(run, "best.safetensors"), "--data", data, "--json");
        Assert.True(code == 0, output + error);
        Assert.Equal(3, CliRunner.Json(output).GetProperty("per_case").GetArrayLength());
    }
}
