using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Interop;

/// <summary>Which key names a weight file uses: ours (the generated module's state_dict) or the
/// authors' PyTorch state_dict names.</summary>
public enum KeyLayout { Ours, Reference }

/// <summary>Moves weights between a generated module and tensors keyed in either layout. The key
/// map comes from the architecture's plan (<see cref="LGMSNet.Dsl.Planning.KeyMap.Tensors(LGMSNet.Dsl.Planning.NetworkPlan)"/>), so any YAML variant
/// (other widths, splits, classes, depths) maps without a hand-written table.</summary>
public static class WeightLayout
{
    /// <summary>(our key, reference key) for every state_dict entry the compiler plans (built-in blocks), in registration order.</summary>
    private static List<TensorSpec> PlannedKeys(ArchitectureInfo architecture) => LGMSNet.Dsl.Planning.KeyMap.Tensors(architecture.Plan).ToList();

    /// <summary>The key map of a built module: the plan's entries in registration order, then the tensors of every user
    /// block as the module registers them (the compiler does not see inside a user block; in the reference layout its keys
    /// sit under the reference's position of the block, since the authors' code has no such block).</summary>
    public static IReadOnlyList<TensorSpec> KeyMap(SegmentationNetwork network)
    {
        var map = PlannedKeys(network.Architecture);
        var opaque = Layers.Of(network.Architecture.Plan).OfType<OpaqueLayer>().ToList();
        if (opaque.Count == 0) return map;
        var parameters = network.named_parameters().Select(p => p.name).ToHashSet(StringComparer.Ordinal);
        foreach (var (key, tensor) in network.state_dict())
        {
            var layer = opaque.FirstOrDefault(l => key.StartsWith(l.Name + ".", StringComparison.Ordinal));
            if (layer == null) continue;
            map.Add(new TensorSpec(key, layer.ReferenceName + key.Substring(layer.Name.Length), tensor.shape, parameters.Contains(key),
                tensor.dtype == ScalarType.Int64));
        }
        return map;
    }

    /// <summary>Copies tensors named in <paramref name="layout"/> into the module. All mismatches
    /// (missing, unexpected, wrong shape) are collected and reported together.</summary>
    public static void Load(SegmentationNetwork network, Func<string, bool> contains, Func<string, Tensor> get,
        IEnumerable<string> available, KeyLayout layout, string source, bool strict = true)
    {
        var state = network.state_dict();
        var map = KeyMap(network);
        var problems = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (var spec in map)
        {
            string key = layout == KeyLayout.Ours ? spec.Name : spec.ReferenceName;
            if (!state.TryGetValue(spec.Name, out var target))
            {
                problems.Add($"module has no tensor '{spec.Name}' (internal layout mismatch)");
                continue;
            }
            if (!contains(key))
            {
                problems.Add($"missing '{key}' (expected shape [{string.Join(", ", spec.Shape)}])");
                continue;
            }
            used.Add(key);
            using var value = get(key);
            if (!value.shape.SequenceEqual(target.shape))
            {
                problems.Add($"'{key}' has shape [{string.Join(", ", value.shape)}], {network.Architecture.Name} needs [{string.Join(", ", target.shape)}]");
                continue;
            }
            target.copy_(value.to(target.dtype).to(target.device));
        }
        if (strict)
            foreach (var key in available.Where(k => !used.Contains(k)).OrderBy(k => k, StringComparer.Ordinal))
                problems.Add($"unexpected '{key}' (not part of {network.Architecture.Name})");
        if (problems.Count > 0)
            throw new WeightMismatchException(
                $"{source} does not fit {network.Architecture.Name} ({layout.ToString().ToLowerInvariant()} key layout): " +
                $"{problems.Count} problem(s):\n  " + string.Join("\n  ", problems.Take(40)) +
                (problems.Count > 40 ? $"\n  ... and {problems.Count - 40} more" : ""), problems);
    }

    /// <summary>Loads a safetensors file whose keys (after stripping <paramref name="prefix"/>) are in <paramref name="layout"/>.</summary>
    public static void Load(SegmentationNetwork network, SafeTensorFile file, KeyLayout layout, string prefix = "")
    {
        var names = file.Names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Select(n => n.Substring(prefix.Length)).ToList();
        Load(network, k => file.Contains(prefix + k), k => file.ToTensor(prefix + k), names, layout, file.Source);
    }

    /// <summary>The module's tensors keyed in <paramref name="layout"/> (references to the live tensors).</summary>
    public static Dictionary<string, Tensor> Export(SegmentationNetwork network, KeyLayout layout)
    {
        // A fused network's convolutions already contain its BatchNorms: exporting both would apply them twice.
        if (network.IsFusedForInference)
            throw new InvalidOperationException($"{network.Architecture.Name} was fused for inference; export the weights of an unfused module");
        var state = network.state_dict();
        return KeyMap(network).ToDictionary(
            spec => layout == KeyLayout.Ours ? spec.Name : spec.ReferenceName,
            spec => state[spec.Name]);
    }
}

public sealed class WeightMismatchException(string message, IReadOnlyList<string> problems) : Exception(message)
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
