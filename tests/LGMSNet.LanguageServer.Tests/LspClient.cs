using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using LGMSNet.Compiler.Tests.Support;
using LGMSNet.LanguageServer.Protocol;

namespace LGMSNet.LanguageServer.Tests;

/// <summary>A minimal LSP client around the real server process (<c>dotnet LGMSNet.LanguageServer.dll lsp</c>): requests
/// with ids, notifications, and every publishDiagnostics kept in arrival order. Stderr is collected for failure messages.</summary>
public sealed class LspClient : IDisposable
{
    private readonly Process _process;
    private readonly LspWriter _writer;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly List<JsonObject> _published = new();
    private readonly System.Text.StringBuilder _stderr = new();
    private readonly Task _loop;
    private int _id;

    public static string ServerDll
    {
        get
        {
            // The server's own output folder, next to this test's (same configuration).
            string configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            string path = Repo.Path("src", "LGMSNet.LanguageServer", "bin", configuration, "net10.0", "LGMSNet.LanguageServer.dll");
            Assert.True(File.Exists(path), $"server not built: {path}");
            return path;
        }
    }

    public LspClient(IDictionary<string, string>? environment = null, bool watchedFiles = false)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(ServerDll);
        start.ArgumentList.Add("lsp");
        start.ArgumentList.Add("--stdio");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        _process = Process.Start(start)!;
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr) _stderr.AppendLine(e.Data);
        };
        _process.BeginErrorReadLine();
        _writer = new LspWriter(_process.StandardInput.BaseStream);
        var reader = new LspReader(_process.StandardOutput.BaseStream);
        _loop = Task.Run(async () =>
        {
            while (await reader.ReadAsync() is { } text)
            {
                var message = JsonNode.Parse(text)!.AsObject();
                if (message["method"] is { } method && message["id"] == null)
                {
                    if ((string)method! == "textDocument/publishDiagnostics")
                        lock (_published)
                        {
                            _published.Add(message["params"]!.AsObject());
                            Monitor.PulseAll(_published);
                        }
                }
                else if (message["method"] != null)
                {
                    // A request from the server (client/registerCapability): accept it.
                    await _writer.WriteAsync(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = message["id"]!.DeepClone(), ["result"] = null });
                }
                else if (message["id"]?.GetValueKind() == System.Text.Json.JsonValueKind.Number && _pending.TryRemove((int)message["id"]!, out var waiter))
                    waiter.SetResult(message);
            }
        });
        var init = Request("initialize", new JsonObject
        {
            ["processId"] = Environment.ProcessId,
            ["rootUri"] = null,
            ["capabilities"] = new JsonObject
            {
                ["workspace"] = new JsonObject { ["didChangeWatchedFiles"] = new JsonObject { ["dynamicRegistration"] = watchedFiles } },
            },
        });
        Assert.Equal("utf-16", (string?)init["result"]!["capabilities"]!["positionEncoding"]);
        Notify("initialized", new JsonObject());
    }

    public string Stderr
    {
        get
        {
            lock (_stderr) return _stderr.ToString();
        }
    }

    /// <summary>The whole response (result or error).</summary>
    public JsonObject Request(string method, JsonObject parameters, int timeoutMs = 60_000)
    {
        int id = Interlocked.Increment(ref _id);
        var waiter = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = waiter;
        _writer.WriteAsync(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = id, ["method"] = method, ["params"] = parameters }).Wait();
        Assert.True(waiter.Task.Wait(timeoutMs), $"no answer to {method} within {timeoutMs} ms; server stderr:\n{Stderr}");
        return waiter.Task.Result;
    }

    public JsonNode? Result(string method, JsonObject parameters)
    {
        var response = Request(method, parameters);
        Assert.True(response["error"] == null, $"{method}: {response["error"]?.ToJsonString()}");
        return response["result"];
    }

    public void Notify(string method, JsonObject parameters) =>
        _writer.WriteAsync(new JsonObject { ["jsonrpc"] = "2.0", ["method"] = method, ["params"] = parameters }).Wait();

    public void SendRaw(string json) => _writer.WriteRawForTests(json);

    public static string Uri(string path) => new Uri(Path.GetFullPath(path)).AbsoluteUri;

    public void Open(string uri, string text, int version = 1) => Notify("textDocument/didOpen", new JsonObject
    {
        ["textDocument"] = new JsonObject { ["uri"] = uri, ["languageId"] = "yaml", ["version"] = version, ["text"] = text },
    });

    public void Change(string uri, int version, string text) => Notify("textDocument/didChange", new JsonObject
    {
        ["textDocument"] = new JsonObject { ["uri"] = uri, ["version"] = version },
        ["contentChanges"] = new JsonArray(new JsonObject { ["text"] = text }),
    });

    public static JsonObject At(string uri, int line, int character) => new()
    {
        ["textDocument"] = new JsonObject { ["uri"] = uri },
        ["position"] = new JsonObject { ["line"] = line, ["character"] = character },
    };

    public IReadOnlyList<JsonObject> Published(string uri)
    {
        lock (_published) return _published.Where(p => (string?)p["uri"] == uri).ToList();
    }

    /// <summary>Waits for a publishDiagnostics of <paramref name="uri"/> matching <paramref name="accept"/> (default: any
    /// for <paramref name="version"/>, or any at all) and returns its diagnostics.</summary>
    public JsonArray WaitDiagnostics(string uri, int? version = null, Func<JsonArray, bool>? accept = null, int timeoutMs = 60_000)
    {
        var clock = Stopwatch.StartNew();
        lock (_published)
        {
            while (true)
            {
                var match = _published.LastOrDefault(p => (string?)p["uri"] == uri && (version == null || (int?)p["version"] == version)
                                                           && (accept == null || accept(p["diagnostics"]!.AsArray())));
                if (match != null) return match["diagnostics"]!.AsArray();
                long left = timeoutMs - clock.ElapsedMilliseconds;
                Assert.True(left > 0, $"no diagnostics for {uri} (version {version}) within {timeoutMs} ms; published: " +
                                      string.Join("\n", _published.Where(p => (string?)p["uri"] == uri).Select(p => p.ToJsonString())) + $"\nserver stderr:\n{Stderr}");
                Monitor.Wait(_published, (int)Math.Min(left, 1000));
            }
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Request("shutdown", new JsonObject(), 10_000);
                Notify("exit", new JsonObject());
                if (!_process.WaitForExit(10_000)) _process.Kill(true);
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or AggregateException)
        {
            if (!_process.HasExited) _process.Kill(true);
        }
        _process.Dispose();
    }

    public int WaitForExit()
    {
        Assert.True(_process.WaitForExit(10_000), "server did not exit");
        return _process.ExitCode;
    }
}
