using System.Diagnostics;
using System.Text;
using LGMSNet.Compiler.Tests.Support;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>The interesting inputs the fuzzer (tests/LGMSNet.Fuzz) explores, kept as a fixed corpus:
/// each must end in its expected diagnostic or in warning-free compiled code, quickly, without the
/// generator throwing.</summary>
public sealed class FuzzCorpusTests
{
    private static readonly string Folder = Repo.Path("tests", "LGMSNet.Compiler.Tests", "FuzzCorpus");

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var line in File.ReadAllLines(Path.Combine(Folder, "expected.txt")))
        {
            var parts = line.Split(": ");
            data.Add(parts[0], parts[1]);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Corpus_case_ends_in_its_expected_outcome(string file, string expected)
    {
        // Raw bytes: keep a BOM or control characters exactly as the fuzzer produced them.
        string text = new UTF8Encoding(false).GetString(File.ReadAllBytes(Path.Combine(Folder, file)));
        Check(file, text, expected);
    }

    [Fact]
    public void A_three_megabyte_file_is_refused_quickly() =>
        Check("huge.yaml", File.ReadAllText(Repo.Path("architectures", "lgmsnet.yaml")) + "# " + new string('x', 3 << 20), "LGMS017");

    [Fact]
    public void A_large_but_allowed_file_still_compiles() =>
        Check("large.yaml", File.ReadAllText(Repo.Path("architectures", "lgmsnet.yaml")) + "# " + new string('x', 900 << 10), "compiles");

    private static void Check(string file, string text, string expected)
    {
        var clock = Stopwatch.StartNew();
        var (driver, output, diagnostics) = GeneratorHarness.Run(new InMemoryText("architectures/" + file, text));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{file} took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Null(driver.GetRunResult().Results.Single().Exception);
        Assert.All(diagnostics, d => Assert.StartsWith("LGMS", d.Id));
        if (expected == "compiles")
        {
            Assert.Empty(diagnostics);
            var assembly = GeneratorHarness.CompileAndLoad(output);
            // Text from the YAML never becomes code: the architecture's class and the registry are the only types.
            Assert.Equal(2, assembly.GetTypes().Count(t => !t.Name.Contains('<') && t.DeclaringType == null));
        }
        else
        {
            Assert.Contains(diagnostics, d => d.Id == expected);
        }
    }
}
