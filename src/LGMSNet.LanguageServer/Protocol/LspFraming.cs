using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace LGMSNet.LanguageServer.Protocol;

/// <summary>The LSP base protocol: <c>Content-Length: N\r\n\r\n</c> then N bytes of UTF-8 JSON. One reader and one
/// writer, used by the server on stdio and by the tests' client on the server process's pipes.</summary>
public sealed class LspReader(Stream input)
{
    /// <summary>Largest message accepted (a whole document is sent on every change without incremental sync).</summary>
    public const int MaxMessageBytes = 64 << 20;

    private readonly Stream _input = input;
    private readonly byte[] _one = new byte[1];

    /// <summary>The next message's JSON text; null at end of stream. Throws <see cref="InvalidDataException"/> on a
    /// malformed header (the stream cannot be resynchronised).</summary>
    public async Task<string?> ReadAsync(CancellationToken cancellation = default)
    {
        int length = -1;
        while (true)
        {
            string? line = await ReadLineAsync(cancellation);
            if (line == null) return null;
            if (line.Length == 0)
            {
                if (length < 0) continue; // stray blank line between messages
                break;
            }
            int colon = line.IndexOf(':');
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (!int.TryParse(line.AsSpan(colon + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > MaxMessageBytes)
                    throw new InvalidDataException($"bad Content-Length header '{line}'");
            }
        }
        var body = new byte[length];
        int read = 0;
        while (read < length)
        {
            int n = await _input.ReadAsync(body.AsMemory(read, length - read), cancellation);
            if (n == 0) return null;
            read += n;
        }
        return Encoding.UTF8.GetString(body);
    }

    private async Task<string?> ReadLineAsync(CancellationToken cancellation)
    {
        var bytes = new List<byte>(32);
        while (true)
        {
            int n = await _input.ReadAsync(_one, cancellation);
            if (n == 0) return bytes.Count == 0 ? null : Encoding.ASCII.GetString(bytes.ToArray());
            if (_one[0] == '\n') break;
            if (_one[0] != '\r') bytes.Add(_one[0]);
            if (bytes.Count > 4096) throw new InvalidDataException("header line longer than 4096 bytes");
        }
        return Encoding.ASCII.GetString(bytes.ToArray());
    }
}

/// <summary>Writes whole messages, one at a time (requests are answered from several threads).</summary>
public sealed class LspWriter(Stream output)
{
    private readonly Stream _output = output;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public Task WriteAsync(JsonNode message) => WriteAsync(message.ToJsonString());

    /// <summary>Any text as one message (tests send malformed JSON with it).</summary>
    public void WriteRawForTests(string json) => WriteAsync(json).Wait();

    private async Task WriteAsync(string json)
    {
        byte[] body = Encoding.UTF8.GetBytes(json);
        byte[] header = Encoding.ASCII.GetBytes($"Content-Length: {body.Length}\r\n\r\n");
        await _gate.WaitAsync();
        try
        {
            await _output.WriteAsync(header);
            await _output.WriteAsync(body);
            await _output.FlushAsync();
        }
        finally
        {
            _gate.Release();
        }
    }
}
