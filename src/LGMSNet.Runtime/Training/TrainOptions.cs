using System.Text.Json.Serialization;

namespace LGMSNet.Runtime.Training;

/// <summary>Everything a training run depends on. Defaults are the reference recipe
/// (ARCHITECTURE.md §7: SGD momentum 0.9, weight decay 1e-4, lr 0.02 with the poly schedule, batch 16,
/// 500 epochs, 256x256); 3D runs default to the authors' main3d.py (the 3D UX-Net framework: AdamW, lr 1e-4,
/// batch 1, 96³ patches, warm-up cosine schedule). Saved as run.json so a run can be resumed and reproduced.</summary>
public sealed record TrainOptions
{
    public string Architecture { get; init; } = "";
    public string Data { get; init; } = "synthetic";
    public string? TrainSplit { get; init; }
    public string? ValSplit { get; init; }
    public string? TestSplit { get; init; }
    public int Epochs { get; init; } = 500;
    public int BatchSize { get; init; } = 16;
    public int[] Size { get; init; } = { 256, 256 };
    public double LearningRate { get; init; } = 0.02;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Sgd;
    public double WeightDecay { get; init; } = 1e-4;
    public double Momentum { get; init; } = 0.9;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Poly;
    public int WarmupEpochs { get; init; }
    public LGMSNet.Runtime.Data.InputConvention InputConvention { get; init; } = LGMSNet.Runtime.Data.InputConvention.Standard;
    public long Seed { get; init; } = 42;
    public string Device { get; init; } = "cpu";
    public int Threads { get; init; }
    public string OutputDir { get; init; } = "";
    public bool SkipBad { get; init; }
    public int ValEvery { get; init; } = 1;
    public int SyntheticTrain { get; init; } = 400;
    public int SyntheticVal { get; init; } = 100;
    public double ValFraction { get; init; } = 0.2;
    public int SamplesPerVolume { get; init; } = 2;
    public string CommandLine { get; init; } = "";

    /// <summary>End this session after this epoch (the schedule still runs to <see cref="Epochs"/>); continue with --resume.</summary>
    [JsonIgnore]
    public int? StopAfter { get; init; }

    [JsonIgnore]
    public bool IsSynthetic => string.Equals(Data, "synthetic", StringComparison.OrdinalIgnoreCase);
}

/// <summary>One epoch's numbers, as written to metrics.json.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double LearningRate, double Seconds, long WorkingSetBytes, EvaluationResult? Validation);

/// <summary>Progress callbacks (the CLI draws progress bars or prints lines).</summary>
public interface ITrainingObserver
{
    void Message(string text);

    void LoadingProgress(string what, int done, int total);

    void EpochStarted(int epoch, int epochs, int batches);

    void StepFinished(int epoch, int step, int batches, double loss);

    void EpochFinished(EpochRecord record, bool isBest);
}

/// <summary>Training produced a non-finite loss; nothing after the last good epoch was saved.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);
