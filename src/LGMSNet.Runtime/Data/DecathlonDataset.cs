using System.Text.Json;

namespace LGMSNet.Runtime.Data;

/// <summary>3D NIfTI data in the Medical Segmentation Decathlon layout: <c>dataset.json</c> with
/// <c>training</c> entries (<c>image</c>, <c>label</c>) and <c>labels</c>, volumes in imagesTr/ and
/// labelsTr/. Images are standardised per channel (see <see cref="Intensity.Standardise"/>); labels
/// must be integer class indices below the number of classes.</summary>
public sealed class DecathlonDataset : ISegmentationDataset
{
    private readonly string _root;
    private readonly List<(string Id, string Image, string Label)> _cases;

    public DecathlonDataset(string root, int channels, int classes, IReadOnlyList<string>? caseIds = null)
    {
        _root = Path.GetFullPath(root);
        LabelMap.CheckClasses(classes, root);
        Channels = channels;
        Classes = classes;
        string manifest = Path.Combine(_root, "dataset.json");
        if (!File.Exists(manifest)) throw new DataException($"{root}: no dataset.json (Medical Segmentation Decathlon layout)");
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(File.ReadAllText(manifest), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new DataException($"{manifest}: not valid JSON ({e.Message})");
        }
        using (json)
        {
            if (json.RootElement.TryGetProperty("labels", out var labels) && labels.ValueKind == JsonValueKind.Object)
            {
                // A binary architecture (one output channel) segments a background-plus-one-label dataset.
                int count = labels.EnumerateObject().Count();
                if (count != Math.Max(2, classes))
                    throw new DataException($"{manifest}: lists {count} labels ({string.Join(", ", labels.EnumerateObject().Select(p => p.Name + "=" + p.Value))}) " +
                                            $"but the architecture has {classes} classes");
            }
            if (!json.RootElement.TryGetProperty("training", out var training) || training.ValueKind != JsonValueKind.Array)
                throw new DataException($"{manifest}: no 'training' list");
            var all = new List<(string, string, string)>();
            foreach (var entry in training.EnumerateArray())
            {
                string image = Inside(entry, "image", manifest), label = Inside(entry, "label", manifest);
                string id = Path.GetFileName(image);
                foreach (var ext in new[] { ".gz", ".nii" })
                    if (id.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) id = id[..^ext.Length];
                all.Add((id, image, label));
            }
            var byId = all.GroupBy(c => c.Item1).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            _cases = caseIds == null
                ? all
                : caseIds.Select(id => byId.TryGetValue(id, out var c) ? c : throw new DataException($"{root}: split names case '{id}', which dataset.json does not list")).ToList();
        }
        if (_cases.Count == 0) throw new DataException($"{root}: no training cases");
    }

    public string Description => $"{_root} ({_cases.Count} volumes)";

    public int Dims => 3;

    public int Channels { get; }

    public int Classes { get; }

    public IReadOnlyList<string> CaseIds => _cases.Select(c => c.Id).ToList();

    /// <summary>The preprocessing plan cases are loaded with (null: volumes as stored, per-case z-score, as before plans).</summary>
    public Preprocessing.PreprocessingPlan? Plan { get; init; }

    /// <summary>Hears what a case's header leaves to an assumption (no orientation codes), once per load.</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>The files of case <paramref name="index"/>.</summary>
    public (string Id, string Image, string Label) Files(int index) => _cases[index];

    /// <summary>Case <paramref name="index"/> as stored, checked (channels, a 3D grid with a usable affine, a label on the
    /// image's grid holding class indices), intensities untouched.</summary>
    public RawCase ReadRaw(int index)
    {
        var (id, imagePath, labelPath) = _cases[index];
        var (header, image) = Nifti.Read(imagePath);
        if (image.Channels != Channels)
            throw new DataException($"case '{id}': {imagePath} has {image.Channels} channel(s); the architecture wants {Channels}");
        var grid = Preprocessing.CasePreprocessor.Grid(header, id, imagePath, Warn);
        var (labelHeader, labelVolume) = Nifti.Read(labelPath);
        if (!labelVolume.Size.SequenceEqual(image.Size) || labelVolume.Channels != 1)
            throw new DataException($"case '{id}': label size {string.Join("x", labelVolume.Size)} does not match image size {string.Join("x", image.Size)}");
        Preprocessing.CasePreprocessor.CheckLabelGrid(grid, Geometry.VoxelGrid.Of(labelHeader, $"case '{id}': {labelPath}"), id, labelPath);
        var labels = new byte[labelVolume.Data.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            float v = labelVolume.Data[i];
            if (v < 0 || v >= Math.Max(2, Classes) || v != MathF.Floor(v))
                throw new DataException($"case '{id}': label value {v} in {labelPath} is not a class index below {Math.Max(2, Classes)}");
            labels[i] = (byte)v;
        }
        return new RawCase(id, imagePath, labelPath, header, grid, image, new LabelMap(labels, image.Size));
    }

    public CaseData Load(int index)
    {
        var raw = ReadRaw(index);
        if (Plan is { } plan)
        {
            var prepared = Preprocessing.CasePreprocessor.Prepare(plan, raw.Grid, raw.Image, raw.Label, raw.Id);
            return new CaseData(raw.Id, prepared.Image, prepared.Label,
                new CaseSource(raw.ImagePath, "nifti", raw.Image.Size, raw.Header, raw.Label, raw.Grid.ArraySpacing, prepared.Mapping));
        }
        try
        {
            Intensity.Standardise(raw.Image.Data, raw.Image.Channels);
        }
        catch (DataException e)
        {
            throw new DataException($"case '{raw.Id}': {raw.ImagePath}: {e.Message}");
        }
        return new CaseData(raw.Id, raw.Image, raw.Label, new CaseSource(raw.ImagePath, "nifti", raw.Image.Size, raw.Header, Spacing: raw.Grid.ArraySpacing));
    }

    private string Inside(JsonElement entry, string key, string manifest)
    {
        if (!entry.TryGetProperty(key, out var value) || value.ValueKind != JsonValueKind.String)
            throw new DataException($"{manifest}: a training entry has no '{key}' path");
        string full = Path.GetFullPath(Path.Combine(_root, value.GetString()!));
        if (!full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new DataException($"{manifest}: '{value.GetString()}' points outside the dataset folder");
        if (!File.Exists(full)) throw new DataException($"{manifest}: '{value.GetString()}' does not exist");
        return full;
    }
}

/// <summary>A Decathlon case as stored: its files, header, grid, raw image and label.</summary>
public sealed record RawCase(string Id, string ImagePath, string LabelPath, Nifti.Header Header, Geometry.VoxelGrid Grid, Volume Image, LabelMap Label);
