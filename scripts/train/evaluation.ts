/**
 * Evaluation of a classifier over a whole split: mean cross-entropy, accuracy and the confusion
 * matrix, in eval mode (BatchNorm uses its running statistics) under noGrad (no tape, no saved
 * activations). Shared by the training loop (every epoch) and scripts/evaluate.ts.
 */
import { Tensor } from '../../autograd/tensor';
import { noGrad } from '../../autograd/tape';
import * as F from '../../autograd/functional';
import type { DataLoader } from '../../lib/data/loader';
import type { Module } from '../../models/nn/module';

export interface EvalResult {
  /** Mean cross-entropy (no label smoothing) over the split. */
  loss: number;
  accuracy: number;
  count: number;
  /** confusion[t][p]: images of true class t predicted as p. */
  confusion: number[][];
}

/**
 * Index of the first maximum of each row of an [n, c] row-major array (what torch.argmax returns):
 * a NaN counts as the maximum, so a row holding one gives its first NaN, as in torch.
 */
export function argmaxRows(data: ArrayLike<number>, n: number, c: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = data[i * c];
    for (let j = 1; j < c && bv === bv; j++) {
      const v = data[i * c + j];
      if (v > bv || v !== v) {
        bv = v;
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}

/**
 * Runs `model` over every batch of `loader` (which should not shuffle or augment) and restores
 * the model's train/eval mode afterwards. `between` is awaited after each batch so a signal
 * handler can run during a long evaluation.
 */
export async function evaluateModel(
  model: Module,
  loader: DataLoader,
  numClasses: number,
  between: () => Promise<void> = async () => {},
): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let lossSum = 0;
  let count = 0;
  let correct = 0;
  try {
    for (const batch of loader) {
      const { logits, loss } = noGrad(() => {
        const x = new Tensor(batch.images, [batch.size, 3, 32, 32]);
        const out = model.call(x);
        return { logits: out, loss: F.crossEntropy(out, batch.labels, { reduction: 'sum' }).item() };
      });
      const pred = argmaxRows(logits.data, batch.size, numClasses);
      for (let i = 0; i < batch.size; i++) {
        confusion[batch.labels[i]][pred[i]]++;
        if (pred[i] === batch.labels[i]) correct++;
      }
      lossSum += loss;
      count += batch.size;
      await between();
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: count ? lossSum / count : NaN, accuracy: count ? correct / count : NaN, count, confusion };
}

/** Per-class accuracy (recall): the diagonal over the row sums; NaN for a class with no images. */
export function perClassAccuracy(confusion: readonly (readonly number[])[]): number[] {
  return confusion.map((row, t) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n ? row[t] / n : NaN;
  });
}

/** A right-aligned text table; the first column is left-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const fmt = (r: readonly string[]): string => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ').trimEnd();
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

/** Per-class accuracy table: class, images, correct, accuracy. */
export function formatPerClass(classNames: readonly string[], confusion: readonly (readonly number[])[]): string {
  const acc = perClassAccuracy(confusion);
  const rows = classNames.map((name, t) => {
    const n = confusion[t].reduce((a, b) => a + b, 0);
    return [`${t} ${name}`, String(n), String(confusion[t][t]), Number.isNaN(acc[t]) ? '-' : `${(100 * acc[t]).toFixed(1)}%`];
  });
  return formatTable(['class', 'images', 'correct', 'accuracy'], rows);
}

/**
 * The confusion matrix with true classes as rows (named) and predictions as columns (numbered,
 * because ten full names do not fit across a terminal; the row labels give the numbers' names).
 */
export function formatConfusion(classNames: readonly string[], confusion: readonly (readonly number[])[]): string {
  const header = ['true \\ predicted', ...classNames.map((_, j) => String(j))];
  const rows = classNames.map((name, t) => [`${t} ${name}`, ...confusion[t].map(String)]);
  return formatTable(header, rows);
}
