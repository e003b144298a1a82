import { expect } from 'chai';
import { storeChannelRows } from '../../../lib/kernels/im2col';
import { axisOffset, reversedTapsAxis, stridedAxis } from '../../../lib/kernels/im2col_wasm';
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
