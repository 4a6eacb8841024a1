using LGMSNet.Dsl.Parsing;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;

namespace LGMSNet.Runtime.Cli;

/// <summary>What every command needs: where to write, and the compiled architectures.</summary>
public sealed class CliContext(TextWriter output, TextWriter error, IReadOnlyList<ArchitectureDescriptor> architectures, IReadOnlyList<string>? arguments = null,
    LGMSNet.Dsl.Blocks.BlockCatalog? blocks = null)
{
    /// <summary>This invocation as a command a POSIX shell runs again from the same folder (command.txt, the start-again hint).</summary>
    public string CommandLine { get; } = ThisProgram.Command((arguments ?? Array.Empty<string>()).ToArray());

    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public IReadOnlyList<ArchitectureDescriptor> Architectures { get; } = architectures;

    /// <summary>The project's user blocks ([LgmsBlock] classes): the registry's catalog, and those the architectures use.</summary>
    public LGMSNet.Dsl.Blocks.BlockCatalog Blocks { get; } =
        architectures.Aggregate(blocks ?? LGMSNet.Dsl.Blocks.BlockCatalog.Empty, (all, a) => all.Union(a.Info.Blocks));

    /// <summary>Progress bars only when a person watches a terminal.</summary>
    public bool Interactive => ReferenceEquals(Out, Console.Out) && !Console.IsOutputRedirected;

    public void WriteJson(object value) => Out.WriteLine(RuntimeJson.Serialize(value));

    /// <summary>Finds an architecture by file stem or name, case-insensitively.</summary>
    public ArchitectureDescriptor Resolve(string query)
    {
        var match = Architectures.FirstOrDefault(a => a.Info.Matches(query));
        if (match != null) return match;
        var names = Architectures.Select(a => a.Info.FileStem).ToList();
        string? closest = Suggestions.Closest(query, names.Concat(Architectures.Select(a => a.Info.Name)));
        throw new UserErrorException($"unknown architecture '{query}'" + (closest != null ? $"; did you mean '{closest}'?" : "") +
                               $" (compiled: {string.Join(", ", names)}; see 'list')", 2);
    }
}
