using System.Security.Cryptography;
using System.Text;
using LGMSNet.Dsl;
using LGMSNet.Dsl.Planning;

namespace LGMSNet.Runtime.Network;

/// <summary>What the compiler established about one architecture, emitted as constants into the
/// generated module; <see cref="Plan"/> re-derives the full plan from the embedded YAML (the same
/// Dsl code the generator ran) for costs at other sizes and for the weight key map.</summary>
public sealed class ArchitectureInfo
{
    private readonly Lazy<NetworkPlan> _plan;
    private readonly Lazy<(long Parameters, long MultiplyAdds, IReadOnlyList<string> Uncosted)> _counted;

    /// <param name="parameters">The compiler's count; null when the architecture uses user blocks, whose parameters are
    /// counted on a module built with <paramref name="create"/>.</param>
    /// <param name="multiplyAdds">Likewise; null: counted with the blocks' own <see cref="Blocks.IBlockCost"/>.</param>
    /// <param name="blocks">The user blocks the YAML uses, as the compiler read their declarations (BlockCatalog text).</param>
    public ArchitectureInfo(string name, string fileStem, int dims, int inChannels, int classes, long? parameters,
        long? multiplyAdds, int[] multiplyAddsInputSize, int[] inputMultiple, string yaml, string? blocks = null, Func<SegmentationNetwork>? create = null)
    {
        Name = name;
        FileStem = fileStem;
        Dims = dims;
        InChannels = inChannels;
        Classes = classes;
        MultiplyAddsInputSize = multiplyAddsInputSize;
        InputMultiple = inputMultiple;
        Yaml = yaml;
        Blocks = LGMSNet.Dsl.Blocks.BlockCatalog.Parse(blocks);
        YamlSha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml)));
        _counted = parameters is { } p && multiplyAdds is { } m
            ? new(() => (p, m, Array.Empty<string>()))
            : new(() =>
            {
                if (create == null) throw new InvalidOperationException($"{name}: counts are not known without a factory for the module");
                using var network = create();
                var stages = NetworkCosts.PerStage(network, multiplyAddsInputSize);
                return (stages.Sum(s => s.Parameters), stages.Sum(s => s.MultiplyAdds), stages.SelectMany(s => s.Uncosted).Distinct().ToList());
            });
        _plan = new Lazy<NetworkPlan>(() =>
        {
            var compiled = ArchitectureCompiler.Compile(fileStem + ".yaml", yaml, Blocks);
            return compiled.Plan ?? throw new InvalidOperationException(
                $"the embedded YAML of {name} no longer compiles: {string.Join("; ", compiled.Diagnostics)}");
        });
    }

    /// <summary>The YAML <c>name:</c>, also the C# class name.</summary>
    public string Name { get; }

    /// <summary>The YAML file name without extension (what the CLI accepts besides the name).</summary>
    public string FileStem { get; }

    public int Dims { get; }

    public int InChannels { get; }

    public int Classes { get; }

    /// <summary>Trainable parameters, exactly as TorchSharp counts them (for user blocks: counted on a built module).</summary>
    public long Parameters => _counted.Value.Parameters;

    /// <summary>Multiply-adds (conv + linear + attention products) for one sample of <see cref="MultiplyAddsInputSize"/>;
    /// without the user blocks listed in <see cref="UncostedBlocks"/>, which declare no cost.</summary>
    public long MultiplyAdds => _counted.Value.MultiplyAdds;

    /// <summary>Keywords of user blocks in this architecture that declare no cost (<see cref="Blocks.IBlockCost"/>): their
    /// multiply-adds are not in <see cref="MultiplyAdds"/>. Empty for architectures of built-in blocks only.</summary>
    public IReadOnlyList<string> UncostedBlocks => _counted.Value.Uncosted;

    /// <summary>The user blocks this architecture uses, as the compiler read their declarations.</summary>
    public LGMSNet.Dsl.Blocks.BlockCatalog Blocks { get; }

    public IReadOnlyList<int> MultiplyAddsInputSize { get; }

    /// <summary>The architecture's input size: the YAML's <c>input_size</c>, or the paper's default (256² images,
    /// 96³ volumes, rounded up to <see cref="InputMultiple"/>). The same values as <see cref="MultiplyAddsInputSize"/>.</summary>
    public IReadOnlyList<int> InputSize => MultiplyAddsInputSize;

    /// <summary>Every spatial input size must be a multiple of this, per axis.</summary>
    public IReadOnlyList<int> InputMultiple { get; }

    /// <summary>The YAML text the module was compiled from.</summary>
    public string Yaml { get; }

    public string YamlSha256 { get; }

    public NetworkPlan Plan => _plan.Value;

    /// <summary>True when <paramref name="query"/> is this architecture's file stem or name (case-insensitive).</summary>
    public bool Matches(string query) =>
        string.Equals(query, FileStem, StringComparison.OrdinalIgnoreCase) || string.Equals(query, Name, StringComparison.OrdinalIgnoreCase);

    /// <summary>Null when <paramref name="spatial"/> is a valid input size, otherwise why not
    /// (the compiler's check and message, <see cref="Costs.CheckInputSize(int, IReadOnlyList{int}, IReadOnlyList{long})"/>).</summary>
    public string? CheckInputSize(IReadOnlyList<long> spatial) => Costs.CheckInputSize(Dims, InputMultiple, spatial);
}

/// <summary>A compiled architecture: its metadata and a factory for fresh modules.</summary>
public sealed record ArchitectureDescriptor(ArchitectureInfo Info, Func<SegmentationNetwork> Create)
{
    public string Name => Info.Name;

    public override string ToString() => $"{Info.FileStem} ({Info.Name})";
}
