using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>eval and predict never report a silent "perfect" score, never overwrite inputs or existing
/// files, write lossless masks, and follow the input convention of the weights they are given.</summary>
[Collection("cli")]
public sealed class InferenceSafetyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lgms-inference-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Temp(string name) => Path.Combine(_dir, name);

    /// <summary>Untrained lgmsnet weights in our checkpoint format.</summary>
    private string Weights()
    {
        string path = Temp("weights.safetensors");
        if (!File.Exists(path))
        {
            using var network = new LGMSNet.Architectures.LgmsNet();
            Checkpoint.Save(path, network);
        }
        return path;
    }

    [Fact]
    public void Eval_on_a_set_without_foreground_warns_loudly_and_records_it_in_json()
    {
        string data = TestData.ImageFolder(Temp("empty-masks"), 3);
        foreach (var mask in Directory.GetFiles(Path.Combine(data, "masks", "0")))
            ImageCodec.WriteGray(mask, new byte[56 * 40], 56, 40);
        var (code, output, error) = CliRunner.Run("eval", "lgmsnet", "--weights", Weights(), "--data", data, "--size", "32", "--json");
        Assert.True(code == 0, output + error);
        Assert.Contains("warning: evaluation set: none of the 3 cases has any foreground", error);
        var labels = CliRunner.Json(output).GetProperty("labels");
        Assert.Equal(0, labels.GetProperty("cases_with_foreground").GetInt32());
        Assert.Equal("NoForeground", labels.GetProperty("warnings")[0].GetProperty("kind").GetString());
    }
}
