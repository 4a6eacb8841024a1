using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using LGMSNet.Fuzz;
using LGMSNet.Runtime.Data;

// dotnet run -c Release --project tests/LGMSNet.Fuzz -- [--count 10000] [--seed 1] [--bound 10] [--threads 2] [--out fuzz-report]
string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
int count = int.Parse(Option("--count", "10000"), CultureInfo.InvariantCulture);
long seed = long.Parse(Option("--seed", "1"), CultureInfo.InvariantCulture);
var bound = TimeSpan.FromSeconds(double.Parse(Option("--bound", "10"), CultureInfo.InvariantCulture));
int threads = int.Parse(Option("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
string outDir = Option("--out", "fuzz-report");

string root = AppContext.BaseDirectory;
while (!File.Exists(Path.Combine(root, "LGMSNet.Dsl.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
var seeds = Directory.GetFiles(Path.Combine(root, "architectures"), "*.yaml").Select(File.ReadAllText).ToList();
var mutator = new YamlMutator(seeds);
var oracle = new GeneratorOracle();
Directory.CreateDirectory(outDir);

var outcomes = new ConcurrentDictionary<string, int>();
var violations = new ConcurrentBag<(int Index, string Description, string Problem)>();
var slowest = new ConcurrentBag<(double Seconds, int Index, string Description, int Length)>();
int done = 0;
var clock = Stopwatch.StartNew();
Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
{
    var rng = Rng.For(seed, "fuzz", i);
    var input = mutator.Next(rng);
    var verdict = oracle.Judge(input.Text, bound);
    string key = verdict.Outcome.StartsWith("diagnostics", StringComparison.Ordinal) ? "diagnostics" : verdict.Outcome;
    outcomes.AddOrUpdate(key, 1, (_, n) => n + 1);
    slowest.Add((verdict.Seconds, i, input.Description, input.Text.Length));
    if (!verdict.Ok)
    {
        violations.Add((i, input.Description, verdict.Problem!));
        File.WriteAllText(Path.Combine(outDir, $"violation-{i}.yaml"), input.Text);
    }
    int n = Interlocked.Increment(ref done);
    if (n % 1000 == 0) Console.WriteLine($"{n}/{count} inputs, {violations.Count} violation(s), {clock.Elapsed.TotalSeconds:0} s");
});

var top = slowest.OrderByDescending(s => s.Seconds).Take(5).ToList();
var report = new List<string>
{
    $"fuzzed {count} inputs (seed {seed}, {threads} threads, bound {bound.TotalSeconds:0} s each) in {clock.Elapsed.TotalSeconds:0} s",
    "outcomes: " + string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value}")),
    $"violations (exception, hang, foreign diagnostic, uncompilable output): {violations.Count}",
    "slowest cases:",
};
report.AddRange(top.Select(s => $"  {s.Seconds * 1000:0} ms  #{s.Index}  {s.Description}  ({s.Length:N0} characters)"));
report.AddRange(violations.OrderBy(v => v.Index).Take(20).Select(v => $"  VIOLATION #{v.Index} {v.Description}: {v.Problem}"));
foreach (var line in report) Console.WriteLine(line);
File.WriteAllLines(Path.Combine(outDir, "report.txt"), report);
return violations.IsEmpty ? 0 : 1;
