using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>An <c>lms</c> entry: <c>depth</c> LMS blocks at the input width (children
/// <c>blocks.{i}</c>), then a 1x1 conv-norm-SiLU to the level width (<c>project</c>).</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class LmsUnit : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<LmsBlock> blocks;
    private readonly ConvNormAct project;

    public LmsUnit(int dims, int inChannels, int outChannels, int[] kernels, int depth, int groups, int reduction, NormSpec norm)
        : base(nameof(LmsUnit))
    {
        blocks = new ModuleList<LmsBlock>(Enumerable.Range(0, depth)
            .Select(_ => new LmsBlock(dims, inChannels, kernels, groups, reduction, norm)).ToArray());
        project = new ConvNormAct(dims, inChannels, outChannels, 1, bias: false, norm, Activation.SiLU);
        RegisterComponents();
    }

    public IReadOnlyList<LmsBlock> Blocks => blocks.ToList();

    public ConvNormAct Project => project;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var block in blocks) x = block.call(x);
        return scope.MoveToOuter(project.call(x));
    }
}
