/**
 * householderQr (lib/kernels/qr.ts) against its definition — QᵀQ = I, Q·R = A, R upper triangular —
 * and against classical Gram-Schmidt run twice in float64 (a different algorithm), which gives the
 * factor with R[k][k] > 0: after flipping our columns by sign(R[k][k]) both must agree. Square, tall
 * and single-column matrices, a zero column, and entries near the float64 range ends.
 */
import { expect } from 'chai';
import { householderQr } from '../../../lib/kernels/qr';
import { Random } from '../../../lib/random';

const rng = new Random(2_025);

function randomMatrix(m: number, n: number, scale = 1): Float64Array {
  const a = new Float64Array(m * n);
  for (let i = 0; i < a.length; i++) a[i] = scale * rng.normal();
  return a;
}

/** max |QᵀQ − I|, max |Q·R − A| / max|A|, max |R below the diagonal|. */
function residuals(a: Float64Array, m: number, n: number): { orth: number; recon: number; lower: number } {
  const { q, r } = householderQr(a, m, n);
  let orth = 0, recon = 0, lower = 0, amax = 0;
  for (const v of a) amax = Math.max(amax, Math.abs(v));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += q[k * n + i] * q[k * n + j];
      orth = Math.max(orth, Math.abs(s - (i === j ? 1 : 0)));
      if (j < i) lower = Math.max(lower, Math.abs(r[i * n + j]));
    }
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * r[k * n + j];
      recon = Math.max(recon, Math.abs(s - a[i * n + j]) / (amax || 1));
    }
  }
  return { orth, recon, lower };
}

/** Classical Gram-Schmidt with one reorthogonalisation pass: Q with R[k][k] > 0 (full-rank A). */
function gramSchmidt(a: Float64Array, m: number, n: number): Float64Array {
  const q = new Float64Array(m * n);
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(m);
    for (let i = 0; i < m; i++) v[i] = a[i * n + j];
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        let d = 0;
        for (let i = 0; i < m; i++) d += q[i * n + k] * v[i];
        for (let i = 0; i < m; i++) v[i] -= d * q[i * n + k];
      }
    }
    let nrm = 0;
    for (let i = 0; i < m; i++) nrm += v[i] * v[i];
    nrm = Math.sqrt(nrm);
    for (let i = 0; i < m; i++) q[i * n + j] = v[i] / nrm;
  }
  return q;
}

describe('lib/kernels/qr: householderQr', () => {
  it('factors square, tall and single-column matrices: QᵀQ = I and Q·R = A to 1e-14, R upper triangular', () => {
    for (const [m, n] of [[1, 1], [2, 2], [5, 5], [16, 16], [7, 3], [40, 9], [9, 1], [3, 0]]) {
      const { orth, recon, lower } = residuals(randomMatrix(m, n), m, n);
      expect(orth, `${m}×${n} orthogonality`).to.be.below(1e-14);
      expect(recon, `${m}×${n} reconstruction`).to.be.below(1e-14);
      expect(lower, `${m}×${n} below the diagonal`).to.equal(0);
    }
  });

  it('matches Gram-Schmidt after the sign correction Q·diag(sign(R[k][k]))', () => {
    for (const [m, n] of [[6, 6], [12, 5], [30, 30]]) {
      const a = randomMatrix(m, n);
      const { q, r } = householderQr(a, m, n);
      const g = gramSchmidt(a, m, n);
      let worst = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(q[i * n + j] * Math.sign(r[j * n + j]) - g[i * n + j]));
      }
      expect(worst, `${m}×${n}`).to.be.below(1e-12);
    }
  });

  it('handles a zero column (H = I, R[k][k] = 0) and entries near the float64 range ends without overflow', () => {
    const a = randomMatrix(5, 3);
    for (let i = 0; i < 5; i++) a[i * 3 + 1] = 0;
    const { q, r } = householderQr(a, 5, 3);
    expect(r[1 * 3 + 1]).to.equal(0);
    expect(Array.from(q).every(Number.isFinite)).to.equal(true);
    const { recon } = residuals(a, 5, 3);
    expect(recon).to.be.below(1e-14);
    for (const scale of [1e300, 1e-300]) {
      const b = randomMatrix(6, 4, scale);
      const res = residuals(b, 6, 4);
      expect(res.orth, `scale ${scale}`).to.be.below(1e-14);
      expect(res.recon, `scale ${scale}`).to.be.below(1e-14);
    }
  });

  it('refuses a wide matrix or a wrong length, naming itself', () => {
    expect(() => householderQr(new Float64Array(6), 2, 3)).to.throw('householderQr: expected integers m >= n >= 0, got m=2, n=3');
    expect(() => householderQr(new Float64Array(5), 3, 2)).to.throw('householderQr: expected 6 entries for 3×2, got 5');
  });
});
