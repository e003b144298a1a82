/**
 * The worker-thread pool behind lib/kernels/parallel.ts. Loading this module (Node only) installs
 * it as the parallel backend with one thread per core and turns on SharedArrayBuffer-backed tensor
 * storage, so kernels can hand tensors to workers without copies.
 *
 *   setNumThreads(n)   threads used by kernels, the calling thread included (1 = no workers)
 *   getNumThreads()
 *   shutdownThreads()  terminates the workers (they restart on demand)
 *   setContentionGuard(on), threadStats()   see below
 *
 * Workers start lazily, once, and are reused. A job goes to a worker as a message on its own
 * MessagePort (so typed arrays over SharedArrayBuffers arrive as views of the same memory), then an
 * Atomics.notify wakes it; it reads the message synchronously with receiveMessageOnPort, runs the
 * registered task on its range and signals completion through the shared control block, which the
 * caller waits on with Atomics.wait. The caller always runs the first range itself, and also any
 * range whose worker has not finished starting, so the first calls never wait for worker start-up.
 * Deferred jobs (parallel.ts deferTask) queue on a worker the same way and are waited for later;
 * until they are done, that worker takes no part in parallel runs (their ranges run on the caller).
 * Workers are unref'd and idle in Atomics.wait, so they never keep the process alive.
 */
// First: compile the kernels' WebAssembly optimised (see wasm_tiering.ts).
import './wasm_tiering';
import { existsSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'worker_threads';
import { setSharedAllocationObserver, setSharedBufferSource, setSharedStorage } from '../core/dtype';
import { fmtValue } from '../core/errors';
import { getTask, partRange, setParallelBackend, type ParallelBackend, type TaskArgs } from '../kernels/parallel';
import { BufferSupply, type SupplyStats } from './buffer_supply';
import { exposeGc, SHARED_GC_BYTES } from './gc';
import {
  CTRL_DONE, CTRL_SLEEPING, CTRL_PART_US, CTRL_TID, CTRL_READY, CTRL_REQ, CTRL_SLOTS, CTRL_STATUS, type FailureMessage, type JobMessage, type WorkerData,
} from './thread_protocol';

interface PoolWorker {
  /** 1 for the first worker... (messages). */
  readonly index: number;
  readonly worker: Worker;
  readonly ctrl: Int32Array;
  readonly jobs: MessagePort;
  readonly replies: MessagePort;
  readonly supply: MessagePort;
  /** Sequence number of the latest job posted to this worker. */
  seq: number;
  /** Failures read from the replies port so far, and those not yet claimed by a waiter. */
  failuresSeen: number;
  readonly failures: Map<number, string>;
}

function defaultThreads(): number {
  const osWithParallelism = os as typeof os & { availableParallelism?: () => number };
  return Math.max(1, osWithParallelism.availableParallelism?.() ?? os.cpus().length);
}

let numThreads = defaultThreads();
const workers: PoolWorker[] = [];
/** Zero-filled buffers made by idle workers (see "buffers made ahead" below). */
const supply = new BufferSupply();
let running = false;
/**
 * Set when a worker failed before it was ready (its modules did not load, e.g. a bundle without
 * thread_worker.js): every new worker would fail the same way, so none is started until
 * setNumThreads or shutdownThreads asks again, and kernels run on the calling thread.
 */
let startFailed = false;
let partsSent = 0;
/** Times a shared allocation woke an idle worker (suppliedBuffer). */
let nudges = 0;
let lastParts: number[] = [];
/** Task names of the latest parts sent, oldest first (diagnostics: threadStats().recentTasks). */
const recentTasks: string[] = [];
const RECENT_TASKS = 64;

/**
 * The most threads setNumThreads accepts (the scripts' --threads too). Each worker is a V8 isolate
 * of its own (tens of MB), started on the first parallel kernel, so a runaway count would exhaust
 * memory before any kernel ran.
 */
export const MAX_THREADS = 256;

/** Sets how many threads kernels use (the calling thread included); 1 disables the workers. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new Error(`setNumThreads: expected an integer from 1 to ${MAX_THREADS}, got ${fmtValue(n)}`);
  }
  numThreads = n;
  startFailed = false;
  throttledUntil = 0;
  starvedInARow = 0;
  setSharedStorage(n > 1);
  // One thread allocates plain buffers: supplied ones would only hold memory.
  if (n <= 1) supply.setActive(false);
}

export function getNumThreads(): number {
  return numThreads;
}

/** Terminates all workers; the next parallel kernel starts them again. */
export async function shutdownThreads(): Promise<void> {
  const all = workers.splice(0, workers.length);
  startFailed = false;
  await Promise.all(all.map(closeWorker));
  supply.setActive(false);
}

/** Closes w's ports and terminates its thread (already out of the pool). */
async function closeWorker(w: PoolWorker): Promise<void> {
  w.jobs.close();
  w.replies.close();
  await w.worker.terminate();
  // Only once the thread has ended can no more buffers arrive (see BufferSupply.removePort).
  supply.removePort(w.supply);
  w.supply.close();
}

/**
 * Diagnostics for tests and benchmarks: live workers, ranges sent to workers so far, the wall
 * time (ms) of each part of the latest parallel run, caller first (on a machine with spare cores
 * the run took about the longest part plus dispatch; when other processes hold the cores, the
 * parts run one after another and the run takes about their sum), deferred jobs so far, and how
 * many times the contention guard fell back to one thread, the task names of the latest parts
 * sent (up to 64, oldest first: which kernels went to a worker, in order), how many times an
 * allocation woke an idle worker (see suppliedBuffer), and how many workers are asleep now.
 */
export function threadStats(): {
  workers: number; partsSent: number; deferred: number; lastPartsMs: number[]; throttles: number; recentTasks: string[];
  nudges: number; asleep: number;
} {
  return {
    workers: workers.length, partsSent, deferred: deferredJobs, lastPartsMs: lastParts.slice(), throttles,
    recentTasks: recentTasks.slice(), nudges,
    asleep: workers.filter((w) => Atomics.load(w.ctrl, CTRL_SLEEPING) === 1).length,
  };
}

/** Starts the workers now instead of at the first parallel kernel (e.g. before timing). */
export function startThreads(): void {
  while (!startFailed && workers.length < numThreads - 1) workers.push(spawnWorker(workers.length + 1));
}

/** Blocks until every started worker is ready (tests and benchmarks; kernels never need this). */
export function waitForThreads(timeoutMs = 30000): void {
  startThreads();
  const deadline = Date.now() + timeoutMs;
  for (const w of workers) {
    while (Atomics.load(w.ctrl, CTRL_READY) === 0) {
      if (Date.now() > deadline) throw new Error(`waitForThreads: workers not ready after ${timeoutMs} ms`);
      Atomics.wait(w.ctrl, CTRL_READY, 0, 50);
    }
  }
}

function spawnWorker(index: number): PoolWorker {
  const ext = path.extname(__filename);
  const entry = path.join(__dirname, `thread_worker${ext}`);
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_SLOTS * 4));
  const jobChannel = new MessageChannel();
  const replyChannel = new MessageChannel();
  const supplyChannel = new MessageChannel();
  const data: WorkerData = {
    ctrl, jobs: jobChannel.port2, replies: replyChannel.port2, supplyRing: supply.ring, supply: supplyChannel.port2, index, entry,
    tsNode: ext === '.ts' ? require.resolve('ts-node') : null,
  };
  // Under ts-node the worker must register it before requiring the .ts entry; compiled code skips it.
  const boot = `
    const { workerData } = require('worker_threads');
    if (workerData.tsNode !== null && require.extensions['.ts'] === undefined) {
      require(workerData.tsNode).register({ transpileOnly: true, projectSearchDir: require('path').dirname(workerData.entry) });
    }
    require(workerData.entry);
  `;
  const worker = new Worker(boot, {
    eval: true, workerData: data, transferList: [jobChannel.port2, replyChannel.port2, supplyChannel.port2],
  });
  worker.unref();
  jobChannel.port1.unref();
  replyChannel.port1.unref();
  supplyChannel.port1.unref();
  supply.addPort(supplyChannel.port1);
  // A worker thread that ends while idle is simply replaced at the next run (one that ends mid-job is
  // noticed by waitDone first).
  const forget = (): void => {
    const w = workers.find((p) => p.worker === worker);
    if (w !== undefined) dropWorker(w);
  };
  worker.on('exit', forget);
  worker.on('error', (e) => {
    forget();
    if (Atomics.load(ctrl, CTRL_READY) === 0) {
      // Its modules failed to load: a new worker would fail again (and warn again) at every run.
      if (startFailed) return;
      startFailed = true;
      process.emitWarning(`tsgrad thread pool: a worker failed to start (${e.message}); kernels run on the calling thread ` +
        '(setNumThreads or shutdownThreads tries again)');
    } else {
      process.emitWarning(`tsgrad thread pool: a worker failed (${e.message}); the next run starts a new one`);
    }
  });
  return {
    index, worker, ctrl, jobs: jobChannel.port1, replies: replyChannel.port1, supply: supplyChannel.port1, seq: 0, failuresSeen: 0,
    failures: new Map(),
  };
}

function isReady(w: PoolWorker): boolean {
  return Atomics.load(w.ctrl, CTRL_READY) !== 0;
}

/** True while the worker has posted jobs not yet finished (outside a run: deferred work). */
function isBusy(w: PoolWorker): boolean {
  return Atomics.load(w.ctrl, CTRL_DONE) !== w.seq;
}

/** Posts one job; the worker runs it after any jobs queued before it. Returns its sequence number. */
function post(w: PoolWorker, task: string, args: TaskArgs, start: number, end: number): number {
  w.seq = (w.seq + 1) | 0;
  const job: JobMessage = { task, args, start, end, seq: w.seq };
  w.jobs.postMessage(job);
  Atomics.store(w.ctrl, CTRL_REQ, w.seq);
  Atomics.notify(w.ctrl, CTRL_REQ);
  partsSent++;
  recentTasks.push(task);
  if (recentTasks.length > RECENT_TASKS) recentTasks.shift();
  return w.seq;
}

/** How long a caller waiting for a worker spins before it sleeps (see waitDone). */
const WAIT_SPIN_MS = 1;

/**
 * Blocks until job `seq` of w is done (true), or until w's thread is found to have ended without
 * finishing it (false; w is then out of the pool).
 */
function waitDone(w: PoolWorker, seq: number): boolean {
  const { ctrl } = w;
  // Jobs finish in order; (done - seq) | 0 >= 0 also holds across the int32 wrap-around.
  const finished = (done: number): boolean => ((done - seq) | 0) >= 0;
  // Spin before sleeping. A thread that sleeps in Atomics.wait leaves its vCPU idle, and waking it
  // again took 68 µs at the median and up to milliseconds on this 2-vCPU VM (W4 at 2 threads: 26
  // sleeps a step, 3.0 ms of wake-up in all). Most parts end within a millisecond of each other, so
  // spinning for up to WAIT_SPIN_MS catches nearly all of them: in one process alternating the two
  // rules every 2 steps, the step went 106.4 → 105.8, 109.5 → 105.2 and 110.5 → 107.9 ms (the
  // forward 2.5 ms faster each time); 3 ms gained nothing more (docs/PERFORMANCE.md).
  const spinUntil = performance.now() + WAIT_SPIN_MS;
  do {
    for (let i = 0; i < 256; i++) if (finished(Atomics.load(ctrl, CTRL_DONE))) return true;
  } while (performance.now() < spinUntil);
  for (;;) {
    const done = Atomics.load(ctrl, CTRL_DONE);
    if (finished(done)) return true;
    // Every second without progress, make sure the worker is still there to finish (a job may
    // legitimately run for minutes; a worker thread that ended never will).
    if (Atomics.wait(ctrl, CTRL_DONE, done, 1000) === 'timed-out' && workerGone(w)) {
      if (finished(Atomics.load(ctrl, CTRL_DONE))) return true;
      dropWorker(w);
      return false;
    }
  }
}

/** True when w's OS thread no longer exists (never true where the platform cannot tell, see CTRL_TID). */
function workerGone(w: PoolWorker): boolean {
  const tid = Atomics.load(w.ctrl, CTRL_TID);
  return tid > 0 && !existsSync(`/proc/self/task/${tid}`);
}

/** Takes a worker whose thread ended out of the pool; the next run starts a new one. */
function dropWorker(w: PoolWorker): void {
  const i = workers.indexOf(w);
  if (i < 0) return;
  workers.splice(i, 1);
  void closeWorker(w);
}

/** The error for a job whose worker thread ended before finishing it. */
function workerExited(w: PoolWorker, task: string, what: string): Error {
  return new Error(`${task}: worker thread ${w.index} ended before finishing ${what}; the pool starts a new worker for the next run`);
}

/** The error message of w's finished job `seq`, or null if it succeeded. */
function failureOf(w: PoolWorker, seq: number): string | null {
  const failed = Atomics.load(w.ctrl, CTRL_STATUS);
  while (w.failuresSeen !== failed) {
    const reply = receiveMessageOnPort(w.replies);
    if (reply === undefined) break;
    const f = reply.message as FailureMessage;
    w.failures.set(f.seq, f.message);
    w.failuresSeen++;
  }
  const message = w.failures.get(seq);
  if (message === undefined) return null;
  w.failures.delete(seq);
  return message;
}

// Contention guard. When other processes hold the cores, the parts of a run execute one after
// another instead of together: the run then takes about the sum of its parts, and a fork-join split
// of a few-ms kernel becomes slower than one thread. A run is "starved" when its wall time exceeds
// its longest part by more than half its shortest; after STARVED_RUNS starved runs in a row, kernels
// use one thread for THROTTLE_MS, then try again. Results do not depend on this (any split is
// bit-identical), only the speed.
const STARVED_RUNS = 3;
const THROTTLE_MS = 500;
let starvedInARow = 0;
let throttledUntil = 0;
let throttles = 0;
let guardOn = true;

/** Turns the contention guard on (the default) or off (to time raw multi-thread runs). */
export function setContentionGuard(on: boolean): void {
  guardOn = on;
  throttledUntil = 0;
  starvedInARow = 0;
}

/** True when a run's parts evidently ran one after another rather than together (see above). */
export function runLooksStarved(wallMs: number, partsMs: readonly number[]): boolean {
  if (partsMs.length < 2) return false;
  const longest = Math.max(...partsMs), shortest = Math.min(...partsMs);
  // Below 2 ms, waking a sleeping worker (0.1-0.25 ms, at times more) is too large a share of a part
  // to tell a late start from a serialised one; a false call costs THROTTLE_MS at one thread.
  return shortest >= 2 && wallMs - longest > 0.5 * shortest;
}

function noteRun(wallMs: number, partsMs: readonly number[]): void {
  if (!guardOn || partsMs.length < 2) return;
  starvedInARow = runLooksStarved(wallMs, partsMs) ? starvedInARow + 1 : 0;
  if (starvedInARow >= STARVED_RUNS) {
    starvedInARow = 0;
    throttledUntil = performance.now() + THROTTLE_MS;
    throttles++;
  }
}

/** Threads for a parallel run now: the configured count, less workers busy with deferred work. */
function threadsNow(): number {
  if (numThreads <= 1) return 1;
  if (performance.now() < throttledUntil) return 1;
  if (deferredOut === 0) return numThreads;
  let busy = 0;
  for (let i = 0; i < workers.length && i < numThreads - 1; i++) if (isBusy(workers[i])) busy++;
  return numThreads - busy;
}

let deferredOut = 0;
let deferredJobs = 0;

/** The ready worker (among the first numThreads − 1) with the fewest jobs in its queue, or null. */
function workerForDeferred(): PoolWorker | null {
  let best: PoolWorker | null = null;
  let bestQueued = Infinity;
  for (let i = 0; i < workers.length && i < numThreads - 1; i++) {
    const w = workers[i];
    if (!isReady(w)) continue;
    const queued = (w.seq - Atomics.load(w.ctrl, CTRL_DONE)) | 0;
    if (queued < bestQueued) {
      best = w;
      bestQueued = queued;
    }
  }
  return best;
}

const poolBackend: ParallelBackend = {
  numThreads: threadsNow,
  canDefer(): boolean {
    if (numThreads <= 1 || running || performance.now() < throttledUntil) return false;
    startThreads();
    return workerForDeferred() !== null;
  },
  defer(task: string, n: number, args: TaskArgs): (() => void) | null {
    getTask(task);
    if (!this.canDefer!()) return null;
    const w = workerForDeferred() as PoolWorker;
    const seq = post(w, task, args, 0, n);
    deferredOut++;
    deferredJobs++;
    let waited = false;
    return () => {
      if (waited) return;
      waited = true;
      deferredOut--;
      if (!waitDone(w, seq)) throw workerExited(w, task, 'this deferred job');
      const failure = failureOf(w, seq);
      if (failure !== null) throw new Error(`${task}: failed in a worker thread: ${failure}`);
    };
  },
  run(task: string, n: number, args: TaskArgs, parts: number): void {
    const fn = getTask(task);
    if (running) {
      // A task that itself calls parallelFor runs its inner loop inline (the workers are busy).
      fn(args, 0, n);
      return;
    }
    running = true;
    try {
      startThreads();
      const sent: Array<[PoolWorker, number]> = [];
      const leftover: Array<[number, number]> = [];
      // Workers still starting, or busy with deferred work, leave their ranges to the caller.
      const free = workers.filter((w) => isReady(w) && !isBusy(w));
      for (let t = 1; t < parts; t++) {
        const [s, e] = partRange(n, parts, t);
        const w = free[t - 1];
        if (w === undefined) leftover.push([s, e]);
        else sent.push([w, post(w, task, args, s, e)]);
      }
      let error: unknown = null;
      const t0 = performance.now();
      const startWall = t0;
      try {
        const [s0, e0] = partRange(n, parts, 0);
        fn(args, s0, e0);
        for (const [s, e] of leftover) fn(args, s, e);
      } catch (e) {
        error = e;
      }
      lastParts = [performance.now() - t0];
      for (const [w, seq] of sent) {
        if (!waitDone(w, seq)) {
          if (error === null) error = workerExited(w, task, 'its part of the run');
          continue;
        }
        lastParts.push(Atomics.load(w.ctrl, CTRL_PART_US) / 1000);
        const failure = failureOf(w, seq);
        if (failure !== null && error === null) error = new Error(`${task}: failed in a worker thread: ${failure}`);
      }
      if (error !== null) throw error;
      noteRun(performance.now() - startWall, lastParts);
    } finally {
      running = false;
    }
  },
};

// ---- keeping the garbage collector aware of shared memory ----
// V8 schedules collections by the growth of its heap and of "external" memory, and
// SharedArrayBuffer storage counts toward neither (Node 20: in a ResNet18 training loop at 2
// threads, process.memoryUsage().external stayed at 32 MB while arrayBuffers swung between 280
// and 830 MB). Dead tensors then wait for a collection triggered by small JS objects, and resident
// memory ran 2.5x the 1-thread figure. So the pool counts the shared bytes it hands out and runs a
// full collection every SHARED_GC_BYTES; workers, which hold their own handle on every array a job
// passed them until their next collection, run a young-generation one every WORKER_GC_BYTES
// received (thread_worker.ts). Only the timing of collections changes, never a result.

let sharedSinceGc = 0;
let sharedGcs = 0;
const collect = exposeGc();

function noteSharedAllocation(bytes: number): void {
  sharedSinceGc += bytes;
  if (sharedSinceGc < SHARED_GC_BYTES || collect === null) return;
  sharedSinceGc = 0;
  sharedGcs++;
  collect();
}

/** Collections the pool has asked for in this thread (diagnostics). */
export function sharedMemoryCollections(): number {
  return sharedGcs;
}

// ---- buffers made ahead by idle workers ----
// New tensors are zero-filled by the engine on the thread that allocates them, the calling thread,
// while the other core is idle between kernels: buffer_supply.ts has idle workers make buffers of
// the sizes the calling thread allocates, ready for its next allocation of each size.

let supplyOn = true;

/** Turns the buffer supply on (the default) or off (to compare timings); returns the previous setting. */
export function setBufferSupply(on: boolean): boolean {
  const prev = supplyOn;
  supplyOn = on;
  if (!on) supply.setActive(false);
  return prev;
}

/** The buffer supply's counters (diagnostics and tests). */
export function bufferSupplyStats(): SupplyStats {
  return supply.stats();
}

function suppliedBuffer(bytes: number): SharedArrayBuffer | null {
  if (numThreads <= 1) return null;
  const buf = supplyOn ? supply.take(bytes) : null;
  // A worker asleep with no job would not see a supply request until its next job: wake the idle
  // ones. And wake a sleeping worker at any allocation (a "nudge"), since a new tensor usually means
  // an op is starting, which may hand the worker a part: a worker woken now polls (thread_worker.ts)
  // and takes that part at once, where a sleeping one takes 0.2 ms at the median and over 1 ms at
  // times to wake on this VM. W4 at 2 threads, one process alternating with and without nudges every
  // 2 steps: 130.2 → 125.2, 131.6 → 126.9, 131.5 → 124.4, 128.5 → 128.7 and 130.3 → 122.0 ms
  // (docs/PERFORMANCE.md). A nudge is one futex wake, only for a worker that is asleep, so at most one
  // per POLL_MS of idleness.
  const service = supplyOn && supply.wantsService();
  for (let i = 0; i < workers.length && i < numThreads - 1; i++) {
    const w = workers[i];
    if (!isReady(w) || isBusy(w)) continue;
    if (service || Atomics.load(w.ctrl, CTRL_SLEEPING) === 1) {
      Atomics.notify(w.ctrl, CTRL_REQ);
      nudges++;
    }
  }
  return buf;
}

setParallelBackend(poolBackend);
setSharedBufferSource(suppliedBuffer);
setSharedStorage(numThreads > 1);
setSharedAllocationObserver(noteSharedAllocation);
