using System.CommandLine;
using System.CommandLine.Parsing;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>-o/--output</c>, the one spelling of "where to write" in every command (System.CommandLine's
/// design guidance reserves it). <c>--out</c>, the old spelling of train, import and export, is accepted
/// as a hidden alias for one release.</summary>
internal sealed class OutputOption
{
    private readonly Option<string?> _output;
    private readonly Option<string?> _legacy = new("--out") { Hidden = true, Description = "Deprecated spelling of --output." };
    private readonly bool _required;

    public OutputOption(string description, bool required)
    {
        _output = new Option<string?>("--output", "-o") { Description = description + (required ? " (required)" : "") };
        _required = required;
    }

    public void AddTo(Command command)
    {
        command.Add(_output);
        command.Add(_legacy);
        command.Validators.Add(result =>
        {
            bool given = result.GetResult(_output) != null, legacy = result.GetResult(_legacy) != null;
            if (given && legacy) result.AddError("give --output once (--out is its deprecated spelling)");
            else if (_required && !given && !legacy) result.AddError("Option '--output' is required.");
        });
    }

    public string? GetValue(ParseResult result) => result.GetValue(_output) ?? result.GetValue(_legacy);

    /// <summary>Whether the command line gave it, in either spelling.</summary>
    public bool IsGiven(ParseResult result) => result.GetResult(_output) != null || result.GetResult(_legacy) != null;
}
