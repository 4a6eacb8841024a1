using LGMSNet.Runtime.Data;

namespace LGMSNet.Runtime.Training;

/// <summary>Where a run's results go (metrics.json, baselines.json, curves.png, overlays.png). The trainer
/// reports typed values; the formats live in Reports (<c>Reports.RunFolderReporter</c>), so Training does
/// not import Reports.</summary>
public interface IRunReporter
{
    /// <summary>Before the first epoch of a session: the trivial predictors' scores on the validation cases.</summary>
    void Started(RunData data, EvaluationResult emptyBaseline, EvaluationResult allForegroundBaseline, bool resumed);

    /// <summary>After each epoch's checkpoints are written.</summary>
    void EpochFinished(RunData data, RunState state);

    /// <summary>After the best checkpoint has been evaluated on validation (and test, when given).</summary>
    void Finished(RunData data, RunState state, EvaluationResult final, EvaluationResult? test, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays);
}
