using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LGMSNet.Dsl;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Reports;
using LGMSNet.Runtime.Training;
using Spectre.Console;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>train</c>, and the main job (no arguments): a short run on synthetic data.</summary>
internal static class TrainCommand
{
    /// <summary>The main job's schedule: small images and a few hundred synthetic cases so a 2-core CPU
    /// finishes in a few minutes while the network visibly learns (README: "Main job").</summary>
    public static string[] MainJobArguments => new[]
    {
        "train", "lgmsnet", "--data", "synthetic", "--epochs", "20", "--batch", "8", "--size", "64",
        "--synthetic-train", "320", "--synthetic-val", "80", "--output", Path.Combine("runs", $"main-{DateTime.Now:yyyyMMdd-HHmmss}"),
    };

    public static Command Create(CliContext context)
    {
        var arch = new Argument<string?>("arch") { Description = "Architecture (file stem or name). Omit with --resume.", Arity = ArgumentArity.ZeroOrOne };
        var defaults = TrainOptions.Defaults;
        var data = new Option<string>("--data", "-d") { Description = "Dataset folder (2D: images/ + masks/; 3D: Decathlon dataset.json) or 'synthetic'.", DefaultValueFactory = _ => defaults.Data };
        var trainSplit = new Option<string?>("--train-split") { Description = "File listing training cases, one per line." };
        var valSplit = new Option<string?>("--val-split") { Description = "File listing validation cases (model selection)." };
        var testSplit = new Option<string?>("--test-split") { Description = "File listing held-out test cases, reported with the best checkpoint." };
        var epochs = new Option<int?>("--epochs", "-e") { Description = $"Epochs (default {defaults.Epochs}, the reference recipe)." };
        var batch = new Option<int?>("--batch", "-b") { Description = $"Batch size (default {defaults.BatchSize} in 2D, 1 in 3D)." };
        var size = new Option<string?>("--size", "-s") { Description = "Training size: N, HxW (2D images are resized) or the 3D patch (default: the YAML's input_size)." };
        var lr = new Option<double?>("--lr") { Description = $"Base learning rate (default {defaults.LearningRate.ToString(CultureInfo.InvariantCulture)} SGD, 1e-4 AdamW)." };
        var optimizer = new Option<string?>("--optimizer") { Description = "sgd (reference, 2D default) or adamw (3D default)." };
        optimizer.AcceptOnlyFromAmong("sgd", "adamw");
        var weightDecay = new Option<double?>("--weight-decay") { Description = "Weight decay (default 1e-4 SGD, 1e-5 AdamW)." };
        var seed = new Option<long>("--seed") { Description = "Seed for initialisation, data order, augmentation and splits.", DefaultValueFactory = _ => defaults.Seed };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => defaults.Device };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var threads = new Option<int>("--threads") { Description = "CPU threads for libtorch (default: all cores)." };
        var output = new OutputOption("Run folder (default runs/<arch>-<time>).", required: false);
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this folder from its last checkpoint." };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Skip unreadable or inconsistent cases with a warning instead of stopping." };
        var allowOverlap = new Option<bool>("--allow-overlap") { Description = "Allow training cases that are also validation or test cases (normally an error)." };
        var valEvery = new Option<int>("--val-every") { Description = "Validate every N epochs.", DefaultValueFactory = _ => defaults.ValEvery };
        var convention = new Option<string>("--input-convention") { Description = "standard (RGB, ImageNet normalisation) or authors (BGR, normalised then /255 again, as the authors' loader).", DefaultValueFactory = _ => Name(defaults.InputConvention) };
        convention.AcceptOnlyFromAmong("standard", "authors");
        var schedule = new Option<string?>("--schedule") { Description = "poly (2D default, main.py) or warmup-cosine (3D default, main3d.py)." };
        schedule.AcceptOnlyFromAmong("poly", "warmup-cosine");
        var warmup = new Option<int?>("--warmup-epochs") { Description = "Warm-up epochs of warmup-cosine (default: 50, at most a tenth of --epochs)." };
        var syntheticTrain = new Option<int>("--synthetic-train") { Description = "Synthetic training cases.", DefaultValueFactory = _ => defaults.SyntheticTrain };
        var syntheticVal = new Option<int>("--synthetic-val") { Description = "Synthetic validation cases.", DefaultValueFactory = _ => defaults.SyntheticVal };
        var json = new Option<bool>("--json") { Description = "Print the final report as JSON (progress goes to stderr)." };
        var valFraction = new Option<double>("--val-fraction") { Description = "Without --val-split: the seeded fraction of the training cases held out for model selection.", DefaultValueFactory = _ => defaults.ValFraction };
        var folds = new Option<int>("--folds") { Description = "K-fold cross-validation over the training cases (the test split is untouched); without --fold, trains every fold into <output>/fold-<i>." };
        var fold = new Option<int?>("--fold") { Description = "With --folds: the fold (0 to K-1) held out for validation." };
        var spacing = new Option<string?>("--spacing") { Description = "3D: target voxel size in mm along x,y,z (R,A,S), e.g. 1.5,1.5,2.0 (default: the median of the training and validation cases; nnU-Net's rule for anisotropic data)." };
        var intensity = new Option<string>("--intensity") { Description = "3D: zscore (per case; MRI), ct (clip to the training foreground's 0.5-99.5 percentiles, then its mean/std, as nnU-Net) or window:LOW,HIGH (e.g. window:-175,250, scaled to 0-1).", DefaultValueFactory = _ => defaults.Intensity };
        var cache = new Option<string?>("--cache") { Description = "3D: folder of the preprocessed cache (default: .lgmsnet-cache in the dataset folder); reused by runs with an equal plan." };
        var mirrorAxes = new Option<string>("--mirror-axes") { Description = "3D: axes training patches (and --tta flip) may mirror: auto (y,z: never left-right, which would swap left and right organs, and no in-plane quarter turns; all axes for data without a plan), none, or a list of x,y,z.", DefaultValueFactory = _ => defaults.MirrorAxes };
        var tensorboard = new Option<string?>("--tensorboard") { Description = "Folder for the TensorBoard event files (default: the run folder's tensorboard/; view with: tensorboard --logdir runs/)." };
        var noTensorboard = new Option<bool>("--no-tensorboard") { Description = "Write no TensorBoard event files." };
        var stopAfter = new Option<int?>("--stop-after") { Description = "End this session after epoch N (the schedule still spans --epochs); continue later with --resume." };
        var command = new Command("train", "Train an architecture; writes metrics.json, curves.png, overlays.png and checkpoints into the run folder.")
        {
            arch, data, trainSplit, valSplit, testSplit, epochs, batch, size, lr, optimizer, weightDecay, seed, device, threads, resume,
            skipBad, allowOverlap, valEvery, convention, syntheticTrain, syntheticVal, json, stopAfter, valFraction, schedule, warmup, folds, fold,
            spacing, intensity, cache, mirrorAxes, tensorboard, noTensorboard,
        };
        output.AddTo(command);
        command.SetAction(result =>
        {
            // The run folder's claim, held until this session ends (a k-fold run claims each fold's folder in turn).
            FolderLock? claim = null;
            try
            {
                return Run(result, ref claim);
            }
            finally
            {
                claim?.Dispose();
            }
        });
        return command;

        int Run(ParseResult result, ref FolderLock? claim)
        {
            TrainOptions options;
            ArchitectureDescriptor descriptor;
            string? resumeDir = result.GetValue(resume);
            if (resumeDir != null)
            {
                string runFile = RunFile.PathOf(resumeDir);
                options = RunFile.ReadOptions(resumeDir);
                descriptor = context.Resolve(options.Architecture);
                if (result.GetValue(arch) is { } given && !descriptor.Info.Matches(given))
                    throw new UserErrorException($"--resume {resumeDir} is a run of {options.Architecture}, not {given}", 2);
                claim = ClaimRunFolder("--resume", resumeDir, "", out var condition);
                if (!File.Exists(Path.Combine(resumeDir, Trainer.LastCheckpoint)))
                    throw new UserErrorException($"--resume {resumeDir}: no {Trainer.LastCheckpoint} yet (the run did not finish an epoch); start it again", 2);
                if (condition.State is RunCondition.Died or RunStatus.Stopped or RunStatus.Failed)
                    (result.GetValue(json) ? context.Error : context.Out).WriteLine($"previous session: {condition.Description.TrimEnd('.')}");
                // The recipe, data and folder are the run's; only how long and where it runs may change, and that is saved.
                var fixedOptions = new Option[]
                {
                    data, trainSplit, valSplit, testSplit, batch, size, lr, optimizer, weightDecay, seed, skipBad, allowOverlap, valEvery, convention,
                    schedule, warmup, syntheticTrain, syntheticVal, valFraction, spacing, intensity, mirrorAxes, tensorboard, noTensorboard,
                };
                var refused = fixedOptions.Where(o => result.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
                if (output.IsGiven(result)) refused.Add("--output");
                if (refused.Count > 0)
                    throw new UserErrorException($"{string.Join(", ", refused)} cannot change on --resume (the run keeps the options in {runFile}); " +
                                                 "only --epochs, --device, --threads and --cache can. Start a new run to change them.", 2);
                var continued = options with
                {
                    Epochs = result.GetValue(epochs) ?? options.Epochs,
                    Threads = result.GetValue(threads) > 0 ? result.GetValue(threads) : options.Threads,
                    Device = result.GetResult(device) is { Implicit: false } ? result.GetValue(device)! : options.Device,
                    Cache = result.GetValue(cache) ?? options.Cache,
                };
                if (continued.Epochs < 1) throw new UserErrorException("--epochs must be positive", 2);
                if (continued != options) RunFile.WriteOptions(resumeDir, continued);
                options = continued with { OutputDir = resumeDir };
            }
            else
            {
                descriptor = context.Resolve(result.GetValue(arch) ?? throw new UserErrorException("train needs an architecture (see 'list'), or --resume <run folder>", 2));
                var kind = result.GetValue(optimizer) switch { "adamw" => OptimizerKind.AdamW, "sgd" => OptimizerKind.Sgd, _ => (OptimizerKind?)null };
                var recipe = TrainOptions.Recipe(descriptor.Info, kind, result.GetValue(epochs));
                var trainSize = result.GetValue(size) is { } text ? Format.ParseSize(text, descriptor.Info.Dims) : recipe.Size;
                if (descriptor.Info.CheckInputSize(trainSize.Select(s => (long)s).ToArray()) is { } problem) throw new UserErrorException("--size: " + problem, 2);
                options = recipe with
                {
                    Data = result.GetValue(data)!,
                    TrainSplit = result.GetValue(trainSplit),
                    ValSplit = result.GetValue(valSplit),
                    TestSplit = result.GetValue(testSplit),
                    BatchSize = result.GetValue(batch) ?? recipe.BatchSize,
                    Size = trainSize,
                    LearningRate = result.GetValue(lr) ?? recipe.LearningRate,
                    WeightDecay = result.GetValue(weightDecay) ?? recipe.WeightDecay,
                    Seed = result.GetValue(seed),
                    Device = result.GetValue(device)!,
                    Threads = result.GetValue(threads),
                    OutputDir = output.GetValue(result) ?? Path.Combine("runs", $"{descriptor.Info.FileStem}-{DateTime.Now:yyyyMMdd-HHmmss}"),
                    SkipBad = result.GetValue(skipBad),
                    AllowOverlap = result.GetValue(allowOverlap),
                    ValEvery = Math.Max(1, result.GetValue(valEvery)),
                    InputConvention = result.GetValue(convention) == Name(Data.InputConvention.Authors) ? Data.InputConvention.Authors : Data.InputConvention.Standard,
                    Schedule = result.GetValue(schedule) switch { "poly" => ScheduleKind.Poly, "warmup-cosine" => ScheduleKind.WarmupCosine, _ => recipe.Schedule },
                    WarmupEpochs = result.GetValue(warmup) ?? recipe.WarmupEpochs,
                    SyntheticTrain = result.GetValue(syntheticTrain),
                    SyntheticVal = result.GetValue(syntheticVal),
                    ValFraction = result.GetValue(valFraction),
                    CommandLine = context.CommandLine,
                    Intensity = result.GetValue(intensity)!,
                    Cache = result.GetValue(cache),
                    MirrorAxes = result.GetValue(mirrorAxes)!,
                    TensorBoard = !result.GetValue(noTensorboard),
                    TensorBoardDir = result.GetValue(tensorboard) is { } board ? Path.GetFullPath(board) : null,
                };
                if (!options.TensorBoard && options.TensorBoardDir != null) throw new UserErrorException("--tensorboard and --no-tensorboard exclude each other", 2);
                // A resumed run trims its event folder to its checkpoint, so a new run must not share one with another run.
                if (options.TensorBoardDir is { } shared && Directory.Exists(shared) && Directory.EnumerateFiles(shared, "events.out.tfevents.*", SearchOption.AllDirectories).Any())
                    throw new UserErrorException($"--tensorboard {shared} already holds TensorBoard event files (of another run?); give each run a folder of its own", 2);
                var volumeOptions = new Option[] { spacing, intensity, cache, mirrorAxes }.Where(o => result.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
                if (descriptor.Info.Dims != 3 && volumeOptions.Count > 0)
                    throw new UserErrorException($"{string.Join(", ", volumeOptions)}: only for 3D architectures ({descriptor.Info.Name} is 2D)", 2);
                try
                {
                    options = options with { Spacing = result.GetValue(spacing) is { } text2 ? Data.Preprocessing.PreprocessingPlan.ParseSpacing(text2) : null };
                    Data.Preprocessing.IntensityScheme.Parse(options.Intensity);
                    if (options.MirrorAxes != "auto") Data.Preprocessing.PreprocessingPlan.MirrorMask(options.MirrorAxes);
                }
                catch (ArgumentException e)
                {
                    throw new UserErrorException(e.Message, 2);
                }
                if (options.IsSynthetic && (options.Spacing != null || options.Intensity != "zscore"))
                    throw new UserErrorException("--spacing and --intensity need NIfTI data with headers; synthetic volumes have no geometry", 2);
                if (options.Epochs < 1 || options.BatchSize < 1 || options.LearningRate <= 0 || options.SyntheticTrain < 2 || options.SyntheticVal < 1
                    || options.ValFraction is <= 0 or >= 1)
                    throw new UserErrorException("--epochs, --batch, --lr, --synthetic-train (≥ 2) and --synthetic-val must be positive, --val-fraction in (0, 1)", 2);
                int k = result.GetValue(folds);
                int? only = result.GetValue(fold);
                if (k == 1 || k < 0) throw new UserErrorException($"--folds {k}: K-fold needs at least 2 folds", 2);
                if (only != null && k == 0) throw new UserErrorException("--fold needs --folds K", 2);
                if (only is { } i && (i < 0 || i >= k)) throw new UserErrorException($"--fold {i}: folds are numbered 0 to {k - 1}", 2);
                if (k > 0 && options.ValSplit != null) throw new UserErrorException("--folds and --val-split exclude each other (with --folds, validation is the held-out fold)", 2);
                if (k > 0 && only == null)
                {
                    // Every fold in turn, each in its own run folder.
                    var reports = new List<RunReport>();
                    for (int f = 0; f < k; f++)
                    {
                        var foldOptions = options with
                        {
                            Folds = k, Fold = f, OutputDir = Path.Combine(options.OutputDir, $"fold-{f}"), StopAfter = result.GetValue(stopAfter),
                            TensorBoardDir = options.TensorBoardDir is { } foldBoard ? Path.Combine(foldBoard, $"fold-{f}") : null,
                        };
                        using var foldClaim = WriteRunFiles(foldOptions, descriptor);
                        string rest = f + 1 < k
                            ? $"; fold{(f + 2 < k ? "s" : "")} {f + 1}{(f + 2 < k ? $" to {k - 1}" : "")} of this --folds {k} run did not start (each: train ... --folds {k} --fold N)"
                            : "";
                        int code = Train(context, descriptor, foldOptions, null, result.GetValue(json), rest, out var foldReport);
                        if (code != 0) return code;
                        reports.Add(foldReport!);
                    }
                    if (result.GetValue(json)) context.WriteJson(reports);
                    return 0;
                }
                options = options with { Folds = k, Fold = only ?? 0 };
                claim = WriteRunFiles(options, descriptor);
            }
            options = options with { StopAfter = result.GetValue(stopAfter) };
            int exit = Train(context, descriptor, options, resumeDir, result.GetValue(json), "", out var report);
            if (exit == 0 && result.GetValue(json)) context.WriteJson(report!);
            return exit;
        }
    }

    /// <summary>One training session, supervised by <see cref="TrainingSession"/>: returns its exit code and, when it
    /// finished, its report. <paramref name="after"/> is appended to a line saying the session did not finish.</summary>
    private static int Train(CliContext context, ArchitectureDescriptor descriptor, TrainOptions options, string? resumeDir, bool json, string after,
        out RunReport? finished)
    {
        var log = json ? context.Error : context.Out;
        log.WriteLine($"training {descriptor.Info.Name} ({Formatting.Count(descriptor.Info.Parameters)} parameters) on {options.Data}, " +
                      $"{options.Epochs} epochs, batch {options.BatchSize}, size {string.Join("x", options.Size)}, " +
                      $"{options.Optimizer.ToString().ToLowerInvariant()} lr {options.LearningRate.ToString(CultureInfo.InvariantCulture)}, " +
                      $"{options.Device}{(options.Folds > 0 ? $", fold {options.Fold} of {options.Folds}" : "")}; run folder {Path.GetFullPath(options.OutputDir)}");
        var reporter = new RunFolderReporter(descriptor, options);
        IRunReporter reporters = options.TensorBoard
            ? new RunReporters(reporter, new TensorBoardReporter(descriptor, options, log.WriteLine))
            : reporter;
        RunReport? report = null;
        int code = TrainingSession.Run(context, options, after, (track, stop) =>
        {
            if (context.Interactive && !json)
            {
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new ElapsedTimeColumn())
                    .Start(progress => track(new Trainer(descriptor, options, new ProgressObserver(progress), reporters)).Run(resumeDir, stop));
            }
            else
            {
                track(new Trainer(descriptor, options, new LineObserver(log), reporters)).Run(resumeDir, stop);
            }
            report = reporter.Report ?? throw new InvalidOperationException("the trainer finished without a report");
            if (!json) PrintSummary(log, report, options);
            return report;
        }, r => FinishedLine(r, options), log);
        finished = code == 0 ? report : null;
        return code;
    }

    /// <summary>The line a finished run ends with.</summary>
    private static string FinishedLine(RunReport report, TrainOptions options)
    {
        string score = report.Best?.Validation is { } best
            ? $"; best epoch {report.Best.Epoch} ({report.Selection.Replace("best ", "", StringComparison.Ordinal)} " +
              $"{((report.Selection.Contains("IoU", StringComparison.Ordinal) ? best.Iou : best.Dice) ?? double.NaN).ToString("0.0000", CultureInfo.InvariantCulture)})"
            : "";
        int done = report.Epochs.Count == 0 ? 0 : report.Epochs[^1].Epoch;
        string stopped = options.StopAfter is { } after && done < options.Epochs && after <= done
            ? $" (--stop-after {after}; continue with: {ThisProgram.Command("train", "--resume", Path.GetFullPath(options.OutputDir))})"
            : "";
        return $"run finished: {done} of {options.Epochs} epochs in {report.SecondsTotal.ToString("0", CultureInfo.InvariantCulture)} s{score}{stopped}; " +
               $"results in {Path.GetFullPath(options.OutputDir)}";
    }

    private static void PrintSummary(TextWriter log, RunReport report, TrainOptions options)
    {
        string outDir = options.OutputDir;
        string F(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("0.0000", CultureInfo.InvariantCulture) : "-";
        var table = new TextTable("", "epoch", "IoU", "F1", "Dice", "SE", "PC", "ACC").AlignRight(1, 2, 3, 4, 5, 6, 7);
        foreach (var (label, row) in new[] { ("best (validation)", report.Best), ("final: best checkpoint on validation", report.Final) })
            if (row != null)
            {
                var m = row.Validation;
                table.Add(label, row.Epoch.ToString(CultureInfo.InvariantCulture), F(m?.Iou), F(m?.F1), F(m?.Dice), F(m?.Se), F(m?.Pc), F(m?.Acc));
            }
        if (report.Test is { } t) table.Add("test", "-", F(t.Iou), F(t.F1), F(t.Dice), F(t.Se), F(t.Pc), F(t.Acc));
        if (report.Baselines is { } baselines)
            foreach (var (label, b) in new[] { ("baseline: predict nothing", baselines.Empty), ("baseline: predict everything", baselines.AllForeground) })
                table.Add(label, "", F(b.Iou), F(b.F1), F(b.Dice), F(b.Sensitivity), F(b.Precision), F(b.Accuracy));
        log.WriteLine(table);
        foreach (var warning in report.Warnings) log.WriteLine("warning: " + warning.Message);
        var seconds = report.Epochs.Select(e => e.Seconds).OrderBy(v => v).ToList();
        string perEpoch = seconds.Count == 0 ? "-"
            : (seconds.Count % 2 == 1 ? seconds[seconds.Count / 2] : (seconds[seconds.Count / 2 - 1] + seconds[seconds.Count / 2]) / 2)
                .ToString("0.0", CultureInfo.InvariantCulture) + $" s per epoch (median of {seconds.Count})";
        log.WriteLine($"{perEpoch}; peak memory {ByteSize.Format(report.PeakMemoryBytes)}");
        log.WriteLine($"written to {Path.GetFullPath(outDir)}: metrics.json, curves.png, overlays.png, {Trainer.BestCheckpoint}, {Trainer.LastCheckpoint}, run.json, command.txt");
        if (options.TensorBoard) log.WriteLine($"TensorBoard event files in {TensorBoardReporter.FolderOf(options)}; view them with: tensorboard --logdir {TensorBoardReporter.FolderOf(options)}");
    }

    /// <summary>The one liveness check of a run folder (for <c>--resume</c> and for a new run's <c>--output</c>): refuses a folder
    /// whose run.json names a process that is (or, on another host, may be) still training it, naming that run: its process,
    /// when its session started, its progress and its command. Otherwise returns what the folder holds.</summary>
    private static RunCondition RefuseLiveRun(string option, string folder, string alternative)
    {
        var condition = RunFile.Inspect(folder);
        if (!condition.IsRunning) return condition;
        var status = condition.Status!;
        string? command = null;
        try
        {
            command = RunFile.ReadOptions(folder).CommandLine;
        }
        catch (UserErrorException)
        {
            // A damaged options part: the process and its progress still name the run.
        }
        string started = status.Started.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";
        throw new UserErrorException($"{option} {folder}: the run is {condition.Description}, session started {started}" +
                                     (string.IsNullOrWhiteSpace(command) ? "" : $", command: {command}") +
                                     $"; stop it first (kill -TERM {status.Pid} stops it at a safe point){alternative}", 2);
    }

    /// <summary>Claims a run folder for this session before anything is written to it (<see cref="FolderLock"/>: the operating
    /// system frees the claim when the process ends, however it ends), then refuses a run that another process trains
    /// without a claim (another host, an older version). A claimed folder is refused naming its live run when run.json
    /// does, else saying that a run is starting there: between claiming the folder and recording itself in run.json, a
    /// run is in no other record.</summary>
    private static FolderLock ClaimRunFolder(string option, string folder, string alternative, out RunCondition condition)
    {
        FolderLock? claim;
        try
        {
            claim = FolderLock.TryAcquire(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"cannot write to the run folder {Path.GetFullPath(folder)}: {e.Message}");
        }
        if (claim == null)
        {
            RefuseLiveRun(option, folder, alternative);
            throw new UserErrorException($"{option} {folder}: a run is starting there (another process holds {FolderLock.PathOf(folder)} " +
                                         $"and has not recorded itself in {RunFile.FileName} yet); look again in a few seconds{alternative}", 2);
        }
        try
        {
            condition = RefuseLiveRun(option, folder, alternative);
            return claim;
        }
        catch
        {
            claim.Dispose();
            throw;
        }
    }

    /// <summary>Creates and claims a new run's folder, then writes its options, command and architecture; the claim is the session's.</summary>
    private static FolderLock WriteRunFiles(TrainOptions options, ArchitectureDescriptor descriptor)
    {
        string outDir = options.OutputDir;
        FolderLock? claim = null;
        try
        {
            Directory.CreateDirectory(outDir);
            // A live run that has not finished an epoch has no checkpoint yet: its claim, then its process, say it is there.
            claim = ClaimRunFolder("--output", outDir, " or choose another --output", out _);
            if (File.Exists(Path.Combine(outDir, Trainer.LastCheckpoint)))
                throw new UserErrorException($"{outDir} already holds a run; continue it with --resume {outDir} or choose another --output", 2);
            RunFile.WriteOptions(outDir, options);
            AtomicFile.WriteAllText(Path.Combine(outDir, "command.txt"), options.CommandLine + "\n");
            AtomicFile.WriteAllText(Path.Combine(outDir, descriptor.Info.FileStem + ".yaml"), descriptor.Info.Yaml);
            return claim;
        }
        catch (Exception e)
        {
            claim?.Dispose();
            if (e is IOException or UnauthorizedAccessException)
                throw new UserErrorException($"cannot write to the output folder {Path.GetFullPath(outDir)}: {e.Message}");
            throw;
        }
    }

    private static string Name(Data.InputConvention convention) => convention.ToString().ToLowerInvariant();


    /// <summary>One line per epoch (logs, CI, redirected output).</summary>
    private sealed class LineObserver(TextWriter log) : ITrainingObserver
    {
        public void Message(string text) => log.WriteLine(text);

        public void LoadingProgress(string what, int done, int total)
        {
            if (done == total) log.WriteLine($"loaded {total} {what} case(s)");
        }

        public void EpochStarted(int epoch, int epochs, int batches) { }

        public void StepFinished(int epoch, int step, int batches, double loss) { }

        public void EpochFinished(EpochRecord r, bool isBest) => log.WriteLine(EpochLine(r, isBest));
    }

    /// <summary>Progress bars with ETA and the running loss, plus a line per epoch.</summary>
    private sealed class ProgressObserver(ProgressContext progress) : ITrainingObserver
    {
        private ProgressTask? _loading;
        private ProgressTask? _epoch;
        private double _lossSum;

        public void Message(string text) => AnsiConsole.MarkupLine(Markup.Escape(text));

        public void LoadingProgress(string what, int done, int total)
        {
            lock (this)
            {
                _loading ??= progress.AddTask($"loading {what} cases", maxValue: total);
                _loading.Value = done;
                if (done == total) { _loading.StopTask(); _loading = null; }
            }
        }

        public void EpochStarted(int epoch, int epochs, int batches)
        {
            _lossSum = 0;
            _epoch = progress.AddTask($"epoch {epoch}/{epochs}", maxValue: batches);
        }

        public void StepFinished(int epoch, int step, int batches, double loss)
        {
            _lossSum += loss;
            _epoch!.Description = $"epoch {epoch}  loss {(_lossSum / step).ToString("0.0000", CultureInfo.InvariantCulture)}";
            _epoch.Value = step;
        }

        public void EpochFinished(EpochRecord r, bool isBest)
        {
            _epoch?.StopTask();
            AnsiConsole.MarkupLine(Markup.Escape(EpochLine(r, isBest)));
        }
    }

    private static string EpochLine(EpochRecord r, bool isBest)
    {
        string F(double v) => double.IsFinite(v) ? v.ToString("0.0000", CultureInfo.InvariantCulture) : "-";
        string line = $"epoch {r.Epoch,3}  train loss {F(r.TrainLoss)}";
        if (r.Validation is { } v)
            line += v.PerClassDice is null
                ? $"  val loss {F(v.Loss)}  IoU {F(v.Iou)}  F1 {F(v.F1)}  SE {F(v.Sensitivity)}  PC {F(v.Precision)}"
                : $"  val loss {F(v.Loss)}  mean Dice {F(v.Dice)}  per class {string.Join("/", v.PerClassDice.Select(F))}";
        return line + $"  ({r.Seconds.ToString("0.0", CultureInfo.InvariantCulture)} s){(isBest ? "  *best" : "")}";
    }
}
