using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Blocks;

/// <summary>Tensor arithmetic that never lets a native <see cref="Scalar"/> die mid-call.
/// In TorchSharp 0.107 every <c>a + b</c>, <c>a - b</c>, <c>2 * a</c> or <c>a.add_(1)</c> converts a
/// number into a temporary <see cref="Scalar"/> and passes only its handle to libtorch; nothing keeps the
/// object alive during the native call, so a garbage collection on another thread can finalize it and
/// free the native scalar while libtorch reads it ("Unknown scalar type", or worse). It happened here in
/// a long training run. Everything on the hot paths therefore goes through these helpers, which use
/// rooted (static) scalars or keep per-call scalars alive until the call has returned.</summary>
public static class SafeOps
{
    public static readonly Scalar Zero = 0.0.ToScalar();
    public static readonly Scalar One = 1.0.ToScalar();
    public static readonly Scalar MinusOne = (-1.0).ToScalar();
    public static readonly Scalar LongOne = 1L.ToScalar();

    /// <summary>a + b.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a − b.</summary>
    public static Tensor Minus(this Tensor a, Tensor b) => a.add(b, MinusOne);

    /// <summary>a += b (in place).</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>a + c for a number c.</summary>
    public static Tensor Plus(this Tensor a, double c) => WithScalar(a, c, static (t, s) => t.add(s, One));

    /// <summary>a · c for a number c.</summary>
    public static Tensor Times(this Tensor a, double c) => WithScalar(a, c, static (t, s) => t.mul(s));

    /// <summary>c − a for a number c.</summary>
    public static Tensor SubtractedFrom(this Tensor a, double c) => WithScalar(a, c, static (t, s) =>
    {
        using var negated = t.neg();
        return negated.add(s, One);
    });

    /// <summary>a += b · alpha (in place).</summary>
    public static Tensor AddScaledInPlace(this Tensor a, Tensor b, double alpha)
    {
        using var scalar = alpha.ToScalar();
        return a.add_(b, scalar);
    }

    /// <summary>a · c (in place).</summary>
    public static Tensor ScaleInPlace(this Tensor a, double c) => WithScalar(a, c, static (t, s) => t.mul_(s));

    /// <summary>a &gt; c, elementwise.</summary>
    public static Tensor Greater(this Tensor a, double c) => WithScalar(a, c, static (t, s) => t.gt(s));

    /// <summary>max(a, c), elementwise.</summary>
    public static Tensor AtLeast(this Tensor a, double c) => WithScalar(a, c, static (t, s) => t.clamp_min(s));

    /// <summary>Runs <paramref name="op"/> with <paramref name="c"/> as a native scalar that stays alive
    /// (and is freed) exactly around the call.</summary>
    private static Tensor WithScalar(Tensor a, double c, Func<Tensor, Scalar, Tensor> op)
    {
        using var scalar = c.ToScalar();
        return op(a, scalar);
    }
}
