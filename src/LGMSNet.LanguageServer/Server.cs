using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LGMSNet.LanguageServer.Features;
using LGMSNet.LanguageServer.Protocol;
using LGMSNet.LanguageServer.Workspace;

namespace LGMSNet.LanguageServer;

/// <summary>Settings a client (or a test) may change: debounce after a change, the time limit of one compile.</summary>
internal sealed record ServerOptions(int DebounceMs = 50, int CompileLimitMs = 10_000, bool WatchFiles = true)
{
    /// <summary>From LGMSNET_LSP_DEBOUNCE_MS, LGMSNET_LSP_COMPILE_LIMIT_MS and LGMSNET_LSP_WATCH (0: no file watcher of
    /// our own, only the client's workspace/didChangeWatchedFiles, e.g. where inotify watches run out).</summary>
    public static ServerOptions FromEnvironment() => new(
        Number("LGMSNET_LSP_DEBOUNCE_MS") ?? 50, Number("LGMSNET_LSP_COMPILE_LIMIT_MS") ?? 10_000, Number("LGMSNET_LSP_WATCH") != 0);

    private static int? Number(string name) => int.TryParse(Environment.GetEnvironmentVariable(name), out int value) && value >= 0 ? value : null;
}

/// <summary>The language server: JSON-RPC over the LSP base protocol, one message loop, compiles on worker threads.
/// Every change cancels the document's pending compile and starts a debounced one; a compile's result is published only
/// while it is still the document's newest version, with that version. A compile that runs past the time limit is
/// reported on its document and abandoned; the other documents are served meanwhile.</summary>
internal sealed class Server : IDisposable
{
    private sealed class Document(string uri, string? path, string text, int version)
    {
        public string Uri { get; } = uri;
        public string? Path { get; } = path;
        public string Text = text;
        public int Version = version;
        public CancellationTokenSource? Pending;
        public DocumentAnalysis? Latest;
        public readonly object Gate = new();
    }

    private const int ParseError = -32700, InvalidRequest = -32600, MethodNotFound = -32601, InvalidParams = -32602, InternalError = -32603,
        ServerNotInitialized = -32002, RequestCancelled = -32800;

    private readonly LspReader _reader;
    private readonly LspWriter _writer;
    private readonly ServerOptions _options;
    private readonly ConcurrentDictionary<string, Document> _documents = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _requests = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (ProjectCatalog Catalog, List<string> Files)> _csharpDiagnostics = new(StringComparer.Ordinal);
    private readonly Projects _projects;
    private bool _initialized, _shutdown;
    private int _outgoing;

    public Server(Stream input, Stream output, ServerOptions options)
    {
        _reader = new LspReader(input);
        _writer = new LspWriter(output);
        _options = options;
        _projects = new Projects(ProjectChanged, options.WatchFiles);
    }

    /// <summary>Serves until the client's exit notification or the end of the input; the process's exit code.</summary>
    public async Task<int> RunAsync()
    {
        while (true)
        {
            string? text;
            try
            {
                text = await _reader.ReadAsync();
            }
            catch (InvalidDataException e)
            {
                Log($"cannot read the client's message stream: {e.Message}");
                return 1;
            }
            if (text == null) return _shutdown ? 0 : 1;
            JsonObject? message;
            try
            {
                message = JsonNode.Parse(text) as JsonObject;
            }
            catch (JsonException e)
            {
                await Send(Error(null, ParseError, "invalid JSON: " + e.Message));
                continue;
            }
            if (message == null)
            {
                await Send(Error(null, InvalidRequest, "a message must be a JSON object"));
                continue;
            }
            string? method = message["method"]?.GetValueKind() == JsonValueKind.String ? (string?)message["method"] : null;
            var id = message["id"]?.DeepClone();
            if (method == null)
            {
                // A response to one of our requests (client/registerCapability): nothing waits for it.
                continue;
            }
            if (method == "exit") return _shutdown ? 0 : 1;
            if (id == null)
            {
                Notification(method, message["params"] as JsonObject);
                continue;
            }
            _ = Task.Run(() => Request(id, method, message["params"] as JsonObject));
        }
    }

    // ---- notifications --------------------------------------------------------------------------

    private void Notification(string method, JsonObject? p)
    {
        try
        {
            switch (method)
            {
                case "initialized":
                    break;
                case "textDocument/didOpen":
                    {
                        var item = p!["textDocument"]!;
                        string uri = (string)item["uri"]!;
                        var document = new Document(uri, Lsp.PathOf(uri), (string?)item["text"] ?? "", (int?)item["version"] ?? 0);
                        _documents[uri] = document;
                        Schedule(document, 0);
                        break;
                    }
                case "textDocument/didChange":
                    {
                        string uri = (string)p!["textDocument"]!["uri"]!;
                        if (!_documents.TryGetValue(uri, out var document))
                        {
                            Log($"didChange for a document that is not open: {uri}");
                            break;
                        }
                        lock (document.Gate)
                        {
                            foreach (var change in p["contentChanges"]!.AsArray())
                                document.Text = Apply(document.Text, change!.AsObject());
                            document.Version = (int?)p["textDocument"]!["version"] ?? document.Version + 1;
                        }
                        Schedule(document, _options.DebounceMs);
                        break;
                    }
                case "textDocument/didClose":
                    {
                        string uri = (string)p!["textDocument"]!["uri"]!;
                        if (_documents.TryRemove(uri, out var document))
                        {
                            lock (document.Gate) document.Pending?.Cancel();
                            _ = Send(Notify("textDocument/publishDiagnostics", new JsonObject { ["uri"] = uri, ["diagnostics"] = new JsonArray() }));
                        }
                        break;
                    }
                case "workspace/didChangeWatchedFiles":
                    foreach (var change in p?["changes"]?.AsArray() ?? new JsonArray())
                        if (Lsp.PathOf((string?)change?["uri"] ?? "") is { } path) _projects.FileChanged(path);
                    break;
                case "$/cancelRequest":
                    if (p?["id"]?.ToJsonString() is { } key && _requests.TryGetValue(key, out var cancel)) cancel.Cancel();
                    break;
                default:
                    // $/setTrace, workspace/didChangeConfiguration, ...: nothing to do.
                    break;
            }
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException)
        {
            Log($"ignored malformed {method} notification: {e.Message}");
        }
    }

    /// <summary>Applies one content change: a whole new text, or a range replaced (UTF-16 positions).</summary>
    private static string Apply(string text, JsonObject change)
    {
        string newText = (string?)change["text"] ?? "";
        if (change["range"] is not JsonObject range) return newText;
        var lines = new LineMap(text);
        int? start = lines.Offset((int)range["start"]!["line"]!, (int)range["start"]!["character"]!);
        int? end = lines.Offset((int)range["end"]!["line"]!, (int)range["end"]!["character"]!);
        // A position past the last line means the end of the document.
        int s = start ?? text.Length, e = end ?? text.Length;
        if (e < s) (s, e) = (e, s);
        return string.Concat(text.AsSpan(0, s), newText, text.AsSpan(e));
    }

    // ---- compiling ------------------------------------------------------------------------------

    private void Schedule(Document document, int debounceMs)
    {
        CancellationTokenSource cancel;
        lock (document.Gate)
        {
            document.Pending?.Cancel();
            document.Pending?.Dispose();
            cancel = document.Pending = new CancellationTokenSource();
        }
        var token = cancel.Token;
        _ = Task.Run(async () =>
        {
            try
            {
                if (debounceMs > 0) await Task.Delay(debounceMs, token);
                var analysis = await AnalyseAsync(document, token);
                if (analysis == null) return;
                await Publish(document, analysis);
            }
            catch (OperationCanceledException)
            {
                // A newer version replaced this one.
            }
        }, CancellationToken.None);
    }

    /// <summary>Compiles the document's current text on a worker, within the time limit; null when a newer version
    /// arrived meanwhile.</summary>
    private async Task<DocumentAnalysis?> AnalyseAsync(Document document, CancellationToken token)
    {
        string text;
        int version;
        lock (document.Gate)
        {
            if (document.Latest != null && document.Latest.Version == document.Version && document.Latest.Text == document.Text) return document.Latest;
            text = document.Text;
            version = document.Version;
        }
        string path = document.Path ?? document.Uri;
        var compile = Task.Factory.StartNew(() =>
        {
            var project = _projects.CatalogFor(document.Path);
            SlowForTests(path);
            return DocumentAnalysis.Compile(path, version, text, project);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var finished = await Task.WhenAny(compile, Task.Delay(_options.CompileLimitMs, token));
        token.ThrowIfCancellationRequested();
        if (finished != compile)
        {
            Log($"compiling {path} (version {version}) took longer than {_options.CompileLimitMs} ms; abandoned");
            await Send(Notify("textDocument/publishDiagnostics", new JsonObject
            {
                ["uri"] = document.Uri,
                ["version"] = version,
                ["diagnostics"] = new JsonArray(new JsonObject
                {
                    ["range"] = Lsp.Range((0, 0), (0, 0)),
                    ["severity"] = 2,
                    ["source"] = Lsp.Source,
                    ["message"] = $"lgmsnet: compiling this file took longer than {_options.CompileLimitMs / 1000.0:0.#} s and was abandoned; " +
                                  "other files are still checked. Edit the file to try again.",
                }),
            }));
            return null;
        }
        var analysis = await compile;
        lock (document.Gate)
        {
            if (document.Version != version) return null;
            document.Latest = analysis;
        }
        return analysis;
    }

    /// <summary>Test hook: LGMSNET_LSP_SLOW_FILE=name makes compiling a file whose path contains name take 30 s.</summary>
    private static void SlowForTests(string path)
    {
        if (Environment.GetEnvironmentVariable("LGMSNET_LSP_SLOW_FILE") is { Length: > 0 } slow && path.Contains(slow, StringComparison.Ordinal))
            Thread.Sleep(30_000);
    }

    private async Task Publish(Document document, DocumentAnalysis analysis)
    {
        var diagnostics = new JsonArray();
        foreach (var diagnostic in analysis.Compiled.Diagnostics) diagnostics.Add(Lsp.Diagnostic(analysis, diagnostic));
        if (analysis.Project.Problem != null && analysis.Compiled.Diagnostics.Any(d => d.Id == "LGMS003"))
            diagnostics.Add(new JsonObject
            {
                ["range"] = Lsp.Range((0, 0), (0, 0)),
                ["severity"] = 3,
                ["source"] = Lsp.Source,
                ["message"] = analysis.Project.Problem,
            });
        lock (document.Gate)
            if (document.Version != analysis.Version || !_documents.ContainsKey(document.Uri)) return;
        await Send(Notify("textDocument/publishDiagnostics", new JsonObject { ["uri"] = document.Uri, ["version"] = analysis.Version, ["diagnostics"] = diagnostics }));
        await PublishDeclarations(analysis.Project);
    }

    /// <summary>LGMS101–106 on the C# declarations, as the build reports them there (csharp-ls and VS Code's C# extension
    /// drop generator diagnostics, so this is where an editor shows them).</summary>
    private async Task PublishDeclarations(ProjectCatalog project)
    {
        if (project.ProjectFile == null) return;
        // Once per catalog read, not on every keystroke in a YAML file.
        var known = _csharpDiagnostics.TryGetValue(project.ProjectFile, out var last) ? last : default;
        if (ReferenceEquals(known.Catalog, project)) return;
        var byFile = project.Diagnostics.Where(d => d.Location != null).GroupBy(d => d.Location!.FilePath).ToDictionary(g => g.Key, g => g.ToList());
        var previous = known.Files ?? new List<string>();
        _csharpDiagnostics[project.ProjectFile] = (project, byFile.Keys.ToList());
        foreach (string file in previous.Union(byFile.Keys))
        {
            var list = new JsonArray();
            foreach (var d in byFile.GetValueOrDefault(file) ?? new())
                list.Add(new JsonObject
                {
                    ["range"] = Lsp.Range((d.Location!.Line, d.Location.Column), (d.Location.EndLine, d.Location.EndColumn)),
                    ["severity"] = 1,
                    ["code"] = d.Id,
                    ["source"] = Lsp.Source,
                    ["message"] = d.Message,
                });
            await Send(Notify("textDocument/publishDiagnostics", new JsonObject { ["uri"] = Lsp.Uri(file), ["diagnostics"] = list }));
        }
    }

    private void ProjectChanged(string projectFile)
    {
        foreach (var document in _documents.Values)
            if (document.Path != null && ProjectReferences.OwningProject(document.Path) == projectFile)
            {
                lock (document.Gate) document.Latest = null;
                Schedule(document, 100);
            }
    }

    // ---- requests -------------------------------------------------------------------------------

    private async Task Request(JsonNode id, string method, JsonObject? p)
    {
        string key = id.ToJsonString();
        using var cancel = new CancellationTokenSource();
        _requests[key] = cancel;
        JsonObject response;
        try
        {
            if (!_initialized && method != "initialize") response = Error(id, ServerNotInitialized, "the server has not been initialized");
            else
            {
                var result = await Handle(method, p, cancel.Token);
                response = cancel.IsCancellationRequested ? Error(id, RequestCancelled, "cancelled") : Result(id, result);
            }
        }
        catch (OperationCanceledException)
        {
            response = Error(id, RequestCancelled, "cancelled");
        }
        catch (RequestException e)
        {
            response = Error(id, e.Code, e.Message);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException)
        {
            response = Error(id, InvalidParams, $"invalid parameters for {method}: {e.Message}");
        }
        catch (Exception e)
        {
            Log($"{method} failed: {e}");
            response = Error(id, InternalError, $"{method} failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            _requests.TryRemove(key, out _);
        }
        await Send(response);
    }

    private sealed class RequestException(int code, string message) : Exception(message)
    {
        public int Code { get; } = code;
    }

    private async Task<JsonNode?> Handle(string method, JsonObject? p, CancellationToken token)
    {
        switch (method)
        {
            case "initialize":
                _initialized = true;
                if (p?["capabilities"]?["workspace"]?["didChangeWatchedFiles"]?["dynamicRegistration"]?.GetValue<bool>() == true)
                    _ = Task.Run(async () =>
                    {
                        await Task.Delay(100);
                        await Send(new JsonObject
                        {
                            ["jsonrpc"] = "2.0",
                            ["id"] = $"lgmsnet-{Interlocked.Increment(ref _outgoing)}",
                            ["method"] = "client/registerCapability",
                            ["params"] = new JsonObject
                            {
                                ["registrations"] = new JsonArray(new JsonObject
                                {
                                    ["id"] = "lgmsnet-watch",
                                    ["method"] = "workspace/didChangeWatchedFiles",
                                    ["registerOptions"] = new JsonObject
                                    {
                                        ["watchers"] = new JsonArray(new JsonObject { ["globPattern"] = "**/*.cs" }, new JsonObject { ["globPattern"] = "**/*.csproj" },
                                            new JsonObject { ["globPattern"] = "**/obj/project.assets.json" }),
                                    },
                                }),
                            },
                        });
                    });
                return Capabilities();
            case "shutdown":
                _shutdown = true;
                return null;
            case "lgmsnet/memory":
                // For the benchmark: the managed heap after a full collection, and the process's resident memory.
                return new JsonObject
                {
                    ["managedBytes"] = GC.GetTotalMemory(forceFullCollection: true),
                    ["residentBytes"] = Environment.WorkingSet,
                    ["documents"] = _documents.Count,
                };
        }
        if (!method.StartsWith("textDocument/", StringComparison.Ordinal)) throw new RequestException(MethodNotFound, $"method not supported: {method}");
        string uri = (string?)p?["textDocument"]?["uri"] ?? throw new RequestException(InvalidParams, "textDocument.uri is missing");
        if (!_documents.TryGetValue(uri, out var document))
        {
            Log($"{method} for a document that is not open: {uri}");
            return method is "textDocument/hover" or "textDocument/definition" ? null : new JsonArray();
        }
        switch (method)
        {
            case "textDocument/hover":
                {
                    var analysis = await Current(document, token);
                    if (analysis == null || Offset(analysis.Lines, p!["position"]) is not int offset) return null;
                    string? text = HoverText.At(analysis, offset);
                    return text == null ? null : new JsonObject { ["contents"] = new JsonObject { ["kind"] = "markdown", ["value"] = text } };
                }
            case "textDocument/completion":
                {
                    string text;
                    lock (document.Gate) text = document.Text;
                    var lines = new LineMap(text);
                    if (Offset(lines, p!["position"]) is not int offset) return new JsonArray();
                    var project = _projects.CatalogFor(document.Path, token);
                    var (items, wordStart) = Completion.At(text, offset, project.Catalog);
                    var range = Lsp.Range(lines, wordStart, offset);
                    var list = new JsonArray();
                    foreach (var item in items)
                        list.Add(new JsonObject
                        {
                            ["label"] = item.Label,
                            ["kind"] = item.Kind switch { CompletionKind.Block => 9, CompletionKind.Value => 12, _ => 10 },
                            ["detail"] = item.Detail,
                            ["documentation"] = new JsonObject { ["kind"] = "markdown", ["value"] = item.Documentation },
                            ["filterText"] = item.Label,
                            ["textEdit"] = new JsonObject { ["range"] = range.DeepClone(), ["newText"] = item.InsertText },
                        });
                    return new JsonObject { ["isIncomplete"] = false, ["items"] = list };
                }
            case "textDocument/codeAction":
                {
                    var analysis = await Current(document, token);
                    if (analysis == null) return new JsonArray();
                    int start = Offset(analysis.Lines, p!["range"]!["start"]) ?? 0, end = Offset(analysis.Lines, p["range"]!["end"]) ?? analysis.Text.Length;
                    return Navigation.CodeActions(analysis, uri, start, end);
                }
            case "textDocument/documentSymbol":
                {
                    var analysis = await Current(document, token);
                    return analysis == null ? new JsonArray() : Navigation.Symbols(analysis);
                }
            case "textDocument/definition":
                {
                    var analysis = await Current(document, token);
                    if (analysis == null || Offset(analysis.Lines, p!["position"]) is not int offset) return null;
                    return Navigation.Definition(analysis, offset);
                }
            case "textDocument/inlayHint":
                {
                    var analysis = await Current(document, token);
                    if (analysis == null) return new JsonArray();
                    int start = Offset(analysis.Lines, p!["range"]!["start"]) ?? 0, end = Offset(analysis.Lines, p["range"]!["end"]) ?? analysis.Text.Length;
                    return Navigation.InlayHints(analysis, start, end);
                }
            default:
                throw new RequestException(MethodNotFound, $"method not supported: {method}");
        }
    }

    /// <summary>The analysis of the document's current version (compiled now when the debounced compile has not run yet);
    /// null when the compile exceeds the time limit.</summary>
    private async Task<DocumentAnalysis?> Current(Document document, CancellationToken token)
    {
        lock (document.Gate)
            if (document.Latest != null && document.Latest.Version == document.Version) return document.Latest;
        return await AnalyseAsync(document, token);
    }

    private static int? Offset(LineMap lines, JsonNode? position)
    {
        if (position == null) throw new RequestException(InvalidParams, "position is missing");
        return lines.Offset((int)position["line"]!, (int)position["character"]!);
    }

    private static JsonObject Capabilities() => new()
    {
        ["capabilities"] = new JsonObject
        {
            ["positionEncoding"] = "utf-16",
            ["textDocumentSync"] = new JsonObject { ["openClose"] = true, ["change"] = 2 },
            ["hoverProvider"] = true,
            ["completionProvider"] = new JsonObject { ["triggerCharacters"] = new JsonArray("-", "[", "{", ",", " ", ":") },
            ["codeActionProvider"] = new JsonObject { ["codeActionKinds"] = new JsonArray("quickfix") },
            ["documentSymbolProvider"] = true,
            ["definitionProvider"] = true,
            ["inlayHintProvider"] = true,
        },
        ["serverInfo"] = new JsonObject { ["name"] = "lgmsnet", ["version"] = typeof(Server).Assembly.GetName().Version?.ToString(3) },
    };

    // ---- messages -------------------------------------------------------------------------------

    private static JsonObject Result(JsonNode? id, JsonNode? result) => new() { ["jsonrpc"] = "2.0", ["id"] = id, ["result"] = result };

    private static JsonObject Error(JsonNode? id, int code, string message) =>
        new() { ["jsonrpc"] = "2.0", ["id"] = id, ["error"] = new JsonObject { ["code"] = code, ["message"] = message } };

    private static JsonObject Notify(string method, JsonObject p) => new() { ["jsonrpc"] = "2.0", ["method"] = method, ["params"] = p };

    private Task Send(JsonObject message) => _writer.WriteAsync(message);

    private static void Log(string message) => Console.Error.WriteLine($"lgmsnet lsp {DateTime.UtcNow:HH:mm:ss.fff}: {message}");

    public void Dispose() => _projects.Dispose();
}
