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
    /// <summary>2D images eval passes the network at once (predict: one).</summary>
    private const int EvalBatch = 4;

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
        var perCase = new Option<string?>("--per-case") { Description = "Also write each case's IoU, Dice, HD95 and NSD to this CSV file (on each case's own grid)." };
        var command = new Command("eval", "Evaluate weights on a dataset (IoU, F1/Dice, SE, PC, SP, ACC; per-class Dice for multi-class).")
            { arch, weights, data, split, size, json, skipBad, perCase };
        common.AddTo(command);
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            using var segmenter = common.Load(context, descriptor, result.GetValue(weights), result.GetValue(size), result, EvalBatch);
            {
                int[] inputSize = segmenter.InputSize;
                var inputs = segmenter.Convention;
                var dataset = OpenDataset(result.GetValue(data)!, result.GetValue(split), descriptor, inputSize, inputs, segmenter.Plan,
                    note => context.Error.WriteLine("warning: " + note));
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
                var labels = LabelSummary.Of("evaluation set", cases);
                foreach (var warning in labels.Warnings) context.Error.WriteLine("warning: " + warning.Message);
                var metrics = Evaluation.Evaluate(segmenter.Predictor, cases, descriptor.Info.Classes, EvalBatch);
                var (empty, full) = Evaluation.Baselines(cases, descriptor.Info.Classes);
                if (result.GetValue(perCase) is { } table2)
                {
                    AtomicFile.WriteAllText(table2, Scoring.Csv(metrics.PerCase!));
                    context.Error.WriteLine($"per-case scores written to {table2}");
                }
                if (result.GetValue(json))
                {
                    context.WriteJson(new Dictionary<string, object?>
                    {
                        ["architecture"] = descriptor.Info.Name,
                        ["weights"] = result.GetValue(weights) is { Length: 1 } one ? one[0] : result.GetValue(weights),
                        ["engine"] = segmenter.Network is Deploy.OnnxNetwork ? "onnx" : "torch",
                        ["members"] = segmenter.Networks.Count,
                        ["tta"] = segmenter.Flip ? "flip" : "none",
                        ["dataset"] = dataset.Description,
                        ["input_size"] = inputSize,
                        ["input_convention"] = inputs.ToString().ToLowerInvariant(),
                        ["metrics"] = RunReport.Metrics(metrics),
                        ["per_case"] = metrics.PerCase,
                        ["baselines"] = new { empty = RunReport.Metrics(empty), all_foreground = RunReport.Metrics(full) },
                        ["skipped"] = skipped,
                        ["labels"] = labels,
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
        var output = new OutputOption("Folder for the masks (the inputs' names and sizes; see --mask-format). Never the --input folder.", required: true);
        var size = new Option<string?>("--size", "-s") { Description = "Network input size (default: the training size)." };
        var maskFormat = new Option<string>("--mask-format")
            { Description = "png (lossless; the default) or same (the input's format: JPEG inputs get lossy JPEG masks). Volumes are always NIfTI.", DefaultValueFactory = _ => "png" };
        maskFormat.AcceptOnlyFromAmong("png", "same");
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace masks that already exist in the output folder (inputs are never replaced)." };
        var common = new CommonInferenceOptions();
        var command = new Command("predict", "Segment images or volumes; masks are written at each input's size, as PNG (2D) or NIfTI (3D).")
            { arch, weights, input, size, maskFormat, overwrite };
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
            IReadOnlyList<(string Input, string Mask)> plan;
            try
            {
                plan = PredictionOutputs.Plan(files, Directory.Exists(source) ? source : null, target, descriptor.Info.Dims,
                    result.GetValue(maskFormat) == "same" ? MaskFormat.Same : MaskFormat.Png, result.GetValue(overwrite));
            }
            catch (PredictionOutputException e)
            {
                throw new UserErrorException(e.Message, 2);
            }
            using var segmenter = common.Load(context, descriptor, result.GetValue(weights), result.GetValue(size), result, imagesPerBatch: 1);
            {
                Directory.CreateDirectory(target);
                foreach (var (file, destination) in plan)
                {
                    if (descriptor.Info.Dims == 2) Predict2D(segmenter, file, destination);
                    else Predict3D(context, segmenter, file, destination);
                    context.Out.WriteLine($"{file} -> {destination}");
                }
                return 0;
            }
        });
        return command;
    }

    private static void Predict2D(Segmenter segmenter, string file, string destination)
    {
        var labels = segmenter.SegmentImage(file);
        // Binary masks are written 0/255 (viewable); multi-class masks as class indices.
        if (segmenter.Architecture.Classes == 1)
            for (int i = 0; i < labels.Data.Length; i++) labels.Data[i] = (byte)(labels.Data[i] * 255);
        ImageCodec.WriteGray(destination, labels.Data, labels.Size[1], labels.Size[0]);
    }

    private static void Predict3D(CliContext context, Segmenter segmenter, string file, string destination)
    {
        var (labels, header) = segmenter.SegmentVolume(file);
        Nifti.WriteLabels(destination, labels, header);
        foreach (var note in segmenter.Notes) context.Error.WriteLine("warning: " + note);
        segmenter.Notes.Clear();
    }

    internal static ISegmentationDataset OpenDataset(string data, string? split, ArchitectureDescriptor descriptor, int[] size, InputConvention inputs,
        Data.Preprocessing.PreprocessingPlan? plan = null, Action<string>? warn = null)
    {
        var info = descriptor.Info;
        if (string.Equals(data, "synthetic", StringComparison.OrdinalIgnoreCase))
            return new SyntheticDataset(info.Dims, info.InChannels, info.Classes, size, 100, 42, 1_000_000);
        if (!Directory.Exists(data)) throw new DataException($"--data {data}: no such folder");
        var ids = split != null ? ImageFolderDataset.ReadSplit(split) : null;
        return info.Dims == 3
            ? new DecathlonDataset(data, info.InChannels, info.Classes, ids) { Plan = plan, Warn = warn }
            : new ImageFolderDataset(data, new ImageFolderOptions(size, info.InChannels, info.Classes, inputs), ids);
    }

    private static bool IsInput(string file, int dims) => dims == 2
        ? ImageCodec.Extensions.Contains(Path.GetExtension(file).ToLowerInvariant())
        : file.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);

    private static string F(double value) => double.IsFinite(value) ? value.ToString("0.0000", CultureInfo.InvariantCulture) : "-";

    private static Option<string[]> WeightsOption(string description) =>
        new("--weights", "-w") { Description = description + " Repeat -w for each member (optional with --engine onnx --model).", Arity = ArgumentArity.OneOrMore };

    /// <summary>Options shared by eval and predict, and loading weights into the fused inference form.</summary>
    private sealed class CommonInferenceOptions
    {
        private readonly Option<string> _device = new("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        private readonly Option<int> _threads = new("--threads") { Description = "CPU threads for libtorch (default: all cores)." };
        private readonly Option<string?> _convention = new("--input-convention") { Description = "standard or authors (default: what the weights file records; imported reference weights record authors)." };
        private readonly Option<bool> _unfused = new("--no-fuse") { Description = "Run the training-form network instead of the fused inference form." };
        private readonly Option<string> _engine = new("--engine")
        {
            Description = "auto (the default: on the CPU the engine measured faster on this machine for this network and input size, " +
                          "among those that pass their check - onnx only once its in-memory export matches TorchSharp on a seeded input; the decision " +
                          "is cached in $XDG_CACHE_HOME/lgmsnet/engine-choice.json; torch on CUDA and with --no-fuse), " +
                          "torch (TorchSharp), or onnx (ONNX Runtime on the CPU: the weights exported in memory, or --model).",
            DefaultValueFactory = _ => "auto",
        };
        private readonly Option<string?> _model = new("--model") { Description = "--engine onnx: an exported model.onnx to run instead of exporting the weights." };
        private readonly Option<string> _tta = new("--tta") { Description = "Test-time augmentation: none, or flip (average over every mirror combination of the spatial axes).", DefaultValueFactory = _ => "none" };
        private readonly Option<bool> _unfinished = new("--include-unfinished") { Description = "Use the best checkpoints of runs that have not finished (running, stopped, failed or died), with a warning, instead of refusing." };

        public void AddTo(Command command)
        {
            _device.AcceptOnlyFromAmong("cpu", "cuda");
            command.Add(_device);
            command.Add(_threads);
            _convention.AcceptOnlyFromAmong("standard", "authors");
            command.Add(_convention);
            command.Add(_unfused);
            _engine.AcceptOnlyFromAmong("auto", "torch", "onnx");
            command.Add(_engine);
            command.Add(_model);
            _tta.AcceptOnlyFromAmong("none", "flip");
            command.Add(_tta);
            command.Add(_unfinished);
        }

        /// <summary>The segmenter eval or predict runs; <paramref name="imagesPerBatch"/> is how many 2D images it passes the
        /// network at once (what <c>--engine auto</c> times; 3D runs sliding windows).</summary>
        public Segmenter Load(CliContext context, ArchitectureDescriptor descriptor, string[]? weights, string? size, ParseResult result, int imagesPerBatch)
        {
            string engine = result.GetValue(_engine)!;
            string? model = result.GetValue(_model);
            bool cpu = result.GetValue(_device) == "cpu";
            if (model != null && engine == "torch") throw new UserErrorException("--model runs an exported model in ONNX Runtime; it does not go with --engine torch", 2);
            if (engine == "onnx" && !cpu) throw new UserErrorException("--engine onnx runs on the CPU (--device cpu)", 2);
            if (model != null && !cpu) throw new UserErrorException("--model runs in ONNX Runtime on the CPU (--device cpu)", 2);
            if (model != null && result.GetValue(_unfused)) throw new UserErrorException("--no-fuse runs the TorchSharp training form; it does not go with --model", 2);
            // auto on the CPU: the engine measured faster here for this network and input, among those that pass their check
            // (Deploy.AutoEngine); with --model, that model; on CUDA, or with --no-fuse (the TorchSharp training form), TorchSharp.
            bool measure = engine == "auto" && model == null && cpu && !result.GetValue(_unfused);
            bool onnx = engine == "onnx" || (engine == "auto" && model != null);
            int threads = result.GetValue(_threads);
            if (threads > 0) torch.set_num_threads(threads);
            int[]? inputSize = size is null ? null : Format.ParseSize(size, descriptor.Info.Dims);
            if (inputSize != null && descriptor.Info.CheckInputSize(inputSize.Select(v => (long)v).ToArray()) is { } problem)
                throw new UserErrorException("--size: " + problem, 2);
            var given = result.GetValue(_convention);
            InputConvention? chosen = given == null ? null : given == "authors" ? InputConvention.Authors : InputConvention.Standard;

            bool flip = result.GetValue(_tta) == "flip";
            if (onnx && model != null && weights is null or { Length: 0 })
            {
                // --model without weights: the size and input convention come from the model's metadata.
                var session = Deploy.OnnxEngine.Open(model, descriptor.Info, threads);
                var metadata = session.ModelMetadata.CustomMetadataMap;
                int[] trained = metadata.TryGetValue(Deploy.OnnxMetadata.InputSize, out var s) ? Format.ParseSize(s, descriptor.Info.Dims) : descriptor.Info.MultiplyAddsInputSize.ToArray();
                var recorded = metadata.GetValueOrDefault(Deploy.OnnxMetadata.InputConvention) == "authors" ? InputConvention.Authors : InputConvention.Standard;
                var plan = metadata.TryGetValue(Deploy.OnnxMetadata.PreprocessingPlan, out var planJson)
                    ? Data.Preprocessing.PreprocessingPlan.FromJson(planJson, $"{model}: metadata '{Deploy.OnnxMetadata.PreprocessingPlan}'")
                    : null;
                if (descriptor.Info.Dims == 3) NotePlan(context, model, plan);
                return Segmenter.ForNetwork(new Deploy.OnnxNetwork(descriptor.Info, session), CPU, inputSize ?? trained, chosen ?? recorded, flip, plan);
            }
            if (weights is null or { Length: 0 }) throw new UserErrorException("give --weights" + (onnx ? " or --model" : ""), 2);
            var files = Members(weights, context, result.GetValue(_unfinished));
            if (model != null && files.Count > 1) throw new UserErrorException("--model runs one exported network; give one --weights with it", 2);
            var members = new List<Segmenter>();
            bool decided = false;
            try
            {
                foreach (var file in files)
                {
                    if (files.Count > 1) context.Error.WriteLine($"ensemble member {members.Count + 1}/{files.Count}: {file}");
                    // ONNX export reads the unfused network (it folds and merges itself).
                    var member = Segmenter.Load(descriptor.Create(), file, result.GetValue(_device)!, inputSize, chosen, fuse: !onnx && !measure && !result.GetValue(_unfused));
                    members.Add(member);
                    if (member.Weights?.Note is { } note) context.Error.WriteLine("note: " + note);
                    if (descriptor.Info.Dims == 3 && members.Count == 1) NotePlan(context, file, member.Plan);
                    if (given == null && member.Weights?.Layout == KeyLayout.Reference && member.Convention == InputConvention.Authors)
                        context.Error.WriteLine($"note: {file} is in the authors' key layout; using the authors' input convention (BGR, normalised then /255 again; --input-convention overrides)");
                    if (onnx && model != null) members[^1] = member.WithNetwork(Deploy.OnnxEngine.FromFile(model, descriptor.Info, threads));
                    else if (onnx) members[^1] = member.WithNetwork(Deploy.OnnxEngine.FromNetwork(member.Network, threads));
                    else if (measure)
                    {
                        // 3D: one sliding window per timed call (a 96³ window takes seconds; predict runs them two at a time).
                        members[^1] = Deploy.AutoEngine.Choose(member, descriptor.Info.Dims == 3 ? 1 : imagesPerBatch, threads,
                            line => context.Error.WriteLine("note: " + line), out var decision);
                        // An ensemble's members share one decision (one architecture and size): said once.
                        if (decision != null && !decided)
                        {
                            context.Error.WriteLine("note: " + decision.Describe(Deploy.AutoEngine.CachePath));
                            decided = true;
                        }
                    }
                }
            }
            catch
            {
                foreach (var member in members) member.Dispose();
                throw;
            }
            if (members.Count == 1 && !flip) return members[0];
            var sizes = members.Select(m => string.Join("x", m.InputSize)).Distinct().ToList();
            if (inputSize == null && sizes.Count > 1)
                context.Error.WriteLine($"warning: ensemble members were trained at different sizes ({string.Join(", ", sizes)}); using the first's (give --size to choose)");
            if (members.Select(m => m.Convention).Distinct().Count() > 1)
                context.Error.WriteLine($"warning: ensemble members record different input conventions; using the first's ({members[0].Convention.ToString().ToLowerInvariant()}; give --input-convention to choose)");
            return Segmenter.Ensemble(members, flip);
        }

        /// <summary>Says which preprocessing a 3D model's volumes get: its plan, or (weights from before plans) none.</summary>
        private static void NotePlan(CliContext context, string file, Data.Preprocessing.PreprocessingPlan? plan) =>
            context.Error.WriteLine(plan != null
                ? $"preprocessing plan of {file}: {plan.Describe()}"
                : $"note: {file} carries no preprocessing plan (written before plans existed): volumes are used as stored, standardised per case");

        /// <summary>The weight files: each --weights value is a file, or a folder searched for best.safetensors (a run, or a
        /// folder of runs such as a k-fold study). A run found in a folder must have finished: one still running, stopped,
        /// failed or dead is named with its state and refused (or, with --include-unfinished, used with a warning); a file
        /// named directly is used, with a warning when its run has not finished.</summary>
        private static List<string> Members(string[] weights, CliContext context, bool includeUnfinished)
        {
            var files = new List<string>();
            var unfinished = new List<string>();
            foreach (var given in weights)
            {
                if (File.Exists(given))
                {
                    files.Add(given);
                    if (Unfinished(Path.GetDirectoryName(Path.GetFullPath(given))!) is { } state)
                        context.Error.WriteLine($"warning: {given}: its run has not finished ({state})");
                }
                else if (Directory.Exists(given))
                {
                    var found = Directory.EnumerateFiles(given, Trainer.BestCheckpoint, SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
                    if (found.Count == 0) throw new UserErrorException($"--weights {given}: no {Trainer.BestCheckpoint} in this folder or below", 2);
                    foreach (var file in found)
                        if (Unfinished(Path.GetDirectoryName(file)!) is { } state)
                        {
                            unfinished.Add($"{Path.GetDirectoryName(file)}: {state}");
                            if (includeUnfinished) files.Add(file);
                        }
                        else files.Add(file);
                }
                else throw new UserErrorException($"--weights {given}: no such file or folder", 2);
            }
            if (unfinished.Count > 0 && !includeUnfinished)
                throw new UserErrorException($"{unfinished.Count} run(s) under --weights have not finished, so their best checkpoints are not final:\n  " +
                                             string.Join("\n  ", unfinished) + "\nresume them (train --resume DIR), or give --include-unfinished to use them as they are", 1);
            foreach (var run in unfinished) context.Error.WriteLine($"warning: using an unfinished run (--include-unfinished): {run}");
            return files;
        }

        /// <summary>How the run in <paramref name="folder"/> stands when it is a run folder that has not finished; else null.</summary>
        private static string? Unfinished(string folder)
        {
            if (!File.Exists(RunFile.PathOf(folder))) return null;
            var condition = RunFile.Inspect(folder);
            return condition.IsFinished ? null : condition.Description;
        }
    }
}
