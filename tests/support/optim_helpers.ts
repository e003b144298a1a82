/**
 * Helpers shared by the optimizer tests in tests/lib/optim: parameters from plain numbers, and
 * comparisons against hand-computed values. Not a spec file: mocha only runs the *.test.ts files
 * under tests/.
 */
import { expect } from 'chai';
import { DType, FloatArray } from '../../lib/core/dtype';
import { Parameter } from '../../lib/optim/optimizer';

export const DTYPES: readonly DType[] = ['float32', 'float64'];

function arr(dtype: DType, values: readonly number[]): FloatArray {
  return dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
}

/** A parameter of `dtype` holding `data`, with gradient `grad` (none if null). */
export function param(dtype: DType, data: readonly number[], grad: readonly number[] | null = null): Parameter {
  return { data: arr(dtype, data), grad: grad ? { data: arr(dtype, grad) } : null };
}

/** Replaces p's gradient by `values`, in p's dtype. */
export function setGrad(p: Parameter, values: readonly number[]): void {
  p.grad = { data: arr(p.data instanceof Float64Array ? 'float64' : 'float32', values) };
}

/**
 * Float64 results must match the hand-computed value to 1e-12 relative (torch-level agreement);
 * float32 results to a few float32 ulps, since storage rounds each stored value to float32.
 */
export function expectClose(actual: ArrayLike<number>, expected: readonly number[], dtype: DType, what = ''): void {
  expect(actual.length, `${what} length`).to.equal(expected.length);
  const rtol = dtype === 'float64' ? 1e-12 : 1e-6;
  const atol = dtype === 'float64' ? 1e-15 : 1e-7;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = Math.abs(a - e) <= atol + rtol * Math.abs(e);
    expect(ok, `${what}[${i}]: got ${a}, expected ${e}`).to.equal(true);
  }
}

/** |actual − expected| <= 1e-15 + rtol·|expected|. */
export function expectScalarClose(actual: number, expected: number, rtol = 1e-12, what = ''): void {
  const ok = Math.abs(actual - expected) <= 1e-15 + rtol * Math.abs(expected);
  expect(ok, `${what}: got ${actual}, expected ${expected}`).to.equal(true);
}
