/**
 * Reference tensor ops for the optimizer tests: each torch op the update rules of torch/optim/*.py
 * call, over plain number arrays, with its result rounded to the dtype as a torch tensor of that
 * dtype stores it (float32: Math.fround per op; float64: no rounding beyond double's own) and its
 * scalar arguments cast to the dtype as torch's kernels cast them. Inside an op the arithmetic is
 * double, so for float32 this differs from torch's kernels (and from tsgrad) only by rounding
 * inside an op: a float32-rounding tolerance covers it. Not a spec file.
 */
import type { DType } from '../../lib/core/dtype';

export type Vec = number[];

export interface RefOps {
  /** Rounds a value to the dtype (a tensor store). */
  r(v: number): number;
  neg(a: Vec): Vec;
  /** a + alpha·b (torch.add(a, b, alpha=alpha)) */
  add(a: Vec, b: Vec, alpha?: number): Vec;
  /** a·c (a.mul(c) with a Python scalar) */
  mul(a: Vec, c: number): Vec;
  /** a + c (a.add(c) with a Python scalar) */
  addScalar(a: Vec, c: number): Vec;
  /** a + value·t1·t2 */
  addcmul(a: Vec, t1: Vec, t2: Vec, value?: number): Vec;
  /** a + value·t1/t2 */
  addcdiv(a: Vec, t1: Vec, t2: Vec, value?: number): Vec;
  sqrt(a: Vec): Vec;
}

export function refOps(dtype: DType): RefOps {
  const r = dtype === 'float32' ? Math.fround : (v: number): number => v;
  return {
    r,
    neg: (a) => a.map((x) => -x),
    add: (a, b, alpha = 1) => a.map((x, i) => r(x + r(alpha) * b[i])),
    mul: (a, c) => a.map((x) => r(x * r(c))),
    addScalar: (a, c) => a.map((x) => r(x + r(c))),
    addcmul: (a, t1, t2, value = 1) => a.map((x, i) => r(x + r(value) * t1[i] * t2[i])),
    addcdiv: (a, t1, t2, value = 1) => a.map((x, i) => r(x + (r(value) * t1[i]) / t2[i])),
    sqrt: (a) => a.map((x) => r(Math.sqrt(x))),
  };
}

/**
 * Float32 results against the float32 reference: within `ulps` units in the last place, the
 * rounding inside ops that the reference does not reproduce, accumulated over the steps compared.
 * The unit is the float32 ulp of max(|expected|, scale[i]): an update p + Δ makes its rounding error
 * at the size of the values it adds, so a parameter that has moved from −0.75 towards 0 carries
 * errors the size of −0.75's ulps (pass the starting values as `scale`).
 */
export function within32(actual: ArrayLike<number>, expected: readonly number[], ulps: number, what = '', scale?: readonly number[]): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const m = Math.max(Math.abs(e), scale ? Math.abs(scale[i]) : 0);
    const ulp = m === 0 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(m)) - 23);
    const d = Math.abs(actual[i] - e);
    if (!(d <= ulps * ulp)) {
      throw new Error(`${what}[${i}]: got ${actual[i]}, expected ${e} (off by ${(d / ulp).toFixed(2)} ulps, allowed ${ulps})`);
    }
  }
}
