/**
 * Special functions the elementwise kernels need and JavaScript's Math lacks: erf (torch.erf, the
 * exact GELU) and its inverse erfinv (nn.init.truncNormal_'s inverse-CDF draw; method at erfinv).
 * Scalar functions over doubles; a float32 caller rounds the result once on store.
 *
 * erf(x), odd in x, accurate to a few units in the last place of a double over the whole line
 * (tests/lib/kernels/special.test.ts measures it against the series evaluated in 400-bit fixed
 * point), from two textbook formulas:
 *
 * - |x| < 0.5: the Maclaurin series erf(x) = 2/√π · Σ_m (−1)^m x^(2m+1) / (m!·(2m+1)) (Abramowitz &
 *   Stegun 7.1.5), 14 terms by Horner in x² (the first omitted term is below 2.5e−18 of the sum).
 *   Alternating, but at |x| < 0.5 the sum of the terms' magnitudes is within 1.2× of the result.
 * - 0.5 ≤ |x| < 6: the Taylor series about the nearest c = k/8 (|h| = ||x| − c| ≤ 1/16):
 *   erf(c + h) = erf(c) + 2/√π · e^(−c²) · Σ_n (−1)^n H_n(c) h^(n+1) / (n+1)!, since the (n+1)th
 *   derivative of erf is 2/√π · (−1)^n H_n(x) e^(−x²) (A&S 7.1.19, H_n the physicists' Hermite
 *   polynomials, H_(n+1) = 2c·H_n − 2n·H_(n−1)). 14 terms (Cramér's bound |H_n(c)| ≤ 1.09·2^(n/2)·√(n!)·
 *   e^(c²/2) puts the first omitted one below 1e−19). erf(c) is the table ERF_AT_EIGHTHS, correctly
 *   rounded (computed by the Maclaurin series in 400-bit fixed point; the test recomputes every entry);
 *   the sum is at most 0.11 of erf(c) there, so its rounding errors reach the result scaled down.
 * - |x| ≥ 6: ±1 (erfc(x) < 2^−54 from x ≈ 5.92 on, so 1 is erf(x) correctly rounded). erf(±∞) = ±1,
 *   erf(NaN) = NaN, erf(−0) = −0.
 *
 * Cost: 14 multiply-adds and a table lookup per element.
 */

/** 2/√π, correctly rounded. */
export const TWO_OVER_SQRT_PI = 1.1283791670955126;

const TERMS = 14;

/** erf(k/8) for k = 0..48, correctly rounded (k < 4 are not read by erf; kept so the index is k). */
export const ERF_AT_EIGHTHS: readonly number[] = [
  0, 0.14031620480133380, 0.27632639016823696, 0.40411690943482231, 0.52049987781304652, 0.62324088218841800,
  0.71115563365351508, 0.78407506105985969, 0.84270079294971489, 0.88838823170170778, 0.92290012825645829,
  0.94817007278209031, 0.96610514647531076, 0.97844373323998368, 0.98667167121918242, 0.99199005767011994,
  0.99532226501895271, 0.99734597064051767, 0.99853728341331882, 0.99921706178210890, 0.99959304798255499,
  0.99979462426385879, 0.99989937807788032, 0.99995214516025621, 0.99997790950300136, 0.99999010326537474,
  0.99999569722053627, 0.99999818471857260, 0.99999925690162761, 0.99999970485980749, 0.99999988627274339,
  0.99999995748605597, 0.99999998458274209, 0.99999999457659916, 0.99999999814942586, 0.99999999938751671,
  0.99999999980338394, 0.99999999993878386, 0.99999999998151490, 0.99999999999458655, 0.99999999999846256,
  0.99999999999957656, 0.99999999999988687, 0.99999999999997069, 0.99999999999999267, 0.99999999999999822,
  0.99999999999999956, 0.99999999999999989, 1,
];

/** Maclaurin coefficients in x²: 2/√π · (−1)^m / (m!·(2m+1)). */
const MACLAURIN = new Float64Array(TERMS);
/** Taylor coefficients about k/8, TERMS per k: 2/√π · e^(−c²) · (−1)^n H_n(c) / (n+1)!. */
const TAYLOR = new Float64Array(ERF_AT_EIGHTHS.length * TERMS);
{
  let fact = 1;
  for (let m = 0; m < TERMS; m++) {
    if (m > 0) fact *= m;
    MACLAURIN[m] = ((m % 2 === 0 ? 1 : -1) * TWO_OVER_SQRT_PI) / (fact * (2 * m + 1));
  }
  for (let k = 0; k < ERF_AT_EIGHTHS.length; k++) {
    const c = k / 8;
    const scale = TWO_OVER_SQRT_PI * Math.exp(-c * c);
    let hPrev = 0, h = 1, nFact = 1; // H_(n−1), H_n, (n+1)!
    for (let n = 0; n < TERMS; n++) {
      nFact *= n + 1;
      TAYLOR[k * TERMS + n] = ((n % 2 === 0 ? 1 : -1) * scale * h) / nFact;
      const next = 2 * c * h - 2 * n * hPrev;
      hPrev = h;
      h = next;
    }
  }
}

/** The error function, 2/√π ∫₀ˣ e^(−t²) dt (see the header for the method and its accuracy). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.5) {
    const z = x * x;
    let p = MACLAURIN[TERMS - 1];
    for (let m = TERMS - 2; m >= 0; m--) p = p * z + MACLAURIN[m];
    return x * p; // keeps the sign of ±0
  }
  if (!(ax < 6)) return x !== x ? x : x > 0 ? 1 : -1;
  const k = Math.round(ax * 8);
  const h = ax - k / 8; // exact: |h| ≤ 1/16 and k/8 ≥ 0.5 are within a factor 2 of ax (Sterbenz)
  const base = k * TERMS;
  let p = TAYLOR[base + TERMS - 1];
  for (let n = TERMS - 2; n >= 0; n--) p = p * h + TAYLOR[base + n];
  const r = ERF_AT_EIGHTHS[k] + h * p;
  return x < 0 ? -r : r;
}

/**
 * The inverse error function (torch.erfinv): erf(erfinv(y)) = y on (−1, 1); erfinv(±1) = ±∞, NaN for
 * |y| > 1 or NaN, erfinv(−0) = −0.
 *
 * Start from Giles' single-precision approximation ("Approximating the erfinv function", GPU Computing
 * Gems Jade, 2011: a polynomial in w = −ln(1 − y²) fitted for float32, relative error about 4e−7, and
 * much worse past the float range, |y| > 1 − 6e−8), then refine with Newton steps on erf above:
 * x ← x − (erf(x) − y) / (2/√π · e^(−x²)). Near the root the error squares each step (the constant is
 * |erf''/2erf'| = |x|), so two steps reach double precision; in the far tail, where the start is poor,
 * erf's concavity makes the steps approach the root from one side, so a few more get there. Stepping
 * stops when the residual |erf(x) − y| stops shrinking (at most 8 steps) and the best iterate is kept.
 * Accuracy (tests/lib/kernels/special.test.ts, against the 400-bit erf of tests/support): |erf(erfinv(y))
 * − y| ≤ 2.3e−16 over (−1, 1), the last ulps below ±1 included; erfinv(erf(x)) is within 2 ulps of x
 * plus ulp(y)/erf'(x), the spread a double y leaves (x to a few ulps where erf is steep; ~1e−14 at
 * |x| = 2.3, where a double y pins x no closer).
 */
export function erfinv(y: number): number {
  if (y === 0 || y !== y) return y; // ±0 keeps its sign; NaN stays NaN
  const ay = Math.abs(y);
  if (ay >= 1) return ay === 1 ? (y > 0 ? Infinity : -Infinity) : NaN;
  let w = -Math.log((1 - y) * (1 + y));
  let p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  let x = p * y;
  let r = erf(x) - y;
  let best = x, bestR = Math.abs(r);
  for (let step = 0; step < 8 && r !== 0; step++) {
    x -= r / (TWO_OVER_SQRT_PI * Math.exp(-x * x));
    r = erf(x) - y;
    if (!(Math.abs(r) < bestR)) break; // no progress: rounding level reached
    best = x;
    bestR = Math.abs(r);
  }
  return best;
}
