using System.Buffers.Binary;
using System.Text;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Interop;

/// <summary>A corrupt weights file given to eval is a user-facing error that names the file and what is
/// wrong (exit 1, "error: ..."), never "internal error" (exit 70).</summary>
[Collection("cli")]
public sealed class CorruptCheckpointTests() : TempFolderTest("lgms-corrupt-")
{
    public static TheoryData<string> Corruptions() => new()
    {
        "truncated", "garbage", "empty", "offsets not numbers", "shape not a list of numbers", "wrong shape", "missing tensor",
        "epochs_done not a number", "progress without optimizer_steps", "input_size not a size", "learning_rate not a number",
        "input_convention unknown",
    };

    /// <summary>A safetensors file with the given header JSON and data bytes.</summary>
    private static byte[] Safetensors(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        return bytes;
    }

    /// <summary>Our checkpoint of untrained lgmsnet with training progress, then <paramref name="corruption"/> applied.</summary>
    private string Corrupt(string corruption)
    {
        string path = Path.Combine(Dir, corruption.Replace(' ', '-') + ".safetensors");
        using var network = new LGMSNet.Architectures.LgmsNet();
        var progress = new TrainingProgress(2, 10, 0.01, "adamw", "{}", new[] { 32, 32 });
        Checkpoint.Save(path, network, progress: progress);
        var file = SafeTensorFile.Read(path);
        var metadata = new Dictionary<string, string>(file.Metadata);
        Dictionary<string, TorchSharp.torch.Tensor> Tensors() => file.Names.ToDictionary(n => n, file.ToTensor);
        switch (corruption)
        {
            case "truncated": File.WriteAllBytes(path, File.ReadAllBytes(path)[..(int)(new FileInfo(path).Length / 2)]); break;
            case "garbage": File.WriteAllBytes(path, Enumerable.Range(0, 4096).Select(i => (byte)(i * 73 % 256)).ToArray()); break;
            case "empty": File.WriteAllBytes(path, Array.Empty<byte>()); break;
            case "offsets not numbers":
                File.WriteAllBytes(path, Safetensors("""{"model.stem.weight": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}""", 4));
                break;
            case "shape not a list of numbers":
                File.WriteAllBytes(path, Safetensors("""{"model.stem.weight": {"dtype": "F32", "shape": [[1]], "data_offsets": [0, 4]}}""", 4));
                break;
            case "wrong shape":
            {
                var tensors = Tensors();
                string victim = tensors.Keys.First(k => k.EndsWith(".weight", StringComparison.Ordinal));
                tensors[victim] = TorchSharp.torch.zeros(3);
                SafeTensorWriter.Write(path, tensors, metadata);
                break;
            }
            case "missing tensor":
            {
                var tensors = Tensors();
                tensors.Remove(tensors.Keys.First(k => k.EndsWith(".weight", StringComparison.Ordinal)));
                SafeTensorWriter.Write(path, tensors, metadata);
                break;
            }
            default:
            {
                switch (corruption)
                {
                    case "epochs_done not a number": metadata["epochs_done"] = "two"; break;
                    case "progress without optimizer_steps": metadata.Remove("optimizer_steps"); break;
                    case "input_size not a size": metadata["input_size"] = "32xbig"; break;
                    case "input_convention unknown": metadata["input_convention"] = "bgr-ish"; break;
                    default: metadata["learning_rate"] = "fast"; break;
                }
                SafeTensorWriter.Write(path, Tensors(), metadata);
                break;
            }
        }
        return path;
    }

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void A_corrupt_checkpoint_is_a_user_error_naming_the_file(string corruption)
    {
        string weights = Corrupt(corruption);
        string data = TestData.ImageFolder(Path.Combine(Dir, "data"), 2);
        var (code, output, error) = CliRunner.Run("eval", "lgmsnet", "--weights", weights, "--data", data, "--size", "32");
        Assert.DoesNotContain("internal error", error);
        Assert.True(code is 1 or 2, $"exit {code}: {output}{error}");
        Assert.StartsWith("error: ", error);
        Assert.Contains(Path.GetFileName(weights), error);
    }
}

/// <summary>Progress metadata read by resume: a run state that is not a JSON object is corrupt metadata naming the file.</summary>
public sealed class CorruptProgressTests : IDisposable
{
    private readonly string Dir = Directory.CreateTempSubdirectory("lgms-progress-").FullName;

    public void Dispose() => Directory.Delete(Dir, true);

    [Theory]
    [InlineData("{\"history\": [")]
    [InlineData("42")]
    public void A_run_state_that_is_not_a_json_object_names_the_file(string runState)
    {
        string path = Path.Combine(Dir, "last.safetensors");
        using var network = new LGMSNet.Architectures.LgmsNet();
        Checkpoint.Save(path, network, progress: new TrainingProgress(1, 3, 0.01, "adamw", runState));
        var error = Assert.Throws<SafeTensorsException>(() => Checkpoint.ReadProgress(SafeTensorFile.Read(path)));
        Assert.Contains(path, error.Message);
        Assert.Contains("run_state", error.Message);
    }
}
