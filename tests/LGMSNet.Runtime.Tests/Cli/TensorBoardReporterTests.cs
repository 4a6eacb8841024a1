using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Reports;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using SkiaSharp;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>The TensorBoard reporter driven directly, with cases and predictions the test makes: overlay images hold exactly
/// the overlay renderer's pixels, a resumed run in a folder another run writes to trims only its own files, and a rewrite's
/// temporary file is never an event file.</summary>
[Collection("cli")]
public sealed class TensorBoardReporterTests() : TempFolderTest("lgms-tbreporter-")
{
    private static ArchitectureDescriptor Lgmsnet => CliRunner.Architectures.First(a => a.Info.Matches("lgmsnet"));

    /// <summary>A 64 x 64 case: noise (so its overlay's PNG is tens of kB), the truth a square, the prediction the square moved by
    /// <paramref name="shift"/> (so truth only, prediction only and both all show).</summary>
    private static (CaseData Case, byte[] Prediction) Case(int index, int shift)
    {
        const int n = 64;
        var random = new Random(index);
        var image = Enumerable.Range(0, n * n).Select(_ => random.NextSingle() * 100).ToArray();
        var truth = new byte[n * n];
        var predicted = new byte[n * n];
        for (int y = 16; y < 40; y++)
            for (int x = 16; x < 40; x++)
            {
                truth[y * n + x] = 1;
                predicted[(y + shift) * n + x + shift] = 1;
            }
        return (new CaseData($"case{index}", new Volume(image, 1, new[] { n, n }), new LabelMap(truth, new[] { n, n }), null), predicted);
    }

    private static EvaluationResult Result(double score) => new(3, 0.5, score, score, score, score, score, score, score, null, null);

    private static RunData Data(IReadOnlyList<CaseData> cases) => new(cases, cases, null, [], "made by the test", new Dictionary<string, List<string>>());

    private TrainOptions Options(string mark, string folder) => TrainOptions.Recipe(Lgmsnet.Info, null, 3) with
    {
        Data = "synthetic", OutputDir = Temp("run-" + mark), TensorBoardDir = folder, TensorBoardRun = mark,
    };

    /// <summary>One session of a run: epochs <paramref name="from"/> to <paramref name="to"/> on top of the saved
    /// <paramref name="history"/>, then the final metrics.</summary>
    private static List<EpochRecord> Session(TrainOptions options, List<EpochRecord> history, int from, int to, RunData data,
        IReadOnlyList<(CaseData, byte[])> overlays, List<string> warnings)
    {
        var reporter = new TensorBoardReporter(Lgmsnet, options, warnings.Add);
        var state = new RunState(new List<EpochRecord>(history), history.Count == 0 ? 0 : history[^1].Epoch, 0.5, 1);
        reporter.Started(data, state, Result(0), Result(0.1), resumed: history.Count > 0);
        for (int epoch = from; epoch <= to; epoch++)
        {
            state.History.Add(new EpochRecord(epoch, 1.0 / epoch, 0.01, 2, 1 << 20, Result(0.1 * epoch)));
            reporter.EpochFinished(data, state, overlays);
        }
        reporter.Finished(data, state, Result(0.9), null, overlays);
        return state.History;
    }

    [Fact]
    public void The_overlay_images_hold_the_pixels_of_the_overlay_renderer_for_the_same_cases()
    {
        var overlays = Enumerable.Range(0, 3).Select(i => Case(i, 4 * (i + 1))).ToList();
        var data = Data(overlays.Select(o => o.Case).ToList());
        string folder = Temp("tb");
        var warnings = new List<string>();
        Session(Options("solo", folder), [], 1, 1, data, overlays, warnings);
        Assert.Empty(warnings);

        var (rgb, height, width) = Charts.OverlayPixels(overlays, 128);
        var images = EventFileReader.ReadFolder(folder).SelectMany(e => e.Values).Where(v => v.Image != null).ToList();
        Assert.Equal(new[] { TensorBoardReporter.OverlayTag, TensorBoardReporter.FinalOverlayTag }, images.Select(i => i.Tag));
        foreach (var image in images)
        {
            using var bitmap = SKBitmap.Decode(image.Image);
            Assert.Equal((width, height), (bitmap.Width, bitmap.Height));
            int differing = 0, colored = 0;
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    var pixel = bitmap.GetPixel(x, y);
                    int at = (y * width + x) * 3;
                    if ((pixel.Red, pixel.Green, pixel.Blue) != (rgb[at], rgb[at + 1], rgb[at + 2])) differing++;
                    if (rgb[at] != rgb[at + 1] || rgb[at + 1] != rgb[at + 2]) colored++;
                }
            Assert.Equal(0, differing);
            Assert.True(colored > 100, $"{colored} coloured pixels: the overlays were not drawn"); // truth, prediction and both
        }
    }

    [Fact]
    public void A_resumed_run_trims_only_its_own_event_files_in_a_folder_another_run_writes_to_and_its_rewrite_is_no_event_file()
    {
        var overlays = new[] { Case(0, 4), Case(1, 8), Case(2, 12), Case(3, 16) };
        var data = Data(overlays.Select(o => o.Case).ToList());
        string folder = Temp("shared");
        var warnings = new List<string>();
        var first = Options("first", folder);
        // Enough epochs (each with an overlay image) that the rewrite passes 1 MB, where the write-pause fault pauses it.
        const int epochs = 40;
        var history = Session(first, [], 1, epochs, data, overlays, warnings);
        Session(Options("other", folder), [], 1, 3, data, overlays, warnings);
        var others = Directory.GetFiles(folder, "events.out.tfevents.*.lgmsnet-other").ToDictionary(f => f, File.ReadAllBytes);
        Assert.Single(others);

        // The first run resumes from the checkpoint before its last epoch: that epoch's and the final events go, the other run's stay, byte for byte.
        // The atomic write pauses after 1 MB, while the folder is listed: the rewrite's temporary file must not look like an event file.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var stop = new CancellationTokenSource();
        var watcher = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var file in Directory.GetFiles(folder)) seen.Add(Path.GetFileName(file));
                Thread.Sleep(2);
            }
        });
        watcher.Start();
        FaultInjection.WritePauseMilliseconds = 300;
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            new TensorBoardReporter(Lgmsnet, first, warnings.Add).Started(data, new RunState(history.Take(epochs - 1).ToList(), epochs - 1, 0.5, 1), Result(0), Result(0.1), resumed: true);
            Assert.True(clock.ElapsedMilliseconds >= 290, $"the rewrite was not paused ({clock.ElapsedMilliseconds} ms): under 1 MB?");
        }
        finally
        {
            FaultInjection.WritePauseMilliseconds = null;
            stop.Cancel();
        }
        watcher.Join();
        Assert.Empty(warnings);
        var temporary = Assert.Single(seen, name => name.EndsWith(".tmp", StringComparison.Ordinal));
        Assert.DoesNotContain("tfevents", temporary);
        Assert.All(others, o => Assert.Equal(o.Value, File.ReadAllBytes(o.Key)));
        var other = EventFileReader.ReadFile(others.Keys.Single());
        Assert.Equal(new[] { 1L, 2, 3 }, other.Where(e => e.Values.Any(v => v.Tag == "epoch/train_loss")).Select(e => e.Step));
        Assert.Contains(other, e => e.Values.Any(v => v.Tag == "final/iou"));
        var mine = Directory.GetFiles(folder, "events.out.tfevents.*.lgmsnet-first").SelectMany(EventFileReader.ReadFile).ToList();
        Assert.Equal(Enumerable.Range(1, epochs - 1).Select(e => (long)e), mine.Where(e => e.Values.Any(v => v.Tag == "epoch/train_loss")).Select(e => e.Step));
        Assert.DoesNotContain(mine, e => e.Values.Any(v => v.Tag.StartsWith("final/", StringComparison.Ordinal)));
    }
}

/// <summary>The trainer keeps validation predictions for the epoch overlays only when a reporter asks for them: none with
/// --no-tensorboard (the run folder's reporter draws the final overlays only).</summary>
[Collection("cli")]
public sealed class EpochOverlayTests() : TempFolderTest("lgms-epochoverlays-")
{
    private sealed class Recorder(int wanted) : IRunReporter
    {
        public List<int> Given { get; } = new();
        public int EpochOverlayCases => wanted;
        public void Started(RunData data, RunState state, EvaluationResult emptyBaseline, EvaluationResult allForegroundBaseline, bool resumed) { }
        public void EpochFinished(RunData data, RunState state, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays) => Given.Add(overlays.Count);
        public void Finished(RunData data, RunState state, EvaluationResult final, EvaluationResult? test, IReadOnlyList<(CaseData Case, byte[] Prediction)> overlays) { }
    }

    private sealed class Quiet : ITrainingObserver
    {
        public void Message(string text) { }
        public void LoadingProgress(string what, int done, int total) { }
        public void EpochStarted(int epoch, int epochs, int batches) { }
        public void StepFinished(int epoch, int step, int batches, double loss) { }
        public void EpochFinished(EpochRecord record, bool isBest) { }
    }

    [Fact]
    public void Epoch_predictions_are_kept_only_as_many_as_a_reporter_asks_for()
    {
        var architecture = CliRunner.Architectures.First(a => a.Info.Matches("lgmsnet"));
        foreach (int wanted in new[] { 0, 2 })
        {
            var options = TrainOptions.Recipe(architecture.Info, null, 1) with
            {
                Data = "synthetic", Size = new[] { 32, 32 }, SyntheticTrain = 2, SyntheticVal = 3, BatchSize = 2, Threads = 2,
                OutputDir = Temp($"run-{wanted}"), TensorBoard = false,
            };
            Directory.CreateDirectory(options.OutputDir);
            var none = new Recorder(0);
            var asking = new Recorder(wanted);
            new Trainer(architecture, options, new Quiet(), new RunReporters(none, asking)).Run();
            Assert.Equal(new[] { wanted }, asking.Given);
        }
    }
}
