using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Training;

/// <summary>Trains one architecture: reference recipe, per-epoch validation, best-on-validation
/// model selection, atomic checkpoints (last, best), metrics.json, curves.png and overlays.png.</summary>
public sealed class Trainer(ArchitectureDescriptor architecture, TrainOptions options, ITrainingObserver observer, IRunReporter reporter)
{
    public const string LastCheckpoint = "last.safetensors";
    public const string BestCheckpoint = "best.safetensors";

    /// <summary>How many validation cases (the first ones) the reporters get with their predictions, for overlays: at the
    /// end, and (fewer: they are held until the epoch is reported, whole volumes in 3D) at each validation.</summary>
    public const int OverlayCases = 8, EpochOverlayCases = 4;

    private readonly int _classes = architecture.Info.Classes;
    private CancellationToken _stop;

    /// <summary>Epochs whose state is on disk (last.safetensors), as far as this session knows.</summary>
    public int EpochsDone { get; private set; }

    /// <summary>What the session is doing: "starting", "loading data", "epoch N", "the final evaluation", "finished".</summary>
    public string Phase { get; private set; } = "starting";

    /// <summary>Trains, or continues the run in <paramref name="resumeFrom"/>. When <paramref name="stop"/> is cancelled the
    /// session ends at the next safe point — between two optimizer steps or validation batches, never inside a checkpoint
    /// write — with <see cref="RunStoppedException"/>; what is on disk is then the last complete epoch, exactly what
    /// --resume continues from. Records the run's status in run.json when it starts and after every epoch; the caller
    /// records how it ended.</summary>
    public void Run(string? resumeFrom = null, CancellationToken stop = default)
    {
        _stop = stop;
        try
        {
            RunSession(resumeFrom);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            throw new RunStoppedException(EpochsDone, Phase);
        }
    }

    private void RunSession(string? resumeFrom)
    {
        var device = TorchRuntime.Device(options.Device);
        if (options.Threads > 0) torch.set_num_threads(options.Threads);
        string outDir = Path.GetFullPath(options.OutputDir);
        // Two checkpoints (weights + optimizer state) plus reports must fit before we spend hours training.
        OutputFolder.Prepare(outDir, architecture.Info.Parameters * 4 * 5 + (64L << 20), $"a run of {architecture.Info.Name}");
        EpochsDone = resumeFrom != null ? RunFile.ReadStatus(outDir)?.EpochsDone ?? 0 : 0;
        RunFile.WriteStatus(outDir, RunStatus.Start(EpochsDone, options.Epochs));
        RemoveStaleTemporaries(outDir);

        Phase = "loading data";
        var data = LoadData(outDir, resumeFrom != null);
        if (data.Train.Count == 0) throw new DataException("no training cases left");
        if (data.Validation.Count == 0) throw new DataException("no validation cases (give --val-split, or more cases for the automatic split)");

        torch.manual_seed(options.Seed);
        using var network = architecture.Create();
        network.to(device);
        network.PrepareConvolutionLayouts();
        var parameters = network.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        using var optimizer = new Optimizer(options.Optimizer, parameters, options.LearningRate, options.Momentum, options.WeightDecay);
        int samplesPerEpoch = Volumetric ? data.Train.Count * options.SamplesPerVolume : data.Train.Count;
        LearningRateSchedule schedule = options.Schedule == ScheduleKind.Poly
            ? new PolySchedule(options.LearningRate, (long)BatchLoader.Count(samplesPerEpoch, options.BatchSize) * options.Epochs)
            : new WarmupCosineSchedule(options.LearningRate, options.WarmupEpochs, options.Epochs);

        var state = new RunState(new List<EpochRecord>(), 0, null, 0);
        int firstEpoch = 1;
        if (resumeFrom != null)
        {
            var (file, _) = Checkpoint.LoadWeights(network, Path.Combine(resumeFrom, LastCheckpoint));
            var progress = Checkpoint.ReadProgress(file) ?? throw new UserErrorException($"{resumeFrom}/{LastCheckpoint} holds no training progress", 2);
            string checkpoint = Path.Combine(resumeFrom, LastCheckpoint);
            try
            {
                optimizer.LoadState(Checkpoint.ReadOptimizerState(file), progress.OptimizerSteps);
                state = JsonSerializer.Deserialize<RunState>(progress.RunStateJson, RuntimeJson.Options)
                        ?? throw new InvalidDataException("its run state is null");
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException)
            {
                throw new UserErrorException($"{checkpoint}: corrupt training state ({e.Message})", 1);
            }
            firstEpoch = progress.EpochsDone + 1;
            EpochsDone = progress.EpochsDone;
            observer.Message($"resuming {outDir} after epoch {progress.EpochsDone} (step {progress.OptimizerSteps})");
        }
        var (empty, full) = Evaluation.Baselines(data.Validation, _classes);
        reporter.Started(data, state, empty, full, resumed: resumeFrom != null);

        var predictor = new Predictor(network, device, options.Size);
        var clock = Stopwatch.StartNew();
        double elapsedBefore = state.ElapsedSeconds;
        int lastEpoch = Math.Min(options.Epochs, options.StopAfter ?? options.Epochs);
        for (int epoch = firstEpoch; epoch <= lastEpoch; epoch++)
        {
            _stop.ThrowIfCancellationRequested();
            Phase = $"epoch {epoch} of {options.Epochs}";
            if (FaultInjection.ThrowAt is ("thread", var at) && at == epoch)
                new Thread(() => throw new InvalidOperationException($"fault injected on a background thread in epoch {epoch} (LGMSNET_FAULT_THROW)")) { IsBackground = true }.Start();
            if (FaultInjection.ThrowAt is ("native", var nativeAt) && nativeAt == epoch) FaultInjection.NativeAbort();
            var epochClock = Stopwatch.StartNew();
            double epochRate = schedule.Rate(epoch, optimizer.Steps);
            double trainLoss = TrainEpoch(network, optimizer, schedule, data.Train, device, epoch, data.TrainPatches, data.MirrorAxes);
            EvaluationResult? validation = null;
            var shown = new List<(CaseData Case, byte[] Prediction)>();
            if (epoch % options.ValEvery == 0 || epoch == options.Epochs || epoch == lastEpoch)
            {
                network.eval();
                validation = Evaluation.Evaluate(predictor, data.Validation, _classes, Math.Max(1, options.BatchSize),
                    onPrediction: (c, p) => { if (shown.Count < EpochOverlayCases) shown.Add((c, p)); }, cancel: _stop);
            }
            bool isBest = state.IsBetter(validation);
            var record = new EpochRecord(epoch, trainLoss, epochRate, epochClock.Elapsed.TotalSeconds,
                Process.GetCurrentProcess().WorkingSet64, validation);
            state.History.Add(record);
            state = state with
            {
                BestEpoch = isBest ? epoch : state.BestEpoch,
                BestScore = isBest ? validation!.Score : state.BestScore,
                ElapsedSeconds = elapsedBefore + clock.Elapsed.TotalSeconds,
            };
            var progressRecord = new TrainingProgress(epoch, optimizer.Steps, optimizer.LearningRate,
                options.Optimizer.ToString().ToLowerInvariant(), JsonSerializer.Serialize(state, RuntimeJson.Options), options.Size, options.InputConvention, data.Plan);
            // Never checkpoint non-finite numbers: the loss check sees only the loss, and one overflowing update can
            // leave weights or optimizer state infinite while the loss that produced it was finite.
            if (FirstNonFinite(network, optimizer) is { } bad)
                throw new TrainingDivergedException(
                    $"training diverged: {bad} is not finite after epoch {epoch} (optimizer step {optimizer.Steps}); {LastGood(epoch)}. Lower --lr or check the data.");
            // Best first: if the process dies between the two writes, last still points at the previous epoch.
            if (isBest) Checkpoint.Save(Path.Combine(outDir, BestCheckpoint), network, null, progressRecord);
            Checkpoint.Save(Path.Combine(outDir, LastCheckpoint), network, optimizer.State, progressRecord);
            EpochsDone = epoch;
            reporter.EpochFinished(data, state, shown);
            RunFile.UpdateStatus(outDir, s => (s ?? RunStatus.Start(epoch, options.Epochs)) with { EpochsDone = epoch, Epochs = options.Epochs, Updated = DateTime.UtcNow });
            observer.EpochFinished(record, isBest);
        }

        // Final report: the best checkpoint (chosen on validation) on validation, and on the test split if given.
        _stop.ThrowIfCancellationRequested();
        Phase = "the final evaluation";
        using var best = architecture.Create();
        Checkpoint.LoadWeights(best, Path.Combine(outDir, File.Exists(Path.Combine(outDir, BestCheckpoint)) ? BestCheckpoint : LastCheckpoint));
        best.to(device);
        best.eval();
        var bestPredictor = new Predictor(best, device, options.Size);
        var overlays = new List<(CaseData Case, byte[] Prediction)>();
        var final = Evaluation.Evaluate(bestPredictor, data.Validation, _classes, Math.Max(1, options.BatchSize),
            onPrediction: (c, p) => { if (overlays.Count < OverlayCases) overlays.Add((c, p)); }, cancel: _stop);
        EvaluationResult? test = data.Test is { Count: > 0 } ? Evaluation.Evaluate(bestPredictor, data.Test, _classes, Math.Max(1, options.BatchSize), cancel: _stop) : null;
        reporter.Finished(data, state, final, test, overlays);
        Phase = "finished";
    }

    /// <summary>Deletes the temporary files of atomic writes that a killed session left (they are never read).</summary>
    private static void RemoveStaleTemporaries(string outDir)
    {
        foreach (var file in Directory.EnumerateFiles(outDir, ".*.tmp"))
            try
            {
                File.Delete(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
    }

    private bool Volumetric => architecture.Info.Dims == 3;

    /// <summary>What survives a failure during <paramref name="epoch"/>: the checkpoint of the epoch before.</summary>
    private string LastGood(int epoch) => epoch > 1
        ? $"the last good checkpoint is {Path.Combine(options.OutputDir, LastCheckpoint)} (epoch {epoch - 1})"
        : "no checkpoint was written";

    /// <summary>The first parameter, buffer or optimizer state tensor holding NaN or ±∞, named; null when all are finite.</summary>
    private static string? FirstNonFinite(SegmentationNetwork network, Optimizer optimizer)
    {
        static bool Finite(Tensor t)
        {
            using var all = isfinite(t).all();
            return all.item<bool>();
        }
        using var _ = no_grad();
        foreach (var (name, parameter) in network.named_parameters())
            if (!Finite(parameter)) return $"parameter {name}";
        foreach (var (name, buffer) in network.named_buffers())
            if (buffer.is_floating_point() && !Finite(buffer)) return $"buffer {name}";
        foreach (var (name, state) in optimizer.State)
            if (!Finite(state)) return $"optimizer state {name}";
        return null;
    }

    private double TrainEpoch(SegmentationNetwork network, Optimizer optimizer, LearningRateSchedule schedule, IReadOnlyList<CaseData> train,
        Device device, int epoch, IReadOnlyList<IPatchSource>? patches, bool[]? mirrorAxes)
    {
        network.train();
        using var loader = new BatchLoader(train, options.BatchSize, options.Size, architecture.Info.InChannels, options.Seed, epoch, training: true,
            samplesPerCase: Volumetric ? options.SamplesPerVolume : 1, faultAtBatch: FaultInjection.ThrowAt is ("batch", var at) && at == epoch ? 1 : null,
            volumes: patches, mirrorAxes: mirrorAxes);
        observer.EpochStarted(epoch, options.Epochs, loader.BatchCount);
        double lossSum = 0;
        int step = 0;
        foreach (var batch in loader.Batches())
        {
            _stop.ThrowIfCancellationRequested();
            step++;
            using var scope = NewDisposeScope();
            var shape = new long[] { batch.Count, batch.Channels }.Concat(batch.Size.Select(s => (long)s)).ToArray();
            var labelShape = new long[] { batch.Count, 1 }.Concat(batch.Size.Select(s => (long)s)).ToArray();
            var input = Tensors.FromFloats(batch.Images, shape).to(device);
            var target = Tensors.FromBytes(batch.Labels, labelShape).to_type(_classes == 1 ? ScalarType.Float32 : ScalarType.Int64).to(device);
            loader.Return(batch);
            optimizer.LearningRate = schedule.Rate(epoch, optimizer.Steps);
            double value = TrainingStep.Run(network, optimizer, input, target, _classes, step =>
                new TrainingDivergedException(
                    $"training diverged: the loss is {step.Describe} at epoch {epoch}, step {step.Index} (optimizer step {optimizer.Steps + 1}); " +
                    $"{LastGood(epoch)}. Lower --lr or check the data."),
                step);
            lossSum += value;
            observer.StepFinished(epoch, step, loader.BatchCount, value);
            if (FaultInjection.StepPauseMilliseconds is { } pause) Thread.Sleep(pause);
        }
        return lossSum / Math.Max(1, step);
    }

    private RunData LoadData(string outDir, bool resuming)
    {
        var splits = (resuming ? SplitPolicy.Read(outDir) : null) ?? new Dictionary<string, List<string>>();
        ISegmentationDataset train, validation;
        ISegmentationDataset? test = null;
        int dims = architecture.Info.Dims, channels = architecture.Info.InChannels;
        var notes = new VolumePlanning.Notes();
        if (options.IsSynthetic)
        {
            // Synthetic volumes are half again as large as the patch, so patch sampling and sliding windows are exercised.
            var caseSize = dims == 3 ? options.Size.Select(s => s + s / 2).ToArray() : options.Size;
            train = new SyntheticDataset(dims, channels, _classes, caseSize, options.SyntheticTrain, options.Seed, 0);
            validation = new SyntheticDataset(dims, channels, _classes, caseSize, options.SyntheticVal, options.Seed, 1_000_000);
            if (options.Folds > 0)
            {
                // K-fold over the synthetic training cases; the synthetic validation cases become the untouched test set.
                SplitPolicy.ApplyFold(splits, train.CaseIds, options.Folds, options.Fold);
                test = validation;
                splits[SplitPolicy.Test] = test.CaseIds.ToList();
                validation = new SubsetDataset(train, splits[SplitPolicy.Validation]);
                train = new SubsetDataset(train, splits[SplitPolicy.Train]);
            }
        }
        else
        {
            if (!Directory.Exists(options.Data)) throw new DataException($"--data {options.Data}: no such folder (or use --data synthetic)");
            bool decathlon = File.Exists(Path.Combine(options.Data, "dataset.json"));
            if (decathlon != (dims == 3))
                throw new DataException(dims == 3
                    ? $"{options.Data}: a 3D architecture needs a Medical Segmentation Decathlon folder (dataset.json, imagesTr/, labelsTr/)"
                    : $"{options.Data}: a 2D architecture needs an image folder (images/, masks/); this looks like a 3D Decathlon dataset");
            Func<IReadOnlyList<string>?, ISegmentationDataset> open = decathlon
                ? ids => new DecathlonDataset(options.Data, channels, _classes, ids) { Warn = notes.Add }
                : ids => new ImageFolderDataset(options.Data, new ImageFolderOptions(options.Size, channels, _classes, options.InputConvention), ids);
            if (!splits.ContainsKey(SplitPolicy.Train))
                splits = SplitPolicy.Assign(new SplitRequest(options.TrainSplit, options.ValSplit, options.TestSplit, options.Seed, options.ValFraction, options.AllowOverlap,
                        options.Folds, options.Fold),
                    () => open(null).CaseIds, observer.Message);
            train = open(splits[SplitPolicy.Train]);
            validation = open(splits[SplitPolicy.Validation]);
            if (splits.TryGetValue(SplitPolicy.Test, out var testIds)) test = open(testIds);
        }
        if (!options.IsSynthetic || options.Folds > 0) SplitPolicy.Write(outDir, splits);

        var skipped = new List<string>();
        if (train is DecathlonDataset volumes)
        {
            // A run resumed from before plans existed keeps using volumes as stored.
            // plan.json, else (deleted, or a copied run folder) the plan last.safetensors carries.
            var plan = resuming
                ? VolumePlanning.ReadPlan(outDir) ?? (File.Exists(Path.Combine(outDir, LastCheckpoint))
                    ? Checkpoint.ReadPlan(SafeTensorFile.Read(Path.Combine(outDir, LastCheckpoint)))
                    : null)
                : null;
            if (plan != null || !resuming)
                return LoadPlanned(outDir, plan, volumes, (DecathlonDataset)validation, test as DecathlonDataset, splits, skipped, notes);
            observer.Message($"note: {outDir} has no {VolumePlanning.PlanFile} (started before preprocessing plans existed): volumes are used as stored");
        }
        var trainCases = Decode(train, "training", skipped);
        var validationCases = Decode(validation, "validation", skipped);
        var testCases = test == null ? null : Decode(test, "test", skipped);
        var data = new RunData(trainCases, validationCases, testCases, skipped, train.Description, splits)
        {
            // Without a plan the axes are not known to be anatomical: auto mirrors along all of them, as before plans.
            MirrorAxes = dims == 3 && options.MirrorAxes != "auto" ? Data.Preprocessing.PreprocessingPlan.MirrorMask(options.MirrorAxes) : null,
        };
        foreach (var warning in data.Warnings) observer.Message("warning: " + warning.Message);
        return data;
    }

    /// <summary>3D: the plan (new, or the resumed run's), written to plan.json; every case preprocessed into the cache, from
    /// which training reads patches and evaluation reads one case at a time.</summary>
    private RunData LoadPlanned(string outDir, Data.Preprocessing.PreprocessingPlan? plan, DecathlonDataset train, DecathlonDataset validation, DecathlonDataset? test,
        Dictionary<string, List<string>> splits, List<string> skipped, VolumePlanning.Notes notes)
    {
        var planning = new VolumePlanning(options, observer, _stop);
        bool planned = plan == null;
        if (plan == null)
        {
            var development = new DecathlonDataset(options.Data, architecture.Info.InChannels, _classes, train.CaseIds.Concat(validation.CaseIds).Distinct().ToList())
                { Warn = notes.Add };
            plan = planning.Plan(development, train.CaseIds.ToHashSet(StringComparer.Ordinal));
        }
        else observer.Message($"plan of the run ({VolumePlanning.PlanFile}): {plan.Describe()}");
        notes.Flush(observer);
        string root = options.Cache ?? Data.Preprocessing.PreprocessedCache.DefaultRoot(options.Data);
        try
        {
            Directory.CreateDirectory(root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"cannot create the preprocessing cache {root} ({e.Message}); give --cache DIR, a folder you can write");
        }
        var cache = new Data.Preprocessing.PreprocessedCache(root, plan);
        var trainCases = planning.Prepare(cache, train, "training", skipped);
        var validationCases = planning.Prepare(cache, validation, "validation", skipped);
        var testCases = test == null ? null : planning.Prepare(cache, test, "test", skipped);
        notes.Flush(observer);
        // Written once every case has been read and checked: a bad case stops the run before it leaves a plan behind.
        if (planned) AtomicFile.WriteAllText(Path.Combine(outDir, VolumePlanning.PlanFile), plan.ToJson());
        int total = trainCases.Count + validationCases.Count + (testCases?.Count ?? 0);
        observer.Message($"preprocessed {total} case(s) into {cache.Folder} ({cache.CachedCount} reused from earlier runs)");
        var data = new RunData(new Data.Preprocessing.CachedCaseList(trainCases), new Data.Preprocessing.CachedCaseList(validationCases),
            testCases == null ? null : new Data.Preprocessing.CachedCaseList(testCases), skipped, train.Description, splits)
        {
            TrainPatches = trainCases,
            Plan = plan,
            MirrorAxes = plan.ArrayMirrorAxes,
        };
        foreach (var warning in data.Warnings) observer.Message("warning: " + warning.Message);
        return data;
    }

    /// <summary>Decodes every case once, in parallel, before training (images are cached at training size).</summary>
    private List<CaseData> Decode(ISegmentationDataset dataset, string what, List<string> skipped)
    {
        var results = new CaseData?[dataset.CaseIds.Count];
        var errors = new string?[results.Length];
        int done = 0;
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = _stop }, i =>
        {
            try
            {
                results[i] = dataset.Load(i);
            }
            catch (DataException e)
            {
                errors[i] = e.Message;
            }
            observer.LoadingProgress(what, Interlocked.Increment(ref done), results.Length);
        });
        var failures = errors.Where(e => e != null).Cast<string>().ToList();
        if (failures.Count > 0 && !options.SkipBad)
            throw new DataException(failures[0] + (failures.Count > 1 ? $" (and {failures.Count - 1} more bad case(s); --skip-bad skips them)" : ""));
        foreach (var failure in failures) observer.Message("warning: skipped " + failure);
        skipped.AddRange(failures);
        return results.Where(r => r != null).Cast<CaseData>().ToList();
    }
}
