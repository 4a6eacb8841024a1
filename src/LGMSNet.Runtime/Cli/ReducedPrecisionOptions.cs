using System.CommandLine;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;
using Onnx;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>export --precision int8</c>'s options: which images calibrate the activation ranges and which cases measure
/// the accuracy cost. Both default to the run the weights come from (its run.json: the training data and split for
/// calibration, its test split — or else its validation split — for the report). Every case is read before anything is
/// exported, so a wrong folder, split, channel count or too few images is an error before any file is written.</summary>
internal sealed class ReducedPrecisionOptions
{
    public const int DefaultCalibrationCount = 32;

    private readonly Option<string> _precision = new("--precision")
    {
        Description = "onnx: float32, or int8 (static QDQ quantisation: per-channel int8 weights, calibrated uint8 activations; " +
                      "its IoU/Dice cost is measured on --validate and written beside the model). bf16 is refused with the measured reason.",
        DefaultValueFactory = _ => "float32",
    };

    private readonly Option<string?> _calibrate = new("--calibrate") { Description = "int8: dataset folder whose images calibrate activation ranges (default: the run's training data)." };
    private readonly Option<string?> _calibrateSplit = new("--calibrate-split") { Description = "int8: file listing the calibration cases (default: the run's training split, or every case)." };
    private readonly Option<int> _calibrateCount = new("--calibrate-count") { Description = $"int8: how many images calibrate (a seeded choice; default {DefaultCalibrationCount}).", DefaultValueFactory = _ => DefaultCalibrationCount };
    private readonly Option<string?> _validate = new("--validate") { Description = "int8: dataset folder whose cases measure the accuracy cost (default: the run's data)." };
    private readonly Option<string?> _validateSplit = new("--validate-split")
    {
        Description = "int8: file listing the validation cases (default, whenever the validated folder is the run's own data: the run's test split, " +
                      "else its validation split; another folder: every case). A report that includes cases the run trained on is warned about.",
    };
    private readonly Option<string> _method = new("--calibration") { Description = "int8: activation ranges from percentile (99.999th of each image; default) or minmax.", DefaultValueFactory = _ => "percentile" };
    private readonly Option<bool> _depthwise = new("--quantize-depthwise") { Description = "int8: quantise depthwise convolutions too (measured slower in ONNX Runtime: see docs/benchmarks.md)." };
    private readonly Option<int> _minimumReduction = new("--quantize-min-reduction")
    {
        Description = $"int8: quantise a convolution only when each output sums at least this many products (input channels per group × kernel volume; " +
                      $"default {QuantizationOptions.DefaultMinimumReduction}, the fastest measured; 0: every convolution but the head).",
        DefaultValueFactory = _ => QuantizationOptions.DefaultMinimumReduction,
    };

    public void AddTo(Command command)
    {
        _precision.AcceptOnlyFromAmong("float32", "int8", "bf16");
        _method.AcceptOnlyFromAmong("percentile", "minmax");
        foreach (var option in new Option[] { _precision, _calibrate, _calibrateSplit, _calibrateCount, _validate, _validateSplit, _method, _depthwise, _minimumReduction })
            command.Add(option);
    }

    /// <summary>The int8 plan with its cases read, or null for a float export; user errors for wrong combinations and input.</summary>
    public ReducedPrecisionPlan? Plan(ParseResult result, bool onnx, string weights, ArchitectureDescriptor descriptor, SafeTensorFile file)
    {
        string precision = result.GetValue(_precision)!;
        bool int8Options = result.GetValue(_calibrate) != null || result.GetValue(_calibrateSplit) != null || result.GetValue(_validate) != null ||
                           result.GetValue(_validateSplit) != null || result.GetResult(_calibrateCount) is { Implicit: false } ||
                           result.GetResult(_method) is { Implicit: false } || result.GetValue(_depthwise) || result.GetResult(_minimumReduction) is { Implicit: false };
        if (precision == "float32")
        {
            if (int8Options) throw new UserErrorException("--calibrate, --validate and the other calibration options need --precision int8", 2);
            return null;
        }
        if (!onnx) throw new UserErrorException($"--precision {precision} needs --format onnx (safetensors files keep the trained float32 weights)", 2);
        if (precision == "bf16") throw new UserErrorException(Bf16Refusal, 2);

        int count = result.GetValue(_calibrateCount);
        if (count < 1) throw new UserErrorException($"--calibrate-count {count}: give at least 1", 2);
        int minimumReduction = result.GetValue(_minimumReduction);
        if (minimumReduction < 0) throw new UserErrorException($"--quantize-min-reduction {minimumReduction}: give 0 or more", 2);
        var info = descriptor.Info;
        int[] size = Checkpoint.ReadProgress(file)?.InputSize ?? info.MultiplyAddsInputSize.ToArray();
        var convention = Checkpoint.ReadInputConvention(file) ?? InputConvention.Standard;
        var run = RunOf(weights, out string? runFolder);

        string calibrationData = result.GetValue(_calibrate) ?? run?.Data
            ?? throw new UserErrorException($"--precision int8 calibrates on images: give --calibrate DATA ({weights} is not in a run folder whose run.json names its data)", 2);
        string? calibrationSplit = result.GetValue(_calibrateSplit) ?? (result.GetValue(_calibrate) == null ? run?.TrainSplit : null);
        // The report defaults only to cases the run held out by a split file (its test split, else its validation split):
        // a run split by --val-fraction or --folds names no such file, and its data folder holds its training cases.
        // So does --validate naming the run's own data folder: its other cases are the ones the run trained on.
        string? heldOut = run?.TestSplit ?? run?.ValSplit;
        string? givenValidation = result.GetValue(_validate);
        string validationData = givenValidation ?? (heldOut != null ? run?.Data : null)
            ?? throw new UserErrorException("--precision int8 measures its accuracy cost on held-out cases: give --validate DATA [--validate-split FILE] (" +
                                            (run == null ? $"{weights} is not in a run folder with a run.json" : "the run's run.json names no test or validation split file") + ")", 2);
        bool runData = run != null && RealPath.SameFolder(validationData, run.Data);
        string? validationSplit = result.GetValue(_validateSplit) ?? (runData ? heldOut : null);

        string calibrationOption = result.GetValue(_calibrate) == null ? "--calibrate (default: the run's training data, from run.json)" : "--calibrate";
        string validationOption = result.GetValue(_validate) == null ? "--validate (default: the run's held-out split, from run.json)" : "--validate";
        var plan = Checkpoint.ReadPlan(file);
        var calibration = Read(calibrationOption, calibrationData, calibrationSplit, descriptor, size, convention, out string calibrationDescription, count, plan);
        var validation = Read(validationOption, validationData, validationSplit, descriptor, size, convention, out string validationDescription, null, plan);
        var warnings = new List<string>();
        var overlap = calibration.Select(c => c.Id).Intersect(validation.Select(c => c.Id)).Count();
        if (overlap > 0 && RealPath.SameFolder(calibrationData, validationData))
            warnings.Add($"{overlap} of the {calibration.Count} calibration image(s) are also validation cases, so the report is not wholly on held-out cases " +
                         "(give --calibrate-split and --validate-split files that do not overlap)");
        if (runData)
        {
            var trained = TrainingCases(runFolder!, run!);
            string how = validationSplit == null ? "every case of the run's data" : $"split {validationSplit}";
            string fix = heldOut != null && result.GetValue(_validateSplit) != null ? $"leave out --validate-split to use the run's held-out split {heldOut}" : "give --validate-split FILE listing cases the run held out";
            if (trained == null && validationSplit == null)
                warnings.Add($"the report measures {how} ({validationData}), and the run folder records no training split: the cases the run trained on " +
                             $"are among them, so the report is not on held-out cases ({fix})");
            else if (trained != null && validation.Count(c => trained.Contains(c.Id)) is > 0 and var trainedOn)
                warnings.Add($"{trainedOn} of the {validation.Count} validation case(s) ({how}) are cases the run trained on, so the report is not wholly " +
                             $"on held-out cases ({fix})");
        }
        if (validation.Any(c => c.Label == null))
            throw new UserErrorException($"{validationOption}: {validationData}: the cases need masks to measure IoU and Dice", 2);
        var options = new QuantizationOptions
        {
            Method = result.GetValue(_method) == "minmax" ? CalibrationMethod.MinMax : CalibrationMethod.Percentile,
            QuantizeDepthwise = result.GetValue(_depthwise),
            MinimumReduction = minimumReduction,
        };
        return new ReducedPrecisionPlan(calibration, calibrationDescription, validation, validationDescription, options, warnings);
    }

    /// <summary>Why bf16 is refused (docs/benchmarks.md, "Reduced precision"): no engine here runs LGMSNet faster in bf16.</summary>
    internal const string Bf16Refusal =
        "--precision bf16: no engine here runs an LGMSNet export faster in bf16, so it is not offered. ONNX Runtime's CPU provider has no bfloat16 " +
        "convolution kernels; TorchSharp (oneDNN, AVX-512 BF16) runs bf16 2.4-2.9x faster than its own float32, but at 256x256 that was 0.62x the speed " +
        "of ONNX Runtime on the float32 export (the default engine) at batch 1 and 0.35x at batch 8, and slower still than int8 " +
        "(LGMSNet.Benchmarks onnx; docs/benchmarks.md, \"Reduced precision\"). Use --precision int8, whose accuracy cost is measured.";

    private static TrainOptions? RunOf(string weights, out string? folder)
    {
        folder = File.Exists(weights) ? Path.GetDirectoryName(Path.GetFullPath(weights)) : null;
        if (folder == null || !File.Exists(RunFile.PathOf(folder))) return null;
        return RunFile.ReadOptions(folder);
    }

    /// <summary>The cases the run trained on: its split.json's training list, else its --train-split file; null when the folder records neither.</summary>
    private static HashSet<string>? TrainingCases(string runFolder, TrainOptions run)
    {
        if (SplitPolicy.Read(runFolder)?.GetValueOrDefault(SplitPolicy.Train) is { } recorded) return recorded.ToHashSet(StringComparer.Ordinal);
        if (run.TrainSplit == null || !File.Exists(run.TrainSplit)) return null;
        try
        {
            return ImageFolderDataset.ReadSplit(run.TrainSplit).ToHashSet(StringComparer.Ordinal);
        }
        catch (DataException)
        {
            return null;
        }
    }

    /// <summary>Reads the cases (all of them, or a seeded choice of <paramref name="count"/>) now, naming the option in every error.</summary>
    private static List<CaseData> Read(string option, string data, string? split, ArchitectureDescriptor descriptor, int[] size, InputConvention convention,
        out string description, int? count, Data.Preprocessing.PreprocessingPlan? plan)
    {
        ISegmentationDataset dataset;
        try
        {
            dataset = InferenceCommands.OpenDataset(data, split, descriptor, size, convention, plan);
        }
        catch (DataException e)
        {
            throw new UserErrorException($"{option}: {data}: {e.Message}", 2);
        }
        int available = dataset.CaseIds.Count;
        if (count is { } wanted && available < wanted)
            throw new UserErrorException($"{option}: {data}{(split != null ? $" (split {split})" : "")}: {available} image(s), too few for --calibrate-count {wanted}; " +
                                         "give more images or a smaller --calibrate-count", 2);
        if (available == 0) throw new UserErrorException($"{option}: {data}: no cases", 2);
        var indices = Enumerable.Range(0, available).ToList();
        if (count is { } n)
        {
            var random = new Random(0);
            indices = indices.OrderBy(_ => random.Next()).Take(n).Order().ToList();
        }
        var cases = new List<CaseData>(indices.Count);
        foreach (int index in indices)
        {
            CaseData loaded;
            try
            {
                loaded = dataset.Load(index);
            }
            catch (DataException e)
            {
                throw new UserErrorException($"{option}: {data}: {e.Message}", 2);
            }
            if (loaded.Image.Channels != descriptor.Info.InChannels)
                throw new UserErrorException($"{option}: {data}: case '{loaded.Id}' has {loaded.Image.Channels} channel(s); {descriptor.Info.Name} wants {descriptor.Info.InChannels}", 2);
            if (descriptor.Info.Dims == 3 && loaded.Image.Size.Where((s, axis) => s < size[axis]).Any())
                throw new UserErrorException($"{option}: {data}: volume '{loaded.Id}' ({string.Join("x", loaded.Image.Size)}) is smaller than one window ({string.Join("x", size)})", 2);
            cases.Add(loaded);
        }
        description = dataset.Description + (split != null ? $" (split {split})" : "");
        return cases;
    }
}

/// <summary>An int8 export's inputs, read and checked before anything is exported.</summary>
internal sealed record ReducedPrecisionPlan(IReadOnlyList<CaseData> Calibration, string CalibrationData, IReadOnlyList<CaseData> Validation,
    string ValidationData, QuantizationOptions Options, IReadOnlyList<string> Warnings)
{
    /// <summary>The accuracy report beside a model: model.onnx → model.accuracy.json.</summary>
    public static string ReportPath(string model) => Path.ChangeExtension(model, ".accuracy.json");

    public (ModelProto Model, PrecisionReport Report) Run(CliContext context, ModelProto float32, ArchitectureInfo info, int[] size, InputConvention convention)
    {
        if (OnnxQuantizer.QuantisedConvolutions(float32, Options).Count == 0)
            throw new UserErrorException($"--precision int8: no convolution of {info.Name} qualifies (every one is the head, depthwise, or sums fewer than " +
                                         $"{Options.MinimumReduction} products per output); lower --quantize-min-reduction (0 quantises all)", 2);
        foreach (var warning in Warnings) context.Error.WriteLine("warning: " + warning);
        var (model, report) = QuantizedExport.Int8(float32, info, Calibration, CalibrationData, Validation, ValidationData, size, convention, Options,
            progress: message => context.Error.WriteLine(message));
        context.Out.WriteLine($"int8: {report.QuantisedConvolutions} convolutions quantised, {report.FloatConvolutions} kept float (the head" +
                              $"{(Options.QuantizeDepthwise ? "" : ", depthwise")}{(Options.MinimumReduction > 0 ? $", fewer than {Options.MinimumReduction} products per output" : "")}); " +
                              $"calibrated on {report.CalibrationImages} image(s) of {report.CalibrationData} ({report.Calibration})");
        context.Out.WriteLine($"accuracy on {report.ValidationCases} case(s) of {report.ValidationData}: IoU {report.Float32.Iou:0.00} -> {report.Reduced.Iou:0.00} " +
                              $"({-report.IouDrop:+0.00;-0.00} points), Dice {report.Float32.Dice:0.00} -> {report.Reduced.Dice:0.00} ({-report.DiceDrop:+0.00;-0.00}); " +
                              $"largest per-case IoU drop {report.LargestCaseIouDrop:0.00} points ({report.LargestDropCase})");
        return (model, report);
    }
}
