using System;
using System.Collections.Generic;

namespace LGMSNet.Dsl.Parsing;

/// <summary>"Did you mean" hints: the closest known word by edit distance.</summary>
public static class Suggestions
{
    public static string? Closest(string word, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            int distance = Distance(word.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        // Only suggest when the word is plausibly a typo of the candidate.
        return best != null && bestDistance <= Math.Max(2, best.Length / 3) ? best : null;
    }

    public static string Hint(string word, IEnumerable<string> candidates, string listName) =>
        Hint(word, candidates, listName, out _);

    /// <summary>The hint, and the suggested word (null when the hint lists the candidates instead).</summary>
    public static string Hint(string word, IEnumerable<string> candidates, string listName, out string? closest) =>
        Hint(word, candidates, listName, null, out closest);

    /// <summary>The hint, suggesting only a candidate not in <paramref name="taken"/> (e.g. a key already set in the same
    /// mapping: replacing the typo with it would make a duplicate key); the list, when no suggestion, names all candidates.</summary>
    public static string Hint(string word, IEnumerable<string> candidates, string listName, ICollection<string>? taken, out string? closest)
    {
        var list = new List<string>(candidates);
        closest = Closest(word, taken == null ? list : list.FindAll(c => !taken.Contains(c)));
        return closest != null
            ? DidYouMean(closest)
            : $"; {listName} are: {string.Join(", ", list)}";
    }

    /// <summary>"; did you mean 'x'?", or nothing without a suggestion.</summary>
    public static string DidYouMean(string? closest) => closest == null ? "" : $"; did you mean '{closest}'?";

    /// <summary>Damerau–Levenshtein (optimal string alignment) distance; inputs are short.</summary>
    public static int Distance(string a, string b)
    {
        if (a.Length > 64 || b.Length > 64) return int.MaxValue / 2;
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
