using System.Globalization;

namespace LGMSNet.Runtime.Data.Preprocessing;

/// <summary>How a volume's intensities become network inputs. <c>zscore</c>: per case and channel, clip to that
/// case's 0.5–99.5 percentiles, then zero mean and unit variance (MRI; what 3D runs did before plans). <c>ct</c>: one
/// transform for all cases, from the training foreground as nnU-Net's CTNormalization — clip to its 0.5 and 99.5
/// percentiles (<see cref="Low"/>, <see cref="High"/>), subtract its mean, divide by its standard deviation
/// (<see cref="Mean"/>, <see cref="Std"/>; values per channel). <c>window</c>: clip to [<see cref="Low"/>,
/// <see cref="High"/>] and scale to 0–1 (the paper's BTCV recipe: −175…250 HU).</summary>
public sealed record IntensityScheme(string Kind, double[]? Low = null, double[]? High = null, double[]? Mean = null, double[]? Std = null)
{
    public static IntensityScheme ZScore { get; } = new("zscore");

    /// <summary>The request of <c>--intensity</c>: zscore, ct, or window:LOW,HIGH. A ct request has its numbers
    /// filled in by the plan (<see cref="PreprocessingPlan.Create"/>).</summary>
    public static IntensityScheme Parse(string text, string option = "--intensity")
    {
        string value = text.Trim();
        if (value.Equals("zscore", StringComparison.OrdinalIgnoreCase)) return ZScore;
        if (value.Equals("ct", StringComparison.OrdinalIgnoreCase)) return new IntensityScheme("ct");
        if (value.StartsWith("window:", StringComparison.OrdinalIgnoreCase))
        {
            var parts = value["window:".Length..].Split(',');
            if (parts.Length == 2
                && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double low)
                && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double high)
                && double.IsFinite(low) && double.IsFinite(high))
            {
                if (high <= low) throw new ArgumentException($"{option} {text}: the window's upper bound must exceed its lower bound");
                return new IntensityScheme("window", new[] { low }, new[] { high });
            }
            throw new ArgumentException($"{option} {text}: write the window as window:LOW,HIGH (e.g. window:-175,250)");
        }
        throw new ArgumentException($"{option} {text}: use zscore (per case; MRI), ct (from the training foreground, as nnU-Net) or window:LOW,HIGH (e.g. window:-175,250)");
    }

    public override string ToString() => Kind switch
    {
        "window" => $"window:{N(Low![0])},{N(High![0])} (clip, then scale to 0-1)",
        "ct" when Mean != null => "ct (clip to the training foreground's 0.5-99.5 percentiles " +
                                  string.Join("; ", Enumerable.Range(0, Mean.Length).Select(c => $"{N(Low![c])}..{N(High![c])}, mean {N(Mean[c])}, std {N(Std![c])}")) + ")",
        "ct" => "ct (numbers from the training foreground)",
        _ => "zscore (per case: clip to its 0.5-99.5 percentiles, zero mean, unit variance)",
    };

    private static string N(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Normalises <paramref name="data"/> ([channels × voxels]) in place; <paramref name="where"/> names the case in errors.</summary>
    public void Apply(float[] data, int channels, string where)
    {
        foreach (float v in data)
            if (!float.IsFinite(v)) throw new DataException($"{where}: volume contains NaN or infinite values");
        switch (Kind)
        {
            case "zscore":
                Intensity.Standardise(data, channels);
                break;
            case "window":
            {
                float low = (float)Low![0], high = (float)High![0], range = high - low;
                for (int i = 0; i < data.Length; i++) data[i] = (Math.Clamp(data[i], low, high) - low) / range;
                break;
            }
            case "ct":
            {
                if (Mean is null || Mean.Length != channels)
                    throw new DataException($"{where}: the ct intensity scheme holds statistics for {Mean?.Length ?? 0} channel(s); the volume has {channels}");
                int perChannel = data.Length / channels;
                for (int c = 0; c < channels; c++)
                {
                    float low = (float)Low![c], high = (float)High![c], mean = (float)Mean[c], std = (float)Math.Max(Std![c], 1e-8);
                    var span = data.AsSpan(c * perChannel, perChannel);
                    for (int i = 0; i < span.Length; i++) span[i] = (Math.Clamp(span[i], low, high) - mean) / std;
                }
                break;
            }
            default:
                throw new DataException($"{where}: unknown intensity scheme '{Kind}'");
        }
    }

    /// <summary>The ct numbers from foreground samples of every training case (per channel): the 0.5 and 99.5
    /// percentiles, mean and standard deviation of the pooled samples (nnU-Net's fingerprint does the same).</summary>
    public static IntensityScheme Ct(IReadOnlyList<float[]>[] samplesPerChannel)
    {
        int channels = samplesPerChannel.Length;
        var low = new double[channels];
        var high = new double[channels];
        var mean = new double[channels];
        var std = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            var all = samplesPerChannel[c].SelectMany(s => s).ToArray();
            if (all.Length == 0)
                throw new DataException("the ct intensity scheme needs foreground voxels in the training labels, and there are none; use --intensity zscore or window:LOW,HIGH");
            Array.Sort(all);
            low[c] = Statistics.PercentileOfSorted<float>(all, 0.5);
            high[c] = Statistics.PercentileOfSorted<float>(all, 99.5);
            double m = all.Average(v => (double)v);
            mean[c] = m;
            std[c] = Math.Sqrt(all.Average(v => (v - m) * (v - m)));
        }
        return new IntensityScheme("ct", low, high, mean, std);
    }
}
