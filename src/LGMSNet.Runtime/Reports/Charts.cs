using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.IO;
using LGMSNet.Runtime.Training;
using SkiaSharp;

namespace LGMSNet.Runtime.Reports;

/// <summary>The pictures of a run: loss and metric curves, and validation overlays.</summary>
public static class Charts
{
    /// <summary>Two panels: train/validation loss, and validation IoU/F1 (or mean Dice), by epoch.</summary>
    public static void Curves(string path, IReadOnlyList<EpochRecord> history, string title)
    {
        const int width = 1000, height = 420;
        var epochs = history.Select(r => (double)r.Epoch).ToArray();
        var validated = history.Where(r => r.Validation != null).ToList();
        var validationEpochs = validated.Select(r => (double)r.Epoch).ToArray();

        var loss = new ScottPlot.Plot();
        var train = loss.Add.Scatter(epochs, history.Select(r => r.TrainLoss).ToArray());
        train.LegendText = "train loss";
        if (validated.Count > 0)
        {
            var val = loss.Add.Scatter(validationEpochs, validated.Select(r => r.Validation!.Loss).ToArray());
            val.LegendText = "validation loss";
        }
        loss.Title($"{title}: loss");
        loss.XLabel("epoch");
        loss.ShowLegend();

        var metrics = new ScottPlot.Plot();
        if (validated.Count > 0)
        {
            var iou = metrics.Add.Scatter(validationEpochs, validated.Select(r => r.Validation!.Iou).ToArray());
            iou.LegendText = "validation IoU";
            var f1 = metrics.Add.Scatter(validationEpochs, validated.Select(r => r.Validation!.F1).ToArray());
            f1.LegendText = validated[0].Validation!.PerClassDice != null ? "validation mean Dice" : "validation F1";
        }
        metrics.Title($"{title}: validation metrics");
        metrics.XLabel("epoch");
        metrics.Axes.SetLimitsY(0, 1);
        metrics.ShowLegend();

        using var surface = SKSurface.Create(new SKImageInfo(width * 2, height));
        surface.Canvas.Clear(SKColors.White);
        using (var left = SKImage.FromEncodedData(loss.GetImageBytes(width, height, ScottPlot.ImageFormat.Png)))
            surface.Canvas.DrawImage(left, 0, 0);
        using (var right = SKImage.FromEncodedData(metrics.GetImageBytes(width, height, ScottPlot.ImageFormat.Png)))
            surface.Canvas.DrawImage(right, width, 0);
        Save(path, surface);
    }

    /// <summary>A grid of validation cases: the image (first channel; for volumes the slice with the most
    /// foreground) with the ground-truth outline in green, the prediction's in red, shared boundary in yellow.</summary>
    public static void Overlays(string path, IReadOnlyList<(CaseData Case, byte[] Prediction)> cases)
    {
        using var surface = OverlaySurface(cases, 256);
        Save(path, surface);
    }

    /// <summary>The overlays of <see cref="Overlays(string, IReadOnlyList{ValueTuple{CaseData, byte[]}})"/> with tiles of
    /// <paramref name="tile"/> pixels, as RGB bytes (row-major, height × width × 3), for writers that encode images themselves.</summary>
    public static (byte[] Rgb, int Height, int Width) OverlayPixels(IReadOnlyList<(CaseData Case, byte[] Prediction)> cases, int tile)
    {
        using var surface = OverlaySurface(cases, tile);
        using var snapshot = surface.Snapshot();
        var info = new SKImageInfo(snapshot.Width, snapshot.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[info.BytesSize];
        var handle = System.Runtime.InteropServices.GCHandle.Alloc(rgba, System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            if (!snapshot.ReadPixels(info, handle.AddrOfPinnedObject(), info.RowBytes, 0, 0))
                throw new InvalidOperationException("could not read the overlay pixels back");
        }
        finally
        {
            handle.Free();
        }
        var rgb = new byte[info.Width * info.Height * 3];
        for (int p = 0, q = 0; q < rgb.Length; p += 4, q += 3)
        {
            rgb[q] = rgba[p];
            rgb[q + 1] = rgba[p + 1];
            rgb[q + 2] = rgba[p + 2];
        }
        return (rgb, info.Height, info.Width);
    }

    private static SKSurface OverlaySurface(IReadOnlyList<(CaseData Case, byte[] Prediction)> cases, int tile)
    {
        const int columns = 4;
        int rows = Math.Max(1, (cases.Count + columns - 1) / columns);
        var surface = SKSurface.Create(new SKImageInfo(tile * columns, tile * rows + 24));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.Black);
        using var font = new SKFont(SKTypeface.Default, 14);
        using var textPaint = new SKPaint { Color = SKColors.White, IsAntialias = true };
        canvas.DrawText("green: ground truth   red: prediction   yellow: both", 6, tile * rows + 17, font, textPaint);
        for (int i = 0; i < cases.Count; i++)
        {
            var (data, prediction) = cases[i];
            var (gray, truth, predicted, h, w) = Slice(data, prediction);
            using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
            var pixels = new byte[w * h * 4];
            for (int p = 0; p < w * h; p++)
            {
                byte g = gray[p];
                bool truthEdge = Edge(truth, p, w, h), predictedEdge = Edge(predicted, p, w, h);
                (byte r, byte gg, byte b) = truthEdge && predictedEdge ? ((byte)250, (byte)220, (byte)30)
                    : truthEdge ? ((byte)40, (byte)230, (byte)40)
                    : predictedEdge ? ((byte)240, (byte)40, (byte)40) : (g, g, g);
                pixels[p * 4] = r;
                pixels[p * 4 + 1] = gg;
                pixels[p * 4 + 2] = b;
                pixels[p * 4 + 3] = 255;
            }
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
            var target = new SKRect(i % columns * tile, i / columns * tile, (i % columns + 1) * tile, (i / columns + 1) * tile);
            using var image = SKImage.FromBitmap(bitmap);
            canvas.DrawImage(image, target, new SKSamplingOptions(SKFilterMode.Nearest));
            canvas.DrawText(data.Id.Length > 30 ? data.Id[..30] : data.Id, target.Left + 4, target.Top + 16, font, textPaint);
        }
        return surface;
    }

    private static (byte[] Gray, byte[] Truth, byte[] Predicted, int H, int W) Slice(CaseData data, byte[] prediction)
    {
        var size = data.Image.Size;
        int h = size[^2], w = size[^1], plane = h * w;
        int offset = size.Length == 3 ? size[0] / 2 * plane : 0;
        if (size.Length == 3 && data.Label != null)
        {
            // Show the slice with the most foreground, the middle one when there is none.
            int bestCount = -1;
            for (int z = 0; z < size[0]; z++)
            {
                int count = 0;
                for (int p = 0; p < plane; p++) if (data.Label.Data[z * plane + p] != 0) count++;
                if (count > bestCount) { bestCount = count; offset = z * plane; }
            }
            if (bestCount == 0) offset = size[0] / 2 * plane;
        }
        var channel = data.Image.Data.AsSpan(offset, plane).ToArray();
        float min = channel.Min(), max = channel.Max();
        var gray = channel.Select(v => (byte)(max > min ? (v - min) / (max - min) * 255 : 0)).ToArray();
        var truth = data.Label?.Data.AsSpan(offset, plane).ToArray() ?? new byte[plane];
        return (gray, truth, prediction.AsSpan(offset, plane).ToArray(), h, w);
    }

    /// <summary>A labelled pixel with a differently labelled 4-neighbour (or on the border).</summary>
    private static bool Edge(byte[] mask, int p, int w, int h)
    {
        if (mask[p] == 0) return false;
        int y = p / w, x = p % w;
        return x == 0 || y == 0 || x == w - 1 || y == h - 1
            || mask[p - 1] != mask[p] || mask[p + 1] != mask[p] || mask[p - w] != mask[p] || mask[p + w] != mask[p];
    }

    private static void Save(string path, SKSurface surface)
    {
        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, stream => png.SaveTo(stream));
    }
}
