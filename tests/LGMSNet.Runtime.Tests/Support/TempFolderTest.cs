namespace LGMSNet.Runtime.Tests.Support;

/// <summary>A test class with its own temporary folder, deleted after each test.</summary>
public abstract class TempFolderTest(string prefix) : IDisposable
{
    protected string Dir { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    public void Dispose()
    {
        Directory.Delete(Dir, true);
        GC.SuppressFinalize(this);
    }

    protected string Temp(string name) => Path.Combine(Dir, name);
}
