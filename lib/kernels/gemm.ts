import { dtypeOf, type FloatArray } from '../core/dtype';
import { fail, fmtValue } from '../core/errors';
import { backendFor, kernelFor, type GemmKernel } from './gemm_backend';
import { DenseOperands, runPackedGemm } from './packed_gemm';
import { availableThreads, parallelFor, registerTask, sharedInput, type TaskArgs } from './parallel';

/**
 * General matrix multiply, row-major:  C = op(A) · op(B)            (accumulate = false)
 *                                      C = C + op(A) · op(B)        (accumulate = true)
 * op(A) is M×K: element (i, k) is A[aOff + i*lda + k] when !transA, A[aOff + k*lda + i] when transA.
 * op(B) is K×N: element (k, j) is B[bOff + k*ldb + j] when !transB, B[bOff + j*ldb + k] when transB.
 * C is M×N: element (i, j) is C[cOff + i*ldc + j].
 * A, B and C must share one element type. Cost: 2·M·N·K flops.
 *
 * Runs on the packed GEMM (packed_gemm.ts: Goto-style blocking, panels packed from the strided
 * operands, transposes handled while packing) with the wasm SIMD micro-kernel, or the JS one when
 * SIMD is missing or setGemmKernel('js'); tiny products use a direct loop. With threads, the
 * columns (or, for narrow C, the rows) are split between them; every C element is summed over k in
 * increasing order within fixed K-blocks whatever the split, so results are bit-identical for any
 * thread count. Arrays that are not SharedArrayBuffer-backed are copied for the workers.
 */
export function gemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  accumulate: boolean,
  C: FloatArray, cOff: number, ldc: number,
): void {
  validateGemm(transA, transB, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc);
  if (M === 0 || N === 0) return;
  if (K === 0) {
    if (!accumulate) for (let i = 0; i < M; i++) C.fill(0, cOff + i * ldc, cOff + i * ldc + N);
    return;
  }
  if (M * N * K <= SMALL_GEMM) {
    gemmSmall(transA, transB, M, N, K, A, aOff, lda, B, bOff, ldb, accumulate, C, cOff, ldc);
    return;
  }
  const kernel = kernelFor(dtypeOf(C));
  const byRows = N < 2 * UNIT && M > N;
  const units = Math.ceil((byRows ? M : N) / UNIT);
  const parts = Math.min(units, threadsFor(2 * M * N * K));
  if (parts <= 1) {
    gemmTask(gemmArgs(transA, transB, M, N, K, A, aOff, lda, B, bOff, ldb, accumulate, C, cOff, ldc, kernel, byRows), 0, units);
    return;
  }
  // Workers can only touch shared memory: copy what is not (cheap next to the O(MNK) product).
  const Cs = sharedInput(C);
  const copiedC = Cs !== C;
  parallelFor('gemm', units, gemmArgs(transA, transB, M, N, K, sharedInput(A), aOff, lda, sharedInput(B), bOff, ldb,
    accumulate, Cs, cOff, ldc, kernel, byRows), parts);
  if (copiedC) C.set(Cs);
}

/** Below this M·N·K the packing costs more than it saves. */
const SMALL_GEMM = 4096;
/** Column (or row) granularity of the thread split: a multiple of every NR and MR, fine enough to balance. */
const UNIT = 16;
/** Flops below which one more thread does not pay for its dispatch (~20-50 µs). */
const FLOPS_PER_THREAD = 2e6;

/** How many threads a product of `flops` work should use. */
function threadsFor(flops: number): number {
  return Math.max(1, Math.min(availableThreads(), Math.floor(flops / FLOPS_PER_THREAD)));
}

function gemmArgs(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number, B: FloatArray, bOff: number, ldb: number,
  accumulate: boolean, C: FloatArray, cOff: number, ldc: number, kernel: GemmKernel, byRows: boolean,
): TaskArgs {
  return { transA, transB, M, N, K, A, aOff, lda, B, bOff, ldb, accumulate, C, cOff, ldc, kernel, byRows };
}

/** Units [start, end) of UNIT rows or columns; registered so workers run the same code. */
function gemmTask(args: TaskArgs, start: number, end: number): void {
  const a = args as unknown as {
    transA: boolean; transB: boolean; M: number; N: number; K: number;
    A: FloatArray; aOff: number; lda: number; B: FloatArray; bOff: number; ldb: number;
    accumulate: boolean; C: FloatArray; cOff: number; ldc: number; kernel: GemmKernel; byRows: boolean;
  };
  const be = backendFor(dtypeOf(a.C), a.kernel);
  const ops = new DenseOperands(a.M, a.N, a.K, a.transA, a.transB, a.A, a.aOff, a.lda, a.B, a.bOff, a.ldb,
    a.accumulate, a.C, a.cOff, a.ldc, be);
  if (a.byRows) runPackedGemm(ops, be, start * UNIT, Math.min(a.M, end * UNIT), 0, a.N);
  else runPackedGemm(ops, be, 0, a.M, start * UNIT, Math.min(a.N, end * UNIT));
}
registerTask('gemm', gemmTask);

/** Direct loops for tiny products, where packing would dominate. Same k order as the reference. */
function gemmSmall(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  accumulate: boolean,
  C: FloatArray, cOff: number, ldc: number,
): void {
  const ai = transA ? 1 : lda, ak = transA ? lda : 1;
  const bk = transB ? 1 : ldb, bj = transB ? ldb : 1;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      let pa = aOff + i * ai, pb = bOff + j * bj;
      for (let k = 0; k < K; k++) {
        s += A[pa] * B[pb];
        pa += ak;
        pb += bk;
      }
      const c = cOff + i * ldc + j;
      C[c] = accumulate ? C[c] + s : s;
    }
  }
}

function validateGemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  C: FloatArray, cOff: number, ldc: number,
): void {
  const op = 'gemm';
  for (const [nm, v] of [['M', M], ['N', N], ['K', K], ['aOff', aOff], ['bOff', bOff], ['cOff', cOff]] as const) {
    if (!Number.isInteger(v) || v < 0) fail(op, `${nm} must be a non-negative integer, got ${fmtValue(v)}`);
  }
  if (A.constructor !== C.constructor || B.constructor !== C.constructor) {
    fail(op, `A, B and C must share one element type, got ${A.constructor.name}, ${B.constructor.name}, ${C.constructor.name}`);
  }
  const check = (nm: string, arr: FloatArray, off: number, ld: number, rows: number, cols: number): void => {
    if (!Number.isInteger(ld) || ld < Math.max(1, cols)) fail(op, `ld${nm} ${ld} is smaller than the ${cols} columns of ${nm}`);
    if (rows > 0 && cols > 0 && off + (rows - 1) * ld + cols > arr.length) {
      fail(op, `${nm} (${rows}x${cols}, offset ${off}, ld ${ld}) does not fit in an array of length ${arr.length}`);
    }
  };
  check('a', A, aOff, lda, transA ? K : M, transA ? M : K);
  check('b', B, bOff, ldb, transB ? N : K, transB ? K : N);
  check('c', C, cOff, ldc, M, N);
}

/** The obviously-correct triple loop the fast kernel is tested against. Sums k in increasing order. */
export function gemmReference(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  accumulate: boolean,
  C: FloatArray, cOff: number, ldc: number,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[aOff + k * lda + i] : A[aOff + i * lda + k];
        const b = transB ? B[bOff + j * ldb + k] : B[bOff + k * ldb + j];
        s += a * b;
      }
      const c = cOff + i * ldc + j;
      C[c] = accumulate ? C[c] + s : s;
    }
  }
}
