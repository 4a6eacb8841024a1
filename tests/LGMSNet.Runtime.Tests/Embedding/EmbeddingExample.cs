using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Training;

namespace LGMSNet.Runtime.Tests.Embedding;

/// <summary>The README's "Embedding" example, verbatim between the markers (EmbeddingTests checks that the README
/// shows exactly these lines and runs them).</summary>
public static class EmbeddingExample
{
    public static (LabelMap Mask, BinaryMetrics Metrics) Run(string weights, string image, string truthMask)
    {
        // README example begins
        // A module compiled from lgmsnet.yaml, with the weights a training run selected.
        using var segmenter = Segmenter.Load(new LGMSNet.Architectures.LgmsNet(), weights);
        LabelMap mask = segmenter.SegmentImage(image);      // at the image's own size; 1 = lesion

        // Score it against a ground-truth mask (0/1, 0/255 or JPEG masks are all read the same way).
        byte[] truth = ImageCodec.Gray(ImageCodec.Read(truthMask));
        MaskRule.Binarise(truth);
        BinaryMetrics metrics = BinaryMetrics.Of(mask.Data, truth);
        Console.WriteLine($"IoU {metrics.Iou:0.000}, Dice {metrics.Dice:0.000}");
        // README example ends
        return (mask, metrics);
    }
}
