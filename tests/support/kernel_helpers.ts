/**
 * Helpers shared by the kernel tests in tests/lib/kernels (array builders, comparisons, range
 * splits, central differences). Not a spec file: mocha only runs the *.test.ts files under tests/.
 *
 * This module deliberately imports neither lib/platform/threads nor the WebAssembly kernels, so a
 * test file that loads it alone keeps the default (unshared) storage; see ./kernel_modes for those.
 */
import { expect } from 'chai';
import { allocate, type DType, type FloatArray } from '../../lib/core/dtype';
import type { Random } from '../../lib/random';

/** An array of `dtype` holding `values`. */
export function arr(dtype: DType, values: readonly number[]): FloatArray {
  const a = allocate(dtype, values.length);
  a.set(values);
  return a;
}

/** `n` values offset + scale·N(0, 1). */
export function randArr(rng: Random, dtype: DType, n: number, scale = 1, offset = 0): FloatArray {
  const a = allocate(dtype, n);
  for (let i = 0; i < n; i++) a[i] = offset + scale * rng.normal();
  return a;
}

/** An array of `n` NaNs, so any element a kernel fails to write shows up. */
export function nanFilled(dtype: DType, n: number): FloatArray {
  const a = allocate(dtype, n);
  a.fill(NaN);
  return a;
}

/** Element-wise |a − e| <= atol + rtol·|e|; NaNs and infinities must coincide. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, msg = ''): void {
  expect(actual.length, `${msg} length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) {
      expect(Number.isNaN(a), `${msg} [${i}] expected NaN, got ${a}`).to.equal(true);
      continue;
    }
    if (!Number.isFinite(e)) {
      expect(a, `${msg} [${i}]`).to.equal(e);
      continue;
    }
    expect(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${msg} [${i}]: ${a} vs ${e}`).to.equal(true);
  }
}

/** The same elements, in the same order (deep equality of plain arrays). */
export function expectSame(actual: ArrayLike<number>, expected: ArrayLike<number>, msg = ''): void {
  expect(Array.from(actual), msg).to.deep.equal(Array.from(expected));
}

/**
 * Random split points of [0, total) into 1..4 chunks, in shuffled order, so range calls can be
 * exercised out of order. (For total = 0 no split points are drawn.)
 */
export function randomChunks(rng: Random, total: number): [number, number][] {
  const cuts = new Set<number>([0, total]);
  const k = rng.integer(0, 4);
  for (let i = 0; i < k && total > 0; i++) cuts.add(rng.integer(0, total + 1));
  const pts = [...cuts].sort((a, b) => a - b);
  const chunks: [number, number][] = [];
  for (let i = 0; i + 1 < pts.length; i++) chunks.push([pts[i], pts[i + 1]]);
  const perm = rng.permutation(chunks.length);
  return Array.from(perm, (j) => chunks[j]);
}

/** Central differences of a scalar function of x (float64), all coordinates. */
export function numericGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const old = x[i];
    x[i] = old + h;
    const fp = f(x);
    x[i] = old - h;
    const fm = f(x);
    x[i] = old;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** Σ a[i]·b[i]. */
export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
