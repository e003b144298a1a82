/**
 * gather, scatterAdd, scatter, indexSelect, oneHot and F.embedding against reference loops written
 * here from the PyTorch 1.13 docs (out[i][j][k] = input[index[i][j][k]][j][k] for gather on dim 0,
 * and so on), over several dims, negative dims, non-contiguous inputs and indices, float32 and
 * float64 data with indices of either dtype; gradients by float64 gradcheck with repeated indices,
 * and, where torch's gradient is deliberately not the derivative (embedding's padding row and
 * scaleGradByFreq), against reference loops; every error path.
 */
import { expect } from 'chai';
import { tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { noGrad } from '../../autograd/tape';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { at, randomTensor, randomTransposed, unravel } from '../helpers';

const rng = new Random(24070);
const TOL = { atol: 1e-7, rtol: 1e-6 };

/** A tensor of random whole numbers in [0, hi) of `shape`; transposed: a non-contiguous view with those values. */
function indices(shape: number[], hi: number, dtype: 'float32' | 'float64' = 'float64', transposed = false): Tensor {
  if (!transposed) return randomTensor(rng, shape, dtype, () => rng.integer(0, hi));
  const t = randomTransposed(rng, shape, dtype);
  const s = t.storage;
  for (let i = 0; i < s.length; i++) s[i] = rng.integer(0, hi);
  return t;
}

/** Every row-major position of `shape`. */
function positions(shape: readonly number[]): number[][] {
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, k) => unravel(k, shape));
}

function flatIndex(p: readonly number[], shape: readonly number[]): number {
  return p.reduce((acc, v, d) => acc * shape[d] + v, 0);
}

function refGather(x: Tensor, dim: number, index: Tensor): number[] {
  return positions(index.shape).map((p) => {
    const q = [...p];
    q[dim] = at(index, p);
    return at(x, q);
  });
}

/** torch.scatter / scatter_add semantics, writes in row-major index order (the last one wins for 'assign'). */
function refScatter(x: Tensor, dim: number, index: Tensor, src: Tensor | number, mode: 'add' | 'assign'): number[] {
  const out = Array.from(x.data);
  for (const p of positions(index.shape)) {
    const q = [...p];
    q[dim] = at(index, p);
    const v = typeof src === 'number' ? src : at(src, p);
    const k = flatIndex(q, x.shape);
    out[k] = mode === 'add' ? out[k] + v : v;
  }
  return out;
}

function refIndexSelect(x: Tensor, dim: number, index: number[]): { shape: number[]; data: number[] } {
  const shape = x.shape.map((s, d) => (d === dim ? index.length : s));
  return {
    shape,
    data: positions(shape).map((p) => {
      const q = [...p];
      q[dim] = index[p[dim]];
      return at(x, q);
    }),
  };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  expect(actual.length, `${what} length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]), `${what} element ${i}: ${actual[i]} vs ${expected[i]}`).to.be.at.most(tol * Math.max(1, Math.abs(expected[i])));
  }
}

describe('gather', () => {
  it('matches the reference loop on every dim of a 3-d input, negative dims included', () => {
    const x = randomTensor(rng, [3, 4, 5]);
    for (const dim of [0, 1, 2, -1, -3]) {
      const d = dim < 0 ? dim + 3 : dim;
      // Index longer than input along dim, shorter elsewhere.
      const ishape = [2, 3, 4];
      ishape[d] = 6;
      const index = indices(ishape, x.shape[d]);
      const out = F.gather(x, dim, index);
      expect(out.shape, `dim ${dim}`).to.deep.equal(ishape);
      expect(Array.from(out.data), `dim ${dim}`).to.deep.equal(refGather(x, d, index));
    }
  });

  it('reads non-contiguous inputs and indices through their strides', () => {
    const x = randomTransposed(rng, [4, 5]);
    const index = indices([3, 5], 4, 'float64', true);
    expect(x.isContiguous()).to.equal(false);
    expect(index.isContiguous()).to.equal(false);
    expect(Array.from(F.gather(x, 0, index).data)).to.deep.equal(refGather(x, 0, index));
    const i1 = indices([4, 2], 5, 'float64', true);
    expect(Array.from(x.gather(-1, i1).data)).to.deep.equal(refGather(x, 1, i1));
    const i2 = indices([4, 7], 5, 'float64', true);
    expect(Array.from(x.gather(1, i2).data)).to.deep.equal(refGather(x, 1, i2));
  });

  it('takes float32 or float64 indices for float32 or float64 data, and an array of numbers for a 1-d input', () => {
    for (const dt of ['float32', 'float64'] as const) {
      for (const it of ['float32', 'float64'] as const) {
        const x = randomTensor(rng, [3, 4], dt);
        const index = indices([5, 4], 3, it);
        const out = F.gather(x, 0, index);
        expect(out.dtype).to.equal(dt);
        expect(Array.from(out.data), `${dt} data, ${it} index`).to.deep.equal(refGather(x, 0, index));
      }
    }
    expect(Array.from(F.gather(tensor([10, 20, 30]), 0, [2, 2, 0, 1]).data)).to.deep.equal([30, 30, 10, 20]);
    // 0-d input and index, as torch: a 0-d result.
    const s = F.gather(tensor(7), 0, tensor(0));
    expect(s.shape).to.deep.equal([]);
    expect(s.item()).to.equal(7);
    expect(F.gather(tensor([[1, 2]]), 1, Tensor.empty([1, 0])).shape).to.deep.equal([1, 0]);
  });

  it('passes gradcheck in float64 with repeated indices, and its gradient counts the repeats', () => {
    const x = randomTensor(rng, [3, 4]).requiresGrad_();
    const index = tensor([[0, 0, 2, 1], [0, 0, 0, 1], [2, 0, 2, 1]]);
    assertGradcheck((t) => F.gather(t, 0, index), [x], TOL);
    assertGradcheck((t) => F.gather(t, -1, tensor([[3, 3], [0, 3], [1, 1]])), [x], TOL);
    F.gather(x, 0, index).sum().backward();
    // d sum / d x[i][j] = how many times index[:, j] holds i.
    const expected = positions([3, 4]).map(([i, j]) => [0, 1, 2].filter((r) => index.data[r * 4 + j] === i).length);
    expect(Array.from(x.grad!.data)).to.deep.equal(expected);
    const strided = indices([3, 6], 4, 'float64', true);
    assertGradcheck((t) => F.gather(t, 1, strided), [randomTransposed(rng, [3, 4]).requiresGrad_()], TOL);
  });

  it('refuses bad indices and shapes, naming the op, the position, the value and the shapes', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(() => F.gather(x, 0, tensor([[0, 2, 1]]))).to.throw('gather: index[0,1] = 2 is out of bounds for dim 0 with size 2 (input [2,3], index [1,3])');
    expect(() => F.gather(x, 1, tensor([[0, -1]]))).to.throw('gather: index[0,1] = -1 is out of bounds for dim 1 with size 3 (input [2,3], index [1,2])');
    expect(() => F.gather(x, 1, tensor([[0.5]]))).to.throw('gather: index[0,0] = 0.5 is not an integer (indices are whole numbers stored in a float tensor; input [2,3], index [1,1])');
    expect(() => F.gather(x, 1, tensor([[NaN]]))).to.throw('gather: index[0,0] = NaN is not an integer');
    expect(() => F.gather(x, 1, tensor([0, 1]))).to.throw('gather: index must have as many dims as input (input [2,3], index [2])');
    expect(() => F.gather(x, 1, tensor([[0], [1], [0]]))).to.throw('gather: index is larger than input at dim 0: index.size(0) must be <= input.size(0) for every dim except dim 1 (input [2,3], index [3,1])');
    expect(() => F.gather(x, 2, tensor([[0]]))).to.throw('gather: dim 2 out of range for a 2-d tensor (expected in [-2, 1])');
    expect(() => F.gather(x, 0, ['a'] as never)).to.throw('gather: index must be a Tensor or an array of numbers, got ["a"]');
    expect(() => F.gather([1] as never, 0, [0])).to.throw('gather: input must be a Tensor, got object');
  });
});

describe('scatterAdd and scatter', () => {
  it('scatterAdd matches the reference loop on every dim, with repeats, negative dims and src larger than index', () => {
    const x = randomTensor(rng, [3, 4, 5]);
    for (const dim of [0, 1, 2, -2]) {
      const d = dim < 0 ? dim + 3 : dim;
      const index = indices([2, 3, 4], x.shape[d]);
      const src = randomTensor(rng, [3, 4, 4]);
      const out = F.scatterAdd(x, dim, index, src);
      expect(out.shape).to.deep.equal([3, 4, 5]);
      close(out.data, refScatter(x, d, index, src, 'add'), 1e-15, `dim ${dim}`);
    }
    // Input left untouched (out of place).
    const before = Array.from(x.data);
    x.scatterAdd(0, indices([1, 4, 5], 3), randomTensor(rng, [1, 4, 5]));
    expect(Array.from(x.data)).to.deep.equal(before);
  });

  it('scatter writes in index order, the last of repeated targets winning; a number fills', () => {
    const x = randomTensor(rng, [4, 3]);
    const index = tensor([[1, 0, 3], [1, 2, 3], [0, 0, 3]]);
    const src = randomTensor(rng, [3, 3]);
    expect(Array.from(F.scatter(x, 0, index, src).data)).to.deep.equal(refScatter(x, 0, index, src, 'assign'));
    expect(Array.from(F.scatter(x, -1, tensor([[2, 0], [1, 1], [0, 2], [2, 2]]), src.gather(0, tensor([[0, 0], [1, 1], [2, 2], [0, 1]]))).data))
      .to.deep.equal(refScatter(x, 1, tensor([[2, 0], [1, 1], [0, 2], [2, 2]]), src.gather(0, tensor([[0, 0], [1, 1], [2, 2], [0, 1]])), 'assign'));
    expect(Array.from(x.scatter(1, tensor([[2], [0], [1], [1]]), -2.5).data)).to.deep.equal(refScatter(x, 1, tensor([[2], [0], [1], [1]]), -2.5, 'assign'));
    // The documented rule on a small case: row 1 is written by index positions 0 and 1, the later holds.
    expect(F.scatter(tensor([0, 0, 0]), 0, [1, 1, 2], tensor([5, 6, 7])).toArray()).to.deep.equal([0, 6, 7]);
  });

  it('read non-contiguous input, index and src, and float32 data with float64 indices', () => {
    const x = randomTransposed(rng, [5, 4]);
    const index = indices([3, 4], 5, 'float64', true);
    const src = randomTransposed(rng, [4, 4]);
    close(F.scatterAdd(x, 0, index, src).data, refScatter(x, 0, index, src, 'add'), 1e-15);
    expect(Array.from(F.scatter(x, 0, index, src).data)).to.deep.equal(refScatter(x, 0, index, src, 'assign'));
    const x32 = randomTensor(rng, [3, 4], 'float32'), s32 = randomTensor(rng, [2, 4], 'float32');
    const i64 = indices([2, 4], 3);
    const out = F.scatterAdd(x32, 0, i64, s32);
    expect(out.dtype).to.equal('float32');
    // Each sum rounded to float32 once per addition, in index order, as the reference does with fround.
    const ref = Array.from(x32.data);
    for (const p of positions([2, 4])) {
      const k = at(i64, p) * 4 + p[1];
      ref[k] = Math.fround(ref[k] + at(s32, p));
    }
    expect(Array.from(out.data)).to.deep.equal(ref);
  });

  it('scatterAdd: input gets grad, src grad.gather(dim, index); gradcheck with repeats and src larger than index', () => {
    const x = randomTensor(rng, [3, 4]).requiresGrad_();
    const src = randomTensor(rng, [3, 5]).requiresGrad_();
    const index = tensor([[0, 0, 2, 2], [1, 0, 0, 2]]);
    assertGradcheck((a, b) => F.scatterAdd(a, 0, index, b), [x, src], TOL);
    assertGradcheck((a, b) => F.scatterAdd(a, -1, tensor([[3, 3, 0], [1, 3, 3]]), b), [x, src], TOL);
    const w = randomTensor(rng, [3, 4]);
    F.scatterAdd(x, 0, index, src).mul(w).sum().backward();
    expect(Array.from(x.grad!.data)).to.deep.equal(Array.from(w.data));
    // src[p] lands at (index[p], p1): its gradient is w there; src's entries outside index's [2,4] get 0.
    const expected = positions([3, 5]).map(([i, j]) => (i < 2 && j < 4 ? w.data[index.data[i * 4 + j] * 4 + j] : 0));
    expect(Array.from(src.grad!.data)).to.deep.equal(expected);
  });

  it('scatter: input gets grad where nothing was written, src at the surviving writes only; gradcheck with repeats and a value', () => {
    const x = randomTensor(rng, [4, 3]).requiresGrad_();
    const src = randomTensor(rng, [2, 3]).requiresGrad_();
    const index = tensor([[1, 0, 3], [1, 2, 3]]);
    assertGradcheck((a, b) => F.scatter(a, 0, index, b), [x, src], TOL);
    assertGradcheck((a) => F.scatter(a, 1, tensor([[2], [0], [2], [1]]), 0.5), [x], TOL);
    const w = randomTensor(rng, [4, 3]);
    F.scatter(x, 0, index, src).mul(w).sum().backward();
    // Written: (1,0), (0,1), (3,2), (2,1); (1,0) and (3,2) twice, by row 1 of src last.
    const written = new Set([1 * 3 + 0, 0 * 3 + 1, 3 * 3 + 2, 2 * 3 + 1]);
    expect(Array.from(x.grad!.data)).to.deep.equal(Array.from(w.data).map((v, k) => (written.has(k) ? 0 : v)));
    expect(Array.from(src.grad!.data)).to.deep.equal([0, w.data[1], 0, w.data[3], w.data[7], w.data[11]]);
  });

  it('refuse bad indices, shapes and dtypes, naming the op', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const src = tensor([[1, 1, 1], [1, 1, 1]]);
    expect(() => F.scatterAdd(x, 0, tensor([[2, 0, 0]]), src)).to.throw('scatterAdd: index[0,0] = 2 is out of bounds for dim 0 with size 2 (input [2,3], index [1,3])');
    expect(() => F.scatter(x, 1, tensor([[0, -3]]), src)).to.throw('scatter: index[0,1] = -3 is out of bounds for dim 1 with size 3');
    expect(() => F.scatter(x, 1, tensor([[1.25]]), 0)).to.throw('scatter: index[0,0] = 1.25 is not an integer');
    expect(() => F.scatterAdd(x, 1, tensor([0, 1]), src)).to.throw('scatterAdd: index must have as many dims as input (input [2,3], index [2], src [2,3])');
    expect(() => F.scatterAdd(x, 1, tensor([[0, 1]]), tensor([1, 1]))).to.throw('scatterAdd: src must have as many dims as input and index (input [2,3], index [1,2], src [2])');
    expect(() => F.scatterAdd(x, 0, tensor([[0, 1, 1, 0]]), tensor([[1, 1, 1, 1]]))).to.throw('scatterAdd: index is larger than input at dim 1: index.size(1) must be <= input.size(1) for every dim except dim 0 (input [2,3], index [1,4], src [1,4])');
    expect(() => F.scatter(x, 1, tensor([[0, 1, 1, 0]]), tensor([[1, 1, 1]]))).to.throw('scatter: index is larger than src at dim 1: index.size(1) must be <= src.size(1) for every dim (input [2,3], index [1,4], src [1,3])');
    expect(() => F.scatterAdd(x, 0, tensor([[0]]), tensor([[1]], { dtype: 'float64' }))).to.throw('scatterAdd: src is float64 [1,1] but input is float32 [2,3]; convert one with .to()');
    expect(() => F.scatterAdd(x, 0, tensor([[0]]), 1 as never)).to.throw('scatterAdd: src must be a Tensor, got number');
    expect(() => F.scatter(x, 0, tensor([[0]]), 1e39)).to.throw('scatter: value 1e+39 cannot be converted to float32 without overflow');
    expect(() => F.scatter(x, -3, tensor([[0]]), 1)).to.throw('scatter: dim -3 out of range for a 2-d tensor (expected in [-2, 1])');
  });
});

describe('indexSelect', () => {
  it('matches the reference loop on every dim, negative dims, repeats, an empty index', () => {
    const x = randomTensor(rng, [3, 4, 5]);
    for (const dim of [0, 1, 2, -1]) {
      const d = dim < 0 ? dim + 3 : dim;
      const idx = Array.from({ length: 6 }, () => rng.integer(0, x.shape[d]));
      const out = F.indexSelect(x, dim, tensor(idx));
      const ref = refIndexSelect(x, d, idx);
      expect(out.shape).to.deep.equal(ref.shape);
      expect(Array.from(out.data), `dim ${dim}`).to.deep.equal(ref.data);
    }
    expect(F.indexSelect(x, 1, []).shape).to.deep.equal([3, 0, 5]);
    // A 0-d index selects one entry and keeps the dim, as torch.
    expect(x.indexSelect(0, tensor(2)).shape).to.deep.equal([1, 4, 5]);
    expect(F.indexSelect(tensor(4), 0, [0]).toArray()).to.equal(4);
  });

  it('reads a non-contiguous input and index, and float32 data with float32 or float64 indices', () => {
    const x = randomTransposed(rng, [4, 6]);
    const idx = F.transpose(tensor([[5, 0], [0, 3], [5, 5]]), 0, 1).reshape(-1);
    const xs = F.slice(randomTensor(rng, [4, 6], 'float32'), 1, 0, 6, 2);
    expect(Array.from(F.indexSelect(x, 1, idx).data)).to.deep.equal(refIndexSelect(x, 1, [5, 0, 5, 0, 3, 5]).data);
    const i32 = tensor([2, 1, 2]), i64 = tensor([2, 1, 2], { dtype: 'float64' });
    const ref = refIndexSelect(xs, 1, [2, 1, 2]).data;
    expect(Array.from(F.indexSelect(xs, 1, i32).data)).to.deep.equal(ref);
    expect(Array.from(F.indexSelect(xs, -1, i64).data)).to.deep.equal(ref);
    expect(F.indexSelect(xs, 1, i64).dtype).to.equal('float32');
  });

  it('passes gradcheck in float64 with repeats; its gradient counts them', () => {
    const x = randomTensor(rng, [4, 3]).requiresGrad_();
    assertGradcheck((t) => F.indexSelect(t, 0, [3, 0, 3, 3, 1]), [x], TOL);
    assertGradcheck((t) => F.indexSelect(t, -1, tensor([2, 2, 0])), [randomTransposed(rng, [3, 5]).requiresGrad_()], TOL);
    x.indexSelect(0, [3, 0, 3, 3, 1]).sum().backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([1, 1, 1, 1, 1, 1, 0, 0, 0, 3, 3, 3]);
  });

  it('refuses bad indices and shapes, naming the op', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(() => F.indexSelect(x, 1, [0, 3])).to.throw('indexSelect: index[1] = 3 is out of bounds for dim 1 with size 3 (input [2,3], index [2])');
    expect(() => F.indexSelect(x, 0, [-1])).to.throw('indexSelect: index[0] = -1 is out of bounds for dim 0 with size 2');
    expect(() => F.indexSelect(x, 0, [0.5])).to.throw('indexSelect: index[0] = 0.5 is not an integer');
    expect(() => F.indexSelect(x, 0, tensor([[0]]))).to.throw('indexSelect: index must be 1-d (or 0-d), got index [1,1] for input [2,3]');
    expect(() => F.indexSelect(tensor(1), 0, [0, 0])).to.throw('indexSelect: the index into a 0-d input must have exactly one value, got index [2]');
    expect(() => F.indexSelect(x, 2, [0])).to.throw('indexSelect: dim 2 out of range');
  });
});

describe('oneHot', () => {
  it("is torch's one_hot: target.shape + [numClasses], a 1 at each value, numClasses -1 = max + 1", () => {
    const t = tensor([[0, 3], [2, 2], [1, 0]]);
    const out = F.oneHot(t);
    expect(out.shape).to.deep.equal([3, 2, 4]);
    expect(out.dtype).to.equal('float32');
    const ref = positions([3, 2, 4]).map(([i, j, c]) => (t.data[i * 2 + j] === c ? 1 : 0));
    expect(Array.from(out.data)).to.deep.equal(ref);
    const o6 = F.oneHot([1, 0, 4], 6, { dtype: 'float64' });
    expect(o6.dtype).to.equal('float64');
    expect(o6.toArray()).to.deep.equal([[0, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]]);
    expect(F.oneHot(tensor(2), 3).toArray()).to.deep.equal([0, 0, 1]);
    expect(F.oneHot([], 3).shape).to.deep.equal([0, 3]);
    // Not differentiable, whatever the target.
    expect(F.oneHot(tensor([1, 0], { requiresGrad: true })).requiresGrad).to.equal(false);
  });

  it('refuses bad targets and numClasses, naming the op', () => {
    expect(() => F.oneHot([0, -1])).to.throw('oneHot: target[1] = -1 is negative: class values must be non-negative (target [2])');
    expect(() => F.oneHot(tensor([[0, 3]]), 3)).to.throw('oneHot: target[0,1] = 3 is not smaller than numClasses 3 (target [1,2])');
    expect(() => F.oneHot([1.5])).to.throw('oneHot: target[0] = 1.5 is not an integer class value (target [1])');
    expect(() => F.oneHot([])).to.throw('oneHot: cannot infer the number of classes from an empty target (shape [0]); pass numClasses');
    expect(() => F.oneHot([0], -2)).to.throw('oneHot: numClasses must be -1 or a non-negative integer, got -2');
    expect(() => F.oneHot([0], 2, { dtype: 'int64' as never })).to.throw("oneHot: dtype must be 'float32' or 'float64', got \"int64\"");
    expect(() => F.oneHot([0], 2, { num_classes: 2 } as never)).to.throw("oneHot: unknown option 'num_classes'");
  });
});

describe('F.embedding', () => {
  it('looks up rows for indices of any shape: input.shape + [embeddingDim]', () => {
    const w = randomTensor(rng, [6, 3]);
    for (const shape of [[4], [2, 3], [2, 2, 2], []]) {
      const idx = indices(shape, 6);
      const out = F.embedding(idx, w);
      expect(out.shape).to.deep.equal([...shape, 3]);
      const ref = positions([...shape, 3]).map((p) => at(w, [at(idx, p.slice(0, -1)), p[p.length - 1]]));
      expect(Array.from(out.data), `shape ${shape}`).to.deep.equal(ref);
    }
    // Non-contiguous weight and indices; float32 weight with float64 indices.
    const wt = randomTransposed(rng, [5, 4]);
    const it = indices([3, 2], 5, 'float32', true);
    const ref = positions([3, 2, 4]).map(([i, j, c]) => at(wt, [at(it, [i, j]), c]));
    expect(Array.from(F.embedding(it, wt).data)).to.deep.equal(ref);
    const w32 = randomTensor(rng, [5, 2], 'float32');
    expect(Array.from(F.embedding(tensor([4, 0], { dtype: 'float64' }), w32).data)).to.deep.equal([w32.data[8], w32.data[9], w32.data[0], w32.data[1]]);
  });

  it('passes gradcheck with repeated indices; the padding row gets no gradient, others the reference sums', () => {
    const w = randomTensor(rng, [5, 3]).requiresGrad_();
    assertGradcheck((t) => F.embedding(tensor([[4, 0, 4], [2, 4, 0]]), t), [w], TOL);
    const idx = tensor([[1, 3, 1], [0, 3, 3]]);
    const g = randomTensor(rng, [2, 3, 3]);
    for (const paddingIdx of [3, -2]) {
      w.grad = null;
      const out = F.embedding(idx, w, { paddingIdx });
      // The padding row is still read.
      expect(Array.from(out.data.slice(3, 6))).to.deep.equal(Array.from(w.data.slice(9, 12)));
      out.backward(g);
      const ref = new Array<number>(15).fill(0);
      idx.data.forEach((r, k) => { if (r !== 3) for (let c = 0; c < 3; c++) ref[r * 3 + c] += g.data[k * 3 + c]; });
      close(w.grad!.data, ref, 1e-15, `paddingIdx ${paddingIdx}`);
      expect(Array.from(w.grad!.data.slice(9, 12))).to.deep.equal([0, 0, 0]);
    }
  });

  it('scaleGradByFreq divides each row gradient by its count among the indices', () => {
    const w = randomTensor(rng, [4, 2]).requiresGrad_();
    const idx = tensor([2, 0, 2, 2, 1, 0]);
    const g = randomTensor(rng, [6, 2]);
    F.embedding(idx, w, { scaleGradByFreq: true, paddingIdx: 1 }).backward(g);
    const count = [2, 1, 3, 0];
    const ref = new Array<number>(8).fill(0);
    idx.data.forEach((r, k) => { if (r !== 1) for (let c = 0; c < 2; c++) ref[r * 2 + c] += g.data[k * 2 + c] / count[r]; });
    close(w.grad!.data, ref, 1e-15);
  });

  it('scaleGradByFreq in float32 scales by float32(1/count), as torch (grad_weight[k].add_(grad[i], scale) casts the scale)', () => {
    // torch's embedding_dense_backward_cpu computes scale = 1.0 / counts[k] in double and passes it
    // as add_'s alpha, which a float32 add converts to float. One nonzero gradient row per table row,
    // so every other add is of 0 and the result is float32(float32(1/count) * g) however the add is fused.
    const f = Math.fround;
    const w = tensor([[0, 0], [0, 0], [0, 0]], { requiresGrad: true });
    const idx = [0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2];
    const count = [3, 5, 7];
    const first: Record<number, [number, number]> = { 1: [5, 1.3], 4: [0.1, 1.1], 10: [3, 2.9] };
    const g = tensor(idx.map((_, k) => first[k] ?? [0, 0]));
    F.embedding(idx, w, { scaleGradByFreq: true }).backward(g);
    const ref = [1, 4, 10].flatMap((k, r) => first[k].map((v) => f(f(1 / count[r]) * f(v))));
    expect(Array.from(w.grad!.data)).to.deep.equal(ref);
  });

  it('maxNorm renormalises the rows looked up in place first (torch.embedding_renorm_), bumping the version', () => {
    const rows = [[3, 4], [0.3, 0.4], [-6, 8], [1, 1]];
    for (const [normType, norm] of [[2, (r: number[]) => Math.hypot(...r)], [1, (r: number[]) => Math.abs(r[0]) + Math.abs(r[1])], [Infinity, (r: number[]) => Math.max(...r.map(Math.abs))]] as const) {
      const w = tensor(rows, { dtype: 'float64', requiresGrad: true });
      const v0 = w._version;
      const out = F.embedding([2, 0, 1, 2], w, { maxNorm: 2, normType });
      const ref = rows.map((r, i) => {
        const n = norm(r);
        return i !== 3 && n > 2 ? r.map((v) => v * (2 / (n + 1e-7))) : r;
      });
      close(w.data, ref.flat(), 1e-15, `normType ${normType}`);
      close(out.data, [...ref[2], ...ref[0], ...ref[1], ...ref[2]], 1e-15);
      expect(w._version).to.equal(v0 + 1);
    }
    // Nothing above maxNorm: nothing written, version unchanged.
    const w = tensor([[0.1, 0.1]]);
    noGrad(() => F.embedding([0], w, { maxNorm: 1 }));
    expect(w._version).to.equal(0);
  });

  it('maxNorm on a float32 weight rounds as torch: the norm is a float32 tensor, row *= scale multiplies by float32(scale)', () => {
    // torch's embedding_renorm_: norm = row.norm(p).item() (a float32 result for a float32 row),
    // renorm where norm > maxNorm, scale = maxNorm / (norm + 1e-7) in double, and `row *= scale`
    // casts the scalar to the row's float before the float multiply. Integer rows keep every
    // float32 partial sum exact, so any summation order gives these norms.
    const f = Math.fround;
    const rows = [[3, 4], [5, 12], [1, 2 ** -14], [0, 2], [-6, 8]];
    for (const [normType, norm] of [[2, (r: number[]) => Math.hypot(...r)], [Infinity, (r: number[]) => Math.max(...r.map(Math.abs))]] as const) {
      const w = tensor(rows);
      F.embedding([0, 1, 2, 3, 4], w, { maxNorm: 1, normType });
      const ref = rows.flatMap((r) => {
        const n = f(norm(r));
        if (!(n > 1)) return r;
        const scale = f(1 / (n + 1e-7));
        return r.map((v) => f(v * scale));
      });
      expect(Array.from(w.data), `normType ${normType}`).to.deep.equal(ref);
    }
    // In words: [3, 4] becomes float32's 0.6 and 0.8, and [1, 2^-14], whose norm rounds to 1 in
    // float32, is not above maxNorm 1 and is left alone.
    const w = tensor([[3, 4], [1, 2 ** -14]]);
    const v0 = w._version;
    F.embedding([0], w, { maxNorm: 1 });
    expect(Array.from(w.data.slice(0, 2))).to.deep.equal([f(0.6), f(0.8)]);
    F.embedding([1], w, { maxNorm: 1 });
    expect(Array.from(w.data.slice(2))).to.deep.equal([1, 2 ** -14]);
    expect(w._version).to.equal(v0 + 1);
  });

  it('maxNorm with indices stored in the weight itself looks up the indices given, not the renormalised values', () => {
    // The indices are a view of the weight's first column, [2, 0, 1]; renormalising rows 0 and 1
    // rewrites that column. torch reads the indices before renormalising (and its integer indices
    // can never alias a float weight), so the lookup is rows 2, 0, 1 of the renormalised weight.
    const w = tensor([[2, 0], [0, 3], [1, 0]], { dtype: 'float64', requiresGrad: true });
    const idx = w.select(1, 0);
    const out = F.embedding(idx, w, { maxNorm: 1 });
    const r0 = 2 * (1 / (2 + 1e-7)), r1 = 3 * (1 / (3 + 1e-7));
    expect(Array.from(w.data)).to.deep.equal([r0, 0, 0, r1, 1, 0]);
    expect(Array.from(out.data)).to.deep.equal([1, 0, r0, 0, 0, r1]);
    out.backward(tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float64' }));
    expect(Array.from(w.grad!.data)).to.deep.equal([3, 4, 5, 6, 1, 2]);
  });

  it('refuses bad indices, weights and options, naming the op', () => {
    const w = tensor([[1, 2], [3, 4], [5, 6]]);
    expect(() => F.embedding(tensor([[0, 3]]), w)).to.throw('embedding: input[0,1] = 3 is out of bounds for 3 embeddings (input [1,2], weight [3,2])');
    expect(() => F.embedding([-1], w)).to.throw('embedding: input[0] = -1 is out of bounds for 3 embeddings (input [1], weight [3,2])');
    expect(() => F.embedding([1.5], w)).to.throw('embedding: input[0] = 1.5 is not an integer');
    expect(() => F.embedding([0], tensor([1, 2]))).to.throw('embedding: weight must be 2-d [numEmbeddings, embeddingDim], got [2]');
    expect(() => F.embedding([0], w, { paddingIdx: 3 })).to.throw('embedding: paddingIdx must be an integer within numEmbeddings 3 (in [-3, 2]), got 3');
    expect(() => F.embedding([0], w, { paddingIdx: -4 })).to.throw('embedding: paddingIdx must be an integer within numEmbeddings 3 (in [-3, 2]), got -4');
    expect(() => F.embedding([0], w, { sparse: true })).to.throw('embedding: sparse gradients are not supported (there are no sparse tensors), got sparse: true');
    expect(() => F.embedding([0], w, { maxNorm: -1 })).to.throw('embedding: maxNorm must be a finite non-negative number, got -1');
    expect(() => F.embedding([0], w, { normType: 0 })).to.throw('embedding: normType must be a positive number (or Infinity), got 0');
    expect(() => F.embedding([0], w, { scaleGradByFreq: 1 as never })).to.throw('embedding: scaleGradByFreq must be a boolean, got 1');
    expect(() => F.embedding([0], w, { padding_idx: 0 } as never)).to.throw("embedding: unknown option 'padding_idx' (did you mean 'paddingIdx'?)");
    expect(() => F.embedding([0], [1] as never)).to.throw('embedding: weight must be a Tensor, got object');
  });
});
