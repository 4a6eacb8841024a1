// The lgmsnet command line for every architecture compiled from this project's YAML files and every block it declares
// ([LgmsBlock] classes such as SqueezeExcitation.cs; `dotnet run -- schema -o lgmsnet.schema.json` puts them in the editor schema).
// `dotnet run` with no arguments runs the main job; `dotnet run -- --help` lists the commands.
return LGMSNet.Runtime.Cli.LgmsCli.Run(args, LgmsNetProject.CompiledArchitectures.All, LgmsNetProject.CompiledArchitectures.BlockCatalog);
