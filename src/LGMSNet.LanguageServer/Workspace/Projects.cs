namespace LGMSNet.LanguageServer.Workspace;

/// <summary>The projects that own the open YAML files: each one's blocks, read again (incrementally) after a C# file,
/// the project file or its restore changes, which a file watcher and the client's workspace/didChangeWatchedFiles report.</summary>
internal sealed class Projects : IDisposable
{
    private sealed class Entry(ProjectBlocks blocks)
    {
        public ProjectBlocks Blocks { get; } = blocks;
        public volatile bool Dirty = true;
        public ProjectCatalog? Catalog;
        public FileSystemWatcher? Watcher;
    }

    /// <summary>LGMSNET_LSP_TRACE=1: every file event on stderr.</summary>
    private static readonly bool Trace = Environment.GetEnvironmentVariable("LGMSNET_LSP_TRACE") == "1";

    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _byFile = new(StringComparer.Ordinal);
    private readonly Action<string> _changed;
    private readonly bool _watch;

    /// <param name="changed">Called (on a worker thread) with the project file whose C# changed.</param>
    public Projects(Action<string> changed, bool watch)
    {
        _changed = changed;
        _watch = watch;
    }

    /// <summary>The blocks the YAML at <paramref name="yamlPath"/> compiles against (built-in only when no project owns it).</summary>
    public ProjectCatalog CatalogFor(string? yamlPath, CancellationToken cancellation = default)
    {
        if (yamlPath == null) return ProjectCatalog.None;
        string? projectFile = ProjectReferences.OwningProject(yamlPath);
        if (projectFile == null) return ProjectCatalog.None;
        Entry entry;
        lock (_gate)
        {
            if (!_byFile.TryGetValue(projectFile, out entry!))
            {
                entry = new Entry(new ProjectBlocks(projectFile));
                _byFile[projectFile] = entry;
                if (_watch) entry.Watcher = Watch(entry);
            }
        }
        if (entry.Dirty || entry.Catalog == null)
        {
            entry.Dirty = false;
            entry.Catalog = entry.Blocks.Read(cancellation);
        }
        return entry.Catalog;
    }

    /// <summary>A file changed on disk (from the client or the watcher): the projects it can affect read again.</summary>
    public void FileChanged(string path)
    {
        if (Trace) Console.Error.WriteLine($"lgmsnet lsp: file event {path}");
        if (!IsInteresting(path)) return;
        List<string> affected;
        lock (_gate)
        {
            affected = _byFile.Where(p => (path.StartsWith(p.Value.Blocks.Directory + Path.DirectorySeparatorChar, StringComparison.Ordinal) && !IsBuildOutput(p.Value, path))
                                          || path == p.Key || ProjectReferences.SourceFilesContain(p.Key, path)).Select(p => p.Key).ToList();
            foreach (string project in affected) _byFile[project].Dirty = true;
        }
        foreach (string project in affected) _changed(project);
        // A new folder's files can be written before the watcher watches the folder: look again a little later.
        if (affected.Count > 0 && Directory.Exists(path))
            _ = Task.Delay(500).ContinueWith(_ =>
            {
                lock (_gate)
                    foreach (string project in affected)
                        if (_byFile.TryGetValue(project, out var entry)) entry.Dirty = true;
                foreach (string project in affected) _changed(project);
            }, TaskScheduler.Default);
    }

    /// <summary>bin/ and obj/ (a build writes generated C# there), except the restore's assets file.</summary>
    private static bool IsBuildOutput(Entry entry, string path)
    {
        string relative = path.Substring(entry.Blocks.Directory.Length + 1);
        return (relative.StartsWith("bin" + Path.DirectorySeparatorChar, StringComparison.Ordinal) || relative.StartsWith("obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
               && !path.EndsWith("project.assets.json", StringComparison.OrdinalIgnoreCase);
    }

    // A new folder too: its files may be written before the watcher watches it.
    private static bool IsInteresting(string path) => Directory.Exists(path) ||
        path.EndsWith(".cs", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith("project.assets.json", StringComparison.OrdinalIgnoreCase);

    private FileSystemWatcher? Watch(Entry entry)
    {
        try
        {
            var watcher = new FileSystemWatcher(entry.Blocks.Directory) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size };
            FileSystemEventHandler handler = (_, e) => FileChanged(e.FullPath);
            watcher.Changed += handler;
            watcher.Created += handler;
            watcher.Deleted += handler;
            watcher.Renamed += (_, e) =>
            {
                FileChanged(e.OldFullPath);
                FileChanged(e.FullPath);
            };
            watcher.Error += (_, e) => Console.Error.WriteLine(
                $"lgmsnet lsp: the file watcher of {entry.Blocks.Directory} failed ({e.GetException().Message}); relying on the client's file events");
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            // inotify limits reached, say: the client's didChangeWatchedFiles still refreshes the blocks.
            Console.Error.WriteLine($"lgmsnet lsp: cannot watch {entry.Blocks.Directory} ({e.Message}); relying on the client's file events");
            return null;
        }
    }

    public void Dispose()
    {
        lock (_gate)
            foreach (var entry in _byFile.Values) entry.Watcher?.Dispose();
    }
}
