using System.Collections.Generic;
using System.Linq;

namespace LGMSNet.Generator.Emit;

/// <summary>A C# call or object creation (<c>head(arg, arg, ...)</c>) whose arguments are text or
/// nested calls, written on one line when it fits and wrapped otherwise: atoms packed onto
/// continuation lines, each nested call on lines of its own.</summary>
internal sealed class Call
{
    /// <summary>Generated lines are wrapped to this width (the tests allow 160 for what cannot wrap).</summary>
    public const int MaxWidth = 120;

    private readonly string _head;
    private readonly IReadOnlyList<object> _arguments;

    public Call(string head, IEnumerable<object> arguments)
    {
        _head = head;
        _arguments = arguments.ToList();
    }

    public Call(string head, params object[] arguments) : this(head, (IEnumerable<object>)arguments)
    {
    }

    public override string ToString() => _head + "(" + string.Join(", ", _arguments.Select(a => a.ToString())) + ")";

    /// <summary>Writes <paramref name="prefix"/> + this call + <paramref name="suffix"/>.</summary>
    public void Write(CodeWriter w, string prefix, string suffix)
    {
        string inline = prefix + this + suffix;
        if (w.Column + inline.Length <= MaxWidth)
        {
            w.Line(inline);
            return;
        }
        w.Line(prefix + _head + "(");
        using (w.Indent())
        {
            string line = "";
            for (int i = 0; i < _arguments.Count; i++)
            {
                string separator = i < _arguments.Count - 1 ? "," : ")" + suffix;
                if (_arguments[i] is Call nested)
                {
                    if (line.Length > 0) w.Line(line);
                    line = "";
                    nested.Write(w, "", separator);
                    continue;
                }
                string text = _arguments[i] + separator;
                if (line.Length > 0 && w.Column + line.Length + 1 + text.Length > MaxWidth)
                {
                    w.Line(line);
                    line = "";
                }
                line = line.Length == 0 ? text : line + " " + text;
            }
            if (line.Length > 0) w.Line(line);
        }
    }
}
