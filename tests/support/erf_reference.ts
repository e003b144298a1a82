/**
 * An independent erf for tests: the Maclaurin series 2/√π·Σ (−1)^n x^(2n+1)/(n!·(2n+1)) summed in
 * 400-bit fixed point with BigInt, π from Machin's formula and √π by integer Newton steps, so the
 * cancellation between the series' large terms (up to ~1e15 at |x| = 6) costs nothing visible.
 * The result is rounded once to the nearest double (Number of a BigInt rounds to nearest).
 */
const S = 400n;
const ONE = 1n << S;
const SCALE = 2 ** 400;

/** atan(1/n)·2^S. */
function atanInv(n: number): bigint {
  const nn = BigInt(n) * BigInt(n);
  let sum = 0n;
  let term = ONE / BigInt(n);
  for (let k = 0n; term !== 0n; k++) {
    const t = term / (2n * k + 1n);
    sum += k % 2n === 0n ? t : -t;
    term /= nn;
  }
  return sum;
}

function isqrt(v: bigint): bigint {
  let x = 1n << (BigInt(v.toString(2).length) / 2n + 1n);
  for (;;) {
    const y = (x + v / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

const PI = 16n * atanInv(5) - 4n * atanInv(239);
const TWO_OVER_SQRT_PI = (2n * ONE * ONE) / isqrt(PI << S);

/** 2/√π correctly rounded to a double. */
export const twoOverSqrtPiRef = Number(TWO_OVER_SQRT_PI) / SCALE;

/**
 * erf(x) correctly rounded (to within the 2^−400 fixed-point error) for finite x whose last bit is
 * at least 2^−400 (|x| ≥ 2^−347 or 0) and |x| ≤ 30; the caller handles the rest.
 */
export function erfReference(x: number): number {
  if (x === 0) return x;
  if (!(Math.abs(x) <= 30) || !Number.isInteger(x * SCALE)) throw new Error(`erfReference: ${x} is outside what the fixed point holds exactly`);
  const X = BigInt(x * SCALE);
  const X2 = (X * X) >> S;
  let T = X; // x^(2n+1)/n!
  let sum = 0n;
  for (let n = 0n; T !== 0n; n++) {
    const t = T / (2n * n + 1n);
    sum += n % 2n === 0n ? t : -t;
    T = ((T * X2) >> S) / (n + 1n);
  }
  return Number((TWO_OVER_SQRT_PI * sum) >> S) / SCALE;
}
