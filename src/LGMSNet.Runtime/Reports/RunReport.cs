using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Reports;

/// <summary>Evaluation metrics as reported (rounded to 6 decimals; null where undefined).</summary>
public sealed record MetricsRow(
    [property: JsonPropertyName("val_loss")] double? ValLoss,
    [property: JsonPropertyName("iou")] double? Iou,
    [property: JsonPropertyName("f1")] double? F1,
    [property: JsonPropertyName("dice")] double? Dice,
    [property: JsonPropertyName("se")] double? Se,
    [property: JsonPropertyName("pc")] double? Pc,
    [property: JsonPropertyName("sp")] double? Sp,
    [property: JsonPropertyName("acc")] double? Acc,
    [property: JsonPropertyName("cases")] int Cases,
    [property: JsonPropertyName("per_class_dice"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double?[]? PerClassDice,
    [property: JsonPropertyName("per_class_iou"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double?[]? PerClassIou,
    [property: JsonPropertyName("hd95")] double? Hd95 = null,
    [property: JsonPropertyName("nsd")] double? Nsd = null);

/// <summary>One epoch as reported: its training numbers, then (flattened into the same JSON object) its
/// validation metrics when it was validated.</summary>
[JsonConverter(typeof(EpochRowConverter))]
public sealed record EpochRow(int Epoch, double? TrainLoss, double? Lr, double Seconds, long WorkingSetBytes, MetricsRow? Validation);

/// <summary>Case counts of the run, and the cases skipped under --skip-bad.</summary>
public sealed record CaseCounts(int Train, int Validation, int Test, IReadOnlyList<string> Skipped);

/// <summary>The trivial predictors' scores on the validation cases.</summary>
public sealed record Baselines(EvaluationResult Empty, EvaluationResult AllForeground);

/// <summary>metrics.json: the configuration, every epoch, the best epoch (chosen on validation), the
/// final evaluation of that checkpoint, test metrics when a test split was given, and baselines.
/// The CLI prints its summary from this object; --json prints it as metrics.json holds it.</summary>
public sealed record RunReport(
    string Architecture, string YamlSha256, long Parameters, string Dataset, CaseCounts Cases, string Selection, TrainOptions Options,
    IReadOnlyList<EpochRow> Epochs, EpochRow? Best, EpochRow? Final, MetricsRow? Test, Baselines? Baselines,
    double SecondsTotal, double SecondsPerEpoch, long PeakMemoryBytes,
    IReadOnlyDictionary<string, LabelSummary> Labels, IReadOnlyList<DataWarning> Warnings)
{
    public const string FileName = "metrics.json";

    public static RunReport Create(ArchitectureDescriptor architecture, TrainOptions options, RunData data, RunState state, Baselines? baselines,
        EvaluationResult? final, EvaluationResult? test)
    {
        var bestRecord = state.History.FirstOrDefault(r => r.Epoch == state.BestEpoch);
        var last = state.History.LastOrDefault();
        return new RunReport(
            architecture.Info.Name, architecture.Info.YamlSha256, architecture.Info.Parameters, data.Description,
            new CaseCounts(data.Train.Count, data.Validation.Count, data.Test?.Count ?? 0, data.Skipped),
            data.Validation.Count > 0 && architecture.Info.Classes == 1 ? "best validation IoU" : "best validation mean Dice",
            options,
            state.History.Select(Row).ToList(),
            bestRecord == null ? null : Row(bestRecord),
            final == null ? (last == null ? null : Row(last)) : Row(new EpochRecord(state.BestEpoch, double.NaN, double.NaN, 0, 0, final)),
            test == null ? null : Metrics(test),
            baselines,
            state.ElapsedSeconds,
            state.History.Count == 0 ? 0 : state.History.Average(r => r.Seconds),
            Process.GetCurrentProcess().PeakWorkingSet64,
            data.Labels,
            data.Warnings);
    }

    /// <summary>Writes metrics.json into the run folder (atomically).</summary>
    public void Write(string outDir) => AtomicFile.WriteAllText(Path.Combine(outDir, FileName), RuntimeJson.Serialize(this));

    public static EpochRow Row(EpochRecord record) => new(record.Epoch, Finite(record.TrainLoss), Finite(record.LearningRate), record.Seconds,
        record.WorkingSetBytes, record.Validation is { } v ? Metrics(v) : null);

    public static MetricsRow Metrics(EvaluationResult v) => new(Finite(v.Loss), Finite(v.Iou), Finite(v.F1), Finite(v.Dice),
        Finite(v.Sensitivity), Finite(v.Precision), Finite(v.Specificity), Finite(v.Accuracy), v.Cases,
        v.PerClassDice?.Select(Finite).ToArray(), v.PerClassDice == null ? null : v.PerClassIou!.Select(Finite).ToArray(), Finite(v.Hd95), Finite(v.Nsd));

    private static double? Finite(double value) => double.IsFinite(value) ? Math.Round(value, 6) : null;
}

/// <summary>Writes an <see cref="EpochRow"/> as one flat object (epoch fields, then the validation metrics);
/// reads the same shape back.</summary>
public sealed class EpochRowConverter : JsonConverter<EpochRow>
{
    public override EpochRow Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        var row = document.RootElement;
        double? Number(string key) => row.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
        var validation = row.TryGetProperty("cases", out _) ? row.Deserialize<MetricsRow>(options) : null;
        return new EpochRow(row.GetProperty("epoch").GetInt32(), Number("train_loss"), Number("lr"), Number("seconds") ?? 0,
            row.TryGetProperty("working_set_bytes", out var ws) ? ws.GetInt64() : 0, validation);
    }

    public override void Write(Utf8JsonWriter writer, EpochRow value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber("epoch", value.Epoch);
        WriteNullable(writer, "train_loss", value.TrainLoss);
        WriteNullable(writer, "lr", value.Lr);
        writer.WriteNumber("seconds", value.Seconds);
        writer.WriteNumber("working_set_bytes", value.WorkingSetBytes);
        if (value.Validation is { } metrics)
            foreach (var property in JsonSerializer.SerializeToElement(metrics, options).EnumerateObject())
                property.WriteTo(writer);
        writer.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } v) writer.WriteNumber(name, v);
        else writer.WriteNull(name);
    }
}
