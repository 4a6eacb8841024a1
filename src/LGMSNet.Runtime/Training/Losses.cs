using LGMSNet.Runtime.Blocks;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Training;

/// <summary>The reference's losses (ARCHITECTURE.md §6).</summary>
public static class Losses
{
    /// <summary>Binary: 0.5·BCEWithLogits (mean over all elements) + (1 − mean over samples of
    /// dice_b), dice_b = (2·Σσ(z)·t + 1e-5) / (Σσ(z) + Σt + 1e-5) — the authors' BCEDiceLoss.</summary>
    public static Tensor BceDice(Tensor logits, Tensor target)
    {
        using var scope = NewDisposeScope();
        var t = target.to_type(logits.dtype);
        var bce = nn.functional.binary_cross_entropy_with_logits(logits, t);
        long batch = logits.shape[0];
        var probabilities = logits.sigmoid().reshape(batch, -1);
        var flat = t.reshape(batch, -1);
        const double smooth = 1e-5;
        var dice = (probabilities * flat).sum(1).Times(2).Plus(smooth) / probabilities.sum(1).Plus(flat.sum(1)).Plus(smooth);
        return scope.MoveToOuter(bce.Times(0.5).Plus(dice.mean().SubtractedFrom(1)));
    }

    /// <summary>Multi-class: mean cross-entropy + soft Dice over (batch, class) with softmax
    /// probabilities, squared denominators and smoothing 1e-6 in the denominator only — MONAI's
    /// DiceCELoss(to_onehot_y, softmax, squared_pred, smooth_nr=0, smooth_dr=1e-6) as main3d.py uses it.
    /// <paramref name="labels"/> holds class indices, shaped [B, 1, ...] or [B, ...].</summary>
    public static Tensor CrossEntropyDice(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var indices = (labels.dim() == logits.dim() ? labels.squeeze(1) : labels).to_type(ScalarType.Int64);
        var ce = nn.functional.cross_entropy(logits, indices);
        long batch = logits.shape[0], classes = logits.shape[1];
        var probabilities = logits.softmax(1).reshape(batch, classes, -1);
        var onehot = nn.functional.one_hot(indices.reshape(batch, -1), classes).permute(0, 2, 1).to_type(logits.dtype);
        var intersection = (probabilities * onehot).sum(2);
        var denominator = (onehot * onehot).sum(2).Plus((probabilities * probabilities).sum(2)).Plus(1e-6);
        var dice = (intersection.Times(2) / denominator).SubtractedFrom(1);
        return scope.MoveToOuter(ce.Plus(dice.mean()));
    }

    /// <summary>The loss the recipe uses for a network with <paramref name="classes"/> outputs.</summary>
    public static Tensor ForClasses(int classes, Tensor logits, Tensor target) =>
        classes == 1 ? BceDice(logits, target) : CrossEntropyDice(logits, target);
}
