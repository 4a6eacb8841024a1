namespace LGMSNet.Runtime.Training;

/// <summary>One class of one case: IoU, Dice, HD95 and NSD (NaN where the class is undefined: absent from both maps).</summary>
public sealed record ClassScore(int Label, double Iou, double Dice, double Hd95, double Nsd);

/// <summary>One case's scores per foreground class, and their means over the defined classes.</summary>
public sealed record ScoredCase(string Id, IReadOnlyList<ClassScore> Classes)
{
    public double Iou => ClassMetrics.NanMean(Classes.Select(c => c.Iou));

    public double Dice => ClassMetrics.NanMean(Classes.Select(c => c.Dice));

    public double Hd95 => ClassMetrics.NanMean(Classes.Select(c => c.Hd95));

    public double Nsd => ClassMetrics.NanMean(Classes.Select(c => c.Nsd));
}

/// <summary>Scores of a set of cases: per case, per class over cases, and the means (each the mean of the defined
/// per-case means, as <see cref="Evaluation"/> averages).</summary>
public sealed record ScoreSummary(IReadOnlyList<ScoredCase> Cases, IReadOnlyList<ClassScore> PerClass, double Iou, double Dice, double Hd95, double Nsd);

/// <summary>Scores a predicted label map against a truth with the definitions <c>eval</c> uses — one implementation, so
/// a folder of another tool's predictions (nnU-Net's, MONAI's) is scored exactly as our own: binary maps with
/// <see cref="BinaryMetrics"/> (IoU = (TP + 1e-5)/(TP + FP + FN + 1e-5), Dice = 2·IoU/(IoU + 1); an empty prediction of an
/// empty truth scores 1), multi-class maps per foreground class with <see cref="ClassMetrics"/> (2·TP/(|P| + |T|), a class
/// absent from both is undefined and left out of means), HD95 and NSD with <see cref="SurfaceMetrics"/> in physical
/// units.</summary>
public static class Scoring
{
    /// <param name="classes">1 for a binary map (non-zero is foreground), else the number of classes including background.</param>
    public static ScoredCase Score(string id, byte[] predicted, byte[] truth, int classes, int[] size, double[] spacing,
        double tolerance = SurfaceMetrics.DefaultTolerance)
    {
        if (classes == 1)
        {
            var binary = BinaryMetrics.Of(predicted, truth);
            var surface = SurfaceMetrics.Of(predicted, truth, size, spacing, tolerance);
            return new ScoredCase(id, new[] { new ClassScore(1, binary.Iou, binary.Dice, surface.Hd95, surface.Nsd) });
        }
        var overlap = ClassMetrics.Of(predicted, truth, classes);
        var scores = new List<ClassScore>();
        var p = new byte[predicted.Length];
        var t = new byte[truth.Length];
        for (int c = 1; c < classes; c++)
        {
            if (double.IsNaN(overlap.Dice[c - 1]))
            {
                scores.Add(new ClassScore(c, double.NaN, double.NaN, double.NaN, double.NaN));
                continue;
            }
            for (int i = 0; i < p.Length; i++)
            {
                p[i] = predicted[i] == c ? (byte)1 : (byte)0;
                t[i] = truth[i] == c ? (byte)1 : (byte)0;
            }
            var surface = SurfaceMetrics.Of(p, t, size, spacing, tolerance);
            scores.Add(new ClassScore(c, overlap.Iou[c - 1], overlap.Dice[c - 1], surface.Hd95, surface.Nsd));
        }
        return new ScoredCase(id, scores);
    }

    public static ScoreSummary Summarise(IReadOnlyList<ScoredCase> cases)
    {
        var labels = cases.SelectMany(c => c.Classes.Select(s => s.Label)).Distinct().Order().ToList();
        var perClass = labels.Select(label =>
        {
            var all = cases.SelectMany(c => c.Classes.Where(s => s.Label == label)).ToList();
            return new ClassScore(label, ClassMetrics.NanMean(all.Select(s => s.Iou)), ClassMetrics.NanMean(all.Select(s => s.Dice)),
                ClassMetrics.NanMean(all.Select(s => s.Hd95)), ClassMetrics.NanMean(all.Select(s => s.Nsd)));
        }).ToList();
        return new ScoreSummary(cases, perClass, ClassMetrics.NanMean(cases.Select(c => c.Iou)), ClassMetrics.NanMean(cases.Select(c => c.Dice)),
            ClassMetrics.NanMean(cases.Select(c => c.Hd95)), ClassMetrics.NanMean(cases.Select(c => c.Nsd)));
    }

    /// <summary>The per-case table as CSV: case, label, iou, dice, hd95, nsd (empty where undefined), then a "(mean)" row per
    /// class and one for all classes ("all").</summary>
    public static string Csv(ScoreSummary summary)
    {
        var text = new System.Text.StringBuilder("case,label,iou,dice,hd95,nsd\n");
        foreach (var c in summary.Cases)
            foreach (var s in c.Classes)
                text.Append($"{CsvField(c.Id)},{s.Label},{N(s.Iou)},{N(s.Dice)},{N(s.Hd95)},{N(s.Nsd)}\n");
        foreach (var s in summary.PerClass)
            text.Append($"(mean),{s.Label},{N(s.Iou)},{N(s.Dice)},{N(s.Hd95)},{N(s.Nsd)}\n");
        text.Append($"(mean),all,{N(summary.Iou)},{N(summary.Dice)},{N(summary.Hd95)},{N(summary.Nsd)}\n");
        return text.ToString();
    }

    /// <summary>A number as a CSV field: round-trip precision, empty when undefined.</summary>
    public static string N(double v) => double.IsFinite(v) ? v.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "";

    /// <summary>A text CSV field, quoted when it holds a comma, quote or line break (RFC 4180).</summary>
    public static string CsvField(string text) => text.IndexOfAny(new[] { ',', '"', '\n', '\r' }) >= 0 ? "\"" + text.Replace("\"", "\"\"") + "\"" : text;

    /// <summary><c>eval --per-case</c>'s table: case, iou, dice, hd95, nsd.</summary>
    public static string Csv(IEnumerable<CaseScore> cases) =>
        "case,iou,dice,hd95,nsd\n" + string.Concat(cases.Select(c => $"{CsvField(c.Id)},{N(c.Iou)},{N(c.Dice)},{N(c.Hd95)},{N(c.Nsd)}\n"));
}
