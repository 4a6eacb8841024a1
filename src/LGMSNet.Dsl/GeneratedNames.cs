using System;
using System.Linq;
using System.Text.RegularExpressions;
using LGMSNet.Dsl.Planning;

namespace LGMSNet.Dsl;

/// <summary>The one list of names the generator emits besides an architecture's own class: the
/// registry class, the members of every generated class (a class cannot have a member with its own
/// name) and the generated file (hint) names. The parser refuses an architecture <c>name:</c> that
/// is one of them, the planner names stage properties with them and the generator emits them.</summary>
public static class GeneratedNames
{
    /// <summary>The registry of every compiled architecture, emitted into the same namespace.</summary>
    public const string Registry = "CompiledArchitectures";

    /// <summary>The static metadata property of every generated class.</summary>
    public const string Info = "Info";

    /// <summary>The forward method every generated class overrides.</summary>
    public const string Forward = "Forward";

    private static readonly string[] Fixed = { Registry, Info, Forward, "Stem", "Head" };

    private static readonly Regex Numbered = new("^(Encoder|Decoder|Up)[0-9]+$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <summary>The generated file holding <paramref name="className"/> (the registry's is <c>CompiledArchitectures.g.cs</c>).</summary>
    public static string HintName(string className) => className + ".g.cs";

    /// <summary>The C# property holding a stage: Stem, Encoder1.., Up1.., Decoder1.., Head.</summary>
    public static string StageProperty(StageRole role, int level) => role switch
    {
        StageRole.Stem => "Stem",
        StageRole.Encoder => "Encoder" + level,
        StageRole.Up => "Up" + level,
        StageRole.Decoder => "Decoder" + level,
        StageRole.Head => "Head",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    /// <summary>True when <paramref name="name"/> would clash with a generated name. Compared
    /// case-insensitively, as Roslyn compares hint names (<c>COMPILEDARCHITECTURES.g.cs</c> is the
    /// registry's file) and as the CLI looks architectures up.</summary>
    public static bool IsReserved(string name) =>
        Fixed.Contains(name, StringComparer.OrdinalIgnoreCase) || Numbered.IsMatch(name);
}
