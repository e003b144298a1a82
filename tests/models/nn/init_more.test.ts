/**
 * The rest of torch.nn.init 1.13 (models/nn/init.ts): eye_, dirac_, truncNormal_, orthogonal_,
 * sparse_. eye_ and dirac_ against index loops written from torch's definitions; truncNormal_ by its
 * samples' range, mean, variance and empirical CDF against the truncated normal's closed forms (Φ and φ
 * from the 400-bit erf of tests/support, not lib's); orthogonal_ by QᵀQ = I (or QQᵀ) in float64, the
 * gain, and R = QᵀA upper triangular with a positive diagonal for the matrix A it drew (torch's sign
 * correction); sparse_ by its zero count per column and its values against torch's draw order. Then
 * the error paths, and that every one leaves a requiresGrad leaf usable and bumps its version once.
 */
import { expect } from 'chai';
import { zeros } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import type { Tensor } from '../../../autograd/tensor';
import { Random } from '../../../lib/random';
import { init } from '../../../models/nn/index';
import { unravel } from '../../helpers';
import { erfReference } from '../../support/erf_reference';

const f64 = { dtype: 'float64' as const };

describe('models/nn/init: eye_ and dirac_', () => {
  it('eye_ writes ones on the main diagonal of any 2-D rectangle and zeros elsewhere', () => {
    for (const shape of [[3, 5], [5, 3], [4, 4], [1, 1], [0, 3]]) {
      const t = init.eye_(zeros(shape).add(7)); // overwrites what was there
      const expected: number[] = [];
      for (let i = 0; i < shape[0]; i++) for (let j = 0; j < shape[1]; j++) expected.push(i === j ? 1 : 0);
      expect(Array.from(t.data), `[${shape}]`).to.deep.equal(expected);
    }
  });

  it('dirac_ puts a 1 at [g·out/groups + d, d, centre] for d < min(out/groups, in), 3-, 4- and 5-D', () => {
    const cases: [number[], number][] = [
      [[4, 3, 3], 1], [[3, 5, 4], 1], // 3-D; more inputs than outputs; an even kernel (centre ⌊4/2⌋ = 2)
      [[6, 4, 3, 3], 2], [[4, 4, 2, 5], 1], [[6, 1, 3, 3], 3], [[2, 5, 1, 1], 1], // 4-D, grouped too
      [[4, 2, 3, 4, 5], 2], [[3, 3, 2, 2, 2], 1], // 5-D
    ];
    for (const [shape, groups] of cases) {
      const t = init.dirac_(zeros(shape, f64).add(-3), groups);
      const outPerGroup = shape[0] / groups;
      const minDim = Math.min(outPerGroup, shape[1]);
      let ones = 0;
      for (let k = 0; k < t.numel(); k++) {
        const [o, i, ...pos] = unravel(k, shape);
        const d = o % outPerGroup;
        const atCentre = pos.every((p, j) => p === Math.floor(shape[j + 2] / 2));
        const want = d < minDim && i === d && atCentre ? 1 : 0;
        ones += want;
        expect(t.data[k], `[${shape}] groups ${groups} at [${unravel(k, shape)}]`).to.equal(want);
      }
      expect(ones, `[${shape}] groups ${groups}`).to.equal(groups * minDim);
    }
  });

  it('dirac_ makes a stride-1 "same" conv2d the identity on the channels it keeps', () => {
    const x = init.normal_(zeros([2, 3, 5, 5], f64), 0, 1, new Random(3));
    const w = init.dirac_(zeros([3, 3, 3, 3], f64));
    const y = F.conv2d(x, w, null, { padding: 1 });
    expect(Array.from(y.data)).to.deep.equal(Array.from(x.data));
  });
});

/** φ(x) and Φ(x) from the 400-bit reference erf. */
const phi = (x: number): number => (Number.isFinite(x) ? Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI) : 0);
const Phi = (x: number): number => (x === Infinity ? 1 : x === -Infinity ? 0 : (1 + erfReference(x / Math.SQRT2)) / 2);

/**
 * Raw moments E[Z^k], k = 0..4, of the standard normal truncated to [α, β] by the recursion
 * m_k = (k − 1)·m_(k−2) − (β^(k−1)φ(β) − α^(k−1)φ(α)) / (Φ(β) − Φ(α)) (integration by parts of z^(k−1)·zφ(z);
 * an infinite end contributes 0).
 */
function truncatedMoments(alpha: number, beta: number): number[] {
  const z = Phi(beta) - Phi(alpha);
  const edge = (x: number, p: number): number => (Number.isFinite(x) ? x ** p * phi(x) : 0);
  const m = [1, (phi(alpha) - phi(beta)) / z];
  for (let k = 2; k <= 4; k++) m.push((k - 1) * m[k - 2] - (edge(beta, k - 1) - edge(alpha, k - 1)) / z);
  return m;
}

describe('models/nn/init: truncNormal_', () => {
  // Tolerances: with N i.i.d. draws, the sample mean has standard error √(σ²/N) and the sample
  // variance (here about the true mean) √((μ₄ − σ⁴)/N), μ₄ the central fourth moment, both from the
  // moments above. 5 standard errors: a fresh seed would fail with probability < 6e−7 per check (the
  // CLT is close at N = 40,000 for a bounded variable); the seeds are fixed, so the test is
  // deterministic. The Kolmogorov-Smirnov distance sup|F_N − F| is held to 1.95/√N, its 0.1% level.
  const N = 40_000;
  const cases: [number, number, number, number, 'float32' | 'float64'][] = [
    [0, 1, -2, 2, 'float64'], // torch's defaults
    [1, 2, -1, 6, 'float64'], // asymmetric window
    [0.5, 0.1, 0.45, 0.8, 'float32'], // narrow, in float32
    [0, 1, 0, Infinity, 'float64'], // half-normal
    [-3, 1.5, -Infinity, -2, 'float64'],
  ];
  for (const [mean, std, a, b, dtype] of cases) {
    it(`N(${mean}, ${std}²) on [${a}, ${b}] (${dtype}): all in [a, b], mean, variance and CDF of the truncated normal`, () => {
      const t = init.truncNormal_(zeros([N], { dtype }), mean, std, a, b, new Random(101));
      const x = Array.from(t.data);
      expect(x.every((v) => v >= a && v <= b)).to.equal(true);
      const alpha = (a - mean) / std, beta = (b - mean) / std;
      const [, m1, m2, m3, m4] = truncatedMoments(alpha, beta);
      const mu = mean + std * m1;
      const varZ = m2 - m1 * m1;
      const mu4Z = m4 - 4 * m1 * m3 + 6 * m1 * m1 * m2 - 3 * m1 ** 4;
      const variance = std * std * varZ;
      const sampleMean = x.reduce((s, v) => s + v, 0) / N;
      const sampleVar = x.reduce((s, v) => s + (v - mu) ** 2, 0) / N;
      expect(sampleMean).to.be.closeTo(mu, 5 * Math.sqrt(variance / N));
      expect(sampleVar).to.be.closeTo(variance, 5 * std * std * Math.sqrt((mu4Z - varZ * varZ) / N));
      // |F_N − F| at the 1/200 quantiles of the sample (a lower bound on the KS distance, so the
      // same threshold holds), F by the reference erf.
      const sorted = Float64Array.from(x).sort();
      const z = Phi(beta) - Phi(alpha);
      let ks = 0;
      for (let q = 1; q < 200; q++) {
        const i = Math.floor((q * N) / 200);
        const cdf = (Phi((sorted[i] - mean) / std) - Phi(alpha)) / z;
        ks = Math.max(ks, Math.abs(cdf - i / N), Math.abs(cdf - (i + 1) / N));
      }
      expect(ks).to.be.below(1.95 / Math.sqrt(N));
    });
  }

  it('draws u ~ U(2Φ(α) − 1, 2Φ(β) − 1) in order and maps it by mean + std·√2·erfinv(u), as torch 1.13', () => {
    // The inverse-CDF map written out with the quantile identity √2·erfinv(2p − 1) = Φ⁻¹(p): Φ of the
    // result, by the reference erf, must give back the uniform draw's p to 1e-13.
    const t = init.truncNormal_(zeros([200], f64), 0.3, 0.7, -1, 1.5, new Random(5));
    const rng = new Random(5);
    const pa = Phi((-1 - 0.3) / 0.7), pb = Phi((1.5 - 0.3) / 0.7);
    for (let i = 0; i < 200; i++) {
      const u = rng.uniformRange(2 * pa - 1, 2 * pb - 1);
      expect(Phi((t.data[i] - 0.3) / 0.7)).to.be.closeTo((u + 1) / 2, 1e-13);
    }
    // a = b fills a (torch: uniform_ over an empty range, then the clamp).
    expect(Array.from(init.truncNormal_(zeros([3], f64), 0, 1, 0.25, 0.25).data)).to.deep.equal([0.25, 0.25, 0.25]);
  });
});

/** max |G − I| for G = M·Mᵀ (rowsOrthonormal) or Mᵀ·M of a row-major [r, c] matrix, scaled by 1/gain². */
function gramError(d: ArrayLike<number>, r: number, c: number, rowsOrthonormal: boolean, gain = 1): number {
  const n = rowsOrthonormal ? r : c;
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      if (rowsOrthonormal) for (let k = 0; k < c; k++) s += d[i * c + k] * d[j * c + k];
      else for (let k = 0; k < r; k++) s += d[k * c + i] * d[k * c + j];
      worst = Math.max(worst, Math.abs(s / (gain * gain) - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

describe('models/nn/init: orthogonal_', () => {
  const shapes = [[6, 4], [4, 4], [3, 8], [5, 2, 3, 3], [20, 3, 2], [1, 5], [5, 1]];

  it('gives orthonormal columns (rows ≥ cols) or rows (rows < cols) of the flattened [rows, numel/rows] to 1e-12', () => {
    for (const shape of shapes) {
      const t = init.orthogonal_(zeros(shape, f64), 1, new Random(11));
      const rows = shape[0], cols = t.numel() / rows;
      expect(gramError(t.data, rows, cols, rows < cols), `[${shape}]`).to.be.below(1e-12);
    }
    // float32: the same up to float32 rounding of each entry.
    const t32 = init.orthogonal_(zeros([16, 12]), 1, new Random(12));
    expect(gramError(t32.data, 16, 12, false)).to.be.below(1e-6);
  });

  it('is the Q of the QR of the N(0, 1) matrix it drew, with R = QᵀA upper triangular and diag(R) > 0', () => {
    for (const shape of shapes) {
      const t = init.orthogonal_(zeros(shape, f64), 1, new Random(21));
      const rows = shape[0], cols = t.numel() / rows;
      const rng = new Random(21); // torch's draw: flattened.normal_(0, 1), row-major [rows, cols]
      const a = Array.from({ length: rows * cols }, () => rng.normal());
      // Tall case A = Q·R (Q = t); wide case Aᵀ = Q·R (Q = tᵀ): R = Qᵀ·A or Qᵀ·Aᵀ, n × n.
      const wide = rows < cols;
      const [m, n] = wide ? [cols, rows] : [rows, cols];
      const qAt = (i: number, k: number): number => (wide ? t.data[k * cols + i] : t.data[i * cols + k]);
      const aAt = (i: number, j: number): number => (wide ? a[j * cols + i] : a[i * cols + j]);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let r = 0;
          for (let k = 0; k < m; k++) r += qAt(k, i) * aAt(k, j);
          if (i > j) expect(Math.abs(r), `[${shape}] R[${i}][${j}]`).to.be.below(1e-12);
          if (i === j) expect(r, `[${shape}] R[${i}][${i}]`).to.be.above(1e-6);
        }
      }
    }
  });

  it('scales by gain: orthogonal_(t, g) = g · orthogonal_(t, 1) for the same draws', () => {
    for (const shape of [[6, 4], [3, 8]]) {
      const g = init.orthogonal_(zeros(shape, f64), 2.5, new Random(31));
      const one = init.orthogonal_(zeros(shape, f64), 1, new Random(31));
      expect(Array.from(g.data)).to.deep.equal(Array.from(one.data, (v) => 2.5 * v));
      expect(gramError(g.data, shape[0], shape[1], shape[0] < shape[1], 2.5)).to.be.below(1e-12);
    }
    // calculateGain composes as in torch's docs: orthogonal_(w, calculateGain('relu')).
    const relu = init.orthogonal_(zeros([4, 4], f64), init.calculateGain('relu'), new Random(32));
    expect(gramError(relu.data, 4, 4, false, Math.SQRT2)).to.be.below(1e-12);
    // A zero-element tensor is left alone, as torch's "no-op".
    expect(init.orthogonal_(zeros([0, 3])).numel()).to.equal(0);
  });
});

describe('models/nn/init: sparse_', () => {
  it('zeros exactly ⌈sparsity·rows⌉ entries in every column (torch\'s math.ceil in float64: 0.28 of 25 is 8)', () => {
    for (const [rows, cols, sparsity, expected] of [[10, 7, 0.3, 3], [25, 4, 0.28, 8], [10, 7, 0.1, 1], [9, 4, 0.5, 5], [5, 3, 0, 0], [5, 3, 1, 5], [1, 6, 0.2, 1]]) {
      const t = init.sparse_(zeros([rows, cols], f64), sparsity, 0.5, new Random(41));
      for (let c = 0; c < cols; c++) {
        let z = 0;
        for (let r = 0; r < rows; r++) if (t.data[r * cols + c] === 0) z++;
        expect(z, `[${rows}, ${cols}] sparsity ${sparsity} column ${c}`).to.equal(expected);
      }
    }
  });

  it('draws N(0, std²) row-major first, then one randperm(rows) per column whose first ⌈sparsity·rows⌉ rows it zeros', () => {
    const [rows, cols, sparsity, std] = [8, 5, 0.4, 0.02];
    const t = init.sparse_(zeros([rows, cols], f64), sparsity, std, new Random(43));
    const rng = new Random(43);
    const want = Array.from({ length: rows * cols }, () => std * rng.normal());
    for (let c = 0; c < cols; c++) {
      const perm = rng.permutation(rows);
      for (let k = 0; k < Math.ceil(sparsity * rows); k++) want[perm[k] * cols + c] = 0;
    }
    expect(Array.from(t.data)).to.deep.equal(want);
    // The default std is 0.01.
    const d = init.sparse_(zeros([4, 3], f64), 0, undefined, new Random(44));
    const rng2 = new Random(44);
    expect(Array.from(d.data)).to.deep.equal(Array.from({ length: 12 }, () => 0.01 * rng2.normal()));
  });
});

describe('models/nn/init: errors and autograd bookkeeping', () => {
  it('refuses wrong ranks and bad arguments, naming the function, before writing', () => {
    const t = zeros([2, 3]).add(5);
    expect(() => init.eye_(zeros([3]))).to.throw('eye_: only tensors with 2 dimensions are supported, got shape [3]');
    expect(() => init.eye_(zeros([2, 2, 2]))).to.throw('eye_: only tensors with 2 dimensions are supported, got shape [2,2,2]');
    expect(() => init.dirac_(t)).to.throw('dirac_: only tensors with 3, 4, or 5 dimensions are supported, got shape [2,3]');
    expect(() => init.dirac_(zeros([1, 1, 1, 1, 1, 1]))).to.throw('dirac_: only tensors with 3, 4, or 5 dimensions are supported, got shape [1,1,1,1,1,1]');
    expect(() => init.dirac_(zeros([4, 2, 3]), 3)).to.throw('dirac_: dim 0 must be divisible by groups, got shape [4,2,3] and groups=3');
    expect(() => init.dirac_(zeros([4, 2, 3]), 0)).to.throw('dirac_: groups must be a positive integer, got 0');
    expect(() => init.dirac_(zeros([4, 2, 3]), 1.5)).to.throw('dirac_: groups must be a positive integer, got 1.5');
    expect(() => init.truncNormal_(t, 0, 0)).to.throw('truncNormal_: expects std > 0, got std=0');
    expect(() => init.truncNormal_(t, 0, -1)).to.throw('truncNormal_: expects std > 0, got std=-1');
    expect(() => init.truncNormal_(t, NaN, 1)).to.throw('truncNormal_: mean and std must be finite numbers, got mean=NaN, std=1');
    expect(() => init.truncNormal_(t, 0, Infinity)).to.throw('truncNormal_: mean and std must be finite numbers, got mean=0, std=Infinity');
    expect(() => init.truncNormal_(t, 0, 1, 2, -2)).to.throw('truncNormal_: expects a <= b (the truncation interval [a, b]), got a=2, b=-2');
    expect(() => init.truncNormal_(t, 0, 1, NaN, 2)).to.throw('truncNormal_: expects a <= b (the truncation interval [a, b]), got a=NaN, b=2');
    expect(() => init.orthogonal_(zeros([3]))).to.throw('orthogonal_: only tensors with 2 or more dimensions are supported, got shape [3]');
    expect(() => init.orthogonal_(t, NaN)).to.throw('orthogonal_: gain must be a finite number, got NaN');
    expect(() => init.sparse_(zeros([3]), 0.5)).to.throw('sparse_: only tensors with 2 dimensions are supported, got shape [3]');
    expect(() => init.sparse_(zeros([2, 2, 2]), 0.5)).to.throw('sparse_: only tensors with 2 dimensions are supported, got shape [2,2,2]');
    for (const s of [1.5, -0.1, NaN]) expect(() => init.sparse_(t, s)).to.throw(`sparse_: sparsity must be in [0, 1], got ${s}`);
    expect(() => init.sparse_(t, 0.5, -1)).to.throw('sparse_: expects a finite std >= 0, got std=-1');
    expect(Array.from(t.data)).to.deep.equal([5, 5, 5, 5, 5, 5]);
    expect(t._version).to.equal(0);
    // A non-contiguous view cannot be written in place: the error names the function.
    const view = zeros([3, 2]).transpose(0, 1);
    expect(() => init.eye_(view)).to.throw('eye_: tensor of shape [2,3] must be contiguous to initialise in place');
    expect(() => init.orthogonal_(view)).to.throw('orthogonal_: tensor of shape [2,3] must be contiguous');
    expect(() => init.sparse_(view, 0.5)).to.throw('sparse_: tensor of shape [2,3] must be contiguous');
    expect(() => init.truncNormal_(view)).to.throw('truncNormal_: tensor of shape [2,3] must be contiguous');
    expect(() => init.dirac_(zeros([2, 3, 3]).transpose(0, 1))).to.throw('dirac_: tensor of shape [3,2,3] must be contiguous');
  });

  const calls: [string, number[], (t: Tensor) => Tensor][] = [
    ['eye_', [3, 4], (t) => init.eye_(t)],
    ['dirac_', [2, 2, 3, 3], (t) => init.dirac_(t)],
    ['truncNormal_', [3, 4], (t) => init.truncNormal_(t)],
    ['orthogonal_', [3, 4], (t) => init.orthogonal_(t)],
    ['sparse_', [3, 4], (t) => init.sparse_(t, 0.5)],
  ];
  for (const [name, shape, fn] of calls) {
    it(`${name} leaves a requiresGrad leaf a usable leaf, bumps its version once, and invalidates a backward that saved it`, () => {
      const w = zeros(shape, f64).requiresGrad_();
      const saved = F.mul(w, w).sum(); // saves w at version 0
      expect(fn(w)).to.equal(w);
      expect(w._version).to.equal(1);
      expect(w.requiresGrad).to.equal(true);
      expect(w.isLeaf).to.equal(true);
      expect(w.gradFn).to.equal(null);
      expect(() => saved.backward()).to.throw('was modified in place');
      F.mul(w, w).sum().backward();
      expect(Array.from(w.grad!.data)).to.deep.equal(Array.from(w.data, (v) => 2 * v));
    });
  }
});
