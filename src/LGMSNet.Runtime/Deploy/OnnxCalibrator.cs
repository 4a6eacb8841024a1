using Google.Protobuf;
using LGMSNet.Runtime.Data;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Deploy;

/// <summary>Measures the range of each activation that int8 quantisation will round: the float model, with those
/// tensors added as outputs, runs on calibration inputs in ONNX Runtime (the engine the quantised model runs on).</summary>
public static class OnnxCalibrator
{
    /// <summary>Ranges of <paramref name="targets"/> over <paramref name="inputs"/> (network inputs, already preprocessed):
    /// <see cref="CalibrationMethod.MinMax"/> takes the extremes over all inputs; <see cref="CalibrationMethod.Percentile"/>
    /// takes, per input, the values that leave out the (100 − p) % most extreme on each side, then the widest of those
    /// over the inputs (a rare outlier pixel does not stretch the step of every other value).</summary>
    public static Dictionary<string, ActivationRange> Calibrate(ModelProto model, IReadOnlyList<string> targets,
        IEnumerable<(float[] Data, long[] Shape)> inputs, QuantizationOptions options, int threads = 0)
    {
        if (targets.Count == 0) return new Dictionary<string, ActivationRange>(StringComparer.Ordinal); // nothing to quantise
        var probe = OnnxQuantizer.WithOutputs(model, targets);
        using var session = OnnxEngine.Open(probe.ToByteArray(), threads);
        var ranges = new Dictionary<string, ActivationRange>(StringComparer.Ordinal);
        int seen = 0;
        foreach (var (data, shape) in inputs)
        {
            using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, new[] { OnnxExporter.InputName }, new[] { value }, targets.ToArray());
            for (int i = 0; i < targets.Count; i++)
            {
                var span = outputs[i].GetTensorDataAsSpan<float>();
                var range = options.Method == CalibrationMethod.MinMax ? MinMax(span) : Percentiles(span, options.Percentile);
                ranges[targets[i]] = ranges.TryGetValue(targets[i], out var known)
                    ? new ActivationRange(Math.Min(known.Min, range.Min), Math.Max(known.Max, range.Max))
                    : range;
            }
            seen++;
        }
        if (seen == 0) throw new ArgumentException("calibration needs at least one input", nameof(inputs));
        return ranges;
    }

    private static ActivationRange MinMax(ReadOnlySpan<float> values)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return new ActivationRange(min, max);
    }

    /// <summary>The p-th and (100 − p)-th percentiles, by top-k on each side (k = the values left out).</summary>
    private static ActivationRange Percentiles(ReadOnlySpan<float> values, double percentile)
    {
        long k = Math.Max(1, (long)Math.Ceiling(values.Length * (100 - percentile) / 100));
        if (k >= values.Length) return MinMax(values);
        using var scope = NewDisposeScope();
        var flat = tensor(values.ToArray());
        float high = flat.topk((int)k, largest: true).values.min().item<float>();
        float low = flat.topk((int)k, largest: false).values.max().item<float>();
        return new ActivationRange(low, high);
    }

    /// <summary>Network inputs from cases as inference sees them: 2D images resized to <paramref name="size"/>
    /// (the dataset did that), volumes as one window of <paramref name="size"/> at their centre.</summary>
    public static IEnumerable<(float[] Data, long[] Shape)> Inputs(IEnumerable<CaseData> cases, int[] size)
    {
        foreach (var data in cases)
        {
            var image = data.Image;
            var sample = size.Length == 2
                ? Augment.Transform2D(data, 0, false, false)
                : Augment.Crop(data, image.Size.Select((s, axis) => Math.Max(0, (s - size[axis]) / 2)).ToArray(), size);
            var batch = Augment.Collate(new[] { sample }, image.Channels, size.Length == 2 ? image.Size : size);
            yield return (batch.Images, new long[] { 1, image.Channels }.Concat(batch.Size.Select(s => (long)s)).ToArray());
        }
    }
}
