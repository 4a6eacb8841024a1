using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>Several blocks applied in order (a YAML list entry). Children: <c>0</c>, <c>1</c>, ...</summary>
public sealed class BlockSequence : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor>[] _blocks;

    public BlockSequence(params nn.Module<Tensor, Tensor>[] blocks) : base(nameof(BlockSequence))
    {
        _blocks = blocks;
        for (int i = 0; i < blocks.Length; i++) register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), blocks[i]);
    }

    public IReadOnlyList<nn.Module<Tensor, Tensor>> Blocks => _blocks;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var block in _blocks) x = block.call(x);
        return scope.MoveToOuter(x);
    }
}
