using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>One pre-norm transformer layer on [B, P, N, a] tokens: x + Attention(LN(x)), then
/// x + MLP(LN(x)) with SiLU. Attention width is heads × head_dim (4 × 8 = 32 in the reference),
/// independent of a. Children: <c>attn_norm</c>, <c>qkv</c>, <c>proj</c>, <c>ffn_norm</c>, <c>ffn1</c>, <c>ffn2</c>.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class TransformerLayer : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm attn_norm;
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly LayerNorm ffn_norm;
    private readonly Linear ffn1;
    private readonly Linear ffn2;
    private readonly int _heads;
    private readonly int _headDim;

    public TransformerLayer(int channels, int heads, int headDim, int mlp) : base(nameof(TransformerLayer))
    {
        _heads = heads;
        _headDim = headDim;
        attn_norm = nn.LayerNorm(channels);
        qkv = nn.Linear(channels, 3L * heads * headDim, hasBias: false);
        proj = nn.Linear((long)heads * headDim, channels);
        ffn_norm = nn.LayerNorm(channels);
        ffn1 = nn.Linear(channels, mlp);
        ffn2 = nn.Linear(mlp, channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], p = x.shape[1], n = x.shape[2];
        // q, k, v: features [0, hd), [hd, 2hd), [2hd, 3hd); head h uses [h·d, (h+1)·d) of each.
        var qkvHeads = qkv.call(attn_norm.call(x)).reshape(b * p, n, 3, _heads, _headDim).permute(2, 0, 3, 1, 4);
        var attended = nn.functional.scaled_dot_product_attention(qkvHeads[0], qkvHeads[1], qkvHeads[2]);
        var merged = attended.permute(0, 2, 1, 3).reshape(b, p, n, (long)_heads * _headDim);
        x = x.Plus(proj.call(merged));
        x = x.Plus(ffn2.call(nn.functional.silu(ffn1.call(ffn_norm.call(x)))));
        return scope.MoveToOuter(x);
    }
}
