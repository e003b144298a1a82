/**
 * Entry of a pool worker (see threads.ts). It loads every kernel module that registers parallel
 * tasks, marks itself ready, then serves jobs forever: wait for the request counter to move, read
 * the job message synchronously, run the task on its range, publish completion. It never returns to
 * its event loop; worker.terminate() interrupts the Atomics.wait.
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
import { CTRL_DONE, CTRL_PART_US, CTRL_READY, CTRL_REQ, CTRL_STATUS, type JobMessage, type WorkerData } from './thread_protocol';
import { exposeGc, WORKER_GC_BYTES } from './gc';

const { ctrl, jobs, replies, index } = workerData as WorkerData;
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
  }
  return n;
}

function serve(): never {
  Atomics.store(ctrl, CTRL_READY, 1);
  Atomics.notify(ctrl, CTRL_READY);
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, CTRL_REQ, seen);
    const seq = Atomics.load(ctrl, CTRL_REQ);
    if (seq === seen) continue;
    seen = seq;
    // postMessage enqueues before the caller bumps CTRL_REQ, so the message is already here.
    const received = receiveMessageOnPort(jobs);
    const t0 = performance.now();
    let status = 0;
    if (received === undefined) {
      status = 1;
      replies.postMessage('job message missing');
    } else {
      const job = received.message as JobMessage;
      receivedSinceGc += arrayBytes(job.args);
      try {
        getTask(job.task)(job.args as TaskArgs, job.start, job.end);
      } catch (e) {
        status = 1;
        replies.postMessage(e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e));
      }
    }
    Atomics.store(ctrl, CTRL_PART_US, Math.round((performance.now() - t0) * 1000));
    Atomics.store(ctrl, CTRL_STATUS, status);
    Atomics.store(ctrl, CTRL_DONE, seq);
    Atomics.notify(ctrl, CTRL_DONE);
    if (receivedSinceGc >= WORKER_GC_BYTES && collect !== null) {
      receivedSinceGc = 0;
      collect({ type: 'minor' });
    }
  }
}

serve();
