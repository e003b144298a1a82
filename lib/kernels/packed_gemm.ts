/**
 * The packed GEMM driver shared by gemm and the conv2d passes (Goto/BLIS loop order).
 *
 *   C[M×N] = op(A)[M×K] · op(B)[K×N], where operands are never read in place: an operand object
 *   packs blocks of A and B straight from their source (a strided matrix, an NCHW image seen through
 *   im2col, ...) into the backend's panel format, and consumes finished blocks of C (a strided store,
 *   an NCHW store, a col2im scatter-add). So no im2col matrix or transposed copy exists.
 *
 * Panel format (both backends): packed A is ceil(m/MR) panels of kc×MR values, k-major
 * (panel[k*MR + r]); packed B is ceil(n/NR) panels of kc×NR values (panel[k*NR + c]); rows/columns
 * past the edge are zero (or, in StagedPatches.packCols, other image values: an edge column only
 * reaches its own C column, which is never stored), so the micro-kernel always computes full MR×NR
 * tiles into a C block that is row-major with padded rows and columns. Everything lives in the
 * backend's scratch (a Float64Array for the JS kernel, the wasm instance's linear memory for SIMD),
 * after which come the operands' own staging areas (scratchElements / bindScratch).
 *
 * Loops: for column block jc (≤ NC wide): for k block pc (KC deep): pack B; for row block ic (MC):
 * macro-kernel over the MR×NR tiles (or, when the operands hand over B in place, no packing of B and
 * the backend's macroAt). All of A's rows in the range are packed once per call (all K,
 * up to A_BUDGET elements; beyond it, block by block), because conv reuses one weight matrix for
 * every column block. Cost: 2·M·N·K flops, plus packing M·K + K·N and one pass over C per column block.
 *
 * Determinism: every C element is summed over k in increasing order with fixed K-block boundaries
 * (multiples of KC), whatever row/column range a thread is given, so splitting the output between
 * threads never changes a bit.
 */
import type { FloatArray } from '../core/dtype';
import { StagedBlockB, StagedMatrix, stridedAxis } from './im2col_wasm';
import { wasmPackersOf } from './wasm_gemm';
import { keepShape } from './keep_shape';

export interface GemmOperands {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /**
   * When > 0 (col2im: the pixels of one image), a column block holds whole segments, or lies inside
   * one segment cut at fixed offsets from its start, so each segment's scatter order is fixed
   * whatever column range a thread was given. Ranges passed to the driver must then be whole segments.
   */
  readonly colSegment: number;
  /** Packs rows [i0, i0+mc) × k [p0, p0+kc) of op(A) at dst[off...] in MR-row panels. */
  packA(dst: FloatArray, off: number, i0: number, mc: number, p0: number, kc: number, mr: number): void;
  /** Packs k [p0, p0+kc) × columns [j0, j0+nc) of op(B) at dst[off...] in NR-column panels. */
  packB(dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void;
  /** Extra scratch (elements) the operands want in the backend's memory, e.g. staged images. */
  scratchElements?(): number;
  /**
   * Gives the operands their scratch at S[off...], once per run before any pack call; the run
   * computes (and packs A for) rows [i0, i1) only.
   */
  bindScratch?(S: FloatArray, off: number, i0: number, i1: number): void;
  /**
   * Optionally pre-fills the C block (e.g. with the bias, which then starts each sum as in the
   * reference) and returns true, so the first K block accumulates onto it.
   */
  initC?(S: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number): boolean;
  /**
   * Optionally, when the backend has macroAt: B's block k [p0, p0+kc) × columns [j0, j0+nc) as it
   * already lies in the backend's memory, or null to have it packed. Panel j (NR columns) at k is
   * then the NR floats at byte panels[j] + taps[k], both int32 tables in the scratch (see
   * wasm_gemm.ts); the tables and what they point at stay valid until the next inPlaceB or packB call.
   */
  inPlaceB?(p0: number, kc: number, j0: number, nc: number, nr: number): InPlaceB | null;
  /** Receives the finished C block rows [i0, i0+mc) × columns [j0, j0+nc): element (i, j) at src[off + (i-i0)*ld + (j-j0)]. */
  storeC(src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number): void;
}

/** Where an in-place B block's tables are: int32 element offsets into the backend's scratch. */
export interface InPlaceB {
  panels: number;
  taps: number;
}

export interface MicroBackend {
  readonly name: string;
  readonly mr: number;
  readonly nr: number;
  readonly kc: number;
  readonly mc: number;
  readonly nc: number;
  /** The backend's scratch (packed panels and the C block), at least n elements; contents not kept. */
  reserve(n: number): FloatArray;
  /** S[cb + i*ldc + j] = (loadC ? S[cb + i*ldc + j] : 0) + Σ_k A·B over mPanels×nPanels tiles. */
  macro(S: FloatArray, ap: number, bp: number, cb: number, ldc: number,
    mPanels: number, nPanels: number, kc: number, loadC: boolean): void;
  /** macro with B read in place (GemmOperands.inPlaceB); panels and taps are int32 element offsets. */
  readonly macroAt?: (S: FloatArray, ap: number, panels: number, taps: number, cb: number, ldc: number,
    mPanels: number, nPanels: number, kc: number, loadC: boolean) => void;
}

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

/** Computes C rows [i0, i1) × columns [j0, j1) of `ops` with backend `be`. */
export function runPackedGemm(ops: GemmOperands, be: MicroBackend, i0: number, i1: number, j0: number, j1: number): void {
  const { K, colSegment } = ops;
  const { mr, nr, kc: KC, nc: NC, macroAt } = be;
  const MC = roundUp(be.mc, mr);
  const m = i1 - i0;
  if (m <= 0 || j1 <= j0) return;
  if (K === 0) throw new Error('runPackedGemm: K must be positive (callers handle the empty sum)');
  const mPad = roundUp(m, mr);
  const ncMax = roundUp(Math.min(NC, j1 - j0), nr);
  const ldcb = ncMax;
  // Conv reuses one A (the weights) for every column block, so pack all of it once when it fits.
  const packAllA = mPad * K <= A_BUDGET;
  const apOff = 0;
  const bpOff = apOff + (packAllA ? mPad * K : Math.min(MC, mPad) * KC);
  const cbOff = bpOff + KC * ncMax;
  const extraOff = cbOff + mPad * ldcb;
  const S = be.reserve(extraOff + (ops.scratchElements?.() ?? 0));
  ops.bindScratch?.(S, extraOff, i0, i1);

  if (packAllA) {
    for (let pc = 0; pc < K; pc += KC) ops.packA(S, apOff + mPad * pc, i0, m, pc, Math.min(KC, K - pc), mr);
  }
  for (let jc = j0; jc < j1;) {
    let jEnd = Math.min(j1, jc + NC);
    if (colSegment > 0) {
      const segEnd = (Math.floor(jc / colSegment) + 1) * colSegment;
      jEnd = jEnd < segEnd ? jEnd : Math.min(j1, segEnd + Math.floor((jEnd - segEnd) / colSegment) * colSegment);
    }
    const nc = jEnd - jc;
    const nPanels = Math.ceil(nc / nr);
    const init = ops.initC?.(S, cbOff, ldcb, i0, m, jc, nc) ?? false;
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const at = macroAt === undefined || ops.inPlaceB === undefined ? null : ops.inPlaceB(pc, kc, jc, nc, nr);
      if (at === null) ops.packB(S, bpOff, pc, kc, jc, nc, nr);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        let ap = apOff + mPad * pc + ic * kc;
        if (!packAllA) {
          ops.packA(S, apOff, i0 + ic, mc, pc, kc, mr);
          ap = apOff;
        }
        const cb = cbOff + ic * ldcb, mPanels = Math.ceil(mc / mr), loadC = pc > 0 || init;
        if (at !== null && macroAt !== undefined) macroAt(S, ap, at.panels, at.taps, cb, ldcb, mPanels, nPanels, kc, loadC);
        else be.macro(S, ap, bpOff, cb, ldcb, mPanels, nPanels, kc, loadC);
      }
    }
    ops.storeC(S, cbOff, ldcb, i0, m, jc, nc);
    jc = jEnd;
  }
}

/** Elements of packed A kept for a whole call; beyond it A is packed block by block. */
const A_BUDGET = 1 << 22;

// ---- dense, strided operands (the plain gemm) ----

/** Packs op(A) rows of a strided matrix; element (i, k) is A[off + i*ld + k], or A[off + k*ld + i] when trans. */
export function packDenseA(
  A: FloatArray, aOff: number, lda: number, trans: boolean,
  dst: FloatArray, off: number, i0: number, mc: number, p0: number, kc: number, mr: number,
): void {
  for (let ip = 0; ip < mc; ip += mr) {
    const rows = Math.min(mr, mc - ip);
    const base = off + ip * kc;
    if (trans) {
      let src = aOff + p0 * lda + i0 + ip;
      let d = base;
      for (let k = 0; k < kc; k++) {
        for (let r = 0; r < rows; r++) dst[d + r] = A[src + r];
        for (let r = rows; r < mr; r++) dst[d + r] = 0;
        src += lda;
        d += mr;
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const src = aOff + (i0 + ip + r) * lda + p0;
        let d = base + r;
        for (let k = 0; k < kc; k++) {
          dst[d] = A[src + k];
          d += mr;
        }
      }
      for (let r = rows; r < mr; r++) {
        let d = base + r;
        for (let k = 0; k < kc; k++) {
          dst[d] = 0;
          d += mr;
        }
      }
    }
  }
}

/** Packs op(B) columns of a strided matrix; element (k, j) is B[off + k*ld + j], or B[off + j*ld + k] when trans. */
export function packDenseB(
  B: FloatArray, bOff: number, ldb: number, trans: boolean,
  dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number,
): void {
  for (let jp = 0; jp < nc; jp += nr) {
    const cols = Math.min(nr, nc - jp);
    const base = off + jp * kc;
    if (trans) {
      for (let c = 0; c < cols; c++) {
        const src = bOff + (j0 + jp + c) * ldb + p0;
        let d = base + c;
        for (let k = 0; k < kc; k++) {
          dst[d] = B[src + k];
          d += nr;
        }
      }
      for (let c = cols; c < nr; c++) {
        let d = base + c;
        for (let k = 0; k < kc; k++) {
          dst[d] = 0;
          d += nr;
        }
      }
    } else {
      let src = bOff + p0 * ldb + j0 + jp;
      let d = base;
      if (cols === nr) {
        for (let k = 0; k < kc; k++) {
          for (let c = 0; c < nr; c++) dst[d + c] = B[src + c];
          src += ldb;
          d += nr;
        }
      } else {
        for (let k = 0; k < kc; k++) {
          for (let c = 0; c < cols; c++) dst[d + c] = B[src + c];
          for (let c = cols; c < nr; c++) dst[d + c] = 0;
          src += ldb;
          d += nr;
        }
      }
    }
  }
}

/** Writes (or adds) a finished C block into a strided row-major matrix. */
export function storeDenseC(
  C: FloatArray, cOff: number, ldc: number, accumulate: boolean,
  src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number,
): void {
  for (let i = 0; i < mc; i++) {
    const d = cOff + (i0 + i) * ldc + j0;
    const s = off + i * ld;
    if (accumulate) {
      for (let j = 0; j < nc; j++) C[d + j] += src[s + j];
    } else if (nc >= 32) {
      C.set(src.subarray(s, s + nc), d); // native copy: much faster than a loop into a large C
    } else {
      for (let j = 0; j < nc; j++) C[d + j] = src[s + j];
    }
  }
}

/**
 * A strided gemm: packs with the JS loops above, or, on the wasm float32 backend, stages A and B
 * in linear memory (one native copy each) and packs them with the wasm packers.
 */
export class DenseOperands implements GemmOperands {
  readonly colSegment = 0;
  private readonly stagedA: StagedMatrix | null = null;
  private readonly stagedB: StagedBlockB | null = null;

  constructor(
    readonly M: number, readonly N: number, readonly K: number,
    private readonly transA: boolean, private readonly transB: boolean,
    private readonly A: FloatArray, private readonly aOff: number, private readonly lda: number,
    private readonly B: FloatArray, private readonly bOff: number, private readonly ldb: number,
    private readonly accumulate: boolean,
    private readonly C: FloatArray, private readonly cOff: number, private readonly ldc: number,
    be?: MicroBackend,
  ) {
    const packers = be === undefined ? null : wasmPackersOf(be);
    if (packers === null || be === undefined || !(A instanceof Float32Array) || !(B instanceof Float32Array)) return;
    const span = (rows: number, cols: number, ld: number): number => (rows - 1) * ld + cols;
    const aLen = transA ? span(K, M, lda) : span(M, K, lda);
    // All of A is copied once (it is packed once per call); past the budget, JS packs it directly.
    if (aLen > A_BUDGET * 4) return;
    this.stagedA = transA
      ? new StagedMatrix(A, aOff, aLen, M, K, stridedAxis(1), stridedAxis(lda), packers)
      : new StagedMatrix(A, aOff, aLen, M, K, stridedAxis(lda), stridedAxis(1), packers);
    this.stagedB = new StagedBlockB(B, bOff, ldb, transB, packers, Math.min(be.kc, K), Math.min(be.nc, N), be.nr);
    keepShape(this);
  }

  scratchElements(): number {
    return this.stagedA === null || this.stagedB === null ? 0
      : this.stagedA.scratchElements() + this.stagedB.scratchElements();
  }

  bindScratch(S: FloatArray, off: number): void {
    if (this.stagedA === null || this.stagedB === null) return;
    this.stagedA.bind(S as Float32Array, off);
    this.stagedB.bind(S as Float32Array, off + this.stagedA.scratchElements());
  }

  packA(dst: FloatArray, off: number, i0: number, mc: number, p0: number, kc: number, mr: number): void {
    if (this.stagedA !== null) this.stagedA.packA(off, i0, mc, p0, kc, mr);
    else packDenseA(this.A, this.aOff, this.lda, this.transA, dst, off, i0, mc, p0, kc, mr);
  }

  packB(dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    if (this.stagedB !== null) this.stagedB.packB(off, p0, kc, j0, nc, nr);
    else packDenseB(this.B, this.bOff, this.ldb, this.transB, dst, off, p0, kc, j0, nc, nr);
  }

  storeC(src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number): void {
    storeDenseC(this.C, this.cOff, this.ldc, this.accumulate, src, off, ld, i0, mc, j0, nc);
  }
}
