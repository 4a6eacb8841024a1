using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>Local multiscale block (ARCHITECTURE.md §2.5): the channels are cut into one slice per
/// kernel, each slice gets a depthwise convolution of its own size, the results are concatenated and
/// the input added; GroupNorm → GELU → 1x1 bottleneck (C → C/r) → 3x3 back to C; input added again.
/// Children: <c>dwconv.{i}</c>, <c>norm</c>, <c>reduce</c>, <c>expand</c>.</summary>
/// <remarks>Counted without TorchSharp by <see cref="LGMSNet.Dsl.Planning.Layers"/>; kept in agreement by
/// GeneratorTests.Every_block_type_builds_exactly_the_layers_the_compiler_lowers_it_to.</remarks>
public sealed class LmsBlock : nn.Module<Tensor, Tensor>, IFusable
{
    private readonly ModuleList<Convolution> dwconv;
    private readonly GroupNorm norm;
    private readonly ConvNormAct reduce;
    private readonly ConvNormAct expand;
    private readonly int _dims;
    private readonly int[] _kernels;
    private Convolution? _merged; // inference form: one depthwise conv holding every kernel

    public LmsBlock(int dims, int channels, IReadOnlyList<int> kernels, int groups, int reduction, NormSpec norm) : base(nameof(LmsBlock))
    {
        _dims = dims;
        _kernels = kernels.ToArray();
        int slice = channels / _kernels.Length;
        dwconv = new ModuleList<Convolution>(_kernels.Select(k => Primitives.Conv(dims, slice, slice, k, groups: slice, bias: true)).ToArray());
        this.norm = Primitives.GroupNorm(groups, channels);
        reduce = new ConvNormAct(dims, channels, channels / reduction, 1, bias: false, norm, Activation.SiLU);
        expand = new ConvNormAct(dims, channels / reduction, channels, 3, bias: false, norm, Activation.SiLU);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor y;
        if (_merged is not null)
        {
            y = _merged.call(x); // includes the first residual (identity tap)
        }
        else
        {
            var slices = x.chunk(_kernels.Length, 1);
            var mixed = torch.cat(slices.Select((s, i) => dwconv[i].call(s)).ToArray(), 1);
            y = Primitives.AddOwned(mixed, x);
        }
        y = Primitives.ActivateOwned(norm.call(y), Activation.GELU);
        y = expand.call(reduce.call(y));
        return scope.MoveToOuter(Primitives.AddOwned(y, x));
    }

    /// <summary>Merges the per-slice depthwise convolutions into one depthwise convolution whose
    /// kernels are zero-padded to the largest size and centred (equal by construction: padding
    /// k/2 keeps every slice aligned), with the first residual added as +1 on the centre tap.</summary>
    public void FuseForInference()
    {
        if (_merged is not null) return;
        using var _ = no_grad();
        int largest = _kernels.Max();
        long slice = dwconv[0].weight!.shape[0];
        long channels = slice * _kernels.Length;
        var merged = Primitives.Conv(_dims, channels, channels, largest, groups: channels, bias: true);
        var shape = new List<long> { channels, 1 };
        shape.AddRange(Enumerable.Repeat((long)largest, _dims));
        var weight = zeros(shape.ToArray(), dtype: dwconv[0].weight!.dtype, device: dwconv[0].weight!.device);
        var biases = new List<Tensor>();
        for (int i = 0; i < _kernels.Length; i++)
        {
            int offset = (largest - _kernels[i]) / 2;
            var target = weight.narrow(0, i * slice, slice);
            for (int axis = 0; axis < _dims; axis++) target = target.narrow(2 + axis, offset, _kernels[i]);
            target.copy_(dwconv[i].weight!);
            biases.Add(dwconv[i].bias!);
        }
        var centre = weight;
        for (int axis = 0; axis < _dims; axis++) centre = centre.narrow(2 + axis, largest / 2, 1);
        centre.add_(SafeOps.One, SafeOps.One);
        Primitives.SetConvParameters(merged, weight, torch.cat(biases.ToArray(), 0));
        register_module("merged", merged);
        _merged = merged;
    }
}
