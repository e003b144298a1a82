/** Slow, obviously-correct reference helpers shared by tests. */
import { Tensor } from '../autograd/tensor';
import { Random } from '../lib/random';

/** Row-major multi-index of flat index k. */
export function unravel(k: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = k % shape[d];
    k = Math.floor(k / shape[d]);
  }
  return idx;
}

/** Element of t at a multi-index, read through its strides. */
export function at(t: Tensor, idx: readonly number[]): number {
  let o = t.offset;
  idx.forEach((i, d) => { o += i * t.strides[d]; });
  return t.storage[o];
}

/** Reference broadcasting: index of each output element mapped back to an input of `shape`. */
export function broadcastIndex(outIdx: readonly number[], shape: readonly number[]): number[] {
  const lead = outIdx.length - shape.length;
  return shape.map((d, i) => (d === 1 ? 0 : outIdx[lead + i]));
}

export function randomTensor(rng: Random, shape: number[], dtype: 'float32' | 'float64' = 'float64', fn: (u: number) => number = (u) => u): Tensor {
  const t = Tensor.empty(shape, dtype);
  for (let i = 0; i < t.storage.length; i++) t.storage[i] = fn(rng.normal());
  return t;
}

/** A non-contiguous tensor with the given shape (transpose of a contiguous one). */
export function randomTransposed(rng: Random, shape: number[], dtype: 'float32' | 'float64' = 'float64'): Tensor {
  const n = shape.length;
  const base = randomTensor(rng, [...shape.slice(0, n - 2), shape[n - 1], shape[n - 2]], dtype);
  const strides = [...base.strides];
  [strides[n - 2], strides[n - 1]] = [strides[n - 1], strides[n - 2]];
  return new Tensor(base.storage, shape, strides, 0);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return Infinity;
    if (d > m) m = d;
  }
  return m;
}

/** Is the ../shared directory (fixtures, data) present beside the repo? */
import * as path from 'path';
import * as fs from 'fs';
export const SHARED_DIR = path.resolve(__dirname, '..', '..', 'shared');
export function sharedAvailable(sub = ''): boolean {
  return fs.existsSync(path.join(SHARED_DIR, sub));
}
