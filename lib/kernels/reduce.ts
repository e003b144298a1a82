/**
 * Axis reductions over a contiguous row-major input. The input is viewed as
 * [outer, reduced..., inner] blocks: reductions over trailing axes run as contiguous inner sums,
 * over leading axes as row-wise accumulation; mixed patterns walk the input once with an
 * odometer over the output. Sums accumulate in float64 so float32 results are accurate. Float64
 * inputs sum each contiguous run pairwise (`pairwiseSum`: error growing with log n, as torch's
 * cascade sum, not with n: 2^20 × 0.1 was off by 1e-6 with a running sum).
 * Cost: one pass over the input (the variance: two).
 */
import { allocate, dtypeOf, type FloatArray } from '../core/dtype';
import { keepShape } from './keep_shape';

/** Output layout helpers: strides of the reduced (keepdim) output aligned to the input, 0 on reduced axes. */
function reducedStrides(shape: readonly number[], axes: readonly number[]): { outSize: number; strides: number[] } {
  const strides = new Array<number>(shape.length).fill(0);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (axes.includes(d)) continue;
    strides[d] = acc;
    acc *= shape[d];
  }
  return { outSize: acc, strides };
}

/** True if the reduced axes are exactly the trailing `k` axes. */
function trailing(shape: readonly number[], axes: readonly number[]): boolean {
  for (let i = 0; i < axes.length; i++) if (axes[axes.length - 1 - i] !== shape.length - 1 - i) return false;
  return true;
}

/**
 * Walks every input row in order: row r starts at input element r·n, and its elements go to output
 * offsets o, o + step, ... (step 0 when the last axis is reduced). Callers loop over it with the
 * row's body inline (a callback made per call would be optimised afresh by V8 each time it got hot).
 */
class ReduceCursor {
  readonly rows: number;
  readonly n: number;
  readonly step: number;
  /** Output offset of the current row's first element. */
  o = 0;
  private readonly idx: number[];

  constructor(private readonly shape: readonly number[], private readonly outStrides: readonly number[]) {
    const nd = shape.length;
    this.n = shape[nd - 1];
    this.step = outStrides[nd - 1];
    this.idx = new Array<number>(nd).fill(0);
    let rows = 1;
    for (let d = 0; d < nd - 1; d++) rows *= shape[d];
    this.rows = rows;
    keepShape(this);
  }

  next(): void {
    const { shape, outStrides, idx } = this;
    for (let d = shape.length - 2; d >= 0; d--) {
      idx[d]++;
      this.o += outStrides[d];
      if (idx[d] < shape[d]) break;
      this.o -= outStrides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** Runs of at most this many elements are summed in order; longer ones are split in two. */
const PAIRWISE_BLOCK = 128;

/** Σ x[i0, i0 + n) pairwise: blocks of PAIRWISE_BLOCK in order, combined as a binary tree. */
function pairwiseSum(x: FloatArray, i0: number, n: number): number {
  if (n <= PAIRWISE_BLOCK) {
    let s = 0;
    for (let i = i0, end = i0 + n; i < end; i++) s += x[i];
    return s;
  }
  const half = Math.ceil(n / (2 * PAIRWISE_BLOCK)) * PAIRWISE_BLOCK;
  return pairwiseSum(x, i0, half) + pairwiseSum(x, i0 + half, n - half);
}

/** Σ (x[i] − m)² over [i0, i0 + n), pairwise like pairwiseSum. */
function pairwiseSqDev(x: FloatArray, i0: number, n: number, m: number): number {
  if (n <= PAIRWISE_BLOCK) {
    let s = 0;
    for (let i = i0, end = i0 + n; i < end; i++) {
      const d = x[i] - m;
      s += d * d;
    }
    return s;
  }
  const half = Math.ceil(n / (2 * PAIRWISE_BLOCK)) * PAIRWISE_BLOCK;
  return pairwiseSqDev(x, i0, half, m) + pairwiseSqDev(x, i0 + half, n - half, m);
}

/** Sum of x (contiguous, `shape`) over `axes` (sorted, unique). Output is the keepdim shape's data. */
export function sumAxes(x: FloatArray, shape: readonly number[], axes: readonly number[]): FloatArray {
  const { outSize, strides } = reducedStrides(shape, axes);
  const out = allocate(dtypeOf(x), outSize);
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return out;
  if (axes.length === 0) {
    out.set(x.subarray(0, total));
    return out;
  }
  if (trailing(shape, axes)) {
    const inner = total / outSize;
    if (x instanceof Float64Array) {
      for (let o = 0; o < outSize; o++) out[o] = pairwiseSum(x, o * inner, inner);
      return out;
    }
    for (let o = 0; o < outSize; o++) {
      let s = 0;
      const base = o * inner;
      for (let i = 0; i < inner; i++) s += x[base + i];
      out[o] = s;
    }
    return out;
  }
  const acc = sumsInto(x, new ReduceCursor(shape, strides), new Float64Array(outSize));
  for (let i = 0; i < outSize; i++) out[i] = acc[i];
  return out;
}

/**
 * The sums over the reduced axes, added into `acc` (float64, one per output) row by row as `cur`
 * walks x: a contiguous run pairwise in float64 (in order in float32), else strided accumulation.
 */
function sumsInto(x: FloatArray, cur: ReduceCursor, acc: Float64Array): Float64Array {
  const { n, step } = cur;
  const f64 = x instanceof Float64Array;
  for (let r = 0; r < cur.rows; r++, cur.next()) {
    const i0 = r * n, o0 = cur.o;
    if (step === 0 && f64) {
      acc[o0] += pairwiseSum(x, i0, n);
    } else if (step === 0) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[i0 + i];
      acc[o0] += s;
    } else {
      for (let i = 0; i < n; i++) acc[o0 + i * step] += x[i0 + i];
    }
  }
  return acc;
}

/**
 * Variance of x (contiguous, `shape`) over `axes` (sorted, unique): Σ(x − mean)² / max(0, count −
 * correction), two passes with the mean and the squared deviations in float64, as torch.var on CPU
 * accumulates in double. A composite in the input's dtype would centre on the mean rounded to
 * float32, off by up to half an ulp of the mean: with a large mean and a small spread (1e5 + 0.1·randn)
 * that adds n·δ² to the sum, 1e-3 relative error; and its float32 Σ(x − mean)² could overflow where
 * the variance itself fits. With `sqrt`, the standard deviation (torch.std: the square root of the
 * float64 variance, rounded once). Output is the keepdim shape's data.
 */
export function varianceAxes(x: FloatArray, shape: readonly number[], axes: readonly number[], correction: number, sqrt = false): FloatArray {
  const { outSize, strides } = reducedStrides(shape, axes);
  const out = allocate(dtypeOf(x), outSize);
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return out;
  const count = total / outSize, div = Math.max(0, count - correction);
  if (axes.length === 0) {
    // Each element is its own mean (a NaN or infinite one gives NaN).
    for (let i = 0; i < total; i++) {
      const d = x[i] - x[i], v = (d * d) / div;
      out[i] = sqrt ? Math.sqrt(v) : v;
    }
    return out;
  }
  const mean = sumsInto(x, new ReduceCursor(shape, strides), new Float64Array(outSize));
  for (let o = 0; o < outSize; o++) mean[o] /= count;
  const cur = new ReduceCursor(shape, strides);
  const { n, step } = cur;
  const f64 = x instanceof Float64Array;
  const acc = new Float64Array(outSize);
  for (let r = 0; r < cur.rows; r++, cur.next()) {
    const i0 = r * n, o0 = cur.o;
    if (step === 0 && f64) {
      acc[o0] += pairwiseSqDev(x, i0, n, mean[o0]);
    } else if (step === 0) {
      const m = mean[o0];
      let s = 0;
      for (let i = 0; i < n; i++) {
        const d = x[i0 + i] - m;
        s += d * d;
      }
      acc[o0] += s;
    } else {
      for (let i = 0; i < n; i++) {
        const o = o0 + i * step, d = x[i0 + i] - mean[o];
        acc[o] += d * d;
      }
    }
  }
  for (let o = 0; o < outSize; o++) out[o] = sqrt ? Math.sqrt(acc[o] / div) : acc[o] / div;
  return out;
}

/** Maximum (mode 'max') or minimum of x over `axes`; NaN propagates as in torch.amax. */
export function extremeAxes(x: FloatArray, shape: readonly number[], axes: readonly number[], mode: 'max' | 'min'): FloatArray {
  const { outSize, strides } = reducedStrides(shape, axes);
  const out = allocate(dtypeOf(x), outSize);
  const sign = mode === 'max' ? 1 : -1;
  out.fill(-Infinity * sign);
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return out;
  if (axes.length === 0) {
    // Nothing reduced (a 0-d input has no axes): each element is its own extreme.
    out.set(x.subarray(0, total));
    return out;
  }
  const cur = new ReduceCursor(shape, strides);
  const { n, step } = cur;
  for (let r = 0; r < cur.rows; r++, cur.next()) {
    const i0 = r * n, o0 = cur.o;
    for (let i = 0; i < n; i++) {
      const o = o0 + i * step;
      const v = x[i0 + i];
      const now = out[o];
      if (v !== v || (now === now && (sign > 0 ? v > now : v < now))) out[o] = v;
    }
  }
  return out;
}

/**
 * Index of the first maximum along one axis of a contiguous [outer, D, inner] input, as a float
 * array of indices (torch.argmax returns int64; this project stores indices in the input's dtype).
 * A NaN counts as the maximum, as in PyTorch.
 */
export function argmaxAxis(x: FloatArray, outer: number, D: number, inner: number): FloatArray {
  return argExtremeAxis(x, outer, D, inner, 1);
}

/**
 * Index of the first minimum along one axis, as argmaxAxis. A NaN counts as the minimum, as in
 * PyTorch (its argmin compares with LessOrNan: the first NaN wins over every number).
 */
export function argminAxis(x: FloatArray, outer: number, D: number, inner: number): FloatArray {
  return argExtremeAxis(x, outer, D, inner, -1);
}

/** sign 1: first maximum; -1: first minimum; the first NaN of a row wins either way. */
function argExtremeAxis(x: FloatArray, outer: number, D: number, inner: number, sign: 1 | -1): FloatArray {
  const out = allocate(dtypeOf(x), outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * D * inner + j;
      let best = x[base], bi = 0;
      if (best === best) {
        for (let d = 1; d < D; d++) {
          const v = x[base + d * inner];
          if (v !== v) { bi = d; break; }
          if (sign > 0 ? v > best : v < best) { best = v; bi = d; }
        }
      }
      out[o * inner + j] = bi;
    }
  }
  return out;
}

/**
 * Running sum along one axis of a contiguous [outer, D, inner] input (torch.cumsum), accumulated in
 * float64 and rounded once per element, as torch's CPU kernel accumulates float32 in double. With
 * `reverse`, each element gets the sum of itself and everything after it along the axis: the
 * gradient of cumsum.
 */
export function cumsumAxis(x: FloatArray, outer: number, D: number, inner: number, reverse = false): FloatArray {
  const out = allocate(dtypeOf(x), outer * D * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * D * inner + j;
      let s = 0;
      if (reverse) {
        for (let d = D - 1; d >= 0; d--) { s += x[base + d * inner]; out[base + d * inner] = s; }
      } else {
        for (let d = 0; d < D; d++) { s += x[base + d * inner]; out[base + d * inner] = s; }
      }
    }
  }
  return out;
}

/**
 * Product along one axis of a contiguous [outer, D, inner] input (torch.prod; an empty axis gives
 * 1), multiplied in float64 and rounded once, so a float32 product is the correctly rounded double's.
 * Output is [outer, inner].
 */
export function prodAxis(x: FloatArray, outer: number, D: number, inner: number): FloatArray {
  const out = allocate(dtypeOf(x), outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * D * inner + j;
      let p = 1;
      for (let d = 0; d < D; d++) p *= x[base + d * inner];
      out[o * inner + j] = p;
    }
  }
  return out;
}

/**
 * For each element, the product of the other elements of its run along the axis (prefix product
 * before it times suffix product after it, each in float64): torch's prod_safe_zeros_backward, the
 * gradient of prod that stays right where the run holds zeros. Same shape as x.
 */
export function exclusiveProdAxis(x: FloatArray, outer: number, D: number, inner: number): FloatArray {
  const out = allocate(dtypeOf(x), outer * D * inner);
  const prefix = new Float64Array(D);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * D * inner + j;
      let p = 1;
      for (let d = 0; d < D; d++) { prefix[d] = p; p *= x[base + d * inner]; }
      let s = 1;
      for (let d = D - 1; d >= 0; d--) { out[base + d * inner] = prefix[d] * s; s *= x[base + d * inner]; }
    }
  }
  return out;
}
