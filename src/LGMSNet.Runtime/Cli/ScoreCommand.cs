using System.CommandLine;
using System.Globalization;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Data.Geometry;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>score</c>: scores a folder of predictions against a folder of truths (nnU-Net's evaluate_folder) with the
/// definitions <c>eval</c> uses (<see cref="Scoring"/>), so any tool's outputs can be compared with ours.</summary>
internal static class ScoreCommand
{
    private static readonly string[] VolumeExtensions = { ".nii.gz", ".nii" };

    public static Command Create(CliContext context)
    {
        var predictions = new Option<string>("--predictions", "-p") { Description = "Folder of predicted masks (NIfTI volumes, or PNG/JPEG/BMP masks).", Required = true };
        var truth = new Option<string>("--truth", "-t") { Description = "Folder of true masks; each needs a prediction of the same name (the extension may differ for 2D masks).", Required = true };
        var classes = new Option<int?>("--classes")
        {
            Description = "1: binary (volumes: non-zero is foreground; 2D masks as eval reads them: 0/1 masks 1, others >= 128, so 0/255 and JPEG masks " +
                          "with compression grey levels are binary); K: class indices 0..K-1. Default: binary when every volume holds only 0/1, or when no 2D " +
                          "mask's highest value is 2..127; else the largest label + 1.",
        };
        var tolerance = new Option<double>("--tolerance") { Description = "NSD tolerance in physical units (mm for NIfTI; pixels for 2D).", DefaultValueFactory = _ => SurfaceMetrics.DefaultTolerance };
        var json = new Option<bool>("--json") { Description = "Print the scores as JSON." };
        var output = new OutputOption("Folder for scores.json and scores.csv (default: the --predictions folder).", required: false);
        var command = new Command("score", "Score a folder of predictions against a folder of truths: per case and mean IoU, Dice, HD95 and NSD per class " +
                                           "(the definitions of eval), written as scores.json and scores.csv.")
            { predictions, truth, classes, tolerance, json };
        output.AddTo(command);
        command.SetAction(result =>
        {
            string predicted = result.GetValue(predictions)!, truths = result.GetValue(truth)!;
            foreach (var (option, given) in new[] { ("--predictions", predicted), ("--truth", truths) })
                if (!Directory.Exists(given)) throw new UserErrorException($"{option} {given}: no such folder", 2);
            double tol = result.GetValue(tolerance);
            if (!(tol > 0) || !double.IsFinite(tol)) throw new UserErrorException($"--tolerance {tol}: must be a positive distance", 2);
            if (result.GetValue(classes) is { } k && k is < 1 or > LabelMap.MaxClasses)
                throw new UserErrorException($"--classes {k}: 1 (binary) to {LabelMap.MaxClasses}", 2);

            var truthFiles = Masks(truths);
            if (truthFiles.Count == 0) throw new UserErrorException($"--truth {truths}: no NIfTI volumes or PNG/JPEG/BMP masks", 2);
            bool volumes = truthFiles.Values.First().Volume;
            if (truthFiles.Values.Any(f => f.Volume != volumes))
                throw new UserErrorException($"--truth {truths}: mixes NIfTI volumes and 2D masks; score them separately", 2);
            var predictionFiles = Masks(predicted);
            var missing = truthFiles.Keys.Where(id => !predictionFiles.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
                throw new UserErrorException($"{missing.Count} case(s) of --truth have no prediction in {predicted}: " +
                                             string.Join(", ", missing.Take(5).Select(m => $"'{m}'")) + (missing.Count > 5 ? $" and {missing.Count - 5} more" : ""), 2);
            foreach (var extra in predictionFiles.Keys.Where(id => !truthFiles.ContainsKey(id)).Order(StringComparer.Ordinal).Take(5))
                context.Error.WriteLine($"note: prediction '{extra}' has no truth in {truths}; not scored");

            // Read and check every pair before scoring anything.
            var pairs = new List<(string Id, byte[] Predicted, byte[] Truth, int[] Size, double[] Spacing, bool BinaryImage)>();
            foreach (var (id, file) in truthFiles.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var other = predictionFiles[id];
                if (other.Volume != volumes)
                    throw new UserErrorException($"case '{id}': the truth is {(volumes ? "a NIfTI volume" : "a 2D mask")} but the prediction {other.Path} is not", 2);
                pairs.Add(volumes ? ReadVolumes(id, other.Path, file.Path) : ReadImages(id, other.Path, file.Path));
            }
            int maximum = pairs.Max(p => Math.Max(p.Predicted.Max(), p.Truth.Max()));
            bool binary = volumes ? maximum <= 1 : pairs.All(p => p.BinaryImage);
            int classCount = result.GetValue(classes) ?? (binary ? 1 : maximum + 1);
            var scored = new List<ScoredCase>();
            foreach (var (id, p, t, size, spacing, _) in pairs)
            {
                if (classCount == 1)
                {
                    Binarise(p, volumes);
                    Binarise(t, volumes);
                }
                else if (Math.Max(p.Max(), t.Max()) >= classCount)
                {
                    throw new UserErrorException($"case '{id}': label {Math.Max(p.Max(), t.Max())} is not below --classes {classCount}", 2);
                }
                scored.Add(Scoring.Score(id, p, t, classCount, size, spacing, tol));
            }
            var summary = Scoring.Summarise(scored);
            string folder = output.GetValue(result) ?? predicted;
            var report = new Dictionary<string, object?>
            {
                ["predictions"] = Path.GetFullPath(predicted),
                ["truth"] = Path.GetFullPath(truths),
                ["classes"] = classCount,
                ["nsd_tolerance"] = tol,
                ["units"] = volumes ? "mm (from each truth's affine)" : "pixels",
                ["definitions"] = "eval's: binary IoU = (TP+1e-5)/(TP+FP+FN+1e-5), Dice = 2 IoU/(IoU+1); per class Dice = 2 TP/(|P|+|T|), IoU = TP/(|P|+|T|-TP), " +
                                  "undefined (null) when the class is in neither map; HD95 and NSD as MONAI, both empty: 0 and 1, one empty: the image diagonal and 0",
                ["mean"] = new { iou = summary.Iou, dice = summary.Dice, hd95 = summary.Hd95, nsd = summary.Nsd },
                ["per_class"] = summary.PerClass,
                ["cases"] = summary.Cases.Select(c => new { id = c.Id, iou = c.Iou, dice = c.Dice, hd95 = c.Hd95, nsd = c.Nsd, classes = c.Classes }),
            };
            Directory.CreateDirectory(folder);
            AtomicFile.WriteAllText(Path.Combine(folder, "scores.json"), RuntimeJson.Serialize(report));
            AtomicFile.WriteAllText(Path.Combine(folder, "scores.csv"), Scoring.Csv(summary));
            if (result.GetValue(json))
            {
                context.WriteJson(report);
                return 0;
            }
            context.Out.WriteLine($"{scored.Count} case(s), {(classCount == 1 ? "binary" : $"{classCount} classes")}, NSD tolerance {F(tol)} {(volumes ? "mm" : "pixels")}");
            var table = new TextTable("class", "IoU", "Dice", "HD95", "NSD").AlignRight(1, 2, 3, 4);
            foreach (var s in summary.PerClass) table.Add(s.Label.ToString(CultureInfo.InvariantCulture), F(s.Iou), F(s.Dice), F(s.Hd95), F(s.Nsd));
            table.Add("mean", F(summary.Iou), F(summary.Dice), F(summary.Hd95), F(summary.Nsd));
            context.Out.WriteLine(table);
            context.Out.WriteLine($"written: {Path.Combine(folder, "scores.json")}, {Path.Combine(folder, "scores.csv")}");
            return 0;
        });
        return command;
    }

    private static string F(double v) => double.IsFinite(v) ? v.ToString("0.0000", CultureInfo.InvariantCulture) : "-";

    /// <summary>Mask files of a folder by case id (the name without its extension).</summary>
    private static Dictionary<string, (string Path, bool Volume)> Masks(string folder)
    {
        var found = new Dictionary<string, (string, bool)>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(file);
            string? volume = VolumeExtensions.FirstOrDefault(e => name.EndsWith(e, StringComparison.OrdinalIgnoreCase));
            bool image = ImageCodec.Extensions.Contains(Path.GetExtension(name).ToLowerInvariant());
            if (volume == null && !image) continue;
            string id = volume != null ? name[..^volume.Length] : Path.GetFileNameWithoutExtension(name);
            if (found.TryGetValue(id, out var other))
                throw new UserErrorException($"{folder}: '{Path.GetFileName(other.Item1)}' and '{name}' are both case '{id}'; keep one", 2);
            found[id] = (file, volume != null);
        }
        return found;
    }

    private static (string, byte[], byte[], int[], double[], bool) ReadVolumes(string id, string predictionPath, string truthPath)
    {
        var (truthHeader, truth) = Nifti.Read(truthPath);
        var (predictionHeader, prediction) = Nifti.Read(predictionPath);
        var truthGrid = VoxelGrid.Of(truthHeader, $"case '{id}': {truthPath}");
        var predictionGrid = VoxelGrid.Of(predictionHeader, $"case '{id}': {predictionPath}");
        if (truth.Channels != 1 || prediction.Channels != 1)
            throw new UserErrorException($"case '{id}': masks must have one channel ({(truth.Channels != 1 ? truthPath : predictionPath)} has more)", 2);
        // A mask without orientation codes (both 0; common for labels) has no grid of its own: then only the sizes must
        // agree, and the voxel sizes come from the one that has codes.
        string? difference = truthGrid.Assumed || predictionGrid.Assumed
            ? truth.Size.SequenceEqual(prediction.Size) ? null : $"size {VoxelGrid.Shape(prediction.Size)} differs from {VoxelGrid.Shape(truth.Size)}"
            : truthGrid.Difference(predictionGrid);
        if (difference != null)
            throw new UserErrorException($"case '{id}': the prediction {predictionPath} is not on the truth's grid: {difference}. " +
                                         "Scores would compare different voxels; resample the prediction onto the truth first", 2);
        var spacing = truthGrid.Assumed && !predictionGrid.Assumed ? predictionGrid.ArraySpacing : truthGrid.ArraySpacing;
        return (id, Labels(prediction, predictionPath), Labels(truth, truthPath), truth.Size, spacing, false);
    }

    private static byte[] Labels(Volume volume, string path)
    {
        var labels = new byte[volume.Data.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            float v = volume.Data[i];
            if (v < 0 || v > 255 || v != MathF.Floor(v)) throw new UserErrorException($"{path}: value {v} is not a label (an integer 0..255)", 2);
            labels[i] = (byte)v;
        }
        return labels;
    }

    private static (string, byte[], byte[], int[], double[], bool) ReadImages(string id, string predictionPath, string truthPath)
    {
        var truth = ImageCodec.Read(truthPath);
        var prediction = ImageCodec.Read(predictionPath);
        if (truth.Width != prediction.Width || truth.Height != prediction.Height)
            throw new UserErrorException($"case '{id}': the prediction {predictionPath} is {prediction.Width}x{prediction.Height} but the truth is " +
                                         $"{truth.Width}x{truth.Height}; resize the prediction to the truth's size first", 2);
        var t = ImageCodec.Gray(truth);
        var p = ImageCodec.Gray(prediction);
        // eval's rule for 2D masks (MaskRule): 0/1, 0/255 and JPEG-noisy masks are binary.
        return (id, p, t, new[] { truth.Height, truth.Width }, new[] { 1.0, 1.0 }, MaskRule.ReadsAsBinary(t) && MaskRule.ReadsAsBinary(p));
    }

    /// <summary>Binary masks: volumes non-zero; 2D masks by <see cref="MaskRule"/> (0/1, or at least 128 of 0/255).</summary>
    private static void Binarise(byte[] mask, bool volume)
    {
        if (volume)
            for (int i = 0; i < mask.Length; i++) mask[i] = mask[i] != 0 ? (byte)1 : (byte)0;
        else MaskRule.Binarise(mask);
    }
}
