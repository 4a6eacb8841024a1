using System.Text.Json;
using LGMSNet.Runtime.Cli;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Network;
using SkiaSharp;
using Xunit;

namespace LGMSNet.Runtime.Tests.Support;

/// <summary>Runs the CLI in-process with the shipped architectures plus the test-only ones.</summary>
public static class CliRunner
{
    public static IReadOnlyList<ArchitectureDescriptor> Architectures { get; } =
        LGMSNet.Architectures.CompiledArchitectures.All.Concat(CompiledArchitectures.All).ToList();

    /// <summary>Every architecture's file stem, for theories over all of them (<c>[MemberData(nameof(CliRunner.Stems),
    /// MemberType = typeof(CliRunner))]</c>).</summary>
    public static TheoryData<string> Stems()
    {
        var data = new TheoryData<string>();
        foreach (var a in Architectures) data.Add(a.Info.FileStem);
        return data;
    }

    public static (int Code, string Out, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = LgmsCli.Run(args, Architectures, output, error);
        return (code, output.ToString(), error.ToString());
    }

    public static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    public static JsonElement ReadJson(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;
}

/// <summary>Small on-disk datasets made by the tests, in the formats the product reads.</summary>
public static class TestData
{
    /// <summary>Bright discs on a noisy darker background, in the reference layout (images/, masks/0/),
    /// mixing RGB PNG, grayscale PNG and JPEG images; masks are PNG 0/255.</summary>
    public static string ImageFolder(string root, int cases, int width = 56, int height = 40, bool jpegMasks = false)
    {
        Directory.CreateDirectory(Path.Combine(root, "images"));
        Directory.CreateDirectory(Path.Combine(root, "masks", "0"));
        var rng = new Rng(7);
        for (int i = 0; i < cases; i++)
        {
            int cx = 10 + rng.Next(width - 20), cy = 10 + rng.Next(height - 20), r = 4 + rng.Next(6);
            var image = new byte[width * height * 3];
            var mask = new byte[width * height];
            for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                bool inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
                mask[y * width + x] = inside ? (byte)255 : (byte)0;
                int value = (inside ? 190 : 70) + (int)(rng.Gaussian() * 20);
                for (int c = 0; c < 3; c++) image[(y * width + x) * 3 + c] = (byte)Math.Clamp(value + c * 5, 0, 255);
            }
            string id = $"case ({i})";
            string extension = i % 3 == 2 ? ".jpg" : ".png";
            WriteRgb(Path.Combine(root, "images", id + extension), image, width, height, grayscale: i % 3 == 1);
            ImageCodec.WriteGray(Path.Combine(root, "masks", "0", id + (jpegMasks ? ".jpg" : ".png")), mask, width, height);
        }
        return root;
    }

    public static void WriteRgb(string path, byte[] rgb, int width, int height, bool grayscale = false)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, grayscale ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = bitmap.GetPixelSpan();
        for (int p = 0; p < width * height; p++)
        {
            if (grayscale)
            {
                pixels[p] = rgb[p * 3];
                continue;
            }
            pixels[p * 4] = rgb[p * 3];
            pixels[p * 4 + 1] = rgb[p * 3 + 1];
            pixels[p * 4 + 2] = rgb[p * 3 + 2];
            pixels[p * 4 + 3] = 255;
        }
        var format = path.EndsWith(".jpg", StringComparison.Ordinal) ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png;
        using var data = bitmap.Encode(format, 95);
        File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>Split files with CRLF line endings and case names without extensions (as BUSI's).</summary>
    /// <summary>A 24-bit BMP with a gradient (SkiaSharp decodes BMP but cannot encode it).</summary>
    public static void WriteBmp(string path, int width, int height)
    {
        int stride = (width * 3 + 3) & ~3;
        var bytes = new byte[54 + stride * height];
        void Int32At(int offset, int value) => BitConverter.TryWriteBytes(bytes.AsSpan(offset), value);
        bytes[0] = (byte)'B';
        bytes[1] = (byte)'M';
        Int32At(2, bytes.Length);
        Int32At(10, 54);
        Int32At(14, 40);
        Int32At(18, width);
        Int32At(22, height);
        BitConverter.TryWriteBytes(bytes.AsSpan(26), (short)1);
        BitConverter.TryWriteBytes(bytes.AsSpan(28), (short)24);
        Int32At(34, stride * height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int at = 54 + y * stride + x * 3;
                bytes[at] = (byte)(x * 5);
                bytes[at + 1] = (byte)(y * 8);
                bytes[at + 2] = 128;
            }
        File.WriteAllBytes(path, bytes);
    }

    public static string Split(string path, IEnumerable<string> ids)
    {
        File.WriteAllText(path, string.Join("\r\n", ids) + "\r\n");
        return path;
    }

    /// <summary>A Medical Segmentation Decathlon folder of small volumes with spheres of class 1 and 2.</summary>
    public static string Decathlon(string root, int cases, int[] size, int classes = 3)
    {
        Directory.CreateDirectory(Path.Combine(root, "imagesTr"));
        Directory.CreateDirectory(Path.Combine(root, "labelsTr"));
        var rng = new Rng(11);
        var entries = new List<string>();
        for (int i = 0; i < cases; i++)
        {
            int voxels = size[0] * size[1] * size[2];
            var image = new float[voxels];
            var labels = new byte[voxels];
            for (int c = 1; c < classes; c++)
            {
                int cz = 6 + rng.Next(size[0] - 12), cy = 6 + rng.Next(size[1] - 12), cx = 6 + rng.Next(size[2] - 12), r = 3 + rng.Next(3);
                for (int z = 0; z < size[0]; z++)
                for (int y = 0; y < size[1]; y++)
                for (int x = 0; x < size[2]; x++)
                    if ((z - cz) * (z - cz) + (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r) labels[(z * size[1] + y) * size[2] + x] = (byte)c;
            }
            for (int v = 0; v < voxels; v++) image[v] = 100 + 50 * labels[v] + (float)(rng.Gaussian() * 10);
            var geometry = Nifti.Geometry(size, new[] { 2f, 1.5f, 1.5f });
            string name = $"vol_{i:D3}.nii.gz";
            Nifti.WriteFloat(Path.Combine(root, "imagesTr", name), new Volume(image, 1, size), geometry);
            Nifti.WriteLabels(Path.Combine(root, "labelsTr", name), new LabelMap(labels, size), geometry);
            entries.Add($$"""{"image": "./imagesTr/{{name}}", "label": "./labelsTr/{{name}}"}""");
        }
        var labelNames = string.Join(", ", Enumerable.Range(0, classes).Select(c => $"\"{c}\": \"{(c == 0 ? "background" : "organ" + c)}\""));
        File.WriteAllText(Path.Combine(root, "dataset.json"),
            $$"""{"name": "test", "labels": { {{labelNames}} }, "training": [{{string.Join(", ", entries)}}]}""");
        return root;
    }
}
