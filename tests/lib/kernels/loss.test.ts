/**
 * The nll pick kernels (lib/kernels/loss.ts nllLossForward / nllLossBackward) against float64
 * loops written here from torch 1.13's nll_loss formulas over the [B, C, S] layout: loss at
 * position p = b·S + s is −w[t]·x[(b·C + t)·S + s], 0 where t is the ignore value; 'mean' divides
 * the sum by Σ w[t] over the kept positions; the input gradient is −w[t]·γ at the picked element,
 * zero elsewhere. Per-position values are one product, so they are compared bit for bit (a float32
 * product of two float32 values is exact in float64, and one rounding gives the kernel's value);
 * sums are compared within the rounding error of their summation order (see each test).
 */
import { expect } from 'chai';
import { allocate, type DType, type FloatArray } from '../../../lib/core/dtype';
import { nllLossBackward, nllLossForward, type NllGeometry, type NllPick, type NllReduction } from '../../../lib/kernels/loss';
import { Random } from '../../../lib/random';

const rng = new Random(20260604);
const EPS: Record<DType, number> = { float32: 2 ** -24, float64: 2 ** -53 };
const round = (dtype: DType) => (dtype === 'float32' ? Math.fround : (v: number) => v);

/** [C], [N, C] and K = 1, 2, 3 ([2, 3, 10, 9]: 180 positions, more than one 128-position block). */
const SHAPES = [[5], [6, 4], [3, 5, 7], [2, 3, 10, 9], [2, 4, 3, 2, 5]];

function geometry(shape: number[]): NllGeometry {
  if (shape.length === 1) return { B: 1, C: shape[0], S: 1 };
  return { B: shape[0], C: shape[1], S: shape.slice(2).reduce((a, b) => a * b, 1) };
}

function randomArray(dtype: DType, n: number, fn: (u: number) => number = (u) => u): FloatArray {
  const a = allocate(dtype, n);
  for (let i = 0; i < n; i++) a[i] = fn(rng.normal());
  return a;
}

/** Targets in [0, C), about a fifth of them set to `ignore` (which may itself be a class). */
function randomTargets(P: number, C: number, ignore: number): Int32Array {
  return Int32Array.from({ length: P }, () => (rng.uniform() < 0.2 ? ignore : rng.integer(0, C)));
}

/** The float64 loop: exact per-position losses (float64 products of the stored values), their running sum and Σ w. */
function reference(x: FloatArray, g: NllGeometry, pick: NllPick): { per: number[]; sum: number; abs: number; W: number } {
  const per: number[] = [];
  let sum = 0, abs = 0, W = 0;
  for (let b = 0; b < g.B; b++) {
    for (let s = 0; s < g.S; s++) {
      const t = pick.target[b * g.S + s];
      if (t === pick.ignore) { per.push(0); continue; }
      const w = pick.weight ? pick.weight[t] : 1;
      const l = -w * x[(b * g.C + t) * g.S + s];
      per.push(l);
      sum += l;
      abs += Math.abs(l);
      W += w;
    }
  }
  return { per, sum, abs, W };
}

function cases(dtype: DType): Array<{ shape: number[]; x: FloatArray; g: NllGeometry; pick: NllPick; what: string }> {
  const out = [];
  for (const shape of SHAPES) {
    const g = geometry(shape);
    for (const ignore of [-100, 2]) {
      for (const weighted of [false, true]) {
        const x = randomArray(dtype, g.B * g.C * g.S);
        const pick = { target: randomTargets(g.B * g.S, g.C, ignore), ignore, weight: weighted ? randomArray(dtype, g.C, (u) => 0.25 + Math.abs(u)) : null };
        out.push({ shape, x, g, pick, what: `${dtype} [${shape}] ignore ${ignore}${weighted ? ' weighted' : ''}` });
      }
    }
  }
  return out;
}

describe('lib/kernels/loss: nllLossForward (the class-index pick of nll_loss)', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    it(`${dtype}: none is −w[t]·x[b, t, s] per position bit for bit (0 where ignored), for [C], [N, C] and K = 1, 2, 3, with weights and ignore values`, () => {
      for (const { x, g, pick, what } of cases(dtype)) {
        const { loss, total } = nllLossForward(x, g, pick, 'none');
        const ref = reference(x, g, pick);
        expect(loss).to.be.instanceOf(dtype === 'float32' ? Float32Array : Float64Array);
        expect(Array.from(loss), what).to.deep.equal(ref.per.map(round(dtype)));
        expect(total, what).to.equal(ref.W);
      }
    });

    it(`${dtype}: sum and mean match the float64 loop within the rounding of the summation, mean = sum / Σ w over the kept targets`, () => {
      for (const { x, g, pick, what } of cases(dtype)) {
        const ref = reference(x, g, pick);
        const P = g.B * g.S;
        // float32: each loss rounded once (≤ ε·|l|) and the double sum rounded once (≤ ε·|Σ|);
        // float64: pairwise blocks instead of one running sum, each side off by ≤ P·ε·Σ|l|.
        const sumTol = dtype === 'float32' ? EPS.float32 * (ref.abs + Math.abs(ref.sum)) : 2 * P * EPS.float64 * ref.abs;
        const s = nllLossForward(x, g, pick, 'sum');
        expect(s.loss.length).to.equal(1);
        expect(Math.abs(s.loss[0] - ref.sum), `${what} sum ${s.loss[0]} vs ${ref.sum}`).to.be.at.most(sumTol);
        if (dtype === 'float64' && P <= 128) expect(s.loss[0], `${what}: one block sums in position order`).to.equal(ref.sum);
        const m = nllLossForward(x, g, pick, 'mean');
        const e = ref.sum / ref.W;
        if (ref.W === 0) {
          expect(Number.isNaN(m.loss[0]), `${what}: every target ignored, 0/0`).to.equal(true);
          continue;
        }
        // The rounded sum over the rounded Σ w (exact here up to ε·W), then the quotient's rounding.
        const meanTol = sumTol / ref.W + 3 * EPS[dtype] * Math.abs(e);
        expect(Math.abs(m.loss[0] - e), `${what} mean ${m.loss[0]} vs ${e}`).to.be.at.most(meanTol);
        expect(m.total, what).to.equal(ref.W);
      }
    });
  }

  it('mean with every target ignored, or no positions, is NaN (torch: 0/0), sum 0; none of no positions is empty', () => {
    const x = Float64Array.from([0.5, -1, 2, 3, -4, 5]);
    const g = { B: 2, C: 3, S: 1 };
    const pick = { target: Int32Array.from([-100, -100]), ignore: -100, weight: null };
    expect(Number.isNaN(nllLossForward(x, g, pick, 'mean').loss[0])).to.equal(true);
    expect(nllLossForward(x, g, pick, 'sum').loss[0]).to.equal(0);
    const empty = { B: 2, C: 3, S: 0 };
    const none = { target: new Int32Array(0), ignore: -100, weight: null };
    expect(Number.isNaN(nllLossForward(new Float32Array(0), empty, none, 'mean').loss[0])).to.equal(true);
    expect(nllLossForward(new Float32Array(0), empty, none, 'none').loss.length).to.equal(0);
  });

  it('a picked −0 gives +0 and a picked −∞ gives +∞ (torch\'s −input·w); −∞ of other classes is never read', () => {
    const x = Float64Array.from([-0, -Infinity, -Infinity, -Infinity, -Infinity, -0.25]);
    const { loss } = nllLossForward(x, { B: 2, C: 3, S: 1 }, { target: Int32Array.from([0, 2]), ignore: -100, weight: null }, 'none');
    expect(Object.is(loss[0], 0)).to.equal(true);
    expect(loss[1]).to.equal(0.25);
    const inf = nllLossForward(x, { B: 2, C: 3, S: 1 }, { target: Int32Array.from([1, -100]), ignore: -100, weight: null }, 'sum');
    expect(inf.loss[0]).to.equal(Infinity);
  });

  it('an out-of-range class (not the ignore value) fails naming the op, the position and the value, for every reduction and in the backward', () => {
    const g = { B: 2, C: 3, S: 4 };
    const x = new Float32Array(24);
    for (const [bad, v] of [[5, 3], [6, -1], [7, 1 << 30]]) {
      const target = Int32Array.from([0, 1, 2, -100, 0, 1, 2, 0]);
      target[bad] = v;
      const pick = { target, ignore: -100, weight: null };
      const b = Math.floor(bad / 4), s = bad % 4;
      const msg = `target at position ${bad} ([b, s] = [${b}, ${s}] of [2, 4]) = ${v} is out of range for 3 classes`;
      for (const reduction of ['none', 'sum', 'mean'] as NllReduction[]) {
        expect(() => nllLossForward(x, g, pick, reduction)).to.throw(`nllLossForward: ${msg}`);
      }
      expect(() => nllLossBackward(new Float32Array(8), g, pick, 'none', 1, 'float32')).to.throw(`nllLossBackward: ${msg}`);
      expect(() => nllLossBackward(1, g, pick, 'mean', 1, 'float32')).to.throw(`nllLossBackward: ${msg}`);
    }
  });

  it('mismatched lengths and arguments fail naming the op', () => {
    const g = { B: 2, C: 3, S: 4 };
    const pick = { target: new Int32Array(8), ignore: -100, weight: null };
    expect(() => nllLossForward(new Float32Array(23), g, pick, 'sum')).to.throw('nllLossForward: input has 23 elements, expected B·C·S = 2·3·4 = 24');
    expect(() => nllLossForward(new Float32Array(24), g, { ...pick, target: new Int32Array(7) }, 'sum')).to.throw('nllLossForward: target has 7 elements, expected B·S = 2·4 = 8');
    expect(() => nllLossForward(new Float32Array(24), g, { ...pick, weight: new Float32Array(2) }, 'sum')).to.throw('nllLossForward: weight has 2 elements, expected C = 3');
    expect(() => nllLossForward(new Float32Array(24), g, { ...pick, target: [0, 0, 0, 0, 0, 0, 0, 0] as unknown as Int32Array }, 'sum')).to.throw('nllLossForward: target must be an Int32Array');
    expect(() => nllLossForward(new Float32Array(24), g, pick, 'avg' as NllReduction)).to.throw("nllLossForward: reduction must be 'none', 'mean' or 'sum', got avg");
    expect(() => nllLossBackward(new Float32Array(3), g, pick, 'none', 1, 'float32')).to.throw("nllLossBackward: the 'none' gradient must be an array of the 8 positions, got 3 elements");
    expect(() => nllLossBackward(new Float32Array(1), g, pick, 'sum', 1, 'float32')).to.throw("nllLossBackward: the 'sum' gradient must be a number, got 1 elements");
  });
});

describe('lib/kernels/loss: nllLossBackward (the scatter of −w[t]·grad into the picked class)', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    it(`${dtype}: −w[t]·γ at [b, t, s] for each kept position, zero elsewhere, bit for bit, for every reduction`, () => {
      const r = round(dtype);
      for (const { x, g, pick, what } of cases(dtype)) {
        const P = g.B * g.S;
        const { W } = reference(x, g, pick);
        const gNone = randomArray(dtype, P);
        const gScalar = r(0.75 + rng.uniform());
        for (const reduction of ['none', 'sum', 'mean'] as NllReduction[]) {
          // γ: the upstream value, over Σ w for the mean (both in the dtype, as the loss's own ops round).
          const gamma = (p: number): number => (reduction === 'none' ? gNone[p] : reduction === 'sum' ? gScalar : r(gScalar / r(W)));
          const expected = new Array<number>(g.B * g.C * g.S).fill(0);
          for (let b = 0; b < g.B; b++) {
            for (let s = 0; s < g.S; s++) {
              const p = b * g.S + s, t = pick.target[p];
              if (t === pick.ignore) continue;
              expected[(b * g.C + t) * g.S + s] = r(-(pick.weight ? pick.weight[t] : 1) * gamma(p));
            }
          }
          const gx = nllLossBackward(reduction === 'none' ? gNone : gScalar, g, pick, reduction, W, dtype);
          expect(gx).to.be.instanceOf(dtype === 'float32' ? Float32Array : Float64Array);
          expect(Array.from(gx), `${what} ${reduction}`).to.deep.equal(expected);
        }
      }
    });
  }
});
