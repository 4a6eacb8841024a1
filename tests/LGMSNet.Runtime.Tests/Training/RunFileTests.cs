using System.Diagnostics;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using Xunit;

namespace LGMSNet.Runtime.Tests.Training;

/// <summary>run.json keeps the options and the status apart, and its readers tell a live run from a dead one by the
/// process it names (pid and start time), a run of another host from both, and runs from before states were kept.</summary>
public sealed class RunFileTests() : TempFolderTest("lgms-run-file-")
{
    private string NewRun(string name)
    {
        string run = Temp(name);
        Directory.CreateDirectory(run);
        RunFile.WriteOptions(run, new TrainOptions { Architecture = "lgmsnet", Epochs = 7, OutputDir = run });
        return run;
    }

    [Fact]
    public void Options_and_status_survive_each_others_writes()
    {
        string run = NewRun("both");
        RunFile.WriteStatus(run, RunStatus.Start(2, 7) with { State = RunStatus.Stopped, Reason = "run stopped by SIGTERM during epoch 3 of 7" });
        RunFile.WriteOptions(run, RunFile.ReadOptions(run) with { Epochs = 9 });
        Assert.Equal(9, RunFile.ReadOptions(run).Epochs);
        Assert.Equal("run stopped by SIGTERM during epoch 3 of 7", RunFile.ReadStatus(run)!.Reason);
        Assert.Equal(RunStatus.Stopped, RunFile.Inspect(run).State);
    }

    [Fact]
    public void A_running_record_is_alive_only_while_its_process_is()
    {
        string run = NewRun("live");
        RunFile.WriteStatus(run, RunStatus.Start(3, 7));
        Assert.Equal(RunStatus.Running, RunFile.Inspect(run).State);

        using var dead = Process.Start("true")!;
        dead.WaitForExit();
        RunFile.UpdateStatus(run, s => s! with { Pid = dead.Id });
        var condition = RunFile.Inspect(run);
        Assert.Equal(RunCondition.Died, condition.State);
        Assert.Contains($"died without a word after 3 of 7 epochs: its process ({dead.Id} on {Environment.MachineName}) is gone", condition.Description);
    }

    [Fact]
    public void A_reused_process_id_is_not_the_run_s_process()
    {
        string run = NewRun("reused");
        // This process's id, but a start time an hour earlier: another process that had the id before.
        RunFile.WriteStatus(run, RunStatus.Start(1, 7) with { ProcessStarted = Process.GetCurrentProcess().StartTime.ToUniversalTime().AddHours(-1) });
        Assert.Equal(RunCondition.Died, RunFile.Inspect(run).State);
    }

    [Fact]
    public void Another_host_s_run_is_reported_as_running_there_and_unverifiable_here()
    {
        string run = NewRun("remote");
        RunFile.WriteStatus(run, RunStatus.Start(4, 7) with { Host = "node-17", Pid = 12345 });
        var condition = RunFile.Inspect(run);
        Assert.Equal(RunStatus.Running, condition.State);
        Assert.Contains("running on node-17 (process 12345)", condition.Description);
        Assert.Contains("cannot check", condition.Description);
    }

    [Fact]
    public void Runs_written_before_states_were_kept_are_finished_when_they_have_their_final_report()
    {
        string run = NewRun("legacy");
        Assert.Equal(RunCondition.Unknown, RunFile.Inspect(run).State);
        File.WriteAllBytes(Path.Combine(run, "overlays.png"), new byte[] { 1 });
        Assert.Equal(RunStatus.Finished, RunFile.Inspect(run).State);
    }

    [Fact]
    public void A_damaged_run_json_is_never_replaced_by_a_status_write()
    {
        string run = NewRun("damaged");
        File.WriteAllText(RunFile.PathOf(run), "{ \"architecture\": ");
        RunFile.WriteStatus(run, RunStatus.Start(0, 7));
        Assert.Equal("{ \"architecture\": ", File.ReadAllText(RunFile.PathOf(run)));
    }
}
