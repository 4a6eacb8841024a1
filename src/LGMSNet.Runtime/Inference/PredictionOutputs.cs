namespace LGMSNet.Runtime.Inference;

/// <summary>How 2D masks are encoded: <see cref="Png"/> (lossless, clean 0/255 or class indices; the
/// default) or <see cref="Same"/> as the input (a JPEG input gets a lossy JPEG mask). Volumes are always
/// written as NIfTI with the input's name.</summary>
public enum MaskFormat { Png, Same }

/// <summary>Where predicted masks would be written is unsafe (an input would be replaced, two inputs
/// share a mask, or a mask exists). The message names the files.</summary>
public sealed class PredictionOutputException(string message) : Exception(message);

/// <summary>Decides every mask's path before anything is written, and refuses a plan that would
/// overwrite an input, write two masks to one file, or replace existing files without permission.</summary>
public static class PredictionOutputs
{
    private static readonly StringComparison PathComparison =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>The mask file name for <paramref name="input"/>: the input's name, with a <c>.png</c>
    /// extension for 2D masks unless <paramref name="format"/> is <see cref="MaskFormat.Same"/> (BMP, which
    /// cannot be encoded, always becomes PNG).</summary>
    public static string MaskName(string input, int dims, MaskFormat format)
    {
        string name = Path.GetFileName(input);
        if (dims == 3) return name;
        string extension = Path.GetExtension(name).ToLowerInvariant();
        return format == MaskFormat.Png || extension == ".bmp" ? Path.ChangeExtension(name, ".png") : name;
    }

    /// <summary>(input, mask path) for each input. <paramref name="inputFolder"/> is the folder given as
    /// the input, if a folder was given.</summary>
    public static IReadOnlyList<(string Input, string Mask)> Plan(IReadOnlyList<string> inputs, string? inputFolder, string outputFolder, int dims,
        MaskFormat format, bool overwrite)
    {
        string output = Path.GetFullPath(outputFolder);
        if (inputFolder != null && string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(inputFolder)), Path.TrimEndingDirectorySeparator(output), PathComparison))
            throw new PredictionOutputException(
                $"--output {outputFolder} is the --input folder: the masks would be written among (and could replace) the images; choose another folder");
        var inputPaths = new HashSet<string>(inputs.Select(Path.GetFullPath), PathComparison == StringComparison.Ordinal ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);
        var owners = new Dictionary<string, string>(PathComparison == StringComparison.Ordinal ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);
        var plan = new List<(string, string)>(inputs.Count);
        var existing = new List<string>();
        foreach (var input in inputs)
        {
            string mask = Path.Combine(output, MaskName(input, dims, format));
            if (inputPaths.Contains(mask))
                throw new PredictionOutputException($"the mask of {input} would be written to {mask}, which is an input; choose another --output folder");
            if (owners.TryGetValue(mask, out var other))
                throw new PredictionOutputException($"{other} and {input} would both write their mask to {mask}; rename one of them or predict them separately");
            owners[mask] = input;
            if (File.Exists(mask) || Directory.Exists(mask)) existing.Add(mask);
            plan.Add((input, mask));
        }
        if (existing.Count > 0 && (!overwrite || existing.Any(Directory.Exists)))
            throw new PredictionOutputException(
                $"{existing.Count} mask file(s) already exist: {string.Join(", ", existing.Take(5))}{(existing.Count > 5 ? $" and {existing.Count - 5} more" : "")}" +
                (existing.Any(Directory.Exists) ? " (a folder is in the way)" : "; --overwrite replaces them"));
        return plan;
    }
}
