using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Planning;
using LGMSNet.Dsl.Planning.Definitions;
using LGMSNet.Dsl.Yaml;
using LGMSNet.LanguageServer.Workspace;

namespace LGMSNet.LanguageServer.Features;

/// <summary>What sits at a position of an architecture file, in the language's terms.</summary>
internal sealed record YamlPlace(
    string? TopKey,
    bool OnTopKey,
    YamlNode? Node,
    int? EntryIndex,
    string? Block,
    int BlockIndex,
    YamlScalar? BlockNode,
    string? Option,
    YamlScalar? OptionNode);

/// <summary>Walks the located YAML tree: top-level key, encoder/decoder entry, block keyword, option key.</summary>
internal static class YamlLocator
{
    public static YamlPlace? At(DocumentAnalysis analysis, int documentOffset)
    {
        if (analysis.Root is not YamlMapping top) return null;
        int offset = analysis.CompilerOffset(documentOffset);
        foreach (var entry in top.Entries)
        {
            if (Contains(entry.Key, offset)) return new YamlPlace(entry.Key.Value, true, entry.Key, null, null, 0, null, null, null);
            if (!Contains(entry.Value, offset)) continue;
            string key = entry.Key.Value;
            if (key is "encoder" or "decoder" && entry.Value is YamlSequence stages)
            {
                for (int i = 0; i < stages.Items.Count; i++)
                {
                    if (!Contains(stages.Items[i], offset)) continue;
                    var place = new YamlPlace(key, false, stages.Items[i], i, null, 0, null, null, null);
                    return InEntry(place, stages.Items[i], offset, analysis.Project.Catalog);
                }
            }
            return new YamlPlace(key, false, entry.Value, null, null, 0, null, null, null);
        }
        return null;
    }

    private static YamlPlace InEntry(YamlPlace place, YamlNode entry, int offset, BlockCatalog catalog)
    {
        // An entry is a block, or a list of blocks; a block is 'name', 'name: {options}' or '{name: {options}}'.
        if (entry is YamlSequence list)
        {
            for (int i = 0; i < list.Items.Count; i++)
                if (Contains(list.Items[i], offset)) return InBlock(place with { BlockIndex = i }, list.Items[i], offset);
            return place;
        }
        return InBlock(place, entry, offset);
    }

    private static YamlPlace InBlock(YamlPlace place, YamlNode block, int offset)
    {
        switch (block)
        {
            case YamlScalar name:
                return place with { Block = name.Value, BlockNode = name };
            case YamlMapping { Entries.Count: > 0 } map:
                var first = map.Entries[0];
                place = place with { Block = first.Key.Value, BlockNode = first.Key };
                if (first.Value is YamlMapping options)
                    foreach (var option in options.Entries)
                        if (Contains(option.Key, offset) || Contains(option.Value, offset))
                            return place with { Option = option.Key.Value, OptionNode = option.Key };
                return place;
            default:
                return place;
        }
    }

    public static bool Contains(YamlNode node, int offset) =>
        offset >= node.Span.Start && offset <= node.Span.Start + Math.Max(node.Span.Length, 0) && !node.Span.IsNone;

    /// <summary>The stage an encoder or decoder entry becomes (encoder entry i: encoder{i+1}; decoder entry j, deepest
    /// first: decoder{levels-1-j}).</summary>
    public static StagePlan? Stage(NetworkPlan plan, string topKey, int entry)
    {
        string name = topKey == "encoder" ? $"encoder{entry + 1}" : $"decoder{plan.Levels - 1 - entry}";
        return plan.Stages.FirstOrDefault(s => s.Name == name);
    }

    /// <summary>Built-in and project blocks by keyword.</summary>
    public static BlockDeclaration? Block(BlockCatalog project, string keyword) => BlockDefinitions.With(project).Find(keyword);
}
