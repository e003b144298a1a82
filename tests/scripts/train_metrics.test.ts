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
import { loadCheckpoint } from '../../lib/io/checkpoint';
import { readSafetensors } from '../../lib/io/safetensors';
import { main } from '../../scripts/train-cifar';
import { argmaxRows } from '../../scripts/train/evaluation';
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

  it('logs the lr each step used (StepLR halving after every epoch) and per-image means of the steps', async () => {
    const out = path.join(dir, 'lr');
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await main(['--width', '2', '--synthetic-train', '48', '--synthetic-test', '20', '--batch-size', '16', '--eval-batch-size', '8',
      '--epochs', '2', '--optimizer', 'sgd', '--lr', '0.1', '--schedule', 'step', '--step-epochs', '1', '--gamma', '0.5',
      '--log-every', '1', '--threads', '1', '--out', out], { stdout, stderr, stop: { requested: null } });
    expect(code, stderr.text).to.equal(0);
    const records = readRecords(out);
    const steps = records.filter((r): r is StepRecord => r.type === 'step');
    const epochs = records.filter((r): r is EpochRecord => r.type === 'epoch');
    // torch: for x, y in loader: ...; optimizer.step(); scheduler.step() with StepLR(step_size=3 batches, gamma=0.5):
    // batches 1-3 update with lr 0.1, batches 4-6 with 0.05.
    expect(steps.map((s) => s.globalStep)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(steps.map((s) => s.lr)).to.deep.equal([0.1, 0.1, 0.1, 0.05, 0.05, 0.05]);
    expect(epochs.map((e) => e.lr)).to.deep.equal([0.1, 0.05]);
    for (const [k, e] of epochs.entries()) {
      // Three full batches of 16 (none dropped): the epoch's means are the means of its steps' means.
      const own = steps.slice(3 * k, 3 * k + 3);
      expect(e.trainLoss).to.be.closeTo(own.reduce((a, s) => a + s.loss, 0) / 3, 1e-12);
      expect(e.trainAccuracy * 48).to.be.closeTo(own.reduce((a, s) => a + s.accuracy * 16, 0), 1e-9);
      // 20 test images in batches of 8, 8, 4: each counted once, so the accuracy is a count over 20.
      expect(Math.abs(e.testAccuracy * 20 - Math.round(e.testAccuracy * 20))).to.be.below(1e-9);
    }

    // The final model file is the last checkpoint's weights, bit for bit, under the same names.
    const ck = loadCheckpoint(path.join(out, 'checkpoint.safetensors'));
    const final = readSafetensors(path.join(out, 'model.safetensors')).tensors;
    const names = [...ck.tensors.keys()].filter((k) => k.startsWith('model.'));
    expect(names.map((k) => k.slice('model.'.length)).sort()).to.deep.equal([...final.keys()].sort());
    for (const k of names) {
      const a = ck.tensors.get(k)!.data;
      const b = final.get(k.slice('model.'.length))!.data;
      expect(b.length, k).to.equal(a.length);
      for (let i = 0; i < a.length; i++) if (!Object.is(Number(a[i]), Number(b[i]))) expect.fail(`${k}[${i}]: ${b[i]} in model.safetensors, ${a[i]} in the checkpoint`);
    }
  });

  it('argmaxRows picks what torch.argmax(dim=1) picks: the first maximum, and a NaN as the maximum', () => {
    // torch.argmax(torch.tensor([[1., nan, 3., nan], [nan, 5., 2., 0.], [2., 7., 7., -inf], [-inf, -inf, -inf, -inf]]), 1) == [1, 0, 1, 0]
    const rows = [1, NaN, 3, NaN, NaN, 5, 2, 0, 2, 7, 7, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity];
    expect([...argmaxRows(rows, 4, 4)]).to.deep.equal([1, 0, 1, 0]);
  });
});
