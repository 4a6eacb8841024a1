using System;
using System.Collections.Generic;
using System.Linq;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Text;

namespace LGMSNet.Dsl.Planning.Definitions;

/// <summary>What the planner offers a block while it is resolved: the network's dims and norm, diagnostics, and the
/// input-size multiple the block needs.</summary>
public interface IPlanningContext
{
    int Dims { get; }

    /// <summary>Reports an error at <paramref name="span"/>; returns false (so checks can be chained).</summary>
    bool Report(DiagnosticKind kind, SourceSpan span, string message);

    /// <summary>Every spatial input size (on <paramref name="axis"/>, or on all axes when negative) must be a multiple of <paramref name="factor"/>.</summary>
    void Require(long factor, int axis = -1);
}

/// <summary>What a block of the language means, behind its <see cref="BlockDeclaration"/>: how it resolves where the
/// YAML puts it (channels, constraints, input-size needs), the layers it lowers to (parameters, multiply-adds, state_dict
/// keys), and the arguments of its runtime class. The parser, planner, layer lowering and emitter reach every block, built
/// in or declared in C#, only through this class (<see cref="BlockDefinitions.Of(BlockDeclaration)"/>); none names a block.</summary>
public abstract class BlockDefinition
{
    protected BlockDefinition(BlockDeclaration declaration) => Declaration = declaration;

    public BlockDeclaration Declaration { get; }

    /// <summary>The plan type this definition produces (how a plan finds its definition again).</summary>
    public abstract Type PlanType { get; }

    /// <summary>The planned block for <paramref name="block"/> taking <paramref name="inChannels"/> at a level of width
    /// <paramref name="width"/>, or null after reporting why it cannot be built.</summary>
    public abstract BlockPlan? Resolve(IPlanningContext context, DeclaredBlockSpec block, int inChannels, int width, int level);

    /// <summary>The layers under our module name <paramref name="o"/>; <paramref name="nextReference"/> hands out the
    /// reference's module names in order (<see cref="ReferenceModules"/> of them).</summary>
    public abstract IEnumerable<Layer> Lower(LayerBuilder layers, BlockPlan plan, string o, Func<string> nextReference, int level);

    /// <summary>The layers of the block alone, as the reference builds it on its own (golden fixtures of single blocks).</summary>
    public virtual IEnumerable<Layer> LowerAlone(LayerBuilder layers, BlockPlan plan, string o, string reference) =>
        Lower(layers, plan, o, () => reference, 1);

    /// <summary>How many entries of the reference's nn.Sequential this block is.</summary>
    public virtual int ReferenceModules(BlockPlan plan) => 1;

    /// <summary>The named arguments of the runtime class's constructor (C# text); <c>norm</c> names the network's NormSpec.</summary>
    public abstract IReadOnlyList<string> Arguments(BlockPlan plan, int dims);

    /// <summary>The value given for (or defaulted to) option <paramref name="key"/>.</summary>
    protected static OptionValue Value(DeclaredBlockSpec block, string key) =>
        block.Values.FirstOrDefault(v => v.Key == key) ?? throw new InvalidOperationException($"block '{block.Keyword}' has no option '{key}'");

    protected static string IntArray(IEnumerable<int> values) => "new[] { " + string.Join(", ", values) + " }";
}
