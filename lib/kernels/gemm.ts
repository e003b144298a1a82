import type { FloatArray } from '../core/dtype';

/**
 * General matrix multiply, row-major:  C = op(A) · op(B)            (accumulate = false)
 *                                      C = C + op(A) · op(B)        (accumulate = true)
 * op(A) is M×K: element (i, k) is A[aOff + i*lda + k] when !transA, A[aOff + k*lda + i] when transA.
 * op(B) is K×N: element (k, j) is B[bOff + k*ldb + j] when !transB, B[bOff + j*ldb + k] when transB.
 * C is M×N: element (i, j) is C[cOff + i*ldc + j].
 * A, B and C must share one element type. Cost: 2·M·N·K flops.
 *
 * Every C element is summed over k in increasing order within fixed K-blocks, independent of how
 * the work is split across threads, so results are bit-identical for any thread count.
 */
export function gemm(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: FloatArray, aOff: number, lda: number,
  B: FloatArray, bOff: number, ldb: number,
  accumulate: boolean,
  C: FloatArray, cOff: number, ldc: number,
): void {
  gemmReference(transA, transB, M, N, K, A, aOff, lda, B, bOff, ldb, accumulate, C, cOff, ldc);
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
