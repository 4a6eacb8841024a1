using System.Diagnostics;
using System.Text.Json;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Data.Geometry;
using LGMSNet.Runtime.Data.Preprocessing;
using LGMSNet.Runtime.Inference;
using LGMSNet.Runtime.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace LGMSNet.Runtime.Tests.Geometry;

/// <summary>An independent reader checks our geometry: Debian's nibabel (python3-nibabel, which .ci/run installs) reads the
/// headers we read and the predictions we write, and must agree with our affine and axis codes, and find each prediction's
/// shape, affine, sform, qform and their codes equal to its input's.</summary>
public sealed class NibabelCrossCheckTests() : TempFolderTest("lgms-nibabel-")
{
    private const string Python = "/usr/bin/python3";

    private const string Script = """
        import json, sys
        import nibabel as nib
        out = {}
        for path in sys.argv[1:]:
            img = nib.load(path)
            h = img.header
            sform, scode = h.get_sform(coded=True)
            qform, qcode = h.get_qform(coded=True)
            out[path] = {
                "shape": [int(s) for s in img.shape],
                "affine": img.affine.tolist(),
                "axcodes": "".join(nib.aff2axcodes(img.affine)),
                "sform": None if sform is None else sform.tolist(), "sform_code": int(scode),
                "qform": None if qform is None else qform.tolist(), "qform_code": int(qcode),
            }
        print(json.dumps(out))
        """;

    [Fact]
    public void Nibabel_reads_our_geometry_and_finds_each_prediction_on_its_inputs_grid()
    {
        var layouts = new (string Name, string Code, double[] Spacing, double Oblique, bool Sform, bool Qform)[]
        {
            ("ras", "RAS", new[] { 2.0, 2.0, 2.0 }, 0, true, true),
            ("lps-sform", "LPS", new[] { 1.5, 1.5, 3.0 }, 0, true, false),
            ("pil-qform", "PIL", new[] { 2.0, 2.5, 2.0 }, 0, false, true),
            ("oblique", "LAS", new[] { 1.8, 1.8, 2.4 }, 25, true, true),
        };
        var descriptor = CliRunner.Architectures.Single(a => a.Info.Matches("lgmsnet3d-small"));
        var plan = new PreprocessingPlan("RAS", new[] { 2.0, 2.0, 2.5 }, IntensityScheme.ZScore, "test");
        manual_seed(3);
        using var network = descriptor.Create();
        network.eval();
        using var segmenter = Segmenter.ForNetwork(network, CPU, new[] { 32, 32, 32 }, InputConvention.Standard, plan: plan);
        var files = new List<(string Input, string Prediction, VoxelGrid Grid)>();
        foreach (var (name, code, spacing, oblique, sform, qform) in layouts)
        {
            var size = spacing.Select(s => (int)Math.Round(70 / s)).ToArray();
            string input = Temp(name + ".nii.gz"), prediction = Temp(name + "-prediction.nii.gz");
            Phantom.Write(input, null, size, Phantom.Affine(code, spacing, size, oblique), sform, qform);
            var (labels, header) = segmenter.SegmentVolume(input); // what predict writes, through the same calls
            Nifti.WriteLabels(prediction, labels, header);
            files.Add((input, prediction, VoxelGrid.Of(Nifti.ReadHeader(input), input)));
        }

        var seen = Nibabel(files.SelectMany(f => new[] { f.Input, f.Prediction }));
        foreach (var (input, prediction, grid) in files)
        {
            var theirs = seen.GetProperty(input);
            Assert.Equal(grid.Orientation.Code, theirs.GetProperty("axcodes").GetString());
            var affine = theirs.GetProperty("affine");
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) Assert.Equal(grid.Affine[r, c], affine[r][c].GetDouble(), 4);
            var written = seen.GetProperty(prediction);
            foreach (var key in new[] { "shape", "affine", "sform", "sform_code", "qform", "qform_code", "axcodes" })
                Assert.True(theirs.GetProperty(key).GetRawText() == written.GetProperty(key).GetRawText(),
                    $"{Path.GetFileName(prediction)}: nibabel reads {key} {written.GetProperty(key).GetRawText()}, its input {theirs.GetProperty(key).GetRawText()}");
        }
    }

    private JsonElement Nibabel(IEnumerable<string> paths)
    {
        string script = Temp("read.py");
        File.WriteAllText(script, Script);
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var path in paths) start.ArgumentList.Add(path);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{Python} is missing ({e.Message}); install Debian's python3-nibabel (.ci/run does)");
        }
        string output = process.StandardOutput.ReadToEnd(), error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"nibabel failed (install Debian's python3-nibabel; .ci/run does): {error}");
        return JsonDocument.Parse(output).RootElement;
    }
}
