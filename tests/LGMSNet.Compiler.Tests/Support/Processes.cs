using System.Diagnostics;

namespace LGMSNet.Compiler.Tests.Support;

/// <summary>Runs a program (node, npm, ...) as a child process and returns its exit code with stdout and stderr.</summary>
public static class Processes
{
    public static (int Code, string Output) Run(string file, string arguments, string directory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file, arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(true);
            return (-1, $"$ {file} {arguments}: timed out after {timeout.TotalSeconds:0} s\n{stdout.Result}{stderr.Result}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
