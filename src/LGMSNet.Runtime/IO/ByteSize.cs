using System.Globalization;

namespace LGMSNet.Runtime.IO;

/// <summary>Byte counts as people read them ("512.0 MiB", "1.50 GiB"), for messages and reports.</summary>
public static class ByteSize
{
    public static string Format(long bytes) => bytes >= 1L << 30
        ? (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
}
