using LGMSNet.Runtime.Data;

namespace LGMSNet.Runtime.Training;

/// <summary>Where a run's results go (metrics.json, baselines.json, curves.png, overlays.png, TensorBoard event files).
/// The trainer reports typed values; the formats live in Reports (<c>Reports.RunFolderReporter</c>,
/// <c>Reports.TensorBoardReporter</c>), so Training does not import Reports.</summary>
public interface IRunReporter
{
    /// <summary>Before the first epoch of a session: the trivial predictors' scores on the validation cases. <paramref name="state"/>
    /// is what the run has done so far (empty for a fresh run; for a resumed one, every epoch its last checkpoint holds).</summary>
    void Started(RunData data, RunState state, EvaluationResult emptyBaseline, EvaluationResult allForegroundBaseline, bool resumed);

    /// <summary>After each epoch's checkpoints are written. <paramref name="overlays"/> holds the first validation cases with
    /// their predictions when the epoch was validated (empty otherwise).</summary>
    void EpochFinished(RunData data, RunState state, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays);

    /// <summary>After the best checkpoint has been evaluated on validation (and test, when given).</summary>
    void Finished(RunData data, RunState state, EvaluationResult final, EvaluationResult? test, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays);
}

/// <summary>Several reporters, each told everything in the order given.</summary>
public sealed class RunReporters(params IRunReporter[] reporters) : IRunReporter
{
    public void Started(RunData data, RunState state, EvaluationResult emptyBaseline, EvaluationResult allForegroundBaseline, bool resumed)
    {
        foreach (var reporter in reporters) reporter.Started(data, state, emptyBaseline, allForegroundBaseline, resumed);
    }

    public void EpochFinished(RunData data, RunState state, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays)
    {
        foreach (var reporter in reporters) reporter.EpochFinished(data, state, overlays);
    }

    public void Finished(RunData data, RunState state, EvaluationResult final, EvaluationResult? test, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays)
    {
        foreach (var reporter in reporters) reporter.Finished(data, state, final, test, overlays);
    }
}
