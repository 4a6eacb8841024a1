using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Support;

/// <summary>Instance norm in float64 (per sample and channel over the spatial axes, biased variance, eps 1e-5) and the
/// largest difference of a result from it: the reference of <c>InstanceNormKernelTests</c> and of the
/// <c>norm-kernels</c> benchmark (which compiles this file in).</summary>
public static class InstanceNormReference
{
    public static Tensor Of(Tensor x)
    {
        using var scope = NewDisposeScope();
        var dims = Enumerable.Range(2, (int)x.dim() - 2).Select(d => (long)d).ToArray();
        var x64 = x.to(ScalarType.Float64);
        var mean = x64.mean(dims, keepdim: true);
        var variance = (x64 - mean).square().mean(dims, keepdim: true);
        return scope.MoveToOuter((x64 - mean) / (variance + 1e-5).sqrt());
    }

    public static double Error(Tensor result, Tensor reference)
    {
        using var scope = NewDisposeScope();
        return (result.to(ScalarType.Float64) - reference).abs().max().item<double>();
    }
}
