/**
 * Pure-JavaScript micro-kernel backend of the packed GEMM (see packed_gemm.ts): the fallback, for
 * both dtypes, when WebAssembly SIMD is missing or setGemmKernel('js') asks for it (float64 otherwise
 * runs on the wasm 4×4 kernel, gemm_backend.ts).
 *
 * Layout: one Float64Array scratch holds packed A (panels of MR=4 rows, k-major: panel[k*4 + r]),
 * packed B (panels of NR=4 columns, k-major: panel[k*4 + c]) and a row-major C block. Packing into
 * float64 keeps this kernel monomorphic (V8 optimizes one element type) and, for float32 inputs,
 * accumulates in double before the single rounding on store.
 * Cost: 2·MR·NR flops per k per tile, 16 accumulators in locals. Measured here about 2.5 GFLOP/s
 * (2×4 and 3×4 tiles, or separate A/B arrays, measured the same): 2.5× tfjs's pure-JS backend, and a
 * fallback only: the wasm kernels are 8-10× faster.
 */
import type { MicroBackend } from './packed_gemm';

const MR = 4;
const NR = 4;

let scratch = new Float64Array(0);

function reserve(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, Math.ceil(scratch.length * 1.5)));
  return scratch;
}

/** Cb[cb + (ip*4 + r)*ldc + jp*4 + c] (+)= Σ_k Ap[ip panel][k][r] · Bp[jp panel][k][c]. */
function macro(
  S: Float64Array, ap: number, bp: number, cb: number, ldc: number,
  mPanels: number, nPanels: number, kc: number, loadC: boolean,
): void {
  for (let jp = 0; jp < nPanels; jp++) {
    const bStart = bp + jp * kc * NR;
    for (let ip = 0; ip < mPanels; ip++) {
      let a = ap + ip * kc * MR;
      let b = bStart;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0; k < kc; k++) {
        const b0 = S[b], b1 = S[b + 1], b2 = S[b + 2], b3 = S[b + 3];
        const a0 = S[a];
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        const a1 = S[a + 1];
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        const a2 = S[a + 2];
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        const a3 = S[a + 3];
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
        a += MR;
        b += NR;
      }
      let c = cb + ip * MR * ldc + jp * NR;
      if (loadC) {
        S[c] += c00; S[c + 1] += c01; S[c + 2] += c02; S[c + 3] += c03; c += ldc;
        S[c] += c10; S[c + 1] += c11; S[c + 2] += c12; S[c + 3] += c13; c += ldc;
        S[c] += c20; S[c + 1] += c21; S[c + 2] += c22; S[c + 3] += c23; c += ldc;
        S[c] += c30; S[c + 1] += c31; S[c + 2] += c32; S[c + 3] += c33;
      } else {
        S[c] = c00; S[c + 1] = c01; S[c + 2] = c02; S[c + 3] = c03; c += ldc;
        S[c] = c10; S[c + 1] = c11; S[c + 2] = c12; S[c + 3] = c13; c += ldc;
        S[c] = c20; S[c + 1] = c21; S[c + 2] = c22; S[c + 3] = c23; c += ldc;
        S[c] = c30; S[c + 1] = c31; S[c + 2] = c32; S[c + 3] = c33;
      }
    }
  }
}

/** KC keeps a 4-column B panel (KC·4·8 bytes = 8 KiB) in L1; MC·KC of A (256 KiB) fits L2. */
export const jsBackend: MicroBackend = {
  name: 'js',
  mr: MR, nr: NR, kc: 256, mc: 128, nc: 1024,
  reserve,
  macro: (S, ap, bp, cb, ldc, mPanels, nPanels, kc, loadC) =>
    macro(S as Float64Array, ap, bp, cb, ldc, mPanels, nPanels, kc, loadC),
};
