using System.CommandLine;
using System.Globalization;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>import</c>, <c>export</c> and <c>check-reference</c>: weights to and from the authors' PyTorch code.</summary>
internal static class WeightCommands
{
    public static Command Import(CliContext context)
    {
        var arch = new Argument<string>("arch") { Description = "Architecture the weights are for." };
        var from = new Option<string>("--from") { Description = "safetensors file in the reference (PyTorch state_dict) key layout.", Required = true };
        var output = new OutputOption("Weights file to write (our layout).", required: true);
        var prefix = new Option<string?>("--prefix") { Description = "Key prefix to strip (default: 'weights.' when every key has it)." };
        var command = new Command("import", "Convert reference-layout weights into a weights file for <arch>.") { arch, from, prefix };
        output.AddTo(command);
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            var file = SafeTensorFile.Read(result.GetValue(from)!);
            using var network = descriptor.Create();
            WeightLayout.Load(network, file, KeyLayout.Reference, result.GetValue(prefix) ?? DetectPrefix(file, network));
            // Weights from the authors' code expect their loader's inputs (BGR, normalised then /255 again).
            Checkpoint.Save(output.GetValue(result)!, network, convention: Data.InputConvention.Authors);
            context.Out.WriteLine($"imported {WeightLayout.KeyMap(network).Count} tensors from {file.Source} into {output.GetValue(result)} ({descriptor.Info.Name})");
            return 0;
        });
        return command;
    }

    public static Command Export(CliContext context)
    {
        var arch = new Argument<string>("arch") { Description = "Architecture of the weights." };
        var weights = new Option<string>("--weights", "-w") { Description = "Checkpoint or weights file.", Required = true };
        var output = new OutputOption("File to write (.safetensors or .onnx).", required: true);
        var layout = new Option<string>("--layout") { Description = "safetensors key layout: reference (PyTorch state_dict names) or ours.", DefaultValueFactory = _ => "reference" };
        layout.AcceptOnlyFromAmong("reference", "ours");
        var format = new Option<string>("--format") { Description = "safetensors (weights) or onnx (the whole fused network for ONNX Runtime).", DefaultValueFactory = _ => "safetensors" };
        format.AcceptOnlyFromAmong("safetensors", "onnx");
        var opset = new Option<int>("--opset")
        {
            Description = $"ONNX operator set, {Deploy.OnnxExportOptions.MinOpset}–{Deploy.OnnxExportOptions.MaxOpset} (default {Deploy.OnnxExportOptions.DefaultOpset}: the Attention operator, " +
                          $"fastest in ONNX Runtime; {Deploy.OnnxExportOptions.MinOpset} for older runtimes).",
            DefaultValueFactory = _ => Deploy.OnnxExportOptions.DefaultOpset,
        };
        var noVerify = new Option<bool>("--no-verify") { Description = "onnx: skip the ONNX Runtime vs TorchSharp check on a seeded input." };
        var verifySize = new Option<string?>("--verify-size")
        {
            Description = $"onnx: input size of the check (default: the smallest valid size at which the deepest level sees {Deploy.OnnxVerifier.DeepestLevelVoxels} " +
                          "voxels per axis; in 2D the training size where larger).",
        };
        var reduced = new ReducedPrecisionOptions();
        var command = new Command("export", "Write weights as plain safetensors (by default in the authors' PyTorch key layout), or the network as ONNX (float32, or int8 with its accuracy cost measured).")
            { arch, weights, layout, format, opset, noVerify, verifySize };
        reduced.AddTo(command);
        output.AddTo(command);
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            using var network = descriptor.Create();
            var loaded = Checkpoint.LoadWeights(network, result.GetValue(weights)!);
            if (loaded.Note != null) context.Error.WriteLine("note: " + loaded.Note);
            if (result.GetValue(format) == "onnx") CheckOpset(result.GetValue(opset)); // before the int8 plan reads its cases
            var plan = reduced.Plan(result, result.GetValue(format) == "onnx", result.GetValue(weights)!, descriptor, loaded.File);
            if (result.GetValue(format) == "onnx")
                return ExportOnnx(context, network, loaded.File, output.GetValue(result)!, result.GetValue(opset), !result.GetValue(noVerify), result.GetValue(verifySize), plan);
            var keyLayout = result.GetValue(layout) == "ours" ? KeyLayout.Ours : KeyLayout.Reference;
            var tensors = WeightLayout.Export(network, keyLayout);
            SafeTensorWriter.Write(output.GetValue(result)!, tensors, new Dictionary<string, string>
            {
                ["architecture"] = descriptor.Info.Name,
                ["layout"] = keyLayout.ToString().ToLowerInvariant(),
                ["yaml_sha256"] = descriptor.Info.YamlSha256,
                // The convention travels with the weights: whoever loads this file feeds it the inputs it was trained on.
                ["input_convention"] = (loaded.Convention ?? Data.InputConvention.Standard).ToString().ToLowerInvariant(),
            });
            context.Out.WriteLine($"exported {tensors.Count} tensors of {descriptor.Info.Name} to {output.GetValue(result)} ({keyLayout.ToString().ToLowerInvariant()} layout)");
            return 0;
        });
        return command;
    }

    /// <summary>ONNX export, verified by default: ONNX Runtime against TorchSharp's eval output on a seeded input
    /// (<see cref="Deploy.OnnxVerifier.DefaultSize"/>); above 1e-4 relative nothing is written and the exit code is 1.
    /// The verdict is printed only once the check is decided.</summary>
    private static int ExportOnnx(CliContext context, SegmentationNetwork network, SafeTensorFile file, string path, int opset, bool verify, string? verifySize,
        ReducedPrecisionPlan? reduced)
    {
        CheckOpset(opset);
        var info = network.Architecture;
        int[] size = Checkpoint.ReadProgress(file)?.InputSize ?? info.MultiplyAddsInputSize.ToArray();
        var options = new Deploy.OnnxExportOptions
        {
            Opset = opset, Convention = Checkpoint.ReadInputConvention(file) ?? Data.InputConvention.Standard, InputSize = size, Plan = Checkpoint.ReadPlan(file),
        };
        network.eval();
        var model = Deploy.OnnxExporter.Export(network, options);
        if (verify)
        {
            int[] checkSize = verifySize != null ? Format.ParseSize(verifySize, info.Dims) : Deploy.OnnxVerifier.DefaultSize(info, size);
            if (info.CheckInputSize(checkSize.Select(v => (long)v).ToArray()) is { } problem) throw new UserErrorException("--verify-size: " + problem, 2);
            var check = Deploy.OnnxVerifier.Verify(network, Google.Protobuf.MessageExtensions.ToByteArray(model), checkSize);
            string measured = $"ONNX Runtime vs TorchSharp on a seeded input [{string.Join(", ", check.InputShape)}]: " +
                              $"max |Δ| {E(check.MaxAbsDiff)}, relative {E(check.Relative)}";
            if (!check.Passed)
            {
                context.Error.WriteLine($"error: verification failed: {measured} > tolerance {E(check.Tolerance)}; {path} was not written");
                return 1;
            }
            context.Out.WriteLine($"verified: {measured} (tolerance {E(check.Tolerance)})");
        }
        string precision = "float32";
        Deploy.PrecisionReport? report = null;
        if (reduced != null)
        {
            (model, report) = reduced.Run(context, model, info, size, options.Convention);
            precision = "int8";
        }
        // The model first, then its report; a float model replaces any report left beside an earlier int8 one.
        Deploy.OnnxExporter.Save(model, path);
        string reportPath = ReducedPrecisionPlan.ReportPath(path);
        if (report != null)
        {
            AtomicFile.WriteAllText(reportPath, report.ToJson() + "\n");
            context.Out.WriteLine($"wrote the accuracy report to {reportPath}");
        }
        else if (File.Exists(reportPath) && reportPath != Path.GetFullPath(path))
        {
            File.Delete(reportPath);
            context.Out.WriteLine($"removed {reportPath} (the report of an earlier int8 model at this path)");
        }
        context.Out.WriteLine($"exported {info.Name} to {path} (ONNX opset {opset}, {precision}, {model.Graph.Node.Count} nodes, {new FileInfo(path).Length / 1024.0 / 1024.0:0.00} MiB)");
        return 0;
    }

    private static void CheckOpset(int opset)
    {
        if (opset < Deploy.OnnxExportOptions.MinOpset || opset > Deploy.OnnxExportOptions.MaxOpset)
            throw new UserErrorException($"--opset {opset}: supported are {Deploy.OnnxExportOptions.MinOpset} to {Deploy.OnnxExportOptions.MaxOpset}", 2);
    }

    public static Command CheckReference(CliContext context)
    {
        var arch = new Argument<string>("arch") { Description = "Architecture whose YAML matches the fixture's configuration." };
        var golden = new Option<string>("--golden") { Description = "Fixture folder (weights/input/expected[/intermediates_eval].safetensors) or single golden file.", Required = true };
        var tolerance = new Option<double?>("--tolerance") { Description = "Relative tolerance max|Δ|/max|ref| for every output (default: the reference README's)." };
        var variant = new Option<string?>("--variant") { Description = "Folder layout only: use weights_<variant> and expected_<variant> (e.g. calibrated)." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("check-reference", "Run reference weights and inputs through <arch> and compare with the reference outputs.")
            { arch, golden, tolerance, variant, json };
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            var fixture = GoldenFixture.Open(result.GetValue(golden)!, result.GetValue(variant));
            var rows = ReferenceComparison.Check(descriptor, fixture, result.GetValue(tolerance),
                (logits, target) => Losses.ForClasses(descriptor.Info.Classes, logits, target));
            bool ok = rows.All(r => r.Passed);
            if (result.GetValue(json))
            {
                context.WriteJson(new { architecture = descriptor.Info.Name, golden = fixture.Description, passed = ok, checks = rows });
            }
            else
            {
                context.Out.WriteLine($"{descriptor.Info.Name} vs {fixture.Description}");
                var table = new TextTable("output", "max |Δ|", "max |ref|", "|Δ|/|ref|", "rel L2", "tolerance", "result").AlignRight(1, 2, 3, 4, 5);
                foreach (var r in rows)
                    table.Add(r.Name, E(r.MaxAbsDiff), E(r.MaxAbsReference), E(r.Relative), E(r.RelativeL2), E(r.Tolerance), r.Passed ? "ok" : "FAIL");
                context.Out.WriteLine(table);
                context.Out.WriteLine(ok ? $"all {rows.Count} checks within tolerance" : $"{rows.Count(r => !r.Passed)} of {rows.Count} checks FAILED");
            }
            return ok ? 0 : 1;
        });
        return command;
    }

    private static string E(double value) => value.ToString("0.00E+00", CultureInfo.InvariantCulture);

    /// <summary>"" or "weights." (the single-file golden layout), whichever names more of the architecture's reference keys.</summary>
    internal static string DetectPrefix(SafeTensorFile file, SegmentationNetwork network)
    {
        var keys = WeightLayout.KeyMap(network).Select(t => t.ReferenceName).ToList();
        return keys.Count(k => file.Contains("weights." + k)) > keys.Count(file.Contains) ? "weights." : "";
    }
}
