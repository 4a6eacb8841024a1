using System.Text.Json;
using System.Text.Json.Serialization;

namespace LGMSNet.Runtime.IO;

/// <summary>The one JSON policy of every file and report the runtime writes (run.json, split.json,
/// metrics.json, checkpoint run state, --json output): indented, snake_case properties, dictionary keys
/// as written, non-finite numbers as null.</summary>
public static class RuntimeJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        Converters = { new NonFiniteAsNullConverter() },
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
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
