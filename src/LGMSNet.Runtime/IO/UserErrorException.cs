namespace LGMSNet.Runtime.IO;

/// <summary>A user mistake or an expected failure (bad option, unwritable folder, not a run folder),
/// raised by whichever layer finds it. The CLI prints it as "error: message" with no stack trace and
/// exits with <see cref="ExitCode"/> (2: the command line itself is wrong; 1: anything else).</summary>
public sealed class UserErrorException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
