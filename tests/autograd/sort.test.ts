/**
 * sort, argsort, topk, kthvalue and median against reference loops written here from the PyTorch
 * 1.13 docs and CPU rules: an element's sorted place is its rank, counted in float64 by an O(n²)
 * loop (how many elements come strictly before it, NaN counting as the largest, plus how many equal
 * ones sit earlier: the stable order), a different algorithm from the kernel's merge sort. Inputs
 * with ties, NaN, ±Infinity and ±0, negative dims, keepdim, 1-element and empty dims, 0-d tensors,
 * non-contiguous views, float32 and float64. Gradients by float64 gradcheck on inputs without ties,
 * and median()'s tie-splitting gradient against torch's evenly_distribute_backward rule; every error path.
 */
import { expect } from 'chai';
import { arange, tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { at, randomTensor, randomTransposed, unravel } from '../helpers';

const rng = new Random(25_002);
const TOL = { atol: 1e-7, rtol: 1e-6 };
type DType = 'float32' | 'float64';

/** Does a come strictly before b in ascending order (NaN the largest)? */
function lessNaNLast(a: number, b: number): boolean {
  return a < b || (Number.isNaN(b) && !Number.isNaN(a));
}

function tie(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** Positions of `line` in stable sorted order, by rank counting. */
function refOrder(line: readonly number[], descending: boolean): number[] {
  const order = new Array<number>(line.length);
  for (let i = 0; i < line.length; i++) {
    let rank = 0;
    for (let j = 0; j < line.length; j++) {
      const first = descending ? lessNaNLast(line[i], line[j]) : lessNaNLast(line[j], line[i]);
      if (first || (j < i && tie(line[j], line[i]))) rank++;
    }
    order[rank] = i;
  }
  return order;
}

/** Every line of x along dim: the other coordinates (row-major over the shape without dim) and the values. */
function lines(x: Tensor, dim: number): { rest: number[]; values: number[] }[] {
  const d = dim < 0 ? dim + x.ndim : dim;
  const restShape = x.shape.filter((_, i) => i !== d);
  const n = restShape.reduce((a, b) => a * b, 1);
  const out: { rest: number[]; values: number[] }[] = [];
  for (let k = 0; k < n; k++) {
    const rest = unravel(k, restShape);
    const values: number[] = [];
    for (let j = 0; j < x.shape[d]; j++) values.push(at(x, [...rest.slice(0, d), j, ...rest.slice(d)]));
    out.push({ rest, values });
  }
  return out;
}

/** The entry of a result t (t's dim d holding per-line entries) at line coordinates `rest` and place j. */
function entry(t: Tensor, d: number, rest: readonly number[], j: number): number {
  return at(t, [...rest.slice(0, d), j, ...rest.slice(d)]);
}

/** Same number, NaN equal to NaN and −0 distinct from +0. */
function same(a: number, b: number): boolean {
  return Object.is(a, b);
}

/** A tensor of small whole numbers (many ties), with NaNs, ±Infinity and −0 sprinkled in. */
function tiedTensor(shape: number[], dtype: DType, transposed = false): Tensor {
  const t = transposed ? randomTransposed(rng, shape, dtype) : randomTensor(rng, shape, dtype);
  const s = t.storage;
  for (let i = 0; i < s.length; i++) {
    const u = rng.uniform();
    s[i] = u < 0.1 ? NaN : u < 0.15 ? Infinity : u < 0.2 ? -Infinity : u < 0.3 ? -0 : rng.integer(-3, 4);
  }
  return t;
}

/** Distinct values (a shuffled range scaled by a random factor), so every gradient is well defined. */
function distinctTensor(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.37);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.integer(0, i + 1);
    [vals[i], vals[j]] = [vals[j], vals[i]];
  }
  return tensor(vals, { dtype: 'float64' }).reshape(shape);
}

const CASES: { shape: number[]; dim: number; transposed?: boolean }[] = [
  { shape: [7], dim: 0 },
  { shape: [7], dim: -1 },
  { shape: [3, 6], dim: 1 },
  { shape: [3, 6], dim: -2 },
  { shape: [2, 5, 4], dim: 1 },
  { shape: [2, 5, 4], dim: -3 },
  { shape: [2, 5, 4], dim: -1, transposed: true },
  { shape: [4, 1, 3], dim: 1 },
  { shape: [1], dim: 0 },
];

describe('sort and argsort', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const { shape, dim, transposed } of CASES) {
      it(`match the stable reference order with NaN largest: ${dtype} ${JSON.stringify(shape)} dim ${dim}${transposed ? ' (non-contiguous)' : ''}`, () => {
        const x = tiedTensor(shape, dtype, transposed);
        const d = dim < 0 ? dim + x.ndim : dim;
        for (const descending of [false, true]) {
          const { values, indices } = F.sort(x, dim, descending);
          expect(values.shape).to.deep.equal(shape);
          expect(indices.shape).to.deep.equal(shape);
          expect(values.dtype).to.equal(dtype);
          expect(indices.dtype).to.equal(dtype);
          const arg = x.argsort(dim, descending);
          for (const { rest, values: line } of lines(x, dim)) {
            const order = refOrder(line, descending);
            for (let j = 0; j < line.length; j++) {
              expect(entry(indices, d, rest, j)).to.equal(order[j]);
              expect(entry(arg, d, rest, j)).to.equal(order[j]);
              expect(same(entry(values, d, rest, j), line[order[j]])).to.equal(true);
            }
          }
        }
      });
    }
  }

  it('put NaN last ascending and first descending, keep ties (±0, NaNs) in order, as torch.sort(stable=True)', () => {
    const x = tensor([NaN, 2, -Infinity, 0, Infinity, -0, NaN, 2], { dtype: 'float64' });
    const up = x.sort();
    expect(Array.from(up.indices.data)).to.deep.equal([2, 3, 5, 1, 7, 4, 0, 6]);
    expect(Object.is(up.values.data[1], 0) && Object.is(up.values.data[2], -0)).to.equal(true);
    const down = x.sort(0, true, true);
    expect(Array.from(down.indices.data)).to.deep.equal([0, 6, 4, 1, 7, 3, 5, 2]);
    expect(Array.from(down.values.data.slice(2))).to.deep.equal([Infinity, 2, 2, 0, -0, -Infinity]);
  });

  it('sort a 0-d tensor to itself with index 0, and empty dims to empty results', () => {
    const s = F.sort(tensor(3.5));
    expect(s.values.shape).to.deep.equal([]);
    expect(s.values.item()).to.equal(3.5);
    expect(s.indices.shape).to.deep.equal([]);
    expect(s.indices.item()).to.equal(0);
    expect(F.argsort(tensor(3.5), 0).item()).to.equal(0);
    const e = F.sort(Tensor.empty([2, 0]), 1);
    expect(e.values.shape).to.deep.equal([2, 0]);
    expect(e.indices.shape).to.deep.equal([2, 0]);
    expect(F.sort(Tensor.empty([0, 3]), 1).values.shape).to.deep.equal([0, 3]);
  });

  it('indices are not differentiable and values are, with gradcheck in float64 on distinct values', () => {
    const x = distinctTensor([3, 5]).requiresGrad_();
    const { values, indices } = F.sort(x, 1, true);
    expect(values.requiresGrad).to.equal(true);
    expect(indices.requiresGrad).to.equal(false);
    expect(F.argsort(x).requiresGrad).to.equal(false);
    assertGradcheck((t) => F.sort(t, 1).values, [x], TOL);
    assertGradcheck((t) => F.sort(t, -2, true).values, [x], TOL);
    assertGradcheck((t) => t.sort(0, false, true).values, [distinctTensor([4, 2, 3]).requiresGrad_()], TOL);
    // The gradient scatters back: sort(x).values · w has gradient w[rank of x_i] at x_i.
    const w = randomTensor(rng, [3, 5]);
    F.sort(x, 1).values.mul(w).sum().backward();
    for (const { rest, values: line } of lines(x, 1)) {
      const order = refOrder(line, false);
      for (let j = 0; j < order.length; j++) expect(at(x.grad!, [rest[0], order[j]])).to.equal(at(w, [rest[0], j]));
    }
  });
});

describe('topk', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const { shape, dim, transposed } of CASES) {
      it(`matches the first k of the stable order for every k: ${dtype} ${JSON.stringify(shape)} dim ${dim}`, () => {
        const x = tiedTensor(shape, dtype, transposed);
        const d = dim < 0 ? dim + x.ndim : dim;
        const D = shape[d];
        for (const largest of [true, false]) {
          for (let k = 0; k <= D; k++) {
            const { values, indices } = x.topk(k, dim, largest);
            const expShape = [...shape];
            expShape[d] = k;
            expect(values.shape).to.deep.equal(expShape);
            expect(indices.shape).to.deep.equal(expShape);
            for (const { rest, values: line } of lines(x, dim)) {
              const order = refOrder(line, largest);
              for (let j = 0; j < k; j++) {
                expect(entry(indices, d, rest, j)).to.equal(order[j]);
                expect(same(entry(values, d, rest, j), line[order[j]])).to.equal(true);
              }
            }
          }
        }
      });
    }
  }

  it('gives the torch docs example and counts NaN as the largest', () => {
    const x = arange(1, 6);
    const r = F.topk(x, 3);
    expect(Array.from(r.values.data)).to.deep.equal([5, 4, 3]);
    expect(Array.from(r.indices.data)).to.deep.equal([4, 3, 2]);
    const n = F.topk(tensor([1, NaN, 3]), 2);
    expect(Number.isNaN(n.values.data[0])).to.equal(true);
    expect(Array.from(n.indices.data)).to.deep.equal([1, 2]);
    const s = F.topk(tensor([1, NaN, 3, -1]), 2, 0, false, false);
    expect(Array.from(s.values.data)).to.deep.equal([-1, 1]);
    expect(Array.from(s.indices.data)).to.deep.equal([3, 0]);
  });

  it('returns a 0-d input as itself for k 0 or 1 (torch)', () => {
    for (const k of [0, 1]) {
      const r = F.topk(tensor(-2), k);
      expect(r.values.shape).to.deep.equal([]);
      expect(r.values.item()).to.equal(-2);
      expect(r.indices.item()).to.equal(0);
    }
  });

  it('passes gradcheck in float64 on distinct values', () => {
    assertGradcheck((t) => F.topk(t, 2, 1).values, [distinctTensor([3, 5]).requiresGrad_()], TOL);
    assertGradcheck((t) => t.topk(3, 0, false).values, [distinctTensor([4, 3]).requiresGrad_()], TOL);
  });
});

describe('kthvalue', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const { shape, dim, transposed } of CASES) {
      it(`is the k-th of the stable ascending order for every k, keepdim or not: ${dtype} ${JSON.stringify(shape)} dim ${dim}`, () => {
        const x = tiedTensor(shape, dtype, transposed);
        const d = dim < 0 ? dim + x.ndim : dim;
        for (let k = 1; k <= shape[d]; k++) {
          for (const keepdim of [false, true]) {
            const { values, indices } = F.kthvalue(x, k, dim, keepdim);
            const expShape = keepdim ? shape.map((s, i) => (i === d ? 1 : s)) : shape.filter((_, i) => i !== d);
            expect(values.shape).to.deep.equal(expShape);
            expect(indices.shape).to.deep.equal(expShape);
            for (const { rest, values: line } of lines(x, dim)) {
              const pos = keepdim ? [...rest.slice(0, d), 0, ...rest.slice(d)] : rest;
              const want = refOrder(line, false)[k - 1];
              expect(at(indices, pos)).to.equal(want);
              expect(same(at(values, pos), line[want])).to.equal(true);
            }
          }
        }
      });
    }
  }

  it('gives the torch docs example, NaN as the largest, and takes a 0-d input', () => {
    const r = arange(1, 6).kthvalue(4);
    expect(r.values.item()).to.equal(4);
    expect(r.indices.item()).to.equal(3);
    expect(Number.isNaN(F.kthvalue(tensor([NaN, 1, 2]), 3).values.item())).to.equal(true);
    expect(F.kthvalue(tensor([NaN, 1, 2]), 2).indices.item()).to.equal(2);
    const z = F.kthvalue(tensor(7), 1, 0, true);
    expect(z.values.shape).to.deep.equal([]);
    expect(z.values.item()).to.equal(7);
    expect(z.indices.item()).to.equal(0);
  });

  it('passes gradcheck in float64 on distinct values', () => {
    assertGradcheck((t) => F.kthvalue(t, 2, 1).values, [distinctTensor([3, 5]).requiresGrad_()], TOL);
    assertGradcheck((t) => t.kthvalue(3, -3, true).values, [distinctTensor([4, 2, 3]).requiresGrad_()], TOL);
  });
});

describe('median', () => {
  /** torch's CPU rule along a dim: the first NaN if any, else the lower middle of the stable order. */
  function refMedianIndex(line: readonly number[]): number {
    const nan = line.findIndex((v) => Number.isNaN(v));
    return nan >= 0 ? nan : refOrder(line, false)[(line.length - 1) >> 1];
  }

  for (const dtype of ['float32', 'float64'] as const) {
    for (const { shape, dim, transposed } of CASES) {
      it(`along a dim: lower middle, first tie, first NaN, keepdim or not: ${dtype} ${JSON.stringify(shape)} dim ${dim}`, () => {
        const x = tiedTensor(shape, dtype, transposed);
        const d = dim < 0 ? dim + x.ndim : dim;
        for (const keepdim of [false, true]) {
          const { values, indices } = F.median(x, dim, keepdim);
          const expShape = keepdim ? shape.map((s, i) => (i === d ? 1 : s)) : shape.filter((_, i) => i !== d);
          expect(values.shape).to.deep.equal(expShape);
          expect(indices.shape).to.deep.equal(expShape);
          for (const { rest, values: line } of lines(x, dim)) {
            const pos = keepdim ? [...rest.slice(0, d), 0, ...rest.slice(d)] : rest;
            const want = refMedianIndex(line);
            expect(at(indices, pos)).to.equal(want);
            expect(same(at(values, pos), line[want])).to.equal(true);
          }
        }
      });
    }

    it(`of all elements: the lower middle value, NaN when any is NaN (${dtype})`, () => {
      for (const shape of [[1], [6], [3, 5], [2, 3, 4]]) {
        const x = tiedTensor(shape, dtype);
        const all = Array.from(x.data);
        const m = x.median();
        expect(m.shape).to.deep.equal([]);
        if (all.some((v) => Number.isNaN(v))) expect(Number.isNaN(m.item())).to.equal(true);
        else expect(m.item()).to.equal(all[refOrder(all, false)[(all.length - 1) >> 1]]);
      }
      expect(F.median(tensor([4, 1, 3, 2], { dtype })).item()).to.equal(2);
      expect(F.median(tensor([[4, 1], [3, NaN]], { dtype })).item()).to.be.NaN;
    });
  }

  it('takes a 0-d input with or without a dim', () => {
    expect(F.median(tensor(5)).item()).to.equal(5);
    const r = F.median(tensor(5), -1, true);
    expect(r.values.shape).to.deep.equal([]);
    expect(r.values.item()).to.equal(5);
    expect(r.indices.item()).to.equal(0);
  });

  it('passes gradcheck in float64 on distinct values, with and without a dim', () => {
    assertGradcheck((t) => F.median(t, 1).values, [distinctTensor([3, 5]).requiresGrad_()], TOL);
    assertGradcheck((t) => t.median(0, true).values, [distinctTensor([4, 3]).requiresGrad_()], TOL);
    assertGradcheck((t) => F.median(t), [distinctTensor([3, 4]).requiresGrad_()], TOL);
    assertGradcheck((t) => F.median(t), [distinctTensor([5]).requiresGrad_()], TOL);
  });

  it('of all elements shares the gradient evenly among the ties (and among the NaNs), as torch; along a dim it goes to the index', () => {
    const x = tensor([3, 1, 2, 2, 5, 2], { dtype: 'float64' }).requiresGrad_();
    F.median(x).mul(6).backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([0, 0, 2, 2, 0, 2]);
    const y = tensor([NaN, 1, NaN, 0], { dtype: 'float64' }).requiresGrad_();
    F.median(y).backward();
    expect(Array.from(y.grad!.data)).to.deep.equal([0.5, 0, 0.5, 0]);
    const z = tensor([[3, 1, 2, 2, 5, 2], [0, NaN, 1, NaN, 2, 3]], { dtype: 'float64' }).requiresGrad_();
    const r = F.median(z, 1);
    // Row 0 in (value, position) order: 1@1 2@2 2@3 2@5 3@0 5@4; place ⌊5/2⌋ = 2 is 2@3. Row 1: its first NaN.
    expect(Array.from(r.indices.data)).to.deep.equal([3, 1]);
    r.values.sum().backward();
    expect(Array.from(z.grad!.data)).to.deep.equal([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
  });
});

describe('ordering ops: errors name the op', () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);

  it('topk refuses k out of [0, size], naming the size', () => {
    expect(() => F.topk(x, 4)).to.throw(/^topk: k = 4 is out of range for dim -1 of size 3 \(input shape \[2,3\]\)/);
    expect(() => F.topk(x, 3, 0)).to.throw(/^topk: k = 3 is out of range for dim 0 of size 2/);
    expect(() => x.topk(-1)).to.throw(/^topk: k = -1 is out of range .*\[0, 3\]/);
    expect(() => F.topk(x, 1.5)).to.throw(/^topk: k = 1\.5/);
    expect(() => F.topk(tensor(1), 2)).to.throw(/^topk: k = 2 is out of range for dim -1 of size 1/);
    expect(() => F.topk(x, 1, 0, 'yes' as unknown as boolean)).to.throw(/^topk: largest must be a boolean, got "yes"/);
    expect(() => F.topk(x, 1, 0, true, 1 as unknown as boolean)).to.throw(/^topk: sorted must be a boolean/);
  });

  it('kthvalue refuses k out of [1, size] and empty inputs', () => {
    expect(() => F.kthvalue(x, 0)).to.throw(/^kthvalue: k = 0 is out of range for dim -1 of size 3 .*\[1, 3\]/);
    expect(() => x.kthvalue(3, 0)).to.throw(/^kthvalue: k = 3 is out of range for dim 0 of size 2/);
    expect(() => F.kthvalue(Tensor.empty([2, 0]), 1, 0)).to.throw(/^kthvalue: cannot take the kthvalue of an empty tensor \(shape \[2,0\]\)/);
    expect(() => F.kthvalue(x, 1, 0, 1 as unknown as boolean)).to.throw(/^kthvalue: keepdim must be a boolean/);
  });

  it('median refuses empty inputs and dims, and keepdim without a dim', () => {
    expect(() => F.median(Tensor.empty([0]))).to.throw(/^median: cannot take the median of an empty tensor \(shape \[0\]\)/);
    expect(() => F.median(Tensor.empty([3, 0]), 1)).to.throw(/^median: cannot take the median over the empty dim 1 of shape \[3,0\]/);
    expect(() => x.median(undefined as unknown as number, true)).to.throw(/^median: keepdim needs a dim/);
    expect(() => F.median(x, 0, 'no' as unknown as boolean)).to.throw(/^median: keepdim must be a boolean/);
  });

  it('every op refuses a dim out of range, bad flags and a non-tensor input', () => {
    expect(() => F.sort(x, 2)).to.throw(/^sort: dim 2 out of range for a 2-d tensor/);
    expect(() => F.argsort(x, -3)).to.throw(/^argsort: dim -3 out of range/);
    expect(() => F.topk(x, 1, 2)).to.throw(/^topk: dim 2 out of range/);
    expect(() => F.kthvalue(x, 1, 5)).to.throw(/^kthvalue: dim 5 out of range/);
    expect(() => F.median(x, -3)).to.throw(/^median: dim -3 out of range/);
    expect(() => F.sort(x, 0.5)).to.throw(/^sort: dim must be an integer, got 0\.5/);
    expect(() => F.sort(x, 0, 1 as unknown as boolean)).to.throw(/^sort: descending must be a boolean, got 1/);
    expect(() => F.sort(x, 0, false, 'stable' as unknown as boolean)).to.throw(/^sort: stable must be a boolean/);
    expect(() => F.argsort(x, 0, null as unknown as boolean)).to.throw(/^argsort: descending must be a boolean, got null/);
    expect(() => F.sort([1, 2] as unknown as Tensor)).to.throw(/^sort: input must be a Tensor/);
    expect(() => F.median(3 as unknown as Tensor)).to.throw(/^median: input must be a Tensor/);
  });
});
