namespace LGMSNet.Runtime.Data;

/// <summary>A data problem tied to a file or case; the message says which.</summary>
public sealed class DataException(string message) : Exception(message);

/// <summary>An image or volume: <see cref="Channels"/> × spatial <see cref="Size"/> floats, row-major
/// (channel, then depth, height, width).</summary>
public sealed record Volume(float[] Data, int Channels, int[] Size)
{
    public int Voxels => Size.Aggregate(1, (a, b) => a * b);
}

/// <summary>Class indices per pixel/voxel (0 = background; binary masks hold 0/1). <see cref="Encoding"/>
/// says how the stored values became these labels (see <see cref="MaskRule"/>).</summary>
public sealed record LabelMap(byte[] Data, int[] Size, MaskEncoding Encoding = MaskEncoding.ClassIndices)
{
    /// <summary>Labels are bytes end to end (datasets, predictions, uint8 NIfTI output): class indices 0..255.</summary>
    public const int MaxClasses = 256;

    /// <summary>Refuses a class count whose indices a byte cannot hold (they would wrap around silently).</summary>
    public static void CheckClasses(int classes, string where)
    {
        if (classes > MaxClasses)
            throw new DataException($"{where}: {classes} classes, but labels are held as bytes (at most {MaxClasses} classes, indices 0..255)");
    }
}

/// <summary>Where a case came from, so outputs can be written back in the same format and size.
/// <see cref="OriginalLabel"/> is the mask at the original resolution when the case was resized for the
/// network (metrics are computed on it); <see cref="Spacing"/> is the physical size of a voxel along each
/// spatial axis of the original (the lengths of the affine's voxel axes; null means 1 per pixel). <see cref="Mapping"/>
/// is set when a preprocessing plan reoriented and resampled the case: it takes predictions back to the stored grid,
/// where <see cref="OriginalLabel"/> lies and metrics are computed.</summary>
public sealed record CaseSource(string ImagePath, string Format, int[] OriginalSize, Nifti.Header? NiftiHeader = null,
    LabelMap? OriginalLabel = null, double[]? Spacing = null, Geometry.GridMapping? Mapping = null);

/// <summary>One decoded, normalised case ready for sampling.</summary>
public sealed record CaseData(string Id, Volume Image, LabelMap? Label, CaseSource? Source);

/// <summary>A segmentation dataset: a list of cases that can be decoded on demand.</summary>
public interface ISegmentationDataset
{
    string Description { get; }

    int Dims { get; }

    int Channels { get; }

    int Classes { get; }

    IReadOnlyList<string> CaseIds { get; }

    /// <summary>Decodes case <paramref name="index"/>. 2D datasets return it resized to the training
    /// size; 3D datasets return the whole volume (training samples patches from it).</summary>
    CaseData Load(int index);
}

/// <summary>What a set of loaded cases holds: how their masks were encoded on disk (counts per
/// <see cref="MaskEncoding"/>, by <see cref="MaskRule.Name"/>), how many cases have any foreground, the
/// foreground fraction over all labelled pixels, and the warnings a run must show and record (a set without
/// foreground scores a model that predicts nothing as perfect).</summary>
public sealed record LabelSummary(string Set, int Cases, int CasesWithLabels, int CasesWithForeground, double ForegroundFraction,
    IReadOnlyDictionary<string, int> MaskEncodings, IReadOnlyList<DataWarning> Warnings)
{
    /// <summary>The summary of labelled cases known by their counts: (foreground voxels, all voxels) per case, all encoded as <paramref name="encoding"/>.</summary>
    public static LabelSummary FromCounts(string set, IReadOnlyList<(long Foreground, long Total)> cases, string encoding)
    {
        int withForeground = cases.Count(c => c.Foreground > 0);
        long foreground = cases.Sum(c => c.Foreground), total = cases.Sum(c => c.Total);
        var encodings = new SortedDictionary<string, int>(StringComparer.Ordinal);
        if (cases.Count > 0) encodings[encoding] = cases.Count;
        var warnings = new List<DataWarning>();
        if (cases.Count > 0 && withForeground == 0)
            warnings.Add(new DataWarning(DataWarningKind.NoForeground, set,
                $"{set}: none of the {cases.Count} cases has any foreground after loading its mask ({cases.Count} {encoding}); overlap scores on it are meaningless " +
                "(a model that predicts nothing scores IoU 1.0) - check the masks",
                Array.Empty<string>()));
        return new LabelSummary(set, cases.Count, cases.Count, withForeground, total == 0 ? 0 : (double)foreground / total, encodings, warnings);
    }

    public static LabelSummary Of(string set, IReadOnlyList<CaseData> cases)
    {
        int labelled = 0, withForeground = 0;
        long foreground = 0, total = 0;
        var encodings = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var faint = new List<string>();
        foreach (var data in cases)
        {
            if (data.Label is not { } label) continue;
            labelled++;
            long count = 0;
            foreach (byte v in label.Data)
                if (v != 0) count++;
            foreground += count;
            total += label.Data.Length;
            if (count > 0) withForeground++;
            string name = MaskRule.Name(label.Encoding);
            encodings[name] = encodings.GetValueOrDefault(name) + 1;
            if (label.Encoding == MaskEncoding.Faint) faint.Add(data.Id);
        }
        var warnings = new List<DataWarning>();
        if (labelled > 0 && withForeground == 0)
            warnings.Add(new DataWarning(DataWarningKind.NoForeground, set,
                $"{set}: none of the {labelled} cases has any foreground after loading its mask " +
                $"({string.Join(", ", encodings.Select(e => $"{e.Value} {e.Key}"))}); overlap scores on it are meaningless " +
                "(a model that predicts nothing scores IoU 1.0) - check the masks",
                Array.Empty<string>()));
        if (faint.Count > 0)
            warnings.Add(new DataWarning(DataWarningKind.FaintMasks, set,
                $"{set}: {faint.Count} mask(s) hold values only between 2 and 127, neither 0/1 nor reaching the 128 threshold of " +
                $"0/255 masks, and were read as background: {string.Join(", ", faint.Take(5).Select(id => $"'{id}'"))}" +
                (faint.Count > 5 ? $" and {faint.Count - 5} more" : ""),
                faint));
        return new LabelSummary(set, cases.Count, labelled, withForeground, total == 0 ? 0 : (double)foreground / total, encodings, warnings);
    }
}

/// <summary>Kinds of <see cref="DataWarning"/>.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<DataWarningKind>))]
public enum DataWarningKind
{
    /// <summary>No case of the set has any foreground (after loading): its overlap metrics are meaningless.</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("no_foreground")]
    NoForeground,

    /// <summary>Some masks hold only values 2..127, read as background (see <see cref="MaskRule"/>).</summary>
    [System.Text.Json.Serialization.JsonStringEnumMemberName("faint_masks")]
    FaintMasks,
}

/// <summary>A problem with a set's labels that does not stop a run but must be shown and recorded
/// (<see cref="Cases"/> names the cases concerned, when it is about particular ones).</summary>
public sealed record DataWarning(DataWarningKind Kind, string Set, string Message, IReadOnlyList<string> Cases);

/// <summary>Intensity normalisation, stated once so training, eval and predict agree. The reference
/// divides by 255 twice (albumentations Normalize, then /255 in its loader), which leaves inputs near
/// zero; we apply the ImageNet statistics once to 0–1 data instead (see <see cref="InputConvention"/>
/// for reproducing the reference's inputs).</summary>
public static class Intensity
{
    public static readonly float[] ImageNetMean = { 0.485f, 0.456f, 0.406f };
    public static readonly float[] ImageNetStd = { 0.229f, 0.224f, 0.225f };

    /// <summary>8-bit channel value → network input for channel <paramref name="channel"/> of <paramref name="channels"/>.</summary>
    public static float FromByte(byte value, int channel, int channels)
    {
        float mean = channels == 3 ? ImageNetMean[channel] : 0.449f;
        float std = channels == 3 ? ImageNetStd[channel] : 0.226f;
        return (value / 255f - mean) / std;
    }

    /// <summary>Volumes (CT/MR): clip to the 0.5–99.5 percentiles, then zero mean and unit variance, per channel.</summary>
    public static void Standardise(float[] data, int channels)
    {
        int perChannel = data.Length / channels;
        for (int c = 0; c < channels; c++)
        {
            var span = data.AsSpan(c * perChannel, perChannel);
            foreach (float v in span)
                if (!float.IsFinite(v)) throw new DataException("volume contains NaN or infinite values");
            var sample = new float[Math.Min(perChannel, 200_000)];
            int step = Math.Max(1, perChannel / sample.Length);
            for (int i = 0; i < sample.Length; i++) sample[i] = span[Math.Min(perChannel - 1, i * step)];
            Array.Sort(sample);
            float low = sample[(int)(0.005 * (sample.Length - 1))], high = sample[(int)(0.995 * (sample.Length - 1))];
            double sum = 0, sumSquares = 0;
            for (int i = 0; i < span.Length; i++)
            {
                float v = Math.Clamp(span[i], low, high);
                span[i] = v;
                sum += v;
                sumSquares += (double)v * v;
            }
            double mean = sum / perChannel, std = Math.Sqrt(Math.Max(sumSquares / perChannel - mean * mean, 1e-12));
            for (int i = 0; i < span.Length; i++) span[i] = (float)((span[i] - mean) / std);
        }
    }
}
