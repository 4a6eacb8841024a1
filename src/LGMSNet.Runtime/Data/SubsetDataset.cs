namespace LGMSNet.Runtime.Data;

/// <summary>The cases of <paramref name="source"/> named in <paramref name="caseIds"/>, in that order
/// (a fold of a dataset that cannot be reopened with a case list, such as the synthetic one).</summary>
public sealed class SubsetDataset(ISegmentationDataset source, IReadOnlyList<string> caseIds) : ISegmentationDataset
{
    private readonly int[] _indices = Indices(source, caseIds);

    public string Description => $"{source.Description}, {caseIds.Count} of them";

    public int Dims => source.Dims;

    public int Channels => source.Channels;

    public int Classes => source.Classes;

    public IReadOnlyList<string> CaseIds => caseIds;

    public CaseData Load(int index) => source.Load(_indices[index]);

    private static int[] Indices(ISegmentationDataset source, IReadOnlyList<string> caseIds)
    {
        var positions = source.CaseIds.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => p.i, StringComparer.Ordinal);
        return caseIds.Select(id => positions.TryGetValue(id, out int i) ? i : throw new DataException($"case '{id}' is not in {source.Description}")).ToArray();
    }
}
