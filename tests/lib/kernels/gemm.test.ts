import { expect } from 'chai';
import { allocate, type DType, type FloatArray } from '../../../lib/core/dtype';
import { gemm, gemmReference } from '../../../lib/kernels/gemm';
import { getGemmKernel, setGemmKernel, type GemmKernel } from '../../../lib/kernels/gemm_backend';
import { jsBackend } from '../../../lib/kernels/gemm_js';
import { DenseOperands, runPackedGemm, type MicroBackend } from '../../../lib/kernels/packed_gemm';
import { createWasmBackend, emitMacroKernel, wasmF32Backend, wasmF32MultiplyAdd, wasmSimdAvailable } from '../../../lib/kernels/wasm_gemm';
import { Random } from '../../../lib/random';
import { getNumThreads, setNumThreads, threadStats, waitForThreads } from '../../../lib/platform/threads';

const rng = new Random(1234);
const KERNELS: GemmKernel[] = ['js', 'wasm'];
const DTYPES: DType[] = ['float32', 'float64'];

function filled(dtype: DType, n: number, shared = false): FloatArray {
  const a = shared ? allocate(dtype, n) : dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() * 2 - 1;
  return a;
}

interface Case {
  M: number; N: number; K: number; transA: boolean; transB: boolean; accumulate: boolean;
  aOff: number; bOff: number; cOff: number; padA: number; padB: number; padC: number;
}

/** Runs gemm and gemmReference on the same case; returns the worst error over the whole C array. */
function compare(dtype: DType, c: Case): { err: number; bound: number } {
  const rowsA = c.transA ? c.K : c.M, colsA = c.transA ? c.M : c.K;
  const rowsB = c.transB ? c.N : c.K, colsB = c.transB ? c.K : c.N;
  const lda = colsA + c.padA, ldb = colsB + c.padB, ldc = c.N + c.padC;
  const A = filled(dtype, c.aOff + rowsA * lda + 3);
  const B = filled(dtype, c.bOff + rowsB * ldb + 2);
  const C1 = filled(dtype, c.cOff + c.M * ldc + 5);
  const C2 = C1.slice();
  gemm(c.transA, c.transB, c.M, c.N, c.K, A, c.aOff, lda, B, c.bOff, ldb, c.accumulate, C1, c.cOff, ldc);
  gemmReference(c.transA, c.transB, c.M, c.N, c.K, A, c.aOff, lda, B, c.bOff, ldb, c.accumulate, C2, c.cOff, ldc);
  let err = 0;
  for (let i = 0; i < C1.length; i++) err = Math.max(err, Math.abs(C1[i] - C2[i]));
  // |a|,|b| ≤ 1: a sum of K products rounds by at most ~K·eps·K in the worst case; this is looser than seen.
  const eps = dtype === 'float64' ? 2.2e-16 : 1.2e-7;
  return { err, bound: 4 * eps * Math.max(1, c.K) * Math.sqrt(Math.max(1, c.K)) + eps * 4 };
}

const EDGE = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17, 31, 33, 64, 97, 130, 257, 300];

function randomCase(): Case {
  const pick = (): number => (rng.uniform() < 0.6 ? EDGE[rng.integer(0, EDGE.length)] : 1 + rng.integer(0, 200));
  return {
    M: pick(), N: pick(), K: pick(),
    transA: rng.uniform() < 0.5, transB: rng.uniform() < 0.5, accumulate: rng.uniform() < 0.5,
    aOff: rng.integer(0, 4), bOff: rng.integer(0, 4), cOff: rng.integer(0, 4),
    padA: rng.integer(0, 3), padB: rng.integer(0, 3), padC: rng.integer(0, 3),
  };
}

describe('lib/kernels/gemm', () => {
  const saved = getGemmKernel();
  const savedThreads = getNumThreads();
  before(() => setNumThreads(1));
  after(() => {
    setGemmKernel(saved);
    setNumThreads(savedThreads);
  });

  it('has WebAssembly SIMD in this Node (so the wasm kernels below are really exercised)', () => {
    expect(wasmSimdAvailable()).to.equal(true);
  });

  it('accumulates float32 with a fused multiply-add where the engine has relaxed SIMD, else with mul + add', () => {
    // With the pool's flag set this Node compiles relaxed_madd (and this CPU has FMA).
    expect(wasmF32MultiplyAdd(), 'float32 kernel uses relaxed_madd').to.equal(true);
    // (1 + 2^-12)² = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 in float32; the second product cancels it.
    // Fused, the tail survives: C = -2^-24. Unfused (mul, then add) it is lost: C = 0.
    const e = 1 + 2 ** -12;
    const A = Float32Array.from([e, e]), B = Float32Array.from([e, -e]);
    const run = (backend: MicroBackend): number => {
      const C = new Float32Array(1);
      runPackedGemm(new DenseOperands(1, 1, 2, false, false, A, 0, 2, B, 0, 1, false, C, 0, 1, backend), backend, 0, 1, 0, 1);
      return C[0];
    };
    const spec = { lanes: 4, mr: 4, nr: 8, unroll: 1 } as const;
    expect(run(createWasmBackend({ ...spec, fma: true }, 256, 128, 512))).to.equal(-(2 ** -24));
    expect(run(createWasmBackend(spec, 256, 128, 512))).to.equal(0);
    expect(run(jsBackend)).to.equal(0);
    expect(() => emitMacroKernel({ lanes: 2, mr: 4, nr: 4, unroll: 1, fma: true })).to.throw(/float32 kernel only/);
  });

  for (const kernel of KERNELS) {
    for (const dtype of DTYPES) {
      it(`${kernel} kernel matches the reference on random ${dtype} cases (edges, transposes, offsets, accumulate)`, () => {
        setGemmKernel(kernel);
        for (let t = 0; t < 40; t++) {
          const c = randomCase();
          const { err, bound } = compare(dtype, c);
          expect(err, JSON.stringify(c)).to.be.at.most(bound);
        }
      });
    }

    it(`${kernel} kernel crosses K-blocks and M-blocks (K, M beyond KC, MC)`, () => {
      setGemmKernel(kernel);
      for (const dtype of DTYPES) {
        for (const [M, N, K] of [[131, 45, 520], [7, 300, 777], [260, 9, 3]]) {
          const c: Case = { M, N, K, transA: M % 2 === 0, transB: K % 2 === 0, accumulate: true, aOff: 1, bOff: 2, cOff: 3, padA: 1, padB: 0, padC: 2 };
          const { err, bound } = compare(dtype, c);
          expect(err, `${dtype} ${M}x${N}x${K}`).to.be.at.most(bound);
        }
      }
    });
  }

  it('packs A block by block when all of it would exceed the packing budget', () => {
    for (const kernel of KERNELS) {
      setGemmKernel(kernel);
      for (const dtype of DTYPES) {
        const c: Case = { M: 2050, N: 5, K: 2100, transA: dtype === 'float64', transB: false, accumulate: false, aOff: 0, bOff: 0, cOff: 0, padA: 0, padB: 0, padC: 0 };
        const { err, bound } = compare(dtype, c);
        expect(err, `${kernel} ${dtype}`).to.be.at.most(bound);
      }
    }
  });

  it('treats K = 0 as an empty sum and M = 0 or N = 0 as no work', () => {
    setGemmKernel('wasm');
    const A = new Float32Array(8), B = new Float32Array(8);
    const C = new Float32Array([5, 5, 5, 5]);
    gemm(false, false, 2, 2, 0, A, 0, 1, B, 0, 2, true, C, 0, 2);
    expect(Array.from(C)).to.deep.equal([5, 5, 5, 5]);
    gemm(false, false, 2, 2, 0, A, 0, 1, B, 0, 2, false, C, 0, 2);
    expect(Array.from(C)).to.deep.equal([0, 0, 0, 0]);
    C.fill(7);
    gemm(false, false, 0, 2, 3, A, 0, 3, B, 0, 2, false, C, 0, 2);
    gemm(false, false, 2, 0, 3, A, 0, 3, B, 0, 1, false, C, 0, 1);
    expect(Array.from(C)).to.deep.equal([7, 7, 7, 7]);
  });

  it('rejects mixed element types, short arrays and bad leading dimensions', () => {
    const f32 = new Float32Array(16), f64 = new Float64Array(16);
    expect(() => gemm(false, false, 4, 4, 4, f32, 0, 4, f64, 0, 4, false, f32, 0, 4)).to.throw(/gemm: .*element type/);
    expect(() => gemm(false, false, 4, 4, 4, f32, 1, 4, f32, 0, 4, false, new Float32Array(16), 0, 4)).to.throw(/gemm: a .*does not fit/);
    expect(() => gemm(false, false, 4, 4, 4, f32, 0, 3, f32, 0, 4, false, new Float32Array(16), 0, 4)).to.throw(/gemm: lda 3/);
    expect(() => gemm(false, false, -1, 4, 4, f32, 0, 4, f32, 0, 4, false, new Float32Array(16), 0, 4)).to.throw(/gemm: M must/);
  });

  describe('packed driver with every micro-kernel shape', () => {
    // The backends the driver can run on, including wasm tile shapes other than the default.
    const backends: Array<[string, () => MicroBackend, DType]> = [
      ['js', () => jsBackend, 'float64'],
      ['wasm f32 4x8', () => createWasmBackend({ lanes: 4, mr: 4, nr: 8, unroll: 1 }, 64, 24, 40), 'float32'],
      ['wasm f32 6x8 unrolled', () => createWasmBackend({ lanes: 4, mr: 6, nr: 8, unroll: 4 }, 37, 30, 48), 'float32'],
      ['wasm f32 3x12', () => createWasmBackend({ lanes: 4, mr: 3, nr: 12, unroll: 2 }, 50, 9, 36), 'float32'],
      ['wasm f64 4x4', () => createWasmBackend({ lanes: 2, mr: 4, nr: 4, unroll: 1 }, 33, 16, 20), 'float64'],
      ['wasm f64 2x6 unrolled', () => createWasmBackend({ lanes: 2, mr: 2, nr: 6, unroll: 3 }, 29, 10, 30), 'float64'],
    ];
    for (const [name, make, dtype] of backends) {
      it(`${name}: small blocks, sub-ranges of C, JS and staged packing`, () => {
        const be = make();
        for (let t = 0; t < 12; t++) {
          const c = randomCase();
          const { M, N, K } = c;
          const lda = c.transA ? M : K, ldb = c.transB ? K : N;
          const A = filled(dtype, M * K), B = filled(dtype, K * N);
          const C1 = filled(dtype, M * N), C2 = C1.slice();
          const i0 = rng.integer(0, M), i1 = rng.integer(i0, M + 1), j0 = rng.integer(0, N), j1 = rng.integer(j0, N + 1);
          const ops = new DenseOperands(M, N, K, c.transA, c.transB, A, 0, lda, B, 0, ldb, c.accumulate, C1, 0, N,
            t % 2 === 0 ? be : undefined);
          runPackedGemm(ops, be, i0, i1, j0, j1);
          // Reference on the same sub-block only; everything else must be untouched.
          if (i1 > i0 && j1 > j0) {
            gemmReference(c.transA, c.transB, i1 - i0, j1 - j0, K,
              A, c.transA ? i0 : i0 * lda, lda, B, c.transB ? j0 * ldb : j0, ldb, c.accumulate, C2, i0 * N + j0, N);
          }
          const tol = dtype === 'float64' ? 1e-12 : 1e-4;
          for (let i = 0; i < C1.length; i++) expect(Math.abs(C1[i] - C2[i]), `${name} ${JSON.stringify(c)} at ${i}`).to.be.at.most(tol);
        }
      });
    }

    it('macroAt, reading B through panel and tap tables, gives the bits of macro on the packed B', () => {
      // The default float32 kernel (multiply-add where available) and the mul + add one.
      const kernels = [wasmF32Backend(), createWasmBackend({ lanes: 4, mr: 4, nr: 8, unroll: 1 }, 256, 128, 512)];
      for (const be of kernels) {
        const at = be.macroAt;
        expect(at, be.name).to.be.a('function');
        if (at === undefined) return;
        const { mr, nr } = be;
        for (const [mPanels, nPanels, kc] of [[1, 1, 1], [3, 5, 37], [4, 9, 144], [2, 3, 256]]) {
          // Scratch: packed A | image | panel table | tap table | packed B | C (two copies).
          const img = mPanels * mr * kc, imgLen = 4096, pt = img + imgLen, tt = pt + nPanels, bp = tt + kc;
          const ldc = nPanels * nr + 3, c1 = bp + kc * nPanels * nr, c2 = c1 + mPanels * mr * ldc;
          const S = be.reserve(c2 + mPanels * mr * ldc) as Float32Array;
          const I = new Int32Array(S.buffer, S.byteOffset, S.length);
          for (let i = 0; i < pt; i++) S[i] = rng.uniform() * 2 - 1;
          // Any float of the image, unaligned, for taps and panels alike (B reads need not be aligned).
          for (let j = 0; j < nPanels; j++) I[pt + j] = 4 * (img + rng.integer(0, imgLen / 2));
          for (let k = 0; k < kc; k++) I[tt + k] = 4 * rng.integer(0, imgLen / 2 - nr);
          for (let j = 0; j < nPanels; j++) {
            for (let k = 0; k < kc; k++) {
              for (let e = 0; e < nr; e++) S[bp + (j * kc + k) * nr + e] = S[(I[pt + j] + I[tt + k]) / 4 + e];
            }
          }
          for (const loadC of [false, true]) {
            for (let i = 0; i < mPanels * mr * ldc; i++) S[c1 + i] = S[c2 + i] = rng.uniform();
            const start = S[c1];
            be.macro(S, 0, bp, c1, ldc, mPanels, nPanels, kc, loadC);
            at(S, 0, pt, tt, c2, ldc, mPanels, nPanels, kc, loadC);
            for (let i = 0; i < mPanels * mr * ldc; i++) {
              if (S[c1 + i] !== S[c2 + i]) {
                expect(S[c2 + i], `${be.name} ${mPanels}x${nPanels} kc ${kc} loadC ${loadC} at ${i}`).to.equal(S[c1 + i]);
              }
            }
            // The sums really ran: C's first element moved off its starting value.
            expect(S[c1], `${be.name} kc ${kc}`).to.not.equal(start);
          }
        }
      }
      // Only the float32 kernels with the conv packers, built for unroll 1, have it.
      expect(createWasmBackend({ lanes: 4, mr: 4, nr: 8, unroll: 2 }, 64, 64, 64).macroAt).to.equal(undefined);
      expect(createWasmBackend({ lanes: 2, mr: 4, nr: 4, unroll: 1 }, 64, 64, 64).macroAt).to.equal(undefined);
      expect(jsBackend.macroAt).to.equal(undefined);
    });

    it('emits a module the engine validates, for several tile shapes', () => {
      for (const [mr, nr, lanes] of [[1, 4, 4], [4, 8, 4], [5, 12, 4], [1, 2, 2], [3, 4, 2]] as const) {
        const bytes = emitMacroKernel({ lanes, mr, nr, unroll: 2 });
        expect(bytes.subarray(0, 4)).to.deep.equal(new Uint8Array([0x00, 0x61, 0x73, 0x6d]));
        expect(() => createWasmBackend({ lanes, mr, nr, unroll: 2 }, 16, 16, 16)).to.not.throw();
      }
      expect(() => emitMacroKernel({ lanes: 4, mr: 4, nr: 6, unroll: 1 })).to.throw(/multiple of 4 lanes/);
    });
  });

  describe('with 2 threads', function () {
    this.timeout(60000);
    before(() => {
      setNumThreads(2);
      waitForThreads();
    });
    after(() => setNumThreads(1));

    for (const kernel of KERNELS) {
      for (const dtype of DTYPES) {
        it(`${kernel} ${dtype}: bit-identical to 1 thread, split by columns and by rows`, () => {
          setGemmKernel(kernel);
          for (const [M, N, K, tA, tB] of [[150, 203, 129, false, true], [700, 21, 160, true, false], [96, 96, 300, true, true]] as const) {
            const A = filled(dtype, M * K, true), B = filled(dtype, K * N, true);
            const C0 = filled(dtype, M * N, true);
            const C1 = allocate(dtype, M * N), C2 = allocate(dtype, M * N);
            C1.set(C0);
            C2.set(C0);
            const lda = tA ? M : K, ldb = tB ? K : N;
            setNumThreads(1);
            gemm(tA, tB, M, N, K, A, 0, lda, B, 0, ldb, true, C1, 0, N);
            setNumThreads(2);
            const before = threadStats().partsSent;
            gemm(tA, tB, M, N, K, A, 0, lda, B, 0, ldb, true, C2, 0, N);
            expect(threadStats().partsSent, 'a worker took part').to.be.greaterThan(before);
            expect(C2).to.deep.equal(C1);
          }
        });
      }
    }

    it('gives the same result from non-shared inputs and output (copies them for the workers)', () => {
      setGemmKernel('wasm');
      const [M, N, K] = [120, 130, 140];
      const A = filled('float32', M * K), B = filled('float32', K * N);
      const C1 = filled('float32', M * N), C2 = C1.slice();
      gemm(false, false, M, N, K, A, 0, K, B, 0, N, true, C1, 0, N);
      setNumThreads(1);
      gemm(false, false, M, N, K, A, 0, K, B, 0, N, true, C2, 0, N);
      setNumThreads(2);
      expect(C1).to.deep.equal(C2);
    });
  });
});
