/**
 * Gradient clipping with torch.nn.utils semantics: clip_grad_norm_ and clip_grad_value_.
 * Both scale or clamp `param.grad.data` in place and skip parameters whose grad is null.
 */
import { FloatArray } from '../core/dtype';
import { fail, fmtValue } from '../core/errors';
import { isFloatArray, isRecord, liveGradData, Parameter, requireBoolean } from './optimizer';

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or ±Infinity instead of scaling by it (default false). */
  errorIfNonfinite?: boolean;
}

function collectGrads(op: string, params: Iterable<Parameter> | Parameter): FloatArray[] {
  // One tensor stands for itself, as torch's clip_grad_*_ accept a single Tensor.
  if (isRecord(params) && !(Symbol.iterator in params) && 'data' in params && 'grad' in params) params = [params as Parameter];
  if (params === null || typeof params !== 'object' || !(Symbol.iterator in params)) {
    fail(op, `params must be an array (or iterable) of parameters, got ${fmtValue(params)}`);
  }
  const grads: FloatArray[] = [];
  let k = 0;
  for (const p of params) {
    if (!isRecord(p)) fail(op, `parameter ${k} must be an object with data and grad, got ${fmtValue(p)}`);
    const g = p.grad;
    if (g !== null && g !== undefined) {
      if (!isFloatArray(g.data)) fail(op, `the grad of parameter ${k} has no Float32Array/Float64Array data`);
      grads.push(liveGradData(op, g, `parameter ${k}`));
    }
    k++;
  }
  return grads;
}

/** ‖g‖_p of one array, accumulated in double; NaN anywhere gives NaN, as in torch. */
function vectorNorm(g: ArrayLike<number>, p: number): number {
  const n = g.length;
  if (p === Infinity) {
    let m = 0;
    for (let i = 0; i < n; i++) {
      const a = Math.abs(g[i]);
      if (a > m || a !== a) m = a;
      if (m !== m) return NaN;
    }
    return m;
  }
  let s = 0;
  if (p === 2) {
    for (let i = 0; i < n; i++) s += g[i] * g[i];
    return Math.sqrt(s);
  }
  if (p === 1) {
    for (let i = 0; i < n; i++) s += Math.abs(g[i]);
    return s;
  }
  for (let i = 0; i < n; i++) s += Math.abs(g[i]) ** p;
  return s ** (1 / p);
}

/**
 * torch.nn.utils.clip_grad_norm_: the total norm is the p-norm of the per-parameter p-norms (the
 * max for `normType = Infinity`); every grad is multiplied by min(1, maxNorm / (total + 1e-6)).
 * Returns the total norm before clipping (0 when no parameter has a grad). A non-finite total is
 * used as is (grads become NaN) unless `errorIfNonfinite` is set.
 *
 * Norms are accumulated in double whatever the grads' dtype (torch's CPU reductions accumulate
 * float32 in double too, then round the result to float32). Cost: two passes over the grads.
 */
export function clipGradNorm(
  params: Iterable<Parameter> | Parameter,
  maxNorm: number,
  normType = 2,
  options: ClipGradNormOptions = {},
): number {
  const op = 'clipGradNorm';
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0) {
    fail(op, `maxNorm must be a non-negative number, got ${fmtValue(maxNorm)}`);
  }
  if (typeof normType !== 'number' || Number.isNaN(normType) || normType <= 0) {
    fail(op, `normType must be a positive number or Infinity, got ${fmtValue(normType)}`);
  }
  if (!isRecord(options)) fail(op, `options must be an object, got ${fmtValue(options)}`);
  for (const key of Object.keys(options)) {
    if (key !== 'errorIfNonfinite') fail(op, `unknown option '${key}'`);
  }
  const errorIfNonfinite = options.errorIfNonfinite ?? false;
  requireBoolean(op, 'errorIfNonfinite', errorIfNonfinite);

  const grads = collectGrads(op, params);
  if (grads.length === 0) return 0;
  const norms = grads.map((g) => vectorNorm(g, normType));
  const total = vectorNorm(norms, normType);
  if (errorIfNonfinite && !Number.isFinite(total)) {
    fail(
      op,
      `the total norm of order ${normType} of the gradients is ${total}, so it cannot be clipped; ` +
        'set errorIfNonfinite to false to scale the gradients by the non-finite norm anyway',
    );
  }
  // torch evaluates max_norm / (total + 1e-6) as reciprocal(total + 1e-6) * max_norm (Tensor.__rtruediv__).
  const coef = (1 / (total + 1e-6)) * maxNorm;
  // Math.min keeps a NaN coefficient, as torch.clamp(max=1) does.
  const clamped = Math.min(coef, 1);
  if (clamped !== 1) {
    for (const g of grads) {
      for (let i = 0; i < g.length; i++) g[i] = g[i] * clamped;
    }
  }
  return total;
}

/** torch.nn.utils.clip_grad_value_: clamps every grad element to [−clipValue, clipValue]; NaN stays NaN. */
export function clipGradValue(params: Iterable<Parameter> | Parameter, clipValue: number): void {
  const op = 'clipGradValue';
  if (typeof clipValue !== 'number' || Number.isNaN(clipValue) || clipValue < 0) {
    fail(op, `clipValue must be a non-negative number, got ${fmtValue(clipValue)}`);
  }
  const lo = -clipValue;
  for (const g of collectGrads(op, params)) {
    for (let i = 0; i < g.length; i++) {
      const v = g[i];
      if (v > clipValue) g[i] = clipValue;
      else if (v < lo) g[i] = lo;
    }
  }
}
