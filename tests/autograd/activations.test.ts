import { expect } from 'chai';
import { tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { erfReference } from '../support/erf_reference';
import { randomTensor, randomTransposed } from '../helpers';

const rng = new Random(2024);
const TOL = { atol: 1e-7, rtol: 1e-6 };

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i], a = actual[i];
    if (Number.isNaN(e)) expect(Number.isNaN(a), `${what}[${i}]: ${a} vs NaN`).to.equal(true);
    else if (a !== e) expect(Math.abs(a - e), `${what}[${i}]: ${a} vs ${e}`).to.be.at.most(tol * Math.max(1, Math.abs(e)));
  }
}

/** d f / d x at each element of `xs`, from the tape (sum of f(x) backward). */
function gradAt(f: (x: Tensor) => Tensor, xs: number[]): number[] {
  const x = tensor(xs, { dtype: 'float64', requiresGrad: true });
  f(x).sum().backward();
  return Array.from(x.grad!.data);
}

// The formulas of torch's docs (torch.nn.functional), evaluated per element in float64.
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;
const softplusRef = (v: number, beta = 1, threshold = 20): number => (v * beta > threshold ? v : Math.log1p(Math.exp(v * beta)) / beta);
const sigmoidRef = (v: number): number => 1 / (1 + Math.exp(-v));
const refs: Array<[string, (x: Tensor) => Tensor, (v: number) => number]> = [
  ['leakyRelu', (x) => F.leakyRelu(x), (v) => (v > 0 ? v : 0.01 * v)],
  ['leakyRelu(0.2)', (x) => F.leakyRelu(x, 0.2), (v) => (v > 0 ? v : 0.2 * v)],
  ['elu', (x) => F.elu(x), (v) => (v > 0 ? v : Math.expm1(v))],
  ['elu(0.5)', (x) => F.elu(x, 0.5), (v) => (v > 0 ? v : 0.5 * Math.expm1(v))],
  ['selu', F.selu, (v) => SELU_SCALE * (Math.max(0, v) + Math.min(0, SELU_ALPHA * Math.expm1(v)))],
  ['silu', F.silu, (v) => v * sigmoidRef(v)],
  ['gelu', (x) => F.gelu(x), (v) => 0.5 * v * (1 + erfReference(v / Math.SQRT2))],
  ['gelu tanh', (x) => F.gelu(x, { approximate: 'tanh' }), (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))],
  ['softplus', (x) => F.softplus(x), (v) => softplusRef(v)],
  ['softplus(2, 3)', (x) => F.softplus(x, 2, 3), (v) => softplusRef(v, 2, 3)],
  ['hardtanh', (x) => F.hardtanh(x), (v) => Math.min(1, Math.max(-1, v))],
  ['hardtanh(-0.5, 2)', (x) => F.hardtanh(x, -0.5, 2), (v) => Math.min(2, Math.max(-0.5, v))],
  ['relu6', F.relu6, (v) => Math.min(6, Math.max(0, v))],
  ['logSigmoid', F.logSigmoid, (v) => -softplusRef(-v, 1, Infinity)],
  ['mish', F.mish, (v) => v * Math.tanh(Math.log1p(Math.exp(v)))],
];

describe('activations (F): values against the formulas of torch\'s docs', () => {
  for (const [name, f, ref] of refs) {
    it(`${name}: float64 within 1e-14, float32 within float32 rounding, non-contiguous input`, () => {
      const x = randomTensor(rng, [5, 7], 'float64', (u) => 3 * u);
      x.storage.set([0, -0, 1, -1, 6, 2, 3, -2.5], 0);
      close(f(x).data, Array.from(x.data, ref), 1e-14, name);
      const x32 = x.to('float32');
      close(f(x32).data, Array.from(x32.data, (v) => Math.fround(ref(v))), 1e-6, `${name} float32`);
      const t = randomTransposed(rng, [3, 4]);
      close(f(t).data, Array.from(t.contiguous().data, ref), 1e-14, `${name} transposed`);
    });
  }

  it('stay finite far out: no overflow in exp, and a NaN input gives NaN', () => {
    const xs = [-1000, -50, 50, 1000];
    close(F.elu(tensor(xs, { dtype: 'float64' })).data, [-1, Math.expm1(-50), 50, 1000], 1e-15, 'elu');
    close(F.softplus(tensor(xs, { dtype: 'float64' })).data, [0, Math.log1p(Math.exp(-50)), 50, 1000], 1e-15, 'softplus');
    close(F.logSigmoid(tensor(xs, { dtype: 'float64' })).data, [-1000, -50 - Math.log1p(Math.exp(-50)), -Math.log1p(Math.exp(-50)), 0], 1e-15, 'logSigmoid');
    close(F.mish(tensor(xs, { dtype: 'float64' })).data, [-0, -50 * Math.tanh(Math.log1p(Math.exp(-50))), 50, 1000], 1e-15, 'mish');
    // The small values keep their relative accuracy (log1p and expm1, not log(1 + ·) and exp(·) − 1).
    expect(F.softplus(tensor([-50], { dtype: 'float64' })).item() / Math.exp(-50)).to.be.closeTo(1, 1e-15);
    expect(F.elu(tensor([-1e-10], { dtype: 'float64' })).item()).to.equal(Math.expm1(-1e-10));
    expect(Math.expm1(-1e-10)).to.not.equal(Math.exp(-1e-10) - 1);
    for (const [name, f] of refs) {
      expect(Number.isNaN(f(tensor([NaN], { dtype: 'float64' })).item()), name).to.equal(true);
    }
  });
});

describe('activations (F): gradients', () => {
  for (const [name, f] of refs) {
    it(`${name} passes gradcheck in float64 (away from its kinks)`, () => {
      // Values at least 0.05 from 0, ±0.5, ±1, 2, 3 and 6, the kinks of the ops above.
      const kinks = [0, -0.5, 0.5, -1, 1, 1.5, 2, 3, 6];
      const x = randomTensor(rng, [3, 5], 'float64', (u) => {
        let v = 3 * u;
        while (kinks.some((k) => Math.abs(v - k) < 0.05)) v += 0.11;
        return v;
      }).requiresGrad_();
      assertGradcheck(f, [x], TOL);
    });
  }

  it("match torch's choice at the kinks: leakyRelu/elu/selu use x > 0, hardtanh/relu6 pass strictly inside, logSigmoid 0.5 at 0", () => {
    expect(gradAt((x) => F.leakyRelu(x, 0.2), [0, -0, 1e-300, -1])).to.deep.equal([0.2, 0.2, 1, 0.2]);
    expect(gradAt((x) => F.elu(x, 0.5), [0, 1e-300])).to.deep.equal([0.5, 1]);
    const [s0, s1] = gradAt(F.selu, [0, 1]);
    expect(s0).to.be.closeTo(SELU_ALPHA * SELU_SCALE, 1e-15);
    expect(s1).to.equal(SELU_SCALE);
    expect(gradAt((x) => F.hardtanh(x), [-1, 1, -1.5, 1.5, -0.999, 0.999])).to.deep.equal([0, 0, 0, 0, 1, 1]);
    expect(gradAt((x) => F.hardtanh(x, -0.5, 2), [-0.5, 2, 0])).to.deep.equal([0, 0, 1]);
    expect(gradAt(F.relu6, [0, 6, 3, -1, 7])).to.deep.equal([0, 0, 1, 0, 0]);
    expect(gradAt(F.logSigmoid, [0])).to.deep.equal([0.5]);
  });

  it("hardtanh/relu6 at a NaN input: NaN out and the gradient passed through, as torch's hardtanh_backward ((x <= min || x >= max) ? 0 : grad)", () => {
    expect(gradAt((x) => F.hardtanh(x), [NaN, 0.5, 1, 2])).to.deep.equal([1, 1, 0, 0]);
    expect(gradAt(F.relu6, [NaN, 6, 3])).to.deep.equal([1, 0, 1]);
    expect(Number.isNaN(F.hardtanh(tensor([NaN], { dtype: 'float64' })).item())).to.equal(true);
  });

  it("softplus: gradient sigmoid(beta·x) up to the threshold (inclusive, as torch's x·beta > threshold), 1 above it", () => {
    const [atT, above] = gradAt((x) => F.softplus(x, 2, 3), [1.5, 1.5 + 1e-12]);
    expect(atT).to.be.closeTo(sigmoidRef(3), 1e-15);
    expect(above).to.equal(1);
  });

  it('gradients stay finite far out (no 0·∞ from an unselected branch)', () => {
    const xs = [-1000, 1000, 800];
    expect(gradAt((x) => F.elu(x), xs)).to.deep.equal([0, 1, 1]);
    expect(gradAt(F.selu, xs)).to.deep.equal([0, SELU_SCALE, SELU_SCALE]);
    expect(gradAt((x) => F.softplus(x), xs)).to.deep.equal([0, 1, 1]);
    expect(gradAt(F.mish, xs)).to.deep.equal([0, 1, 1]);
    expect(gradAt(F.logSigmoid, xs)).to.deep.equal([1, 0, 0]);
    expect(gradAt((x) => F.gelu(x), xs)).to.deep.equal([0, 1, 1]);
  });

  it('erf, expm1, log1p: Tensor methods match F; gradients are 2/√π·exp(−x²), exp(x), 1/(1 + x)', () => {
    const xs = [-2, -0.3, 0, 0.7, 1.9];
    const x = tensor(xs, { dtype: 'float64' });
    close(x.erf().data, xs.map(erfReference), 1e-15, 'erf');
    expect(Array.from(x.expm1().data)).to.deep.equal(xs.map(Math.expm1));
    expect(Array.from(x.log1p().data)).to.deep.equal(xs.map(Math.log1p));
    close(gradAt(F.erf, xs), xs.map((v) => (2 / Math.sqrt(Math.PI)) * Math.exp(-v * v)), 1e-15, 'erf grad');
    close(gradAt(F.expm1, xs), xs.map(Math.exp), 1e-15, 'expm1 grad');
    close(gradAt(F.log1p, xs), xs.map((v) => 1 / (1 + v)), 1e-15, 'log1p grad');
  });

  it('softmax and logSoftmax are Tensor methods too', () => {
    const x = randomTensor(rng, [3, 4]);
    expect(Array.from(x.softmax(1).data)).to.deep.equal(Array.from(F.softmax(x, 1).data));
    expect(Array.from(x.logSoftmax(-1).data)).to.deep.equal(Array.from(F.logSoftmax(x, -1).data));
  });
});

describe('activations (F): errors name the op', () => {
  const x = tensor([1, 2]);
  it('rejects non-number and non-finite options', () => {
    expect(() => F.leakyRelu(x, '0.1' as never)).to.throw('leakyRelu: negativeSlope must be a finite number, got "0.1"');
    expect(() => F.leakyRelu(x, NaN)).to.throw('leakyRelu: negativeSlope must be a finite number, got NaN');
    expect(() => F.elu(x, { alpha: 1 } as never)).to.throw('elu: alpha must be a finite number, got an object');
    expect(() => F.softplus(x, 0)).to.throw('softplus: beta must be non-zero');
    expect(() => F.softplus(x, 1, Infinity)).to.throw('softplus: threshold must be a finite number, got Infinity');
    expect(() => F.hardtanh(x, 1, -1)).to.throw('hardtanh: minVal must not exceed maxVal, got minVal=1, maxVal=-1');
    expect(() => F.hardtanh(x, null as never)).to.throw('hardtanh: minVal must be a finite number, got null');
  });

  it("gelu's approximate is 'none' or 'tanh', in an options object", () => {
    expect(() => F.gelu(x, { approximate: 'exact' as never })).to.throw("gelu: approximate must be 'none' or 'tanh', got \"exact\"");
    expect(() => F.gelu(x, 'tanh' as never)).to.throw('gelu: options must be an object, as gelu(x, { approximate: "tanh" })');
    expect(() => F.gelu(x, { approximation: 'tanh' } as never)).to.throw("gelu: unknown option 'approximation'");
    expect(() => F.gelu(x, { aproximate: 'tanh' } as never)).to.throw("gelu: unknown option 'aproximate' (did you mean 'approximate'?)");
  });

  it('rejects a non-tensor input', () => {
    for (const [name, f] of refs) expect(() => f([1, 2] as never), name).to.throw(/must be a Tensor/);
    expect(() => F.erf(3 as never)).to.throw('erf: input must be a Tensor, got number');
  });
});

/** Reference layer norm: per row of the trailing `k` dims, two-pass mean and biased variance in float64. */
function layerNormRef(x: Tensor, k: number, weight: Tensor | null, bias: Tensor | null, eps: number): number[] {
  const data = Array.from(x.contiguous().data);
  const inner = x.shape.slice(x.ndim - k).reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let r = 0; r < data.length / inner; r++) {
    const row = data.slice(r * inner, (r + 1) * inner);
    const m = row.reduce((a, b) => a + b, 0) / inner;
    const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / inner;
    row.forEach((val, j) => out.push(((val - m) / Math.sqrt(v + eps)) * (weight ? weight.data[j] : 1) + (bias ? bias.data[j] : 0)));
  }
  return out;
}

describe('F.layerNorm', () => {
  it('normalises over the trailing dims with the biased variance, then weight and bias (float64 reference loop)', () => {
    const x = randomTensor(rng, [2, 3, 4], 'float64', (u) => 2 * u + 0.5);
    const w = randomTensor(rng, [3, 4]), b = randomTensor(rng, [3, 4]);
    close(F.layerNorm(x, [3, 4], w, b).data, layerNormRef(x, 2, w, b, 1e-5), 1e-14, '[3,4] affine');
    close(F.layerNorm(x, 4, null, null, 0.1).data, layerNormRef(x, 1, null, null, 0.1), 1e-14, '4, eps 0.1');
    const w4 = randomTensor(rng, [4]);
    close(F.layerNorm(x, [4], w4).data, layerNormRef(x, 1, w4, null, 1e-5), 1e-14, '[4] weight only');
    const t = randomTransposed(rng, [3, 5]);
    close(F.layerNorm(t, [5]).data, layerNormRef(t, 1, null, null, 1e-5), 1e-14, 'non-contiguous');
  });

  it('a constant row gives bias (0/sqrt(eps)), with finite gradients', () => {
    const x = tensor([[2, 2, 2], [1, 2, 3]], { dtype: 'float64', requiresGrad: true });
    const b = tensor([0.5, -1, 3], { dtype: 'float64' });
    const y = F.layerNorm(x, [3], null, b);
    expect(Array.from(y.data.slice(0, 3))).to.deep.equal([0.5, -1, 3]);
    y.mul(tensor([[1, 2, 3], [1, 1, 1]], { dtype: 'float64' })).sum().backward();
    for (const g of x.grad!.data) expect(Number.isFinite(g)).to.equal(true);
  });

  it('float32 with a large mean and unit spread stays within 1e-4 of float64 (two-pass variance)', () => {
    const x64 = randomTensor(rng, [4, 64], 'float64', (u) => 1000 + u);
    const x32 = x64.to('float32');
    const exact = layerNormRef(x32.to('float64'), 1, null, null, 1e-5);
    close(F.layerNorm(x32, [64]).data, exact, 1e-4, 'float32');
    // What the test guards against: the one-pass E[x²] − E[x]² in float32 misses the variance by far more.
    const row = Array.from(x32.data.slice(0, 64));
    let s = 0, s2 = 0;
    for (const v of row) { s = Math.fround(s + v); s2 = Math.fround(s2 + Math.fround(v * v)); }
    const onePass = Math.fround(Math.fround(s2 / 64) - Math.fround((s / 64) ** 2));
    const m = row.reduce((a, v) => a + v, 0) / 64;
    const twoPass = row.reduce((a, v) => a + (v - m) ** 2, 0) / 64;
    expect(Math.abs(onePass - twoPass) / twoPass).to.be.above(1e-2);
  });

  it('passes gradcheck in float64 for input, weight and bias', () => {
    const x = (shape: number[]) => randomTensor(rng, shape).requiresGrad_();
    assertGradcheck((a, w, b) => F.layerNorm(a, [3, 4], w, b), [x([2, 3, 4]), x([3, 4]), x([3, 4])], TOL);
    assertGradcheck((a) => F.layerNorm(a, 5), [x([3, 5])], TOL);
    assertGradcheck((a, w) => F.layerNorm(a, [4], w, null, 0.5), [x([4]), x([4])], TOL);
  });

  it('an empty normalized dim gives an empty result', () => {
    const y = F.layerNorm(tensor([], { shape: [2, 0] }), [0]);
    expect(y.shape).to.deep.equal([2, 0]);
  });

  it('errors name the op and the shapes', () => {
    const x = randomTensor(rng, [2, 4]);
    expect(() => F.layerNorm(x, [3])).to.throw('layerNorm: given normalizedShape [3], expected input with shape [*, 3], but got input of shape [2,4]');
    expect(() => F.layerNorm(x, [2, 4, 1])).to.throw('layerNorm: given normalizedShape [2,4,1], expected input with shape [*, 2, 4, 1]');
    expect(() => F.layerNorm(x, [])).to.throw('layerNorm: normalizedShape must have at least one dim, got []');
    expect(() => F.layerNorm(x, [4.5])).to.throw('layerNorm: normalizedShape must be a non-negative integer or an array of them, got [4.5]');
    expect(() => F.layerNorm(x, '4' as never)).to.throw('layerNorm: normalizedShape must be a non-negative integer or an array of them, got "4"');
    expect(() => F.layerNorm(x, [4], randomTensor(rng, [2, 4]))).to.throw('layerNorm: weight must have normalizedShape [4], got [2,4]');
    expect(() => F.layerNorm(x, [4], null, randomTensor(rng, [4], 'float32'))).to.throw('layerNorm: bias is float32 but input is float64');
    expect(() => F.layerNorm(x, [4], [1, 1, 1, 1] as never)).to.throw('layerNorm: weight must be a Tensor');
    expect(() => F.layerNorm(x, [4], null, null, -1)).to.throw('layerNorm: eps must be a finite non-negative number, got -1');
    expect(() => F.layerNorm(x, [4], null, null, '1e-5' as never)).to.throw('layerNorm: eps must be a finite non-negative number, got "1e-5"');
  });
});
