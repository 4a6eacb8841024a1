using System.Text.Json;
using System.Text.Json.Serialization;
using LGMSNet.Dsl.Parsing;
using LGMSNet.Runtime.Network;

namespace LGMSNet.Runtime.Cli;

/// <summary>A user mistake or an expected failure: printed as "error: message", no stack trace.</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>What every command needs: where to write, and the compiled architectures.</summary>
public sealed class CliContext(TextWriter output, TextWriter error, IReadOnlyList<ArchitectureDescriptor> architectures)
{
    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public IReadOnlyList<ArchitectureDescriptor> Architectures { get; } = architectures;

    /// <summary>Progress bars only when a person watches a terminal.</summary>
    public bool Interactive => ReferenceEquals(Out, Console.Out) && !Console.IsOutputRedirected;

    public static JsonSerializerOptions Json { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        Converters = { new NonFiniteAsNullConverter() },
    };

    public void WriteJson(object value) => Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>Finds an architecture by file stem or name, case-insensitively.</summary>
    public ArchitectureDescriptor Resolve(string query)
    {
        var match = Architectures.FirstOrDefault(a => a.Info.Matches(query));
        if (match != null) return match;
        var names = Architectures.Select(a => a.Info.FileStem).ToList();
        string? closest = Suggestions.Closest(query, names.Concat(Architectures.Select(a => a.Info.Name)));
        throw new CliException($"unknown architecture '{query}'" + (closest != null ? $"; did you mean '{closest}'?" : "") +
                               $" (compiled: {string.Join(", ", names)}; see 'list')", 2);
    }
}

/// <summary>Writes NaN and infinities as JSON null (an undefined metric, e.g. the loss of a baseline),
/// so every consumer's JSON parser reads metrics.json and --json output as plain numbers or null.
/// Reads null, numbers, and the quoted "NaN"/"Infinity" of files written before this converter.</summary>
public sealed class NonFiniteAsNullConverter : JsonConverter<double>
{
    public override bool HandleNull => true;

    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Null => double.NaN,
        JsonTokenType.String => reader.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            var text => throw new JsonException($"expected a number, found \"{text}\""),
        },
        _ => reader.GetDouble(),
    };

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteNullValue();
    }
}
