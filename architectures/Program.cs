// The CLI of the generated trainer: every architecture compiled from this folder's YAML files.
return LGMSNet.Runtime.Cli.LgmsCli.Run(args, LGMSNet.Architectures.CompiledArchitectures.All, LGMSNet.Architectures.CompiledArchitectures.BlockCatalog);
