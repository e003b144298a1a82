/**
 * What train-cifar's metrics.jsonl reports, against what a PyTorch user timing and averaging a loop
 * by hand would get:
 *  - images/s, epochSeconds and elapsed come from the wall clock of the loop, so everything between
 *    two optimizer steps counts (fetching and augmenting the batch, logging, the yield to the event
 *    loop), not only forward/backward/step;
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../scripts/train-cifar';
import type { EpochRecord, StepRecord } from '../../scripts/train/metrics';
import { Capture } from '../support/capture';

/** Blocks the thread for `ms` milliseconds (no timers involved, so it cannot return early). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readRecords(dir: string): (StepRecord | EpochRecord)[] {
  return fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf-8').trim().split('\n').map((l) => JSON.parse(l) as StepRecord | EpochRecord);
}

describe('scripts/train-cifar: the numbers metrics.jsonl reports', function () {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-metrics-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('images/s and epoch time count the wall-clock time between steps, not only the steps themselves', async () => {
    const out = path.join(dir, 'timing');
    const PAUSE_MS = 60;
    const BATCH = 16;
    const STEPS = 4;
    const stdout = new Capture();
    const stderr = new Capture();
    const t0 = performance.now();
    const code = await main(['--width', '2', '--synthetic-train', String(BATCH * STEPS), '--synthetic-test', '16', '--batch-size', String(BATCH),
      '--eval-batch-size', '16', '--epochs', '1', '--no-augment', '--log-every', '1', '--threads', '1', '--out', out],
    {
      stdout, stderr, stop: { requested: null },
      // Stands for anything slow between two steps (a slow disk under the loader, a busy event loop).
      pause: async () => sleepSync(PAUSE_MS),
    });
    const wall = (performance.now() - t0) / 1000;
    expect(code, stderr.text).to.equal(0);
    const records = readRecords(out);
    const steps = records.filter((r): r is StepRecord => r.type === 'step');
    const epoch = records.find((r): r is EpochRecord => r.type === 'epoch')!;
    expect(steps.map((s) => s.step)).to.deep.equal([1, 2, 3, 4]);
    // Steps 2..4 each start after a pause of PAUSE_MS, which is part of their wall-clock time.
    for (const s of steps.slice(1)) expect(s.imagesPerSec, `step ${s.step}`).to.be.at.most(BATCH / (PAUSE_MS / 1000));
    // The epoch's training time holds at least the three pauses between its four steps, and the
    // evaluation (one batch, then a pause) at least one more.
    expect(epoch.imagesPerSec).to.be.at.most((BATCH * STEPS) / ((3 * PAUSE_MS) / 1000));
    expect(epoch.epochSeconds).to.be.at.least((4 * PAUSE_MS) / 1000);
    expect(epoch.elapsed).to.equal(epoch.epochSeconds);
    // And never more than the run's own wall-clock time.
    expect(epoch.epochSeconds).to.be.below(wall);
  });
});
