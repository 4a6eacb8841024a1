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
    [Fact]
    public void Every_yaml_file_in_architectures_is_compiled()
    {
        var files = Directory.GetFiles(Path.Combine(Fixtures.RepoRoot, "architectures"), "*.yaml").Select(Path.GetFileNameWithoutExtension).OrderBy(f => f);
        Assert.Equal(files, LGMSNet.Architectures.CompiledArchitectures.All.Select(a => a.Info.FileStem).OrderBy(f => f));
    }

    [Theory]
    [MemberData(nameof(CliRunner.Stems), MemberType = typeof(CliRunner))]
    public void Module_matches_its_metadata_and_runs_forward(string stem)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        using var network = descriptor.Create();
        var info = descriptor.Info;
        Assert.Equal(info.Parameters, network.parameters().Sum(p => p.numel()));
        // The compiler counts built-in blocks itself; user blocks (opaque to it) are counted on the module.
        if (Costs.IsComplete(info.Plan)) Assert.Equal(info.Parameters, Costs.Parameters(info.Plan));

        // The state_dict TorchSharp builds is exactly the plan's (plus user blocks' own tensors): names, shapes, parameter vs buffer.
        var state = network.state_dict();
        var plan = WeightLayout.KeyMap(network);
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

    /// <summary>The compiler's multiply-add count (its <c>Info.MultiplyAdds</c> constant and the cost model behind
    /// it) against an independent count of what TorchSharp computes in a forward pass (<see cref="MacCounter"/>):
    /// 2D architectures at their YAML input size, so the constant itself is checked; 3D ones at 64³ and at a
    /// non-cubic size (96³ would take minutes here), which checks the cost model the constant comes from.</summary>
    [Theory]
    [MemberData(nameof(CliRunner.Stems), MemberType = typeof(CliRunner))]
    public void Multiply_adds_match_an_independent_count_from_a_forward_pass(string stem)
    {
        var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
        var info = descriptor.Info;
        using var network = descriptor.Create();
        network.eval();
        var sizes = info.Dims == 2
            ? new[] { info.MultiplyAddsInputSize.ToArray() }
            : new[] { info.InputMultiple.Select(m => Math.Max(m, 64)).ToArray(), info.InputMultiple.Select((m, axis) => m * (axis + 1)).ToArray() };
        // With user blocks: the compiler's count of the built-in blocks plus what each user block declares (IBlockCost);
        // a block that declares nothing is not counted, so the forward pass counts at least that much.
        long Expected(int[] size) => NetworkCosts.PerStage(network, size).Sum(s => s.MultiplyAdds);
        if (info.Dims == 2) Assert.Equal(info.MultiplyAdds, Expected(sizes[0]));
        foreach (var size in sizes)
        {
            using var counter = new MacCounter(network);
            using (no_grad())
            using (var input = zeros(new long[] { 1, info.InChannels }.Concat(size.Select(s => (long)s)).ToArray()))
            using (network.forward(input)) { }
            if (info.UncostedBlocks.Count == 0) Assert.Equal(Expected(size), counter.Total.Total);
            else Assert.True(counter.Total.Total > Expected(size), $"{stem}: forward pass {counter.Total.Total}, declared {Expected(size)} without {string.Join(", ", info.UncostedBlocks)}");
        }
    }

    /// <summary>The counter itself against the authors' own figures for their 2D network at 256×256
    /// (shared/reference/README.md, "Measured model size and cost"): conv, linear and attention separately.</summary>
    [Fact]
    public void The_independent_count_reproduces_the_reference_figures_for_lgmsnet()
    {
        using var network = new LGMSNet.Architectures.LgmsNet();
        network.eval();
        using var counter = new MacCounter(network);
        using (no_grad())
        using (var input = zeros(1, 3, 256, 256))
        using (network.forward(input)) { }
        Assert.Equal(new MacCount(4_485_496_832, 217_055_232, 303_038_464), counter.Total);
    }
}
