/**
 * The functional losses against float64 reference loops written here from PyTorch's documented
 * formulas (torch.nn.functional 1.13), their gradients by float64 gradcheck (for input, target, and
 * with weights, ignoreIndex, posWeight and β/δ near their switch points), float32 runs, the
 * stability of binaryCrossEntropyWithLogits at logits ±100, and every error path.
 */
import { expect } from 'chai';
import { tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { randomTensor } from '../helpers';

const rng = new Random(2411);
type Reduction = 'mean' | 'sum' | 'none';
const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  expect(actual.length, `${what} length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i], a = actual[i];
    if (Number.isNaN(e)) expect(Number.isNaN(a), `${what} element ${i}: ${a} vs NaN`).to.equal(true);
    else if (!Number.isFinite(e)) expect(a, `${what} element ${i}`).to.equal(e);
    else expect(Math.abs(a - e), `${what} element ${i}: ${a} vs ${e}`).to.be.at.most(tol * Math.max(1, Math.abs(e)));
  }
}

/** A float64 tensor of `shape` with values fn(u), u standard normal; a leaf that requires grad. */
function leaf(shape: number[], fn: (u: number) => number = (u) => u, dtype: 'float32' | 'float64' = 'float64'): Tensor {
  return randomTensor(rng, shape, dtype, fn).requiresGrad_(true);
}

/** The reference reduction of per-element losses. */
function reduce(values: number[], reduction: Reduction): number[] {
  if (reduction === 'none') return values;
  const s = values.reduce((a, b) => a + b, 0);
  return [reduction === 'sum' ? s : s / values.length];
}

/** Row-major values of t, read as float64 numbers. */
const vals = (t: Tensor): number[] => Array.from(t.data);

/** w broadcast to n elements of a tensor whose last dim is `last` (w of shape [], [1] or [last], or full). */
function bcast(w: number[] | null, n: number, last: number): number[] {
  if (w === null) return new Array<number>(n).fill(1);
  if (w.length === n) return w;
  return Array.from({ length: n }, (_, i) => (w.length === 1 ? w[0] : w[i % last]));
}

/** log σ(z) without overflow or cancellation: z − log(1 + e^z) for z < 0, −log(1 + e^−z) otherwise. */
const logSigmoid = (z: number): number => (z < 0 ? z - Math.log1p(Math.exp(z)) : -Math.log1p(Math.exp(-z)));
const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

describe('autograd/functional losses: l1Loss, smoothL1Loss, huberLoss', () => {
  it('l1Loss: |x − y| with mean, sum and none against a loop; gradcheck for input and target; float32', () => {
    const x = leaf([3, 4]), y = leaf([3, 4]);
    const ref = vals(x).map((v, i) => Math.abs(v - vals(y)[i]));
    for (const reduction of REDUCTIONS) {
      const out = F.l1Loss(x, y, { reduction });
      expect(out.shape).to.deep.equal(reduction === 'none' ? [3, 4] : []);
      close(out.data, reduce(ref, reduction), 1e-14, reduction);
      assertGradcheck((a, b) => F.l1Loss(a, b, { reduction }), [x, y]);
    }
    expect(F.l1Loss(x, y).item()).to.equal(F.l1Loss(x, y, null).item());
    const x32 = x.detach().to('float32'), y32 = y.detach().to('float32');
    const ref32 = vals(x32).map((v, i) => Math.abs(v - vals(y32)[i]));
    const out32 = F.l1Loss(x32, y32);
    expect(out32.dtype).to.equal('float32');
    close(out32.data, reduce(ref32, 'mean'), 1e-6);
  });

  it('l1Loss at a zero difference has gradient 0 (torch\'s sgn), not NaN', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    F.l1Loss(x, tensor([1, 0, 5], { dtype: 'float64' }), { reduction: 'sum' }).backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([0, 1, -1]);
  });

  const smoothRef = (d: number, beta: number): number => {
    const a = Math.abs(d);
    return beta === 0 ? a : a < beta ? (0.5 * a * a) / beta : a - 0.5 * beta;
  };
  const huberRef = (d: number, delta: number): number => {
    const a = Math.abs(d);
    return a < delta ? 0.5 * a * a : delta * (a - 0.5 * delta);
  };

  /** Differences on both sides of ±s, 0.05 to 1.5 away, so both branches and both signs occur. */
  function aroundSwitch(s: number): { x: Tensor; y: Tensor } {
    const offsets = [-1.5, -0.3, -0.05, 0.05, 0.3, 1.5];
    const diffs: number[] = [];
    for (const sign of [-1, 1]) for (const o of offsets) diffs.push(sign * (s + o));
    const y = leaf([diffs.length]);
    const x = tensor(diffs.map((d, i) => d + y.data[i]), { dtype: 'float64', requiresGrad: true });
    return { x, y };
  }

  it('smoothL1Loss: 0.5·d²/β below β, d − 0.5·β above, for β 0.5, 1 (default), 2.5; gradcheck on both sides of ±β', () => {
    for (const beta of [0.5, 1, 2.5]) {
      const { x, y } = aroundSwitch(beta);
      const ref = vals(x).map((v, i) => smoothRef(v - vals(y)[i], beta));
      for (const reduction of REDUCTIONS) {
        const opts = beta === 1 ? { reduction } : { reduction, beta };
        close(F.smoothL1Loss(x, y, opts).data, reduce(ref, reduction), 1e-13, `beta ${beta} ${reduction}`);
        assertGradcheck((a, b) => F.smoothL1Loss(a, b, opts), [x, y]);
      }
    }
  });

  it('smoothL1Loss with β = 0 is the L1 loss, values and gradient (torch: no division by β)', () => {
    const x = leaf([2, 5]), y = leaf([2, 5]);
    const ref = vals(x).map((v, i) => Math.abs(v - vals(y)[i]));
    const loss = F.smoothL1Loss(x, y, { beta: 0, reduction: 'sum' });
    close(loss.data, reduce(ref, 'sum'), 1e-14);
    loss.backward();
    close(x.grad!.data, vals(x).map((v, i) => Math.sign(v - vals(y)[i])), 0);
    assertGradcheck((a, b) => F.smoothL1Loss(a, b, { beta: 0 }), [leaf([2, 3]), leaf([2, 3])]);
  });

  it('huberLoss: 0.5·d² below δ, δ·(d − 0.5·δ) above, for δ 0.3, 1 (default), 2; gradcheck on both sides of ±δ; δ·smoothL1(β = δ) as the docs say', () => {
    for (const delta of [0.3, 1, 2]) {
      const { x, y } = aroundSwitch(delta);
      const ref = vals(x).map((v, i) => huberRef(v - vals(y)[i], delta));
      for (const reduction of REDUCTIONS) {
        const opts = delta === 1 ? { reduction } : { reduction, delta };
        close(F.huberLoss(x, y, opts).data, reduce(ref, reduction), 1e-13, `delta ${delta} ${reduction}`);
        assertGradcheck((a, b) => F.huberLoss(a, b, opts), [x, y]);
      }
      close(F.huberLoss(x, y, { delta }).data, [delta * F.smoothL1Loss(x, y, { beta: delta }).item()], 1e-13);
    }
  });

  it('smoothL1Loss and huberLoss in float32 match the float64 reference of the float32 values', () => {
    const x = leaf([4, 6], (u) => 2 * u, 'float32'), y = leaf([4, 6], (u) => u, 'float32');
    const s = F.smoothL1Loss(x, y, { beta: 0.7 });
    const h = F.huberLoss(x, y, { delta: 0.7, reduction: 'none' });
    expect(s.dtype).to.equal('float32');
    expect(h.dtype).to.equal('float32');
    close(s.data, reduce(vals(x).map((v, i) => smoothRef(v - vals(y)[i], 0.7)), 'mean'), 1e-6);
    close(h.data, vals(x).map((v, i) => huberRef(v - vals(y)[i], 0.7)), 1e-6);
  });

  it('errors: shapes that differ (no broadcasting), dtypes, β < 0, δ ≤ 0, bad reduction or option, mean of an empty input; each names the op', () => {
    const a = tensor([[1], [2]]), b = tensor([1, 2]);
    for (const [name, f] of [['l1Loss', F.l1Loss], ['smoothL1Loss', F.smoothL1Loss], ['huberLoss', F.huberLoss]] as const) {
      expect(() => f(a, b)).to.throw(`${name}: input [2,1] and target [2] must have the same shape`);
      expect(() => f(b, b.to('float64'))).to.throw(`${name}: dtype mismatch: input is float32 but target is float64`);
      expect(() => f(b, b, { reduction: 'avg' as 'mean' })).to.throw(`${name}: reduction must be 'mean', 'sum' or 'none', got "avg"`);
      expect(() => f(b, [1, 2] as never)).to.throw(`${name}: target must be a Tensor`);
      expect(() => f(b, b, { size_average: true } as never)).to.throw(`${name}: unknown option 'size_average'`);
      const empty = Tensor.empty([0, 3]);
      expect(() => f(empty, empty)).to.throw(`${name}: cannot take the mean of an empty input (shape [0,3]); use reduction 'sum'`);
      expect(f(empty, empty, { reduction: 'sum' }).item()).to.equal(0);
      expect(f(empty, empty, { reduction: 'none' }).shape).to.deep.equal([0, 3]);
    }
    expect(() => F.smoothL1Loss(b, b, { beta: -0.5 })).to.throw('smoothL1Loss: beta must be a finite non-negative number, got -0.5');
    expect(() => F.smoothL1Loss(b, b, { beta: NaN })).to.throw('smoothL1Loss: beta must be a finite non-negative number, got NaN');
    expect(() => F.huberLoss(b, b, { delta: 0 })).to.throw('huberLoss: delta must be a finite positive number, got 0');
    expect(() => F.huberLoss(b, b, { delta: '1' as never })).to.throw('huberLoss: delta must be a finite positive number, got "1"');
    expect(() => F.huberLoss(b, b, { beta: 1 } as never)).to.throw("huberLoss: unknown option 'beta'");
  });
});

describe('autograd/functional losses: binaryCrossEntropy', () => {
  /** −w·(y·max(log x, −100) + (1 − y)·max(log(1 − x), −100)), the docs' formula with its clamp. */
  const bceRef = (x: number, y: number, w: number): number => -w * (y * Math.max(Math.log(x), -100) + (1 - y) * Math.max(Math.log(1 - x), -100));
  const prob = (u: number): number => 0.05 + 0.9 / (1 + Math.exp(-u));

  it('values against a loop, with no weight, a per-class weight [C] and a full weight, for every reduction; gradcheck for input and target', () => {
    const x = leaf([3, 4], prob), y = leaf([3, 4], prob);
    for (const w of [null, [0.5, 2, 1, 0], vals(randomTensor(rng, [3, 4], 'float64', Math.abs))]) {
      const weight = w === null ? null : tensor(w, { dtype: 'float64' }).reshape(w.length === 4 ? [4] : [3, 4]);
      const ws = bcast(w, 12, 4);
      const ref = vals(x).map((v, i) => bceRef(v, vals(y)[i], ws[i]));
      for (const reduction of REDUCTIONS) {
        close(F.binaryCrossEntropy(x, y, { weight, reduction }).data, reduce(ref, reduction), 1e-13, `${w} ${reduction}`);
        assertGradcheck((a, b) => F.binaryCrossEntropy(a, b, { weight, reduction }), [x, y]);
      }
    }
  });

  it('an input of exactly 0 or 1 gives the clamped loss (100 per wrong label) and the finite gradient (x − y)/max(x(1 − x), 1e-12), as torch', () => {
    const x = tensor([0, 1, 0, 1, 0.25], { dtype: 'float64', requiresGrad: true });
    const y = tensor([1, 0, 0, 1, 1], { dtype: 'float64', requiresGrad: true });
    const loss = F.binaryCrossEntropy(x, y, { reduction: 'none' });
    close(loss.data, [100, 100, 0, 0, -Math.log(0.25)], 1e-15);
    loss.sum().backward();
    close(x.grad!.data, [-1e12, 1e12, 0, 0, (0.25 - 1) / (0.25 * 0.75)], 1e-15);
    // d/dy = log(1 − x) − log x (torch's −logit), unclamped: ±∞ at 0 and 1.
    close(y.grad!.data, [Infinity, -Infinity, Infinity, -Infinity, Math.log(0.75) - Math.log(0.25)], 1e-15);
    // A saturated float32 sigmoid (exactly 1 at 30, exactly 0 at −120): the loss and its gradient stay finite.
    const s = tensor([30, -120], { requiresGrad: true });
    expect(Array.from(s.sigmoid().data)).to.deep.equal([1, 0]);
    const l = F.binaryCrossEntropy(s.sigmoid(), tensor([0, 1]), { reduction: 'sum' });
    expect(l.item()).to.equal(200);
    l.backward();
    expect(Array.from(s.grad!.data).every(Number.isFinite)).to.equal(true);
  });

  it('float32 matches the float64 reference of the float32 values', () => {
    const x = leaf([5, 3], prob, 'float32'), y = leaf([5, 3], prob, 'float32');
    const out = F.binaryCrossEntropy(x, y);
    expect(out.dtype).to.equal('float32');
    close(out.data, reduce(vals(x).map((v, i) => bceRef(v, vals(y)[i], 1)), 'mean'), 1e-6);
  });

  it('errors: input outside [0, 1] or NaN, shapes that differ, a weight that does not broadcast to the input, requires grad or has another dtype', () => {
    const y = tensor([0, 1, 1]);
    expect(() => F.binaryCrossEntropy(tensor([0.5, 1.5, 0.2]), y)).to.throw('binaryCrossEntropy: all elements of input should be between 0 and 1, got 1.5 at flat index 1 of input [3]');
    expect(() => F.binaryCrossEntropy(tensor([0.5, NaN, 0.2]), y)).to.throw('binaryCrossEntropy: all elements of input should be between 0 and 1, got NaN');
    expect(() => F.binaryCrossEntropy(tensor([-0.1, 0, 0.2]), y)).to.throw('binaryCrossEntropy: all elements of input should be between 0 and 1, got -0.1');
    expect(() => F.binaryCrossEntropy(tensor([[0.5], [0.5]]), tensor([1, 0]))).to.throw('binaryCrossEntropy: input [2,1] and target [2] must have the same shape');
    const x = tensor([[0.5, 0.2, 0.1], [0.3, 0.3, 0.3]]), t = tensor([[0, 1, 1], [1, 0, 1]]);
    expect(() => F.binaryCrossEntropy(x, t, { weight: tensor([1, 2]) })).to.throw("binaryCrossEntropy: weight [2] must broadcast to the input's shape [2,3]");
    expect(() => F.binaryCrossEntropy(x, t, { weight: tensor([[[1, 2, 3]]]) })).to.throw("binaryCrossEntropy: weight [1,1,3] must broadcast to the input's shape [2,3]");
    expect(() => F.binaryCrossEntropy(x, t, { weight: tensor([1, 2, 3], { requiresGrad: true }) })).to.throw('binaryCrossEntropy: weight requires grad, but binaryCrossEntropy is not differentiable with respect to it (as in PyTorch); pass weight.detach()');
    expect(() => F.binaryCrossEntropy(x, t, { weight: tensor([1, 2, 3], { dtype: 'float64' }) })).to.throw('binaryCrossEntropy: weight is float64 but input is float32');
    expect(() => F.binaryCrossEntropy(x, t, { weight: [1, 2, 3] as never })).to.throw('binaryCrossEntropy: weight must be a Tensor');
    expect(() => F.binaryCrossEntropy(x, t, { pos_weight: tensor([1]) } as never)).to.throw("binaryCrossEntropy: unknown option 'pos_weight'");
    expect(() => F.binaryCrossEntropy(Tensor.empty([0]), Tensor.empty([0]))).to.throw('binaryCrossEntropy: cannot take the mean of an empty input');
  });
});

describe('autograd/functional losses: binaryCrossEntropyWithLogits', () => {
  /** The docs' ℓ = −w·[p·y·log σ(x) + (1 − y)·log(1 − σ(x))], with log(1 − σ(x)) = log σ(−x). */
  const bcelRef = (x: number, y: number, w: number, p: number): number => -w * (p * y * logSigmoid(x) + (1 - y) * logSigmoid(-x));
  /** Its derivative in x: w·((1 − y)·σ(x) − p·y·(1 − σ(x))). */
  const bcelGradRef = (x: number, y: number, w: number, p: number): number => w * ((1 - y) * sigmoid(x) - p * y * (1 - sigmoid(x)));

  it('values against the docs\' formula, with weight and posWeight [C] broadcast over [N, C], every reduction; gradcheck for input and target', () => {
    const x = leaf([3, 4], (u) => 3 * u), y = leaf([3, 4], (u) => 1 / (1 + Math.exp(-u)));
    const cases: Array<[number[] | null, number[] | null]> = [[null, null], [[0.5, 2, 1, 0.25], null], [null, [3, 0.5, 1, 2]], [[1.5, 0.2, 1, 2], [0.3, 4, 1, 2]]];
    for (const [w, p] of cases) {
      const weight = w === null ? null : tensor(w, { dtype: 'float64' });
      const posWeight = p === null ? null : tensor(p, { dtype: 'float64' });
      const ws = bcast(w, 12, 4), ps = bcast(p, 12, 4);
      const ref = vals(x).map((v, i) => bcelRef(v, vals(y)[i], ws[i], ps[i]));
      for (const reduction of REDUCTIONS) {
        close(F.binaryCrossEntropyWithLogits(x, y, { weight, posWeight, reduction }).data, reduce(ref, reduction), 1e-13, `${w} ${p} ${reduction}`);
        assertGradcheck((a, b) => F.binaryCrossEntropyWithLogits(a, b, { weight, posWeight, reduction }), [x, y]);
      }
    }
  });

  it('a posWeight of the input\'s full shape and a 0-d input work; a logit of exactly 0 has the exact gradient σ(0) − y (no kink)', () => {
    const x = leaf([2, 3]), y = leaf([2, 3], (u) => (u > 0 ? 1 : 0));
    const p = randomTensor(rng, [2, 3], 'float64', (u) => 0.5 + Math.abs(u));
    const ref = vals(x).map((v, i) => bcelRef(v, vals(y)[i], 1, vals(p)[i]));
    close(F.binaryCrossEntropyWithLogits(x, y, { posWeight: p, reduction: 'none' }).data, ref, 1e-13);
    const z = tensor([0, 0], { dtype: 'float64', requiresGrad: true });
    F.binaryCrossEntropyWithLogits(z, tensor([1, 0.25], { dtype: 'float64' }), { reduction: 'sum' }).backward();
    close(z.grad!.data, [-0.5, 0.25], 1e-15);
    const s = F.binaryCrossEntropyWithLogits(tensor(2, { dtype: 'float64' }), tensor(1, { dtype: 'float64' }));
    expect(s.shape).to.deep.equal([]);
    close(s.data, [bcelRef(2, 1, 1, 1)], 1e-15);
  });

  it('stable at logits ±100 in float32 and float64: finite losses equal to the reference and gradients σ(x) − y', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const xs = [100, -100, 100, -100, 60, -60];
      const ys = [1, 1, 0, 0, 0.5, 0.5];
      const x = tensor(xs, { dtype, requiresGrad: true });
      const loss = F.binaryCrossEntropyWithLogits(x, tensor(ys, { dtype }), { reduction: 'none' });
      const ref = xs.map((v, i) => bcelRef(v, ys[i], 1, 1));
      expect(Array.from(loss.data).every(Number.isFinite), dtype).to.equal(true);
      close(loss.data, ref, dtype === 'float32' ? 1e-6 : 1e-14, dtype);
      loss.sum().backward();
      close(x.grad!.data, xs.map((v, i) => bcelGradRef(v, ys[i], 1, 1)), dtype === 'float32' ? 1e-6 : 1e-14, `${dtype} grad`);
      // And with a posWeight: the positive term p·softplus(−x) at x = −100 is 100·p.
      const xp = tensor([-100, 100], { dtype, requiresGrad: true });
      const lp = F.binaryCrossEntropyWithLogits(xp, tensor([1, 1], { dtype }), { posWeight: tensor([3], { dtype }), reduction: 'none' });
      close(lp.data, [300, bcelRef(100, 1, 1, 3)], 1e-6);
      lp.sum().backward();
      close(xp.grad!.data, [bcelGradRef(-100, 1, 1, 3), bcelGradRef(100, 1, 1, 3)], 1e-6);
    }
  });

  it('float32 matches the float64 reference of the float32 values; the result keeps float32', () => {
    const x = leaf([4, 5], (u) => 4 * u, 'float32'), y = leaf([4, 5], (u) => (u > 0 ? 1 : 0), 'float32');
    const out = F.binaryCrossEntropyWithLogits(x, y, { posWeight: tensor([1, 2, 3, 4, 5]) });
    expect(out.dtype).to.equal('float32');
    close(out.data, reduce(vals(x).map((v, i) => bcelRef(v, vals(y)[i], 1, (i % 5) + 1)), 'mean'), 2e-6);
  });

  it('errors: shapes that differ, weight or posWeight that does not broadcast to the input, requires grad or has another dtype, mean of empty', () => {
    const op = 'binaryCrossEntropyWithLogits';
    const x = tensor([[1, -2, 3], [0.5, 0, -1]]), y = tensor([[0, 1, 1], [1, 0, 1]]);
    expect(() => F.binaryCrossEntropyWithLogits(x, tensor([0, 1, 1]))).to.throw(`${op}: input [2,3] and target [3] must have the same shape`);
    expect(() => F.binaryCrossEntropyWithLogits(x, y, { posWeight: tensor([1, 2]) })).to.throw(`${op}: posWeight [2] must broadcast to the input's shape [2,3]`);
    expect(() => F.binaryCrossEntropyWithLogits(x, y, { posWeight: tensor([[1, 2, 3], [1, 2, 3], [1, 2, 3]]) })).to.throw(`${op}: posWeight [3,3] must broadcast to the input's shape [2,3]`);
    // [2, 1] broadcasts over the columns: one positive weight per row.
    close(F.binaryCrossEntropyWithLogits(x, y, { posWeight: tensor([[2], [3]]), reduction: 'none' }).data,
      vals(x).map((v, i) => bcelRef(v, vals(y)[i], 1, i < 3 ? 2 : 3)), 1e-6);
    expect(() => F.binaryCrossEntropyWithLogits(x, y, { posWeight: tensor([2, 3, 4], { requiresGrad: true }) })).to.throw(`${op}: posWeight requires grad, but ${op} is not differentiable with respect to it (as in PyTorch); pass posWeight.detach()`);
    expect(() => F.binaryCrossEntropyWithLogits(x, y, { weight: tensor([2, 3, 4], { dtype: 'float64' }) })).to.throw(`${op}: weight is float64 but input is float32`);
    expect(() => F.binaryCrossEntropyWithLogits(x, y, { weight: tensor([[[2, 3, 4]]]) })).to.throw(`${op}: weight [1,1,3] must broadcast to the input's shape [2,3]`);
    expect(() => F.binaryCrossEntropyWithLogits(x, y, { pos_weight: tensor([1]) } as never)).to.throw(`${op}: unknown option 'pos_weight' (did you mean 'posWeight'?)`);
    expect(() => F.binaryCrossEntropyWithLogits(Tensor.empty([0, 2]), Tensor.empty([0, 2]))).to.throw(`${op}: cannot take the mean of an empty input (shape [0,2])`);
  });
});

describe('autograd/functional losses: nllLoss', () => {
  /** −w[t_n]·x[n, t_n], 0 for ignored targets; mean divides by Σ w[t_n] over the rest (torch's docs). */
  function nllRef(x: number[][], t: number[], w: number[] | null, ignoreIndex: number, reduction: Reduction): number[] {
    const per: number[] = [];
    let W = 0;
    t.forEach((c, n) => {
      if (c === ignoreIndex) { per.push(0); return; }
      const wc = w ? w[c] : 1;
      per.push(-wc * x[n][c]);
      W += wc;
    });
    if (reduction === 'none') return per;
    const s = per.reduce((a, b) => a + b, 0);
    return [reduction === 'sum' ? s : s / W];
  }

  it('values against a loop with weights and ignoreIndex for every reduction (weighted mean over the kept targets\' weights), and gradcheck', () => {
    const x = leaf([6, 4]);
    const rows = x.toArray() as number[][];
    const t = [0, 3, -1, 2, 1, 3];
    for (const w of [null, [0.5, 2, 1.5, 3]]) {
      for (const ignoreIndex of [-100, -1, 3]) {
        for (const reduction of REDUCTIONS) {
          const weight = w === null ? null : tensor(w, { dtype: 'float64' });
          const targets = t.map((c) => (c === -1 && ignoreIndex !== -1 ? 0 : c));
          const out = F.nllLoss(x, targets, { weight, ignoreIndex, reduction });
          expect(out.shape).to.deep.equal(reduction === 'none' ? [6] : []);
          close(out.data, nllRef(rows, targets, w, ignoreIndex, reduction), 1e-14, `${w} ${ignoreIndex} ${reduction}`);
          assertGradcheck((a) => F.nllLoss(a, targets, { weight, ignoreIndex, reduction }), [x]);
        }
      }
    }
  });

  it('targets as a Tensor, a plain array or a typed array give the same loss; nllLoss(logSoftmax(z)) is crossEntropy(z)', () => {
    const z = leaf([3, 5]);
    const a = F.nllLoss(z, [4, 0, 2]).item();
    expect(F.nllLoss(z, tensor([4, 0, 2])).item()).to.equal(a);
    expect(F.nllLoss(z, Int32Array.from([4, 0, 2])).item()).to.equal(a);
    const w = tensor([1, 2, 3, 4, 5], { dtype: 'float64' });
    close([F.nllLoss(F.logSoftmax(z, 1), [4, 0, 2], { weight: w }).item()], [F.crossEntropy(z, [4, 0, 2], { weight: w }).item()], 1e-15);
  });

  it('an unbatched [C] input takes a 0-d target (or a one-element array) and gives a 0-d result for every reduction', () => {
    const x = leaf([4]);
    const w = tensor([1, 2, 3, 0.5], { dtype: 'float64' });
    for (const target of [tensor(2), [2]]) {
      expect(F.nllLoss(x, target, { reduction: 'none', weight: w }).shape).to.deep.equal([]);
      close(F.nllLoss(x, target, { reduction: 'none', weight: w }).data, [-3 * x.data[2]], 1e-15);
      close(F.nllLoss(x, target, { reduction: 'sum', weight: w }).data, [-3 * x.data[2]], 1e-15);
      close(F.nllLoss(x, target, { weight: w }).data, [-x.data[2]], 1e-15);
    }
    assertGradcheck((a) => F.nllLoss(a, tensor(1), { weight: w, reduction: 'sum' }), [x]);
    expect(Number.isNaN(F.nllLoss(x, [1], { ignoreIndex: 1 }).item())).to.equal(true);
    // torch checks input.size(0) == target.size(0) unless the target is 0-d: a [1] target tensor
    // for a [4] input is refused there, and passes only when there is one class.
    expect(() => F.nllLoss(x, tensor([2]))).to.throw('nllLoss: expected a class-index target of shape [] for input [4], got [1]');
    const one = leaf([1]);
    close(F.nllLoss(one, tensor([0]), { reduction: 'sum' }).data, [-one.data[0]], 1e-15);
  });

  it('a −∞ log-probability of another class leaves the loss and gradient finite; the target\'s own −∞ gives +∞ as torch', () => {
    const x = tensor([[-Infinity, -0.5, -1], [-2, -Infinity, -0.1]], { dtype: 'float64', requiresGrad: true });
    const loss = F.nllLoss(x, [1, 2]);
    close(loss.data, [(0.5 + 0.1) / 2], 1e-15);
    loss.backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([0, -0.5, 0, 0, 0, -0.5]);
    expect(F.nllLoss(x, [0, 2], { reduction: 'none' }).toArray()).to.deep.equal([Infinity, 0.1]);
  });

  it('mean with every target ignored, or no samples, is NaN (torch: 0/0); sum is 0; ignored rows get no gradient', () => {
    const x = leaf([2, 3]);
    const all = F.nllLoss(x, [-100, -100]);
    expect(Number.isNaN(all.item())).to.equal(true);
    const s = F.nllLoss(x, [-100, -100], { reduction: 'sum' });
    expect(s.item()).to.equal(0);
    s.backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(Number.isNaN(F.nllLoss(Tensor.empty([0, 3], 'float64'), []).item())).to.equal(true);
    expect(F.nllLoss(Tensor.empty([0, 3], 'float64'), [], { reduction: 'sum' }).item()).to.equal(0);
    expect(F.nllLoss(Tensor.empty([0, 3], 'float64'), [], { reduction: 'none' }).shape).to.deep.equal([0]);
  });

  it('float32 matches the float64 reference of the float32 values and stays float32', () => {
    const x = leaf([5, 4], (u) => u, 'float32');
    const w = [0.25, 1, 2, 4];
    const out = F.nllLoss(x, [3, 0, 1, 2, 2], { weight: tensor(w) });
    expect(out.dtype).to.equal('float32');
    close(out.data, nllRef(x.toArray() as number[][], [3, 0, 1, 2, 2], w, -100, 'mean'), 1e-6);
  });

  it('errors: a 0-d input, target shape, non-integer or out-of-range targets, weight shape, dtype or requiresGrad, ignoreIndex, reduction; each names the op', () => {
    const x = tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]);
    expect(() => F.nllLoss(Tensor.empty([2, 3, 4]), [0, 1])).to.throw('nllLoss: expected a class-index target of shape [2,4] for input [2,3,4], got [2]');
    expect(() => F.nllLoss(Tensor.empty([]), [0])).to.throw('nllLoss: expected input of shape [C], [N, C] or [N, C, d1, ..., dK], got []');
    expect(() => F.nllLoss(Tensor.empty([2, 0]), [0, 0])).to.throw('nllLoss: expected at least one class, got input [2,0]');
    expect(() => F.nllLoss(x, [0, 1, 2])).to.throw('nllLoss: expected a class-index target of shape [2] for input [2,3], got [3]');
    expect(() => F.nllLoss(x, tensor([[0, 1]]))).to.throw('nllLoss: expected a class-index target of shape [2] for input [2,3], got [1,2]');
    expect(() => F.nllLoss(tensor([0.1, 0.2]), [0, 1])).to.throw('nllLoss: expected a class-index target of shape [] (or a one-element array) for input [2], got [2]');
    expect(() => F.nllLoss(x, [0, 1.5])).to.throw('nllLoss: target[1] = 1.5 is not an integer class index');
    expect(() => F.nllLoss(x, [0, 3])).to.throw('nllLoss: target[1] = 3 is out of range for 3 classes (input [2,3])');
    expect(() => F.nllLoss(x, [-1, 0])).to.throw('nllLoss: target[0] = -1 is out of range for 3 classes (input [2,3])');
    expect(() => F.nllLoss(x, ['0', '1'] as never)).to.throw('nllLoss: target must be a Tensor or an array of numbers, got ["0", "1"]');
    expect(() => F.nllLoss(x, [0, 1], { weight: tensor([1, 2]) })).to.throw('nllLoss: weight must have shape [3], got [2]');
    expect(() => F.nllLoss(x, [0, 1], { weight: tensor([1, 2, 3], { dtype: 'float64' }) })).to.throw('nllLoss: weight is float64 but input is float32');
    expect(() => F.nllLoss(x, [0, 1], { weight: tensor([1, 2, 3], { requiresGrad: true }) })).to.throw('nllLoss: weight requires grad, but nllLoss is not differentiable with respect to it (as in PyTorch); pass weight.detach()');
    expect(() => F.nllLoss(x, [0, 1], { ignoreIndex: 0.5 })).to.throw('nllLoss: ignoreIndex must be an integer, got 0.5');
    expect(() => F.nllLoss(x, [0, 1], { reduction: 'batchmean' as 'mean' })).to.throw("nllLoss: reduction must be 'mean', 'sum' or 'none', got \"batchmean\"");
    expect(() => F.nllLoss(x, [0, 1], { ignore_index: 1 } as never)).to.throw("nllLoss: unknown option 'ignore_index' (did you mean 'ignoreIndex'?)");
    expect(() => F.nllLoss([0.1, 0.2] as never, [0])).to.throw('nllLoss: input must be a Tensor');
  });
});
