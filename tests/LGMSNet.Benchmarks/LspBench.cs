using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using LGMSNet.LanguageServer.Protocol;

/// <summary><c>lsp</c>: the language server as an editor sees it — the real <c>lgmsnet lsp</c> process, driven over stdio:
/// time from a didChange notification to the publishDiagnostics of that version (debounce included), over N edits of
/// architectures/lgmsnet.yaml and of a 3D architecture with the template's squeeze-and-excitation user block (in a
/// scratch project whose C# the server compiles itself), then the server's resident memory over M more edits.</summary>
internal static class LspBench
{
    public static int Run(string[] args)
    {
        int edits = Option(args, "--edits", 1000);
        int memoryEdits = Option(args, "--memory-edits", 10_000);
        string server = Path.Combine(Repo.Root, "src", "LGMSNet.LanguageServer", "bin", "Release", "net10.0", "LGMSNet.LanguageServer.dll");
        if (!File.Exists(server))
        {
            Console.Error.WriteLine($"build the server first: dotnet build src/LGMSNet.LanguageServer -c Release ({server} missing)");
            return 2;
        }
        string scratch = Directory.CreateTempSubdirectory("lgms-lsp-bench-").FullName;
        try
        {
            string template = Path.Combine(Repo.Root, "src", "LGMSNet.Templates", "content", "lgmsnet");
            File.WriteAllText(Path.Combine(scratch, "Bench.csproj"), "<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup></Project>");
            File.Copy(Path.Combine(template, "SqueezeExcitation.cs"), Path.Combine(scratch, "SqueezeExcitation.cs"));
            string bin = Directory.CreateDirectory(Path.Combine(scratch, "bin", "Release", "net10.0")).FullName;
            foreach (var assembly in new[] { typeof(LGMSNet.Runtime.Network.SegmentationNetwork).Assembly, typeof(TorchSharp.torch).Assembly })
                File.Copy(assembly.Location, Path.Combine(bin, Path.GetFileName(assembly.Location)));
            string se3d = Path.Combine(scratch, "lgmsnet3d-se.yaml");
            File.Copy(Path.Combine(Repo.Root, "tests", "LGMSNet.Runtime.Tests", "architectures", "lgmsnet3d-se.yaml"), se3d);
            string lgmsnet = Path.Combine(scratch, "other", "lgmsnet.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(lgmsnet)!);
            File.Copy(Path.Combine(Repo.Root, "architectures", "lgmsnet.yaml"), lgmsnet);

            Console.WriteLine($"lsp benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
            foreach (string file in new[] { lgmsnet, se3d })
            {
                using var session = new Session(server, debounceMs: null);
                var times = session.Edits(file, edits, expectDiagnostics: false);
                Console.WriteLine($"{Path.GetFileName(file)}: {edits} edits, didChange → publishDiagnostics (50 ms debounce included): " +
                                  $"p50 {Percentile(times, 50):0.0} ms, p95 {Percentile(times, 95):0.0} ms, max {times.Max():0.0} ms");
            }
            using (var session = new Session(server, debounceMs: 0))
            {
                session.Edits(se3d, 200, expectDiagnostics: false);
                var warm = session.Memory();
                Console.WriteLine($"memory (debounce 0, every edit compiled, lgmsnet3d-se.yaml): after 200 edits resident {warm.Resident / 1e6:0.0} MB, managed heap {warm.Managed / 1e6:0.0} MB");
                for (int done = 0; done < memoryEdits; done += memoryEdits / 5)
                {
                    session.Edits(se3d, memoryEdits / 5, expectDiagnostics: false);
                    var now = session.Memory();
                    Console.WriteLine($"  after {done + memoryEdits / 5} more edits: resident {now.Resident / 1e6:0.0} MB, managed heap {now.Managed / 1e6:0.0} MB");
                }
            }
            return 0;
        }
        finally
        {
            Directory.Delete(scratch, true);
        }
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        double rank = p / 100 * (sorted.Count - 1);
        int low = (int)Math.Floor(rank);
        return low + 1 < sorted.Count ? sorted[low] + (rank - low) * (sorted[low + 1] - sorted[low]) : sorted[low];
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    /// <summary>One server process; edits alternate a value of the file (each version differs from the one before).</summary>
    private sealed class Session : IDisposable
    {
        private readonly Process _process;
        private readonly LspWriter _writer;
        private readonly LspReader _reader;
        private int _version;

        public Session(string server, int? debounceMs)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false };
            start.ArgumentList.Add(server);
            start.ArgumentList.Add("lsp");
            if (debounceMs != null) start.Environment["LGMSNET_LSP_DEBOUNCE_MS"] = debounceMs.Value.ToString(CultureInfo.InvariantCulture);
            _process = Process.Start(start)!;
            _writer = new LspWriter(_process.StandardInput.BaseStream);
            _reader = new LspReader(_process.StandardOutput.BaseStream);
            Send(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "initialize", ["params"] = new JsonObject { ["capabilities"] = new JsonObject() } });
            Next(m => m["id"] != null);
            Send(new JsonObject { ["jsonrpc"] = "2.0", ["method"] = "initialized", ["params"] = new JsonObject() });
        }

        public List<double> Edits(string file, int count, bool expectDiagnostics)
        {
            string uri = new Uri(file).AbsoluteUri;
            string text = File.ReadAllText(file);
            if (_version == 0)
            {
                _version = 1;
                Send(Notification("textDocument/didOpen", new JsonObject
                {
                    ["textDocument"] = new JsonObject { ["uri"] = uri, ["languageId"] = "yaml", ["version"] = 1, ["text"] = text },
                }));
                Published(uri, 1);
            }
            // Typing in a stage: classes 1..4 cycle (each a valid file), one edit of one character at a time.
            int at = text.IndexOf("classes: ", StringComparison.Ordinal) + "classes: ".Length;
            var times = new List<double>(count);
            for (int i = 0; i < count; i++)
            {
                int version = ++_version;
                var edit = new JsonObject
                {
                    ["range"] = Range(text, at, at + 1),
                    ["text"] = ((version % 4) + 1).ToString(CultureInfo.InvariantCulture),
                };
                text = text.Substring(0, at) + edit["text"] + text.Substring(at + 1);
                var clock = Stopwatch.StartNew();
                Send(Notification("textDocument/didChange", new JsonObject
                {
                    ["textDocument"] = new JsonObject { ["uri"] = uri, ["version"] = version },
                    ["contentChanges"] = new JsonArray(edit),
                }));
                var diagnostics = Published(uri, version);
                times.Add(clock.Elapsed.TotalMilliseconds);
                if (diagnostics.Count > 0 != expectDiagnostics) throw new InvalidOperationException($"unexpected diagnostics: {diagnostics.ToJsonString()}");
            }
            return times;
        }

        /// <summary>The server's resident memory and its managed heap after a full collection (lgmsnet/memory).</summary>
        public (long Resident, long Managed) Memory()
        {
            Send(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 42, ["method"] = "lgmsnet/memory", ["params"] = new JsonObject() });
            var result = Next(m => m["id"] != null && (int?)m["id"] == 42)["result"]!;
            return ((long)result["residentBytes"]!, (long)result["managedBytes"]!);
        }

        private static JsonObject Range(string text, int start, int end)
        {
            JsonObject Position(int offset)
            {
                int line = text.Take(offset).Count(c => c == '\n');
                return new JsonObject { ["line"] = line, ["character"] = offset - (text.LastIndexOf('\n', Math.Max(0, offset - 1)) + 1) };
            }
            return new JsonObject { ["start"] = Position(start), ["end"] = Position(end) };
        }

        private JsonArray Published(string uri, int version) =>
            Next(m => (string?)m["method"] == "textDocument/publishDiagnostics" && (string?)m["params"]!["uri"] == uri && (int?)m["params"]!["version"] == version)
                ["params"]!["diagnostics"]!.AsArray();

        private JsonObject Next(Func<JsonObject, bool> wanted)
        {
            while (true)
            {
                string text = _reader.ReadAsync().Result ?? throw new InvalidOperationException("the server closed its output");
                var message = JsonNode.Parse(text)!.AsObject();
                if (wanted(message)) return message;
            }
        }

        private static JsonObject Notification(string method, JsonObject p) => new() { ["jsonrpc"] = "2.0", ["method"] = method, ["params"] = p };

        private void Send(JsonObject message) => _writer.WriteAsync(message).Wait();

        public void Dispose()
        {
            Send(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 99, ["method"] = "shutdown" });
            Send(Notification("exit", new JsonObject()));
            if (!_process.WaitForExit(10_000)) _process.Kill(true);
            _process.Dispose();
        }
    }
}
