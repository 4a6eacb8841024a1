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
/// m₁ + m₂ is the mean split into a float32 and the float32 rest: x − m₁ is exact for values near the mean; a block's
/// activation after its norm is applied to it before it is written (<see cref="Primitives.NormActivateOwned"/>).</para>
/// <para>Layouts: channels-last (memory [S, C] per sample, read as rows of lcm(C, 8) values so that every channel count
/// fills whole vectors: a 4-channel norm ran scalar, 35× slower, before) and contiguous (memory [C, S]); anything else, other types,
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
    /// tensor of the same layout; null when this kernel does not handle the case. <paramref name="after"/> is applied to the
    /// normalised values in the same pass (a block's norm → activation).</summary>
    public static Tensor? TryNormalize(Tensor x, double eps, bool inPlace, Activation after = Activation.None)
    {
        if (!Enum.IsDefined(after)) throw new ArgumentOutOfRangeException(nameof(after), after, "not an activation");
        if (!Enabled || _unreachable || !Vector256.IsHardwareAccelerated || x.dtype != ScalarType.Float32 || x.device_type != DeviceType.CPU
            || x.is_sparse || x.dim() < 3 || x.requires_grad && is_grad_enabled())
            return null;
        long batch = x.shape[0], channels = x.shape[1], spatial = x.numel() / Math.Max(1, batch * channels);
        // A row of lcm(C, 8) values is at most 8·C; channel counts whose row does not fit an int are left to libtorch.
        if (batch * channels * spatial == 0 || spatial < 2 || channels > int.MaxValue / 8) return null;
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
        var map = new Map(channels, spatial, channelsLast);
        for (long n = 0; n < batch; n++)
            Normalize(after, source + n * channels * spatial, target + n * channels * spatial, map, eps);
        // The memory read above belongs to x (and output): neither may be finalised before this point.
        GC.KeepAlive(x);
        GC.KeepAlive(output);
        return output;
    }

    /// <summary>One sample's [C, S] (contiguous) or [S, C] (channels-last) map. Channels-last memory is read as rows of
    /// <see cref="Period"/> = lcm(C, 8) values, so that any channel count fills whole vectors: column j of a row is
    /// channel j mod C (4 channels: 2 positions per row of 8; 37 channels: 8 positions per row of 296). The
    /// <see cref="Tail"/> values after the last whole row (fewer than a row) are a partial row.</summary>
    private readonly record struct Map(long Channels, long Spatial, bool ChannelsLast)
    {
        public int Period { get; } = checked((int)(Channels * 8 / Gcd(Channels, 8)));

        public long Rows => Spatial * Channels / Period;

        public int Tail => (int)(Spatial * Channels - Rows * Period);

        /// <summary>The parts a channels-last pass over the rows runs in (one when there is only the partial row, which
        /// the last part does).</summary>
        public int RowParts => Rows == 0 ? 1 : PartCount(Rows, Period);

        /// <summary>The channels of a contiguous map that the flat range [begin, end) of its [C, S] memory touches, each with
        /// its own run [From, To) in that range.</summary>
        public IEnumerable<(long Channel, long From, long To)> Slices(long begin, long end)
        {
            for (long c = begin / Spatial; c * Spatial < end; c++)
                yield return (c, Math.Max(begin, c * Spatial), Math.Min(end, (c + 1) * Spatial));
        }

        private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);

        /// <summary>A per-channel value repeated along a row of <see cref="Period"/> columns.</summary>
        public T[] Columns<T>(T[] perChannel)
        {
            var columns = new T[Period];
            for (int j = 0; j < Period; j++) columns[j] = perChannel[j % Channels];
            return columns;
        }
    }

    private static void Normalize(Activation after, float* input, float* result, Map map, double eps)
    {
        switch (after)
        {
            case Activation.None: Normalize<Identity>(input, result, map, eps); break;
            case Activation.ReLU: Normalize<Relu>(input, result, map, eps); break;
            case Activation.SiLU: Normalize<Silu>(input, result, map, eps); break;
            case Activation.GELU: Normalize<Gelu>(input, result, map, eps); break;
            default: throw new ArgumentOutOfRangeException(nameof(after));
        }
    }

    /// <summary>One sample: the statistics, then result = TAfter(((x − m₁) − m₂) · r).</summary>
    private static void Normalize<TAfter>(float* input, float* result, Map map, double eps) where TAfter : struct, IVectorFunction
    {
        long channels = map.Channels, spatial = map.Spatial;
        // The shift: each channel's first value (read before an in-place pass overwrites it).
        var shift = new double[channels];
        for (long c = 0; c < channels; c++) shift[c] = input[map.ChannelsLast ? c : c * spatial];
        var mean = new double[channels];
        var scale = new double[channels];
        if (map.ChannelsLast) StatisticsChannelsLast(input, shift, map, mean, scale, eps);
        else StatisticsContiguous(input, shift, map, mean, scale, eps);
        var high = Array.ConvertAll(mean, m => (float)m);
        var low = new float[channels];
        for (long c = 0; c < channels; c++) low[c] = (float)(mean[c] - high[c]);
        var r = Array.ConvertAll(scale, v => (float)v);
        if (map.ChannelsLast) ApplyChannelsLast<TAfter>(input, result, map, high, low, r);
        else ApplyContiguous<TAfter>(input, result, map, high, low, r);
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

    /// <summary>From each part's sums of the shifted values and of their squares per column (added in part order, then
    /// column order): the mean and 1/√(var + eps) per channel.</summary>
    private static void Finish(double[,] sums, double[,] squares, double[] shift, long spatial, double eps, double[] mean, double[] scale)
    {
        int columns = sums.GetLength(1);
        for (int c = 0; c < mean.Length; c++)
        {
            double sum = 0, square = 0;
            for (int part = 0; part < sums.GetLength(0); part++)
                for (int j = c; j < columns; j += mean.Length)
                {
                    sum += sums[part, j];
                    square += squares[part, j];
                }
            double shifted = sum / spatial;
            mean[c] = shift[c] + shifted;
            scale[c] = 1 / Math.Sqrt(Math.Max(0, square / spatial - shifted * shifted) + eps);
        }
    }

    private static void StatisticsChannelsLast(float* x, double[] shift, Map map, double[] mean, double[] scale, double eps)
    {
        long rows = map.Rows;
        int period = map.Period, tail = map.Tail;
        int parts = map.RowParts;
        var sums = new double[parts, period];
        var squares = new double[parts, period];
        var k = map.Columns(shift);
        OpenMpTeam.For(rows, parts, (begin, end, part) =>
        {
            fixed (double* kj = k, sum = &sums[part, 0], square = &squares[part, 0])
            {
                SumRows(x, kj, begin, end, period, sum, square);
                // The partial row after the last whole one: its columns are the first of a row.
                if (part == parts - 1 && tail > 0) SumPartial(x + rows * period, tail, kj, sum, square);
            }
        });
        Finish(sums, squares, shift, map.Spatial, eps, mean, scale);
    }

    /// <summary>Adds rows [begin, end) of a [rows, P] map (P a multiple of 8), minus <paramref name="k"/>, to <paramref name="sum"/> and
    /// their squares to <paramref name="square"/> (float64, per column). Blocks of rows that stay in cache; within a
    /// block, each group of 8 columns is summed down the rows in registers. Optimised from the first call: a kernel left
    /// to tiered compilation ran its first calls as unoptimised code, slower than libtorch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SumRows(float* x, double* k, long begin, long end, int period, double* sum, double* square)
    {
        // 256 rows, or fewer where rows are long (lcm(C, 8) is 8·C for an odd C), so a block stays within 64 KB.
        int block = Math.Clamp(16384 / period, 8, 256);
        int vectors = period / 8;
        for (long first = begin; first < end; first += block)
        {
            long last = Math.Min(end, first + block);
            for (int j = 0; j < vectors; j++)
            {
                var kLow = Vector256.Load(k + 8 * j);
                var kHigh = Vector256.Load(k + 8 * j + 4);
                Vector256<double> sumLow = default, sumHigh = default, squareLow = default, squareHigh = default;
                long offset = first * period + 8 * j;
                for (long s = first; s < last; s++, offset += period)
                {
                    var (low, high) = Vector256.Widen(Vector256.Load(x + offset));
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
        }
    }

    /// <summary><paramref name="count"/> values, each in its own column (the first <paramref name="count"/> of a row),
    /// added as <see cref="SumRows"/> adds a row.</summary>
    private static void SumPartial(float* x, int count, double* k, double* sum, double* square)
    {
        for (int j = 0; j < count; j++)
        {
            double d = x[j] - k[j];
            sum[j] += d;
            square[j] += d * d;
        }
    }

    private static void StatisticsContiguous(float* x, double[] shift, Map map, double[] mean, double[] scale, double eps)
    {
        long spatial = map.Spatial, count = map.Channels * spatial;
        int parts = PartCount(count, 1);
        var sums = new double[parts, map.Channels];
        var squares = new double[parts, map.Channels];
        OpenMpTeam.For(count, parts, (begin, end, part) =>
        {
            // Each channel's slice of this part of the flat [C, S] range is reduced on its own.
            foreach (var (c, from, to) in map.Slices(begin, end))
            {
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

    private static void ApplyChannelsLast<TAfter>(float* x, float* y, Map map, float[] high, float[] low, float[] scale)
        where TAfter : struct, IVectorFunction
    {
        long rows = map.Rows;
        int period = map.Period, tail = map.Tail;
        int parts = map.RowParts;
        float[] m1 = map.Columns(high), m2 = map.Columns(low), r = map.Columns(scale);
        OpenMpTeam.For(rows, parts, (begin, end, part) =>
        {
            fixed (float* m1j = m1, m2j = m2, rj = r)
            {
                ApplyRows<TAfter>(x, y, begin, end, period, m1j, m2j, rj);
                if (part == parts - 1 && tail > 0)
                    for (int j = 0; j < tail; j += 8)
                    {
                        int n = Math.Min(8, tail - j);
                        long offset = rows * period + j;
                        Partial.Store(Apply<TAfter>(Partial.Load(x + offset, n), m1j + j, m2j + j, rj + j), y + offset, n);
                    }
            }
        });
    }

    private static Vector256<float> Apply<TAfter>(Vector256<float> v, float* m1, float* m2, float* r) where TAfter : struct, IVectorFunction =>
        TAfter.Apply((v - Vector256.Load(m1) - Vector256.Load(m2)) * Vector256.Load(r));

    /// <summary>Rows [begin, end) of a [rows, P] map: y = TAfter(((x − m1) − m2) · r) per column.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ApplyRows<TAfter>(float* x, float* y, long begin, long end, int period, float* m1, float* m2, float* r)
        where TAfter : struct, IVectorFunction
    {
        int vectors = period / 8;
        for (long s = begin; s < end; s++)
        {
            long row = s * period;
            for (int j = 0; j < vectors; j++) Apply<TAfter>(Vector256.Load(x + row + 8 * j), m1 + 8 * j, m2 + 8 * j, r + 8 * j).Store(y + row + 8 * j);
        }
    }

    private static void ApplyContiguous<TAfter>(float* x, float* y, Map map, float[] high, float[] low, float[] scale)
        where TAfter : struct, IVectorFunction
    {
        long spatial = map.Spatial, count = map.Channels * spatial;
        OpenMpTeam.For(count, PartCount(count, 1), (begin, end, _) =>
        {
            foreach (var (c, from, to) in map.Slices(begin, end))
                ApplyRange<TAfter>(x + from, y + from, to - from, high[c], low[c], scale[c]);
        });
    }

    /// <summary>y = TAfter(((x − m1) − m2) · r) over <paramref name="count"/> values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ApplyRange<TAfter>(float* x, float* y, long count, float m1, float m2, float r)
        where TAfter : struct, IVectorFunction
    {
        var m1v = Vector256.Create(m1);
        var m2v = Vector256.Create(m2);
        var rv = Vector256.Create(r);
        long i = 0;
        for (; i + 8 <= count; i += 8) TAfter.Apply((Vector256.Load(x + i) - m1v - m2v) * rv).Store(y + i);
        if (i < count)
        {
            int n = (int)(count - i);
            Partial.Store(TAfter.Apply((Partial.Load(x + i, n) - m1v - m2v) * rv), y + i, n);
        }
    }

    /// <summary>Fewer than 8 values as a vector (the other lanes zero) and back.</summary>
    private static class Partial
    {
        public static Vector256<float> Load(float* p, int n)
        {
            var lanes = stackalloc float[8];
            for (int i = 0; i < 8; i++) lanes[i] = i < n ? p[i] : 0;
            return Vector256.Load(lanes);
        }

        public static void Store(Vector256<float> v, float* p, int n)
        {
            for (int i = 0; i < n; i++) p[i] = v.GetElement(i);
        }
    }
}
