using System.Buffers.Binary;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Data;

/// <summary>Broken datasets: every fault is reported with the file or case that caused it, or skipped
/// with a warning and listed in metrics.json under --skip-bad.</summary>
[Collection("cli")]
public sealed class HostileDataTests() : TempFolderTest("lgms-hostile-")
{
    private string Dataset(string name, int cases = 6) => TestData.ImageFolder(Path.Combine(Dir, name), cases);

    private (int Code, string Error) Train(string data, params string[] extra)
    {
        var args = new[] { "train", "lgmsnet", "--data", data, "--epochs", "1", "--batch", "2", "--size", "32",
            "--out", Path.Combine(Dir, "run-" + Guid.NewGuid().ToString("N")) }.Concat(extra).ToArray();
        var (code, output, error) = CliRunner.Run(args);
        Assert.DoesNotContain("   at ", error); // never a stack trace for a data problem
        return (code, output + error);
    }

    public static TheoryData<string> Corruptions() => new() { "truncated png", "garbage jpeg", "empty file", "absurd size" };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Corrupt_images_name_the_file_and_can_be_skipped(string corruption)
    {
        string data = Dataset(corruption.Replace(' ', '-'));
        string victim = Directory.GetFiles(Path.Combine(data, "images")).OrderBy(f => f).First(f => f.EndsWith(".png", StringComparison.Ordinal));
        var bytes = File.ReadAllBytes(victim);
        switch (corruption)
        {
            case "truncated png": File.WriteAllBytes(victim, bytes.Take(bytes.Length / 3).ToArray()); break;
            case "garbage jpeg":
                File.Delete(victim);
                victim = Path.ChangeExtension(victim, ".jpg");
                File.WriteAllBytes(victim, new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 }.Concat(Enumerable.Repeat((byte)0x42, 500)).ToArray());
                break;
            case "empty file": File.WriteAllBytes(victim, Array.Empty<byte>()); break;
            default:
                // Claim a 100000 x 100000 image in the PNG header (IHDR width/height at bytes 16..23).
                BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(16), 100_000);
                BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(20), 100_000);
                File.WriteAllBytes(victim, bytes);
                break;
        }
        var (code, message) = Train(data);
        Assert.Equal(1, code);
        Assert.Contains(Path.GetFileName(victim), message);

        (code, message) = Train(data, "--skip-bad");
        Assert.True(code == 0, message);
        Assert.Contains("warning: skipped", message);
        Assert.Contains(Path.GetFileName(victim), message);
    }

    [Fact]
    public void A_missing_mask_names_the_case()
    {
        string data = Dataset("missing-mask");
        File.Delete(Directory.GetFiles(Path.Combine(data, "masks", "0")).OrderBy(f => f).First());
        var (code, message) = Train(data);
        Assert.Equal(1, code);
        Assert.Contains("case 'case (0)' has no mask", message);
    }

    [Fact]
    public void A_mask_of_another_size_names_the_case()
    {
        string data = Dataset("size-mismatch");
        string mask = Directory.GetFiles(Path.Combine(data, "masks", "0")).OrderBy(f => f).First();
        ImageCodec.WriteGray(mask, new byte[20 * 10], 20, 10);
        var (code, message) = Train(data);
        Assert.Equal(1, code);
        Assert.Contains("case 'case (0)': mask 20x10 does not match image 56x40", message);
    }

    [Fact]
    public void Masks_with_values_other_than_0_and_255_are_binarised_at_128()
    {
        string data = Dataset("grey-mask", 2);
        string mask = Directory.GetFiles(Path.Combine(data, "masks", "0")).OrderBy(f => f).First();
        ImageCodec.WriteGray(mask, Enumerable.Range(0, 56 * 40).Select(i => (byte)(i % 2 == 0 ? 127 : 128)).ToArray(), 56, 40);
        var dataset = new ImageFolderDataset(data, new ImageFolderOptions(new[] { 40, 56 }, 3, 1));
        var label = dataset.Load(0).Label!;
        Assert.Equal(Enumerable.Range(0, 56 * 40).Select(i => (byte)(i % 2)), label.Data);
    }

    [Fact]
    public void Split_files_that_are_empty_name_missing_cases_or_escape_the_dataset_are_refused()
    {
        string data = Dataset("splits");
        string Split(string name, string content)
        {
            string path = Path.Combine(Dir, name);
            File.WriteAllText(path, content);
            return path;
        }
        var (code, message) = Train(data, "--train-split", Split("empty.txt", "\r\n  \r\n"), "--val-split", Split("v1.txt", "case (5)\n"));
        Assert.Equal(1, code);
        Assert.Contains("empty.txt lists no cases", message);

        (code, message) = Train(data, "--train-split", Split("ghost.txt", "case (0)\r\nnobody\r\n"), "--val-split", Split("v2.txt", "case (5)\n"));
        Assert.Equal(1, code);
        Assert.Contains("case 'nobody' has no image", message);

        (code, message) = Train(data, "--train-split", Split("escape.txt", "../../etc/passwd\n"), "--val-split", Split("v3.txt", "case (5)\n"));
        Assert.Equal(1, code);
        Assert.Contains("escape.txt:1: '../../etc/passwd' is a path", message);
    }

    [Fact]
    public void An_unreadable_image_names_the_file()
    {
        string data = Dataset("unreadable");
        string victim = Directory.GetFiles(Path.Combine(data, "images")).OrderBy(f => f).First();
        File.Delete(victim);
        File.CreateSymbolicLink(victim, Path.Combine(Dir, "does-not-exist.png")); // dangling: listed, but cannot be opened
        var (code, message) = Train(data);
        Assert.Equal(1, code);
        Assert.Contains(Path.GetFileName(victim), message);
        Assert.Contains("cannot read", message);
    }

    [Fact]
    public void Nan_voxels_and_bad_labels_in_nifti_volumes_name_the_case()
    {
        string data = TestData.Decathlon(Path.Combine(Dir, "msd"), 2, new[] { 32, 32, 32 }, classes: 4);
        string image = Path.Combine(data, "imagesTr", "vol_000.nii.gz");
        var (header, volume) = Nifti.Read(image);
        volume.Data[123] = float.NaN;
        Nifti.WriteFloat(image, volume, header);
        var dataset = new DecathlonDataset(data, 1, 4);
        var error = Assert.Throws<DataException>(() => dataset.Load(0));
        Assert.Contains("vol_000", error.Message);
        Assert.Contains("NaN", error.Message);

        string label = Path.Combine(data, "labelsTr", "vol_001.nii.gz");
        var (labelHeader, labels) = Nifti.Read(label);
        labels.Data[7] = 9;
        Nifti.WriteFloat(label, labels, labelHeader);
        error = Assert.Throws<DataException>(() => dataset.Load(1));
        Assert.Contains("case 'vol_001': label value 9", error.Message);
    }

    [Fact]
    public void A_decathlon_manifest_pointing_outside_the_dataset_is_refused()
    {
        string data = TestData.Decathlon(Path.Combine(Dir, "msd-escape"), 1, new[] { 32, 32, 32 }, classes: 4);
        string manifest = Path.Combine(data, "dataset.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("./imagesTr/vol_000.nii.gz", "../../../etc/hostname"));
        var error = Assert.Throws<DataException>(() => new DecathlonDataset(data, 1, 4));
        Assert.Contains("points outside the dataset folder", error.Message);
    }
}

/// <summary>The two input conventions, pinned on single pixels.</summary>
public sealed class InputConventionTests
{
    [Fact]
    public void Standard_is_rgb_with_imagenet_normalisation_and_authors_is_bgr_divided_by_255_again()
    {
        byte[] pixel = { 255, 128, 0 }; // R, G, B
        var standard = ImageFolderDataset.ToChannels(pixel, 1, 3, InputConvention.Standard, "p");
        Assert.Equal((1 - 0.485f) / 0.229f, standard[0], 5);
        Assert.Equal((128 / 255f - 0.456f) / 0.224f, standard[1], 5);
        Assert.Equal((0 - 0.406f) / 0.225f, standard[2], 5);
        // albumentations Normalize on 0-255 data, OpenCV's BGR order, then the reference loader's extra /255.
        var authors = ImageFolderDataset.ToChannels(pixel, 1, 3, InputConvention.Authors, "p");
        Assert.Equal((0 - 0.485f * 255) / (0.229f * 255) / 255, authors[0], 6);
        Assert.Equal((128 - 0.456f * 255) / (0.224f * 255) / 255, authors[1], 6);
        Assert.Equal((255 - 0.406f * 255) / (0.225f * 255) / 255, authors[2], 6);
    }
}
