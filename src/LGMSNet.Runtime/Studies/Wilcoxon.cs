namespace LGMSNet.Runtime.Studies;

/// <summary>The Wilcoxon signed-rank test of paired differences, two-sided. Zero differences are dropped
/// (Wilcoxon's method, scipy's default); tied |differences| get mid-ranks. The p-value is exact — the
/// distribution of the positive-rank sum over all 2^n sign patterns of the observed ranks, counted by
/// dynamic programming — for n ≤ 50, and from the normal approximation with tie correction above.</summary>
public static class Wilcoxon
{
    public sealed record Result(int N, double Statistic, double PValue);

    /// <summary>Statistic = min(W+, W−), as scipy reports for the two-sided test; p = NaN when no difference is non-zero.</summary>
    public static Result SignedRank(IReadOnlyList<double> differences)
    {
        var d = differences.Where(x => x != 0 && double.IsFinite(x)).ToList();
        int n = d.Count;
        if (n == 0) return new Result(0, double.NaN, double.NaN);
        var order = d.Select((v, i) => (Abs: Math.Abs(v), i)).OrderBy(p => p.Abs).ToList();
        var ranks = new double[n];
        for (int start = 0; start < n;)
        {
            int end = start;
            while (end + 1 < n && order[end + 1].Abs == order[start].Abs) end++;
            double rank = (start + end + 2) / 2.0;
            for (int k = start; k <= end; k++) ranks[order[k].i] = rank;
            start = end + 1;
        }
        double plus = 0, total = n * (n + 1) / 2.0;
        for (int i = 0; i < n; i++) if (d[i] > 0) plus += ranks[i];
        double statistic = Math.Min(plus, total - plus);
        double p;
        if (n <= 50)
        {
            // Doubled ranks are integers even with mid-ranks; count sign patterns by their positive sum.
            var doubled = ranks.Select(r => (int)Math.Round(2 * r)).ToArray();
            int max = doubled.Sum();
            var counts = new double[max + 1];
            counts[0] = 1;
            foreach (int r in doubled)
                for (int s = max; s >= r; s--) counts[s] += counts[s - r];
            double all = Math.Pow(2, n);
            int observed = (int)Math.Round(2 * statistic);
            double tail = 0;
            for (int s = 0; s <= observed; s++) tail += counts[s];
            p = Math.Min(1, 2 * tail / all);
        }
        else
        {
            double mean = total / 2;
            double tieCorrection = ranks.GroupBy(r => r).Sum(g => Math.Pow(g.Count(), 3) - g.Count()) / 48.0;
            double sd = Math.Sqrt(n * (n + 1) * (2 * n + 1) / 24.0 - tieCorrection);
            double z = (statistic - mean) / sd;
            p = Math.Min(1, 2 * NormalCdf(z));
        }
        return new Result(n, statistic, p);
    }

    private static double NormalCdf(double z) => 0.5 * Erfc(-z / Math.Sqrt(2));

    /// <summary>Complementary error function (Numerical Recipes' erfcc, relative error below 1.2e-7).</summary>
    private static double Erfc(double x)
    {
        double z = Math.Abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                   t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
