using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Data;

/// <summary>Managed arrays → CPU tensors by a native copy. (torch.tensor(array) clones the array on the
/// managed heap and pins the clone for the tensor's lifetime: a large allocation per batch.)</summary>
public static class Tensors
{
    public static Tensor FromFloats(float[] data, long[] shape) => From(data, shape, ScalarType.Float32);

    public static Tensor FromBytes(byte[] data, long[] shape) => From(data, shape, ScalarType.Byte);

    private static Tensor From<T>(T[] data, long[] shape, ScalarType type) where T : unmanaged
    {
        var result = empty(shape, type);
        result.data<T>().CopyFrom(data, 0, 0);
        return result;
    }
}
