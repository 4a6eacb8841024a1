using LGMSNet.Runtime.Interop;

namespace LGMSNet.Runtime.Tests.Support;

/// <summary>Locates files of the repository (fixtures, architectures) from the test output folder.</summary>
public static class Fixtures
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Reference(params string[] parts) => Path.Combine(new[] { RepoRoot, "tests", "fixtures", "reference" }.Concat(parts).ToArray());

    public static SafeTensorFile Load(params string[] parts) => SafeTensorFile.Read(Reference(parts));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LGMSNet.Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (LGMSNet.Dsl.sln) above " + AppContext.BaseDirectory);
    }
}
