// The lgmsnet command line for every architecture compiled from this project's YAML files.
// `dotnet run` with no arguments runs the main job; `dotnet run -- --help` lists the commands.
return LGMSNet.Runtime.Cli.LgmsCli.Run(args, LgmsNetProject.CompiledArchitectures.All);
