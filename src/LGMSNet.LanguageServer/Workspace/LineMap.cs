namespace LGMSNet.LanguageServer.Workspace;

/// <summary>Offsets in a document's text (UTF-16 code units, as .NET strings and the compiler's spans count them) and
/// LSP positions (0-based line; character in UTF-16 code units). Lines end at "\r\n", "\n" or "\r", LSP's three line
/// endings; YAML 1.1's other breaks (U+0085, U+2028, U+2029), which YamlDotNet also counts as new lines, are not LSP
/// line ends, so positions are always derived from offsets, never from the compiler's line numbers.</summary>
public sealed class LineMap
{
    private readonly string _text;
    private readonly List<int> _starts = new() { 0 };

    public LineMap(string text)
    {
        _text = text;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
            if (c is '\r' or '\n') _starts.Add(i + 1);
        }
    }

    public string Text => _text;

    public int LineCount => _starts.Count;

    public int LineStart(int line) => _starts[line];

    /// <summary>Where the line's content ends (before its line break).</summary>
    public int LineEnd(int line)
    {
        int end = line + 1 < _starts.Count ? _starts[line + 1] : _text.Length;
        while (end > _starts[line] && _text[end - 1] is '\r' or '\n') end--;
        return end;
    }

    public string LineText(int line) => _text.Substring(_starts[line], LineEnd(line) - _starts[line]);

    public (int Line, int Character) Position(int offset)
    {
        offset = Math.Clamp(offset, 0, _text.Length);
        int line = _starts.BinarySearch(offset);
        if (line < 0) line = ~line - 1;
        // An offset inside a "\r\n" belongs to the end of its line.
        return (line, Math.Min(offset, LineEnd(line)) - _starts[line]);
    }

    /// <summary>The offset of an LSP position, or null when the line does not exist. A character past the line's end
    /// means its end (LSP: "defaults back to the line length").</summary>
    public int? Offset(int line, int character)
    {
        if (line < 0 || line >= _starts.Count || character < 0) return null;
        return Math.Min(_starts[line] + character, LineEnd(line));
    }
}
