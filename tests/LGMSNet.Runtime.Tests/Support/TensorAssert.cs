using LGMSNet.Runtime.Interop;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Support;

/// <summary>Comparisons with the tolerance criteria of shared/reference/README.md.</summary>
public static class TensorAssert
{
    /// <summary>max |actual − expected| ≤ relative · max |expected|, by the engine behind check-reference.</summary>
    public static double MaxRelative(Tensor actual, Tensor expected, double relative, string what) =>
        Within(ReferenceComparison.Compare(what, actual, expected, relative));

    /// <summary>Asserts a reference comparison passed, with its numbers in the message; returns max |Δ|.</summary>
    public static double Within(ComparisonRow row)
    {
        Assert.True(row.Passed, row.Describe());
        return row.MaxAbsDiff;
    }

    /// <summary>‖actual − expected‖₂ / ‖expected‖₂ ≤ bound.</summary>
    public static double RelativeL2(Tensor actual, Tensor expected, double bound, string what)
    {
        AssertShape(actual, expected, what);
        using var a = actual.detach().cpu().to_type(ScalarType.Float64);
        using var e = expected.detach().cpu().to_type(ScalarType.Float64);
        double rel = ((a - e).norm().item<double>()) / e.norm().item<double>();
        Assert.True(rel <= bound, $"{what}: relative L2 error {rel:E3} exceeds {bound:E1}");
        return rel;
    }

    /// <summary>Elementwise |actual − expected| ≤ atol + rtol·|expected|.</summary>
    public static void AllClose(Tensor actual, Tensor expected, double atol, double rtol, string what)
    {
        AssertShape(actual, expected, what);
        using var a = actual.detach().cpu().to_type(ScalarType.Float64);
        using var e = expected.detach().cpu().to_type(ScalarType.Float64);
        using var excess = (a - e).abs() - (atol + rtol * e.abs());
        double worst = excess.max().item<double>();
        Assert.True(worst <= 0, $"{what}: exceeds atol {atol:E1} + rtol {rtol:E1} by up to {worst:E3}");
    }

    private static void AssertShape(Tensor actual, Tensor expected, string what) =>
        Assert.True(actual.shape.SequenceEqual(expected.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}] differs from the reference [{string.Join(", ", expected.shape)}]");
}
