using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using LGMSNet.Runtime.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Interop;

/// <summary>A malformed or unsupported safetensors file; the message names the file and the entry.</summary>
public sealed class SafeTensorsException(string message) : Exception(message);

public enum SafeTensorDType { F32, F16, BF16, F64, I64, I32, U8, BOOL }

public sealed record SafeTensorEntry(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End)
{
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Reads the safetensors format (8-byte little-endian header length, JSON header,
/// raw little-endian data). Every offset, shape and size is checked against the buffer before
/// use: a truncated or hostile file gives a <see cref="SafeTensorsException"/>, never a read past
/// the end or an unbounded allocation.</summary>
public sealed class SafeTensorFile
{
    /// <summary>Header sizes beyond this are refused (the spec's reference implementation uses 100 MB).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly byte[] _bytes;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorEntry> _entries;

    private SafeTensorFile(string source, byte[] bytes, long dataStart, Dictionary<string, SafeTensorEntry> entries,
        Dictionary<string, string> metadata)
    {
        Source = source;
        _bytes = bytes;
        _dataStart = dataStart;
        _entries = entries;
        Metadata = metadata;
    }

    public string Source { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public IEnumerable<string> Names => _entries.Keys;

    public IReadOnlyCollection<SafeTensorEntry> Entries => _entries.Values;

    public bool Contains(string name) => _entries.ContainsKey(name);

    public SafeTensorEntry this[string name] => _entries.TryGetValue(name, out var entry)
        ? entry
        : throw new SafeTensorsException($"{Source}: no tensor named '{name}'");

    public static SafeTensorFile Read(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new SafeTensorsException($"{path}: file not found");
        if (info.Length > int.MaxValue) throw new SafeTensorsException($"{path}: {info.Length:N0} bytes is larger than this reader supports (2 GiB)");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafeTensorsException($"{path}: cannot read the file ({e.Message})");
        }
        return Parse(bytes, path);
    }

    public static SafeTensorFile Parse(byte[] bytes, string source)
    {
        if (bytes.Length < 8) throw new SafeTensorsException($"{source}: not a safetensors file (only {bytes.Length} bytes)");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeaderBytes || headerLength > (ulong)(bytes.Length - 8))
            throw new SafeTensorsException($"{source}: header length {headerLength:N0} does not fit in the {bytes.Length:N0}-byte file (truncated or not safetensors)");
        long dataStart = 8 + (long)headerLength;
        long dataLength = bytes.Length - dataStart;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException($"{source}: the header is not valid JSON ({e.Message})");
        }

        var entries = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsException($"{source}: the header must be a JSON object");
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                        throw new SafeTensorsException($"{source}: __metadata__ must be an object of strings");
                    foreach (var m in property.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                entries[property.Name] = ParseEntry(source, property.Name, property.Value, dataLength);
            }
        }
        return new SafeTensorFile(source, bytes, dataStart, entries, metadata);
    }

    private static SafeTensorEntry ParseEntry(string source, string name, JsonElement value, long dataLength)
    {
        string where = $"{source}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object) throw new SafeTensorsException($"{where}: entry must be an object");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !Enum.TryParse<SafeTensorDType>(dtypeElement.GetString(), ignoreCase: false, out var dtype))
            throw new SafeTensorsException($"{where}: missing or unsupported dtype (supported: {string.Join(", ", Enum.GetNames<SafeTensorDType>())})");
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array || shapeElement.GetArrayLength() > 16)
            throw new SafeTensorsException($"{where}: shape must be a list of at most 16 sizes");
        var shape = new List<long>();
        long elements = 1;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0)
                throw new SafeTensorsException($"{where}: shape entries must be non-negative integers");
            shape.Add(size);
            elements = size == 0 ? 0 : elements > long.MaxValue / size ? long.MaxValue : elements * size;
        }
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end))
            throw new SafeTensorsException($"{where}: data_offsets must be [begin, end]");
        if (begin < 0 || end < begin || end > dataLength)
            throw new SafeTensorsException($"{where}: data_offsets [{begin}, {end}] lie outside the {dataLength:N0}-byte data section (truncated file?)");
        long elementSize = ElementSize(dtype);
        if (elements == long.MaxValue || elements > (end - begin) / elementSize || elements * elementSize != end - begin)
            throw new SafeTensorsException($"{where}: shape [{string.Join(", ", shape)}] of {dtype} needs a different byte count than its offsets give ({end - begin:N0})");
        return new SafeTensorEntry(name, dtype, shape.ToArray(), begin, end);
    }

    public static long ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        _ => 1,
    };

    private ReadOnlySpan<byte> Bytes(SafeTensorEntry e) => _bytes.AsSpan((int)(_dataStart + e.Begin), (int)(e.End - e.Begin));

    /// <summary>The tensor's stored bytes, exactly as in the file.</summary>
    public byte[] ReadRaw(string name) => Bytes(this[name]).ToArray();

    /// <summary>The tensor as float32 values (F16, BF16 and F64 converted).</summary>
    public float[] ReadFloats(string name)
    {
        var entry = this[name];
        var bytes = Bytes(entry);
        var result = new float[entry.Elements];
        switch (entry.DType)
        {
            case SafeTensorDType.F32:
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result);
                break;
            case SafeTensorDType.F64:
                var doubles = MemoryMarshal.Cast<byte, double>(bytes);
                for (int i = 0; i < result.Length; i++) result[i] = (float)doubles[i];
                break;
            case SafeTensorDType.F16:
                var halves = MemoryMarshal.Cast<byte, Half>(bytes);
                for (int i = 0; i < result.Length; i++) result[i] = (float)halves[i];
                break;
            case SafeTensorDType.BF16:
                var raw = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (int i = 0; i < result.Length; i++) result[i] = BitConverter.Int32BitsToSingle(raw[i] << 16);
                break;
            default:
                throw new SafeTensorsException($"{Source}: tensor '{name}' is {entry.DType}, not a floating-point tensor");
        }
        return result;
    }

    /// <summary>A CPU tensor: floating types as float32 (float64 kept as float64), I64 as int64.</summary>
    public Tensor ToTensor(string name)
    {
        var entry = this[name];
        switch (entry.DType)
        {
            case SafeTensorDType.I64:
                return torch.tensor(MemoryMarshal.Cast<byte, long>(Bytes(entry)).ToArray(), entry.Shape);
            case SafeTensorDType.I32:
                return torch.tensor(MemoryMarshal.Cast<byte, int>(Bytes(entry)).ToArray(), entry.Shape);
            case SafeTensorDType.F64:
                return torch.tensor(MemoryMarshal.Cast<byte, double>(Bytes(entry)).ToArray(), entry.Shape);
            case SafeTensorDType.U8 or SafeTensorDType.BOOL:
                return torch.tensor(Bytes(entry).ToArray(), entry.Shape);
            default:
                return torch.tensor(ReadFloats(name), entry.Shape);
        }
    }
}

/// <summary>Writes safetensors files: keys sorted, header padded with spaces to 8 bytes, written
/// through a temporary file and renamed so a crash never leaves a half-written file.</summary>
public static class SafeTensorWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null,
        SafeTensorDType floatType = SafeTensorDType.F32)
    {
        var items = tensors.OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        var payloads = new List<byte[]>();
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, tensor) in items)
        {
            var (dtype, bytes) = Encode(tensor, floatType);
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = dtype.ToString(),
                ["shape"] = tensor.shape,
                ["data_offsets"] = new[] { offset, offset + bytes.Length },
            };
            payloads.Add(bytes);
            offset += bytes.Length;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
            stream.Write(length);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var payload in payloads) stream.Write(payload);
        });
    }

    private static (SafeTensorDType, byte[]) Encode(Tensor tensor, SafeTensorDType floatType)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        switch (cpu.dtype)
        {
            case ScalarType.Int64:
                return (SafeTensorDType.I64, MemoryMarshal.AsBytes(cpu.data<long>().ToArray().AsSpan()).ToArray());
            case ScalarType.Int32:
                return (SafeTensorDType.I32, MemoryMarshal.AsBytes(cpu.data<int>().ToArray().AsSpan()).ToArray());
            case ScalarType.Float64 when floatType == SafeTensorDType.F64:
                return (SafeTensorDType.F64, MemoryMarshal.AsBytes(cpu.data<double>().ToArray().AsSpan()).ToArray());
        }
        using var asFloat = cpu.to_type(ScalarType.Float32);
        float[] values = asFloat.data<float>().ToArray();
        switch (floatType)
        {
            case SafeTensorDType.F16:
                return (SafeTensorDType.F16, MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()).ToArray());
            case SafeTensorDType.BF16:
                // Round to nearest even on the upper 16 bits.
                var raw = values.Select(v =>
                {
                    uint bits = (uint)BitConverter.SingleToInt32Bits(v);
                    if (float.IsNaN(v)) return (ushort)0x7FC0;
                    bits += 0x7FFF + ((bits >> 16) & 1);
                    return (ushort)(bits >> 16);
                }).ToArray();
                return (SafeTensorDType.BF16, MemoryMarshal.AsBytes(raw.AsSpan()).ToArray());
            default:
                return (SafeTensorDType.F32, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
    }
}
