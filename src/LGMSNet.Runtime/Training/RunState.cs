using LGMSNet.Runtime.Data;

namespace LGMSNet.Runtime.Training;

/// <summary>The data of a run: train, validation and optional test cases, decoded.</summary>
public sealed record RunData(IReadOnlyList<CaseData> Train, IReadOnlyList<CaseData> Validation, IReadOnlyList<CaseData>? Test,
    IReadOnlyList<string> Skipped, string Description, Dictionary<string, List<string>> Splits);

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
