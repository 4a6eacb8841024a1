using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using Onnx;
using Xunit;

namespace LGMSNet.Runtime.Tests.Deploy;

/// <summary><c>export --precision int8</c>: the model runs, its accuracy report is what eval computes on the same model,
/// and bad calibration or validation input is an error before any file is written.</summary>
[Collection("cli")]
public sealed class QuantizedExportCliTests() : TempFolderTest("lgms-int8-cli-")
{
    private string Weights(string stem, string? folder = null)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        OnnxExportTests.Randomise(network, 31);
        string path = Path.Combine(folder ?? Dir, stem + ".safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Checkpoint.Save(path, network);
        return path;
    }

    /// <summary>Randomised weights whose head is turned into a rough detector of one case's mask: its sign makes the mask's
    /// pixels score higher than the rest, its bias sits between the two means. Masks are then neither empty nor the
    /// complement of the truth, so IoU and Dice are real numbers that rounding can change.</summary>
    private string BalancedWeights(string data)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == "lgmsnet");
        TorchSharp.torch.manual_seed(3);
        using var network = descriptor.Create();
        OnnxExportTests.Randomise(network, 31);
        network.eval();
        var size = descriptor.Info.MultiplyAddsInputSize.ToArray();
        var loaded = new ImageFolderDataset(data, new ImageFolderOptions(size, 3, 1)).Load(0);
        using (TorchSharp.torch.no_grad())
        using (var input = Tensors.FromFloats(loaded.Image.Data, new long[] { 1, 3 }.Concat(size.Select(v => (long)v)).ToArray()))
        using (var logits = network.forward(input))
        {
            var values = logits.flatten().data<float>().ToArray();
            var mask = loaded.Label!.Data;
            double foreground = values.Where((_, i) => mask[i] > 0).Average(), background = values.Where((_, i) => mask[i] == 0).Average();
            var state = network.state_dict();
            if (foreground < background)
            {
                state["head.weight"].neg_();
                state["head.bias"].neg_();
                (foreground, background) = (-foreground, -background);
            }
            state["head.bias"].sub_((foreground + background) / 2);
        }
        string path = Temp("balanced.safetensors");
        Checkpoint.Save(path, network);
        return path;
    }

    [Fact]
    public void The_accuracy_report_is_what_eval_computes_on_the_exported_models()
    {
        string data = TestData.ImageFolder(Temp("data"), 10);
        string weights = BalancedWeights(data);
        string model = Temp("int8.onnx"), fp32 = Temp("fp32.onnx");
        var (code, output, error) = CliRunner.Run("export", "lgmsnet", "-w", weights, "--format", "onnx", "--precision", "int8", "--no-verify",
            "--calibrate", data, "--calibrate-count", "6", "--validate", data, "--out", model);
        Assert.True(code == 0, output + error);
        Assert.Contains("int8:", output);
        Assert.Contains("convolutions quantised", output);
        Assert.Contains("accuracy on 10 case(s)", output);
        Assert.Contains(", int8,", output);
        Assert.Contains("calibration image(s) are also validation cases", error);

        string reportPath = Temp("int8.accuracy.json");
        Assert.True(File.Exists(reportPath));
        var report = CliRunner.ReadJson(reportPath);
        Assert.Equal("int8", report.GetProperty("precision").GetString());
        Assert.Equal(6, report.GetProperty("calibration_images").GetInt32());
        Assert.Equal(10, report.GetProperty("validation_cases").GetInt32());
        Assert.True(report.GetProperty("quantized_convolutions").GetInt32() > 0);
        double iouDrop = report.GetProperty("iou_drop").GetDouble();
        Assert.InRange(report.GetProperty("float32").GetProperty("iou").GetDouble(), 0.01, 99.99); // a real score, not an empty or full mask everywhere
        Assert.Equal(report.GetProperty("float32").GetProperty("iou").GetDouble() - report.GetProperty("reduced").GetProperty("iou").GetDouble(), iouDrop, 6);
        Assert.True(report.GetProperty("largest_case_iou_drop").GetDouble() >= iouDrop - 1e-9);

        // The report travels inside the model too.
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(model));
        Assert.Equal("int8", proto.MetadataProps.Single(p => p.Key == QuantizedExport.PrecisionKey).Value);
        Assert.Contains("\"iou_drop\"", proto.MetadataProps.Single(p => p.Key == QuantizedExport.AccuracyKey).Value);

        // A separate eval of the int8 file computes the report's numbers; so does one of the float export.
        (code, output, error) = CliRunner.Run("eval", "lgmsnet", "--engine", "onnx", "--model", model, "--data", data, "--json");
        Assert.True(code == 0, error);
        var metrics = CliRunner.Json(output).GetProperty("metrics");
        Assert.Equal(report.GetProperty("reduced").GetProperty("iou").GetDouble(), 100 * metrics.GetProperty("iou").GetDouble(), 3);
        Assert.Equal(report.GetProperty("reduced").GetProperty("dice").GetDouble(), 100 * metrics.GetProperty("f1").GetDouble(), 3);
        (code, _, error) = CliRunner.Run("export", "lgmsnet", "-w", weights, "--format", "onnx", "--no-verify", "--out", fp32);
        Assert.True(code == 0, error);
        (code, output, error) = CliRunner.Run("eval", "lgmsnet", "--engine", "onnx", "--model", fp32, "--data", data, "--json");
        Assert.True(code == 0, error);
        Assert.Equal(report.GetProperty("float32").GetProperty("iou").GetDouble(), 100 * CliRunner.Json(output).GetProperty("metrics").GetProperty("iou").GetDouble(), 3);

        // A float export over the int8 model removes its report: a report never describes another model.
        (code, output, error) = CliRunner.Run("export", "lgmsnet", "-w", weights, "--format", "onnx", "--no-verify", "--out", model);
        Assert.True(code == 0, error);
        Assert.False(File.Exists(reportPath));
        Assert.Contains("removed", output);
    }

    [Fact]
    public void Calibration_and_validation_default_to_the_run_the_weights_come_from()
    {
        var (data, _, _, train, test, run, Export) = RunWithHeldOutSplit(calibrateCount: 4);
        var (code, output, error) = CliRunner.Run(Export());
        Assert.True(code == 0, output + error);
        Assert.Contains($"calibrated on 4 image(s) of {data}", output);
        Assert.Contains("(split " + train + ")", output);
        Assert.Contains("accuracy on 4 case(s)", output);
        Assert.Contains("(split " + test + ")", output);

        // A run split by --val-fraction names no held-out split file: the report needs --validate.
        RunFile.WriteOptions(run, new TrainOptions { Architecture = "lgmsnet", Data = data, Size = new[] { 64, 64 } });
        File.Delete(Temp("m.onnx")); // the export line's --out, written by the export above
        (code, output, error) = CliRunner.Run(Export());
        Assert.Equal(2, code);
        Assert.Contains("give --validate DATA", error);
        Assert.Contains("names no test or validation split file", error);
        Assert.False(File.Exists(Temp("m.onnx")));
    }

    [Fact]
    public void The_report_is_on_the_runs_held_out_cases_whenever_it_validates_on_the_runs_data_and_warns_otherwise()
    {
        var (data, other, ids, train, test, run, Export) = RunWithHeldOutSplit();

        // Calibrated elsewhere, validated on the run's own folder: still its test split, not all 12 cases (8 of them trained on).
        var (code, output, error) = CliRunner.Run(Export("--calibrate", other, "--validate", data + Path.DirectorySeparatorChar));
        Assert.True(code == 0, output + error);
        Assert.Contains("accuracy on 4 case(s)", output);
        Assert.Contains("(split " + test + ")", output);
        Assert.DoesNotContain("trained on", error);

        // A split of training cases is measured as asked, with a warning.
        (code, output, error) = CliRunner.Run(Export("--calibrate", other, "--validate", data, "--validate-split", train));
        Assert.True(code == 0, output + error);
        Assert.Contains("accuracy on 8 case(s)", output);
        Assert.Contains($"warning: 8 of the 8 validation case(s) (split {train}) are cases the run trained on", error);
        Assert.Contains("leave out --validate-split to use the run's held-out split " + test, error);

        // A run split by --val-fraction (split.json records its cases): --validate of its data measures every case and says
        // which of them it trained on.
        RunFile.WriteOptions(run, new TrainOptions { Architecture = "lgmsnet", Data = data, Size = new[] { 64, 64 } });
        SplitPolicy.Write(run, new Dictionary<string, List<string>> { [SplitPolicy.Train] = ids.Take(10).ToList()!, [SplitPolicy.Validation] = ids.Skip(10).ToList()! });
        (code, output, error) = CliRunner.Run(Export("--calibrate", other, "--validate", data));
        Assert.True(code == 0, output + error);
        Assert.Contains("accuracy on 12 case(s)", output);
        Assert.Contains("warning: 10 of the 12 validation case(s) (every case of the run's data) are cases the run trained on", error);

        // Another folder is not the run's: every case, no warning.
        (code, output, error) = CliRunner.Run(Export("--calibrate", data, "--validate", other));
        Assert.True(code == 0, output + error);
        Assert.Contains("accuracy on 4 case(s)", output);
        Assert.DoesNotContain("trained on", error);
        Assert.DoesNotContain("also validation cases", error);
    }

    [Fact]
    public void A_symlink_to_the_runs_data_is_the_runs_data()
    {
        // --validate through a link to the data folder, or through a link to a folder above it, is the run's own data: its
        // held-out split is measured, and a split of training cases is warned about, as for the real path.
        var (data, other, ids, train, test, run, Export) = RunWithHeldOutSplit();
        string dataLink = Directory.CreateSymbolicLink(Temp("data-link"), data).FullName;
        string parentLink = Directory.CreateSymbolicLink(Temp("parent-link"), Path.GetDirectoryName(data)!).FullName;

        foreach (var linked in new[] { dataLink, Path.Combine(parentLink, Path.GetFileName(data)), Path.Combine(dataLink, "images", "..") })
        {
            var (code, output, error) = CliRunner.Run(Export("--calibrate", other, "--validate", linked));
            Assert.True(code == 0, output + error);
            Assert.Contains("accuracy on 4 case(s)", output);
            Assert.Contains("(split " + test + ")", output);

            (code, output, error) = CliRunner.Run(Export("--calibrate", other, "--validate", linked, "--validate-split", train));
            Assert.True(code == 0, output + error);
            Assert.Contains($"warning: 8 of the 8 validation case(s) (split {train}) are cases the run trained on", error);
        }
    }

    [Fact]
    public void Wrong_calibration_or_validation_input_is_an_error_before_anything_is_written()
    {
        string data = TestData.ImageFolder(Temp("data"), 5);
        string weights = Weights("lgmsnet");
        string model = Temp("out.onnx");
        void Refused(string expected, params string[] extra)
        {
            var args = new[] { "export", "lgmsnet", "-w", weights, "--out", model }.Concat(extra).ToArray();
            var (code, output, error) = CliRunner.Run(args);
            Assert.True(code == 2, $"{string.Join(" ", extra)}: exit {code}\n{output}{error}");
            Assert.Contains(expected, error);
            Assert.DoesNotContain("internal error", error);
            Assert.DoesNotContain("   at ", error);
            Assert.False(File.Exists(model), "no model is written");
            Assert.False(File.Exists(Temp("out.accuracy.json")), "no report is written");
        }

        Refused("--calibrate: " + Temp("missing"), "--format", "onnx", "--precision", "int8", "--calibrate", Temp("missing"), "--validate", data);
        Refused("too few for --calibrate-count 32", "--format", "onnx", "--precision", "int8", "--calibrate", data, "--validate", data);
        Refused("--validate: " + Temp("nowhere"), "--format", "onnx", "--precision", "int8", "--calibrate", data, "--calibrate-count", "2", "--validate", Temp("nowhere"));
        Refused("split file", "--format", "onnx", "--precision", "int8", "--calibrate", data, "--calibrate-split", Temp("no-split.txt"), "--validate", data);
        Refused("give --calibrate DATA", "--format", "onnx", "--precision", "int8");
        Refused("need --precision int8", "--format", "onnx", "--calibrate", data);
        Refused("no convolution of LgmsNet qualifies", "--format", "onnx", "--precision", "int8", "--calibrate", data, "--calibrate-count", "2", "--validate", data,
            "--quantize-min-reduction", "100000", "--no-verify");
        Refused("needs --format onnx", "--precision", "int8", "--format", "safetensors", "--calibrate", data);
        Refused("--precision bf16: no engine here runs an LGMSNet export faster in bf16", "--format", "onnx", "--precision", "bf16");

        // Volumes smaller than one window (the 3D network's 96³ input size), and one with the wrong number of channels.
        string volumes = TestData.Decathlon(Temp("volumes"), 2, new[] { 32, 32, 32 }, classes: 4);
        string weights3d = Weights("lgmsnet3d-small");
        var (code, output, error) = CliRunner.Run("export", "lgmsnet3d-small", "-w", weights3d, "--format", "onnx", "--out", model, "--precision", "int8",
            "--calibrate", volumes, "--calibrate-count", "2", "--validate", volumes);
        Assert.True(code == 2, output + error);
        Assert.True(error.Contains("volume 'vol_000' (32x32x32) is smaller than one window (96x96x96)"), error);
        string image = Path.Combine(volumes, "imagesTr", "vol_000.nii.gz");
        Nifti.WriteFloat(image, new Volume(new float[2 * 32 * 32 * 32], 2, new[] { 32, 32, 32 }), Nifti.Geometry(new[] { 32, 32, 32 }, new[] { 1f, 1f, 1f }));
        (code, output, error) = CliRunner.Run("export", "lgmsnet3d-small", "-w", weights3d, "--format", "onnx", "--out", model, "--precision", "int8",
            "--calibrate", volumes, "--calibrate-count", "2", "--validate", volumes);
        Assert.True(code == 2, output + error);
        Assert.Contains("--calibrate: " + volumes, error);
        Assert.True(error.Contains("2 channel(s)"), error);
        Assert.False(File.Exists(model));
    }

    private delegate string[] ExportLine(params string[] extra);

    /// <summary>12 image cases and 4 others; a run of lgmsnet whose options name the first 8 as its training split and the
    /// last 4 as its test split; and the int8 export command line of its weights (calibrating on
    /// <paramref name="calibrateCount"/> images), to which a test adds options.</summary>
    private (string Data, string Other, List<string?> Ids, string Train, string Test, string Run, ExportLine Export) RunWithHeldOutSplit(int calibrateCount = 2)
    {
        string data = TestData.ImageFolder(Temp("data"), 12), other = TestData.ImageFolder(Temp("other"), 4);
        var ids = Directory.GetFiles(Path.Combine(data, "images")).Select(Path.GetFileNameWithoutExtension).Order().ToList();
        string train = TestData.Split(Temp("train.txt"), ids.Take(8)!);
        string test = TestData.Split(Temp("test.txt"), ids.Skip(8)!);
        string run = Temp("run");
        string weights = Weights("lgmsnet", run);
        RunFile.WriteOptions(run, new TrainOptions { Architecture = "lgmsnet", Data = data, TrainSplit = train, TestSplit = test, Size = new[] { 64, 64 } });
        return (data, other, ids, train, test, run, extra => new[] { "export", "lgmsnet", "--no-verify", "-w", weights, "--format", "onnx", "--precision", "int8", "--calibrate-count", calibrateCount.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", Temp("m.onnx") }
            .Concat(extra).ToArray());
    }
}
