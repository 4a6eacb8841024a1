using System.CommandLine;
using LGMSNet.Dsl;
using LGMSNet.Dsl.Planning;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Network;

namespace LGMSNet.Runtime.Cli;

/// <summary><c>list</c> and <c>summary</c>: what the compiler built.</summary>
internal static class ModelCommands
{
    public static Command List(CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("list", "List the compiled architectures.") { json };
        command.SetAction(result =>
        {
            var rows = context.Architectures.Select(a => new
            {
                a.Info.FileStem,
                a.Info.Name,
                a.Info.Dims,
                a.Info.InChannels,
                a.Info.Classes,
                a.Info.Parameters,
                Macs = a.Info.MultiplyAdds,
                MacsUncountedBlocks = a.Info.UncostedBlocks,
                MacsInputSize = a.Info.MultiplyAddsInputSize,
                InputMultiple = a.Info.InputMultiple,
            }).ToList();
            if (result.GetValue(json))
            {
                context.WriteJson(rows);
                return 0;
            }
            var table = new TextTable("architecture", "name", "dims", "in", "classes", "parameters", "MACs", "at", "multiple").AlignRight(2, 3, 4, 5, 6);
            foreach (var r in rows)
                table.Add(r.FileStem, r.Name, r.Dims + "D", r.InChannels, r.Classes, Formatting.Count(r.Parameters), Formatting.Giga(r.Macs) + " G" + (r.MacsUncountedBlocks.Count > 0 ? $" + {string.Join(", ", r.MacsUncountedBlocks)} (no cost declared)" : ""),
                    string.Join("x", r.MacsInputSize), string.Join("x", r.InputMultiple));
            context.Out.WriteLine(table);
            return 0;
        });
        return command;
    }

    public static Command Summary(CliContext context)
    {
        var arch = new Argument<string>("arch") { Description = "Architecture: YAML file stem or name (case-insensitive)." };
        var size = new Option<string?>("--size", "-s") { Description = "Input size: N, HxW or DxHxW (default: the YAML's input_size)." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var command = new Command("summary", "Per-stage channels, parameters and multiply-adds.") { arch, size, json };
        command.SetAction(result =>
        {
            var descriptor = context.Resolve(result.GetValue(arch)!);
            var plan = descriptor.Info.Plan;
            int[] input = result.GetValue(size) is { } text ? Format.ParseSize(text, plan.Dims) : plan.DefaultInputSize.ToArray();
            if (Costs.CheckInputSize(plan, input) is { } problem) throw new UserErrorException($"--size: {problem}", 2);
            IReadOnlyList<StageCount> stages;
            long counted;
            using (var network = descriptor.Create())
            {
                counted = network.parameters().Sum(p => p.numel());
                stages = NetworkCosts.PerStage(network, input);
            }
            var macs = stages.Aggregate(default(MacCount), (sum, s) => sum + s.Macs);
            long userMacs = stages.Sum(s => s.UserMacs);
            long totalMacs = macs.Total + userMacs;
            var uncosted = stages.SelectMany(s => s.Uncosted).Distinct().ToList();
            long parameters = stages.Sum(s => s.Parameters);
            if (counted != parameters)
                throw new InvalidOperationException($"internal inconsistency: plan says {parameters} parameters, TorchSharp counts {counted}");
            string? noCost = uncosted.Count == 0 ? null
                : $"{string.Join(", ", uncosted)} declare(s) no cost (implement LGMSNet.Runtime.Blocks.IBlockCost): their multiply-adds are not counted";

            if (result.GetValue(json))
            {
                bool uniform = plan.InputMultiple.Distinct().Count() == 1;
                context.WriteJson(new Dictionary<string, object?>
                {
                    ["name"] = plan.Name,
                    ["file"] = descriptor.Info.FileStem + ".yaml",
                    ["dims"] = plan.Dims,
                    ["in_channels"] = plan.InChannels,
                    ["classes"] = plan.Classes,
                    ["input_size"] = input,
                    ["input_multiple"] = uniform ? plan.InputMultiple[0] : plan.InputMultiple.ToArray(),
                    ["parameters"] = parameters,
                    ["parameters_counted"] = counted,
                    ["macs"] = uncosted.Count == 0 ? totalMacs : null,
                    ["macs_counted"] = totalMacs,
                    ["macs_uncounted_blocks"] = uncosted,
                    ["macs_breakdown"] = new { conv = macs.Convolution, linear = macs.Linear, attention = macs.Attention, user_blocks = userMacs },
                    ["stages"] = stages.Select(s => new Dictionary<string, object?>
                    {
                        ["name"] = s.Compiled.Stage.Name,
                        ["reference"] = s.Compiled.Stage.ReferenceName,
                        ["block"] = Formatting.Stage(s.Compiled.Stage),
                        ["in_channels"] = s.Compiled.Stage.InChannels,
                        ["out_channels"] = s.Compiled.Stage.OutChannels,
                        ["output_shape"] = s.Compiled.OutputShape,
                        ["parameters"] = s.Parameters,
                        ["macs"] = s.Uncosted.Count == 0 ? s.MultiplyAdds : null,
                        ["macs_counted"] = s.MultiplyAdds,
                        ["macs_uncounted_blocks"] = s.Uncosted,
                        ["macs_conv"] = s.Macs.Convolution,
                        ["macs_linear"] = s.Macs.Linear,
                        ["macs_attention"] = s.Macs.Attention,
                        ["macs_user_blocks"] = s.UserMacs,
                    }).ToList(),
                });
                return 0;
            }

            context.Out.WriteLine($"{plan.Name} ({descriptor.Info.FileStem}.yaml): {plan.Dims}D, {plan.InChannels} → {plan.Classes}, " +
                                  $"input {string.Join("x", input)} (sizes must be multiples of {string.Join("x", plan.InputMultiple)})");
            var table = new TextTable("stage", "reference", "block", "in→out", "output", "parameters", "MMACs").AlignRight(5, 6);
            foreach (var s in stages)
                table.Add(s.Compiled.Stage.Name, s.Compiled.Stage.ReferenceName, Formatting.Stage(s.Compiled.Stage),
                    $"{s.Compiled.Stage.InChannels}→{s.Compiled.Stage.OutChannels}", Formatting.Size(s.Compiled.OutputShape), Formatting.Count(s.Parameters),
                    Formatting.Mega(s.MultiplyAdds) + (s.Uncosted.Count > 0 ? $" + {string.Join(", ", s.Uncosted)}: no cost declared" : ""));
            table.Separator();
            table.Add("total", "", "", "", "", Formatting.Count(parameters), Formatting.Mega(totalMacs) + (uncosted.Count > 0 ? " + uncounted" : ""));
            context.Out.WriteLine(table);
            context.Out.WriteLine($"parameters: {Formatting.Count(parameters)} (TorchSharp counts {Formatting.Count(counted)})");
            context.Out.WriteLine($"multiply-adds: {Formatting.Giga(totalMacs)} G = conv {Formatting.Giga(macs.Convolution)} G + linear {Formatting.Giga(macs.Linear)} G " +
                                  $"+ attention {Formatting.Giga(macs.Attention)} G" + (userMacs > 0 || stages.Any(s => s.Compiled.Opaque.Count > 0) ? $" + user blocks {Formatting.Giga(userMacs)} G" : "") +
                                  " (bias adds, norms, activations, pooling and resampling not counted)");
            if (noCost != null) context.Out.WriteLine("multiply-adds incomplete: " + noCost);
            return 0;
        });
        return command;
    }
}
