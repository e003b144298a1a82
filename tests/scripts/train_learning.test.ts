/**
 * A short training run must learn: on a small synthetic subset the training loss falls well below
 * its starting value and test accuracy clearly beats chance (10% for ten balanced classes).
 *
 * The threshold comes from measurements of this exact configuration (width 8, 2,000 images,
 * 6 epochs, Adam 0.006 with one-cycle, no augmentation): over seeds 0–5 the final test accuracy
 * was 59.0, 50.3, 51.7, 57.3, 61.0, 56.7% and the training accuracy 63.7, 48.5, 61.2, 56.9, 64.6,
 * 60.9%; the last epoch's mean training loss was 37–54% of the first epoch's (2.35–2.44, about
 * ln 10 ≈ 2.30, i.e. chance). The assertions (test ≥ 40%, train ≥ 35%, loss < 70% of the start)
 * sit about ten points below the worst seed.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../scripts/train-cifar';
import type { EpochRecord, StepRecord } from '../../scripts/train/metrics';
import { Capture } from '../support/capture';

describe('scripts/train-cifar: a short run learns', function () {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-learn-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('drives the loss down and reaches test accuracy far above chance', async () => {
    const out = path.join(dir, 'run');
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await main(['--width', '8', '--synthetic-train', '2000', '--synthetic-test', '300', '--epochs', '6', '--batch-size', '32',
      '--optimizer', 'adam', '--lr', '0.006', '--no-augment', '--seed', '0', '--log-every', '10', '--out', out],
    { stdout, stderr, stop: { requested: null } });
    expect(code, stderr.text).to.equal(0);

    const records = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf-8').trim().split('\n').map((l) => JSON.parse(l) as StepRecord | EpochRecord);
    const epochs = records.filter((r): r is EpochRecord => r.type === 'epoch');
    const steps = records.filter((r): r is StepRecord => r.type === 'step');
    expect(epochs.map((r) => r.epoch)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const first = epochs[0];
    const last = epochs[epochs.length - 1];

    // The loss falls: the last epoch's mean is far below the first's, and below the first logged window.
    expect(last.trainLoss).to.be.below(0.7 * first.trainLoss);
    expect(last.trainLoss).to.be.below(0.7 * steps[0].loss);
    expect(last.testLoss).to.be.below(first.testLoss);
    // Accuracy clearly beats chance (10%).
    expect(last.testAccuracy).to.be.at.least(0.4);
    expect(last.trainAccuracy).to.be.at.least(0.35);

    // What the run left behind is complete and consistent with the log.
    for (const f of ['config.json', 'curves.svg', 'checkpoint.safetensors', 'checkpoint.json', 'model.safetensors']) {
      expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
    }
    expect(stdout.text).to.include(`done: test accuracy ${(100 * last.testAccuracy).toFixed(2)}%`);
    const svg = fs.readFileSync(path.join(out, 'curves.svg'), 'utf-8');
    for (const label of ['Loss', 'Accuracy', 'epoch', 'train', 'test', 'accuracy (%)']) expect(svg).to.include(`>${label}</text>`);
    expect(svg.match(/<circle /g)).to.have.length(4 * 6);
  });
});
