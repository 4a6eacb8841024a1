using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;

namespace LGMSNet.Runtime.Network;

/// <summary>One stage's counts on a built module: <see cref="Parameters"/> as TorchSharp counts them, multiply-adds from
/// the compiler for built-in blocks plus what each user block declares (<see cref="IBlockCost"/>); <see cref="Uncosted"/>
/// names the user blocks that declare none (their multiply-adds are not in <see cref="MultiplyAdds"/>).</summary>
public sealed record StageCount(StageCost Compiled, long Parameters, MacCount Macs, long UserMacs, IReadOnlyList<string> Uncosted)
{
    public long MultiplyAdds => Macs.Total + UserMacs;
}

/// <summary>Counts of a built network, stage by stage: the compiler's for built-in blocks (which a test holds equal to
/// TorchSharp's), the module's own for user blocks, which the compiler does not see inside.</summary>
public static class NetworkCosts
{
    public static IReadOnlyList<StageCount> PerStage(SegmentationNetwork network, IReadOnlyList<int> inputSize)
    {
        var plan = network.Architecture.Plan;
        var modules = network.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        return Costs.PerStage(plan, inputSize).Select(stage =>
        {
            if (stage.Opaque.Count == 0) return new StageCount(stage, stage.Parameters, stage.Macs, 0, Array.Empty<string>());
            long parameters = modules[stage.Stage.Name].parameters().Sum(p => p.numel());
            long user = 0;
            var uncosted = new List<string>();
            foreach (var layer in stage.Opaque)
            {
                if (modules.TryGetValue(layer.Name, out var module) && module is IBlockCost cost)
                    user += cost.MultiplyAdds(Costs.SizeAt(layer.Level, inputSize));
                else uncosted.Add(layer.Block.Declaration.Keyword);
            }
            return new StageCount(stage, parameters, stage.Macs, user, uncosted);
        }).ToList();
    }
}
