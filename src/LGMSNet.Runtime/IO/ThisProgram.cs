using System.Reflection;

namespace LGMSNet.Runtime.IO;

/// <summary>The command line that runs this program again (sweep tasks, the resume command a stopped run prints),
/// and quoting for a POSIX shell so that a printed command can be pasted as it is.</summary>
public static class ThisProgram
{
    /// <summary>LGMSNET_PROGRAM when set (an executable, or a .dll run with dotnet), else this process's executable
    /// (with the entry assembly under <c>dotnet</c>).</summary>
    public static IReadOnlyList<string> Invocation()
    {
        if (Environment.GetEnvironmentVariable("LGMSNET_PROGRAM") is { Length: > 0 } program)
            return program.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? new[] { "dotnet", Path.GetFullPath(program) } : new[] { Path.GetFullPath(program) };
        string self = Environment.ProcessPath ?? throw new UserErrorException("cannot tell which program is running; set LGMSNET_PROGRAM to it", 2);
        return Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? new[] { self, Assembly.GetEntryAssembly()?.Location ?? throw new UserErrorException("cannot tell which program is running; set LGMSNET_PROGRAM to it", 2) }
            : new[] { self };
    }

    /// <summary>This program with <paramref name="arguments"/>, quoted for a POSIX shell.</summary>
    public static string Command(params string[] arguments)
    {
        IEnumerable<string> program;
        try
        {
            program = Invocation();
        }
        catch (UserErrorException)
        {
            program = new[] { "lgmsnet" };
        }
        return string.Join(" ", program.Concat(arguments).Select(Quote));
    }

    /// <summary>A word as a POSIX shell reads it back: unchanged when it holds only safe characters, else in single quotes.</summary>
    public static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c))
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
