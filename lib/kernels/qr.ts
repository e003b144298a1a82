/**
 * Householder QR in float64 (torch.linalg.qr's reduced mode), for nn.init.orthogonal_: A = Q·R with
 * A m×n row-major, m ≥ n, Q m×n with orthonormal columns and R n×n upper triangular. Nothing else in
 * the project needs linear algebra, so this is the plain textbook algorithm (Golub & Van Loan 5.2.1),
 * not a blocked one: O(2mn² − 2n³/3) flops for R and as many again to form Q, fine for a weight.
 *
 * Step k reflects column k below the diagonal, x = A[k:m, k], onto α·e₁ with α = −sign(x₀)·‖x‖
 * (sign(0) = +1), so v = x − α·e₁ never cancels; H_k = I − 2vvᵀ/vᵀv. ‖x‖ is taken with the column
 * scaled by its largest magnitude, so no square overflows or underflows. A zero column leaves H_k = I
 * and R[k][k] = 0. Q = H₀H₁…H_(n−1)·[I_n; 0], applied from the last reflector back.
 *
 * The signs of R's diagonal are this convention's (LAPACK's geqrf picks the same α), which is why a
 * caller wanting the unique factor with R[k][k] > 0 multiplies Q's columns by sign(R[k][k]), as
 * orthogonal_ does. Backward-stable: QᵀQ = I and Q·R = A to a small multiple of n·ε·‖A‖
 * (tests/lib/kernels/qr.test.ts).
 */
import { fail } from '../core/errors';

export interface QrResult {
  /** m×n row-major, orthonormal columns. */
  q: Float64Array;
  /** n×n row-major, upper triangular. */
  r: Float64Array;
}

export function householderQr(a: Float64Array, m: number, n: number): QrResult {
  if (!(Number.isInteger(m) && Number.isInteger(n) && n >= 0 && m >= n)) {
    fail('householderQr', `expected integers m >= n >= 0, got m=${m}, n=${n}`);
  }
  if (a.length !== m * n) fail('householderQr', `expected ${m * n} entries for ${m}×${n}, got ${a.length}`);
  const w = Float64Array.from(a); // reduced in place to R (upper part)
  const vs = new Float64Array(m * n); // reflector k's unit vector in vs[k*m + k .. k*m + m)
  const active = new Uint8Array(n); // 0: column k was already zero, H_k = I
  for (let k = 0; k < n; k++) {
    let scale = 0;
    for (let i = k; i < m; i++) scale = Math.max(scale, Math.abs(w[i * n + k]));
    if (scale === 0) continue;
    let ss = 0;
    for (let i = k; i < m; i++) {
      const s = w[i * n + k] / scale;
      ss += s * s;
    }
    const norm = scale * Math.sqrt(ss);
    const x0 = w[k * n + k];
    const alpha = x0 < 0 ? norm : -norm;
    const v = vs.subarray(k * m, k * m + m);
    v[k] = x0 - alpha;
    for (let i = k + 1; i < m; i++) v[i] = w[i * n + k];
    let vScale = 0;
    for (let i = k; i < m; i++) vScale = Math.max(vScale, Math.abs(v[i]));
    let vss = 0;
    for (let i = k; i < m; i++) {
      v[i] /= vScale;
      vss += v[i] * v[i];
    }
    const vNorm = Math.sqrt(vss);
    for (let i = k; i < m; i++) v[i] /= vNorm;
    active[k] = 1;
    w[k * n + k] = alpha;
    for (let i = k + 1; i < m; i++) w[i * n + k] = 0;
    for (let j = k + 1; j < n; j++) {
      let dot = 0;
      for (let i = k; i < m; i++) dot += v[i] * w[i * n + j];
      dot *= 2;
      for (let i = k; i < m; i++) w[i * n + j] -= dot * v[i];
    }
  }
  const r = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) r[i * n + j] = w[i * n + j];
  const q = new Float64Array(m * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let k = n - 1; k >= 0; k--) {
    if (!active[k]) continue;
    const v = vs.subarray(k * m, k * m + m);
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let i = k; i < m; i++) dot += v[i] * q[i * n + j];
      dot *= 2;
      for (let i = k; i < m; i++) q[i * n + j] -= dot * v[i];
    }
  }
  return { q, r };
}
