/**
 * Elementwise kernels over strided views. Output arrays are always contiguous (row-major);
 * inputs are described by (data, offset, strides) aligned to the iteration shape, with stride 0
 * on broadcast dimensions. Adjacent dimensions that are contiguous for every operand are merged
 * first, so the common cases (same-shape contiguous, bias over channels, scalar) run as a few
 * long inner loops with constant strides; index arithmetic happens once per row, never per element.
 * The hot contiguous loops of a training step (relu and its backward, same-shape add/sub/mul/div,
 * gradient accumulation) are split by element ranges over the thread pool when large, and float32
 * ones run through WebAssembly SIMD (wasm_elementwise.ts) with results identical to the JS loops.
 * Cost: one pass over the output.
 */
import type { FloatArray } from '../core/dtype';
import { availableThreads, parallelFor, registerTask, type TaskArgs } from './parallel';
import { ewWasm, stageIn, stageOut, wasmElementwiseEnabled, type EwWasm, type WasmBinaryOp } from './wasm_elementwise';
import { keepShape } from './keep_shape';
import { erf } from './special';

export interface StridedView {
  /** Named like Tensor.storage so a Tensor is itself a valid StridedView. */
  readonly storage: FloatArray;
  readonly offset: number;
  readonly strides: readonly number[];
}

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'relu' | 'sigmoid' | 'tanh' | 'sign' | 'square' | 'reciprocal'
  | 'expm1' | 'log1p' | 'erf';

/**
 * Merges dims i and i+1 wherever every operand steps over dim i exactly as over dims i+1.
 * Returns the collapsed shape and the operands' collapsed strides.
 */
export function collapseDims(shape: readonly number[], stridesList: ReadonlyArray<readonly number[]>): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = stridesList.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue; // size-1 dims do not move any pointer
    const last = outShape.length - 1;
    let merge = last >= 0;
    if (merge) {
      for (let k = 0; k < stridesList.length; k++) {
        if (outStrides[k][last] !== stridesList[k][d] * shape[d]) { merge = false; break; }
      }
    }
    if (merge) {
      outShape[last] *= shape[d];
      for (let k = 0; k < stridesList.length; k++) outStrides[k][last] = stridesList[k][d];
    } else {
      outShape.push(shape[d]);
      for (let k = 0; k < stridesList.length; k++) outStrides[k].push(stridesList[k][d]);
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    for (const s of outStrides) s.push(0);
  }
  return { shape: outShape, strides: outStrides };
}

/** Row-major strides of a contiguous output. */
function denseStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

/**
 * An odometer over all rows of `shape` (every dim but the last): offs[j] is operand j's start offset
 * in the current row, updated incrementally by next(). Callers loop over it with the row's body
 * inline (a callback made per call would be optimised afresh by V8 each time it got hot).
 * Exported for the index kernels (indexing.ts), which walk the index's rows the same way.
 */
export class RowCursor {
  readonly offs: number[];
  readonly rows: number;
  /** Length of a row (the last dim). */
  readonly n: number;
  private readonly idx: number[];

  constructor(private readonly shape: readonly number[], private readonly strides: readonly (readonly number[])[],
    starts: readonly number[]) {
    const nd = shape.length;
    this.n = shape[nd - 1];
    this.offs = starts.slice();
    this.idx = new Array<number>(Math.max(nd - 1, 0)).fill(0);
    let rows = 1;
    for (let d = 0; d < nd - 1; d++) rows *= shape[d];
    this.rows = rows;
    keepShape(this);
  }

  next(): void {
    const { shape, strides, offs, idx } = this;
    const k = strides.length;
    for (let d = shape.length - 2; d >= 0; d--) {
      idx[d]++;
      for (let j = 0; j < k; j++) offs[j] += strides[j][d];
      if (idx[d] < shape[d]) break;
      for (let j = 0; j < k; j++) offs[j] -= strides[j][d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** out[i] = a[i] (op) b[i] over `shape`, with broadcasting expressed by zero strides. */
export function binary(op: BinaryOp, shape: readonly number[], a: StridedView, b: StridedView, out: FloatArray): void {
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const c = collapseDims(shape, [a.strides, b.strides, denseStrides(shape)]);
  const sa = c.strides[0], sb = c.strides[1], so = c.strides[2];
  const last = c.shape.length - 1;
  const A = a.storage, B = b.storage;
  if (last === 0 && sa[0] === 1 && sb[0] === 1 && isArith(op)) {
    // Same-shape contiguous operands (the residual add): the fast, possibly threaded path.
    contiguousBinary(op, A, a.offset, B, b.offset, out, total);
    return;
  }
  const inner = binaryInner(op);
  const cur = new RowCursor(c.shape, [sa, sb, so], [a.offset, b.offset, 0]);
  const { offs, n } = cur;
  for (let r = 0; r < cur.rows; r++, cur.next()) inner(A, offs[0], sa[last], B, offs[1], sb[last], out, offs[2], n);
}

type BinaryInner = (A: FloatArray, ia: number, da: number, B: FloatArray, ib: number, db: number, O: FloatArray, io: number, n: number) => void;

/** The strided inner loop of each binary op (module-level: made once, optimised once). */
const BINARY_INNER: Record<BinaryOp, BinaryInner> = {
  add: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] + B[ib]; },
  sub: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] - B[ib]; },
  mul: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] * B[ib]; },
  div: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] / B[ib]; },
  pow: (A, ia, da, B, ib, db, O, io, n) => {
    for (let i = 0; i < n; i++, ia += da, ib += db) {
      const x = A[ia], y = B[ib], r = Math.pow(x, y);
      // C's pow (and so torch.pow) gives 1 for pow(1, y) with any y, NaN included, and for
      // pow(−1, ±∞); JavaScript's Math.pow gives NaN for those.
      O[io + i] = r === r || !(x === 1 || (x === -1 && (y === Infinity || y === -Infinity))) ? r : 1;
    }
  },
  // NaN propagates as in torch.maximum / torch.minimum.
  maximum: (A, ia, da, B, ib, db, O, io, n) => {
    for (let i = 0; i < n; i++, ia += da, ib += db) { const x = A[ia], y = B[ib]; O[io + i] = x !== x || y !== y ? NaN : x > y ? x : y; }
  },
  minimum: (A, ia, da, B, ib, db, O, io, n) => {
    for (let i = 0; i < n; i++, ia += da, ib += db) { const x = A[ia], y = B[ib]; O[io + i] = x !== x || y !== y ? NaN : x < y ? x : y; }
  },
  eq: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] === B[ib] ? 1 : 0; },
  ne: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] !== B[ib] ? 1 : 0; },
  lt: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] < B[ib] ? 1 : 0; },
  le: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] <= B[ib] ? 1 : 0; },
  gt: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] > B[ib] ? 1 : 0; },
  ge: (A, ia, da, B, ib, db, O, io, n) => { for (let i = 0; i < n; i++, ia += da, ib += db) O[io + i] = A[ia] >= B[ib] ? 1 : 0; },
};

function binaryInner(op: BinaryOp): BinaryInner {
  return BINARY_INNER[op];
}

/** out[i] = f(x[i]) over `n` contiguous elements. */
export function unary(op: UnaryOp, x: FloatArray, xOff: number, out: FloatArray, n: number): void {
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[xOff + i]; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[xOff + i]); return;
    case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(x[xOff + i]); return;
    case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[xOff + i]); return;
    case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(x[xOff + i]); return;
    case 'relu': reluDispatch(x, xOff, out, n); return;
    case 'sigmoid': for (let i = 0; i < n; i++) {
      // Two branches keep exp() from overflowing for large |v|.
      const v = x[xOff + i];
      if (v >= 0) out[i] = 1 / (1 + Math.exp(-v));
      else { const e = Math.exp(v); out[i] = e / (1 + e); }
    } return;
    case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[xOff + i]); return;
    // torch.sign's (0 < v) − (v < 0): 0 for NaN and for −0 (abs's gradient is grad·sign(x)).
    case 'sign': for (let i = 0; i < n; i++) { const v = x[xOff + i]; out[i] = v > 0 ? 1 : v < 0 ? -1 : 0; } return;
    case 'square': for (let i = 0; i < n; i++) { const v = x[xOff + i]; out[i] = v * v; } return;
    case 'reciprocal': for (let i = 0; i < n; i++) out[i] = 1 / x[xOff + i]; return;
    // exp(v) − 1 and log(1 + v) without the cancellation near v = 0 (elu, softplus, logSigmoid).
    case 'expm1': for (let i = 0; i < n; i++) out[i] = Math.expm1(x[xOff + i]); return;
    case 'log1p': for (let i = 0; i < n; i++) out[i] = Math.log1p(x[xOff + i]); return;
    case 'erf': for (let i = 0; i < n; i++) out[i] = erf(x[xOff + i]); return;
  }
}

/**
 * out[i] = min(max(x[i], lo), hi); either bound may be absent. NaN stays NaN. With lo > hi every
 * element becomes hi (torch.clamp), which is the loop below with lo lowered to hi. Both bounds given
 * and either NaN: every element is NaN (torch's clamp_out fills the result); a lone NaN bound leaves
 * x as it is (torch's clamp_min/clamp_max kernels: max(a, NaN) and min(a, NaN) return a).
 */
export function clamp(x: FloatArray, xOff: number, out: FloatArray, n: number, lo: number | null, hi: number | null): void {
  if (lo !== null && hi !== null && (lo !== lo || hi !== hi)) {
    out.fill(NaN, 0, n);
    return;
  }
  const h = hi ?? Infinity, l = Math.min(lo ?? -Infinity, h);
  for (let i = 0; i < n; i++) {
    const v = x[xOff + i];
    out[i] = v < l ? l : v > h ? h : v;
  }
}

/** out = cond != 0 ? a : b, all three broadcast over `shape`. */
export function where(shape: readonly number[], cond: StridedView, a: StridedView, b: StridedView, out: FloatArray): void {
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const c = collapseDims(shape, [cond.strides, a.strides, b.strides, denseStrides(shape)]);
  const [sc, sa, sb, so] = c.strides;
  const last = c.shape.length - 1;
  const C = cond.storage, A = a.storage, B = b.storage;
  const dc = sc[last], da = sa[last], db = sb[last];
  const cur = new RowCursor(c.shape, [sc, sa, sb, so], [cond.offset, a.offset, b.offset, 0]);
  const { offs, n } = cur;
  for (let r = 0; r < cur.rows; r++, cur.next()) {
    let ic = offs[0], ia = offs[1], ib = offs[2];
    const io = offs[3];
    for (let i = 0; i < n; i++, ic += dc, ia += da, ib += db) out[io + i] = C[ic] !== 0 ? A[ia] : B[ib];
  }
}

/** Copies a strided view of `shape` into another strided view (e.g. a contiguous buffer). */
export function copyStrided(shape: readonly number[], src: StridedView, dst: StridedView): void {
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const c = collapseDims(shape, [src.strides, dst.strides]);
  const [ss, sd] = c.strides;
  const last = c.shape.length - 1;
  const S = src.storage, D = dst.storage;
  const ds = ss[last], dd = sd[last];
  const cur = new RowCursor(c.shape, [ss, sd], [src.offset, dst.offset]);
  const { offs, n } = cur;
  for (let r = 0; r < cur.rows; r++, cur.next()) {
    let is = offs[0], id = offs[1];
    if (ds === 1 && dd === 1) {
      for (let i = 0; i < n; i++) D[id + i] = S[is + i];
    } else {
      for (let i = 0; i < n; i++, is += ds, id += dd) D[id] = S[is];
    }
  }
}

/** Fills every element of a strided view with `value`. */
export function fillStrided(shape: readonly number[], dst: StridedView, value: number): void {
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const c = collapseDims(shape, [dst.strides]);
  const [sd] = c.strides;
  const last = c.shape.length - 1;
  const D = dst.storage;
  const dd = sd[last];
  const cur = new RowCursor(c.shape, [sd], [dst.offset]);
  const { offs, n } = cur;
  for (let r = 0; r < cur.rows; r++, cur.next()) {
    let id = offs[0];
    for (let i = 0; i < n; i++, id += dd) D[id] = value;
  }
}

/** dst[i] += src[i] over n contiguous elements (gradient accumulation). */
export function accumulate(dst: FloatArray, src: FloatArray, n: number): void {
  contiguousBinary('add', dst, 0, src, 0, dst, n);
}

/**
 * relu without a data-dependent branch: activations are positive or negative at random, so a
 * branch mispredicts half the time and costs ~3.5x (12 vs 3.5 ns per element here).
 * For float32 data held in doubles, (v + |v|)·0.5 is exact (2v cannot overflow, halving is exact)
 * and maps negatives and -0 to +0. Its only NaN results (v NaN, or v = -Inf) go through the plain
 * comparison; that branch is almost never taken, so it predicts well. Float64 can overflow in
 * v + |v|, so it keeps the comparison (it is used for gradient checks, not for speed).
 */
export function reluJs(x: FloatArray, xOff: number, out: FloatArray, start: number, end: number): void {
  if (x instanceof Float32Array) {
    for (let i = start; i < end; i++) {
      const v = x[xOff + i];
      const r = (v + Math.abs(v)) * 0.5;
      out[i] = r === r ? r : v > 0 || v !== v ? v : 0;
    }
  } else {
    // x > 0 ? x : 0 would map NaN to 0; PyTorch's relu keeps NaN.
    for (let i = start; i < end; i++) { const v = x[xOff + i]; out[i] = v > 0 || v !== v ? v : 0; }
  }
}

/**
 * ReLU backward in one pass: gx[i] = 0 where out[i] <= 0, else gy[i] (out is the forward result),
 * PyTorch's threshold_backward(gy, out, 0): a NaN out (relu of NaN) passes gy. Branch-free for
 * float32 (see relu): gy·!(out <= 0) + 0, where "+ 0" turns -0 into +0; the rare NaN product (gy NaN
 * or infinite) falls back to the select.
 */
export function reluBackward(gy: FloatArray, out: FloatArray, gx: FloatArray, n: number): void {
  const parts = elementParts(n);
  parallelFor('elementwise.reluBackward', n, { gy, out, gx, wasm: wasmElementwiseEnabled() }, parts);
}

/** The JS loops of reluBackward over [start, end) (batch norm's fused relu uses them too). */
export function reluBackwardJs(gy: FloatArray, out: FloatArray, gx: FloatArray, start: number, end: number): void {
  if (gy instanceof Float32Array && out instanceof Float32Array) {
    for (let i = start; i < end; i++) {
      const g = gy[i], o = out[i];
      const r = g * +!(o <= 0) + 0;
      gx[i] = r === r ? r : o <= 0 ? 0 : g;
    }
  } else {
    for (let i = start; i < end; i++) gx[i] = out[i] <= 0 ? 0 : gy[i];
  }
}

/** out[i] = a[i] + b[i] over n contiguous elements (summing two gradients without a temporary). */
export function addInto(a: FloatArray, b: FloatArray, out: FloatArray, n: number): void {
  contiguousBinary('add', a, 0, b, 0, out, n);
}

// ------------------------------------------ contiguous fast paths: WebAssembly, threads, tasks

/**
 * Below this many elements per thread a loop stays on one thread (a dispatch costs ~20-50 µs; the
 * WebAssembly path handles an element in well under 1 ns).
 */
const MIN_PER_PART = 1 << 16;
/** Below this many elements the JS loop beats staging through WebAssembly memory. */
const MIN_WASM = 64;
/** Floats per staged chunk and operand (32 KiB: the operands of a chunk stay in L1/L2). */
const CHUNK = 8192;

function elementParts(n: number): number {
  const threads = availableThreads();
  return threads <= 1 ? 1 : Math.max(1, Math.min(threads, Math.floor(n / MIN_PER_PART)));
}

function isArith(op: BinaryOp): op is WasmBinaryOp {
  return op === 'add' || op === 'sub' || op === 'mul' || op === 'div';
}

function wasmFor(wasm: boolean, n: number, ...arrays: FloatArray[]): EwWasm | null {
  if (!wasm || n < MIN_WASM) return null;
  for (const a of arrays) if (!(a instanceof Float32Array)) return null;
  return ewWasm();
}

/** out[i] = a[aOff + i] (op) b[bOff + i] for i in [0, n); out may be a itself (accumulation). */
function contiguousBinary(op: WasmBinaryOp, a: FloatArray, aOff: number, b: FloatArray, bOff: number, out: FloatArray, n: number): void {
  if (n <= 0) return;
  const parts = elementParts(n);
  parallelFor('elementwise.binary', n, { op, a, aOff, b, bOff, out, wasm: wasmElementwiseEnabled() }, parts);
}

function binaryRange(
  op: WasmBinaryOp, a: FloatArray, aOff: number, b: FloatArray, bOff: number, out: FloatArray, start: number, end: number, wasm: boolean,
): void {
  const w = wasmFor(wasm, end - start, a, b, out);
  if (w === null) {
    binaryInner(op)(a, aOff + start, 1, b, bOff + start, 1, out, start, end - start);
    return;
  }
  const fn = w.binary[op];
  w.reserve(2 * CHUNK * 4);
  const f32 = w.f32;
  for (let i = start; i < end; i += CHUNK) {
    const len = Math.min(CHUNK, end - i);
    stageIn(f32, 0, a as Float32Array, aOff + i, len);
    stageIn(f32, CHUNK, b as Float32Array, bOff + i, len);
    fn(0, CHUNK * 4, 0, (len + 3) >> 2);
    stageOut(f32, 0, out as Float32Array, i, len);
  }
}

function reluDispatch(x: FloatArray, xOff: number, out: FloatArray, n: number): void {
  if (n <= 0) return;
  parallelFor('elementwise.relu', n, { x, xOff, out, wasm: wasmElementwiseEnabled() }, elementParts(n));
}

function reluRange(x: FloatArray, xOff: number, out: FloatArray, start: number, end: number, wasm: boolean): void {
  const w = wasmFor(wasm, end - start, x, out);
  if (w === null) {
    reluJs(x, xOff, out, start, end);
    return;
  }
  w.reserve(CHUNK * 4);
  const f32 = w.f32;
  for (let i = start; i < end; i += CHUNK) {
    const len = Math.min(CHUNK, end - i);
    stageIn(f32, 0, x as Float32Array, xOff + i, len);
    w.relu(0, 0, (len + 3) >> 2);
    stageOut(f32, 0, out as Float32Array, i, len);
  }
}

function reluBackwardRange(gy: FloatArray, out: FloatArray, gx: FloatArray, start: number, end: number, wasm: boolean): void {
  const w = wasmFor(wasm, end - start, gy, out, gx);
  if (w === null) {
    reluBackwardJs(gy, out, gx, start, end);
    return;
  }
  w.reserve(2 * CHUNK * 4);
  const f32 = w.f32;
  for (let i = start; i < end; i += CHUNK) {
    const len = Math.min(CHUNK, end - i);
    stageIn(f32, 0, gy as Float32Array, i, len);
    stageIn(f32, CHUNK, out as Float32Array, i, len);
    w.reluBwd(0, CHUNK * 4, 0, (len + 3) >> 2);
    stageOut(f32, 0, gx as Float32Array, i, len);
  }
}

registerTask('elementwise.binary', (a: TaskArgs, start: number, end: number) => {
  binaryRange(a.op as WasmBinaryOp, a.a as FloatArray, a.aOff as number, a.b as FloatArray, a.bOff as number, a.out as FloatArray,
    start, end, a.wasm as boolean);
});

registerTask('elementwise.relu', (a: TaskArgs, start: number, end: number) => {
  reluRange(a.x as FloatArray, a.xOff as number, a.out as FloatArray, start, end, a.wasm as boolean);
});

registerTask('elementwise.reluBackward', (a: TaskArgs, start: number, end: number) => {
  reluBackwardRange(a.gy as FloatArray, a.out as FloatArray, a.gx as FloatArray, start, end, a.wasm as boolean);
});
