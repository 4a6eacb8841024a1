namespace LGMSNet.Runtime.Data;

/// <summary>A training volume that patches are cut from: a decoded case in memory (<see cref="InMemoryPatchSource"/>)
/// or a preprocessed case in the on-disk cache, read through a memory map a patch at a time
/// (<see cref="Preprocessing.CachedCase"/>), so a run's memory does not grow with its number of cases.</summary>
public interface IPatchSource
{
    string Id { get; }

    /// <summary>Spatial size (depth, height, width).</summary>
    int[] Size { get; }

    int Channels { get; }

    bool HasLabels { get; }

    /// <summary>A foreground voxel (flat index) chosen as nnU-Net does: a class uniformly among those present, then one
    /// of its voxels uniformly; null without foreground.</summary>
    int? ForegroundVoxel(Rng rng);

    /// <summary>Copies the window at <paramref name="start"/> (zeros outside the volume), mirrored along the axes of
    /// <paramref name="flips"/> and turned in-plane by <paramref name="turns"/> quarter turns (see <see cref="Augment.Crop(CaseData, int[], int[], Span{float}, Span{byte}, bool[], int)"/>).</summary>
    void Crop(int[] start, int[] patch, Span<float> image, Span<byte> label, bool[]? flips, int turns);
}

/// <summary>A decoded case as a patch source.</summary>
public sealed class InMemoryPatchSource(CaseData data) : IPatchSource
{
    public string Id => data.Id;

    public int[] Size => data.Image.Size;

    public int Channels => data.Image.Channels;

    public bool HasLabels => data.Label != null;

    public int? ForegroundVoxel(Rng rng) => data.Label is { } labels ? Augment.ForegroundVoxel(labels.Data, rng) : null;

    public void Crop(int[] start, int[] patch, Span<float> image, Span<byte> label, bool[]? flips, int turns) =>
        Augment.Crop(data, start, patch, image, label, flips, turns);
}
