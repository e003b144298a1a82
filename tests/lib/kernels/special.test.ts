import { expect } from 'chai';
import { unary } from '../../../lib/kernels/elementwise';
import { ERF_AT_EIGHTHS, TWO_OVER_SQRT_PI, erf, erfinv } from '../../../lib/kernels/special';
import { Random } from '../../../lib/random';
import { erfReference, twoOverSqrtPiRef } from '../../support/erf_reference';

const rng = new Random(24);

/** |a − e| / |e|, 0 when both are equal (signed zeros included). */
function relErr(a: number, e: number): number {
  return a === e ? 0 : Math.abs(a - e) / Math.abs(e);
}

describe('lib/kernels/special: erf', () => {
  it('its constants: 2/√π and erf(k/8) for k = 0..48 are the correctly rounded values', () => {
    expect(TWO_OVER_SQRT_PI).to.equal(twoOverSqrtPiRef);
    expect(ERF_AT_EIGHTHS.length).to.equal(49);
    ERF_AT_EIGHTHS.forEach((v, k) => expect(v, `erf(${k}/8)`).to.equal(erfReference(k / 8)));
  });

  it('is within 1e-15 relative of the 400-bit series on a grid over [-6, 6], at the formula seams and at random points', () => {
    const xs: number[] = [];
    for (let i = -1200; i <= 1200; i += 3) xs.push(i / 200 + 1e-7 * (i % 5)); // a grid over [-6, 6], off the table's centres
    for (let k = 4; k <= 48; k++) xs.push(k / 8, k / 8 + 1 / 16, k / 8 - 1 / 16, k / 8 + 1 / 16 - 2 ** -50); // centres and seams
    xs.push(0.5, 0.5 - 2 ** -53, 6 - 2 ** -50, 1e-3, -1e-5, 0.25, 2 ** -30);
    for (let i = 0; i < 300; i++) xs.push((rng.uniform() * 2 - 1) * 6);
    let worst = 0;
    let at = 0;
    for (const x of xs) {
      const e = relErr(erf(x), erfReference(x));
      if (e > worst) { worst = e; at = x; }
    }
    expect(worst, `worst relative error ${worst} at x = ${at}`).to.be.below(1e-15);
  });

  it('is odd: erf(−x) = −erf(x) exactly', () => {
    for (let i = 0; i < 200; i++) {
      const x = rng.uniform() * 7;
      expect(erf(-x)).to.equal(-erf(x));
    }
  });

  it('gives ±1 at ±∞ and from |x| = 6 on, NaN at NaN, and keeps the sign of ±0', () => {
    expect(erf(Infinity)).to.equal(1);
    expect(erf(-Infinity)).to.equal(-1);
    expect(Number.isNaN(erf(NaN))).to.equal(true);
    expect(Object.is(erf(0), 0)).to.equal(true);
    expect(Object.is(erf(-0), -0)).to.equal(true);
    for (const x of [6, 7.5, 30, 1e10, Number.MAX_VALUE]) {
      expect(erf(x), `erf(${x})`).to.equal(1);
      expect(erf(-x), `erf(${-x})`).to.equal(-1);
    }
    // Below 6, where erfc(x) < 2^-54 (x ≳ 5.92) the correctly rounded value is already 1.
    expect(erfReference(5.95)).to.equal(1);
    expect(erf(5.95)).to.equal(1);
    expect(erf(5.9)).to.equal(erfReference(5.9));
    expect(erf(5.9)).to.be.below(1);
    expect(erf(5.5)).to.equal(erfReference(5.5));
    expect(erf(5.5)).to.be.below(1);
  });

  it('is 2x/√π for tiny x (the series beyond its first term is below half an ulp), subnormals included', () => {
    for (const x of [1e-9, -3e-12, 1e-200, 2 ** -1060, -5e-324]) {
      const e = twoOverSqrtPiRef * x;
      expect(relErr(erf(x), e), `erf(${x})`).to.be.at.most(x > 1e-300 || x < -1e-300 ? 2.3e-16 : Math.abs(5e-324 / e));
    }
  });
});

describe('lib/kernels/elementwise: expm1, log1p, erf', () => {
  const xs = [0, -0, 1e-10, -1e-12, 0.3, -0.7, 2, 30, -30, 710, -Infinity, Infinity, NaN];

  for (const dtype of ['float64', 'float32'] as const) {
    it(`apply Math.expm1, Math.log1p and erf per element, rounded once to ${dtype}`, () => {
      const make = (n: number) => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
      const src = make(xs.length + 2);
      src.set(xs, 2); // an offset into the input
      const round = (v: number) => (dtype === 'float32' ? Math.fround(v) : v);
      const cases: Array<['expm1' | 'log1p' | 'erf', (v: number) => number]> = [
        ['expm1', Math.expm1], ['log1p', Math.log1p], ['erf', (v) => (Number.isFinite(v) && Math.abs(v) < 30 ? erfReference(v) : erf(v))],
      ];
      for (const [op, f] of cases) {
        const out = make(xs.length);
        unary(op, src, 2, out, xs.length);
        xs.forEach((_, i) => {
          const e = round(f(src[2 + i]));
          if (Number.isNaN(e)) expect(Number.isNaN(out[i]), `${op}(${src[2 + i]})`).to.equal(true);
          else if (op === 'erf') expect(relErr(out[i], e), `${op}(${src[2 + i]})`).to.be.at.most(dtype === 'float32' ? 0 : 1e-15);
          else expect(Object.is(out[i], e), `${op}(${src[2 + i]}): ${out[i]} vs ${e}`).to.equal(true);
        });
      }
    });
  }
});

describe('lib/kernels/special: erfinv', () => {
  it('round-trips through the 400-bit erf to within 1e-15 over (-1, 1), the last ulps below 1 included', () => {
    const ys: number[] = [];
    for (let i = -9999; i <= 9999; i += 7) ys.push(i / 10000 + 3e-9 * (i % 3));
    for (let k = 1; k <= 64; k++) ys.push(1 - k * 2 ** -53, -1 + k * 2 ** -53); // erfinv ≈ 5.4 .. 5.9
    ys.push(1 - 1e-12, 1 - 1e-9, 1 - 1e-6, 0.999, 0.5, 1e-3, 1e-10, 2 ** -60);
    for (let i = 0; i < 300; i++) ys.push(rng.uniform() * 2 - 1);
    let worst = 0;
    let at = 0;
    for (const y of ys) {
      const x = erfinv(y);
      expect(Number.isFinite(x), `erfinv(${y}) = ${x}`).to.equal(true);
      const e = Math.abs(erfReference(x) - y);
      if (e > worst) { worst = e; at = y; }
    }
    expect(worst, `worst |erf(erfinv(y)) − y| ${worst} at y = ${at}`).to.be.below(1e-15);
  });

  it('inverts erf: erfinv(erf(x)) = x to the conditioning a double y allows (ulp(y) / erf\'(x))', () => {
    // Where erf is steep the answer is determined to a few ulps of x; in the tail a double y pins x
    // only to about ulp(y) / erf'(x), so the tolerance is 2 ulps of x plus that spread.
    let worst = 0;
    for (let i = -480; i <= 480; i++) {
      const x = i / 100 + 1e-9;
      const y = erf(x);
      const slope = TWO_OVER_SQRT_PI * Math.exp(-x * x);
      const tol = 2 * 2 ** -52 * Math.abs(x) + (Math.max(Math.abs(y), 2 ** -1022) * 2 ** -52) / slope;
      const e = Math.abs(erfinv(y) - x) / tol;
      worst = Math.max(worst, e);
    }
    expect(worst).to.be.at.most(1);
  });

  it('gives the normal quantiles: √2·erfinv(2p − 1) = Φ⁻¹(p) (published 16-digit values)', () => {
    expect(erfinv(0.5)).to.be.closeTo(0.47693627620446987, 2e-16); // the "probable error" constant ρ
    expect(Math.SQRT2 * erfinv(2 * 0.975 - 1)).to.be.closeTo(1.959963984540054, 4e-15);
    expect(Math.SQRT2 * erfinv(2 * 0.95 - 1)).to.be.closeTo(1.6448536269514722, 4e-15);
    expect(Math.SQRT2 * erfinv(2 * 0.995 - 1)).to.be.closeTo(2.5758293035489004, 4e-15);
    expect(Math.SQRT2 * erfinv(2 * 0.84134474606854293 - 1)).to.be.closeTo(1, 4e-15); // Φ(1)
  });

  it('is odd, ±∞ at ±1, NaN outside [-1, 1] and at NaN, and keeps the sign of ±0', () => {
    for (let i = 0; i < 200; i++) {
      const y = rng.uniform() * 2 - 1;
      expect(erfinv(-y)).to.equal(-erfinv(y));
    }
    expect(erfinv(1)).to.equal(Infinity);
    expect(erfinv(-1)).to.equal(-Infinity);
    for (const y of [1 + 2 ** -52, -1.5, Infinity, -Infinity, NaN]) expect(Number.isNaN(erfinv(y)), `erfinv(${y})`).to.equal(true);
    expect(Object.is(erfinv(0), 0)).to.equal(true);
    expect(Object.is(erfinv(-0), -0)).to.equal(true);
    // Tiny y: erfinv(y) = y·√π/2 (1 + O(y²)), to the last ulp.
    expect(erfinv(1e-300)).to.be.closeTo(1e-300 / TWO_OVER_SQRT_PI, 1e-315);
  });
});
