using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>Instance normalisation (per sample and channel, over all spatial positions; biased variance; no affine) of a
/// float32 CPU tensor when no gradient is recorded, in two passes over memory: one read for the statistics, one read and
/// write for the result (into the input itself when the caller owns it). libtorch's batch norm, which the layer uses
/// otherwise, reads a channels-last input three times at a fraction of memory speed and writes a new tensor (on lgmsnet-3d
/// its norms were 18–20 % of a 96³ window; this kernel made the window 7–16 % faster), and sums each thread's rows one
/// at a time in float32 (4e-4 off float64 on data of mean 3 and spread 1; this kernel 7e-7): docs/benchmarks.md, issue 33.
/// <para>The statistics are computed in float64: each value, widened, minus its channel's first value (so a large mean
/// cannot cancel the variance), summed with its square; the parts of a tensor are added in a fixed order, so the result
/// does not depend on which thread finished first. The result is ((x − m₁) − m₂) · 1/√(var + eps) in float32, where
/// m₁ + m₂ is the mean split into a float32 and the float32 rest: x − m₁ is exact for values near the mean.</para>
/// <para>Layouts: channels-last (memory [S, C] per sample) and contiguous (memory [C, S]); anything else, other types,
/// other devices, a single spatial position (where libtorch's training-mode statistics refuse) and a process where the
/// tensor memory cannot be reached are left to the caller (<see cref="TryNormalize"/> returns null).</para></summary>
internal static unsafe class InstanceNormKernel
{
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    [ThreadStatic] private static bool _disabled;
    private static bool _unreachable;

    /// <summary>Whether the layers use this kernel on this thread (tests turn it off to compute libtorch's result).</summary>
    internal static bool Enabled
    {
        get => !_disabled;
        set => _disabled = !value;
    }

    /// <summary>Elements per part of a parallel loop, at least: below it the loop stays on the calling thread.</summary>
    private const long Grain = 32768;

    /// <summary>The normalised tensor, written into <paramref name="x"/> when <paramref name="inPlace"/>, else into a new
    /// tensor of the same layout; null when this kernel does not handle the case.</summary>
    public static Tensor? TryNormalize(Tensor x, double eps, bool inPlace)
    {
        if (!Enabled || _unreachable || !Vector256.IsHardwareAccelerated || x.dtype != ScalarType.Float32 || x.device_type != DeviceType.CPU
            || x.is_sparse || x.dim() < 3 || x.requires_grad && is_grad_enabled())
            return null;
        long batch = x.shape[0], channels = x.shape[1], spatial = x.numel() / Math.Max(1, batch * channels);
        if (batch * channels * spatial == 0 || spatial < 2) return null;
        bool channelsLast = ConvolutionLayout.IsChannelsLast(x);
        if (!channelsLast && !x.is_contiguous()) return null;
        float* source = Data(x);
        if (source == null) return null;
        var output = inPlace ? x : channelsLast ? ConvolutionLayout.ToChannelsLastEmpty(x) : empty(x.shape, x.dtype, x.device);
        float* target = Data(output);
        if (target == null)
        {
            if (!inPlace) output.Dispose();
            return null;
        }
        var shift = new double[channels];
        var mean = new double[channels];
        var scale = new double[channels];
        for (long n = 0; n < batch; n++)
        {
            float* input = source + n * channels * spatial, result = target + n * channels * spatial;
            // The shift: each channel's first value (read before an in-place pass overwrites it).
            for (long c = 0; c < channels; c++) shift[c] = input[channelsLast ? c : c * spatial];
            if (channelsLast) StatisticsChannelsLast(input, shift, spatial, (int)channels, mean, scale, eps);
            else StatisticsContiguous(input, shift, spatial, channels, mean, scale, eps);
            var high = Array.ConvertAll(mean, m => (float)m);
            var low = new float[channels];
            for (long c = 0; c < channels; c++) low[c] = (float)(mean[c] - high[c]);
            var r = Array.ConvertAll(scale, v => (float)v);
            if (channelsLast) ApplyChannelsLast(input, result, spatial, (int)channels, high, low, r);
            else ApplyContiguous(input, result, spatial, channels, high, low, r);
        }
        // The memory read above belongs to x (and output): neither may be finalised before this point.
        GC.KeepAlive(x);
        GC.KeepAlive(output);
        return output;
    }

    /// <summary>The tensor's first element (storage offset included), or null where LibTorchSharp cannot be reached (then
    /// the kernel is off for the process).</summary>
    private static float* Data(Tensor t)
    {
        try
        {
            return (float*)THSTensor_data(t.Handle);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _unreachable = true;
            return null;
        }
    }

    /// <summary>How many parts a parallel loop over <paramref name="count"/> items of <paramref name="elementsPerItem"/>
    /// elements runs in: one per thread of libtorch's team (<see cref="OpenMpTeam"/>), each of at least
    /// <see cref="Grain"/> elements.</summary>
    private static int PartCount(long count, long elementsPerItem) =>
        (int)Math.Clamp(count * elementsPerItem / Grain, 1, Math.Min(Math.Max(1, get_num_threads()), count));

    /// <summary>From each part's sums of the shifted values and of their squares (added in part order): the mean and
    /// 1/√(var + eps) per channel.</summary>
    private static void Finish(double[,] sums, double[,] squares, double[] shift, long spatial, double eps, double[] mean, double[] scale)
    {
        for (int c = 0; c < mean.Length; c++)
        {
            double sum = 0, square = 0;
            for (int part = 0; part < sums.GetLength(0); part++)
            {
                sum += sums[part, c];
                square += squares[part, c];
            }
            double shifted = sum / spatial;
            mean[c] = shift[c] + shifted;
            scale[c] = 1 / Math.Sqrt(Math.Max(0, square / spatial - shifted * shifted) + eps);
        }
    }

    private static void StatisticsChannelsLast(float* x, double[] shift, long spatial, int c, double[] mean, double[] scale, double eps)
    {
        int parts = PartCount(spatial, c);
        var sums = new double[parts, c];
        var squares = new double[parts, c];
        OpenMpTeam.For(spatial, parts, (begin, end, part) =>
        {
            fixed (double* k = shift, sum = &sums[part, 0], square = &squares[part, 0])
                SumRows(x, k, begin, end, c, sum, square);
        });
        Finish(sums, squares, shift, spatial, eps, mean, scale);
    }

    /// <summary>Adds rows [begin, end) of a [S, C] map, minus <paramref name="k"/>, to <paramref name="sum"/> and their
    /// squares to <paramref name="square"/> (float64). Blocks of rows that stay in cache; within a block, each group of 8
    /// channels is summed down the rows in registers. Optimised from the first call: a kernel left to tiered compilation
    /// ran its first calls as unoptimised code, slower than libtorch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SumRows(float* x, double* k, long begin, long end, int c, double* sum, double* square)
    {
        const int Block = 256;
        int vectors = c / 8;
        for (long first = begin; first < end; first += Block)
        {
            long last = Math.Min(end, first + Block);
            for (int j = 0; j < vectors; j++)
            {
                var kLow = Vector256.Load(k + 8 * j);
                var kHigh = Vector256.Load(k + 8 * j + 4);
                Vector256<double> sumLow = default, sumHigh = default, squareLow = default, squareHigh = default;
                float* p = x + first * c + 8 * j;
                for (long s = first; s < last; s++, p += c)
                {
                    var (low, high) = Vector256.Widen(Vector256.Load(p));
                    low -= kLow;
                    high -= kHigh;
                    sumLow += low;
                    sumHigh += high;
                    squareLow = Vector256.FusedMultiplyAdd(low, low, squareLow);
                    squareHigh = Vector256.FusedMultiplyAdd(high, high, squareHigh);
                }
                (Vector256.Load(sum + 8 * j) + sumLow).Store(sum + 8 * j);
                (Vector256.Load(sum + 8 * j + 4) + sumHigh).Store(sum + 8 * j + 4);
                (Vector256.Load(square + 8 * j) + squareLow).Store(square + 8 * j);
                (Vector256.Load(square + 8 * j + 4) + squareHigh).Store(square + 8 * j + 4);
            }
            for (int j = 8 * vectors; j < c; j++)
                for (long s = first; s < last; s++)
                {
                    double d = x[s * c + j] - k[j];
                    sum[j] += d;
                    square[j] += d * d;
                }
        }
    }

    private static void StatisticsContiguous(float* x, double[] shift, long spatial, long channels, double[] mean, double[] scale, double eps)
    {
        long count = channels * spatial;
        int parts = PartCount(count, 1);
        var sums = new double[parts, channels];
        var squares = new double[parts, channels];
        OpenMpTeam.For(count, parts, (begin, end, part) =>
        {
            // Each channel's slice of this part of the flat [C, S] range is reduced on its own.
            for (long c = begin / spatial; c * spatial < end; c++)
            {
                long from = Math.Max(begin, c * spatial), to = Math.Min(end, (c + 1) * spatial);
                var (s, q) = Reduce(x + from, to - from, shift[c]);
                sums[part, c] = s;
                squares[part, c] = q;
            }
        });
        Finish(sums, squares, shift, spatial, eps, mean, scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double Sum, double Squares) Reduce(float* x, long count, double shift)
    {
        Vector256<double> sum = default, squares = default;
        var k = Vector256.Create(shift);
        long i = 0;
        for (; i + 8 <= count; i += 8)
        {
            var (low, high) = Vector256.Widen(Vector256.Load(x + i));
            low -= k;
            high -= k;
            sum += low + high;
            squares = Vector256.FusedMultiplyAdd(low, low, Vector256.FusedMultiplyAdd(high, high, squares));
        }
        double s = Vector256.Sum(sum), q = Vector256.Sum(squares);
        for (; i < count; i++)
        {
            double d = x[i] - shift;
            s += d;
            q += d * d;
        }
        return (s, q);
    }

    private static void ApplyChannelsLast(float* x, float* y, long spatial, int c, float[] high, float[] low, float[] scale) =>
        OpenMpTeam.For(spatial, PartCount(spatial, c), (begin, end, _) =>
        {
            fixed (float* m1 = high, m2 = low, r = scale)
                ApplyRows(x, y, begin, end, c, m1, m2, r);
        });

    /// <summary>Rows [begin, end) of a [S, C] map: y = ((x − m1) − m2) · r per channel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ApplyRows(float* x, float* y, long begin, long end, int c, float* m1, float* m2, float* r)
    {
        int vectors = c / 8;
        for (long s = begin; s < end; s++)
        {
            float* row = x + s * c, output = y + s * c;
            for (int j = 0; j < vectors; j++)
                ((Vector256.Load(row + 8 * j) - Vector256.Load(m1 + 8 * j) - Vector256.Load(m2 + 8 * j)) * Vector256.Load(r + 8 * j))
                    .Store(output + 8 * j);
            for (int j = 8 * vectors; j < c; j++) output[j] = (row[j] - m1[j] - m2[j]) * r[j];
        }
    }

    private static void ApplyContiguous(float* x, float* y, long spatial, long channels, float[] high, float[] low, float[] scale) =>
        OpenMpTeam.For(channels * spatial, PartCount(channels * spatial, 1), (begin, end, _) =>
        {
            for (long c = begin / spatial; c * spatial < end; c++)
            {
                long from = Math.Max(begin, c * spatial), to = Math.Min(end, (c + 1) * spatial);
                ApplyRange(x + from, y + from, to - from, high[c], low[c], scale[c]);
            }
        });

    /// <summary>y = ((x − m1) − m2) · r over <paramref name="count"/> values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ApplyRange(float* x, float* y, long count, float m1, float m2, float r)
    {
        var m1v = Vector256.Create(m1);
        var m2v = Vector256.Create(m2);
        var rv = Vector256.Create(r);
        long i = 0;
        for (; i + 8 <= count; i += 8) ((Vector256.Load(x + i) - m1v - m2v) * rv).Store(y + i);
        for (; i < count; i++) y[i] = (x[i] - m1 - m2) * r;
    }
}
