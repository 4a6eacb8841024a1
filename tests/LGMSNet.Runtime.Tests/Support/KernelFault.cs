using LGMSNet.Runtime.Blocks;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Tests.Support;

/// <summary>An injected convolution fault (<see cref="FaultInjection.ConvolutionLayoutFault"/>) and/or a layout the kernel
/// check's timing finds slower (<see cref="FaultInjection.SlowLayout"/>), with a kernel-check cache of its own (a
/// temporary file, so the check runs under the hooks and the user's cache is untouched); disposing restores all three.</summary>
public sealed class KernelFault : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lgms-kernels-").FullName;

    public KernelFault((string Layout, long? Kernel)? fault, string? slowLayout = null)
    {
        FaultInjection.ConvolutionLayoutFault = fault;
        FaultInjection.SlowLayout = slowLayout;
        ConvolutionKernels.CachePath = CachePath;
    }

    public string CachePath => Path.Combine(_folder, "conv-kernels.json");

    public void Dispose()
    {
        FaultInjection.ConvolutionLayoutFault = null;
        FaultInjection.SlowLayout = null;
        ConvolutionKernels.CachePath = null;
        Directory.Delete(_folder, true);
    }
}
