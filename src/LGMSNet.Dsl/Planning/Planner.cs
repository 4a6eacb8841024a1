using System;
using System.Collections.Generic;
using System.Linq;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Planning.Definitions;
using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Text;

namespace LGMSNet.Dsl.Planning;

/// <summary>Resolves a spec into a <see cref="NetworkPlan"/>: infers every block's channels, checks
/// the channel arithmetic and derives the spatial input-size multiple. Topology (ARCHITECTURE.md §3):
/// stem → encoder1..N (max-pool ×2 before each level but the first) → for each level below the deepest,
/// deepest first: up-conv, concat(skip, up), decoder blocks → 1×1 head.</summary>
public sealed class Planner : IPlanningContext
{
    private const long MaxInputMultiple = 1 << 16;

    private readonly ArchitectureSpec _spec;
    private readonly string _file;
    private readonly List<DslDiagnostic> _diagnostics;
    private readonly int _startErrors;
    private readonly long[] _multiple;

    private Planner(ArchitectureSpec spec, string file, List<DslDiagnostic> diagnostics)
    {
        _spec = spec;
        _file = file;
        _diagnostics = diagnostics;
        _startErrors = diagnostics.Count(d => d.Severity == DslSeverity.Error);
        _multiple = Enumerable.Repeat(1L, spec.Dims.Value).ToArray();
    }

    public static NetworkPlan? Plan(ArchitectureSpec spec, string filePath, List<DslDiagnostic> diagnostics) =>
        new Planner(spec, filePath, diagnostics).Run();

    private NetworkPlan? Run()
    {
        var widths = _spec.Widths.Value;
        int levels = widths.Count;
        if (_spec.Encoder.Value.Count != levels)
            Report(DiagnosticKinds.LevelCountMismatch, _spec.Encoder.Span,
                $"encoder has {_spec.Encoder.Value.Count} entries but widths lists {levels} levels: give one encoder entry per level");
        if (_spec.Decoder.Value.Count != levels - 1)
            Report(DiagnosticKinds.LevelCountMismatch, _spec.Decoder.Span,
                $"decoder has {_spec.Decoder.Value.Count} entries but a {levels}-level network needs {levels - 1} " +
                "(one per level below the deepest, deepest first)");
        if (HasNewErrors()) return null;

        var stages = new List<StagePlan>();
        var stem = new StemPlan(_spec.InChannels.Value, widths[0]);
        CheckNormGroups(stem, _spec.Widths.Span);
        stages.Add(new StagePlan(StageRole.Stem, 1, "stem", "stem", GeneratedNames.StageProperty(StageRole.Stem, 1), stem.InChannels, stem.OutChannels, EquatableArray.Of<BlockPlan>(stem),
            new StageInput(null)));

        // Pooling between levels: every size entering a pool must be even.
        Require(1L << (levels - 1));

        int current = widths[0];
        for (int level = 1; level <= levels; level++)
        {
            var blocks = ResolveStage(_spec.Encoder.Value[level - 1], current, widths[level - 1], level);
            stages.Add(new StagePlan(StageRole.Encoder, level, $"encoder{level}", $"encoder{level}", GeneratedNames.StageProperty(StageRole.Encoder, level),
                current, widths[level - 1], blocks, new StageInput(stages[stages.Count - 1].Name, Pool: level > 1)));
            current = widths[level - 1];
        }

        for (int level = levels - 1; level >= 1; level--)
        {
            int width = widths[level - 1];
            var up = new UpConvPlan(current, width);
            CheckNormGroups(up, _spec.Decoder.Value[levels - 1 - level].Span);
            stages.Add(new StagePlan(StageRole.Up, level, $"up{level}", $"Up{level + 1}", GeneratedNames.StageProperty(StageRole.Up, level), current, width,
                EquatableArray.Of<BlockPlan>(up), new StageInput(stages[stages.Count - 1].Name)));

            var blocks = ResolveStage(_spec.Decoder.Value[levels - 1 - level], 2 * width, width, level);
            stages.Add(new StagePlan(StageRole.Decoder, level, $"decoder{level}", $"Up_conv{level + 1}", GeneratedNames.StageProperty(StageRole.Decoder, level),
                2 * width, width, blocks, new StageInput(stages[stages.Count - 1].Name,
                    Skip: stages.Single(s => s.Role == StageRole.Encoder && s.Level == level).Name)));
            current = width;
        }

        var head = new HeadPlan(current, _spec.Classes.Value);
        stages.Add(new StagePlan(StageRole.Head, 1, "head", "Conv_1x1", GeneratedNames.StageProperty(StageRole.Head, 1), current, head.OutChannels, EquatableArray.Of<BlockPlan>(head),
            new StageInput(stages[stages.Count - 1].Name)));

        var multiple = _multiple.Select(m => (int)Math.Min(m, MaxInputMultiple)).ToEquatableArray();
        var defaultSize = ResolveInputSize(multiple);
        if (HasNewErrors()) return null;

        return new NetworkPlan(_spec.Name.Value, _spec.Dims.Value, _spec.InChannels.Value, _spec.Classes.Value, widths,
            _spec.Norm.Value, _spec.NormGroups.Value, _spec.Upsample, multiple, defaultSize, _spec.Description,
            stages.ToEquatableArray());
    }

    /// <summary>The first block maps <paramref name="inChannels"/> to the level width, later ones keep it.</summary>
    private EquatableArray<BlockPlan> ResolveStage(StageSpec stage, int inChannels, int width, int level)
    {
        var blocks = new List<BlockPlan>();
        int current = inChannels;
        BlockPlan? last = null;
        foreach (var block in stage.Blocks)
        {
            var plan = Resolve(block, current, width, level);
            if (plan != null)
            {
                CheckNormGroups(plan, block.Span);
                blocks.Add(plan);
            }
            // A block that could not be resolved is taken to reach the level width, so the rest still checks.
            current = plan?.OutChannels ?? width;
            last = plan;
        }
        // Every entry ends at the level width, whichever block is last (the built-ins always map to it).
        if (last != null && last.OutChannels != width && BlockDefinitions.Of(last).Declaration is var declaration)
            Report(DiagnosticKinds.ChannelConstraint, stage.Blocks[stage.Blocks.Count - 1].Span,
                $"'{declaration.Keyword}' outputs {last.OutChannels} channels ({ChannelRuleText(declaration)}), but this entry of " +
                $"level {level} must end at the level width {width}: follow it with a block that maps to {width} channels");
        return blocks.ToEquatableArray();
    }

    /// <summary>Every block resolves through its definition (built-in or user), found from its declaration.</summary>
    private BlockPlan? Resolve(BlockSpec block, int inChannels, int outChannels, int level) => block switch
    {
        DeclaredBlockSpec declared => BlockDefinitions.Of(declared.Declaration).Resolve(this, declared, inChannels, outChannels, level),
        UnresolvedBlockSpec => null, // already reported; every block outputs the level width, so the rest still checks
        _ => throw new InvalidOperationException("unknown block spec " + block.GetType().Name),
    };

    private static string ChannelRuleText(BlockDeclaration declaration) => declaration.Channels switch
    {
        ChannelRule.SameAsInput => "it keeps its input channels",
        ChannelRule.FromOption => $"its option '{declaration.ChannelOption}'",
        _ => "the level width",
    };

    private void CheckNormGroups(BlockPlan block, SourceSpan span)
    {
        if (_spec.Norm.Value != NormKind.Group) return;
        int groups = _spec.NormGroups.Value;
        foreach (int channels in Layers.NormalizedChannels(block))
        {
            if (channels % groups == 0) continue;
            Report(DiagnosticKinds.GroupDivisibility, span,
                $"norm: group normalises {channels} channels here, not divisible by norm_groups {groups}");
            return;
        }
    }

    private EquatableArray<int> ResolveInputSize(EquatableArray<int> multiple)
    {
        if (_spec.InputSize is { } given)
        {
            for (int axis = 0; axis < multiple.Count; axis++)
            {
                int size = given.Value[Math.Min(axis, given.Value.Count - 1)];
                if (size % multiple[axis] == 0) continue;
                Report(DiagnosticKinds.InputSize, given.Span,
                    $"input_size {size} is not a multiple of {multiple[axis]}, which this architecture needs on axis {axis} " +
                    "(pooling and GMS patches must divide each level's size)");
                return multiple;
            }
            return Enumerable.Range(0, multiple.Count).Select(a => given.Value[Math.Min(a, given.Value.Count - 1)]).ToEquatableArray();
        }
        // The paper's sizes: 256x256 images, 96^3 volume patches (rounded up to a valid multiple).
        int target = _spec.Dims.Value == 3 ? 96 : 256;
        return multiple.Select(m => (int)Math.Min(int.MaxValue, (target + m - 1) / m * (long)m)).ToEquatableArray();
    }

    int IPlanningContext.Dims => _spec.Dims.Value;

    bool IPlanningContext.Report(DiagnosticKind kind, SourceSpan span, string message) => Report(kind, span, message);

    void IPlanningContext.Require(long factor, int axis) => Require(factor, axis);

    private void Require(long factor, int axis = -1)
    {
        for (int a = 0; a < _multiple.Length; a++)
        {
            if (axis >= 0 && a != axis) continue;
            _multiple[a] = Math.Min(Lcm(_multiple[a], factor), MaxInputMultiple * 2);
            if (_multiple[a] > MaxInputMultiple)
                Report(DiagnosticKinds.InputSize, _spec.Widths.Span,
                    $"the input size would have to be a multiple of more than {MaxInputMultiple}: too many levels or too large patches");
        }
    }

    private static long Lcm(long a, long b) => a / Gcd(a, b) * b;

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    private bool Report(DiagnosticKind kind, SourceSpan span, string message)
    {
        if (!_diagnostics.Any(d => d.Id == kind.Id && d.Span == span && d.Message == message))
            _diagnostics.Add(kind.At(_file, span, message));
        return false;
    }

    private bool HasNewErrors() => _diagnostics.Count(d => d.Severity == DslSeverity.Error) > _startErrors;
}
