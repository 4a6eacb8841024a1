using System.Collections;

namespace LGMSNet.Runtime.Data.Preprocessing;

/// <summary>Cached cases as a read-only list of decoded cases that reads each one only when it is asked for (and keeps
/// none), so evaluating a set holds one volume at a time. It is an <see cref="IList{T}"/> so that LINQ's Skip/Take index
/// into it instead of decoding every case before the one wanted. <see cref="Labels"/> summarises the labels from the
/// cache records without reading any volume.</summary>
public sealed class CachedCaseList(IReadOnlyList<CachedCase> cases) : IList<CaseData>, IReadOnlyList<CaseData>
{
    public IReadOnlyList<CachedCase> Cases { get; } = cases;

    public CaseData this[int index]
    {
        get => Cases[index].Load();
        set => throw new NotSupportedException();
    }

    public int Count => Cases.Count;

    public bool IsReadOnly => true;

    public LabelSummary Labels(string set) => LabelSummary.FromCounts(set,
        Cases.Select(c => (c.Info.ClassCounts.Skip(1).Sum(), c.Info.ClassCounts.Sum())).ToList(), MaskRule.Name(MaskEncoding.ClassIndices));

    public IEnumerator<CaseData> GetEnumerator()
    {
        for (int i = 0; i < Cases.Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public int IndexOf(CaseData item) => throw new NotSupportedException();

    public bool Contains(CaseData item) => throw new NotSupportedException();

    public void CopyTo(CaseData[] array, int arrayIndex)
    {
        for (int i = 0; i < Cases.Count; i++) array[arrayIndex + i] = this[i];
    }

    public void Insert(int index, CaseData item) => throw new NotSupportedException();

    public void RemoveAt(int index) => throw new NotSupportedException();

    public void Add(CaseData item) => throw new NotSupportedException();

    public void Clear() => throw new NotSupportedException();

    public bool Remove(CaseData item) => throw new NotSupportedException();
}
