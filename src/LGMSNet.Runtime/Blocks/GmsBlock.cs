using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>Options of a GMS block: channel split between the transformer (a) and conv (b)
/// branches, patch size per axis, attention heads and head width, MLP width, transformer depth.</summary>
public sealed class GmsOptions
{
    public GmsOptions(int transformerChannels, int convChannels, int[] patch, int heads, int headDim, int mlp, int depth)
    {
        TransformerChannels = transformerChannels;
        ConvChannels = convChannels;
        Patch = patch.ToArray();
        Heads = heads;
        HeadDim = headDim;
        Mlp = mlp;
        Depth = depth;
    }

    public int TransformerChannels { get; }
    public int ConvChannels { get; }
    public IReadOnlyList<int> Patch { get; }
    public int Heads { get; }
    public int HeadDim { get; }
    public int Mlp { get; }
    public int Depth { get; }
}

/// <summary>Global multiscale block (ARCHITECTURE.md §2.6): conv 3x3 → conv 1x1 → split channels:
/// the first <c>a</c> go through a sparse transformer (attention across patches, per intra-patch
/// offset), the other <c>b</c> through a depthwise conv branch with a residual; concat → conv 1x1 →
/// concat with the block input → conv 3x3. Children: <c>conv1</c>, <c>conv2</c>, <c>conv_branch</c>,
/// <c>transformer.{l}</c>, <c>conv3</c>, <c>conv4</c>.</summary>
public sealed class GmsBlock : nn.Module<Tensor, Tensor>
{
    private readonly ConvNormAct conv1;
    private readonly ConvNormAct conv2;
    private readonly ConvBranch? conv_branch;
    private readonly ModuleList<TransformerLayer>? transformer;
    private readonly ConvNormAct conv3;
    private readonly ConvNormAct conv4;
    private readonly GmsOptions _options;
    private readonly int _dims;

    public GmsBlock(int dims, int inChannels, int outChannels, GmsOptions options, NormSpec norm) : base(nameof(GmsBlock))
    {
        if (options.TransformerChannels + options.ConvChannels != outChannels)
            throw new ArgumentException($"split [{options.TransformerChannels}, {options.ConvChannels}] must sum to {outChannels}");
        if (options.Patch.Count != dims)
            throw new ArgumentException($"patch needs {dims} sizes");
        _dims = dims;
        _options = options;
        conv1 = new ConvNormAct(dims, inChannels, outChannels, 3, bias: false, norm, Activation.SiLU);
        conv2 = new ConvNormAct(dims, outChannels, outChannels, 1, bias: false, norm, Activation.SiLU);
        if (options.ConvChannels > 0) conv_branch = new ConvBranch(dims, options.ConvChannels);
        if (options.TransformerChannels > 0)
            transformer = new ModuleList<TransformerLayer>(Enumerable.Range(0, options.Depth)
                .Select(_ => new TransformerLayer(options.TransformerChannels, options.Heads, options.HeadDim, options.Mlp)).ToArray());
        conv3 = new ConvNormAct(dims, outChannels, outChannels, 1, bias: false, norm, Activation.SiLU);
        conv4 = new ConvNormAct(dims, outChannels + inChannels, outChannels, 3, bias: false, norm, Activation.SiLU);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = conv2.call(conv1.call(input));
        int a = _options.TransformerChannels, b = _options.ConvChannels;
        var parts = new List<Tensor>(2);
        if (transformer is not null)
        {
            var tokens = Unfold(x.narrow(1, 0, a));
            foreach (var layer in transformer) tokens = layer.call(tokens);
            parts.Add(Fold(tokens, x.shape));
        }
        if (conv_branch is not null)
        {
            var local = x.narrow(1, a, b);
            parts.Add(conv_branch.call(local).Plus(local));
        }
        var fused = conv3.call(parts.Count == 1 ? parts[0] : torch.cat(parts.ToArray(), 1));
        return scope.MoveToOuter(conv4.call(torch.cat(new[] { fused, input }, 1)));
    }

    /// <summary>[B, a, S1..Sd] → [B, P, N, a]: sequence p is the sub-grid at intra-patch offset p
    /// (row-major over the patch), token n runs row-major over the patch grid (ARCHITECTURE.md §2.6, §5).</summary>
    private Tensor Unfold(Tensor x)
    {
        var shape = new List<long> { x.shape[0], x.shape[1] };
        long sequences = 1, tokens = 1;
        for (int axis = 0; axis < _dims; axis++)
        {
            long p = _options.Patch[axis], size = x.shape[2 + axis];
            shape.Add(size / p);
            shape.Add(p);
            sequences *= p;
            tokens *= size / p;
        }
        // Axes after the view: 0 batch, 1 channel, 2+2i grid index of axis i, 3+2i offset in axis i.
        var order = new List<long> { 0 };
        for (int axis = 0; axis < _dims; axis++) order.Add(3 + 2 * axis);
        for (int axis = 0; axis < _dims; axis++) order.Add(2 + 2 * axis);
        order.Add(1);
        return x.reshape(shape.ToArray()).permute(order.ToArray()).reshape(x.shape[0], sequences, tokens, x.shape[1]);
    }

    /// <summary>The exact inverse of <see cref="Unfold"/>.</summary>
    private Tensor Fold(Tensor tokens, long[] spatialShape)
    {
        long batch = tokens.shape[0], channels = tokens.shape[3];
        var shape = new List<long> { batch };
        for (int axis = 0; axis < _dims; axis++) shape.Add(_options.Patch[axis]);
        for (int axis = 0; axis < _dims; axis++) shape.Add(spatialShape[2 + axis] / _options.Patch[axis]);
        shape.Add(channels);
        // Axes after the view: 0 batch, 1..d offsets, d+1..2d grid indices, 2d+1 channel.
        var order = new List<long> { 0, 2 * _dims + 1 };
        for (int axis = 0; axis < _dims; axis++)
        {
            order.Add(_dims + 1 + axis);
            order.Add(1 + axis);
        }
        var output = new List<long> { batch, channels };
        for (int axis = 0; axis < _dims; axis++) output.Add(spatialShape[2 + axis]);
        return tokens.reshape(shape.ToArray()).permute(order.ToArray()).reshape(output.ToArray());
    }
}

/// <summary>The GMS conv branch: depthwise 3x3 → BatchNorm → ReLU → depthwise 1x1 → BatchNorm
/// (BatchNorm in 3D too, as in the reference). Children: <c>depthwise</c>, <c>norm1</c>,
/// <c>pointwise</c>, <c>norm2</c>. The block adds the residual.</summary>
public sealed class ConvBranch : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly Convolution depthwise;
    private readonly BatchNormLayer norm1;
    private readonly Convolution pointwise;
    private readonly BatchNormLayer norm2;
    private bool _fused;

    public ConvBranch(int dims, int channels) : base(nameof(ConvBranch))
    {
        depthwise = Primitives.Conv(dims, channels, channels, 3, groups: channels, bias: false);
        norm1 = Primitives.BatchNorm(dims, channels);
        pointwise = Primitives.Conv(dims, channels, channels, 1, groups: channels, bias: false);
        norm2 = Primitives.BatchNorm(dims, channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = depthwise.call(x);
        if (!_fused) y = norm1.call(y);
        y = pointwise.call(nn.functional.relu(y));
        if (!_fused) y = norm2.call(y);
        return scope.MoveToOuter(y);
    }

    public void FuseForInference()
    {
        if (_fused) return;
        using var _ = no_grad();
        foreach (var (conv, norm) in new[] { (depthwise, norm1), (pointwise, norm2) })
        {
            var (scale, shift) = Primitives.BatchNormAffine(norm);
            Primitives.SetConvParameters(conv, conv.weight! * Primitives.PerOutputChannel(scale, conv.weight!), shift);
        }
        _fused = true;
    }
}

/// <summary>One pre-norm transformer layer on [B, P, N, a] tokens: x + Attention(LN(x)), then
/// x + MLP(LN(x)) with SiLU. Attention width is heads × head_dim (4 × 8 = 32 in the reference),
/// independent of a. Children: <c>attn_norm</c>, <c>qkv</c>, <c>proj</c>, <c>ffn_norm</c>, <c>ffn1</c>, <c>ffn2</c>.</summary>
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
