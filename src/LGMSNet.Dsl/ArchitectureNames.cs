using System;
using System.Collections.Generic;
using System.Linq;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Text;

namespace LGMSNet.Dsl;

/// <summary>How one file can be referred to: its class name and its file stem.</summary>
public sealed record ArchitectureName(string? Name, string FileStem, string FilePath, SourceSpan NameSpan);

/// <summary>Cross-file checks: an architecture is looked up by name or file stem, case-insensitively
/// (<c>lgmsnet</c>, <c>LgmsNet</c>), so both must identify exactly one file.</summary>
public static class ArchitectureNames
{
    /// <summary>Diagnostics for <paramref name="file"/> caused by the other files of the set.</summary>
    public static EquatableArray<DslDiagnostic> Conflicts(ArchitectureName file, IEnumerable<ArchitectureName> all)
    {
        var diagnostics = new List<DslDiagnostic>();
        foreach (var other in all)
        {
            if (other.FilePath == file.FilePath) continue;
            string otherFile = ArchitectureCompiler.FileStem(other.FilePath) + System.IO.Path.GetExtension(other.FilePath);
            if (file.Name != null && other.Name != null && string.Equals(file.Name, other.Name, StringComparison.OrdinalIgnoreCase))
                diagnostics.Add(DiagnosticKinds.DuplicateName.At(file.FilePath, file.NameSpan,
                    $"architecture name '{file.Name}' is also used by {otherFile}; names must be unique (compared case-insensitively)"));
            else if (file.Name != null && string.Equals(file.Name, other.FileStem, StringComparison.OrdinalIgnoreCase))
                diagnostics.Add(DiagnosticKinds.DuplicateName.At(file.FilePath, file.NameSpan,
                    $"architecture name '{file.Name}' is also the file name of {otherFile}, so '{file.Name}' on the command line would be ambiguous"));
            else if (string.Equals(file.FileStem, other.FileStem, StringComparison.OrdinalIgnoreCase))
                diagnostics.Add(DiagnosticKinds.DuplicateName.At(file.FilePath, file.NameSpan,
                    $"another architecture file is also named '{file.FileStem}' ({other.FilePath}); file names must be unique"));
        }
        return diagnostics.ToEquatableArray();
    }
}
