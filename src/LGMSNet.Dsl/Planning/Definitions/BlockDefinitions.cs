using System;
using System.Collections.Generic;
using System.Linq;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Model;

namespace LGMSNet.Dsl.Planning.Definitions;

/// <summary>Every block the language has: the built-in ones (<see cref="BuiltIn"/>, declared here as data exactly as a
/// user's <c>[LgmsBlock]</c> class is read) and a project's own (<see cref="UserBlock"/>). The only place a block's
/// declaration is paired with its meaning; everything else goes through <see cref="Of(BlockDeclaration)"/>.</summary>
public static class BlockDefinitions
{
    private static readonly BlockDefinition[] BuiltInDefinitions = { new LmsBlock(), new GmsBlock(), new FusionBlock(), new ConvBlock() };

    /// <summary>The built-in blocks' declarations, in the order the language documents them.</summary>
    public static BlockCatalog BuiltIn { get; } = new(BuiltInDefinitions.Select(d => d.Declaration).ToEquatableArray());

    /// <summary>The built-in keywords (lms, gms, fusion, conv): a user block may not take one.</summary>
    public static IReadOnlyList<string> BuiltInKeywords { get; } = BuiltIn.Blocks.Select(b => b.Keyword).ToArray();

    public static BlockDefinition Of(BlockDeclaration declaration) =>
        BuiltInDefinitions.FirstOrDefault(d => d.Declaration.Equals(declaration)) ?? new UserBlock(declaration);

    public static BlockDefinition Of(BlockPlan plan) => plan is CustomBlockPlan custom
        ? new UserBlock(custom.Declaration)
        : BuiltInDefinitions.FirstOrDefault(d => d.PlanType == plan.GetType())
          ?? throw new InvalidOperationException("no block definition plans " + plan.GetType().Name);

    /// <summary>The built-in blocks and <paramref name="user"/> blocks together, as YAML is read against them.</summary>
    public static BlockCatalog With(BlockCatalog? user) => user == null ? BuiltIn : BuiltIn.Union(user);
}
