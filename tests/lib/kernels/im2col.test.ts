import { expect } from 'chai';
import { storeChannelRows, type PatchView } from '../../../lib/kernels/im2col';
import { axisOffset, reversedTapsAxis, StagedPatches, stridedAxis } from '../../../lib/kernels/im2col_wasm';
import { wasmF32Backend, wasmPackersOf } from '../../../lib/kernels/wasm_gemm';
import { Random } from '../../../lib/random';

// The packers are held to the conv reference loops in conv2d.test.ts; this is the C-block store
// on its own: its 1×1-map path, short and long runs, and the bias branch the convs never take.
describe('lib/kernels/im2col storeChannelRows', () => {
  it('writes each block element to its NCHW place (adding the bias), for any pixel count and block', () => {
    const rng = new Random(41);
    for (let t = 0; t < 300; t++) {
      const P = [1, 2, 3, 4, 7, 16, 31, 32, 33, 64][rng.integer(0, 10)];
      const N = rng.integer(1, 6), O = rng.integer(1, 9);
      const chBase = rng.integer(0, 3) * P, imageStride = chBase + O * P + rng.integer(0, 3) * P;
      const i0 = rng.integer(0, O), mc = rng.integer(1, O - i0 + 1);
      const j0 = rng.integer(0, N * P), nc = rng.integer(1, N * P - j0 + 1);
      const ld = nc + rng.integer(0, 9), off = rng.integer(0, 5);
      const src = Float32Array.from({ length: off + mc * ld }, () => rng.uniform() * 4 - 2);
      const bias = rng.uniform() < 0.5 ? null : Float32Array.from({ length: O + 2 }, (_, c) => (c % 3 === 0 ? 0 : rng.uniform()));
      const biasOff = bias === null ? 0 : rng.integer(0, 3);
      const dst = new Float32Array(N * imageStride).fill(NaN);
      storeChannelRows(dst, imageStride, chBase, P, bias, biasOff, src, off, ld, i0, mc, j0, nc);
      const want = new Float32Array(N * imageStride).fill(NaN);
      for (let r = 0; r < mc; r++) {
        for (let j = 0; j < nc; j++) {
          const pix = j0 + j, n = Math.floor(pix / P), p = pix - n * P, ch = i0 + r;
          const b = bias === null ? 0 : bias[biasOff + ch];
          want[n * imageStride + chBase + ch * P + p] = b === 0 ? src[off + r * ld + j] : src[off + r * ld + j] + b;
        }
      }
      expect(Array.from(dst), JSON.stringify({ P, N, O, chBase, imageStride, i0, mc, j0, nc, ld, off, biasOff })).to.deep.equal(Array.from(want));
    }
  });
});

// The staged weight matrices describe their layout as data (AxisMap) rather than closures; the
// conv tests run every map through the packers, and this pins each map to its formula on its own.
describe('lib/kernels/im2col_wasm AxisMap', () => {
  it('stridedAxis(s) maps x to x·s', () => {
    for (const s of [1, 3, 9, 576]) {
      for (let x = 0; x < 50; x++) expect(axisOffset(stridedAxis(s), x)).to.equal(x * s);
    }
  });

  it('reversedTapsAxis(taps, stride) reverses the taps within each block', () => {
    for (const [taps, stride] of [[1, 4], [3, 27], [9, 576], [25, 75]]) {
      const m = reversedTapsAxis(taps, stride);
      for (let x = 0; x < 4 * taps; x++) {
        const block = Math.floor(x / taps), tap = x % taps;
        expect(axisOffset(m, x), `taps ${taps}, x ${x}`).to.equal(block * stride + (taps - 1 - tap));
      }
    }
  });
});

// A stride-1 conv's B block can be read where the staged image holds it (wasm_gemm's macroAt); the
// driver then skips packRows. Bit-identity with packing rests on the tables naming exactly the
// floats packRows would copy, panel by panel and tap by tap, which this checks value for value.
describe('lib/kernels/im2col_wasm StagedPatches.inPlaceRows', () => {
  const NR = 8, KC = 256, NC = 512;
  interface Case { N: number; C: number; H: number; W: number; KH: number; KW: number; ph: number; pw: number; dh: number; dw: number }

  function staged(c: Case, seed: number, sw = 1): { st: StagedPatches; S: Float32Array; I: Int32Array; view: PatchView } {
    const rng = new Random(seed);
    const src = new Float32Array(c.N * c.C * c.H * c.W);
    for (let i = 0; i < src.length; i++) src[i] = rng.uniform() * 2 - 1;
    const OH = c.H + 2 * c.ph - c.dh * (c.KH - 1), OW = Math.floor((c.W + 2 * c.pw - c.dw * (c.KW - 1) - 1) / sw) + 1;
    const view: PatchView = {
      src, imageStride: c.C * c.H * c.W, chBase: 0, H: c.H, W: c.W, KH: c.KH, KW: c.KW,
      sh: 1, sw, ph: c.ph, pw: c.pw, dh: c.dh, dw: c.dw, OH, OW,
    };
    const be = wasmF32Backend();
    const packers = wasmPackersOf(be);
    if (packers === null) throw new Error('the float32 wasm backend has no packers');
    const st = new StagedPatches(view, c.C, packers, Math.ceil(NC / (OH * OW)) + 1, KC, NC, NR);
    const S = be.reserve(KC * NC + st.scratchElements()) as Float32Array;
    st.bind(S, KC * NC);
    return { st, S, I: new Int32Array(S.buffer, S.byteOffset, S.length), view };
  }

  it('names, for every panel and tap, the floats packRows packs (padding, dilation, K and column blocks)', () => {
    const cases: Case[] = [
      { N: 3, C: 5, H: 8, W: 8, KH: 3, KW: 3, ph: 1, pw: 1, dh: 1, dw: 1 },
      { N: 2, C: 30, H: 8, W: 16, KH: 3, KW: 3, ph: 1, pw: 1, dh: 1, dw: 1 },
      { N: 2, C: 3, H: 20, W: 32, KH: 3, KW: 3, ph: 1, pw: 1, dh: 1, dw: 1 },
      { N: 2, C: 4, H: 9, W: 12, KH: 3, KW: 3, ph: 2, pw: 3, dh: 2, dw: 1 },
      { N: 4, C: 7, H: 4, W: 8, KH: 1, KW: 1, ph: 0, pw: 0, dh: 1, dw: 1 },
    ];
    let checked = 0;
    cases.forEach((c, ci) => {
      const { st, S, I, view } = staged(c, 300 + ci);
      const K = c.C * c.KH * c.KW, cols = c.N * view.OH * view.OW;
      for (let p0 = 0; p0 < K; p0 += KC) {
        const kc = Math.min(KC, K - p0);
        for (let j0 = 0; j0 < cols; j0 += NC) {
          const nc = Math.min(NC, cols - j0);
          expect(nc % NR, JSON.stringify(c)).to.equal(0);
          st.packRows(0, p0, kc, j0, nc, NR);
          const packed = S.slice(0, kc * nc);
          const at = st.inPlaceRows(p0, kc, j0, nc, NR);
          expect(at, `in place ${JSON.stringify(c)} p0 ${p0} j0 ${j0}`).to.not.equal(null);
          if (at === null) return;
          for (let j = 0; j < nc / NR; j++) {
            for (let k = 0; k < kc; k++) {
              const src = (I[at.panels + j] + I[at.taps + k]) / 4;
              for (let e = 0; e < NR; e++) {
                const want = packed[(j * kc + k) * NR + e];
                if (S[src + e] !== want) {
                  expect(S[src + e], `${JSON.stringify(c)} p0 ${p0} j0 ${j0} panel ${j} tap ${k} column ${e}`).to.equal(want);
                }
                checked++;
              }
            }
          }
        }
      }
    });
    expect(checked).to.be.greaterThan(100000);
  });

  it('declines blocks whose panels are not NR pixels of one output row at stride 1', () => {
    const ok: Case = { N: 2, C: 3, H: 8, W: 8, KH: 3, KW: 3, ph: 1, pw: 1, dh: 1, dw: 1 };
    expect(staged(ok, 1).st.inPlaceRows(0, 27, 0, 64, NR)).to.not.equal(null);
    expect(staged(ok, 1).st.inPlaceRows(0, 27, 4, 64, NR), 'j0 not a multiple of NR').to.equal(null);
    expect(staged(ok, 1).st.inPlaceRows(0, 27, 0, 60, NR), 'nc not a multiple of NR').to.equal(null);
    const narrow: Case = { ...ok, W: 12 };
    expect(staged(narrow, 2).st.inPlaceRows(0, 27, 0, 96, NR), 'rows of 12 pixels').to.equal(null);
    // Stride 2 over 16-wide rows: 8 output pixels a row, but not consecutive floats.
    const strided: Case = { ...ok, W: 16 };
    expect(staged(strided, 3, 2).st.inPlaceRows(0, 27, 0, 64, NR), 'stride 2').to.equal(null);
  });
});
