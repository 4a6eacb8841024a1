using System.Numerics;

namespace LGMSNet.Runtime.Data;

/// <summary>The one percentile of the runtime: linear interpolation between order statistics (numpy's default), used by
/// the surface metrics (HD95), the plan's anisotropy rule and the intensity fingerprint.</summary>
public static class Statistics
{
    /// <summary>The <paramref name="percent"/>-th percentile of values already sorted ascending (NaN when there are none).</summary>
    public static double PercentileOfSorted<T>(ReadOnlySpan<T> sorted, double percent) where T : INumberBase<T>
    {
        if (sorted.Length == 0) return double.NaN;
        double position = percent / 100 * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(sorted.Length - 1, below + 1);
        double low = double.CreateChecked(sorted[below]), high = double.CreateChecked(sorted[above]);
        return low + (high - low) * (position - below);
    }
}
