import { expect } from 'chai';
import { allocate, DTYPES, type DType, type FloatArray } from '../../../lib/core/dtype';
import { Random } from '../../../lib/random';
import {
  batchNormTrainForward, batchNormTrainForwardRange, batchNormTrainBackward, batchNormTrainBackwardRange,
  batchNormEvalForward, batchNormEvalForwardRange, batchNormEvalBackward, batchNormEvalBackwardRange,
  batchNormTrainForwardReference, batchNormTrainBackwardReference, batchNormEvalForwardReference, batchNormEvalBackwardReference,
  type BatchNormTrainResult, type BatchNormGrads,
} from '../../../lib/kernels/batchnorm';
import { addInto, reluBackward, unary } from '../../../lib/kernels/elementwise';
import { ewWasm } from '../../../lib/kernels/wasm_elementwise';
import { setNumThreads, threadStats } from '../../../lib/platform/threads';
import { arr, dot, expectSame, nanFilled, numericGrad, randArr, randomChunks } from '../../support/kernel_helpers';
import { useTwoThreads, withWasm } from '../../support/kernel_modes';

// ---- local helpers ----

/**
 * Element-wise |a − e| <= atol + rtol·|e|. Stricter than the shared expectClose: every expected
 * value must be finite (a NaN or infinite reference fails).
 */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, msg = ''): void {
  expect(actual.length, `${msg} length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    expect(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${msg} [${i}]: ${a} vs ${e}`).to.equal(true);
  }
}

const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

/**
 * Tolerances for a fast result against the double-precision reference: float64 differs only by
 * re-association (a few ulps of the largest term); float32 adds one rounding of the result.
 */
function tol(dt: DType, ref: ArrayLike<number>): [number, number] {
  const scale = Math.max(maxAbs(ref), 1);
  return dt === 'float64' ? [1e-12, 1e-13 * scale] : [2.5e-7, 1e-7 * scale];
}

/**
 * Every fused result equals the unfused one bit for bit; with `reluCut`, the relu also zeroed part
 * of the output (results[0]), so the comparison covered both sides of it.
 */
function expectFusedResults(got: FloatArray[], want: FloatArray[], names: readonly string[], tag: string, reluCut: boolean): void {
  got.forEach((a, i) => expectSame(a, want[i], `${tag} ${names[i]}`));
  if (!reluCut) return;
  let zeros = 0;
  for (let i = 0; i < got[0].length; i++) if (Object.is(got[0][i], 0)) zeros++;
  expect(zeros, `${tag}: relu zeroed part of the output`).to.be.greaterThan(0);
}

const positive = (rng: Random, dt: DType, n: number): FloatArray => {
  const a = allocate(dt, n);
  for (let i = 0; i < n; i++) a[i] = 0.2 + 2 * rng.uniform();
  return a;
};

describe('lib/kernels/batchnorm', () => {
  describe('training mode', () => {
    for (const dt of DTYPES) {
      it(`normalizes with the biased batch variance and reports the unbiased one (${dt})`, () => {
        // One channel, values 1, 2 | 3, 4: mean 2.5, biased var 1.25, unbiased 5/3.
        const r = batchNormTrainForward(arr(dt, [1, 2, 3, 4]), 2, 1, 2, null, null, 0);
        expectClose(r.mean, [2.5], 1e-15, 0);
        expectClose(r.invstd, [1 / Math.sqrt(1.25)], 1e-15, 0);
        expectClose(r.varUnbiased, [5 / 3], 1e-15, 0);
        const s = Math.sqrt(1.25);
        expectClose(r.out, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], dt === 'float64' ? 1e-15 : 1e-7, 0);
        const affine = batchNormTrainForward(arr(dt, [1, 2, 3, 4]), 2, 1, 2, arr(dt, [2]), arr(dt, [1]), 0);
        expectClose(affine.out, [1 - 3 / s, 1 - 1 / s, 1 + 1 / s, 1 + 3 / s], dt === 'float64' ? 1e-15 : 1e-7, 0);
      });
    }

    it('keeps channels apart in the [N, C, S] layout (BatchNorm1d, S = 1)', () => {
      // x [2, 2]: channel 0 holds 1, 3 (mean 2, var 1), channel 1 holds 10, 30 (mean 20, var 100).
      const r = batchNormTrainForward(arr('float64', [1, 10, 3, 30]), 2, 2, 1, null, null, 0);
      expectClose(r.mean, [2, 20], 1e-15, 0);
      expectClose(r.varUnbiased, [2, 200], 1e-15, 0);
      expectClose(r.invstd, [1, 0.1], 1e-15, 0);
      expectClose(r.out, [-1, -1, 1, 1], 1e-15, 0);
      const e = batchNormTrainForward(arr('float64', [1, 10, 3, 30]), 2, 2, 1, null, null, 1e-5);
      expectClose(e.invstd, [1 / Math.sqrt(1 + 1e-5), 1 / Math.sqrt(100 + 1e-5)], 1e-15, 0);
    });

    it('accumulates float32 statistics in double (mean 1e4, std 1e-2, 4096 values per channel)', () => {
      const rng = new Random(3);
      const N = 4, C = 2, S = 1024;
      const x = randArr(rng, 'float32', N * C * S, 1e-2, 1e4);
      const r = batchNormTrainForward(x, N, C, S, null, null, 0);
      for (let c = 0; c < C; c++) {
        // Exact statistics of the stored float32 values, summed with a compensated (Kahan) double sum.
        let s = 0, comp = 0;
        const vals: number[] = [];
        for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) vals.push(x[(n * C + c) * S + k]);
        for (const v of vals) {
          const y = v - comp, t = s + y;
          comp = t - s - y;
          s = t;
        }
        const mean = s / vals.length;
        const v2 = vals.reduce((a, v) => a + (v - mean) * (v - mean), 0) / vals.length;
        expect(Math.abs(r.mean[c] - mean) / mean).to.be.below(1e-13);
        expect(Math.abs(1 / (r.invstd[c] * r.invstd[c]) - v2) / v2).to.be.below(1e-9);
      }
    });

    it('matches the reference on random shapes, with and without affine parameters, for both dtypes', () => {
      const rng = new Random(5);
      for (let t = 0; t < 120; t++) {
        const N = rng.integer(1, 5), C = rng.integer(1, 6);
        const S = rng.bernoulli(0.3) ? 1 : rng.integer(1, 40);
        if (N * S < 2) continue;
        const eps = rng.bernoulli(0.5) ? 1e-5 : 0.1;
        for (const dt of DTYPES) {
          const x = randArr(rng, dt, N * C * S, 1 + 3 * rng.uniform(), rng.normal() * 5);
          const weight = rng.bernoulli(0.7) ? randArr(rng, dt, C) : null;
          const bias = rng.bernoulli(0.7) ? randArr(rng, dt, C) : null;
          const tag = `${dt} [${N},${C},${S}] eps ${eps}`;
          const fast = batchNormTrainForward(x, N, C, S, weight, bias, eps);
          const ref = batchNormTrainForwardReference(x, N, C, S, weight, bias, eps);
          expectClose(fast.mean, ref.mean, 1e-14, 1e-14, `${tag} mean`);
          expectClose(fast.invstd, ref.invstd, 1e-13, 0, `${tag} invstd`);
          expectClose(fast.varUnbiased, ref.varUnbiased, 1e-13, 0, `${tag} varUnbiased`);
          expectClose(fast.out, ref.out, ...tol(dt, ref.out), `${tag} out`);

          const gy = randArr(rng, dt, N * C * S);
          const gf = batchNormTrainBackward(gy, x, fast.mean, fast.invstd, weight, N, C, S);
          const gr = batchNormTrainBackwardReference(gy, x, ref.mean, ref.invstd, weight, N, C, S);
          expectClose(gf.gx, gr.gx, ...tol(dt, gr.gx), `${tag} gx`);
          expectClose(gf.gweight, gr.gweight, ...tol(dt, gr.gweight), `${tag} gweight`);
          expectClose(gf.gbias, gr.gbias, ...tol(dt, gr.gbias), `${tag} gbias`);
          expect(gf.gx).to.be.instanceOf(dt === 'float64' ? Float64Array : Float32Array);
          expect(gf.gweight).to.be.instanceOf(dt === 'float64' ? Float64Array : Float32Array);
        }
      }
    });

    it('backward: constant gy gives gx = 0, gy = x̂ gives gx = 0 when eps = 0 (normalization is shift- and scale-invariant)', () => {
      const x = arr('float64', [0.5, -1, 2, 7, 3, 3.5, -2, 0]);
      const { mean, invstd } = batchNormTrainForward(x, 2, 2, 2, null, null, 0);
      const w = arr('float64', [1.5, -2]);
      const c = batchNormTrainBackward(arr('float64', Array(8).fill(0.3)), x, mean, invstd, w, 2, 2, 2);
      expectClose(c.gx, Array(8).fill(0), 0, 1e-15);
      expectClose(c.gbias, [4 * 0.3, 4 * 0.3], 1e-15, 0);
      expectClose(c.gweight, [0, 0], 0, 1e-15);
      const xhat = Array.from(x, (v, i) => (v - mean[Math.floor(i / 2) % 2]) * invstd[Math.floor(i / 2) % 2]);
      const h = batchNormTrainBackward(arr('float64', xhat), x, mean, invstd, w, 2, 2, 2);
      expectClose(h.gx, Array(8).fill(0), 0, 1e-14);
      expectClose(h.gweight, [4, 4], 1e-14, 0); // Σ x̂² = n
    });

    it('backward agrees with central differences through the batch statistics (float64)', () => {
      const rng = new Random(7);
      for (const [N, C, S] of [[3, 2, 4], [5, 3, 1], [1, 2, 6]]) {
        const x = randArr(rng, 'float64', N * C * S) as Float64Array;
        const w = randArr(rng, 'float64', C) as Float64Array, b = randArr(rng, 'float64', C) as Float64Array;
        const gy = randArr(rng, 'float64', N * C * S);
        const eps = 1e-3;
        const loss = (xv: Float64Array, wv: Float64Array, bv: Float64Array): number =>
          dot(gy, batchNormTrainForwardReference(xv, N, C, S, wv, bv, eps).out);
        const { mean, invstd } = batchNormTrainForward(x, N, C, S, w, b, eps);
        const g = batchNormTrainBackward(gy, x, mean, invstd, w, N, C, S);
        expectClose(g.gx, numericGrad((v) => loss(v, w, b), x), 1e-6, 1e-7, 'gx');
        expectClose(g.gweight, numericGrad((v) => loss(x, v, b), w), 1e-6, 1e-7, 'gweight');
        expectClose(g.gbias, numericGrad((v) => loss(x, w, v), b), 1e-6, 1e-7, 'gbias');
        const gNoW = batchNormTrainBackward(gy, x, mean, invstd, null, N, C, S);
        expectClose(gNoW.gx, numericGrad((v) => dot(gy, batchNormTrainForwardReference(v, N, C, S, null, null, eps).out), x), 1e-6, 1e-7, 'gx without weight');
      }
    });

    it('gives bit-identical results however the channels are split', () => {
      const rng = new Random(9);
      for (let t = 0; t < 40; t++) {
        const N = rng.integer(1, 4), C = rng.integer(1, 8), S = rng.bernoulli(0.3) ? 1 : rng.integer(2, 20);
        if (N * S < 2) continue;
        const x = randArr(rng, 'float32', N * C * S), w = randArr(rng, 'float32', C), b = randArr(rng, 'float32', C);
        const whole = batchNormTrainForward(x, N, C, S, w, b, 1e-5);
        const parts: BatchNormTrainResult = {
          out: nanFilled('float32', N * C * S), mean: new Float64Array(C).fill(NaN), invstd: new Float64Array(C).fill(NaN), varUnbiased: new Float64Array(C).fill(NaN),
        };
        for (const [c0, c1] of randomChunks(rng, C)) batchNormTrainForwardRange(x, N, C, S, w, b, 1e-5, parts, c0, c1);
        expect(Array.from(parts.out)).to.deep.equal(Array.from(whole.out));
        expect(Array.from(parts.mean)).to.deep.equal(Array.from(whole.mean));
        expect(Array.from(parts.invstd)).to.deep.equal(Array.from(whole.invstd));
        expect(Array.from(parts.varUnbiased)).to.deep.equal(Array.from(whole.varUnbiased));

        const gy = randArr(rng, 'float32', N * C * S);
        const gw = batchNormTrainBackward(gy, x, whole.mean, whole.invstd, w, N, C, S);
        const gp: BatchNormGrads = { gx: nanFilled('float32', N * C * S), gweight: nanFilled('float32', C), gbias: nanFilled('float32', C) };
        for (const [c0, c1] of randomChunks(rng, C)) batchNormTrainBackwardRange(gy, x, whole.mean, whole.invstd, w, N, C, S, gp, c0, c1);
        for (const k of ['gx', 'gweight', 'gbias'] as const) expect(Array.from(gp[k]), k).to.deep.equal(Array.from(gw[k]));
      }
    });

    it('refuses one value per channel, as PyTorch does', () => {
      expect(() => batchNormTrainForward(new Float32Array(3), 1, 3, 1, null, null, 1e-5))
        .to.throw('batchNormTrainForward: expected more than 1 value per channel when training, got input [1,3,1] (N·S = 1)');
      expect(() => batchNormTrainBackward(new Float32Array(3), new Float32Array(3), new Float64Array(3), new Float64Array(3), null, 1, 3, 1))
        .to.throw('batchNormTrainBackward: expected more than 1 value per channel when training');
    });

    it('validates sizes, lengths, eps and ranges', () => {
      const x = new Float32Array(12);
      expect(() => batchNormTrainForward(x, 2, 0, 6, null, null, 1e-5)).to.throw('batchNormTrainForward: expected a non-negative integer N and positive integers C and S, got input [2,0,6]');
      expect(() => batchNormTrainForward(x, 2, 3, 3, null, null, 1e-5)).to.throw('batchNormTrainForward: x has 12 elements, expected 18 for input [2,3,3]');
      expect(() => batchNormTrainForward(x, 2, 3, 2, new Float32Array(2), null, 1e-5)).to.throw('batchNormTrainForward: weight has 2 elements, expected 3 for 3 channels');
      expect(() => batchNormTrainForward(x, 2, 3, 2, null, new Float32Array(4), 1e-5)).to.throw('batchNormTrainForward: bias has 4 elements, expected 3 for 3 channels');
      expect(() => batchNormTrainForward(x, 2, 3, 2, null, null, -1)).to.throw('batchNormTrainForward: eps must be a finite number >= 0, got -1');
      expect(() => batchNormTrainForward(x, 2, 3, 2, null, null, NaN)).to.throw('batchNormTrainForward: eps must be a finite number >= 0, got NaN');
      const r = batchNormTrainForward(x, 2, 3, 2, null, null, 1e-5);
      expect(() => batchNormTrainForwardRange(x, 2, 3, 2, null, null, 1e-5, r, 2, 4)).to.throw('batchNormTrainForwardRange: channel range [2, 4) is not within [0, 3]');
      expect(() => batchNormTrainForwardRange(x, 2, 3, 2, null, null, 1e-5, { ...r, mean: new Float64Array(2) }, 0, 3))
        .to.throw('batchNormTrainForwardRange: mean has 2 elements, expected 3 for 3 channels');
      expect(() => batchNormTrainBackward(new Float32Array(11), x, r.mean, r.invstd, null, 2, 3, 2)).to.throw('batchNormTrainBackward: gy has 11 elements, expected 12 for input [2,3,2]');
      expect(() => batchNormTrainBackward(x, x, r.mean, new Float64Array(1), null, 2, 3, 2)).to.throw('batchNormTrainBackward: invstd has 1 elements, expected 3 for 3 channels');
      const g = batchNormTrainBackward(x, x, r.mean, r.invstd, null, 2, 3, 2);
      expect(() => batchNormTrainBackwardRange(x, x, r.mean, r.invstd, null, 2, 3, 2, { ...g, gx: new Float32Array(1) }, 0, 3))
        .to.throw('batchNormTrainBackwardRange: gx has 1 elements, expected 12 for input [2,3,2]');
      expect(() => batchNormTrainBackwardRange(x, x, r.mean, r.invstd, null, 2, 3, 2, g, -1, 3)).to.throw('batchNormTrainBackwardRange: channel range [-1, 3) is not within [0, 3]');
      expect(() => batchNormTrainForward([1, 2] as unknown as Float32Array, 1, 1, 2, null, null, 0)).to.throw('batchNormTrainForward: x must be a Float32Array or Float64Array');
    });
  });

  describe('eval mode', () => {
    it('uses the running statistics only', () => {
      // Channel 0: (1 − 0)/sqrt(4)·1 + 0; channel 1: (2 − 1)/sqrt(0.25)·2 + 1.
      const out = batchNormEvalForward(arr('float64', [1, 2]), 1, 2, 1, arr('float64', [0, 1]), arr('float64', [4, 0.25]), arr('float64', [1, 2]), arr('float64', [0, 1]), 0);
      expectClose(out, [0.5, 5], 1e-15, 0);
      // One value per channel is fine outside training.
      const g = batchNormEvalBackward(arr('float64', [3, -1]), arr('float64', [1, 2]), arr('float64', [0, 1]), arr('float64', [4, 0.25]), arr('float64', [1, 2]), 0, 1, 2, 1);
      expectClose(g.gx, [3 / 2, -1 * 2 / 0.5], 1e-15, 0);
      expectClose(g.gweight, [3 * 0.5, -1 * 2], 1e-15, 0);
      expectClose(g.gbias, [3, -1], 1e-15, 0);
    });

    it('matches the reference on random shapes for both dtypes, and splits bit-identically', () => {
      const rng = new Random(15);
      for (let t = 0; t < 100; t++) {
        const N = rng.integer(0, 4), C = rng.integer(1, 6), S = rng.bernoulli(0.3) ? 1 : rng.integer(1, 30);
        for (const dt of DTYPES) {
          const x = randArr(rng, dt, N * C * S, 2, 1);
          const rm = randArr(rng, dt, C), rv = positive(rng, dt, C);
          const w = rng.bernoulli(0.7) ? randArr(rng, dt, C) : null, b = rng.bernoulli(0.7) ? randArr(rng, dt, C) : null;
          const tag = `${dt} [${N},${C},${S}]`;
          const out = batchNormEvalForward(x, N, C, S, rm, rv, w, b, 1e-5);
          const ref = batchNormEvalForwardReference(x, N, C, S, rm, rv, w, b, 1e-5);
          expectClose(out, ref, ...tol(dt, ref), tag);
          const gy = randArr(rng, dt, N * C * S);
          const g = batchNormEvalBackward(gy, x, rm, rv, w, 1e-5, N, C, S);
          const gr = batchNormEvalBackwardReference(gy, x, rm, rv, w, 1e-5, N, C, S);
          for (const k of ['gx', 'gweight', 'gbias'] as const) expectClose(g[k], gr[k], ...tol(dt, gr[k]), `${tag} ${k}`);

          const out2 = nanFilled(dt, out.length);
          for (const [c0, c1] of randomChunks(rng, C)) batchNormEvalForwardRange(x, N, C, S, rm, rv, w, b, 1e-5, out2, c0, c1);
          expect(Array.from(out2), tag).to.deep.equal(Array.from(out));
          const g2: BatchNormGrads = { gx: nanFilled(dt, N * C * S), gweight: nanFilled(dt, C), gbias: nanFilled(dt, C) };
          for (const [c0, c1] of randomChunks(rng, C)) batchNormEvalBackwardRange(gy, x, rm, rv, w, 1e-5, N, C, S, g2, c0, c1);
          for (const k of ['gx', 'gweight', 'gbias'] as const) expect(Array.from(g2[k]), `${tag} ${k}`).to.deep.equal(Array.from(g[k]));
        }
      }
    });

    it('backward agrees with central differences (float64)', () => {
      const rng = new Random(17);
      const [N, C, S] = [2, 3, 5];
      const x = randArr(rng, 'float64', N * C * S) as Float64Array, w = randArr(rng, 'float64', C) as Float64Array, b = randArr(rng, 'float64', C) as Float64Array;
      const rm = randArr(rng, 'float64', C), rv = positive(rng, 'float64', C), gy = randArr(rng, 'float64', N * C * S);
      const loss = (xv: Float64Array, wv: Float64Array, bv: Float64Array): number => dot(gy, batchNormEvalForwardReference(xv, N, C, S, rm, rv, wv, bv, 1e-5));
      const g = batchNormEvalBackward(gy, x, rm, rv, w, 1e-5, N, C, S);
      expectClose(g.gx, numericGrad((v) => loss(v, w, b), x), 1e-6, 1e-8, 'gx');
      expectClose(g.gweight, numericGrad((v) => loss(x, v, b), w), 1e-6, 1e-8, 'gweight');
      expectClose(g.gbias, numericGrad((v) => loss(x, w, v), b), 1e-6, 1e-8, 'gbias');
    });

    it('validates sizes, lengths, eps and ranges', () => {
      const x = new Float32Array(6), c3 = new Float32Array(3);
      expect(() => batchNormEvalForward(x, 2, 3, 1, new Float32Array(2), c3, null, null, 1e-5)).to.throw('batchNormEvalForward: runningMean has 2 elements, expected 3 for 3 channels');
      expect(() => batchNormEvalForward(x, 2, 3, 1, c3, new Float32Array(4), null, null, 1e-5)).to.throw('batchNormEvalForward: runningVar has 4 elements, expected 3 for 3 channels');
      expect(() => batchNormEvalForward(x, 2, 3, 1.5, c3, c3, null, null, 1e-5)).to.throw('batchNormEvalForward: expected a non-negative integer N and positive integers C and S, got input [2,3,1.5]');
      expect(() => batchNormEvalForward(x, 2, 3, 1, c3, c3, null, null, Infinity)).to.throw('batchNormEvalForward: eps must be a finite number >= 0, got Infinity');
      expect(() => batchNormEvalForwardRange(x, 2, 3, 1, c3, c3, null, null, 1e-5, new Float32Array(5), 0, 3)).to.throw('batchNormEvalForwardRange: out has 5 elements, expected 6 for input [2,3,1]');
      expect(() => batchNormEvalBackward(x, new Float32Array(7), c3, c3, null, 1e-5, 2, 3, 1)).to.throw('batchNormEvalBackward: x has 7 elements, expected 6 for input [2,3,1]');
      const g = batchNormEvalBackward(x, x, c3, c3, null, 1e-5, 2, 3, 1);
      expect(() => batchNormEvalBackwardRange(x, x, c3, c3, null, 1e-5, 2, 3, 1, { ...g, gbias: new Float32Array(2) }, 0, 3))
        .to.throw('batchNormEvalBackwardRange: gbias has 2 elements, expected 3 for 3 channels');
      expect(() => batchNormEvalBackwardRange(x, x, c3, c3, null, 1e-5, 2, 3, 1, g, 0, 3.5)).to.throw('batchNormEvalBackwardRange: channel range [0, 3.5) is not within [0, 3]');
    });
  });

  describe('float32 through WebAssembly, and threads', () => {
    const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e-45, 3e38];

    // Odd and single channels (the reductions pair channels), S = 1 and S mod 4 ≠ 0 (the normalising
    // pass goes four at a time), and a [64, 9, 4100] input whose channels are staged in blocks of 4, 4, 1.
    const SHAPES: Array<[number, number, number]> = [
      [2, 1, 200], [3, 5, 33], [4, 8, 16], [300, 3, 1], [7, 9, 5], [2, 17, 64], [5, 2, 27], [64, 9, 4100],
    ];

    it('train forward and backward and eval forward equal the JS loops bit for bit', () => {
      expect(ewWasm(), 'this engine runs the WebAssembly SIMD kernels').to.not.equal(null);
      const rng = new Random(31);
      for (const [N, C, S] of SHAPES) {
        for (const affine of N * C * S > 1e6 ? [true] : [true, false]) {
          const n = N * C * S;
          // A large offset in some channels: the two-pass variance must match exactly there too.
          const x = randArr(rng, 'float32', n, 2, 0);
          for (let i = 0; i < n; i++) if (Math.floor(i / S) % C === 1) x[i] += 1000;
          const gy = randArr(rng, 'float32', n);
          const w = affine ? randArr(rng, 'float32', C) : null, b = affine ? randArr(rng, 'float32', C) : null;
          const rm = randArr(rng, 'float32', C), rv = positive(rng, 'float32', C);
          const tag = `[${N},${C},${S}] ${affine ? 'affine' : 'no affine'}`;
          const run = (wasm: boolean): { f: BatchNormTrainResult; g: BatchNormGrads; e: FloatArray } => withWasm(wasm, () => {
            const f = batchNormTrainForward(x, N, C, S, w, b, 1e-5);
            return { f, g: batchNormTrainBackward(gy, x, f.mean, f.invstd, w, N, C, S), e: batchNormEvalForward(x, N, C, S, rm, rv, w, b, 1e-5) };
          });
          const js = run(false), wa = run(true);
          for (const k of ['out', 'mean', 'invstd', 'varUnbiased'] as const) expectSame(wa.f[k], js.f[k], `${tag} forward ${k}`);
          for (const k of ['gx', 'gweight', 'gbias'] as const) expectSame(wa.g[k], js.g[k], `${tag} backward ${k}`);
          expectSame(wa.e, js.e, `${tag} eval forward`);
          if (n <= 1e5) {
            const ref = batchNormTrainForwardReference(x, N, C, S, w, b, 1e-5);
            expectClose(wa.f.out, ref.out, ...tol('float32', ref.out), `${tag} forward against the reference`);
            const gr = batchNormTrainBackwardReference(gy, x, wa.f.mean, wa.f.invstd, w, N, C, S);
            for (const k of ['gx', 'gweight', 'gbias'] as const) expectClose(wa.g[k], gr[k], ...tol('float32', gr[k]), `${tag} backward ${k} against the reference`);
            const er = batchNormEvalForwardReference(x, N, C, S, rm, rv, w, b, 1e-5);
            expectClose(wa.e, er, ...tol('float32', er), `${tag} eval forward against the reference`);
          }
        }
      }
    });

    it('propagate NaN and infinities exactly as the JS loops, and honour float32 statistics arrays', () => {
      const rng = new Random(32);
      const [N, C, S] = [6, 7, 19];
      const n = N * C * S;
      const x = randArr(rng, 'float32', n), gy = randArr(rng, 'float32', n);
      // Channel 2 gets special values in x, channel 5 in gy.
      SPECIAL.forEach((v, j) => {
        x[(j % N) * C * S + 2 * S + j] = v;
        gy[(j % N) * C * S + 5 * S + j] = v;
      });
      const w = randArr(rng, 'float32', C), b = randArr(rng, 'float32', C);
      const run = (wasm: boolean): { f: BatchNormTrainResult; g: BatchNormGrads; f32: BatchNormTrainResult; g32: BatchNormGrads } => withWasm(wasm, () => {
        const f = batchNormTrainForward(x, N, C, S, w, b, 1e-5);
        const g = batchNormTrainBackward(gy, x, f.mean, f.invstd, w, N, C, S);
        // Float32 statistics: the mean is stored rounded and read back, exactly as by the JS loop.
        const f32: BatchNormTrainResult = {
          out: nanFilled('float32', n), mean: new Float32Array(C) as unknown as Float64Array,
          invstd: new Float32Array(C) as unknown as Float64Array, varUnbiased: new Float32Array(C) as unknown as Float64Array,
        };
        batchNormTrainForwardRange(x, N, C, S, w, b, 1e-5, f32, 0, C);
        const g32: BatchNormGrads = { gx: nanFilled('float32', n), gweight: nanFilled('float32', C), gbias: nanFilled('float32', C) };
        batchNormTrainBackwardRange(gy, x, f32.mean, f32.invstd, w, N, C, S, g32, 0, C);
        return { f, g, f32, g32 };
      });
      const js = run(false), wa = run(true);
      for (const k of ['out', 'mean', 'invstd', 'varUnbiased'] as const) {
        expectSame(wa.f[k], js.f[k], `forward ${k}`);
        expectSame(wa.f32[k], js.f32[k], `float32 statistics: forward ${k}`);
      }
      for (const k of ['gx', 'gweight', 'gbias'] as const) {
        expectSame(wa.g[k], js.g[k], `backward ${k}`);
        expectSame(wa.g32[k], js.g32[k], `float32 statistics: backward ${k}`);
      }
      expect(Number.isNaN(wa.f.mean[2]), 'a NaN input makes its channel NaN').to.equal(true);
      expect(Number.isFinite(wa.f.mean[3]), 'other channels are untouched').to.equal(true);
    });

    describe('with 2 threads', () => {
      useTwoThreads();

      for (const dt of DTYPES) {
        for (const wasm of dt === 'float32' ? [true, false] : [false]) {
          it(`${dt}${dt === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: every pass is bit-identical to 1 thread`, () => {
            withWasm(wasm, () => {
              const rng = new Random(33);
              for (const [N, C, S] of [[32, 8, 1024], [64, 5, 517]] as Array<[number, number, number]>) {
                const n = N * C * S;
                const x = randArr(rng, dt, n, 2, 1), gy = randArr(rng, dt, n);
                const w = randArr(rng, dt, C), b = randArr(rng, dt, C), rm = randArr(rng, dt, C), rv = positive(rng, dt, C);
                const run = (threads: number): FloatArray[] => {
                  setNumThreads(threads);
                  const f = batchNormTrainForward(x, N, C, S, w, b, 1e-5);
                  const g = batchNormTrainBackward(gy, x, f.mean, f.invstd, w, N, C, S);
                  const e = batchNormEvalForward(x, N, C, S, rm, rv, w, b, 1e-5);
                  const eg = batchNormEvalBackward(gy, x, rm, rv, w, 1e-5, N, C, S);
                  return [f.out, f.mean, f.invstd, f.varUnbiased, g.gx, g.gweight, g.gbias, e, eg.gx, eg.gweight, eg.gbias];
                };
                const one = run(1);
                const sent = threadStats().partsSent;
                const two = run(2);
                expect(threadStats().partsSent - sent, 'a worker took part in all four kernels').to.equal(4);
                two.forEach((a, i) => expectSame(a, one[i], `[${N},${C},${S}] result ${i}`));
              }
            });
          });
        }
      }
    });
  });
  describe('fused relu', () => {
    /** relu(batch norm) through the separate kernels: what the fused passes must equal bit for bit. */
    function unfused(dt: DType, x: FloatArray, gy: FloatArray, N: number, C: number, S: number, w: FloatArray | null, b: FloatArray | null,
      rm: FloatArray, rv: FloatArray): FloatArray[] {
      const n = N * C * S;
      const f = batchNormTrainForward(x, N, C, S, w, b, 1e-5);
      const out = allocate(dt, n);
      unary('relu', f.out, 0, out, n);
      const masked = allocate(dt, n);
      reluBackward(gy, out, masked, n);
      const g = batchNormTrainBackward(masked, x, f.mean, f.invstd, w, N, C, S);
      const e = batchNormEvalForward(x, N, C, S, rm, rv, w, b, 1e-5);
      const eo = allocate(dt, n);
      unary('relu', e, 0, eo, n);
      return [out, f.mean, f.invstd, f.varUnbiased, g.gx, g.gweight, g.gbias, eo];
    }

    /** With maskFromX, the backward is told the forward's bias (reluBias) and may rebuild relu's mask from x. */
    function fused(x: FloatArray, gy: FloatArray, N: number, C: number, S: number, w: FloatArray | null, b: FloatArray | null,
      rm: FloatArray, rv: FloatArray, maskFromX = false): FloatArray[] {
      const f = batchNormTrainForward(x, N, C, S, w, b, 1e-5, true);
      const g = batchNormTrainBackward(gy, x, f.mean, f.invstd, w, N, C, S, f.out, null, maskFromX ? b : undefined);
      return [f.out, f.mean, f.invstd, f.varUnbiased, g.gx, g.gweight, g.gbias, batchNormEvalForward(x, N, C, S, rm, rv, w, b, 1e-5, true)];
    }

    const NAMES = ['out', 'mean', 'invstd', 'varUnbiased', 'gx', 'gweight', 'gbias', 'eval out'];
    const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-45];

    function inputs(rng: Random, dt: DType, N: number, C: number, S: number, special: boolean): FloatArray[] {
      const n = N * C * S;
      const x = randArr(rng, dt, n, 2, 0), gy = randArr(rng, dt, n);
      if (special) {
        // Channel 1 of x and channel 0 of gy get NaN, infinities, signed zeros and tiny values.
        SPECIAL.forEach((v, j) => {
          x[((j % N) * C + 1 % C) * S + (j % S)] = v;
          gy[(j % N) * C * S + (j % S)] = v;
        });
      }
      return [x, gy, randArr(rng, dt, C), randArr(rng, dt, C), randArr(rng, dt, C), positive(rng, dt, C)];
    }

    for (const dt of DTYPES) {
      for (const wasm of dt === 'float32' ? [true, false] : [false]) {
        it(`${dt}${dt === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: forward, backward and eval equal relu after batch norm bit for bit`, () => {
          withWasm(wasm, () => {
            const rng = new Random(34);
            const shapes: Array<[number, number, number]> = [[2, 1, 200], [3, 5, 33], [300, 3, 1], [7, 9, 5], [64, 9, 4100], [4, 3, 2]];
            for (const [N, C, S] of shapes) {
              const big = N * C * S > 1e6; // staged in channel blocks of 4, 4 and 1: once is enough
              for (const special of big ? [false] : [false, true]) {
                for (const affine of big ? [true] : [true, false]) {
                  const [x, gy, w, b, rm, rv] = inputs(rng, dt, N, C, S, special);
                  const wa = affine ? w : null, ba = affine ? b : null;
                  const want = unfused(dt, x, gy, N, C, S, wa, ba, rm, rv);
                  for (const maskFromX of [false, true]) {
                    const got = fused(x, gy, N, C, S, wa, ba, rm, rv, maskFromX);
                    const tag = `[${N},${C},${S}] ${special ? 'special values' : 'random'} ${affine ? 'affine' : 'no affine'}${maskFromX ? ', mask from x' : ''}`;
                    // (With special values a NaN can fill a whole channel, C = 1 included.)
                    expectFusedResults(got, want, NAMES, tag, !special);
                  }
                }
              }
            }
          });
        });
      }
    }

    it('the Range entry points take the same options', () => {
      const rng = new Random(35);
      const [N, C, S] = [5, 6, 7], n = N * C * S;
      const [x, gy, w, b, rm, rv] = inputs(rng, 'float32', N, C, S, false);
      const whole = fused(x, gy, N, C, S, w, b, rm, rv);
      const f: BatchNormTrainResult = { out: nanFilled('float32', n), mean: new Float64Array(C), invstd: new Float64Array(C), varUnbiased: new Float64Array(C) };
      const g: BatchNormGrads = { gx: nanFilled('float32', n), gweight: nanFilled('float32', C), gbias: nanFilled('float32', C) };
      const e = nanFilled('float32', n);
      for (const [c0, c1] of [[0, 2], [2, 3], [3, 6]]) {
        batchNormTrainForwardRange(x, N, C, S, w, b, 1e-5, f, c0, c1, true);
        batchNormEvalForwardRange(x, N, C, S, rm, rv, w, b, 1e-5, e, c0, c1, true);
      }
      for (const [c0, c1] of [[0, 4], [4, 6]]) batchNormTrainBackwardRange(gy, x, f.mean, f.invstd, w, N, C, S, g, c0, c1, f.out);
      [f.out, f.mean, f.invstd, f.varUnbiased, g.gx, g.gweight, g.gbias, e].forEach((a, i) => expectSame(a, whole[i], NAMES[i]));
      g.gx.fill(NaN);
      for (const [c0, c1] of [[0, 1], [1, 6]]) batchNormTrainBackwardRange(gy, x, f.mean, f.invstd, w, N, C, S, g, c0, c1, f.out, null, b);
      expectSame(g.gx, whole[4], 'gx with reluBias');
    });

    it('rebuilds the mask from x only with float64 statistics: a float32 invstd rounds the forward\'s scale', () => {
      withWasm(true, () => {
        const rng = new Random(37);
        const [N, C, S] = [8, 5, 300], n = N * C * S;
        const [x, gy, w] = inputs(rng, 'float32', N, C, S, false);
        // A float64 bias that puts element (0, c, 0) halfway between the forward's x̂·w·invstd and the
        // one with invstd rounded to float32: the two see opposite signs there, so a mask rebuilt
        // with the rounded invstd would disagree with the forward's relu.
        const stats = batchNormTrainForward(x, N, C, S, w, null, 1e-5);
        const b = new Float64Array(C);
        for (let c = 0; c < C; c++) {
          const d = (x[c * S] - stats.mean[c]) * w[c];
          const t = d * stats.invstd[c], t32 = d * Math.fround(stats.invstd[c]);
          expect(t, `channel ${c}: the rounded invstd moves x̂·w`).to.not.equal(t32);
          b[c] = -(t + t32) / 2;
        }
        const f64: BatchNormTrainResult = { out: allocate('float32', n), mean: new Float64Array(C), invstd: new Float64Array(C), varUnbiased: new Float64Array(C) };
        const f32: BatchNormTrainResult = { ...f64, out: allocate('float32', n), invstd: new Float32Array(C) as unknown as Float64Array };
        batchNormTrainForwardRange(x, N, C, S, w, b, 1e-5, f64, 0, C, true);
        batchNormTrainForwardRange(x, N, C, S, w, b, 1e-5, f32, 0, C, true);
        for (const r of [f64, f32]) {
          const want = batchNormTrainBackward(gy, x, r.mean, r.invstd, w, N, C, S, r.out);
          const got = batchNormTrainBackward(gy, x, r.mean, r.invstd, w, N, C, S, r.out, null, b);
          expectSame(got.gx, want.gx, `gx, invstd ${r.invstd.constructor.name}`);
          expectSame(got.gweight, want.gweight, `gweight, invstd ${r.invstd.constructor.name}`);
        }
      });
    });

    it('rebuilds the mask from the float32 output before relu: a positive double that rounds to 0 is cut', () => {
      withWasm(true, () => {
        // Mean exactly 0 (pairs ±v summed in order), so where x = 0 the output before relu is the
        // bias: 1e-50 rounds to +0 in float32 and -1e-50 to -0, both cut by relu.
        const [N, C, S] = [4, 2, 64], n = N * C * S;
        const pattern = [0, 1, -1, 0.5, -0.5, 0, 2, -2];
        const x = new Float32Array(n).map((_, i) => pattern[i % 8]);
        const gy = new Float32Array(n).map((_, i) => 1 + (i % 3));
        const b = Float64Array.of(1e-50, -1e-50), w = Float32Array.of(1.5, 0.75);
        const f = batchNormTrainForward(x, N, C, S, w, b, 1e-5, true);
        expect(Array.from(f.mean)).to.deep.equal([0, 0]);
        const want = batchNormTrainBackward(gy, x, f.mean, f.invstd, w, N, C, S, f.out);
        const got = batchNormTrainBackward(gy, x, f.mean, f.invstd, w, N, C, S, f.out, null, b);
        [got.gx, got.gweight, got.gbias].forEach((a, i) => expectSame(a, [want.gx, want.gweight, want.gbias][i], ['gx', 'gweight', 'gbias'][i]));
      });
    });

    it('names the op and the mismatch for a bad reluOut', () => {
      const [N, C, S] = [2, 3, 4];
      const x = new Float32Array(N * C * S).map((_, i) => i % 5), f = batchNormTrainForward(x, N, C, S, null, null, 1e-5, true);
      expect(() => batchNormTrainBackward(x, x, f.mean, f.invstd, null, N, C, S, new Float32Array(5)))
        .to.throw(/batchNormTrainBackward: reluOut has 5 elements, expected 24 for input \[2,3,4\]/);
      expect(() => batchNormTrainBackward(x, x, f.mean, f.invstd, null, N, C, S, new Float64Array(24)))
        .to.throw(/batchNormTrainBackward: reluOut is Float64Array but gy is Float32Array/);
      expect(() => batchNormTrainBackward(x, x, f.mean, f.invstd, null, N, C, S, null, null, null))
        .to.throw(/batchNormTrainBackward: reluBias is given without reluOut/);
      expect(() => batchNormTrainBackward(x, x, f.mean, f.invstd, null, N, C, S, f.out, new Float32Array(24), null))
        .to.throw(/batchNormTrainBackward: reluBias is given with gResidual/);
      expect(() => batchNormTrainBackward(x, x, f.mean, f.invstd, null, N, C, S, f.out, null, new Float32Array(2)))
        .to.throw(/batchNormTrainBackward: reluBias has 2 elements, expected 3 for 3 channels/);
    });

    describe('with 2 threads', () => {
      useTwoThreads();
      for (const wasm of [true, false]) {
        it(`float32${wasm ? ' (WebAssembly)' : ' (JS loops)'}: the fused passes split bit-identically`, () => {
          withWasm(wasm, () => {
            const rng = new Random(36);
            const [N, C, S] = [32, 8, 1024];
            const [x, gy, w, b, rm, rv] = inputs(rng, 'float32', N, C, S, true);
            setNumThreads(1);
            const one = fused(x, gy, N, C, S, w, b, rm, rv);
            setNumThreads(2);
            for (const maskFromX of [false, true]) {
              const sent = threadStats().partsSent;
              const two = fused(x, gy, N, C, S, w, b, rm, rv, maskFromX);
              expect(threadStats().partsSent - sent, 'a worker took part in all three kernels').to.equal(3);
              two.forEach((a, i) => expectSame(a, one[i], `${NAMES[i]}${maskFromX ? ' (mask from x)' : ''}`));
            }
          });
        });
      }
    });
  });

  describe('fused residual add (and relu)', () => {
    /**
     * batch norm, + residual (the add kernel), relu (optional) through separate kernels: what the fused
     * passes must equal bit for bit. The residual's gradient is the gradient at the sum.
     */
    function unfused(dt: DType, relu: boolean, x: FloatArray, r: FloatArray, gy: FloatArray, N: number, C: number, S: number,
      w: FloatArray | null, b: FloatArray | null, rm: FloatArray, rv: FloatArray): FloatArray[] {
      const n = N * C * S;
      const f = batchNormTrainForward(x, N, C, S, w, b, 1e-5);
      const sum = allocate(dt, n);
      addInto(f.out, r, sum, n);
      let out = sum, gSum = gy;
      if (relu) {
        out = allocate(dt, n);
        unary('relu', sum, 0, out, n);
        gSum = allocate(dt, n);
        reluBackward(gy, out, gSum, n);
      }
      const g = batchNormTrainBackward(gSum, x, f.mean, f.invstd, w, N, C, S);
      const e = batchNormEvalForward(x, N, C, S, rm, rv, w, b, 1e-5);
      const es = allocate(dt, n);
      addInto(e, r, es, n);
      let eo = es;
      if (relu) {
        eo = allocate(dt, n);
        unary('relu', es, 0, eo, n);
      }
      return [out, f.mean, f.invstd, f.varUnbiased, g.gx, g.gweight, g.gbias, gSum, eo];
    }

    function fused(dt: DType, relu: boolean, x: FloatArray, r: FloatArray, gy: FloatArray, N: number, C: number, S: number,
      w: FloatArray | null, b: FloatArray | null, rm: FloatArray, rv: FloatArray): FloatArray[] {
      const f = batchNormTrainForward(x, N, C, S, w, b, 1e-5, relu, r);
      const gSum = nanFilled(dt, N * C * S);
      const g = batchNormTrainBackward(gy, x, f.mean, f.invstd, w, N, C, S, relu ? f.out : null, gSum);
      const eo = batchNormEvalForward(x, N, C, S, rm, rv, w, b, 1e-5, relu, r);
      return [f.out, f.mean, f.invstd, f.varUnbiased, g.gx, g.gweight, g.gbias, gSum, eo];
    }

    const NAMES = ['out', 'mean', 'invstd', 'varUnbiased', 'gx', 'gweight', 'gbias', 'gResidual', 'eval out'];
    const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-45, 3.4e38];

    function inputs(rng: Random, dt: DType, N: number, C: number, S: number, special: boolean): FloatArray[] {
      const n = N * C * S;
      const x = randArr(rng, dt, n, 2, 0), r = randArr(rng, dt, n), gy = randArr(rng, dt, n);
      if (special) {
        // Channel 1 of x, channel 0 of the residual and of gy get NaN, infinities, signed zeros, tiny
        // and huge values (3.4e38 + 3.4e38 overflows float32).
        SPECIAL.forEach((v, j) => {
          x[((j % N) * C + 1 % C) * S + (j % S)] = v;
          r[(j % N) * C * S + (j % S)] = v;
          gy[(j % N) * C * S + (j % S)] = v;
        });
      }
      return [x, r, gy, randArr(rng, dt, C), randArr(rng, dt, C), randArr(rng, dt, C), positive(rng, dt, C)];
    }

    for (const dt of DTYPES) {
      for (const wasm of dt === 'float32' ? [true, false] : [false]) {
        it(`${dt}${dt === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: forward, backward and eval equal batch norm, add (and relu) bit for bit`, () => {
          withWasm(wasm, () => {
            const rng = new Random(37);
            const shapes: Array<[number, number, number]> = [[2, 1, 200], [3, 5, 33], [300, 3, 1], [7, 9, 5], [64, 9, 4100], [4, 3, 2]];
            for (const [N, C, S] of shapes) {
              const big = N * C * S > 1e6;
              for (const relu of [true, false]) {
                for (const special of big ? [false] : [false, true]) {
                  for (const affine of big ? [true] : [true, false]) {
                    const [x, r, gy, w, b, rm, rv] = inputs(rng, dt, N, C, S, special);
                    const wa = affine ? w : null, ba = affine ? b : null;
                    const want = unfused(dt, relu, x, r, gy, N, C, S, wa, ba, rm, rv);
                    const got = fused(dt, relu, x, r, gy, N, C, S, wa, ba, rm, rv);
                    const tag = `[${N},${C},${S}] ${relu ? 'relu' : 'no relu'} ${special ? 'special values' : 'random'} ${affine ? 'affine' : 'no affine'}`;
                    expectFusedResults(got, want, NAMES, tag, relu && !special);
                  }
                }
              }
            }
          });
        });
      }
    }

    it('the Range entry points take the same options', () => {
      const rng = new Random(38);
      const [N, C, S] = [5, 6, 7], n = N * C * S;
      const [x, r, gy, w, b, rm, rv] = inputs(rng, 'float32', N, C, S, false);
      const whole = fused('float32', true, x, r, gy, N, C, S, w, b, rm, rv);
      const f: BatchNormTrainResult = { out: nanFilled('float32', n), mean: new Float64Array(C), invstd: new Float64Array(C), varUnbiased: new Float64Array(C) };
      const g: BatchNormGrads = { gx: nanFilled('float32', n), gweight: nanFilled('float32', C), gbias: nanFilled('float32', C) };
      const gSum = nanFilled('float32', n), e = nanFilled('float32', n);
      for (const [c0, c1] of [[0, 2], [2, 3], [3, 6]]) {
        batchNormTrainForwardRange(x, N, C, S, w, b, 1e-5, f, c0, c1, true, r);
        batchNormEvalForwardRange(x, N, C, S, rm, rv, w, b, 1e-5, e, c0, c1, true, r);
      }
      for (const [c0, c1] of [[0, 4], [4, 6]]) batchNormTrainBackwardRange(gy, x, f.mean, f.invstd, w, N, C, S, g, c0, c1, f.out, gSum);
      [f.out, f.mean, f.invstd, f.varUnbiased, g.gx, g.gweight, g.gbias, gSum, e].forEach((a, i) => expectSame(a, whole[i], NAMES[i]));
    });

    it('names the op and the mismatch for a bad residual or gResidual', () => {
      const [N, C, S] = [2, 3, 4];
      const x = new Float32Array(N * C * S).map((_, i) => i % 5), f = batchNormTrainForward(x, N, C, S, null, null, 1e-5, true);
      expect(() => batchNormTrainForward(x, N, C, S, null, null, 1e-5, true, new Float32Array(23)))
        .to.throw(/batchNormTrainForward: residual has 23 elements, expected 24 for input \[2,3,4\]/);
      expect(() => batchNormEvalForward(x, N, C, S, new Float32Array(C), new Float32Array(C).fill(1), null, null, 1e-5, false, new Float64Array(24)))
        .to.throw(/batchNormEvalForward: residual is Float64Array but x is Float32Array/);
      expect(() => batchNormTrainBackward(x, x, f.mean, f.invstd, null, N, C, S, f.out, new Float32Array(5)))
        .to.throw(/batchNormTrainBackward: gResidual has 5 elements, expected 24 for input \[2,3,4\]/);
      expect(() => batchNormTrainBackward(x, x, f.mean, f.invstd, null, N, C, S, f.out, new Float64Array(24)))
        .to.throw(/batchNormTrainBackward: gResidual is Float64Array but gy is Float32Array/);
    });

    describe('with 2 threads', () => {
      useTwoThreads();
      for (const wasm of [true, false]) {
        it(`float32${wasm ? ' (WebAssembly)' : ' (JS loops)'}: the fused passes split bit-identically`, () => {
          withWasm(wasm, () => {
            const rng = new Random(39);
            const [N, C, S] = [32, 8, 1024];
            const [x, r, gy, w, b, rm, rv] = inputs(rng, 'float32', N, C, S, true);
            setNumThreads(1);
            const one = fused('float32', true, x, r, gy, N, C, S, w, b, rm, rv);
            setNumThreads(2);
            const sent = threadStats().partsSent;
            const two = fused('float32', true, x, r, gy, N, C, S, w, b, rm, rv);
            expect(threadStats().partsSent - sent, 'a worker took part in all three kernels').to.equal(3);
            two.forEach((a, i) => expectSame(a, one[i], NAMES[i]));
          });
        });
      }
    });
  });
});
