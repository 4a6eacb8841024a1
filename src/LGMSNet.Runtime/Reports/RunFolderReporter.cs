using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Reports;

/// <summary>Writes a run's reports into its folder: baselines.json once (fresh runs), metrics.json after
/// every epoch and at the end, then curves.png and overlays.png. <see cref="Report"/> is the last report written.</summary>
public sealed class RunFolderReporter(ArchitectureDescriptor architecture, TrainOptions options) : IRunReporter
{
    public const string BaselinesFile = "baselines.json";

    private readonly string _folder = Path.GetFullPath(options.OutputDir);
    private Baselines? _baselines;

    public RunReport? Report { get; private set; }

    public void Started(RunData data, RunState state, EvaluationResult emptyBaseline, EvaluationResult allForegroundBaseline, bool resumed)
    {
        _baselines = new Baselines(emptyBaseline, allForegroundBaseline);
        if (!resumed) AtomicFile.WriteAllText(Path.Combine(_folder, BaselinesFile), RuntimeJson.Serialize(_baselines));
    }

    public void EpochFinished(RunData data, RunState state, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays) => Write(RunReport.Create(architecture, options, data, state, _baselines, final: null, test: null));

    public void Finished(RunData data, RunState state, EvaluationResult final, EvaluationResult? test, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays)
    {
        Write(RunReport.Create(architecture, options, data, state, _baselines, final, test));
        Charts.Curves(Path.Combine(_folder, "curves.png"), state.History, architecture.Info.Name);
        Charts.Overlays(Path.Combine(_folder, "overlays.png"), overlays);
    }

    private void Write(RunReport report)
    {
        report.Write(_folder);
        Report = report;
    }
}
