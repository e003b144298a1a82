/**
 * crossEntropy and nllLoss in torch 1.13's other input forms: one sample's logits [C] with a 0-d
 * target, and K-dimensional input [N, C, d1, ..., dK] with class indices [N, d1, ..., dK] or class
 * probabilities of the logits' shape. The references are float64 loops written here from torch's
 * documented formulas over the [N, C, d1, ...] layout itself (element (n, c, s) at (n·C + c)·S + s),
 * so they share no code with the permute-and-flatten path under test; gradients by float64
 * gradcheck; error messages naming the op and the shapes.
 */
import { expect } from 'chai';
import { tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { randomTensor } from '../helpers';

const rng = new Random(2513);
type Reduction = 'mean' | 'sum' | 'none';
const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];
/** K = 1, 2, 3 (and K = 2 as torch's own nll_loss2d shape). */
const KDIM_SHAPES = [[2, 3, 4], [2, 3, 2, 3], [2, 3, 2, 1, 3]];

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  expect(actual.length, `${what} length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i], a = actual[i];
    if (Number.isNaN(e)) expect(Number.isNaN(a), `${what} element ${i}: ${a} vs NaN`).to.equal(true);
    else expect(Math.abs(a - e), `${what} element ${i}: ${a} vs ${e}`).to.be.at.most(tol * Math.max(1, Math.abs(e)));
  }
}

function leaf(shape: number[], dtype: 'float32' | 'float64' = 'float64'): Tensor {
  return randomTensor(rng, shape, dtype).requiresGrad_(true);
}

/** N, C and S = d1·…·dK of an input [C] (N = S = 1) or [N, C, d1, ..., dK]. */
function layout(shape: readonly number[]): { N: number; C: number; S: number } {
  if (shape.length === 1) return { N: 1, C: shape[0], S: 1 };
  return { N: shape[0], C: shape[1], S: shape.slice(2).reduce((a, b) => a * b, 1) };
}

/** The target's shape for an input: [] for [C], else [N, d1, ..., dK]. */
const targetShape = (shape: readonly number[]): number[] => (shape.length === 1 ? [] : [shape[0], ...shape.slice(2)]);

/** log_softmax over the class dim, in the input's own layout. */
function logSoftmaxRef(x: readonly number[], shape: readonly number[]): number[] {
  const { N, C, S } = layout(shape);
  const out = new Array<number>(x.length);
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < S; s++) {
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, x[(n * C + c) * S + s]);
      let z = 0;
      for (let c = 0; c < C; c++) z += Math.exp(x[(n * C + c) * S + s] - m);
      for (let c = 0; c < C; c++) out[(n * C + c) * S + s] = x[(n * C + c) * S + s] - m - Math.log(z);
    }
  }
  return out;
}

/**
 * torch's nll_loss (docs): l = −w[y]·x[n, y, s], 0 where y is the ignore index; with label smoothing ε
 * (cross_entropy's docs) l = (1 − ε)·(−w[y]·x[n, y, s]) + ε/C·Σ_c(−w[c]·x[n, c, s]); 'mean' divides Σ l
 * by Σ w[y] over the targets not ignored. x are log-probabilities; t in the target's row-major order.
 */
function nllRef(x: readonly number[], shape: readonly number[], t: readonly number[], w: number[] | null, ignoreIndex: number, eps: number, reduction: Reduction): number[] {
  const { N, C, S } = layout(shape);
  const per: number[] = [];
  let W = 0;
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < S; s++) {
      const y = t[n * S + s];
      if (y === ignoreIndex) { per.push(0); continue; }
      const nll = -(w ? w[y] : 1) * x[(n * C + y) * S + s];
      let smooth = 0;
      for (let c = 0; c < C; c++) smooth -= (w ? w[c] : 1) * x[(n * C + c) * S + s];
      per.push(eps === 0 ? nll : (1 - eps) * nll + (eps / C) * smooth);
      W += w ? w[y] : 1;
    }
  }
  if (reduction === 'none') return per;
  const total = per.reduce((a, b) => a + b, 0);
  return [reduction === 'sum' ? total : total / W];
}

/**
 * torch's cross_entropy with class probabilities (docs): l = −Σ_c w[c]·t'[n, c, s]·log_softmax(x)[n, c, s],
 * t' = t·(1 − ε) + ε/C; 'mean' divides Σ l by the number of positions N·S.
 */
function softRef(x: readonly number[], shape: readonly number[], t: readonly number[], w: number[] | null, eps: number, reduction: Reduction): number[] {
  const { N, C, S } = layout(shape);
  const lp = logSoftmaxRef(x, shape);
  const per: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < S; s++) {
      let l = 0;
      for (let c = 0; c < C; c++) {
        const k = (n * C + c) * S + s;
        l -= (w ? w[c] : 1) * (t[k] * (1 - eps) + eps / C) * lp[k];
      }
      per.push(l);
    }
  }
  if (reduction === 'none') return per;
  const total = per.reduce((a, b) => a + b, 0);
  return [reduction === 'sum' ? total : total / (N * S)];
}

/** Random class indices for `count` positions, about a quarter of them the ignore index (at least one kept). */
function randomTargets(count: number, C: number, ignoreIndex: number | null): number[] {
  const t = Array.from({ length: count }, () => rng.integer(0, C));
  if (ignoreIndex !== null) for (let i = 1; i < count; i += 4) t[i] = ignoreIndex;
  return t;
}

/** Random class probabilities of `shape` (each position's C values positive and summing to 1). */
function randomProbabilities(shape: readonly number[]): number[] {
  const { N, C, S } = layout(shape);
  const p = new Array<number>(N * C * S);
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < S; s++) {
      let z = 0;
      for (let c = 0; c < C; c++) z += (p[(n * C + c) * S + s] = rng.uniformRange(0.1, 1));
      for (let c = 0; c < C; c++) p[(n * C + c) * S + s] /= z;
    }
  }
  return p;
}

const f64 = (v: number[], shape?: number[]): Tensor => {
  const t = tensor(v, { dtype: 'float64' });
  return shape ? t.reshape(shape) : t;
};
const vals = (t: Tensor): number[] => Array.from(t.contiguous().data);

describe('autograd/functional: crossEntropy over K-dimensional logits [N, C, d1, ..., dK]', () => {
  it('class indices for K = 1, 2, 3 with weight, ignoreIndex and labelSmoothing, every reduction: values against the loop and gradcheck', () => {
    const w = [0.5, 2, 1.25];
    for (const shape of KDIM_SHAPES) {
      const x = leaf(shape);
      const lp = logSoftmaxRef(vals(x), shape);
      const tShape = targetShape(shape);
      for (const ignoreIndex of [-100, 1]) {
        const t = randomTargets(tShape.reduce((a, b) => a * b, 1), 3, ignoreIndex === 1 ? 1 : null);
        const target = f64(t, tShape);
        for (const weight of [null, w]) {
          for (const eps of [0, 0.15]) {
            for (const reduction of REDUCTIONS) {
              const opts = { weight: weight && f64(weight), ignoreIndex, labelSmoothing: eps, reduction };
              const what = `${JSON.stringify(shape)} w=${weight !== null} ignore=${ignoreIndex} eps=${eps} ${reduction}`;
              const out = F.crossEntropy(x, target, opts);
              expect(out.shape, what).to.deep.equal(reduction === 'none' ? tShape : []);
              close(out.data, nllRef(lp, shape, t, weight, ignoreIndex, eps, reduction), 1e-13, what);
              assertGradcheck((a) => F.crossEntropy(a, target, opts), [x]);
            }
          }
        }
      }
    }
  });

  it('class probabilities of the logits\' shape for K = 1, 2, 3 with weight and labelSmoothing: values, and gradcheck in logits and target', () => {
    const w = [1.5, 0.5, 2];
    for (const shape of KDIM_SHAPES) {
      const x = leaf(shape);
      const p = randomProbabilities(shape);
      const t = f64(p, shape).requiresGrad_(true);
      for (const weight of [null, w]) {
        for (const eps of [0, 0.2]) {
          for (const reduction of REDUCTIONS) {
            const opts = { weight: weight && f64(weight), labelSmoothing: eps, reduction };
            const what = `${JSON.stringify(shape)} w=${weight !== null} eps=${eps} ${reduction}`;
            const out = F.crossEntropy(x, t, opts);
            expect(out.shape, what).to.deep.equal(reduction === 'none' ? targetShape(shape) : []);
            close(out.data, softRef(vals(x), shape, p, weight, eps, reduction), 1e-13, what);
            assertGradcheck((a, b) => F.crossEntropy(a, b, opts), [x, t]);
          }
        }
      }
    }
  });

  it('mean with every target ignored is NaN and sum 0 (torch: 0/0), and with no positions mean NaN, none of the target\'s empty shape', () => {
    const x = leaf([2, 3, 2]);
    const ignored = f64([-100, -100, -100, -100], [2, 2]);
    expect(Number.isNaN(F.crossEntropy(x, ignored).item())).to.equal(true);
    expect(Number.isNaN(F.crossEntropy(x, ignored, { labelSmoothing: 0.1 }).item())).to.equal(true);
    expect(F.crossEntropy(x, ignored, { reduction: 'sum' }).item()).to.equal(0);
    const empty = Tensor.empty([2, 3, 0], 'float64');
    expect(Number.isNaN(F.crossEntropy(empty, Tensor.empty([2, 0], 'float64')).item())).to.equal(true);
    expect(F.crossEntropy(empty, Tensor.empty([2, 0], 'float64'), { reduction: 'none' }).shape).to.deep.equal([2, 0]);
    expect(Number.isNaN(F.crossEntropy(empty, Tensor.empty([2, 3, 0], 'float64')).item())).to.equal(true);
  });

  it('float32 K-dimensional logits match the float64 loop of the float32 values and stay float32', () => {
    const shape = [3, 4, 2, 2];
    const x = leaf(shape, 'float32');
    const t = randomTargets(12, 4, null);
    const w = [0.25, 1, 2, 4];
    const out = F.crossEntropy(x, tensor(t).reshape([3, 2, 2]), { weight: tensor(w), labelSmoothing: 0.1 });
    expect(out.dtype).to.equal('float32');
    close(out.data, nllRef(logSoftmaxRef(vals(x), shape), shape, t, w, -100, 0.1, 'mean'), 1e-6);
  });
});

describe('autograd/functional: crossEntropy of one sample\'s logits [C]', () => {
  it('a 0-d target (or a one-element array) gives a 0-d loss for every reduction: none and sum −w[y]·logp[y] (smoothed), mean that over w[y]', () => {
    const x = leaf([4]);
    const lp = logSoftmaxRef(vals(x), [4]);
    const w = [1, 2, 3, 0.5];
    for (const target of [tensor(2, { dtype: 'float64' }), [2]]) {
      for (const weight of [null, w]) {
        for (const eps of [0, 0.3]) {
          for (const reduction of REDUCTIONS) {
            const opts = { weight: weight && f64(weight), labelSmoothing: eps, reduction };
            const out = F.crossEntropy(x, target, opts);
            expect(out.shape).to.deep.equal([]);
            // torch's 1-d nll_loss divides by the target's weight only for 'mean'.
            close(out.data, nllRef(lp, [4], [2], weight, -100, eps, reduction), 1e-14, `w=${weight !== null} eps=${eps} ${reduction}`);
            assertGradcheck((a) => F.crossEntropy(a, target, opts), [x]);
          }
        }
      }
    }
    expect(Number.isNaN(F.crossEntropy(x, tensor(1), { ignoreIndex: 1 }).item())).to.equal(true);
    expect(F.crossEntropy(x, tensor(1), { ignoreIndex: 1, reduction: 'none' }).item()).to.equal(0);
  });

  it('class probabilities [C]: a 0-d loss for every reduction (mean over one position), gradcheck in logits and target', () => {
    const x = leaf([5]);
    const p = randomProbabilities([5]);
    const t = f64(p).requiresGrad_(true);
    const w = [1, 0.5, 2, 1.5, 3];
    for (const eps of [0, 0.1]) {
      for (const reduction of REDUCTIONS) {
        const opts = { weight: f64(w), labelSmoothing: eps, reduction };
        const out = F.crossEntropy(x, t, opts);
        expect(out.shape).to.deep.equal([]);
        close(out.data, softRef(vals(x), [5], p, w, eps, reduction), 1e-14, `eps=${eps} ${reduction}`);
        assertGradcheck((a, b) => F.crossEntropy(a, b, opts), [x, t]);
      }
    }
  });
});

describe('autograd/functional: nllLoss over K-dimensional input [N, C, d1, ..., dK]', () => {
  it('K = 1, 2, 3 with weight and ignoreIndex, every reduction: values against the loop (weighted mean over the kept targets) and gradcheck', () => {
    const w = [0.5, 2, 1.25];
    for (const shape of KDIM_SHAPES) {
      const x = leaf(shape);
      const tShape = targetShape(shape);
      for (const ignoreIndex of [-100, 0]) {
        const t = randomTargets(tShape.reduce((a, b) => a * b, 1), 3, ignoreIndex === 0 ? 0 : null);
        const target = f64(t, tShape);
        for (const weight of [null, w]) {
          for (const reduction of REDUCTIONS) {
            const opts = { weight: weight && f64(weight), ignoreIndex, reduction };
            const what = `${JSON.stringify(shape)} w=${weight !== null} ignore=${ignoreIndex} ${reduction}`;
            const out = F.nllLoss(x, target, opts);
            expect(out.shape, what).to.deep.equal(reduction === 'none' ? tShape : []);
            close(out.data, nllRef(vals(x), shape, t, weight, ignoreIndex, 0, reduction), 1e-14, what);
            assertGradcheck((a) => F.nllLoss(a, target, opts), [x]);
          }
        }
      }
    }
  });

  it('a non-contiguous input (a permuted view) reads its own elements; no positions: mean NaN, sum 0, none [N, 0]', () => {
    const base = leaf([2, 4, 3]);
    const x = F.permute(base, [0, 2, 1]); // [2, 3, 4]: class dim 1 of size 3
    const t = [2, 0, 1, 2, 1, 1, 0, 2];
    close(F.nllLoss(x, f64(t, [2, 4]), { reduction: 'none' }).data, nllRef(vals(x), [2, 3, 4], t, null, -100, 0, 'none'), 0);
    const empty = Tensor.empty([2, 3, 0, 2], 'float64');
    const tEmpty = Tensor.empty([2, 0, 2], 'float64');
    expect(Number.isNaN(F.nllLoss(empty, tEmpty).item())).to.equal(true);
    expect(F.nllLoss(empty, tEmpty, { reduction: 'sum' }).item()).to.equal(0);
    expect(F.nllLoss(empty, tEmpty, { reduction: 'none' }).shape).to.deep.equal([2, 0, 2]);
  });
});

describe('autograd/functional: an ignoreIndex outside the int32 range (torch\'s is int64)', () => {
  it('ignores the targets equal to it instead of wrapping them into a class (2^32 + 1 is not class 1)', () => {
    const shape = [2, 3, 2];
    const x = leaf(shape);
    const lp = logSoftmaxRef(vals(x), shape);
    const w = [0.5, 2, 1.25];
    for (const ignoreIndex of [2 ** 32 + 1, -(2 ** 32) + 2, 2 ** 31]) {
      const t = [0, ignoreIndex, 2, ignoreIndex];
      const target = f64(t, [2, 2]);
      for (const reduction of REDUCTIONS) {
        const what = `ignoreIndex ${ignoreIndex} ${reduction}`;
        const ce = F.crossEntropy(x, target, { weight: f64(w), ignoreIndex, labelSmoothing: 0.1, reduction });
        close(ce.data, nllRef(lp, shape, t, w, ignoreIndex, 0.1, reduction), 1e-13, `crossEntropy ${what}`);
        const nll = F.nllLoss(x, target, { weight: f64(w), ignoreIndex, reduction });
        close(nll.data, nllRef(vals(x), shape, t, w, ignoreIndex, 0, reduction), 1e-14, `nllLoss ${what}`);
      }
      expect(() => F.nllLoss(x, f64([0, 1, 2, 2 ** 32 + 1], [2, 2]), { ignoreIndex: -100 }))
        .to.throw(`nllLoss: target[1,1] = ${2 ** 32 + 1} is out of range for 3 classes (input [2,3,2])`);
    }
  });
});

describe('autograd/functional: crossEntropy and nllLoss shape errors name the op and the shapes', () => {
  it('wrong target shape or rank, a 0-d input, an array for a K-dimensional target, out-of-range positions, weight and dtype', () => {
    const x = Tensor.empty([2, 3, 4]);
    expect(() => F.crossEntropy(x, Tensor.empty([2, 5])))
      .to.throw('crossEntropy: expected class-index target of shape [2,4] or class probabilities of shape [2,3,4] (a Tensor) for logits [2,3,4], got [2,5]');
    expect(() => F.crossEntropy(x, Tensor.empty([2])))
      .to.throw('crossEntropy: expected class-index target of shape [2,4] or class probabilities of shape [2,3,4] (a Tensor) for logits [2,3,4], got [2]');
    expect(() => F.crossEntropy(x, Tensor.empty([3, 4])))
      .to.throw('crossEntropy: expected class-index target of shape [2,4] or class probabilities of shape [2,3,4] (a Tensor) for logits [2,3,4], got [3,4]');
    expect(() => F.crossEntropy(x, [0, 1, 2, 0, 1, 2, 0, 1]))
      .to.throw('crossEntropy: expected class-index target of shape [2,4] or class probabilities of shape [2,3,4] (a Tensor) for logits [2,3,4], got [8]');
    expect(() => F.crossEntropy(Tensor.empty([4]), tensor([1, 2])))
      .to.throw('crossEntropy: expected class-index target of shape [] or class probabilities of shape [4] (a Tensor) for logits [4], got [2]');
    expect(() => F.crossEntropy(Tensor.empty([4]), [1, 2]))
      .to.throw('crossEntropy: expected class-index target of shape [] (or a one-element array) or class probabilities of shape [4] (a Tensor) for logits [4], got [2]');
    expect(() => F.crossEntropy(tensor(1.5), [0])).to.throw('crossEntropy: expected logits of shape [C], [N, C] or [N, C, d1, ..., dK], got []');
    expect(() => F.crossEntropy(Tensor.empty([2, 0, 4]), Tensor.empty([2, 4]))).to.throw('crossEntropy: expected at least one class, got logits [2,0,4]');
    expect(() => F.crossEntropy(x, tensor([[0, 1, 2, 0], [1, 3, 0, 0]])))
      .to.throw('crossEntropy: target[1,1] = 3 is out of range for 3 classes (logits [2,3,4])');
    expect(() => F.crossEntropy(x, tensor([[0, 1, 2, 0], [1, 0.5, 0, 0]]))).to.throw('crossEntropy: target[1,1] = 0.5 is not an integer class index');
    expect(() => F.crossEntropy(x, Tensor.empty([2, 4]).fill_(0), { weight: tensor([1, 2]) })).to.throw('crossEntropy: weight must have shape [3], got [2]');
    expect(() => F.crossEntropy(x, Tensor.empty([2, 3, 4], 'float64'))).to.throw('crossEntropy: dtype mismatch: logits are float32 but the class-probability target is float64');
    expect(() => F.crossEntropy(x, Tensor.empty([2, 3, 4]), { ignoreIndex: 0 }))
      .to.throw('crossEntropy: ignoreIndex is not supported for class-probability targets (target [2,3,4] has the logits\' shape), got 0');
    expect(() => F.crossEntropy(x, Tensor.empty([2, 4]).fill_(0), { ignoreIndex: 0.5 })).to.throw('crossEntropy: ignoreIndex must be an integer, got 0.5');

    expect(() => F.nllLoss(x, Tensor.empty([2, 5]))).to.throw('nllLoss: expected a class-index target of shape [2,4] for input [2,3,4], got [2,5]');
    expect(() => F.nllLoss(x, [0, 1])).to.throw('nllLoss: expected a class-index target of shape [2,4] for input [2,3,4], got [2]');
    expect(() => F.nllLoss(Tensor.empty([2, 3, 4, 5]), Tensor.empty([2, 4]))).to.throw('nllLoss: expected a class-index target of shape [2,4,5] for input [2,3,4,5], got [2,4]');
    expect(() => F.nllLoss(tensor(0.5), [0])).to.throw('nllLoss: expected input of shape [C], [N, C] or [N, C, d1, ..., dK], got []');
    expect(() => F.nllLoss(x, tensor([[0, 1, 2, 0], [1, 0, -1, 0]]))).to.throw('nllLoss: target[1,2] = -1 is out of range for 3 classes (input [2,3,4])');
    expect(() => F.nllLoss(x, Tensor.empty([2, 4]).fill_(0), { weight: tensor([1, 2, 3, 4]) })).to.throw('nllLoss: weight must have shape [3], got [4]');
  });
});
