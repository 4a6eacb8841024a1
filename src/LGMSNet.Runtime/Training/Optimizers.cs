using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Training;

public enum OptimizerKind { Sgd, AdamW }

/// <summary>SGD (momentum, coupled weight decay) and AdamW with exactly PyTorch's update rules.
/// Written here rather than taken from TorchSharp so that the whole state (per-parameter
/// buffers, step count) is plain named tensors that checkpoints save and restore exactly.</summary>
public sealed class Optimizer : IDisposable
{
    private readonly IReadOnlyList<(string Name, Parameter Parameter)> _parameters;
    private readonly Dictionary<string, Tensor> _state = new(StringComparer.Ordinal);

    public Optimizer(OptimizerKind kind, IEnumerable<(string Name, Parameter Parameter)> parameters, double learningRate,
        double momentum = 0.9, double weightDecay = 1e-4, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        Kind = kind;
        _parameters = parameters.Where(p => p.Parameter.requires_grad).ToList();
        LearningRate = learningRate;
        Momentum = momentum;
        WeightDecay = weightDecay;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    public OptimizerKind Kind { get; }

    /// <summary>The rate the next <see cref="Step"/> uses (the schedule updates it after each step).</summary>
    public double LearningRate { get; set; }

    public double Momentum { get; }

    public double WeightDecay { get; }

    public double Beta1 { get; }

    public double Beta2 { get; }

    public double Epsilon { get; }

    /// <summary>Number of steps taken.</summary>
    public long Steps { get; private set; }

    public void ZeroGrad()
    {
        foreach (var (_, p) in _parameters)
        {
            var grad = p.grad;
            if (grad is null) continue;
            grad.zero_();
        }
    }

    public void Step()
    {
        using var _ = no_grad();
        Steps++;
        foreach (var (name, p) in _parameters)
        {
            var grad = p.grad;
            if (grad is null) continue;
            if (Kind == OptimizerKind.Sgd) SgdStep(name, p, grad);
            else AdamWStep(name, p, grad);
        }
    }

    private void SgdStep(string name, Tensor p, Tensor grad)
    {
        using var scope = NewDisposeScope();
        var d = WeightDecay != 0 ? grad.add(p, alpha: WeightDecay) : grad;
        if (Momentum != 0)
        {
            if (_state.TryGetValue(name + ".momentum_buffer", out var buffer))
                buffer.mul_(Momentum).add_(d);
            else
                _state[name + ".momentum_buffer"] = buffer = d.clone().DetachFromDisposeScope(); // lives as long as the optimizer
            d = buffer;
        }
        p.add_(d, alpha: -LearningRate);
    }

    private void AdamWStep(string name, Tensor p, Tensor grad)
    {
        using var scope = NewDisposeScope();
        if (!_state.TryGetValue(name + ".exp_avg", out var m))
        {
            _state[name + ".exp_avg"] = m = zeros_like(p).DetachFromDisposeScope();
            _state[name + ".exp_avg_sq"] = zeros_like(p).DetachFromDisposeScope();
        }
        var v = _state[name + ".exp_avg_sq"];
        p.mul_(1 - LearningRate * WeightDecay);
        m.mul_(Beta1).add_(grad, alpha: 1 - Beta1);
        v.mul_(Beta2).addcmul_(grad, grad, value: 1 - Beta2);
        double correction1 = 1 - Math.Pow(Beta1, Steps), correction2 = 1 - Math.Pow(Beta2, Steps);
        var denominator = (v / correction2).sqrt_().add_(Epsilon);
        p.addcdiv_(m, denominator, value: -LearningRate / correction1);
    }

    /// <summary>The optimizer state as named tensors (keys "&lt;parameter&gt;.momentum_buffer", ...).</summary>
    public IReadOnlyDictionary<string, Tensor> State => _state;

    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long steps)
    {
        var known = new HashSet<string>(_parameters.Select(p => p.Name), StringComparer.Ordinal);
        foreach (var (key, value) in state)
        {
            int dot = key.LastIndexOf('.');
            if (dot < 0 || !known.Contains(key[..dot]))
                throw new InvalidDataException($"optimizer state '{key}' belongs to no parameter of this network");
            var parameter = _parameters.First(p => p.Name == key[..dot]).Parameter;
            if (!value.shape.SequenceEqual(parameter.shape))
                throw new InvalidDataException($"optimizer state '{key}' has shape [{string.Join(", ", value.shape)}], the parameter [{string.Join(", ", parameter.shape)}]");
            if (_state.Remove(key, out var old)) old.Dispose();
            _state[key] = value.to(parameter.device).to_type(parameter.dtype).DetachFromDisposeScope();
        }
        Steps = steps;
    }

    public void Dispose()
    {
        foreach (var tensor in _state.Values) tensor.Dispose();
        _state.Clear();
    }
}

/// <summary>The reference's poly schedule: lr = base · (1 − step/total)^0.9, applied after each step
/// (so the first step uses the base rate).</summary>
public sealed record PolySchedule(double BaseRate, long TotalSteps, double Power = 0.9)
{
    public double RateAfter(long stepsTaken) =>
        BaseRate * Math.Pow(Math.Max(0, 1 - (double)stepsTaken / Math.Max(1, TotalSteps)), Power);
}
