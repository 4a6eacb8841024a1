using LGMSNet.Runtime.Network;

namespace LGMSNet.Runtime.Cli;

public static class LgmsCli
{
    public static int Run(string[] args, IReadOnlyList<ArchitectureDescriptor> architectures)
    {
        foreach (var a in architectures)
        {
            using var net = a.Create();
            long counted = net.parameters().Sum(p => p.numel());
            Console.WriteLine($"{a.Info.FileStem} {a.Info.Name} params {a.Info.Parameters} counted {counted} macs {a.Info.MultiplyAdds}");
            using var x = TorchSharp.torch.randn(2, a.Info.InChannels, 64, 64);
            using var y = net.forward(x);
            Console.WriteLine(string.Join(",", y.shape));
        }
        return 0;
    }
}
