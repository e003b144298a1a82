import { expect } from 'chai';
import * as pkg from '../../../index';
import { spawn } from 'child_process';
import { existsSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { allocate, isShared, sharedStorageEnabled } from '../../../lib/core/dtype';
import {
  availableThreads, canDefer, deferTask, parallelFor, pendingOutputs, settle, settleAll,
} from '../../../lib/kernels/parallel';
import {
  getNumThreads, runLooksStarved, setBufferSupply, setContentionGuard, setNumThreads, shutdownThreads, threadStats, waitForThreads,
} from '../../../lib/platform/threads';

const ROOT = path.resolve(__dirname, '../../..');

function sharedInts(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * n)).fill(-1);
}

/** Runs a script under ts-node in a child process; resolves with its exit code, output and timings. */
function runChild(code: string, timeoutMs: number): Promise<{ code: number | null; out: string; exitAt: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', code], { cwd: ROOT });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit within ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    child.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, out, exitAt: Date.now() });
    });
  });
}

describe('lib/platform/threads', function () {
  // Several tests start workers (and children) again: under ts-node a worker's start transpiles the
  // kernel modules, 10-18 s each on a 2-core machine with load average 16-19.
  this.timeout(300000);
  const saved = getNumThreads();
  // The worker counts below assume a pool that has at most one worker (a 3-thread run in an
  // earlier file leaves two).
  before(() => shutdownThreads());
  after(() => setNumThreads(saved));

  it('validates setNumThreads and switches shared tensor storage with it', () => {
    expect(() => setNumThreads(0)).to.throw('setNumThreads: expected an integer from 1 to 256, got 0');
    expect(() => setNumThreads(1.5)).to.throw('setNumThreads: expected an integer from 1 to 256, got 1.5');
    // Every worker is an isolate: a huge count used to be accepted and then exhaust memory starting them.
    expect(() => setNumThreads(1e9)).to.throw('setNumThreads: expected an integer from 1 to 256, got 1000000000');
    expect(() => setNumThreads(257)).to.throw('setNumThreads: expected an integer from 1 to 256, got 257');
    setNumThreads(1);
    expect(getNumThreads()).to.equal(1);
    expect(availableThreads()).to.equal(1);
    expect(sharedStorageEnabled()).to.equal(false);
    expect(isShared(allocate('float32', 4))).to.equal(false);
    setNumThreads(2);
    expect(availableThreads()).to.equal(2);
    expect(sharedStorageEnabled()).to.equal(true);
    expect(isShared(allocate('float64', 4))).to.equal(true);
  });

  it('splits a task into contiguous ranges, the calling thread taking the first', () => {
    setNumThreads(2);
    waitForThreads();
    const out = sharedInts(11);
    parallelFor('parallel.mark', 11, { out, failAt: -1 });
    expect(Array.from(out)).to.deep.equal([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    const few = sharedInts(5);
    parallelFor('parallel.mark', 5, { out: few, failAt: -1 }, 1);
    expect(Array.from(few), 'maxParts 1 runs inline').to.deep.equal([0, 0, 0, 0, 0]);
  });

  it('reports the wall time of each part of the latest run', () => {
    setNumThreads(2);
    waitForThreads();
    parallelFor('parallel.mark', 4, { out: sharedInts(4), failAt: -1 });
    const parts = threadStats().lastPartsMs;
    expect(parts).to.have.length(2);
    for (const p of parts) expect(p).to.be.at.least(0);
  });

  it('tells runs whose parts ran one after another (cores taken by other processes) from parallel ones', () => {
    expect(runLooksStarved(20.5, [10, 10.2])).to.equal(true);
    expect(runLooksStarved(10.4, [10, 9.8])).to.equal(false);
    expect(runLooksStarved(10.5, [10, 3])).to.equal(false, 'uneven parts are not starvation');
    expect(runLooksStarved(12.9, [10, 3])).to.equal(true, 'the short part mostly ran after the long one');
    expect(runLooksStarved(0.9, [0.3, 0.4])).to.equal(false, 'too short to judge');
    expect(runLooksStarved(2.6, [1.5, 1.4])).to.equal(false, 'a worker woken 1 ms late is not contention');
    expect(runLooksStarved(5, [5])).to.equal(false);
    setContentionGuard(false);
    setContentionGuard(true);
    expect(threadStats().throttles).to.be.a('number');
  });

  it('runs inline when an array argument is not shared', () => {
    setNumThreads(2);
    const out = new Int32Array(8);
    const sent = threadStats().partsSent;
    parallelFor('parallel.mark', 8, { out, failAt: -1 });
    expect(Array.from(out)).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(threadStats().partsSent).to.equal(sent);
  });

  it('reports an error thrown in a worker, and keeps working afterwards', () => {
    setNumThreads(2);
    waitForThreads();
    let message = '';
    try {
      parallelFor('parallel.mark', 10, { out: sharedInts(10), failAt: 7 });
    } catch (e) {
      message = (e as Error).message;
    }
    // The worker's error keeps its type and its message, once, followed by its stack.
    expect(message).to.match(/^parallel.mark: failed in a worker thread: Error: parallel.mark: failing at index 7 as asked\n {4}at /);
    expect(message.split('failing at index 7').length).to.equal(2);
    expect(() => parallelFor('parallel.mark', 10, { out: sharedInts(10), failAt: 2 }))
      .to.throw(/^parallel.mark: failing at index 2/);
    const out = sharedInts(4);
    parallelFor('parallel.mark', 4, { out, failAt: -1 });
    expect(Array.from(out)).to.deep.equal([0, 0, 1, 1]);
    expect(() => parallelFor('no.such.task', 4, {})).to.throw(/unknown task 'no.such.task'/);
  });

  it('defers a task to a worker, keeps that worker out of parallel runs until it is done, and settles it', () => {
    setNumThreads(2);
    waitForThreads();
    const gate = sharedInts(1).fill(0);
    const held = sharedInts(3);
    const before = threadStats().deferred;
    expect(canDefer()).to.equal(true);
    expect(deferTask('parallel.hold', 3, { gate, out: held, timeoutMs: 20000 }, [held])).to.equal(true);
    expect(threadStats().deferred).to.equal(before + 1);
    expect(pendingOutputs()).to.equal(1);
    // The worker is held: runs now use the calling thread only, and their results are unchanged.
    expect(availableThreads()).to.equal(1);
    const out = sharedInts(6);
    parallelFor('parallel.mark', 6, { out, failAt: -1 });
    expect(Array.from(out)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(Array.from(held), 'the held task has not run yet').to.deep.equal([-1, -1, -1]);
    // More deferred work queues behind it on the same worker.
    const queued = sharedInts(2);
    expect(deferTask('parallel.mark', 2, { out: queued, failAt: -1 }, [queued])).to.equal(true);
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    settle(held);
    expect(Array.from(held), 'ran whole on worker 1').to.deep.equal([1, 1, 1]);
    expect(pendingOutputs()).to.equal(1);
    settleAll();
    expect(pendingOutputs()).to.equal(0);
    expect(Array.from(queued)).to.deep.equal([1, 1]);
    settle(held); // settling twice is harmless
    expect(availableThreads()).to.equal(2);
    const after = sharedInts(4);
    parallelFor('parallel.mark', 4, { out: after, failAt: -1 });
    expect(Array.from(after)).to.deep.equal([0, 0, 1, 1]);
  });

  it('wakes a sleeping worker when the calling thread allocates a shared tensor, and leaves a busy one alone', () => {
    setNumThreads(2);
    waitForThreads();
    // Without the buffer supply, whose requests wake idle workers too, only the nudge can wake one.
    const supplied = setBufferSupply(false);
    try {
      const pause = new Int32Array(new SharedArrayBuffer(4));
      // An idle worker polls for 0.5 ms, then sleeps.
      const deadline = Date.now() + 10000;
      while (threadStats().asleep === 0 && Date.now() < deadline) Atomics.wait(pause, 0, 0, 5);
      expect(threadStats().asleep).to.equal(1);
      const before = threadStats().nudges;
      allocate('float32', 16);
      expect(threadStats().nudges, 'one wake-up for the sleeping worker').to.equal(before + 1);
      // A worker busy with deferred work is not woken.
      const gate = sharedInts(1).fill(0);
      const held = sharedInts(1);
      expect(deferTask('parallel.hold', 1, { gate, out: held, timeoutMs: 20000 }, [held])).to.equal(true);
      const busy = threadStats().nudges;
      allocate('float32', 16);
      expect(threadStats().nudges).to.equal(busy);
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      settleAll();
      // One thread: no workers to wake.
      setNumThreads(1);
      const single = threadStats().nudges;
      Atomics.wait(pause, 0, 0, 20);
      allocate('float32', 16);
      expect(threadStats().nudges).to.equal(single);
    } finally {
      setBufferSupply(supplied);
      setNumThreads(2);
    }
  });

  it('runs a deferred task inline when no worker can take it', () => {
    setNumThreads(1);
    expect(canDefer()).to.equal(false);
    const out = sharedInts(3);
    expect(deferTask('parallel.mark', 3, { out, failAt: -1 }, [out])).to.equal(false);
    expect(Array.from(out)).to.deep.equal([0, 0, 0]);
    expect(pendingOutputs()).to.equal(0);
    setNumThreads(2);
    waitForThreads();
    const plain = new Int32Array(3);
    expect(deferTask('parallel.mark', 3, { out: plain, failAt: -1 }, [plain]), 'arrays not shared').to.equal(false);
    expect(Array.from(plain)).to.deep.equal([0, 0, 0]);
  });

  it('reports a deferred task\'s error when it is settled, after every deferred task has finished', () => {
    setNumThreads(2);
    waitForThreads();
    const bad = sharedInts(4);
    const good = sharedInts(4);
    deferTask('parallel.mark', 4, { out: bad, failAt: 2 }, [bad]);
    deferTask('parallel.mark', 4, { out: good, failAt: -1 }, [good]);
    expect(() => settleAll()).to.throw(/parallel.mark: failed in a worker thread: Error: parallel.mark: failing at index 2/);
    expect(pendingOutputs()).to.equal(0);
    expect(Array.from(good), 'the task queued after the failing one still ran').to.deep.equal([1, 1, 1, 1]);
    const again = sharedInts(4);
    deferTask('parallel.mark', 4, { out: again, failAt: 0 }, [again]);
    expect(() => settle(again)).to.throw(/failing at index 0/);
    const out = sharedInts(4);
    parallelFor('parallel.mark', 4, { out, failAt: -1 });
    expect(Array.from(out), 'the pool works afterwards').to.deep.equal([0, 0, 1, 1]);
  });

  it('reports a worker thread that ends mid-job (run or deferred) instead of waiting for it, and replaces it', function () {
    // The pool tells a dead worker from a slow one by its OS thread (Linux /proc); elsewhere it waits.
    if (!existsSync('/proc/thread-self')) this.skip();
    setNumThreads(2);
    waitForThreads();
    expect(() => parallelFor('parallel.exitThread', 2, {}))
      .to.throw(/^parallel.exitThread: worker thread 1 ended before finishing its part of the run; the pool starts a new worker/);
    expect(threadStats().workers, 'the dead worker left the pool').to.equal(0);
    waitForThreads();
    const out = sharedInts(4);
    parallelFor('parallel.mark', 4, { out, failAt: -1 });
    expect(Array.from(out), 'a new worker took over').to.deep.equal([0, 0, 1, 1]);
    const held = sharedInts(1);
    expect(deferTask('parallel.exitThread', 1, { out: held }, [held])).to.equal(true);
    expect(() => settle(held)).to.throw(/^parallel.exitThread: worker thread 1 ended before finishing this deferred job/);
    expect(pendingOutputs()).to.equal(0);
    waitForThreads();
    const again = sharedInts(4);
    parallelFor('parallel.mark', 4, { out: again, failAt: -1 });
    expect(Array.from(again)).to.deep.equal([0, 0, 1, 1]);
  });

  it('stops its workers and starts them again on demand', async () => {
    setNumThreads(2);
    waitForThreads();
    expect(threadStats().workers).to.equal(1);
    await pkg.shutdownThreads(); // the package's export (index.ts), the same function
    expect(pkg.shutdownThreads).to.equal(shutdownThreads);
    expect(threadStats().workers).to.equal(0);
    // Before the new worker is ready the caller runs its range too: same result, no waiting.
    const early = sharedInts(6);
    parallelFor('parallel.mark', 6, { out: early, failAt: -1 });
    expect(Array.from(early.subarray(0, 3))).to.deep.equal([0, 0, 0]);
    expect(Array.from(early).every((t) => t === 0 || t === 1)).to.equal(true);
    waitForThreads();
    const out = sharedInts(6);
    parallelFor('parallel.mark', 6, { out, failAt: -1 });
    expect(Array.from(out)).to.deep.equal([0, 0, 0, 1, 1, 1]);
  });

  it('stops starting workers after one fails to load, instead of starting (and warning about) a new one at every run', async () => {
    // The worker's entry made unloadable (a bundle without thread_worker.js); the event loop runs
    // between steps, as in a training loop awaiting its data.
    const code = `
      const wt = require('worker_threads');
      const Original = wt.Worker;
      let spawned = 0, exited = 0;
      wt.Worker = class extends Original {
        constructor(src, opts) {
          spawned++;
          super(src, { ...opts, workerData: { ...opts.workerData, entry: '/nonexistent/thread_worker.js' } });
          this.on('exit', () => { exited++; });
        }
      };
      let warnings = 0;
      process.on('warning', () => { warnings++; });
      const { setNumThreads } = require('./lib/platform/threads');
      const { parallelFor } = require('./lib/kernels/parallel');
      setNumThreads(3);
      (async () => {
        // A worker fails only once ts-node has loaded in it (seconds on a loaded machine): step on
        // until every worker started so far has ended, then 8 steps more, which must start none.
        let after = 0;
        for (let step = 0; after < 8; step++) {
          if (step > 600) throw new Error('workers still alive after ' + step + ' steps: spawned ' + spawned + ', exited ' + exited);
          const out = new Int32Array(new SharedArrayBuffer(4 * 6)).fill(-1);
          parallelFor('parallel.mark', 6, { out, failAt: -1 });
          if (!out.every((t) => t === 0)) throw new Error('step ' + step + ': ' + Array.from(out));
          await new Promise((r) => setTimeout(r, 300));
          if (exited === spawned) after++;
        }
        console.log(JSON.stringify({ spawned, warnings }));
      })();
    `;
    const { code: exitCode, out } = await runChild(code, 240000);
    expect(exitCode, out).to.equal(0);
    const r = JSON.parse(out.trim().split('\n').pop() as string) as { spawned: number; warnings: number };
    expect(r.spawned, out).to.equal(2, 'the two workers of the first run, none after they failed');
    expect(r.warnings, out).to.equal(1);
    expect(out).to.match(/a worker failed to start \(Cannot find module/);
  });

  it('lets a process that used 2 threads exit by itself, promptly, with code 0', async () => {
    const code = `
      const { getNumThreads, setNumThreads, waitForThreads, threadStats } = require('./lib/platform/threads');
      const { gemm } = require('./lib/kernels/gemm');
      const { allocate } = require('./lib/core/dtype');
      const cores = ${JSON.stringify((os as typeof os & { availableParallelism?: () => number }).availableParallelism?.() ?? os.cpus().length)};
      if (getNumThreads() !== cores) throw new Error('default thread count ' + getNumThreads() + ' != cores ' + cores);
      setNumThreads(2);
      waitForThreads();
      const n = 200, A = allocate('float32', n * n).fill(1), C = allocate('float32', n * n);
      gemm(false, false, n, n, n, A, 0, n, A, 0, n, false, C, 0, n);
      if (C[0] !== n || C[n * n - 1] !== n || threadStats().partsSent < 1) throw new Error('bad result ' + C[0]);
      console.log('done ' + Date.now());
    `;
    const { code: exitCode, out, exitAt } = await runChild(code, 120000);
    expect(exitCode, out).to.equal(0);
    const m = /done (\d+)/.exec(out);
    expect(m, out).to.not.equal(null);
    expect(exitAt - Number((m as RegExpExecArray)[1]), 'ms from the end of the work to exit').to.be.below(3000);
  });

  it('collects dead shared tensors itself, so their memory does not pile up (V8 does not count it)', async () => {
    // 2 GiB of 64 MiB shared arrays, each dropped at once; without the pool's collections
    // arrayBuffers reaches about 2 GiB here, since nothing else makes V8 collect.
    const code = `
      const { setNumThreads, sharedMemoryCollections } = require('./lib/platform/threads');
      const { allocate } = require('./lib/core/dtype');
      setNumThreads(2);
      let peak = 0;
      for (let i = 0; i < 32; i++) {
        const a = allocate('float32', 16 * 1024 * 1024);
        a[i] = i;
        peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      }
      console.log(JSON.stringify({ peakMiB: peak / 1048576, collections: sharedMemoryCollections() }));
    `;
    const { code: exitCode, out } = await runChild(code, 120000);
    expect(exitCode, out).to.equal(0);
    const r = JSON.parse(out.trim().split('\n').pop() as string) as { peakMiB: number; collections: number };
    expect(r.collections, out).to.be.at.least(7);
    // Bound: SHARED_GC_BYTES (256 MiB) of garbage, the array being made, and backing stores V8's
    // concurrent sweeper has not released yet when a collection returns (seen up to 580 MiB on a
    // busy machine); far below the 2 GiB that piles up without the collections.
    expect(r.peakMiB, out).to.be.below(768);
  });
});
