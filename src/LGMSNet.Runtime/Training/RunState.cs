using LGMSNet.Runtime.Data;

namespace LGMSNet.Runtime.Training;

/// <summary>The data of a run: train, validation and optional test cases, decoded, and what their labels hold
/// (<see cref="Labels"/>: one summary per split, with the warnings a run must show and record).</summary>
public sealed record RunData(IReadOnlyList<CaseData> Train, IReadOnlyList<CaseData> Validation, IReadOnlyList<CaseData>? Test,
    IReadOnlyList<string> Skipped, string Description, Dictionary<string, List<string>> Splits)
{
    public IReadOnlyDictionary<string, LabelSummary> Labels { get; } = Summaries(Train, Validation, Test);

    public IReadOnlyList<DataWarning> Warnings => Labels.Values.SelectMany(l => l.Warnings).ToList();

    /// <summary>3D cases from the preprocessed cache: training patches are read from it (null: cut from <see cref="Train"/>).</summary>
    public IReadOnlyList<IPatchSource>? TrainPatches { get; init; }

    /// <summary>The preprocessing plan of a 3D run (null: volumes used as stored).</summary>
    public Data.Preprocessing.PreprocessingPlan? Plan { get; init; }

    /// <summary>The spatial axes training patches may be mirrored along (array order; null: all).</summary>
    public bool[]? MirrorAxes { get; init; }

    private static IReadOnlyDictionary<string, LabelSummary> Summaries(IReadOnlyList<CaseData> train, IReadOnlyList<CaseData> validation,
        IReadOnlyList<CaseData>? test)
    {
        var labels = new Dictionary<string, LabelSummary>(StringComparer.Ordinal)
        {
            ["training"] = Of("training", train),
            ["validation"] = Of("validation", validation),
        };
        if (test != null) labels["test"] = Of("test", test);
        return labels;
        // Cached volumes are summarised from their records, not decoded.
        static LabelSummary Of(string set, IReadOnlyList<CaseData> cases) =>
            cases is Data.Preprocessing.CachedCaseList cached ? cached.Labels(set) : LabelSummary.Of(set, cases);
    }
}

/// <summary>State carried in checkpoints so that --resume continues the same run. <see cref="BestScore"/>
/// is null until an epoch has been validated (JSON has no −∞: a sentinel would come back as null/NaN, and
/// nothing compares greater than NaN); checkpoints written before this change also hold null there.</summary>
public sealed record RunState(List<EpochRecord> History, int BestEpoch, double? BestScore, double ElapsedSeconds)
{
    /// <summary>Whether <paramref name="validation"/> is the best so far: the first validated epoch, or a higher
    /// score. An undefined (NaN) score is never the best.</summary>
    public bool IsBetter(EvaluationResult? validation) =>
        validation != null && !double.IsNaN(validation.Score) && (BestScore is not { } best || validation.Score > best);
}
