import { allocate, dtypeOf, sharedStorageEnabled, type FloatArray } from '../core/dtype';
import { fail, fmtShape, fmtValue } from '../core/errors';
import { pair, single } from '../core/shape';
import { availableThreads, parallelFor, registerTask, sharedInput, type TaskArgs } from './parallel';
import { align16, wasmElementwiseEnabled } from './wasm_elementwise';
import { poolWasm, type PoolWasm } from './wasm_pool';

/**
 * 2-D pooling over NCHW, row-major tensors: max pooling (with argmax for the backward), average
 * pooling and adaptive average pooling, each with PyTorch's geometry and divisor rules.
 *
 * Every image plane (one (n, c) pair, H·W contiguous elements) is independent, so each kernel has
 * a `...Range(…, p0, p1)` entry point that computes only planes [p0, p1) of the N·C planes; the
 * whole-array functions split [0, N·C) over the thread pool when there is enough work. A plane's
 * result never depends on how the planes were split. Float32 max pooling runs through WebAssembly
 * (wasm_pool.ts), four planes per vector so that four independent compare-and-select chains run
 * side by side without branches (a scalar per-window chain measured no faster than JS; the vector
 * one takes ResNet18's stem pool on 32 images of 64×16×16 from 9.9 to 1.6 ms, its backward from
 * 3.3 to 2.4 ms), with results bit-identical to the JS loops.
 *
 * Cost: forward and backward touch each window tap once, N·C·OH·OW·KH·KW loads (adaptive pooling:
 * about N·C·H·W·(1 + overlap)). Window sums accumulate in a double, and backward passes in a
 * per-plane Float64Array scratch, so float32 gradients where windows overlap are summed in double
 * and rounded once.
 */

export interface Pool2dParams {
  kernelSize: number | readonly number[];
  /** Defaults to kernelSize, as in PyTorch. */
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  /** Max pooling only. */
  dilation?: number | readonly number[];
  ceilMode?: boolean;
}

export interface Pool2dGeometry {
  N: number; C: number; H: number; W: number;
  KH: number; KW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  OH: number; OW: number;
  ceilMode: boolean;
}

export interface AvgPool2dOptions {
  countIncludePad?: boolean;
  divisorOverride?: number;
}

/** PyTorch's pooling_output_shape: floor or ceil division, and in ceil mode the last window must start inside the input or its left padding. */
function pooledSize(inSize: number, k: number, pad: number, stride: number, dil: number, ceilMode: boolean): number {
  let out = Math.floor((inSize + 2 * pad - dil * (k - 1) - 1 + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  if (ceilMode && (out - 1) * stride >= inSize + pad) out--;
  return out;
}

/**
 * Validates an NCHW input shape and pooling parameters and derives the output size, with PyTorch's
 * rules and errors (padding at most half the kernel, output at least 1x1). `op` names the caller
 * in error messages ('maxPool2d', 'avgPool2d').
 */
export function pool2dGeometry(op: string, xShape: readonly number[], params: Pool2dParams): Pool2dGeometry {
  if (!Array.isArray(xShape) || xShape.length !== 4) {
    fail(op, `expected a 4-d NCHW input, got shape ${Array.isArray(xShape) ? fmtShape(xShape) : String(xShape)}`);
  }
  if (!xShape.every((d) => Number.isInteger(d) && d >= 0)) fail(op, `invalid input shape ${fmtShape(xShape)}: dimensions must be non-negative integers`);
  const [N, C, H, W] = xShape;
  if (C < 1 || H < 1 || W < 1) fail(op, `expected non-zero channels, height and width, got input ${fmtShape(xShape)}`);
  if (params === null || typeof params !== 'object') fail(op, `params must be an object with a kernelSize, got ${String(params)}`);
  const [KH, KW] = pair(op, 'kernelSize', params.kernelSize, 1);
  const [sh, sw] = pair(op, 'stride', params.stride ?? [KH, KW], 1);
  const [ph, pw] = pair(op, 'padding', params.padding ?? 0, 0);
  const [dh, dw] = pair(op, 'dilation', params.dilation ?? 1, 1);
  const ceilMode = params.ceilMode ?? false;
  if (typeof ceilMode !== 'boolean') fail(op, `ceilMode must be a boolean, got ${String(ceilMode)}`);
  const square = KH === KW && ph === pw;
  if (ph > Math.floor(KH / 2)) {
    fail(op, `pad ${ph} should be at most half of the kernel size ${KH}${square ? '' : ' in height'} (input ${fmtShape(xShape)})`);
  }
  if (pw > Math.floor(KW / 2)) {
    fail(op, `pad ${pw} should be at most half of the kernel size ${KW}${square ? '' : ' in width'} (input ${fmtShape(xShape)})`);
  }
  const OH = pooledSize(H, KH, ph, sh, dh, ceilMode);
  const OW = pooledSize(W, KW, pw, sw, dw, ceilMode);
  if (OH < 1 || OW < 1) {
    fail(op, `output size ${OH}x${OW} is too small for input ${fmtShape(xShape)} (kernel ${KH}x${KW}, stride ${sh}x${sw}, padding ${ph}x${pw}, dilation ${dh}x${dw}${ceilMode ? ', ceil mode' : ''})`);
  }
  // PyTorch returns -inf (and an index outside the plane) when a dilated window's taps all land in
  // padding; its maintainers call that configuration invalid (pytorch#114216), so reject it here.
  checkTapsHitInput(op, 'row', H, OH, KH, sh, ph, dh, xShape);
  checkTapsHitInput(op, 'column', W, OW, KW, sw, pw, dw, xShape);
  return { N, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, ceilMode };
}

export interface Pool1dParams {
  kernelSize: number | readonly number[];
  /** Defaults to kernelSize, as in PyTorch. */
  stride?: number | readonly number[] | null;
  padding?: number | readonly number[];
  /** Max pooling only. */
  dilation?: number | readonly number[];
  ceilMode?: boolean;
}

/**
 * The geometry of a 1-d pool over an [N, C, L] input (or an unbatched [C, L] one, N = 1): the 2-d
 * geometry of the [N, C, 1, L] view with a window of 1 row, stride 1 and no padding across the unit
 * height, which is how torch's max_pool1d and avg_pool1d run (on input.unsqueeze(-2)): every window,
 * ceil-mode rule and divisor is then the 1-d one. Validated here in 1-d terms, so errors name `op`
 * and the shape the caller passed.
 */
export function pool1dGeometry(op: string, xShape: readonly number[], params: Pool1dParams): Pool2dGeometry {
  if (!Array.isArray(xShape) || (xShape.length !== 2 && xShape.length !== 3)) {
    fail(op, `expected a 2-d [C, L] or 3-d [N, C, L] input, got shape ${Array.isArray(xShape) ? fmtShape(xShape) : String(xShape)}`);
  }
  if (!xShape.every((d) => Number.isInteger(d) && d >= 0)) fail(op, `invalid input shape ${fmtShape(xShape)}: dimensions must be non-negative integers`);
  const [N, C, L] = xShape.length === 3 ? xShape : [1, ...xShape];
  if (C < 1 || L < 1) fail(op, `expected non-zero channels and length, got input ${fmtShape(xShape)}`);
  if (params === null || typeof params !== 'object') fail(op, `params must be an object with a kernelSize, got ${String(params)}`);
  const k = single(op, 'kernelSize', params.kernelSize, 1);
  const s = single(op, 'stride', params.stride ?? k, 1);
  const p = single(op, 'padding', params.padding ?? 0, 0);
  const d = single(op, 'dilation', params.dilation ?? 1, 1);
  const ceilMode = params.ceilMode ?? false;
  if (typeof ceilMode !== 'boolean') fail(op, `ceilMode must be a boolean, got ${String(ceilMode)}`);
  if (p > Math.floor(k / 2)) fail(op, `pad ${p} should be at most half of the kernel size ${k} (input ${fmtShape(xShape)})`);
  const OL = pooledSize(L, k, p, s, d, ceilMode);
  if (OL < 1) {
    fail(op, `output size ${OL} is too small for input ${fmtShape(xShape)} (kernel ${k}, stride ${s}, padding ${p}${d !== 1 ? `, dilation ${d}` : ''}${ceilMode ? ', ceil mode' : ''})`);
  }
  checkTapsHitInput(op, 'position', L, OL, k, s, p, d, xShape);
  return { N, C, H: 1, W: L, KH: 1, KW: k, sh: 1, sw: s, ph: 0, pw: p, dh: 1, dw: d, OH: 1, OW: OL, ceilMode };
}

function checkTapsHitInput(
  op: string, what: string, size: number, outSize: number, k: number, s: number, p: number, d: number, xShape: readonly number[],
): void {
  if (d === 1) return; // an undilated window of a valid geometry always overlaps the input
  for (let o = 0; o < outSize; o++) {
    const [t0, t1] = validTaps(o * s - p, k, d, size);
    if (t0 >= t1) {
      fail(op, `output ${what} ${o} has a window whose ${k} taps (dilation ${d}, starting at ${o * s - p}) all fall in the padding of input ${fmtShape(xShape)}`);
    }
  }
}

/** Taps i in [t0, t1) of a window starting at `start` hit the input: 0 <= start + i·d < size. */
function validTaps(start: number, k: number, d: number, size: number): [number, number] {
  const t0 = start >= 0 ? 0 : Math.ceil(-start / d);
  const t1 = start >= size ? 0 : Math.min(k, Math.floor((size - 1 - start) / d) + 1);
  return [t0, Math.max(t0, t1)];
}

/** Int32 storage that is shared with threads exactly when float storage is (see dtype.allocate). */
function allocateInt32(n: number): Int32Array {
  return sharedStorageEnabled() ? new Int32Array(new SharedArrayBuffer(4 * n)) : new Int32Array(n);
}

/** Accepts only a geometry pool2dGeometry would produce, so the loops can trust every window. */
function checkGeometry(op: string, g: Pool2dGeometry): void {
  if (g === null || typeof g !== 'object') fail(op, `expected a geometry from pool2dGeometry, got ${String(g)}`);
  const keys: (keyof Pool2dGeometry)[] = ['N', 'C', 'H', 'W', 'KH', 'KW', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'OH', 'OW'];
  for (const k of keys) {
    const v = g[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(op, `geometry field ${k} must be a non-negative integer, got ${String(v)}`);
  }
  const re = pool2dGeometry(op, [g.N, g.C, g.H, g.W], {
    kernelSize: [g.KH, g.KW], stride: [g.sh, g.sw], padding: [g.ph, g.pw], dilation: [g.dh, g.dw], ceilMode: g.ceilMode,
  });
  if (re.OH !== g.OH || re.OW !== g.OW) {
    fail(op, `geometry output size ${g.OH}x${g.OW} does not match the ${re.OH}x${re.OW} its parameters give (input ${inShape(g)})`);
  }
}

function checkLength(op: string, name: string, a: ArrayLike<number>, n: number, what: string): void {
  if (a === null || typeof a !== 'object' || typeof a.length !== 'number') fail(op, `${name} must be a typed array, got ${String(a)}`);
  if (a.length !== n) fail(op, `${name} has ${a.length} elements, expected ${n} for ${what}`);
}

function checkRange(op: string, lo: number, hi: number, total: number, what: string): void {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || lo > hi || hi > total) {
    fail(op, `${what} range [${lo}, ${hi}) is not within [0, ${total}]`);
  }
}

const inShape = (g: Pool2dGeometry): string => fmtShape([g.N, g.C, g.H, g.W]);
const outShape = (g: Pool2dGeometry): string => fmtShape([g.N, g.C, g.OH, g.OW]);

/** Per output position along one axis: first input coordinate, first and end valid tap. */
function axisTaps(outSize: number, k: number, s: number, p: number, d: number, size: number): { start: Int32Array; t0: Int32Array; t1: Int32Array } {
  const start = new Int32Array(outSize), t0 = new Int32Array(outSize), t1 = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    start[o] = o * s - p;
    const [a, b] = validTaps(start[o], k, d, size);
    t0[o] = a;
    t1[o] = b;
  }
  return { start, t0, t1 };
}

// ------------------------------------------------------------------------------------ max pooling

/**
 * Max pooling with −∞ padding. `argmax` holds, for each output, the flat index y·W + x of the
 * chosen element within its H×W plane: the first maximum in row-major window order, or, as in
 * PyTorch, the last NaN of the window (the output is then NaN).
 */
export function maxPool2dForward(x: FloatArray, g: Pool2dGeometry): { out: FloatArray; argmax: Int32Array } {
  const op = 'maxPool2dForward';
  checkGeometry(op, g);
  checkLength(op, 'x', x, g.N * g.C * g.H * g.W, `input ${inShape(g)}`);
  const n = g.N * g.C * g.OH * g.OW;
  const out = allocate(dtypeOf(x), n);
  const argmax = allocateInt32(n);
  const parts = planeParts(g.N * g.C, g.OH * g.OW * g.KH * g.KW);
  parallelFor('pool.maxForward', g.N * g.C, {
    ...geometryArgs(g), x: parts > 1 ? sharedInput(x) : x, out, argmax, wasm: wasmElementwiseEnabled(),
  }, parts);
  return { out, argmax };
}

/** Writes planes [p0, p1) of out and argmax. */
export function maxPool2dForwardRange(x: FloatArray, g: Pool2dGeometry, out: FloatArray, argmax: Int32Array, p0: number, p1: number): void {
  const op = 'maxPool2dForwardRange';
  checkGeometry(op, g);
  checkLength(op, 'x', x, g.N * g.C * g.H * g.W, `input ${inShape(g)}`);
  checkLength(op, 'out', out, g.N * g.C * g.OH * g.OW, `output ${outShape(g)}`);
  checkLength(op, 'argmax', argmax, g.N * g.C * g.OH * g.OW, `output ${outShape(g)}`);
  checkRange(op, p0, p1, g.N * g.C, 'plane');
  maxPool2dForwardImpl(x, g, out, argmax, p0, p1);
}

function maxPool2dForwardImpl(x: FloatArray, g: Pool2dGeometry, out: FloatArray, argmax: Int32Array, p0: number, p1: number,
  wasm = wasmElementwiseEnabled()): void {
  const w = wasm && x instanceof Float32Array && out instanceof Float32Array ? poolWasm() : null;
  if (w !== null) {
    maxForwardWasm(w, x as Float32Array, g, out as Float32Array, argmax, p0, p1);
    return;
  }
  const { H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW } = g;
  const rows = axisTaps(OH, KH, sh, ph, dh, H);
  const cols = axisTaps(OW, KW, sw, pw, dw, W);
  const HW = H * W, P = OH * OW;
  for (let p = p0; p < p1; p++) {
    const xb = p * HW;
    let o = p * P;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = rows.start[oy] + rows.t0[oy] * dh;
      const y1 = rows.start[oy] + rows.t1[oy] * dh; // exclusive, may step past H by < dh
      for (let ox = 0; ox < OW; ox++) {
        const x0 = cols.start[ox] + cols.t0[ox] * dw;
        const x1 = cols.start[ox] + cols.t1[ox] * dw;
        let best = -Infinity;
        let bestIdx = y0 * W + x0;
        for (let y = y0; y < y1; y += dh) {
          const rowIdx = y * W;
          for (let xx = x0; xx < x1; xx += dw) {
            const v = x[xb + rowIdx + xx];
            // v !== v is the NaN test: a NaN always replaces the running max, as in PyTorch.
            if (v > best || v !== v) {
              best = v;
              bestIdx = rowIdx + xx;
            }
          }
        }
        out[o] = best;
        argmax[o] = bestIdx;
        o++;
      }
    }
  }
}

/** Bytes of staging per WebAssembly call (the blocks stay in L2). */
const WASM_CHUNK_BYTES = 1 << 18;

/** maxPool2dForwardImpl through wasm_pool.ts: groups of four planes, interleaved, one vector per pixel. */
function maxForwardWasm(w: PoolWasm, x: Float32Array, g: Pool2dGeometry, out: Float32Array, argmax: Int32Array, p0: number, p1: number): void {
  const { H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW } = g;
  const rows = axisTaps(OH, KH, sh, ph, dh, H);
  const cols = axisTaps(OW, KW, sw, pw, dw, W);
  const HW = H * W, P = OH * OW;
  const G = Math.max(1, Math.floor(WASM_CHUNK_BYTES / (32 * (HW + P))));
  // Bytes: window tables, staged planes (4G·HW floats), interleaved (same), out and argmax (4G·P each).
  const tabs = align16(8 * (OH + OW));
  const A = tabs, B = A + 16 * HW * G, C = B + 16 * HW * G, D = C + 16 * P * G;
  w.reserve(D + 16 * P * G);
  const { f32, i32 } = w;
  for (let oy = 0; oy < OH; oy++) {
    i32[2 * oy] = rows.start[oy] + rows.t0[oy] * dh;
    i32[2 * oy + 1] = rows.start[oy] + rows.t1[oy] * dh;
  }
  for (let ox = 0; ox < OW; ox++) {
    i32[2 * OH + 2 * ox] = cols.start[ox] + cols.t0[ox] * dw;
    i32[2 * OH + 2 * ox + 1] = cols.start[ox] + cols.t1[ox] * dw;
  }
  for (let p = p0; p < p1; p += 4 * G) {
    const planes = Math.min(4 * G, p1 - p);
    const groups = Math.ceil(planes / 4);
    // A last group of fewer than four planes computes stale lanes too; only real planes are copied out.
    f32.set(x.subarray(p * HW, (p + planes) * HW), A >> 2);
    w.interleave(A, B, HW, groups);
    w.maxPool4(B, W, HW, 0, 8 * OH, OH, OW, dh, dw, C, D, P, groups);
    out.set(f32.subarray(C >> 2, (C >> 2) + planes * P), p * P);
    argmax.set(i32.subarray(D >> 2, (D >> 2) + planes * P), p * P);
  }
}

/** maxPool2dBackwardImpl through wasm_pool.ts (argmax already checked to lie in its plane). */
function maxBackwardWasm(w: PoolWasm, gy: Float32Array, argmax: Int32Array, g: Pool2dGeometry, gx: Float32Array, p0: number, p1: number): void {
  const HW = g.H * g.W, P = g.OH * g.OW;
  const K = Math.max(1, Math.floor(WASM_CHUNK_BYTES / (8 * P + 4 * HW)));
  // Bytes: the float64 accumulator of one plane, then K planes of gy, argmax and gx.
  const ACC = 0, GY = align16(8 * HW), ARG = GY + align16(4 * P * K), GX = ARG + align16(4 * P * K);
  w.reserve(GX + 4 * HW * K);
  const { f32, i32 } = w;
  for (let p = p0; p < p1; p += K) {
    const n = Math.min(K, p1 - p);
    f32.set(gy.subarray(p * P, (p + n) * P), GY >> 2);
    i32.set(argmax.subarray(p * P, (p + n) * P), ARG >> 2);
    w.maxBackward(GY, ARG, GX, ACC, n, P, HW);
    gx.set(f32.subarray(GX >> 2, (GX >> 2) + n * HW), p * HW);
  }
}

/** Routes each output gradient to its argmax; gradients of overlapping windows add up. */
export function maxPool2dBackward(gy: FloatArray, argmax: Int32Array, g: Pool2dGeometry): FloatArray {
  const op = 'maxPool2dBackward';
  checkMaxBackward(op, gy, argmax, g, 0, g.N * g.C);
  const gx = allocate(dtypeOf(gy), g.N * g.C * g.H * g.W);
  const parts = planeParts(g.N * g.C, g.H * g.W + g.OH * g.OW);
  parallelFor('pool.maxBackward', g.N * g.C, {
    ...geometryArgs(g), gy: parts > 1 ? sharedInput(gy) : gy, argmax, gx, wasm: wasmElementwiseEnabled(),
  }, parts);
  return gx;
}

/** Overwrites planes [p0, p1) of gx (it need not be zeroed). */
export function maxPool2dBackwardRange(gy: FloatArray, argmax: Int32Array, g: Pool2dGeometry, gx: FloatArray, p0: number, p1: number): void {
  const op = 'maxPool2dBackwardRange';
  checkGeometry(op, g);
  checkLength(op, 'gx', gx, g.N * g.C * g.H * g.W, `input ${inShape(g)}`);
  checkRange(op, p0, p1, g.N * g.C, 'plane');
  checkMaxBackward(op, gy, argmax, g, p0, p1);
  maxPool2dBackwardImpl(gy, argmax, g, gx, p0, p1);
}

function checkMaxBackward(op: string, gy: FloatArray, argmax: Int32Array, g: Pool2dGeometry, p0: number, p1: number): void {
  checkGeometry(op, g);
  const { N, C, H, W, OH, OW } = g;
  checkLength(op, 'gy', gy, N * C * OH * OW, `output ${outShape(g)}`);
  checkLength(op, 'argmax', argmax, N * C * OH * OW, `output ${outShape(g)}`);
  // Checked up front so the scatter loop can trust every index.
  const HW = H * W;
  for (let i = p0 * OH * OW; i < p1 * OH * OW; i++) {
    const a = argmax[i];
    if (!(a >= 0 && a < HW)) fail(op, `argmax[${i}] = ${a} is outside the ${H}x${W} plane (input ${inShape(g)})`);
  }
}

function maxPool2dBackwardImpl(gy: FloatArray, argmax: Int32Array, g: Pool2dGeometry, gx: FloatArray, p0: number, p1: number,
  wasm = wasmElementwiseEnabled()): void {
  const w = wasm && gy instanceof Float32Array && gx instanceof Float32Array ? poolWasm() : null;
  if (w !== null) {
    maxBackwardWasm(w, gy as Float32Array, argmax, g, gx as Float32Array, p0, p1);
    return;
  }
  const { H, W, OH, OW } = g;
  const HW = H * W, P = OH * OW;
  const acc = new Float64Array(HW);
  for (let p = p0; p < p1; p++) {
    acc.fill(0);
    const ob = p * P;
    for (let o = 0; o < P; o++) acc[argmax[ob + o]] += gy[ob + o];
    const xb = p * HW;
    for (let i = 0; i < HW; i++) gx[xb + i] = acc[i];
  }
}

// -------------------------------------------------------------------------------- average pooling

/** divisor 0 means "no override". */
interface AvgResolved { countIncludePad: boolean; divisor: number }

function avgOptions(op: string, g: Pool2dGeometry, opts: AvgPool2dOptions | undefined): AvgResolved {
  if (g.dh !== 1 || g.dw !== 1) fail(op, `dilation is not supported by average pooling, got ${g.dh}x${g.dw} (input ${inShape(g)})`);
  const o = opts ?? {};
  const countIncludePad = o.countIncludePad ?? true;
  if (typeof countIncludePad !== 'boolean') fail(op, `countIncludePad must be a boolean, got ${String(countIncludePad)}`);
  const d = o.divisorOverride;
  if (d !== undefined && (!Number.isInteger(d) || d === 0)) fail(op, `divisorOverride must be a non-zero integer, got ${fmtValue(d)}`);
  return { countIncludePad, divisor: d ?? 0 };
}

/**
 * Per output position along one axis: the clipped input span [lo, hi) and the window length used
 * by countIncludePad (clipped at input + padding, which only matters in ceil mode).
 */
function avgAxis(outSize: number, k: number, s: number, p: number, size: number): { lo: Int32Array; hi: Int32Array; padded: Int32Array } {
  const lo = new Int32Array(outSize), hi = new Int32Array(outSize), padded = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const start = o * s - p;
    const end = Math.min(start + k, size + p);
    padded[o] = end - start;
    lo[o] = Math.max(start, 0);
    hi[o] = Math.min(end, size);
  }
  return { lo, hi, padded };
}

/** Average pooling with zero padding; divisor rules as PyTorch's avg_pool2d (countIncludePad, divisorOverride). */
export function avgPool2dForward(x: FloatArray, g: Pool2dGeometry, opts?: AvgPool2dOptions): FloatArray {
  const op = 'avgPool2dForward';
  checkGeometry(op, g);
  const o = avgOptions(op, g, opts);
  checkLength(op, 'x', x, g.N * g.C * g.H * g.W, `input ${inShape(g)}`);
  const out = allocate(dtypeOf(x), g.N * g.C * g.OH * g.OW);
  const parts = planeParts(g.N * g.C, g.OH * g.OW * g.KH * g.KW);
  parallelFor('pool.avgForward', g.N * g.C, { ...geometryArgs(g), ...avgArgs(o), x: parts > 1 ? sharedInput(x) : x, out }, parts);
  return out;
}

/** Writes planes [p0, p1) of out. */
export function avgPool2dForwardRange(
  x: FloatArray, g: Pool2dGeometry, opts: AvgPool2dOptions | undefined, out: FloatArray, p0: number, p1: number,
): void {
  const op = 'avgPool2dForwardRange';
  checkGeometry(op, g);
  const o = avgOptions(op, g, opts);
  checkLength(op, 'x', x, g.N * g.C * g.H * g.W, `input ${inShape(g)}`);
  checkLength(op, 'out', out, g.N * g.C * g.OH * g.OW, `output ${outShape(g)}`);
  checkRange(op, p0, p1, g.N * g.C, 'plane');
  avgPool2dForwardImpl(x, g, o, out, p0, p1);
}

function avgPool2dForwardImpl(
  x: FloatArray, g: Pool2dGeometry, { countIncludePad, divisor }: AvgResolved, out: FloatArray, p0: number, p1: number,
): void {
  const { H, W, KH, KW, sh, sw, ph, pw, OH, OW } = g;
  const rows = avgAxis(OH, KH, sh, ph, H);
  const cols = avgAxis(OW, KW, sw, pw, W);
  const HW = H * W, P = OH * OW;
  for (let p = p0; p < p1; p++) {
    const xb = p * HW;
    let o = p * P;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = rows.lo[oy], y1 = rows.hi[oy];
      for (let ox = 0; ox < OW; ox++) {
        const x0 = cols.lo[ox], x1 = cols.hi[ox];
        let s = 0;
        for (let y = y0; y < y1; y++) {
          const rb = xb + y * W;
          for (let xx = x0; xx < x1; xx++) s += x[rb + xx];
        }
        const div = divisor !== 0 ? divisor : countIncludePad ? rows.padded[oy] * cols.padded[ox] : (y1 - y0) * (x1 - x0);
        out[o++] = s / div;
      }
    }
  }
}

export function avgPool2dBackward(gy: FloatArray, g: Pool2dGeometry, opts?: AvgPool2dOptions): FloatArray {
  const op = 'avgPool2dBackward';
  checkGeometry(op, g);
  const o = avgOptions(op, g, opts);
  checkLength(op, 'gy', gy, g.N * g.C * g.OH * g.OW, `output ${outShape(g)}`);
  const gx = allocate(dtypeOf(gy), g.N * g.C * g.H * g.W);
  const parts = planeParts(g.N * g.C, g.OH * g.OW * g.KH * g.KW + g.H * g.W);
  parallelFor('pool.avgBackward', g.N * g.C, { ...geometryArgs(g), ...avgArgs(o), gy: parts > 1 ? sharedInput(gy) : gy, gx }, parts);
  return gx;
}

/** Overwrites planes [p0, p1) of gx (it need not be zeroed). */
export function avgPool2dBackwardRange(
  gy: FloatArray, g: Pool2dGeometry, opts: AvgPool2dOptions | undefined, gx: FloatArray, p0: number, p1: number,
): void {
  const op = 'avgPool2dBackwardRange';
  checkGeometry(op, g);
  const o = avgOptions(op, g, opts);
  checkLength(op, 'gy', gy, g.N * g.C * g.OH * g.OW, `output ${outShape(g)}`);
  checkLength(op, 'gx', gx, g.N * g.C * g.H * g.W, `input ${inShape(g)}`);
  checkRange(op, p0, p1, g.N * g.C, 'plane');
  avgPool2dBackwardImpl(gy, g, o, gx, p0, p1);
}

function avgPool2dBackwardImpl(
  gy: FloatArray, g: Pool2dGeometry, { countIncludePad, divisor }: AvgResolved, gx: FloatArray, p0: number, p1: number,
): void {
  const { H, W, KH, KW, sh, sw, ph, pw, OH, OW } = g;
  const rows = avgAxis(OH, KH, sh, ph, H);
  const cols = avgAxis(OW, KW, sw, pw, W);
  const HW = H * W, P = OH * OW;
  const acc = new Float64Array(HW);
  for (let p = p0; p < p1; p++) {
    acc.fill(0);
    let o = p * P;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = rows.lo[oy], y1 = rows.hi[oy];
      for (let ox = 0; ox < OW; ox++) {
        const x0 = cols.lo[ox], x1 = cols.hi[ox];
        const div = divisor !== 0 ? divisor : countIncludePad ? rows.padded[oy] * cols.padded[ox] : (y1 - y0) * (x1 - x0);
        const v = gy[o++] / div;
        for (let y = y0; y < y1; y++) {
          const rb = y * W;
          for (let xx = x0; xx < x1; xx++) acc[rb + xx] += v;
        }
      }
    }
    const xb = p * HW;
    for (let i = 0; i < HW; i++) gx[xb + i] = acc[i];
  }
}

// ------------------------------------------------------------------------------- adaptive average

function checkAdaptive(op: string, N: number, C: number, H: number, W: number, OH: number, OW: number): void {
  const dims = { N, C, H, W, OH, OW };
  for (const [k, v] of Object.entries(dims)) {
    // No images or no channels is an empty result, as in PyTorch (which requires only H and W).
    const empty = k === 'N' || k === 'C';
    if (!Number.isInteger(v) || v < (empty ? 0 : 1)) {
      fail(op, `${k} must be ${empty ? 'a non-negative' : 'a positive'} integer, got ${fmtValue(v)} (input [${N},${C},${H},${W}], output size ${OH}x${OW})`);
    }
  }
}

/** PyTorch's adaptive bins: output i averages input [floor(i·H/OH), ceil((i+1)·H/OH)). */
export function adaptiveBins(inSize: number, outSize: number): { lo: Int32Array; hi: Int32Array } {
  const lo = new Int32Array(outSize), hi = new Int32Array(outSize);
  for (let i = 0; i < outSize; i++) {
    lo[i] = Math.floor((i * inSize) / outSize);
    hi[i] = Math.ceil(((i + 1) * inSize) / outSize);
  }
  return { lo, hi };
}

export function adaptiveAvgPool2dForward(x: FloatArray, N: number, C: number, H: number, W: number, OH: number, OW: number): FloatArray {
  const op = 'adaptiveAvgPool2dForward';
  checkAdaptive(op, N, C, H, W, OH, OW);
  checkLength(op, 'x', x, N * C * H * W, `input [${N},${C},${H},${W}]`);
  const out = allocate(dtypeOf(x), N * C * OH * OW);
  const parts = planeParts(N * C, H * W + OH * OW);
  parallelFor('pool.adaptiveForward', N * C, { H, W, OH, OW, x: parts > 1 ? sharedInput(x) : x, out }, parts);
  return out;
}

/** Writes planes [p0, p1) of out. */
export function adaptiveAvgPool2dForwardRange(
  x: FloatArray, N: number, C: number, H: number, W: number, OH: number, OW: number, out: FloatArray, p0: number, p1: number,
): void {
  const op = 'adaptiveAvgPool2dForwardRange';
  checkAdaptive(op, N, C, H, W, OH, OW);
  checkLength(op, 'x', x, N * C * H * W, `input [${N},${C},${H},${W}]`);
  checkLength(op, 'out', out, N * C * OH * OW, `output [${N},${C},${OH},${OW}]`);
  checkRange(op, p0, p1, N * C, 'plane');
  adaptiveAvgPool2dForwardImpl(x, H, W, OH, OW, out, p0, p1);
}

function adaptiveAvgPool2dForwardImpl(x: FloatArray, H: number, W: number, OH: number, OW: number, out: FloatArray, p0: number, p1: number): void {
  const HW = H * W, P = OH * OW;
  if (P === 1) {
    // One bin per plane: the loop below in its own order (row by row is the plane's order).
    for (let p = p0; p < p1; p++) {
      let s = 0;
      for (let i = p * HW, end = i + HW; i < end; i++) s += x[i];
      out[p] = s / HW;
    }
    return;
  }
  const rows = adaptiveBins(H, OH), cols = adaptiveBins(W, OW);
  for (let p = p0; p < p1; p++) {
    const xb = p * HW;
    let o = p * P;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = rows.lo[oy], y1 = rows.hi[oy];
      for (let ox = 0; ox < OW; ox++) {
        const x0 = cols.lo[ox], x1 = cols.hi[ox];
        let s = 0;
        for (let y = y0; y < y1; y++) {
          const rb = xb + y * W;
          for (let xx = x0; xx < x1; xx++) s += x[rb + xx];
        }
        out[o++] = s / ((y1 - y0) * (x1 - x0));
      }
    }
  }
}

export function adaptiveAvgPool2dBackward(gy: FloatArray, N: number, C: number, H: number, W: number, OH: number, OW: number): FloatArray {
  const op = 'adaptiveAvgPool2dBackward';
  checkAdaptive(op, N, C, H, W, OH, OW);
  checkLength(op, 'gy', gy, N * C * OH * OW, `output [${N},${C},${OH},${OW}]`);
  const gx = allocate(dtypeOf(gy), N * C * H * W);
  const parts = planeParts(N * C, H * W + OH * OW);
  parallelFor('pool.adaptiveBackward', N * C, { H, W, OH, OW, gy: parts > 1 ? sharedInput(gy) : gy, gx }, parts);
  return gx;
}

/** Overwrites planes [p0, p1) of gx (it need not be zeroed). */
export function adaptiveAvgPool2dBackwardRange(
  gy: FloatArray, N: number, C: number, H: number, W: number, OH: number, OW: number, gx: FloatArray, p0: number, p1: number,
): void {
  const op = 'adaptiveAvgPool2dBackwardRange';
  checkAdaptive(op, N, C, H, W, OH, OW);
  checkLength(op, 'gy', gy, N * C * OH * OW, `output [${N},${C},${OH},${OW}]`);
  checkLength(op, 'gx', gx, N * C * H * W, `input [${N},${C},${H},${W}]`);
  checkRange(op, p0, p1, N * C, 'plane');
  adaptiveAvgPool2dBackwardImpl(gy, H, W, OH, OW, gx, p0, p1);
}

function adaptiveAvgPool2dBackwardImpl(gy: FloatArray, H: number, W: number, OH: number, OW: number, gx: FloatArray, p0: number, p1: number): void {
  const HW = H * W, P = OH * OW;
  if (P === 1) {
    // One bin per plane (global pooling, and ResNet's 1×1 map at 32×32 inputs): the loop below
    // would add gy/HW once into each zeroed element; 0 + v gives the same value (−0 becomes +0).
    for (let p = p0, i = p0 * HW; p < p1; p++) {
      const v = 0 + gy[p] / HW;
      for (const end = i + HW; i < end; i++) gx[i] = v;
    }
    return;
  }
  const rows = adaptiveBins(H, OH), cols = adaptiveBins(W, OW);
  const acc = new Float64Array(HW);
  for (let p = p0; p < p1; p++) {
    acc.fill(0);
    let o = p * P;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = rows.lo[oy], y1 = rows.hi[oy];
      for (let ox = 0; ox < OW; ox++) {
        const x0 = cols.lo[ox], x1 = cols.hi[ox];
        const v = gy[o++] / ((y1 - y0) * (x1 - x0));
        for (let y = y0; y < y1; y++) {
          const rb = y * W;
          for (let xx = x0; xx < x1; xx++) acc[rb + xx] += v;
        }
      }
    }
    const xb = p * HW;
    for (let i = 0; i < HW; i++) gx[xb + i] = acc[i];
  }
}

// ------------------------------------------------------------------------ threads: plane ranges

/** Below this much work (element visits) per thread a kernel stays on one thread (~0.2 ms of JS). */
const MIN_WORK_PER_PART = 1 << 16;

/** Threads worth using for `planes` planes of `perPlane` element visits each. */
function planeParts(planes: number, perPlane: number): number {
  const threads = availableThreads();
  if (threads <= 1) return 1;
  return Math.max(1, Math.min(threads, planes, Math.floor((planes * perPlane) / MIN_WORK_PER_PART)));
}

function geometryArgs(g: Pool2dGeometry): Record<keyof Pool2dGeometry, number | boolean> {
  const { N, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, ceilMode } = g;
  return { N, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, ceilMode };
}

function geometryOf(a: TaskArgs): Pool2dGeometry {
  const n = (k: string): number => a[k] as number;
  return {
    N: n('N'), C: n('C'), H: n('H'), W: n('W'), KH: n('KH'), KW: n('KW'), sh: n('sh'), sw: n('sw'), ph: n('ph'), pw: n('pw'),
    dh: n('dh'), dw: n('dw'), OH: n('OH'), OW: n('OW'), ceilMode: a.ceilMode as boolean,
  };
}

function avgArgs(o: AvgResolved): { countIncludePad: boolean; divisor: number } {
  return { countIncludePad: o.countIncludePad, divisor: o.divisor };
}

function avgOf(a: TaskArgs): AvgResolved {
  return { countIncludePad: a.countIncludePad as boolean, divisor: a.divisor as number };
}

registerTask('pool.maxForward', (a: TaskArgs, p0: number, p1: number) => {
  maxPool2dForwardImpl(a.x as FloatArray, geometryOf(a), a.out as FloatArray, a.argmax as Int32Array, p0, p1, a.wasm as boolean);
});

registerTask('pool.maxBackward', (a: TaskArgs, p0: number, p1: number) => {
  maxPool2dBackwardImpl(a.gy as FloatArray, a.argmax as Int32Array, geometryOf(a), a.gx as FloatArray, p0, p1, a.wasm as boolean);
});

registerTask('pool.avgForward', (a: TaskArgs, p0: number, p1: number) => {
  avgPool2dForwardImpl(a.x as FloatArray, geometryOf(a), avgOf(a), a.out as FloatArray, p0, p1);
});

registerTask('pool.avgBackward', (a: TaskArgs, p0: number, p1: number) => {
  avgPool2dBackwardImpl(a.gy as FloatArray, geometryOf(a), avgOf(a), a.gx as FloatArray, p0, p1);
});

registerTask('pool.adaptiveForward', (a: TaskArgs, p0: number, p1: number) => {
  adaptiveAvgPool2dForwardImpl(a.x as FloatArray, a.H as number, a.W as number, a.OH as number, a.OW as number, a.out as FloatArray, p0, p1);
});

registerTask('pool.adaptiveBackward', (a: TaskArgs, p0: number, p1: number) => {
  adaptiveAvgPool2dBackwardImpl(a.gy as FloatArray, a.H as number, a.W as number, a.OH as number, a.OW as number, a.gx as FloatArray, p0, p1);
});

// ---- slow, obviously-correct reference loops (tests hold the fast kernels to these) ----

const at4 = (g: { C: number; H: number; W: number }, n: number, c: number, y: number, x: number): number => ((n * g.C + c) * g.H + y) * g.W + x;

/** Collects the in-bounds taps of each window, then applies the rule literally: last NaN, else first maximum. */
export function maxPool2dForwardReference(x: FloatArray, g: Pool2dGeometry): { out: FloatArray; argmax: Int32Array } {
  const { N, C, H, W, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW } = g;
  const out = allocate(dtypeOf(x), N * C * OH * OW);
  const argmax = new Int32Array(N * C * OH * OW);
  const o4 = { C, H: OH, W: OW };
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const taps: { v: number; idx: number }[] = [];
          for (let i = 0; i < KH; i++)
            for (let j = 0; j < KW; j++) {
              const y = oy * sh - ph + i * dh, xx = ox * sw - pw + j * dw;
              if (y >= 0 && y < H && xx >= 0 && xx < W) taps.push({ v: x[at4(g, n, c, y, xx)], idx: y * W + xx });
            }
          const nans = taps.filter((t) => Number.isNaN(t.v));
          let pick: { v: number; idx: number };
          if (nans.length > 0) pick = nans[nans.length - 1];
          else {
            const m = Math.max(...taps.map((t) => t.v));
            pick = taps.find((t) => t.v === m)!;
          }
          out[at4(o4, n, c, oy, ox)] = pick.v;
          argmax[at4(o4, n, c, oy, ox)] = pick.idx;
        }
  return { out, argmax };
}

export function maxPool2dBackwardReference(gy: FloatArray, argmax: Int32Array, g: Pool2dGeometry): FloatArray {
  const { N, C, H, W, OH, OW } = g;
  const acc = new Float64Array(N * C * H * W);
  for (let p = 0; p < N * C; p++)
    for (let o = 0; o < OH * OW; o++) acc[p * H * W + argmax[p * OH * OW + o]] += gy[p * OH * OW + o];
  const gx = allocate(dtypeOf(gy), acc.length);
  gx.set(acc);
  return gx;
}

/** The divisor of output (oy, ox), spelled out from PyTorch's avg_pool2d. */
function avgDivisorReference(g: Pool2dGeometry, oy: number, ox: number, opts: AvgPool2dOptions | undefined): number {
  if (opts?.divisorOverride !== undefined) return opts.divisorOverride;
  let hstart = oy * g.sh - g.ph, wstart = ox * g.sw - g.pw;
  let hend = Math.min(hstart + g.KH, g.H + g.ph), wend = Math.min(wstart + g.KW, g.W + g.pw);
  const poolSize = (hend - hstart) * (wend - wstart);
  hstart = Math.max(hstart, 0); wstart = Math.max(wstart, 0);
  hend = Math.min(hend, g.H); wend = Math.min(wend, g.W);
  return (opts?.countIncludePad ?? true) ? poolSize : (hend - hstart) * (wend - wstart);
}

export function avgPool2dForwardReference(x: FloatArray, g: Pool2dGeometry, opts?: AvgPool2dOptions): FloatArray {
  const { N, C, H, W, KH, KW, sh, sw, ph, pw, OH, OW } = g;
  const out = allocate(dtypeOf(x), N * C * OH * OW);
  const o4 = { C, H: OH, W: OW };
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let s = 0;
          for (let i = 0; i < KH; i++)
            for (let j = 0; j < KW; j++) {
              const y = oy * sh - ph + i, xx = ox * sw - pw + j;
              if (y >= 0 && y < H && xx >= 0 && xx < W) s += x[at4(g, n, c, y, xx)];
            }
          out[at4(o4, n, c, oy, ox)] = s / avgDivisorReference(g, oy, ox, opts);
        }
  return out;
}

export function avgPool2dBackwardReference(gy: FloatArray, g: Pool2dGeometry, opts?: AvgPool2dOptions): FloatArray {
  const { N, C, H, W, KH, KW, sh, sw, ph, pw, OH, OW } = g;
  const acc = new Float64Array(N * C * H * W);
  const o4 = { C, H: OH, W: OW };
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const v = gy[at4(o4, n, c, oy, ox)] / avgDivisorReference(g, oy, ox, opts);
          for (let i = 0; i < KH; i++)
            for (let j = 0; j < KW; j++) {
              const y = oy * sh - ph + i, xx = ox * sw - pw + j;
              if (y >= 0 && y < H && xx >= 0 && xx < W) acc[at4(g, n, c, y, xx)] += v;
            }
        }
  const gx = allocate(dtypeOf(gy), acc.length);
  gx.set(acc);
  return gx;
}

export function adaptiveAvgPool2dForwardReference(x: FloatArray, N: number, C: number, H: number, W: number, OH: number, OW: number): FloatArray {
  const out = allocate(dtypeOf(x), N * C * OH * OW);
  const i4 = { C, H, W }, o4 = { C, H: OH, W: OW };
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const y0 = Math.floor((oy * H) / OH), y1 = Math.ceil(((oy + 1) * H) / OH);
          const x0 = Math.floor((ox * W) / OW), x1 = Math.ceil(((ox + 1) * W) / OW);
          let s = 0;
          for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) s += x[at4(i4, n, c, y, xx)];
          out[at4(o4, n, c, oy, ox)] = s / ((y1 - y0) * (x1 - x0));
        }
  return out;
}

export function adaptiveAvgPool2dBackwardReference(gy: FloatArray, N: number, C: number, H: number, W: number, OH: number, OW: number): FloatArray {
  const acc = new Float64Array(N * C * H * W);
  const i4 = { C, H, W }, o4 = { C, H: OH, W: OW };
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const y0 = Math.floor((oy * H) / OH), y1 = Math.ceil(((oy + 1) * H) / OH);
          const x0 = Math.floor((ox * W) / OW), x1 = Math.ceil(((ox + 1) * W) / OW);
          const v = gy[at4(o4, n, c, oy, ox)] / ((y1 - y0) * (x1 - x0));
          for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) acc[at4(i4, n, c, y, xx)] += v;
        }
  const gx = allocate(dtypeOf(gy), acc.length);
  gx.set(acc);
  return gx;
}
