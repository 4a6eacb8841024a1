using System.Globalization;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Cli;

/// <summary>Command-line parsing and the CLI's own number format; counts, sizes and stages are formatted by
/// <see cref="LGMSNet.Dsl.Formatting"/>, which the generated docs use too.</summary>
internal static class Format
{
    public static string Number(double value, string format = "0.0000") => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>"256" → [256, 256] (2D); "96x160" → [96, 160]; one entry per spatial axis.</summary>
    public static int[] ParseSize(string text, int dims)
    {
        var parts = text.Split('x', 'X', ',');
        if (parts.Any(p => !int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v <= 0))
            throw new UserErrorException($"--size '{text}' is not a size: give N or {(dims == 2 ? "HxW" : "DxHxW")} with positive integers", 2);
        var values = parts.Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        if (values.Length == 1) return Enumerable.Repeat(values[0], dims).ToArray();
        if (values.Length != dims) throw new UserErrorException($"--size '{text}' has {values.Length} sizes; this is a {dims}D architecture", 2);
        return values;
    }
}
