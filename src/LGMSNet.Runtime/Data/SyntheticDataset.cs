namespace LGMSNet.Runtime.Data;

/// <summary>Seeded synthetic lesion segmentation, generated on the fly in 2D or 3D. Each case has a
/// textured background with speckle (multiplicative) and Gaussian noise, 0–3 lesions with irregular
/// boundaries whose size spans an order of magnitude and whose contrast ranges from faint to strong,
/// and distractors with the lesions' contrast but the wrong shape (elongated streaks, thin rings) or
/// the opposite contrast (spots), so intensity alone does not separate foreground. About one case in
/// ten has no lesion. With several classes, lesion classes differ in texture and contrast sign.</summary>
public sealed class SyntheticDataset : ISegmentationDataset
{
    private readonly long _seed;
    private readonly int _count;
    private readonly int[] _size;
    private readonly long _offset;

    /// <param name="offset">Case index offset: train and validation sets use disjoint ranges.</param>
    public SyntheticDataset(int dims, int channels, int classes, int[] size, int count, long seed, long offset)
    {
        if (size.Length != dims) throw new ArgumentException("size needs one entry per spatial axis");
        LabelMap.CheckClasses(classes, "synthetic data");
        Dims = dims;
        Channels = channels;
        Classes = classes;
        _size = size;
        _count = count;
        _seed = seed;
        _offset = offset;
    }

    public string Description => $"synthetic {Dims}D lesions ({_count} cases of {string.Join("x", _size)}, seed {_seed})";

    public int Dims { get; }

    public int Channels { get; }

    public int Classes { get; }

    public IReadOnlyList<string> CaseIds => Enumerable.Range(0, _count).Select(i => $"synthetic-{_offset + i:D6}").ToList();

    private sealed record Shape(double[] Centre, double[] Axes, double[] Harmonics, double[] Phases, double Contrast, int Label,
        bool Ring, double Texture);

    public CaseData Load(int index)
    {
        var rng = Rng.For(_seed, "synthetic-case", _offset + index);
        int voxels = _size.Aggregate(1, (a, b) => a * b);
        int dims = Dims;

        // Background: a few smooth waves at random orientations and frequencies.
        int waves = 3 + rng.Next(3);
        var frequencies = new double[waves][];
        var phases = new double[waves];
        var amplitudes = new double[waves];
        for (int w = 0; w < waves; w++)
        {
            frequencies[w] = Enumerable.Range(0, dims).Select(_ => rng.Uniform(-6, 6)).ToArray();
            phases[w] = rng.Uniform(0, 2 * Math.PI);
            amplitudes[w] = rng.Uniform(0.02, 0.08);
        }
        double level = rng.Uniform(0.35, 0.6);

        var shapes = new List<Shape>();
        int lesions = rng.Chance(0.1) ? 0 : rng.Chance(0.65) ? 1 : 2 + rng.Next(2);
        for (int l = 0; l < lesions; l++)
        {
            int label = Classes == 1 ? 1 : 1 + rng.Next(Classes - 1);
            // Log-uniform radius: from 3% to 30% of the field of view.
            double radius = Math.Exp(rng.Uniform(Math.Log(0.03), Math.Log(0.3)));
            double sign = Classes == 1 || label % 2 == 1 ? -1 : 1;
            shapes.Add(Blob(rng, dims, radius, aspect: rng.Uniform(1.0, 1.8), contrast: sign * rng.Uniform(0.07, 0.35), label,
                ring: false, texture: Classes == 1 ? 0 : 0.04 * label));
        }
        int distractors = 1 + rng.Next(4);
        for (int d = 0; d < distractors; d++)
        {
            double kind = rng.NextDouble();
            if (kind < 0.4) // elongated streak with lesion-like contrast (acoustic shadow, duct)
                shapes.Add(Blob(rng, dims, rng.Uniform(0.04, 0.12), aspect: rng.Uniform(4, 8), contrast: -rng.Uniform(0.07, 0.3), 0, false, 0));
            else if (kind < 0.7) // thin ring with lesion-like contrast
                shapes.Add(Blob(rng, dims, rng.Uniform(0.05, 0.2), aspect: rng.Uniform(1, 1.5), contrast: -rng.Uniform(0.07, 0.25), 0, true, 0));
            else // opposite-contrast spot
                shapes.Add(Blob(rng, dims, rng.Uniform(0.02, 0.15), aspect: rng.Uniform(1, 2), contrast: rng.Uniform(0.07, 0.3), 0, false, 0));
        }

        var clean = new double[voxels];
        var labels = new byte[voxels];
        var position = new double[dims];
        var coordinates = new int[dims];
        for (int v = 0; v < voxels; v++)
        {
            int rest = v;
            for (int axis = dims - 1; axis >= 0; axis--)
            {
                coordinates[axis] = rest % _size[axis];
                rest /= _size[axis];
                position[axis] = (coordinates[axis] + 0.5) / _size[axis];
            }
            double value = level;
            for (int w = 0; w < waves; w++)
            {
                double dot = 0;
                for (int axis = 0; axis < dims; axis++) dot += frequencies[w][axis] * position[axis];
                value += amplitudes[w] * Math.Sin(2 * Math.PI * dot + phases[w]);
            }
            foreach (var shape in shapes)
            {
                double inside = Inside(shape, position, out double texturePhase);
                if (inside <= 0) continue;
                value += shape.Contrast * inside + shape.Texture * Math.Sin(texturePhase * 40) * inside;
                if (shape.Label > 0 && inside >= 0.5) labels[v] = (byte)shape.Label;
            }
            clean[v] = value;
        }

        // Channels share the anatomy with their own gain and noise; speckle and Gaussian noise per voxel.
        var data = new float[Channels * voxels];
        var noise = Rng.For(_seed, "synthetic-noise", _offset + index);
        double speckle = rng.Uniform(0.1, 0.3), gaussian = rng.Uniform(0.02, 0.06);
        for (int c = 0; c < Channels; c++)
        {
            double gain = Channels == 1 ? 1 : rng.Uniform(0.8, 1.2);
            for (int v = 0; v < voxels; v++)
            {
                double observed = clean[v] * gain * (1 + speckle * noise.Gaussian()) + gaussian * noise.Gaussian();
                data[c * voxels + v] = (float)((observed - 0.5) / 0.25);
            }
        }
        return new CaseData(CaseIds[index], new Volume(data, Channels, (int[])_size.Clone()), new LabelMap(labels, (int[])_size.Clone()),
            new CaseSource($"synthetic:{_seed}:{_offset + index}", "synthetic", (int[])_size.Clone()));
    }

    private static Shape Blob(Rng rng, int dims, double radius, double aspect, double contrast, int label, bool ring, double texture)
    {
        var centre = Enumerable.Range(0, dims).Select(_ => rng.Uniform(0.15, 0.85)).ToArray();
        var axes = Enumerable.Range(0, dims).Select(_ => radius).ToArray();
        axes[rng.Next(dims)] *= aspect;
        var harmonics = Enumerable.Range(0, 4).Select(k => rng.Uniform(0, 0.22 / (k + 1))).ToArray();
        var phases = Enumerable.Range(0, 4).Select(_ => rng.Uniform(0, 2 * Math.PI)).ToArray();
        return new Shape(centre, axes, harmonics, phases, contrast, label, ring, texture);
    }

    /// <summary>Soft membership in [0, 1] (1 well inside, fading over the boundary).</summary>
    private static double Inside(Shape s, double[] p, out double texturePhase)
    {
        double distance = 0, angle = 0;
        for (int axis = 0; axis < p.Length; axis++)
        {
            double d = (p[axis] - s.Centre[axis]) / s.Axes[axis];
            distance += d * d;
            angle += (axis + 1) * Math.Atan2(p[(axis + 1) % p.Length] - s.Centre[(axis + 1) % p.Length], p[axis] - s.Centre[axis]);
        }
        distance = Math.Sqrt(distance);
        texturePhase = distance;
        double boundary = 1;
        for (int k = 0; k < s.Harmonics.Length; k++) boundary += s.Harmonics[k] * Math.Cos((k + 2) * angle / p.Length + s.Phases[k]);
        double margin = (boundary - distance) / 0.08;
        if (s.Ring) margin = (0.12 - Math.Abs(distance - boundary)) / 0.06;
        return Math.Clamp(0.5 + margin, 0, 1);
    }
}
