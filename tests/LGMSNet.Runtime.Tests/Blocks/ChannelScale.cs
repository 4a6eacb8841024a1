using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Blocks;

/// <summary>A test-only user block that declares neither its cost nor its ONNX export, with options of every kind the
/// language reads (int, per-axis int[], fraction, enum, bool) and its output channels from an option: a learnable
/// per-channel scale, then a 1x1 convolution to <c>out</c> channels.</summary>
[LgmsBlock("scale", Description = "Per-channel scale, then a 1x1 convolution to 'out' channels.", ChannelsFrom = "out", InputDivisibleBy = ["2"])]
public sealed class ChannelScale : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // state_dict names
    private readonly TorchSharp.Modules.Parameter weight;
    private readonly nn.Module<Tensor, Tensor> project;
#pragma warning restore IDE1006
    private readonly double _mix;
    private readonly bool _gate;

    public ChannelScale(int dims, int inChannels, int outChannels,
        [LgmsOption(Min = 1, Max = 4096, Description = "Output channels.")] int @out,
        [LgmsOption(PerAxis = true, Min = 1, Max = 7, Default = [1])] int[] kernel,
        [LgmsOption(Description = "Blend of scaled and plain input.")] double mix = 0.5,
        Squash squash = Squash.HardTanh,
        bool gate = false)
        : base(nameof(ChannelScale))
    {
        if (outChannels != @out) throw new ArgumentException("the planner passes out as outChannels");
        weight = nn.Parameter(ones(inChannels));
        var size = kernel.Select(k => (long)k).ToArray();
        var padding = size.Select(k => k / 2).ToArray();
        project = dims == 2 ? nn.Conv2d(inChannels, outChannels, (size[0], size[1]), padding: (padding[0], padding[1]))
            : nn.Conv3d(inChannels, outChannels, (size[0], size[1], size[2]), padding: (padding[0], padding[1], padding[2]));
        _mix = mix;
        _gate = gate;
        Squashing = squash;
        RegisterComponents();
    }

    public Squash Squashing { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[1] = x.shape[1];
        var scaled = x * weight.view(shape);
        var y = project.call(_mix * scaled + (1 - _mix) * x);
        if (_gate) y = nn.functional.sigmoid(y) * y;
        return scope.MoveToOuter(Squashing == Squash.HardTanh ? nn.functional.hardtanh(y, -10, 10) : y);
    }
}

public enum Squash { None, HardTanh }
