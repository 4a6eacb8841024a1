using System.Buffers.Binary;
using Google.Protobuf;
using LGMSNet.Runtime.IO;
using Tensorboard;

namespace LGMSNet.Runtime.Reports;

/// <summary>TensorBoard's event files (TFRecord framing: a little-endian uint64 length, the masked CRC-32C of those 8 bytes,
/// the serialized <see cref="Event"/>, the masked CRC-32C of the event). TorchSharp's SummaryWriter writes them but keeps
/// its own record writer private; this is the framing for what it cannot write (HParams summaries, appended to the
/// writer's own file between its writes), and the reading that lets a resumed run keep exactly the events its checkpoint
/// covers. The CRC is TorchSharp's (libtorch's CRC-32C), as the writer's.</summary>
internal static class EventFile
{
    /// <summary>Event files are named so (TorchSharp and TensorBoard alike).</summary>
    public const string Pattern = "events.out.tfevents.*";

    public static void Append(string file, Event record)
    {
        using var stream = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.Read);
        Write(stream, record.ToByteArray());
    }

    /// <summary>Replaces the contents of <paramref name="file"/> with <paramref name="events"/>.</summary>
    public static void Overwrite(string file, IEnumerable<Event> events)
    {
        using var stream = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.Read);
        foreach (var e in events) Write(stream, e.ToByteArray());
    }

    private static void Write(Stream stream, byte[] data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc(header[..8].ToArray()));
        stream.Write(header);
        stream.Write(data);
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc(data));
        stream.Write(footer);
    }

    /// <summary>The events of <paramref name="file"/> in order, up to the first incomplete or damaged record (a writer
    /// killed mid-record leaves one at the end; TensorBoard also stops there).</summary>
    public static List<Event> Read(string file)
    {
        var bytes = File.ReadAllBytes(file);
        var events = new List<Event>();
        int at = 0;
        while (at + 12 <= bytes.Length)
        {
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)) != MaskedCrc(bytes.AsSpan(at, 8).ToArray())) break;
            if (length > (ulong)(bytes.Length - at - 16)) break;
            var data = bytes.AsSpan(at + 12, (int)length).ToArray();
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)) != MaskedCrc(data)) break;
            try
            {
                events.Add(Event.Parser.ParseFrom(data));
            }
            catch (InvalidProtocolBufferException)
            {
                break;
            }
            at += 16 + (int)length;
        }
        return events;
    }

    /// <summary>Keeps in every event file of <paramref name="folder"/> only the events <paramref name="keep"/> accepts (and
    /// the file-version header): a file that loses events is rewritten atomically, one left with no summaries is deleted.</summary>
    public static void Retain(string folder, Func<Event, bool> keep)
    {
        foreach (var file in Directory.EnumerateFiles(folder, Pattern).Order(StringComparer.Ordinal).ToList())
        {
            var events = Read(file);
            var kept = events.Where(e => e.Summary == null || keep(e)).ToList();
            bool complete = kept.Count == events.Count && new FileInfo(file).Length == events.Sum(e => 16L + e.CalculateSize());
            if (complete) continue;
            if (kept.All(e => e.Summary == null)) File.Delete(file);
            else AtomicFile.Write(file, stream =>
            {
                foreach (var e in kept) Write(stream, e.ToByteArray());
            });
        }
    }

    private static uint MaskedCrc(byte[] data)
    {
        uint crc = TorchSharp.Utils.CRC32C.process(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }
}
