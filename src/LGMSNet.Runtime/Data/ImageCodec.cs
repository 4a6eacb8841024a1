using SkiaSharp;

namespace LGMSNet.Runtime.Data;

/// <summary>8-bit RGB pixels, row-major, 3 bytes per pixel.</summary>
public sealed record RgbImage(byte[] Pixels, int Width, int Height);

/// <summary>PNG/JPEG decoding and encoding through SkiaSharp, with size limits and clear errors.</summary>
public static class ImageCodec
{
    /// <summary>Larger images are refused rather than allocated (a corrupt header can claim anything).</summary>
    public const long MaxPixels = 64L * 1024 * 1024;

    public static readonly string[] Extensions = { ".png", ".jpg", ".jpeg", ".bmp" };

    public static RgbImage Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read ({e.Message})");
        }
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec == null) throw new DataException($"{path}: not a readable PNG or JPEG image (corrupt or unsupported format)");
        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0 || (long)info.Width * info.Height > MaxPixels)
            throw new DataException($"{path}: image size {info.Width}x{info.Height} is not plausible (limit {MaxPixels:N0} pixels)");
        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(target);
        var result = codec.GetPixels(target, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
            throw new DataException($"{path}: image data is truncated or corrupt ({result})");
        var rgba = bitmap.GetPixelSpan();
        var rgb = new byte[info.Width * info.Height * 3];
        for (int i = 0, j = 0; j < rgb.Length; i += 4, j += 3)
        {
            rgb[j] = rgba[i];
            rgb[j + 1] = rgba[i + 1];
            rgb[j + 2] = rgba[i + 2];
        }
        return new RgbImage(rgb, info.Width, info.Height);
    }

    /// <summary>Luminance as PIL's convert('L') computes it (ITU-R 601-2: 299/587/114).</summary>
    public static byte[] Gray(RgbImage image)
    {
        var gray = new byte[image.Width * image.Height];
        for (int i = 0, j = 0; i < gray.Length; i++, j += 3)
            gray[i] = (byte)((image.Pixels[j] * 299 + image.Pixels[j + 1] * 587 + image.Pixels[j + 2] * 114 + 500) / 1000);
        return gray;
    }

    /// <summary>Bilinear resize of interleaved 8-bit channels (as cv2.INTER_LINEAR / align_corners=False).</summary>
    public static byte[] ResizeBilinear(byte[] pixels, int width, int height, int channels, int newWidth, int newHeight)
    {
        if (width == newWidth && height == newHeight) return (byte[])pixels.Clone();
        var output = new byte[newWidth * newHeight * channels];
        double sx = (double)width / newWidth, sy = (double)height / newHeight;
        for (int y = 0; y < newHeight; y++)
        {
            double fy = Math.Max((y + 0.5) * sy - 0.5, 0);
            int y0 = Math.Min((int)fy, height - 1), y1 = Math.Min(y0 + 1, height - 1);
            double wy = fy - y0;
            for (int x = 0; x < newWidth; x++)
            {
                double fx = Math.Max((x + 0.5) * sx - 0.5, 0);
                int x0 = Math.Min((int)fx, width - 1), x1 = Math.Min(x0 + 1, width - 1);
                double wx = fx - x0;
                for (int c = 0; c < channels; c++)
                {
                    double top = pixels[(y0 * width + x0) * channels + c] * (1 - wx) + pixels[(y0 * width + x1) * channels + c] * wx;
                    double bottom = pixels[(y1 * width + x0) * channels + c] * (1 - wx) + pixels[(y1 * width + x1) * channels + c] * wx;
                    output[(y * newWidth + x) * channels + c] = (byte)Math.Clamp(Math.Round(top * (1 - wy) + bottom * wy), 0, 255);
                }
            }
        }
        return output;
    }

    /// <summary>Nearest-neighbour resize (labels must not be blended).</summary>
    public static byte[] ResizeNearest(byte[] values, int width, int height, int newWidth, int newHeight)
    {
        if (width == newWidth && height == newHeight) return (byte[])values.Clone();
        var output = new byte[newWidth * newHeight];
        for (int y = 0; y < newHeight; y++)
        {
            int sy = Math.Min(height - 1, (int)((y + 0.5) * height / newHeight));
            for (int x = 0; x < newWidth; x++)
                output[y * newWidth + x] = values[sy * width + Math.Min(width - 1, (int)((x + 0.5) * width / newWidth))];
        }
        return output;
    }

    /// <summary>Writes a one-channel 8-bit image as PNG or JPEG (chosen by the extension).</summary>
    public static void WriteGray(string path, byte[] gray, int width, int height)
    {
        var info = new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        gray.AsSpan().CopyTo(bitmap.GetPixelSpan());
        string extension = Path.GetExtension(path).ToLowerInvariant();
        var format = extension is ".jpg" or ".jpeg" ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png;
        using var data = bitmap.Encode(format, 100);
        IO.AtomicFile.Write(path, stream => data.SaveTo(stream));
    }
}
