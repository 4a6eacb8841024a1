using System;
using System.Globalization;
using System.Linq;
using System.Text;

namespace LGMSNet.Generator.Emit;

/// <summary>A minimal indenting text writer: emitters only write text.</summary>
internal sealed class CodeWriter
{
    private readonly StringBuilder _text = new();
    private int _indent;

    public CodeWriter Line(string line = "")
    {
        if (line.Length > 0) _text.Append(' ', _indent * 4).Append(line);
        _text.Append('\n');
        return this;
    }

    public IDisposable Block(string header)
    {
        Line(header);
        Line("{");
        _indent++;
        return new Closer(this, "}");
    }

    /// <summary>Indents the lines written until disposal by one more level (continuation lines).</summary>
    public IDisposable Indent()
    {
        _indent++;
        return new Closer(this, null);
    }

    /// <summary>The column where the next line's text starts.</summary>
    public int Column => _indent * 4;

    public override string ToString() => _text.ToString();

    private sealed class Closer : IDisposable
    {
        private readonly CodeWriter _writer;
        private readonly string? _closing;

        public Closer(CodeWriter writer, string? closing)
        {
            _writer = writer;
            _closing = closing;
        }

        public void Dispose()
        {
            _writer._indent--;
            if (_closing != null) _writer.Line(_closing);
        }
    }

    // Every text copied from YAML (or from a file name) into the generated C# goes through exactly one of
    // the helpers below, chosen by its context. C# ends a line (and so a // or /// comment) at \r, \n,
    // U+0085, U+2028 and U+2029: unescaped, the rest of the text would become code.

    /// <summary>A C# string literal for any text: verbatim (readable, multi-line) when every character
    /// is safe there, otherwise a regular literal with escapes.</summary>
    public static string String(string text) => text.All(IsVerbatimSafe) ? Verbatim(text) : Literal(text);

    private static bool IsVerbatimSafe(char c) =>
        c == '\n' || (c >= 32 && c < 127) || (c > 160 && !IsLineBreak(c) && c != '\uFEFF' && !char.IsSurrogate(c) && c is not ('\uFFFE' or '\uFFFF'));

    /// <summary>A C# verbatim string literal (only for text that <see cref="String"/> found safe).</summary>
    private static string Verbatim(string text) => "@\"" + text.Replace("\"", "\"\"") + "\"";

    /// <summary>A C# regular string literal: every character outside printable ASCII is a \u escape.</summary>
    public static string Literal(string text) => LGMSNet.Dsl.Text.Quoting.AsciiQuoted(text);

    /// <summary>Text safe inside an XML doc comment line (<c>///</c>): markup characters become entities,
    /// line breaks become spaces (one summary paragraph), and characters XML cannot hold (other control
    /// characters, lone surrogates, U+FFFE/U+FFFF) become U+FFFD.</summary>
    public static string Xml(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '&') sb.Append("&amp;");
            else if (c == '<') sb.Append("&lt;");
            else if (c == '>') sb.Append("&gt;");
            else sb.Append(CommentCharacter(text, ref i));
        }
        return sb.ToString();
    }

    /// <summary>Text safe inside a <c>//</c> line comment: line breaks become spaces, other characters
    /// that cannot appear in a comment line become U+FFFD.</summary>
    public static string Comment(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++) sb.Append(CommentCharacter(text, ref i));
        return sb.ToString();
    }

    /// <summary>The character at <paramref name="i"/> as comment text (a surrogate pair is kept whole and
    /// advances <paramref name="i"/> past its second half).</summary>
    private static string CommentCharacter(string text, ref int i)
    {
        char c = text[i];
        if (IsLineBreak(c)) return " ";
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) return text.Substring(i++, 2);
        if ((c < 32 && c != '\t') || c == 127 || char.IsSurrogate(c) || c is '\uFFFE' or '\uFFFF') return "\uFFFD";
        return c.ToString();
    }

    /// <summary>The characters C# treats as the end of a line.</summary>
    private static bool IsLineBreak(char c) => c is '\r' or '\n' or '\u0085' or '\u2028' or '\u2029';
}
