using System.Text;

namespace LGMSNet.Runtime.Cli;

/// <summary>Plain aligned text tables: readable in a terminal, stable in logs and tests.</summary>
public sealed class TextTable(params string[] headers)
{
    private readonly List<string[]> _rows = new();
    private readonly HashSet<int> _rightAligned = new();

    public TextTable AlignRight(params int[] columns)
    {
        foreach (int c in columns) _rightAligned.Add(c);
        return this;
    }

    public void Add(params object?[] cells) => _rows.Add(cells.Select(c => c?.ToString() ?? "").ToArray());

    public void Separator() => _rows.Add(Array.Empty<string>());

    public override string ToString()
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Where(r => r.Length > i).Select(r => r[i].Length).DefaultIfEmpty(0).Max())).ToArray();
        var sb = new StringBuilder();
        void Line(IReadOnlyList<string> cells)
        {
            for (int i = 0; i < widths.Length; i++)
            {
                string cell = i < cells.Count ? cells[i] : "";
                sb.Append(_rightAligned.Contains(i) ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]));
                if (i < widths.Length - 1) sb.Append("  ");
            }
            sb.Append('\n');
        }
        Line(headers);
        sb.Append(new string('-', widths.Sum() + 2 * (widths.Length - 1))).Append('\n');
        foreach (var row in _rows)
        {
            if (row.Length == 0) sb.Append(new string('-', widths.Sum() + 2 * (widths.Length - 1))).Append('\n');
            else Line(row);
        }
        return sb.ToString().TrimEnd('\n').Replace(" \n", "\n");
    }
}
