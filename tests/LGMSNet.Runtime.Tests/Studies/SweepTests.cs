using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Studies;
using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Studies;

/// <summary>Sweep files are validated with located errors before anything runs; plans have stable ids;
/// a local sweep runs every run, skips finished ones, resumes interrupted ones and reports the table.</summary>
public sealed class SweepTests() : TempFolderTest("lgms-sweep-")
{
    private string Write(string name, string text)
    {
        string path = Path.Combine(Dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Shipped_sweeps_are_valid_and_plan_stable_ids()
    {
        foreach (var (file, runs) in new[] { ("paper-ablations.sweep.yaml", 90), ("quick.sweep.yaml", 9) })
        {
            string path = Path.Combine(Fixtures.RepoRoot, "sweeps", file);
            var (code, output, error) = CliRunner.Run("sweep", "plan", path, "--json");
            Assert.True(code == 0, error);
            var plan = CliRunner.Json(output).GetProperty("runs");
            Assert.Equal(runs, plan.GetArrayLength());
            var ids = plan.EnumerateArray().Select(r => r.GetProperty("id").GetString()!).ToList();
            Assert.Equal(ids.Count, ids.Distinct().Count());
            Assert.Equal(ids, CliRunner.Json(CliRunner.Run("sweep", "plan", path, "--json").Out).GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("id").GetString()!));
        }
        var (_, text, _) = CliRunner.Run("sweep", "plan", Path.Combine(Fixtures.RepoRoot, "sweeps", "paper-ablations.sweep.yaml"));
        Assert.Contains("busi.lgmsnet-lms-k3333.split2.s43", text);
    }

    [Fact]
    public void Mistakes_are_reported_with_file_line_and_column_and_nothing_runs()
    {
        string data = TestData.ImageFolder(Path.Combine(Dir, "data"), 3);
        string sweep = Write("bad.sweep.yaml", """
            name: bad
            architectures: [lgmsnet, lgmsnett]
            colour: blue
            datasets:
              - name: d
                data: data
                splits:
                  - { train: missing.txt }
            seeds: [1]
            train: { epochs: many, sizes: 32, seed: 3 }
            """);
        string output = Path.Combine(Dir, "out");
        var (code, _, error) = CliRunner.Run("sweep", "run", sweep, "--output", output);
        Assert.Equal(2, code);
        Assert.Contains($"{sweep}(2,26): error: unknown architecture 'lgmsnett'", error);
        Assert.Contains($"{sweep}(3,1): error: unknown key 'colour'", error);
        Assert.Contains($"{sweep}(8,18): error: split file 'missing.txt' not found", error);
        Assert.Contains($"{sweep}(10,24): error: unknown train option 'sizes'", error);
        Assert.Contains($"{sweep}(10,35): error: 'seed' is set by the sweep", error);
        Assert.False(Directory.Exists(output));
        Assert.True(data.Length > 0);

        string badValue = Write("value.sweep.yaml", """
            name: value
            architectures: [lgmsnet]
            datasets:
              - { name: s, data: synthetic, folds: 2 }
            seeds: [1]
            train: { epochs: many }
            """);
        (code, _, error) = CliRunner.Run("sweep", "plan", badValue);
        Assert.Equal(2, code);
        Assert.Contains($"{badValue}(6,18): error: train option 'epochs: many'", error);
    }

    [Fact]
    public void A_task_clears_an_abandoned_run_folder_but_keeps_its_lock_and_refuses_one_a_process_still_holds()
    {
        var folder = new SweepFolder(Path.Combine(Dir, "study"));
        var run = new SweepRun("synth.lgmsnet.split.s7", "synth", "lgmsnet", "split", 7, new[] { "train", "lgmsnet", "--data", "synthetic" });
        var manifest = new SweepManifest("tiny", "tiny.sweep.yaml", new[] { "lgmsnet" }, "cpu", new[] { run });
        folder.WriteManifest(manifest);
        string runFolder = folder.RunFolder(run.Id);
        Directory.CreateDirectory(Path.Combine(runFolder, "tensorboard"));
        File.WriteAllText(Path.Combine(runFolder, "run.json"), "{}");
        var trained = new List<string[]>();
        int Train(string[] arguments)
        {
            trained.Add(arguments);
            return 0;
        }

        // An attempt still starting (it holds the folder's lock, no checkpoint yet) is neither deleted nor joined.
        using (FolderLock.TryAcquire(runFolder)!)
        {
            var refused = Assert.Throws<UserErrorException>(() => folder.RunTask(manifest, 0, 0, Train, TextWriter.Null));
            Assert.Equal(2, refused.ExitCode);
            Assert.Equal($"{run.Id}: another process is training the run folder {runFolder} (it holds {FolderLock.PathOf(runFolder)}); stop it first, or let it finish",
                refused.Message);
            Assert.Empty(trained);
            Assert.True(File.Exists(Path.Combine(runFolder, "run.json")) && Directory.Exists(Path.Combine(runFolder, "tensorboard")));
            Assert.Equal(SweepFolder.Failed, folder.ReadStatus(run.Id)!.State);
        }

        // Abandoned: cleared for a fresh start, the lock file kept (a new file would be a lock no earlier holder holds).
        Assert.Equal(0, folder.RunTask(manifest, 0, 0, arguments =>
        {
            Assert.Equal(new[] { FolderLock.FileName }, Directory.GetFileSystemEntries(runFolder).Select(Path.GetFileName));
            return Train(arguments);
        }, TextWriter.Null));
        Assert.Equal(new[] { "train", "lgmsnet", "--data", "synthetic", "--output", runFolder, "--device", "cpu" }, Assert.Single(trained));
        Assert.Equal(SweepFolder.Done, folder.ReadStatus(run.Id)!.State);
    }

    [Fact]
    public void Local_sweep_runs_skips_finished_runs_resumes_interrupted_ones_and_reports()
    {
        Environment.SetEnvironmentVariable("LGMSNET_PROGRAM", Path.Combine(AppContext.BaseDirectory, "lgmsnet"));
        string sweep = Write("tiny.sweep.yaml", """
            name: tiny
            architectures: [lgmsnet, unet]
            datasets:
              - { name: synth, data: synthetic, folds: 2 }
            seeds: [7]
            train: { epochs: 1, size: 32, batch: 3, synthetic-train: 6, synthetic-val: 2 }
            """);
        string folder = Path.Combine(Dir, "study");
        var (code, output, error) = CliRunner.Run("sweep", "run", sweep, "--output", folder, "--parallel", "2");
        Assert.True(code == 0, output + error + string.Join("\n", Directory.GetFiles(Path.Combine(folder, "logs")).Select(File.ReadAllText)));
        var status = CliRunner.Json(CliRunner.Run("sweep", "status", folder, "--json").Out).GetProperty("runs");
        Assert.Equal(4, status.GetArrayLength());
        Assert.All(status.EnumerateArray(), r => Assert.Equal("done", r.GetProperty("state").GetString()));

        // Again: nothing to do.
        (code, output, _) = CliRunner.Run("sweep", "run", sweep, "--output", folder);
        Assert.Equal(0, code);
        Assert.Contains("0 run(s) to do (4 done", output);

        // A run whose process died (recorded as running by a process that no longer exists) is shown as died, with why,
        // in the status and the report, and the next sweep run resumes it.
        string id = "synth.unet.fold1.s7";
        var dead = System.Diagnostics.Process.Start("true")!;
        dead.WaitForExit();
        new SweepFolder(folder).WriteStatus(id, new SweepTaskStatus("running", null, Environment.MachineName, dead.Id, DateTime.UtcNow, null, null));
        var states = CliRunner.Json(CliRunner.Run("sweep", "status", folder, "--json").Out).GetProperty("runs").EnumerateArray().ToList();
        var died = states.Single(r => r.GetProperty("id").GetString() == id);
        Assert.Equal("died", died.GetProperty("state").GetString());
        Assert.Contains($"its task (process {dead.Id} on {Environment.MachineName}) is gone without recording an end", died.GetProperty("reason").GetString());
        Assert.Contains($"{id}: died: its task (process {dead.Id}", CliRunner.Run("sweep", "status", folder).Out);
        (code, output, error) = CliRunner.Run("sweep", "report", folder, "--json");
        Assert.True(code == 0, error);
        var left = CliRunner.Json(output).GetProperty("unfinished").EnumerateArray().Single();
        Assert.Equal(id, left.GetProperty("id").GetString());
        Assert.Equal("died", left.GetProperty("state").GetString());
        Assert.Contains($"- {id}: died — its task (process {dead.Id}", File.ReadAllText(Path.Combine(folder, "report.md")));
        (code, output, error) = CliRunner.Run("sweep", "run", sweep, "--output", folder);
        Assert.True(code == 0, output + error);
        Assert.Contains("1 run(s) to do (3 done", output);
        Assert.Contains($"{id}: resuming", File.ReadAllText(Path.Combine(folder, "logs", id + ".log")));

        (code, output, error) = CliRunner.Run("sweep", "report", folder, "--json");
        Assert.True(code == 0, error);
        var rows = CliRunner.Json(output).GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(new[] { "lgmsnet", "unet" }, rows.Select(r => r.GetProperty("architecture").GetString()));
        foreach (var row in rows)
        {
            Assert.Equal("synth", row.GetProperty("dataset").GetString());
            Assert.Equal(2, row.GetProperty("runs").GetInt32());
            Assert.True(row.GetProperty("parameters").GetInt64() > 0 && row.GetProperty("macs").GetInt64() > 0);
            foreach (var metric in new[] { "iou", "f1", "hd95", "nsd" })
                Assert.Equal(System.Text.Json.JsonValueKind.Number, row.GetProperty(metric).GetProperty("mean").ValueKind);
        }
        Assert.Equal(System.Text.Json.JsonValueKind.Null, rows[0].GetProperty("p_value").ValueKind); // the baseline
        Assert.Equal(2, rows[1].GetProperty("pairs").GetInt32());
        // The p-value is the signed-rank test of the paired test IoUs (null when every difference is zero).
        double TestIou(string run) => CliRunner.ReadJson(Path.Combine(folder, "runs", run, "metrics.json")).GetProperty("test").GetProperty("iou").GetDouble();
        var differences = new[] { 0, 1 }.Select(f => TestIou($"synth.unet.fold{f}.s7") - TestIou($"synth.lgmsnet.fold{f}.s7")).ToList();
        var expected = Wilcoxon.SignedRank(differences).PValue;
        var p = rows[1].GetProperty("p_value");
        if (double.IsNaN(expected)) Assert.Equal(System.Text.Json.JsonValueKind.Null, p.ValueKind);
        else Assert.Equal(expected, p.GetDouble(), 6);
        foreach (var file in new[] { "report.md", "report.csv", "report.tex", "report.json", "report.png" })
            Assert.True(new FileInfo(Path.Combine(folder, file)).Length > 0, file);
        Assert.Contains("| synth | unet |", File.ReadAllText(Path.Combine(folder, "report.md")));
        Assert.Empty(CliRunner.Json(output).GetProperty("unfinished").EnumerateArray());
        Assert.DoesNotContain("Not in the table", File.ReadAllText(Path.Combine(folder, "report.md")));
    }
}
