using System.Buffers.Binary;
using System.IO.Compression;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Interop;

public sealed class FileFormatTests() : TempFolderTest("lgms-io-")
{
    [Theory]
    [InlineData("volume.nii")]
    [InlineData("volume.nii.gz")]
    public void Nifti_round_trip_keeps_voxels_and_header_geometry(string name)
    {
        var size = new[] { 3, 4, 5 }; // D, H, W
        var data = Enumerable.Range(0, 60).Select(i => i * 0.5f - 7).ToArray();
        var geometry = Nifti.Geometry(size, new[] { 2.5f, 0.8f, 0.7f }) with
        {
            QformCode = 1,
            Quatern = new[] { 0.1f, 0.2f, 0.3f, -10f, 20f, 30f },
            SrowX = new[] { 0.7f, 0, 0, -10 },
        };
        string path = Path.Combine(Dir, name);
        Nifti.WriteFloat(path, new Volume(data, 1, size), geometry);
        var (header, volume) = Nifti.Read(path);
        Assert.Equal(size, volume.Size);
        Assert.Equal(data, volume.Data);
        Assert.Equal(geometry.Pixdim, header.Pixdim);
        Assert.Equal(geometry.Quatern, header.Quatern);
        Assert.Equal(geometry.SrowX, header.SrowX);
        Assert.Equal(1, header.QformCode);

        string labels = Path.Combine(Dir, "labels-" + name);
        var labelData = data.Select(v => (byte)(Math.Abs((int)v) % 3)).ToArray();
        Nifti.WriteLabels(labels, new LabelMap(labelData, size), header);
        var (labelHeader, labelVolume) = Nifti.Read(labels);
        Assert.Equal(labelData.Select(v => (float)v), labelVolume.Data);
        Assert.Equal(2, labelHeader.Datatype); // uint8
        Assert.Equal(geometry.Pixdim, labelHeader.Pixdim);
        Assert.Equal(geometry.SrowX, labelHeader.SrowX);
    }

    [Fact]
    public void Nifti_reads_big_endian_int16_with_scaling()
    {
        var header = new byte[352];
        BinaryPrimitives.WriteInt32BigEndian(header, 348);
        short[] dim = { 3, 2, 2, 1, 1, 1, 1, 1 };
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteInt16BigEndian(header.AsSpan(40 + 2 * i), dim[i]);
        BinaryPrimitives.WriteInt16BigEndian(header.AsSpan(70), 4);
        BinaryPrimitives.WriteInt16BigEndian(header.AsSpan(72), 16);
        BinaryPrimitives.WriteSingleBigEndian(header.AsSpan(108), 352);
        BinaryPrimitives.WriteSingleBigEndian(header.AsSpan(112), 2);
        BinaryPrimitives.WriteSingleBigEndian(header.AsSpan(116), 1);
        "n+1\0"u8.CopyTo(header.AsSpan(344));
        var voxels = new byte[8];
        short[] values = { -3, 0, 5, 1000 };
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteInt16BigEndian(voxels.AsSpan(2 * i), values[i]);
        string path = Path.Combine(Dir, "be.nii");
        File.WriteAllBytes(path, header.Concat(voxels).ToArray());
        var (_, volume) = Nifti.Read(path);
        Assert.Equal(new float[] { -5, 1, 11, 2001 }, volume.Data);
    }

    [Fact]
    public void Nifti_rejects_truncated_and_corrupt_files_with_the_file_name()
    {
        string good = Path.Combine(Dir, "good.nii.gz");
        Nifti.WriteFloat(good, new Volume(new float[64], 1, new[] { 4, 4, 4 }), Nifti.Geometry(new[] { 4, 4, 4 }, new[] { 1f, 1, 1 }));
        string truncated = Path.Combine(Dir, "truncated.nii.gz");
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(truncated, bytes.Take(bytes.Length / 2).ToArray());
        Assert.Contains("truncated.nii.gz", Assert.Throws<DataException>(() => Nifti.Read(truncated)).Message);

        string garbage = Path.Combine(Dir, "garbage.nii");
        File.WriteAllBytes(garbage, Enumerable.Repeat((byte)7, 400).ToArray());
        Assert.Contains("not a NIfTI-1 file", Assert.Throws<DataException>(() => Nifti.Read(garbage)).Message);

        // A header claiming an absurd size must be refused before allocating.
        string huge = Path.Combine(Dir, "huge.nii");
        var header = new byte[352];
        BinaryPrimitives.WriteInt32LittleEndian(header, 348);
        short[] dim = { 3, 32767, 32767, 32767, 1, 1, 1, 1 };
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(40 + 2 * i), dim[i]);
        BinaryPrimitives.WriteInt16LittleEndian(header.AsSpan(70), 16);
        BinaryPrimitives.WriteSingleLittleEndian(header.AsSpan(108), 352);
        "n+1\0"u8.CopyTo(header.AsSpan(344));
        File.WriteAllBytes(huge, header);
        Assert.Contains("exceed", Assert.Throws<DataException>(() => Nifti.Read(huge)).Message);
    }

    [Fact]
    public void Safetensors_round_trip_all_supported_types()
    {
        string path = Path.Combine(Dir, "t.safetensors");
        using var f32 = tensor(new float[] { 1.5f, -2.25f, 3 }, new long[] { 3 });
        using var i64 = tensor(42L);
        SafeTensorWriter.Write(path, new Dictionary<string, Tensor> { ["b.f32"] = f32, ["a.scalar"] = i64 }, new Dictionary<string, string> { ["k"] = "v" });
        var file = SafeTensorFile.Read(path);
        Assert.Equal(new[] { "a.scalar", "b.f32" }, file.Names.OrderBy(n => n));
        Assert.Equal(SafeTensorDType.I64, file["a.scalar"].DType);
        Assert.Empty(file["a.scalar"].Shape);
        Assert.Equal(42L, file.ToTensor("a.scalar").item<long>());
        Assert.Equal(new[] { 1.5f, -2.25f, 3 }, file.ReadFloats("b.f32"));
        Assert.Equal("v", file.Metadata["k"]);
        Assert.Equal(0, (BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path)) + 8) % 8); // data starts 8-aligned

        foreach (var type in new[] { SafeTensorDType.F16, SafeTensorDType.BF16 })
        {
            SafeTensorWriter.Write(path, new Dictionary<string, Tensor> { ["x"] = f32 }, floatType: type);
            var half = SafeTensorFile.Read(path);
            Assert.Equal(type, half["x"].DType);
            Assert.Equal(new[] { 1.5f, -2.25f, 3 }, half.ReadFloats("x")); // exactly representable in both
        }
    }

    [Fact]
    public void Safetensors_rejects_malformed_files_without_reading_past_the_buffer()
    {
        byte[] Header(string json, int dataBytes)
        {
            var text = System.Text.Encoding.UTF8.GetBytes(json);
            var bytes = new byte[8 + text.Length + dataBytes];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)text.Length);
            text.CopyTo(bytes, 8);
            return bytes;
        }
        var cases = new Dictionary<string, byte[]>
        {
            ["tiny"] = new byte[4],
            ["header longer than file"] = BitConverter.GetBytes(1000UL).Concat(new byte[10]).ToArray(),
            ["bad json"] = Header("{not json", 0),
            ["offsets past the end"] = Header("""{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8),
            ["shape vs bytes"] = Header("""{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}""", 16),
            ["absurd shape"] = Header("""{"x":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}}""", 16),
            ["negative dim"] = Header("""{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4),
            ["unknown dtype"] = Header("""{"x":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}""", 4),
            ["reversed offsets"] = Header("""{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}""", 4),
        };
        foreach (var (what, bytes) in cases)
        {
            var error = Assert.Throws<SafeTensorsException>(() => SafeTensorFile.Parse(bytes, what));
            Assert.StartsWith(what, error.Message);
        }
    }

    [Fact]
    public void Checkpoint_round_trip_restores_weights_buffers_and_optimizer_state()
    {
        string path = Path.Combine(Dir, "c.safetensors");
        using var network = new LGMSNet.Architectures.LgmsNet();
        var parameters = network.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        using var optimizer = new LGMSNet.Runtime.Training.Optimizer(LGMSNet.Runtime.Training.OptimizerKind.Sgd, parameters, 0.01);
        network.train();
        using (var loss = network.forward(torch.randn(2, 3, 32, 32)).mean()) { loss.backward(); }
        optimizer.Step();
        Checkpoint.Save(path, network, optimizer.State, new TrainingProgress(3, 1, 0.005, "sgd", "{}", new[] { 32, 32 }));

        using var restored = new LGMSNet.Architectures.LgmsNet();
        var (file, note) = Checkpoint.LoadWeights(restored, path);
        Assert.Null(note);
        var expected = network.state_dict();
        foreach (var (key, value) in restored.state_dict())
            Assert.True(value.eq(expected[key]).all().item<bool>(), $"{key} differs after the round trip");
        var progress = Checkpoint.ReadProgress(file)!;
        Assert.Equal((3, 1L), (progress.EpochsDone, progress.OptimizerSteps));
        Assert.Equal(new[] { 32, 32 }, progress.InputSize);
        var state = Checkpoint.ReadOptimizerState(file);
        Assert.Equal(optimizer.State.Count, state.Count);
        Assert.All(optimizer.State, kv => Assert.True(state[kv.Key].eq(kv.Value).all().item<bool>()));
    }

    [Fact]
    public void Loading_weights_into_a_different_architecture_names_the_mismatching_tensors()
    {
        string path = Path.Combine(Dir, "small3d.safetensors");
        using (var small = new LgmsNet3DSmall()) Checkpoint.Save(path, small);
        using var full = new LGMSNet.Architectures.LgmsNet3D();
        var error = Assert.Throws<WeightMismatchException>(() => Checkpoint.LoadWeights(full, path));
        Assert.Contains("LgmsNet3DSmall", error.Message);
        Assert.Contains("LgmsNet3D", error.Message);
        Assert.Contains("'stem.conv.weight' has shape [8, 1, 3, 3, 3], LgmsNet3D needs [16, 1, 3, 3, 3]", error.Message);
    }

    [Fact]
    public void Reference_weights_import_and_export_round_trip_byte_for_byte()
    {
        var reference = Fixtures.Load("lgmsnet2d", "weights.safetensors");
        using var network = new LGMSNet.Architectures.LgmsNet();
        WeightLayout.Load(network, reference, KeyLayout.Reference);
        string exported = Path.Combine(Dir, "exported.safetensors");
        SafeTensorWriter.Write(exported, WeightLayout.Export(network, KeyLayout.Reference));
        var back = SafeTensorFile.Read(exported);
        Assert.Equal(reference.Names.OrderBy(n => n, StringComparer.Ordinal), back.Names.OrderBy(n => n, StringComparer.Ordinal));
        foreach (var name in reference.Names)
        {
            Assert.Equal(reference[name].DType, back[name].DType);
            Assert.Equal(reference[name].Shape, back[name].Shape);
            Assert.True(reference.ToTensor(name).eq(back.ToTensor(name)).all().item<bool>(), name);
        }
    }
}
