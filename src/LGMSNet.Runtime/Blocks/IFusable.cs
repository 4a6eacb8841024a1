namespace LGMSNet.Runtime.Blocks;

/// <summary>A block that can rewrite itself into an equivalent, faster inference-only form
/// (BatchNorm folded into convolutions, merged kernels). Never used for training.</summary>
public interface IFusable
{
    void FuseForInference();
}
