/**
 * Entry of a pool worker (see threads.ts). It loads every kernel module that registers parallel
 * tasks, marks itself ready, then serves jobs forever: wait for the request counter to move, read
 * the job message synchronously, run the task on its range, publish completion; jobs queued behind
 * it run next, in the order posted. It never returns to its event loop; worker.terminate()
 * interrupts the Atomics.wait (or the short poll before it).
 */
// First: compile the kernels' WebAssembly optimised (see wasm_tiering.ts).
import './wasm_tiering';
import { receiveMessageOnPort, workerData } from 'worker_threads';
// Modules that register tasks; a new parallel kernel adds its module here.
import '../kernels/gemm';
import '../kernels/conv2d';
import '../kernels/elementwise';
import '../kernels/batchnorm';
import '../kernels/optim_update';
import '../kernels/pool';
import { getTask, setThreadTag, type TaskArgs } from '../kernels/parallel';
import {
  CTRL_DONE, CTRL_SLEEPING, CTRL_PART_US, CTRL_READY, CTRL_REQ, CTRL_STATUS, CTRL_TID, type FailureMessage, type JobMessage, type WorkerData,
} from './thread_protocol';
import { readlinkSync } from 'fs';
import { exposeGc, WORKER_GC_BYTES } from './gc';
import { serveSupplyRequest } from './buffer_supply';

const { ctrl, jobs, replies, index, supplyRing, supply } = workerData as WorkerData;
setThreadTag(index);

// Each job message gives this thread its own handles on the caller's shared arrays; they keep the
// memory alive until this thread collects, and it allocates too little to do so by itself.
const collect = exposeGc();
let receivedSinceGc = 0;

function arrayBytes(args: Readonly<Record<string, unknown>>): number {
  let n = 0;
  for (const k in args) {
    const v = args[k];
    if (ArrayBuffer.isView(v)) n += v.byteLength;
    else if (Array.isArray(v)) for (const e of v) if (ArrayBuffer.isView(e)) n += e.byteLength;
  }
  return n;
}

/** Counts `bytes` more of arrays this thread holds handles on; collects young objects every WORKER_GC_BYTES. */
function noteArrays(bytes: number): void {
  receivedSinceGc += bytes;
  if (receivedSinceGc >= WORKER_GC_BYTES && collect !== null) {
    receivedSinceGc = 0;
    collect({ type: 'minor' });
  }
}

/** This thread's OS thread id from /proc/thread-self ("<pid>/task/<tid>"), or 0 where there is none. */
function osThreadId(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0; // not Linux: the caller then cannot tell a dead worker from a slow one
  }
}

/** How long a worker polls for its next job before sleeping (ms); see serve(). */
const POLL_MS = 0.5;

function serve(): never {
  Atomics.store(ctrl, CTRL_TID, osThreadId());
  Atomics.store(ctrl, CTRL_READY, 1);
  Atomics.notify(ctrl, CTRL_READY);
  let seen = 0;
  let failures = 0;
  for (;;) {
    // Kernels come in runs (a training step posts about 70 jobs, most within a millisecond of the
    // previous one's end), and waking from Atomics.wait takes 40 µs at the median and milliseconds
    // at times on this 2-vCPU VM. So poll for the next job a little while before sleeping: W4 at 2
    // threads about 1.5% faster with POLL_MS = 0.5 (per-step rotation in one process; 1 and 2 ms
    // gained less).
    // While no job is waiting, make the buffers the calling thread asked for (buffer_supply.ts):
    // one at a time, looking for a job between them.
    if (Atomics.load(ctrl, CTRL_REQ) === seen) {
      let until = performance.now() + POLL_MS;
      while (Atomics.load(ctrl, CTRL_REQ) === seen) {
        const made = serveSupplyRequest(supplyRing, supply);
        if (made > 0) {
          noteArrays(made);
          until = performance.now() + POLL_MS;
        } else if (performance.now() >= until) {
          break;
        }
      }
    }
    // Each increment of the request counter is one job whose message was posted before it, so
    // jobs queued behind a running one (deferred work) are taken one by one without sleeping.
    // Asleep, flagged so the caller can wake it ahead of a job (threads.ts suppliedBuffer): woken
    // without a job, it polls again.
    Atomics.store(ctrl, CTRL_SLEEPING, 1);
    Atomics.wait(ctrl, CTRL_REQ, seen);
    Atomics.store(ctrl, CTRL_SLEEPING, 0);
    if (Atomics.load(ctrl, CTRL_REQ) === seen) continue;
    seen = (seen + 1) | 0;
    const received = receiveMessageOnPort(jobs);
    const t0 = performance.now();
    let failure: string | null = null;
    if (received === undefined) {
      failure = 'job message missing';
    } else {
      const job = received.message as JobMessage;
      receivedSinceGc += arrayBytes(job.args); // collected after the job (noteArrays)
      try {
        getTask(job.task)(job.args as TaskArgs, job.start, job.end);
      } catch (e) {
        // The stack begins with "Name: message", so the error type survives and the message appears once.
        failure = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
      }
    }
    if (failure !== null) {
      const reply: FailureMessage = { seq: seen, message: failure };
      replies.postMessage(reply);
      Atomics.store(ctrl, CTRL_STATUS, ++failures);
    }
    Atomics.store(ctrl, CTRL_PART_US, Math.round((performance.now() - t0) * 1000));
    Atomics.store(ctrl, CTRL_DONE, seen);
    Atomics.notify(ctrl, CTRL_DONE);
    noteArrays(0);
  }
}

serve();
