using LGMSNet.Runtime.Studies;
using Xunit;

namespace LGMSNet.Runtime.Tests.Studies;

/// <summary>The signed-rank test against published values and against enumerating every sign pattern.</summary>
public sealed class WilcoxonTests
{
    [Fact]
    public void Darwins_zea_mays_differences_match_the_published_exact_p_value()
    {
        // Fisher's Zea mays data, as in scipy.stats.wilcoxon's documentation: statistic 24, p = 0.041259765625 (exact).
        double[] d = { 6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75 };
        var result = Wilcoxon.SignedRank(d);
        Assert.Equal(15, result.N);
        Assert.Equal(24, result.Statistic);
        Assert.Equal(0.041259765625, result.PValue, 12);
    }

    [Fact]
    public void All_positive_differences_give_two_over_two_to_the_n()
    {
        Assert.Equal(2.0 / 32, Wilcoxon.SignedRank(new[] { 0.1, 0.2, 0.3, 0.4, 0.5 }).PValue, 12);
        Assert.Equal(2.0 / 64, Wilcoxon.SignedRank(new[] { -0.1, -0.2, -0.3, -0.4, -0.5, -0.6 }).PValue, 12);
        // Zero differences are dropped (Wilcoxon's method): the same as n = 5.
        Assert.Equal(2.0 / 32, Wilcoxon.SignedRank(new[] { 0.1, 0.2, 0.0, 0.3, 0.4, 0.5 }).PValue, 12);
        Assert.True(double.IsNaN(Wilcoxon.SignedRank(new[] { 0.0, 0.0 }).PValue));
    }

    [Fact]
    public void Ties_use_mid_ranks_and_the_exact_distribution_of_those_ranks()
    {
        double[] d = { 1, 1, -2, 2, 3, -3, 3, 4.5 };
        var result = Wilcoxon.SignedRank(d);
        // Brute force: mid-ranks of |d|, every one of the 2^n sign patterns.
        var abs = d.Select(Math.Abs).ToArray();
        var ranks = abs.Select(a => abs.Count(b => b < a) + (abs.Count(b => b == a) + 1) / 2.0).ToArray();
        double plus = d.Select((v, i) => v > 0 ? ranks[i] : 0).Sum(), total = ranks.Sum();
        double observed = Math.Min(plus, total - plus);
        int atMost = 0, patterns = 1 << d.Length;
        for (int mask = 0; mask < patterns; mask++)
        {
            double sum = Enumerable.Range(0, d.Length).Where(i => (mask >> i & 1) == 1).Sum(i => ranks[i]);
            if (sum <= observed + 1e-9) atMost++;
        }
        Assert.Equal(observed, result.Statistic, 12);
        Assert.Equal(Math.Min(1, 2.0 * atMost / patterns), result.PValue, 12);
    }
}
