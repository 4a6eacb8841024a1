using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>BatchNorm over 2D or 3D maps with PyTorch's semantics (eps 1e-5, momentum 0.1, affine,
/// running statistics with the unbiased variance, <c>num_batches_tracked</c>) and PyTorch's state_dict
/// names. Written here rather than taken from TorchSharp because TorchSharp's increments
/// <c>num_batches_tracked</c> with a temporary native scalar that can be freed mid-call (see
/// <see cref="SafeOps"/>).</summary>
public sealed class BatchNormLayer : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Tensor running_mean;
    private readonly Tensor running_var;
    private readonly Tensor num_batches_tracked;

    public BatchNormLayer(long channels, double eps = 1e-5, double momentum = 0.1) : base(nameof(BatchNormLayer))
    {
        Eps = eps;
        Momentum = momentum;
        weight = new Parameter(ones(channels));
        bias = new Parameter(zeros(channels));
        running_mean = zeros(channels);
        running_var = ones(channels);
        num_batches_tracked = tensor(0L);
        RegisterComponents();
    }

    public double Eps { get; }

    public double Momentum { get; }

    public Tensor Weight => weight;

    public Tensor Bias => bias;

    public Tensor RunningMean => running_mean;

    public Tensor RunningVar => running_var;

    public override Tensor forward(Tensor x)
    {
        if (!training) return nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training: false, Momentum, Eps);
        using (no_grad())
            num_batches_tracked.add_(SafeOps.LongOne, SafeOps.LongOne);
        return Primitives.TrainingBatchNorm(x, running_mean, running_var, weight, bias, Momentum, Eps);
    }
}
