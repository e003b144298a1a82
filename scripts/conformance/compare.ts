/**
 * The reference sets' acceptance rule: a tensor passes when
 *   max |actual − expected| ≤ atol + rtol · max |expected|.
 * Comparison is done in float64 whatever dtype the run used.
 */
import type { Tolerance } from './manifest';

export interface ArrayData {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

export type CheckStatus = 'PASS' | 'FAIL' | 'SKIPPED';

export interface TensorCheck {
  /** The expected tensor's name in the case file (`out.output`, `grad.model.fc.weight`, ...). */
  name: string;
  status: CheckStatus;
  /** max |actual − expected|; Infinity for a shape mismatch or a NaN/∞ where the reference has none. */
  maxAbsError: number;
  /** atol + rtol · max |expected|. */
  allowed: number;
  maxAbsExpected: number;
  /** maxAbsError / max |expected| (0 when both are 0, Infinity when only the reference is all zeros). */
  relError: number;
  /** Why the tensor failed or was skipped; '' for a plain pass. */
  detail: string;
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

export function compareTensor(name: string, actual: ArrayData, expected: ArrayData, tol: Tolerance): TensorCheck {
  let maxAbsExpected = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const e = Math.abs(expected.data[i]);
    if (e > maxAbsExpected && Number.isFinite(e)) maxAbsExpected = e;
  }
  const allowed = tol.atol + tol.rtol * maxAbsExpected;
  const sameShape = actual.shape.length === expected.shape.length && actual.shape.every((d, i) => d === expected.shape[i]);
  if (!sameShape || actual.data.length !== expected.data.length) {
    return {
      name, status: 'FAIL', maxAbsError: Infinity, allowed, maxAbsExpected, relError: Infinity,
      detail: `shape ${fmtShape(actual.shape)} but the reference has ${fmtShape(expected.shape)}`,
    };
  }
  let maxAbsError = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i], e = expected.data[i];
    // Equal non-finite values (−∞ from a pool over padding, NaN from 0/0) agree with the reference.
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const d = Math.abs(a - e);
    const err = Number.isNaN(d) ? Infinity : d;
    if (err > maxAbsError) {
      maxAbsError = err;
      worstAt = i;
    }
  }
  const relError = maxAbsExpected > 0 ? maxAbsError / maxAbsExpected : maxAbsError === 0 ? 0 : Infinity;
  const pass = maxAbsError <= allowed;
  const detail = pass ? '' : `worst at flat index ${worstAt} of ${fmtShape(expected.shape)}: actual ${actual.data[worstAt]}, expected ${expected.data[worstAt]}`;
  return { name, status: pass ? 'PASS' : 'FAIL', maxAbsError, allowed, maxAbsExpected, relError, detail };
}

export function skipped(name: string, reason: string): TensorCheck {
  return { name, status: 'SKIPPED', maxAbsError: NaN, allowed: NaN, maxAbsExpected: NaN, relError: NaN, detail: reason };
}
