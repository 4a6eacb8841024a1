using System.Globalization;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Network;

namespace LGMSNet.Runtime.Deploy;

/// <summary>The <c>metadata_props</c> of an exported model: what a deploying program needs to feed it
/// and read its output without any LGMSNet package. Keys are stable (<c>lgmsnet.*</c>).</summary>
public static class OnnxMetadata
{
    public const string Architecture = "lgmsnet.architecture";
    public const string YamlSha256 = "lgmsnet.yaml_sha256";
    public const string Classes = "lgmsnet.classes";
    public const string InputMultiple = "lgmsnet.input_multiple";
    public const string InputConvention = "lgmsnet.input_convention";
    public const string ChannelOrder = "lgmsnet.channel_order";
    public const string Mean = "lgmsnet.mean";
    public const string Std = "lgmsnet.std";
    public const string ExtraScale = "lgmsnet.extra_scale";

    public const string InputSize = "lgmsnet.input_size";

    public const string PreprocessingPlan = "lgmsnet.preprocessing_plan";

    public static IReadOnlyList<(string Key, string Value)> For(ArchitectureInfo info, InputConvention convention, IReadOnlyList<int>? inputSize = null,
        Data.Preprocessing.PreprocessingPlan? plan = null)
    {
        static string Join(IEnumerable<double> values) => string.Join(",", values.Select(v => Math.Round(v, 6).ToString("R", CultureInfo.InvariantCulture)));
        var list = new List<(string, string)>
        {
            (Architecture, info.Name),
            ("lgmsnet.file_stem", info.FileStem),
            (YamlSha256, info.YamlSha256),
            ("lgmsnet.yaml", info.Yaml),
            ("lgmsnet.dims", info.Dims.ToString(CultureInfo.InvariantCulture)),
            ("lgmsnet.in_channels", info.InChannels.ToString(CultureInfo.InvariantCulture)),
            (Classes, info.Classes.ToString(CultureInfo.InvariantCulture)),
            (InputMultiple, string.Join("x", info.InputMultiple)),
            (InputSize, string.Join("x", inputSize ?? info.MultiplyAddsInputSize)),
            ("lgmsnet.input", $"'{OnnxExporter.InputName}': float32 [batch, {info.InChannels}, " +
                              (info.Dims == 2 ? "height, width" : "depth, height, width") + $"], every spatial size a multiple of {string.Join("x", info.InputMultiple)}"),
            ("lgmsnet.output", $"'{OnnxExporter.OutputName}': float32 [batch, {info.Classes}, spatial...] raw logits; " +
                               (info.Classes == 1 ? "foreground where logit > 0" : "label = argmax over axis 1")),
        };
        if (info.Dims == 3)
        {
            if (plan != null)
            {
                list.Add(("lgmsnet.normalisation", "the preprocessing plan (lgmsnet.preprocessing_plan): reorient to RAS, resample to its spacing, then its intensity scheme; " +
                                                   plan.Describe()));
                list.Add((PreprocessingPlan, plan.Core.ToJson()));
            }
            else
            {
                list.Add(("lgmsnet.normalisation", "per channel: clip to the 0.5 and 99.5 percentiles, then subtract the mean and divide by the standard deviation"));
            }
            return list;
        }
        // Derived from the one definition (Intensity.FromByte(v) = (v/255 − mean)/std), not restated.
        var mean = new double[info.InChannels];
        var std = new double[info.InChannels];
        for (int c = 0; c < info.InChannels && info.InChannels is 1 or 3; c++)
        {
            double low = Intensity.FromByte(0, c, info.InChannels), high = Intensity.FromByte(255, c, info.InChannels);
            std[c] = 1 / (high - low);
            mean[c] = -low * std[c];
        }
        bool authors = convention == Data.InputConvention.Authors;
        list.Add((InputConvention, convention.ToString().ToLowerInvariant()));
        list.Add((ChannelOrder, info.InChannels == 1 ? "gray" : authors ? "bgr" : "rgb"));
        if (info.InChannels == 1) list.Add(("lgmsnet.gray", "(299·R + 587·G + 114·B + 500) / 1000, integer division"));
        list.Add((Mean, Join(mean)));
        list.Add((Std, Join(std)));
        list.Add((ExtraScale, authors ? (1 / 255.0).ToString("R", CultureInfo.InvariantCulture) : "1"));
        list.Add(("lgmsnet.normalisation", "resize the image bilinearly to the network size; input[c] = ((pixel[c] / 255 - mean[c]) / std[c]) · extra_scale, " +
                                           "channels in channel_order; resize the logits back bilinearly before thresholding"));
        return list;
    }
}
