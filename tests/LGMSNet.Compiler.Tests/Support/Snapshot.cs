using System.Text;
using Xunit;

namespace LGMSNet.Compiler.Tests.Support;

/// <summary>Approved-file snapshots: the approved text lives in tests/LGMSNet.Compiler.Tests/Snapshots.
/// On a mismatch the new text is written next to it as *.received.* and the failure shows a diff.
/// Set LGMS_ACCEPT_SNAPSHOTS=1 to accept the new output as approved.</summary>
public static class Snapshot
{
    public static void Match(string name, string actual, string extension = "cs")
    {
        string directory = Repo.Path("tests", "LGMSNet.Compiler.Tests", "Snapshots");
        string approvedPath = Path.Combine(directory, $"{name}.approved.{extension}");
        string receivedPath = Path.Combine(directory, $"{name}.received.{extension}");
        actual = actual.Replace("\r\n", "\n");
        if (Environment.GetEnvironmentVariable("LGMS_ACCEPT_SNAPSHOTS") == "1")
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(approvedPath, actual);
            if (File.Exists(receivedPath)) File.Delete(receivedPath);
            return;
        }
        string approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).Replace("\r\n", "\n") : "";
        if (approved == actual)
        {
            if (File.Exists(receivedPath)) File.Delete(receivedPath);
            return;
        }
        File.WriteAllText(receivedPath, actual);
        Assert.Fail($"snapshot '{name}' differs from {approvedPath} (received output written to {receivedPath}; " +
                    "run the tests with LGMS_ACCEPT_SNAPSHOTS=1 to approve it):\n" + Diff(approved, actual));
    }

    /// <summary>A compact line diff (longest common subsequence), enough to see what moved.</summary>
    public static string Diff(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (int i = a.Length - 1; i >= 0; i--)
            for (int j = b.Length - 1; j >= 0; j--)
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
        var sb = new StringBuilder();
        int x = 0, y = 0, shown = 0;
        while ((x < a.Length || y < b.Length) && shown < 80)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y]) { x++; y++; continue; }
            if (y < b.Length && (x == a.Length || lcs[x, y + 1] >= lcs[x + 1, y])) { sb.Append($"+{y + 1}: ").AppendLine(b[y++]); }
            else { sb.Append($"-{x + 1}: ").AppendLine(a[x++]); }
            shown++;
        }
        return sb.ToString();
    }
}
