using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace LGMSNet.Runtime;

/// <summary>Work on the OpenMP team that libtorch runs its own parallel loops on (libgomp's <c>GOMP_parallel</c>, found
/// through libtorch, <see cref="LibTorchExports"/>): a parallel loop for the runtime's few kernels written in C#, and a
/// call on each thread of the team (<see cref="Denormals"/>). The team's threads spin for a while after each libtorch
/// operation; .NET's thread pool started right after one competed with them for the cores (on 2 cores an instance norm
/// took 10.4 ms on pool threads against 7.4 ms with the spinning turned off), while the spinning team picks the work up at
/// once. Where libgomp is not found (another platform's libtorch), the loop runs on the thread pool and the per-thread
/// call on this thread only.</summary>
internal static unsafe class OpenMpTeam
{
    private static readonly delegate* unmanaged[Cdecl]<delegate* unmanaged[Cdecl]<IntPtr, void>, IntPtr, uint, uint, void> Parallel;
    private static readonly delegate* unmanaged[Cdecl]<int> ThreadNumber;
    private static readonly delegate* unmanaged[Cdecl]<int> TeamSize;

    static OpenMpTeam()
    {
        if (LibTorchExports.TryFind("GOMP_parallel", out var parallel) && LibTorchExports.TryFind("omp_get_thread_num", out var number)
            && LibTorchExports.TryFind("omp_get_num_threads", out var size))
        {
            Parallel = (delegate* unmanaged[Cdecl]<delegate* unmanaged[Cdecl]<IntPtr, void>, IntPtr, uint, uint, void>)parallel;
            ThreadNumber = (delegate* unmanaged[Cdecl]<int>)number;
            TeamSize = (delegate* unmanaged[Cdecl]<int>)size;
        }
    }

    /// <summary>Whether the work runs on libtorch's OpenMP team (else as described above).</summary>
    public static bool Found => Parallel != null;

    /// <summary>Runs <paramref name="body"/>(begin, end, part) on <paramref name="parts"/> equal parts of [0,
    /// <paramref name="count"/>), each once, in parallel; the first exception thrown by a part is rethrown here.</summary>
    public static void For(long count, int parts, Action<long, long, int> body)
    {
        if (parts <= 1)
        {
            body(0, count, 0);
            return;
        }
        var job = new Job(count, parts, body, eachThread: false);
        if (Found) RunOnTeam(job, parts);
        else System.Threading.Tasks.Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, job.Run);
        job.Error?.Throw();
    }

    /// <summary>Runs <paramref name="action"/> once on each thread of this thread's team of <paramref name="threads"/>
    /// (this thread included; libgomp keeps one team per calling thread); the first exception is rethrown here.</summary>
    public static void OnEachThread(int threads, Action action)
    {
        if (!Found || threads <= 1)
        {
            action();
            return;
        }
        var job = new Job(0, threads, (_, _, _) => action(), eachThread: true);
        RunOnTeam(job, threads);
        job.Error?.Throw();
    }

    private static void RunOnTeam(Job job, int threads)
    {
        var handle = GCHandle.Alloc(job);
        try
        {
            Parallel(&Run, GCHandle.ToIntPtr(handle), (uint)threads, 0);
        }
        finally
        {
            handle.Free();
        }
    }

    [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
    private static void Run(IntPtr data)
    {
        // Nothing may escape to native code: whatever is thrown is kept for the caller.
        Job? job = null;
        try
        {
            job = (Job)GCHandle.FromIntPtr(data).Target!;
            if (job.EachThread) job.Run(ThreadNumber());
            // The team may be smaller than asked for: its threads share the parts.
            else for (int part = ThreadNumber(); part < job.Parts; part += Math.Max(1, TeamSize())) job.Run(part);
        }
        catch (Exception e) when (job != null)
        {
            job.Fail(e);
        }
        catch
        {
            // The job itself could not be reached (cannot happen while the caller holds the handle); nothing to report to.
        }
    }

    private sealed class Job(long count, int parts, Action<long, long, int> body, bool eachThread)
    {
        public int Parts => parts;

        public bool EachThread => eachThread;

        public ExceptionDispatchInfo? Error { get; private set; }

        public void Fail(Exception e)
        {
            lock (this) Error ??= ExceptionDispatchInfo.Capture(e);
        }

        /// <summary>Part <paramref name="part"/>; an exception is kept (<see cref="Error"/>), not thrown.</summary>
        public void Run(int part)
        {
            try
            {
                body(count * part / parts, count * (part + 1) / parts, part);
            }
            catch (Exception e)
            {
                Fail(e);
            }
        }
    }
}
