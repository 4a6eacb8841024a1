using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Golden;

/// <summary>Single blocks against tests/fixtures/reference/blocks (eval and train mode; atol 1e-5 + rtol 1e-4).</summary>
public sealed class BlockGoldenTests
{
    private static readonly NormSpec Batch = new(Normalization.Batch, 4);

    public static TheoryData<string> Cases() => new() { "lms", "gms", "fusion" };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Block_matches_reference_in_eval_and_train_mode(string kind)
    {
        var (file, plan) = kind switch
        {
            "lms" => ("lms_block_c32.safetensors", (BlockPlan)new LmsUnitPlan(32, 32, EquatableArray.Of(3, 5, 7, 9), 1, 4, 4)),
            "gms" => ("gms_block_d64_c128.safetensors", new GmsPlan(64, 128, 96, 32, EquatableArray.Of(2, 2), 4, 8, 256, 1)),
            _ => ("fusion_conv_64_32.safetensors", new FusionPlan(64, 32, 4)),
        };
        var fixture = Fixtures.Load("blocks", file);
        foreach (bool training in new[] { false, true })
        {
            using var block = Create(plan);
            Load(block, plan, fixture);
            block.train(training);
            using var _ = no_grad();
            using var output = block.call(fixture.ToTensor("input"));
            TensorAssert.AllClose(output, fixture.ToTensor(training ? "train_output" : "eval_output"), 1e-5, 1e-4,
                $"{kind} {(training ? "train" : "eval")} output");
        }
    }

    private static nn.Module<Tensor, Tensor> Create(BlockPlan plan) => plan switch
    {
        LmsUnitPlan l => new LmsBlock(2, l.InChannels, l.Kernels.ToArray(), l.Groups, l.Reduction, Batch),
        GmsPlan g => new GmsBlock(2, g.InChannels, g.OutChannels, transformerChannels: g.TransformerChannels, convChannels: g.ConvChannels,
            patch: g.Patch.ToArray(), heads: g.Heads, headDim: g.HeadDim, mlp: g.Mlp, depth: g.Depth, norm: Batch),
        FusionPlan f => new FusionBlock(2, f.InChannels, f.OutChannels, f.Expansion, Batch),
        _ => throw new ArgumentException(plan.ToString()),
    };

    /// <summary>Loads "weights.&lt;reference key&gt;" through the block's plan-derived key map.</summary>
    private static void Load(nn.Module<Tensor, Tensor> block, BlockPlan plan, SafeTensorFile fixture)
    {
        var state = block.state_dict();
        var tensors = Layers.OfBlock(2, NormKind.Batch, plan, "b", "r").SelectMany(l => KeyMap.Tensors(2, l)).ToList();
        Assert.Equal(state.Keys.OrderBy(k => k), tensors.Select(t => t.Name["b.".Length..]).OrderBy(k => k));
        using var _ = no_grad();
        foreach (var t in tensors)
            state[t.Name["b.".Length..]].copy_(fixture.ToTensor("weights." + t.ReferenceName["r.".Length..]));
        Assert.Equal(fixture.Names.Count(n => n.StartsWith("weights.", StringComparison.Ordinal)), tensors.Count);
    }
}
