using System.Text.Json.Serialization;
using LGMSNet.Runtime.Network;

namespace LGMSNet.Runtime.Training;

/// <summary>Everything a training run depends on, and the one home of the recipe defaults
/// (<see cref="Recipe"/>): the reference recipe (ARCHITECTURE.md §7: SGD momentum 0.9, weight decay 1e-4,
/// lr 0.02 with the poly schedule, batch 16, 500 epochs); 3D runs default to the authors' main3d.py (the
/// 3D UX-Net framework: AdamW, lr 1e-4, weight decay 1e-5, batch 1, warm-up cosine schedule). The training
/// size defaults to the architecture's YAML <c>input_size</c> (256x256 and 96³ unless the YAML says
/// otherwise). Saved as run.json so a run can be resumed and reproduced.</summary>
public sealed record TrainOptions
{
    /// <summary>The options of a 2D run nobody changed (the property initialisers below); the CLI shows them as defaults.</summary>
    public static TrainOptions Defaults { get; } = new();

    /// <summary>The recipe for <paramref name="architecture"/>: every option at its default, except the
    /// optimizer and epoch count when given (learning rate, weight decay and warm-up follow from them).
    /// 3D architectures get the authors' 3D recipe; the size is the YAML's input_size.</summary>
    public static TrainOptions Recipe(ArchitectureInfo architecture, OptimizerKind? optimizer = null, int? epochs = null)
    {
        bool volumes = architecture.Dims == 3;
        var kind = optimizer ?? (volumes ? OptimizerKind.AdamW : Defaults.Optimizer);
        int epochCount = epochs ?? Defaults.Epochs;
        return Defaults with
        {
            Architecture = architecture.FileStem,
            Epochs = epochCount,
            BatchSize = volumes ? 1 : Defaults.BatchSize,
            Size = architecture.MultiplyAddsInputSize.ToArray(),
            Optimizer = kind,
            LearningRate = kind == OptimizerKind.AdamW ? 1e-4 : Defaults.LearningRate,
            WeightDecay = kind == OptimizerKind.AdamW ? 1e-5 : Defaults.WeightDecay,
            Schedule = volumes ? ScheduleKind.WarmupCosine : Defaults.Schedule,
            WarmupEpochs = Math.Min(50, epochCount / 10),
        };
    }

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

    /// <summary>Let training cases also be validation or test cases (normally an error).</summary>
    public bool AllowOverlap { get; init; }
    public int ValEvery { get; init; } = 1;
    public int SyntheticTrain { get; init; } = 400;
    public int SyntheticVal { get; init; } = 100;
    public double ValFraction { get; init; } = 0.2;

    /// <summary>K of K-fold cross-validation over the training cases (0: no folds); validation is fold <see cref="Fold"/>.</summary>
    public int Folds { get; init; }
    public int Fold { get; init; }
    public int SamplesPerVolume { get; init; } = 2;

    /// <summary>3D: the target voxel size in mm along x, y, z (R, A, S); null: planned from the training cases (median, nnU-Net's anisotropy rule).</summary>
    public double[]? Spacing { get; init; }

    /// <summary>3D: zscore, ct or window:LOW,HIGH (see <see cref="Data.Preprocessing.IntensityScheme"/>).</summary>
    public string Intensity { get; init; } = "zscore";

    /// <summary>3D: the folder of the preprocessed cache (null: .lgmsnet-cache inside the dataset folder).</summary>
    public string? Cache { get; init; }

    /// <summary>3D: the axes patches may be mirrored along: auto (y and z when the data has a plan, i.e. never left-right;
    /// all axes otherwise), none, or a list of x, y, z.</summary>
    public string MirrorAxes { get; init; } = "auto";
    public string CommandLine { get; init; } = "";

    /// <summary>Write TensorBoard event files (scalars per epoch, overlays at each validation, the architecture as HParams).
    /// On unless --no-tensorboard; runs recorded before this option existed get them when resumed.</summary>
    [JsonPropertyName("tensorboard")]
    public bool TensorBoard { get; init; } = true;

    /// <summary>Where the event files go (an absolute path); null: the run folder's tensorboard/ subfolder.</summary>
    [JsonPropertyName("tensorboard_dir")]
    public string? TensorBoardDir { get; init; }

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

/// <summary>A stop request (a signal) ended the session at a safe point: what is on disk is the state after
/// <see cref="EpochsDone"/> epochs, and --resume continues exactly from there.</summary>
public sealed class RunStoppedException(int epochsDone, string phase)
    : OperationCanceledException($"stopped during {phase} with {epochsDone} epoch(s) saved")
{
    public int EpochsDone { get; } = epochsDone;

    /// <summary>What the session was doing ("epoch 4 of 30", "loading data", "the final evaluation").</summary>
    public string Phase { get; } = phase;
}
