using System.Runtime.InteropServices;
using TorchSharp;

namespace LGMSNet.Runtime;

/// <summary>Turns libtorch's NNPACK convolution path off, so libtorch never initialises NNPACK and never prints
/// "Could not initialize NNPACK! Reason: Unsupported hardware." (once per process, so several times per command that
/// starts processes) on a CPU NNPACK does not support.</summary>
/// <remarks>libtorch asks <c>at::globalContext().userEnabledNNPACK()</c> before it calls <c>at::_nnpack_available()</c>,
/// which initialises NNPACK and logs that warning when it fails; TorchSharp exposes no switch for it, so this calls
/// <c>at::Context::setUserEnabledNNPACK(false)</c> by its exported symbol (the same function as PyTorch's
/// <c>torch.backends.nnpack.set_flags(False)</c>). Nothing is lost: on the CPU libtorch only chooses NNPACK for float 2D
/// convolutions with a batch of 16 or more that oneDNN (mkldnn, which it tries first) did not take, and oneDNN takes
/// every such convolution. A libtorch that does not export the symbol (another build or version) is left as it is: the
/// warning may then appear and is harmless (README, Troubleshooting).</remarks>
internal static class Nnpack
{
    // Itanium C++ ABI (Linux, macOS) and MSVC names of Context::setUserEnabledNNPACK(bool) and Context::userEnabledNNPACK() const.
    private static readonly string[][] Symbols =
    {
        new[] { "_ZN2at7Context20setUserEnabledNNPACKEb", "_ZNK2at7Context17userEnabledNNPACKEv" },
        new[] { "?setUserEnabledNNPACK@Context@at@@QEAAX_N@Z", "?userEnabledNNPACK@Context@at@@QEBA_NXZ" },
    };

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetFlag(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool value);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.U1)]
    private delegate bool GetFlag(IntPtr context);

    /// <summary>Switches NNPACK off in the libtorch this process has loaded; false where the symbols are not found.</summary>
    public static bool TryDisable()
    {
        if (Find() is not { } found) return false;
        Marshal.GetDelegateForFunctionPointer<SetFlag>(found.Set)(found.Context, false);
        return true;
    }

    /// <summary>libtorch's own flag (null where the symbols are not found).</summary>
    public static bool? Enabled() =>
        Find() is { } found ? Marshal.GetDelegateForFunctionPointer<GetFlag>(found.Get)(found.Context) : null;

    private static (IntPtr Context, IntPtr Set, IntPtr Get)? Find() =>
        LibTorchExports.ContextMembers(Symbols) is { } found ? (found.Context, found.Members[0], found.Members[1]) : null;
}
