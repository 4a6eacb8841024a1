using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace LGMSNet.Dsl.Language;

/// <summary>Writes schemas/lgmsnet.schema.json (JSON Schema draft 2020-12) from <see cref="LanguageRules"/>, the
/// table the parser reads its keys and ranges from. The schema lets editors (the YAML language server in VS Code,
/// JetBrains IDEs) complete and check a file while it is typed; the compiler remains the judge of everything a
/// schema cannot say (channel arithmetic, sizes, names the generator reserves).</summary>
public static class JsonSchemaWriter
{
    public const string FileName = "lgmsnet.schema.json";

    public static string Write() => Write(null);

    /// <summary>The schema of the language with the user blocks of <paramref name="blocks"/> as words of it, options and all.</summary>
    public static string Write(Blocks.BlockCatalog? blocks)
    {
        // Built-in and user blocks alike, from their declarations.
        var all = Planning.Definitions.BlockDefinitions.With(blocks).Blocks.ToList();
        var root = new Obj
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["title"] = "LGMSNet architecture",
            ["description"] = "An LGMSNet.Dsl architecture file: compiled at build time into a typed TorchSharp module. " +
                              "Generated from the compiler's language table (LGMSNet.Dsl.Language.LanguageRules); do not edit.",
            ["type"] = "object",
            ["required"] = LanguageRules.TopLevel.Where(r => r.Required).Select(r => (object)r.Key).ToList(),
            ["additionalProperties"] = false,
            ["properties"] = Properties(LanguageRules.TopLevel),
            ["$defs"] = Definitions(all),
        };
        var text = new StringBuilder();
        WriteValue(text, root, 0);
        return text.Append('\n').ToString();
    }

    /// <summary>The language's own definitions are named with a '-' (lgms-stages, lgms-block), which no block keyword
    /// can contain, so a block named 'stages' or 'block' cannot replace them.</summary>
    private static Obj Definitions(List<Blocks.BlockDeclaration> all)
    {
        var defs = new Obj
        {
            ["lgms-stages"] = new Obj
            {
                ["type"] = "array",
                ["minItems"] = 1,
                ["items"] = new Obj
                {
                    ["description"] = "A block, a block with options, or a list of blocks applied in order.",
                    ["anyOf"] = new List<object>
                    {
                        Ref("lgms-block"),
                        new Obj { ["type"] = "array", ["minItems"] = 1, ["items"] = Ref("lgms-block") },
                    },
                },
            },
            ["lgms-block"] = new Obj
            {
                ["title"] = "block",
                // Flow-style snippets, as the shipped files write blocks (bodyText: the server inserts it as written): every block
                // with options, with its first option that has a default.
                ["defaultSnippets"] = all.Select(Snippet).Where(x => x != null).Select(x => (object)x!).ToList(),
                ["anyOf"] = new List<object>
                {
                    new Obj
                    {
                        ["description"] = "A block with its default options.",
                        ["type"] = "string",
                        ["enum"] = all.Select(b => (object)b.Keyword).ToList(),
                    },
                    BlockWithOptions(all),
                },
            },
        };
        foreach (var block in all)
        {
            // Options or nothing (`- lms:`): null is part of the options' own type, so that an editor completes the bare
            // block name (not `lms: lms`) and names an unknown option (not `Expected "null"`).
            var properties = new Obj();
            foreach (var option in block.Options) properties[option.Key] = Schema(option);
            var options = new Obj
            {
                ["title"] = block.Keyword,
                ["description"] = block.Description,
                ["type"] = new List<object> { "object", "null" },
                ["additionalProperties"] = false,
                ["properties"] = properties,
            };
            var required = block.Options.Where(o => o.Required).Select(o => (object)o.Key).ToList();
            if (required.Count > 0) options["required"] = required;
            // Options that exclude each other, said in the compiler's words (a `not` rule would read "Matches a schema that is not allowed").
            var exclusive = block.Options.Where(o => o.NotWith != null).ToList();
            if (exclusive.Count > 0)
            {
                var dependent = new Obj();
                foreach (var option in exclusive)
                    dependent[option.Key] = new Obj
                    {
                        ["properties"] = new Obj { [option.NotWith!] = false },
                        ["errorMessage"] = $"give either '{option.Key}' or '{option.NotWith}', not both",
                    };
                options["dependentSchemas"] = dependent;
            }
            defs[block.Keyword] = options;
        }
        return defs;
    }

    /// <summary>A one-key mapping: the block name, then its options (or nothing).</summary>
    private static Obj BlockWithOptions(List<Blocks.BlockDeclaration> all)
    {
        var properties = new Obj();
        foreach (var block in all)
            properties[block.Keyword] = new Obj { ["title"] = block.Keyword, ["description"] = block.Description, ["$ref"] = "#/$defs/" + block.Keyword };
        return new Obj
        {
            ["description"] = "One block with options, e.g. { lms: { kernels: [3, 5, 7, 9] } }.",
            ["type"] = "object",
            ["minProperties"] = 1,
            ["maxProperties"] = 1,
            ["additionalProperties"] = false,
            ["properties"] = properties,
        };
    }

    private static Obj Properties(IEnumerable<KeyRule> rules)
    {
        var properties = new Obj();
        foreach (var rule in rules) properties[rule.Key] = Schema(rule);
        return properties;
    }

    /// <summary><c>lms: { kernels: [${1:3}, ${2:5}, ${3:7}, ${4:9}] }</c>: the block with its first defaulted option.</summary>
    private static Obj? Snippet(Blocks.BlockDeclaration block)
    {
        var option = block.Options.FirstOrDefault(o => (o.DefaultJson ?? o.SkeletonJson) != null);
        if (option == null) return null;
        string json = (option.DefaultJson ?? option.SkeletonJson)!.Trim();
        string value;
        if (json.StartsWith("[", System.StringComparison.Ordinal))
        {
            var items = json.Trim('[', ']').Split(',').Select(t => t.Trim()).ToList();
            value = "[" + string.Join(", ", items.Select((t, i) => $"${{{i + 1}:{t}}}")) + "]";
        }
        else value = $"${{1:{json.Trim('"')}}}";
        return new Obj
        {
            ["label"] = block.Keyword + " with options",
            ["description"] = $"{block.Keyword} with its {option.Key}",
            ["bodyText"] = $"{block.Keyword}: {{ {option.Key}: {value} }}",
        };
    }

    private static Obj Schema(KeyRule rule)
    {
        var schema = new Obj { ["title"] = rule.Key, ["description"] = rule.Description + SkeletonNote(rule.DefaultJson, rule.SkeletonJson, rule.Required) };
        switch (rule.Kind)
        {
            case ValueKind.Identifier:
                schema["type"] = "string";
                // Not all lower-case (CS8981) is a look-ahead, so that editors print the message below, not "not allowed".
                schema["pattern"] = "^(?![a-z]+$)[A-Za-z_][A-Za-z0-9_]{0,99}$";
                schema["patternErrorMessage"] = "a C# class name: letters, digits and '_', not starting with a digit, at most 100 characters, " +
                                                "not all lower-case (C# reserves those, CS8981)";
                break;
            case ValueKind.Integer:
                AddRange(schema, rule);
                break;
            case ValueKind.IntegerList:
                schema["type"] = "array";
                schema["minItems"] = rule.MinCount;
                schema["maxItems"] = rule.MaxCount;
                schema["items"] = AddRange(new Obj(), rule);
                break;
            case ValueKind.PerAxis:
                schema["anyOf"] = new List<object>
                {
                    AddRange(new Obj(), rule),
                    new Obj { ["type"] = "array", ["minItems"] = 2, ["maxItems"] = 3, ["items"] = AddRange(new Obj(), rule) },
                };
                break;
            case ValueKind.Choice:
                schema["type"] = "string";
                schema["enum"] = rule.Choices.Select(c => (object)c).ToList();
                break;
            case ValueKind.Text:
                schema["type"] = new List<object> { "string", "number", "boolean" };
                break;
            case ValueKind.Stages:
                schema["$ref"] = "#/$defs/lgms-stages";
                break;
        }
        // A required key's skeleton value as its default: what an editor inserts for it (KeyRule.SkeletonJson).
        if ((rule.DefaultJson ?? rule.SkeletonJson) is { } defaultJson) schema["default"] = new Raw(defaultJson);
        return schema;
    }

    /// <summary>A block's option, from its declaration.</summary>
    private static Obj Schema(Blocks.OptionDeclaration option)
    {
        var schema = new Obj
        {
            ["title"] = option.Key,
            ["description"] = (option.Description.Length > 0 ? option.Description : option.Describe()) + SkeletonNote(option.DefaultJson, option.SkeletonJson, option.Required),
        };
        Obj Range(Obj target)
        {
            target["type"] = "integer";
            if (option.Min > int.MinValue) target["minimum"] = (int)option.Min;
            if (option.Max < int.MaxValue) target["maximum"] = (int)option.Max;
            return target;
        }
        switch (option.Kind)
        {
            case Blocks.OptionKind.Integer:
                Range(schema);
                break;
            case Blocks.OptionKind.IntegerList when option.Odd:
                // The odd sizes listed, so that an editor says what is wrong in the compiler's words.
                schema["type"] = "array";
                schema["minItems"] = option.MinCount;
                schema["maxItems"] = option.MaxCount;
                schema["items"] = new Obj
                {
                    ["type"] = "integer",
                    ["enum"] = Enumerable.Range((int)option.Min, (int)(option.Max - option.Min) + 1).Where(k => k % 2 == 1).Select(k => (object)k).ToList(),
                    ["errorMessage"] = option.OddRule($"{Blocks.OptionDeclaration.Num(option.Min)} to {Blocks.OptionDeclaration.Num(option.Max)}"),
                };
                break;
            case Blocks.OptionKind.IntegerList:
                schema["type"] = "array";
                schema["minItems"] = option.MinCount;
                schema["maxItems"] = option.MaxCount;
                schema["items"] = Range(new Obj());
                break;
            case Blocks.OptionKind.PerAxis:
                schema["anyOf"] = new List<object>
                {
                    Range(new Obj()),
                    new Obj { ["type"] = "array", ["minItems"] = 2, ["maxItems"] = 3, ["items"] = Range(new Obj()) },
                };
                break;
            case Blocks.OptionKind.Fraction:
                schema["type"] = "number";
                schema["minimum"] = new Raw(Blocks.OptionDeclaration.Num(option.Min));
                schema["maximum"] = new Raw(Blocks.OptionDeclaration.Num(option.Max));
                break;
            case Blocks.OptionKind.Choice:
                schema["type"] = "string";
                schema["enum"] = option.Choices.Select(c => (object)c).ToList();
                break;
            default:
                schema["type"] = "boolean";
                break;
        }
        if ((option.DefaultJson ?? option.SkeletonJson) is { } defaultJson) schema["default"] = new Raw(defaultJson);
        return schema;
    }

    /// <summary>For a required key whose schema <c>default</c> is only its skeleton value, the words that say so: an editor's
    /// hover shows "Default: 2", which would otherwise read as "may be left out". (An optional key's skeleton value is the
    /// default it stands for, e.g. gms's fraction 0.75, which its description already gives.)</summary>
    private static string SkeletonNote(string? defaultJson, string? skeletonJson, bool required) =>
        required && defaultJson == null && skeletonJson != null
            ? $" Required: it has no default; {skeletonJson.Trim()} is only the value an editor inserts for it."
            : "";

    private static Obj AddRange(Obj schema, KeyRule rule)
    {
        schema["type"] = "integer";
        schema["minimum"] = rule.Min;
        schema["maximum"] = rule.Max;
        return schema;
    }

    private static Obj Ref(string definition) => new() { ["$ref"] = "#/$defs/" + definition };

    // ---- a small ordered JSON writer (this assembly runs inside the compiler: no System.Text.Json) ----

    private sealed class Obj : List<KeyValuePair<string, object>>
    {
        public object this[string key]
        {
            set
            {
                int index = FindIndex(p => p.Key == key);
                if (index >= 0) this[index] = new(key, value);
                else Add(new(key, value));
            }
        }
    }

    /// <summary>JSON text written as it is (defaults come from the table as JSON literals).</summary>
    private sealed class Raw(string json)
    {
        public string Json { get; } = json;
    }

    private static void WriteValue(StringBuilder text, object value, int indent)
    {
        switch (value)
        {
            case string s:
                WriteString(text, s);
                break;
            case bool b:
                text.Append(b ? "true" : "false");
                break;
            case int i:
                text.Append(i.ToString(CultureInfo.InvariantCulture));
                break;
            case Raw raw:
                text.Append(raw.Json);
                break;
            case Obj obj:
                text.Append('{');
                for (int k = 0; k < obj.Count; k++)
                {
                    text.Append(k == 0 ? "\n" : ",\n").Append(' ', indent + 2);
                    WriteString(text, obj[k].Key);
                    text.Append(": ");
                    WriteValue(text, obj[k].Value, indent + 2);
                }
                text.Append('\n').Append(' ', indent).Append('}');
                break;
            case List<object> list when list.All(v => v is string or int):
                text.Append('[');
                for (int k = 0; k < list.Count; k++)
                {
                    if (k > 0) text.Append(", ");
                    WriteValue(text, list[k], indent);
                }
                text.Append(']');
                break;
            case List<object> list:
                text.Append('[');
                for (int k = 0; k < list.Count; k++)
                {
                    text.Append(k == 0 ? "\n" : ",\n").Append(' ', indent + 2);
                    WriteValue(text, list[k], indent + 2);
                }
                text.Append('\n').Append(' ', indent).Append(']');
                break;
            default:
                throw new System.ArgumentException("cannot write " + value.GetType().Name);
        }
    }

    private static void WriteString(StringBuilder text, string s) => text.Append(Text.Quoting.AsciiQuoted(s));
}
