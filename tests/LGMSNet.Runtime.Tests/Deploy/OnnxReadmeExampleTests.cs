using System.Diagnostics;
using System.Runtime.InteropServices;
using LGMSNet.Runtime.Data;
using LGMSNet.Runtime.Deploy;
using LGMSNet.Runtime.Interop;
using LGMSNet.Runtime.Tests.Support;
using SkiaSharp;
using TorchSharp;
using Xunit;

namespace LGMSNet.Runtime.Tests.Deploy;

/// <summary>The README's plain-ONNX-Runtime example (ReadmeOnnxExample.cs.txt) is compiled by the SDK's C#
/// compiler against the .NET reference assemblies, ONNX Runtime and SkiaSharp only — so it cannot use any
/// LGMSNet type — then run as its own process on an exported model and a PNG. Its mask must equal the one
/// our ONNX engine computes from the same image with our preprocessing.</summary>
public sealed class OnnxReadmeExampleTests
{
    [Theory]
    [InlineData("lgmsnet", InputConvention.Authors)]   // RGB in BGR order, binary
    [InlineData("variety", InputConvention.Standard)]  // gray, three classes
    public void Readme_example_segments_a_png_with_onnx_runtime_and_the_metadata_alone(string stem, InputConvention convention)
    {
        string work = Path.Combine(Path.GetTempPath(), "lgms-readme-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var descriptor = CliRunner.Architectures.Single(a => a.Info.FileStem == stem);
            using var network = descriptor.Create();
            OnnxExportTests.Randomise(network, 21);
            string png = Path.Combine(work, "image.png");
            int h = descriptor.Info.MultiplyAddsInputSize[0], w = descriptor.Info.MultiplyAddsInputSize[1], channels = descriptor.Info.InChannels;
            int classes = descriptor.Info.Classes, pixels = h * w;
            WriteImage(png, w, h);
            var image = ImageCodec.Read(png);
            var data = ImageFolderDataset.ToChannels(image.Pixels, pixels, channels, convention, "image");
            if (classes == 1)
            {
                // Random weights put every logit on one side of 0: move the head's bias to the median logit.
                network.eval();
                using var _ = torch.no_grad();
                using var logits0 = network.forward(Tensors.FromFloats(data, new long[] { 1, channels, h, w }));
                network.state_dict()["head.bias"].sub_(logits0.median());
            }
            string model = Path.Combine(work, "model.onnx");
            OnnxExporter.Save(OnnxExporter.Export(network, new OnnxExportOptions { Convention = convention }), model);

            string program = Compile(work);
            string mask = Path.Combine(work, "mask.png");
            var (code, output) = RunProcess(DotnetHost(), $"exec --runtimeconfig \"{Path.Combine(work, "example.runtimeconfig.json")}\" \"{program}\" \"{model}\" \"{png}\" \"{mask}\"", work);
            Assert.True(code == 0, $"the example exited with {code}:\n{output}");

            // Expected: our preprocessing and our ONNX engine on the same image.
            using var session = OnnxEngine.Open(File.ReadAllBytes(model), threads: 0);
            var (logits, _) = OnnxEngine.Run(session, data, new long[] { 1, channels, h, w });
            var expected = Enumerable.Range(0, pixels).Select(i => classes == 1
                ? (logits[i] > 0 ? 255 : 0)
                : Enumerable.Range(0, classes).MaxBy(k => logits[k * pixels + i])).ToArray();
            var written = ImageCodec.Read(mask);
            int differing = Enumerable.Range(0, pixels).Count(i => expected[i] != written.Pixels[i * 3]);
            Assert.True(differing == 0, $"{differing} of {pixels} mask pixels differ from our engine's");
            // Not a trivially uniform mask, which would agree by accident.
            Assert.True(expected.Distinct().Count() > 1, "the mask is uniform");
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    [Fact]
    public void The_readme_shows_exactly_the_example_that_is_compiled_and_run()
    {
        var lines = File.ReadAllLines(Path.Combine(Fixtures.RepoRoot, "tests", "LGMSNet.Runtime.Tests", "Deploy", "ReadmeOnnxExample.cs.txt"));
        string example = string.Join("\n", lines.SkipWhile(l => l.StartsWith("//", StringComparison.Ordinal))).TrimEnd('\n');
        string readme = File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "README.md")).Replace("\r\n", "\n");
        Assert.Contains("```csharp\n" + example + "\n```", readme);
    }

    private static void WriteImage(string path, int width, int height)
    {
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var rng = new Rng(5);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                bool inside = (x - 100) * (x - 100) + (y - 140) * (y - 140) < 60 * 60;
                byte v = (byte)((inside ? 190 : 60) + rng.Next(40));
                bitmap.SetPixel(x, y, new SKColor(v, (byte)(v * 9 / 10), (byte)(v * 8 / 10)));
            }
        using var stream = File.Create(path);
        bitmap.Encode(stream, SKEncodedImageFormat.Png, 100);
    }

    /// <summary>csc from the running SDK, references: the framework's reference pack, ONNX Runtime, SkiaSharp.</summary>
    private static string Compile(string work)
    {
        string root = DotnetRoot();
        string csc = Directory.GetFiles(Path.Combine(root, "sdk"), "csc.dll", SearchOption.AllDirectories)
            .Where(p => p.Contains(Path.Combine("Roslyn", "bincore"), StringComparison.Ordinal)).OrderBy(p => p, StringComparer.Ordinal).LastOrDefault()
            ?? throw new InvalidOperationException($"no Roslyn csc.dll under {root}/sdk");
        string version = $"{Environment.Version.Major}.{Environment.Version.Minor}";
        string refPack = Directory.GetDirectories(Path.Combine(root, "packs", "Microsoft.NETCore.App.Ref"))
            .Select(d => Path.Combine(d, "ref", "net" + version)).Where(Directory.Exists).OrderBy(p => p, StringComparer.Ordinal).LastOrDefault()
            ?? throw new InvalidOperationException($"no net{version} reference pack under {root}/packs");
        var references = Directory.GetFiles(refPack, "*.dll").ToList();
        string bin = AppContext.BaseDirectory, native = Path.Combine(bin, "runtimes", "linux-x64", "native");
        foreach (var library in new[] { "Microsoft.ML.OnnxRuntime.dll", "SkiaSharp.dll" })
        {
            File.Copy(Path.Combine(bin, library), Path.Combine(work, library));
            references.Add(Path.Combine(work, library));
        }
        foreach (var library in new[] { "libonnxruntime.so", "libSkiaSharp.so" })
            File.Copy(Path.Combine(native, library), Path.Combine(work, library));

        string source = Path.Combine(Fixtures.RepoRoot, "tests", "LGMSNet.Runtime.Tests", "Deploy", "ReadmeOnnxExample.cs.txt");
        string output = Path.Combine(work, "example.dll");
        string rsp = Path.Combine(work, "csc.rsp");
        File.WriteAllLines(rsp, new[] { "-nologo", "-target:exe", "-nullable:enable", "-langversion:latest", "-nostdlib", "-warnaserror", "-nowarn:CS1701,CS1702", /* as the SDK does: framework unification */ $"-out:\"{output}\"" }
            .Concat(references.Select(r => $"-r:\"{r}\"")).Append($"\"{source}\""));
        var (code, log) = RunProcess(DotnetHost(), $"\"{csc}\" @\"{rsp}\"", work);
        Assert.True(code == 0, $"the README example does not compile against ONNX Runtime and SkiaSharp alone:\n{log}");
        File.WriteAllText(Path.Combine(work, "example.runtimeconfig.json"),
            $"{{\"runtimeOptions\":{{\"tfm\":\"net{version}\",\"framework\":{{\"name\":\"Microsoft.NETCore.App\",\"version\":\"{Environment.Version}\"}}}}}}");
        return output;
    }

    private static string DotnetRoot() =>
        Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));

    private static string DotnetHost() => Path.Combine(DotnetRoot(), OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");

    private static (int Code, string Output) RunProcess(string file, string arguments, string directory)
    {
        var start = new ProcessStartInfo(file, arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            return (-1, "timed out after 120 s\n" + stdout.Result + stderr);
        }
        return (process.ExitCode, stdout.Result + stderr);
    }
}
