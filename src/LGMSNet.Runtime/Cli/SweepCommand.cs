using System.CommandLine;
using System.Globalization;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Studies;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>sweep plan|run|status|report|task</c>: a whole study (architectures × datasets × splits or
/// folds × seeds) from a <c>*.sweep.yaml</c> file, run on this machine, collected into a paper-style table.</summary>
internal static class SweepCommand
{
    public static Command Create(CliContext context)
    {
        var sweep = new Command("sweep", "Run a study: every architecture × dataset × split/fold × seed of a *.sweep.yaml file, then its table.")
        {
            Plan(context), Run(context), Status(context), Report(context), Task(context),
        };
        return sweep;
    }

    /// <summary>Reads and validates a sweep file against the compiled architectures and train's options,
    /// including each train option's value (parsed as train would parse it).</summary>
    private static SweepSpec Read(CliContext context, string file)
    {
        var train = TrainCommand.Create(context);
        var names = train.Options.SelectMany(o => o.Aliases.Append(o.Name)).Where(a => a.StartsWith("--", StringComparison.Ordinal))
            .Select(a => a[2..]).ToHashSet(StringComparer.Ordinal);
        names.Remove("help");
        try
        {
            var spec = SweepReader.Read(file, query => context.Architectures.FirstOrDefault(a => a.Info.Matches(query))?.Info.FileStem, names);
            var problems = new List<string>();
            var root = new RootCommand { TrainCommand.Create(context) };
            foreach (var option in spec.Train)
            {
                var single = SweepPlanner.Plan(spec with { Train = new[] { option } })[0].TrainArguments;
                var errors = root.Parse(single.ToArray()).Errors;
                if (errors.Count > 0)
                    problems.Add($"{file}({option.Span.Line},{option.Span.Column}): error: train option '{option.Name}: {option.Value}': {errors[0].Message}");
            }
            if (problems.Count > 0) throw new SweepException(problems);
            return spec;
        }
        catch (SweepException e)
        {
            throw new UserErrorException($"{e.Problems.Count} error(s) in {file}; nothing was run:" + Environment.NewLine +
                                         string.Join(Environment.NewLine, e.Problems), 2);
        }
    }

    private static Command Plan(CliContext context)
    {
        var file = new Argument<string>("file") { Description = "The sweep file (*.sweep.yaml)." };
        var json = new Option<bool>("--json") { Description = "Print the plan as JSON." };
        var command = new Command("plan", "Validate a sweep file and list its runs with their stable ids.") { file, json };
        command.SetAction(result =>
        {
            var spec = Read(context, result.GetValue(file)!);
            var runs = SweepPlanner.Plan(spec);
            if (result.GetValue(json))
            {
                context.WriteJson(new { name = spec.Name, runs = runs.Select(r => new { id = r.Id, dataset = r.Dataset, architecture = r.Architecture, split = r.Split, seed = r.Seed, arguments = r.TrainArguments }) });
                return 0;
            }
            context.Out.WriteLine($"{spec.Name}: {runs.Count} run(s) = {spec.Architectures.Count} architecture(s) × {runs.Count / (spec.Architectures.Count * spec.Seeds.Count)} split(s)/fold(s) × {spec.Seeds.Count} seed(s)");
            var table = new TextTable("id", "dataset", "architecture", "split", "seed");
            foreach (var r in runs) table.Add(r.Id, r.Dataset, r.Architecture, r.Split, r.Seed.ToString(CultureInfo.InvariantCulture));
            context.Out.WriteLine(table);
            return 0;
        });
        return command;
    }

    private static Command Run(CliContext context)
    {
        var file = new Argument<string>("file") { Description = "The sweep file (*.sweep.yaml)." };
        var output = new OutputOption("Sweep folder (runs, logs, status, report).", required: true);
        var executor = new Option<string>("--executor") { Description = "Where the runs go: local (this machine) or slurm (one array job, submitted with sbatch).", DefaultValueFactory = _ => "local" };
        executor.AcceptOnlyFromAmong("local", "slurm");
        var slurmArgs = new Option<string?>("--slurm-args") { Description = "Extra sbatch arguments, e.g. '--partition gpu --time 12:00:00 --cpus-per-task 8'." };
        var wait = new Option<bool>("--wait") { Description = "slurm: poll until the array job finishes; exit non-zero unless every submitted run is done." };
        var parallel = new Option<int>("--parallel", "-j") { Description = "Runs at a time (local); the cores are divided between them.", DefaultValueFactory = _ => 1 };
        var device = new Option<string>("--device") { Description = "cpu or cuda, for every run.", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var dryRun = new Option<bool>("--dry-run") { Description = "Write the sweep folder and show what would run, without running." };
        var command = new Command("run", "Run a sweep's unfinished runs (finished ones are skipped, interrupted ones resume from their last checkpoint).")
            { file, executor, parallel, device, dryRun, slurmArgs, wait };
        output.AddTo(command);
        command.SetAction(result =>
        {
            var spec = Read(context, result.GetValue(file)!);
            var folder = new SweepFolder(output.GetValue(result)!);
            if (folder.Exists && folder.ReadManifest().Name != spec.Name)
                throw new UserErrorException($"{folder.Path} holds the sweep '{folder.ReadManifest().Name}', not '{spec.Name}'; choose another --output", 2);
            if (result.GetValue(parallel) < 1) throw new UserErrorException("--parallel must be at least 1", 2);
            var manifest = new SweepManifest(spec.Name, spec.File, ThisProgram.Invocation(), result.GetValue(device)!, SweepPlanner.Plan(spec));
            folder.WriteManifest(manifest);
            if (result.GetValue(executor) == "slurm") return RunOnSlurm(context, folder, manifest, result.GetValue(slurmArgs), result.GetValue(dryRun), result.GetValue(wait));
            if (result.GetValue(dryRun))
            {
                foreach (var state in folder.States(manifest)) context.Out.WriteLine($"{state.Id}: {state.State}");
                return 0;
            }
            int failures = LocalExecutor.Run(folder, manifest, result.GetValue(parallel), context.Out);
            var states = folder.States(manifest);
            context.Out.WriteLine($"{states.Count(s => s.State == SweepFolder.Done)} of {states.Count} run(s) done; {failures} failed in this session" +
                                  $"; 'sweep report {folder.Path}' makes the table; compare the runs in TensorBoard with: tensorboard --logdir {folder.RunsFolder}");
            return failures == 0 ? 0 : 1;
        });
        return command;
    }

    private static int RunOnSlurm(CliContext context, SweepFolder folder, SweepManifest manifest, string? slurmArgs, bool dryRun, bool wait)
    {
        var states = folder.States(manifest, LiveSlurm(folder));
        // Pending or failed, and not queued or running in Slurm already.
        var todo = states.Select((s, i) => (s, i)).Where(p => SweepFolder.NeedsRun(p.s.State) && p.s.SlurmState == null).Select(p => p.i).ToList();
        context.Out.WriteLine($"{todo.Count} run(s) to submit ({states.Count(s => s.State == SweepFolder.Done)} done, " +
                              $"{states.Count(s => s.SlurmState != null || s.State == SweepFolder.Running)} queued or running)");
        if (todo.Count == 0) return states.All(s => s.State == SweepFolder.Done) || !wait ? 0 : 1;
        string script = SlurmExecutor.WriteScript(folder, manifest, todo);
        if (dryRun)
        {
            context.Out.WriteLine($"wrote {script} (not submitted: --dry-run)");
            return 0;
        }
        var extra = (slurmArgs ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string job = SlurmExecutor.Submit(script, extra);
        context.Out.WriteLine($"submitted array job {job}: {todo.Count} task(s); follow it with 'sweep status {folder.Path}' " +
                              $"or in TensorBoard: tensorboard --logdir {folder.RunsFolder}");
        if (!wait) return 0;
        SlurmExecutor.Wait(job, context.Out, TimeSpan.FromSeconds(2));
        var after = folder.States(manifest, LiveSlurm(folder));
        var unfinished = todo.Where(i => after[i].State != SweepFolder.Done).Select(i => after[i]).ToList();
        foreach (var run in unfinished)
            context.Out.WriteLine($"{run.Id}: {run.State}{(run.ExitCode is { } c ? $" (exit code {c})" : "")}{(run.Reason != null ? ": " + run.Reason : "")}");
        context.Out.WriteLine($"job {job} finished: {todo.Count - unfinished.Count} of {todo.Count} run(s) done" +
                              (unfinished.Count > 0 ? "; run the same command again to resume the rest" : ""));
        return unfinished.Count == 0 ? 0 : 1;
    }

    /// <summary>Slurm's live task states when this sweep was ever submitted to Slurm, else null.</summary>
    private static Dictionary<string, string>? LiveSlurm(SweepFolder folder) =>
        folder.SlurmJobs().Count > 0 && SlurmExecutor.Available ? SlurmExecutor.States() : null;

    private static Command Status(CliContext context)
    {
        var dir = new Argument<string>("dir") { Description = "The sweep folder." };
        var json = new Option<bool>("--json") { Description = "Print JSON: {\"runs\": [{\"id\", \"state\", ...}]}." };
        var command = new Command("status", "Each run's state (pending, running, done, stopped, failed or died) and, for the last three, why.") { dir, json };
        command.SetAction(result =>
        {
            var folder = new SweepFolder(result.GetValue(dir)!);
            var states = folder.States(folder.ReadManifest(), LiveSlurm(folder));
            if (result.GetValue(json))
            {
                context.WriteJson(new { runs = states });
                return 0;
            }
            var table = new TextTable("id", "state", "epochs", "exit code", "slurm job", "slurm state").AlignRight(2, 3);
            foreach (var s in states)
                table.Add(s.Id, s.State, s.EpochsDone.ToString(CultureInfo.InvariantCulture), s.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "", s.SlurmJob ?? "", s.SlurmState ?? "");
            context.Out.WriteLine(table);
            foreach (var s in states.Where(s => s.Reason != null)) context.Out.WriteLine($"{s.Id}: {s.State}: {s.Reason}");
            context.Out.WriteLine(string.Join(", ", states.GroupBy(s => s.State).Select(g => $"{g.Count()} {g.Key}")));
            return 0;
        });
        return command;
    }

    private static Command Report(CliContext context)
    {
        var dir = new Argument<string>("dir") { Description = "The sweep folder." };
        var json = new Option<bool>("--json") { Description = "Print the table as JSON." };
        var baseline = new Option<string?>("--baseline") { Description = "Architecture the others are tested against (default: the sweep's first)." };
        var command = new Command("report", "Write report.md, .csv, .tex, .json and .png: mean ± sd per dataset × architecture, paired Wilcoxon p-values.")
            { dir, json, baseline };
        command.SetAction(result =>
        {
            var folder = new SweepFolder(result.GetValue(dir)!);
            var manifest = folder.ReadManifest();
            string? reference = result.GetValue(baseline) is { } given ? context.Resolve(given).Info.FileStem : null;
            var report = SweepReport.Create(folder, manifest, reference, stem =>
            {
                var info = context.Resolve(stem).Info;
                return (info.Parameters, info.UncostedBlocks.Count == 0 ? info.MultiplyAdds : (long?)null);
            });
            report.Write(folder.Path);
            if (result.GetValue(json)) context.WriteJson(report);
            else
            {
                context.Out.WriteLine(report.Markdown());
                context.Out.WriteLine($"written to {folder.Path}: report.md, report.csv, report.tex, report.json, report.png");
            }
            return 0;
        });
        return command;
    }

    private static Command Task(CliContext context)
    {
        var dir = new Argument<string>("dir") { Description = "The sweep folder." };
        var index = new Option<int>("--index") { Description = "The run's position in the sweep's plan (sweep.json).", Required = true };
        var threads = new Option<int>("--threads") { Description = "CPU threads for libtorch (default: all cores)." };
        var command = new Command("task", "Run one run of a sweep (what 'sweep run' starts for each run).") { dir, index, threads };
        command.SetAction(result =>
        {
            var folder = new SweepFolder(result.GetValue(dir)!);
            var manifest = folder.ReadManifest();
            return folder.RunTask(manifest, result.GetValue(index), result.GetValue(threads),
                arguments => LgmsCli.Run(arguments, context.Architectures, context.Out, context.Error), context.Out);
        });
        return command;
    }
}
