using System.CommandLine;
using LGMSNet.Dsl.Language;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>schema</c>: the JSON Schema of the YAML language (what schemas/lgmsnet.schema.json holds), for
/// editors; written from the compiler's own language table and the project's own blocks ([LgmsBlock] classes).</summary>
internal static class SchemaCommand
{
    public static Command Create(CliContext context)
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write the schema to this file instead of printing it." };
        var command = new Command("schema", "Print the JSON Schema (draft 2020-12) of the architecture YAML language, with this project's own blocks.") { output };
        command.SetAction(result =>
        {
            string schema = JsonSchemaWriter.Write(context.Blocks);
            if (result.GetValue(output) is { } file) AtomicFile.WriteAllText(file, schema);
            else context.Out.Write(schema);
            return 0;
        });
        return command;
    }
}
