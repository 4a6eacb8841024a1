using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LGMSNet.Runtime.Data.Geometry;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Data.Preprocessing;

/// <summary>What the cache records about one preprocessed case: the source files' SHA-256 (the cache entry is reused only
/// while both are unchanged), the preprocessed size (S, A, R), the stored size and orientation (to map predictions
/// back), the stored voxel sizes (metrics in mm), voxel counts per class and up to <see cref="PreprocessedCache.LocationsPerClass"/>
/// voxel positions per class (foreground sampling without reading the labels).</summary>
public sealed record CachedCaseInfo(string Id, string ImagePath, string ImageSha256, string LabelSha256, int Channels, int[] Size, int[] StoredSize,
    int[] Axes, bool[] Flips, double ObliqueDegrees, double[] StoredSpacing, long[] ClassCounts, int[][] ClassVoxels);

/// <summary>Preprocessed cases on disk, one folder per plan (<see cref="PreprocessingPlan.Key"/>) under the cache root:
/// per case the image (float32, [channels, S, A, R], little-endian), its labels, the labels on the stored grid (uint8)
/// and a JSON record (<see cref="CachedCaseInfo"/>), written last and atomically so a killed run never leaves an entry
/// that looks complete. An entry is reused by any later run with an equal plan while the image and label files hash to
/// what it records; otherwise it is recomputed.</summary>
public sealed class PreprocessedCache
{
    public const int LocationsPerClass = 10_000;

    public PreprocessedCache(string root, PreprocessingPlan plan)
    {
        Root = Path.GetFullPath(root);
        Plan = plan;
        Folder = Path.Combine(Root, plan.Key);
    }

    public string Root { get; }

    public string Folder { get; }

    public PreprocessingPlan Plan { get; }

    /// <summary>The default cache root of a dataset folder.</summary>
    public static string DefaultRoot(string data) => Path.Combine(Path.GetFullPath(data), ".lgmsnet-cache");

    /// <summary>Preprocesses (or reuses) every case of <paramref name="dataset"/>, several at a time;
    /// <paramref name="progress"/> hears (done, total) and each reuse is counted in <see cref="CachedCount"/>. Bad cases
    /// come back as (index, message) in <paramref name="failures"/>.</summary>
    public IReadOnlyList<CachedCase?> Prepare(DecathlonDataset dataset, Action<int, int> progress, List<(int Index, string Message)> failures,
        CancellationToken cancel = default)
    {
        Directory.CreateDirectory(Folder);
        var results = new CachedCase?[dataset.CaseIds.Count];
        var errors = new string?[results.Length];
        int done = 0;
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount), CancellationToken = cancel }, i =>
        {
            try
            {
                results[i] = Get(dataset, i);
            }
            catch (DataException e)
            {
                errors[i] = e.Message;
            }
            progress(Interlocked.Increment(ref done), results.Length);
        });
        for (int i = 0; i < errors.Length; i++)
            if (errors[i] is { } message) failures.Add((i, message));
        return results;
    }

    private int _reused;

    /// <summary>Cases reused from the cache rather than recomputed so far.</summary>
    public int CachedCount => _reused;

    /// <summary>Case <paramref name="index"/>, from the cache when its entry is current, else preprocessed and written.</summary>
    public CachedCase Get(DecathlonDataset dataset, int index)
    {
        var (id, imagePath, labelPath) = dataset.Files(index);
        string stem = Path.Combine(Folder, FileStem(id, imagePath));
        string imageHash = Sha256(imagePath), labelHash = Sha256(labelPath);
        // Reused only for the same files, read for the same channel and class counts (otherwise the case is read again,
        // and its checks name what does not fit).
        if (TryRead(stem + ".json") is { } known && known.ImageSha256 == imageHash && known.LabelSha256 == labelHash
            && known.Channels == dataset.Channels && known.ClassCounts.Length == Math.Max(2, dataset.Classes)
            && File.Exists(stem + ".image") && File.Exists(stem + ".label") && File.Exists(stem + ".stored-label"))
        {
            Interlocked.Increment(ref _reused);
            return new CachedCase(known, stem);
        }
        var raw = dataset.ReadRaw(index);
        var prepared = CasePreprocessor.Prepare(Plan, raw.Grid, raw.Image, raw.Label, id);
        var labels = prepared.Label!.Data;
        var counts = new long[Math.Max(2, dataset.Classes)];
        foreach (byte v in labels) counts[v]++;
        var locations = new int[counts.Length][];
        for (int c = 1; c < counts.Length; c++)
        {
            if (counts[c] == 0)
            {
                locations[c] = Array.Empty<int>();
                continue;
            }
            long step = Math.Max(1, counts[c] / LocationsPerClass);
            var picked = new List<int>();
            long seen = 0;
            for (int v = 0; v < labels.Length; v++)
                if (labels[v] == c && seen++ % step == 0) picked.Add(v);
            locations[c] = picked.ToArray();
        }
        locations[0] = Array.Empty<int>();
        Directory.CreateDirectory(Folder);
        AtomicFile.Write(stem + ".image", s => s.Write(MemoryMarshal.AsBytes(prepared.Image.Data.AsSpan())));
        AtomicFile.Write(stem + ".label", s => s.Write(labels));
        AtomicFile.Write(stem + ".stored-label", s => s.Write(raw.Label.Data));
        var info = new CachedCaseInfo(id, imagePath, imageHash, labelHash, prepared.Image.Channels, prepared.Image.Size, raw.Image.Size,
            prepared.Mapping.Orientation.Axes, prepared.Mapping.Orientation.Flips, prepared.Mapping.Orientation.ObliqueDegrees, raw.Grid.ArraySpacing,
            counts, locations);
        AtomicFile.WriteAllText(stem + ".json", JsonSerializer.Serialize(info, RuntimeJson.Options));
        // A case leaves several volume-sized arrays behind; collect them now rather than when the large-object heap's budget
        // is reached, so the peak of a cache fill is a few cases' worth whatever the number of cases (milliseconds against
        // seconds of preprocessing).
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        return new CachedCase(info, stem);
    }

    private static CachedCaseInfo? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<CachedCaseInfo>(File.ReadAllText(path), RuntimeJson.Options) : null;
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            return null; // a damaged entry is recomputed
        }
    }

    /// <summary>A file name for a case that any id can have (ids come from file names, which may hold anything), distinct
    /// for equal ids of different datasets sharing one --cache (the image's full path is part of it).</summary>
    private static string FileStem(string id, string imagePath)
    {
        var safe = new string(id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').Take(64).ToArray());
        return safe + "-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id + "\0" + Path.GetFullPath(imagePath))))[..12];
    }

    private static string Sha256(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read ({e.Message})");
        }
    }
}

/// <summary>One preprocessed case in the cache. As a patch source it maps its files and reads just the rows of each
/// patch through a view that is closed again at once, so neither the heap nor the resident set grows with the number of
/// cases; <see cref="Load"/> reads the whole case (evaluation).</summary>
public sealed class CachedCase(CachedCaseInfo info, string stem) : IPatchSource
{
    public CachedCaseInfo Info { get; } = info;

    public string Id => Info.Id;

    public int[] Size => Info.Size;

    public int Channels => Info.Channels;

    public bool HasLabels => true;

    public GridMapping Mapping => new(new Orientation(Info.Axes, Info.Flips, Info.ObliqueDegrees), Info.StoredSize, Info.Size);

    public int? ForegroundVoxel(Rng rng)
    {
        var present = Enumerable.Range(1, Info.ClassVoxels.Length - 1).Where(c => Info.ClassVoxels[c].Length > 0).ToArray();
        if (present.Length == 0) return null;
        var voxels = Info.ClassVoxels[present[rng.Next(present.Length)]];
        return voxels[rng.Next(voxels.Length)];
    }

    public void Crop(int[] start, int[] patch, Span<float> image, Span<byte> label, bool[]? flips, int turns)
    {
        var box = ReadBox(start, patch);
        Augment.Crop(box, new int[patch.Length], patch, image, label, flips, turns);
    }

    /// <summary>The window at <paramref name="start"/> as a small case (zeros outside the volume), read row by row.</summary>
    private CaseData ReadBox(int[] start, int[] patch)
    {
        int depth = Size[0], height = Size[1], width = Size[2];
        int boxVoxels = patch[0] * patch[1] * patch[2];
        var image = new float[Channels * boxVoxels];
        var labels = new byte[boxVoxels];
        int z0 = Math.Max(0, start[0]), z1 = Math.Min(depth, start[0] + patch[0]);
        int y0 = Math.Max(0, start[1]), y1 = Math.Min(height, start[1] + patch[1]);
        int x0 = Math.Max(0, start[2]), x1 = Math.Min(width, start[2] + patch[2]);
        if (z0 < z1 && y0 < y1 && x0 < x1)
        {
            long slice = (long)height * width, voxels = slice * depth;
            int run = x1 - x0;
            using (var file = MemoryMappedFile.CreateFromFile(stem + ".image", FileMode.Open, null, 0, MemoryMappedFileAccess.Read))
                for (int c = 0; c < Channels; c++)
                {
                    long first = (c * voxels + z0 * slice) * sizeof(float), length = (z1 - z0) * slice * sizeof(float);
                    using var view = file.CreateViewAccessor(first, length, MemoryMappedFileAccess.Read);
                    for (int z = z0; z < z1; z++)
                        for (int y = y0; y < y1; y++)
                        {
                            long position = (((long)(z - z0) * height + y) * width + x0) * sizeof(float);
                            int target = c * boxVoxels + ((z - start[0]) * patch[1] + (y - start[1])) * patch[2] + (x0 - start[2]);
                            view.ReadArray(position, image, target, run);
                        }
                }
            using (var file = MemoryMappedFile.CreateFromFile(stem + ".label", FileMode.Open, null, 0, MemoryMappedFileAccess.Read))
            {
                using var view = file.CreateViewAccessor(z0 * slice, (z1 - z0) * slice, MemoryMappedFileAccess.Read);
                for (int z = z0; z < z1; z++)
                    for (int y = y0; y < y1; y++)
                        view.ReadArray(((long)(z - z0) * height + y) * width + x0, labels, ((z - start[0]) * patch[1] + (y - start[1])) * patch[2] + (x0 - start[2]), run);
            }
        }
        return new CaseData(Id, new Volume(image, Channels, patch), new LabelMap(labels, patch), null);
    }

    /// <summary>The whole case: the preprocessed image and labels, the labels on the stored grid, and the mapping back to it.</summary>
    public CaseData Load()
    {
        var image = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(stem + ".image")).ToArray();
        var labels = File.ReadAllBytes(stem + ".label");
        var stored = File.ReadAllBytes(stem + ".stored-label");
        int voxels = Size.Aggregate(1, (a, b) => a * b);
        if (image.Length != Channels * voxels || labels.Length != voxels || stored.Length != Info.StoredSize.Aggregate(1, (a, b) => a * b))
            throw new DataException($"case '{Id}': its preprocessed files in {Path.GetDirectoryName(stem)} are damaged; delete that folder to rebuild it");
        return new CaseData(Id, new Volume(image, Channels, Size), new LabelMap(labels, Size),
            new CaseSource(Info.ImagePath, "nifti", Info.StoredSize, null, new LabelMap(stored, Info.StoredSize), Info.StoredSpacing, Mapping));
    }
}
