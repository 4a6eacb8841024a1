using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using LGMSNet.Dsl.Diagnostics;
using LGMSNet.Dsl.Model;
using LGMSNet.Dsl.Parsing;
using LGMSNet.Dsl.Yaml;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Training;
using Tensorboard;

namespace LGMSNet.Runtime.Reports;

/// <summary>A run as TensorBoard's HParams plugin reads it: the architecture (YAML name, widths, each stage's blocks, kernels,
/// blocks per stage counting depth, parameters, multiply-adds) and the training options as hyperparameters, and the final metrics (scalars the reporter
/// writes under <see cref="MetricTags"/>). The plugin's messages (tensorboard/plugins/hparams/plugin_data.proto and
/// api.proto: HParamsPluginData, Experiment, SessionStartInfo, SessionEndInfo) are not among the protobuf classes
/// TorchSharp ships, so they are encoded here field by field with Google.Protobuf's CodedOutputStream; the Summary and
/// SummaryMetadata around them are TorchSharp's.</summary>
internal static class HParams
{
    public const string ExperimentTag = "_hparams_/experiment";
    public const string SessionStartTag = "_hparams_/session_start_info";
    public const string SessionEndTag = "_hparams_/session_end_info";
    public const string PluginName = "hparams";

    /// <summary>The metrics of the HParams table: the best checkpoint on validation (final/...) and on the test split
    /// (test/...), named as in metrics.json.</summary>
    public static readonly IReadOnlyList<string> MetricTags = new[] { "final", "test" }
        .SelectMany(group => new[] { "iou", "dice", "f1", "se", "pc", "acc", "val_loss", "hd95", "nsd" }.Select(key => $"{group}/{key}"))
        .Where(tag => tag != "test/val_loss").ToList();

    /// <summary>Every run has the same names, so one run's experiment summary describes the whole sweep; a value that is not
    /// known (multiply-adds of blocks that declare no cost) is left out of that run's values, never given another type.</summary>
    public static IReadOnlyList<(string Name, object? Value)> Of(ArchitectureInfo info, TrainOptions options)
    {
        // The YAML as written (stage by stage, each block's keyword and option values), read by the compiler's own parser
        // against the architecture's blocks: built-in and user blocks alike, named by their declarations, never by us.
        var diagnostics = new List<DslDiagnostic>();
        string file = info.FileStem + ".yaml";
        var spec = (YamlDocumentReader.Read(info.Yaml, file, diagnostics) is { } root ? ArchitectureParser.Parse(root, file, diagnostics, info.Blocks) : null)
                   ?? throw new InvalidOperationException($"the embedded YAML of {info.Name} does not parse: {string.Join("; ", diagnostics)}");
        var encoder = spec.Encoder.Value;
        var decoder = spec.Decoder.Value;
        static OptionValue? Option(BlockSpec block, string key) =>
            block is DeclaredBlockSpec declared ? declared.Values.FirstOrDefault(v => v.Key == key && !v.IsAbsent) : null;
        static string Blocks(IEnumerable<StageSpec> stages) => string.Join(",", stages.Select(s => string.Join("+", s.Blocks.Select(b => b.Keyword))));
        static string Counts(IEnumerable<StageSpec> stages) =>
            string.Join(",", stages.Select(s => s.Blocks.Sum(b => Option(b, "depth")?.Integer ?? 1).ToString(CultureInfo.InvariantCulture)));
        string kernels = string.Join(",", encoder.Select(s => s.Blocks.Select(b => Option(b, "kernels")).FirstOrDefault(k => k != null) is { } k
            ? string.Join("/", k.Integers) : "-"));
        return new (string, object?)[]
        {
            ("architecture", info.Name),
            ("yaml", info.FileStem),
            ("yaml_sha256", info.YamlSha256[..12]),
            ("dims", info.Dims),
            ("classes", info.Classes),
            ("widths", string.Join(",", spec.Widths.Value)),
            ("encoder", Blocks(encoder)),
            ("decoder", Blocks(decoder)),
            ("kernels", kernels),
            ("encoder_blocks", Counts(encoder)),
            ("decoder_blocks", Counts(decoder)),
            ("parameters", info.Parameters),
            ("multiply_adds", info.UncostedBlocks.Count == 0 ? info.MultiplyAdds : null),
            ("input_size", string.Join("x", info.InputSize)),
            ("optimizer", options.Optimizer.ToString().ToLowerInvariant()),
            ("lr", options.LearningRate),
            ("weight_decay", options.WeightDecay),
            ("momentum", options.Momentum),
            ("schedule", options.Schedule.ToString().ToLowerInvariant()),
            ("warmup_epochs", options.WarmupEpochs),
            ("epochs", options.Epochs),
            ("batch", options.BatchSize),
            ("size", string.Join("x", options.Size)),
            ("seed", options.Seed),
            ("data", options.Data),
            ("folds", options.Folds),
            ("fold", options.Fold),
            ("input_convention", options.InputConvention.ToString().ToLowerInvariant()),
        };
    }

    public static Summary Experiment(IReadOnlyList<(string Name, object? Value)> hparams)
    {
        var experiment = new Proto();
        foreach (var (name, value) in hparams)
            experiment.Message(4, new Proto().String(1, name).Int(4, value switch { string => 1 /* DATA_TYPE_STRING */, bool => 2 /* DATA_TYPE_BOOL */, _ => 3 /* DATA_TYPE_FLOAT64 */ }));
        foreach (var tag in MetricTags)
            experiment.Message(5, new Proto().Message(1, new Proto().String(2, tag))
                .Int(5, tag.StartsWith("final/", StringComparison.Ordinal) ? 2 /* DATASET_VALIDATION */ : 0 /* DATASET_UNKNOWN */));
        return Wrap(ExperimentTag, 2, experiment);
    }

    public static Summary SessionStart(IReadOnlyList<(string Name, object? Value)> hparams, string modelUri, double startSeconds)
    {
        var start = new Proto();
        foreach (var (name, value) in hparams)
        {
            if (value == null) continue;
            var proto = value switch
            {
                string text => Value.ForString(text),
                bool flag => Value.ForBool(flag),
                _ => Value.ForNumber(Convert.ToDouble(value, CultureInfo.InvariantCulture)),
            };
            start.Message(1, new Proto().String(1, name).Bytes(2, proto.ToByteArray())); // map<string, Value> entry
        }
        start.String(2, modelUri).Double(5, startSeconds);
        return Wrap(SessionStartTag, 3, start);
    }

    /// <summary>The session ended; status 1 is STATUS_SUCCESS.</summary>
    public static Summary SessionEnd(double endSeconds) => Wrap(SessionEndTag, 4, new Proto().Int(1, 1).Double(2, endSeconds));

    /// <summary>An HParamsPluginData (version 0, <paramref name="field"/>: the oneof member) as TensorBoard's own hparams
    /// summaries carry it: tensor-class metadata and a scalar float 0 tensor.</summary>
    private static Summary Wrap(string tag, int field, Proto data)
    {
        var content = new Proto().Int(1, 0).Message(field, data).ToByteArray();
        var metadata = new SummaryMetadata
        {
            PluginData = new SummaryMetadata.Types.PluginData { PluginName = PluginName, Content = ByteString.CopyFrom(content) },
            DataClass = DataClass.Tensor,
        };
        var tensor = new TensorProto { Dtype = DataType.DtFloat, TensorShape = new TensorShapeProto() };
        tensor.FloatVal.Add(0f);
        var summary = new Summary();
        summary.Value.Add(new Summary.Types.Value { Tag = tag, Metadata = metadata, Tensor = tensor });
        return summary;
    }

    /// <summary>A protobuf message being written (fields in the order added; defaults are written too, which proto3 readers accept).</summary>
    private sealed class Proto
    {
        private readonly MemoryStream _bytes = new();
        private readonly CodedOutputStream _out;

        public Proto() => _out = new CodedOutputStream(_bytes, leaveOpen: true);

        public Proto String(int field, string value)
        {
            _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
            _out.WriteString(value);
            return this;
        }

        public Proto Bytes(int field, byte[] value)
        {
            _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
            _out.WriteBytes(ByteString.CopyFrom(value));
            return this;
        }

        public Proto Message(int field, Proto value) => Bytes(field, value.ToByteArray());

        public Proto Int(int field, int value)
        {
            _out.WriteTag(field, WireFormat.WireType.Varint);
            _out.WriteInt32(value);
            return this;
        }

        public Proto Double(int field, double value)
        {
            _out.WriteTag(field, WireFormat.WireType.Fixed64);
            _out.WriteDouble(value);
            return this;
        }

        public byte[] ToByteArray()
        {
            _out.Flush();
            return _bytes.ToArray();
        }
    }
}
