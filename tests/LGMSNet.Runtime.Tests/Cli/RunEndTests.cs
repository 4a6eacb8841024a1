using System.Text.Json;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Tests.Support;
using LGMSNet.Runtime.Training;
using Xunit;

namespace LGMSNet.Runtime.Tests.Cli;

/// <summary>No silent deaths (issue 23): a real training process sent SIGTERM, SIGINT or SIGHUP stops at a safe point,
/// says so in one line with the exact resume command, records it in run.json, and resumes bit for bit; a second signal
/// aborts at once; SIGKILL leaves a run that readers recognise as dead; internal faults on background threads leave a
/// crash file and a line naming it.</summary>
[Collection("cli")]
public sealed class RunEndTests() : TempFolderTest("lgms-run-end-")
{
    /// <summary>Two optimizer steps per epoch, three epochs.</summary>
    private static string[] Tiny(string run, params string[] extra) => new[]
    {
        "train", "lgmsnet", "--data", "synthetic", "--epochs", "3", "--batch", "4", "--size", "32",
        "--synthetic-train", "8", "--synthetic-val", "4", "--seed", "5", "--threads", "2", "--output", run,
    }.Concat(extra).ToArray();

    private static JsonElement Status(string run) => CliRunner.ReadJson(RunFile.PathOf(run)).GetProperty("status");

    private static int EpochsRecorded(string run)
    {
        try
        {
            return File.Exists(RunFile.PathOf(run)) && CliRunner.ReadJson(RunFile.PathOf(run)).TryGetProperty("status", out var s) ? s.GetProperty("epochs_done").GetInt32() : 0;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return 0;
        }
    }

    private static Dictionary<string, string> Pause(int ms) => new() { ["LGMSNET_FAULT_STEP_PAUSE_MS"] = ms.ToString() };

    private static void AssertSameTensors(string expectedRun, string actualRun)
    {
        foreach (var file in new[] { Trainer.LastCheckpoint, Trainer.BestCheckpoint })
        {
            var a = SafeTensorFile.Read(Path.Combine(expectedRun, file));
            var b = SafeTensorFile.Read(Path.Combine(actualRun, file));
            Assert.Equal(a.Names.Order(StringComparer.Ordinal), b.Names.Order(StringComparer.Ordinal));
            foreach (var name in a.Names)
                Assert.True(a.ReadRaw(name).AsSpan().SequenceEqual(b.ReadRaw(name)), $"{file}: tensor {name} differs after the signal and resume");
        }
    }

    [Theory]
    [InlineData("SIGTERM", 15)]
    [InlineData("SIGINT", 2)]
    [InlineData("SIGHUP", 1)]
    public void A_stop_signal_ends_the_run_at_a_safe_point_says_how_and_the_resumed_run_is_bit_identical(string name, int number)
    {
        string straight = Temp("straight"), run = Temp("signalled");
        var (code, output, error) = CliRunner.Run(Tiny(straight));
        Assert.True(code == 0, output + error);
        Assert.Equal("finished", Status(straight).GetProperty("state").GetString());
        Assert.Contains("run finished: 3 of 3 epochs", output);

        using (var process = new CliProcess(Pause(500), Tiny(run)))
        {
            process.WaitFor(() => EpochsRecorded(run) >= 1, "epoch 1 on disk");
            process.Signal(number);
            Assert.Equal(128 + number, process.WaitForExit());
            string last = Path.Combine(run, Trainer.LastCheckpoint);
            string resume = $"train --resume {run}";
            Assert.Contains($"received {name}: stopping at the next safe point", process.Error);
            Assert.Contains($"run stopped by {name} during epoch 2 of 3: epoch 1 of 3 is saved in {last}; continue with: ", process.Error);
            Assert.EndsWith(resume, process.Error.TrimEnd().Split('\n')[^1]);
            Assert.DoesNotContain("internal error", process.Error);
            var status = Status(run);
            Assert.Equal("stopped", status.GetProperty("state").GetString());
            Assert.Equal(name, status.GetProperty("signal").GetString());
            Assert.Equal(1, status.GetProperty("epochs_done").GetInt32());
            Assert.Equal(128 + number, status.GetProperty("exit_code").GetInt32());
            Assert.EndsWith(resume, status.GetProperty("resume").GetString());
            Assert.Equal(1, Checkpoint.ReadProgress(SafeTensorFile.Read(last))!.EpochsDone);
        }

        (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        Assert.Contains($"previous session: run stopped by {name} during epoch 2 of 3", output);
        Assert.Equal("finished", Status(run).GetProperty("state").GetString());
        AssertSameTensors(straight, run);
    }

    [Fact]
    public void A_second_signal_aborts_at_once_and_keeps_the_last_complete_epoch()
    {
        string run = Temp("aborted");
        using (var process = new CliProcess(Pause(4000), Tiny(run)))
        {
            process.WaitFor(() => EpochsRecorded(run) >= 1, "epoch 1 on disk");
            process.Signal(15);
            process.WaitFor(() => process.Error.Contains("received SIGTERM"), "the first signal's acknowledgement");
            Thread.Sleep(StopSignals.DuplicateWindow + TimeSpan.FromMilliseconds(200)); // sooner, it is the same signal delivered twice
            process.Signal(15); // the trainer is inside a 4 s step: only an abort ends it now
            Assert.Equal(143, process.WaitForExit(seconds: 3));
            Assert.Contains($"run aborted by a second SIGTERM during epoch 2 of 3: epoch 1 of 3 is saved in {Path.Combine(run, Trainer.LastCheckpoint)}", process.Error);
        }
        Assert.Equal("stopped", Status(run).GetProperty("state").GetString());
        var (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        Assert.Equal(3, Checkpoint.ReadProgress(SafeTensorFile.Read(Path.Combine(run, Trainer.LastCheckpoint)))!.EpochsDone);
    }

    [Fact]
    public void A_killed_run_is_recognised_as_dead_by_eval_of_a_runs_folder_and_by_resume()
    {
        string runs = Temp("runs"), run = Path.Combine(runs, "killed");
        // Unsupervised, as after a power loss: nobody is left to record the end.
        using (var process = new CliProcess(new Dictionary<string, string>(Pause(1000)) { ["LGMSNET_SUPERVISOR"] = "0" }, Tiny(run)))
        {
            process.WaitFor(() => EpochsRecorded(run) >= 1, "epoch 1 on disk");
            process.Signal(9);
            Assert.Equal(137, process.WaitForExit());
        }
        Assert.Equal("running", Status(run).GetProperty("state").GetString()); // what a SIGKILL leaves behind
        Assert.True(File.Exists(FolderLock.PathOf(run))); // and its lock file, which the dead process no longer holds
        var condition = RunFile.Inspect(run);
        Assert.Equal(RunCondition.Died, condition.State);
        Assert.Contains("died without a word after 1 of 3 epochs", condition.Description);

        // eval of a folder of runs names the dead run instead of using its checkpoint as if it were final.
        string data = TestData.ImageFolder(Temp("data"), 3, 32, 32);
        var (code, output, error) = CliRunner.Run("eval", "lgmsnet", "-w", runs, "--data", data, "--size", "32");
        Assert.Equal(1, code);
        Assert.Contains($"{run}: died without a word after 1 of 3 epochs", error);
        Assert.Contains("--include-unfinished", error);
        (code, output, error) = CliRunner.Run("eval", "lgmsnet", "-w", runs, "--data", data, "--size", "32", "--include-unfinished");
        Assert.True(code == 0, output + error);
        Assert.Contains("warning: using an unfinished run", error);

        // resume says what happened to the previous session, then finishes the run.
        (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        Assert.Contains("previous session: died without a word after 1 of 3 epochs", output);
        Assert.Equal("finished", Status(run).GetProperty("state").GetString());
        (code, output, error) = CliRunner.Run("eval", "lgmsnet", "-w", runs, "--data", data, "--size", "32");
        Assert.True(code == 0, output + error);
    }

    [Fact]
    public void Resume_refuses_a_run_whose_process_is_still_training()
    {
        string run = Temp("live");
        using var process = new CliProcess(Pause(1000), Tiny(run));
        process.WaitFor(() => EpochsRecorded(run) >= 1, "epoch 1 on disk");
        int trainer = Status(run).GetProperty("pid").GetInt32(); // the supervised training process
        Assert.NotEqual(process.Pid, trainer);
        var (code, _, error) = CliRunner.Run("train", "--resume", run);
        Assert.Equal(2, code);
        Assert.Contains($"the run is running: 1 of 3 epochs done (process {trainer}", error);
        Assert.Contains($"kill -TERM {trainer}", error);
        process.Signal(15);
        Assert.Equal(143, process.WaitForExit());
    }

    [Fact]
    public void A_new_run_into_the_folder_of_a_live_run_before_its_first_epoch_is_refused_naming_that_run()
    {
        string run = Temp("shared");
        using var process = new CliProcess(Pause(4000), Tiny(run)); // 8 s and more to its first epoch: no last.safetensors yet
        process.WaitFor(() =>
        {
            try
            {
                return File.Exists(RunFile.PathOf(run)) && CliRunner.ReadJson(RunFile.PathOf(run)).TryGetProperty("status", out var s) &&
                       s.GetProperty("state").GetString() == "running";
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                return false;
            }
        }, "run.json saying running");
        Assert.False(File.Exists(Path.Combine(run, Trainer.LastCheckpoint)));
        int trainer = Status(run).GetProperty("pid").GetInt32();
        string started = Status(run).GetProperty("started").GetDateTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        // The live run's lock file is held (unreadable to .NET, which locks what it opens) and has no content.
        var before = Directory.GetFiles(run).Where(f => !f.EndsWith(".tmp", StringComparison.Ordinal) && Path.GetFileName(f) != FolderLock.FileName)
            .ToDictionary(f => f, File.ReadAllBytes);

        var second = Tiny(run).Select(a => a == "5" ? "6" : a).ToArray(); // another seed into the same folder
        var (code, output, error) = CliRunner.Run(second);
        Assert.Equal(2, code);
        Assert.Contains($"--output {run}: the run is running: 0 of 3 epochs done (process {trainer}", error);
        Assert.Contains($"session started {started} UTC", error);
        Assert.Contains("command: ", error);
        Assert.Contains("--seed 5", error); // the live run's command, not this one's
        Assert.Contains($"kill -TERM {trainer}", error);
        Assert.Contains("or choose another --output", error);
        Assert.DoesNotContain("training ", output);
        foreach (var (file, bytes) in before)
            Assert.True(File.Exists(file) && (file == RunFile.PathOf(run) || File.ReadAllBytes(file).AsSpan().SequenceEqual(bytes)), $"{file} changed");
        Assert.Equal(5, CliRunner.ReadJson(RunFile.PathOf(run)).GetProperty("seed").GetInt64());
        Assert.Equal(trainer, Status(run).GetProperty("pid").GetInt32());

        process.Signal(15);
        Assert.Equal(143, process.WaitForExit());
        Assert.Equal(5, CliRunner.ReadJson(RunFile.PathOf(run)).GetProperty("seed").GetInt64());
        Assert.Equal(trainer, Status(run).GetProperty("pid").GetInt32());
    }

    [Fact]
    public void Two_runs_started_at_the_same_instant_into_one_new_folder_one_trains_and_the_other_is_refused()
    {
        string run = Temp("raced");
        // No pause between the starts: both reach the folder within the same second, before either records itself in run.json
        // (the steps' pause only keeps the survivor training while a slow machine starts the other).
        using var seed5 = new CliProcess(Pause(300), Tiny(run));
        using var seed6 = new CliProcess(Pause(300), Tiny(run).Select(a => a == "5" ? "6" : a).ToArray());
        var ends = new[] { (Seed: 5L, Process: seed5, Code: seed5.WaitForExit()), (Seed: 6L, Process: seed6, Code: seed6.WaitForExit()) };
        var survivor = Assert.Single(ends, e => e.Code == 0);
        var refused = Assert.Single(ends, e => e.Code != 0);
        Assert.True(refused.Code == 2, refused.Process.Out + refused.Process.Error);
        string error = refused.Process.Error;
        Assert.StartsWith($"error: --output {run}: ", error);
        // Depending on how far the survivor got: a run starting there, or the live run by process, progress and command.
        Assert.True(error.Contains($"a run is starting there (another process holds {FolderLock.PathOf(run)}", StringComparison.Ordinal)
                    || error.Contains($"the run is running: 0 of 3 epochs done (process ", StringComparison.Ordinal), error);
        Assert.Contains("or choose another --output", error);
        Assert.Single(error.Trim().Split('\n')); // one line, no stack trace
        Assert.DoesNotContain("training ", refused.Process.Out);

        // The survivor's folder is its own, whole: its options, its process's finish line, its three epochs.
        Assert.Contains("run finished: 3 of 3 epochs", survivor.Process.Out);
        var options = CliRunner.ReadJson(RunFile.PathOf(run));
        Assert.Equal(survivor.Seed, options.GetProperty("seed").GetInt64());
        Assert.Equal("finished", Status(run).GetProperty("state").GetString());
        Assert.Contains($"--seed {survivor.Seed}", File.ReadAllText(Path.Combine(run, "command.txt")));
        Assert.Equal(3, CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").GetArrayLength());
        Assert.Equal(3, Checkpoint.ReadProgress(SafeTensorFile.Read(Path.Combine(run, Trainer.LastCheckpoint)))!.EpochsDone);
    }

    [Fact]
    public void A_claimed_folder_is_refused_to_a_new_run_a_resume_and_a_fold_until_its_holder_lets_go()
    {
        // A starting run holds its folder's lock before run.json names it; this test plays that run (two claims conflict
        // within one process too).
        string run = Temp("claimed");
        Directory.CreateDirectory(run);
        string starting = $"a run is starting there (another process holds {FolderLock.PathOf(run)} and has not recorded itself in run.json yet)";
        using (FolderLock.TryAcquire(run) ?? throw new InvalidOperationException("the new folder is claimed"))
        {
            Assert.Null(FolderLock.TryAcquire(run));
            var (code, output, error) = CliRunner.Run(Tiny(run));
            Assert.Equal(2, code);
            Assert.Equal($"error: --output {run}: {starting}; look again in a few seconds or choose another --output", error.Trim());
            Assert.DoesNotContain("training ", output);
            Assert.Equal(new[] { FolderLock.FileName }, Directory.GetFileSystemEntries(run).Select(Path.GetFileName)); // nothing written
        }

        var (stopCode, stopOut, stopError) = CliRunner.Run(Tiny(run, "--stop-after", "1"));
        Assert.True(stopCode == 0, stopOut + stopError);
        string recorded = File.ReadAllText(RunFile.PathOf(run));
        using (FolderLock.TryAcquire(run) ?? throw new InvalidOperationException("the ended session still claims its folder"))
        {
            var (code, _, error) = CliRunner.Run("train", "--resume", run);
            Assert.Equal(2, code);
            Assert.Equal($"error: --resume {run}: {starting}; look again in a few seconds", error.Trim());
            Assert.Equal(recorded, File.ReadAllText(RunFile.PathOf(run)));
        }

        // Each fold of a k-fold run claims its own folder.
        string folds = Temp("folds"), fold0 = Path.Combine(folds, "fold-0");
        Directory.CreateDirectory(fold0);
        using (FolderLock.TryAcquire(fold0)!)
        {
            var (code, _, error) = CliRunner.Run(Tiny(folds, "--folds", "2"));
            Assert.Equal(2, code);
            Assert.Contains($"--output {fold0}: a run is starting there (another process holds {FolderLock.PathOf(fold0)}", error);
            Assert.False(File.Exists(RunFile.PathOf(fold0)));
        }

        var (resumeCode, resumeOut, resumeError) = CliRunner.Run("train", "--resume", run);
        Assert.True(resumeCode == 0, resumeOut + resumeError);
        Assert.Equal("finished", Status(run).GetProperty("state").GetString());
        using (FolderLock.TryAcquire(run) ?? throw new InvalidOperationException("the finished session still claims its folder")) { }
    }

    [Fact]
    public void An_exception_on_a_background_thread_leaves_a_crash_file_a_line_naming_it_and_a_failed_run()
    {
        string run = Temp("thread");
        var (code, error) = CliProcess.RunToEnd(new Dictionary<string, string> { ["LGMSNET_FAULT_THROW"] = "thread:2" }, Tiny(run));
        Assert.NotEqual(0, code);
        Assert.Contains("internal error on a background thread: InvalidOperationException: fault injected on a background thread in epoch 2", error);
        var status = Status(run);
        Assert.Equal("failed", status.GetProperty("state").GetString());
        string crash = status.GetProperty("crash_file").GetString()!;
        Assert.Equal(run, Path.GetDirectoryName(crash));
        Assert.Contains($"the stack trace is in {crash}", error);
        Assert.Contains("fault injected on a background thread", File.ReadAllText(crash));
        Assert.Contains(" at ", File.ReadAllText(crash));
    }

    [Fact]
    public void A_fault_in_the_batch_loader_thread_is_an_internal_error_with_its_stack_trace_in_the_run_folder()
    {
        string run = Temp("loader");
        FaultInjection.ThrowAt = ("batch", 2);
        (int Code, string Out, string Error) result;
        try
        {
            result = CliRunner.Run(Tiny(run));
        }
        finally
        {
            FaultInjection.ThrowAt = null;
        }
        Assert.Equal(70, result.Code);
        string line = result.Error.TrimEnd().Split('\n')[^1];
        Assert.StartsWith("internal error: IndexOutOfRangeException: fault injected while preparing batch 1 of epoch 2", line);
        Assert.Contains("The run failed during epoch 2 of 3", line);
        Assert.Contains($"epoch 1 of 3 is saved in {Path.Combine(run, Trainer.LastCheckpoint)}; after fixing the cause, continue with: ", line);
        var crash = Directory.GetFiles(run, "crash-*.txt").Single();
        Assert.Contains($"the stack trace is in {crash}", line);
        string trace = File.ReadAllText(crash);
        Assert.Contains("LGMSNet.Runtime.Data.BatchLoader", trace); // the loader thread's own frames are kept
        Assert.Contains("phase: epoch 2 of 3", trace);
        Assert.Equal("failed", Status(run).GetProperty("state").GetString());

        var (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        Assert.Contains("previous session: internal error", output);
    }

    [Fact]
    public void A_run_folder_that_becomes_unwritable_mid_run_is_a_message_a_crash_file_and_a_resumable_run()
    {
        string run = Temp("denied");
        FaultInjection.ResetWriteCounts();
        FaultInjection.DeniedAt = ("metrics.json", 2);
        (int Code, string Out, string Error) result;
        try
        {
            result = CliRunner.Run(Tiny(run));
        }
        finally
        {
            FaultInjection.DeniedAt = null;
            FaultInjection.ResetWriteCounts();
        }
        Assert.Equal(1, result.Code);
        Assert.StartsWith($"error: cannot write {Path.Combine(run, "metrics.json")}: Access to the path", result.Error);
        Assert.Contains("The run failed during epoch 2 of 3; details in ", result.Error);
        Assert.Contains($"epoch 2 of 3 is saved in {Path.Combine(run, Trainer.LastCheckpoint)}", result.Error);
        Assert.DoesNotContain("internal error", result.Error);
        var status = Status(run);
        Assert.Equal("failed", status.GetProperty("state").GetString());
        Assert.True(File.Exists(status.GetProperty("crash_file").GetString()));

        var (code, output, error) = CliRunner.Run("train", "--resume", run);
        Assert.True(code == 0, output + error);
        Assert.Equal(3, CliRunner.ReadJson(Path.Combine(run, "metrics.json")).GetProperty("epochs").GetArrayLength());
    }

    [Fact]
    public void A_native_abort_in_the_training_process_is_reported_by_its_supervisor()
    {
        string run = Temp("native");
        var (code, error) = CliProcess.RunToEnd(new Dictionary<string, string> { ["LGMSNET_FAULT_THROW"] = "native:2" }, Tiny(run));
        Assert.Equal(134, code); // 128 + SIGABRT, as the shell would report the training process
        string line = error.TrimEnd().Split('\n')[^1];
        Assert.StartsWith("error: the training process died of SIGABRT (native code aborted", line);
        Assert.Contains("during epoch 2 of 3", line);
        Assert.Contains($"epoch 1 of 3 is saved in {Path.Combine(run, Trainer.LastCheckpoint)}; continue with: ", line);
        Assert.EndsWith($"train --resume {run}", line);
        var status = Status(run);
        Assert.Equal("failed", status.GetProperty("state").GetString());
        Assert.Equal("SIGABRT", status.GetProperty("signal").GetString());
        Assert.Contains("ended by: SIGABRT", File.ReadAllText(status.GetProperty("crash_file").GetString()!));
        var (resumed, output, resumeError) = CliRunner.Run("train", "--resume", run);
        Assert.True(resumed == 0, output + resumeError);
    }

    [Fact]
    public void A_training_process_killed_with_SIGKILL_is_reported_and_a_killed_supervisor_stops_its_trainer()
    {
        string run = Temp("oom");
        using (var process = new CliProcess(Pause(1000), Tiny(run)))
        {
            process.WaitFor(() => EpochsRecorded(run) >= 1, "epoch 1 on disk");
            int trainer = Status(run).GetProperty("pid").GetInt32();
            CliProcess.Signal(trainer, 9); // as the out-of-memory killer would
            Assert.Equal(137, process.WaitForExit());
            Assert.Contains("error: the training process died of SIGKILL (kill -9, or the kernel's out-of-memory killer: see dmesg) during epoch 2 of 3", process.Error);
        }
        Assert.Equal("failed", Status(run).GetProperty("state").GetString());

        // The supervisor itself killed: the trainer is told (SIGTERM) and stops at a safe point instead of training on unwatched.
        string orphan = Temp("orphan");
        using (var process = new CliProcess(Pause(1000), Tiny(orphan)))
        {
            process.WaitFor(() => EpochsRecorded(orphan) >= 1, "epoch 1 on disk");
            int trainer = Status(orphan).GetProperty("pid").GetInt32();
            process.Signal(9);
            process.WaitForExit();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (LGMSNet.Runtime.IO.ProcessIdentity.IsAlive(trainer, null) && clock.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(100);
            Assert.False(LGMSNet.Runtime.IO.ProcessIdentity.IsAlive(trainer, null), "the trainer outlived its supervisor");
        }
        var stopped = Status(orphan);
        Assert.Equal("stopped", stopped.GetProperty("state").GetString());
        Assert.Equal("SIGTERM", stopped.GetProperty("signal").GetString());
    }

    [Fact]
    public void A_stop_after_session_is_recorded_as_stopped_with_its_resume_command()
    {
        string run = Temp("paused");
        var (code, output, error) = CliRunner.Run(Tiny(run, "--stop-after", "1"));
        Assert.True(code == 0, output + error);
        Assert.Contains($"run finished: 1 of 3 epochs", output);
        Assert.Contains($"(--stop-after 1; continue with: ", output);
        Assert.Equal("stopped", Status(run).GetProperty("state").GetString());
        Assert.Equal(RunStatus.Stopped, RunFile.Inspect(run).State);
    }
}
