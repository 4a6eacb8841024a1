using System.Globalization;
using System.Text;

namespace LGMSNet.Dsl.Text;

/// <summary>One quoting rule for the two places text leaves the compiler as a quoted string: the generator's C#
/// string literals and the JSON Schema. Printable ASCII stays, <c>"</c> and <c>\</c> are escaped, \n \r \t are
/// written as such and every other character as \uXXXX: the result is a valid C# regular string literal and a
/// valid JSON string, and holds no line break of either language.</summary>
public static class Quoting
{
    public static string AsciiQuoted(string text)
    {
        var sb = new StringBuilder(text.Length + 2).Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 32 || c > 126) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
