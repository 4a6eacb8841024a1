using System.Text.Json;
using System.Xml.Linq;

namespace LGMSNet.LanguageServer.Workspace;

/// <summary>What a project compiles without running MSBuild: its C# files (the SDK's default glob minus bin/ and obj/,
/// plus explicit &lt;Compile Include&gt; items such as linked files) and the assemblies it references (from the restore's
/// obj/project.assets.json, project references' build output, or else the NuGet cache's LGMSNet.Runtime and TorchSharp),
/// enough for Roslyn to bind <c>[LgmsBlock]</c> attributes and base classes. Conditions and imported props are not evaluated.</summary>
public static class ProjectReferences
{
    /// <summary>The nearest *.csproj in the YAML's folder or above it; null when none.</summary>
    public static string? OwningProject(string yamlPath)
    {
        for (var dir = new DirectoryInfo(Path.GetDirectoryName(Path.GetFullPath(yamlPath)) ?? "/"); dir != null; dir = dir.Parent)
        {
            try
            {
                var project = dir.EnumerateFiles("*.csproj").OrderBy(f => f.Name, StringComparer.Ordinal).FirstOrDefault();
                if (project != null) return project.FullName;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
        return null;
    }

    public static IReadOnlyList<string> SourceFiles(string projectFile)
    {
        string dir = Path.GetDirectoryName(projectFile)!;
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string file in Enumerate(dir)) files.Add(file);
        try
        {
            foreach (var item in XDocument.Load(projectFile).Descendants().Where(e => e.Name.LocalName == "Compile"))
            {
                if (item.Attribute("Include")?.Value is { } include)
                    foreach (string part in include.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (part.Contains('*') || part.Contains("$(")) continue;
                        string full = Path.GetFullPath(Path.Combine(dir, part.Replace('\\', '/')));
                        if (File.Exists(full)) files.Add(full);
                    }
                if (item.Attribute("Remove")?.Value is { } remove)
                    foreach (string part in remove.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        if (!part.Contains('*')) files.Remove(Path.GetFullPath(Path.Combine(dir, part.Replace('\\', '/'))));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Xml.XmlException)
        {
            // An unreadable or half-written project file: the default glob still applies.
        }
        return files.ToList();
    }

    /// <summary>Whether a file outside the project's folder is one of its explicit &lt;Compile Include&gt; items (a linked file).</summary>
    public static bool SourceFilesContain(string projectFile, string path) =>
        path.EndsWith(".cs", StringComparison.OrdinalIgnoreCase) && SourceFiles(projectFile).Contains(path, StringComparer.Ordinal);

    private static IEnumerable<string> Enumerate(string dir)
    {
        var pending = new Stack<string>();
        pending.Push(dir);
        while (pending.Count > 0)
        {
            string current = pending.Pop();
            string[] files, dirs;
            try
            {
                files = Directory.GetFiles(current, "*.cs");
                dirs = Directory.GetDirectories(current);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            foreach (string file in files) yield return file;
            foreach (string child in dirs)
            {
                string name = Path.GetFileName(child);
                if (current == dir && name is "bin" or "obj") continue;
                if (name.StartsWith('.') || name == "node_modules") continue;
                pending.Push(child);
            }
        }
    }

    /// <summary>Assembly paths to reference, one per file name (project and package assemblies before the framework's),
    /// and a note when LGMSNet.Runtime was not found (user blocks cannot be read then).</summary>
    public static (IReadOnlyList<string> Paths, string? Problem) Assemblies(string projectFile)
    {
        string dir = Path.GetDirectoryName(projectFile)!;
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        // The project's own build output holds its blocks a second time (as metadata): never a reference of itself.
        string own = AssemblyName(projectFile) + ".dll";
        void Add(string path)
        {
            if (File.Exists(path) && !Path.GetFileName(path).Equals(own, StringComparison.OrdinalIgnoreCase)) byName.TryAdd(Path.GetFileName(path), path);
        }

        string assets = Path.Combine(dir, "obj", "project.assets.json");
        if (File.Exists(assets))
        {
            try
            {
                foreach (string path in FromAssets(assets, dir)) Add(path);
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or InvalidOperationException or KeyNotFoundException)
            {
                // A restore in progress: fall through to the other sources.
            }
        }
        foreach (string path in BuildOutput(dir)) Add(path);
        if (!byName.ContainsKey("LGMSNet.Runtime.dll") || !byName.ContainsKey("TorchSharp.dll"))
            foreach (string path in FromPackageCache()) Add(path);
        string? problem = byName.ContainsKey("LGMSNet.Runtime.dll") && byName.ContainsKey("TorchSharp.dll") ? null
            : $"LGMSNet.Runtime or TorchSharp not found for {Path.GetFileName(projectFile)} (no obj/project.assets.json, build output or NuGet cache copy): " +
              "the project's own blocks cannot be read; run 'dotnet restore' on the project";
        foreach (string path in ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            Add(path);
        return (byName.Values.OrderBy(p => p, StringComparer.Ordinal).ToList(), problem);
    }

    /// <summary>&lt;AssemblyName&gt; when the project file sets it, else the project file's name.</summary>
    private static string AssemblyName(string projectFile)
    {
        try
        {
            string? name = XDocument.Load(projectFile).Descendants().FirstOrDefault(e => e.Name.LocalName == "AssemblyName")?.Value.Trim();
            if (!string.IsNullOrEmpty(name) && !name.Contains("$(")) return name;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Xml.XmlException)
        {
            // Unreadable: the file name is the SDK's default.
        }
        return Path.GetFileNameWithoutExtension(projectFile);
    }

    private static IEnumerable<string> FromAssets(string assets, string projectDir)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(assets));
        var root = json.RootElement;
        var folders = root.TryGetProperty("packageFolders", out var pf) ? pf.EnumerateObject().Select(p => p.Name).ToList() : new List<string>();
        var libraries = root.GetProperty("libraries");
        var target = root.GetProperty("targets").EnumerateObject().First().Value;
        var results = new List<string>();
        foreach (var entry in target.EnumerateObject())
        {
            if (!libraries.TryGetProperty(entry.Name, out var library)) continue;
            string type = entry.Value.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
            string libraryPath = library.TryGetProperty("path", out var lp) ? lp.GetString() ?? "" : "";
            if (type == "project")
            {
                string referenced = Path.GetFullPath(Path.Combine(projectDir, libraryPath));
                results.AddRange(BuildOutput(Path.GetDirectoryName(referenced)!).Where(p =>
                    Path.GetFileNameWithoutExtension(p).Equals(entry.Name.Split('/')[0], StringComparison.OrdinalIgnoreCase)));
                continue;
            }
            if (!entry.Value.TryGetProperty("compile", out var compile)) continue;
            foreach (var asset in compile.EnumerateObject())
            {
                if (!asset.Name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) continue;
                foreach (string folder in folders)
                {
                    string full = Path.Combine(folder, libraryPath, asset.Name);
                    if (File.Exists(full))
                    {
                        results.Add(full);
                        break;
                    }
                }
            }
        }
        return results;
    }

    /// <summary>bin/&lt;configuration&gt;/&lt;tfm&gt;/*.dll of a project, newest build first.</summary>
    private static IEnumerable<string> BuildOutput(string projectDir)
    {
        string bin = Path.Combine(projectDir, "bin");
        if (!Directory.Exists(bin)) return Array.Empty<string>();
        try
        {
            return Directory.GetDirectories(bin).SelectMany(Directory.GetDirectories)
                .OrderByDescending(Directory.GetLastWriteTimeUtc)
                .SelectMany(d => Directory.GetFiles(d, "*.dll")).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Array.Empty<string>();
        }
    }

    /// <summary>The newest LGMSNet.Runtime and TorchSharp in the NuGet global packages folder.</summary>
    private static IEnumerable<string> FromPackageCache()
    {
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (string package in new[] { "lgmsnet.runtime", "torchsharp" })
        {
            string folder = Path.Combine(cache, package);
            if (!Directory.Exists(folder)) continue;
            var newest = Directory.GetDirectories(folder)
                .Select(d => (Dir: d, Version: Version.TryParse(Path.GetFileName(d).Split('-')[0], out var v) ? v : null))
                .Where(v => v.Version != null).OrderByDescending(v => v.Version).FirstOrDefault();
            if (newest.Dir == null) continue;
            string lib = Path.Combine(newest.Dir, "lib");
            if (!Directory.Exists(lib)) continue;
            var tfm = Directory.GetDirectories(lib).Where(d => Path.GetFileName(d).StartsWith("net", StringComparison.Ordinal)
                && !Path.GetFileName(d).StartsWith("netstandard", StringComparison.Ordinal)).OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault();
            if (tfm == null) continue;
            foreach (string dll in Directory.GetFiles(tfm, "*.dll")) yield return dll;
        }
    }
}
