using System.Text.Json;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;
using Tensorboard;
using TorchSharp;

namespace LGMSNet.Runtime.Reports;

/// <summary>Writes a run's TensorBoard event files with TorchSharp's <c>torch.utils.tensorboard.SummaryWriter</c>: per epoch
/// (step = epoch) the training loss, learning rate, epoch time and working set, and every validation metric under the
/// names metrics.json uses (validation/iou, validation/per_class_dice/1, ...); the overlays as an image at each
/// validation; the best checkpoint's final and test metrics at the last epoch; and the HParams plugin's summaries
/// (<see cref="HParams"/>). Each session writes a new event file, which the writer flushes with every event. A resumed
/// session first keeps in the earlier files only what the checkpoint covers (epochs up to it; no final metrics or HParams
/// of an earlier session) and writes the epochs of the checkpoint no file holds, so every epoch is in the files exactly
/// once. Writing never stops a run: the first failure is one warning and the session writes nothing more.</summary>
public sealed class TensorBoardReporter(ArchitectureDescriptor architecture, TrainOptions options, Action<string> warn) : IRunReporter
{
    public const string DefaultFolder = "tensorboard";
    public const string OverlayTag = "overlays/validation";
    public const string FinalOverlayTag = "overlays/final";
    public const string EpochPrefix = "epoch/";

    /// <summary>Overlay tiles in the event files are smaller than overlays.png's (a few tens of kB per validation).</summary>
    private const int OverlayTile = 128, OverlayCount = Trainer.EpochOverlayCases;

    private static readonly string[] SessionTags = { "final/", "test/", FinalOverlayTag, "_hparams_/" };

    private readonly string _folder = FolderOf(options);
    private TorchSharp.Modules.SummaryWriter? _writer;
    private string? _file;
    private bool _failed;
    private HashSet<(string Tag, long Step)>? _written;

    /// <summary>The folder the event files of a run with <paramref name="options"/> go to.</summary>
    public static string FolderOf(TrainOptions options) => options.TensorBoardDir ?? Path.Combine(Path.GetFullPath(options.OutputDir), DefaultFolder);

    public void Started(RunData data, RunState state, EvaluationResult emptyBaseline, EvaluationResult allForegroundBaseline, bool resumed) =>
        Guard("the event file", () =>
        {
            Directory.CreateDirectory(_folder);
            int saved = state.History.Count == 0 ? 0 : state.History[^1].Epoch;
            EventFile.Retain(_folder, e => e.Step <= saved && !e.Summary.Value.Any(v => SessionTags.Any(t => v.Tag.StartsWith(t, StringComparison.Ordinal))));
            // What earlier sessions wrote of the saved epochs (all of it, unless one was killed or failed between its
            // checkpoint and its events): only the rest is written again.
            _written = Directory.EnumerateFiles(_folder, EventFile.Pattern).SelectMany(EventFile.Read)
                .SelectMany(e => e.Summary?.Value.Select(v => (v.Tag, e.Step)) ?? []).ToHashSet();
            var before = Directory.EnumerateFiles(_folder, EventFile.Pattern).ToHashSet(StringComparer.Ordinal);
            _writer = torch.utils.tensorboard.SummaryWriter(_folder, "lgmsnet");
            _file = Directory.EnumerateFiles(_folder, EventFile.Pattern).Single(f => !before.Contains(f));
            // TorchSharp 0.107 stamps the file's version header with DateTime.Ticks instead of seconds since 1970 (a wall time
            // in the year 20 billion, which TensorBoard takes as the run's start): the new file's header is written again.
            if (EventFile.Read(_file) is [{ FileVersion: { Length: > 0 } version } header] && header.WallTime > 1e12)
                EventFile.Overwrite(_file, new[] { new Event { FileVersion = version, WallTime = Now } });
            var hparams = HParams.Of(architecture.Info, options);
            Append(HParams.Experiment(hparams), 0);
            Append(HParams.SessionStart(hparams, Path.GetFullPath(options.OutputDir), Now), 0);
            foreach (var record in state.History) Epoch(record);
            _written = null;
        });

    public void EpochFinished(RunData data, RunState state, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays) =>
        Guard("an epoch's numbers", () =>
        {
            var record = state.History[^1];
            Epoch(record);
            if (overlays.Count > 0) Image(OverlayTag, overlays, record.Epoch);
        });

    public void Finished(RunData data, RunState state, EvaluationResult final, EvaluationResult? test, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays) =>
        Guard("the final metrics", () =>
        {
            int step = state.History.Count == 0 ? 0 : state.History[^1].Epoch;
            Scalars("final/", RunReport.Metrics(final), step);
            if (test != null) Scalars("test/", RunReport.Metrics(test), step);
            if (overlays.Count > 0) Image(FinalOverlayTag, overlays, step);
            Append(HParams.SessionEnd(Now), step);
        });

    private static double Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>One epoch's numbers, tagged with their metrics.json names: epoch/train_loss, epoch/lr, epoch/seconds,
    /// epoch/working_set_bytes, and the validation metrics under validation/.</summary>
    private void Epoch(EpochRecord record)
    {
        var row = RunReport.Row(record);
        if (row.TrainLoss is { } loss) Scalar(EpochPrefix + "train_loss", loss, record.Epoch);
        if (row.Lr is { } lr) Scalar(EpochPrefix + "lr", lr, record.Epoch);
        Scalar(EpochPrefix + "seconds", row.Seconds, record.Epoch);
        Scalar(EpochPrefix + "working_set_bytes", row.WorkingSetBytes, record.Epoch);
        if (row.Validation is { } validation) Scalars("validation/", validation, record.Epoch);
    }

    /// <summary>Every number of <paramref name="metrics"/> as metrics.json writes it, except the case count; a per-class list's
    /// entries as name/label (per_class_dice/1 is class 1, the list's first entry).</summary>
    private void Scalars(string prefix, MetricsRow metrics, int step)
    {
        foreach (var property in JsonSerializer.SerializeToElement(metrics, RuntimeJson.Options).EnumerateObject())
        {
            if (property.Name == "cases") continue;
            if (property.Value.ValueKind == JsonValueKind.Number) Scalar(prefix + property.Name, property.Value.GetDouble(), step);
            else if (property.Value.ValueKind == JsonValueKind.Array)
            {
                int label = 1; // per-class lists start at class 1 (the background has none)
                foreach (var item in property.Value.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Number) Scalar($"{prefix}{property.Name}/{label}", item.GetDouble(), step);
                    label++;
                }
            }
        }
    }

    private void Scalar(string tag, double value, int step)
    {
        if (_written?.Contains((tag, step)) != true) _writer!.add_scalar(tag, (float)value, step);
    }

    private void Image(string tag, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays, int step)
    {
        var (rgb, height, width) = Charts.OverlayPixels(overlays.Take(OverlayCount).ToList(), OverlayTile);
        using var pixels = torch.tensor(rgb, new long[] { height, width, 3 });
        _writer!.add_img(tag, pixels, step, dataformats: "HWC");
    }

    /// <summary>An event TorchSharp's writer has no method for, appended to the writer's own file.</summary>
    private void Append(Summary summary, int step) => EventFile.Append(_file!, new Event { WallTime = Now, Step = step, Summary = summary });

    private void Guard(string what, Action write)
    {
        if (_failed) return;
        try
        {
            write();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Whatever went wrong (a full disk, an unwritable or vanished folder, a damaged earlier file), the run goes on.
            _failed = true;
            warn($"warning: could not write {what} to the TensorBoard folder {_folder} ({e.Message}); " +
                 "TensorBoard logging is off for the rest of this session, training goes on");
        }
    }
}
