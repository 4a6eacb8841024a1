using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Interop;

/// <summary>The input convention follows the weights wherever they enter: a file in the authors' key
/// layout (their PyTorch state_dict) is fed the authors' inputs by eval and predict, as `import` records.</summary>
[Collection("cli")]
public sealed class WeightConventionTests() : TempFolderTest("lgms-convention-")
{
    private static string ReferenceWeights => Fixtures.Reference("lgmsnet2d", "weights.safetensors");

    private string Dataset()
    {
        string data = Path.Combine(Dir, "data");
        if (!Directory.Exists(data)) TestData.ImageFolder(data, 2);
        return data;
    }

    private string EvalConvention(params string[] extra)
    {
        var (code, output, error) = CliRunner.Run(new[] { "eval", "lgmsnet", "--weights", ReferenceWeights, "--data", Dataset(), "--size", "32", "--json" }
            .Concat(extra).ToArray());
        Assert.True(code == 0, output + error);
        return CliRunner.Json(output).GetProperty("input_convention").GetString()!;
    }

    [Fact]
    public void Eval_and_predict_with_reference_layout_weights_use_the_authors_convention()
    {
        Assert.Equal("authors", EvalConvention());
        Assert.Equal("standard", EvalConvention("--input-convention", "standard")); // the option still overrides

        string images = Path.Combine(Dataset(), "images");
        var (code, output, error) = CliRunner.Run("predict", "lgmsnet", "--weights", ReferenceWeights, "--input", images,
            "--output", Path.Combine(Dir, "masks"), "--size", "32");
        Assert.True(code == 0, output + error);
        Assert.Contains("authors' key layout", error);
        Assert.Contains("authors' input convention", error);
    }

    [Fact]
    public void Export_keeps_the_convention_of_the_weights_it_was_given()
    {
        string exported = Path.Combine(Dir, "round-trip.safetensors");
        var (code, output, error) = CliRunner.Run("export", "lgmsnet", "--weights", ReferenceWeights, "--output", exported);
        Assert.True(code == 0, output + error);
        using var network = new LGMSNet.Architectures.LgmsNet();
        Assert.Equal(InputConvention.Authors, Checkpoint.LoadWeights(network, exported).Convention); // was: unrecorded, read as standard
    }

    [Fact]
    public void Loaded_weights_carry_their_convention()
    {
        using var network = new LGMSNet.Architectures.LgmsNet();
        var reference = Checkpoint.LoadWeights(network, ReferenceWeights);
        Assert.Equal(KeyLayout.Reference, reference.Layout);
        Assert.Equal(InputConvention.Authors, reference.Convention);

        string ours = Path.Combine(Dir, "ours.safetensors");
        Checkpoint.Save(ours, network);
        var plain = Checkpoint.LoadWeights(network, ours);
        Assert.Equal(KeyLayout.Ours, plain.Layout);
        Assert.Null(plain.Convention); // unrecorded: the caller's default (standard)

        Checkpoint.Save(ours, network, convention: InputConvention.Authors);
        Assert.Equal(InputConvention.Authors, Checkpoint.LoadWeights(network, ours).Convention);

        // Our own export in the reference layout, without a recorded convention, is not taken for the authors' file.
        string exported = Path.Combine(Dir, "exported.safetensors");
        SafeTensorWriter.Write(exported, WeightLayout.Export(network, KeyLayout.Reference),
            new Dictionary<string, string> { ["architecture"] = "LgmsNet", ["layout"] = "reference", ["yaml_sha256"] = network.Architecture.YamlSha256 });
        var export = Checkpoint.LoadWeights(network, exported);
        Assert.Equal(KeyLayout.Reference, export.Layout);
        Assert.Null(export.Convention);
    }
}
