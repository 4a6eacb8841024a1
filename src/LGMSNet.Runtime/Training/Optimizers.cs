using LGMSNet.Runtime.Blocks;
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
    private readonly bool[] _hadGradient;

    public Optimizer(OptimizerKind kind, IEnumerable<(string Name, Parameter Parameter)> parameters, double learningRate,
        double momentum = 0.9, double weightDecay = 1e-4, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        Kind = kind;
        _parameters = parameters.Where(p => p.Parameter.requires_grad).ToList();
        _hadGradient = new bool[_parameters.Count];
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

    /// <summary>Drops the gradients (as PyTorch 2's <c>zero_grad(set_to_none=True)</c>): the next backward pass then
    /// hands each parameter its gradient as computed, instead of zero-filling every gradient here and adding the new
    /// one onto the zeros. A parameter that had a gradient before and gets none from a backward pass is still stepped
    /// as with a zero gradient, as PyTorch 1.13's zero-filling <c>zero_grad()</c> did (see <see cref="Step"/>).</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in _parameters)
            p.grad = null;
    }

    public void Step()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope(); // the gradients' handles, and zeros for a parameter that got no gradient
        Steps++;
        for (int i = 0; i < _parameters.Count; i++)
        {
            if (GradientOf(i) is not { } grad) continue;
            var (name, p) = _parameters[i];
            if (Kind == OptimizerKind.Sgd) SgdStep(name, p, grad);
            else AdamWStep(name, p, grad);
        }
    }

    /// <summary>The parameter's gradient from the last backward pass; zeros for a parameter that had one in an earlier
    /// step and got none this time (what a zero-filled gradient would have held); null for one that never had one.</summary>
    private Tensor? GradientOf(int index)
    {
        var p = _parameters[index].Parameter;
        var grad = p.grad;
        if (grad is not null) _hadGradient[index] = true;
        else if (_hadGradient[index]) grad = zeros_like(p);
        return grad;
    }

    private void SgdStep(string name, Tensor p, Tensor grad)
    {
        using var scope = NewDisposeScope();
        var d = grad;
        if (WeightDecay != 0)
        {
            d = grad.clone();
            d.AddScaledInPlace(p, WeightDecay);
        }
        if (Momentum != 0)
        {
            if (_state.TryGetValue(name + ".momentum_buffer", out var buffer))
                buffer.ScaleInPlace(Momentum).PlusInPlace(d);
            else
                _state[name + ".momentum_buffer"] = buffer = d.clone().DetachFromDisposeScope(); // lives as long as the optimizer
            d = buffer;
        }
        p.AddScaledInPlace(d, -LearningRate);
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
        p.ScaleInPlace(1 - LearningRate * WeightDecay);
        m.ScaleInPlace(Beta1).AddScaledInPlace(grad, 1 - Beta1);
        v.ScaleInPlace(Beta2).AddScaledInPlace(grad * grad, 1 - Beta2);
        double correction1 = 1 - Math.Pow(Beta1, Steps), correction2 = 1 - Math.Pow(Beta2, Steps);
        var denominator = v.Times(1 / correction2).sqrt().Plus(Epsilon);
        p.AddScaledInPlace(m / denominator, -LearningRate / correction1);
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

public enum ScheduleKind { Poly, WarmupCosine }

/// <summary>The learning rate of the next optimizer step, from the epoch (1-based) and the steps taken so far.</summary>
public abstract record LearningRateSchedule(double BaseRate)
{
    public abstract double Rate(int epoch, long stepsTaken);
}

/// <summary>The 2D reference's poly schedule (main.py): after optimizer step i (0-based) it sets
/// lr = base · (1 − i/total)^0.9, so steps 1 and 2 both use the base rate.</summary>
public sealed record PolySchedule(double BaseRate, long TotalSteps, double Power = 0.9) : LearningRateSchedule(BaseRate)
{
    public override double Rate(int epoch, long stepsTaken) => stepsTaken <= 1
        ? BaseRate
        : BaseRate * Math.Pow(Math.Max(0, 1 - (double)(stepsTaken - 1) / Math.Max(1, TotalSteps)), Power);
}

/// <summary>The 3D reference's schedule (main3d.py: LinearWarmupCosineAnnealingLR with warm-up start
/// and minimum 0, stepped per epoch): linear from 0 over the warm-up epochs, then half a cosine to 0.</summary>
public sealed record WarmupCosineSchedule(double BaseRate, int WarmupEpochs, int Epochs) : LearningRateSchedule(BaseRate)
{
    public override double Rate(int epoch, long stepsTaken)
    {
        int e = epoch - 1;
        if (e < WarmupEpochs) return WarmupEpochs <= 1 ? BaseRate : BaseRate * e / (WarmupEpochs - 1);
        return 0.5 * BaseRate * (1 + Math.Cos(Math.PI * (e - WarmupEpochs) / Math.Max(1, Epochs - WarmupEpochs)));
    }
}
