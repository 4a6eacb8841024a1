using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LGMSNet.Dsl.Planning;

namespace LGMSNet.Dsl;

/// <summary>How numbers, sizes and stages are written for people, in one place: the generated XML
/// docs and the CLI's tables print the same architecture the same way (culture-invariant).</summary>
public static class Formatting
{
    /// <summary>2321393 → "2,321,393".</summary>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Billions with three decimals: 5006000000 → "5.006" (the unit is the caller's).</summary>
    public static string Giga(long value) => (value / 1e9).ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>Millions with one decimal: 28311552 → "28.3" (the unit is the caller's).</summary>
    public static string Mega(double value) => (value / 1e6).ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>A spatial size: [256, 256] → "256x256".</summary>
    public static string Size(IEnumerable<long> sizes) => string.Join("x", sizes);

    /// <summary>A spatial size: [256, 256] → "256x256".</summary>
    public static string Size(IEnumerable<int> sizes) => string.Join("x", sizes);

    /// <summary>What a stage computes: its blocks' descriptions, in order.</summary>
    public static string Stage(StagePlan stage) => string.Join(", then ", stage.Blocks.Select(b => b.Describe()));
}
