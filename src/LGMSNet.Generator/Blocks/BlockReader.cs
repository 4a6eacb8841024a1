using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using LGMSNet.Dsl.Blocks;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;
using Microsoft.CodeAnalysis;

namespace LGMSNet.Generator.Blocks;

/// <summary>A place in C# source, as plain equatable data (a Roslyn <see cref="Location"/> holds the syntax tree).</summary>
internal sealed record SourceLocation(string FilePath, int Start, int Length, int Line, int Column, int EndLine, int EndColumn)
{
    public static SourceLocation? Of(Location? location)
    {
        if (location == null || !location.IsInSource) return null;
        var lines = location.GetLineSpan();
        return new SourceLocation(lines.Path, location.SourceSpan.Start, location.SourceSpan.Length, lines.StartLinePosition.Line,
            lines.StartLinePosition.Character, lines.EndLinePosition.Line, lines.EndLinePosition.Character);
    }

    public Location ToLocation() => Location.Create(FilePath, new Microsoft.CodeAnalysis.Text.TextSpan(Start, Length),
        new Microsoft.CodeAnalysis.Text.LinePositionSpan(new Microsoft.CodeAnalysis.Text.LinePosition(Line, Column),
            new Microsoft.CodeAnalysis.Text.LinePosition(EndLine, EndColumn)));
}

/// <summary>A diagnostic on a C# block declaration (LGMS101–LGMS106): no location when the block comes from metadata.</summary>
internal sealed record DeclarationDiagnostic(string Id, string Message, SourceLocation? Location);

/// <summary>What reading one <c>[LgmsBlock]</c> class gave: its declaration when usable, and its diagnostics.</summary>
internal sealed record BlockRead(string Keyword, string TypeName, BlockDeclaration? Declaration, SourceLocation? Location,
    EquatableArray<DeclarationDiagnostic> Diagnostics);

/// <summary>Reads <c>[LgmsBlock]</c> classes (from source or metadata) into <see cref="BlockDeclaration"/>s: the
/// declaration model of System.Text.Json's generator (attributes read into plain data; problems as data).</summary>
internal static class BlockReader
{
    public const string BlockAttribute = "LGMSNet.Runtime.Blocks.LgmsBlockAttribute";
    private const string OptionAttribute = "LGMSNet.Runtime.Blocks.LgmsOptionAttribute";
    private const string NormSpecType = "LGMSNet.Runtime.Blocks.NormSpec";
    private static readonly string[] Structural = { "dims", "inChannels", "outChannels", "norm" };

    private static readonly SymbolDisplayFormat FullyQualified = SymbolDisplayFormat.FullyQualifiedFormat;

    /// <summary><see cref="Read"/>, with a bug of ours reported on the declaration (LGMS099) instead of crashing the generator.</summary>
    public static BlockRead SafeRead(INamedTypeSymbol type, AttributeData attribute, CancellationToken cancellation)
    {
        try
        {
            return Read(type, attribute, cancellation);
        }
        catch (System.Exception e) when (e is not System.OperationCanceledException and not System.OutOfMemoryException)
        {
            string keyword = attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is string k ? k : "";
            var at = SourceLocation.Of(type.Locations.FirstOrDefault());
            return new BlockRead(keyword, type.ToDisplayString(FullyQualified), null, at, EquatableArray.Of(new DeclarationDiagnostic(DiagnosticKinds.InternalError.Id,
                $"internal error while reading the block declaration {type.ToDisplayString()} ({e.GetType().Name}: {e.Message}); please report it", at)));
        }
    }

    public static BlockRead Read(INamedTypeSymbol type, AttributeData attribute, CancellationToken cancellation)
    {
        var diagnostics = new List<DeclarationDiagnostic>();
        var typeLocation = SourceLocation.Of(type.Locations.FirstOrDefault());
        var attributeLocation = SourceLocation.Of(attribute.ApplicationSyntaxReference?.GetSyntax(cancellation).GetLocation()) ?? typeLocation;
        string typeName = type.ToDisplayString(FullyQualified);
        string display = type.ToDisplayString();
        string keyword = attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string ?? "" : "";

        void Error(DiagnosticKind kind, SourceLocation? at, string message) =>
            diagnostics.Add(new DeclarationDiagnostic(kind.Id, (at == null ? $"{display}: " : "") + message, at ?? typeLocation));

        if (!IsKeyword(keyword))
            Error(DiagnosticKinds.InvalidBlockRule, attributeLocation,
                $"block keyword '{keyword}' of {display} must be lower-case letters, digits and '_', starting with a letter (it is a YAML key)");

        var named = Named(attribute);
        string description = named.TryGetValue("Description", out var d) ? d.Value as string ?? "" : "";
        var channels = named.TryGetValue("Channels", out var c) && c.Value is int ci ? (ChannelRule)ci : ChannelRule.LevelWidth;
        string? channelOption = named.TryGetValue("ChannelsFrom", out var cf) ? cf.Value as string : null;
        if (channelOption != null) channels = ChannelRule.FromOption;
        var divisors = named.TryGetValue("InputDivisibleBy", out var div) ? Strings(div) : new List<string>();
        if (divisors == null)
        {
            Error(DiagnosticKinds.InvalidBlockRule, attributeLocation, $"block '{keyword}': InputDivisibleBy must be constant strings, e.g. [\"reduction\", \"2\"]");
            divisors = new List<string>();
        }
        if (channelOption != null && named.TryGetValue("Channels", out var explicitChannels) && explicitChannels.Value is int rule && rule != (int)ChannelRule.FromOption)
            Error(DiagnosticKinds.InvalidBlockRule, attributeLocation,
                $"block '{keyword}': ChannelsFrom = \"{channelOption}\" says the output channels come from an option, but Channels = {(ChannelRule)rule} says otherwise; give one of them");

        // The class itself: something the generated module can construct and register.
        if (type.TypeKind != TypeKind.Class || type.IsAbstract || type.IsStatic)
            Error(DiagnosticKinds.UnusableBlock, typeLocation, $"block '{keyword}': {display} must be a non-abstract class (the generated module constructs it)");
        else if (type.IsGenericType)
            Error(DiagnosticKinds.UnusableBlock, typeLocation, $"block '{keyword}': {display} is generic; a block class takes its configuration through its constructor");
        else if (!IsPublic(type))
            Error(DiagnosticKinds.UnusableBlock, typeLocation, $"block '{keyword}': {display} must be public (and any class containing it), so the generated module can construct it");
        else if (!IsTensorModule(type))
            Error(DiagnosticKinds.UnusableBlock, typeLocation,
                $"block '{keyword}': {display} must derive from TorchSharp's nn.Module<Tensor, Tensor> (one tensor in, one tensor out)");

        var constructors = type.InstanceConstructors.Where(k => k.DeclaredAccessibility == Accessibility.Public).ToList();
        var options = new List<OptionDeclaration>();
        var structural = new List<string>();
        if (constructors.Count != 1)
        {
            Error(DiagnosticKinds.UnusableBlock, typeLocation, constructors.Count == 0
                ? $"block '{keyword}': {display} has no public constructor the generated module can call"
                : $"block '{keyword}': {display} has {constructors.Count} public constructors; give it exactly one (its parameters are the block's options)");
        }
        else
        {
            foreach (var parameter in constructors[0].Parameters)
            {
                cancellation.ThrowIfCancellationRequested();
                var option = ReadParameter(keyword, parameter, structural, diagnostics);
                if (option != null) options.Add(option);
            }
        }

        // Keys must be unique (two parameters may map to one snake_case key).
        foreach (var group in options.GroupBy(o => o.Key).Where(g => g.Count() > 1))
            Error(DiagnosticKinds.UnsupportedOption, typeLocation, $"block '{keyword}': parameters {string.Join(" and ", group.Select(o => o.Parameter))} both become option '{group.Key}'");

        if (channels == ChannelRule.FromOption)
        {
            var source = options.FirstOrDefault(o => o.Key == channelOption || o.Parameter == channelOption);
            if (source == null || source.Kind != OptionKind.Integer)
                Error(DiagnosticKinds.InvalidBlockRule, attributeLocation,
                    $"block '{keyword}': ChannelsFrom must name one of its integer options ({Join(options.Where(o => o.Kind == OptionKind.Integer).Select(o => o.Key))}), found '{channelOption}'");
            else if (source.Optional || source.Min < 1)
                Error(DiagnosticKinds.InvalidBlockRule, attributeLocation,
                    $"block '{keyword}': ChannelsFrom option '{source.Key}' gives a channel count, so it must always have a value of at least 1: declare [LgmsOption(Min = 1)] and do not make it nullable");
            else channelOption = source.Key;
        }
        foreach (var option in options.Where(o => o.NotWith != null && (o.NotWith == o.Key || options.All(other => other.Key != o.NotWith))))
            Error(DiagnosticKinds.InvalidBlockRule, typeLocation,
                $"block '{keyword}': option '{option.Key}' is NotWith '{option.NotWith}', which is not one of its options ({Join(options.Select(o => o.Key))})");
        var resolvedDivisors = new List<string>();
        foreach (string divisor in divisors)
        {
            if (int.TryParse(divisor, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number > 0)
            {
                resolvedDivisors.Add(divisor);
                continue;
            }
            var source = options.FirstOrDefault(o => o.Key == divisor || o.Parameter == divisor);
            if (source == null || source.Kind != OptionKind.Integer)
                Error(DiagnosticKinds.InvalidBlockRule, attributeLocation,
                    $"block '{keyword}': InputDivisibleBy entry '{divisor}' is neither a positive integer nor one of its integer options ({Join(options.Where(o => o.Kind == OptionKind.Integer).Select(o => o.Key))})");
            else resolvedDivisors.Add(source.Key);
        }

        var declaration = diagnostics.Count > 0 ? null : new BlockDeclaration(keyword, typeName, description, options.ToEquatableArray(), channels, channelOption,
            resolvedDivisors.ToEquatableArray(), structural.ToEquatableArray());
        return new BlockRead(keyword, typeName, declaration, attributeLocation, diagnostics.ToEquatableArray());
    }

    private static OptionDeclaration? ReadParameter(string keyword, IParameterSymbol parameter, List<string> structural, List<DeclarationDiagnostic> diagnostics)
    {
        var at = SourceLocation.Of(parameter.Locations.FirstOrDefault());
        string owner = parameter.ContainingType.ToDisplayString();
        void Error(DiagnosticKind kind, string message) => diagnostics.Add(new DeclarationDiagnostic(kind.Id, (at == null ? owner + ": " : "") + message, at));

        if (parameter.RefKind != RefKind.None || parameter.IsParams)
        {
            Error(DiagnosticKinds.UnsupportedOption, $"block '{keyword}': parameter '{parameter.Name}' cannot be ref, out, in or params");
            return null;
        }
        if (System.Array.IndexOf(Structural, parameter.Name) >= 0)
        {
            bool norm = parameter.Name == "norm";
            bool fits = norm ? parameter.Type.ToDisplayString() == NormSpecType : parameter.Type.SpecialType == SpecialType.System_Int32;
            if (!fits)
                Error(DiagnosticKinds.UnsupportedOption,
                    $"block '{keyword}': parameter '{parameter.Name}' receives {(norm ? "the network's norm and must be a NormSpec" : "a channel or dimension count and must be an int")}");
            structural.Add(parameter.Name);
            return null;
        }

        var attribute = parameter.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == OptionAttribute);
        var named = attribute == null ? new Dictionary<string, TypedConstant>() : Named(attribute);
        string key = named.TryGetValue("Name", out var n) && n.Value is string name ? name : SnakeCase(parameter.Name);
        string description = named.TryGetValue("Description", out var d) ? d.Value as string ?? "" : "";
        double min = named.TryGetValue("Min", out var mi) && mi.Value is double dmin ? dmin : double.NaN;
        double max = named.TryGetValue("Max", out var ma) && ma.Value is double dmax ? dmax : double.NaN;
        int minCount = named.TryGetValue("MinCount", out var mc) && mc.Value is int imc ? imc : 1;
        int maxCount = named.TryGetValue("MaxCount", out var xc) && xc.Value is int ixc ? ixc : 16;
        bool perAxis = named.TryGetValue("PerAxis", out var pa) && pa.Value is true;
        int[]? listDefault = null;
        if (named.TryGetValue("Default", out var df) && !df.IsNull)
        {
            listDefault = Integers(df);
            if (listDefault == null)
            {
                Error(DiagnosticKinds.InvalidOptionRange, $"block '{keyword}': the Default of option '{SnakeCase(parameter.Name)}' must be constant integers, e.g. Default = [3, 5]");
                return null;
            }
        }
        bool odd = named.TryGetValue("Odd", out var od) && od.Value is true;
        string? notWith = named.TryGetValue("NotWith", out var nw) ? nw.Value as string : null;

        if (!IsKeyword(key))
        {
            Error(DiagnosticKinds.InvalidBlockRule, $"block '{keyword}': option key '{key}' must be lower-case letters, digits and '_', starting with a letter");
            return null;
        }

        var type = parameter.Type;
        bool optional = false;
        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
        {
            // int? mlp = null: an option that may be left out; the block receives null.
            if (!parameter.HasExplicitDefaultValue || parameter.ExplicitDefaultValue != null)
            {
                Error(DiagnosticKinds.UnsupportedOption, $"block '{keyword}': option '{key}' is nullable; give it the default null (an option that may be left out)");
                return null;
            }
            type = nullable.TypeArguments[0];
            optional = true;
        }
        OptionKind kind;
        var choices = new List<string>();
        var members = new List<string>();
        string choiceType = "";
        if (type.SpecialType == SpecialType.System_Int32) kind = OptionKind.Integer;
        else if (type.SpecialType == SpecialType.System_Double) kind = OptionKind.Fraction;
        else if (type.SpecialType == SpecialType.System_Boolean) kind = OptionKind.Boolean;
        else if (type is IArrayTypeSymbol { Rank: 1, ElementType.SpecialType: SpecialType.System_Int32 }) kind = perAxis ? OptionKind.PerAxis : OptionKind.IntegerList;
        else if (type.TypeKind == TypeKind.Enum && type is INamedTypeSymbol enumType)
        {
            kind = OptionKind.Choice;
            choiceType = enumType.ToDisplayString(FullyQualified);
            foreach (var field in enumType.GetMembers().OfType<IFieldSymbol>().Where(f => f.HasConstantValue))
            {
                choices.Add(SnakeCase(field.Name));
                members.Add(field.Name);
            }
            if (choices.Count == 0)
            {
                Error(DiagnosticKinds.UnsupportedOption, $"block '{keyword}': option '{key}' is an enum without members");
                return null;
            }
        }
        else
        {
            Error(DiagnosticKinds.UnsupportedOption,
                $"block '{keyword}': option '{key}' has type {type.ToDisplayString()}, which the language cannot write; use int, int[], double, bool or an enum");
            return null;
        }

        // Ranges: integers default to the whole int range, fractions to 0..1.
        if (kind == OptionKind.Fraction)
        {
            if (double.IsNaN(min)) min = 0;
            if (double.IsNaN(max)) max = 1;
        }
        else if (kind is OptionKind.Integer or OptionKind.IntegerList or OptionKind.PerAxis)
        {
            if (double.IsNaN(min)) min = int.MinValue;
            if (double.IsNaN(max)) max = int.MaxValue;
            if (min != System.Math.Floor(min) || max != System.Math.Floor(max))
            {
                Error(DiagnosticKinds.InvalidOptionRange, $"block '{keyword}': option '{key}' is an integer, but its range {min}..{max} is not");
                return null;
            }
        }
        else
        {
            min = 0;
            max = 0;
        }
        if (double.IsInfinity(min) || double.IsInfinity(max))
        {
            Error(DiagnosticKinds.InvalidOptionRange, $"block '{keyword}': option '{key}' needs a finite Min and Max");
            return null;
        }
        if (odd && (double.IsNaN(min) || double.IsNaN(max) || max - min > 4096 || max < 1 || (min == max && ((int)min % 2 == 0))))
        {
            Error(DiagnosticKinds.InvalidOptionRange,
                $"block '{keyword}': option '{key}' is Odd; declare Min and Max (at most 4096 apart) whose range holds an odd positive size, e.g. [LgmsOption(Odd = true, Min = 1, Max = 31)]");
            return null;
        }
        if (min > max)
        {
            Error(DiagnosticKinds.InvalidOptionRange, $"block '{keyword}': option '{key}' has Min {Num(min)} above Max {Num(max)}");
            return null;
        }
        if (kind == OptionKind.IntegerList && (minCount < 1 || maxCount < minCount))
        {
            Error(DiagnosticKinds.InvalidOptionRange, $"block '{keyword}': option '{key}' allows {minCount} to {maxCount} entries; MinCount must be at least 1 and not above MaxCount");
            return null;
        }

        // The default: the C# default value (lists: [LgmsOption(Default = ...)]), checked against the declared range.
        string? defaultJson = null;
        string range = $"{Num(min)}..{Num(max)}";
        if (kind is OptionKind.IntegerList or OptionKind.PerAxis)
        {
            if (parameter.HasExplicitDefaultValue && parameter.ExplicitDefaultValue != null)
            {
                Error(DiagnosticKinds.UnsupportedOption, $"block '{keyword}': option '{key}' is a list; give its default as [LgmsOption(Default = new[] {{ ... }})]");
                return null;
            }
            if (listDefault != null)
            {
                var bad = listDefault.Where(v => v < min || v > max || (odd && (v <= 0 || v % 2 == 0))).ToList();
                if (bad.Count > 0 || (kind == OptionKind.IntegerList && (listDefault.Length < minCount || listDefault.Length > maxCount))
                    || (kind == OptionKind.PerAxis && listDefault.Length is not (1 or 2 or 3)))
                {
                    Error(DiagnosticKinds.InvalidOptionRange,
                        $"block '{keyword}': the default [{string.Join(", ", listDefault)}] of option '{key}' is outside its own range " +
                        (kind == OptionKind.PerAxis ? $"(1 to 3 entries, each {range})" : $"({minCount} to {maxCount} entries, each {range})"));
                    return null;
                }
                defaultJson = "[" + string.Join(", ", listDefault) + "]";
            }
        }
        else if (parameter.HasExplicitDefaultValue && !optional)
        {
            object? value = parameter.ExplicitDefaultValue;
            switch (kind)
            {
                case OptionKind.Integer:
                    {
                        int v = System.Convert.ToInt32(value, CultureInfo.InvariantCulture);
                        if (v < min || v > max || (odd && (v <= 0 || v % 2 == 0)))
                        {
                            Error(DiagnosticKinds.InvalidOptionRange, $"block '{keyword}': the default {v} of option '{key}' is outside its own range {range}");
                            return null;
                        }
                        defaultJson = v.ToString(CultureInfo.InvariantCulture);
                        break;
                    }
                case OptionKind.Fraction:
                    {
                        double v = System.Convert.ToDouble(value, CultureInfo.InvariantCulture);
                        if (double.IsNaN(v) || v < min || v > max)
                        {
                            Error(DiagnosticKinds.InvalidOptionRange, $"block '{keyword}': the default {Num(v)} of option '{key}' is outside its own range {range}");
                            return null;
                        }
                        defaultJson = Num(v);
                        break;
                    }
                case OptionKind.Boolean:
                    defaultJson = value is true ? "true" : "false";
                    break;
                case OptionKind.Choice:
                    {
                        var enumType = (INamedTypeSymbol)type;
                        var member = enumType.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(f => f.HasConstantValue && Equals(f.ConstantValue, value));
                        if (member == null)
                        {
                            Error(DiagnosticKinds.InvalidOptionRange, $"block '{keyword}': the default of option '{key}' is not a member of {enumType.Name}");
                            return null;
                        }
                        defaultJson = "\"" + SnakeCase(member.Name) + "\"";
                        break;
                    }
            }
        }
        if (odd && kind is not (OptionKind.Integer or OptionKind.IntegerList or OptionKind.PerAxis))
        {
            Error(DiagnosticKinds.UnsupportedOption, $"block '{keyword}': option '{key}' is marked Odd but is not an integer or a list of integers");
            return null;
        }
        return new OptionDeclaration(key, parameter.Name, kind, description, min, max, kind == OptionKind.IntegerList ? minCount : 0,
            kind == OptionKind.IntegerList ? maxCount : 0, choices.ToEquatableArray(), members.ToEquatableArray(), choiceType, defaultJson)
        {
            Optional = optional, Odd = odd, NotWith = notWith,
        };
    }

    /// <summary>Blocks declared in referenced assemblies (a block library the project uses), read from metadata:
    /// only assemblies that reference LGMSNet.Runtime are searched.</summary>
    public static EquatableArray<BlockRead> FromReferences(Compilation compilation, CancellationToken cancellation)
    {
        var attribute = compilation.GetTypeByMetadataName(BlockAttribute);
        if (attribute == null) return EquatableArray<BlockRead>.Empty;
        var reads = new List<BlockRead>();
        foreach (var assembly in compilation.SourceModule.ReferencedAssemblySymbols)
        {
            if (!assembly.Modules.Any(m => m.ReferencedAssemblies.Any(r => r.Name == "LGMSNet.Runtime"))) continue;
            foreach (var type in Types(assembly.GlobalNamespace))
            {
                cancellation.ThrowIfCancellationRequested();
                var data = type.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute));
                if (data != null) reads.Add(SafeRead(type, data, cancellation));
            }
        }
        return reads.ToEquatableArray();
    }

    private static IEnumerable<INamedTypeSymbol> Types(INamespaceSymbol ns)
    {
        foreach (var type in ns.GetTypeMembers())
            foreach (var visible in PublicTypes(type))
                yield return visible;
        foreach (var child in ns.GetNamespaceMembers())
            foreach (var type in Types(child))
                yield return type;
    }

    /// <summary>A public type and the public types nested in it, at any depth (what a referencing project can construct).</summary>
    private static IEnumerable<INamedTypeSymbol> PublicTypes(INamedTypeSymbol type)
    {
        if (type.DeclaredAccessibility != Accessibility.Public) yield break;
        yield return type;
        foreach (var nested in type.GetTypeMembers())
            foreach (var visible in PublicTypes(nested))
                yield return visible;
    }

    /// <summary>An attribute's named arguments; a name given twice (CS0643) keeps its last value instead of throwing.</summary>
    private static Dictionary<string, TypedConstant> Named(AttributeData attribute)
    {
        var named = new Dictionary<string, TypedConstant>(System.StringComparer.Ordinal);
        foreach (var argument in attribute.NamedArguments)
            if (argument.Value.Kind != TypedConstantKind.Error) named[argument.Key] = argument.Value;
        return named;
    }

    /// <summary>A constant int array, or null when it is not one (an argument with errors, a non-constant element).</summary>
    private static int[]? Integers(TypedConstant constant)
    {
        if (constant.Kind != TypedConstantKind.Array) return null;
        var values = new List<int>();
        foreach (var item in constant.Values)
        {
            if (item.Kind == TypedConstantKind.Error || item.Value is not int value) return null;
            values.Add(value);
        }
        return values.ToArray();
    }

    /// <summary>A constant string array, or null when it is not one.</summary>
    private static List<string>? Strings(TypedConstant constant)
    {
        if (constant.IsNull) return new List<string>();
        if (constant.Kind != TypedConstantKind.Array) return null;
        var values = new List<string>();
        foreach (var item in constant.Values)
        {
            if (item.Kind == TypedConstantKind.Error || item.Value is not string value) return null;
            values.Add(value);
        }
        return values;
    }

    /// <summary>Source blocks and referenced ones, with keyword clashes reported (LGMS103, LGMS104).</summary>
    public static (BlockCatalog Catalog, EquatableArray<DeclarationDiagnostic> Diagnostics) Catalog(IEnumerable<BlockRead> reads)
    {
        var diagnostics = new List<DeclarationDiagnostic>();
        var blocks = new List<BlockDeclaration>();
        var broken = new List<string>();
        foreach (var group in reads.GroupBy(r => r.Keyword).OrderBy(g => g.Key, System.StringComparer.Ordinal))
        {
            var all = group.OrderBy(r => r.TypeName, System.StringComparer.Ordinal).ToList();
            foreach (var read in all) diagnostics.AddRange(read.Diagnostics);
            if (Dsl.Planning.Definitions.BlockDefinitions.BuiltInKeywords.Contains(group.Key))
            {
                foreach (var read in all)
                    diagnostics.Add(new DeclarationDiagnostic(DiagnosticKinds.BuiltInBlockName.Id, (read.Location == null ? read.TypeName + ": " : "") +
                        $"block keyword '{group.Key}' is a built-in block of the language ({string.Join(", ", Dsl.Planning.Definitions.BlockDefinitions.BuiltInKeywords)}); choose another keyword",
                        read.Location));
                continue;
            }
            if (all.Count > 1)
            {
                foreach (var read in all)
                    diagnostics.Add(new DeclarationDiagnostic(DiagnosticKinds.DuplicateBlock.Id, (read.Location == null ? read.TypeName + ": " : "") +
                        $"block keyword '{group.Key}' is declared by {all.Count} classes ({string.Join(", ", all.Select(r => r.TypeName.Replace("global::", "")))}); each keyword names one block",
                        read.Location));
                broken.Add(group.Key);
                continue;
            }
            if (all[0].Declaration is { } declaration) blocks.Add(declaration);
            else broken.Add(group.Key);
        }
        return (new BlockCatalog(blocks.ToEquatableArray(), broken.ToEquatableArray()), diagnostics.ToEquatableArray());
    }

    private static bool IsKeyword(string text) =>
        text.Length is > 0 and <= 64 && text[0] is >= 'a' and <= 'z' && text.All(ch => ch is >= 'a' and <= 'z' or >= '0' and <= '9' or '_');

    private static bool IsPublic(INamedTypeSymbol type)
    {
        for (var t = type; t != null; t = t.ContainingType)
            if (t.DeclaredAccessibility != Accessibility.Public) return false;
        return true;
    }

    private static bool IsTensorModule(INamedTypeSymbol type)
    {
        for (var t = type.BaseType; t != null; t = t.BaseType)
        {
            if (t.OriginalDefinition.MetadataName == "Module`2" && t.ContainingNamespace?.ToDisplayString() == "TorchSharp"
                && t.TypeArguments.All(a => a.Name == "Tensor"))
                return true;
        }
        return false;
    }

    /// <summary>headDim → head_dim, HardSigmoid → hard_sigmoid.</summary>
    public static string SnakeCase(string name)
    {
        var text = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char ch = name[i];
            if (char.IsUpper(ch))
            {
                if (i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1]))))
                    text.Append('_');
                text.Append(char.ToLowerInvariant(ch));
            }
            else text.Append(ch);
        }
        return text.ToString().TrimStart('_');
    }

    private static string Join(IEnumerable<string> keys)
    {
        var list = keys.ToList();
        return list.Count == 0 ? "it has none" : string.Join(", ", list);
    }

    private static string Num(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
