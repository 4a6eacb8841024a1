using System;
using LGMSNet.Dsl.Text;

namespace LGMSNet.Dsl.Diagnostics;

public enum DslSeverity { Info, Warning, Error }

/// <summary>A diagnostic carried as plain data (no Roslyn types), so it can live in cached
/// generator models and be printed by the runtime the same way the compiler prints it.</summary>
public sealed record DslDiagnostic(string Id, DslSeverity Severity, string Message, string FilePath, SourceSpan Span)
{
    /// <summary>The word a "did you mean" suggests, as data: replacing the text at <see cref="Span"/> with it is the fix
    /// (the language server offers it as a quick fix). Null when the diagnostic suggests nothing.</summary>
    public string? Replacement { get; init; }

    /// <summary>MSBuild's canonical form: <c>file(line,col): error LGMS001: message</c>.</summary>
    public string ToMsBuildString()
    {
        string severity = Severity switch
        {
            DslSeverity.Error => "error",
            DslSeverity.Warning => "warning",
            _ => "info",
        };
        string location = Span.IsNone ? FilePath : $"{FilePath}({Span.Line},{Span.Column})";
        return $"{location}: {severity} {Id}: {Message}";
    }

    public override string ToString() => ToMsBuildString();
}

/// <summary>Every diagnostic the language can report. Ids are stable: tests, docs and users'
/// suppressions refer to them.</summary>
public sealed record DiagnosticKind(string Id, string Title, DslSeverity Severity)
{
    public DslDiagnostic At(string filePath, SourceSpan span, string message) => new(Id, Severity, message, filePath, span);
}

public static class DiagnosticKinds
{
    public static readonly DiagnosticKind YamlSyntax = new("LGMS001", "YAML syntax error", DslSeverity.Error);
    public static readonly DiagnosticKind UnknownKey = new("LGMS002", "Unknown key", DslSeverity.Error);
    public static readonly DiagnosticKind UnknownBlock = new("LGMS003", "Unknown block", DslSeverity.Error);
    public static readonly DiagnosticKind WrongType = new("LGMS004", "Wrong value type", DslSeverity.Error);
    public static readonly DiagnosticKind OutOfRange = new("LGMS005", "Value out of range", DslSeverity.Error);
    public static readonly DiagnosticKind MissingKey = new("LGMS006", "Missing required key", DslSeverity.Error);
    public static readonly DiagnosticKind InvalidDims = new("LGMS007", "dims must be 2 or 3", DslSeverity.Error);
    public static readonly DiagnosticKind LevelCountMismatch = new("LGMS008", "Level count mismatch", DslSeverity.Error);
    public static readonly DiagnosticKind SplitSum = new("LGMS009", "GMS split does not match the block width", DslSeverity.Error);
    public static readonly DiagnosticKind LmsKernelDivisibility = new("LGMS010", "LMS width not divisible by the number of kernels", DslSeverity.Error);
    public static readonly DiagnosticKind GroupDivisibility = new("LGMS011", "Width not divisible by the number of normalisation groups", DslSeverity.Error);
    public static readonly DiagnosticKind InvalidKernel = new("LGMS012", "Invalid kernel size", DslSeverity.Error);
    public static readonly DiagnosticKind PatchLength = new("LGMS013", "Patch list length does not match dims", DslSeverity.Error);
    public static readonly DiagnosticKind DuplicateName = new("LGMS014", "Duplicate architecture name", DslSeverity.Error);
    public static readonly DiagnosticKind InvalidName = new("LGMS015", "Invalid architecture name", DslSeverity.Error);
    public static readonly DiagnosticKind DuplicateKey = new("LGMS016", "Duplicate key", DslSeverity.Error);
    public static readonly DiagnosticKind UnsupportedYaml = new("LGMS017", "Unsupported or unsafe YAML", DslSeverity.Error);
    public static readonly DiagnosticKind SplitAndRatio = new("LGMS018", "GMS split and ratio conflict", DslSeverity.Error);
    public static readonly DiagnosticKind ChannelConstraint = new("LGMS019", "Channel constraint violated", DslSeverity.Error);
    public static readonly DiagnosticKind InputSize = new("LGMS020", "Input size incompatible with the architecture", DslSeverity.Error);
    public static readonly DiagnosticKind EmptyFile = new("LGMS021", "Empty architecture file", DslSeverity.Error);
    // On the C# declaration of a user block ([LgmsBlock]), not on a YAML file.
    public static readonly DiagnosticKind UnusableBlock = new("LGMS101", "Block declaration the language cannot use", DslSeverity.Error);
    public static readonly DiagnosticKind UnsupportedOption = new("LGMS102", "Unsupported block option", DslSeverity.Error);
    public static readonly DiagnosticKind DuplicateBlock = new("LGMS103", "Two blocks declare one keyword", DslSeverity.Error);
    public static readonly DiagnosticKind BuiltInBlockName = new("LGMS104", "Block keyword clashes with a built-in block", DslSeverity.Error);
    public static readonly DiagnosticKind InvalidOptionRange = new("LGMS105", "Block option default or range invalid", DslSeverity.Error);
    public static readonly DiagnosticKind InvalidBlockRule = new("LGMS106", "Block keyword, channel rule or constraint invalid", DslSeverity.Error);
    public static readonly DiagnosticKind BrokenBlock = new("LGMS107", "Block used whose declaration has errors", DslSeverity.Error);

    public static readonly DiagnosticKind InternalError = new("LGMS099", "Internal error in the architecture compiler", DslSeverity.Error);

    /// <summary>LGMS099: a bug of ours, reported on the file being processed instead of crashing the
    /// generator (CS8785 would lose every architecture). <paramref name="doing"/>: "compiling", "emitting", ...</summary>
    public static DslDiagnostic Internal(string filePath, string doing, Exception exception) =>
        InternalError.At(filePath, default,
            $"internal error while {doing} this architecture ({exception.GetType().Name}: {exception.Message}); please report it");

    public static readonly DiagnosticKind[] All =
    {
        YamlSyntax, UnknownKey, UnknownBlock, WrongType, OutOfRange, MissingKey, InvalidDims, LevelCountMismatch,
        SplitSum, LmsKernelDivisibility, GroupDivisibility, InvalidKernel, PatchLength, DuplicateName, InvalidName,
        DuplicateKey, UnsupportedYaml, SplitAndRatio, ChannelConstraint, InputSize, EmptyFile,
        UnusableBlock, UnsupportedOption, DuplicateBlock, BuiltInBlockName, InvalidOptionRange, InvalidBlockRule, BrokenBlock, InternalError,
    };
}
