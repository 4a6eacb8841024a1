using System.Runtime.Intrinsics;

namespace LGMSNet.Runtime.Blocks;

/// <summary>An elementwise function on 8 floats, for the runtime's own kernels to apply inside a pass over memory that
/// they make anyway (<see cref="InstanceNormKernel"/>: a block's activation after its norm). A struct type
/// argument, so each kernel is compiled with the function inlined.</summary>
internal interface IVectorFunction
{
    static abstract Vector256<float> Apply(Vector256<float> x);
}

/// <summary>No function.</summary>
internal readonly struct Identity : IVectorFunction
{
    public static Vector256<float> Apply(Vector256<float> x) => x;
}

/// <summary>max(x, 0), as libtorch's relu.</summary>
internal readonly struct Relu : IVectorFunction
{
    public static Vector256<float> Apply(Vector256<float> x) => Vector256.Max(x, Vector256<float>.Zero);
}

/// <summary>x / (1 + e^−x), as libtorch's silu.</summary>
internal readonly struct Silu : IVectorFunction
{
    public static Vector256<float> Apply(Vector256<float> x) => x / (Vector256<float>.One + Vector256.Exp(-x));
}

/// <summary>The exact (erf) GELU, ½·x·(1 + erf(x/√2)), with libtorch's vectorised erf on the CPU: Abramowitz and
/// Stegun 7.1.26, erf(z) = 1 − (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵)·e^−z², t = 1/(1 + p·|z|), odd in z (absolute error
/// at most 1.5e-7).</summary>
internal readonly struct Gelu : IVectorFunction
{
    public static Vector256<float> Apply(Vector256<float> x) =>
        Vector256.Create(0.5f) * x * (Vector256<float>.One + Erf(x * Vector256.Create(0.70710678118654752f)));

    private static Vector256<float> Erf(Vector256<float> z)
    {
        var sign = z & Vector256.Create(-0.0f);
        var magnitude = Vector256.Abs(z);
        var t = Vector256<float>.One / Vector256.FusedMultiplyAdd(Vector256.Create(0.3275911f), magnitude, Vector256<float>.One);
        var polynomial = Vector256.FusedMultiplyAdd(Vector256.Create(1.061405429f), t, Vector256.Create(-1.453152027f));
        polynomial = Vector256.FusedMultiplyAdd(polynomial, t, Vector256.Create(1.421413741f));
        polynomial = Vector256.FusedMultiplyAdd(polynomial, t, Vector256.Create(-0.284496736f));
        polynomial = Vector256.FusedMultiplyAdd(polynomial, t, Vector256.Create(0.254829592f));
        var gaussian = Vector256.Exp(-(z * z));
        return Vector256.Xor(Vector256.FusedMultiplyAdd(-gaussian * t, polynomial, Vector256<float>.One), sign);
    }
}
