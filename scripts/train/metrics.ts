/**
 * metrics.jsonl: one JSON object a line, appended as training goes, so a crash loses at most the
 * line being written and `tail -f` / pandas.read_json(lines=True) can follow a run.
 *
 * A "step" record every --log-every steps averages the steps since the previous one; an "epoch"
 * record closes each epoch with the test-split evaluation. `time` is wall-clock (ISO 8601),
 * `elapsed` the seconds spent training and evaluating in this run and the runs it resumed.
 * Training time is wall-clock time from the epoch's start to its last step: loading and augmenting
 * the batches, logging and the yields between steps count, not just forward, backward and update.
 *
 * On --resume the file is cut back to the records the checkpoint already covers, so the steps
 * that are about to be re-run do not appear twice.
 */
import * as fs from 'fs';

export interface StepRecord {
  type: 'step';
  epoch: number;
  /** Steps done in this epoch (1-based position of the record's last step). */
  step: number;
  stepsPerEpoch: number;
  globalStep: number;
  /** Mean training loss and accuracy over the steps since the previous step record. */
  loss: number;
  accuracy: number;
  lr: number;
  imagesPerSec: number;
  time: string;
  elapsed: number;
}

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  globalStep: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  /** The learning rate of the epoch's last step. */
  lr: number;
  epochSeconds: number;
  /** Training images per second over the epoch (evaluation excluded). */
  imagesPerSec: number;
  time: string;
  elapsed: number;
}

export type MetricsRecord = StepRecord | EpochRecord;

export class MetricsLog {
  constructor(readonly file: string) {}

  append(record: MetricsRecord): void {
    fs.appendFileSync(this.file, `${JSON.stringify(record)}\n`);
  }

  /**
   * Keeps the records `keep` accepts (and drops a torn last line), rewriting the file atomically;
   * reads from `fallback` (the checkpoint's run directory) when this file does not exist yet.
   */
  truncateForResume(keep: (r: MetricsRecord) => boolean, fallback: string | null): void {
    const source = fs.existsSync(this.file) ? this.file : fallback !== null && fs.existsSync(fallback) ? fallback : null;
    const kept = source === null ? [] : readMetrics(source).filter(keep);
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    fs.renameSync(tmp, this.file);
  }
}

/** Parses a metrics file, skipping lines that are not whole records (a line cut by a crash). */
export function readMetrics(file: string): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (const line of fs.readFileSync(file, 'utf-8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const r = JSON.parse(line) as MetricsRecord;
      if ((r.type === 'step' || r.type === 'epoch') && typeof r.globalStep === 'number') out.push(r);
    } catch {
      // a torn final line; the checkpoint it belonged to was never written
    }
  }
  return out;
}
