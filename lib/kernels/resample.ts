/**
 * Resampling kernels over NCHW, row-major planes: nearest and bilinear upsampling (torch's
 * upsample_nearest2d / upsample_bilinear2d, the kernels under F.interpolate) and adaptive max
 * pooling, each forward and backward.
 *
 * The source positions are torch 1.13's CPU formulas, computed once per axis into small tables:
 * - nearest: src = min(floor(dst·scale), in − 1), with scale = 1/scaleFactor when a scale factor
 *   was given and in/out otherwise. torch 1.13 has two kernels for it, and the `shortcuts` flag picks:
 *   the generic one (HelperInterpNearest, what upsample_nearest1d and an NCHW upsample_nearest2d with
 *   C > 1 run) computes the scale and scale·dst in the dtype and floors the float of that (floorf);
 *   the channels-last one (nearest_idx, which a 4-d input with C == 1 gets, being channels-last
 *   contiguous too) computes them in float32 whatever the dtype and has two shortcuts: out == in
 *   copies, out == 2·in takes dst >> 1 (they differ from the formula for some scale factors, e.g.
 *   10 · 2.05 → 20). torch's backward always uses nearest_idx, which is not the gradient of the
 *   generic forward in those cases; here the backward uses the forward's indices, the true gradient.
 * - bilinear: alignCorners maps the corners, scale = (in − 1)/(out − 1) (0 for out 1), src = scale·dst;
 *   otherwise half-pixel centres, src = max(scale·(dst + 0.5) − 0.5, 0) with the scale as above; the
 *   left tap is trunc(src), the right one the next (the same one on the last row), weights src − left
 *   and 1 − that; out == in copies. These run in the dtype's precision (Math.fround for float32), as
 *   torch computes them in the scalar type.
 * - adaptive max: bins [floor(i·in/out), ceil((i+1)·in/out)) (pool.ts's adaptiveBins); the first
 *   maximum in row-major bin order, or, as torch, the last NaN of the bin.
 *
 * Values are summed in double and rounded once on store; backward passes accumulate into a
 * Float64Array and round once, so float32 gradients where taps overlap are summed in double.
 * Cost: forward and backward touch each output once with at most four taps (adaptive pooling: each
 * bin's taps, about H·W·(1 + overlap) per plane). These run on the calling thread: they are not on
 * ResNet's path, and every plane is independent, so a split over the pool would not change a bit.
 */
import { allocate, dtypeOf, type DType, type FloatArray } from '../core/dtype';
import { fail, fmtShape, fmtValue } from '../core/errors';
import { adaptiveBins } from './pool';

/** An [N, C, H, W] input resampled to [N, C, OH, OW]. */
export interface ResampleGeometry {
  N: number; C: number; H: number; W: number;
  OH: number; OW: number;
}

/** Per-axis scale factors as given to interpolate (torch's scales_h/scales_w): null when the size was given or recomputed. */
export type ResampleScales = readonly [number | null, number | null];

function checkGeometry(op: string, g: ResampleGeometry): void {
  if (g === null || typeof g !== 'object') fail(op, `expected a geometry {N, C, H, W, OH, OW}, got ${fmtValue(g)}`);
  for (const k of ['N', 'C', 'H', 'W', 'OH', 'OW'] as const) {
    const v = g[k];
    // No images or no channels is an empty result; the spatial sizes must be positive, as torch's upsample checks.
    const min = k === 'N' || k === 'C' ? 0 : 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      fail(op, `${k} must be an integer >= ${min}, got ${fmtValue(v)} (input ${fmtShape([g.N, g.C, g.H, g.W])}, output size ${g.OH}x${g.OW})`);
    }
  }
}

function checkLength(op: string, name: string, a: ArrayLike<number>, n: number, shape: readonly number[]): void {
  if (a === null || typeof a !== 'object' || typeof a.length !== 'number') fail(op, `${name} must be a typed array, got ${fmtValue(a)}`);
  if (a.length !== n) fail(op, `${name} has ${a.length} elements, expected ${n} for ${fmtShape(shape)}`);
}

function checkScale(op: string, s: number | null): void {
  if (s !== null && !(typeof s === 'number' && Number.isFinite(s) && s > 0)) fail(op, `a scale factor must be a positive finite number or null, got ${fmtValue(s)}`);
}

const inShape = (g: ResampleGeometry): number[] => [g.N, g.C, g.H, g.W];
const outShape = (g: ResampleGeometry): number[] => [g.N, g.C, g.OH, g.OW];

// ---- nearest ----

/**
 * The source index of every output position of one axis (see the header): with `shortcuts`, torch's
 * nearest_idx (float32 scale, out == in and out == 2·in special cases); without, its generic kernel
 * (the scale and scale·dst in dtype's precision, then rounded to float32 and floored, as floorf).
 */
export function nearestIndices(inSize: number, outSize: number, scaleFactor: number | null, dtype: DType, shortcuts: boolean): Int32Array {
  const idx = new Int32Array(outSize);
  if (shortcuts && outSize === inSize) {
    for (let i = 0; i < outSize; i++) idx[i] = i;
  } else if (shortcuts && outSize === 2 * inSize) {
    for (let i = 0; i < outSize; i++) idx[i] = i >> 1;
  } else {
    // compute_scales_value<T>: 1/scale in double, then cast; or T(in)/out, a division in T.
    const r = shortcuts || dtype === 'float32' ? Math.fround : (v: number): number => v;
    const scale = r(scaleFactor !== null && scaleFactor > 0 ? 1 / scaleFactor : inSize / outSize);
    for (let i = 0; i < outSize; i++) idx[i] = Math.min(Math.floor(Math.fround(scale * i)), inSize - 1);
  }
  return idx;
}

/** `shortcuts`: torch's channels-last kernel (nearest_idx) rather than its generic one (see the header). */
export function upsampleNearest2dForward(x: FloatArray, g: ResampleGeometry, scales: ResampleScales, shortcuts: boolean): FloatArray {
  const op = 'upsampleNearest2dForward';
  checkGeometry(op, g);
  checkLength(op, 'x', x, g.N * g.C * g.H * g.W, inShape(g));
  checkScale(op, scales[0]);
  checkScale(op, scales[1]);
  const { H, W, OH, OW } = g;
  const dtype = dtypeOf(x);
  const rows = nearestIndices(H, OH, scales[0], dtype, shortcuts), cols = nearestIndices(W, OW, scales[1], dtype, shortcuts);
  const planes = g.N * g.C;
  const out = allocate(dtype, planes * OH * OW);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const xb = p * H * W;
    for (let oy = 0; oy < OH; oy++) {
      const rb = xb + rows[oy] * W;
      for (let ox = 0; ox < OW; ox++) out[o++] = x[rb + cols[ox]];
    }
  }
  return out;
}

/** Each output gradient goes to the input element it copied; several outputs of one source add up. */
export function upsampleNearest2dBackward(gy: FloatArray, g: ResampleGeometry, scales: ResampleScales, shortcuts: boolean): FloatArray {
  const op = 'upsampleNearest2dBackward';
  checkGeometry(op, g);
  checkLength(op, 'gy', gy, g.N * g.C * g.OH * g.OW, outShape(g));
  checkScale(op, scales[0]);
  checkScale(op, scales[1]);
  const { H, W, OH, OW } = g;
  const rows = nearestIndices(H, OH, scales[0], dtypeOf(gy), shortcuts), cols = nearestIndices(W, OW, scales[1], dtypeOf(gy), shortcuts);
  const planes = g.N * g.C;
  const acc = new Float64Array(planes * H * W);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const xb = p * H * W;
    for (let oy = 0; oy < OH; oy++) {
      const rb = xb + rows[oy] * W;
      for (let ox = 0; ox < OW; ox++) acc[rb + cols[ox]] += gy[o++];
    }
  }
  const gx = allocate(dtypeOf(gy), acc.length);
  gx.set(acc);
  return gx;
}

// ---- bilinear ----

/** The two taps and weights of every output position of one axis: value = l0·x[i0] + l1·x[i1]. */
export interface LinearTaps {
  i0: Int32Array; i1: Int32Array;
  l0: Float64Array; l1: Float64Array;
}

/** torch's area_pixel_compute_scale / area_pixel_compute_source_index / compute_source_index_and_lambda for one axis, in dtype's precision. */
export function linearTaps(inSize: number, outSize: number, alignCorners: boolean, scaleFactor: number | null, dtype: DType): LinearTaps {
  const r = dtype === 'float32' ? Math.fround : (v: number): number => v;
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize);
  const l0 = new Float64Array(outSize), l1 = new Float64Array(outSize);
  if (outSize === inSize) {
    for (let i = 0; i < outSize; i++) {
      i0[i] = i1[i] = i;
      l0[i] = 1;
    }
    return { i0, i1, l0, l1 };
  }
  let scale: number;
  if (alignCorners) scale = outSize > 1 ? r((inSize - 1) / (outSize - 1)) : 0;
  else scale = r(scaleFactor !== null && scaleFactor > 0 ? 1 / scaleFactor : inSize / outSize);
  for (let i = 0; i < outSize; i++) {
    const src = alignCorners ? r(scale * i) : Math.max(r(scale * (i + 0.5) - 0.5), 0);
    const lo = Math.trunc(src);
    i0[i] = lo;
    i1[i] = lo < inSize - 1 ? lo + 1 : lo;
    l1[i] = r(src - lo);
    l0[i] = r(1 - l1[i]);
  }
  return { i0, i1, l0, l1 };
}

export function upsampleBilinear2dForward(x: FloatArray, g: ResampleGeometry, alignCorners: boolean, scales: ResampleScales): FloatArray {
  const op = 'upsampleBilinear2dForward';
  checkGeometry(op, g);
  checkLength(op, 'x', x, g.N * g.C * g.H * g.W, inShape(g));
  checkScale(op, scales[0]);
  checkScale(op, scales[1]);
  const { H, W, OH, OW } = g;
  const dtype = dtypeOf(x);
  const ty = linearTaps(H, OH, alignCorners, scales[0], dtype), tx = linearTaps(W, OW, alignCorners, scales[1], dtype);
  const planes = g.N * g.C;
  const out = allocate(dtype, planes * OH * OW);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const xb = p * H * W;
    for (let oy = 0; oy < OH; oy++) {
      const r0 = xb + ty.i0[oy] * W, r1 = xb + ty.i1[oy] * W;
      const h0 = ty.l0[oy], h1 = ty.l1[oy];
      for (let ox = 0; ox < OW; ox++) {
        const c0 = tx.i0[ox], c1 = tx.i1[ox], w0 = tx.l0[ox], w1 = tx.l1[ox];
        out[o++] = h0 * (w0 * x[r0 + c0] + w1 * x[r0 + c1]) + h1 * (w0 * x[r1 + c0] + w1 * x[r1 + c1]);
      }
    }
  }
  return out;
}

/** Each output gradient is spread over its four taps with the forward's weights. */
export function upsampleBilinear2dBackward(gy: FloatArray, g: ResampleGeometry, alignCorners: boolean, scales: ResampleScales): FloatArray {
  const op = 'upsampleBilinear2dBackward';
  checkGeometry(op, g);
  checkLength(op, 'gy', gy, g.N * g.C * g.OH * g.OW, outShape(g));
  checkScale(op, scales[0]);
  checkScale(op, scales[1]);
  const { H, W, OH, OW } = g;
  const dtype = dtypeOf(gy);
  const ty = linearTaps(H, OH, alignCorners, scales[0], dtype), tx = linearTaps(W, OW, alignCorners, scales[1], dtype);
  const planes = g.N * g.C;
  const acc = new Float64Array(planes * H * W);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const xb = p * H * W;
    for (let oy = 0; oy < OH; oy++) {
      const r0 = xb + ty.i0[oy] * W, r1 = xb + ty.i1[oy] * W;
      const h0 = ty.l0[oy], h1 = ty.l1[oy];
      for (let ox = 0; ox < OW; ox++) {
        const c0 = tx.i0[ox], c1 = tx.i1[ox], w0 = tx.l0[ox], w1 = tx.l1[ox];
        const v = gy[o++];
        acc[r0 + c0] += h0 * w0 * v;
        acc[r0 + c1] += h0 * w1 * v;
        acc[r1 + c0] += h1 * w0 * v;
        acc[r1 + c1] += h1 * w1 * v;
      }
    }
  }
  const gx = allocate(dtype, acc.length);
  gx.set(acc);
  return gx;
}

// ---- adaptive max pooling ----

/**
 * `argmax` holds, per output, the flat index y·W + x of the chosen element within its H×W plane
 * (the indices F.adaptiveMaxPool2d returns, as torch's).
 */
export function adaptiveMaxPool2dForward(x: FloatArray, g: ResampleGeometry): { out: FloatArray; argmax: Int32Array } {
  const op = 'adaptiveMaxPool2dForward';
  checkGeometry(op, g);
  checkLength(op, 'x', x, g.N * g.C * g.H * g.W, inShape(g));
  const { H, W, OH, OW } = g;
  const rows = adaptiveBins(H, OH), cols = adaptiveBins(W, OW);
  const n = g.N * g.C * OH * OW;
  const out = allocate(dtypeOf(x), n);
  const argmax = new Int32Array(n);
  let o = 0;
  for (let p = 0; p < g.N * g.C; p++) {
    const xb = p * H * W;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = rows.lo[oy], y1 = rows.hi[oy];
      for (let ox = 0; ox < OW; ox++) {
        const x0 = cols.lo[ox], x1 = cols.hi[ox];
        let best = -Infinity;
        let bestIdx = y0 * W + x0;
        for (let y = y0; y < y1; y++) {
          for (let xx = x0; xx < x1; xx++) {
            const v = x[xb + y * W + xx];
            // v !== v is the NaN test: a NaN always replaces the running max, as in torch.
            if (v > best || v !== v) {
              best = v;
              bestIdx = y * W + xx;
            }
          }
        }
        out[o] = best;
        argmax[o++] = bestIdx;
      }
    }
  }
  return { out, argmax };
}

/** The values at `argmax` (a forward whose indices are already known; each index is checked to lie in its plane). */
export function gatherPlanes(x: FloatArray, argmax: Int32Array, g: ResampleGeometry): FloatArray {
  const op = 'gatherPlanes';
  checkGeometry(op, g);
  checkLength(op, 'x', x, g.N * g.C * g.H * g.W, inShape(g));
  checkLength(op, 'argmax', argmax, g.N * g.C * g.OH * g.OW, outShape(g));
  const HW = g.H * g.W, P = g.OH * g.OW;
  const out = allocate(dtypeOf(x), argmax.length);
  for (let o = 0; o < argmax.length; o++) {
    const k = argmax[o];
    if (!(k >= 0 && k < HW)) fail(op, `index ${k} at output ${o} is outside its ${g.H}x${g.W} plane`);
    out[o] = x[Math.floor(o / P) * HW + k];
  }
  return out;
}

/** Routes each output gradient to its argmax; bins that overlap add up. */
export function adaptiveMaxPool2dBackward(gy: FloatArray, argmax: Int32Array, g: ResampleGeometry): FloatArray {
  const op = 'adaptiveMaxPool2dBackward';
  checkGeometry(op, g);
  checkLength(op, 'gy', gy, g.N * g.C * g.OH * g.OW, outShape(g));
  checkLength(op, 'argmax', argmax, g.N * g.C * g.OH * g.OW, outShape(g));
  const HW = g.H * g.W, P = g.OH * g.OW;
  const acc = new Float64Array(g.N * g.C * HW);
  for (let o = 0; o < gy.length; o++) {
    const k = argmax[o];
    if (!(k >= 0 && k < HW)) fail(op, `index ${k} at output ${o} is outside its ${g.H}x${g.W} plane`);
    acc[Math.floor(o / P) * HW + k] += gy[o];
  }
  const gx = allocate(dtypeOf(gy), acc.length);
  gx.set(acc);
  return gx;
}
