using System.CommandLine;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;

namespace LGMSNet.Runtime.Cli;

/// <summary>The command line of the generated trainer (<c>dotnet run --project architectures -- ...</c>).</summary>
public static class LgmsCli
{
    public static int Run(string[] args, IReadOnlyList<ArchitectureDescriptor> architectures, TextWriter? output = null, TextWriter? error = null)
    {
        var context = new CliContext(output ?? Console.Out, error ?? Console.Error, architectures);
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
        };
        // No arguments: the main job (train the default architecture on built-in data, evaluate, report).
        if (args.Length == 0) args = TrainCommand.MainJobArguments;
        try
        {
            TorchRuntime.EnsureLoaded();
            var parse = root.Parse(args);
            return parse.Invoke(new InvocationConfiguration { Output = context.Out, Error = context.Error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (UserFacing(e) is { } message)
        {
            context.Error.WriteLine("error: " + message);
            return e is UserErrorException user ? user.ExitCode : 1;
        }
        catch (Exception e)
        {
            context.Error.WriteLine($"internal error: {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("LGMSNET_DEBUG") == "1") context.Error.WriteLine(e);
            else context.Error.WriteLine("(set LGMSNET_DEBUG=1 for the stack trace, and please report it)");
            return 70;
        }
    }

    /// <summary>The message to show for an expected failure (bad input, missing file), or null for a bug.</summary>
    private static string? UserFacing(Exception e) => e switch
    {
        UserErrorException or WeightMismatchException or SafeTensorsException or TorchRuntimeException or Data.DataException
            or Training.TrainingDivergedException => e.Message,
        FileNotFoundException f => $"file not found: {f.FileName ?? f.Message}",
        DirectoryNotFoundException or UnauthorizedAccessException or IOException => e.Message,
        InvalidDataException => e.Message,
        _ => null,
    };
}
