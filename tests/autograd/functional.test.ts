import { expect } from 'chai';
import { arange, ones, tensor, zeros } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { assertGradcheck } from '../../autograd/gradcheck';
import { noGrad } from '../../autograd/tape';
import { Random } from '../../lib/random';
import * as init from '../../models/nn/init';
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
    const cases: Array<[number | number[] | undefined | null, number[], boolean]> = [
      [undefined, [0, 1, 2], false], [1, [1], false], [-1, [2], true], [[0, 2], [0, 2], false], [[-3, -2], [0, 1], true],
      // An empty dim list reduces every dim, as torch.sum(x, dim=[]) does; so does dim=None.
      [[], [0, 1, 2], false], [[], [0, 1, 2], true], [null, [0, 1, 2], false], [null, [0, 1, 2], true],
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
    // A dim that is neither a number nor a list is named, not a TypeError from inside the reduction.
    expect(() => F.sum(x, 'a' as never)).to.throw('sum: dim must be an integer or an array of integers, got "a"');
    expect(() => F.mean(x, {} as never)).to.throw('mean: dim must be an integer or an array of integers, got');
  });

  it('mean, var and std over an empty dim are NaN, as torch (0/0; no degrees of freedom), with empty gradients', () => {
    const x = zeros([0, 2], { dtype: 'float64', requiresGrad: true });
    for (const [name, f] of [['mean', () => F.mean(x, 0)], ['var', () => x.var(0)], ['std', () => x.std(0, { correction: 0 })]] as Array<[string, () => Tensor]>) {
      const y = f();
      expect(y.shape, name).to.deep.equal([2]);
      expect(Array.from(y.data).every(Number.isNaN), `${name}: ${Array.from(y.data)}`).to.equal(true);
    }
    expect(Number.isNaN(F.mean(zeros([0])).item())).to.equal(true);
    expect(F.mean(x, 0, true).shape).to.deep.equal([1, 2]);
    expect(F.mean(x, 1).shape, 'over the non-empty dim: an empty result').to.deep.equal([0]);
    F.add(F.mean(x, 0).sum(), x.var(0).sum()).backward();
    expect(x.grad!.shape).to.deep.equal([0, 2]);
  });

  it('argmax/argmin with dim null take the flattened tensor (torch dim=None), and var/std with dim null reduce all', () => {
    const x = tensor([[1, 9, 3], [9, 0, 0]], { dtype: 'float64' });
    expect(F.argmax(x, null).item()).to.equal(1);
    expect(F.argmin(x, null, true).toArray()).to.deep.equal([[4]]);
    const v = [1, 9, 3, 9, 0, 0];
    const m = v.reduce((a, b) => a + b, 0) / 6;
    const unbiased = v.reduce((a, b) => a + (b - m) ** 2, 0) / 5;
    expect(x.var(null).item()).to.be.closeTo(unbiased, 1e-12);
    expect(x.std(null, { keepdim: true }).shape).to.deep.equal([1, 1]);
    expect(x.std(null).item()).to.be.closeTo(Math.sqrt(unbiased), 1e-12);
  });

  it('argmax returns the first maximum', () => {
    const x = tensor([[1, 5, 5], [7, 2, 7]]);
    expect(F.argmax(x).item()).to.equal(3);
    expect(F.argmax(x, 1).toArray()).to.deep.equal([1, 0]);
    expect(F.argmax(x, 0, true).toArray()).to.deep.equal([[1, 0, 1]]);
    expect(F.argmax(x, -1).toArray()).to.deep.equal([1, 0]);
  });

  it('argmin returns the first minimum, a NaN as the minimum (torch.argmin), with the Tensor method', () => {
    const x = tensor([[4, 1, 1], [0, 2, 0]]);
    expect(F.argmin(x).item()).to.equal(3);
    expect(x.argmin().item()).to.equal(3);
    expect(F.argmin(x, 1).toArray()).to.deep.equal([1, 0]);
    expect(x.argmin(0, true).toArray()).to.deep.equal([[1, 0, 1]]);
    expect(F.argmin(x, -1, true).toArray()).to.deep.equal([[1], [0]]);
    expect(F.argmin(x, 0).dtype).to.equal('float32');
    // torch.argmin(torch.tensor([[3., nan, -inf], [nan, 1., nan]]), 1) == [1, 0]; flattened: 1.
    const n = tensor([[3, NaN, -Infinity], [NaN, 1, NaN]], { dtype: 'float64' });
    expect(F.argmin(n, 1).toArray()).to.deep.equal([1, 0]);
    expect(F.argmin(n).item()).to.equal(1);
    expect(F.argmin(n).dtype).to.equal('float64');
    // A strided view is read through its strides: the transpose's rows are x's columns.
    expect(x.t().argmin(1).toArray()).to.deep.equal([1, 0, 1]);
    expect(F.argmin(tensor(5), 0).toArray()).to.equal(0);
    expect(() => F.argmin(zeros([0, 2]))).to.throw('argmin: cannot take the argmin of an empty tensor (shape [0,2])');
    expect(() => F.argmin(zeros([0, 2]), 0)).to.throw('argmin: cannot take the argmin over the empty dim 0 of shape [0,2]');
    expect(() => F.argmin(x, 2)).to.throw('argmin: dim 2 out of range for a 2-d tensor');
    expect(() => F.argmin(x, 1, 'yes' as unknown as boolean)).to.throw('argmin: keepdim must be a boolean, got "yes"');
  });

  it('argmin/argmax indices stored in float32 are exact up to 2^24 and refused beyond (never rounded)', () => {
    // 2^24 + 1 elements: the last index, 2^24, is a float32; torch's int64 index is returned exactly.
    const ok = zeros([2 ** 24 + 1]);
    ok.storage[2 ** 24] = -1;
    expect(F.argmin(ok).item()).to.equal(2 ** 24);
    ok.storage[2 ** 24] = 1;
    expect(F.argmax(ok.reshape(1, -1), 1).toArray()).to.deep.equal([2 ** 24]);
    // One more and index 2^24 + 1 would round to 2^24 in float32: a clear error, not a wrong index.
    const big = zeros([2 ** 24 + 2]);
    big.storage[2 ** 24 + 1] = -1;
    expect(() => F.argmin(big)).to.throw("argmin: the index 16777217 of an element of a float32 tensor of shape [16777218] cannot be stored exactly in float32 (indices take the input's dtype); convert the input with .to('float64')");
    expect(() => F.argmax(big.reshape(1, -1), -1)).to.throw('argmax: the index 16777217 of an element of a float32 tensor of shape [1,16777218]');
    // Float64 holds such indices exactly.
    expect(F.argmin(big.to('float64')).item()).to.equal(2 ** 24 + 1);
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
    // One tensor still gives new memory, as torch's cat and stack: writing into the result leaves the input alone.
    const one = tensor([[1, 2], [3, 4]]);
    for (const [name, r] of [['cat', F.cat([one], 1)], ['stack', F.stack([one], 0)]] as Array<[string, Tensor]>) {
      expect(r.storage, name).to.not.equal(one.storage);
      r.mul_(0);
      expect(one.toArray(), name).to.deep.equal([[1, 2], [3, 4]]);
    }
    expect(F.stack([one], 2).shape).to.deep.equal([2, 2, 1]);
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

describe('autograd/functional: edge cases as PyTorch defines them', () => {
  it('max, min, sum, mean and argmax of a 0-d tensor give its value, over dim 0 or -1 too', () => {
    for (const v of [5, -3, 0.25]) {
      const x = tensor(v, { dtype: 'float64' });
      for (const [name, f] of [['max', F.max], ['min', F.min], ['sum', F.sum], ['mean', F.mean]] as const) {
        for (const [dim, keepdim] of [[undefined, false], [0, false], [-1, false], [0, true], [-1, true]] as const) {
          const y = f(x, dim, keepdim);
          expect(y.shape, `${name}(${dim}, ${keepdim}) of ${v}`).to.deep.equal([]);
          expect(y.item(), `${name}(${dim}, ${keepdim}) of ${v}`).to.equal(v);
        }
      }
      expect(F.argmax(x).item()).to.equal(0);
      expect(F.argmax(x, 0).item()).to.equal(0);
    }
    // A 0-d tensor made by a full reduction reduces again to itself.
    expect(tensor([1, 2]).sum().max().item()).to.equal(3);
    expect(tensor([1, 2]).sum().min().item()).to.equal(3);
  });

  it('max and min of a 0-d tensor pass the gradient through whole (d max(x)/dx = 1)', () => {
    for (const [name, f] of [['max', (t: Tensor) => F.max(t)], ['min', (t: Tensor) => F.min(t)], ['max dim 0 keepdim', (t: Tensor) => F.max(t, 0, true)]] as const) {
      const x = tensor(5, { requiresGrad: true });
      f(x).backward();
      expect(x.grad!.item(), name).to.equal(1);
    }
  });

  it('maximum and minimum gradients: ties split, and where either side is NaN both sides get the whole gradient', () => {
    // derivatives.yaml: self: where(self == other, grad / 2, grad).masked_fill_(self < other, 0) (maximum),
    // other likewise with self > other; minimum swaps the comparisons. NaN compares false every way.
    const av = [NaN, 1, 2, 5, 1, NaN], bv = [1, NaN, 2, 3, 4, NaN];
    const gv = [1, 2, 3, 4, 5, 6];
    for (const [name, f, aWins] of [['maximum', F.maximum, (x: number, y: number) => x > y], ['minimum', F.minimum, (x: number, y: number) => x < y]] as const) {
      const a = tensor(av, { dtype: 'float64', requiresGrad: true });
      const b = tensor(bv, { dtype: 'float64', requiresGrad: true });
      f(a, b).backward(tensor(gv, { dtype: 'float64' }));
      const share = (x: number, y: number, g: number): number => (aWins(y, x) ? 0 : x === y ? g / 2 : g);
      expect(Array.from(a.grad!.data), name).to.deep.equal(av.map((x, i) => share(x, bv[i], gv[i])));
      expect(Array.from(b.grad!.data), name).to.deep.equal(bv.map((y, i) => share(y, av[i], gv[i])));
      expect(Array.from(a.grad!.data).slice(0, 2), `${name}: NaN on either side`).to.deep.equal([1, 2]);
      expect(Array.from(b.grad!.data).slice(0, 2), `${name}: NaN on either side`).to.deep.equal([1, 2]);
    }
  });

  it('max() and min() without dim (or dim null, torch\'s dim=None) send a NaN result\'s gradient to the NaNs, split evenly (torch.max(x))', () => {
    // evenly_distribute_backward: the mask is isnan(input) when the result is NaN, input == result otherwise.
    const fs: Array<[string, (t: Tensor) => Tensor]> = [
      ['max', (t) => F.max(t)], ['min', (t) => F.min(t)], ['max null', (t) => F.max(t, null)], ['min null', (t) => F.min(t, null, true)],
      ['x.max(null)', (t) => t.max(null)], ['x.min(null)', (t) => t.min(null)],
    ];
    for (const [name, f] of fs) {
      const x = tensor([[NaN, 1], [-2, NaN]], { dtype: 'float64', requiresGrad: true });
      const y = f(x);
      expect(y.item(), name).to.be.NaN;
      y.backward(tensor(4, { dtype: 'float64' }).reshape(y.shape));
      expect(x.grad!.toArray(), name).to.deep.equal([[2, 0], [0, 2]]);
    }
    const t = tensor([3, -1, 3], { dtype: 'float64', requiresGrad: true });
    F.max(t).backward();
    expect(t.grad!.toArray()).to.deep.equal([0.5, 0, 0.5]);
  });

  it('pow follows C\'s pow where Math.pow differs: 1^y = 1 for any y, (-1)^(±inf) = 1', () => {
    const a = tensor([1, 1, 1, -1, -1, -1, 2, NaN], { dtype: 'float64', requiresGrad: true });
    const b = tensor([NaN, Infinity, -Infinity, Infinity, -Infinity, NaN, NaN, 0], { dtype: 'float64', requiresGrad: true });
    const y = F.pow(a, b);
    const out = Array.from(y.data);
    expect(out.slice(0, 5)).to.deep.equal([1, 1, 1, 1, 1]);
    expect(out[5]).to.be.NaN; // (-1)^NaN
    expect(out[6]).to.be.NaN; // 2^NaN
    expect(out[7]).to.equal(1); // NaN^0
    expect(Array.from(F.pow(tensor([1, 1]), tensor([NaN, -Infinity])).data)).to.deep.equal([1, 1]);
    // d(a^b)/db = a^b·log(a): 1·log(1) = 0 at a = 1, whatever b.
    y.backward(tensor(new Array(8).fill(1), { dtype: 'float64' }));
    expect(Array.from(b.grad!.data).slice(0, 3)).to.deep.equal([0, 0, 0]);
  });

  it('sign is (0 < x) - (x < 0) as torch.sign: 0 at NaN, so abs passes no gradient at NaN (grad * sgn(x))', () => {
    expect(Array.from(F.sign(tensor([NaN, -0, 0, -2, 3])).data).map((v) => (Object.is(v, -0) ? '-0' : v))).to.deep.equal([0, 0, 0, -1, 1]);
    const x = tensor([NaN, -2, 0, 3], { dtype: 'float64', requiresGrad: true });
    F.abs(x).backward(tensor([5, 5, 5, 5], { dtype: 'float64' }));
    expect(Array.from(x.grad!.data)).to.deep.equal([0, -5, 0, 5]);
  });

  it('sign is recorded with a zero gradient, as torch.sign (its output requires grad; backward through it gives zeros)', () => {
    const x = tensor([-2, 0, 3, NaN], { dtype: 'float64', requiresGrad: true });
    const s = F.sign(x);
    expect(s.requiresGrad).to.equal(true);
    expect(Array.from(s.data)).to.deep.equal([-1, 0, 1, 0]);
    F.mul(s, 5).sum().backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([0, 0, 0, 0]);
    expect(noGrad(() => F.sign(x)).requiresGrad).to.equal(false);
  });

  it('div\'s gradient for the divisor is -g·((a/b)/b) as PyTorch orders it: finite where g·(a/b) alone overflows float32', () => {
    const a = tensor([1e30, 6], { requiresGrad: true });
    const b = tensor([1e10, 3], { requiresGrad: true });
    F.div(a, b).backward(tensor([1e20, 2]));
    const fr = Math.fround;
    // (a/b)/b = 1e10 and 2/3 in float32, then times g and negated, each step rounded to float32.
    const q0 = fr(fr(fr(1e30) / fr(1e10)) / fr(1e10)), q1 = fr(fr(6 / 3) / 3);
    expect(Array.from(b.grad!.data)).to.deep.equal([-fr(fr(1e20) * q0), -fr(2 * q1)]);
    expect(Number.isFinite(b.grad!.data[0])).to.equal(true);
  });

  it('crossEntropy refuses a gradient for its class weights at backward, as PyTorch (not implemented), and checks their version', () => {
    const logits = tensor([[1, 2, 0.5], [0.1, 0.2, 3]], { requiresGrad: true });
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const loss = F.crossEntropy(logits, [2, 0], { weight: w });
    expect(() => loss.backward()).to.throw("backward: crossEntropy: the derivative for 'weight' is not implemented");
    // A constant weight (detached) works and gives logits their gradient.
    const l2 = F.crossEntropy(logits, [2, 0], { weight: w.detach() });
    l2.backward();
    expect(logits.grad!.shape).to.deep.equal([2, 3]);
    expect(w.grad).to.equal(null);
    // Weights changed in place between forward and backward: refused, not used with the new values.
    const wc = tensor([1, 2, 3]);
    const l3 = F.crossEntropy(logits, [2, 0], { weight: wc });
    init.constant_(wc, 5);
    expect(() => l3.backward()).to.throw("saved by crossEntropy for the gradient was modified in place");
  });

  it('relu passes the gradient where its output is NaN (threshold_backward: 0 only where out <= 0), in both dtypes and the wasm path', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      // 1000 elements: float32 takes the WebAssembly loop; every 7th input is NaN.
      const vals = Array.from({ length: 1000 }, (_, i) => (i % 7 === 0 ? NaN : rng.normal()));
      const x = tensor(vals, { dtype, requiresGrad: true });
      const g = Array.from({ length: 1000 }, () => rng.normal());
      F.relu(x).backward(tensor(g, { dtype }));
      const gx = x.grad!.data;
      const round = dtype === 'float32' ? Math.fround : (v: number): number => v;
      for (let i = 0; i < 1000; i++) {
        const want = Number.isNaN(vals[i]) || vals[i] > 0 ? round(g[i]) : 0;
        expect(gx[i], `${dtype} at ${i}: x ${vals[i]}, g ${g[i]}`).to.equal(want);
      }
    }
  });

  it('batch norm fused with relu passes the gradient of a NaN channel as relu after batch norm does', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const [N, C, H, W] = [4, 3, 8, 8];
      const xs = Array.from({ length: N * C * H * W }, () => rng.normal());
      xs[(0 * C + 1) * H * W + 5] = NaN; // channel 1's statistics, and so its whole output, become NaN
      const g = tensor(Array.from({ length: xs.length }, () => rng.normal()), { dtype }).reshape([N, C, H, W]);
      const run = (fused: boolean): { w: number[]; b: number[] } => {
        const x = tensor(xs, { dtype }).reshape([N, C, H, W]);
        const w = tensor([1.5, -0.5, 2], { dtype, requiresGrad: true });
        const b = tensor([0.1, 0.2, -0.3], { dtype, requiresGrad: true });
        const y = fused ? F.batchNorm(x, null, null, w, b, { training: true, relu: true })
          : F.relu(F.batchNorm(x, null, null, w, b, { training: true }));
        y.backward(g);
        return { w: Array.from(w.grad!.data), b: Array.from(b.grad!.data) };
      };
      const fused = run(true), apart = run(false);
      expect(fused.b, dtype).to.deep.equal(apart.b);
      expect(fused.w.map(String), dtype).to.deep.equal(apart.w.map(String));
      // The NaN channel's bias gradient is the sum of its upstream gradient (relu passed all of it).
      let sum = 0;
      for (let n = 0; n < N; n++) for (let s = 0; s < H * W; s++) sum += g.data[(n * C + 1) * H * W + s];
      expect(fused.b[1], dtype).to.be.closeTo(sum, 1e-3);
      expect(Number.isFinite(fused.b[0]) && Number.isFinite(fused.b[2])).to.equal(true);
    }
  });

  it('clamp is min(max(x, min), max): with min > max every element becomes max, and no gradient passes', () => {
    const vals = [-1, 0.5, 1, 1.5, 2, 5, NaN];
    const bounds: Array<[number | null, number | null]> = [[2, 1], [1, 2], [1, 1], [0.75, null], [null, 0.75], [5, -1]];
    for (const [lo, hi] of bounds) {
      const x = tensor(vals, { dtype: 'float64', requiresGrad: true });
      const y = F.clamp(x, lo, hi);
      // torch.clamp's forward, and its backward grad * ((x >= min) & (x <= max)).
      close(y.data, vals.map((v) => Math.min(Math.max(v, lo ?? -Infinity), hi ?? Infinity)));
      y.backward(tensor(vals.map((_, i) => i + 1), { dtype: 'float64' }));
      close(x.grad!.data, vals.map((v, i) => (v >= (lo ?? -Infinity) && v <= (hi ?? Infinity) ? i + 1 : 0)));
    }
    expect(tensor([-1, 0.5, 5]).clamp(2, 1).toArray()).to.deep.equal([1, 1, 1]);
  });

  it('clamp with both bounds and either of them NaN is NaN everywhere (torch\'s clamp_out fills NaN), while one NaN bound alone changes nothing', () => {
    const vals = [-1, 0.5, 5];
    for (const [lo, hi] of [[NaN, 2], [0, NaN], [NaN, NaN]] as Array<[number, number]>) {
      const x = tensor(vals, { dtype: 'float64', requiresGrad: true });
      const y = F.clamp(x, lo, hi);
      expect(Array.from(y.data).every(Number.isNaN)).to.equal(true);
      // The backward is still grad * ((x >= min) & (x <= max)): all comparisons with NaN false.
      y.backward(tensor([1, 1, 1], { dtype: 'float64' }));
      expect(x.grad!.toArray()).to.deep.equal([0, 0, 0]);
    }
    // clamp_min / clamp_max's kernels, max(a, NaN) and min(a, NaN), return a.
    expect(tensor(vals).clamp(NaN).toArray()).to.deep.equal(vals);
    expect(tensor(vals).clamp(null, NaN).toArray()).to.deep.equal(vals);
  });

  it('clamp and clamp_ on float32 refuse a finite bound beyond float32 (torch\'s checked Scalar conversion), leaving x as it was; ±Infinity and float64 pass', () => {
    const x = tensor([-1, 0.5, 5]);
    expect(() => F.clamp(x, -1e39)).to.throw('clamp: min -1e+39 cannot be converted to float32 without overflow');
    expect(() => x.clamp(null, 1e39)).to.throw('clamp: max 1e+39 cannot be converted to float32 without overflow');
    expect(() => x.clamp_(0, 4e38)).to.throw('clamp_: max 4e+38 cannot be converted to float32 without overflow');
    expect(x.toArray()).to.deep.equal([-1, 0.5, 5]);
    expect(x._version).to.equal(0);
    expect(x.clamp(-Infinity, Infinity).toArray()).to.deep.equal([-1, 0.5, 5]);
    expect(x.clamp(-3.4028234663852886e38, 3.4028234663852886e38).toArray()).to.deep.equal([-1, 0.5, 5]);
    expect(tensor([-1, 2], { dtype: 'float64' }).clamp(-1e39, 1).toArray()).to.deep.equal([-1, 1]);
  });

  it('matmul over an empty inner dim gives zeros, and gradients of the inputs\' (empty) shapes', () => {
    const cases: Array<[number[], number[], number[]]> = [
      [[2, 0], [0, 3], [2, 3]], [[2, 2, 0], [2, 0, 3], [2, 2, 3]], [[2, 0], [2, 0, 3], [2, 2, 3]],
      [[0], [0], []], [[0], [0, 3], [3]], [[2, 0], [0], [2]], [[2, 3], [3, 0], [2, 0]], [[0, 3], [3, 2], [0, 2]],
    ];
    for (const dtype of ['float32', 'float64'] as const) {
      for (const [sa, sb, so] of cases) {
        const label = `${dtype} ${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`;
        const a = randomTensor(rng, sa, dtype).requiresGrad_(), b = randomTensor(rng, sb, dtype).requiresGrad_();
        const y = F.matmul(a, b);
        expect(y.shape, label).to.deep.equal(so);
        // Every output element is a sum over k of a[i,k]·b[k,j]: over nothing when K is 0.
        expect(Array.from(y.data), label).to.deep.equal(new Array(y.numel()).fill(0));
        y.backward(randomTensor(rng, so, dtype));
        expect(a.grad!.shape, label).to.deep.equal(sa);
        expect(b.grad!.shape, label).to.deep.equal(sb);
        // Each gradient element sums over the output's other (empty) dim, or there are none.
        expect(Array.from(a.grad!.data), label).to.deep.equal(new Array(a.numel()).fill(0));
        expect(Array.from(b.grad!.data), label).to.deep.equal(new Array(b.numel()).fill(0));
      }
    }
    // Transposed views of the empty operands too.
    expect(F.matmul(zeros([0, 2]).T, zeros([3, 0]).T).shape).to.deep.equal([2, 3]);
    // linear with no input features is its bias.
    expect(F.linear(ones([2, 0]), ones([3, 0]), tensor([1, 2, 3])).toArray()).to.deep.equal([[1, 2, 3], [1, 2, 3]]);
  });

  it('conv2d with an empty sum: zeros plus bias forward, zero weight and bias gradients for an empty batch', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      // No input channels: every output is its channel's bias (or 0).
      expect(F.conv2d(zeros([1, 0, 4, 4], { dtype }), zeros([2, 0, 3, 3], { dtype })).toArray())
        .to.deep.equal([[[[0, 0], [0, 0]], [[0, 0], [0, 0]]]]);
      expect(F.conv2d(zeros([1, 0, 4, 4], { dtype }), zeros([2, 0, 3, 3], { dtype }), tensor([1, 2], { dtype })).toArray())
        .to.deep.equal([[[[1, 1], [1, 1]], [[2, 2], [2, 2]]]]);
      // No images: the weight and bias gradients sum over nothing.
      const x = zeros([0, 2, 5, 5], { dtype, requiresGrad: true });
      const w = randomTensor(rng, [3, 2, 3, 3], dtype).requiresGrad_(), b = randomTensor(rng, [3], dtype).requiresGrad_();
      const y = F.conv2d(x, w, b, { padding: 1 });
      expect(y.shape).to.deep.equal([0, 3, 5, 5]);
      y.sum().backward();
      expect(x.grad!.shape).to.deep.equal([0, 2, 5, 5]);
      expect(Array.from(w.grad!.data)).to.deep.equal(new Array(54).fill(0));
      expect(Array.from(b.grad!.data)).to.deep.equal([0, 0, 0]);
      // No output channels: nothing flows back to the input.
      const x2 = randomTensor(rng, [1, 2, 4, 4], dtype).requiresGrad_();
      const y2 = F.conv2d(x2, zeros([0, 2, 3, 3], { dtype, requiresGrad: true }));
      expect(y2.shape).to.deep.equal([1, 0, 2, 2]);
      y2.sum().backward();
      expect(Array.from(x2.grad!.data)).to.deep.equal(new Array(32).fill(0));
    }
  });

  it('null options count as omitted (conv2d, batchNorm, crossEntropy, avgPool2d\'s divisorOverride as torch\'s None)', () => {
    const img = tensor([[[[1, 2, 4], [3, 6, 8], [5, 7, 9]]]]);
    // 2x2 windows, stride 1: the divisor is the window's 4 elements, as without divisorOverride.
    expect(Array.from(F.avgPool2d(img, { kernelSize: 2, stride: 1, divisorOverride: null }).data)).to.deep.equal([3, 5, 5.25, 7.5]);
    const x = randomTensor(rng, [1, 2, 4, 4]), w = randomTensor(rng, [3, 2, 3, 3]);
    expect(F.conv2d(x, w, null, null).toArray()).to.deep.equal(F.conv2d(x, w).toArray());
    const v = randomTensor(rng, [3, 2]);
    const stats = (): [Tensor, Tensor] => [tensor([0.5, -1], { dtype: 'float64' }), tensor([2, 3], { dtype: 'float64' })];
    expect(F.batchNorm(v, ...stats(), null, null, null).toArray()).to.deep.equal(F.batchNorm(v, ...stats()).toArray());
    const logits = randomTensor(rng, [2, 3]);
    expect(F.crossEntropy(logits, [0, 2], null).item()).to.equal(F.crossEntropy(logits, [0, 2]).item());
  });

  it('batchNorm updates strided running statistics in place, as it does contiguous ones', () => {
    const x = tensor([[1, 2], [3, 6], [5, 10]]);
    // Batch mean [3, 6], unbiased variance [4, 16]: running = 0.9·running + 0.1·batch.
    const want = { mean: [0.3, 0.6], var: [0.9 + 0.4, 0.9 + 1.6] };
    const rm = tensor([0, 0]), rv = tensor([1, 1]);
    F.batchNorm(x, rm, rv, null, null, { training: true });
    close(rm.data, want.mean, 1e-6);
    close(rv.data, want.var, 1e-6);
    // Every other element from offset 0 and from offset 1, and a column of a matrix (a view made by
    // hand, stride 2): the elements between stay as they were.
    const views: Array<[number[], number[], (t: Tensor) => Tensor]> = [
      [[0, 9, 0, 9], [1, 9, 1, 9], (t) => t.slice(0, 0, 4, 2)],
      [[9, 0, 9, 0, 9], [9, 1, 9, 1, 9], (t) => t.slice(0, 1, 4, 2)],
      [[7, 0, 7, 0], [7, 1, 7, 1], (t) => new Tensor(t.storage, [2], [2], 1)],
    ];
    for (const [m0, v0, view] of views) {
      const mBase = tensor(m0), vBase = tensor(v0);
      const m = view(mBase), vv = view(vBase);
      expect(m.isContiguous()).to.equal(false);
      F.batchNorm(x, m, vv, null, null, { training: true });
      const at = m0.indexOf(0);
      const wantM = m0.slice(), wantV = v0.slice();
      [wantM[at], wantM[at + 2]] = want.mean;
      [wantV[at], wantV[at + 2]] = want.var;
      close(mBase.data, wantM, 1e-6);
      close(vBase.data, wantV, 1e-6);
    }
  });

  it('batchNorm refuses to update expanded running statistics (one memory location for every element) but reads them in eval', () => {
    const x = tensor([[1, 2], [3, 6], [5, 10]]);
    const rm = zeros([1]).expand([2]), rv = ones([1]).expand([2]);
    expect(() => F.batchNorm(x, rm, rv, null, null, { training: true }))
      .to.throw('batchNorm: runningMean is updated in place when training, but it is an expanded tensor (shape [2], strides [0]) whose elements share one memory location');
    expect(() => F.batchNorm(x, zeros([2]), rv, null, null, { training: true })).to.throw(/^batchNorm: runningVar is updated in place when training/);
    expect(rm.toArray()).to.deep.equal([0, 0]);
    // Eval reads them: (x − 0) / sqrt(1 + eps).
    close(F.batchNorm(x, rm, rv).data, [1, 2, 3, 6, 5, 10].map((v) => v / Math.sqrt(1 + 1e-5)), 1e-6);
  });

  it('conv2d and the 2-d pools take an unbatched [C, H, W] input as torch 1.13 does: the [1, C, H, W] result without its batch dim, gradients included', () => {
    const w = randomTensor(rng, [3, 2, 2, 3]), b = randomTensor(rng, [3]);
    const cases: Array<[string, (x: Tensor) => Tensor]> = [
      ['conv2d', (x) => F.conv2d(x, w, b, { stride: [2, 1], padding: [1, 0], dilation: [1, 2] })],
      ["conv2d padding 'same' (even kernel height: the extra row padded first)", (x) => F.conv2d(x, w, b, { padding: 'same' })],
      ['maxPool2d', (x) => F.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true })],
      ['avgPool2d', (x) => F.avgPool2d(x, { kernelSize: [2, 3], padding: [1, 1], countIncludePad: false })],
      ['adaptiveAvgPool2d', (x) => F.adaptiveAvgPool2d(x, [3, null])],
    ];
    for (const [name, f] of cases) {
      const data = randomTensor(rng, [2, 5, 6]);
      const gyBatched = f(data.reshape(1, 2, 5, 6));
      const gy = randomTensor(rng, gyBatched.shape.slice(1));
      const x = data.clone().requiresGrad_(), xb = data.reshape(1, 2, 5, 6).clone().requiresGrad_();
      const y = f(x), yb = f(xb);
      expect(y.shape, name).to.deep.equal(yb.shape.slice(1));
      expect(y.toArray(), name).to.deep.equal(yb.reshape(...yb.shape.slice(1)).toArray());
      F.sum(F.mul(y, gy)).backward();
      F.sum(F.mul(yb, gy.reshape(1, ...gy.shape))).backward();
      expect(x.grad!.toArray(), name).to.deep.equal(xb.grad!.reshape(2, 5, 6).toArray());
    }
    // Other ranks are named as torch names them.
    expect(() => F.conv2d(ones([2, 5]), w)).to.throw('conv2d: expected a 3-d [C, H, W] or 4-d NCHW input, got shape [2,5]');
    expect(() => F.maxPool2d(ones([1, 1, 2, 4, 4]), { kernelSize: 2 })).to.throw('maxPool2d: expected a 3-d [C, H, W] or 4-d NCHW input, got shape [1,1,2,4,4]');
    expect(() => F.avgPool2d(ones([4, 4]), { kernelSize: 2 })).to.throw('avgPool2d: expected a 3-d [C, H, W] or 4-d NCHW input, got shape [4,4]');
    expect(() => F.adaptiveAvgPool2d(ones([4]), 2)).to.throw('adaptiveAvgPool2d: expected a 3-d [C, H, W] or 4-d NCHW input, got shape [4]');
  });

  it('empty batches and channels: pooling and batch norm give empty results where PyTorch does', () => {
    const a = zeros([1, 0, 4, 4], { requiresGrad: true });
    const pooled = F.adaptiveAvgPool2d(a, 1);
    expect(pooled.shape).to.deep.equal([1, 0, 1, 1]);
    pooled.sum().backward();
    expect(a.grad!.shape).to.deep.equal([1, 0, 4, 4]);
    expect(F.adaptiveAvgPool2d(zeros([0, 2, 4, 4]), [2, 3]).shape).to.deep.equal([0, 2, 2, 3]);
    expect(F.maxPool2d(zeros([0, 2, 4, 4]), { kernelSize: 2 }).shape).to.deep.equal([0, 2, 2, 2]);
    expect(F.avgPool2d(zeros([0, 2, 4, 4]), { kernelSize: 2 }).shape).to.deep.equal([0, 2, 2, 2]);
    // No channels: an empty result, in training too (N·S values per channel, but no channel).
    for (const training of [true, false]) {
      const x = zeros([4, 0, 3], { requiresGrad: true }), w = ones([0], { requiresGrad: true });
      const y = F.batchNorm(x, zeros([0]), ones([0]), w, zeros([0]), { training, relu: true });
      expect(y.shape).to.deep.equal([4, 0, 3]);
      y.sum().backward();
      expect(x.grad!.shape).to.deep.equal([4, 0, 3]);
      expect(w.grad!.shape).to.deep.equal([0]);
    }
    // No images, in eval and in training (PyTorch rejects only exactly one value per channel): empty
    // output, zero weight and bias gradients; the running statistics untouched.
    for (const training of [false, true]) {
      const x = zeros([0, 2, 3], { requiresGrad: true }), w = ones([2], { requiresGrad: true }), b = zeros([2], { requiresGrad: true });
      const rm = tensor([0.5, 1]), rv = tensor([2, 3]);
      const y = F.batchNorm(x, rm, rv, w, b, { residual: zeros([0, 2, 3]), training });
      expect(y.shape).to.deep.equal([0, 2, 3]);
      y.sum().backward();
      expect(w.grad!.toArray()).to.deep.equal([0, 0]);
      expect(b.grad!.toArray()).to.deep.equal([0, 0]);
      expect([rm.toArray(), rv.toArray()]).to.deep.equal([[0.5, 1], [2, 3]]);
    }
    expect(F.batchNorm(zeros([0, 3, 4, 4]), null, null, null, null, { training: true }).shape).to.deep.equal([0, 3, 4, 4]);
    expect(() => F.batchNorm(zeros([1, 3]), null, null, null, null, { training: true })).to.throw('batchNorm: expected more than 1 value per channel when training, got input [1,3]');
  });
});

describe('autograd/functional: cat skips 1-d empty tensors, as torch 1.13 (cat_should_skip_tensor)', () => {
  it('concatenates the others as if the [0] tensors were not there, whatever their ndim, and wraps dim by the others', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const y = tensor([[7, 8, 9]]);
    // The accumulator pattern: acc = torch.tensor([]); acc = torch.cat([acc, rows]).
    let acc = tensor([]);
    acc = F.cat([acc, x]);
    acc = F.cat([acc, y]);
    expect(acc.shape).to.deep.equal([3, 3]);
    expect(acc.toArray()).to.deep.equal([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    expect(F.cat([x, zeros([0]), x], 1).toArray()).to.deep.equal([[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]]);
    // dim -1 is wrapped by the first tensor that is not skipped (2-d here), so it is dim 1.
    expect(F.cat([zeros([0]), x, x], -1).shape).to.deep.equal([2, 6]);
    expect(F.cat([zeros([0]), zeros([0])]).shape).to.deep.equal([0]);
    expect(F.cat([zeros([0]), tensor([1, 2])]).toArray()).to.deep.equal([1, 2]);
    // Only 1-d empties are skipped: a [0, 2] tensor must still match.
    expect(() => F.cat([zeros([0, 2]), x])).to.throw('cat: tensors[1] has shape [2,3] but tensors[0] has [0,2]; all dims except 0 must match');
    expect(() => F.cat([zeros([0]), x, tensor([1, 2])])).to.throw('cat: tensors[2] has shape [2] but tensors[1] has [2,3]; all dims except 0 must match');
    expect(() => F.cat([zeros([0]), tensor(1)])).to.throw('cat: zero-dimensional tensor (tensors[1]) cannot be concatenated');
    expect(() => F.cat([zeros([0], { dtype: 'float64' }), x])).to.throw('cat: tensors[0] is float64 but tensors[1] is float32');
  });

  it('gives the skipped tensors a [0] gradient and the others their slices', () => {
    const e = zeros([0], { dtype: 'float64' }).requiresGrad_();
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float64' }).requiresGrad_();
    const w = tensor([[1, 10], [100, 1000], [2, 20], [200, 2000]], { dtype: 'float64' });
    F.cat([e, x, e, x]).mul(w).sum().backward();
    expect(e.grad!.shape).to.deep.equal([0]);
    expect(x.grad!.toArray()).to.deep.equal([[3, 30], [300, 3000]]);
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
    // The condition is converted to the input's dtype; the mismatch is between input and other, not the condition.
    ['where dtypes', () => F.where(ones([1]), ones([1]), ones([1], { dtype: 'float64' })), 'where: dtype mismatch: input is float32 [1] but other is float64 [1]; convert one with .to()'],
    // torch: "Dimension out of range (expected to be in range of [-3, 2], but got 3)" for a 2-d input.
    ['unsqueeze range', () => ones([2, 3]).unsqueeze(3), 'unsqueeze: dim 3 out of range for a 2-d tensor (expected in [-3, 2])'],
    ['stack dtypes', () => F.stack([ones([2]), ones([2], { dtype: 'float64' })]), 'stack: tensors[1] is float64 but tensors[0] is float32'],
    ['stack range', () => F.stack([ones([2]), ones([2])], -3), 'stack: dim -3 out of range for stacking 1-d tensors (expected in [-2, 1])'],
    // torch: "cannot reshape tensor of 0 elements into shape [0, -1] because the unspecified dimension size -1 can be any value and is ambiguous".
    ['reshape ambiguous', () => zeros([0, 4]).reshape(0, -1), 'reshape: cannot reshape a tensor of 0 elements (shape [0,4]) into shape [0,-1]: the size of the -1 dim could be any value'],
    ['max empty', () => F.max(zeros([0])), 'max: cannot reduce over the empty dim 0 of shape [0]'],
    ['not a tensor', () => F.exp([1, 2] as never), 'exp: input must be a Tensor, got object'],
    // PyTorch: a 0-d tensor accepts dim 0 or -1 only ("Dimension out of range (expected to be in range of [-1, 0], but got 5)").
    ['logSoftmax 0-d dim', () => F.logSoftmax(ones([]), 5), 'logSoftmax: dim 5 out of range for a 0-d tensor (expected in [-1, 0])'],
    ['logSoftmax 0-d dim -2', () => F.logSoftmax(ones([]), -2), 'logSoftmax: dim -2 out of range for a 0-d tensor (expected in [-1, 0])'],
    ['softmax 0-d dim', () => F.softmax(ones([]), 1), 'softmax: dim 1 out of range for a 0-d tensor (expected in [-1, 0])'],
    ['softmax dim range', () => F.softmax(ones([2, 3]), 2), 'softmax: dim 2 out of range for a 2-d tensor (expected in [-2, 1])'],
    ['softmax no dim', () => F.softmax(ones([2, 3]), undefined as never), 'softmax: dim is required'],
    ['transpose range', () => ones([2, 2]).transpose(0, 2), 'transpose: dim 2 out of range for a 2-d tensor (expected in [-2, 1])'],
    ['batchNorm relu option', () => F.batchNorm(ones([2, 3]), null, null, null, null, { training: true, relu: 'yes' as never }), 'batchNorm: relu must be a boolean, got yes'],
    // A non-boolean flag is an error, as torch's bool arguments: 'false' is truthy, so it would train
    // (and update the running statistics) where eval was meant.
    ['batchNorm non-boolean training', () => F.batchNorm(ones([2, 3]), zeros([3]), ones([3]), null, null, { training: 'false' as never }), 'batchNorm: training must be a boolean, got "false"'],
    // undefined (JavaScript's omitted) is null: runningVar alone would otherwise be silently left un-updated.
    ['batchNorm runningMean undefined, runningVar given', () => F.batchNorm(ones([2, 3]), undefined as never, ones([3]), null, null, { training: true }), 'batchNorm: runningMean and runningVar must be given together'],
    ['dropout non-boolean training', () => F.dropout(ones([4]), 0.5, { training: false } as never), 'dropout: training must be a boolean, got an object'],
    // torch's fourth argument is inplace; here it is the generator.
    ['dropout inplace flag in the generator slot', () => F.dropout(ones([4]), 0.5, true, false as never), 'dropout: generator must be a Random, got false'],
    ['batchNorm training on one value per channel', () => F.batchNorm(zeros([1, 2, 1]), zeros([2]), ones([2]), null, null, { training: true }), 'batchNorm: expected more than 1 value per channel when training, got input [1,2,1]'],
    ['crossEntropy null target', () => F.crossEntropy(ones([2, 3]), null as never), 'crossEntropy: target must be a Tensor or an array of numbers, got null'],
    ['crossEntropy BigInt64Array target', () => F.crossEntropy(ones([2, 3]), new BigInt64Array([1n, 2n]) as never), 'crossEntropy: target must be a Tensor or an array of numbers, got BigInt64Array(2)'],
    ['crossEntropy string target', () => F.crossEntropy(ones([2, 3]), ['1', '2'] as never), 'crossEntropy: target must be a Tensor or an array of numbers, got ["1", "2"]'],
    ['crossEntropy number options', () => F.crossEntropy(ones([2, 3]), [1, 2], 5 as never), 'crossEntropy: options must be an object, got 5'],
    ['conv2d string options', () => F.conv2d(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), null, 'same' as never), 'conv2d: options must be an object, got "same"'],
    ['avgPool2d null options', () => F.avgPool2d(ones([1, 1, 4, 4]), null as never), 'avgPool2d: options must be an object with a kernelSize, got null'],
    ['adaptiveAvgPool2d null outputSize', () => F.adaptiveAvgPool2d(ones([1, 1, 4, 4]), null as never), 'adaptiveAvgPool2d: outputSize must be an integer or a pair, got null'],
    ['maxPool2d null options', () => F.maxPool2d(ones([1, 1, 4, 4]), null as never), 'maxPool2d: params must be an object with a kernelSize, got null'],
    // Misspelt options are errors, not silently ignored (crossEntropy would otherwise train without smoothing).
    ['crossEntropy snake_case option', () => F.crossEntropy(ones([1, 3]), [0], { label_smoothing: 0.5 } as never), "crossEntropy: unknown option 'label_smoothing' (did you mean 'labelSmoothing'?)"],
    ['crossEntropy unknown option', () => F.crossEntropy(ones([1, 3]), [0], { smoothing: 0.5 } as never), "crossEntropy: unknown option 'smoothing'"],
    ['conv2d misspelt option', () => F.conv2d(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), null, { paddin: 1 } as never), "conv2d: unknown option 'paddin' (did you mean 'padding'?)"],
    ['maxPool2d misspelt option', () => F.maxPool2d(ones([1, 1, 4, 4]), { kernelSize: 2, strid: 1 } as never), "maxPool2d: unknown option 'strid' (did you mean 'stride'?)"],
    ['avgPool2d snake_case option', () => F.avgPool2d(ones([1, 1, 4, 4]), { kernelSize: 2, count_include_pad: false } as never), "avgPool2d: unknown option 'count_include_pad' (did you mean 'countIncludePad'?)"],
    ['batchNorm misspelt option', () => F.batchNorm(ones([2, 3]), null, null, null, null, { training: true, momentun: 0.5 } as never), "batchNorm: unknown option 'momentun' (did you mean 'momentum'?)"],
    // A missing or non-numeric size is named, not a TypeError from spreading it.
    ['maxPool2d without kernelSize', () => F.maxPool2d(ones([1, 1, 4, 4]), {} as never), 'maxPool2d: kernelSize must be an integer >= 1 or a pair of them, got undefined'],
    ['conv2d object padding', () => F.conv2d(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), null, { padding: { a: 1 } } as never), 'conv2d: padding must be an integer >= 0 or a pair of them, got an object'],
  ];
  for (const [name, f, msg] of cases) {
    it(name, () => expect(f).to.throw(msg));
  }
});

describe('autograd/functional: softmax and logSoftmax of a 0-d tensor', () => {
  it('take dim 0 or -1: log-softmax 0, softmax 1, gradient 0 (a one-element softmax is constant)', () => {
    for (const dim of [0, -1]) {
      const x = tensor(3, { dtype: 'float64', requiresGrad: true });
      const y = F.logSoftmax(x, dim);
      expect(y.shape).to.deep.equal([]);
      expect(y.item()).to.equal(0);
      expect(F.softmax(x, dim).item()).to.equal(1);
      y.backward();
      expect(x.grad!.item()).to.equal(0);
    }
  });
});

describe('autograd/functional: mseLoss, variance/std and select', () => {
  const f64 = (shape: number[]): Tensor => randomTensor(rng, shape, 'float64').requiresGrad_(true);

  it('mseLoss: mean (default), sum and none of (input − target)², as F.mse_loss; gradcheck in float64 for both inputs', () => {
    const x = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    const y = tensor([[0, 2], [5, 1]], { dtype: 'float64' });
    expect(F.mseLoss(x, y).item()).to.equal((1 + 0 + 4 + 9) / 4);
    expect(F.mseLoss(x, y, { reduction: 'sum' }).item()).to.equal(14);
    expect(F.mseLoss(x, y, { reduction: 'none' }).toArray()).to.deep.equal([[1, 0], [4, 9]]);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      assertGradcheck((a, b) => F.mseLoss(a, b, { reduction }), [f64([3, 4]), f64([3, 4])]);
    }
    expect(() => F.mseLoss(tensor([[1], [2]]), tensor([1, 2]))).to.throw(/mseLoss: input \[2,1\] and target \[2\] must have the same shape/);
    expect(() => F.mseLoss(x, y, { reduction: 'avg' as 'mean' })).to.throw(/mseLoss: reduction must be/);
    expect(() => F.mseLoss(x, y, { reduce: 'mean' } as object)).to.throw(/mseLoss: unknown option 'reduce'/);
  });

  it('variance and std: Bessel-corrected by default, correction 0, dims and keepdim, as torch.var/std; gradcheck in float64', () => {
    const v = tensor([1, 2, 3, 4], { dtype: 'float64' });
    expect(v.var().item()).to.be.closeTo(5 / 3, 1e-15);
    expect(v.var(0, { correction: 0 }).item()).to.be.closeTo(1.25, 1e-15);
    expect(v.std().item()).to.be.closeTo(Math.sqrt(5 / 3), 1e-15);
    const a = arange(6, undefined, 1, { dtype: 'float64' }).reshape(2, 3);
    expect(a.var(1).toArray()).to.deep.equal([1, 1]);
    expect(a.var(0, { keepdim: true }).toArray()).to.deep.equal([[4.5, 4.5, 4.5]]);
    expect(a.std([0, 1]).item()).to.be.closeTo(Math.sqrt(3.5), 1e-15);
    expect(Number.isNaN(tensor([5]).var().item()), 'one element, correction 1: NaN as torch').to.equal(true);
    assertGradcheck((x) => F.variance(x), [f64([3, 4])]);
    assertGradcheck((x) => F.variance(x, [0, 2], { keepdim: true, correction: 0 }), [f64([3, 2, 4])]);
    assertGradcheck((x) => F.std(x, -1), [f64([3, 5])]);
    expect(() => a.var(1, true as unknown as object)).to.throw(/var: the argument after dim is an options object/);
    expect(() => a.var(2)).to.throw(/var/);
  });

  it('float32 variance and std are accurate for a large mean and a small spread, and do not overflow in Σ(x − mean)², as torch.var accumulating in double', () => {
    // Reference: the float64 two-pass variance of the very float32 values the op sees.
    const refVar = (v: Float32Array, correction: number): number => {
      let m = 0;
      for (const t of v) m += t;
      m /= v.length;
      let ss = 0;
      for (const t of v) ss += (t - m) * (t - m);
      return ss / (v.length - correction);
    };
    const local = new Random(7);
    for (const [base, spread] of [[1e5, 0.1], [1e4, 1e-2], [1e6, 1], [3e4, 3e-3]] as const) {
      for (let trial = 0; trial < 20; trial++) {
        const data = new Float32Array(1000);
        for (let i = 0; i < data.length; i++) data[i] = base + spread * local.normal();
        const x = tensor(Array.from(data), { dtype: 'float32' });
        for (const correction of [0, 1]) {
          const want = refVar(data, correction);
          // A float32 result rounded from the exact one is within 2^-24 relative; allow 2 ulps.
          expect(Math.abs(F.variance(x, 0, { correction }).item() - want) / want, `var, mean ${base}, spread ${spread}, trial ${trial}`).to.be.at.most(2 ** -23);
          expect(Math.abs(F.std(x, 0, { correction }).item() - Math.sqrt(want)) / Math.sqrt(want), `std, mean ${base}`).to.be.at.most(2 ** -23);
        }
      }
    }
    // Non-trailing axes ([0, 2] of [3, 2, 4]) against the same loop over each kept index.
    const m = randomTensor(local, [3, 2, 4], 'float32');
    const got = m.var([0, 2]).toArray() as number[];
    for (let j = 0; j < 2; j++) {
      const vals: number[] = [];
      for (let i = 0; i < 3; i++) for (let k = 0; k < 4; k++) vals.push(m.storage[(i * 2 + j) * 4 + k]);
      const want = refVar(Float32Array.from(vals), 1);
      expect(Math.abs(got[j] - want) / want, `var over [0, 2], column ${j}`).to.be.at.most(2 ** -23);
    }
    // (±1.5e19)² = 2.25e38 per element: Σ(x − mean)² = 9e38 exceeds float32, the variance 3e38 does not.
    const big = tensor([[1.5e19, -1.5e19, 1.5e19, -1.5e19]], { dtype: 'float32' });
    const want = refVar(Float32Array.from([1.5e19, -1.5e19, 1.5e19, -1.5e19]), 1);
    expect(Math.abs(big.var(1).item() - want) / want).to.be.at.most(2 ** -23);
    expect(Math.abs(big.std().item() - Math.sqrt(want)) / Math.sqrt(want)).to.be.at.most(2 ** -23);
  });

  it('float64 sum, mean and var of 2^20 values keep float64 accuracy (pairwise, as torch\'s cascade sum), not n·ε of a running sum', () => {
    const n = 1 << 20;
    const t = Tensor.empty([n], 'float64');
    (t.storage as Float64Array).fill(0.1);
    // The pairwise bound, relative to Σ|x|: (block of 128 summed in order + log2(2^20 / 128) levels)·2^-53,
    // plus a rounding or two; a running sum of 2^20 terms is off by 1.6e-11 relative here, 1000 times more.
    const rel = (128 + 13 + 2) * 2 ** -53;
    expect(Math.abs(F.sum(t).item() - n * 0.1) / (n * 0.1), 'sum').to.be.at.most(rel);
    expect(Math.abs(t.reshape(1, 4, n / 4).sum([1, 2]).item() - n * 0.1) / (n * 0.1), 'sum over trailing dims').to.be.at.most(rel);
    expect(Math.abs(F.mean(t).item() - 0.1) / 0.1, 'mean').to.be.at.most(rel);
    // Two values alternating: var = 0.25·n/(n − 1) exactly in real arithmetic.
    const u = Tensor.empty([n], 'float64');
    for (let i = 0; i < n; i++) u.storage[i] = i % 2 === 0 ? 0.1 : 1.1;
    const want = 0.25 * n / (n - 1);
    expect(Math.abs(u.var().item() - want) / want, 'var').to.be.at.most(rel);
  });

  it('std: where the deviation is 0 (a constant row) the gradient is 0, not NaN, as torch\'s std_backward masks result == 0', () => {
    // Row 0 constant, row 1 not: d std / d x = (x − mean) / ((n − 1)·std) on row 1, 0 on row 0.
    const x = tensor([[2, 2, 2, 2], [1, 2, 4, 7]], { dtype: 'float64', requiresGrad: true });
    const s = F.std(x, 1);
    expect(s.toArray()).to.deep.equal([0, Math.sqrt(7)]);
    s.sum().backward();
    const row1 = [1, 2, 4, 7].map((v) => (v - 3.5) / (3 * Math.sqrt(7)));
    close(x.grad!.data, [0, 0, 0, 0, ...row1], 1e-15);
    const c = tensor([5, 5, 5], { dtype: 'float32', requiresGrad: true });
    c.std().backward();
    expect(Array.from(c.grad!.data)).to.deep.equal([0, 0, 0]);
  });

  it('select(dim, index) is x[..., index, ...] with the dim removed (torch.select), negative index from the end; gradcheck', () => {
    const a = arange(6).reshape(2, 3);
    expect(a.select(1, 0).toArray()).to.deep.equal([0, 3]);
    expect(a.select(-1, -1).toArray()).to.deep.equal([2, 5]);
    expect(F.select(a, 0, 1).toArray()).to.deep.equal([3, 4, 5]);
    expect(tensor([7, 8]).select(0, 1).shape).to.deep.equal([]);
    assertGradcheck((x) => x.select(1, 2), [f64([2, 4, 3])]);
    assertGradcheck((x) => x.select(-1, -2).mul(x.select(0, 0).sum()), [f64([2, 4])]);
    expect(() => a.select(1, 3)).to.throw(/select: index 3 out of range for dim 1 of size 3/);
    expect(() => a.select(1, 0.5)).to.throw(/select: index 0.5 out of range/);
    expect(() => tensor(1).select(0, 0)).to.throw(/select: cannot select from a 0-d tensor/);
  });
});

describe('autograd/functional: crossEntropy with class-probability targets (torch 1.13, target of the logits\' shape)', () => {
  /** Independent float64 reference: −Σ w_c·t'_ic·log_softmax(x)_ic with t' = t(1 − ε) + ε/C, its gradients in x and t. */
  function refSoft(x: number[][], t: number[][], w: number[] | null, eps: number, reduction: 'mean' | 'sum' | 'none') {
    const N = x.length, C = x[0].length;
    const rows: number[] = [];
    const gx: number[][] = [], gt: number[][] = [];
    const scale = reduction === 'mean' ? 1 / N : 1;
    for (let i = 0; i < N; i++) {
      const m = Math.max(...x[i]);
      let s = 0;
      for (const v of x[i]) s += Math.exp(v - m);
      const lse = m + Math.log(s);
      const lp = x[i].map((v) => v - lse);
      const tt = t[i].map((v) => v * (1 - eps) + eps / C);
      const wt = tt.map((v, c) => v * (w ? w[c] : 1));
      let row = 0, swt = 0;
      for (let c = 0; c < C; c++) { row -= wt[c] * lp[c]; swt += wt[c]; }
      rows.push(row);
      gx.push(lp.map((l, c) => scale * (Math.exp(l) * swt - wt[c])));
      gt.push(lp.map((l, c) => -scale * (w ? w[c] : 1) * (1 - eps) * l));
    }
    const loss = reduction === 'none' ? rows : rows.reduce((a, b) => a + b, 0) * scale;
    return { loss, gx, gt };
  }

  it('mean, sum and none, with labelSmoothing and weight: values and both gradients against a float64 loop', () => {
    const x0 = [[0.5, -1, 2, 0.25], [3, 0, -2, 1], [-0.5, 0.5, 0, 4]];
    const t0 = [[0.1, 0.2, 0.3, 0.4], [1, 0, 0, 0], [0, 0.5, 0.5, 0]];
    const w0 = [1, 2, 0.5, 3];
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      for (const [eps, w] of [[0, null], [0.2, null], [0, w0], [0.1, w0]] as const) {
        const x = tensor(x0, { dtype: 'float64', requiresGrad: true });
        const t = tensor(t0, { dtype: 'float64', requiresGrad: true });
        const loss = F.crossEntropy(x, t, { reduction, labelSmoothing: eps, weight: w ? tensor(w as number[], { dtype: 'float64' }) : null });
        const ref = refSoft(x0, t0, w as number[] | null, eps, reduction);
        const got = loss.toArray();
        const exp = ref.loss;
        if (Array.isArray(exp)) (got as number[]).forEach((v, i) => expect(v).to.be.closeTo(exp[i], 1e-12));
        else expect(got as number).to.be.closeTo(exp, 1e-12);
        F.sum(loss).backward();
        (x.grad!.toArray() as number[][]).forEach((r, i) => r.forEach((v, c) => expect(v, `${reduction} eps=${eps} gx[${i}][${c}]`).to.be.closeTo(ref.gx[i][c], 1e-12)));
        (t.grad!.toArray() as number[][]).forEach((r, i) => r.forEach((v, c) => expect(v, `${reduction} eps=${eps} gt[${i}][${c}]`).to.be.closeTo(ref.gt[i][c], 1e-12)));
      }
    }
  });

  it('a one-hot probability target gives the class-index loss; float32 keeps its dtype; an empty batch with mean is NaN as torch', () => {
    const x = tensor([[0.5, -1, 2], [3, 0, -2]]);
    const soft = F.crossEntropy(x, tensor([[0, 0, 1], [1, 0, 0]]));
    expect(soft.dtype).to.equal('float32');
    expect(soft.item()).to.be.closeTo(F.crossEntropy(x, [2, 0]).item(), 1e-6);
    expect(Number.isNaN(F.crossEntropy(Tensor.empty([0, 3], 'float64'), Tensor.empty([0, 3], 'float64')).item())).to.equal(true);
    expect(F.crossEntropy(Tensor.empty([0, 3], 'float64'), Tensor.empty([0, 3], 'float64'), { reduction: 'sum' }).item()).to.equal(0);
  });

  it('probability targets: a non-negative ignoreIndex, a dtype mismatch or a bad shape is an Error naming the op', () => {
    const x = tensor([[0.5, -1, 2], [3, 0, -2]]);
    const t = tensor([[0, 0, 1], [1, 0, 0]]);
    expect(() => F.crossEntropy(x, t, { ignoreIndex: 1 })).to.throw(/crossEntropy: ignoreIndex is not supported for class-probability targets/);
    expect(() => F.crossEntropy(x, t.to('float64'))).to.throw(/crossEntropy: dtype mismatch/);
    expect(() => F.crossEntropy(x, tensor([[0, 1], [1, 0]]))).to.throw(/crossEntropy: expected class-index target of shape \[2\] or class probabilities of shape \[2,3\] \(a Tensor\) for logits \[2,3\], got \[2,2\]/);
  });
});
