using System.Buffers.Binary;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Data;

/// <summary>Labels are held as bytes: nothing may wrap around silently. A label value the architecture
/// cannot hold, or a class count above 256, is an error naming the file (or the count) and the value.</summary>
public sealed class LabelRangeTests() : TempFolderTest("lgms-labels-")
{
    /// <summary>Rewrites a NIfTI label volume as <paramref name="datatype"/> (512 = uint16, 8 = int32) with one voxel set to <paramref name="value"/>.</summary>
    private static void WriteWideLabels(string path, short datatype, int value)
    {
        var (header, volume) = Nifti.Read(path);
        int bytes = datatype == 512 ? 2 : 4;
        var raw = new byte[352 + volume.Data.Length * bytes];
        BinaryPrimitives.WriteInt32LittleEndian(raw, 348);
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteInt16LittleEndian(raw.AsSpan(40 + 2 * i), header.Dim[i]);
        BinaryPrimitives.WriteInt16LittleEndian(raw.AsSpan(70), datatype);
        BinaryPrimitives.WriteInt16LittleEndian(raw.AsSpan(72), (short)(bytes * 8));
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(76 + 4 * i), header.Pixdim[i]);
        BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(108), 352);
        "n+1\0"u8.CopyTo(raw.AsSpan(344));
        for (int i = 0; i < volume.Data.Length; i++)
        {
            int v = i == 100 ? value : (int)volume.Data[i];
            if (bytes == 2) BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(352 + 2 * i), (ushort)v);
            else BinaryPrimitives.WriteInt32LittleEndian(raw.AsSpan(352 + 4 * i), v);
        }
        File.Delete(path);
        File.WriteAllBytes(path.Replace(".nii.gz", ".nii", StringComparison.Ordinal), raw);
        string manifest = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(path))!, "dataset.json");
        string name = Path.GetFileName(path);
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("labelsTr/" + name, "labelsTr/" + name.Replace(".nii.gz", ".nii", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData((short)512, 300)] // uint16: 300 would wrap to 44
    [InlineData((short)8, 259)] // int32: 259 would wrap to 3
    public void A_wide_nifti_label_beyond_the_classes_names_the_file_and_the_value(short datatype, int value)
    {
        string data = TestData.Decathlon(Path.Combine(Dir, "wide" + datatype), 1, new[] { 16, 16, 16 }, classes: 4);
        string label = Path.Combine(data, "labelsTr", "vol_000.nii.gz");
        WriteWideLabels(label, datatype, value);
        var error = Assert.Throws<DataException>(() => new DecathlonDataset(data, 1, 4).Load(0));
        Assert.Contains("vol_000.nii", error.Message);
        Assert.Contains($"label value {value}", error.Message);
    }

    [Fact]
    public void More_classes_than_a_byte_holds_is_refused_by_every_dataset_and_the_predictor()
    {
        // A 300-class Decathlon dataset: label 299 would be stored as 43 without the check.
        string data = TestData.Decathlon(Path.Combine(Dir, "many"), 1, new[] { 16, 16, 16 }, classes: 3);
        string manifest = Path.Combine(data, "dataset.json");
        var labels = string.Join(", ", Enumerable.Range(0, 300).Select(c => $"\"{c}\": \"c{c}\""));
        var text = File.ReadAllText(manifest);
        int start = text.IndexOf("\"labels\"", StringComparison.Ordinal), end = text.IndexOf('}', start);
        File.WriteAllText(manifest, text[..start] + "\"labels\": {" + labels + text[end..]);
        var error = Assert.Throws<DataException>(() => new DecathlonDataset(data, 1, 300));
        Assert.Contains("300 classes", error.Message);
        Assert.Contains("256", error.Message);

        error = Assert.Throws<DataException>(() => new SyntheticDataset(2, 3, 300, new[] { 16, 16 }, 4, 1, 0));
        Assert.Contains("300 classes", error.Message);

        using var logits = zeros(300, 2, 2);
        logits[299].fill_(1); // argmax 299 would be written as 43
        error = Assert.Throws<DataException>(() => Predictor.Labels(logits));
        Assert.Contains("300 classes", error.Message);
    }
}
