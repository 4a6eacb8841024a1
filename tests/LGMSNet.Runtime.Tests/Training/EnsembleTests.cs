using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Network;
using LGMSNet.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Training;

/// <summary>Fold ensembles and flip test-time augmentation average probabilities: checked against the
/// average written out by hand, on 2D batches and through the 3D sliding window; and end to end in eval/predict.</summary>
public sealed class EnsembleTests() : TempFolderTest("lgms-ensemble-")
{
    private static ArchitectureDescriptor Architecture(string stem) => CliRunner.Architectures.First(a => a.Info.Matches(stem));

    private static SegmentationNetwork Network(string stem, long seed)
    {
        torch.manual_seed(seed);
        var network = Architecture(stem).Create();
        network.eval();
        return network;
    }

    /// <summary>A one-channel volume of seeded Gaussian noise.</summary>
    private static Volume RandomVolume(ulong seed, params int[] size)
    {
        var rng = new Rng(seed);
        return new Volume(Enumerable.Range(0, size.Aggregate(1, (a, b) => a * b)).Select(_ => (float)rng.Gaussian()).ToArray(), 1, size);
    }

    [Fact]
    public void Ensemble_with_flips_is_the_mean_of_every_members_probabilities_on_every_mirror()
    {
        using var a = Network("lgmsnet", 1);
        using var b = Network("lgmsnet", 2);
        var rng = new Rng(3);
        var images = Enumerable.Range(0, 2 * 3 * 32 * 32).Select(_ => (float)rng.Gaussian()).ToArray();
        using var logits = new Predictor(new[] { a, b }, CPU, new[] { 32, 32 }, flip: true).Logits(images, 2, 3, new[] { 32, 32 });
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var input = tensor(images, new long[] { 2, 3, 32, 32 });
        var flips = new[] { Array.Empty<long>(), new long[] { 2 }, new long[] { 3 }, new long[] { 2, 3 } };
        Tensor sum = zeros(2, 1, 32, 32);
        foreach (var network in new[] { a, b })
            foreach (var axes in flips)
                sum = sum + (axes.Length == 0 ? network.forward(input) : network.forward(input.flip(axes)).flip(axes)).sigmoid();
        var expected = sum / 8;
        Assert.True(torch.allclose(logits.sigmoid(), expected, rtol: 1e-4, atol: 1e-5), "ensemble probabilities differ from the hand-made mean");
        // One member without flips is the plain network.
        using var single = new Predictor(new[] { a }, CPU, new[] { 32, 32 }).Logits(images, 2, 3, new[] { 32, 32 });
        Assert.True(torch.allclose(single, a.forward(input), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Volumes_are_combined_window_by_window_with_softmax_probabilities()
    {
        using var a = Network("lgmsnet3d-small", 4);
        int[] window = { 32, 32, 32 };
        var volume = RandomVolume(5, 40, 40, 40);
        using var plain = new Predictor(a, CPU, window).SlidingWindow(volume);
        // The same member twice: the mean of equal probabilities is those probabilities.
        using var twice = new Predictor(new[] { a, a }, CPU, window).SlidingWindow(volume);
        Assert.Equal(plain.shape, twice.shape);
        Assert.Equal(Predictor.Labels(plain), Predictor.Labels(twice));
        using var plainProbabilities = plain.softmax(0);
        using var twiceProbabilities = twice.softmax(0);
        Assert.True(torch.allclose(plainProbabilities, twiceProbabilities, rtol: 1e-3, atol: 1e-4));
    }

    /// <summary>On the CPU the sliding window runs one window at a time by default (faster there, docs/benchmarks.md), two
    /// on a GPU; how many run together never changes the result (instance norms are per sample).</summary>
    [Fact]
    public void Windows_one_at_a_time_or_together_give_the_same_volume()
    {
        using var a = Network("lgmsnet3d-small", 6);
        int[] window = { 32, 32, 32 };
        var volume = RandomVolume(7, 48, 40, 40);
        var byDefault = new Predictor(a, CPU, window);
        Assert.Equal(1, byDefault.WindowBatch);
        Assert.Equal(2, new Predictor(a, new Device(DeviceType.CUDA, 0), window).WindowBatch); // a device value only: nothing runs on it
        using var one = byDefault.SlidingWindow(volume);
        foreach (int batch in new[] { 2, 3 })
        {
            using var together = new Predictor(a, CPU, window, windowBatch: batch).SlidingWindow(volume);
            Assert.Equal(one.shape, together.shape);
            // Float rounding only (batch 2 may take other convolution kernels): within 1e-4 of the largest logit.
            TensorAssert.MaxRelative(together, one, 1e-4, $"{batch} windows together against one at a time");
        }
    }

    /// <summary>Each window's temporaries are freed with the window: the tensors alive when a window starts do not grow
    /// with the windows done (they were held to the end of the volume, 50 MB each for lgmsnet-3d: a brain volume's
    /// resident memory grew 2 → 9 GiB).</summary>
    [Fact]
    public void The_sliding_window_frees_each_windows_temporaries()
    {
        using var a = Network("lgmsnet3d-small", 8);
        var volume = new Volume(new float[64 * 48 * 48], 1, new[] { 64, 48, 48 });
        var alive = new List<long>();
        var first = a.modules().OfType<TorchSharp.Modules.Convolution>().First();
        var hook = first.register_forward_pre_hook((_, input) =>
        {
            alive.Add(TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
            return input;
        });
        using var logits = new Predictor(a, CPU, new[] { 32, 32, 32 }).SlidingWindow(volume);
        hook.remove();
        Assert.Equal(12, alive.Count); // 3 × 2 × 2 windows, one at a time
        Assert.True(alive.Skip(1).All(n => n == alive[1]), $"tensors alive at each window's start: {string.Join(", ", alive)}");
    }

    [Fact]
    public void Eval_and_predict_take_several_weights_or_a_folder_of_runs_and_flip_tta()
    {
        string runs = Path.Combine(Dir, "folds");
        var (code, output, error) = CliRunner.Run("train", "lgmsnet", "--data", "synthetic", "--synthetic-train", "6", "--synthetic-val", "2",
            "--folds", "2", "--epochs", "1", "--batch", "3", "--size", "32", "--output", runs);
        Assert.True(code == 0, output + error);
        (code, output, error) = CliRunner.Run("eval", "lgmsnet", "-w", runs, "--data", "synthetic", "--tta", "flip", "--json");
        Assert.True(code == 0, error);
        var evaluation = CliRunner.Json(output);
        Assert.Equal(2, evaluation.GetProperty("members").GetInt32());
        Assert.Equal("flip", evaluation.GetProperty("tta").GetString());
        Assert.Contains("ensemble member 2/2", error);

        string images = Path.Combine(TestData.ImageFolder(Path.Combine(Dir, "data"), 2), "images");
        string masks = Path.Combine(Dir, "masks");
        (code, _, error) = CliRunner.Run("predict", "lgmsnet", "-w", Path.Combine(runs, "fold-0", "best.safetensors"),
            "-w", Path.Combine(runs, "fold-1", "best.safetensors"), "--input", images, "--output", masks);
        Assert.True(code == 0, error);
        Assert.Equal(2, Directory.GetFiles(masks).Length);

        (code, _, error) = CliRunner.Run("eval", "lgmsnet", "-w", Path.Combine(Dir, "data"), "--data", "synthetic");
        Assert.Equal(2, code);
        Assert.Contains("no best.safetensors in this folder or below", error);
    }
}
