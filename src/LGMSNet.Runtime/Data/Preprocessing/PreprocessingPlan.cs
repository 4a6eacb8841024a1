using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Data.Preprocessing;

/// <summary>One training case as the plan saw it (nnU-Net's "fingerprint"): its stored size and voxel sizes (x, y, z:
/// the file's i, j, k), the axis codes of its voxel axes, which header field gave its geometry, how oblique it is, its
/// size once reoriented to RAS (x, y, z), and its foreground intensities (per channel: 0.5 / 50 / 99.5 percentiles).</summary>
public sealed record CaseFingerprint(string Id, int[] Size, double[] Spacing, string Orientation, string GeometryFrom, double ObliqueDegrees,
    int[] CanonicalSize, double[] CanonicalSpacing, double[][] ForegroundPercentiles);

/// <summary>How every 3D case is prepared before the network sees it — the same for training, eval, predict and export,
/// because it travels with the run (plan.json) and its checkpoints (metadata <c>preprocessing_plan</c>). Cases are
/// reoriented to <see cref="Orientation"/> (RAS: arrays [S, A, R]), resampled to <see cref="Spacing"/> (mm along
/// R, A, S, i.e. x, y, z as the paper writes 1.5 × 1.5 × 2.0) and normalised with <see cref="Intensity"/>.
/// <see cref="SpacingRule"/> says how the spacing was chosen; <see cref="Cases"/> is the fingerprint it was planned from
/// (not part of the plan's identity: <see cref="Key"/> hashes only what changes the preprocessed data).</summary>
public sealed record PreprocessingPlan(string Orientation, double[] Spacing, IntensityScheme Intensity, string SpacingRule,
    IReadOnlyList<CaseFingerprint>? Cases = null)
{
    /// <summary>The axes (x, y, z: R, A, S) training may mirror patches along and <c>--tta flip</c> mirrors; not part of
    /// <see cref="Key"/> (it does not change the preprocessed data). Null in plans written before it existed: all axes.</summary>
    public string? MirrorAxes { get; init; }

    /// <summary><see cref="MirrorAxes"/> in array order (S, A, R), for patch sampling and test-time flips.</summary>
    [JsonIgnore]
    public bool[] ArrayMirrorAxes => MirrorMask(MirrorAxes ?? "x,y,z");

    /// <summary>Parses x,y,z-style axis lists (also "none") into a mask in array order (z, y, x).</summary>
    public static bool[] MirrorMask(string axes)
    {
        if (axes.Trim().Equals("none", StringComparison.OrdinalIgnoreCase)) return new bool[3];
        var names = axes.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(a => a.ToLowerInvariant()).ToArray();
        if (names.Length == 0 || names.Any(n => n is not ("x" or "y" or "z")) || names.Distinct().Count() != names.Length)
            throw new ArgumentException($"--mirror-axes {axes}: give auto, none, or a list of x, y, z (x: left-right, y: posterior-anterior, z: inferior-superior), e.g. y,z");
        return new[] { names.Contains("z"), names.Contains("y"), names.Contains("x") };
    }

    /// <summary>Bumped whenever the preprocessing code changes what it writes, so caches of older code are not reused.</summary>
    public const int Version = 1;

    /// <summary>nnU-Net's threshold: an axis whose spacing exceeds 3× the others' is "anisotropic".</summary>
    public const double AnisotropyThreshold = 3;

    /// <summary>Plans from the fingerprints of the development cases (training and validation). Spacing: <paramref name="spacing"/> when given, else the
    /// median of each RAS axis; when that median is anisotropic as nnU-Net defines it (the coarsest axis's median spacing
    /// above 3× the finest of the others, and its median size below a third of theirs) the coarse axis gets the 10th
    /// percentile of its spacings instead (but never finer than the other axes), so thick-slice cases are not blown up
    /// into many interpolated slices. <paramref name="intensity"/> ct gets its numbers from
    /// <paramref name="foreground"/> (per channel, per case samples).</summary>
    public static PreprocessingPlan Create(IReadOnlyList<CaseFingerprint> cases, double[]? spacing, IntensityScheme intensity,
        IReadOnlyList<float[]>[]? foreground = null)
    {
        if (cases.Count == 0) throw new DataException("no training cases to plan the preprocessing from");
        string rule;
        double[] target;
        if (spacing != null)
        {
            target = (double[])spacing.Clone();
            rule = "given (--spacing)";
        }
        else
        {
            target = new double[3];
            var medianSize = new double[3];
            for (int axis = 0; axis < 3; axis++)
            {
                target[axis] = Median(cases.Select(c => c.CanonicalSpacing[axis]));
                medianSize[axis] = Median(cases.Select(c => (double)c.CanonicalSize[axis]));
            }
            rule = "median of the planned cases";
            int worst = Array.IndexOf(target, target.Max());
            var others = Enumerable.Range(0, 3).Where(a => a != worst).ToArray();
            double finestOther = others.Max(a => target[a]); // the coarser of the other two axes, as nnU-Net's max(other_spacings)
            if (target[worst] > AnisotropyThreshold * finestOther && medianSize[worst] * AnisotropyThreshold < others.Min(a => medianSize[a]))
            {
                var sorted = cases.Select(c => c.CanonicalSpacing[worst]).OrderBy(v => v).ToArray();
                double tenth = Statistics.PercentileOfSorted<double>(sorted, 10);
                target[worst] = Math.Max(finestOther, tenth);
                rule = $"median of the planned cases; axis {"xyz"[worst]} is anisotropic (median {Fmt(sorted[sorted.Length / 2])} mm > {AnisotropyThreshold}x the others), " +
                       $"so its 10th percentile {Fmt(tenth)} mm (nnU-Net's rule)";
            }
        }
        // Headers hold float32 and oblique voxel sizes are column norms: 1.9999999 mm is 2 mm (a tenth of a micrometre decides nothing).
        target = target.Select(t => Math.Round(t, 4)).ToArray();
        if (intensity.Kind == "ct" && intensity.Mean == null)
            intensity = IntensityScheme.Ct(foreground ?? throw new ArgumentException("the ct scheme needs foreground samples", nameof(foreground)));
        return new PreprocessingPlan("RAS", target, intensity, rule, cases);
    }

    /// <summary>The plan without its fingerprint: what checkpoints and ONNX metadata carry.</summary>
    [JsonIgnore]
    public PreprocessingPlan Core => this with { Cases = null };

    /// <summary>A hash of what changes the preprocessed data (orientation, spacing, intensity, <see cref="Version"/>): equal plans share a cache.</summary>
    [JsonIgnore]
    public string Key
    {
        get
        {
            string identity = string.Join("|", Version, Orientation, string.Join(",", Spacing.Select(s => s.ToString("R", CultureInfo.InvariantCulture))),
                Intensity.Kind, Numbers(Intensity.Low), Numbers(Intensity.High), Numbers(Intensity.Mean), Numbers(Intensity.Std));
            return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..16];
            static string Numbers(double[]? values) => values == null ? "-" : string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        }
    }

    /// <summary>Target voxel sizes in our array order (S, A, R: depth, height, width).</summary>
    [JsonIgnore]
    public double[] ArraySpacing => new[] { Spacing[2], Spacing[1], Spacing[0] };

    public string ToJson() => JsonSerializer.Serialize(this, RuntimeJson.Options);

    public static PreprocessingPlan FromJson(string json, string where)
    {
        try
        {
            var plan = JsonSerializer.Deserialize<PreprocessingPlan>(json, RuntimeJson.Options) ?? throw new JsonException("null");
            if (plan.Orientation != "RAS") throw new JsonException($"orientation '{plan.Orientation}' is not RAS");
            if (plan.Spacing is not { Length: 3 } || plan.Spacing.Any(s => !(s > 0) || !double.IsFinite(s))) throw new JsonException("spacing is not three positive numbers");
            if (plan.Intensity is null || plan.Intensity.Kind is not ("zscore" or "ct" or "window")) throw new JsonException("no valid intensity scheme");
            var i = plan.Intensity;
            static bool Finite(double[]? values, int? length = null) =>
                values != null && values.Length > 0 && (length == null || values.Length == length) && values.All(double.IsFinite);
            if (i.Kind == "window" && !(Finite(i.Low, 1) && Finite(i.High, 1) && i.High![0] > i.Low![0]))
                throw new JsonException("the window needs one low and one higher high value");
            if (i.Kind == "ct" && !(Finite(i.Mean) && Finite(i.Low, i.Mean!.Length) && Finite(i.High, i.Mean.Length) && Finite(i.Std, i.Mean.Length)))
                throw new JsonException("the ct scheme needs low, high, mean and std per channel");
            if (plan.MirrorAxes != null) MirrorMask(plan.MirrorAxes);
            return plan;
        }
        catch (ArgumentException e)
        {
            throw new DataException($"{where}: corrupt preprocessing plan (mirror axes: {e.Message})");
        }
        catch (JsonException e)
        {
            throw new DataException($"{where}: corrupt preprocessing plan ({e.Message})");
        }
    }

    /// <summary>The plan in a few lines, as train prints it and eval/predict quote it.</summary>
    public string Describe() =>
        $"orientation {Orientation}; spacing {string.Join(" x ", Spacing.Select(Fmt))} mm (x, y, z; {SpacingRule}); intensity {Intensity}; " +
        $"mirroring {(MirrorAxes is { } m ? (m == "none" ? "none" : "along " + m) : "along x,y,z")}";

    /// <summary>Parses <c>--spacing X,Y,Z</c> (mm along R, A, S).</summary>
    public static double[] ParseSpacing(string text)
    {
        var parts = text.Split(',');
        var values = parts.Select(p => double.TryParse(p.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : double.NaN).ToArray();
        if (values.Length != 3 || values.Any(v => !(v > 0) || !double.IsFinite(v) || v > 100))
            throw new ArgumentException($"--spacing {text}: give three voxel sizes in mm along x, y, z (R, A, S), e.g. 1.5,1.5,2.0");
        return values;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Fmt(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
