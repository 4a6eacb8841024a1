using LGMSNet.Dsl;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.LanguageServer;
using LGMSNet.LanguageServer.Workspace;

// lgmsnet lsp [--stdio]      the language server on stdin/stdout (only JSON-RPC on stdout; logs on stderr)
// lgmsnet check FILE.yaml... the build's diagnostics for architecture files, in MSBuild's form; exit 1 on errors
string usage = """
    usage: lgmsnet lsp [--stdio]          serve the LGMSNet YAML language over LSP on stdin/stdout
           lgmsnet check FILE.yaml...     print the build's diagnostics for architecture files (exit 1 on errors)
           lgmsnet --version
    """;
if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    (args.Length == 0 ? Console.Error : Console.Out).WriteLine(usage);
    return args.Length == 0 ? 2 : 0;
}
switch (args[0])
{
    case "--version":
        Console.Out.WriteLine(typeof(Server).Assembly.GetName().Version?.ToString(3));
        return 0;
    case "lsp":
        {
            // Clients such as vscode-languageclient append --stdio; any other argument is a mistake.
            var unknown = args.Skip(1).Where(a => a != "--stdio").ToList();
            if (unknown.Count > 0)
            {
                Console.Error.WriteLine($"lgmsnet lsp: unknown argument '{unknown[0]}' (the server speaks LSP on stdin/stdout)");
                return 2;
            }
            using var server = new Server(Console.OpenStandardInput(), Console.OpenStandardOutput(), ServerOptions.FromEnvironment());
            // Nothing but JSON-RPC may reach stdout: anything written through Console.Out goes to stderr.
            Console.SetOut(Console.Error);
            return await server.RunAsync();
        }
    case "check":
        {
            if (args.Length == 1)
            {
                Console.Error.WriteLine("lgmsnet check: give one or more architecture YAML files");
                return 2;
            }
            bool errors = false;
            var projects = new Projects(_ => { }, watch: false);
            foreach (string file in args.Skip(1))
            {
                if (!File.Exists(file))
                {
                    Console.Error.WriteLine($"lgmsnet check: {file}: no such file");
                    return 2;
                }
                var project = projects.CatalogFor(file);
                var compiled = ArchitectureCompiler.Compile(file, File.ReadAllText(file), project.Catalog);
                foreach (var diagnostic in compiled.Diagnostics)
                {
                    Console.Out.WriteLine(diagnostic.ToMsBuildString());
                    errors |= diagnostic.Severity == DslSeverity.Error;
                }
                if (compiled.Diagnostics.Any(d => d.Id == "LGMS107"))
                    foreach (var d in project.Diagnostics)
                        Console.Out.WriteLine(d.Location == null ? $"{d.Message}: error {d.Id}" :
                            $"{d.Location.FilePath}({d.Location.Line + 1},{d.Location.Column + 1}): error {d.Id}: {d.Message}");
                if (project.Problem != null && compiled.Diagnostics.Any(d => d.Id == "LGMS003"))
                    Console.Error.WriteLine("lgmsnet check: note: " + project.Problem);
            }
            return errors ? 1 : 0;
        }
    default:
        Console.Error.WriteLine($"lgmsnet: unknown command '{args[0]}'\n{usage}");
        return 2;
}
