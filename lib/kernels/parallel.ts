/**
 * The dispatch interface kernels use to spread work over threads. It knows nothing about how
 * threads are made: lib/platform/threads.ts installs a backend (worker_threads) when it is loaded,
 * so this file, and every kernel importing it, stays browser-safe. Without a backend, or with one
 * thread, or when some array argument is not in shared memory, a task runs inline on the caller.
 *
 * A task is a named function registered at module load in every thread (the worker entry requires
 * the kernel modules), called as fn(args, start, end) on a contiguous range of [0, n). Ranges never
 * overlap, so tasks that write disjoint outputs per index are deterministic for any thread count.
 */
import { allocateShared, dtypeOf, isShared, type FloatArray } from '../core/dtype';

export type TaskArray = Float32Array | Float64Array | Int32Array;
/** Task arguments: numbers, flags, names, arrays, and lists of them (the multi-tensor optimizer steps). */
export type TaskValue =
  | number | boolean | string | null | TaskArray
  | readonly (TaskArray | null)[] | readonly number[] | readonly boolean[];
export type TaskArgs = Readonly<Record<string, TaskValue>>;
export type TaskFn = (args: TaskArgs, start: number, end: number) => void;

export interface ParallelBackend {
  /** Threads that take part in a parallel run, the calling thread included. */
  numThreads(): number;
  /** Runs fn over [0, n) split in `parts` contiguous ranges; returns when all are done. */
  run(task: string, n: number, args: TaskArgs, parts: number): void;
  /**
   * Queues fn over all of [0, n) as one job on a worker and returns at once with a function that
   * waits for the job (throwing its error, if any), or returns null when no worker can take it.
   * While a worker has deferred work queued, numThreads() does not count it.
   */
  defer?(task: string, n: number, args: TaskArgs): (() => void) | null;
  /** Whether defer would take a job now. */
  canDefer?(): boolean;
}

const tasks = new Map<string, TaskFn>();
let backend: ParallelBackend | null = null;

export function registerTask(name: string, fn: TaskFn): void {
  tasks.set(name, fn);
}

export function getTask(name: string): TaskFn {
  const fn = tasks.get(name);
  if (fn === undefined) throw new Error(`parallelFor: unknown task '${name}' (is its module loaded in this thread?)`);
  return fn;
}

export function setParallelBackend(b: ParallelBackend | null): void {
  backend = b;
}

/** Threads a kernel may use right now (1 without a backend). */
export function availableThreads(): number {
  return backend === null ? 1 : Math.max(1, backend.numThreads());
}

function allShared(args: TaskArgs): boolean {
  for (const k in args) {
    const v = args[k];
    if (ArrayBuffer.isView(v) && !isShared(v)) return false;
    // A list of arrays (never nested deeper): a worker would write to copies of unshared ones.
    if (Array.isArray(v)) for (const e of v) if (ArrayBuffer.isView(e) && !isShared(e)) return false;
  }
  return true;
}

/** The range [start, end) of part t when [0, n) is cut into `parts` nearly equal contiguous pieces. */
export function partRange(n: number, parts: number, t: number): [number, number] {
  return [Math.floor((n * t) / parts), Math.floor((n * (t + 1)) / parts)];
}

/**
 * Runs task `name` over [0, n). `maxParts` caps the number of threads (kernels pass how many pieces
 * are worth the dispatch cost); the work runs inline when that is 1 or an array is not shared.
 */
export function parallelFor(name: string, n: number, args: TaskArgs, maxParts = Infinity): void {
  const fn = getTask(name);
  if (n <= 0) return;
  const parts = Math.min(availableThreads(), n, Math.max(1, Math.floor(maxParts)));
  if (parts <= 1 || backend === null || !allShared(args)) {
    fn(args, 0, n);
    return;
  }
  backend.run(name, n, args, parts);
}

/**
 * `a` itself when it is already shared (or no threads are in use), else a shared copy, so callers can
 * hand non-shared inputs to parallelFor at the cost of one copy.
 */
export function sharedInput<T extends FloatArray>(a: T): T {
  return availableThreads() <= 1 ? a : sharedCopy(a);
}

/** sharedInput(a) for a run in `parts` > 1 pieces, else `a` (and null stays null). */
export function shareIf<T extends FloatArray | null>(parts: number, a: T): T {
  return parts > 1 && a !== null ? sharedInput(a as FloatArray) as T : a;
}

/** `a` itself when it is shared (or the platform has no shared memory), else a shared copy. */
export function sharedCopy<T extends FloatArray>(a: T): T {
  if (isShared(a) || typeof SharedArrayBuffer === 'undefined') return a;
  const copy = allocateShared(dtypeOf(a), a.length) as T;
  copy.set(a);
  return copy;
}

// ---- deferred work: a whole task on a worker while the caller goes on ----
//
// Some results are not needed right away: in a backward pass, a convolution's weight gradient is
// only read by the optimizer, while its input gradient feeds the next op. deferTask hands such a
// task to a worker and returns; the caller must not read the task's outputs before settle(output)
// or settleAll() (autograd's backward settles every gradient it reads, and all of them before it
// returns). The task runs exactly as it would inline over [0, n), so results do not depend on
// whether or where it was deferred.

interface PendingJob {
  readonly wait: () => void;
  done: boolean;
}

const pending = new Map<TaskArray, PendingJob>();

/** True when deferTask would hand work to a worker now. */
export function canDefer(): boolean {
  return backend !== null && backend.canDefer !== undefined && backend.canDefer();
}

/**
 * Runs task `name` over [0, n) on a worker, returning before it is done (true), or runs it inline
 * when no worker can take it or an array is not shared (false). `outputs` are the arrays the task
 * writes: nobody may read them before settle() or settleAll().
 */
export function deferTask(name: string, n: number, args: TaskArgs, outputs: readonly TaskArray[]): boolean {
  const fn = getTask(name);
  if (n <= 0) return false;
  const wait = backend !== null && backend.defer !== undefined && allShared(args) ? backend.defer(name, n, args) : null;
  if (wait === null) {
    fn(args, 0, n);
    return false;
  }
  const job: PendingJob = { wait, done: false };
  for (const o of outputs) pending.set(o, job);
  return true;
}

/** Waits until the deferred task writing `a` (if any) is done; throws that task's error. */
export function settle(a: TaskArray): void {
  if (pending.size === 0) return;
  const job = pending.get(a);
  if (job === undefined) return;
  pending.delete(a);
  if (job.done) return;
  job.done = true;
  job.wait();
}

/** Waits for every deferred task; throws the first error among them after all have finished. */
export function settleAll(): void {
  if (pending.size === 0) return;
  const jobs = [...pending.values()];
  pending.clear();
  let error: unknown = null;
  for (const job of jobs) {
    if (job.done) continue;
    job.done = true;
    try {
      job.wait();
    } catch (e) {
      if (error === null) error = e;
    }
  }
  if (error !== null) throw error;
}

/** Outputs of deferred tasks not yet settled (diagnostics and tests). */
export function pendingOutputs(): number {
  return pending.size;
}

// ---- what the caller still has to do ----
//
// Deferring a task pays only when the caller has other work meanwhile. Autograd's backward records
// here how many ops of its pass are still to run after the current one; a kernel may then choose an
// order that keeps a worker busy without leaving the caller waiting at the end (conv2d's backward).

let opsAhead = 0;

/** Sets the number of ops the caller will run after the current one (autograd's backward; 0 outside). */
export function setOpsAhead(n: number): void {
  opsAhead = n;
}

/** Ops the caller will run after the current one, as last set by setOpsAhead (0 outside a backward pass). */
export function opsAheadOfCaller(): number {
  return opsAhead;
}

// ---- diagnostics: which thread ran what (used by the pool's tests and the benchmark) ----

let threadTag = 0;

/** Set by each pool worker to its index (1, 2, ...); 0 on the main thread. */
export function setThreadTag(tag: number): void {
  threadTag = tag;
}

/** Writes this thread's tag into out[i] for every i of its range; throws if failAt is in the range. */
registerTask('parallel.mark', (args: TaskArgs, start: number, end: number) => {
  const out = args.out as Int32Array;
  const failAt = args.failAt as number;
  for (let i = start; i < end; i++) out[i] = threadTag;
  if (failAt >= start && failAt < end) throw new Error(`parallel.mark: failing at index ${failAt} as asked`);
});

/**
 * Ends the worker thread that runs any of its range, as a crash would (tests of a worker dying
 * mid-job: the pool must report it, not wait forever); on the calling thread it does nothing.
 */
registerTask('parallel.exitThread', () => {
  if (threadTag === 0) return;
  const proc = (globalThis as { process?: { exit(code?: number): never } }).process;
  if (proc === undefined) throw new Error('parallel.exitThread: this platform cannot end a worker thread');
  proc.exit(3); // in a worker thread, process.exit ends that thread only
});

/**
 * Blocks its thread until gate[0] becomes nonzero (at most timeoutMs), then writes the thread's tag
 * into out[start..end), or `value` when out is a float array: lets tests hold a worker busy with
 * deferred work, or have one finish writing an array late.
 */
registerTask('parallel.hold', (args: TaskArgs, start: number, end: number) => {
  const gate = args.gate as Int32Array;
  const out = args.out as Int32Array | FloatArray;
  Atomics.wait(gate, 0, 0, args.timeoutMs as number);
  const v = out instanceof Int32Array ? threadTag : (args.value as number);
  for (let i = start; i < end; i++) out[i] = v;
});
