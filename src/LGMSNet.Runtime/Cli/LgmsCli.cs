using System.CommandLine;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;

namespace LGMSNet.Runtime.Cli;

/// <summary>The command line of the generated trainer (<c>dotnet run --project architectures -- ...</c>).</summary>
public static class LgmsCli
{
    public static int Run(string[] args, IReadOnlyList<ArchitectureDescriptor> architectures, TextWriter? output = null, TextWriter? error = null) =>
        Run(args, architectures, "", output, error);

    /// <summary>Runs the CLI for <paramref name="architectures"/> and the project's user blocks (<paramref name="blockCatalog"/>:
    /// the generated <c>CompiledArchitectures.BlockCatalog</c>), which the <c>schema</c> command writes into the editor schema.</summary>
    public static int Run(string[] args, IReadOnlyList<ArchitectureDescriptor> architectures, string blockCatalog, TextWriter? output = null, TextWriter? error = null)
    {
        // No arguments: the main job (train the default architecture on built-in data, evaluate, report).
        if (args.Length == 0) args = TrainCommand.MainJobArguments;
        var context = new CliContext(output ?? Console.Out, error ?? Console.Error, architectures, args, LGMSNet.Dsl.Blocks.BlockCatalog.Parse(blockCatalog));
        var root = new RootCommand("LGMSNet.Dsl: train, evaluate and run segmentation networks compiled from YAML.")
        {
            ModelCommands.List(context),
            ModelCommands.Summary(context),
            WeightCommands.Import(context),
            WeightCommands.Export(context),
            WeightCommands.CheckReference(context),
            TrainCommand.Create(context),
            InferenceCommands.Eval(context),
            InferenceCommands.Predict(context),
            BenchCommand.Create(context),
            SchemaCommand.Create(context),
            SweepCommand.Create(context),
            ScoreCommand.Create(context),
        };
        ReportUnhandledExceptions(context.Error);
        // A training run on the real console runs in a watched child process: a native fault or SIGKILL still ends with a line.
        if (TrainingSupervisor.Applies(args, output, error) && TrainingSupervisor.Run(args, context.Error) is var supervised and >= 0)
            return supervised;
        try
        {
            TorchRuntime.EnsureLoaded();
            var parse = root.Parse(args);
            return parse.Invoke(new InvocationConfiguration { Output = context.Out, Error = context.Error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (UserFacing(e) is { } message)
        {
            context.Error.WriteLine("error: " + message);
            return ExitCode(e);
        }
        catch (Exception e)
        {
            string? crash = CrashReport.Write(null, e);
            context.Error.WriteLine($"internal error: {e.GetType().Name}: {e.Message}" +
                                    (crash != null ? $" (the stack trace is in {crash}; please report it)" : ""));
            if (crash == null || Environment.GetEnvironmentVariable("LGMSNET_DEBUG") == "1") context.Error.WriteLine(e);
            return InternalErrorCode;
        }
    }

    /// <summary>The exit code of an internal error (EX_SOFTWARE).</summary>
    internal const int InternalErrorCode = 70;

    /// <summary>The exit code of a user-facing failure.</summary>
    internal static int ExitCode(Exception e) => e is UserErrorException user ? user.ExitCode : 1;

    private static int _handlerInstalled;

    /// <summary>The last resort for an exception on a thread nobody waits on: the runtime will end the process, so first
    /// keep the stack trace in a crash file, record the run (when one is training) as failed, and say so in one line.</summary>
    private static void ReportUnhandledExceptions(TextWriter error)
    {
        if (Interlocked.Exchange(ref _handlerInstalled, 1) == 1) return;
        AppDomain.CurrentDomain.UnhandledException += (_, args) =>
        {
            var exception = args.ExceptionObject as Exception ?? new InvalidOperationException(args.ExceptionObject?.ToString());
            try
            {
                if (TrainingSession.Current is { } session) error.WriteLine(session.Crash(exception, background: true));
                else
                {
                    string? crash = CrashReport.Write(null, exception);
                    error.WriteLine($"internal error on a background thread: {exception.GetType().Name}: {exception.Message}" +
                                    (crash != null ? $" (the stack trace is in {crash}; please report it)" : ""));
                }
                error.Flush();
            }
            catch (Exception) when (!args.IsTerminating)
            {
            }
        };
    }

    /// <summary>The message to show for an expected failure (bad input, missing file), or null for a bug.</summary>
    internal static string? UserFacing(Exception e) => e switch
    {
        // A parallel loop (preprocessing, planning) wraps what its body threw.
        AggregateException { InnerExceptions.Count: 1 } aggregate => UserFacing(aggregate.InnerExceptions[0]),
        UserErrorException or WeightMismatchException or SafeTensorsException or TorchRuntimeException or Data.DataException
            or Training.TrainingDivergedException => e.Message,
        FileNotFoundException f => $"file not found: {f.FileName ?? f.Message}",
        DirectoryNotFoundException or UnauthorizedAccessException or IOException => e.Message,
        InvalidDataException => e.Message,
        _ => null,
    };
}
