/**
 * The layout shared by the thread pool (threads.ts) and its workers (thread_worker.ts): an Int32Array
 * control block over a SharedArrayBuffer, one per worker.
 */
import type { MessagePort } from 'worker_threads';

/**
 * Sequence number of the latest job posted by the caller (the worker waits on it). Each job adds
 * one and posts one message, so several may be queued: the worker runs them in order.
 */
export const CTRL_REQ = 0;
/** Sequence number of the latest job the worker finished (the caller waits on it). */
export const CTRL_DONE = 1;
/** How many jobs have failed so far; each failure posts a FailureMessage on the replies port. */
export const CTRL_STATUS = 2;
/** 1 once the worker has loaded the kernels and entered its loop. */
export const CTRL_READY = 3;
/** Wall time of the worker's latest job in µs (diagnostics: threadStats). */
export const CTRL_PART_US = 4;
/**
 * The worker's OS thread id where the platform shows it (Linux /proc/thread-self), else 0: lets the
 * caller notice, while it waits, that the worker thread has ended (see threads.ts workerGone).
 */
export const CTRL_TID = 5;
/** 1 while the worker sleeps in Atomics.wait for a job (the caller may wake it early: threads.ts nudge). */
export const CTRL_SLEEPING = 6;
export const CTRL_SLOTS = 7;

export interface WorkerData {
  ctrl: Int32Array;
  jobs: MessagePort;
  replies: MessagePort;
  /** The buffer supply's request ring (shared by all workers) and this worker's port for the buffers (buffer_supply.ts). */
  supplyRing: Int32Array;
  supply: MessagePort;
  /** 1 for the first worker, 2 for the next... (the calling thread is 0). */
  index: number;
  /** Absolute path of thread_worker.ts or .js. */
  entry: string;
  /** Resolved path of ts-node when running from .ts sources, else null. */
  tsNode: string | null;
}

export interface FailureMessage {
  seq: number;
  message: string;
}

export interface JobMessage {
  task: string;
  args: Readonly<Record<string, unknown>>;
  start: number;
  end: number;
  seq: number;
}
