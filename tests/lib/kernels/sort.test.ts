/**
 * The ordering kernels (lib/kernels/sort.ts) on long lines against a rank-counting reference in
 * float64 (an O(n²) loop: how many elements come strictly before, NaN the largest, plus the equal
 * ones sitting earlier — the stable order), a different algorithm from the kernel's. Lines of
 * lengths around the kernel's run and merge boundaries (1, 2, 15–17, 31–33, 100, 1000), heavy ties,
 * NaN, ±Infinity and ±0, inner strides > 1, windows [start, start + count) of the order (topk,
 * kthvalue), both directions; medianIndices against torch's CPU rule (first NaN, else the
 * ⌊(D − 1)/2⌋-th of the order with ties by position).
 */
import { expect } from 'chai';
import { medianIndices, sortIndices } from '../../../lib/kernels/sort';
import { Random } from '../../../lib/random';

const rng = new Random(25_007);

function before(a: number, b: number): boolean {
  return a < b || (Number.isNaN(b) && !Number.isNaN(a));
}

function tie(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** Stable order of `line` by rank counting. */
function refOrder(line: ArrayLike<number>, descending: boolean): number[] {
  const n = line.length;
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rank = 0;
    for (let j = 0; j < n; j++) {
      const first = descending ? before(line[i], line[j]) : before(line[j], line[i]);
      if (first || (j < i && tie(line[j], line[i]))) rank++;
    }
    order[rank] = i;
  }
  return order;
}

/** outer × D × inner values: few distinct values (ties), or spread ones, with NaN/±Inf/±0 mixed in. */
function data(dtype: 'float32' | 'float64', n: number, mode: 'ties' | 'spread' | 'sorted' | 'reversed' | 'special'): Float32Array | Float64Array {
  const a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    if (mode === 'ties') a[i] = rng.integer(-3, 4);
    else if (mode === 'spread') a[i] = rng.normal();
    else if (mode === 'sorted') a[i] = i;
    else if (mode === 'reversed') a[i] = n - i;
    else a[i] = u < 0.15 ? NaN : u < 0.25 ? Infinity : u < 0.35 ? -Infinity : u < 0.5 ? -0 : u < 0.6 ? 0 : rng.integer(-2, 3);
  }
  return a;
}

const LENGTHS = [1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 1000];
const MODES = ['ties', 'spread', 'sorted', 'reversed', 'special'] as const;

describe('kernels/sort: sortIndices and medianIndices against rank counting', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const D of LENGTHS) {
      it(`${dtype} lines of ${D}, every mode, inner 1 and 3, both directions, full and windowed`, () => {
        for (const mode of MODES) {
          for (const [outer, inner] of [[2, 1], [1, 3]]) {
            const x = data(dtype, outer * D * inner, mode);
            for (const descending of [false, true]) {
              const full = dtype === 'float32' ? new Float32Array(outer * D * inner) : new Float64Array(outer * D * inner);
              sortIndices(x, outer, D, inner, descending, 0, D, full);
              const start = D > 2 ? rng.integer(0, D) : 0;
              const count = rng.integer(1, D - start + 1);
              const win = new Float64Array(outer * count * inner);
              sortIndices(x, outer, D, inner, descending, start, count, win);
              for (let o = 0; o < outer; o++) {
                for (let i = 0; i < inner; i++) {
                  const line = Array.from({ length: D }, (_, d) => x[o * D * inner + d * inner + i]);
                  const order = refOrder(line, descending);
                  const got = Array.from({ length: D }, (_, j) => full[o * D * inner + j * inner + i]);
                  expect(got, `${mode} outer ${o} inner ${i} descending ${descending}`).to.deep.equal(order);
                  const gotWin = Array.from({ length: count }, (_, j) => win[o * count * inner + j * inner + i]);
                  expect(gotWin, `${mode} window [${start}, ${start + count})`).to.deep.equal(order.slice(start, start + count));
                }
              }
            }
            const med = new Float64Array(outer * inner);
            medianIndices(x, outer, D, inner, med);
            for (let o = 0; o < outer; o++) {
              for (let i = 0; i < inner; i++) {
                const line = Array.from({ length: D }, (_, d) => x[o * D * inner + d * inner + i]);
                const nan = line.findIndex((v) => Number.isNaN(v));
                const want = nan >= 0 ? nan : refOrder(line, false)[(D - 1) >> 1];
                expect(med[o * inner + i], `${mode} median outer ${o} inner ${i}`).to.equal(want);
              }
            }
          }
        }
      });
    }
  }
});
