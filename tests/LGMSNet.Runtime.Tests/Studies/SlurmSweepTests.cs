using LGMSNet.Runtime.Tests.Support;
using Xunit;

namespace LGMSNet.Runtime.Tests.Studies;

/// <summary>A sweep on a real one-node Slurm: one array job, a task cancelled with scancel while the array
/// runs, the same command again completes it, and the report covers every run.</summary>
public sealed class SlurmSweepTests() : TempFolderTest("lgms-slurm-sweep-")
{
    [SlurmFact]
    public void Slurm_array_runs_the_sweep_a_cancelled_task_resumes_on_the_next_run_and_the_report_is_complete()
    {
        Environment.SetEnvironmentVariable("LGMSNET_PROGRAM", Path.Combine(AppContext.BaseDirectory, "lgmsnet"));
        using var cluster = new SlurmCluster();
        string sweep = Path.Combine(Dir, "tiny.sweep.yaml");
        File.WriteAllText(sweep, """
            name: tiny-slurm
            architectures: [lgmsnet, unet]
            datasets:
              - { name: synth, data: synthetic, folds: 2 }
            seeds: [3]
            train: { epochs: 2, size: 32, batch: 3, synthetic-train: 8, synthetic-val: 2 }
            """);
        string folder = Path.Combine(Dir, "study");
        var first = Task.Run(() => CliRunner.Run("sweep", "run", sweep, "--output", folder, "--executor", "slurm", "--wait", "--slurm-args", "--cpus-per-task 1"));

        // Cancel one array task once it is really running (its run recorded as running by the task).
        string cancelled = "";
        cluster.WaitFor(() =>
        {
            string status = Path.Combine(folder, "status");
            var running = Directory.Exists(status)
                ? Directory.GetFiles(status, "*.json").Where(f => File.ReadAllText(f).Contains("\"running\"")).ToList() : new List<string>();
            if (running.Count == 0) return false;
            var job = CliRunner.ReadJson(running[0]).GetProperty("slurm_job").GetString()!;
            cancelled = Path.GetFileNameWithoutExtension(running[0]);
            Assert.Equal(0, cluster.Run("scancel", job).Code);
            return true;
        }, "a sweep task to start", seconds: 90);
        var (code, output, error) = first.Result;
        Assert.True(code == 1, $"the cancelled run should make --wait fail: {output}{error}");
        // scancel sends SIGTERM: the run stops at a safe point and says so (or, cancelled before its handler was installed, is
        // recognised as dead); either way the sweep names the state and why.
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(output, $@"{System.Text.RegularExpressions.Regex.Escape(cancelled)}: (stopped|died)[^\n]*: "),
            output + error + cluster.Logs());
        Assert.True(File.Exists(Path.Combine(folder, "slurm", "sweep.sbatch")));
        string script = File.ReadAllText(Path.Combine(folder, "slurm", "sweep.sbatch"));
        Assert.Contains("#SBATCH --array=0,1,2,3", script);
        Assert.Contains("sweep task", script);
        Assert.Contains("#SBATCH --requeue", script);

        var status = CliRunner.Json(CliRunner.Run("sweep", "status", folder, "--json").Out).GetProperty("runs").EnumerateArray().ToList();
        var stopped = status.Single(r => r.GetProperty("id").GetString() == cancelled);
        Assert.Contains(stopped.GetProperty("state").GetString(), new[] { "stopped", "died" });
        Assert.False(string.IsNullOrWhiteSpace(stopped.GetProperty("reason").GetString()));
        if (stopped.GetProperty("state").GetString() == "stopped") Assert.Contains("SIGTERM", stopped.GetProperty("reason").GetString());
        Assert.Equal(3, status.Count(r => r.GetProperty("state").GetString() == "done"));
        Assert.All(status, r => Assert.Matches(@"^\d+_\d$", r.GetProperty("slurm_job").GetString()!));

        (code, output, error) = CliRunner.Run("sweep", "run", sweep, "--output", folder, "--executor", "slurm", "--wait");
        Assert.True(code == 0, output + error + cluster.Logs());
        Assert.Contains("1 run(s) to submit (3 done", output);
        status = CliRunner.Json(CliRunner.Run("sweep", "status", folder, "--json").Out).GetProperty("runs").EnumerateArray().ToList();
        Assert.All(status, r => Assert.Equal("done", r.GetProperty("state").GetString()));

        (code, output, error) = CliRunner.Run("sweep", "report", folder, "--json");
        Assert.True(code == 0, error);
        var rows = CliRunner.Json(output).GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal(2, r.GetProperty("runs").GetInt32()));
        Assert.Equal(2, rows[1].GetProperty("pairs").GetInt32());

        // Slurm tasks train through the same train command: one HParams entry per run, the cancelled and resumed one included
        // (its earlier session's HParams give way to the resumed session's, never twice).
        var entries = EventFileReader.HParamsEntries(Path.Combine(folder, "runs"));
        Assert.Equal(4, entries.Count);
        Assert.Equal(new[] { "LgmsNet", "LgmsNet", "Unet", "Unet" }, entries.Select(e => (string)e.Hparams["architecture"]).Order(StringComparer.Ordinal));
        Assert.All(entries, e => Assert.True(e.Metrics.ContainsKey("final/iou") && e.Metrics.ContainsKey("test/iou"), e.Run));
    }
}
