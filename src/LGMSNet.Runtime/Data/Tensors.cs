using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Data;

/// <summary>Managed arrays → CPU tensors by a native copy. (torch.tensor(array) clones the array on the
/// managed heap and pins the clone for the tensor's lifetime: a large allocation per batch.)</summary>
public static class Tensors
{
    public static Tensor FromFloats(float[] data, long[] shape)
    {
        var result = empty(shape, ScalarType.Float32);
        result.data<float>().CopyFrom(data, 0, 0);
        return result;
    }

    public static Tensor FromBytes(byte[] data, long[] shape)
    {
        var result = empty(shape, ScalarType.Byte);
        result.data<byte>().CopyFrom(data, 0, 0);
        return result;
    }
}
