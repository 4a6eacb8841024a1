namespace LGMSNet.Dsl.Text;

/// <summary>A range in a YAML file. Lines and columns are 1-based (as editors and MSBuild show
/// them); <see cref="Start"/> and <see cref="Length"/> are character offsets into the text.</summary>
public readonly record struct SourceSpan(int Start, int Length, int Line, int Column, int EndLine, int EndColumn)
{
    public static SourceSpan None => default;

    public bool IsNone => Line == 0;

    public override string ToString() => $"({Line},{Column})";
}
