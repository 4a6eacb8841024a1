namespace LGMSNet.Runtime.Data;

/// <summary>How images become network inputs. <see cref="Standard"/>: RGB scaled to 0–1 and normalised
/// with the ImageNet mean/std. <see cref="Authors"/>: exactly what the authors' loader feeds — OpenCV's
/// BGR order, albumentations' Normalize() on 0–255 data, then divided by 255 again — for weights trained
/// with their code (imported weights are marked with it).</summary>
public enum InputConvention { Standard, Authors }

/// <summary>How to read a folder dataset.</summary>
public sealed record ImageFolderOptions(int[] Size, int Channels, int Classes, InputConvention Convention = InputConvention.Standard);

/// <summary>How a mask file's values became labels (recorded per case, summarised per set in
/// <see cref="LabelSummary"/>).</summary>
public enum MaskEncoding
{
    /// <summary>Taken as class indices (multi-class label maps, NIfTI labels, generated data).</summary>
    ClassIndices,

    /// <summary>All zero: no foreground.</summary>
    Empty,

    /// <summary>Values 0 and 1: 1 is foreground.</summary>
    ZeroOne,

    /// <summary>Values 0 and 255 only: 255 is foreground.</summary>
    ZeroAnd255,

    /// <summary>Highest value 128 or more with other values in between (JPEG noise, anti-aliased edges): 128 and above is foreground.</summary>
    Graded,

    /// <summary>Highest value between 2 and 127: below the 128 threshold, so read as background (and warned about).</summary>
    Faint,
}

/// <summary>The rule that turns a binary task's one-channel mask into 0/1 labels, decided per file from its
/// values: if the highest value is 1 (a 0/1 mask), 1 is foreground; otherwise values of 128 and above are
/// foreground (0/255 masks, and JPEG masks whose values are not clean 0/255). Multi-class masks are never
/// thresholded: their values are class indices.</summary>
public static class MaskRule
{
    /// <summary>Binarises <paramref name="gray"/> in place and says which encoding it had.</summary>
    public static MaskEncoding Binarise(byte[] gray)
    {
        var encoding = Encoding(gray);
        byte threshold = encoding == MaskEncoding.ZeroOne ? (byte)1 : (byte)128;
        for (int i = 0; i < gray.Length; i++) gray[i] = gray[i] >= threshold ? (byte)1 : (byte)0;
        return encoding;
    }

    /// <summary>The encoding a binary reading finds in <paramref name="gray"/> (which is not changed).</summary>
    public static MaskEncoding Encoding(ReadOnlySpan<byte> gray)
    {
        byte max = 0;
        bool onlyExtremes = true;
        foreach (byte v in gray)
        {
            if (v > max) max = v;
            if (v != 0 && v != 255) onlyExtremes = false;
        }
        return max switch
        {
            0 => MaskEncoding.Empty,
            1 => MaskEncoding.ZeroOne,
            < 128 => MaskEncoding.Faint,
            _ => onlyExtremes ? MaskEncoding.ZeroAnd255 : MaskEncoding.Graded,
        };
    }

    /// <summary>Whether a 2D mask file reads as binary when nothing says how many classes it has (<c>score</c> without
    /// <c>--classes</c>): every encoding but <see cref="MaskEncoding.Faint"/>, whose values 2..127 are taken as the class
    /// indices of a multi-class map. So 0/1, 0/255 and JPEG-noisy masks (<see cref="MaskEncoding.Graded"/>) are binary,
    /// as eval reads them for a binary architecture.</summary>
    public static bool ReadsAsBinary(ReadOnlySpan<byte> gray) => Encoding(gray) != MaskEncoding.Faint;

    /// <summary>The encoding's name in reports and metrics.json.</summary>
    public static string Name(MaskEncoding encoding) => encoding switch
    {
        MaskEncoding.ClassIndices => "class_indices",
        MaskEncoding.Empty => "empty",
        MaskEncoding.ZeroOne => "zero_one",
        MaskEncoding.ZeroAnd255 => "zero_255",
        MaskEncoding.Graded => "graded",
        _ => "faint",
    };
}

/// <summary>2D image folders: <c>images/&lt;case&gt;.png|jpg</c> with masks at <c>masks/&lt;case&gt;.*</c> or
/// <c>masks/0/&lt;case&gt;.*</c> (the reference's layout). Masks are converted to one channel and, for
/// binary tasks, binarised by <see cref="MaskRule"/> (0/1, 0/255 and noisy JPEG masks all load), or read
/// as class indices. Images are resized to the training size when loaded.</summary>
public sealed class ImageFolderDataset : ISegmentationDataset
{
    private readonly string _root;
    private readonly ImageFolderOptions _options;
    private readonly List<(string Id, string Image, string? Mask)> _cases;

    public ImageFolderDataset(string root, ImageFolderOptions options, IReadOnlyList<string>? caseIds = null, bool requireMasks = true)
    {
        _root = Path.GetFullPath(root);
        LabelMap.CheckClasses(options.Classes, root);
        _options = options;
        string images = Path.Combine(_root, "images");
        if (!Directory.Exists(images))
            throw new DataException($"{root}: no 'images' folder (expected images/<case>.png|jpg and masks/<case>.* or masks/0/<case>.*)");
        var available = Directory.EnumerateFiles(images)
            .Where(f => ImageCodec.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .GroupBy(f => Path.GetFileNameWithoutExtension(f), StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(f => f, StringComparer.Ordinal).First(), StringComparer.Ordinal);
        var ids = caseIds ?? available.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (ids.Count == 0) throw new DataException($"{root}: no cases (images/ is empty or the split lists no case)");
        _cases = new List<(string, string, string?)>(ids.Count);
        foreach (var id in ids)
        {
            ValidateCaseName(id, root);
            if (!available.TryGetValue(id, out var image))
                throw new DataException($"{root}: case '{id}' has no image in images/ (looked for {id}.png/.jpg/.jpeg/.bmp)");
            string? mask = FindMask(id);
            if (mask == null && requireMasks)
                throw new DataException($"{root}: case '{id}' has no mask (looked in masks/{id}.* and masks/0/{id}.*)");
            _cases.Add((id, image, mask));
        }
    }

    public string Description => $"{_root} ({_cases.Count} cases)";

    public int Dims => 2;

    public int Channels => _options.Channels;

    public int Classes => _options.Classes;

    public IReadOnlyList<string> CaseIds => _cases.Select(c => c.Id).ToList();

    public CaseData Load(int index)
    {
        var (id, imagePath, maskPath) = _cases[index];
        var image = ImageCodec.Read(imagePath);
        int height = _options.Size[0], width = _options.Size[1];
        LabelMap? label = null, original = null;
        if (maskPath != null)
        {
            var mask = ImageCodec.Read(maskPath);
            if (mask.Width != image.Width || mask.Height != image.Height)
                throw new DataException($"case '{id}': mask {mask.Width}x{mask.Height} does not match image {image.Width}x{image.Height} ({maskPath})");
            var gray = ImageCodec.Gray(mask);
            var encoding = MaskEncoding.ClassIndices;
            if (_options.Classes == 1)
            {
                encoding = MaskRule.Binarise(gray);
            }
            else
            {
                int max = gray.Max();
                if (max >= _options.Classes)
                    throw new DataException($"case '{id}': mask holds class {max}, but the architecture has {_options.Classes} classes ({maskPath})");
            }
            label = new LabelMap(ImageCodec.ResizeNearest(gray, image.Width, image.Height, width, height), new[] { height, width }, encoding);
            original = new LabelMap(gray, new[] { image.Height, image.Width }, encoding);
        }
        var resized = ImageCodec.ResizeBilinear(image.Pixels, image.Width, image.Height, 3, width, height);
        var volume = ToChannels(resized, width * height, _options.Channels, _options.Convention, id);
        string format = Path.GetExtension(imagePath).ToLowerInvariant() is ".jpg" or ".jpeg" ? "jpeg" : "png";
        return new CaseData(id, new Volume(volume, _options.Channels, new[] { height, width }), label,
            new CaseSource(imagePath, format, new[] { image.Height, image.Width }, OriginalLabel: original));
    }

    /// <summary>RGB (or grayscale stored as RGB) → the architecture's channels, normalised.</summary>
    internal static float[] ToChannels(byte[] rgb, int pixels, int channels, InputConvention convention, string id)
    {
        bool bgr = convention == InputConvention.Authors;
        float extra = convention == InputConvention.Authors ? 1 / 255f : 1f; // the reference's second division by 255
        var data = new float[channels * pixels];
        switch (channels)
        {
            case 3:
                for (int c = 0; c < 3; c++)
                {
                    int source = bgr ? 2 - c : c;
                    for (int i = 0; i < pixels; i++) data[c * pixels + i] = Intensity.FromByte(rgb[i * 3 + source], c, 3) * extra;
                }
                break;
            case 1:
                for (int i = 0; i < pixels; i++)
                {
                    byte gray = (byte)((rgb[i * 3] * 299 + rgb[i * 3 + 1] * 587 + rgb[i * 3 + 2] * 114 + 500) / 1000);
                    data[i] = Intensity.FromByte(gray, 0, 1) * extra;
                }
                break;
            default:
                throw new DataException($"case '{id}': a PNG/JPEG image gives 1 (gray) or 3 (RGB) channels; the architecture wants {channels}");
        }
        return data;
    }

    private string? FindMask(string id)
    {
        foreach (var folder in new[] { Path.Combine(_root, "masks"), Path.Combine(_root, "masks", "0") })
        {
            if (!Directory.Exists(folder)) continue;
            foreach (var extension in ImageCodec.Extensions)
            {
                string candidate = Path.Combine(folder, id + extension);
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }

    /// <summary>Case names come from split files: they must name a file inside the dataset, never a path.</summary>
    internal static void ValidateCaseName(string id, string root)
    {
        if (id.Length == 0 || id.Contains('/') || id.Contains('\\') || id == "." || id == ".." || id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new DataException($"{root}: case name '{id}' is not a plain file name (split files list case names, not paths)");
    }

    /// <summary>Reads a split file: one case per line, LF or CRLF, blank lines and surrounding spaces ignored,
    /// a trailing image extension tolerated.</summary>
    public static List<string> ReadSplit(string path)
    {
        if (!File.Exists(path)) throw new DataException($"split file {path} not found");
        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            string line = raw.Trim().TrimStart('\uFEFF');
            if (line.Length == 0) continue;
            string extension = Path.GetExtension(line).ToLowerInvariant();
            if (ImageCodec.Extensions.Contains(extension)) line = line[..^extension.Length];
            if (line.Contains('/') || line.Contains('\\') || line == ".." || line == ".")
                throw new DataException($"{path}:{lineNumber}: '{raw.Trim()}' is a path; split files list case names only");
            if (seen.Add(line)) ids.Add(line);
        }
        if (ids.Count == 0) throw new DataException($"split file {path} lists no cases");
        return ids;
    }
}
