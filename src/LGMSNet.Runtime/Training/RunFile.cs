using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LGMSNet.Runtime.IO;

namespace LGMSNet.Runtime.Training;

/// <summary>A run folder's run.json: the run's options (<see cref="TrainOptions"/>, what --resume reads) and its
/// <see cref="RunStatus"/> under "status". Every write is atomic and keeps the other part.</summary>
public static class RunFile
{
    public const string FileName = "run.json";
    private const string StatusKey = "status";

    public static string PathOf(string folder) => Path.Combine(folder, FileName);

    /// <summary>The run's options; a missing or damaged file is a user-facing error naming it.</summary>
    public static TrainOptions ReadOptions(string folder)
    {
        string file = PathOf(folder);
        if (!File.Exists(file)) throw new UserErrorException($"{folder}: no {FileName} (not a run folder)", 2);
        TrainOptions? options;
        try
        {
            options = JsonSerializer.Deserialize<TrainOptions>(File.ReadAllText(file), RuntimeJson.Options);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            throw new UserErrorException($"{file}: not a valid run.json ({e.Message})", 2);
        }
        if (options == null || string.IsNullOrWhiteSpace(options.Architecture))
            throw new UserErrorException($"{file}: not a valid run.json (it names no architecture)", 2);
        return options;
    }

    /// <summary>Writes the options, keeping a recorded status.</summary>
    public static void WriteOptions(string folder, TrainOptions options)
    {
        var node = JsonSerializer.SerializeToNode(options, RuntimeJson.Options)!.AsObject();
        if (ReadNode(folder)?[StatusKey] is { } status) node[StatusKey] = status.DeepClone();
        Write(folder, node);
    }

    /// <summary>The recorded status; null when the file, or its status, is absent or unreadable.</summary>
    public static RunStatus? ReadStatus(string folder)
    {
        try
        {
            return ReadNode(folder)?[StatusKey] is JsonObject status ? status.Deserialize<RunStatus>(RuntimeJson.Options) : null;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Records <paramref name="status"/>, keeping the options.</summary>
    public static void WriteStatus(string folder, RunStatus status)
    {
        var node = ReadNode(folder);
        if (node == null && File.Exists(PathOf(folder))) return; // a damaged run.json is reported by its readers, never replaced
        node ??= new JsonObject();
        node[StatusKey] = JsonSerializer.SerializeToNode(status, RuntimeJson.Options);
        Write(folder, node);
    }

    /// <summary>Records a status derived from the one on file (a new one when none is).</summary>
    public static void UpdateStatus(string folder, Func<RunStatus?, RunStatus> update) => WriteStatus(folder, update(ReadStatus(folder)));

    /// <summary>What a reader should conclude about the run in <paramref name="folder"/>.</summary>
    public static RunCondition Inspect(string folder)
    {
        var status = ReadStatus(folder);
        if (status == null)
        {
            // Runs from before states were recorded: the overlays are written only when a run finishes.
            return File.Exists(Path.Combine(folder, "overlays.png"))
                ? new RunCondition(RunStatus.Finished, "finished (recorded by a version that kept no run state)", null)
                : new RunCondition(RunCondition.Unknown, "no recorded state and no final report (an unfinished run, or one written before run states were recorded)", null);
        }
        string epochs = $"{status.EpochsDone} of {status.Epochs} epochs";
        string when = status.Updated.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";
        switch (status.State)
        {
            case RunStatus.Running:
                bool? alive = new ProcessIdentity(status.Host, status.Pid, status.ProcessStarted).IsAlive();
                return alive switch
                {
                    true => new RunCondition(RunStatus.Running, $"running: {epochs} done (process {status.Pid}, last update {when})", status),
                    null => new RunCondition(RunStatus.Running,
                        $"running on {status.Host} (process {status.Pid}): {epochs} done, last update {when}; this host cannot check that process", status),
                    false => new RunCondition(RunCondition.Died,
                        $"died without a word after {epochs}: its process ({status.Pid} on {status.Host}) is gone without recording an end " +
                        $"(SIGKILL, the out-of-memory killer, a native crash or a power loss); last update {when}", status),
                };
            case RunStatus.Finished:
                return new RunCondition(RunStatus.Finished, status.Reason ?? $"finished: {epochs}", status);
            default:
                return new RunCondition(status.State, status.Reason ?? $"{status.State} after {epochs} ({when})", status);
        }
    }

    private static JsonObject? ReadNode(string folder)
    {
        string file = PathOf(folder);
        if (!File.Exists(file)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(file)) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void Write(string folder, JsonObject node) =>
        AtomicFile.WriteAllText(PathOf(folder), node.ToJsonString(RuntimeJson.Options));
}
