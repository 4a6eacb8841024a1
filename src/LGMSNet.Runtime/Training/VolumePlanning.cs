using System.Collections.Concurrent;
using System.Globalization;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Data.Preprocessing;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Training;

/// <summary>The 3D part of loading a run's data: plan the preprocessing from the training cases' fingerprints (or read the
/// plan of the run being resumed), check every training case against it, write plan.json, and fill the preprocessed
/// cache, each case once, in parallel, with a progress bar.</summary>
internal sealed class VolumePlanning(TrainOptions options, ITrainingObserver observer, CancellationToken stop)
{
    public const string PlanFile = "plan.json";

    /// <summary>The plan of a run folder (null when it has none: a run started before plans existed).</summary>
    public static PreprocessingPlan? ReadPlan(string runFolder)
    {
        string path = Path.Combine(runFolder, PlanFile);
        return File.Exists(path) ? PreprocessingPlan.FromJson(File.ReadAllText(path), path) : null;
    }

    /// <summary>Plans from <paramref name="development"/>: the training and validation cases (never the test split), so every
    /// fold of a k-fold study over one pool gets one plan, as nnU-Net plans once per dataset — and their ensemble averages
    /// probabilities on one grid. Only the cases in <paramref name="training"/> must hold a whole patch.</summary>
    public PreprocessingPlan Plan(DecathlonDataset development, IReadOnlySet<string> training)
    {
        var train = development;
        var intensity = IntensityScheme.Parse(options.Intensity);
        bool needIntensities = intensity.Kind == "ct";
        int n = train.CaseIds.Count;
        var fingerprints = new CaseFingerprint?[n];
        var errors = new string?[n];
        var foreground = new List<float[]>[train.Channels];
        var perCase = new List<float[]>[n][];
        int done = 0;
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = stop }, i =>
        {
            try
            {
                if (needIntensities)
                {
                    var raw = train.ReadRaw(i);
                    perCase[i] = Enumerable.Range(0, train.Channels).Select(_ => new List<float[]>()).ToArray();
                    fingerprints[i] = CasePreprocessor.Fingerprint(raw.Id, raw.Grid, raw.Image, raw.Label, perCase[i]);
                }
                else
                {
                    var (id, image, _) = train.Files(i);
                    var header = Nifti.ReadHeader(image);
                    fingerprints[i] = CasePreprocessor.Fingerprint(id, CasePreprocessor.Grid(header, id, image, train.Warn), null, null, null);
                }
            }
            catch (DataException e)
            {
                errors[i] = e.Message;
            }
            observer.LoadingProgress(needIntensities ? "development (fingerprint)" : "development (headers, for the plan)", Interlocked.Increment(ref done), n);
        });
        // With --skip-bad a bad case is reported (and skipped) once, when the cache is filled.
        if (!options.SkipBad) Fail(errors, "development");
        for (int c = 0; c < train.Channels; c++)
            foreground[c] = perCase.Where(p => p != null).SelectMany(p => p[c]).ToList();
        var known = fingerprints.Where(f => f != null).Cast<CaseFingerprint>().ToList();
        string mirror = options.MirrorAxes.Trim().ToLowerInvariant() switch
        {
            "auto" => "y,z",
            var given => Normalised(given),
        };
        var plan = PreprocessingPlan.Create(known, options.Spacing, intensity, foreground) with { MirrorAxes = mirror };
        var tooSmall = known.Where(f => training.Contains(f.Id)).Select(f => (f.Id, Size: Data.Geometry.Resampling.TargetSize(
                new[] { f.CanonicalSize[2], f.CanonicalSize[1], f.CanonicalSize[0] },
                new[] { f.CanonicalSpacing[2], f.CanonicalSpacing[1], f.CanonicalSpacing[0] }, plan.ArraySpacing)))
            .Where(c => c.Size.Zip(options.Size).Any(p => p.First < p.Second)).ToList();
        if (tooSmall.Count > 0)
            throw new DataException($"case '{tooSmall[0].Id}' is {Data.Geometry.VoxelGrid.Shape(tooSmall[0].Size)} voxels after resampling to " +
                                    $"{string.Join(" x ", plan.Spacing.Select(s => s.ToString("0.###", CultureInfo.InvariantCulture)))} mm, smaller than one " +
                                    $"{Data.Geometry.VoxelGrid.Shape(options.Size)} patch (x, y, z)" +
                                    (tooSmall.Count > 1 ? $" (and {tooSmall.Count - 1} more case(s): {string.Join(", ", tooSmall.Skip(1).Take(4).Select(c => $"'{c.Id}'"))})" : "") +
                                    "; give a smaller --size or a finer --spacing");
        var orientations = known.GroupBy(f => f.Orientation).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}");
        double oblique = known.Max(f => f.ObliqueDegrees);
        observer.Message($"plan from {known.Count} development case(s) (training and validation; never the test split): {plan.Describe()}");
        observer.Message($"  stored orientations: {string.Join(", ", orientations)}" +
                         (oblique > 0.01 ? $"; oblique up to {oblique.ToString("0.#", CultureInfo.InvariantCulture)} degrees (reoriented to the closest axes, not rotated)" : ""));
        return plan;
    }

    private static string Normalised(string axes)
    {
        var mask = PreprocessingPlan.MirrorMask(axes);
        var names = new[] { mask[2] ? "x" : null, mask[1] ? "y" : null, mask[0] ? "z" : null }.Where(a => a != null).ToArray();
        return names.Length == 0 ? "none" : string.Join(",", names);
    }

    /// <summary>Fills the cache for one set; bad cases stop the run (or, with --skip-bad, are skipped and listed).</summary>
    public List<CachedCase> Prepare(PreprocessedCache cache, DecathlonDataset dataset, string what, List<string> skipped)
    {
        var failures = new List<(int Index, string Message)>();
        var cases = cache.Prepare(dataset, (done, total) => observer.LoadingProgress($"{what} (preprocessed)", done, total), failures, stop);
        var errors = new string?[cases.Count];
        foreach (var (index, message) in failures) errors[index] = message;
        skipped.AddRange(Fail(errors, what));
        return cases.Where(c => c != null).Cast<CachedCase>().ToList();
    }

    /// <summary>The first error stops the run unless --skip-bad; then every failure is a warning (returned).</summary>
    private List<string> Fail(string?[] errors, string what)
    {
        var failures = errors.Where(e => e != null).Cast<string>().ToList();
        if (failures.Count > 0 && !options.SkipBad)
            throw new DataException(failures[0] + (failures.Count > 1 ? $" (and {failures.Count - 1} more bad {what} case(s); --skip-bad skips them)" : ""));
        foreach (var failure in failures) observer.Message("warning: skipped " + failure);
        return failures;
    }

    /// <summary>Collects the once-per-case notes of datasets (no orientation codes) and says them once, summarised.</summary>
    public sealed class Notes
    {
        private readonly ConcurrentDictionary<string, byte> _notes = new();

        public void Add(string note) => _notes.TryAdd(note, 0);

        public void Flush(ITrainingObserver observer)
        {
            foreach (var note in _notes.Keys.Order(StringComparer.Ordinal).Take(5)) observer.Message("warning: " + note);
            if (_notes.Count > 5) observer.Message($"warning: and {_notes.Count - 5} more case(s) without orientation codes, each used as stored");
            _notes.Clear();
        }
    }
}
