using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Studies;

/// <summary>Mean and sample standard deviation (n − 1) over runs; null where undefined.</summary>
public sealed record MeanSd([property: JsonPropertyName("mean")] double? Mean, [property: JsonPropertyName("sd")] double? Sd)
{
    public static MeanSd Of(IReadOnlyList<double> values)
    {
        var v = values.Where(double.IsFinite).ToList();
        if (v.Count == 0) return new MeanSd(null, null);
        double mean = v.Average();
        double? sd = v.Count < 2 ? null : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Count - 1));
        return new MeanSd(Math.Round(mean, 6), sd is { } s ? Math.Round(s, 6) : null);
    }

    public string Format(string format) => Mean is not { } m ? "-"
        : m.ToString(format, CultureInfo.InvariantCulture) + (Sd is { } s ? " ± " + s.ToString(format, CultureInfo.InvariantCulture) : "");
}

/// <summary>A planned run the table leaves out, its state and, when it ended badly, why (as the run recorded it).</summary>
public sealed record UnfinishedRun(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("reason")] string? Reason);

/// <summary>One dataset × architecture row of a study's table.</summary>
public sealed record ReportRow(
    [property: JsonPropertyName("dataset")] string Dataset,
    [property: JsonPropertyName("architecture")] string Architecture,
    [property: JsonPropertyName("runs")] int Runs,
    [property: JsonPropertyName("planned")] int Planned,
    [property: JsonPropertyName("parameters")] long Parameters,
    [property: JsonPropertyName("macs")] long? Macs,
    [property: JsonPropertyName("iou")] MeanSd Iou,
    [property: JsonPropertyName("f1")] MeanSd F1,
    [property: JsonPropertyName("hd95")] MeanSd Hd95,
    [property: JsonPropertyName("nsd")] MeanSd Nsd,
    [property: JsonPropertyName("pairs")] int Pairs,
    [property: JsonPropertyName("p_value")] double? PValue);

/// <summary>A study's table (report.json): per dataset × architecture, the finished runs' test scores (the
/// validation scores of the best checkpoint where a run has no test split), mean ± sd over splits/folds × seeds,
/// and a two-sided Wilcoxon signed-rank test of IoU against the baseline architecture over matched
/// (split or fold, seed) pairs.</summary>
public sealed record SweepReport(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("baseline")] string Baseline,
    [property: JsonPropertyName("rows")] IReadOnlyList<ReportRow> Rows,
    [property: JsonPropertyName("unfinished")] IReadOnlyList<UnfinishedRun> Unfinished)
{
    private sealed record Scores(double Iou, double F1, double Hd95, double Nsd);

    /// <param name="costs">An architecture's parameters and multiply-adds (compile-time numbers).</param>
    public static SweepReport Create(SweepFolder folder, SweepManifest manifest, string? baseline, Func<string, (long Parameters, long? Macs)> costs)
    {
        var states = folder.States(manifest).ToDictionary(s => s.Id);
        var architectures = manifest.Runs.Select(r => r.Architecture).Distinct().ToList();
        string reference = baseline ?? architectures[0];
        if (!architectures.Contains(reference))
            throw new UserErrorException($"--baseline {baseline}: not an architecture of this sweep ({string.Join(", ", architectures)})", 2);
        var scores = new Dictionary<string, Scores>();
        foreach (var run in manifest.Runs)
            if (states[run.Id].State == SweepFolder.Done && Read(Path.Combine(folder.RunFolder(run.Id), "metrics.json")) is { } s)
                scores[run.Id] = s;
        var rows = new List<ReportRow>();
        foreach (var dataset in manifest.Runs.Select(r => r.Dataset).Distinct())
            foreach (var architecture in architectures)
            {
                var planned = manifest.Runs.Where(r => r.Dataset == dataset && r.Architecture == architecture).ToList();
                var finished = planned.Where(r => scores.ContainsKey(r.Id)).ToList();
                int pairs = 0;
                double? p = null;
                if (architecture != reference)
                {
                    var baseRuns = manifest.Runs.Where(r => r.Dataset == dataset && r.Architecture == reference && scores.ContainsKey(r.Id))
                        .ToDictionary(r => r.Group, r => scores[r.Id]);
                    var differences = finished.Where(r => baseRuns.ContainsKey(r.Group))
                        .Select(r => scores[r.Id].Iou - baseRuns[r.Group].Iou).Where(double.IsFinite).ToList();
                    pairs = differences.Count;
                    var test = Wilcoxon.SignedRank(differences);
                    p = double.IsFinite(test.PValue) ? Math.Round(test.PValue, 6) : null;
                }
                var (parameters, macs) = costs(architecture);
                var values = finished.Select(r => scores[r.Id]).ToList();
                rows.Add(new ReportRow(dataset, architecture, finished.Count, planned.Count, parameters, macs,
                    MeanSd.Of(values.Select(v => v.Iou).ToList()), MeanSd.Of(values.Select(v => v.F1).ToList()),
                    MeanSd.Of(values.Select(v => v.Hd95).ToList()), MeanSd.Of(values.Select(v => v.Nsd).ToList()), pairs, p));
            }
        var unfinished = manifest.Runs.Where(r => !scores.ContainsKey(r.Id))
            .Select(r => new UnfinishedRun(r.Id, states[r.Id].State, states[r.Id].Reason ?? (states[r.Id].State == SweepFolder.Done ? "its metrics.json has no scores" : null)))
            .ToList();
        return new SweepReport(manifest.Name, reference, rows, unfinished);
    }

    private static Scores? Read(string metricsFile)
    {
        if (!File.Exists(metricsFile)) return null;
        using var document = JsonDocument.Parse(File.ReadAllText(metricsFile));
        var root = document.RootElement;
        JsonElement m = root.TryGetProperty("test", out var test) && test.ValueKind == JsonValueKind.Object ? test
            : root.TryGetProperty("final", out var final) && final.ValueKind == JsonValueKind.Object ? final : default;
        if (m.ValueKind != JsonValueKind.Object) return null;
        double Get(string key) => m.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
        return new Scores(Get("iou"), Get("f1"), Get("hd95"), Get("nsd"));
    }

    /// <summary>Writes report.md, report.csv, report.tex, report.json and report.png into the sweep folder.</summary>
    public void Write(string folder)
    {
        AtomicFile.WriteAllText(Path.Combine(folder, "report.json"), RuntimeJson.Serialize(this));
        AtomicFile.WriteAllText(Path.Combine(folder, "report.md"), Markdown());
        AtomicFile.WriteAllText(Path.Combine(folder, "report.csv"), Csv());
        AtomicFile.WriteAllText(Path.Combine(folder, "report.tex"), Latex());
        Chart(Path.Combine(folder, "report.png"));
    }

    private static string P(double? p) => p is { } v ? v.ToString(v < 0.001 ? "0.0e0" : "0.000", CultureInfo.InvariantCulture) : "-";

    private static string Millions(long count) => (count / 1e6).ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>Billions; "n/a" for an architecture with a user block that declares no cost (never a silent zero).</summary>
    private static string Giga(long? count) => count is { } known ? (known / 1e9).ToString("0.00", CultureInfo.InvariantCulture) : "n/a";

    public string Markdown()
    {
        var text = new StringBuilder();
        text.AppendLine($"# {Name}");
        text.AppendLine();
        text.AppendLine($"Test scores (validation where a run has no test split), mean ± sd over splits/folds × seeds; p: two-sided Wilcoxon signed-rank test of IoU against {Baseline} over matched pairs. HD95 in physical units; NSD at tolerance 2.");
        text.AppendLine();
        text.AppendLine("| dataset | architecture | params (M) | GMACs | runs | IoU | F1/Dice | HD95 | NSD | p (pairs) |");
        text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in Rows)
            text.AppendLine($"| {r.Dataset} | {r.Architecture} | {Millions(r.Parameters)} | {Giga(r.Macs)} | {r.Runs}/{r.Planned} | {r.Iou.Format("0.0000")} | {r.F1.Format("0.0000")} | {r.Hd95.Format("0.00")} | {r.Nsd.Format("0.0000")} | {(r.Architecture == Baseline ? "baseline" : $"{P(r.PValue)} ({r.Pairs})")} |");
        if (Unfinished.Count > 0)
        {
            text.AppendLine();
            text.AppendLine($"Not in the table ({Unfinished.Count} run(s); `sweep run` again resumes them):");
            text.AppendLine();
            foreach (var u in Unfinished) text.AppendLine($"- {u.Id}: {u.State}{(u.Reason != null ? " — " + u.Reason : "")}");
        }
        return text.ToString();
    }

    public string Csv()
    {
        static string N(double? v) => v is { } x ? x.ToString("R", CultureInfo.InvariantCulture) : "";
        var text = new StringBuilder("dataset,architecture,parameters,macs,runs,planned,iou_mean,iou_sd,f1_mean,f1_sd,hd95_mean,hd95_sd,nsd_mean,nsd_sd,pairs,p_value\n");
        foreach (var r in Rows)
            text.AppendLine(string.Join(",", r.Dataset, r.Architecture, r.Parameters, r.Macs, r.Runs, r.Planned, N(r.Iou.Mean), N(r.Iou.Sd), N(r.F1.Mean), N(r.F1.Sd),
                N(r.Hd95.Mean), N(r.Hd95.Sd), N(r.Nsd.Mean), N(r.Nsd.Sd), r.Pairs, N(r.PValue)));
        return text.ToString();
    }

    public string Latex()
    {
        static string Tex(string s) => s.Replace("_", "\\_").Replace("&", "\\&").Replace("%", "\\%");
        static string Cell(MeanSd m, string format) => m.Mean is not { } mean ? "--"
            : "$" + mean.ToString(format, CultureInfo.InvariantCulture) + (m.Sd is { } sd ? " \\pm " + sd.ToString(format, CultureInfo.InvariantCulture) : "") + "$";
        var text = new StringBuilder();
        text.AppendLine("% " + Tex(Name) + ": mean \\pm sd over splits/folds x seeds; p: Wilcoxon signed-rank vs " + Tex(Baseline));
        text.AppendLine("\\begin{tabular}{llrrrccccr}");
        text.AppendLine("\\toprule");
        text.AppendLine("Dataset & Architecture & Params (M) & GMACs & Runs & IoU & F1/Dice & HD95 & NSD & $p$ \\\\");
        text.AppendLine("\\midrule");
        foreach (var r in Rows)
            text.AppendLine($"{Tex(r.Dataset)} & {Tex(r.Architecture)} & {Millions(r.Parameters)} & {Giga(r.Macs)} & {r.Runs} & {Cell(r.Iou, "0.0000")} & {Cell(r.F1, "0.0000")} & {Cell(r.Hd95, "0.00")} & {Cell(r.Nsd, "0.0000")} & {(r.Architecture == Baseline ? "--" : P(r.PValue))} \\\\");
        text.AppendLine("\\bottomrule");
        text.AppendLine("\\end{tabular}");
        return text.ToString();
    }

    /// <summary>Grouped bars: IoU mean per architecture within each dataset, error bars one sd.</summary>
    private void Chart(string path)
    {
        var plot = new ScottPlot.Plot();
        var datasets = Rows.Select(r => r.Dataset).Distinct().ToList();
        var architectures = Rows.Select(r => r.Architecture).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        var ticks = new List<ScottPlot.Tick>();
        for (int d = 0; d < datasets.Count; d++)
        {
            double centre = d * (architectures.Count + 1);
            ticks.Add(new ScottPlot.Tick(centre + (architectures.Count - 1) / 2.0, datasets[d]));
            for (int a = 0; a < architectures.Count; a++)
            {
                var row = Rows.FirstOrDefault(r => r.Dataset == datasets[d] && r.Architecture == architectures[a]);
                if (row?.Iou.Mean is not { } mean) continue;
                var bar = new ScottPlot.Bar { Position = centre + a, Value = mean, Error = row.Iou.Sd ?? 0, FillColor = palette.GetColor(a) };
                plot.Add.Bar(bar);
            }
        }
        for (int a = 0; a < architectures.Count; a++)
            plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = architectures[a], FillColor = palette.GetColor(a) });
        plot.ShowLegend();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.SetLimitsY(0, 1);
        plot.YLabel("IoU (mean ± sd)");
        plot.Title(Name);
        plot.SavePng(path, 200 + 120 * Math.Max(1, datasets.Count * architectures.Count), 480);
    }
}
