using LGMSNet.Runtime.Data;
using Xunit;

namespace LGMSNet.Runtime.Tests.Data;

/// <summary>Foreground-centred 3D patches are drawn uniformly among foreground voxels (binary), or among
/// the voxels of a class chosen uniformly among those present (multi-class, as nnU-Net), so a small
/// structure after a large one is centred in proportion and not by how much background precedes it.</summary>
public sealed class SamplingTests
{
    private const int Length = 1000, Patch = 8;

    /// <summary>A 1 x 1 x 1000 volume whose intensity is the voxel index, a large structure (voxels
    /// 100..599, label 1) and a small one (700..709, label <paramref name="small"/>).</summary>
    private static CaseData Volume(byte small)
    {
        var labels = new byte[Length];
        for (int i = 100; i < 600; i++) labels[i] = 1;
        for (int i = 700; i < 710; i++) labels[i] = small;
        var image = Enumerable.Range(0, Length).Select(i => (float)i).ToArray();
        var size = new[] { 1, 1, Length };
        return new CaseData("line", new Volume(image, 1, size), new LabelMap(labels, size), null);
    }

    /// <summary>Of the patches centred on a structure, the fraction centred on the small one.</summary>
    private static double SmallShare(CaseData data, int samples = 6000)
    {
        var image = new float[Patch];
        var label = new byte[Patch];
        int big = 0, small = 0;
        for (int s = 0; s < samples; s++)
        {
            Augment.Patch(data, Rng.For(5, "sampling-test", s), new[] { 1, 1, Patch }, augment: false, image, label);
            int centre = (int)image[Patch / 2];
            if (centre is >= 99 and <= 600) big++;
            else if (centre is >= 699 and <= 710) small++;
        }
        return (double)small / (big + small);
    }

    [Fact]
    public void Binary_foreground_patches_are_uniform_over_foreground_voxels()
    {
        // Expected: (1/3 * 10/510 + 2/3 * 12/993) / (1/3 + 2/3 * 514/993) = 0.0215 (random patches included).
        // Scanning from a random offset to the next foreground voxel gives 0.066.
        double share = SmallShare(Volume(small: 1));
        Assert.InRange(share, 0.012, 0.032);
    }

    [Fact]
    public void Multi_class_foreground_patches_pick_a_present_class_then_one_of_its_voxels()
    {
        // Expected: (1/3 * 1/2 + 2/3 * 12/993) / (1/3 + 2/3 * 514/993) = 0.257.
        double share = SmallShare(Volume(small: 2));
        Assert.InRange(share, 0.21, 0.31);
    }
}
