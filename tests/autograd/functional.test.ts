import { expect } from 'chai';
import { arange, ones, tensor, zeros } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { at, broadcastIndex, randomTensor, randomTransposed, unravel } from '../helpers';

const rng = new Random(99);

/** Reference: elementwise f over broadcast inputs, by explicit multi-index loops. */
function refBinary(a: Tensor, b: Tensor, f: (x: number, y: number) => number): { shape: number[]; data: number[] } {
  const nd = Math.max(a.ndim, b.ndim);
  const shape: number[] = [];
  for (let i = 0; i < nd; i++) {
    const da = a.shape[i - (nd - a.ndim)] ?? 1;
    const db = b.shape[i - (nd - b.ndim)] ?? 1;
    shape.push(Math.max(da, db));
  }
  const n = shape.reduce((p, d) => p * d, 1);
  const data: number[] = [];
  for (let k = 0; k < n; k++) {
    const idx = unravel(k, shape);
    data.push(f(at(a, broadcastIndex(idx, a.shape)), at(b, broadcastIndex(idx, b.shape))));
  }
  return { shape, data };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  expect(actual.length).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i], a = actual[i];
    if (Number.isNaN(e)) expect(Number.isNaN(a), `element ${i}`).to.equal(true);
    else if (a === e) continue;
    else expect(Math.abs(a - e), `element ${i}: ${a} vs ${e}`).to.be.at.most(tol * Math.max(1, Math.abs(e)));
  }
}

describe('autograd/functional: forward values against reference loops', () => {
  const binaries: Array<[string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number]> = [
    ['add', F.add, (x, y) => x + y], ['sub', F.sub, (x, y) => x - y], ['mul', F.mul, (x, y) => x * y],
    ['div', F.div, (x, y) => x / y], ['pow', (a, b) => F.pow(F.abs(a), b), (x, y) => Math.pow(Math.abs(x), y)],
    ['maximum', F.maximum, (x, y) => Math.max(x, y)], ['minimum', F.minimum, (x, y) => Math.min(x, y)],
    ['eq', F.eq, (x, y) => +(x === y)], ['ne', F.ne, (x, y) => +(x !== y)], ['lt', F.lt, (x, y) => +(x < y)],
    ['le', F.le, (x, y) => +(x <= y)], ['gt', F.gt, (x, y) => +(x > y)], ['ge', F.ge, (x, y) => +(x >= y)],
  ];
  const shapes: Array<[number[], number[]]> = [[[3, 4], [3, 4]], [[2, 3, 4], [4]], [[2, 1, 4], [3, 1]], [[], [2, 2]], [[5, 1, 1], [1, 6, 7]], [[1], [3]]];
  for (const [name, f, ref] of binaries) {
    it(`${name} broadcasts like NumPy (incl. non-contiguous inputs)`, () => {
      for (const [sa, sb] of shapes) {
        const a = randomTensor(rng, sa, 'float64', (u) => Math.round(u * 2) / 2);
        const b = randomTensor(rng, sb, 'float64', (u) => Math.round(u * 2) / 2 || 0.5);
        const out = f(a, b);
        const r = refBinary(a, b, ref);
        expect(out.shape).to.deep.equal(r.shape);
        close(out.data, r.data);
      }
      const at2 = randomTransposed(rng, [3, 5]);
      const bt = randomTransposed(rng, [3, 5]);
      close(f(at2, bt).data, refBinary(at2, bt, ref).data);
    });
  }

  it('scalars take the tensor operand dtype on either side', () => {
    const x = tensor([1, 2], { dtype: 'float64' });
    expect(F.sub(1, x).toArray()).to.deep.equal([0, -1]);
    expect(F.div(x, 2).dtype).to.equal('float64');
    expect(() => F.add(1 as never, 2 as never)).to.throw('add: at least one operand must be a Tensor, got two numbers');
  });

  it('unary ops match Math', () => {
    const x = randomTensor(rng, [4, 5]);
    const cases: Array<[(t: Tensor) => Tensor, (v: number) => number]> = [
      [F.neg, (v) => -v], [F.exp, Math.exp], [(t) => F.log(F.abs(t)), (v) => Math.log(Math.abs(v))],
      [(t) => F.sqrt(F.abs(t)), (v) => Math.sqrt(Math.abs(v))], [F.abs, Math.abs], [F.relu, (v) => Math.max(v, 0)],
      [F.sigmoid, (v) => 1 / (1 + Math.exp(-v))], [F.tanh, Math.tanh], [F.square, (v) => v * v],
      [(t) => F.clamp(t, -0.5, 0.25), (v) => Math.min(Math.max(v, -0.5), 0.25)],
    ];
    for (const [f, ref] of cases) close(f(x).data, Array.from(x.data, ref), 1e-14);
    expect(F.sigmoid(tensor([-1000, 1000], { dtype: 'float64' })).toArray()).to.deep.equal([0, 1]);
    expect(Array.from(F.relu(tensor([NaN, -1])).data)[0]).to.be.NaN;
  });

  it('sum, mean, max, min over dims with keepdim and negative dims', () => {
    const x = randomTensor(rng, [2, 3, 4]);
    const ref = (f: (vals: number[]) => number, axes: number[], keepdim: boolean): { shape: number[]; data: number[] } => {
      const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const data: number[] = [];
      const n = shape.reduce((p, d) => p * d, 1);
      for (let k = 0; k < n; k++) {
        const idx = unravel(k, shape);
        const vals: number[] = [];
        for (let j = 0; j < x.numel(); j++) {
          const xi = unravel(j, x.shape);
          if (xi.every((v, d) => axes.includes(d) || v === idx[d])) vals.push(at(x, xi));
        }
        data.push(f(vals));
      }
      return { shape: keepdim ? shape : x.shape.filter((_, i) => !axes.includes(i)), data };
    };
    const sumf = (v: number[]): number => v.reduce((a, b) => a + b, 0);
    const cases: Array<[number | number[] | undefined, number[], boolean]> = [
      [undefined, [0, 1, 2], false], [1, [1], false], [-1, [2], true], [[0, 2], [0, 2], false], [[-3, -2], [0, 1], true],
    ];
    for (const [dim, axes, keepdim] of cases) {
      const s = ref(sumf, axes, keepdim);
      expect(F.sum(x, dim, keepdim).shape).to.deep.equal(s.shape);
      close(F.sum(x, dim, keepdim).data, s.data);
      close(F.mean(x, dim, keepdim).data, ref((v) => sumf(v) / v.length, axes, keepdim).data);
      close(F.max(x, dim, keepdim).data, ref((v) => Math.max(...v), axes, keepdim).data);
      close(F.min(x, dim, keepdim).data, ref((v) => Math.min(...v), axes, keepdim).data);
    }
    const t = randomTransposed(rng, [3, 4]);
    const tv = t.toArray() as number[][];
    close(F.sum(t, 0).data, [0, 1, 2, 3].map((j) => tv[0][j] + tv[1][j] + tv[2][j]));
  });

  it('argmax returns the first maximum', () => {
    const x = tensor([[1, 5, 5], [7, 2, 7]]);
    expect(F.argmax(x).item()).to.equal(3);
    expect(F.argmax(x, 1).toArray()).to.deep.equal([1, 0]);
    expect(F.argmax(x, 0, true).toArray()).to.deep.equal([[1, 0, 1]]);
    expect(F.argmax(x, -1).toArray()).to.deep.equal([1, 0]);
  });

  it('shape ops: reshape with -1, flatten, squeeze, unsqueeze, transpose, permute, expand', () => {
    const x = arange(24).reshape(2, 3, 4);
    expect(x.reshape(-1, 4).shape).to.deep.equal([6, 4]);
    expect(x.flatten().shape).to.deep.equal([24]);
    expect(x.flatten(1).shape).to.deep.equal([2, 12]);
    expect(zeros([1, 3, 1]).squeeze().shape).to.deep.equal([3]);
    expect(zeros([1, 3, 1]).squeeze(-1).shape).to.deep.equal([1, 3]);
    expect(zeros([3]).unsqueeze(0).unsqueeze(-1).shape).to.deep.equal([1, 3, 1]);
    const p = x.permute(2, 0, 1);
    expect(p.shape).to.deep.equal([4, 2, 3]);
    for (let k = 0; k < 24; k++) {
      const [i, j, l] = unravel(k, [4, 2, 3]);
      expect(at(p, [i, j, l])).to.equal(at(x, [j, l, i]));
    }
    expect(x.transpose(0, -1).shape).to.deep.equal([4, 3, 2]);
    expect(tensor([[1], [2]]).expand(-1, 3).toArray()).to.deep.equal([[1, 1, 1], [2, 2, 2]]);
    expect(tensor([1, 2]).expand(2, 2).toArray()).to.deep.equal([[1, 2], [1, 2]]);
  });

  it('slice and narrow follow Python slice rules; cat, stack and pad', () => {
    const x = arange(10);
    expect(Array.from(x.slice(0, 2, 8, 3).data)).to.deep.equal([2, 5]);
    expect(Array.from(x.slice(0, -3).data)).to.deep.equal([7, 8, 9]);
    expect(Array.from(x.slice(0, 5, 100).data)).to.deep.equal([5, 6, 7, 8, 9]);
    expect(x.slice(0, 8, 2).numel()).to.equal(0);
    expect(Array.from(x.narrow(0, -2, 2).data)).to.deep.equal([8, 9]);
    expect(F.cat([tensor([[1, 2]]), tensor([[3, 4], [5, 6]])], 0).toArray()).to.deep.equal([[1, 2], [3, 4], [5, 6]]);
    expect(F.cat([tensor([[1], [2]]), tensor([[3, 4], [5, 6]])], -1).toArray()).to.deep.equal([[1, 3, 4], [2, 5, 6]]);
    expect(F.stack([tensor([1, 2]), tensor([3, 4])], 1).toArray()).to.deep.equal([[1, 3], [2, 4]]);
    expect(F.pad(tensor([[1, 2], [3, 4]]), [1, 0]).toArray()).to.deep.equal([[0, 1, 2], [0, 3, 4]]);
    expect(F.pad(tensor([[1, 2], [3, 4]]), [0, 1, 1, 0], 9).toArray()).to.deep.equal([[9, 9, 9], [1, 2, 9], [3, 4, 9]]);
    expect(F.pad(tensor([[1, 2, 3]]), [-1, -1]).toArray()).to.deep.equal([[2]]);
  });

  it('matmul: 1-d, 2-d, batched with broadcasting, transposed operands without copies', () => {
    const ref = (a: number[][], b: number[][]): number[][] => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
    const a = randomTensor(rng, [3, 4]), b = randomTensor(rng, [4, 5]);
    const r = ref(a.toArray() as number[][], b.toArray() as number[][]);
    close(F.matmul(a, b).data, r.flat());
    close(F.matmul(a.T.contiguous().T, b.T.contiguous().T).data, r.flat());
    expect(F.matmul(tensor([1, 2, 3]), tensor([4, 5, 6])).item()).to.equal(32);
    expect(F.matmul(tensor([1, 2]), tensor([[1, 2], [3, 4]])).toArray()).to.deep.equal([7, 10]);
    expect(F.matmul(tensor([[1, 2], [3, 4]]), tensor([1, 2])).toArray()).to.deep.equal([5, 11]);
    const A = randomTensor(rng, [2, 1, 3, 4]), B = randomTensor(rng, [3, 4, 2]);
    const C = F.matmul(A, B);
    expect(C.shape).to.deep.equal([2, 3, 3, 2]);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) {
      const ai = (A.toArray() as number[][][][])[i][0];
      const bj = (B.toArray() as number[][][])[j];
      close(F.reshape(F.slice(F.slice(C, 0, i, i + 1), 1, j, j + 1), [3, 2]).data, ref(ai, bj).flat());
    }
  });

  it('where selects and broadcasts; comparisons give 0/1 masks', () => {
    const c = tensor([1, 0, 1]);
    expect(F.where(c, tensor([1, 2, 3]), 0).toArray()).to.deep.equal([1, 0, 3]);
    expect(F.where(tensor([[1], [0]]), tensor([1, 2]), tensor([7])).toArray()).to.deep.equal([[1, 2], [7, 7]]);
    expect(F.gt(tensor([1, 2, 3]), 2).toArray()).to.deep.equal([0, 0, 1]);
    expect(F.gt(tensor([1, 2, 3], { requiresGrad: true }), 2).requiresGrad).to.equal(false);
  });
});

describe('autograd/functional: bad input gets an Error naming the op and the shapes', () => {
  const cases: Array<[string, () => unknown, string]> = [
    ['add broadcast', () => F.add(ones([2, 3]), ones([4])), 'add: cannot broadcast [2,3] with [4]'],
    ['mul broadcast', () => F.mul(ones([2, 3]), ones([3, 2])), 'mul: cannot broadcast [2,3] with [3,2]'],
    ['sub broadcast', () => F.sub(ones([5]), ones([4])), 'sub: cannot broadcast [5] with [4]'],
    ['matmul inner', () => F.matmul(ones([2, 3]), ones([4, 5])), 'matmul: shapes [2,3] and [4,5] cannot be multiplied (3 vs 4)'],
    ['matmul batch', () => F.matmul(ones([2, 2, 3]), ones([3, 3, 1])), 'matmul: cannot broadcast [2] with [3]'],
    ['matmul 0-d', () => F.matmul(ones([]), ones([3])), 'matmul: both arguments need at least 1 dim, got [] and [3]'],
    ['reshape size', () => ones([2, 3]).reshape(4, 2), 'reshape: shape [4,2] is invalid for input of size 6 (shape [2,3])'],
    ['reshape two -1', () => ones([2, 3]).reshape(-1, -1), 'reshape: only one dimension can be -1, got [-1,-1]'],
    ['sum dim range', () => F.sum(ones([2, 3]), 2), 'sum: dim 2 out of range for a 2-d tensor (expected in [-2, 1])'],
    ['sum dim repeated', () => F.sum(ones([2, 3]), [1, -1]), 'sum: dim -1 appears more than once in [1,-1]'],
    ['permute count', () => ones([2, 3]).permute(0), 'permute: expected 2 dims for a tensor of shape [2,3], got [0]'],
    ['permute repeat', () => ones([2, 3]).permute(0, 0), 'permute: repeated dim in [0,0]'],
    ['expand', () => ones([2, 3]).expand(4, 3, 2), 'expand: cannot expand [2,3] to [4,3,2]: dim 1 has size 2, not 1'],
    ['expand few', () => ones([2, 3]).expand(3), 'expand: the number of sizes provided (1) must be >= the number of dims (2) of shape [2,3]'],
    ['cat shapes', () => F.cat([ones([2, 3]), ones([2, 4])], 0), 'cat: tensors[1] has shape [2,4] but tensors[0] has [2,3]; all dims except 0 must match'],
    ['cat empty', () => F.cat([]), 'cat: expected a non-empty array of tensors'],
    ['stack shapes', () => F.stack([ones([2]), ones([3])]), 'stack: tensors[1] has shape [3] but tensors[0] has [2]; all must be equal'],
    ['narrow range', () => ones([4]).narrow(0, 2, 3), 'narrow: start 2 + length 3 out of range for dim 0 of size 4 (shape [4])'],
    ['slice step', () => ones([4]).slice(0, 0, 4, 0), 'slice: step must be a positive integer, got 0'],
    ['pad odd', () => F.pad(ones([2, 2]), [1]), 'pad: padding must be an even-length list of integers covering at most 2 dims, got [1] for shape [2,2]'],
    ['pad negative', () => F.pad(ones([2, 2]), [-2, -1]), 'pad: padding [-2,-1] makes dim 1 of shape [2,2] negative'],
    ['clamp none', () => F.clamp(ones([2])), 'clamp: at least one of min and max must be given'],
    ['where broadcast', () => F.where(ones([2]), ones([3]), 0), 'where: cannot broadcast [2] with [3]'],
    ['mean empty', () => F.mean(zeros([0, 2]), 0), 'mean: cannot take the mean over an empty dimension (shape [0,2])'],
    ['max empty', () => F.max(zeros([0])), 'max: cannot reduce over the empty dim 0 of shape [0]'],
    ['not a tensor', () => F.exp([1, 2] as never), 'exp: input must be a Tensor, got object'],
    ['transpose range', () => ones([2, 2]).transpose(0, 2), 'transpose: dim 2 out of range for a 2-d tensor (expected in [-2, 1])'],
    ['batchNorm relu option', () => F.batchNorm(ones([2, 3]), null, null, null, null, { training: true, relu: 'yes' as never }), 'batchNorm: relu must be a boolean, got yes'],
  ];
  for (const [name, f, msg] of cases) {
    it(name, () => expect(f).to.throw(msg));
  }
});
