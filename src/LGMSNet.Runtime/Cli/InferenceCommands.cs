using System.CommandLine;
using System.Globalization;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Reports;
using LGMSNet.Runtime.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>eval</c> and <c>predict</c>: trained weights on data, through the fused inference path.</summary>
internal static class InferenceCommands
{
    public static Command Eval(CliContext context)
    {
        var arch = new Argument<string>("arch") { Description = "Architecture of the weights." };
        var weights = new Option<string?>("--weights") { Description = "Checkpoint (best.safetensors), weights file, or reference-layout weights (optional with --model)." };
        var data = new Option<string>("--data") { Description = "Dataset folder (any dataset: evaluating on one not trained on is the zero-shot test) or 'synthetic'.", Required = true };
        var split = new Option<string?>("--split") { Description = "File listing the cases to evaluate (default: all cases)." };
        var size = new Option<string?>("--size") { Description = "Input size (default: the size the checkpoint was trained at)." };
        var common = new CommonInferenceOptions();
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Skip unreadable cases with a warning." };
        var command = new Command("eval", "Evaluate weights on a dataset (IoU, F1/Dice, SE, PC, SP, ACC; per-class Dice for multi-class).")
            { arch, weights, data, split, size, json, skipBad };
        common.AddTo(command);
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            var (network, trainedSize, device, inputs) = common.Load(context, descriptor, result.GetValue(weights), result);
            using (network)
            {
                int[] inputSize = result.GetValue(size) is { } s ? Format.ParseSize(s, descriptor.Info.Dims) : trainedSize;
                if (descriptor.Info.CheckInputSize(inputSize.Select(v => (long)v).ToArray()) is { } problem) throw new CliException("--size: " + problem, 2);
                var dataset = OpenDataset(result.GetValue(data)!, result.GetValue(split), descriptor, inputSize, inputs);
                var skipped = new List<string>();
                var cases = new List<CaseData>();
                for (int i = 0; i < dataset.CaseIds.Count; i++)
                {
                    try
                    {
                        cases.Add(dataset.Load(i));
                    }
                    catch (DataException e) when (result.GetValue(skipBad))
                    {
                        skipped.Add(e.Message);
                        context.Error.WriteLine("warning: skipped " + e.Message);
                    }
                }
                if (cases.Count == 0) throw new DataException("no cases to evaluate");
                var predictor = new Predictor(network, device, inputSize);
                var metrics = Evaluation.Evaluate(predictor, cases, descriptor.Info.Classes, 4);
                var (empty, full) = Evaluation.Baselines(cases, descriptor.Info.Classes);
                if (result.GetValue(json))
                {
                    context.WriteJson(new Dictionary<string, object?>
                    {
                        ["architecture"] = descriptor.Info.Name,
                        ["weights"] = result.GetValue(weights),
                        ["engine"] = network is Deploy.OnnxNetwork ? "onnx" : "torch",
                        ["dataset"] = dataset.Description,
                        ["input_size"] = inputSize,
                        ["metrics"] = RunReport.Metrics(metrics),
                        ["baselines"] = new { empty = RunReport.Metrics(empty), all_foreground = RunReport.Metrics(full) },
                        ["skipped"] = skipped,
                    });
                    return 0;
                }
                context.Out.WriteLine($"{descriptor.Info.Name} on {dataset.Description} at {string.Join("x", inputSize)}");
                var table = new TextTable("", "cases", "IoU", "F1", "Dice", "SE", "PC", "SP", "ACC").AlignRight(1, 2, 3, 4, 5, 6, 7, 8);
                foreach (var (label, m) in new[] { ("model", metrics), ("baseline: predict nothing", empty), ("baseline: predict everything", full) })
                    table.Add(label, m.Cases, F(m.Iou), F(m.F1), F(m.Dice), F(m.Sensitivity), F(m.Precision), F(m.Specificity), F(m.Accuracy));
                context.Out.WriteLine(table);
                if (metrics.PerClassDice != null)
                    context.Out.WriteLine("per-class Dice: " + string.Join(", ", metrics.PerClassDice.Select((d, c) => $"class {c + 1} {F(d)}")));
                return 0;
            }
        });
        return command;
    }

    public static Command Predict(CliContext context)
    {
        var arch = new Argument<string>("arch") { Description = "Architecture of the weights." };
        var weights = new Option<string?>("--weights") { Description = "Checkpoint or weights file (optional with --model)." };
        var input = new Option<string>("--input") { Description = "An image/volume file or a folder of them (PNG, JPEG, BMP; NIfTI .nii/.nii.gz for 3D).", Required = true };
        var output = new Option<string>("--output") { Description = "Folder for the masks (same file names, format and size as the inputs).", Required = true };
        var size = new Option<string?>("--size") { Description = "Network input size (default: the training size)." };
        var common = new CommonInferenceOptions();
        var command = new Command("predict", "Segment images or volumes; masks are written in each input's format and size.") { arch, weights, input, output, size };
        common.AddTo(command);
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            string source = result.GetValue(input)!, target = result.GetValue(output)!;
            var files = Directory.Exists(source)
                ? Directory.EnumerateFiles(source).Where(f => IsInput(f, descriptor.Info.Dims)).OrderBy(f => f, StringComparer.Ordinal).ToList()
                : File.Exists(source) ? new List<string> { source } : throw new CliException($"--input {source}: no such file or folder", 2);
            if (files.Count == 0) throw new CliException($"--input {source}: no {(descriptor.Info.Dims == 2 ? "PNG/JPEG/BMP images" : "NIfTI volumes")} found", 2);
            var (network, trainedSize, device, inputs) = common.Load(context, descriptor, result.GetValue(weights), result);
            using (network)
            {
                int[] inputSize = result.GetValue(size) is { } s ? Format.ParseSize(s, descriptor.Info.Dims) : trainedSize;
                if (descriptor.Info.CheckInputSize(inputSize.Select(v => (long)v).ToArray()) is { } problem) throw new CliException("--size: " + problem, 2);
                Directory.CreateDirectory(target);
                var predictor = new Predictor(network, device, inputSize);
                foreach (var file in files)
                {
                    // Masks keep the input's name and format; BMP, which we read but cannot encode, becomes PNG.
                    string name = Path.GetFileName(file);
                    if (Path.GetExtension(name).Equals(".bmp", StringComparison.OrdinalIgnoreCase)) name = Path.ChangeExtension(name, ".png");
                    string destination = Path.Combine(target, name);
                    if (descriptor.Info.Dims == 2) Predict2D(predictor, descriptor, file, destination, inputSize, inputs);
                    else Predict3D(predictor, descriptor, file, destination);
                    context.Out.WriteLine($"{file} -> {destination}");
                }
                return 0;
            }
        });
        return command;
    }

    private static void Predict2D(Predictor predictor, ArchitectureDescriptor descriptor, string file, string destination, int[] size, InputConvention inputs)
    {
        var image = ImageCodec.Read(file);
        var resized = ImageCodec.ResizeBilinear(image.Pixels, image.Width, image.Height, 3, size[1], size[0]);
        var data = ImageFolderDataset.ToChannels(resized, size[0] * size[1], descriptor.Info.InChannels, inputs, Path.GetFileName(file));
        using var scope = NewDisposeScope();
        var logits = predictor.Logits(data, 1, descriptor.Info.InChannels, size);
        // Back to the input's size on the logits (bilinear), then threshold or argmax.
        var original = nn.functional.interpolate(logits, new long[] { image.Height, image.Width }, mode: InterpolationMode.Bilinear, align_corners: false)[0];
        var labels = Predictor.Labels(original);
        byte scale = descriptor.Info.Classes == 1 ? (byte)255 : (byte)1;
        for (int i = 0; i < labels.Length; i++) labels[i] = (byte)(labels[i] * scale);
        ImageCodec.WriteGray(destination, labels, image.Width, image.Height);
    }

    private static void Predict3D(Predictor predictor, ArchitectureDescriptor descriptor, string file, string destination)
    {
        var (header, volume) = Nifti.Read(file);
        if (volume.Channels != descriptor.Info.InChannels)
            throw new DataException($"{file} has {volume.Channels} channel(s); {descriptor.Info.Name} wants {descriptor.Info.InChannels}");
        Intensity.Standardise(volume.Data, volume.Channels);
        using var logits = predictor.SlidingWindow(volume);
        Nifti.WriteLabels(destination, new LabelMap(Predictor.Labels(logits), volume.Size), header);
    }

    internal static ISegmentationDataset OpenDataset(string data, string? split, ArchitectureDescriptor descriptor, int[] size, InputConvention inputs)
    {
        var info = descriptor.Info;
        if (string.Equals(data, "synthetic", StringComparison.OrdinalIgnoreCase))
            return new SyntheticDataset(info.Dims, info.InChannels, info.Classes, size, 100, 42, 1_000_000);
        if (!Directory.Exists(data)) throw new DataException($"--data {data}: no such folder");
        var ids = split != null ? ImageFolderDataset.ReadSplit(split) : null;
        return info.Dims == 3
            ? new DecathlonDataset(data, info.InChannels, info.Classes, ids)
            : new ImageFolderDataset(data, new ImageFolderOptions(size, info.InChannels, info.Classes, inputs), ids);
    }

    private static bool IsInput(string file, int dims) => dims == 2
        ? ImageCodec.Extensions.Contains(Path.GetExtension(file).ToLowerInvariant())
        : file.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);

    private static string F(double value) => double.IsFinite(value) ? value.ToString("0.0000", CultureInfo.InvariantCulture) : "-";

    /// <summary>Options shared by eval and predict, and loading weights into the fused inference form.</summary>
    private sealed class CommonInferenceOptions
    {
        private readonly Option<string> _device = new("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        private readonly Option<int> _threads = new("--threads") { Description = "CPU threads for libtorch (default: all cores)." };
        private readonly Option<string?> _convention = new("--input-convention") { Description = "standard or authors (default: what the weights file records; imported reference weights record authors)." };
        private readonly Option<bool> _unfused = new("--no-fuse") { Description = "Run the training-form network instead of the fused inference form." };
        private readonly Option<string> _engine = new("--engine") { Description = "torch (TorchSharp) or onnx (ONNX Runtime on the CPU: the weights exported in memory, or --model).", DefaultValueFactory = _ => "torch" };
        private readonly Option<string?> _model = new("--model") { Description = "--engine onnx: an exported model.onnx to run instead of exporting the weights." };

        public void AddTo(Command command)
        {
            _device.AcceptOnlyFromAmong("cpu", "cuda");
            command.Add(_device);
            command.Add(_threads);
            _convention.AcceptOnlyFromAmong("standard", "authors");
            command.Add(_convention);
            command.Add(_unfused);
            _engine.AcceptOnlyFromAmong("torch", "onnx");
            command.Add(_engine);
            command.Add(_model);
        }

        public (SegmentationNetwork Network, int[] TrainedSize, Device Device, InputConvention Inputs) Load(CliContext context,
            ArchitectureDescriptor descriptor, string? weights, ParseResult result)
        {
            bool onnx = result.GetValue(_engine) == "onnx";
            string? model = result.GetValue(_model);
            if (model != null && !onnx) throw new CliException("--model needs --engine onnx", 2);
            if (onnx && result.GetValue(_device) != "cpu") throw new CliException("--engine onnx runs on the CPU (--device cpu)", 2);
            if (onnx && model != null && weights == null) return LoadOnnxModel(descriptor, model, result);
            if (weights == null) throw new CliException("give --weights" + (onnx ? " or --model" : ""), 2);
            var device = TorchRuntime.Device(result.GetValue(_device)!);
            if (result.GetValue(_threads) > 0) torch.set_num_threads(result.GetValue(_threads));
            var network = descriptor.Create();
            var (file, note) = Checkpoint.LoadWeights(network, weights);
            if (note != null) context.Error.WriteLine("note: " + note);
            network.to(device);
            network.eval();
            if (onnx)
            {
                using var torchNetwork = network;
                network = model != null
                    ? Deploy.OnnxEngine.FromFile(model, descriptor.Info, result.GetValue(_threads))
                    : Deploy.OnnxEngine.FromNetwork(torchNetwork, result.GetValue(_threads));
            }
            else if (!result.GetValue(_unfused)) network.FuseForInference();
            var trained = Checkpoint.ReadProgress(file)?.InputSize ?? descriptor.Info.MultiplyAddsInputSize.ToArray();
            var inputs = result.GetValue(_convention) is { } given
                ? (given == "authors" ? InputConvention.Authors : InputConvention.Standard)
                : Checkpoint.ReadInputConvention(file) ?? InputConvention.Standard;
            return (network, trained, device, inputs);
        }

        /// <summary>--engine onnx --model without weights: size and input convention from the model's metadata.</summary>
        private (SegmentationNetwork, int[], Device, InputConvention) LoadOnnxModel(ArchitectureDescriptor descriptor, string model, ParseResult result)
        {
            var session = Deploy.OnnxEngine.Open(model, descriptor.Info, result.GetValue(_threads));
            var metadata = session.ModelMetadata.CustomMetadataMap;
            int[] size = metadata.TryGetValue(Deploy.OnnxMetadata.InputSize, out var s) ? Format.ParseSize(s, descriptor.Info.Dims) : descriptor.Info.MultiplyAddsInputSize.ToArray();
            var inputs = result.GetValue(_convention) is { } given
                ? (given == "authors" ? InputConvention.Authors : InputConvention.Standard)
                : metadata.GetValueOrDefault(Deploy.OnnxMetadata.InputConvention) == "authors" ? InputConvention.Authors : InputConvention.Standard;
            return (new Deploy.OnnxNetwork(descriptor.Info, session), size, CPU, inputs);
        }
    }
}
