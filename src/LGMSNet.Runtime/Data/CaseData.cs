namespace LGMSNet.Runtime.Data;

/// <summary>A data problem tied to a file or case; the message says which.</summary>
public sealed class DataException(string message) : Exception(message);

/// <summary>An image or volume: <see cref="Channels"/> × spatial <see cref="Size"/> floats, row-major
/// (channel, then depth, height, width).</summary>
public sealed record Volume(float[] Data, int Channels, int[] Size)
{
    public int Voxels => Size.Aggregate(1, (a, b) => a * b);
}

/// <summary>Class indices per pixel/voxel (0 = background; binary masks hold 0/1).</summary>
public sealed record LabelMap(byte[] Data, int[] Size);

/// <summary>Where a case came from, so outputs can be written back in the same format and size.
/// <see cref="OriginalLabel"/> is the mask at the original resolution when the case was resized for the
/// network (metrics are computed on it); <see cref="Spacing"/> is the physical size of a voxel along each
/// spatial axis of the original (NIfTI pixdim; null means 1 per pixel).</summary>
public sealed record CaseSource(string ImagePath, string Format, int[] OriginalSize, Nifti.Header? NiftiHeader = null,
    LabelMap? OriginalLabel = null, double[]? Spacing = null);

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
