using LGMSNet.Dsl.Planning;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Network;

/// <summary>Counts multiply-adds from what TorchSharp actually computes, independently of the compiler's
/// cost code (<see cref="Costs"/>): a forward hook on every module that owns a weight of rank ≥ 2
/// (convolutions, linear layers, the head) adds output elements ÷ output channels × weight elements,
/// and a hook on every attention input projection (<c>*.qkv</c>, output [B, P, N, 3·h·d]) adds the two
/// attention products, 2 · (B·P·N·h·d) · N. Bias adds, norms, activations and resampling are not counted,
/// the convention of shared/reference/README.md.</summary>
public sealed class MacCounter : IDisposable
{
    private readonly List<Action> _removers = new();

    public long Convolution { get; private set; }
    public long Linear { get; private set; }
    public long Attention { get; private set; }

    public MacCount Total => new(Convolution, Linear, Attention);

    public MacCounter(nn.Module network)
    {
        foreach (var (name, module) in network.named_modules())
        {
            if (module is not nn.Module<Tensor, Tensor> typed) continue;
            var weight = module.named_parameters(recurse: false).Where(p => p.name == "weight" && p.parameter.dim() >= 2)
                .Select(p => p.parameter).FirstOrDefault();
            bool isQkv = name == "qkv" || name.EndsWith(".qkv", StringComparison.Ordinal);
            if (weight is null) continue;
            long weightElements = weight.numel();
            long outChannels = weight.shape[0];
            bool isConv = weight.dim() > 2;
            var handle = typed.register_forward_hook((_, _, output) =>
            {
                // A convolution's output is [B, C, ...]; a linear layer's is [..., C].
                long channels = isConv ? output.shape[1] : output.shape[^1];
                if (channels != outChannels) throw new InvalidOperationException($"{name}: output has {channels} channels, weight {outChannels}");
                long macs = output.numel() / outChannels * weightElements;
                if (isConv) Convolution += macs;
                else Linear += macs;
                if (isQkv) Attention += 2 * (output.numel() / 3) * output.shape[^2];
                return output;
            });
            _removers.Add(() => handle.remove());
        }
    }

    public void Dispose()
    {
        foreach (var remove in _removers) remove();
    }
}
