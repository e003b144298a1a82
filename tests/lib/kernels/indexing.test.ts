/**
 * The index kernels (lib/kernels/indexing.ts) against slow reference loops in float64 written here
 * from the definitions (torch.gather: out[p] = src[p with p[dim] ← index[p]]; scatter/scatter_add:
 * the same position written or added to, visiting index positions one by one in row-major order).
 * The references unravel every position separately and read and write through the views' strides
 * directly, a different walk from the kernels' collapsed row cursor. Views are random: permuted
 * dims, gaps between rows, offsets, stride-0 (broadcast) dims on the read side, and plain contiguous
 * ones (whose dims the kernels merge); ranks 0-4, dims of size 0 and 1, few distinct index values
 * (so targets repeat). Results must be bit-identical: gather and assign copy values, and add rounds
 * once per addition in index order (Math.fround for float32), which the reference does too; the
 * whole storage is compared, so nothing outside the view may change. Through F: negative dims and
 * expanded inputs.
 */
import { expect } from 'chai';
import * as F from '../../../autograd/functional';
import { Tensor } from '../../../autograd/tensor';
import type { FloatArray } from '../../../lib/core/dtype';
import type { StridedView } from '../../../lib/kernels/elementwise';
import { gather, indexAdd, indexSelect, scatter } from '../../../lib/kernels/indexing';
import { Random } from '../../../lib/random';

const rng = new Random(25_013);
type DType = 'float32' | 'float64';

interface View extends StridedView {
  readonly storage: FloatArray;
  readonly shape: readonly number[];
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function unravel(k: number, shape: readonly number[]): number[] {
  const p = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    p[d] = k % shape[d];
    k = Math.floor(k / shape[d]);
  }
  return p;
}

function offsetOf(v: StridedView, p: readonly number[]): number {
  let o = v.offset;
  for (let d = 0; d < p.length; d++) o += p[d] * v.strides[d];
  return o;
}

function alloc(dtype: DType, n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/**
 * A view of `shape` over random storage: contiguous (1 in 3), else dims laid out in a random order
 * with gaps of 0-2 elements per dim and an offset of 0-4; with `broadcast`, each dim of size > 1
 * may get stride 0 (a read-only, expanded view).
 */
function randomView(dtype: DType, shape: number[], broadcast: boolean): View {
  const nd = shape.length;
  const strides = new Array<number>(nd).fill(0);
  const contiguous = rng.integer(0, 3) === 0;
  const order = contiguous ? Array.from({ length: nd }, (_, i) => i) : Array.from(rng.permutation(nd));
  let acc = 1;
  for (let i = nd - 1; i >= 0; i--) {
    const d = order[i];
    strides[d] = acc;
    acc *= shape[d] + (contiguous ? 0 : rng.integer(0, 3));
  }
  if (broadcast && !contiguous) for (let d = 0; d < nd; d++) if (shape[d] > 1 && rng.integer(0, 3) === 0) strides[d] = 0;
  const offset = contiguous ? 0 : rng.integer(0, 5);
  const storage = alloc(dtype, offset + acc + 3);
  for (let i = 0; i < storage.length; i++) storage[i] = rng.normal();
  return { storage, offset, strides, shape };
}

/** Whole numbers in [0, hi), few distinct ones when the index is longer than hi (repeats). */
function randomIndex(shape: readonly number[], hi: number): Int32Array {
  const v = new Int32Array(numel(shape));
  for (let k = 0; k < v.length; k++) v[k] = rng.integer(0, hi);
  return v;
}

function refGather(src: View, dim: number, index: Int32Array, indexShape: readonly number[]): number[] {
  const out: number[] = [];
  for (let k = 0; k < index.length; k++) {
    const q = unravel(k, indexShape);
    q[dim] = index[k];
    out.push(src.storage[offsetOf(src, q)]);
  }
  return out;
}

/** dst's whole storage after the writes, and the owner table (last writer per storage slot). */
function refScatter(
  dtype: DType, dst: View, dim: number, index: Int32Array, indexShape: readonly number[], src: View | number, mode: 'assign' | 'add',
): { data: number[]; owner: number[] } {
  const data = Array.from(dst.storage);
  const owner = new Array<number>(data.length).fill(-1);
  const round = dtype === 'float32' ? Math.fround : (x: number) => x;
  for (let k = 0; k < index.length; k++) {
    const p = unravel(k, indexShape);
    const v = typeof src === 'number' ? src : src.storage[offsetOf(src, p)];
    const q = [...p];
    q[dim] = index[k];
    const at = offsetOf(dst, q);
    if (mode === 'add') data[at] = round(data[at] + v);
    else {
      data[at] = round(v); // a number src is stored in dst's dtype
      owner[at] = k;
    }
  }
  return { data, owner };
}

/** A random shape of rank nd with sizes from {1, 2, 3, 5} (0 with `empty`). */
function randomShape(nd: number, empty = false): number[] {
  const sizes = [1, 2, 3, 5];
  const shape = Array.from({ length: nd }, () => sizes[rng.integer(0, sizes.length)]);
  if (empty && nd > 0) shape[rng.integer(0, nd)] = 0;
  return shape;
}

/** An index shape for data of `shape` along dim: <= shape off dim (often equal), any length on dim (1-7). */
function indexShapeFor(shape: readonly number[], dim: number): number[] {
  return shape.map((s, d) => (d === dim ? rng.integer(1, 8) : rng.integer(0, 2) === 0 ? s : rng.integer(Math.min(1, s), s + 1)));
}

function fmt(name: string, v: View): string {
  return `${name} [${v.shape.join(',')}] strides [${v.strides.join(',')}] offset ${v.offset}`;
}

describe('kernels/indexing: gather and scatter against element-by-element reference loops', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype} gather: random views (permuted, gapped, broadcast), ranks 1-4, every dim, sizes 0 and 1, repeats`, () => {
      for (let trial = 0; trial < 300; trial++) {
        const nd = rng.integer(1, 5);
        const shape = randomShape(nd, trial % 10 === 0);
        const dim = rng.integer(0, nd);
        if (shape[dim] === 0) shape[dim] = 2; // an index needs something to point at
        const src = randomView(dtype, shape, true);
        const ishape = indexShapeFor(shape, dim);
        const index = randomIndex(ishape, shape[dim]);
        const out = alloc(dtype, index.length);
        gather(src, dim, index, ishape, out);
        expect(Array.from(out), `${fmt('src', src)} dim ${dim} index [${ishape.join(',')}]`).to.deep.equal(refGather(src, dim, index, ishape));
      }
    });

    it(`${dtype} scatter assign (with and without owner, tensor or number) and add: random views, repeats in index order`, () => {
      for (let trial = 0; trial < 300; trial++) {
        const nd = rng.integer(1, 5);
        const shape = randomShape(nd, trial % 10 === 0);
        const dim = rng.integer(0, nd);
        if (shape[dim] === 0) shape[dim] = 2;
        const ishape = indexShapeFor(shape, dim);
        const index = randomIndex(ishape, shape[dim]);
        const srcShape = ishape.map((s) => s + rng.integer(0, 2)); // src may be larger than index
        const src = rng.integer(0, 4) === 0 ? rng.normal() : randomView(dtype, srcShape, true);
        const what = () => `dst [${shape.join(',')}] dim ${dim} index [${ishape.join(',')}] src ${typeof src === 'number' ? src : fmt('', src)}`;
        for (const mode of ['assign', 'add'] as const) {
          const dst = randomView(dtype, shape, false);
          const ref = refScatter(dtype, dst, dim, index, ishape, src, mode);
          const owner = mode === 'assign' && rng.integer(0, 2) === 0 ? new Float64Array(dst.storage.length).fill(-1) : null;
          scatter(dst, dim, index, ishape, src, mode, owner);
          expect(Array.from(dst.storage), `${mode} ${what()}`).to.deep.equal(ref.data);
          if (owner !== null) expect(Array.from(owner), `owner ${what()}`).to.deep.equal(ref.owner);
        }
      }
    });

    it(`${dtype} long rows and merged dims: contiguous [7,130] and [3,4,50] along each dim, transposed too`, () => {
      for (const shape of [[7, 130], [3, 4, 50], [130, 1], [1, 1, 260]]) {
        for (let dim = 0; dim < shape.length; dim++) {
          for (const layout of ['contiguous', 'transposed'] as const) {
            const nd = shape.length;
            let src: View;
            if (layout === 'contiguous') {
              const storage = alloc(dtype, numel(shape));
              for (let i = 0; i < storage.length; i++) storage[i] = rng.normal();
              const strides = new Array<number>(nd);
              for (let d = nd - 1, acc = 1; d >= 0; acc *= shape[d], d--) strides[d] = acc;
              src = { storage, offset: 0, strides, shape };
            } else {
              src = randomView(dtype, shape, false);
              src = { ...src, strides: [...src.strides].reverse(), shape: [...shape].reverse() };
            }
            const s = src.shape;
            const ishape = s.map((v, d) => (d === dim ? v + 3 : v));
            const index = randomIndex(ishape, s[dim]);
            const out = alloc(dtype, index.length);
            gather(src, dim, index, ishape, out);
            expect(Array.from(out), `gather ${fmt('src', src)} dim ${dim}`).to.deep.equal(refGather(src, dim, index, ishape));
            const values = randomView(dtype, ishape, false);
            for (const mode of ['assign', 'add'] as const) {
              const dst = { ...src, storage: src.storage.slice() };
              const ref = refScatter(dtype, dst, dim, index, ishape, values, mode);
              scatter(dst, dim, index, ishape, values, mode);
              expect(Array.from(dst.storage), `scatter ${mode} ${fmt('dst', dst)} dim ${dim}`).to.deep.equal(ref.data);
            }
          }
        }
      }
    });
  }

  it('rank 0 (index shape []) and empty indices', () => {
    const out = new Float64Array(1);
    gather({ storage: new Float64Array([9, 7]), offset: 1, strides: [] }, 0, new Int32Array([0]), [], out);
    expect(Array.from(out)).to.deep.equal([7]);
    const dst = { storage: new Float32Array([1, 2]), offset: 1, strides: [] };
    scatter(dst, 0, new Int32Array([0]), [], 0.5, 'add');
    expect(Array.from(dst.storage)).to.deep.equal([1, 2.5]);
    // An empty index reads and writes nothing (the kernel may not even look at src).
    const untouched = new Float32Array([1, 2, 3, 4]);
    scatter({ storage: untouched, offset: 0, strides: [2, 1] }, 1, new Int32Array(0), [2, 0], { storage: new Float32Array(0), offset: 0, strides: [0, 1] }, 'assign');
    scatter({ storage: untouched, offset: 0, strides: [2, 1] }, 0, new Int32Array(0), [0, 2], 5, 'add');
    expect(Array.from(untouched)).to.deep.equal([1, 2, 3, 4]);
    gather({ storage: untouched, offset: 0, strides: [2, 1] }, 1, new Int32Array(0), [2, 0], new Float32Array(0));
  });

  it('repeated targets: the last write wins, and additions round one by one in index order', () => {
    // torch.scatter_ docs example shape: src [5, 6, 7] into zeros at [1, 1, 2].
    const a = { storage: new Float64Array(3), offset: 0, strides: [1] };
    scatter(a, 0, new Int32Array([1, 1, 2]), [3], { storage: new Float64Array([5, 6, 7]), offset: 0, strides: [1] }, 'assign');
    expect(Array.from(a.storage)).to.deep.equal([0, 6, 7]);
    // 0 + 1 + 2^24 rounds to 2^24 in float32 (ties to even), then − 2^24 gives 0; any other order gives 1.
    const b = { storage: new Float32Array(2), offset: 0, strides: [1] };
    scatter(b, 0, new Int32Array([1, 1, 1]), [3], { storage: new Float32Array([1, 2 ** 24, -(2 ** 24)]), offset: 0, strides: [1] }, 'add');
    expect(Array.from(b.storage)).to.deep.equal([0, 0]);
    // The same along dim 1 of a 2-d view, rows walked first: row 0 then row 1.
    const c = { storage: new Float64Array(2), offset: 0, strides: [0, 1] }; // one output row read by both index rows
    scatter(c, 1, new Int32Array([0, 0, 0, 0]), [2, 2], { storage: new Float64Array([1, 2 ** 53, -(2 ** 53), 5]), offset: 0, strides: [2, 1] }, 'add');
    // ((0 + 1) + 2^53) = 2^53 (rounded), + (−2^53) = 0, + 5 = 5.
    expect(Array.from(c.storage)).to.deep.equal([5, 0]);
  });
});

describe('kernels/indexing: indexSelect and indexAdd against reference loops', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype} [outer, D, inner] with inner 1 and > 1, repeats, empty index, padding row and scale`, () => {
      for (const [outer, D, inner] of [[1, 5, 1], [4, 3, 1], [3, 4, 6], [1, 1, 1], [2, 7, 3], [0, 3, 2], [3, 2, 0]]) {
        for (const n of [0, 1, 6]) {
          const src = alloc(dtype, outer * D * inner);
          for (let i = 0; i < src.length; i++) src[i] = rng.normal();
          const index = randomIndex([n], D);
          const out = alloc(dtype, outer * n * inner);
          indexSelect(src, outer, D, inner, index, out);
          const ref: number[] = [];
          for (let o = 0; o < outer; o++) for (let j = 0; j < n; j++) for (let i = 0; i < inner; i++) ref.push(src[(o * D + index[j]) * inner + i]);
          expect(Array.from(out), `select ${outer}x${D}x${inner} n ${n}`).to.deep.equal(ref);

          const round = dtype === 'float32' ? Math.fround : (x: number) => x;
          const g = alloc(dtype, outer * n * inner);
          for (let i = 0; i < g.length; i++) g[i] = rng.normal();
          const skip = rng.integer(0, 2) === 0 ? -1 : rng.integer(0, D);
          let scale: FloatArray | null = null;
          if (rng.integer(0, 2) === 0) {
            scale = alloc(dtype, D);
            for (let r = 0; r < D; r++) scale[r] = rng.uniform();
          }
          for (const [sk, sc] of [[-1, null], [skip, scale]] as const) {
            const dst = alloc(dtype, outer * D * inner);
            for (let i = 0; i < dst.length; i++) dst[i] = rng.normal();
            const expected = Array.from(dst);
            for (let o = 0; o < outer; o++) {
              for (let j = 0; j < n; j++) {
                if (index[j] === sk) continue;
                for (let i = 0; i < inner; i++) {
                  const at = (o * D + index[j]) * inner + i, v = g[(o * n + j) * inner + i];
                  expected[at] = round(expected[at] + (sc === null ? v : sc[index[j]] * v));
                }
              }
            }
            indexAdd(dst, outer, D, inner, index, g, sk, sc);
            expect(Array.from(dst), `add ${outer}x${D}x${inner} n ${n} skip ${sk} scale ${sc !== null}`).to.deep.equal(expected);
          }
        }
      }
    });
  }
});

describe('kernels/indexing through F: negative dims, expanded and transposed inputs', () => {
  /** A [2,3,4] view read through at() for the reference: an expand of [1,3,4] or a permute of [4,3,2]. */
  function inputs(dtype: DType): Tensor[] {
    const base = new Tensor(alloc(dtype, 12), [1, 3, 4], [12, 4, 1], 0);
    for (let i = 0; i < 12; i++) base.storage[i] = rng.normal();
    const perm = new Tensor(alloc(dtype, 24), [4, 3, 2], [6, 2, 1], 0);
    for (let i = 0; i < 24; i++) perm.storage[i] = rng.normal();
    return [F.expand(base, [2, 3, 4]), F.permute(perm, [2, 1, 0])];
  }
  function read(t: Tensor, p: readonly number[]): number {
    return t.storage[offsetOf(t, p)];
  }
  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype} gather, scatterAdd, scatter and indexSelect with dims -1, -2, -3`, () => {
      for (const x of inputs(dtype)) {
        for (const negDim of [-1, -2, -3]) {
          const dim = negDim + 3;
          const ishape = x.shape.map((s, d) => (d === dim ? 5 : s));
          const iv = randomIndex(ishape, x.shape[dim]);
          const index = new Tensor(Float64Array.from(iv), ishape, ishape.map((_, d) => numel(ishape.slice(d + 1))), 0);
          const view = { storage: x.storage, offset: x.offset, strides: x.strides, shape: x.shape };
          expect(Array.from(F.gather(x, negDim, index).data), `gather ${negDim}`).to.deep.equal(refGather(view, dim, iv, ishape));

          // scatterAdd into a copy of x's values (contiguous [2,3,4]) from an expanded src.
          const sshape = ishape;
          const srcBase = new Tensor(alloc(dtype, numel(sshape.slice(1))), [1, ...sshape.slice(1)], [0, ...sshape.slice(1).map((_, d) => numel(sshape.slice(d + 2)))], 0);
          for (let i = 0; i < srcBase.storage.length; i++) srcBase.storage[i] = rng.normal();
          const src = F.expand(srcBase, sshape);
          const dense = alloc(dtype, 24);
          for (let k = 0; k < 24; k++) dense[k] = read(x, unravel(k, x.shape));
          const dstView = { storage: dense, offset: 0, strides: [12, 4, 1], shape: x.shape };
          const srcView = { storage: src.storage, offset: src.offset, strides: src.strides, shape: src.shape };
          for (const mode of ['add', 'assign'] as const) {
            const expected = refScatter(dtype, dstView, dim, iv, ishape, srcView, mode).data;
            const got = mode === 'add' ? F.scatterAdd(x, negDim, index, src) : F.scatter(x, negDim, index, src);
            expect(Array.from(got.data), `${mode} ${negDim}`).to.deep.equal(expected);
          }

          const sel = [x.shape[dim] - 1, 0, x.shape[dim] - 1];
          const selShape = x.shape.map((s, d) => (d === dim ? 3 : s));
          const expected: number[] = [];
          for (let k = 0; k < numel(selShape); k++) {
            const p = unravel(k, selShape);
            p[dim] = sel[p[dim]];
            expected.push(read(x, p));
          }
          const got = F.indexSelect(x, negDim, sel);
          expect(got.shape).to.deep.equal(selShape);
          expect(Array.from(got.data), `indexSelect ${negDim}`).to.deep.equal(expected);
        }
      }
    });
  }
});
