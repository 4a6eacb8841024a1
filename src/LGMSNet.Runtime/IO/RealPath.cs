namespace LGMSNet.Runtime.IO;

/// <summary>Where a path really leads (as POSIX realpath): absolute, every symbolic link among its components resolved,
/// <c>.</c> and <c>..</c> applied after resolving (so <c>link/..</c> is the target's parent), no trailing separator.
/// Components that do not exist are kept as written. <see cref="SameFolder"/> compares two such paths with the
/// operating system's case rule, so a symlink to a folder, or the folder's name in other case where names ignore case,
/// is that folder.</summary>
public static class RealPath
{
    /// <summary>Links followed before giving up (Linux's ELOOP limit); past it the path is kept as reached.</summary>
    private const int MaxLinks = 40;

    /// <summary>Whether file names ignore case here (Windows and macOS by default; Linux and other Unix systems do not).</summary>
    public static bool IgnoresCase => OperatingSystem.IsWindows() || OperatingSystem.IsMacOS();

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> name one folder once links are resolved.</summary>
    public static bool SameFolder(string a, string b) =>
        string.Equals(Of(a), Of(b), IgnoresCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>The resolved absolute form of <paramref name="path"/>.</summary>
    public static string Of(string path)
    {
        string absolute = Path.IsPathFullyQualified(path) ? path : Path.Combine(Environment.CurrentDirectory, path);
        string root = Path.GetPathRoot(absolute)!;
        var pending = new Stack<string>(Components(absolute[root.Length..]).Reverse());
        string current = root;
        int links = 0;
        while (pending.TryPop(out var component))
        {
            if (component == ".") continue;
            if (component == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            string next = Path.Combine(current, component);
            FileSystemInfo entry = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (entry.LinkTarget is { } target && links++ < MaxLinks)
            {
                // The link's own text, relative to its folder or absolute, is walked in place of the component.
                string resolved = Path.IsPathFullyQualified(target) ? target : Path.Combine(current, target);
                string targetRoot = Path.GetPathRoot(resolved)!;
                foreach (var part in Components(resolved[targetRoot.Length..]).Reverse()) pending.Push(part);
                current = Path.IsPathFullyQualified(target) ? targetRoot : current;
                continue;
            }
            current = next;
        }
        return Path.TrimEndingDirectorySeparator(current);
    }

    private static IEnumerable<string> Components(string relative) =>
        relative.Split(new[] { Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar }, StringSplitOptions.RemoveEmptyEntries);
}
