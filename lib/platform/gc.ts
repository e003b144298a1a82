/**
 * Access to the engine's garbage collector for the thread pool (see "keeping the garbage collector
 * aware of shared memory" in threads.ts). Node only.
 */
import * as v8 from 'v8';
import * as vm from 'vm';

/** Shared bytes allocated between two full collections in the calling thread. */
export const SHARED_GC_BYTES = 256 * 1024 * 1024;
/** Bytes of arrays received in jobs between two young-generation collections in a worker. */
export const WORKER_GC_BYTES = 64 * 1024 * 1024;

export type GcFunction = (options?: { type: 'major' | 'minor' }) => void;

/**
 * The engine's gc(): the global one when node runs with --expose-gc, else the one a new context
 * gets after this sets that flag (Node's documented v8.setFlagsFromString); null if neither works.
 */
export function exposeGc(): GcFunction | null {
  const g = (globalThis as { gc?: GcFunction }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    return typeof fn === 'function' ? (fn as GcFunction) : null;
  } catch {
    return null;
  }
}
