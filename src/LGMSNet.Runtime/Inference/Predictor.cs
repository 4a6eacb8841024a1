using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Inference;

/// <summary>Runs a network (eval mode, no gradients) on whole cases: 2D images directly, volumes by
/// sliding windows. Produces per-voxel probabilities and label maps.
/// With several networks (a fold ensemble) and/or flip test-time augmentation, the probabilities
/// (sigmoid, or softmax over classes) of every network on every flip of the input (all 2^dims mirror
/// combinations, flipped back) are averaged and returned as logits of that average (logit p, or log p),
/// so thresholding, argmax and the loss read them as before. Volumes are combined window by window,
/// so an ensemble needs one volume of accumulated logits however many members it has.</summary>
public sealed class Predictor(IReadOnlyList<SegmentationNetwork> networks, Device device, int[] windowSize, bool flip = false,
    double overlap = 0.5, int? windowBatch = null, bool[]? mirrorAxes = null)
{
    public Predictor(SegmentationNetwork network, Device device, int[] windowSize, double overlap = 0.5, int? windowBatch = null)
        : this(new[] { network }, device, windowSize, false, overlap, windowBatch)
    {
    }

    /// <summary>Windows run together: as given, else 2 on a GPU and 1 on the CPU. On the CPU a batch of two 96³ windows of
    /// lgmsnet-3d took 1.36 s per window against 1.2 s one at a time (the instance norms run per sample and their outputs are
    /// concatenated, and the working set doubles), and a brain volume 107.5 s against 96.6 s (docs/benchmarks.md).
    /// The result does not depend on it: every window is computed on its own.</summary>
    public int WindowBatch { get; } = Math.Max(1, windowBatch ?? (device.type == DeviceType.CUDA ? 2 : 1));

    public SegmentationNetwork Network { get; } = networks[0];

    /// <summary>Logits [B, K, spatial...] for a batch of equally sized samples.</summary>
    public Tensor Logits(float[] images, int count, int channels, int[] size)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var shape = new long[] { count, channels }.Concat(size.Select(s => (long)s)).ToArray();
        var input = Tensors.FromFloats(images, shape).to(device);
        if (networks.Count == 1 && !flip) return scope.MoveToOuter(Network.forward(input).cpu());
        var flips = flip ? MirrorAxes(size.Length, mirrorAxes) : new[] { Array.Empty<long>() };
        Tensor? sum = null;
        foreach (var network in networks)
            foreach (var axes in flips)
            {
                using var inner = NewDisposeScope();
                var output = axes.Length == 0 ? network.forward(input) : network.forward(input.flip(axes)).flip(axes);
                var probabilities = output.shape[1] == 1 ? output.sigmoid() : output.softmax(1);
                sum = sum is null ? inner.MoveToOuter(probabilities.cpu()) : inner.MoveToOuter(sum.add(probabilities.cpu()));
            }
        var mean = sum! / (networks.Count * flips.Length);
        const double epsilon = 1e-7;
        var logits = mean.shape[1] == 1
            ? mean.clamp(epsilon, 1 - epsilon).logit()
            : mean.clamp_min(epsilon).log();
        return scope.MoveToOuter(logits);
    }

    /// <summary>Every set of the allowed spatial axes (tensor dims 2..; all when <paramref name="allowed"/> is null), the
    /// empty set included: the mirror combinations.</summary>
    private static long[][] MirrorAxes(int dims, bool[]? allowed) =>
        Enumerable.Range(0, 1 << dims)
            .Where(mask => allowed == null || Enumerable.Range(0, dims).All(a => (mask >> a & 1) == 0 || allowed[a]))
            .Select(mask => Enumerable.Range(0, dims).Where(a => (mask >> a & 1) == 1).Select(a => (long)a + 2).ToArray()).ToArray();

    /// <summary>Class indices from logits [K, ...] (K = 1: logit &gt; 0, i.e. probability &gt; 0.5).</summary>
    public static byte[] Labels(Tensor logits)
    {
        LabelMap.CheckClasses((int)logits.shape[0], "prediction");
        using var scope = NewDisposeScope();
        var labels = logits.shape[0] == 1 ? logits[0].Greater(0) : logits.argmax(0);
        return labels.to_type(ScalarType.Byte).contiguous().data<byte>().ToArray();
    }

    /// <summary>Logits [K, spatial...] of a whole volume: windows of <c>windowSize</c> with the given
    /// overlap, blended with a Gaussian importance map (centre voxels count most), as nnU-Net and MONAI do.</summary>
    public Tensor SlidingWindow(Volume volume)
    {
        int dims = volume.Size.Length;
        var size = volume.Size;
        var window = windowSize;
        var starts = Enumerable.Range(0, dims).Select(axis => Starts(size[axis], window[axis], overlap)).ToArray();
        using var scope = NewDisposeScope();
        var importance = Gaussian(window);
        var padded = size.Select((s, axis) => Math.Max(s, window[axis])).ToArray();
        Tensor? sum = null;
        var weight = zeros(padded.Select(s => (long)s).ToArray());
        var positions = Cartesian(starts).ToList();
        var data = new CaseData("window", volume, null, null);
        for (int first = 0; first < positions.Count; first += WindowBatch)
        {
            // Each window's temporaries (its logits weighted by the importance map: 14 × 96³ floats, 50 MB for lgmsnet-3d)
            // are freed with the window, not with the volume: held to the end they grew a brain volume's resident memory
            // by ~100 MB per window, 2 → 9 GiB, and each window took fresh pages from the kernel.
            using var windowScope = NewDisposeScope();
            var group = positions.Skip(first).Take(WindowBatch).ToList();
            var samples = group.Select(start => Augment.Crop(data, start, window)).ToList();
            var batch = Augment.Collate(samples, volume.Channels, window);
            using var logits = Logits(batch.Images, batch.Count, volume.Channels, window);
            sum ??= windowScope.MoveToOuter(zeros(new long[] { logits.shape[1] }.Concat(padded.Select(s => (long)s)).ToArray()));
            for (int i = 0; i < group.Count; i++)
            {
                var region = sum;
                var regionWeight = weight;
                for (int axis = 0; axis < dims; axis++)
                {
                    region = region.narrow(axis + 1, group[i][axis], window[axis]);
                    regionWeight = regionWeight.narrow(axis, group[i][axis], window[axis]);
                }
                region.PlusInPlace(logits[i] * importance);
                regionWeight.PlusInPlace(importance);
            }
        }
        var blended = sum! / weight.AtLeast(1e-8);
        for (int axis = 0; axis < dims; axis++) blended = blended.narrow(axis + 1, 0, size[axis]);
        return scope.MoveToOuter(blended.contiguous());
    }

    /// <summary>Window origins covering [0, size) with the given overlap; the last window ends at the edge.</summary>
    public static int[] Starts(int size, int window, double overlap)
    {
        if (size <= window) return new[] { 0 };
        int step = Math.Max(1, (int)Math.Round(window * (1 - overlap)));
        var starts = new List<int>();
        for (int s = 0; s + window < size; s += step) starts.Add(s);
        starts.Add(size - window);
        return starts.Distinct().ToArray();
    }

    private static Tensor Gaussian(int[] window)
    {
        Tensor? map = null;
        for (int axis = 0; axis < window.Length; axis++)
        {
            double sigma = window[axis] / 8.0, centre = (window[axis] - 1) / 2.0;
            var values = Enumerable.Range(0, window[axis]).Select(i => (float)Math.Exp(-Math.Pow(i - centre, 2) / (2 * sigma * sigma))).ToArray();
            var shape = Enumerable.Repeat(1L, window.Length).ToArray();
            shape[axis] = window[axis];
            var factor = tensor(values).reshape(shape);
            map = map is null ? factor : map * factor;
        }
        return (map! / map!.max()).Plus(1e-3); // never zero, so every voxel gets a defined average
    }

    private static IEnumerable<int[]> Cartesian(int[][] axes)
    {
        IEnumerable<int[]> result = new[] { Array.Empty<int>() };
        foreach (var values in axes)
            result = result.SelectMany(prefix => values.Select(v => prefix.Append(v).ToArray()));
        return result;
    }
}
