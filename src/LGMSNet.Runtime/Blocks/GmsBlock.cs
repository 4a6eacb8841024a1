using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>Global multiscale block (ARCHITECTURE.md §2.6): conv 3x3 → conv 1x1 → split channels:
/// the first <c>a</c> go through a sparse transformer (attention across patches, per intra-patch
/// offset), the other <c>b</c> through a depthwise conv branch with a residual; concat → conv 1x1 →
/// concat with the block input → conv 3x3. Children: <c>conv1</c>, <c>conv2</c>, <c>conv_branch</c>,
/// <c>transformer.{l}</c>, <c>conv3</c>, <c>conv4</c>.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class GmsBlock : nn.Module<Tensor, Tensor>
{
    private readonly ConvNormAct conv1;
    private readonly ConvNormAct conv2;
    private readonly ConvBranch? conv_branch;
    private readonly ModuleList<TransformerLayer>? transformer;
    private readonly ConvNormAct conv3;
    private readonly ConvNormAct conv4;
    private readonly int _transformerChannels;
    private readonly int _convChannels;
    private readonly int[] _patch;
    private readonly int _dims;

    /// <param name="transformerChannels">a: channels through the sparse transformer (0: none).</param>
    /// <param name="convChannels">b: channels through the conv branch (0: none); a + b = <paramref name="outChannels"/>.</param>
    /// <param name="patch">patch size per spatial axis.</param>
    /// <param name="heads">attention heads.</param>
    /// <param name="headDim">width of each head.</param>
    /// <param name="mlp">hidden width of the transformer MLP.</param>
    /// <param name="depth">transformer layers.</param>
    public GmsBlock(int dims, int inChannels, int outChannels, int transformerChannels, int convChannels, IReadOnlyList<int> patch,
        int heads, int headDim, int mlp, int depth, NormSpec norm) : base(nameof(GmsBlock))
    {
        if (transformerChannels + convChannels != outChannels)
            throw new ArgumentException($"split [{transformerChannels}, {convChannels}] must sum to {outChannels}");
        if (patch.Count != dims)
            throw new ArgumentException($"patch needs {dims} sizes");
        _dims = dims;
        _transformerChannels = transformerChannels;
        _convChannels = convChannels;
        _patch = patch.ToArray();
        conv1 = new ConvNormAct(dims, inChannels, outChannels, 3, bias: false, norm, Activation.SiLU);
        conv2 = new ConvNormAct(dims, outChannels, outChannels, 1, bias: false, norm, Activation.SiLU);
        if (convChannels > 0) conv_branch = new ConvBranch(dims, convChannels);
        if (transformerChannels > 0)
            transformer = new ModuleList<TransformerLayer>(Enumerable.Range(0, depth)
                .Select(_ => new TransformerLayer(transformerChannels, heads, headDim, mlp)).ToArray());
        conv3 = new ConvNormAct(dims, outChannels, outChannels, 1, bias: false, norm, Activation.SiLU);
        conv4 = new ConvNormAct(dims, outChannels + inChannels, outChannels, 3, bias: false, norm, Activation.SiLU);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = conv2.call(conv1.call(input));
        int a = _transformerChannels, b = _convChannels;
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
            long p = _patch[axis], size = x.shape[2 + axis];
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
        for (int axis = 0; axis < _dims; axis++) shape.Add(_patch[axis]);
        for (int axis = 0; axis < _dims; axis++) shape.Add(spatialShape[2 + axis] / _patch[axis]);
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
