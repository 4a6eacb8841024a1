using System.Diagnostics;
using System.Text.Json;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Reports;

/// <summary>metrics.json: the configuration, every epoch, the best epoch (chosen on validation), the
/// final evaluation of that checkpoint, test metrics when a test split was given, and baselines.</summary>
public static class RunReport
{
    public static JsonDocument WriteMetrics(string outDir, ArchitectureDescriptor architecture, TrainOptions options, RunData data,
        RunState state, EvaluationResult? final, EvaluationResult? test)
    {
        var bestRecord = state.History.FirstOrDefault(r => r.Epoch == state.BestEpoch);
        var last = state.History.LastOrDefault();
        string baselines = Path.Combine(outDir, "baselines.json");
        var report = new Dictionary<string, object?>
        {
            ["architecture"] = architecture.Info.Name,
            ["yaml_sha256"] = architecture.Info.YamlSha256,
            ["parameters"] = architecture.Info.Parameters,
            ["dataset"] = data.Description,
            ["cases"] = new { train = data.Train.Count, validation = data.Validation.Count, test = data.Test?.Count ?? 0, skipped = data.Skipped },
            ["selection"] = data.Validation.Count > 0 && architecture.Info.Classes == 1 ? "best validation IoU" : "best validation mean Dice",
            ["options"] = options,
            ["epochs"] = state.History.Select(Flatten).ToList(),
            ["best"] = bestRecord == null ? null : Flatten(bestRecord),
            ["final"] = final == null ? (last == null ? null : Flatten(last)) : Flatten(new EpochRecord(state.BestEpoch, double.NaN, double.NaN, 0, 0, final)),
            ["test"] = test == null ? null : Metrics(test),
            ["baselines"] = File.Exists(baselines) ? JsonDocument.Parse(File.ReadAllText(baselines)).RootElement : null,
            ["seconds_total"] = state.ElapsedSeconds,
            ["seconds_per_epoch"] = state.History.Count == 0 ? 0 : state.History.Average(r => r.Seconds),
            ["peak_memory_bytes"] = Process.GetCurrentProcess().PeakWorkingSet64,
        };
        string json = JsonSerializer.Serialize(report, RuntimeJson.Options);
        AtomicFile.WriteAllText(Path.Combine(outDir, "metrics.json"), json);
        return JsonDocument.Parse(json);
    }

    public static Dictionary<string, object?> Flatten(EpochRecord record)
    {
        var row = new Dictionary<string, object?>
        {
            ["epoch"] = record.Epoch,
            ["train_loss"] = Finite(record.TrainLoss),
            ["lr"] = Finite(record.LearningRate),
            ["seconds"] = record.Seconds,
            ["working_set_bytes"] = record.WorkingSetBytes,
        };
        if (record.Validation is { } v)
            foreach (var (key, value) in Metrics(v)) row[key] = value;
        return row;
    }

    public static Dictionary<string, object?> Metrics(EvaluationResult v)
    {
        var metrics = new Dictionary<string, object?>
        {
            ["val_loss"] = Finite(v.Loss),
            ["iou"] = Finite(v.Iou),
            ["f1"] = Finite(v.F1),
            ["dice"] = Finite(v.Dice),
            ["se"] = Finite(v.Sensitivity),
            ["pc"] = Finite(v.Precision),
            ["sp"] = Finite(v.Specificity),
            ["acc"] = Finite(v.Accuracy),
            ["cases"] = v.Cases,
        };
        if (v.PerClassDice != null)
        {
            metrics["per_class_dice"] = v.PerClassDice.Select(Finite).ToArray();
            metrics["per_class_iou"] = v.PerClassIou!.Select(Finite).ToArray();
        }
        return metrics;
    }

    private static double? Finite(double value) => double.IsFinite(value) ? Math.Round(value, 6) : null;
}
