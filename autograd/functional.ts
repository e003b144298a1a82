/**
 * The functional API: argument validation, then either one table op (apply) or a composite of
 * them. Composites have no backward of their own; their gradients come from the primitives.
 * Every validation error names the op and the offending shapes or values.
 */
import { allocate, isDType, overflowsDtype, type DType, type FloatArray } from '../lib/core/dtype';
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../lib/core/errors';
import { broadcastShape, normalizeAxis, numel, pair, reducedShape, reductionAxes, shapesEqual, single, viewStrides } from '../lib/core/shape';
import * as ew from '../lib/kernels/elementwise';
import { argmaxAxis, argminAxis } from '../lib/kernels/reduce';
import { medianIndices, sortIndices } from '../lib/kernels/sort';
import { conv2dGeometry, convTranspose2dGeometry } from '../lib/kernels/conv2d';
import { pool1dGeometry, pool2dGeometry } from '../lib/kernels/pool';
import * as rs from '../lib/kernels/resample';
import { globalRng, type Random } from '../lib/random';
import { apply } from './apply';
import { broadcastView, dense, fromData } from './kernel_args';
import { Tensor, type TensorLike } from './tensor';
import { checkNormalizedShape, checkPaddingString, clampBounds, embeddingOptions, optionsObject } from './checks';

// ---- helpers ----

function requireTensor(op: string, name: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) fail(op, `${name} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
}

/** Turns numbers into 0-d tensors of the other operand's dtype (numbers never promote a dtype). */
function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') fail(op, 'at least one operand must be a Tensor, got two numbers');
  if (typeof a === 'number') {
    requireTensor(op, 'other', b);
    return [scalarLike(a, b), b];
  }
  requireTensor(op, 'input', a);
  if (typeof b === 'number') return [a, scalarLike(b, a)];
  requireTensor(op, 'other', b);
  return [a, b];
}

function scalarLike(v: number, like: Tensor): Tensor {
  if (typeof v !== 'number') fail('scalar', `expected a number, got ${typeof v}`);
  const t = Tensor.empty([], like.dtype);
  t.storage[0] = v;
  return t;
}

/** `v` if it is a plain array of numbers or a typed array of numbers (not BigInt64Array), else an Error naming what it is. */
function numberArray(op: string, name: string, v: unknown): ArrayLike<number> {
  const typed = ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
  const plain = Array.isArray(v) && v.every((e) => typeof e === 'number');
  if (!typed && !plain) fail(op, `${name} must be a Tensor or an array of numbers, got ${fmtValue(v)}`);
  return v as ArrayLike<number>;
}

function checkBroadcast(op: string, a: Tensor, b: Tensor): void {
  broadcastShape(op, a.shape, b.shape);
}

/**
 * torch's 2-d conv and pool ops take an unbatched [C, H, W] input as a batch of one: `f` of the
 * [1, C, H, W] view, its result without the batch dim (views both ways, so gradients pass through).
 * Other ranks than 3 and 4 are an error here, naming both.
 */
function unbatched(op: string, x: Tensor, f: (x4: Tensor) => Tensor): Tensor {
  if (x.ndim === 4) return f(x);
  if (x.ndim !== 3) fail(op, `expected a 3-d [C, H, W] or 4-d NCHW input, got shape ${fmtShape(x.shape)}`);
  return squeeze(f(unsqueeze(x, 0)), 0);
}

/**
 * A 1-d pool run by its 2-d table op, as torch runs it: `f` of the [N, C, 1, L] view of x (an
 * unbatched [C, L] input as [1, C, 1, L]), its result with those dims removed again (views both ways,
 * so gradients pass through). x's shape was validated by pool1dGeometry.
 */
function pooled1d(x: Tensor, f: (x4: Tensor) => Tensor): Tensor {
  const x4 = x.ndim === 3 ? unsqueeze(x, 2) : unsqueeze(unsqueeze(x, 0), 2);
  const y = squeeze(f(x4), 2);
  return x.ndim === 3 ? y : squeeze(y, 0);
}

/** One dtype for an op's tensors, checked before they are reshaped so the message shows the shapes the caller passed. */
function sameDtype(op: string, named: ReadonlyArray<[string, Tensor | null | undefined]>): void {
  const [n0, t0] = named[0];
  for (const [n, t] of named.slice(1)) {
    if (t && t0 && t.dtype !== t0.dtype) {
      fail(op, `dtype mismatch: ${n0} is ${t0.dtype} ${fmtShape(t0.shape)} but ${n} is ${t.dtype} ${fmtShape(t.shape)}; convert one with .to()`);
    }
  }
}

// ---- elementwise ----

export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('add', a, b);
  checkBroadcast('add', x, y);
  return apply('add', { a: x, b: y }, {});
}

/** a − b = a + (−b). */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('sub', a, b);
  checkBroadcast('sub', x, y);
  return apply('add', { a: x, b: neg(y) }, {});
}

export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('mul', a, b);
  checkBroadcast('mul', x, y);
  return apply('mul', { a: x, b: y }, {});
}

export function div(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('div', a, b);
  checkBroadcast('div', x, y);
  return apply('div', { a: x, b: y }, {});
}

export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('pow', a, b);
  checkBroadcast('pow', x, y);
  return apply('pow', { a: x, b: y }, {});
}

export function maximum(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('maximum', a, b);
  checkBroadcast('maximum', x, y);
  return apply('maximum', { a: x, b: y }, {});
}

export function minimum(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('minimum', a, b);
  checkBroadcast('minimum', x, y);
  return apply('minimum', { a: x, b: y }, {});
}

function unaryOp(op: 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'relu' | 'sigmoid' | 'tanh' | 'expm1' | 'log1p' | 'erf', x: Tensor): Tensor {
  requireTensor(op, 'input', x);
  return apply(op, { x }, {});
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
export const log = (x: Tensor): Tensor => unaryOp('log', x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', x);
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
/** exp(x) − 1, accurate for small |x| (torch.expm1). */
export const expm1 = (x: Tensor): Tensor => unaryOp('expm1', x);
/** log(1 + x), accurate for small |x| (torch.log1p). */
export const log1p = (x: Tensor): Tensor => unaryOp('log1p', x);
/** The error function (torch.erf), to a few units in the last place of a double. */
export const erf = (x: Tensor): Tensor => unaryOp('erf', x);

export function square(x: Tensor): Tensor {
  requireTensor('square', 'input', x);
  return mul(x, x);
}

export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  requireTensor('clamp', 'input', x);
  const [lo, hi] = clampBounds('clamp', x.dtype, min, max);
  return apply('clamp', { x }, { min: lo, max: hi });
}

/** Sign of x (−1, 0, 1; 0 at NaN). Recorded as torch.sign is: its gradient is zero. */
export function sign(x: Tensor): Tensor {
  requireTensor('sign', 'input', x);
  return apply('sign', { x }, {});
}

// ---- comparisons: masks of 0/1 in the inputs' dtype, never differentiable ----

function compare(op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands(op, a, b);
  if (x.dtype !== y.dtype) fail(op, `dtype mismatch: ${x.dtype} ${fmtShape(x.shape)} vs ${y.dtype} ${fmtShape(y.shape)}`);
  const shape = broadcastShape(op, x.shape, y.shape);
  const out = allocate(x.dtype, numel(shape));
  ew.binary(op, shape, broadcastView(x, shape), broadcastView(y, shape), out);
  return fromData(out, shape);
}

export const eq = (a: TensorLike, b: TensorLike): Tensor => compare('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike): Tensor => compare('ne', a, b);
export const lt = (a: TensorLike, b: TensorLike): Tensor => compare('lt', a, b);
export const le = (a: TensorLike, b: TensorLike): Tensor => compare('le', a, b);
export const gt = (a: TensorLike, b: TensorLike): Tensor => compare('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike): Tensor => compare('ge', a, b);

/** condition ? a : b elementwise, broadcasting all three; differentiable in a and b. */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  requireTensor('where', 'condition', condition);
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : condition;
  const x = typeof a === 'number' ? scalarLike(a, like) : a;
  const y = typeof b === 'number' ? scalarLike(b, like) : b;
  requireTensor('where', 'input', x);
  requireTensor('where', 'other', y);
  if (x.dtype !== y.dtype) fail('where', `dtype mismatch: input is ${x.dtype} ${fmtShape(x.shape)} but other is ${y.dtype} ${fmtShape(y.shape)}; convert one with .to()`);
  const cond = condition.dtype === x.dtype ? condition : toDtype(condition.detach(), x.dtype);
  broadcastShape('where', broadcastShape('where', cond.shape, x.shape), y.shape);
  return apply('where', { condition: cond, a: x, b: y }, {});
}

/**
 * torch.masked_fill (out of place): `value` where mask is 1, x elsewhere, x and mask broadcast
 * together (the result has their broadcast shape). The mask holds 0/1 in either dtype (there is no
 * bool dtype; any other value is an error, as torch takes only bool masks). value is a number or a
 * 0-d tensor of x's dtype, which is differentiable then. x's gradient is 0 where filled.
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number | Tensor): Tensor {
  const op = 'maskedFill';
  requireTensor(op, 'input', x);
  requireTensor(op, 'mask', mask);
  const m = mask.data;
  for (let k = 0; k < m.length; k++) {
    if (m[k] !== 0 && m[k] !== 1) fail(op, `mask must hold only 0 and 1 (torch takes a bool mask), but ${position('mask', k, mask.shape)} = ${m[k]}`);
  }
  broadcastShape(op, x.shape, mask.shape);
  if (typeof value === 'number') {
    if (overflowsDtype(value, x.dtype)) fail(op, `value ${value} cannot be converted to ${x.dtype} without overflow`);
  } else {
    requireTensor(op, 'value', value);
    if (value.ndim !== 0) fail(op, `value must be a number or a 0-d tensor, got a tensor of shape ${fmtShape(value.shape)}`);
    if (value.dtype !== x.dtype) fail(op, `value is ${value.dtype} but input is ${x.dtype} ${fmtShape(x.shape)}; convert one with .to()`);
  }
  return where(mask.detach(), value, x);
}

// ---- reductions ----

export function sum(x: Tensor, dim?: number | readonly number[] | null, keepdim = false): Tensor {
  requireTensor('sum', 'input', x);
  return apply('sum', { x }, { axes: reductionAxes('sum', dim, x.ndim), keepdim });
}

/** Mean over dims = sum / count; NaN over an empty dim (0/0, as torch's mean of an empty tensor). */
export function mean(x: Tensor, dim?: number | readonly number[] | null, keepdim = false): Tensor {
  requireTensor('mean', 'input', x);
  const axes = reductionAxes('mean', dim, x.ndim);
  let count = 1;
  for (const a of axes) count *= x.shape[a];
  return div(sum(x, axes, keepdim), count);
}

export interface VarianceOptions {
  /** Subtracted from the element count in the divisor: 1 (the default) is Bessel's correction, 0 the population variance. */
  correction?: number;
  keepdim?: boolean;
}

/**
 * Variance over dims (all by default): Σ(x − mean)² / max(0, N − correction), torch.var(x, dim,
 * correction=1, keepdim=False). One element with correction 1 gives NaN, as in torch. The op `var`:
 * like torch on CPU it sums in double around a float64 mean, so a float32 input with a large mean
 * and a small spread keeps its accuracy (a composite centring on the float32 mean did not). Named
 * `variance` here since `var` is reserved; the Tensor method is `x.var()`.
 */
export function variance(x: Tensor, dim?: number | readonly number[] | null, options?: VarianceOptions | null): Tensor {
  return varianceOp('var', x, dim, options);
}

function varianceOp(op: 'var' | 'std', x: Tensor, dim: number | readonly number[] | undefined | null, options: VarianceOptions | null | undefined): Tensor {
  requireTensor(op, 'input', x);
  if (typeof options === 'boolean') fail(op, `the argument after dim is an options object { correction, keepdim }, got ${options} (torch's unbiased=False is { correction: 0 })`);
  const o = optionsObject(op, options, ['correction', 'keepdim']);
  const correction = o.correction ?? 1;
  const keepdim = o.keepdim ?? false;
  if (typeof correction !== 'number' || !Number.isFinite(correction) || correction < 0) fail(op, `correction must be a non-negative number, got ${fmtValue(correction)}`);
  if (typeof keepdim !== 'boolean') fail(op, `keepdim must be a boolean, got ${fmtValue(keepdim)} (pass it in the options: x.${op}(dim, { keepdim: true }))`);
  const axes = reductionAxes(op, dim, x.ndim);
  let count = 1;
  for (const a of axes) count *= x.shape[a];
  // Over an empty dim torch gives NaN (no elements, so no degrees of freedom): the empty sum times
  // NaN, which keeps the result in the graph (its input has no elements to get a gradient).
  if (count === 0) return mul(sum(x, axes, keepdim), NaN);
  return apply(op, { x }, { axes, keepdim, correction });
}

/**
 * Standard deviation, torch.std: the square root of the variance (computed as variance's, in
 * double). Its gradient is 0 where the result is 0 (a constant slice), as torch's std_backward,
 * where sqrt's chain rule would give 0·∞ = NaN.
 */
export function std(x: Tensor, dim?: number | readonly number[] | null, options?: VarianceOptions | null): Tensor {
  return varianceOp('std', x, dim, options);
}

/** torch.cumsum: the running sum along dim (the table op cumsum: accumulated in float64, its gradient the reversed running sum). */
export function cumsum(x: Tensor, dim: number): Tensor {
  requireTensor('cumsum', 'input', x);
  if (dim === undefined) fail('cumsum', 'dim is required');
  return apply('cumsum', { x }, { dim: normalizeAxis('cumsum', dim, x.ndim) });
}

/**
 * torch.prod: the product of all elements, or along one dim (torch.prod takes a single dim) with
 * keepdim; an empty product is 1. Its gradient is torch's, right where x holds zeros: the product of
 * the other elements (see the table op prod).
 */
export function prod(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  const op = 'prod';
  requireTensor(op, 'input', x);
  if (typeof keepdim !== 'boolean') fail(op, `keepdim must be a boolean, got ${fmtValue(keepdim)}`);
  if (dim === undefined || dim === null) return apply(op, { x }, { dim: null, keepdim });
  if (typeof dim !== 'number') fail(op, `dim must be one integer (torch.prod reduces one dim or all), got ${fmtValue(dim)}`);
  return apply(op, { x }, { dim: normalizeAxis(op, dim, x.ndim), keepdim });
}

/**
 * torch.logsumexp: log Σ exp(x) over dims, computed as m + log Σ exp(x − m) with m the max over
 * those dims (taken as 0 where it is ±∞, as torch: a row of −∞ gives −∞, a row with +∞ gives +∞).
 * m is a constant, so the gradient is exp(x − m) / Σ exp(x − m), the softmax (NaN on a −∞ row, as torch's).
 */
export function logsumexp(x: Tensor, dim: number | readonly number[], keepdim = false): Tensor {
  const op = 'logsumexp';
  requireTensor(op, 'input', x);
  if (dim === undefined || dim === null) fail(op, 'dim is required');
  if (typeof keepdim !== 'boolean') fail(op, `keepdim must be a boolean, got ${fmtValue(keepdim)}`);
  const axes = reductionAxes(op, dim, x.ndim);
  if (x.numel() === 0) return log(sum(exp(x), axes, keepdim));
  const m0 = max(x.detach(), axes, true);
  const m = where(eq(abs(m0), Infinity), 0, m0);
  const shift = keepdim ? m : reshape(m, reducedShape(x.shape, axes, false));
  return add(log(sum(exp(sub(x, m)), axes, keepdim)), shift);
}

/** The orders `norm` takes: any number but NaN (±Infinity included) or 'fro'. */
export type NormOrder = number | 'fro';

/**
 * torch.norm(x, p, dim, keepdim) over dims (all by default), torch 1.13's linalg.vector_norm for a
 * numeric p:
 * - p = 1: Σ|x|; p = 2 (and 'fro', which as torch's takes at most 2 dims): √Σx²; Infinity: max |x|.
 *   Composites; p = 2 takes √ only where Σx² > 0, so its gradient is x/‖x‖ and 0 at an all-zero
 *   input, as torch's norm_backward (the plain √ would give NaN).
 * - −Infinity: min |x|, the same composite with min.
 * - Any other finite p (0.5, 1.5, 3, −1, …): (Σ|x|^p)^(1/p), and for p = 0 the count of nonzeros
 *   (a NaN counts as nonzero, as torch's NormZeroOps), through the table op normP (float64 sums).
 *   A negative p follows the same formula as torch does: a zero in the run makes Σ infinite and the
 *   norm 0; a run of no zeros gives a value below min |x|.
 * - A NaN in a run makes the norm NaN for every p except 0.
 *
 * Gradients are torch 1.13's norm_backward (n the norm):
 * - p = 0: 0 everywhere.
 * - ±Infinity: split evenly among the tied extremes of |x| with their signs; 0 on a run holding a
 *   NaN (the norm is NaN there), as torch's sgn(NaN) = 0 does; a zero extreme gets 0 (sgn(0) = 0).
 * - p < 1, negative p included: sgn(x)·|x|^(p−1)·grad·n^(1−p), 0 where x = 0 (|0|^(p−1) would be
 *   ∞); so where n = 0 (an all-zero run for 0 < p < 1, any zero in the run for p < 0) every entry
 *   gets 0. A NaN entry gives NaN to its whole run (sgn(NaN)·NaN, and n^(1−p) is NaN).
 * - 1 < p < 2: sgn(x)·|x|^(p−1)·grad / n^(p−1); p > 2: x·|x|^(p−2)·grad / n^(p−1); both 0 where
 *   n = 0 (an all-zero run) and NaN on a run holding a NaN.
 * Like torch, a negative p (−Infinity included) and Infinity are refused over an empty dim or on a
 * whole empty tensor (no identity); over dims of nonzero size of an empty tensor they give an empty result.
 * 'nuc' (the nuclear norm, a matrix norm) and any other string are refused, as is a NaN p.
 */
export function norm(x: Tensor, p: NormOrder = 2, dim?: number | readonly number[] | null, keepdim = false): Tensor {
  const op = 'norm';
  requireTensor(op, 'input', x);
  if (p === 'fro') {
    if (Array.isArray(dim) && dim.length > 2) fail(op, `p='fro' takes at most 2 dims, got dims ${fmtValue(dim)} for shape ${fmtShape(x.shape)}`);
  } else if ((p as unknown) === 'nuc') {
    fail(op, `p='nuc' (the nuclear norm) is not supported; p must be a number or 'fro'`);
  } else if (typeof p !== 'number' || Number.isNaN(p)) {
    fail(op, `p must be a number (not NaN) or 'fro', got ${fmtValue(p)}`);
  }
  if (typeof keepdim !== 'boolean') fail(op, `keepdim must be a boolean, got ${fmtValue(keepdim)}`);
  const d = dim === null ? undefined : dim;
  const axes = reductionAxes(op, d, x.ndim);
  if (p === 1) return sum(abs(x), axes, keepdim);
  // torch 1.13's linalg_vector_norm: on an empty tensor a negative or infinite order may reduce only
  // dims of nonzero size (the result is then empty), never the whole tensor.
  const emptyRun = axes.some((a) => x.shape[a] === 0) || (x.numel() === 0 && axes.length === x.ndim);
  if (typeof p === 'number' && p < 0 && emptyRun) {
    fail(op, `cannot take the p=${p} norm over an empty dim or a whole empty tensor (shape ${fmtShape(x.shape)}): a negative order has no identity`);
  }
  if (p === Infinity || p === -Infinity) {
    if (emptyRun) fail(op, `cannot take the Infinity norm over an empty dim (shape ${fmtShape(x.shape)}): the max has no identity`);
    const extreme = p === Infinity ? max : min;
    const a = abs(x);
    // A run holding a NaN: the max's own backward (torch's amax) would spread NaN over the run, where
    // torch's norm_backward gives sgn(x)·mask·grad/count, 0 there (sgn(NaN) = 0). Reduce zeros instead and put the NaN back.
    const m = extreme(a.detach(), axes, keepdim);
    if (!m.data.some((v) => Number.isNaN(v))) return extreme(a, d, keepdim);
    const nanRun = ne(m, m);
    const inner = extreme(where(keepdim ? nanRun : reshape(nanRun, reducedShape(x.shape, axes, true)), 0, a), axes, keepdim);
    return where(nanRun, NaN, inner);
  }
  if (p !== 2 && p !== 'fro') return apply('normP', { x }, { axes, keepdim, p });
  const sq = sum(mul(x, x), axes, keepdim);
  const zero = eq(sq.detach(), 0);
  return where(zero, 0, sqrt(where(zero, 1, sq)));
}

/**
 * Maximum over dims (all by default); among tied maxima the gradient is split evenly (torch.amax).
 * Without dim (undefined or null) it is torch.max(x): a NaN result's gradient goes to the NaNs of x,
 * split evenly.
 */
export function max(x: Tensor, dim?: number | readonly number[] | null, keepdim = false): Tensor {
  requireTensor('max', 'input', x);
  const axes = reductionAxes('max', dim, x.ndim);
  for (const a of axes) if (x.shape[a] === 0) fail('max', `cannot reduce over the empty dim ${a} of shape ${fmtShape(x.shape)}`);
  if (x.numel() === 0 && axes.length === x.ndim) fail('max', `cannot take the max of an empty tensor (shape ${fmtShape(x.shape)})`);
  return apply('max', { x }, { axes, keepdim, all: dim === undefined || dim === null });
}

/** min(x) = −max(−x). */
export function min(x: Tensor, dim?: number | readonly number[] | null, keepdim = false): Tensor {
  requireTensor('min', 'input', x);
  return neg(max(neg(x), dim, keepdim));
}

/**
 * Index of the first maximum (over the flattened tensor when dim is omitted), in x's dtype; a NaN
 * counts as the maximum. Float32 refuses more than 2^24 + 1 candidates (their indices would round).
 */
export function argmax(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argExtreme('argmax', argmaxAxis, x, dim, keepdim);
}

/** Index of the first minimum, as argmax (torch.argmin): a NaN counts as the minimum. */
export function argmin(x: Tensor, dim?: number | null, keepdim = false): Tensor {
  return argExtreme('argmin', argminAxis, x, dim, keepdim);
}

/**
 * Indices take the input's dtype; float32 holds every integer only up to 2^24, so a larger index
 * would come back rounded to a neighbour. Refused instead (torch returns int64).
 */
function checkIndexFits(op: string, x: Tensor, count: number): void {
  if (x.dtype === 'float32' && count - 1 > 2 ** 24) {
    fail(op, `the index ${2 ** 24 + 1} of an element of a float32 tensor of shape ${fmtShape(x.shape)} cannot be stored exactly in float32 ` +
      `(indices take the input's dtype); convert the input with .to('float64')`);
  }
}

function argExtreme(op: 'argmax' | 'argmin', kernel: typeof argmaxAxis, x: Tensor, dim: number | undefined | null, keepdim: boolean): Tensor {
  requireTensor(op, 'input', x);
  if (typeof keepdim !== 'boolean') fail(op, `keepdim must be a boolean, got ${fmtValue(keepdim)}`);
  if (dim === undefined || dim === null) { // torch's dim=None: over the flattened tensor
    if (x.numel() === 0) fail(op, `cannot take the ${op} of an empty tensor (shape ${fmtShape(x.shape)})`);
    checkIndexFits(op, x, x.numel());
    const data = kernel(dense(x), 1, x.numel(), 1);
    return fromData(data, keepdim ? x.shape.map(() => 1) : []);
  }
  const d = normalizeAxis(op, dim, x.ndim);
  const shape = x.ndim === 0 ? [] : x.shape;
  const D = x.ndim === 0 ? 1 : shape[d];
  if (D === 0) fail(op, `cannot take the ${op} over the empty dim ${dim} of shape ${fmtShape(x.shape)}`);
  checkIndexFits(op, x, D);
  let outer = 1, inner = 1;
  for (let i = 0; i < d; i++) outer *= shape[i];
  for (let i = d + 1; i < shape.length; i++) inner *= shape[i];
  const data = kernel(dense(x), outer, D, inner);
  const outShape = shape.filter((_, i) => i !== d);
  if (keepdim && x.ndim > 0) outShape.splice(d, 0, 1);
  return fromData(data, outShape);
}

// ---- ordering: sort, argsort, topk, kthvalue, median ----
// The kernels (lib/kernels/sort.ts) pick indices; the values are x gathered at them through the
// table op, so their gradient is gather's: each value's gradient goes back to the position it came
// from. Indices are whole numbers in x's dtype, as argmax's. Ties keep their original order (a
// stable sort) everywhere; torch guarantees that only for sort(stable=True) and leaves the order of
// ties to its unstable sort, topk and kthvalue, so stable is one of the answers torch may give.

/** The values and indices of sort, topk, kthvalue and median(x, dim): torch's (values, indices) named tuple. */
export interface SortResult {
  values: Tensor;
  indices: Tensor;
}

function checkBoolean(op: string, name: string, v: unknown): void {
  if (typeof v !== 'boolean') fail(op, `${name} must be a boolean, got ${fmtValue(v)}`);
}

type Pick = (data: FloatArray, outer: number, D: number, inner: number, out: FloatArray) => void;

/**
 * Positions of `count` entries per line along dim d, written by `pick` into contiguous
 * [outer, count, inner] data (x's dtype). A 0-d x is one line of one element.
 */
function pickIndices(op: string, x: Tensor, d: number, count: number, pick: Pick): Tensor {
  const shape = x.ndim === 0 ? [1] : x.shape;
  const D = shape[d];
  checkIndexFits(op, x, D);
  let outer = 1, inner = 1;
  for (let i = 0; i < d; i++) outer *= shape[i];
  for (let i = d + 1; i < shape.length; i++) inner *= shape[i];
  const outShape = [...shape];
  outShape[d] = count;
  const data = allocate(x.dtype, outer * count * inner);
  pick(dense(x), outer, D, inner, data);
  return fromData(data, outShape);
}

/** pickIndices and the values gathered at them (differentiable); a 0-d x gives 0-d results. */
function pickAlong(op: string, x: Tensor, d: number, count: number, pick: Pick): SortResult {
  const indices = pickIndices(op, x, d, count, pick);
  const values = apply('gather', { x: atLeast1d(x), index: indices }, { dim: d });
  if (x.ndim > 0) return { values, indices };
  return { values: reshape(values, []), indices: reshape(indices, []) };
}

/** A reduction's result (one entry along d) without that dim unless keepdim, as torch's kthvalue/median. */
function dropDim(r: SortResult, x: Tensor, d: number, keepdim: boolean): SortResult {
  if (keepdim || x.ndim === 0) return r;
  return { values: squeeze(r.values, d), indices: squeeze(r.indices, d) };
}

/**
 * torch.sort: x sorted along dim (the last by default), ascending unless `descending`, with the
 * positions the values came from. A NaN sorts as larger than every number (last ascending, first
 * descending). Always stable, whatever `stable` says (ties keep their order; torch's default
 * unstable sort may order them either way). Values' gradient goes back to where each came from.
 */
export function sort(x: Tensor, dim = -1, descending = false, stable?: boolean | null): SortResult {
  const op = 'sort';
  requireTensor(op, 'input', x);
  checkBoolean(op, 'descending', descending);
  if (stable !== undefined && stable !== null) checkBoolean(op, 'stable', stable);
  const d = normalizeAxis(op, dim, x.ndim);
  const D = x.ndim === 0 ? 1 : x.shape[d];
  return pickAlong(op, x, d, D, (data, outer, n, inner, out) => sortIndices(data, outer, n, inner, descending, 0, n, out));
}

/** torch.argsort: sort(x, dim, descending, stable).indices (whole numbers in x's dtype, not differentiable). */
export function argsort(x: Tensor, dim = -1, descending = false, stable?: boolean | null): Tensor {
  const op = 'argsort';
  requireTensor(op, 'input', x);
  checkBoolean(op, 'descending', descending);
  if (stable !== undefined && stable !== null) checkBoolean(op, 'stable', stable);
  const d = normalizeAxis(op, dim, x.ndim);
  const D = x.ndim === 0 ? 1 : x.shape[d];
  const indices = pickIndices(op, x, d, D, (data, outer, n, inner, out) => sortIndices(data, outer, n, inner, descending, 0, n, out));
  return x.ndim === 0 ? reshape(indices, []) : indices;
}

/**
 * torch.topk: the k largest (or, with largest = false, smallest) entries along dim and their
 * positions, in sorted order (descending for the largest). k in [0, size of dim]. A NaN counts as
 * the largest. Among ties the earlier position comes first. `sorted = false` lets torch return the
 * k entries in any order; they come sorted here too.
 */
export function topk(x: Tensor, k: number, dim = -1, largest = true, sorted = true): SortResult {
  const op = 'topk';
  requireTensor(op, 'input', x);
  checkBoolean(op, 'largest', largest);
  checkBoolean(op, 'sorted', sorted);
  const d = normalizeAxis(op, dim, x.ndim);
  const D = x.ndim === 0 ? 1 : x.shape[d];
  if (!Number.isInteger(k) || k < 0 || k > D) {
    fail(op, `k = ${fmtValue(k)} is out of range for dim ${dim} of size ${D} (input shape ${fmtShape(x.shape)}); expected an integer in [0, ${D}]`);
  }
  // torch: a 0-d input gives its element back, 0-d, for k = 0 as for k = 1.
  const count = x.ndim === 0 ? 1 : k;
  return pickAlong(op, x, d, count, (data, outer, n, inner, out) => sortIndices(data, outer, n, inner, largest, 0, count, out));
}

/**
 * torch.kthvalue: the k-th smallest entry along dim (k from 1) and its position; NaN counts as the
 * largest. Among ties, the position the stable ascending sort puts k-th (torch picks one of them).
 * The dim is dropped unless keepdim.
 */
export function kthvalue(x: Tensor, k: number, dim = -1, keepdim = false): SortResult {
  const op = 'kthvalue';
  requireTensor(op, 'input', x);
  checkBoolean(op, 'keepdim', keepdim);
  const d = normalizeAxis(op, dim, x.ndim);
  if (x.numel() === 0) fail(op, `cannot take the kthvalue of an empty tensor (shape ${fmtShape(x.shape)})`);
  const D = x.ndim === 0 ? 1 : x.shape[d];
  if (!Number.isInteger(k) || k < 1 || k > D) {
    fail(op, `k = ${fmtValue(k)} is out of range for dim ${dim} of size ${D} (input shape ${fmtShape(x.shape)}); expected an integer in [1, ${D}]`);
  }
  const r = pickAlong(op, x, d, 1, (data, outer, n, inner, out) => sortIndices(data, outer, n, inner, false, k - 1, 1, out));
  return dropDim(r, x, d, keepdim);
}

/**
 * torch.median. Without dim: the lower of the two middle values of all elements (a 0-d tensor), NaN
 * if x has a NaN; its gradient is shared evenly by every element equal to it (by the NaNs when it is
 * NaN), as torch's evenly_distribute_backward. With dim: values and positions along dim (dropped
 * unless keepdim): the lower middle value, the first tie in position order (torch's CPU rule), or,
 * for a line holding a NaN, its first NaN; the gradient goes to that position.
 */
export function median(x: Tensor): Tensor;
export function median(x: Tensor, dim: number, keepdim?: boolean): SortResult;
export function median(x: Tensor, dim?: number, keepdim = false): Tensor | SortResult {
  const op = 'median';
  requireTensor(op, 'input', x);
  checkBoolean(op, 'keepdim', keepdim);
  if (dim === undefined || dim === null) {
    if (keepdim) fail(op, 'keepdim needs a dim (median(x) of all elements returns a 0-d tensor)');
    const n = x.numel();
    if (n === 0) fail(op, `cannot take the median of an empty tensor (shape ${fmtShape(x.shape)})`);
    const flat = reshape(x, [n]);
    const data = dense(flat);
    const at = new Float64Array(1);
    medianIndices(data, 1, n, 1, at);
    const m = data[at[0]];
    const ties: number[] = [];
    for (let i = 0; i < n; i++) if (data[i] === m || (m !== m && data[i] !== data[i])) ties.push(i);
    // max of equal values is that value, and max's gradient is split evenly among its ties.
    return max(indexSelect(flat, 0, ties));
  }
  const d = normalizeAxis(op, dim, x.ndim);
  const D = x.ndim === 0 ? 1 : x.shape[d];
  if (D === 0) fail(op, `cannot take the median over the empty dim ${dim} of shape ${fmtShape(x.shape)}`);
  const r = pickAlong(op, x, d, 1, (data, outer, n, inner, out) => medianIndices(data, outer, n, inner, out));
  return dropDim(r, x, d, keepdim);
}

// ---- shape ops ----

function inferShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  if (!Array.isArray(shape as unknown)) fail(op, `shape must be an array of integers, got ${String(shape)}`);
  const out = [...shape];
  let infer = -1;
  let known = 1;
  for (let i = 0; i < out.length; i++) {
    const d = out[i];
    if (d === -1) {
      if (infer >= 0) fail(op, `only one dimension can be -1, got ${fmtShape(shape)}`);
      infer = i;
    } else if (!Number.isInteger(d) || d < 0) {
      fail(op, `invalid shape ${fmtShape(shape)}: dimensions must be non-negative integers or a single -1`);
    } else known *= d;
  }
  const n = x.numel();
  if (infer >= 0) {
    if (known === 0) {
      fail(op, `cannot reshape a tensor of 0 elements (shape ${fmtShape(x.shape)}) into shape ${fmtShape(shape)}: the size of the -1 dim could be any value`);
    }
    if (n % known !== 0) fail(op, `shape ${fmtShape(shape)} is invalid for input of size ${n} (shape ${fmtShape(x.shape)})`);
    out[infer] = n / known;
  } else if (known !== n) {
    fail(op, `shape ${fmtShape(shape)} is invalid for input of size ${n} (shape ${fmtShape(x.shape)})`);
  }
  return out;
}

/** Same elements in a new shape: a view of a contiguous tensor, a copy otherwise. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  requireTensor('reshape', 'input', x);
  const s = inferShape('reshape', x, shape);
  if (shapesEqual(s, x.shape)) return x;
  return apply('reshape', { x }, { shape: s });
}

/**
 * Like reshape, but never copies: the new shape must be expressible with strides over x's memory
 * (always for a contiguous x; for a strided one when no dim that is split or merged spans two
 * separate runs of memory, as torch.view).
 */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  requireTensor('view', 'input', x);
  const s = inferShape('view', x, shape);
  if (!x.isContiguous() && viewStrides(x.shape, x.strides, s) === null) {
    fail('view', `shape ${fmtShape(s)} is not compatible with the input's shape ${fmtShape(x.shape)} and strides ${fmtShape(x.strides)} (a dim to split or merge spans two separate runs of memory); use reshape() (which copies) or contiguous() first`);
  }
  return apply('reshape', { x }, { shape: s });
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  requireTensor('permute', 'input', x);
  if (!Array.isArray(dims as unknown) || dims.length !== x.ndim) {
    fail('permute', `expected ${x.ndim} dims for a tensor of shape ${fmtShape(x.shape)}, got ${JSON.stringify(dims)}`);
  }
  const norm = dims.map((d) => normalizeAxis('permute', d, x.ndim));
  if (new Set(norm).size !== norm.length) fail('permute', `repeated dim in ${fmtShape(dims)}`);
  if (norm.every((d, i) => d === i)) return x;
  return apply('permute', { x }, { dims: norm });
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  requireTensor('transpose', 'input', x);
  if (x.ndim === 0) { normalizeAxis('transpose', dim0, 0); normalizeAxis('transpose', dim1, 0); return x; }
  const a = normalizeAxis('transpose', dim0, x.ndim);
  const b = normalizeAxis('transpose', dim1, x.ndim);
  const dims = x.shape.map((_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  requireTensor('flatten', 'input', x);
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeAxis('flatten', startDim, x.ndim);
  const e = normalizeAxis('flatten', endDim, x.ndim);
  if (s > e) fail('flatten', `startDim ${startDim} comes after endDim ${endDim} for shape ${fmtShape(x.shape)}`);
  let n = 1;
  for (let i = s; i <= e; i++) n *= x.shape[i];
  return reshape(x, [...x.shape.slice(0, s), n, ...x.shape.slice(e + 1)]);
}

/**
 * Splits dim into `sizes` (torch.unflatten): one entry may be -1, inferred from the dim's size; the
 * product must equal the dim's size. A reshape, so a view of a contiguous tensor.
 */
export function unflatten(x: Tensor, dim: number, sizes: readonly number[]): Tensor {
  const op = 'unflatten';
  requireTensor(op, 'input', x);
  if (x.ndim === 0) fail(op, 'cannot unflatten a 0-d tensor');
  const d = normalizeAxis(op, dim, x.ndim);
  if (!Array.isArray(sizes as unknown) || sizes.length === 0 || !sizes.every((v) => Number.isInteger(v) && v >= -1)) {
    fail(op, `sizes must be a non-empty array of integers >= -1, got ${fmtValue(sizes)}`);
  }
  const size = x.shape[d];
  const inferred = sizes.filter((v) => v === -1).length;
  if (inferred > 1) fail(op, `only one of sizes can be -1, got ${fmtShape(sizes)}`);
  const known = sizes.reduce((a, v) => (v === -1 ? a : a * v), 1);
  const fits = inferred === 1 ? known !== 0 && size % known === 0 : known === size;
  if (!fits) fail(op, `sizes ${fmtShape(sizes)} don't multiply up to the size of dim ${dim} (${size}) of the input ${fmtShape(x.shape)}`);
  const full = sizes.map((v) => (v === -1 ? size / known : v));
  return reshape(x, [...x.shape.slice(0, d), ...full, ...x.shape.slice(d + 1)]);
}

/** Removes size-1 dims (all of them, or only `dim` if it has size 1). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  requireTensor('squeeze', 'input', x);
  if (dim === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  if (x.ndim === 0) { normalizeAxis('squeeze', dim, 0); return x; }
  const d = normalizeAxis('squeeze', dim, x.ndim);
  if (x.shape[d] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== d));
}

/** Where a new dim goes among `ndim` dims: in [-(ndim + 1), ndim], negatives counting from the end. */
function insertionAxis(op: string, dim: number, ndim: number, what: string): number {
  if (!Number.isInteger(dim)) fail(op, `dim must be an integer, got ${fmtValue(dim)}`);
  if (dim < -(ndim + 1) || dim > ndim) fail(op, `dim ${dim} out of range for ${what} (expected in [${-(ndim + 1)}, ${ndim}])`);
  return dim < 0 ? dim + ndim + 1 : dim;
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  requireTensor('unsqueeze', 'input', x);
  const d = insertionAxis('unsqueeze', dim, x.ndim, `a ${x.ndim}-d tensor`);
  const s = [...x.shape];
  s.splice(d, 0, 1);
  return reshape(x, s);
}

/** Broadcasts x to `shape` without copying; -1 keeps a dim's size. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  requireTensor('expand', 'input', x);
  if (!Array.isArray(shape as unknown) || shape.length < x.ndim) {
    fail('expand', `the number of sizes provided (${Array.isArray(shape as unknown) ? shape.length : 'none'}) must be >= the number of dims (${x.ndim}) of shape ${fmtShape(x.shape)}`);
  }
  const lead = shape.length - x.ndim;
  const s = shape.map((d, i) => {
    const cur = i >= lead ? x.shape[i - lead] : -2;
    if (d === -1) {
      if (cur === -2) fail('expand', `-1 is not allowed in a new leading dim (target ${fmtShape(shape)})`);
      return cur;
    }
    if (!Number.isInteger(d) || d < 0) fail('expand', `invalid size ${d} in ${fmtShape(shape)}`);
    if (cur !== -2 && cur !== 1 && cur !== d) {
      fail('expand', `cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}: dim ${i} has size ${cur}, not 1`);
    }
    return d;
  });
  if (shapesEqual(s, x.shape)) return x;
  return apply('expand', { x }, { shape: s });
}

/** Elements start, start+step, ... before end along dim (Python slice rules: negatives count from the end, out-of-range clamps). */
export function slice(x: Tensor, dim: number, start?: number, end?: number, step = 1): Tensor {
  requireTensor('slice', 'input', x);
  if (x.ndim === 0) fail('slice', 'cannot slice a 0-d tensor');
  const d = normalizeAxis('slice', dim, x.ndim);
  if (!Number.isInteger(step) || step < 1) fail('slice', `step must be a positive integer, got ${fmtValue(step)}`);
  const n = x.shape[d];
  const norm = (v: number | undefined, dflt: number, name: string): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v)) fail('slice', `${name} must be an integer, got ${fmtValue(v)}`);
    const w = v < 0 ? v + n : v;
    return Math.min(Math.max(w, 0), n);
  };
  const s = norm(start, 0, 'start');
  const e = Math.max(norm(end, n, 'end'), s);
  if (s === 0 && e === n && step === 1) return x;
  return apply('slice', { x }, { dim: d, start: s, end: e, step });
}

/** length elements from start along dim; unlike slice, out-of-range is an error (torch.narrow). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  requireTensor('narrow', 'input', x);
  if (x.ndim === 0) fail('narrow', 'cannot narrow a 0-d tensor');
  const d = normalizeAxis('narrow', dim, x.ndim);
  const n = x.shape[d];
  const s = Number.isInteger(start) && start < 0 ? start + n : start;
  if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > n) {
    fail('narrow', `start ${start} + length ${length} out of range for dim ${dim} of size ${n} (shape ${fmtShape(x.shape)})`);
  }
  return slice(x, d, s, s + length);
}

/** The slice at `index` along `dim`, with that dim removed (torch.select; x[:, i] is select(x, 1, i)). Negative index counts from the end. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  requireTensor('select', 'input', x);
  if (x.ndim === 0) fail('select', 'cannot select from a 0-d tensor');
  const d = normalizeAxis('select', dim, x.ndim);
  const n = x.shape[d];
  if (!Number.isInteger(index) || index < -n || index >= n) {
    fail('select', `index ${fmtValue(index)} out of range for dim ${dim} of size ${n} (shape ${fmtShape(x.shape)})`);
  }
  const i = index < 0 ? index + n : index;
  return squeeze(slice(x, d, i, i + 1), d);
}

/**
 * Joins tensors along `dim` into new memory (one tensor too). As torch 1.13 (cat_should_skip_tensor), 1-d tensors with no elements
 * are skipped whatever the others' shapes (`cat([tensor([]), rows])`, the accumulator pattern), and
 * dim is wrapped by the first tensor that is not skipped; a skipped tensor's gradient is [0].
 */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0) fail('cat', 'expected a non-empty array of tensors');
  tensors.forEach((t, i) => {
    requireTensor('cat', `tensors[${i}]`, t);
    if (t.ndim === 0) fail('cat', `zero-dimensional tensor (tensors[${i}]) cannot be concatenated`);
  });
  const skipped = (t: Tensor): boolean => t.ndim === 1 && t.shape[0] === 0;
  const r = Math.max(0, tensors.findIndex((t) => !skipped(t)));
  const first = tensors[r];
  const d = normalizeAxis('cat', dim, first.ndim);
  tensors.forEach((t, i) => {
    if (t.dtype !== first.dtype) fail('cat', `tensors[${i}] is ${t.dtype} but tensors[${r}] is ${first.dtype}`);
    if (skipped(t)) return;
    if (t.ndim !== first.ndim || t.shape.some((s, j) => j !== d && s !== first.shape[j])) {
      fail('cat', `tensors[${i}] has shape ${fmtShape(t.shape)} but tensors[${r}] has ${fmtShape(first.shape)}; all dims except ${d} must match`);
    }
  });
  // New memory whatever the count, as torch's cat: the result never aliases an input.
  if (tensors.length === 1) return clone(first);
  // A skipped tensor joins as a view with no elements along d, so its gradient still comes back as [0].
  const empty = first.shape.map((s, j) => (j === d ? 0 : s));
  const inputs: Record<`t${number}`, Tensor> = {};
  tensors.forEach((t, i) => { inputs[`t${i}`] = skipped(t) && !skipped(first) ? reshape(t, empty) : t; });
  return apply('cat', inputs, { dim: d });
}

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0) fail('stack', 'expected a non-empty array of tensors');
  tensors.forEach((t, i) => {
    requireTensor('stack', `tensors[${i}]`, t);
    if (!shapesEqual(t.shape, tensors[0].shape)) {
      fail('stack', `tensors[${i}] has shape ${fmtShape(t.shape)} but tensors[0] has ${fmtShape(tensors[0].shape)}; all must be equal`);
    }
    if (t.dtype !== tensors[0].dtype) fail('stack', `tensors[${i}] is ${t.dtype} but tensors[0] is ${tensors[0].dtype}`);
  });
  const d = insertionAxis('stack', dim, tensors[0].ndim, `stacking ${tensors[0].ndim}-d tensors`);
  // New memory even for one tensor (cat clones it), as torch.stack: never a view of an input.
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

/** torch's F.pad modes. */
export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

export interface PadOptions {
  /** 'constant' (the default), 'reflect', 'replicate' or 'circular'. */
  mode?: PadMode;
  /** The fill of 'constant' padding (default 0); the other modes take none (0 or null only, as torch). */
  value?: number | null;
}

const PAD_MODES: readonly string[] = ['constant', 'reflect', 'replicate', 'circular'];

/**
 * torch's F.pad. `padding` holds pairs (before, after) starting from the LAST dim, e.g. [left, right,
 * top, bottom] pads W then H; negative amounts crop. Called as `pad(x, padding, value)` (constant,
 * the form this function always had), `pad(x, padding, mode, value?)` (torch's positional order) or
 * `pad(x, padding, { mode, value })`.
 *
 * 'constant' pads any of the dims with `value`. The other modes follow torch 1.13's F.pad: they pad
 * the last 1, 2 or 3 dims of a 2-d/3-d, 3-d/4-d or 4-d/5-d input (so 2, 4 or 6 padding numbers),
 * every dim but a batch dim non-empty for 'reflect' and 'replicate':
 * - 'reflect' mirrors about the edge element (x[1], x[0] | x[0] … x[n−1] | x[n−2]); each side must be
 *   less than the dim's size.
 * - 'replicate' repeats the edge element.
 * - 'circular' wraps around (x[n−1] | x[0] … x[n−1] | x[0]); each side at most the dim's size. Its
 *   input without a batch dim (2-d for 2 numbers, 3-d for 4, 4-d for 6) is padded as torch ≥ 2.1
 *   pads it; torch 1.13's _pad_circular rejects that rank ("Invalid padding size"), wanting [N, C, …].
 * Negative amounts crop: 'reflect' and 'replicate' crop after padding by the positive amounts
 * (reflection and edge are those of the whole input, as torch's index kernels), 'circular' crops
 * first and wraps the rest (as torch's _pad_circular copies). Those three are composites of slice,
 * flip, expand and cat, so a gradient reaching several padded cells that read one input element
 * accumulates there. The result is always a new tensor, never x or a view of it (as torch).
 */
export function pad(x: Tensor, padding: readonly number[], value?: number): Tensor;
export function pad(x: Tensor, padding: readonly number[], mode: PadMode, value?: number | null): Tensor;
export function pad(x: Tensor, padding: readonly number[], options: PadOptions | null): Tensor;
export function pad(x: Tensor, padding: readonly number[], modeOrOptions?: number | PadMode | PadOptions | null, value?: number | null): Tensor {
  const op = 'pad';
  requireTensor(op, 'input', x);
  let mode: unknown = 'constant';
  let v: unknown = value ?? null;
  if (typeof modeOrOptions === 'number') {
    if (value !== undefined) fail(op, `the value was given twice: as the third argument (${fmtValue(modeOrOptions)}) and the fourth (${fmtValue(value)})`);
    v = modeOrOptions;
  } else if (typeof modeOrOptions === 'string') {
    mode = modeOrOptions;
  } else if (modeOrOptions !== undefined && modeOrOptions !== null) {
    if (typeof modeOrOptions !== 'object' || Array.isArray(modeOrOptions)) {
      fail(op, `the third argument must be a value (a number), a mode or an options object { mode, value }, got ${fmtValue(modeOrOptions)}`);
    }
    if (value !== undefined) fail(op, 'the value goes in the options object ({ mode, value }), not after it');
    const o = optionsObject(op, modeOrOptions, ['mode', 'value']);
    mode = o.mode ?? 'constant';
    v = o.value ?? null;
  }
  if (typeof mode !== 'string' || !PAD_MODES.includes(mode)) {
    fail(op, `unrecognised padding mode ${fmtValue(mode)}; expected 'constant', 'reflect', 'replicate' or 'circular'`);
  }
  if (!Array.isArray(padding as unknown) || padding.length % 2 !== 0 || padding.length / 2 > x.ndim || !padding.every(Number.isInteger)) {
    fail(op, `padding must be an even-length list of integers covering at most ${x.ndim} dims, got ${JSON.stringify(padding)} for shape ${fmtShape(x.shape)}`);
  }
  if (v !== null && typeof v !== 'number') fail(op, `value must be a number, got ${typeof v}`);
  if (mode === 'constant') return constantPad(x, padding, (v as number | null) ?? 0);
  if (v !== null && v !== 0) fail(op, `padding mode '${mode}' doesn't take a value argument, got value ${fmtValue(v)}`);
  return modePad(x, padding, mode as Exclude<PadMode, 'constant'>);
}

function constantPad(x: Tensor, padding: readonly number[], value: number): Tensor {
  const full = new Array<number>(2 * x.ndim).fill(0);
  for (let i = 0; i < padding.length / 2; i++) {
    const d = x.ndim - 1 - i;
    full[2 * d] = padding[2 * i];
    full[2 * d + 1] = padding[2 * i + 1];
  }
  x.shape.forEach((s, i) => {
    if (s + full[2 * i] + full[2 * i + 1] < 0) fail('pad', `padding ${JSON.stringify(padding)} makes dim ${i} of shape ${fmtShape(x.shape)} negative`);
  });
  if (full.every((p) => p === 0)) return clone(x);
  return apply('pad', { x }, { pad: full, value });
}

/** 'reflect', 'replicate' and 'circular' padding: checked as torch 1.13 checks them, then built dim by dim from the last. */
function modePad(x: Tensor, padding: readonly number[], mode: 'reflect' | 'replicate' | 'circular'): Tensor {
  const op = 'pad';
  const k = padding.length / 2;
  const where = `(padding ${JSON.stringify(padding)}, input shape ${fmtShape(x.shape)})`;
  if (k < 1 || k > 3 || (x.ndim !== k + 1 && x.ndim !== k + 2)) {
    fail(op, `'${mode}' padding pads the last 1, 2 or 3 dims of a 2-d/3-d, 3-d/4-d or 4-d/5-d input (2, 4 or 6 padding numbers), ` +
      `got ${padding.length} numbers for a ${x.ndim}-d input ${where}`);
  }
  if (mode !== 'circular') {
    const first = x.ndim === k + 2 ? 1 : 0; // a batch dim may be empty
    for (let d = first; d < x.ndim; d++) {
      if (x.shape[d] === 0) fail(op, `'${mode}' padding needs every dim but the batch dim non-empty, dim ${d} has size 0 ${where}`);
    }
  }
  for (let i = 0; i < k; i++) {
    const d = x.ndim - 1 - i, n = x.shape[d], l = padding[2 * i], r = padding[2 * i + 1];
    if (mode === 'reflect' && (l >= n || r >= n)) {
      fail(op, `'reflect' padding (${l}, ${r}) of dim ${d} must be less than its size ${n} on each side ${where}`);
    }
    if (mode === 'circular') {
      if (l > n || r > n) fail(op, `'circular' padding (${l}, ${r}) of dim ${d} wraps around more than once: each side must be at most its size ${n} ${where}`);
      const m = n - Math.max(-l, 0) - Math.max(-r, 0);
      if (n + l + r < 0) fail(op, `'circular' padding (${l}, ${r}) makes dim ${d} of size ${n} negative ${where}`);
      if (m < Math.max(l, r, 0)) {
        fail(op, `'circular' padding (${l}, ${r}) of dim ${d} wraps around more than once: after cropping, ${m} of its ${n} elements remain, fewer than a side pads ${where}`);
      }
    } else if (n + l + r < 1) {
      fail(op, `'${mode}' padding (${l}, ${r}) leaves dim ${d} of size ${n} with ${n + l + r} elements; it must keep at least 1 ${where}`);
    }
  }
  let y = x;
  for (let i = 0; i < k; i++) {
    const d = x.ndim - 1 - i, l = padding[2 * i], r = padding[2 * i + 1];
    const lp = Math.max(l, 0), rp = Math.max(r, 0), lc = Math.max(-l, 0), rc = Math.max(-r, 0);
    if (mode === 'circular') {
      y = slice(y, d, lc, y.shape[d] - rc);
      const m = y.shape[d];
      y = catPieces([lp > 0 ? slice(y, d, m - lp, m) : null, y, rp > 0 ? slice(y, d, 0, rp) : null], d);
    } else {
      const n = y.shape[d];
      const edge = (start: number, count: number): Tensor => expand(slice(y, d, start, start + 1), y.shape.map((s, j) => (j === d ? count : s)));
      const left = lp === 0 ? null : mode === 'reflect' ? flip(slice(y, d, 1, lp + 1), d) : edge(0, lp);
      const right = rp === 0 ? null : mode === 'reflect' ? flip(slice(y, d, n - 1 - rp, n - 1), d) : edge(n - 1, rp);
      y = catPieces([left, y, right], d);
      y = slice(y, d, lc, y.shape[d] - rc);
    }
  }
  return y.storage === x.storage ? clone(y) : y;
}

function catPieces(parts: ReadonlyArray<Tensor | null>, d: number): Tensor {
  const ts = parts.filter((t): t is Tensor => t !== null);
  return ts.length === 1 ? ts[0] : cat(ts, d);
}

// ---- splitting, repeating, flipping, rolling (composites of slice/cat/expand, plus the flip op) ----

/** `v` as a list of integers (a number as one), each at least `min`, else an Error naming the op and `name`. */
function intList(op: string, name: string, v: unknown, min = -Infinity): number[] {
  const list = typeof v === 'number' ? [v] : v;
  if (!Array.isArray(list) || !list.every((e) => typeof e === 'number' && Number.isInteger(e) && e >= min)) {
    fail(op, `${name} must be ${min === 0 ? 'a non-negative integer or a list of them' : 'an integer or a list of integers'}, got ${fmtValue(v)}`);
  }
  return list as number[];
}

/**
 * Views of x along dim d, one per size (their sum is x's size there): always new views, as torch's,
 * never x itself. They are cut by halving the list of pieces (each half a slice of the one above it),
 * not each sliced from x: a slice's backward writes a gradient of its input's size, so k slices of x
 * would cost n·k in the backward (x.split(1) over 4000 steps of 64, each ×2 and stacked back: 18 s, now
 * 2.7 s, mostly the 12000 ops' own overhead), the tree at most 2n·⌈log2 k⌉, near torch's single
 * SplitBackward. A piece is still a view of x's storage at its own offset.
 */
function pieces(x: Tensor, d: number, sizes: readonly number[]): Tensor[] {
  const out = new Array<Tensor>(sizes.length);
  const cut = (t: Tensor, start: number, end: number): Tensor => apply('slice', { x: t }, { dim: d, start, end, step: 1 });
  // t holds pieces lo..hi-1 (at least two), the first from index 0 along d.
  const halve = (t: Tensor, lo: number, hi: number): void => {
    const mid = (lo + hi) >> 1;
    let len = 0;
    for (let i = lo; i < mid; i++) len += sizes[i];
    const left = cut(t, 0, len), right = cut(t, len, t.shape[d]);
    if (mid - lo === 1) out[lo] = left; else halve(left, lo, mid);
    if (hi - mid === 1) out[mid] = right; else halve(right, mid, hi);
  };
  if (sizes.length === 1) out[0] = cut(x, 0, sizes[0]);
  else if (sizes.length > 1) halve(x, 0, sizes.length);
  return out;
}

/**
 * torch.split: with a number, pieces of that size along dim, the last one smaller if the size does
 * not divide (one piece when it exceeds the dim; 0 only for an empty dim); with a list, pieces of
 * those sizes, which must sum to the dim's size. Views of x, so each piece's gradient lands in its
 * slice of x's (pieces left unused get zeros).
 */
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  const op = 'split';
  requireTensor(op, 'input', x);
  if (x.ndim === 0) fail(op, 'expects at least a 1-dimensional tensor, got a 0-d tensor');
  const d = normalizeAxis(op, dim, x.ndim);
  const n = x.shape[d];
  if (typeof splitSizeOrSections === 'number') {
    const size = splitSizeOrSections;
    if (!Number.isInteger(size) || size < 0) fail(op, `splitSize must be a non-negative integer, got ${fmtValue(size)}`);
    if (size === 0 && n > 0) fail(op, `splitSize can only be 0 if dim ${d} has size 0, but it has size ${n} (shape ${fmtShape(x.shape)})`);
    const count = size === 0 ? 1 : Math.max(Math.ceil(n / size), 1);
    const sizes = Array.from({ length: count }, (_, i) => (i < count - 1 ? size : n - size * (count - 1)));
    return pieces(x, d, sizes);
  }
  const sizes = intList(op, 'split sizes', splitSizeOrSections, 0);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== n) {
    fail(op, `split sizes ${fmtValue(sizes)} sum to ${total}, but dim ${d} of shape ${fmtShape(x.shape)} has size ${n}; they must sum to it exactly`);
  }
  return pieces(x, d, sizes);
}

/**
 * torch.chunk: split into pieces of ceil(size / chunks) along dim, so there may be fewer than
 * `chunks` pieces (6 into 4 gives 2, 2, 2) and the last may be smaller; an empty dim gives `chunks` empty pieces.
 */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const op = 'chunk';
  requireTensor(op, 'input', x);
  if (x.ndim === 0) fail(op, 'expects at least a 1-dimensional tensor, got a 0-d tensor');
  if (typeof chunks !== 'number' || !Number.isInteger(chunks) || chunks < 1) fail(op, `chunks must be an integer >= 1, got ${fmtValue(chunks)}`);
  const d = normalizeAxis(op, dim, x.ndim);
  const n = x.shape[d];
  if (n === 0) return pieces(x, d, new Array<number>(chunks).fill(0));
  return split(x, Math.ceil(n / chunks), d);
}

/**
 * torch.unbind: the slices of x along dim with that dim removed, as views of x. Cut as split cuts
 * (by halving), so the backward of all of them writes O(n·log k) gradient elements, not n·k: the
 * way to loop over time steps (`for (const xt of x.unbind(0))`).
 */
export function unbind(x: Tensor, dim = 0): Tensor[] {
  const op = 'unbind';
  requireTensor(op, 'input', x);
  if (x.ndim === 0) fail(op, 'expects at least a 1-dimensional tensor, got a 0-d tensor');
  const d = normalizeAxis(op, dim, x.ndim);
  return pieces(x, d, new Array<number>(x.shape[d]).fill(1)).map((p) => squeeze(p, d));
}

/** torch.Tensor.repeat and torch.tile: x as [1, s0, 1, s1, ...] expanded to [r0, s0, r1, s1, ...], merged pairwise. */
function repeatImpl(op: string, x: Tensor, sizes: readonly number[]): Tensor {
  const lead = sizes.length - x.ndim;
  const padded = [...new Array<number>(lead).fill(1), ...x.shape];
  const y = reshape(expand(reshape(x, padded.flatMap((s) => [1, s])), padded.flatMap((s, i) => [sizes[i], s])), padded.map((s, i) => s * sizes[i]));
  // torch returns new memory; where every size is 1 (or the reshape could view the expansion) this is still x's.
  return y.storage === x.storage ? clone(y) : y;
}

/**
 * torch.Tensor.repeat: the tensor repeated sizes[i] times along each dim; more sizes than dims add
 * leading dims (x of [2, 3] repeated (4, 1, 2) is [4, 2, 6]). A copy, whose gradient sums the repeats.
 */
export function repeat(x: Tensor, sizes: readonly number[]): Tensor {
  const op = 'repeat';
  requireTensor(op, 'input', x);
  const r = intList(op, 'sizes', sizes, 0);
  if (r.length < x.ndim) {
    fail(op, `the number of sizes (${r.length}: ${fmtValue(r)}) can not be smaller than the number of dims (${x.ndim}) of shape ${fmtShape(x.shape)}`);
  }
  return repeatImpl(op, x, r);
}

/** torch.tile: repeat, except that fewer sizes than dims are padded with leading 1s (tiling the last dims). */
export function tile(x: Tensor, dims: readonly number[]): Tensor {
  const op = 'tile';
  requireTensor(op, 'input', x);
  const r = intList(op, 'dims', dims, 0);
  return repeatImpl(op, x, [...new Array<number>(Math.max(0, x.ndim - r.length)).fill(1), ...r]);
}

/** torch.flip: a copy with the order of elements reversed along each of `dims` (a repeated dim is an error, as torch). */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  const op = 'flip';
  requireTensor(op, 'input', x);
  const list = intList(op, 'dims', dims);
  const norm = list.map((d) => normalizeAxis(op, d, x.ndim));
  if (new Set(norm).size !== norm.length) fail(op, `dims has duplicates: ${fmtValue(list)} for shape ${fmtShape(x.shape)}`);
  if (x.ndim === 0) return clone(x);
  return apply('flip', { x }, { dims: [...norm].sort((a, b) => a - b) });
}

/** x rolled by `shift` along dim d: the last `shift` elements come first (cat of two slices). */
function rollDim(x: Tensor, shift: number, d: number): Tensor {
  const n = x.shape[d];
  if (n === 0) return x;
  const start = (((n - shift) % n) + n) % n;
  if (start === 0) return x;
  return cat([slice(x, d, start, n), slice(x, d, 0, start)], d);
}

/**
 * torch.roll: elements shifted by shifts[i] along dims[i] (negative shifts go the other way),
 * those pushed past the end coming back at the start; a repeated dim rolls again. Without dims the
 * tensor is rolled as if flattened by a single shift, then given its shape back. A copy.
 */
export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[] | null): Tensor {
  const op = 'roll';
  requireTensor(op, 'input', x);
  const s = intList(op, 'shifts', shifts);
  if (s.length === 0) fail(op, 'shifts is required (got an empty list)');
  const ds = dims === undefined || dims === null ? [] : intList(op, 'dims', dims);
  let y: Tensor;
  if (ds.length === 0) {
    if (s.length !== 1) fail(op, `shifts and dims must align: ${s.length} shifts ${fmtValue(s)} but no dims (a roll of the flattened tensor takes one shift)`);
    y = reshape(rollDim(reshape(x, [x.numel()]), s[0], 0), x.shape);
  } else {
    if (s.length !== ds.length) fail(op, `shifts and dims must align: ${s.length} shifts ${fmtValue(s)} but ${ds.length} dims ${fmtValue(ds)}`);
    if (x.ndim === 0) fail(op, `cannot roll a 0-d tensor along dims ${fmtValue(ds)}; omit dims`);
    const norm = ds.map((d) => normalizeAxis(op, d, x.ndim));
    y = x;
    norm.forEach((d, i) => { y = rollDim(y, s[i], d); });
  }
  return y.storage === x.storage ? clone(y) : y;
}

/** A contiguous tensor with the same values (x itself if already contiguous). */
export function contiguous(x: Tensor): Tensor {
  requireTensor('contiguous', 'input', x);
  return x.isContiguous() ? x : apply('contiguous', { x }, {});
}

/** A copy with its own storage, still on the graph (torch.clone). */
export function clone(x: Tensor): Tensor {
  requireTensor('clone', 'input', x);
  return apply('contiguous', { x }, {});
}

/** Converts to another dtype; gradients flow back in the original dtype. */
export function toDtype(x: Tensor, dtype: DType): Tensor {
  requireTensor('to', 'input', x);
  if (!isDType(dtype)) fail('to', `unknown dtype ${String(dtype)} (expected float32 or float64)`);
  if (x.dtype === dtype) return x;
  return apply('toDtype', { x }, { dtype, from: x.dtype });
}

// ---- indexing ----
// No integer dtype: an index is a Tensor of either float dtype (whatever the data's dtype) or an
// array of numbers, holding whole numbers. Every value is checked before a kernel trusts it; none of
// these ops takes negative indices, as in torch (gather, scatter, index_select, embedding, one_hot).

/** An index argument as a Tensor (an array becomes a 1-d float64 tensor). */
function indexTensor(op: string, name: string, index: unknown): Tensor {
  if (index instanceof Tensor) return index;
  const v = numberArray(op, name, index);
  const t = Tensor.empty([v.length], 'float64');
  t.storage.set(v);
  return t;
}

/** `name[1,2]`: a position of a tensor of `shape` in an error message. */
function position(name: string, k: number, shape: readonly number[]): string {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = k % shape[d];
    k = Math.floor(k / shape[d]);
  }
  return `${name}[${idx.join(',')}]`;
}

/** Every value of `index` a whole number in [0, size), else an Error naming the position, the value and `where`. */
function checkIndexValues(op: string, name: string, index: Tensor, size: number, bound: string, where: () => string): void {
  const v = index.data;
  for (let k = 0; k < v.length; k++) {
    const x = v[k];
    if (!Number.isInteger(x)) fail(op, `${position(name, k, index.shape)} = ${x} is not an integer (indices are whole numbers stored in a float tensor; ${where()})`);
    if (x < 0 || x >= size) fail(op, `${position(name, k, index.shape)} = ${x} is out of bounds for ${bound} (${where()})`);
  }
}

/** A 0-d tensor as [1] (torch's ensure_nonempty_dim for gather and scatter). */
function atLeast1d(t: Tensor): Tensor {
  return t.ndim === 0 ? reshape(t, [1]) : t;
}

/**
 * Shared checks of gather, scatter and scatterAdd: index has input's number of dims (0-d counting
 * as 1-d) and no dim larger than input's except `dim`, nor than src's anywhere.
 */
function checkScatterGatherShapes(op: string, input: Tensor, d: number, index: Tensor, src: Tensor | null): void {
  const nd = Math.max(input.ndim, 1);
  const shapes = `input ${fmtShape(input.shape)}, index ${fmtShape(index.shape)}${src ? `, src ${fmtShape(src.shape)}` : ''}`;
  if (Math.max(index.ndim, 1) !== nd) fail(op, `index must have as many dims as input (${shapes})`);
  if (src !== null && Math.max(src.ndim, 1) !== nd) fail(op, `src must have as many dims as input and index (${shapes})`);
  if (index.numel() === 0) return;
  const is = atLeast1d(index).shape, xs = atLeast1d(input).shape, ss = src ? atLeast1d(src).shape : null;
  for (let i = 0; i < nd; i++) {
    if (i !== d && is[i] > xs[i]) fail(op, `index is larger than input at dim ${i}: index.size(${i}) must be <= input.size(${i}) for every dim except dim ${d} (${shapes})`);
    if (ss !== null && is[i] > ss[i]) fail(op, `index is larger than src at dim ${i}: index.size(${i}) must be <= src.size(${i}) for every dim (${shapes})`);
  }
}

/**
 * torch.gather: out[p] = input[p with p[dim] ← index[p]], the shape of index. index has input's
 * number of dims and index.size(d) <= input.size(d) for d != dim; values in [0, input.size(dim)).
 * The gradient scatter-adds into zeros of input's shape, so repeated indices accumulate.
 */
export function gather(input: Tensor, dim: number, index: Tensor | ArrayLike<number>): Tensor {
  const op = 'gather';
  requireTensor(op, 'input', input);
  const idx = indexTensor(op, 'index', index);
  const d = normalizeAxis(op, dim, input.ndim);
  checkScatterGatherShapes(op, input, d, idx, null);
  const x1 = atLeast1d(input);
  checkIndexValues(op, 'index', idx, x1.shape[d], `dim ${d} with size ${x1.shape[d]}`, () => `input ${fmtShape(input.shape)}, index ${fmtShape(idx.shape)}`);
  const out = apply('gather', { x: x1, index: atLeast1d(idx) }, { dim: d });
  return idx.ndim === 0 ? reshape(out, []) : out;
}

function scatterOp(op: 'scatter' | 'scatterAdd', input: Tensor, dim: number, index: Tensor | ArrayLike<number>, src: Tensor | number): Tensor {
  requireTensor(op, 'input', input);
  const idx = indexTensor(op, 'index', index);
  const d = normalizeAxis(op, dim, input.ndim);
  let value: number | null = null;
  if (typeof src === 'number' && op === 'scatter') {
    if (overflowsDtype(src, input.dtype)) fail(op, `value ${src} cannot be converted to ${input.dtype} without overflow`);
    value = src;
  } else {
    requireTensor(op, 'src', src);
    if (src.dtype !== input.dtype) fail(op, `src is ${src.dtype} ${fmtShape(src.shape)} but input is ${input.dtype} ${fmtShape(input.shape)}; convert one with .to()`);
  }
  const s = value === null ? (src as Tensor) : null;
  checkScatterGatherShapes(op, input, d, idx, s);
  const x1 = atLeast1d(input);
  checkIndexValues(op, 'index', idx, x1.shape[d], `dim ${d} with size ${x1.shape[d]}`, () => `input ${fmtShape(input.shape)}, index ${fmtShape(idx.shape)}`);
  const i1 = atLeast1d(idx);
  const out = op === 'scatterAdd'
    ? apply('scatterAdd', { x: x1, index: i1, src: atLeast1d(s!) }, { dim: d })
    : apply('scatter', s ? { x: x1, index: i1, src: atLeast1d(s) } : { x: x1, index: i1 }, { dim: d, value });
  return input.ndim === 0 ? reshape(out, []) : out;
}

/**
 * Out-of-place torch.scatter_add: a copy of input with src[p] added at p[dim] ← index[p] for every p
 * of index's shape (repeated targets add up). index, src and input have the same number of dims,
 * index.size(d) <= src.size(d) for all d and <= input.size(d) for d != dim. Gradients: input gets
 * grad, src grad.gather(dim, index) (0 where src is larger than index).
 */
export function scatterAdd(input: Tensor, dim: number, index: Tensor | ArrayLike<number>, src: Tensor): Tensor {
  return scatterOp('scatterAdd', input, dim, index, src);
}

/**
 * Out-of-place torch.scatter: a copy of input with src[p] (or the number `src`) written at
 * p[dim] ← index[p], with scatterAdd's shape rules. Writes go in index order (row-major over index),
 * so among repeated targets the last one wins; torch leaves that choice unspecified. The gradient is
 * that function's: input gets grad where nothing was written, src gets grad at the writes that
 * survived and 0 at the overwritten ones (torch gives every repeat grad.gather(dim, index); the two
 * agree when no target repeats).
 */
export function scatter(input: Tensor, dim: number, index: Tensor | ArrayLike<number>, src: Tensor | number): Tensor {
  return scatterOp('scatter', input, dim, index, src);
}

/**
 * torch.index_select: the entries index[0], index[1], ... of input along dim (index 1-d, or 0-d as
 * one entry); the result has input's shape with dim's size replaced by index's length. The gradient
 * index-adds into zeros, so repeated indices accumulate.
 */
export function indexSelect(input: Tensor, dim: number, index: Tensor | ArrayLike<number>): Tensor {
  const op = 'indexSelect';
  requireTensor(op, 'input', input);
  const idx = indexTensor(op, 'index', index);
  const d = normalizeAxis(op, dim, input.ndim);
  if (idx.ndim > 1) fail(op, `index must be 1-d (or 0-d), got index ${fmtShape(idx.shape)} for input ${fmtShape(input.shape)}`);
  const size = input.ndim === 0 ? 1 : input.shape[d];
  if (input.ndim === 0 && idx.numel() !== 1) fail(op, `the index into a 0-d input must have exactly one value, got index ${fmtShape(idx.shape)}`);
  checkIndexValues(op, 'index', idx, size, `dim ${d} with size ${size}`, () => `input ${fmtShape(input.shape)}, index ${fmtShape(idx.shape)}`);
  return apply('indexSelect', { x: input, index: atLeast1d(idx) }, { dim: d });
}

export interface OneHotOptions {
  /** The result's dtype (default float32: this project has no integer dtype). */
  dtype?: DType;
}

/**
 * torch.nn.functional.one_hot: target (whole numbers >= 0, any shape) to target.shape + [numClasses]
 * with a 1 at each value's class; numClasses −1 takes max(target) + 1. Floats of `dtype` (torch
 * returns int64), not differentiable.
 */
export function oneHot(target: Tensor | ArrayLike<number>, numClasses = -1, options?: OneHotOptions | null): Tensor {
  const op = 'oneHot';
  const t = indexTensor(op, 'target', target);
  const o = optionsObject(op, options, ['dtype']);
  const dtype = o.dtype ?? 'float32';
  if (!isDType(dtype)) fail(op, `dtype must be 'float32' or 'float64', got ${fmtValue(dtype)}`);
  if (typeof numClasses !== 'number' || !Number.isInteger(numClasses) || numClasses < -1) fail(op, `numClasses must be -1 or a non-negative integer, got ${fmtValue(numClasses)}`);
  const v = t.data;
  let C = numClasses;
  if (C === -1) {
    if (v.length === 0) fail(op, `cannot infer the number of classes from an empty target (shape ${fmtShape(t.shape)}); pass numClasses`);
    C = 0;
    for (let k = 0; k < v.length; k++) if (v[k] + 1 > C) C = v[k] + 1;
  }
  for (let k = 0; k < v.length; k++) {
    const x = v[k];
    if (!Number.isInteger(x)) fail(op, `${position('target', k, t.shape)} = ${x} is not an integer class value (target ${fmtShape(t.shape)})`);
    if (x < 0) fail(op, `${position('target', k, t.shape)} = ${x} is negative: class values must be non-negative (target ${fmtShape(t.shape)})`);
    if (x >= C) fail(op, `${position('target', k, t.shape)} = ${x} is not smaller than numClasses ${C} (target ${fmtShape(t.shape)})`);
  }
  const out = allocate(dtype, v.length * C);
  for (let k = 0; k < v.length; k++) out[k * C + v[k]] = 1;
  return fromData(out, [...t.shape, C]);
}

export interface EmbeddingOptions {
  /** A row that gets no gradient (negative counts from the end); the lookup still reads it. */
  paddingIdx?: number | null;
  /** Rows looked up whose normType-norm exceeds maxNorm are rescaled to maxNorm in place first. */
  maxNorm?: number | null;
  /** The p of maxNorm's p-norm (default 2; Infinity for the largest magnitude). */
  normType?: number;
  /** Scale each row's gradient by 1/(its count among the indices). */
  scaleGradByFreq?: boolean;
  /** Sparse gradients are not supported (there are no sparse tensors); only false is accepted. */
  sparse?: boolean;
}

/**
 * torch.nn.functional.embedding: rows of weight [numEmbeddings, embeddingDim] at the indices in
 * input (any shape, whole numbers in [0, numEmbeddings)), giving input.shape + [embeddingDim].
 * The weight's gradient adds each output row's gradient into its row, none into paddingIdx's.
 * With maxNorm, the rows looked up are first renormalised in place as torch's embedding_renorm_
 * (scale maxNorm / (norm + 1e-7) where norm > maxNorm), outside the graph, bumping weight's version;
 * indices stored in the weight itself are copied first, so the lookup uses the values passed.
 */
export function embedding(input: Tensor | ArrayLike<number>, weight: Tensor, options?: EmbeddingOptions | null): Tensor {
  const op = 'embedding';
  let idx = indexTensor(op, 'input', input);
  requireTensor(op, 'weight', weight);
  if (weight.ndim !== 2) fail(op, `weight must be 2-d [numEmbeddings, embeddingDim], got ${fmtShape(weight.shape)}`);
  const N = weight.shape[0];
  const { paddingIdx, maxNorm, normType, scaleGradByFreq } = embeddingOptions(op, options, N);
  checkIndexValues(op, 'input', idx, N, `${N} embeddings`, () => `input ${fmtShape(idx.shape)}, weight ${fmtShape(weight.shape)}`);
  if (maxNorm !== null) {
    // Indices stored in the weight's own storage would be rewritten by the renorm: look up (and
    // save for the gradient) the values checked above, as torch's integer indices always are.
    if (idx.storage === weight.storage) {
      const copy = allocate(idx.dtype, idx.numel());
      copy.set(idx.data);
      idx = new Tensor(copy, idx.shape);
    }
    embeddingRenorm(weight, idx.data, maxNorm, normType);
  }
  return apply('embedding', { weight, indices: idx }, { paddingIdx, scaleGradByFreq });
}

/**
 * torch's embedding_renorm_: each distinct row looked up, rescaled where its p-norm exceeds maxNorm.
 * For a float32 weight, as torch: the norm is rounded to float32 (row.norm() is a float32 tensor)
 * before the comparison and the scale, and `row *= scale` multiplies by the scale cast to float32.
 */
function embeddingRenorm(weight: Tensor, rows: ArrayLike<number>, maxNorm: number, p: number): void {
  const s = weight.storage, [s0, s1] = weight.strides, D = weight.shape[1];
  const f32 = weight.dtype === 'float32';
  const seen = new Set<number>();
  let changed = false;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    if (seen.has(r)) continue;
    seen.add(r);
    const base = weight.offset + r * s0;
    let norm = 0;
    for (let j = 0; j < D; j++) {
      const a = Math.abs(s[base + j * s1]);
      norm = p === Infinity ? Math.max(norm, a) : norm + a ** p;
    }
    if (p !== Infinity) norm = norm ** (1 / p);
    if (f32) norm = Math.fround(norm);
    if (norm > maxNorm) {
      let scale = maxNorm / (norm + 1e-7);
      // The product of two float32 values is exact in a double, so the store rounds it once: float32's multiply.
      if (f32) scale = Math.fround(scale);
      for (let j = 0; j < D; j++) s[base + j * s1] *= scale;
      changed = true;
    }
  }
  // An in-place change of the weight: a graph that saved it must not backpropagate through new values.
  if (changed) weight._bumpVersion();
}

// ---- linear algebra ----

/** Matrix product with torch.matmul's rules for 1-d, 2-d and batched (broadcast) operands. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireTensor('matmul', 'input', a);
  requireTensor('matmul', 'other', b);
  if (a.ndim === 0 || b.ndim === 0) fail('matmul', `both arguments need at least 1 dim, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const a2 = a.ndim === 1 ? unsqueeze(a, 0) : a;
  const b2 = b.ndim === 1 ? unsqueeze(b, 1) : b;
  const K = a2.shape[a2.ndim - 1];
  if (b2.shape[b2.ndim - 2] !== K) {
    fail('matmul', `shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${K} vs ${b2.shape[b2.ndim - 2]})`);
  }
  broadcastShape('matmul', a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  let out = apply('matmul', { a: a2, b: b2 }, {});
  if (a.ndim === 1) out = squeeze(out, -2);
  if (b.ndim === 1) out = squeeze(out, -1);
  return out;
}

// ---- creation helpers (the factories' own, so F.onesLike is the top-level onesLike) ----

export { onesLike, zerosLike } from './creation';

// ---- conv-net ops ----

export interface Conv2dOptions {
  stride?: number | readonly number[];
  /** Zero padding per side, or torch's strings: 'valid' (none) and 'same' (stride 1: output size = input size). */
  padding?: number | readonly number[] | 'same' | 'valid';
  dilation?: number | readonly number[];
  groups?: number;
}

/**
 * 2-D convolution of NCHW input (or unbatched [C, H, W], as torch) with an [out, in/groups, kh, kw]
 * weight (PyTorch's F.conv2d).
 */
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions | null): Tensor {
  requireTensor('conv2d', 'input', input);
  if (input.ndim !== 4) return unbatched('conv2d', input, (x) => conv2d(x, weight, bias, options));
  requireTensor('conv2d', 'weight', weight);
  if (bias !== undefined && bias !== null) requireTensor('conv2d', 'bias', bias);
  let opts: Conv2dOptions = optionsObject('conv2d', options, ['stride', 'padding', 'dilation', 'groups']);
  if (typeof opts.padding === 'string') {
    checkPaddingString('conv2d', opts.padding, opts.stride);
    let padding: [number, number] = [0, 0];
    if (opts.padding === 'same') {
      // torch's _convolution_same: d·(k − 1) zeros per dim, floor half before and the rest after;
      // an odd total pads the input by one more row/column at the bottom/right first.
      if (weight.ndim !== 4) fail('conv2d', `expected a 4-d [out, in/groups, kh, kw] weight, got shape ${fmtShape(weight.shape)}`);
      const [dh, dw] = pair('conv2d', 'dilation', opts.dilation ?? 1, 1);
      const th = dh * (weight.shape[2] - 1), tw = dw * (weight.shape[3] - 1);
      padding = [Math.floor(th / 2), Math.floor(tw / 2)];
      if (th % 2 || tw % 2) input = pad(input, [0, tw % 2, 0, th % 2]); // input is 4-d here (unbatched above)
    }
    opts = { ...opts, padding };
  }
  const geometry = conv2dGeometry(input.shape, weight.shape, opts as Parameters<typeof conv2dGeometry>[2], bias ? bias.shape : undefined);
  return apply('conv2d', bias ? { input, weight, bias } : { input, weight }, { geometry });
}

export interface Conv1dOptions {
  stride?: number | readonly number[];
  /** Zero padding per side, or torch's strings: 'valid' (none) and 'same' (stride 1: output length = input length). */
  padding?: number | readonly number[] | 'same' | 'valid';
  dilation?: number | readonly number[];
  groups?: number;
}

/**
 * 1-D convolution of [N, C, L] input (or unbatched [C, L]) with an [out, in/groups, k] weight
 * (PyTorch's F.conv1d): conv2d of the [N, C, 1, L] view with the [out, in/groups, 1, k] weight view,
 * so values and gradients are conv2d's. Validated here, in 1-d terms, so conv2d never sees a bad
 * argument and every error names conv1d and the shapes passed.
 */
export function conv1d(input: Tensor, weight: Tensor, bias?: Tensor | null, options?: Conv1dOptions | null): Tensor {
  const op = 'conv1d';
  requireTensor(op, 'input', input);
  if (input.ndim !== 2 && input.ndim !== 3) fail(op, `expected a 2-d [C, L] or 3-d [N, C, L] input, got shape ${fmtShape(input.shape)}`);
  requireTensor(op, 'weight', weight);
  if (bias !== undefined && bias !== null) requireTensor(op, 'bias', bias);
  const opts = optionsObject(op, options, ['stride', 'padding', 'dilation', 'groups']);
  if (weight.ndim !== 3) fail(op, `expected a 3-d [out, in/groups, k] weight, got shape ${fmtShape(weight.shape)}`);
  const stride = single(op, 'stride', opts.stride ?? 1, 1);
  const dilation = single(op, 'dilation', opts.dilation ?? 1, 1);
  const padding = opts.padding ?? 0;
  if (typeof padding === 'string') checkPaddingString(op, padding, [stride, stride]);
  const p = typeof padding === 'string' ? 0 : single(op, 'padding', padding, 0);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) fail(op, `groups must be a positive integer, got ${fmtValue(groups)}`);
  // Checked on the shapes passed (an unbatched [C, L] one too), so errors show those.
  const [C, L] = input.shape.slice(-2);
  const [O, Cg, K] = weight.shape;
  if (C % groups !== 0) fail(op, `input channels ${C} not divisible by groups ${groups} (input ${fmtShape(input.shape)})`);
  if (O % groups !== 0) fail(op, `output channels ${O} not divisible by groups ${groups} (weight ${fmtShape(weight.shape)})`);
  if (Cg * groups !== C) {
    fail(op, `input has ${C} channels but weight expects ${Cg * groups} (input ${fmtShape(input.shape)}, weight ${fmtShape(weight.shape)}, groups ${groups})`);
  }
  if (K < 1) fail(op, `kernel size must be positive, got weight ${fmtShape(weight.shape)}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) fail(op, `bias must have shape [${O}], got ${fmtShape(bias.shape)} (weight ${fmtShape(weight.shape)})`);
  sameDtype(op, [['input', input], ['weight', weight], ['bias', bias]]);
  // 'same' pads d·(k − 1) in all (conv2d puts an odd one at the end); 'valid' none.
  const padded = L + (padding === 'same' ? dilation * (K - 1) : 2 * p);
  const span = dilation * (K - 1) + 1;
  if (padded < span) {
    fail(op, `kernel size ${K} (dilation ${dilation}) is larger than the padded input length ${padded} (input ${fmtShape(input.shape)}, weight ${fmtShape(weight.shape)}, padding ${typeof padding === 'string' ? padding : p})`);
  }
  // [N, C, L] → [N, C, 1, L]; unbatched [C, L] → [C, 1, L], which conv2d takes as unbatched too.
  const y = conv2d(unsqueeze(input, -2), unsqueeze(weight, 2), bias, {
    stride: [1, stride], padding: typeof padding === 'string' ? padding : [0, p], dilation: [1, dilation], groups,
  });
  return squeeze(y, -2);
}

export interface ConvTranspose2dOptions {
  stride?: number | readonly number[];
  /** dilation·(k − 1) − padding zeros per side of the input, as torch: the output shrinks by 2·padding. */
  padding?: number | readonly number[];
  /** Extra rows/columns at the bottom/right of the output; each below the stride or the dilation. */
  outputPadding?: number | readonly number[];
  dilation?: number | readonly number[];
  groups?: number;
}

/**
 * 2-D transposed convolution (PyTorch's F.conv_transpose2d, "deconvolution"): [N, Cin, H, W]
 * (or unbatched [C, H, W]) with an [Cin, Cout/groups, kh, kw] weight gives [N, Cout, OH, OW],
 * OH = (H − 1)·stride − 2·padding + dilation·(kh − 1) + outputPadding + 1. It is conv2d's input
 * gradient (see convTranspose2dGeometry); the bias is added as a broadcast add.
 */
export function convTranspose2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options?: ConvTranspose2dOptions | null): Tensor {
  const op = 'convTranspose2d';
  requireTensor(op, 'input', input);
  requireTensor(op, 'weight', weight);
  if (bias !== undefined && bias !== null) requireTensor(op, 'bias', bias);
  const opts = optionsObject(op, options, ['stride', 'padding', 'outputPadding', 'dilation', 'groups']);
  // Validated on the shapes passed (an unbatched [C, H, W] one too), so errors show those.
  const geometry = convTranspose2dGeometry(input.shape, weight.shape, opts, bias ? bias.shape : undefined);
  sameDtype(op, [['input', input], ['weight', weight], ['bias', bias]]);
  const x4 = input.ndim === 4 ? input : unsqueeze(input, 0);
  // outputPadding at or past the stride: the conv's output is longer than the input by the rows
  // (columns) whose taps land only in the output padding; zeros there add nothing.
  const extraH = geometry.OH - x4.shape[2], extraW = geometry.OW - x4.shape[3];
  const x = extraH > 0 || extraW > 0 ? pad(x4, [0, extraW, 0, extraH]) : x4;
  let y = apply('convTranspose2d', { input: x, weight }, { geometry });
  if (bias) y = add(y, reshape(bias, [1, bias.shape[0], 1, 1]));
  return input.ndim === 4 ? y : squeeze(y, 0);
}

export interface BatchNormOptions {
  training?: boolean;
  momentum?: number;
  eps?: number;
  /**
   * Apply relu to the result in the same op: F.relu(F.batchNorm(...)) bit for bit, with one output
   * tensor instead of two and no separate relu pass either way (ResNet's conv → bn → relu).
   */
  relu?: boolean;
  /**
   * A tensor of the input's shape and dtype added to the result before the relu, in the same op:
   * F.add(F.batchNorm(...), residual) (then F.relu with `relu`) bit for bit, gradients included.
   * ResNet's block ends bn → add → relu this way: one output tensor instead of three.
   */
  residual?: Tensor | null;
}

/**
 * Batch normalisation over dim 1 of [N, C, *] (PyTorch's F.batch_norm). In training mode the batch
 * statistics normalise and, if running statistics are given, update them in place
 * (running = (1 − momentum)·running + momentum·batch, unbiased variance); in eval mode the
 * running statistics are used and must be given.
 */
export function batchNorm(
  input: Tensor, runningMean: Tensor | null, runningVar: Tensor | null,
  weight?: Tensor | null, bias?: Tensor | null, opts?: BatchNormOptions | null,
): Tensor {
  const op = 'batchNorm';
  requireTensor(op, 'input', input);
  // undefined counts as null (omitted), so the pairing check below sees it.
  runningMean = runningMean ?? null;
  runningVar = runningVar ?? null;
  const options = optionsObject(op, opts, ['training', 'momentum', 'eps', 'relu', 'residual']);
  const training = options.training ?? false;
  if (typeof training !== 'boolean') fail(op, `training must be a boolean, got ${fmtValue(training)}`);
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  if (input.ndim < 2) fail(op, `expected input of shape [N, C, *], got ${fmtShape(input.shape)}`);
  const C = input.shape[1];
  const check = (name: string, t: Tensor | null | undefined): void => {
    if (t === null || t === undefined) return;
    requireTensor(op, name, t);
    if (t.ndim !== 1 || t.shape[0] !== C) fail(op, `${name} must have shape [${C}] for input ${fmtShape(input.shape)}, got ${fmtShape(t.shape)}`);
    if (t.dtype !== input.dtype) fail(op, `${name} is ${t.dtype} but input is ${input.dtype}`);
  };
  check('runningMean', runningMean);
  check('runningVar', runningVar);
  if (training) {
    // Training updates them in place: an expanded tensor has one memory location for every element.
    for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar]] as const) {
      if (t && C > 1 && t.strides[0] === 0) {
        fail(op, `${name} is updated in place when training, but it is an expanded tensor (shape ${fmtShape(t.shape)}, strides ${fmtShape(t.strides)}) whose elements share one memory location; pass a tensor with its own storage, e.g. ${name}.clone()`);
      }
    }
  }
  check('weight', weight);
  check('bias', bias);
  if (!training && (!runningMean || !runningVar)) fail(op, 'eval mode (training: false) needs runningMean and runningVar');
  if ((runningMean === null) !== (runningVar === null)) fail(op, 'runningMean and runningVar must be given together');
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) fail(op, `momentum must be in [0, 1], got ${fmtValue(momentum)}`);
  if (typeof eps !== 'number' || !(eps >= 0)) fail(op, `eps must be a non-negative number, got ${fmtValue(eps)}`);
  const relu = options.relu ?? false;
  if (typeof relu !== 'boolean') fail(op, `relu must be a boolean, got ${String(relu)}`);
  if (training) {
    let n = input.shape[0];
    for (let i = 2; i < input.ndim; i++) n *= input.shape[i];
    // As PyTorch: one value per channel has no variance to normalise by; none (an empty batch) is
    // an empty result.
    if (n === 1) fail(op, `expected more than 1 value per channel when training, got input ${fmtShape(input.shape)}`);
  }
  const residual = options.residual ?? null;
  if (residual !== null) {
    requireTensor(op, 'residual', residual);
    if (!shapesEqual(residual.shape, input.shape)) fail(op, `residual must have the input's shape ${fmtShape(input.shape)}, got ${fmtShape(residual.shape)}`);
    if (residual.dtype !== input.dtype) fail(op, `residual is ${residual.dtype} but input is ${input.dtype}`);
  }
  const inputs: { input: Tensor; weight?: Tensor; bias?: Tensor; residual?: Tensor } = { input };
  if (weight) inputs.weight = weight;
  if (bias) inputs.bias = bias;
  const attrs = { runningMean, runningVar, training, momentum, eps };
  if (residual !== null) {
    inputs.residual = residual;
    return apply(relu ? 'batchNormAddRelu' : 'batchNormAdd', inputs, attrs);
  }
  return apply(relu ? 'batchNormRelu' : 'batchNorm', inputs, attrs);
}

export interface MaxPool2dOptions {
  kernelSize: number | readonly number[];
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  dilation?: number | readonly number[];
  ceilMode?: boolean;
}

export function maxPool2d(x: Tensor, options: MaxPool2dOptions): Tensor {
  requireTensor('maxPool2d', 'input', x);
  if (x.ndim !== 4) return unbatched('maxPool2d', x, (x4) => maxPool2d(x4, options));
  if (options !== null && typeof options === 'object') checkKnownKeys('maxPool2d', options, ['kernelSize', 'stride', 'padding', 'dilation', 'ceilMode']);
  const geometry = pool2dGeometry('maxPool2d', x.shape, options);
  return apply('maxPool2d', { x }, { geometry });
}

export interface AvgPool2dOptions {
  kernelSize: number | readonly number[];
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  ceilMode?: boolean;
  countIncludePad?: boolean;
  /** Divide every window's sum by this instead; null or omitted: torch's None. */
  divisorOverride?: number | null;
}

export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  requireTensor('avgPool2d', 'input', x);
  if (x.ndim !== 4) return unbatched('avgPool2d', x, (x4) => avgPool2d(x4, options));
  if (options === null || typeof options !== 'object') fail('avgPool2d', `options must be an object with a kernelSize, got ${fmtValue(options)}`);
  checkKnownKeys('avgPool2d', options, ['kernelSize', 'stride', 'padding', 'ceilMode', 'countIncludePad', 'divisorOverride']);
  const divisorOverride = options.divisorOverride ?? undefined;
  if (divisorOverride !== undefined && !(Number.isInteger(divisorOverride) && divisorOverride > 0)) {
    fail('avgPool2d', `divisorOverride must be a positive integer, got ${fmtValue(divisorOverride)}`);
  }
  const geometry = pool2dGeometry('avgPool2d', x.shape, { kernelSize: options.kernelSize, stride: options.stride, padding: options.padding, ceilMode: options.ceilMode });
  return apply('avgPool2d', { x }, { geometry, options: { countIncludePad: options.countIncludePad ?? true, divisorOverride } });
}

/** Average pooling to a fixed output size; a null entry keeps that input dim (PyTorch's None). */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly (number | null)[]): Tensor {
  const op = 'adaptiveAvgPool2d';
  requireTensor(op, 'input', x);
  if (x.ndim !== 4) return unbatched(op, x, (x4) => adaptiveAvgPool2d(x4, outputSize));
  return apply(op, { x }, { outputSize: adaptiveOutputSize(op, x, outputSize) });
}

/** An adaptive pool's output size for the 4-d x: an integer or a pair, a null entry keeping that input dim. */
function adaptiveOutputSize(op: string, x: Tensor, outputSize: number | readonly (number | null)[]): [number, number] {
  if (typeof outputSize !== 'number' && !Array.isArray(outputSize)) fail(op, `outputSize must be an integer or a pair, got ${fmtValue(outputSize)}`);
  const pairv: (number | null)[] = typeof outputSize === 'number' ? [outputSize, outputSize] : [...outputSize];
  if (pairv.length !== 2) fail(op, `outputSize must be an integer or a pair, got ${JSON.stringify(outputSize)}`);
  const out = pairv.map((v, i) => (v === null ? x.shape[2 + i] : v));
  if (!out.every((v) => Number.isInteger(v) && v >= 1)) fail(op, `outputSize must be positive integers, got ${JSON.stringify(outputSize)}`);
  if (x.shape[2] < 1 || x.shape[3] < 1) fail(op, `input has an empty spatial dim: ${fmtShape(x.shape)}`);
  return [out[0], out[1]];
}

/**
 * Max pooling to a fixed output size over PyTorch's adaptive bins (start = floor(i·H/OH), end =
 * ceil((i+1)·H/OH)); a null entry keeps that input dim. The gradient goes to the first maximum of
 * each bin. With returnIndices, also the flat index y·W + x of each maximum within its plane
 * (torch's indices, stored as integer values in the input's dtype; no gradient).
 */
export function adaptiveMaxPool2d(x: Tensor, outputSize: number | readonly (number | null)[], returnIndices?: false): Tensor;
export function adaptiveMaxPool2d(x: Tensor, outputSize: number | readonly (number | null)[], returnIndices: true): [Tensor, Tensor];
export function adaptiveMaxPool2d(x: Tensor, outputSize: number | readonly (number | null)[], returnIndices = false): Tensor | [Tensor, Tensor] {
  const op = 'adaptiveMaxPool2d';
  requireTensor(op, 'input', x);
  if (typeof returnIndices !== 'boolean') fail(op, `returnIndices must be a boolean, got ${fmtValue(returnIndices)}`);
  if (x.ndim === 3) {
    const r = adaptiveMaxPool2d(unsqueeze(x, 0), outputSize, true);
    return returnIndices ? [squeeze(r[0], 0), squeeze(r[1], 0)] : squeeze(r[0], 0);
  }
  if (x.ndim !== 4) fail(op, `expected a 3-d [C, H, W] or 4-d NCHW input, got shape ${fmtShape(x.shape)}`);
  const [OH, OW] = adaptiveOutputSize(op, x, outputSize);
  if (!returnIndices) return apply(op, { x }, { outputSize: [OH, OW] });
  const [N, C, H, W] = x.shape;
  if (x.dtype === 'float32' && H * W > 2 ** 24) fail(op, `a float32 input's ${H}x${W} planes have indices beyond 2^24, which float32 does not hold exactly; use float64`);
  const { argmax } = rs.adaptiveMaxPool2dForward(dense(x), { N, C, H, W, OH, OW });
  const indices = Tensor.empty([N, C, OH, OW], x.dtype);
  indices.storage.set(argmax);
  return [apply(op, { x }, { outputSize: [OH, OW], argmax }), indices];
}

export interface MaxPool1dOptions {
  kernelSize: number | readonly number[];
  /** Defaults to kernelSize (null too: torch's None). */
  stride?: number | readonly number[] | null;
  padding?: number | readonly number[];
  dilation?: number | readonly number[];
  ceilMode?: boolean;
}

/**
 * Max pooling over the last dim of [N, C, L] (or unbatched [C, L]): torch's max_pool1d, which runs
 * max_pool2d on the [N, C, 1, L] view, as this does (the same table op, so the gradient goes to the
 * first maximum of each window).
 */
export function maxPool1d(x: Tensor, options: MaxPool1dOptions): Tensor {
  const op = 'maxPool1d';
  requireTensor(op, 'input', x);
  if (options !== null && typeof options === 'object') checkKnownKeys(op, options, ['kernelSize', 'stride', 'padding', 'dilation', 'ceilMode']);
  const geometry = pool1dGeometry(op, x.shape, options);
  return pooled1d(x, (x4) => apply('maxPool2d', { x: x4 }, { geometry }));
}

export interface AvgPool1dOptions {
  kernelSize: number | readonly number[];
  /** Defaults to kernelSize (null too: torch's None). */
  stride?: number | readonly number[] | null;
  padding?: number | readonly number[];
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

/** Average pooling over the last dim of [N, C, L] (or [C, L]): torch's avg_pool1d, avg_pool2d on the [N, C, 1, L] view. */
export function avgPool1d(x: Tensor, options: AvgPool1dOptions): Tensor {
  const op = 'avgPool1d';
  requireTensor(op, 'input', x);
  if (options === null || typeof options !== 'object') fail(op, `options must be an object with a kernelSize, got ${fmtValue(options)}`);
  checkKnownKeys(op, options, ['kernelSize', 'stride', 'padding', 'ceilMode', 'countIncludePad']);
  const countIncludePad = options.countIncludePad ?? true;
  if (typeof countIncludePad !== 'boolean') fail(op, `countIncludePad must be a boolean, got ${fmtValue(countIncludePad)}`);
  const geometry = pool1dGeometry(op, x.shape, { kernelSize: options.kernelSize, stride: options.stride, padding: options.padding, ceilMode: options.ceilMode });
  return pooled1d(x, (x4) => apply('avgPool2d', { x: x4 }, { geometry, options: { countIncludePad } }));
}

/** Average pooling of the last dim of [N, C, L] (or [C, L]) to outputSize adaptive bins (torch's adaptive_avg_pool1d). */
export function adaptiveAvgPool1d(x: Tensor, outputSize: number | readonly number[]): Tensor {
  const op = 'adaptiveAvgPool1d';
  requireTensor(op, 'input', x);
  if (x.ndim !== 2 && x.ndim !== 3) fail(op, `expected a 2-d [C, L] or 3-d [N, C, L] input, got shape ${fmtShape(x.shape)}`);
  const out = single(op, 'outputSize', outputSize, 1);
  if (x.shape[x.ndim - 1] < 1) fail(op, `input has an empty length: ${fmtShape(x.shape)}`);
  return pooled1d(x, (x4) => apply('adaptiveAvgPool2d', { x: x4 }, { outputSize: [1, out] }));
}

export type InterpolateMode = 'nearest' | 'linear' | 'bilinear';

export interface InterpolateOptions {
  /** The output's spatial size: one integer for every spatial dim, or one per dim. Exactly one of size and scaleFactor. */
  size?: number | readonly number[] | null;
  /** Output size = floor(input size · scaleFactor) per spatial dim; the kernels then use 1/scaleFactor as the scale (torch's default). */
  scaleFactor?: number | readonly number[] | null;
  /** 'nearest' (default; 3-d or 4-d input), 'linear' (3-d) or 'bilinear' (4-d). */
  mode?: InterpolateMode;
  /** linear/bilinear only (default false): map the corner pixels' centres onto each other instead of using half-pixel centres. */
  alignCorners?: boolean | null;
  /** With scaleFactor: compute the output size, then interpolate as if that size had been given (scale = in/out). */
  recomputeScaleFactor?: boolean | null;
}

const TORCH_ONLY_MODES = ['bicubic', 'trilinear', 'area', 'nearest-exact'];

/**
 * torch.nn.functional.interpolate for [N, C, L] ('nearest', 'linear') and [N, C, H, W] ('nearest',
 * 'bilinear') inputs, with torch 1.13's index formulas (lib/kernels/resample.ts): a given
 * scaleFactor is passed on to the kernels (scale = 1/scaleFactor, which can differ from in/out when
 * in·scaleFactor is not an integer), unless recomputeScaleFactor. A 3-d input runs the 2-d ops on
 * its [N, C, 1, L] view. As in torch, a 3-d input is always batched [N, C, L].
 */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  const op = 'interpolate';
  requireTensor(op, 'input', x);
  if (options === null || typeof options !== 'object') fail(op, `options must be an object with a size or a scaleFactor, got ${fmtValue(options)}`);
  checkKnownKeys(op, options, ['size', 'scaleFactor', 'mode', 'alignCorners', 'recomputeScaleFactor']);
  const mode = options.mode ?? 'nearest';
  if (TORCH_ONLY_MODES.includes(mode)) fail(op, `mode '${mode}' is not supported (supported: 'nearest', 'linear', 'bilinear')`);
  if (mode !== 'nearest' && mode !== 'linear' && mode !== 'bilinear') fail(op, `mode must be 'nearest', 'linear' or 'bilinear', got ${fmtValue(mode)}`);
  const alignCornersGiven = options.alignCorners ?? null;
  if (alignCornersGiven !== null && typeof alignCornersGiven !== 'boolean') fail(op, `alignCorners must be a boolean, got ${fmtValue(alignCornersGiven)}`);
  if (mode === 'nearest' && alignCornersGiven !== null) {
    fail(op, `alignCorners can only be set with the interpolating modes 'linear' and 'bilinear', not with mode 'nearest'`);
  }
  const alignCorners = alignCornersGiven ?? false;
  if (x.ndim !== 3 && x.ndim !== 4) fail(op, `expected a 3-d [N, C, L] or 4-d [N, C, H, W] input, got shape ${fmtShape(x.shape)}`);
  if (mode === 'bilinear' && x.ndim !== 4) fail(op, `mode 'bilinear' needs a 4-d [N, C, H, W] input, got shape ${fmtShape(x.shape)}`);
  if (mode === 'linear' && x.ndim !== 3) fail(op, `mode 'linear' needs a 3-d [N, C, L] input, got shape ${fmtShape(x.shape)}`);
  const dims = x.ndim - 2;
  const spatial = x.shape.slice(2);
  const size = options.size ?? null, scaleFactor = options.scaleFactor ?? null;
  if (size !== null && scaleFactor !== null) fail(op, 'only one of size and scaleFactor may be given');
  if (size === null && scaleFactor === null) fail(op, 'either size or scaleFactor must be given');
  const recompute = options.recomputeScaleFactor ?? null;
  if (recompute !== null && typeof recompute !== 'boolean') fail(op, `recomputeScaleFactor must be a boolean, got ${fmtValue(recompute)}`);
  if (recompute === true && size !== null) fail(op, 'recomputeScaleFactor is not meaningful with an explicit size');
  const perDim = (name: string, v: number | readonly number[], ok: (e: number) => boolean, what: string): number[] => {
    const list = typeof v === 'number' ? new Array<number>(dims).fill(v) : Array.isArray(v) ? [...v] : null;
    if (list === null) fail(op, `${name} must be a number or an array of ${dims}, got ${fmtValue(v)}`);
    if (list.length !== dims) {
      fail(op, `${name} must have ${dims} entr${dims === 1 ? 'y' : 'ies'}, one per spatial dim of the input ${fmtShape(x.shape)}, got ${fmtValue(v)}`);
    }
    if (!list.every(ok)) fail(op, `${name} must hold ${what}, got ${fmtValue(v)}`);
    return list;
  };
  let outSize: number[];
  let scales: (number | null)[];
  if (size !== null) {
    outSize = perDim('size', size, (e) => Number.isInteger(e) && e >= 0, 'non-negative integers');
    scales = new Array<number | null>(dims).fill(null);
  } else {
    const sf = perDim('scaleFactor', scaleFactor!, (e) => typeof e === 'number' && Number.isFinite(e) && e > 0, 'positive finite numbers');
    outSize = spatial.map((n, i) => Math.floor(n * sf[i]));
    scales = recompute === true ? new Array<number | null>(dims).fill(null) : sf;
  }
  if (!spatial.every((n) => n > 0) || !outSize.every((n) => n > 0)) {
    fail(op, `input and output sizes must be greater than 0, got input ${fmtShape(x.shape)} and output size ${fmtShape(outSize)}`);
  }
  const x4 = dims === 1 ? unsqueeze(x, 2) : x;
  const out2: [number, number] = dims === 1 ? [1, outSize[0]] : [outSize[0], outSize[1]];
  const scales2: [number | null, number | null] = dims === 1 ? [null, scales[0]] : [scales[0], scales[1]];
  // torch 1.13 runs upsample_nearest2d's channels-last kernel (nearest_idx, with its out == in and
  // out == 2·in shortcuts) on a channels-last contiguous input, which a contiguous NCHW one is when
  // C == 1 or H·W == 1; everything else, upsample_nearest1d included, takes the generic kernel.
  // (tsgrad has no channels-last memory format, so the shape alone decides.)
  const shortcuts = dims === 2 && (x.shape[1] === 1 || spatial[0] * spatial[1] === 1);
  const y = mode === 'nearest'
    ? apply('upsampleNearest2d', { x: x4 }, { outputSize: out2, scales: scales2, shortcuts })
    : apply('upsampleBilinear2d', { x: x4 }, { outputSize: out2, alignCorners, scales: scales2 });
  return dims === 1 ? squeeze(y, 2) : y;
}

function shuffleFactor(op: string, name: string, r: unknown): number {
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) fail(op, `${name} must be a positive integer, got ${fmtValue(r)}`);
  return r;
}

/**
 * [*, C·r², H, W] → [*, C, H·r, W·r] (torch.nn.functional.pixel_shuffle): output (c, h·r + i, w·r + j)
 * is input (c·r² + i·r + j, h, w). A reshape, a permute and a reshape, so the gradient is the inverse shuffle.
 */
export function pixelShuffle(x: Tensor, upscaleFactor: number): Tensor {
  const op = 'pixelShuffle';
  requireTensor(op, 'input', x);
  const r = shuffleFactor(op, 'upscaleFactor', upscaleFactor);
  if (x.ndim < 3) fail(op, `expected an input of at least 3 dims [*, C, H, W], got shape ${fmtShape(x.shape)}`);
  const lead = x.shape.slice(0, -3);
  const [Cin, H, W] = x.shape.slice(-3);
  if (Cin % (r * r) !== 0) fail(op, `the channel dim (${Cin}, of input ${fmtShape(x.shape)}) must be divisible by upscaleFactor² = ${r * r}`);
  const C = Cin / (r * r);
  const B = numel(lead);
  const y = permute(reshape(x, [B, C, r, r, H, W]), [0, 1, 4, 2, 5, 3]);
  return reshape(y, [...lead, C, H * r, W * r]);
}

/** The inverse of pixelShuffle: [*, C, H·r, W·r] → [*, C·r², H, W] (torch.nn.functional.pixel_unshuffle). */
export function pixelUnshuffle(x: Tensor, downscaleFactor: number): Tensor {
  const op = 'pixelUnshuffle';
  requireTensor(op, 'input', x);
  const r = shuffleFactor(op, 'downscaleFactor', downscaleFactor);
  if (x.ndim < 3) fail(op, `expected an input of at least 3 dims [*, C, H, W], got shape ${fmtShape(x.shape)}`);
  const lead = x.shape.slice(0, -3);
  const [C, Hin, Win] = x.shape.slice(-3);
  if (Hin % r !== 0) fail(op, `the height (${Hin}, of input ${fmtShape(x.shape)}) must be divisible by downscaleFactor ${r}`);
  if (Win % r !== 0) fail(op, `the width (${Win}, of input ${fmtShape(x.shape)}) must be divisible by downscaleFactor ${r}`);
  const H = Hin / r, W = Win / r;
  const B = numel(lead);
  const y = permute(reshape(x, [B, C, H, r, W, r]), [0, 1, 3, 5, 2, 4]);
  return reshape(y, [...lead, C * r * r, H, W]);
}

/** y = x·Wᵀ + b for x [..., in], W [out, in] (the transpose is a strided view, not a copy). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  requireTensor('linear', 'input', x);
  requireTensor('linear', 'weight', weight);
  if (weight.ndim !== 2) fail('linear', `weight must be 2-d [out, in], got ${fmtShape(weight.shape)}`);
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    fail('linear', `input has ${x.ndim ? x.shape[x.ndim - 1] : 0} features but weight expects ${weight.shape[1]} (input ${fmtShape(x.shape)}, weight ${fmtShape(weight.shape)})`);
  }
  if (bias) {
    requireTensor('linear', 'bias', bias);
    if (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0]) fail('linear', `bias must have shape [${weight.shape[0]}], got ${fmtShape(bias.shape)}`);
  }
  const y = matmul(x, transpose(weight, 0, 1));
  return bias ? add(y, bias) : y;
}

/**
 * Inverted dropout: in training, zero each element with probability p and scale the rest by
 * 1/(1 − p); identity in eval. The mask comes from the seeded generator.
 */
export function dropout(x: Tensor, p = 0.5, training = true, generator: Random = globalRng()): Tensor {
  requireTensor('dropout', 'input', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail('dropout', `p must be in [0, 1], got ${fmtValue(p)}`);
  // A truthy non-boolean (an options object, the string 'false') would silently drop out in eval.
  if (typeof training !== 'boolean') fail('dropout', `training must be a boolean, got ${fmtValue(training)}`);
  // torch's fourth argument is `inplace`; passing it here must not end in a TypeError from the mask loop.
  if (generator === null || typeof generator !== 'object' || typeof (generator as Partial<Random>).uniform !== 'function') {
    fail('dropout', `generator must be a Random, got ${fmtValue(generator)}`);
  }
  if (!training || p === 0) return x;
  const mask = Tensor.empty(x.shape, x.dtype);
  const m = mask.storage;
  const scale = p === 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < m.length; i++) m[i] = generator.uniform() < p ? 0 : scale;
  return mul(x, mask);
}

/**
 * Channel dropout (torch's dropout2d, feature_dropout): in training, zero each whole channel (n, c)
 * with probability p and scale the kept ones by 1/(1 − p); identity in eval. As torch 1.13, the mask
 * is [N, C, 1, ...] for any input of 2 or more dims, so a 3-d input is taken as [N, C, L] (torch 1.13
 * warns that this will change to an unbatched [C, H, W]; use dropout2d on x.unsqueeze(0) for that).
 */
export function dropout2d(x: Tensor, p = 0.5, training = true, generator: Random = globalRng()): Tensor {
  const op = 'dropout2d';
  requireTensor(op, 'input', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail(op, `p must be in [0, 1], got ${fmtValue(p)}`);
  if (typeof training !== 'boolean') fail(op, `training must be a boolean, got ${fmtValue(training)}`);
  if (generator === null || typeof generator !== 'object' || typeof (generator as Partial<Random>).uniform !== 'function') {
    fail(op, `generator must be a Random, got ${fmtValue(generator)}`);
  }
  if (x.ndim < 2) fail(op, `channel dropout needs at least 2 dims [N, C, ...], got shape ${fmtShape(x.shape)}`);
  if (!training || p === 0) return x;
  const mask = Tensor.empty([x.shape[0], x.shape[1], ...new Array<number>(x.ndim - 2).fill(1)], x.dtype);
  const m = mask.storage;
  const scale = p === 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < m.length; i++) m[i] = generator.uniform() < p ? 0 : scale;
  return mul(x, mask);
}

export function logSoftmax(x: Tensor, dim: number): Tensor {
  requireTensor('logSoftmax', 'input', x);
  if (dim === undefined) fail('logSoftmax', 'dim is required');
  // A 0-d tensor takes dim 0 or -1 only, as PyTorch (normalizeAxis maps both to 0).
  const d = normalizeAxis('logSoftmax', dim, x.ndim);
  return apply('logSoftmax', { x }, { dim: d });
}

/** softmax = exp(logSoftmax): stable, and its gradient comes from the two primitives. */
export function softmax(x: Tensor, dim: number): Tensor {
  requireTensor('softmax', 'input', x);
  if (dim === undefined) fail('softmax', 'dim is required');
  normalizeAxis('softmax', dim, x.ndim);
  return exp(logSoftmax(x, dim));
}

// ---- activations (composites: their gradients, kinks included, come from the primitives) ----

/** `v` if it is a finite number, else an Error naming the op and the option. */
function finiteNumber(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(op, `${name} must be a finite number, got ${fmtValue(v)}`);
  return v;
}

/**
 * x for x > 0, else x·negativeSlope (torch's F.leaky_relu). At x = 0 the gradient is
 * negativeSlope, as torch's leaky_relu_backward (self > 0 ? grad : grad·negval).
 */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  requireTensor('leakyRelu', 'input', x);
  const slope = finiteNumber('leakyRelu', 'negativeSlope', negativeSlope);
  return where(gt(x, 0), x, mul(x, slope));
}

/**
 * scale·x for x > 0, else scale·alpha·(exp(x) − 1) by expm1, torch's elu kernel (SELU is this with
 * its constants). The negative branch reads min(x, 0) so that a large x, where it is not selected,
 * cannot overflow exp and turn its zero gradient into 0·∞ = NaN; clamp passes the gradient at 0
 * (bounds inclusive), which gives x = 0 torch's gradient there: scale·alpha (elu_backward's x <= 0 side).
 */
function eluImpl(x: Tensor, alpha: number, scale: number): Tensor {
  const pos = scale === 1 ? x : mul(x, scale);
  return where(gt(x, 0), pos, mul(expm1(clamp(x, null, 0)), alpha * scale));
}

/** x for x > 0, else alpha·(exp(x) − 1) (torch's F.elu); gradient alpha at x = 0, as torch. */
export function elu(x: Tensor, alpha = 1): Tensor {
  requireTensor('elu', 'input', x);
  return eluImpl(x, finiteNumber('elu', 'alpha', alpha), 1);
}

/** torch's SELU constants (Klambauer et al., 2017), as torch.nn.functional.selu uses them. */
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/** scale·elu(x, alpha) with torch's fixed alpha ≈ 1.6733 and scale ≈ 1.0507 (F.selu). */
export function selu(x: Tensor): Tensor {
  requireTensor('selu', 'input', x);
  return eluImpl(x, SELU_ALPHA, SELU_SCALE);
}

/** x·sigmoid(x) (torch's F.silu, the swish). */
export function silu(x: Tensor): Tensor {
  requireTensor('silu', 'input', x);
  return mul(x, sigmoid(x));
}

export interface GeluOptions {
  /** 'none' (the default): x·Φ(x) through erf; 'tanh': torch's tanh approximation. */
  approximate?: 'none' | 'tanh';
}

/**
 * GELU, torch's F.gelu: x·0.5·(1 + erf(x/√2)), or with approximate 'tanh'
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the formulas of torch's CPU kernel.
 */
export function gelu(x: Tensor, options?: GeluOptions | null): Tensor {
  requireTensor('gelu', 'input', x);
  if (typeof options === 'string') fail('gelu', `options must be an object, as gelu(x, { approximate: ${JSON.stringify(options)} }), got the string ${JSON.stringify(options)}`);
  const o = optionsObject('gelu', options, ['approximate']);
  const approximate = o.approximate ?? 'none';
  if (approximate !== 'none' && approximate !== 'tanh') fail('gelu', `approximate must be 'none' or 'tanh', got ${fmtValue(approximate)}`);
  if (approximate === 'none') return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
  const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return mul(mul(x, 0.5), add(tanh(inner), 1));
}

/**
 * log(1 + exp(beta·x))/beta, and x itself where beta·x > threshold (torch's F.softplus, whose
 * gradient there is 1). The log1p branch reads min(beta·x, threshold), so exp cannot overflow
 * where that branch is not selected (its zero gradient would become 0·∞ = NaN).
 */
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  requireTensor('softplus', 'input', x);
  const b = finiteNumber('softplus', 'beta', beta);
  const t = finiteNumber('softplus', 'threshold', threshold);
  if (b === 0) fail('softplus', 'beta must be non-zero (the result divides by it), got 0');
  const bx = b === 1 ? x : mul(x, b);
  const soft = log1p(exp(clamp(bx, null, t)));
  return where(gt(bx, t), x, b === 1 ? soft : div(soft, b));
}

/**
 * clamp(x, minVal, maxVal) whose gradient is cut only where x <= minVal or x >= maxVal, as torch's
 * hardtanh_backward (clamp's own passes at the bounds too); a NaN is on neither side, so it passes
 * its gradient, as in torch.
 */
function hardtanhImpl(x: Tensor, minVal: number, maxVal: number): Tensor {
  const outside = maximum(le(x, minVal), ge(x, maxVal));
  return where(outside, clamp(x.detach(), minVal, maxVal), x);
}

/** x clamped to [minVal, maxVal] (torch's F.hardtanh); gradient 1 strictly inside, 0 elsewhere. */
export function hardtanh(x: Tensor, minVal = -1, maxVal = 1): Tensor {
  requireTensor('hardtanh', 'input', x);
  const lo = finiteNumber('hardtanh', 'minVal', minVal);
  const hi = finiteNumber('hardtanh', 'maxVal', maxVal);
  if (lo > hi) fail('hardtanh', `minVal must not exceed maxVal, got minVal=${lo}, maxVal=${hi}`);
  return hardtanhImpl(x, lo, hi);
}

/** min(max(x, 0), 6) (torch's F.relu6 = hardtanh(x, 0, 6)); gradient 0 at 0 and at 6. */
export function relu6(x: Tensor): Tensor {
  requireTensor('relu6', 'input', x);
  return hardtanhImpl(x, 0, 6);
}

/**
 * log(sigmoid(x)) = min(x, 0) − log1p(exp(−|x|)), torch's stable form: no overflow for any x and
 * no log(0) for very negative x. Its gradient is sigmoid(−x), 0.5 at x = 0 (minimum's tie and
 * abs's zero slope at 0 give exactly that).
 */
export function logSigmoid(x: Tensor): Tensor {
  requireTensor('logSigmoid', 'input', x);
  return sub(minimum(x, 0), log1p(exp(neg(abs(x)))));
}

/** x·tanh(softplus(x)) (torch's F.mish; softplus's linear region keeps exp finite). */
export function mish(x: Tensor): Tensor {
  requireTensor('mish', 'input', x);
  return mul(x, tanh(softplus(x)));
}

// ---- normalization ----

/**
 * Layer normalisation over the last normalizedShape.length dims (torch's F.layer_norm):
 * (x − mean)/sqrt(var + eps)·weight + bias with the biased variance. The variance is the `var` op
 * (two passes, summed in double around a float64 mean), so a float32 input with a large mean and a
 * small spread keeps its accuracy; the gradients come from the composite.
 */
export function layerNorm(
  x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5,
): Tensor {
  const op = 'layerNorm';
  requireTensor(op, 'input', x);
  const ns = checkNormalizedShape(op, normalizedShape);
  const k = ns.length;
  if (x.ndim < k || !shapesEqual(x.shape.slice(x.ndim - k), ns)) {
    fail(op, `given normalizedShape ${fmtShape(ns)}, expected input with shape [*, ${ns.join(', ')}], but got input of shape ${fmtShape(x.shape)}`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t === undefined || t === null) continue;
    requireTensor(op, name, t);
    if (!shapesEqual(t.shape, ns)) fail(op, `${name} must have normalizedShape ${fmtShape(ns)}, got ${fmtShape(t.shape)}`);
    if (t.dtype !== x.dtype) fail(op, `${name} is ${t.dtype} but input is ${x.dtype}; convert one with .to()`);
  }
  if (typeof eps !== 'number' || !(eps >= 0) || eps === Infinity) fail(op, `eps must be a finite non-negative number, got ${fmtValue(eps)}`);
  const axes = ns.map((_, i) => x.ndim - k + i);
  let y: Tensor;
  if (numel(ns) === 0) {
    y = mul(x, 0); // no elements to normalise: an empty result, still on the graph
  } else {
    const centred = sub(x, mean(x, axes, true));
    y = div(centred, sqrt(add(variance(x, axes, { correction: 0, keepdim: true }), eps)));
  }
  if (weight) y = mul(y, weight);
  if (bias) y = add(y, bias);
  return y;
}

/** Checks an optional per-channel weight or bias of a norm over dim 1: a tensor of shape [C] in x's dtype. */
function checkChannelAffine(op: string, x: Tensor, name: string, t: Tensor | null | undefined): void {
  if (t === undefined || t === null) return;
  requireTensor(op, name, t);
  const C = x.shape[1];
  if (t.ndim !== 1 || t.shape[0] !== C) fail(op, `${name} must have shape [${C}] (one value per channel of input ${fmtShape(x.shape)}), got ${fmtShape(t.shape)}`);
  if (t.dtype !== x.dtype) fail(op, `${name} is ${t.dtype} but input is ${x.dtype}; convert one with .to()`);
}

/** y·weight + bias with [C] parameters broadcast over [N, C, *] (the affine step of group and instance norm). */
function channelAffine(y: Tensor, weight: Tensor | null | undefined, bias: Tensor | null | undefined): Tensor {
  const shape = [y.shape[1], ...new Array<number>(y.ndim - 2).fill(1)];
  if (weight) y = mul(y, reshape(weight, shape));
  if (bias) y = add(y, reshape(bias, shape));
  return y;
}

/** (x − mean)/sqrt(var + eps) over `axes`, the biased variance from the `var` op (two passes, summed in double). */
function normalizeOver(x: Tensor, axes: number[], eps: number): Tensor {
  const centred = sub(x, mean(x, axes, true));
  return div(centred, sqrt(add(variance(x, axes, { correction: 0, keepdim: true }), eps)));
}

function checkEps(op: string, eps: unknown): void {
  if (typeof eps !== 'number' || !(eps >= 0) || eps === Infinity) fail(op, `eps must be a finite non-negative number, got ${fmtValue(eps)}`);
}

/**
 * Group normalisation of [N, C, *] (torch's F.group_norm): the channels split into numGroups
 * groups of C/numGroups, each (sample, group) normalised over its C/numGroups·spatial elements
 * with their biased variance, then a per-channel weight and bias. A composite like layerNorm: the
 * variance is the two-pass `var` op, so float32 keeps its accuracy for a large mean. As torch, one
 * value in all (N·C/numGroups·spatial = 1) is refused.
 */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const op = 'groupNorm';
  requireTensor(op, 'input', x);
  if (typeof numGroups !== 'number' || !Number.isInteger(numGroups) || numGroups < 1) fail(op, `numGroups must be a positive integer, got ${fmtValue(numGroups)}`);
  if (x.ndim < 2) fail(op, `expected input of shape [N, C, *] (at least 2 dims), got ${fmtShape(x.shape)}`);
  const [N, C] = x.shape;
  if (C % numGroups !== 0) fail(op, `the number of channels must be divisible by numGroups, but got input of shape ${fmtShape(x.shape)} and numGroups=${numGroups}`);
  checkChannelAffine(op, x, 'weight', weight);
  checkChannelAffine(op, x, 'bias', bias);
  checkEps(op, eps);
  const perGroup = (C / numGroups) * numel(x.shape.slice(2));
  if (N * perGroup === 1) fail(op, `expected more than 1 value to normalise, got input of shape ${fmtShape(x.shape)} with numGroups=${numGroups} (one value per group)`);
  let y: Tensor;
  if (x.numel() === 0) y = mul(x, 0); // nothing to normalise: an empty result, still on the graph
  else y = reshape(normalizeOver(reshape(x, [N, numGroups, perGroup]), [2], eps), x.shape);
  return channelAffine(y, weight, bias);
}

export interface InstanceNormOptions {
  /** Normalise with each instance's own statistics (the default); false: with the running statistics. */
  useInputStats?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Instance normalisation of [N, C, *] (torch's F.instance_norm): each (sample, channel) normalised
 * over its spatial elements with their biased variance, then a per-channel weight and bias. Given
 * running statistics and useInputStats, they are updated in place as torch's instance_norm does
 * (batch norm on the [1, N·C, *] view, then the mean over N): running = (1 − momentum)·running +
 * momentum·mean over n of each instance's mean and unbiased variance. With useInputStats false the
 * running statistics normalise, as batch norm's eval mode, and no gradient reaches them. As torch,
 * using input statistics needs more than one spatial element.
 */
export function instanceNorm(
  input: Tensor, runningMean?: Tensor | null, runningVar?: Tensor | null,
  weight?: Tensor | null, bias?: Tensor | null, opts?: InstanceNormOptions | null,
): Tensor {
  const op = 'instanceNorm';
  requireTensor(op, 'input', input);
  const rm = runningMean ?? null, rv = runningVar ?? null;
  const options = optionsObject(op, opts, ['useInputStats', 'momentum', 'eps']);
  const useInputStats = options.useInputStats ?? true;
  if (typeof useInputStats !== 'boolean') fail(op, `useInputStats must be a boolean, got ${fmtValue(useInputStats)}`);
  const momentum = options.momentum ?? 0.1;
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) fail(op, `momentum must be in [0, 1], got ${fmtValue(momentum)}`);
  const eps = options.eps ?? 1e-5;
  checkEps(op, eps);
  if (input.ndim < 2) fail(op, `expected input of shape [N, C, *] (at least 2 dims), got ${fmtShape(input.shape)}`);
  checkChannelAffine(op, input, 'runningMean', rm);
  checkChannelAffine(op, input, 'runningVar', rv);
  if ((rm === null) !== (rv === null)) fail(op, 'runningMean and runningVar must be given together');
  if (!useInputStats && rm === null) fail(op, 'useInputStats: false normalises with the running statistics, so runningMean and runningVar must be given');
  checkChannelAffine(op, input, 'weight', weight);
  checkChannelAffine(op, input, 'bias', bias);
  const axes: number[] = [];
  for (let d = 2; d < input.ndim; d++) axes.push(d);
  if (useInputStats && numel(input.shape.slice(2)) === 1) {
    fail(op, `expected more than 1 spatial element when using input statistics (training), got input of shape ${fmtShape(input.shape)}`);
  }
  let y: Tensor;
  if (input.numel() === 0) {
    y = mul(input, 0); // nothing to normalise (running statistics untouched, as torch's batch_norm)
  } else if (useInputStats) {
    y = normalizeOver(input, axes, eps);
    if (rm !== null && rv !== null) {
      // Statistics only: no graph through them, as torch's running-stat update.
      const xd = input.detach();
      const batchMean = mean(mean(xd, axes), 0);
      const batchVar = mean(variance(xd, axes, { correction: 1 }), 0);
      rm.copy_(add(mul(rm.detach(), 1 - momentum), mul(batchMean, momentum)));
      rv.copy_(add(mul(rv.detach(), 1 - momentum), mul(batchVar, momentum)));
    }
  } else {
    const shape = [input.shape[1], ...new Array<number>(input.ndim - 2).fill(1)];
    const m = reshape((rm as Tensor).detach(), shape), v = reshape((rv as Tensor).detach(), shape);
    y = div(sub(input, m), sqrt(add(v, eps)));
  }
  return channelAffine(y, weight, bias);
}

export type LossReduction = 'mean' | 'sum' | 'none';

export interface MseLossOptions {
  reduction?: LossReduction;
}

/** The reduction option: 'mean' when omitted, else one of torch's three names. */
function lossReduction(op: string, reduction: unknown): LossReduction {
  const r = reduction ?? 'mean';
  if (r !== 'mean' && r !== 'sum' && r !== 'none') fail(op, `reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(r)}`);
  return r;
}

/**
 * An elementwise loss's input and target: Tensors of one dtype and exactly the same shape. torch
 * 1.13 only warns before broadcasting [N, 1] against [N] to [N, N], which trains on the wrong loss.
 */
function lossPair(op: string, input: Tensor, target: Tensor): void {
  requireTensor(op, 'input', input);
  requireTensor(op, 'target', target);
  if (!shapesEqual(input.shape, target.shape)) {
    fail(op, `input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape (reshape one, e.g. target.reshape(input.shape))`);
  }
  if (input.dtype !== target.dtype) fail(op, `dtype mismatch: input is ${input.dtype} but target is ${target.dtype}; convert one with .to()`);
}

/** 'none' keeps the elementwise loss; 'mean' of no elements is refused rather than NaN. */
function reduceLoss(op: string, loss: Tensor, reduction: LossReduction, input: Tensor): Tensor {
  if (reduction === 'none') return loss;
  if (reduction === 'sum') return sum(loss);
  if (loss.numel() === 0) fail(op, `cannot take the mean of an empty input (shape ${fmtShape(input.shape)}); use reduction 'sum'`);
  return mean(loss);
}

/**
 * A loss's weight: a Tensor of the input's dtype that requires no grad (as in PyTorch, whose loss
 * ops are not differentiable in their weights and refuse one that requires grad at the call).
 */
function lossWeight(op: string, name: string, w: unknown, input: Tensor): Tensor {
  requireTensor(op, name, w);
  if (w.dtype !== input.dtype) fail(op, `${name} is ${w.dtype} but input is ${input.dtype}; convert one with .to()`);
  if (w.requiresGrad) fail(op, `${name} requires grad, but ${op} is not differentiable with respect to it (as in PyTorch); pass ${name}.detach()`);
  return w;
}

/** An elementwise weight: broadcastable to the input's shape (never growing it), as torch expands it. */
function elementWeight(op: string, name: string, w: unknown, input: Tensor): Tensor | null {
  if (w === undefined || w === null) return null;
  const t = lossWeight(op, name, w, input);
  const lead = input.ndim - t.ndim;
  if (lead < 0 || t.shape.some((d, i) => d !== 1 && d !== input.shape[lead + i])) {
    fail(op, `${name} ${fmtShape(t.shape)} must broadcast to the input's shape ${fmtShape(input.shape)}`);
  }
  return t;
}

/** A per-class weight [C]. `of` names the classes' tensor in messages ('logits [2,3]'). */
function classWeight(op: string, w: unknown, C: number, input: Tensor, of: string): Tensor | null {
  if (w === undefined || w === null) return null;
  requireTensor(op, 'weight', w);
  if (w.ndim !== 1 || w.shape[0] !== C) fail(op, `weight must have shape [${C}], got ${fmtShape(w.shape)}`);
  if (w.dtype !== input.dtype) fail(op, `weight is ${w.dtype} but ${of} ${input.dtype}`);
  return w;
}

/**
 * Class-index targets (a Tensor, array or typed array of integer values) as an Int32Array: each an
 * integer in [0, C) or the ignore index. `of` names the input in messages ('logits [2,3]'), and
 * tShape places an offending value there (target[1,2] of a K-dimensional target). `ignore` is the
 * value the ignored targets are stored as: the ignore index itself when it fits an int32, else −1
 * (torch's ignore_index is an int64; stored as is it would wrap, 2^32 + 1 becoming class 1, and no
 * kept target is negative, so −1 cannot collide with one).
 */
function classIndices(op: string, t: ArrayLike<number>, tShape: readonly number[], C: number, ignoreIndex: number, of: string): { idx: Int32Array; ignore: number } {
  const idx = new Int32Array(t.length);
  const ignore = (ignoreIndex | 0) === ignoreIndex ? ignoreIndex : -1;
  const at = (i: number): string => (tShape.length === 0 ? 'target' : position('target', i, tShape));
  for (let i = 0; i < t.length; i++) {
    const v = t[i];
    if (!Number.isInteger(v)) fail(op, `${at(i)} = ${v} is not an integer class index`);
    if (v === ignoreIndex) {
      idx[i] = ignore;
      continue;
    }
    if (v < 0 || v >= C) fail(op, `${at(i)} = ${v} is out of range for ${C} classes (${of})`);
    idx[i] = v;
  }
  return { idx, ignore };
}

/**
 * Mean squared error (torch's F.mse_loss): (input − target)², averaged over every element
 * (default), summed, or kept ('none'). Unlike torch, which only warns, input and target must have
 * the same shape: [N, 1] against [N] would broadcast to [N, N] and silently train on the wrong loss.
 */
export function mseLoss(input: Tensor, target: Tensor, opts?: MseLossOptions | null): Tensor {
  const op = 'mseLoss';
  lossPair(op, input, target);
  const options = optionsObject(op, opts, ['reduction']);
  const reduction = lossReduction(op, options.reduction);
  const d = sub(input, target);
  return reduceLoss(op, mul(d, d), reduction, input);
}

export interface L1LossOptions {
  reduction?: LossReduction;
}

/** Mean absolute error (torch's F.l1_loss): |input − target|; its gradient at a zero difference is 0, as torch's sgn. */
export function l1Loss(input: Tensor, target: Tensor, opts?: L1LossOptions | null): Tensor {
  const op = 'l1Loss';
  lossPair(op, input, target);
  const options = optionsObject(op, opts, ['reduction']);
  return reduceLoss(op, abs(sub(input, target)), lossReduction(op, options.reduction), input);
}

export interface SmoothL1LossOptions {
  reduction?: LossReduction;
  /** Where the loss turns from quadratic to linear; 0 is the L1 loss. Default 1. */
  beta?: number;
}

/** A finite non-negative (or, with `positive`, positive) number option. */
function lossScalar(op: string, name: string, v: unknown, fallback: number, positive: boolean): number {
  const x = v ?? fallback;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || (positive && x === 0)) {
    fail(op, `${name} must be a finite ${positive ? 'positive' : 'non-negative'} number, got ${fmtValue(x)}`);
  }
  return x;
}

/**
 * torch's F.smooth_l1_loss: with d = |input − target|, 0.5·d²/β where d < β, else d − 0.5·β. β = 0
 * is the L1 loss (as torch, which would otherwise divide by 0); a negative β is an error.
 */
export function smoothL1Loss(input: Tensor, target: Tensor, opts?: SmoothL1LossOptions | null): Tensor {
  const op = 'smoothL1Loss';
  lossPair(op, input, target);
  const options = optionsObject(op, opts, ['reduction', 'beta']);
  const reduction = lossReduction(op, options.reduction);
  const beta = lossScalar(op, 'beta', options.beta, 1, false);
  const d = sub(input, target);
  const a = abs(d);
  // where() sends each branch's gradient only where it is taken: d/β inside, sign(d) outside.
  const loss = beta === 0 ? a : where(lt(a, beta), div(mul(mul(d, 0.5), d), beta), sub(a, 0.5 * beta));
  return reduceLoss(op, loss, reduction, input);
}

export interface HuberLossOptions {
  reduction?: LossReduction;
  /** Where the loss turns from quadratic to linear; positive. Default 1. */
  delta?: number;
}

/** torch's F.huber_loss: with d = |input − target|, 0.5·d² where d < δ, else δ·(d − 0.5·δ); δ must be positive. */
export function huberLoss(input: Tensor, target: Tensor, opts?: HuberLossOptions | null): Tensor {
  const op = 'huberLoss';
  lossPair(op, input, target);
  const options = optionsObject(op, opts, ['reduction', 'delta']);
  const reduction = lossReduction(op, options.reduction);
  const delta = lossScalar(op, 'delta', options.delta, 1, true);
  const d = sub(input, target);
  const a = abs(d);
  const loss = where(lt(a, delta), mul(mul(d, 0.5), d), mul(sub(a, 0.5 * delta), delta));
  return reduceLoss(op, loss, reduction, input);
}

export interface BinaryCrossEntropyOptions {
  /** Rescales each element's loss; broadcast to the input's shape. */
  weight?: Tensor | null;
  reduction?: LossReduction;
}

/**
 * torch's F.binary_cross_entropy of probabilities in [0, 1]: −w·(y·log x + (1 − y)·log(1 − x)), each
 * log clamped at −100 so x = 0 or 1 gives a finite loss and gradient (the table op
 * binaryCrossEntropy). Inputs outside [0, 1] (or NaN) are an error, as in torch; for logits use
 * binaryCrossEntropyWithLogits, which is also the more accurate of the two.
 */
export function binaryCrossEntropy(input: Tensor, target: Tensor, opts?: BinaryCrossEntropyOptions | null): Tensor {
  const op = 'binaryCrossEntropy';
  lossPair(op, input, target);
  const options = optionsObject(op, opts, ['weight', 'reduction']);
  const reduction = lossReduction(op, options.reduction);
  const weight = elementWeight(op, 'weight', options.weight, input);
  const x = input.data;
  for (let i = 0; i < x.length; i++) {
    if (!(x[i] >= 0 && x[i] <= 1)) fail(op, `all elements of input should be between 0 and 1, got ${x[i]} at flat index ${i} of input ${fmtShape(input.shape)}`);
  }
  const loss = apply('binaryCrossEntropy', { input, target }, {});
  return reduceLoss(op, weight ? mul(loss, weight) : loss, reduction, input);
}

export interface BinaryCrossEntropyWithLogitsOptions {
  /** Rescales each element's loss; broadcast to the input's shape. */
  weight?: Tensor | null;
  /** Weight of the positive term, one per class (the last dim); broadcast to the input's shape. */
  posWeight?: Tensor | null;
  reduction?: LossReduction;
}

/**
 * torch's F.binary_cross_entropy_with_logits: w·[(1 − y)·x + (1 + (p − 1)·y)·softplus(−x)] with
 * p = posWeight (without it, max(x, 0) − x·y + log(1 + e^−|x|)). softplus(−x) = −log σ(x) is taken as
 * the log-softmax of the pair (0, x): stable for any |x| (±100 in float32 gives finite losses), and its
 * gradient σ(x) − 1 is exact everywhere, where max/abs forms lose the derivative at x = 0.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts?: BinaryCrossEntropyWithLogitsOptions | null): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  lossPair(op, input, target);
  const options = optionsObject(op, opts, ['weight', 'posWeight', 'reduction']);
  const reduction = lossReduction(op, options.reduction);
  const weight = elementWeight(op, 'weight', options.weight, input);
  const posWeight = elementWeight(op, 'posWeight', options.posWeight, input);
  const logSigmoid = select(logSoftmax(pad(unsqueeze(input, -1), [1, 0]), -1), -1, 1);
  const softplusNeg = neg(logSigmoid);
  const positive = posWeight ? mul(add(mul(sub(posWeight, 1), target), 1), softplusNeg) : softplusNeg;
  const loss = add(mul(sub(1, target), input), positive);
  return reduceLoss(op, weight ? mul(loss, weight) : loss, reduction, input);
}

export interface CrossEntropyOptions {
  reduction?: 'mean' | 'sum' | 'none';
  labelSmoothing?: number;
  ignoreIndex?: number;
  /** Per-class weight [C]. */
  weight?: Tensor | null;
}

/**
 * The shapes torch 1.13's classification losses take (nll_loss_nd, cross_entropy): input [C] with a
 * 0-d class-index target, [N, C] with [N], or [N, C, d1, ..., dK] with [N, d1, ..., dK]. `what` names
 * the input in messages ('input', 'logits'). Returns the class count and the shape of an unreduced
 * result (the target's: [] for [C]).
 */
function classGeometry(op: string, input: Tensor, what: string): { C: number; outShape: number[] } {
  if (input.ndim === 0) fail(op, `expected ${what} of shape [C], [N, C] or [N, C, d1, ..., dK], got []`);
  const C = input.shape[input.ndim === 1 ? 0 : 1];
  if (C < 1) fail(op, `expected at least one class, got ${what} ${fmtShape(input.shape)}`);
  return { C, outShape: input.ndim === 1 ? [] : [input.shape[0], ...input.shape.slice(2)] };
}

/**
 * Whether a class-index target of shape tShape fits the input (see classGeometry). As torch, a [C]
 * input takes a 0-d target, or a [1] one only when C is 1 (torch checks input.size(0) ==
 * target.size(0) unless the target is 0-d). An array cannot be 0-d, so a one-element array stands for one.
 */
function classTargetFits(input: Tensor, C: number, outShape: readonly number[], tShape: readonly number[], isTensor: boolean): boolean {
  if (input.ndim !== 1) return shapesEqual(tShape, outShape);
  return tShape.length === 0 || (tShape.length === 1 && tShape[0] === 1 && (!isTensor || C === 1));
}

/** The 'expected … shape' of a class-index target for messages: [N, d1, ...], or [] for a [C] input. */
function classTargetWant(input: Tensor, outShape: readonly number[], isTensor: boolean): string {
  return input.ndim === 1 ? `[]${isTensor ? '' : ' (or a one-element array)'}` : fmtShape(outShape);
}

/**
 * The input as rows [M, C], one per target element in the target's row-major order: [C] becomes
 * [1, C], [N, C] stays, and [N, C, d1, ..., dK] has its class dim moved last and is flattened to
 * [N·d1·…·dK, C] (a copy). The [N, C] losses over these rows are torch's K-dimensional ones: each
 * row's loss is the loss at its position, and the 'mean' divisors (Σ w[t] over kept targets for
 * class indices, the number of positions for probabilities) are sums over the same positions.
 */
function classRows(input: Tensor, C: number): Tensor {
  if (input.ndim === 1) return unsqueeze(input, 0);
  if (input.ndim === 2) return input;
  const dims = input.shape.map((_, i) => i).filter((i) => i !== 1);
  return reshape(permute(input, [...dims, 1]), [input.numel() / C, C]);
}

/**
 * Cross-entropy (PyTorch's F.cross_entropy) of logits [N, C], one sample's logits [C] or
 * K-dimensional logits [N, C, d1, ..., dK], against integer class indices of shape [N] (a 0-d
 * target for [C], [N, d1, ..., dK] for K dims; a Tensor, or an array or typed array of integer
 * values for the first two), or against class probabilities: a Tensor of the logits' shape and
 * dtype, as torch 1.13, −Σ_c w_c·t'_c·log_softmax(x)_c with t' = t·(1 − ε) + ε/C, the mean dividing
 * by the number of positions N·d1·…·dK (NaN for none); that form is a composite, differentiable in
 * the target too. Class indices run the fused [M, C] table op over the logits' rows (classRows), so
 * K dims, ignoreIndex, weights and label smoothing give torch's nll_loss2d/nd values; 'none' has the
 * target's shape, and a [C] input gives a 0-d result for every reduction.
 */
export function crossEntropy(logits: Tensor, target: Tensor | ArrayLike<number>, opts?: CrossEntropyOptions | null): Tensor {
  const op = 'crossEntropy';
  requireTensor(op, 'input', logits);
  const options = optionsObject(op, opts, ['reduction', 'labelSmoothing', 'ignoreIndex', 'weight']);
  const { C, outShape } = classGeometry(op, logits, 'logits');
  if (target instanceof Tensor && shapesEqual(target.shape, logits.shape)) {
    return crossEntropyProbabilities(logits, target, options, C);
  }
  const isTensor = target instanceof Tensor;
  const t = target instanceof Tensor ? target.data : numberArray(op, 'target', target);
  const tShape = target instanceof Tensor ? target.shape : [t.length];
  if (!classTargetFits(logits, C, outShape, tShape, isTensor)) {
    fail(op, `expected class-index target of shape ${classTargetWant(logits, outShape, isTensor)} or class probabilities of shape ${fmtShape(logits.shape)} (a Tensor) for logits ${fmtShape(logits.shape)}, got ${fmtShape(tShape)}`);
  }
  const ignoreIndex = options.ignoreIndex ?? -100;
  if (typeof ignoreIndex !== 'number' || !Number.isInteger(ignoreIndex)) fail(op, `ignoreIndex must be an integer, got ${fmtValue(ignoreIndex)}`);
  const { idx, ignore } = classIndices(op, t, tShape, C, ignoreIndex, `logits ${fmtShape(logits.shape)}`);
  const reduction = lossReduction(op, options.reduction);
  const labelSmoothing = options.labelSmoothing ?? 0;
  if (typeof labelSmoothing !== 'number' || !(labelSmoothing >= 0 && labelSmoothing <= 1)) fail(op, `labelSmoothing must be in [0, 1], got ${fmtValue(labelSmoothing)}`);
  const weight = classWeight(op, options.weight, C, logits, 'logits are');
  const rows = classRows(logits, C);
  const loss = apply(op, weight ? { input: rows, weight } : { input: rows }, { target: idx, reduction, labelSmoothing, ignoreIndex: ignore, weight });
  return reduction === 'none' ? reshape(loss, outShape) : loss;
}

/** crossEntropy against class probabilities of the logits' shape, class dim 1 (0 for [C]): torch's cross_entropy_loss_prob_target. */
function crossEntropyProbabilities(logits: Tensor, target: Tensor, options: CrossEntropyOptions, C: number): Tensor {
  const op = 'crossEntropy';
  if (target.dtype !== logits.dtype) fail(op, `dtype mismatch: logits are ${logits.dtype} but the class-probability target is ${target.dtype}; convert one with .to()`);
  const reduction = lossReduction(op, options.reduction);
  const labelSmoothing = options.labelSmoothing ?? 0;
  if (typeof labelSmoothing !== 'number' || !(labelSmoothing >= 0 && labelSmoothing <= 1)) fail(op, `labelSmoothing must be in [0, 1], got ${fmtValue(labelSmoothing)}`);
  const ignoreIndex = options.ignoreIndex ?? -100;
  if (typeof ignoreIndex !== 'number' || !Number.isInteger(ignoreIndex)) fail(op, `ignoreIndex must be an integer, got ${fmtValue(ignoreIndex)}`);
  if (ignoreIndex >= 0) fail(op, `ignoreIndex is not supported for class-probability targets (target ${fmtShape(target.shape)} has the logits' shape), got ${ignoreIndex}`);
  const weight = classWeight(op, options.weight, C, logits, 'logits are');
  const classDim = logits.ndim === 1 ? 0 : 1;
  const t = labelSmoothing > 0 ? add(mul(target, 1 - labelSmoothing), labelSmoothing / C) : target;
  let prod = mul(logSoftmax(logits, classDim), t);
  if (weight) prod = mul(prod, reshape(weight, logits.shape.map((_, i) => (i === classDim ? C : 1))));
  if (reduction === 'none') return neg(sum(prod, classDim));
  const total = neg(sum(prod));
  // torch divides by the number of positions (input.numel() / C), not by the weights' sum; none: NaN.
  return reduction === 'sum' ? total : div(total, logits.numel() / C);
}

export interface NllLossOptions {
  /** Per-class weight [C]. */
  weight?: Tensor | null;
  /** Targets equal to this contribute nothing, not even to the mean's divisor. Default −100. */
  ignoreIndex?: number;
  reduction?: LossReduction;
}

/**
 * Negative log-likelihood of log-probabilities [N, C] (or one sample [C], or K-dimensional
 * [N, C, d1, ..., dK]) at class-index targets [N] (a 0-d target for [C], or a one-element array;
 * [N, d1, ..., dK] for K dims), torch's F.nll_loss: −w[t]·input[n, t, d1, ...] per position, 0 for an
 * ignored target; 'mean' divides the sum by Σ w[t] over the targets not ignored (NaN when that is
 * 0: every target ignored, or no positions, as torch). 'none' has the target's shape (an unbatched
 * input gives a 0-d result for every reduction). One op, `nllLoss` (derivatives.ts), over the input
 * in its own layout: it reads only input[n, t, ...] at each kept position (so −∞ log-probabilities of
 * other classes stay out of the sum), and its backward scatters −w[t]·grad there, zeros elsewhere.
 */
export function nllLoss(input: Tensor, target: Tensor | ArrayLike<number>, opts?: NllLossOptions | null): Tensor {
  const op = 'nllLoss';
  requireTensor(op, 'input', input);
  const options = optionsObject(op, opts, ['weight', 'ignoreIndex', 'reduction']);
  const reduction = lossReduction(op, options.reduction);
  const ignoreIndex = options.ignoreIndex ?? -100;
  if (typeof ignoreIndex !== 'number' || !Number.isInteger(ignoreIndex)) fail(op, `ignoreIndex must be an integer, got ${fmtValue(ignoreIndex)}`);
  const { C, outShape } = classGeometry(op, input, 'input');
  const isTensor = target instanceof Tensor;
  const t = target instanceof Tensor ? target.data : numberArray(op, 'target', target);
  const tShape = target instanceof Tensor ? target.shape : [t.length];
  if (!classTargetFits(input, C, outShape, tShape, isTensor)) {
    fail(op, `expected a class-index target of shape ${classTargetWant(input, outShape, isTensor)} for input ${fmtShape(input.shape)}, got ${fmtShape(tShape)}`);
  }
  const { idx, ignore } = classIndices(op, t, tShape, C, ignoreIndex, `input ${fmtShape(input.shape)}`);
  const weight = options.weight === undefined || options.weight === null ? null : lossWeight(op, 'weight', options.weight, input);
  const w = weight ? classWeight(op, weight, C, input, 'input is')!.data.slice() : null;
  return apply('nllLoss', { input }, { target: idx, ignore, weight: w, reduction });
}
