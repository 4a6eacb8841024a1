using LGMSNet.Runtime.Data;

namespace LGMSNet.Runtime.Training;

/// <summary>The data of a run: train, validation and optional test cases, decoded.</summary>
public sealed record RunData(IReadOnlyList<CaseData> Train, IReadOnlyList<CaseData> Validation, IReadOnlyList<CaseData>? Test,
    IReadOnlyList<string> Skipped, string Description, Dictionary<string, List<string>> Splits);

/// <summary>State carried in checkpoints so that --resume continues the same run.</summary>
public sealed record RunState(List<EpochRecord> History, int BestEpoch, double BestScore, double ElapsedSeconds);
