import { expect } from 'chai';
import { tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { randomTensor, randomTransposed } from '../helpers';

const rng = new Random(77);
const TOL = { atol: 1e-7, rtol: 1e-6 };

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i], a = actual[i];
    expect(Math.abs(a - e), `${what}[${i}]: ${a} vs ${e}`).to.be.at.most(tol * Math.max(1, Math.abs(e)));
  }
}

const spatialOf = (shape: readonly number[]): number => shape.slice(2).reduce((a, b) => a * b, 1);

/**
 * torch's GroupNorm formula in float64: for each (n, g), the mean and biased variance of the
 * C/G·spatial elements x[n, c, *] with c in group g; y = (x − mean)/sqrt(var + eps)·w[c] + b[c].
 */
function groupNormRef(x: Tensor, G: number, w: Tensor | null, b: Tensor | null, eps: number): number[] {
  const d = Array.from(x.contiguous().data);
  const [N, C] = x.shape, S = spatialOf(x.shape), cg = C / G;
  const out = new Array<number>(d.length);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < G; g++) {
      const idx: number[] = [];
      for (let c = g * cg; c < (g + 1) * cg; c++) for (let s = 0; s < S; s++) idx.push((n * C + c) * S + s);
      const m = idx.reduce((a, i) => a + d[i], 0) / idx.length;
      const v = idx.reduce((a, i) => a + (d[i] - m) ** 2, 0) / idx.length;
      for (const i of idx) {
        const c = Math.floor(i / S) % C;
        out[i] = ((d[i] - m) / Math.sqrt(v + eps)) * (w ? w.data[c] : 1) + (b ? b.data[c] : 0);
      }
    }
  }
  return out;
}

/** Per-(n, c) mean and variance over the spatial elements, in float64 (correction 0 or 1). */
function instanceStats(x: Tensor, correction: number): { mean: number[][]; variance: number[][] } {
  const d = Array.from(x.contiguous().data);
  const [N, C] = x.shape, S = spatialOf(x.shape);
  const mean: number[][] = [], variance: number[][] = [];
  for (let n = 0; n < N; n++) {
    mean.push([]);
    variance.push([]);
    for (let c = 0; c < C; c++) {
      const row = d.slice((n * C + c) * S, (n * C + c + 1) * S);
      const m = row.reduce((a, v) => a + v, 0) / S;
      mean[n].push(m);
      variance[n].push(row.reduce((a, v) => a + (v - m) ** 2, 0) / (S - correction));
    }
  }
  return { mean, variance };
}

/** torch's InstanceNorm formula: y = (x − μ)/sqrt(σ² + eps)·w[c] + b[c], with μ, σ² per (n, c) or given per c. */
function instanceNormRef(
  x: Tensor, w: Tensor | null, b: Tensor | null, eps: number, running: { mean: number[]; variance: number[] } | null = null,
): number[] {
  const d = Array.from(x.contiguous().data);
  const [N, C] = x.shape, S = spatialOf(x.shape);
  const st = instanceStats(x, 0);
  const out = new Array<number>(d.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const m = running ? running.mean[c] : st.mean[n][c], v = running ? running.variance[c] : st.variance[n][c];
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        out[i] = ((d[i] - m) / Math.sqrt(v + eps)) * (w ? w.data[c] : 1) + (b ? b.data[c] : 0);
      }
    }
  }
  return out;
}

describe('F.groupNorm', () => {
  it("normalises each (sample, group) over C/G·spatial with the biased variance, then per-channel weight and bias (float64 reference)", () => {
    const x = randomTensor(rng, [2, 6, 3, 2], 'float64', (u) => 3 * u - 1);
    const w = randomTensor(rng, [6]), b = randomTensor(rng, [6]);
    close(F.groupNorm(x, 3, w, b).data, groupNormRef(x, 3, w, b, 1e-5), 1e-13, 'G=3 affine');
    close(F.groupNorm(x, 1).data, groupNormRef(x, 1, null, null, 1e-5), 1e-13, 'G=1');
    close(F.groupNorm(x, 6, null, b, 0.5).data, groupNormRef(x, 6, null, b, 0.5), 1e-13, 'G=C, bias only, eps 0.5');
    close(F.groupNorm(x, 2, w).data, groupNormRef(x, 2, w, null, 1e-5), 1e-13, 'G=2 weight only');
    const x3 = randomTensor(rng, [3, 4, 5]);
    const w4 = randomTensor(rng, [4]);
    close(F.groupNorm(x3, 2, w4).data, groupNormRef(x3, 2, w4, null, 1e-5), 1e-13, '[N, C, L] weight');
    close(F.groupNorm(x3, 2).data, groupNormRef(x3, 2, null, null, 1e-5), 1e-13, '[N, C, L]');
    const x2 = randomTensor(rng, [3, 4]);
    close(F.groupNorm(x2, 2).data, groupNormRef(x2, 2, null, null, 1e-5), 1e-13, '[N, C]');
    const t = randomTransposed(rng, [2, 4, 3]);
    expect(t.isContiguous()).to.equal(false);
    close(F.groupNorm(t, 2).data, groupNormRef(t, 2, null, null, 1e-5), 1e-13, 'non-contiguous');
    expect(F.groupNorm(x, 3).shape).to.deep.equal([2, 6, 3, 2]);
  });

  it('float32 with a large mean and unit spread stays within 1e-4 of float64 (two-pass variance)', () => {
    const x64 = randomTensor(rng, [2, 4, 8, 8], 'float64', (u) => 1000 + u);
    const x32 = x64.to('float32');
    const y = F.groupNorm(x32, 2);
    expect(y.dtype).to.equal('float32');
    close(y.data, groupNormRef(x32.to('float64'), 2, null, null, 1e-5), 1e-4, 'float32');
  });

  it('passes gradcheck in float64 for input, weight and bias', () => {
    const x = (shape: number[]): Tensor => randomTensor(rng, shape).requiresGrad_();
    const rep = assertGradcheck((a, w, b) => F.groupNorm(a, 2, w, b), [x([2, 4, 3]), x([4]), x([4])], TOL);
    expect(rep.inputs.length).to.equal(3);
    assertGradcheck((a) => F.groupNorm(a, 3, null, null, 0.1), [x([2, 6, 2, 2])], TOL);
    assertGradcheck((a, w) => F.groupNorm(a, 1, w), [x([3, 2]), x([2])], TOL);
  });

  it('an empty input gives an empty result', () => {
    expect(F.groupNorm(tensor([], { shape: [0, 4, 3] }), 2).shape).to.deep.equal([0, 4, 3]);
    expect(F.groupNorm(tensor([], { shape: [2, 4, 0] }), 2).shape).to.deep.equal([2, 4, 0]);
  });

  it('errors name the op and the shapes', () => {
    const x = randomTensor(rng, [2, 6, 3]);
    expect(() => F.groupNorm(x, 4)).to.throw('groupNorm: the number of channels must be divisible by numGroups, but got input of shape [2,6,3] and numGroups=4');
    expect(() => F.groupNorm(x, 0)).to.throw('groupNorm: numGroups must be a positive integer, got 0');
    expect(() => F.groupNorm(x, 1.5)).to.throw('groupNorm: numGroups must be a positive integer, got 1.5');
    expect(() => F.groupNorm(randomTensor(rng, [6]), 2)).to.throw('groupNorm: expected input of shape [N, C, *] (at least 2 dims), got [6]');
    expect(() => F.groupNorm(x, 2, randomTensor(rng, [3]))).to.throw('groupNorm: weight must have shape [6] (one value per channel of input [2,6,3]), got [3]');
    expect(() => F.groupNorm(x, 2, null, randomTensor(rng, [6, 1]))).to.throw('groupNorm: bias must have shape [6]');
    expect(() => F.groupNorm(x, 2, randomTensor(rng, [6], 'float32'))).to.throw('groupNorm: weight is float32 but input is float64');
    expect(() => F.groupNorm(x, 2, null, null, -1)).to.throw('groupNorm: eps must be a finite non-negative number, got -1');
    expect(() => F.groupNorm(randomTensor(rng, [1, 2]), 2)).to.throw('groupNorm: expected more than 1 value to normalise, got input of shape [1,2] with numGroups=2');
    expect(() => F.groupNorm([1, 2] as never, 1)).to.throw('groupNorm: input must be a Tensor');
  });
});

describe('F.instanceNorm', () => {
  it('normalises each (sample, channel) over its spatial elements with the biased variance (float64 reference)', () => {
    const x = randomTensor(rng, [2, 3, 4, 5], 'float64', (u) => 2 * u + 1);
    const w = randomTensor(rng, [3]), b = randomTensor(rng, [3]);
    close(F.instanceNorm(x).data, instanceNormRef(x, null, null, 1e-5), 1e-13, 'default');
    close(F.instanceNorm(x, null, null, w, b, { eps: 0.1 }).data, instanceNormRef(x, w, b, 0.1), 1e-13, 'affine, eps 0.1');
    const x3 = randomTensor(rng, [2, 3, 7]);
    close(F.instanceNorm(x3).data, instanceNormRef(x3, null, null, 1e-5), 1e-13, '[N, C, L]');
    const t = randomTransposed(rng, [2, 3, 4]);
    close(F.instanceNorm(t).data, instanceNormRef(t, null, null, 1e-5), 1e-13, 'non-contiguous');
  });

  it("updates given running statistics in place as torch: batch mean of each instance's mean and unbiased variance, momentum-weighted", () => {
    const x = randomTensor(rng, [3, 2, 3, 3], 'float64', (u) => u + 2);
    const rm = tensor([0.5, -0.25], { dtype: 'float64' }), rv = tensor([2, 0.5], { dtype: 'float64' });
    const rm0 = Array.from(rm.data), rv0 = Array.from(rv.data);
    const y = F.instanceNorm(x, rm, rv, null, null, { momentum: 0.3 });
    close(y.data, instanceNormRef(x, null, null, 1e-5), 1e-13, 'normalised with the instance statistics');
    const st = instanceStats(x, 1);
    const expectMean = [0, 1].map((c) => 0.7 * rm0[c] + (0.3 * (st.mean[0][c] + st.mean[1][c] + st.mean[2][c])) / 3);
    const expectVar = [0, 1].map((c) => 0.7 * rv0[c] + (0.3 * (st.variance[0][c] + st.variance[1][c] + st.variance[2][c])) / 3);
    close(rm.data, expectMean, 1e-14, 'running mean');
    close(rv.data, expectVar, 1e-14, 'running var (unbiased)');
  });

  it('useInputStats false normalises with the running statistics and leaves them unchanged', () => {
    const x = randomTensor(rng, [2, 3, 2, 2]);
    const rm = tensor([0.1, -0.2, 0.3], { dtype: 'float64' }), rv = tensor([1.5, 0.5, 2], { dtype: 'float64' });
    const w = randomTensor(rng, [3]), b = randomTensor(rng, [3]);
    const y = F.instanceNorm(x, rm, rv, w, b, { useInputStats: false, momentum: 0.5 });
    close(y.data, instanceNormRef(x, w, b, 1e-5, { mean: [0.1, -0.2, 0.3], variance: [1.5, 0.5, 2] }), 1e-13, 'eval');
    expect(Array.from(rm.data)).to.deep.equal([0.1, -0.2, 0.3]);
    expect(Array.from(rv.data)).to.deep.equal([1.5, 0.5, 2]);
    // One spatial element is fine here, as torch (only input statistics need more than one).
    expect(F.instanceNorm(randomTensor(rng, [2, 3, 1]), rm, rv, null, null, { useInputStats: false }).shape).to.deep.equal([2, 3, 1]);
  });

  it('float32 with a large mean and unit spread stays within 1e-4 of float64 (two-pass variance)', () => {
    const x32 = randomTensor(rng, [2, 3, 8, 8], 'float64', (u) => 1000 + u).to('float32');
    close(F.instanceNorm(x32).data, instanceNormRef(x32.to('float64'), null, null, 1e-5), 1e-4, 'float32');
  });

  it('passes gradcheck in float64 for input, weight and bias, with input or running statistics', () => {
    const x = (shape: number[]): Tensor => randomTensor(rng, shape).requiresGrad_();
    assertGradcheck((a, w, b) => F.instanceNorm(a, null, null, w, b), [x([2, 3, 4]), x([3]), x([3])], TOL);
    assertGradcheck((a) => F.instanceNorm(a, null, null, null, null, { eps: 0.01 }), [x([2, 2, 2, 3])], TOL);
    const rm = randomTensor(rng, [3]), rv = randomTensor(rng, [3], 'float64', (u) => 1 + u * u);
    assertGradcheck((a, w, b) => F.instanceNorm(a, rm, rv, w, b, { useInputStats: false }), [x([2, 3, 2]), x([3]), x([3])], TOL);
  });

  it('errors name the op and the shapes', () => {
    const x = randomTensor(rng, [2, 3, 4]);
    const v3 = randomTensor(rng, [3]);
    expect(() => F.instanceNorm(randomTensor(rng, [2, 3, 1]))).to.throw('instanceNorm: expected more than 1 spatial element when using input statistics (training), got input of shape [2,3,1]');
    expect(() => F.instanceNorm(randomTensor(rng, [2, 3]))).to.throw('instanceNorm: expected more than 1 spatial element');
    expect(() => F.instanceNorm(randomTensor(rng, [3]))).to.throw('instanceNorm: expected input of shape [N, C, *] (at least 2 dims), got [3]');
    expect(() => F.instanceNorm(x, null, null, null, null, { useInputStats: false })).to.throw('instanceNorm: useInputStats: false normalises with the running statistics, so runningMean and runningVar must be given');
    expect(() => F.instanceNorm(x, v3, null)).to.throw('instanceNorm: runningMean and runningVar must be given together');
    expect(() => F.instanceNorm(x, randomTensor(rng, [4]), v3)).to.throw('instanceNorm: runningMean must have shape [3] (one value per channel of input [2,3,4]), got [4]');
    expect(() => F.instanceNorm(x, null, null, randomTensor(rng, [2]))).to.throw('instanceNorm: weight must have shape [3]');
    expect(() => F.instanceNorm(x, null, null, null, randomTensor(rng, [3], 'float32'))).to.throw('instanceNorm: bias is float32 but input is float64');
    expect(() => F.instanceNorm(x, null, null, null, null, { momentum: 2 })).to.throw('instanceNorm: momentum must be in [0, 1], got 2');
    expect(() => F.instanceNorm(x, null, null, null, null, { eps: NaN })).to.throw('instanceNorm: eps must be a finite non-negative number, got NaN');
    expect(() => F.instanceNorm(x, null, null, null, null, { useInputStats: 1 as never })).to.throw('instanceNorm: useInputStats must be a boolean, got 1');
    expect(() => F.instanceNorm(x, null, null, null, null, { use_input_stats: false } as never)).to.throw("instanceNorm: unknown option 'use_input_stats' (did you mean 'useInputStats'?)");
  });
});
