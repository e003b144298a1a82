/**
 * Binary cross-entropy on probabilities, elementwise over same-length contiguous arrays, with
 * PyTorch's numerics (aten/src/ATen/native/Loss.cpp): each log is clamped at −100 so a probability
 * of exactly 0 or 1 (a saturated float32 sigmoid) gives a finite loss, and the input gradient
 * divides by max(x·(1 − x), 1e-12) so it stays finite there too. A composite of log and clamp
 * cannot do that: its backward divides the zero gradient of the clamp by x = 0 and gives NaN.
 * Arithmetic in double, one rounding on store. Cost: one pass over the elements.
 */
import { allocate, dtypeOf, type FloatArray } from '../core/dtype';
import { fail } from '../core/errors';

/** torch's EPSILON in binary_cross_entropy_backward. */
const EPS = 1e-12;

function checkLengths(op: string, arrays: Array<[string, FloatArray]>, n: number): void {
  for (const [name, a] of arrays) {
    if (!(a instanceof Float32Array || a instanceof Float64Array)) fail(op, `${name} must be a Float32Array or Float64Array`);
    if (a.length !== n) fail(op, `${name} has ${a.length} elements, expected ${n}`);
  }
}

/** ℓ = −(y·max(log x, −100) + (1 − y)·max(log1p(−x), −100)), in x's dtype. */
export function binaryCrossEntropyForward(x: FloatArray, y: FloatArray): FloatArray {
  const n = x.length;
  checkLengths('binaryCrossEntropyForward', [['x', x], ['y', y]], n);
  const out = allocate(dtypeOf(x), n);
  for (let i = 0; i < n; i++) {
    const xi = x[i], yi = y[i];
    out[i] = (yi - 1) * Math.max(Math.log1p(-xi), -100) - yi * Math.max(Math.log(xi), -100);
  }
  return out;
}

/** d ℓ / d x = g·(x − y) / max(x·(1 − x), 1e-12). */
export function binaryCrossEntropyBackwardInput(g: FloatArray, x: FloatArray, y: FloatArray): FloatArray {
  const n = x.length;
  checkLengths('binaryCrossEntropyBackwardInput', [['g', g], ['x', x], ['y', y]], n);
  const gx = allocate(dtypeOf(x), n);
  for (let i = 0; i < n; i++) gx[i] = (g[i] * (x[i] - y[i])) / Math.max((1 - x[i]) * x[i], EPS);
  return gx;
}

/** d ℓ / d y = −g·logit(x) = g·(log1p(−x) − log x), unclamped as torch's binary_cross_entropy_target_backward. */
export function binaryCrossEntropyBackwardTarget(g: FloatArray, x: FloatArray): FloatArray {
  const n = x.length;
  checkLengths('binaryCrossEntropyBackwardTarget', [['g', g], ['x', x]], n);
  const gy = allocate(dtypeOf(x), n);
  for (let i = 0; i < n; i++) gy[i] = g[i] * (Math.log1p(-x[i]) - Math.log(x[i]));
  return gy;
}
