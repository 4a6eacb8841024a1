using LGMSNet.Runtime.Data;

namespace LGMSNet.Runtime.Tests.Support;

/// <summary>A body in world space (NIfTI RAS+, mm) sampled onto any voxel grid, so one anatomy can be stored in every
/// orientation, spacing and obliquity: an ellipsoid "body" (label 0, intensity rising towards superior), a "left organ"
/// (label 1, at x &lt; 0: +x is the patient's right in RAS) and a "right organ" (label 2, at x &gt; 0) of different sizes and
/// brightness, so a mirrored left–right axis shows in the labels.</summary>
public static class Phantom
{
    public static (float Value, byte Label) At(double x, double y, double z)
    {
        double body = x * x / (40.0 * 40) + y * y / (30.0 * 30) + z * z / (34.0 * 34);
        if (body > 1) return (0, 0);
        if (Inside(x + 16, y - 2, z - 4, 9)) return (180, 1); // left organ
        if (Inside(x - 17, y + 3, z + 5, 6)) return (240, 2); // right organ, smaller and brighter
        return ((float)(100 + 0.5 * z), 0);
    }

    private static bool Inside(double x, double y, double z, double r) => x * x + y * y + z * z <= r * r;

    /// <summary>An affine whose voxel axes i, j, k run along the world directions of <paramref name="code"/> (e.g. "LPS",
    /// "PSR"), with voxel sizes <paramref name="spacing"/> (i, j, k), rotated by <paramref name="obliqueDegrees"/> about the
    /// world S axis, centred on the world origin for a grid of <paramref name="size"/> (i, j, k) voxels.</summary>
    public static double[,] Affine(string code, double[] spacing, int[] size, double obliqueDegrees = 0)
    {
        var a = new double[4, 4];
        a[3, 3] = 1;
        for (int v = 0; v < 3; v++)
        {
            char letter = code[v];
            int w = "RLAPSI".IndexOf(letter) / 2;
            double sign = "RAS".Contains(letter) ? 1 : -1;
            a[w, v] = sign * spacing[v];
        }
        if (obliqueDegrees != 0)
        {
            double t = obliqueDegrees * Math.PI / 180, c = Math.Cos(t), s = Math.Sin(t);
            for (int v = 0; v < 3; v++)
            {
                double x = a[0, v], y = a[1, v];
                a[0, v] = c * x - s * y;
                a[1, v] = s * x + c * y;
            }
        }
        for (int r = 0; r < 3; r++)
            a[r, 3] = -Enumerable.Range(0, 3).Sum(v => a[r, v] * (size[v] - 1) / 2.0);
        return a;
    }

    /// <summary>A NIfTI-1 header for <paramref name="affine"/> on a grid of <paramref name="size"/> (i, j, k): the sform
    /// and/or the qform set (both codes 1 = scanner), or neither (both codes 0, pixdim only).</summary>
    public static Nifti.Header Header(int[] size, double[,] affine, bool sform = true, bool qform = true)
    {
        var spacing = Enumerable.Range(0, 3).Select(v => Math.Sqrt(Enumerable.Range(0, 3).Sum(r => affine[r, v] * affine[r, v]))).ToArray();
        var rotation = new double[3, 3];
        for (int r = 0; r < 3; r++)
            for (int v = 0; v < 3; v++) rotation[r, v] = affine[r, v] / spacing[v];
        double det = rotation[0, 0] * (rotation[1, 1] * rotation[2, 2] - rotation[1, 2] * rotation[2, 1])
                     - rotation[0, 1] * (rotation[1, 0] * rotation[2, 2] - rotation[1, 2] * rotation[2, 0])
                     + rotation[0, 2] * (rotation[1, 0] * rotation[2, 1] - rotation[1, 1] * rotation[2, 0]);
        float qfac = det < 0 ? -1 : 1;
        if (det < 0)
            for (int r = 0; r < 3; r++) rotation[r, 2] = -rotation[r, 2];
        var (b, c, d) = Quaternion(rotation);
        return new Nifti.Header(
            new short[] { 3, (short)size[0], (short)size[1], (short)size[2], 1, 1, 1, 1 }, 16, 32,
            new[] { qfac, (float)spacing[0], (float)spacing[1], (float)spacing[2], 1, 1, 1, 1 }, 352, 1, 0, 0, 10,
            (short)(qform ? 1 : 0), (short)(sform ? 1 : 0),
            new[] { (float)b, (float)c, (float)d, (float)affine[0, 3], (float)affine[1, 3], (float)affine[2, 3] },
            Row(affine, 0), Row(affine, 1), Row(affine, 2), "phantom");
    }

    private static float[] Row(double[,] a, int r) => new[] { (float)a[r, 0], (float)a[r, 1], (float)a[r, 2], (float)a[r, 3] };

    /// <summary>The NIfTI standard's nifti_mat44_to_quatern for a proper rotation: (b, c, d) with a ≥ 0.</summary>
    private static (double B, double C, double D) Quaternion(double[,] r)
    {
        double a = r[0, 0] + r[1, 1] + r[2, 2] + 1, b, c, d;
        if (a > 0.5)
        {
            a = 0.5 * Math.Sqrt(a);
            b = 0.25 * (r[2, 1] - r[1, 2]) / a;
            c = 0.25 * (r[0, 2] - r[2, 0]) / a;
            d = 0.25 * (r[1, 0] - r[0, 1]) / a;
        }
        else
        {
            double xd = 1 + r[0, 0] - (r[1, 1] + r[2, 2]), yd = 1 + r[1, 1] - (r[0, 0] + r[2, 2]), zd = 1 + r[2, 2] - (r[0, 0] + r[1, 1]);
            if (xd > 1)
            {
                b = 0.5 * Math.Sqrt(xd);
                c = 0.25 * (r[0, 1] + r[1, 0]) / b;
                d = 0.25 * (r[0, 2] + r[2, 0]) / b;
                a = 0.25 * (r[2, 1] - r[1, 2]) / b;
            }
            else if (yd > 1)
            {
                c = 0.5 * Math.Sqrt(yd);
                b = 0.25 * (r[0, 1] + r[1, 0]) / c;
                d = 0.25 * (r[1, 2] + r[2, 1]) / c;
                a = 0.25 * (r[0, 2] - r[2, 0]) / c;
            }
            else
            {
                d = 0.5 * Math.Sqrt(zd);
                b = 0.25 * (r[0, 2] + r[2, 0]) / d;
                c = 0.25 * (r[1, 2] + r[2, 1]) / d;
                a = 0.25 * (r[1, 0] - r[0, 1]) / d;
            }
            if (a < 0) { b = -b; c = -c; d = -d; }
        }
        return (b, c, d);
    }

    /// <summary>The phantom sampled at every voxel centre of the grid: image and labels in our array layout ([k, j, i]).</summary>
    public static (Volume Image, LabelMap Labels) Sample(int[] size, double[,] affine, double noise = 0, int seed = 1)
    {
        int ni = size[0], nj = size[1], nk = size[2];
        var image = new float[ni * nj * nk];
        var labels = new byte[image.Length];
        var rng = new Rng((ulong)seed);
        for (int k = 0; k < nk; k++)
            for (int j = 0; j < nj; j++)
                for (int i = 0; i < ni; i++)
                {
                    double x = affine[0, 0] * i + affine[0, 1] * j + affine[0, 2] * k + affine[0, 3];
                    double y = affine[1, 0] * i + affine[1, 1] * j + affine[1, 2] * k + affine[1, 3];
                    double z = affine[2, 0] * i + affine[2, 1] * j + affine[2, 2] * k + affine[2, 3];
                    var (value, label) = At(x, y, z);
                    int index = (k * nj + j) * ni + i;
                    image[index] = value + (noise > 0 ? (float)(rng.Gaussian() * noise) : 0);
                    labels[index] = label;
                }
        var arraySize = new[] { nk, nj, ni };
        return (new Volume(image, 1, arraySize), new LabelMap(labels, arraySize));
    }

    /// <summary>Writes the phantom's image and labels as NIfTI files with the header of <paramref name="affine"/>.</summary>
    public static void Write(string imagePath, string? labelPath, int[] size, double[,] affine, bool sform = true, bool qform = true, double noise = 0, int seed = 1,
        bool binary = false)
    {
        var header = Header(size, affine, sform, qform);
        var (image, labels) = Sample(size, affine, noise, seed);
        if (binary)
            for (int i = 0; i < labels.Data.Length; i++) labels.Data[i] = (byte)(labels.Data[i] > 0 ? 1 : 0);
        Nifti.WriteFloat(imagePath, image, header);
        if (labelPath != null) Nifti.WriteLabels(labelPath, labels, header);
    }

    /// <summary>A Decathlon folder of phantom cases, case n stored with <paramref name="layouts"/>[n % count] (orientation
    /// code, voxel sizes i, j, k, oblique degrees).</summary>
    public static string Decathlon(string root, int cases, IReadOnlyList<(string Code, double[] Spacing, double Oblique)> layouts, double extentMm = 96, int seed = 3,
        int classes = 3, bool binary = false)
    {
        Directory.CreateDirectory(Path.Combine(root, "imagesTr"));
        Directory.CreateDirectory(Path.Combine(root, "labelsTr"));
        var entries = new List<string>();
        for (int n = 0; n < cases; n++)
        {
            var (code, spacing, oblique) = layouts[n % layouts.Count];
            var size = spacing.Select(s => (int)Math.Round(extentMm / s)).ToArray();
            string name = $"case_{n:D3}.nii.gz";
            Write(Path.Combine(root, "imagesTr", name), Path.Combine(root, "labelsTr", name), size, Affine(code, spacing, size, oblique), noise: 8, seed: seed + n,
                binary: binary);
            entries.Add($$"""{"image": "./imagesTr/{{name}}", "label": "./labelsTr/{{name}}"}""");
        }
        var names = (binary ? new[] { "background", "organs" } : new[] { "background", "left organ", "right organ" }).Concat(Enumerable.Range(3, Math.Max(0, classes - 3)).Select(c => $"unused {c}"));
        string labels = string.Join(", ", names.Take(binary ? 2 : classes).Select((n, c) => $"\"{c}\": \"{n}\""));
        File.WriteAllText(Path.Combine(root, "dataset.json"),
            $$"""{"name": "phantom", "labels": {{{labels}}}, "training": [{{string.Join(", ", entries)}}]}""");
        return root;
    }
}
