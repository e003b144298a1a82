import { expect } from 'chai';
import { allocate, DTYPES, type DType, type FloatArray } from '../../../lib/core/dtype';
import { Random } from '../../../lib/random';
import {
  logSoftmaxForward, logSoftmaxForwardRange, logSoftmaxBackward, logSoftmaxBackwardRange,
  softmaxForward, softmaxForwardRange, softmaxBackward, softmaxBackwardRange,
  crossEntropyForward, crossEntropyForwardRange, crossEntropyBackward, crossEntropyBackwardRange,
  logSoftmaxForwardReference, logSoftmaxBackwardReference, softmaxForwardReference, softmaxBackwardReference,
  crossEntropyForwardReference, crossEntropyBackwardReference, type CrossEntropyOptions, type Reduction,
} from '../../../lib/kernels/softmax';
import { arr, dot, expectClose, nanFilled, numericGrad, randArr, randomChunks } from '../../support/kernel_helpers';

// ---- local helpers ----

const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) m = Math.max(m, Math.abs(a[i]));
  return m;
};

/**
 * Fast vs double-precision reference: float64 differs by re-association only; float32 adds a
 * rounding or two of the result. Absolute errors scale with the largest term that enters a
 * cancellation (`terms`, e.g. |gy| in gy − Σ gy·out), which can dwarf the result itself.
 */
function tol(dt: DType, ref: ArrayLike<number>, terms: ArrayLike<number> = []): [number, number] {
  const scale = Math.max(maxAbs(ref), maxAbs(terms), 1e-3);
  return dt === 'float64' ? [1e-12, 1e-14 * scale] : [4e-7, 1e-7 * scale];
}

const ln = Math.log;

describe('lib/kernels/softmax', () => {
  describe('softmax and logSoftmax', () => {
    for (const dt of DTYPES) {
      it(`compute hand-checked values (${dt})`, () => {
        const r = dt === 'float64' ? 1e-15 : 1e-7;
        // exp(0) : exp(ln 3) = 1 : 3.
        expectClose(softmaxForward(arr(dt, [0, ln(3)]), 1, 2, 1), [1 / 4, 3 / 4], r, 0);
        expectClose(logSoftmaxForward(arr(dt, [0, ln(3)]), 1, 2, 1), [ln(1 / 4), ln(3 / 4)], r, 0);
        expectClose(softmaxForward(arr(dt, [5, 5, 5, 5, -2, -2]), 3, 2, 1), [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], r, 0);
        expectClose(logSoftmaxForward(arr(dt, [7, 7, 7, 7]), 1, 4, 1), Array(4).fill(-ln(4)), r, 0);
        // inner = 2: lines are (x[0], x[2]) = (0, ln 3) and (x[1], x[3]) = (ln 3, 0).
        expectClose(softmaxForward(arr(dt, [0, ln(3), ln(3), 0]), 1, 2, 2), [1 / 4, 3 / 4, 3 / 4, 1 / 4], r, 0);
        expectClose(logSoftmaxForward(arr(dt, [0, ln(3), ln(3), 0]), 1, 2, 2), [ln(1 / 4), ln(3 / 4), ln(3 / 4), ln(1 / 4)], r, 0);
      });

      it(`stay finite and exact for logits of ±1000 (${dt})`, () => {
        const x = arr(dt, [1000, -1000, 0, -1000, -1000, -1000]);
        const ls = logSoftmaxForward(x, 2, 3, 1);
        // Row 0: every other term is below e^-1000, so log Σ = 0 to double precision.
        expectClose(ls, [0, -2000, -1000, -ln(3), -ln(3), -ln(3)], dt === 'float64' ? 1e-15 : 1e-7, 0);
        expectClose(softmaxForward(x, 2, 3, 1), [1, 0, 0, 1 / 3, 1 / 3, 1 / 3], dt === 'float64' ? 1e-15 : 1e-7, 0);
        const xi = arr(dt, [1000, -1000, -1000, 1000]); // inner = 2
        expectClose(softmaxForward(xi, 1, 2, 2), [1, 0, 0, 1], 0, 0);
        expectClose(logSoftmaxForward(xi, 1, 2, 2), [0, -2000, -2000, 0], 0, 0);
      });
    }

    it('turn a row holding NaN into NaN and leave other rows alone', () => {
      const out = softmaxForward(arr('float32', [1, NaN, 2, 0, 0, 0]), 2, 3, 1);
      expect(Array.from(out.subarray(0, 3)).every(Number.isNaN)).to.equal(true);
      expectClose(out.subarray(3), [1 / 3, 1 / 3, 1 / 3], 1e-7, 0);
      const lo = logSoftmaxForward(arr('float64', [1, 2, NaN, 3]), 1, 2, 2); // the line (x[0], x[2]) holds the NaN
      expect(Number.isNaN(lo[0]) && Number.isNaN(lo[2])).to.equal(true);
      expectClose([lo[1], lo[3]], [ln(Math.exp(2) / (Math.exp(2) + Math.exp(3))), ln(Math.exp(3) / (Math.exp(2) + Math.exp(3)))], 1e-15, 0);
    });

    it('backward: hand-checked values', () => {
      // p = [1/4, 3/4], gy = [1, 0]: logSoftmax gx = gy − p·Σgy = [3/4, −3/4]; softmax gx = p·(gy − Σ gy·p) = [3/16, −3/16].
      expectClose(logSoftmaxBackward(arr('float64', [1, 0]), arr('float64', [ln(1 / 4), ln(3 / 4)]), 1, 2, 1), [3 / 4, -3 / 4], 1e-15, 0);
      expectClose(softmaxBackward(arr('float64', [1, 0]), arr('float64', [1 / 4, 3 / 4]), 1, 2, 1), [3 / 16, -3 / 16], 1e-15, 0);
      // Softmax outputs sum to 1, so a constant upstream gradient is annihilated ...
      expectClose(softmaxBackward(arr('float32', [2, 2, 2]), softmaxForward(arr('float32', [0.1, -3, 2]), 1, 3, 1), 1, 3, 1), [0, 0, 0], 0, 1e-6);
      // ... and log-softmax is invariant to adding a constant to x, so its input gradient sums to 0.
      const g = logSoftmaxBackward(arr('float64', [2, -1, 0.5]), logSoftmaxForward(arr('float64', [0.1, -3, 2]), 1, 3, 1), 1, 3, 1);
      expect(Math.abs(g[0] + g[1] + g[2])).to.be.below(1e-15);
    });

    it('match the references on random [outer, D, inner] views, for both dtypes', () => {
      const rng = new Random(41);
      for (let t = 0; t < 150; t++) {
        const outer = rng.integer(0, 4), D = rng.integer(1, 12), inner = rng.bernoulli(0.4) ? 1 : rng.integer(1, 7);
        const n = outer * D * inner, scale = rng.bernoulli(0.2) ? 300 : 3;
        for (const dt of DTYPES) {
          const x = randArr(rng, dt, n, scale), gy = randArr(rng, dt, n);
          const tag = `${dt} [${outer},${D},${inner}] scale ${scale}`;
          const ls = logSoftmaxForward(x, outer, D, inner), lsRef = logSoftmaxForwardReference(x, outer, D, inner);
          expectClose(ls, lsRef, ...tol(dt, lsRef), `${tag} logSoftmax`);
          const sm = softmaxForward(x, outer, D, inner), smRef = softmaxForwardReference(x, outer, D, inner);
          expectClose(sm, smRef, ...tol(dt, smRef), `${tag} softmax`);
          const gl = logSoftmaxBackward(gy, ls, outer, D, inner), glRef = logSoftmaxBackwardReference(gy, ls, outer, D, inner);
          expectClose(gl, glRef, ...tol(dt, glRef, gy), `${tag} logSoftmax backward`);
          const gs = softmaxBackward(gy, sm, outer, D, inner), gsRef = softmaxBackwardReference(gy, sm, outer, D, inner);
          expectClose(gs, gsRef, ...tol(dt, gsRef, gy), `${tag} softmax backward`);
        }
      }
    });

    it('give bit-identical results however the lines are split', () => {
      const rng = new Random(43);
      for (let t = 0; t < 60; t++) {
        const outer = rng.integer(1, 4), D = rng.integer(1, 9), inner = rng.bernoulli(0.4) ? 1 : rng.integer(2, 7);
        const n = outer * D * inner, L = outer * inner;
        const x = randArr(rng, 'float32', n, 4), gy = randArr(rng, 'float32', n);
        const ls = logSoftmaxForward(x, outer, D, inner), sm = softmaxForward(x, outer, D, inner);
        const cases: [FloatArray, (o: FloatArray, a: number, b: number) => void][] = [
          [ls, (o, a, b) => logSoftmaxForwardRange(x, outer, D, inner, o, a, b)],
          [sm, (o, a, b) => softmaxForwardRange(x, outer, D, inner, o, a, b)],
          [logSoftmaxBackward(gy, ls, outer, D, inner), (o, a, b) => logSoftmaxBackwardRange(gy, ls, outer, D, inner, o, a, b)],
          [softmaxBackward(gy, sm, outer, D, inner), (o, a, b) => softmaxBackwardRange(gy, sm, outer, D, inner, o, a, b)],
        ];
        for (const [whole, range] of cases) {
          const parts = nanFilled('float32', n);
          for (const [a, b] of randomChunks(rng, L)) range(parts, a, b);
          expect(Array.from(parts), `[${outer},${D},${inner}]`).to.deep.equal(Array.from(whole));
        }
      }
    });

    it('backward agrees with central differences of the reference forward (float64)', () => {
      const rng = new Random(47);
      for (const [outer, D, inner] of [[3, 5, 1], [2, 4, 3]]) {
        const n = outer * D * inner;
        const x = randArr(rng, 'float64', n, 2) as Float64Array, gy = randArr(rng, 'float64', n);
        const ls = logSoftmaxForward(x, outer, D, inner), sm = softmaxForward(x, outer, D, inner);
        expectClose(logSoftmaxBackward(gy, ls, outer, D, inner), numericGrad((v) => dot(gy, logSoftmaxForwardReference(v, outer, D, inner)), x), 1e-6, 1e-8);
        expectClose(softmaxBackward(gy, sm, outer, D, inner), numericGrad((v) => dot(gy, softmaxForwardReference(v, outer, D, inner)), x), 1e-6, 1e-8);
      }
    });

    it('validate views, lengths and ranges', () => {
      const x = new Float32Array(6);
      expect(() => logSoftmaxForward(x, 2, -3, 1)).to.throw('logSoftmaxForward: outer, D and inner must be non-negative integers, got view [2,-3,1]');
      expect(() => softmaxForward(x, 2, 2, 2)).to.throw('softmaxForward: x has 6 elements, expected 8 for view [2,2,2]');
      expect(() => logSoftmaxBackward(x, new Float32Array(5), 2, 3, 1)).to.throw('logSoftmaxBackward: out has 5 elements, expected 6 for view [2,3,1]');
      expect(() => softmaxBackward(new Float64Array(4), x, 2, 3, 1)).to.throw('softmaxBackward: gy has 4 elements, expected 6 for view [2,3,1]');
      expect(() => logSoftmaxForwardRange(x, 1, 3, 2, new Float32Array(6), 0, 3)).to.throw('logSoftmaxForwardRange: line range [0, 3) is not within [0, 2]');
      expect(() => softmaxForwardRange(x, 1, 3, 2, new Float32Array(2), 0, 2)).to.throw('softmaxForwardRange: out has 2 elements, expected 6 for view [1,3,2]');
      expect(() => logSoftmaxBackwardRange(x, x, 1, 3, 2, new Float32Array(1), 0, 2)).to.throw('logSoftmaxBackwardRange: gx has 1 elements, expected 6 for view [1,3,2]');
      expect(() => softmaxBackwardRange(x, x, 1, 3, 2, x, 2, 1)).to.throw('softmaxBackwardRange: line range [2, 1) is not within [0, 2]');
      expect(() => softmaxForward([1, 2] as unknown as Float32Array, 1, 2, 1)).to.throw('softmaxForward: x must be a Float32Array or Float64Array');
    });
  });

  describe('crossEntropy', () => {
    const L = [0, ln(3)]; // p = [1/4, 3/4]
    const nll1 = -ln(3 / 4), nll0 = ln(4);

    for (const dt of DTYPES) {
      it(`computes hand-checked losses for every reduction, weights, ignoreIndex and label smoothing (${dt})`, () => {
        const r = dt === 'float64' ? 1e-15 : 2e-7;
        const logits = arr(dt, [...L, ...L]);
        const t = Int32Array.from([0, 1]);
        const ce = (opts: CrossEntropyOptions, target = t): number[] => Array.from(crossEntropyForward(logits, 2, 2, target, opts).loss);
        expectClose(ce({}), [(nll0 + nll1) / 2], r, 0);
        expectClose(ce({ reduction: 'sum' }), [nll0 + nll1], r, 0);
        expectClose(ce({ reduction: 'none' }), [nll0, nll1], r, 0);
        // Weighted mean divides by the weights of the targets: (2·nll0 + 1·nll1) / (2 + 1).
        const weight = arr(dt, [2, 1]);
        expectClose(ce({ weight }), [(2 * nll0 + nll1) / 3], r, 0);
        expectClose(ce({ weight, reduction: 'none' }), [2 * nll0, nll1], r, 0);
        // Ignored samples count for nothing, not even in the denominator.
        expectClose(ce({}, Int32Array.from([-100, 1])), [nll1], r, 0);
        expectClose(ce({ ignoreIndex: 0 }), [nll1], r, 0);
        expectClose(ce({ ignoreIndex: 0, reduction: 'none' }), [0, nll1], r, 0);
        expectClose(ce({ weight, ignoreIndex: 1 }), [(2 * nll0) / 2], r, 0);
        // Label smoothing ε: (1 − ε)·nll + ε/C·Σ_c −w[c]·logp[c].
        const eps = 0.1, sm = -ln(1 / 4) - ln(3 / 4);
        expectClose(ce({ labelSmoothing: eps, reduction: 'none' }), [(1 - eps) * nll0 + (eps / 2) * sm, (1 - eps) * nll1 + (eps / 2) * sm], r, 0);
        const wsm = -2 * ln(1 / 4) - 1 * ln(3 / 4);
        expectClose(ce({ labelSmoothing: 0.2, weight, ignoreIndex: 1 }), [(0.8 * 2 * nll0 + 0.1 * wsm) / 2], r, 0);
        expectClose(ce({ labelSmoothing: 1, reduction: 'sum' }), [2 * (sm / 2)], r, 0);
      });
    }

    it('mean over only ignored samples is NaN as in PyTorch; sum is 0; gradients are 0', () => {
      const logits = arr('float64', [...L, ...L]), t = Int32Array.from([-100, -100]);
      expect(Number.isNaN(crossEntropyForward(logits, 2, 2, t).loss[0])).to.equal(true);
      expect(crossEntropyForward(logits, 2, 2, t, { reduction: 'sum' }).loss[0]).to.equal(0);
      const { logProb } = crossEntropyForward(logits, 2, 2, t);
      expect(Array.from(crossEntropyBackward(1, logProb, 2, 2, t))).to.deep.equal([0, 0, 0, 0]);
    });

    it("'mean' with zero total target weight follows PyTorch's separate nll and smoothing divisions", () => {
      // PyTorch 1.13: loss = (1 − ε)·(Σ nll / W) + ε/C·(Σ smooth / W). With W = Σ w[t_n] = 0 the
      // nll part is 0/0 = NaN when the targets' weights are 0, so the loss is NaN (not +∞), and
      // nll_loss_backward writes w[t]·(−g/W) = 0·(−∞) = NaN, which log_softmax_backward spreads
      // over each non-ignored row; ignored rows stay 0.
      const logits = arr('float64', [...L, ...L, ...L]), weight = arr('float64', [0, 1]);
      const t = Int32Array.from([0, 0, -100]);
      for (const eps of [0, 0.2]) {
        const opts = { weight, labelSmoothing: eps };
        const { loss, logProb } = crossEntropyForward(logits, 3, 2, t, opts);
        expect(Number.isNaN(loss[0]), `eps ${eps}: loss ${loss[0]}`).to.equal(true);
        const g = Array.from(crossEntropyBackward(1, logProb, 3, 2, t, opts));
        expect(g.slice(0, 4).every(Number.isNaN), `eps ${eps}: ${g}`).to.equal(true);
        expect(g.slice(4)).to.deep.equal([0, 0]);
      }
      // Weights that cancel (1 − 1 = 0): Σ nll = −logp[0][0] + logp[1][1] = ln 4 + ln(3/4) = ln 3 and
      // the smoothing sum Σ_n −(logp[n][0] − logp[n][1]) = 2·ln 3 are both positive, so the loss is
      // +∞ with or without smoothing. Without smoothing the gradient is log_softmax_backward of
      // gy = [−∞, 0] and [0, +∞]: row 0 [−∞ − ¼·(−∞), 0 − ¾·(−∞)] = [NaN, +∞], row 1 [−∞, NaN].
      const t2 = Int32Array.from([0, 1]), w2 = arr('float64', [1, -1]);
      const r2 = crossEntropyForward(logits.subarray(0, 4), 2, 2, t2, { weight: w2 });
      expect(r2.loss[0]).to.equal(Infinity);
      expect(crossEntropyForward(logits.subarray(0, 4), 2, 2, t2, { weight: w2, labelSmoothing: 0.2 }).loss[0]).to.equal(Infinity);
      expect(Array.from(crossEntropyBackward(1, r2.logProb, 2, 2, t2, { weight: w2 }))).to.deep.equal([NaN, Infinity, -Infinity, NaN]);
      // With smoothing each row's gy holds −∞ and +∞, so its sum and the whole gradient are NaN.
      const g2 = crossEntropyBackward(1, r2.logProb, 2, 2, t2, { weight: w2, labelSmoothing: 0.2 });
      expect(Array.from(g2).every(Number.isNaN)).to.equal(true);
      // The row-range entry point agrees.
      const gR = new Float64Array(4);
      crossEntropyBackwardRange(1, r2.logProb, 2, 2, t2, { weight: w2 }, gR, 1, 2);
      expect(Array.from(gR)).to.deep.equal([0, 0, -Infinity, NaN]);
    });

    it('an ignored row whose log-softmax is NaN gets a NaN gradient, as PyTorch', () => {
      // PyTorch: nll_loss_backward leaves the ignored row's gy = 0, then log_softmax_backward gives
      // gy − exp(logp)·Σ gy = 0 − NaN·0 = NaN for a row with a NaN or +∞ logit or all −∞; a
      // finite or −∞ log-probability still gets 0.
      const logits = arr('float64', [NaN, 0, Infinity, 1, -Infinity, -Infinity, -Infinity, 0, 0, ln(3)]);
      const t = Int32Array.from([-100, -100, -100, -100, 1]);
      for (const opts of [{}, { labelSmoothing: 0.2 }, { reduction: 'sum' as const }]) {
        const { loss, logProb } = crossEntropyForward(logits, 5, 2, t, opts);
        expect(Number.isFinite(loss[0]), JSON.stringify(opts)).to.equal(true); // ignored rows add 0
        const g = Array.from(crossEntropyBackward(1, logProb, 5, 2, t, opts));
        expect(g.slice(0, 6).every(Number.isNaN), `${JSON.stringify(opts)}: ${g}`).to.equal(true);
        expect(g.slice(6, 8), JSON.stringify(opts)).to.deep.equal([0, 0]); // logp = [−∞, 0]
        expect(g.slice(8).every(Number.isFinite)).to.equal(true);
      }
      // The zero-total-weight path (all samples ignored) agrees.
      const all = Int32Array.from([-100, -100, -100, -100, -100]);
      const { logProb } = crossEntropyForward(logits, 5, 2, all);
      const g = Array.from(crossEntropyBackward(1, logProb, 5, 2, all));
      expect(g.slice(0, 6).every(Number.isNaN)).to.equal(true);
      expect(g.slice(6)).to.deep.equal([0, 0, 0, 0]);
    });

    it('returns the log-softmax of the logits as logProb', () => {
      const { logProb } = crossEntropyForward(arr('float64', [...L, 1000, -1000]), 2, 2, Int32Array.from([0, 1]));
      expectClose(logProb, [ln(1 / 4), ln(3 / 4), 0, -2000], 1e-15, 0);
    });

    it('stays finite for logits of ±1000', () => {
      for (const dt of DTYPES) {
        const logits = arr(dt, [1000, -1000, -1000, 1000]), t = Int32Array.from([1, 1]);
        const { loss, logProb } = crossEntropyForward(logits, 2, 2, t);
        expectClose(loss, [1000], 0, 0); // (2000 + 0) / 2
        const g = crossEntropyBackward(1, logProb, 2, 2, t);
        expectClose(g, [0.5, -0.5, 0, 0], 0, 0);
        const s = crossEntropyForward(logits, 2, 2, t, { labelSmoothing: 0.5, reduction: 'none' }).loss;
        // Row 0: 0.5·2000 + 0.25·(0 + 2000); row 1: 0.5·0 + 0.25·(2000 + 0).
        expectClose(s, [1500, 500], 0, 0);
      }
    });

    it('backward is softmax minus the smoothed one-hot, scaled by the reduction', () => {
      const lp = arr('float64', [ln(1 / 4), ln(3 / 4)]), t = Int32Array.from([1]);
      expectClose(crossEntropyBackward(1, lp, 1, 2, t), [1 / 4, -1 / 4], 1e-15, 0);
      expectClose(crossEntropyBackward(2, lp, 1, 2, t, { reduction: 'sum' }), [1 / 2, -1 / 2], 1e-15, 0);
      // ε = 0.1, C = 2: target distribution [0.05, 0.95].
      expectClose(crossEntropyBackward(1, lp, 1, 2, t, { labelSmoothing: 0.1 }), [0.25 - 0.05, 0.75 - 0.95], 1e-15, 0);
      // Mean of two samples with weights [2, 1]: row n scaled by w[t_n] / (w[t_0] + w[t_1]).
      const lp2 = arr('float64', [ln(1 / 4), ln(3 / 4), ln(1 / 4), ln(3 / 4)]);
      const g = crossEntropyBackward(arr('float64', [3]), lp2, 2, 2, Int32Array.from([0, 1]), { weight: arr('float64', [2, 1]) });
      expectClose(g, [3 * (2 / 3) * (1 / 4 - 1), 3 * (2 / 3) * (3 / 4), 3 * (1 / 3) * (1 / 4), 3 * (1 / 3) * (3 / 4 - 1)], 1e-15, 0);
      expectClose(crossEntropyBackward(arr('float64', [2, -1]), lp2, 2, 2, Int32Array.from([1, 0]), { reduction: 'none' }), [2 * (1 / 4), 2 * (3 / 4 - 1), -(1 / 4 - 1), -(3 / 4)], 1e-15, 0);
    });

    const optionCombos = (rng: Random, C: number, dt: DType): CrossEntropyOptions[] => {
      const combos: CrossEntropyOptions[] = [];
      for (const reduction of ['mean', 'sum', 'none'] as Reduction[])
        for (const labelSmoothing of [0, 0.3])
          for (const weighted of [false, true]) {
            const opts: CrossEntropyOptions = { reduction, labelSmoothing };
            if (weighted) {
              const w = allocate(dt, C);
              for (let c = 0; c < C; c++) w[c] = 0.1 + rng.uniform();
              opts.weight = w;
            }
            if (rng.bernoulli(0.5)) opts.ignoreIndex = rng.integer(0, C);
            combos.push(opts);
          }
      return combos;
    };

    const randomTargets = (rng: Random, N: number, C: number, ignoreIndex: number): Int32Array => {
      const t = new Int32Array(N);
      for (let n = 0; n < N; n++) t[n] = rng.bernoulli(0.15) ? ignoreIndex : rng.integer(0, C);
      // At least one sample counts (when any class is not the ignore index), so 'mean' is finite.
      const counted = Array.from({ length: C }, (_, c) => c).filter((c) => c !== ignoreIndex);
      if (N > 0 && counted.length > 0) t[0] = counted[rng.integer(0, counted.length)];
      return t;
    };

    it('matches the composite reference on random inputs and all option combinations, for both dtypes', () => {
      const rng = new Random(51);
      for (let trial = 0; trial < 25; trial++) {
        const N = rng.integer(1, 9), C = rng.integer(1, 12), scale = rng.bernoulli(0.2) ? 200 : 3;
        for (const dt of DTYPES) {
          for (const opts of optionCombos(rng, C, dt)) {
            const target = randomTargets(rng, N, C, opts.ignoreIndex ?? -100);
            const logits = randArr(rng, dt, N * C, scale);
            const tag = `${dt} N=${N} C=${C} ${JSON.stringify({ ...opts, weight: opts.weight ? Array.from(opts.weight) : undefined })}`;
            const fast = crossEntropyForward(logits, N, C, target, opts);
            const ref = crossEntropyForwardReference(logits, N, C, target, opts);
            expectClose(fast.logProb, ref.logProb, ...tol(dt, ref.logProb), `${tag} logProb`);
            // The fast loss sums the stored float32 log-probabilities; every term −w·q·logp is >= 0, so
            // their roundings (6e-8 relative each) plus the final one stay within a few 1e-7 relative.
            const lossTol: [number, number] = dt === 'float64' ? tol(dt, ref.loss) : [5e-7, 0];
            expectClose(fast.loss, ref.loss, ...lossTol, `${tag} loss`);
            const gl = opts.reduction === 'none' ? randArr(rng, dt, N) : arr(dt, [rng.normal()]);
            const g = crossEntropyBackward(gl, fast.logProb, N, C, target, opts);
            const gRef = crossEntropyBackwardReference(gl, fast.logProb, N, C, target, opts);
            expectClose(g, gRef, ...tol(dt, gRef, gl), `${tag} gLogits`);
          }
        }
      }
    });

    it('backward agrees with central differences of the reference forward (float64)', () => {
      const rng = new Random(53);
      const N = 4, C = 5;
      for (const opts of optionCombos(rng, C, 'float64')) {
        const target = randomTargets(rng, N, C, opts.ignoreIndex ?? -100);
        const x = randArr(rng, 'float64', N * C, 2) as Float64Array;
        const gl = opts.reduction === 'none' ? randArr(rng, 'float64', N) : arr('float64', [0.7]);
        const num = numericGrad((v) => dot(gl, crossEntropyForwardReference(v, N, C, target, opts).loss), x);
        const { logProb } = crossEntropyForward(x, N, C, target, opts);
        expectClose(crossEntropyBackward(gl, logProb, N, C, target, opts), num, 1e-6, 1e-8, JSON.stringify({ ...opts, weight: undefined }));
      }
    });

    it('gives bit-identical row losses, logProb and gradients however the rows are split', () => {
      const rng = new Random(57);
      for (let trial = 0; trial < 20; trial++) {
        const N = rng.integer(1, 12), C = rng.integer(1, 8);
        for (const opts of optionCombos(rng, C, 'float32')) {
          const target = randomTargets(rng, N, C, opts.ignoreIndex ?? -100);
          const logits = randArr(rng, 'float32', N * C, 3);
          const whole = crossEntropyForward(logits, N, C, target, { ...opts, reduction: 'none' });
          const lp = nanFilled('float32', N * C), rowLoss = new Float64Array(N).fill(NaN);
          for (const [a, b] of randomChunks(rng, N)) crossEntropyForwardRange(logits, N, C, target, opts, lp, rowLoss, a, b);
          expect(Array.from(lp)).to.deep.equal(Array.from(whole.logProb));
          expect(Array.from(Float32Array.from(rowLoss))).to.deep.equal(Array.from(whole.loss));
          const gl = opts.reduction === 'none' ? randArr(rng, 'float32', N) : 1.5;
          const g = crossEntropyBackward(gl, whole.logProb, N, C, target, opts);
          const gp = nanFilled('float32', N * C);
          for (const [a, b] of randomChunks(rng, N)) crossEntropyBackwardRange(gl, whole.logProb, N, C, target, opts, gp, a, b);
          expect(Array.from(gp)).to.deep.equal(Array.from(g));
        }
      }
    });

    it('names the offending target, and validates options, shapes and lengths', () => {
      const logits = new Float32Array(8), lp = new Float32Array(8);
      expect(() => crossEntropyForward(logits, 2, 4, Int32Array.from([1, 7])))
        .to.throw('crossEntropyForward: target[1] = 7 is out of bounds for 4 classes (ignoreIndex -100)');
      expect(() => crossEntropyForward(logits, 2, 4, Int32Array.from([-1, 0])))
        .to.throw('crossEntropyForward: target[0] = -1 is out of bounds for 4 classes (ignoreIndex -100)');
      expect(() => crossEntropyBackward(1, lp, 2, 4, Int32Array.from([4, 0]), { reduction: 'sum' }))
        .to.throw('crossEntropyBackward: target[0] = 4 is out of bounds for 4 classes (ignoreIndex -100)');
      expect(() => crossEntropyForwardRange(logits, 2, 4, Int32Array.from([0, 9]), {}, lp, new Float64Array(2), 1, 2))
        .to.throw('crossEntropyForwardRange: target[1] = 9 is out of bounds for 4 classes');
      expect(() => crossEntropyForward(logits, 2, 4, Int32Array.from([0]))).to.throw('crossEntropyForward: target has 1 entries, expected 2 for logits [2,4]');
      expect(() => crossEntropyForward(logits, 2, 4, [0, 1] as unknown as Int32Array)).to.throw('crossEntropyForward: target must be an Int32Array of class indices');
      expect(() => crossEntropyForward(logits, 4, 4, new Int32Array(4))).to.throw('crossEntropyForward: logits has 8 elements, expected 16 for logits [4,4]');
      expect(() => crossEntropyForward(logits, 2, 4, new Int32Array(2), { labelSmoothing: 1.5 })).to.throw('crossEntropyForward: labelSmoothing must be between 0.0 and 1.0, got 1.5');
      expect(() => crossEntropyForward(logits, 2, 4, new Int32Array(2), { labelSmoothing: -0.1 })).to.throw('crossEntropyForward: labelSmoothing must be between 0.0 and 1.0, got -0.1');
      expect(() => crossEntropyForward(logits, 2, 4, new Int32Array(2), { reduction: 'avg' as Reduction })).to.throw(`crossEntropyForward: reduction must be 'mean', 'sum' or 'none', got "avg"`);
      expect(() => crossEntropyForward(logits, 2, 4, new Int32Array(2), { weight: new Float32Array(3) }))
        .to.throw('crossEntropyForward: weight should be defined for all 4 classes or no classes, got 3 weights');
      expect(() => crossEntropyForward(logits, 2, 4, new Int32Array(2), { ignoreIndex: 0.5 })).to.throw('crossEntropyForward: ignoreIndex must be an integer, got 0.5');
      expect(() => crossEntropyForward(logits, 8, 0, new Int32Array(8))).to.throw('crossEntropyForward: expected a non-negative integer N and a positive integer C, got logits [8,0]');
      expect(() => crossEntropyBackward(1, lp, 2, 4, new Int32Array(2), { reduction: 'none' }))
        .to.throw(`crossEntropyBackward: reduction 'none' needs one upstream gradient per sample (2), got a scalar`);
      expect(() => crossEntropyBackward(new Float32Array(2), lp, 2, 4, new Int32Array(2)))
        .to.throw(`crossEntropyBackward: gLoss has 2 elements, expected 1 for reduction 'mean' and logits [2,4]`);
      expect(() => crossEntropyBackward(new Float32Array(1), lp, 2, 4, new Int32Array(2), { reduction: 'none' }))
        .to.throw(`crossEntropyBackward: gLoss has 1 elements, expected 2 for reduction 'none' and logits [2,4]`);
      expect(() => crossEntropyBackward(1, new Float32Array(7), 2, 4, new Int32Array(2))).to.throw('crossEntropyBackward: logProb has 7 elements, expected 8 for logits [2,4]');
      expect(() => crossEntropyBackwardRange(1, lp, 2, 4, new Int32Array(2), {}, new Float32Array(8), 0, 3)).to.throw('crossEntropyBackwardRange: line range [0, 3) is not within [0, 2]');
      expect(() => crossEntropyBackwardRange(1, lp, 2, 4, new Int32Array(2), {}, new Float32Array(4), 0, 2)).to.throw('crossEntropyBackwardRange: gLogits has 4 elements, expected 8 for logits [2,4]');
      expect(() => crossEntropyForwardRange(logits, 2, 4, new Int32Array(2), {}, lp, new Float64Array(3), 0, 2))
        .to.throw('crossEntropyForwardRange: rowLoss must be a Float64Array of 2 elements, got 3 elements');
    });
  });
});
