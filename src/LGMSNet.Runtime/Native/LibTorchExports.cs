using System.Runtime.InteropServices;
using TorchSharp;

namespace LGMSNet.Runtime;

/// <summary>Functions of the libtorch this process has loaded that TorchSharp does not wrap, found by their exported
/// symbols: <c>at::globalContext()</c> and members of <c>at::Context</c> (<see cref="Nnpack"/>, <see cref="Denormals"/>),
/// and libgomp's entry points reached through libtorch's own dependency (<c>dlsym</c> on libtorch_cpu searches its
/// dependencies, so this is the OpenMP runtime libtorch runs its threads with, whatever its file is called).</summary>
internal static class LibTorchExports
{
    private static readonly Lazy<IntPtr> Handle = new(() =>
    {
        string library = OperatingSystem.IsWindows() ? "torch_cpu.dll" : OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so";
        // TorchSharp has loaded it already: this finds that copy (packaged, or LGMSNET_LIBTORCH's, by its soname).
        return NativeLibrary.TryLoad(library, typeof(torch).Assembly, null, out var handle) || NativeLibrary.TryLoad(library, out handle)
            ? handle : IntPtr.Zero;
    });

    // Itanium C++ ABI (Linux, macOS) and MSVC names of at::globalContext().
    private static readonly string[] GlobalContextNames = { "_ZN2at13globalContextEv", "?globalContext@at@@YAAEAVContext@1@XZ" };

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GlobalContextFunction();

    /// <summary>The address of <paramref name="name"/> in libtorch_cpu or a library it depends on; false where absent.</summary>
    public static bool TryFind(string name, out IntPtr address)
    {
        address = IntPtr.Zero;
        return Handle.Value != IntPtr.Zero && NativeLibrary.TryGetExport(Handle.Value, name, out address);
    }

    /// <summary><c>at::globalContext()</c> and the members named (first name set that is fully exported, in the order
    /// given: Itanium, then MSVC), or null.</summary>
    public static (IntPtr Context, IntPtr[] Members)? ContextMembers(params string[][] nameSets)
    {
        for (int abi = 0; abi < GlobalContextNames.Length && abi < nameSets.Length; abi++)
        {
            if (!TryFind(GlobalContextNames[abi], out var contextFunction)) continue;
            var members = new IntPtr[nameSets[abi].Length];
            bool all = true;
            for (int i = 0; i < members.Length && all; i++) all = TryFind(nameSets[abi][i], out members[i]);
            if (all) return (Marshal.GetDelegateForFunctionPointer<GlobalContextFunction>(contextFunction)(), members);
        }
        return null;
    }
}
