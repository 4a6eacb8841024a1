using System.Runtime.InteropServices;
using TorchSharp;

namespace LGMSNet.Runtime;

/// <summary>libtorch could not be loaded, or the requested device is unavailable.</summary>
public sealed class TorchRuntimeException(string message) : Exception(message);

/// <summary>Loads libtorch once, with one clear message when that is impossible. With
/// LGMSNET_LIBTORCH=/path/to/torch/lib (e.g. a PyTorch installation's site-packages/torch/lib) the
/// libraries of that installation are loaded first, so TorchSharp binds to them instead of a
/// packaged libtorch (build with -p:TorchBackend=external to ship none).</summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool _loaded;

    public const string LibTorchVariable = "LGMSNET_LIBTORCH";

    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loaded) return;
            PreloadExternalLibTorch();
            try
            {
                _ = torch.get_num_threads();
            }
            catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException or EntryPointNotFoundException)
            {
                var inner = e;
                while (inner.InnerException != null) inner = inner.InnerException;
                if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(LibTorchVariable)) && !PackagedLibTorchPresent())
                    throw new TorchRuntimeException(
                        "libtorch could not be loaded: this build ships no libtorch (it was built with -p:TorchBackend=external). " +
                        $"Set {LibTorchVariable} to a libtorch 2.10 folder, e.g. a PyTorch 2.10 installation's site-packages/torch/lib.");
                throw new TorchRuntimeException(
                    "libtorch could not be loaded: " + FirstLine(inner.Message) + "\n" +
                    "  - on Linux, rebuild so the GLIBCXX fix-up runs (see README, Troubleshooting);\n" +
                    $"  - with an existing PyTorch, set {LibTorchVariable} to its torch/lib folder and build with -p:TorchBackend=external.");
            }
            // libtorch's NNPACK warning on CPUs NNPACK does not support is noise to a user (Nnpack's remarks).
            Nnpack.TryDisable();
            Denormals.FlushOnThisThread();
            Allocator.KeepFreedMemory();
            _loaded = true;
        }
    }

    /// <summary>Fails with one clear message when CUDA was asked for but cannot be used.</summary>
    public static torch.Device Device(string name)
    {
        EnsureLoaded();
        switch (name.ToLowerInvariant())
        {
            case "cpu":
                return torch.CPU;
            case "cuda":
                bool available;
                try
                {
                    available = torch.cuda.is_available();
                }
                catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
                {
                    available = false;
                }
                if (!available)
                    throw new TorchRuntimeException("--device cuda: no usable CUDA device. This build uses the CPU libtorch " +
                        "(TorchSharp-cpu); rebuild with -p:TorchBackend=cuda (TorchSharp-cuda-linux) or point " + LibTorchVariable +
                        " at a CUDA-enabled PyTorch's torch/lib with -p:TorchBackend=external, and check that the NVIDIA driver works (nvidia-smi).");
                return torch.CUDA;
            default:
                throw new TorchRuntimeException($"unknown device '{name}': use cpu or cuda");
        }
    }

    private static void PreloadExternalLibTorch()
    {
        string? folder = Environment.GetEnvironmentVariable(LibTorchVariable);
        if (string.IsNullOrWhiteSpace(folder)) return;
        if (!Directory.Exists(folder)) throw new TorchRuntimeException($"{LibTorchVariable}={folder}: no such folder");
        // Dependency order: the C++ core, then the CPU and (if present) CUDA backends, then the umbrella library.
        string[] names = OperatingSystem.IsWindows()
            ? new[] { "c10.dll", "c10_cuda.dll", "torch_cpu.dll", "torch_cuda.dll", "torch.dll" }
            : OperatingSystem.IsMacOS()
                ? new[] { "libc10.dylib", "libtorch_cpu.dylib", "libtorch.dylib" }
                : new[] { "libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so" };
        int loaded = 0;
        foreach (var name in names)
        {
            string path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            try
            {
                NativeLibrary.Load(path);
                loaded++;
            }
            catch (DllNotFoundException e)
            {
                throw new TorchRuntimeException($"{LibTorchVariable}: cannot load {path}: {FirstLine(e.Message)}");
            }
        }
        if (loaded == 0) throw new TorchRuntimeException($"{LibTorchVariable}={folder} holds no libtorch libraries (expected {names[0]}, ...)");
    }

    /// <summary>Whether a libtorch came with the application (TorchSharp-cpu or -cuda builds).</summary>
    private static bool PackagedLibTorchPresent()
    {
        string name = OperatingSystem.IsWindows() ? "torch_cpu.dll" : OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so";
        string root = AppContext.BaseDirectory;
        string runtimes = Path.Combine(root, "runtimes");
        return File.Exists(Path.Combine(root, name))
            || (Directory.Exists(runtimes) && Directory.EnumerateFiles(runtimes, name, SearchOption.AllDirectories).Any());
    }

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();
}
