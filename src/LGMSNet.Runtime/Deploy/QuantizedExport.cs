using System.Text.Json;
using System.Text.Json.Serialization;
using Google.Protobuf;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;
using Onnx;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>Mean scores of one model on the validation cases, in points (0–100).</summary>
public sealed record PrecisionScores(
    [property: JsonPropertyName("iou")] double Iou,
    [property: JsonPropertyName("dice")] double Dice);

/// <summary>What a reduced-precision export costs in accuracy, measured on validation cases the user named: the
/// float model and the reduced one, run in ONNX Runtime through the same predictor and metrics as <c>eval</c>.</summary>
public sealed record PrecisionReport
{
    [JsonPropertyName("precision")] public required string Precision { get; init; }
    [JsonPropertyName("calibration")] public required string Calibration { get; init; }
    [JsonPropertyName("calibration_data")] public required string CalibrationData { get; init; }
    [JsonPropertyName("calibration_images")] public required int CalibrationImages { get; init; }
    [JsonPropertyName("validation_data")] public required string ValidationData { get; init; }
    [JsonPropertyName("validation_cases")] public required int ValidationCases { get; init; }
    [JsonPropertyName("input_size")] public required int[] InputSize { get; init; }
    [JsonPropertyName("float32")] public required PrecisionScores Float32 { get; init; }
    [JsonPropertyName("reduced")] public required PrecisionScores Reduced { get; init; }

    /// <summary>Float minus reduced mean IoU, in points (positive: the reduced model is worse).</summary>
    [JsonPropertyName("iou_drop")] public double IouDrop => Math.Round(Float32.Iou - Reduced.Iou, 4);

    [JsonPropertyName("dice_drop")] public double DiceDrop => Math.Round(Float32.Dice - Reduced.Dice, 4);

    /// <summary>The largest per-case IoU drop in points, and its case.</summary>
    [JsonPropertyName("largest_case_iou_drop")] public required double LargestCaseIouDrop { get; init; }

    [JsonPropertyName("largest_drop_case")] public required string LargestDropCase { get; init; }
    [JsonPropertyName("quantized_convolutions")] public required int QuantisedConvolutions { get; init; }
    [JsonPropertyName("float_convolutions")] public required int FloatConvolutions { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });
}

/// <summary>The int8 export: calibrate the float graph, rewrite it (<see cref="OnnxQuantizer"/>), and measure what it
/// costs on validation cases. The report is written into the model's metadata (<c>lgmsnet.precision</c>,
/// <c>lgmsnet.accuracy</c>) so the file carries its own accuracy cost.</summary>
public static class QuantizedExport
{
    public const string PrecisionKey = "lgmsnet.precision";
    public const string AccuracyKey = "lgmsnet.accuracy";

    public static (ModelProto Model, PrecisionReport Report) Int8(ModelProto float32, ArchitectureInfo info,
        IReadOnlyList<CaseData> calibration, string calibrationData, IReadOnlyList<CaseData> validation, string validationData,
        int[] inputSize, InputConvention convention, QuantizationOptions options, int threads = 0, Action<string>? progress = null)
    {
        if (calibration.Count == 0) throw new ArgumentException("no calibration images", nameof(calibration));
        if (validation.Count == 0) throw new ArgumentException("no validation cases", nameof(validation));
        var targets = OnnxQuantizer.CalibrationTargets(float32, options);
        progress?.Invoke($"calibrating {targets.Count} activation ranges on {calibration.Count} image(s)");
        var ranges = OnnxCalibrator.Calibrate(float32, targets, OnnxCalibrator.Inputs(calibration, inputSize), options, threads);
        var quantised = OnnxQuantizer.Quantize(float32, ranges, options);
        int convolutions = float32.Graph.Node.Count(n => n.OpType == "Conv");
        int converted = OnnxQuantizer.QuantisedConvolutions(float32, options).Count;

        progress?.Invoke($"measuring float32 and int8 on {validation.Count} validation case(s)");
        var before = Score(float32.ToByteArray(), info, validation, inputSize, convention, threads);
        var after = Score(quantised.ToByteArray(), info, validation, inputSize, convention, threads);
        var drops = before.PerCase!.Zip(after.PerCase!, (b, a) => (b.Id, Drop: 100 * (Zero(b.Iou) - Zero(a.Iou)))).ToList();
        var worst = drops.MaxBy(d => d.Drop);
        var report = new PrecisionReport
        {
            Precision = "int8",
            Calibration = options.Method == CalibrationMethod.MinMax ? "minmax" : $"percentile {options.Percentile}",
            CalibrationData = calibrationData,
            CalibrationImages = calibration.Count,
            ValidationData = validationData,
            ValidationCases = validation.Count,
            InputSize = inputSize,
            Float32 = Points(before),
            Reduced = Points(after),
            LargestCaseIouDrop = Math.Round(worst.Drop, 4),
            LargestDropCase = worst.Id,
            QuantisedConvolutions = converted,
            FloatConvolutions = convolutions - converted,
        };
        SetMetadata(quantised, PrecisionKey, "int8");
        SetMetadata(quantised, AccuracyKey, JsonSerializer.Serialize(report));
        return (quantised, report);
    }

    /// <summary>eval's scores of an ONNX model (in memory) on <paramref name="cases"/>.</summary>
    public static EvaluationResult Score(byte[] model, ArchitectureInfo info, IReadOnlyList<CaseData> cases, int[] inputSize,
        InputConvention convention, int threads = 0)
    {
        var network = new OnnxNetwork(info, OnnxEngine.Open(model, threads));
        Segmenter segmenter;
        try
        {
            segmenter = Segmenter.ForNetwork(network, CPU, inputSize, convention);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        using (segmenter) return Evaluation.Evaluate(segmenter.Predictor, cases, info.Classes, 4);
    }

    private static double Zero(double value) => double.IsNaN(value) ? 0 : value;

    private static PrecisionScores Points(EvaluationResult result) => new(Math.Round(100 * result.Iou, 4), Math.Round(100 * result.Dice, 4));

    private static void SetMetadata(ModelProto model, string key, string value)
    {
        var existing = model.MetadataProps.FirstOrDefault(p => p.Key == key);
        if (existing != null) existing.Value = value;
        else model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
    }
}
