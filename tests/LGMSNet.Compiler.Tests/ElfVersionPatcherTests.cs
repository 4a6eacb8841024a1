using LGMSNet.Build;
using Xunit;

namespace LGMSNet.Compiler.Tests;

/// <summary>The build step that lets TorchSharp's native library load on Debian 12 / Ubuntu 22.04.</summary>
public sealed class ElfVersionPatcherTests
{
    private const string Version = "GLIBCXX_3.4.32";

    private static string OutputCopy() =>
        Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).Single();

    private static bool HostHas(string version) =>
        new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }
            .Where(File.Exists).Select(File.ReadAllBytes).Any(bytes => ElfVersionPatcher.DefinesVersion(bytes, version));

    [Fact]
    public void Build_output_copy_is_weakened_exactly_when_the_host_lacks_the_version()
    {
        if (!OperatingSystem.IsLinux()) return; // the patch only applies to Linux builds
        var needs = ElfVersionPatcher.ReadVersionNeeds(File.ReadAllBytes(OutputCopy()));
        var need = Assert.Single(needs, n => n.Item1 == Version);
        Assert.Equal("libstdc++.so.6", need.Item2);
        Assert.Equal(!HostHas(Version), need.Item3);
        Assert.All(needs.Where(n => n.Item1 != Version), n => Assert.False(n.Item3, $"{n.Item1} must stay a hard requirement"));
    }

    [Fact]
    public void Weakening_changes_only_the_named_need_and_is_idempotent()
    {
        if (!OperatingSystem.IsLinux()) return;
        var bytes = File.ReadAllBytes(OutputCopy());
        ElfVersionPatcher.SetWeak(bytes, new[] { Version }, weak: false);
        var before = ElfVersionPatcher.ReadVersionNeeds(bytes);
        Assert.False(before.Single(n => n.Item1 == Version).Item3);

        Assert.Equal(new[] { Version }, ElfVersionPatcher.MakeWeak(bytes, new[] { Version }));
        Assert.Empty(ElfVersionPatcher.MakeWeak(bytes, new[] { Version }));
        var after = ElfVersionPatcher.ReadVersionNeeds(bytes);
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++)
            Assert.Equal(before[i].Item1 == Version || before[i].Item3, after[i].Item3);
    }

    [Fact]
    public void Malformed_files_are_rejected_without_reading_out_of_bounds()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.ReadVersionNeeds(new byte[10]));
        Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.ReadVersionNeeds(System.Text.Encoding.ASCII.GetBytes(new string('x', 100))));
        if (!OperatingSystem.IsLinux()) return;
        var truncated = File.ReadAllBytes(OutputCopy()).Take(4096).ToArray();
        Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.ReadVersionNeeds(truncated));
    }

    [Fact]
    public void Version_strings_are_matched_whole()
    {
        var library = System.Text.Encoding.ASCII.GetBytes("\0GLIBCXX_3.4.30\0GLIBCXX_3.4.3\0");
        Assert.True(ElfVersionPatcher.DefinesVersion(library, "GLIBCXX_3.4.3"));
        Assert.True(ElfVersionPatcher.DefinesVersion(library, "GLIBCXX_3.4.30"));
        Assert.False(ElfVersionPatcher.DefinesVersion(library, "GLIBCXX_3.4.32"));
        Assert.False(ElfVersionPatcher.DefinesVersion(library, "XX_3.4.30"));
    }
}
