using System.Buffers.Binary;
using System.Text;

namespace LGMSNet.Runtime.Tests.Support;

/// <summary>An independent reader of TensorBoard event files, sharing no code with the writer: TFRecord framing (uint64
/// length, masked CRC-32C of the length, data, masked CRC-32C of the data; both CRCs checked with a CRC-32C of its own) and
/// the Event, Summary and HParams protobufs decoded by a minimal wire-format reader. Fails on any damaged byte.</summary>
public static class EventFileReader
{
    public sealed record Value(string Tag, float? Scalar, byte[]? Image, int ImageWidth, int ImageHeight, string? Plugin, byte[]? PluginContent);

    public sealed record Event(string File, double WallTime, long Step, string? FileVersion, IReadOnlyList<Value> Values);

    /// <summary>Every event of every event file under <paramref name="folder"/>, file by file in name order (as TensorBoard reads them).</summary>
    public static List<Event> ReadFolder(string folder) =>
        Directory.GetFiles(folder, "events.out.tfevents.*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).SelectMany(ReadFile).ToList();

    /// <summary>What the HParams dashboard would list for <paramref name="logdir"/>: each run (a folder whose event files
    /// hold a session start) with its hyperparameters and the last value of every metric its experiment summary names.
    /// Fails when a run holds more than one session start or experiment.</summary>
    public static List<(string Run, IReadOnlyDictionary<string, object> Hparams, IReadOnlyDictionary<string, float> Metrics)> HParamsEntries(string logdir)
    {
        var entries = new List<(string, IReadOnlyDictionary<string, object>, IReadOnlyDictionary<string, float>)>();
        foreach (var folder in Directory.GetFiles(logdir, "events.out.tfevents.*", SearchOption.AllDirectories).Select(Path.GetDirectoryName).Distinct().Order(StringComparer.Ordinal))
        {
            var events = Directory.GetFiles(folder!, "events.out.tfevents.*").Order(StringComparer.Ordinal).SelectMany(ReadFile).ToList();
            var hparams = events.SelectMany(e => e.Values).Where(v => v.Plugin == "hparams").Select(v => DecodeHParams(v.PluginContent!)).ToList();
            var starts = hparams.Where(h => h.Kind == "session_start_info").ToList();
            if (starts.Count == 0) continue;
            if (starts.Count > 1 || hparams.Count(h => h.Kind == "experiment") != 1)
                throw new InvalidDataException($"{folder}: {starts.Count} session starts and {hparams.Count(h => h.Kind == "experiment")} experiments");
            var metrics = new Dictionary<string, float>(StringComparer.Ordinal);
            foreach (var tag in hparams.Single(h => h.Kind == "experiment").MetricTags)
                if (events.SelectMany(e => e.Values).LastOrDefault(v => v.Tag == tag && v.Scalar != null) is { } value) metrics[tag] = value.Scalar!.Value;
            entries.Add((folder!, starts[0].Hparams, metrics));
        }
        return entries;
    }

    public static List<Event> ReadFile(string file)
    {
        var bytes = File.ReadAllBytes(file);
        var events = new List<Event>();
        int at = 0;
        while (at < bytes.Length)
        {
            if (bytes.Length - at < 12) throw new InvalidDataException($"{file}: {bytes.Length - at} stray bytes at offset {at}");
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            uint lengthCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8));
            if (lengthCrc != Masked(Crc32C(bytes.AsSpan(at, 8)))) throw new InvalidDataException($"{file}: bad length CRC at offset {at}");
            if (length > (ulong)(bytes.Length - at - 16)) throw new InvalidDataException($"{file}: record at offset {at} runs past the end");
            var data = bytes.AsSpan(at + 12, (int)length);
            uint dataCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length));
            if (dataCrc != Masked(Crc32C(data))) throw new InvalidDataException($"{file}: bad data CRC at offset {at}");
            events.Add(DecodeEvent(file, data.ToArray()));
            at += 16 + (int)length;
        }
        return events;
    }

    private static Event DecodeEvent(string file, byte[] data)
    {
        double wall = 0;
        long step = 0;
        string? version = null;
        var values = new List<Value>();
        foreach (var f in Fields(data))
            switch (f.Number)
            {
                case 1: wall = BitConverter.Int64BitsToDouble((long)f.Fixed); break;
                case 2: step = (long)f.Varint; break;
                case 3: version = Encoding.UTF8.GetString(f.Bytes!); break;
                case 5:
                    foreach (var v in Fields(f.Bytes!).Where(v => v.Number == 1)) values.Add(DecodeValue(v.Bytes!));
                    break;
            }
        return new Event(file, wall, step, version, values);
    }

    private static Value DecodeValue(byte[] data)
    {
        string tag = "";
        float? scalar = null;
        byte[]? image = null, content = null;
        int width = 0, height = 0;
        string? plugin = null;
        foreach (var f in Fields(data))
            switch (f.Number)
            {
                case 1: tag = Encoding.UTF8.GetString(f.Bytes!); break;
                case 2: scalar = BitConverter.Int32BitsToSingle((int)f.Fixed); break;
                case 4:
                    foreach (var i in Fields(f.Bytes!))
                        switch (i.Number)
                        {
                            case 1: height = (int)i.Varint; break;
                            case 2: width = (int)i.Varint; break;
                            case 4: image = i.Bytes; break;
                        }
                    break;
                case 9:
                    foreach (var m in Fields(f.Bytes!).Where(m => m.Number == 1))
                        foreach (var p in Fields(m.Bytes!))
                            if (p.Number == 1) plugin = Encoding.UTF8.GetString(p.Bytes!);
                            else if (p.Number == 2) content = p.Bytes;
                    break;
            }
        return new Value(tag, scalar, image, width, height, plugin, content);
    }

    /// <summary>A decoded HParamsPluginData: which member it holds, and its contents.</summary>
    public sealed record HParamsData(int Version, string Kind, IReadOnlyDictionary<string, object> Hparams, IReadOnlyList<string> HparamNames,
        IReadOnlyList<string> MetricTags, int Status);

    public static HParamsData DecodeHParams(byte[] content)
    {
        int version = 0, status = 0;
        string kind = "";
        var hparams = new Dictionary<string, object>(StringComparer.Ordinal);
        var names = new List<string>();
        var metrics = new List<string>();
        foreach (var f in Fields(content))
            switch (f.Number)
            {
                case 1: version = (int)f.Varint; break;
                case 2:
                    kind = "experiment";
                    foreach (var e in Fields(f.Bytes!))
                        if (e.Number == 4) names.Add(Encoding.UTF8.GetString(Fields(e.Bytes!).First(x => x.Number == 1).Bytes!));
                        else if (e.Number == 5)
                            metrics.Add(Encoding.UTF8.GetString(Fields(Fields(e.Bytes!).First(x => x.Number == 1).Bytes!).First(x => x.Number == 2).Bytes!));
                    break;
                case 3:
                    kind = "session_start_info";
                    foreach (var entry in Fields(f.Bytes!).Where(e => e.Number == 1))
                    {
                        var parts = Fields(entry.Bytes!).ToList();
                        string key = Encoding.UTF8.GetString(parts.First(p => p.Number == 1).Bytes!);
                        var value = Fields(parts.First(p => p.Number == 2).Bytes!).Single();
                        hparams[key] = value.Number switch
                        {
                            2 => BitConverter.Int64BitsToDouble((long)value.Fixed),
                            3 => Encoding.UTF8.GetString(value.Bytes!),
                            4 => value.Varint != 0,
                            _ => throw new InvalidDataException($"hparam {key}: unexpected Value field {value.Number}"),
                        };
                    }
                    break;
                case 4:
                    kind = "session_end_info";
                    foreach (var e in Fields(f.Bytes!)) if (e.Number == 1) status = (int)e.Varint;
                    break;
            }
        return new HParamsData(version, kind, hparams, names, metrics, status);
    }

    private sealed record Field(int Number, ulong Varint, ulong Fixed, byte[]? Bytes);

    /// <summary>The fields of one protobuf message (wire types 0, 1, 2, 5).</summary>
    private static IEnumerable<Field> Fields(byte[] data)
    {
        int at = 0;
        while (at < data.Length)
        {
            ulong key = ReadVarint(data, ref at);
            int number = (int)(key >> 3);
            switch ((int)(key & 7))
            {
                case 0: yield return new Field(number, ReadVarint(data, ref at), 0, null); break;
                case 1: yield return new Field(number, 0, BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at)), null); at += 8; break;
                case 2:
                    int length = checked((int)ReadVarint(data, ref at));
                    if (at + length > data.Length) throw new InvalidDataException("a length-delimited field runs past its message");
                    yield return new Field(number, 0, 0, data.AsSpan(at, length).ToArray());
                    at += length;
                    break;
                case 5: yield return new Field(number, 0, BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at)), null); at += 4; break;
                default: throw new InvalidDataException($"wire type {key & 7} in field {number}");
            }
        }
    }

    private static ulong ReadVarint(byte[] data, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            if (at >= data.Length || shift > 63) throw new InvalidDataException("a truncated varint");
            byte b = data[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }
    }

    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xff] ^ (crc >> 8);
        return ~crc;
    }

    private static uint Masked(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
