using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LGMSNet.Runtime.Data;

/// <summary>NIfTI-1 volumes (.nii and .nii.gz, either byte order). Voxels are stored x fastest, then y,
/// z and t, which is exactly our [channel, depth, height, width] layout with x → width, z → depth and the
/// 4th dimension as channels, so no transposition happens. Sizes are checked before allocating and the
/// gzip stream is never read beyond the bytes the header announces.</summary>
public static class Nifti
{
    public const int HeaderSize = 348;
    public const long MaxVoxels = 1L << 29;

    /// <summary>The header fields we need to read data and to write a label volume with the same geometry.</summary>
    public sealed record Header(
        short[] Dim, short Datatype, short Bitpix, float[] Pixdim, float VoxOffset, float SclSlope, float SclInter,
        byte DimInfo, byte XyztUnits, short QformCode, short SformCode, float[] Quatern, float[] SrowX, float[] SrowY, float[] SrowZ,
        string Description)
    {
        public int[] SpatialSize => new[] { Math.Max(1, (int)Dim[3]), Math.Max(1, (int)Dim[2]), Math.Max(1, (int)Dim[1]) }; // D, H, W

        public int Channels => Dim[0] >= 4 ? Math.Max(1, (int)Dim[4]) : 1;
    }

    /// <summary>Only the header (checked as <see cref="Read(string)"/> checks it); a .nii.gz is decompressed no further than the header.</summary>
    public static Header ReadHeader(string path) => Open(path, (stream, p) => ParseHeader(stream, p).Header);

    public static (Header Header, Volume Volume) Read(string path) => Open(path, Read);

    private static T Open<T>(string path, Func<Stream, string, T> read)
    {
        Stream stream;
        try
        {
            stream = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{path}: cannot read ({e.Message})");
        }
        using (stream)
        {
            Stream source = stream;
            bool gzip = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
            if (gzip) source = new GZipStream(stream, CompressionMode.Decompress);
            try
            {
                return read(source, path);
            }
            catch (InvalidDataException e)
            {
                throw new DataException($"{path}: corrupt gzip data ({e.Message})");
            }
            finally
            {
                if (gzip) source.Dispose();
            }
        }
    }

    private static (Header Header, int BytesPerVoxel, long Voxels, bool Little) ParseHeader(Stream stream, string path)
    {
        var raw = new byte[HeaderSize];
        if (ReadFully(stream, raw) < HeaderSize) throw new DataException($"{path}: truncated NIfTI header (fewer than 348 bytes)");
        bool little = BinaryPrimitives.ReadInt32LittleEndian(raw) == HeaderSize;
        bool big = BinaryPrimitives.ReadInt32BigEndian(raw) == HeaderSize;
        if (!little && !big)
        {
            if (BinaryPrimitives.ReadInt32LittleEndian(raw) == 540 || BinaryPrimitives.ReadInt32BigEndian(raw) == 540)
                throw new DataException($"{path}: NIfTI-2 is not supported; save the volume as NIfTI-1");
            throw new DataException($"{path}: not a NIfTI-1 file (sizeof_hdr is not 348)");
        }
        string magic = Encoding.ASCII.GetString(raw, 344, 3);
        if (magic != "n+1")
            throw new DataException($"{path}: magic '{magic}' is not 'n+1' (single-file NIfTI-1; .hdr/.img pairs are not supported)");

        short I16(int o) => little ? BinaryPrimitives.ReadInt16LittleEndian(raw.AsSpan(o)) : BinaryPrimitives.ReadInt16BigEndian(raw.AsSpan(o));
        float F32(int o) => little ? BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(o)) : BinaryPrimitives.ReadSingleBigEndian(raw.AsSpan(o));
        float[] Floats(int o, int n) => Enumerable.Range(0, n).Select(i => F32(o + 4 * i)).ToArray();

        var dim = Enumerable.Range(0, 8).Select(i => I16(40 + 2 * i)).ToArray();
        if (dim[0] is < 1 or > 7) throw new DataException($"{path}: dim[0] = {dim[0]} is not a valid rank");
        for (int i = 1; i <= dim[0]; i++)
            if (dim[i] < 1) throw new DataException($"{path}: dim[{i}] = {dim[i]} is not a positive size");
        if (dim[0] > 4 && dim.Skip(5).Take(dim[0] - 4).Any(d => d != 1))
            throw new DataException($"{path}: {dim[0]}-D volumes are not supported (at most x, y, z and channels)");
        var header = new Header(dim, I16(70), I16(72), Floats(76, 8), F32(108), F32(112), F32(116), raw[39], raw[123], I16(252), I16(254),
            Floats(256, 6), Floats(280, 4), Floats(296, 4), Floats(312, 4), Encoding.ASCII.GetString(raw, 148, 80).TrimEnd('\0'));

        int bytesPerVoxel = header.Datatype switch
        {
            2 or 256 => 1,
            4 or 512 => 2,
            8 or 16 or 768 => 4,
            64 or 1024 or 1280 => 8,
            _ => throw new DataException($"{path}: NIfTI datatype {header.Datatype} is not supported (use integer or float voxels)"),
        };
        long voxels = (long)header.SpatialSize[0] * header.SpatialSize[1] * header.SpatialSize[2] * header.Channels;
        if (voxels > MaxVoxels || voxels * bytesPerVoxel > int.MaxValue)
            throw new DataException($"{path}: {voxels:N0} voxels of {bytesPerVoxel} bytes exceed what this reader loads ({MaxVoxels:N0} voxels, 2 GiB)");
        long offset = (long)header.VoxOffset;
        if (offset < HeaderSize || offset > 1 << 24) throw new DataException($"{path}: vox_offset {header.VoxOffset} is not valid");
        return (header, bytesPerVoxel, voxels, little);
    }

    private static (Header, Volume) Read(Stream stream, string path)
    {
        var (header, bytesPerVoxel, voxels, little) = ParseHeader(stream, path);
        Skip(stream, (long)header.VoxOffset - HeaderSize, path);

        var bytes = new byte[voxels * bytesPerVoxel];
        if (ReadFully(stream, bytes) < bytes.Length)
            throw new DataException($"{path}: truncated voxel data (expected {bytes.Length:N0} bytes)");

        var data = new float[voxels];
        for (long i = 0; i < voxels; i++)
        {
            var s = bytes.AsSpan((int)(i * bytesPerVoxel), bytesPerVoxel);
            double value = header.Datatype switch
            {
                2 => s[0],
                256 => (sbyte)s[0],
                4 => little ? BinaryPrimitives.ReadInt16LittleEndian(s) : BinaryPrimitives.ReadInt16BigEndian(s),
                512 => little ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s),
                8 => little ? BinaryPrimitives.ReadInt32LittleEndian(s) : BinaryPrimitives.ReadInt32BigEndian(s),
                768 => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s),
                16 => little ? BinaryPrimitives.ReadSingleLittleEndian(s) : BinaryPrimitives.ReadSingleBigEndian(s),
                64 => little ? BinaryPrimitives.ReadDoubleLittleEndian(s) : BinaryPrimitives.ReadDoubleBigEndian(s),
                1024 => little ? BinaryPrimitives.ReadInt64LittleEndian(s) : BinaryPrimitives.ReadInt64BigEndian(s),
                _ => little ? BinaryPrimitives.ReadUInt64LittleEndian(s) : BinaryPrimitives.ReadUInt64BigEndian(s),
            };
            data[i] = (float)value;
        }
        // scl_slope = 0 means "no scaling" in the standard.
        if (header.SclSlope != 0 && float.IsFinite(header.SclSlope) && (header.SclSlope != 1 || header.SclInter != 0))
            for (long i = 0; i < voxels; i++) data[i] = data[i] * header.SclSlope + header.SclInter;
        return (header, new Volume(data, header.Channels, header.SpatialSize));
    }

    /// <summary>Writes a label volume (uint8) with the geometry (spacing, qform/sform) of <paramref name="geometry"/>.</summary>
    public static void WriteLabels(string path, LabelMap labels, Header geometry) =>
        Write(path, labels.Data, labels.Size, geometry, datatype: 2, bitpix: 8, intentCode: 1002);

    /// <summary>Writes float32 voxels [channels × D × H × W] (used by tests and the synthetic 3D export).</summary>
    public static void WriteFloat(string path, Volume volume, Header geometry)
    {
        var bytes = new byte[volume.Data.Length * 4];
        for (int i = 0; i < volume.Data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), volume.Data[i]);
        Write(path, bytes, volume.Size, geometry, datatype: 16, bitpix: 32, intentCode: 0, channels: volume.Channels);
    }

    /// <summary>A plain header for a volume of <paramref name="size"/> (D, H, W) with the given spacing.</summary>
    public static Header Geometry(int[] size, float[] spacing) => new(
        new short[] { 3, (short)size[2], (short)size[1], (short)size[0], 1, 1, 1, 1 }, 16, 32,
        new[] { 1f, spacing[2], spacing[1], spacing[0], 1, 1, 1, 1 }, 352, 1, 0, 0, 2, 1, 1,
        new[] { 0f, 0, 0, 0, 0, 0 },
        new[] { spacing[2], 0, 0, 0 }, new[] { 0, spacing[1], 0, 0f }, new[] { 0, 0, spacing[0], 0f }, "LGMSNet");

    private static void Write(string path, byte[] voxels, int[] size, Header g, short datatype, short bitpix, short intentCode, int channels = 1)
    {
        var h = new byte[352];
        BinaryPrimitives.WriteInt32LittleEndian(h, HeaderSize);
        h[39] = g.DimInfo;
        var dim = new short[] { (short)(channels > 1 ? 4 : 3), (short)size[2], (short)size[1], (short)size[0], (short)channels, 1, 1, 1 };
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteInt16LittleEndian(h.AsSpan(40 + 2 * i), dim[i]);
        BinaryPrimitives.WriteInt16LittleEndian(h.AsSpan(68), intentCode);
        BinaryPrimitives.WriteInt16LittleEndian(h.AsSpan(70), datatype);
        BinaryPrimitives.WriteInt16LittleEndian(h.AsSpan(72), bitpix);
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(76 + 4 * i), g.Pixdim[i]);
        BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(108), 352);
        BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(112), 1);
        BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(116), 0);
        h[123] = g.XyztUnits;
        Encoding.ASCII.GetBytes(g.Description.Length > 79 ? g.Description[..79] : g.Description).CopyTo(h, 148);
        BinaryPrimitives.WriteInt16LittleEndian(h.AsSpan(252), g.QformCode);
        BinaryPrimitives.WriteInt16LittleEndian(h.AsSpan(254), g.SformCode);
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(256 + 4 * i), g.Quatern[i]);
        for (int i = 0; i < 4; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(280 + 4 * i), g.SrowX[i]);
            BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(296 + 4 * i), g.SrowY[i]);
            BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(312 + 4 * i), g.SrowZ[i]);
        }
        Encoding.ASCII.GetBytes("n+1\0").CopyTo(h, 344);
        IO.AtomicFile.Write(path, stream =>
        {
            Stream target = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
                ? new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true)
                : stream;
            target.Write(h);
            target.Write(voxels);
            if (!ReferenceEquals(target, stream)) target.Dispose();
        });
    }

    private static int ReadFully(Stream stream, byte[] buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = stream.Read(buffer, total, buffer.Length - total);
            if (read == 0) break;
            total += read;
        }
        return total;
    }

    private static void Skip(Stream stream, long count, string path)
    {
        var buffer = new byte[Math.Min(count, 1 << 16)];
        while (count > 0)
        {
            int read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            if (read == 0) throw new DataException($"{path}: truncated before the voxel data");
            count -= read;
        }
    }
}
