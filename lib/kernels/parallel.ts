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

export type TaskValue = number | boolean | string | null | Float32Array | Float64Array | Int32Array;
export type TaskArgs = Readonly<Record<string, TaskValue>>;
export type TaskFn = (args: TaskArgs, start: number, end: number) => void;

export interface ParallelBackend {
  /** Threads that take part in a parallel run, the calling thread included. */
  numThreads(): number;
  /** Runs fn over [0, n) split in `parts` contiguous ranges; returns when all are done. */
  run(task: string, n: number, args: TaskArgs, parts: number): void;
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
  if (availableThreads() <= 1 || isShared(a) || typeof SharedArrayBuffer === 'undefined') return a;
  const copy = allocateShared(dtypeOf(a), a.length) as T;
  copy.set(a);
  return copy;
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
