using System.Collections.Concurrent;

namespace LGMSNet.Runtime.Data;

/// <summary>One training or validation sample: image [C × spatial] and labels [spatial].</summary>
public sealed record Sample(string Id, float[] Image, byte[] Label);

/// <summary>A batch laid out as the network wants it: [B, C, spatial...] floats and [B, spatial...] labels.</summary>
public sealed record Batch(string[] Ids, float[] Images, byte[] Labels, int Count, int Channels, int[] Size);

/// <summary>Augmentation of the reference recipes: in 2D a random 90° rotation (p = 0.5) and a random
/// flip (p = 0.5: horizontal, vertical or both); for volumes random patches (one in three centred on a
/// foreground voxel chosen as in <see cref="ForegroundVoxel"/>), a flip along each axis (p = 0.2 each) and an in-plane 90° rotation (p = 0.2), as main3d.py.</summary>
public static class Augment
{
    public static Sample Image(CaseData data, Rng rng, bool augment)
    {
        var image = new float[data.Image.Data.Length];
        var label = new byte[data.Image.Voxels];
        Image(data, rng, augment, image, label);
        return new Sample(data.Id, image, label);
    }

    /// <summary>Writes one augmented sample into <paramref name="image"/> and <paramref name="label"/>.</summary>
    public static void Image(CaseData data, Rng rng, bool augment, Span<float> image, Span<byte> label)
    {
        var size = data.Image.Size;
        int height = size[0], width = size[1];
        int rotation = 0;
        bool flipH = false, flipV = false;
        if (augment)
        {
            if (rng.Chance(0.5)) rotation = height == width ? rng.Next(4) : 2 * rng.Next(2);
            if (rng.Chance(0.5))
            {
                int kind = rng.Next(3);
                flipH = kind != 1;
                flipV = kind != 0;
            }
        }
        Transform2D(data, rotation, flipH, flipV, image, label);
    }

    public static Sample Transform2D(CaseData data, int quarterTurns, bool flipH, bool flipV)
    {
        var image = new float[data.Image.Data.Length];
        var label = new byte[data.Image.Voxels];
        Transform2D(data, quarterTurns, flipH, flipV, image, label);
        return new Sample(data.Id, image, label);
    }

    /// <summary>out[y, x] = in[source(y, x)] for a rotation by <paramref name="quarterTurns"/> × 90° then flips.</summary>
    public static void Transform2D(CaseData data, int quarterTurns, bool flipH, bool flipV, Span<float> image, Span<byte> label)
    {
        int height = data.Image.Size[0], width = data.Image.Size[1], channels = data.Image.Channels, pixels = height * width;
        var source = System.Buffers.ArrayPool<int>.Shared.Rent(pixels);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int yy = flipV ? height - 1 - y : y, xx = flipH ? width - 1 - x : x;
                (int sy, int sx) = (quarterTurns & 3) switch
                {
                    1 => (width - 1 - xx, yy),
                    2 => (height - 1 - yy, width - 1 - xx),
                    3 => (xx, height - 1 - yy),
                    _ => (yy, xx),
                };
                source[y * width + x] = sy * width + sx;
            }
        }
        for (int c = 0; c < channels; c++)
        {
            var input = data.Image.Data.AsSpan(c * pixels, pixels);
            var output = image.Slice(c * pixels, pixels);
            for (int i = 0; i < pixels; i++) output[i] = input[source[i]];
        }
        if (data.Label is { } labels)
            for (int i = 0; i < pixels; i++) label[i] = labels.Data[source[i]];
        else
            label.Slice(0, pixels).Clear();
        System.Buffers.ArrayPool<int>.Shared.Return(source);
    }

    /// <summary>A random patch of a volume (zero-padded where the volume is smaller), flipped and rotated.</summary>
    public static void Patch(CaseData data, Rng rng, int[] patch, bool augment, Span<float> image, Span<byte> label) =>
        Patch(new InMemoryPatchSource(data), rng, patch, augment, image, label);

    /// <summary>A random patch of <paramref name="source"/>: one in three centred near a foreground voxel, mirrored along each
    /// axis of <paramref name="mirrorAxes"/> (all axes when null) with p = 0.2, turned in-plane with p = 0.2.</summary>
    public static void Patch(IPatchSource source, Rng rng, int[] patch, bool augment, Span<float> image, Span<byte> label, bool[]? mirrorAxes = null)
    {
        var size = source.Size;
        int dims = size.Length;
        var start = new int[dims];
        int? foreground = null;
        if (source.HasLabels && rng.Chance(1.0 / 3)) foreground = source.ForegroundVoxel(rng);
        for (int axis = dims - 1, rest = foreground ?? 0; axis >= 0; axis--)
        {
            int extent = size[axis] - patch[axis];
            if (foreground != null)
            {
                int coordinate = rest % size[axis];
                start[axis] = Math.Clamp(coordinate - patch[axis] / 2 + rng.Next(Math.Max(1, patch[axis] / 4)) - patch[axis] / 8,
                    Math.Min(0, extent), Math.Max(0, extent));
                rest /= size[axis];
            }
            else
            {
                start[axis] = extent >= 0 ? rng.Next(extent + 1) : extent / 2;
            }
        }
        // Each axis draws its coin whether or not it may mirror, so leaving an axis out changes nothing else of the sample.
        var flips = Enumerable.Range(0, dims).Select(a => augment && rng.Chance(0.2) && (mirrorAxes == null || mirrorAxes[a])).ToArray();
        // In-plane quarter turns move the last axis onto the one before (two turns mirror both): with an axis left out of
        // mirroring (left-right, in a planned run) they would undo that, so they are off then.
        bool turnsAllowed = mirrorAxes == null || mirrorAxes.All(a => a);
        int turns = augment && turnsAllowed && patch[dims - 1] == patch[dims - 2] && rng.Chance(0.2) ? 1 + rng.Next(3) : 0;
        source.Crop(start, patch, image, label, flips, turns);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<byte[], int[]> ClassCounts = new();

    /// <summary>A foreground voxel chosen as nnU-Net does: a class chosen uniformly among the classes
    /// present, then one of that class's voxels chosen uniformly (for binary labels: uniform over all
    /// foreground voxels). Null when there is no foreground. Voxel counts per class are computed once
    /// per label array.</summary>
    public static int? ForegroundVoxel(byte[] labels, Rng rng)
    {
        var counts = ClassCounts.GetValue(labels, data =>
        {
            var histogram = new int[LabelMap.MaxClasses];
            foreach (byte v in data) histogram[v]++;
            return histogram;
        });
        int present = 0;
        for (int c = 1; c < counts.Length; c++)
            if (counts[c] > 0) present++;
        if (present == 0) return null;
        int pick = rng.Next(present), chosen = 0;
        for (int c = 1; c < counts.Length; c++)
        {
            if (counts[c] == 0) continue;
            if (pick-- == 0)
            {
                chosen = c;
                break;
            }
        }
        int k = rng.Next(counts[chosen]);
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] == chosen && k-- == 0) return i;
        throw new InvalidOperationException("label array changed after its class counts were taken");
    }

    /// <summary>Copies the window at <paramref name="start"/> (may extend past the volume: zeros), with
    /// optional flips per axis and in-plane quarter turns of the last two axes.</summary>
    public static Sample Crop(CaseData data, int[] start, int[] patch)
    {
        int patchVoxels = patch.Aggregate(1, (a, b) => a * b);
        var image = new float[data.Image.Channels * patchVoxels];
        var label = new byte[patchVoxels];
        Crop(data, start, patch, image, label);
        return new Sample(data.Id, image, label);
    }

    public static void Crop(CaseData data, int[] start, int[] patch, Span<float> image, Span<byte> label, bool[]? flips = null, int turns = 0)
    {
        var size = data.Image.Size;
        int dims = size.Length, channels = data.Image.Channels;
        int patchVoxels = patch.Aggregate(1, (a, b) => a * b), voxels = data.Image.Voxels;
        image.Slice(0, channels * patchVoxels).Clear(); // outside the volume stays zero
        label.Slice(0, patchVoxels).Clear();
        var coordinate = new int[dims];
        for (int p = 0; p < patchVoxels; p++)
        {
            int rest = p;
            for (int axis = dims - 1; axis >= 0; axis--)
            {
                coordinate[axis] = rest % patch[axis];
                rest /= patch[axis];
            }
            if (turns != 0)
            {
                int h = dims - 2, w = dims - 1, n = patch[w];
                (coordinate[h], coordinate[w]) = (turns & 3) switch
                {
                    1 => (n - 1 - coordinate[w], coordinate[h]),
                    2 => (n - 1 - coordinate[h], n - 1 - coordinate[w]),
                    _ => (coordinate[w], n - 1 - coordinate[h]),
                };
            }
            int index = 0;
            bool inside = true;
            for (int axis = 0; axis < dims; axis++)
            {
                int c = (flips != null && flips[axis] ? patch[axis] - 1 - coordinate[axis] : coordinate[axis]) + start[axis];
                if (c < 0 || c >= size[axis]) { inside = false; break; }
                index = index * size[axis] + c;
            }
            if (!inside) continue;
            for (int ch = 0; ch < channels; ch++) image[ch * patchVoxels + p] = data.Image.Data[ch * voxels + index];
            if (data.Label is { } labels) label[p] = labels.Data[index];
        }
    }

    public static Batch Collate(IReadOnlyList<Sample> samples, int channels, int[] size)
    {
        int voxels = size.Aggregate(1, (a, b) => a * b);
        var images = new float[samples.Count * channels * voxels];
        var labels = new byte[samples.Count * voxels];
        for (int i = 0; i < samples.Count; i++)
        {
            samples[i].Image.CopyTo(images, i * channels * voxels);
            samples[i].Label.CopyTo(labels, i * voxels);
        }
        return new Batch(samples.Select(s => s.Id).ToArray(), images, labels, samples.Count, channels, size);
    }
}

/// <summary>Produces the batches of one epoch on a background thread (augmentation and collation
/// happen off the training thread), a few batches ahead, in a seeded order.</summary>
public sealed class BatchLoader : IDisposable
{
    private readonly BlockingCollection<Batch> _queue;
    private readonly CancellationTokenSource _cancel = new();
    private readonly Task _producer;
    private readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> _images = new();
    private readonly ConcurrentDictionary<int, ConcurrentBag<byte[]>> _labels = new();
    private Exception? _error;

    /// <summary>Batches of <paramref name="cases"/>; volumes are cut into patches from <paramref name="volumes"/> when given (the
    /// same cases, e.g. read from the preprocessed cache), else from the decoded cases. <paramref name="mirrorAxes"/> says which
    /// spatial axes a volume patch may be mirrored along (null: all).</summary>
    public BatchLoader(IReadOnlyList<CaseData> cases, int batchSize, int[] sampleSize, int channels, long seed, int epoch, bool training,
        int samplesPerCase = 1, int prefetch = 3, int? faultAtBatch = null, IReadOnlyList<IPatchSource>? volumes = null, bool[]? mirrorAxes = null)
    {
        _queue = new BlockingCollection<Batch>(prefetch);
        int caseCount = volumes?.Count ?? cases.Count;
        var order = training
            ? Enumerable.Range(0, samplesPerCase).SelectMany(r => Rng.For(seed, "order", epoch, r).Permutation(caseCount)).ToArray()
            : Enumerable.Range(0, caseCount).ToArray();
        var sources = volumes ?? (cases.Count > 0 && cases[0].Image.Size.Length == 3 ? cases.Select(c => (IPatchSource)new InMemoryPatchSource(c)).ToList() : null);
        var batches = new List<int[]>();
        for (int i = 0; i < order.Length; i += batchSize)
            batches.Add(order.Skip(i).Take(batchSize).ToArray());
        // The last batch is kept even when smaller (as the reference's DataLoader, drop_last=False).
        BatchCount = batches.Count;
        SampleCount = batches.Sum(b => b.Length);
        // A dedicated thread, not a thread-pool one: the producer blocks on the bounded queue for the whole epoch, which would
        // hold one of the pool's few threads (two on a 2-core machine) from other pool work, SIGHUP handlers included.
        _producer = Task.Factory.StartNew(() =>
        {
            try
            {
                int voxels = sampleSize.Aggregate(1, (a, c) => a * c);
                for (int b = 0; b < batches.Count && !_cancel.IsCancellationRequested; b++)
                {
                    if (b + 1 == faultAtBatch)
                        throw new IndexOutOfRangeException($"fault injected while preparing batch {b + 1} of epoch {epoch} (LGMSNET_FAULT_THROW)");
                    int count = batches[b].Length;
                    var images = Rent(_images, count * channels * voxels);
                    var labels = Rent(_labels, count * voxels);
                    for (int slot = 0; slot < count; slot++)
                    {
                        var rng = Rng.For(seed, "augment", epoch, (long)b * batchSize + slot);
                        var image = images.AsSpan(slot * channels * voxels, channels * voxels);
                        var label = labels.AsSpan(slot * voxels, voxels);
                        if (sources != null) Augment.Patch(sources[batches[b][slot]], rng, sampleSize, training, image, label, mirrorAxes);
                        else Augment.Image(cases[batches[b][slot]], rng, training, image, label);
                    }
                    var ids = batches[b].Select(i => sources != null ? sources[i].Id : cases[i].Id).ToArray();
                    _queue.Add(new Batch(ids, images, labels, count, channels, sampleSize), _cancel.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                _error = e;
            }
            finally
            {
                _queue.CompleteAdding();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public int BatchCount { get; }

    /// <summary>Gives a consumed batch's buffers back for reuse (large arrays are never re-allocated per
    /// batch, which keeps garbage collections, and their interference with native calls, rare).</summary>
    public void Return(Batch batch)
    {
        _images.GetOrAdd(batch.Images.Length, _ => new ConcurrentBag<float[]>()).Add(batch.Images);
        _labels.GetOrAdd(batch.Labels.Length, _ => new ConcurrentBag<byte[]>()).Add(batch.Labels);
    }

    private static T[] Rent<T>(ConcurrentDictionary<int, ConcurrentBag<T[]>> pool, int length) =>
        pool.TryGetValue(length, out var spares) && spares.TryTake(out var buffer) ? buffer : new T[length];

    /// <summary>Batches an epoch of <paramref name="samples"/> samples takes.</summary>
    public static int Count(int samples, int batchSize) => (samples + batchSize - 1) / batchSize;

    public int SampleCount { get; }

    public IEnumerable<Batch> Batches()
    {
        foreach (var batch in _queue.GetConsumingEnumerable()) yield return batch;
        // A data problem is the user's to fix; anything else is a bug in the loader thread, kept whole (with its stack trace).
        if (_error != null) throw _error is DataException ? _error : new BatchPreparationException(_error);
    }

    public void Dispose()
    {
        _cancel.Cancel();
        try
        {
            _producer.Wait();
        }
        catch (AggregateException)
        {
        }
        _queue.Dispose();
        _cancel.Dispose();
    }
}

/// <summary>A fault of the batch loader's own thread (not a data problem), carrying the original exception whole.</summary>
public sealed class BatchPreparationException(Exception cause) : Exception("preparing a batch failed: " + cause.Message, cause);
