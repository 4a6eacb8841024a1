using System.CommandLine;
using System.Globalization;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.IO;
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
        var weights = WeightsOption("Checkpoint (best.safetensors), weights file, or reference-layout weights; several (or a folder of runs) evaluate their ensemble.");
        var data = new Option<string>("--data", "-d") { Description = "Dataset folder (any dataset: evaluating on one not trained on is the zero-shot test) or 'synthetic'.", Required = true };
        var split = new Option<string?>("--split") { Description = "File listing the cases to evaluate (default: all cases)." };
        var size = new Option<string?>("--size", "-s") { Description = "Input size (default: the size the checkpoint was trained at)." };
        var common = new CommonInferenceOptions();
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Skip unreadable cases with a warning." };
        var command = new Command("eval", "Evaluate weights on a dataset (IoU, F1/Dice, SE, PC, SP, ACC; per-class Dice for multi-class).")
            { arch, weights, data, split, size, json, skipBad };
        common.AddTo(command);
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            var models = common.Load(context, descriptor, result.GetValue(weights)!, result);
            var (trainedSize, inputs) = (models.TrainedSize, models.Inputs);
            using (models)
            {
                int[] inputSize = result.GetValue(size) is { } s ? Format.ParseSize(s, descriptor.Info.Dims) : trainedSize;
                if (descriptor.Info.CheckInputSize(inputSize.Select(v => (long)v).ToArray()) is { } problem) throw new UserErrorException("--size: " + problem, 2);
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
                var predictor = models.Predictor(inputSize);
                var metrics = Evaluation.Evaluate(predictor, cases, descriptor.Info.Classes, 4);
                var (empty, full) = Evaluation.Baselines(cases, descriptor.Info.Classes);
                if (result.GetValue(json))
                {
                    context.WriteJson(new Dictionary<string, object?>
                    {
                        ["architecture"] = descriptor.Info.Name,
                        ["weights"] = result.GetValue(weights)!.Length == 1 ? result.GetValue(weights)![0] : result.GetValue(weights),
                        ["members"] = models.Networks.Count,
                        ["tta"] = models.Flip ? "flip" : "none",
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
                context.Out.WriteLine($"HD95 {F(metrics.Hd95)}, NSD {F(metrics.Nsd)} (tolerance {SurfaceMetrics.DefaultTolerance.ToString(CultureInfo.InvariantCulture)}; " +
                                      "physical units, at each case's original resolution)");
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
        var weights = WeightsOption("Checkpoint or weights file; several (or a folder of runs) predict with their ensemble.");
        var input = new Option<string>("--input", "-i") { Description = "An image/volume file or a folder of them (PNG, JPEG, BMP; NIfTI .nii/.nii.gz for 3D).", Required = true };
        var output = new OutputOption("Folder for the masks (same file names, format and size as the inputs).", required: true);
        var size = new Option<string?>("--size", "-s") { Description = "Network input size (default: the training size)." };
        var common = new CommonInferenceOptions();
        var command = new Command("predict", "Segment images or volumes; masks are written in each input's format and size.") { arch, weights, input, size };
        output.AddTo(command);
        common.AddTo(command);
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            string source = result.GetValue(input)!, target = output.GetValue(result)!;
            var files = Directory.Exists(source)
                ? Directory.EnumerateFiles(source).Where(f => IsInput(f, descriptor.Info.Dims)).OrderBy(f => f, StringComparer.Ordinal).ToList()
                : File.Exists(source) ? new List<string> { source } : throw new UserErrorException($"--input {source}: no such file or folder", 2);
            if (files.Count == 0) throw new UserErrorException($"--input {source}: no {(descriptor.Info.Dims == 2 ? "PNG/JPEG/BMP images" : "NIfTI volumes")} found", 2);
            var models = common.Load(context, descriptor, result.GetValue(weights)!, result);
            var (trainedSize, inputs) = (models.TrainedSize, models.Inputs);
            using (models)
            {
                int[] inputSize = result.GetValue(size) is { } s ? Format.ParseSize(s, descriptor.Info.Dims) : trainedSize;
                if (descriptor.Info.CheckInputSize(inputSize.Select(v => (long)v).ToArray()) is { } problem) throw new UserErrorException("--size: " + problem, 2);
                Directory.CreateDirectory(target);
                var predictor = models.Predictor(inputSize);
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

    private static Option<string[]> WeightsOption(string description) =>
        new("--weights", "-w") { Description = description + " Repeat -w for each member.", Required = true, Arity = ArgumentArity.OneOrMore };

    /// <summary>The loaded members of an ensemble (one network unless several weights were given).</summary>
    private sealed class LoadedModels(IReadOnlyList<SegmentationNetwork> networks, int[] trainedSize, Device device, InputConvention inputs, bool flip) : IDisposable
    {
        public IReadOnlyList<SegmentationNetwork> Networks { get; } = networks;

        public int[] TrainedSize { get; } = trainedSize;

        public InputConvention Inputs { get; } = inputs;

        public bool Flip { get; } = flip;

        public Predictor Predictor(int[] size) => new(Networks, device, size, Flip);

        public void Dispose()
        {
            foreach (var network in Networks) network.Dispose();
        }
    }

    /// <summary>Options shared by eval and predict, and loading weights into the fused inference form.</summary>
    private sealed class CommonInferenceOptions
    {
        private readonly Option<string> _device = new("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        private readonly Option<int> _threads = new("--threads") { Description = "CPU threads for libtorch (default: all cores)." };
        private readonly Option<string?> _convention = new("--input-convention") { Description = "standard or authors (default: what the weights file records; imported reference weights record authors)." };
        private readonly Option<bool> _unfused = new("--no-fuse") { Description = "Run the training-form network instead of the fused inference form." };
        private readonly Option<string> _tta = new("--tta") { Description = "Test-time augmentation: none, or flip (average over every mirror combination of the spatial axes).", DefaultValueFactory = _ => "none" };

        public void AddTo(Command command)
        {
            _device.AcceptOnlyFromAmong("cpu", "cuda");
            command.Add(_device);
            command.Add(_threads);
            _convention.AcceptOnlyFromAmong("standard", "authors");
            command.Add(_convention);
            command.Add(_unfused);
            _tta.AcceptOnlyFromAmong("none", "flip");
            command.Add(_tta);
        }

        public LoadedModels Load(CliContext context, ArchitectureDescriptor descriptor, string[] weights, ParseResult result)
        {
            var files = Members(weights);
            var loaded = new List<(SegmentationNetwork Network, int[] TrainedSize, InputConvention Inputs)>();
            try
            {
                foreach (var file in files)
                {
                    if (files.Count > 1) context.Error.WriteLine($"ensemble member {loaded.Count + 1}/{files.Count}: {file}");
                    var (network, trained, device, inputs) = LoadOne(context, descriptor, file, result);
                    loaded.Add((network, trained, inputs));
                }
            }
            catch
            {
                foreach (var member in loaded) member.Network.Dispose();
                throw;
            }
            var sizes = loaded.Select(m => string.Join("x", m.TrainedSize)).Distinct().ToList();
            if (sizes.Count > 1)
                context.Error.WriteLine($"warning: ensemble members were trained at different sizes ({string.Join(", ", sizes)}); using the first's (give --size to choose)");
            return new LoadedModels(loaded.Select(m => m.Network).ToList(), loaded[0].TrainedSize, TorchRuntime.Device(result.GetValue(_device)!),
                loaded[0].Inputs, result.GetValue(_tta) == "flip");
        }

        /// <summary>The weight files: each --weights value is a file, or a folder searched for best.safetensors (a run, or a folder of runs such as a k-fold study).</summary>
        private static List<string> Members(string[] weights)
        {
            var files = new List<string>();
            foreach (var given in weights)
            {
                if (File.Exists(given)) files.Add(given);
                else if (Directory.Exists(given))
                {
                    var found = Directory.EnumerateFiles(given, Trainer.BestCheckpoint, SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
                    if (found.Count == 0) throw new UserErrorException($"--weights {given}: no {Trainer.BestCheckpoint} in this folder or below", 2);
                    files.AddRange(found);
                }
                else throw new UserErrorException($"--weights {given}: no such file or folder", 2);
            }
            return files;
        }

        private (SegmentationNetwork Network, int[] TrainedSize, Device Device, InputConvention Inputs) LoadOne(CliContext context,
            ArchitectureDescriptor descriptor, string weights, ParseResult result)
        {
            var device = TorchRuntime.Device(result.GetValue(_device)!);
            if (result.GetValue(_threads) > 0) torch.set_num_threads(result.GetValue(_threads));
            var network = descriptor.Create();
            var (file, note) = Checkpoint.LoadWeights(network, weights);
            if (note != null) context.Error.WriteLine("note: " + note);
            network.to(device);
            network.eval();
            if (!result.GetValue(_unfused)) network.FuseForInference();
            var trained = Checkpoint.ReadProgress(file)?.InputSize ?? descriptor.Info.MultiplyAddsInputSize.ToArray();
            var inputs = result.GetValue(_convention) is { } given
                ? (given == "authors" ? InputConvention.Authors : InputConvention.Standard)
                : Checkpoint.ReadInputConvention(file) ?? InputConvention.Standard;
            return (network, trained, device, inputs);
        }
    }
}
