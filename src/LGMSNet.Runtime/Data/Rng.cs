namespace LGMSNet.Runtime.Data;

/// <summary>xoshiro256** seeded through SplitMix64. Streams are derived from (seed, purpose, epoch,
/// index), so data order and augmentation need no saved state: a resumed run or any worker thread
/// draws exactly what an uninterrupted single-threaded run would.</summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareGaussian;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>An independent stream for a (seed, purpose, a, b) combination.</summary>
    public static Rng For(long seed, string purpose, long a = 0, long b = 0)
    {
        ulong h = 0xcbf29ce484222325UL;
        foreach (char c in purpose) h = (h ^ c) * 0x100000001b3UL;
        ulong x = (ulong)seed ^ h;
        x = Mix(x + 0x9E3779B97F4A7C15UL * (ulong)(a + 1));
        x = Mix(x + 0xBF58476D1CE4E5B9UL * (ulong)(b + 1));
        return new Rng(x);
    }

    public ulong NextUInt64()
    {
        ulong result = RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform integer in [0, count).</summary>
    public int Next(int count) => (int)(NextDouble() * count);

    public bool Chance(double probability) => NextDouble() < probability;

    public double Gaussian()
    {
        if (_spareGaussian is { } spare)
        {
            _spareGaussian = null;
            return spare;
        }
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double radius = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareGaussian = radius * Math.Sin(2 * Math.PI * u2);
        return radius * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>A seeded permutation of 0..count-1 (Fisher–Yates).</summary>
    public int[] Permutation(int count)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    private static ulong SplitMix(ref ulong x) => Mix(x += 0x9E3779B97F4A7C15UL);

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));
}
