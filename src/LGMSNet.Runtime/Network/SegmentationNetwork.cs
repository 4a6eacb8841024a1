using LGMSNet.Runtime.Blocks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Network;

/// <summary>Receives each stage's output during a forward pass (stage names as in the plan).</summary>
public delegate void StageObserver(string stage, Tensor output);

/// <summary>Base of every generated module: input checks, dispose-scoped forward, stage capture,
/// and the switch to the fused inference form.</summary>
public abstract class SegmentationNetwork : nn.Module<Tensor, Tensor>
{
    protected SegmentationNetwork(ArchitectureInfo info) : base(info.Name) => Architecture = info;

    public ArchitectureInfo Architecture { get; }

    /// <summary>True after <see cref="FuseForInference"/>: faster, equal in eval mode, not trainable.</summary>
    public bool IsFusedForInference { get; private set; }

    public override Tensor forward(Tensor input) => Run(input, null, null);

    /// <summary>Runs the network, calling <paramref name="observe"/> after each stage (stage outputs are
    /// released when this returns; only the logits are kept).</summary>
    public Tensor ForwardObserved(Tensor input, StageObserver observe) => Run(input, observe, null);

    /// <summary>Runs the network and returns every stage's output (stem, encoder1.., up.., decoder.., head).</summary>
    public Dictionary<string, Tensor> ForwardStages(Tensor input)
    {
        var stages = new Dictionary<string, Tensor>();
        var logits = Run(input, null, stages);
        if (!stages.Values.Any(s => ReferenceEquals(s, logits))) logits.Dispose();
        return stages;
    }

    /// <summary>The one forward path: input checks, a dispose scope (intermediates are freed), and for a
    /// fused network inference mode. Each convolution puts its weight (and, for a contiguous one, its input) in its own
    /// layout before it runs (<see cref="ConvolutionLayout"/>), so the result is right however the network was built,
    /// loaded or fused; outputs are returned contiguous. Stage outputs named in <paramref name="keep"/> survive the scope.</summary>
    private Tensor Run(Tensor input, StageObserver? observe, Dictionary<string, Tensor>? keep)
    {
        CheckInput(input);
        Denormals.FlushOnThisThread();
        Allocator.KeepFreedMemory();
        if (!_layoutsGuarded) GuardConvolutionLayouts();
        using var scope = NewDisposeScope();
        using var mode = IsFusedForInference ? inference_mode(true) : null;
        var observer = keep == null ? observe : (stage, output) =>
        {
            keep[stage] = output.contiguous();
            observe?.Invoke(stage, output);
        };
        // A fused network's weights are channels-last; so is its input from the start (one copy, not one per stem).
        var logits = Forward(IsFusedForInference ? ConvolutionLayout.InLayout(input, channelsLast: true) : input, observer).contiguous();
        if (keep != null) scope.MoveToOuter(keep.Values.Where(t => !ReferenceEquals(t, logits)).ToArray());
        return scope.MoveToOuter(logits);
    }

    private volatile bool _layoutsGuarded;

    /// <summary>Before the first forward pass (and after fusing): every convolution gets the layout guard, also those of
    /// user blocks built with <c>nn.Conv2d</c> directly, and every weight is put in its layout in one go.</summary>
    private void GuardConvolutionLayouts()
    {
        foreach (var module in modules())
            if (module is Convolution conv) ConvolutionLayout.Attach(conv);
        PrepareConvolutionLayouts();
        _layoutsGuarded = true;
    }

    /// <summary>Puts every convolution weight in its layout now (<see cref="ConvolutionLayout"/>). Never needed for
    /// correctness — each convolution checks its layout before every call — but the trainer calls it before creating its
    /// optimizer, so optimizer state is created in the final layout, and fusing calls it.</summary>
    public void PrepareConvolutionLayouts()
    {
        foreach (var module in modules())
        {
            if (module is Convolution conv) ConvolutionLayout.PrepareWeight(conv);
            else if (module is ConvHead head) head.PrepareLayout();
        }
    }

    /// <summary>The generated forward pass; <paramref name="observe"/> sees each stage output.</summary>
    protected abstract Tensor Forward(Tensor input, StageObserver? observe);

    protected T Register<T>(string name, T module) where T : nn.Module
    {
        register_module(name, module);
        return module;
    }

    protected Tensor Downsample(Tensor x) => Primitives.MaxPool2x(x, Architecture.Dims);

    /// <summary>Skip connection: the encoder feature first, the up-sampled one second (the reference's order).</summary>
    protected static Tensor Concat(Tensor skip, Tensor up) => torch.cat(new[] { skip, up }, 1);

    /// <summary>Switches to eval mode and rewrites every block into its inference form (BatchNorm
    /// folded into convolutions, LMS kernels merged, weights in their layouts); forward passes
    /// then run in inference mode. Irreversible: training afterwards is refused.</summary>
    public void FuseForInference()
    {
        if (IsFusedForInference) return;
        eval();
        foreach (var module in modules())
            if (module is IFusable fusable) fusable.FuseForInference();
        GuardConvolutionLayouts();
        IsFusedForInference = true;
    }

    public override void train(bool train = true)
    {
        if (train && IsFusedForInference)
            throw new InvalidOperationException($"{Architecture.Name} was fused for inference and can no longer be trained; build a fresh module");
        base.train(train);
    }

    private void CheckInput(Tensor input)
    {
        if (input.dim() != Architecture.Dims + 2)
            throw new ArgumentException($"{Architecture.Name} expects a {Architecture.Dims + 2}-D tensor [batch, channels, " +
                (Architecture.Dims == 2 ? "height, width" : "depth, height, width") + $"], got shape [{string.Join(", ", input.shape)}]");
        if (input.shape[1] != Architecture.InChannels)
            throw new ArgumentException($"{Architecture.Name} expects {Architecture.InChannels} input channel(s), got {input.shape[1]}");
        string? problem = Architecture.CheckInputSize(input.shape.Skip(2).ToArray());
        if (problem != null) throw new ArgumentException($"{Architecture.Name}: {problem}");
    }
}
