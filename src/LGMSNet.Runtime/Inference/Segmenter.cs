using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Inference;

/// <summary>A trained network ready to segment, for programs that embed the runtime (and for the CLI's
/// <c>eval</c> and <c>predict</c>, which use it too): the weights loaded into a generated module, the input size and
/// intensity convention the weights were trained with, the fused inference form, and the whole path from an image
/// or volume to a label map at that case's own size.</summary>
/// <example><code>
/// using var segmenter = Segmenter.Load(new MyNets.LgmsNet(), "runs/busi/best.safetensors");
/// LabelMap mask = segmenter.SegmentImage("case.png");   // the image's size; 1 = foreground
/// </code></example>
public sealed class Segmenter : IDisposable
{
    private Segmenter(IReadOnlyList<SegmentationNetwork> networks, LoadedWeights? weights, Device device, int[] inputSize, InputConvention convention,
        bool flip = false, Data.Preprocessing.PreprocessingPlan? plan = null)
    {
        Plan = plan;
        Networks = networks;
        Weights = weights;
        Device = device;
        InputSize = inputSize;
        Convention = convention;
        Flip = flip;
        Predictor = new Predictor(networks, device, inputSize, flip, mirrorAxes: plan?.ArrayMirrorAxes);
    }

    /// <summary>The preprocessing plan the weights were trained with (3D runs since plans exist): volumes are reoriented,
    /// resampled and normalised by it, and predictions are taken back to each volume's own grid. Null: volumes are used as
    /// stored, standardised per case (checkpoints written before plans, 2D).</summary>
    public Data.Preprocessing.PreprocessingPlan? Plan { get; }

    /// <summary>The network (the first member of an ensemble).</summary>
    public SegmentationNetwork Network => Networks[0];

    /// <summary>Every member: one network, or a fold ensemble whose probabilities are averaged.</summary>
    public IReadOnlyList<SegmentationNetwork> Networks { get; }

    /// <summary>Whether predictions also average over every mirror image of the input (test-time augmentation).</summary>
    public bool Flip { get; }

    public ArchitectureInfo Architecture => Network.Architecture;

    /// <summary>What was loaded: the file, its key layout and the convention it records (null when the network came
    /// ready-made, see <see cref="ForNetwork"/>).</summary>
    public LoadedWeights? Weights { get; }

    public Device Device { get; }

    /// <summary>The network's input size: images are resized to it (volumes are tiled with windows of it).</summary>
    public int[] InputSize { get; }

    /// <summary>How image intensities are fed: what the weights record, unless the caller chose.</summary>
    public InputConvention Convention { get; }

    public Predictor Predictor { get; }

    /// <summary>Loads <paramref name="weights"/> (a checkpoint, a weights file, or the authors' reference-layout
    /// safetensors) into <paramref name="network"/>, which the segmenter then owns. <paramref name="inputSize"/>
    /// defaults to the size the checkpoint was trained at (else the YAML's input_size); <paramref name="convention"/>
    /// to what the file records (the authors' files: the authors' convention; otherwise standard).</summary>
    public static Segmenter Load(SegmentationNetwork network, string weights, string device = "cpu", int[]? inputSize = null,
        InputConvention? convention = null, bool fuse = true)
    {
        var loaded = Checkpoint.LoadWeights(network, weights);
        var torchDevice = TorchRuntime.Device(device);
        network.to(torchDevice);
        network.eval();
        if (fuse) network.FuseForInference();
        // Read (and so validate) the training progress even when the size is given: corrupt metadata is an error.
        var trainedSize = Checkpoint.ReadProgress(loaded.File)?.InputSize;
        var size = inputSize ?? trainedSize ?? network.Architecture.MultiplyAddsInputSize.ToArray();
        if (network.Architecture.CheckInputSize(size.Select(v => (long)v).ToArray()) is { } problem)
            throw new IO.UserErrorException($"input size {string.Join("x", size)}: {problem}", 2);
        return new Segmenter(new[] { network }, loaded, torchDevice, size, convention ?? loaded.Convention ?? InputConvention.Standard,
            plan: Checkpoint.ReadPlan(loaded.File));
    }

    /// <summary>A segmenter around a network that already holds its weights (e.g. an ONNX Runtime engine, which is
    /// a <see cref="SegmentationNetwork"/> too); the caller says the size and convention they were trained with.</summary>
    public static Segmenter ForNetwork(SegmentationNetwork network, Device device, int[] inputSize, InputConvention convention, bool flip = false,
        Data.Preprocessing.PreprocessingPlan? plan = null)
    {
        if (network.Architecture.CheckInputSize(inputSize.Select(v => (long)v).ToArray()) is { } problem)
            throw new IO.UserErrorException($"input size {string.Join("x", inputSize)}: {problem}", 2);
        return new Segmenter(new[] { network }, null, device, inputSize, convention, flip, plan);
    }

    /// <summary>An ensemble of <paramref name="members"/> (e.g. the folds of a K-fold study), which it then owns:
    /// probabilities are averaged over members (and over mirror images with <paramref name="flip"/>); the input size,
    /// convention and device are the first member's.</summary>
    public static Segmenter Ensemble(IReadOnlyList<Segmenter> members, bool flip = false)
    {
        if (members.Count == 0) throw new ArgumentException("an ensemble needs at least one member", nameof(members));
        var first = members[0];
        if (members.Any(m => m.Architecture.YamlSha256 != first.Architecture.YamlSha256))
            throw new ArgumentException("ensemble members must be the same architecture", nameof(members));
        if (members.Any(m => m.Plan?.Key != first.Plan?.Key))
            throw new IO.UserErrorException("the ensemble's members were trained with different preprocessing plans (spacing, orientation or intensity); " +
                                            "their probabilities would be averaged on different grids - ensemble runs of one plan", 2);
        return new Segmenter(members.SelectMany(m => m.Networks).ToList(), first.Weights, first.Device, first.InputSize, first.Convention, flip, first.Plan);
    }

    /// <summary>The same weights, size and convention run by <paramref name="network"/> (built from this one's, e.g.
    /// exported to ONNX Runtime); this segmenter's network is disposed and the result owns the new one.</summary>
    public Segmenter WithNetwork(SegmentationNetwork network)
    {
        if (Networks.Count != 1) throw new InvalidOperationException("an ensemble's networks are replaced member by member");
        if (!ReferenceEquals(network, Network)) Network.Dispose();
        return new Segmenter(new[] { network }, Weights, Device, InputSize, Convention, Flip, Plan);
    }

    /// <summary>Segments a PNG, JPEG or BMP image (2D architectures): class indices at the image's own size
    /// (binary: 0 and 1).</summary>
    public LabelMap SegmentImage(string file) => Segment(ImageCodec.Read(file), Path.GetFileName(file));

    /// <summary>Segments a decoded image: it is resized to <see cref="InputSize"/>, normalised with
    /// <see cref="Convention"/>, and the logits are resized back (bilinear) before thresholding or argmax.</summary>
    public LabelMap Segment(RgbImage image, string name = "image")
    {
        if (Architecture.Dims != 2) throw new IO.UserErrorException($"{Architecture.Name} is a 3D architecture: give it a volume, not an image ({name})", 2);
        int height = InputSize[0], width = InputSize[1];
        var resized = ImageCodec.ResizeBilinear(image.Pixels, image.Width, image.Height, 3, width, height);
        var data = ImageFolderDataset.ToChannels(resized, width * height, Architecture.InChannels, Convention, name);
        using var scope = NewDisposeScope();
        var logits = Predictor.Logits(data, 1, Architecture.InChannels, InputSize);
        var original = nn.functional.interpolate(logits, new long[] { image.Height, image.Width }, mode: InterpolationMode.Bilinear, align_corners: false)[0];
        return new LabelMap(Predictor.Labels(original), new[] { image.Height, image.Width });
    }

    /// <summary>Segments a NIfTI volume (3D architectures) with sliding windows; the header comes back so the
    /// label map can be written with the volume's geometry (<see cref="Nifti.WriteLabels"/>). With a <see cref="Plan"/>
    /// the volume is reoriented, resampled and normalised by it, and the probabilities are resampled back onto the
    /// volume's own grid before they become labels: the result always has the input's size and geometry.</summary>
    public (LabelMap Labels, Nifti.Header Header) SegmentVolume(string file)
    {
        if (Architecture.Dims != 3) throw new IO.UserErrorException($"{Architecture.Name} is a 2D architecture: give it an image, not a volume ({file})", 2);
        var (header, volume) = Nifti.Read(file);
        if (Plan == null) return (SegmentInPlace(volume, file), header);
        string id = Path.GetFileName(file);
        return (SegmentPlanned(volume, Data.Preprocessing.CasePreprocessor.Grid(header, id, file, note => Notes.Add(note)), id), header);
    }

    /// <summary>What inputs left to an assumption (a volume without orientation codes), for the caller to show.</summary>
    public List<string> Notes { get; } = new();

    /// <summary>Segments a volume already in memory (channels first, our array order [k, j, i]) that lies on
    /// <paramref name="grid"/> (e.g. <see cref="Data.Geometry.VoxelGrid.Of"/> of its NIfTI header): as
    /// <see cref="SegmentVolume"/> does, the <see cref="Plan"/> is applied (reorientation, resampling, the plan's
    /// intensity scheme) and the labels come back on <paramref name="grid"/>; weights without a plan see the volume as
    /// stored, standardised per channel. <paramref name="volume"/> is not changed.</summary>
    public LabelMap Segment(Volume volume, Data.Geometry.VoxelGrid grid, string name = "volume")
    {
        if (Architecture.Dims != 3) throw new IO.UserErrorException($"{Architecture.Name} is a 2D architecture: give it an image, not a volume ({name})", 2);
        if (!grid.Size.SequenceEqual(volume.Size))
            throw new ArgumentException($"{name}: the volume is {Data.Geometry.VoxelGrid.Shape(volume.Size)} voxels but its grid {Data.Geometry.VoxelGrid.Shape(grid.Size)}", nameof(grid));
        return Plan == null ? Segment(volume, name) : SegmentPlanned(volume, grid, name);
    }

    /// <summary>Segments a volume already in memory (channels first) as stored, standardised per channel: for weights
    /// without a <see cref="Plan"/>. Weights trained with a plan refuse it, since a volume without its grid cannot be
    /// reoriented or resampled to the plan's spacing: give the grid (<see cref="Segment(Volume, Data.Geometry.VoxelGrid, string)"/>).</summary>
    public LabelMap Segment(Volume volume, string name = "volume")
    {
        if (Plan is { } plan)
            throw new IO.UserErrorException($"{name}: {Architecture.Name}'s weights were trained with a preprocessing plan ({plan.Describe()}), which needs " +
                                            "the volume's grid to reorient and resample it: call Segment(volume, grid) with its VoxelGrid " +
                                            "(VoxelGrid.Of(header, file)) or SegmentVolume(file)", 2);
        return SegmentInPlace(volume with { Data = (float[])volume.Data.Clone() }, name);
    }

    /// <summary>The plan's path, shared by files and volumes in memory: prepare (reorient, normalise, resample), slide the
    /// windows, take the probabilities back to the stored grid.</summary>
    private LabelMap SegmentPlanned(Volume volume, Data.Geometry.VoxelGrid grid, string id)
    {
        if (volume.Channels != Architecture.InChannels)
            throw new DataException($"{id} has {volume.Channels} channel(s); {Architecture.Name} wants {Architecture.InChannels}");
        var prepared = Data.Preprocessing.CasePreprocessor.Prepare(Plan!, grid, volume, null, id);
        using var logits = Predictor.SlidingWindow(prepared.Image);
        return new LabelMap(prepared.Mapping.Labels(logits), volume.Size);
    }

    private LabelMap SegmentInPlace(Volume volume, string name)
    {
        if (volume.Channels != Architecture.InChannels)
            throw new DataException($"{name} has {volume.Channels} channel(s); {Architecture.Name} wants {Architecture.InChannels}");
        Intensity.Standardise(volume.Data, volume.Channels);
        using var logits = Predictor.SlidingWindow(volume);
        return new LabelMap(Predictor.Labels(logits), volume.Size);
    }

    public void Dispose()
    {
        foreach (var network in Networks) network.Dispose();
    }
}
