using System.Text.RegularExpressions;
using LGMSNet.Compiler.Tests.Support;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>"A block is a declaration the compiler reads, not a name it knows": the parser, planner, layer lowering, cost
/// model, emitter, schema writer and ONNX exporter name no built-in block, neither by keyword nor by its plan or runtime
/// type. What each block means lives in its own definition (src/LGMSNet.Dsl/Planning/Definitions) and its ONNX writer
/// (src/LGMSNet.Runtime/Deploy/BlockWriters), reached through one path shared with user blocks.</summary>
public sealed class OneBlockPathTests
{
    public static TheoryData<string> Files() => new(new[]
        {
            Directory.GetFiles(Repo.Path("src", "LGMSNet.Dsl", "Parsing"), "*.cs"),
            new[] { "Planner.cs", "Layers.cs", "Costs.cs", "KeyMap.cs" }.Select(f => Repo.Path("src", "LGMSNet.Dsl", "Planning", f)).ToArray(),
            Directory.GetFiles(Repo.Path("src", "LGMSNet.Dsl", "Language"), "*.cs"),
            Directory.GetFiles(Repo.Path("src", "LGMSNet.Generator"), "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/", StringComparison.Ordinal)).ToArray(),
            new[] { Repo.Path("src", "LGMSNet.Runtime", "Deploy", "OnnxExporter.cs") },
        }.SelectMany(f => f).Select(f => Path.GetRelativePath(Repo.Root, f)).OrderBy(f => f, StringComparer.Ordinal));

    private static readonly Regex Keyword = new("\"(lms|gms|fusion|conv)\"", RegexOptions.Compiled);

    private static readonly Regex BlockType = new(@"\b(LmsUnitPlan|GmsPlan|FusionPlan|DoubleConvPlan|LmsUnit|LmsBlock|GmsBlock|FusionBlock|DoubleConv)\b", RegexOptions.Compiled);

    [Theory]
    [MemberData(nameof(Files))]
    public void Names_no_built_in_block(string relativePath)
    {
        // Comments may explain; code may not decide by name.
        var code = File.ReadAllLines(Repo.Path(relativePath))
            .Select((line, i) => (Line: i + 1, Text: line.Contains("//", StringComparison.Ordinal) ? line[..line.IndexOf("//", StringComparison.Ordinal)] : line))
            .Where(l => Keyword.IsMatch(l.Text) || BlockType.IsMatch(l.Text))
            .Select(l => $"{relativePath}({l.Line}): {l.Text.Trim()}")
            .ToList();
        Assert.True(code.Count == 0, string.Join("\n", code));
    }
}
