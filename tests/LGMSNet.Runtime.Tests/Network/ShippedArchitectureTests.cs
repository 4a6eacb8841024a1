using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Network;

/// <summary>Every YAML in architectures/ and in the test folder: the module TorchSharp builds matches
/// the compiler's metadata (parameters, state_dict keys and shapes) and runs a forward pass.</summary>
public sealed class ShippedArchitectureTests
{
    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (var a in CliRunner.Architectures) data.Add(a.Info.FileStem);
        return data;
    }

    [Fact]
    public void Every_yaml_file_in_architectures_is_compiled()
    {
        var files = Directory.GetFiles(Path.Combine(Fixtures.RepoRoot, "architectures"), "*.yaml").Select(Path.GetFileNameWithoutExtension).OrderBy(f => f);
        Assert.Equal(files, LGMSNet.Architectures.CompiledArchitectures.All.Select(a => a.Info.FileStem).OrderBy(f => f));
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Module_matches_its_metadata_and_runs_forward(string stem)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        var info = descriptor.Info;
        Assert.Equal(info.Parameters, network.parameters().Sum(p => p.numel()));
        Assert.Equal(info.Parameters, Costs.Parameters(info.Plan));
        Assert.Equal(info.MultiplyAdds, Costs.Macs(info.Plan, info.MultiplyAddsInputSize.ToArray()).Total);

        // The state_dict TorchSharp builds is exactly the plan's: names, shapes, parameter vs buffer.
        var state = network.state_dict();
        var plan = WeightLayout.KeyMap(info);
        Assert.Equal(plan.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal), state.Keys.OrderBy(n => n, StringComparer.Ordinal));
        foreach (var tensor in plan) Assert.Equal(tensor.Shape, state[tensor.Name].shape);
        var parameterNames = network.named_parameters().Select(p => p.name).ToHashSet();
        Assert.All(plan, t => Assert.Equal(t.IsParameter, parameterNames.Contains(t.Name)));
        Assert.Equal(plan.Count, plan.Select(t => t.ReferenceName).Distinct().Count());

        network.eval();
        var size = info.InputMultiple.Select(m => (long)Math.Max(m, 32)).ToArray();
        using var _ = no_grad();
        using var logits = network.forward(randn(new long[] { 1, info.InChannels }.Concat(size).ToArray()));
        Assert.Equal(new long[] { 1, info.Classes }.Concat(size), logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
    }
}
