import { expect } from 'chai';
import { allocate, type DType, type FloatArray } from '../../../lib/core/dtype';
import {
  conv2dBackward, conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardInputReference, conv2dBackwardWeight,
  conv2dBackwardWeightReference, conv2dForward, conv2dForwardReference, conv2dGeometry,
  prepareConvWeight, trimDeadTaps, type Conv2dGeometry, type Conv2dParams,
} from '../../../lib/kernels/conv2d';
import { getGemmKernel, setGemmKernel, type GemmKernel } from '../../../lib/kernels/gemm_backend';
import { deferTask, pendingOutputs, setOpsAhead, settle, settleAll } from '../../../lib/kernels/parallel';
import { Random } from '../../../lib/random';
import { getNumThreads, setContentionGuard, setNumThreads, threadStats, waitForThreads } from '../../../lib/platform/threads';
import { getWinograd, setWinograd } from '../../../lib/kernels/winograd';

const rng = new Random(99);

function filled(dtype: DType, n: number, shared = false): FloatArray {
  const a = shared ? allocate(dtype, n) : dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() * 2 - 1;
  return a;
}

function maxAbsDiff(a: FloatArray, b: FloatArray): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

interface Spec {
  x: [number, number, number, number];
  w: [number, number, number, number];
  p: Conv2dParams;
}

/** Checks the three passes (and bias) of one convolution against the reference loops. */
function checkAll(dtype: DType, s: Spec, shared = false): void {
  const g = conv2dGeometry(s.x, s.w, s.p, [s.w[0]]);
  const x = filled(dtype, s.x.reduce((a, b) => a * b), shared);
  const w = filled(dtype, s.w.reduce((a, b) => a * b), shared);
  const bias = filled(dtype, s.w[0], shared);
  const gy = filled(dtype, g.N * g.O * g.OH * g.OW, shared);
  const reduction = (g.C / g.groups) * g.KH * g.KW;
  // Each output sums at most `terms` products of values in [-1, 1].
  const tol = (terms: number): number => (dtype === 'float64' ? 1e-13 : 2e-6) * Math.max(4, terms);
  const label = `${dtype} ${JSON.stringify(s)}`;
  expect(maxAbsDiff(conv2dForward(x, w, bias, g), conv2dForwardReference(x, w, bias, g)), `forward ${label}`)
    .to.be.at.most(tol(reduction));
  expect(maxAbsDiff(conv2dForward(x, w, null, g), conv2dForwardReference(x, w, null, g)), `forward no bias ${label}`)
    .to.be.at.most(tol(reduction));
  expect(maxAbsDiff(conv2dBackwardInput(gy, w, g), conv2dBackwardInputReference(gy, w, g)), `backward input ${label}`)
    .to.be.at.most(tol((g.O / g.groups) * g.KH * g.KW));
  expect(maxAbsDiff(conv2dBackwardWeight(gy, x, g), conv2dBackwardWeightReference(gy, x, g)), `backward weight ${label}`)
    .to.be.at.most(tol(g.N * g.OH * g.OW));
}

function randomSpec(): Spec | null {
  const groups = [1, 1, 1, 2, 3][rng.integer(0, 5)];
  const N = rng.integer(1, 4), Cg = rng.integer(1, 6), Og = rng.integer(1, 9);
  const H = rng.integer(1, 13), W = rng.integer(1, 13);
  const KH = rng.integer(1, 4), KW = rng.integer(1, 4);
  const p: Conv2dParams = {
    stride: [rng.integer(1, 3), rng.integer(1, 4)],
    padding: [rng.integer(0, 3), rng.integer(0, 2)],
    dilation: rng.uniform() < 0.25 ? [2, rng.integer(1, 3)] : 1,
    groups,
  };
  const s: Spec = { x: [N, Cg * groups, H, W], w: [Og * groups, Cg, KH, KW], p };
  try {
    conv2dGeometry(s.x, s.w, s.p);
  } catch {
    return null; // kernel larger than the padded input: covered by the validation tests
  }
  return s;
}

/** Shapes that take each special path: pointwise, col2im at stride 1, depthwise, ResNet-like. */
const NAMED: Array<[string, Spec]> = [
  ['1x1 stride 1 unpadded (no im2col)', { x: [2, 7, 5, 6], w: [9, 7, 1, 1], p: {} }],
  ['1x1 stride 2 (ResNet downsample)', { x: [2, 8, 9, 9], w: [12, 8, 1, 1], p: { stride: 2 } }],
  ['3x3 stride 1 pad 1', { x: [3, 5, 8, 8], w: [6, 5, 3, 3], p: { padding: 1 } }],
  ['3x3 stride 2 pad 1', { x: [2, 6, 9, 8], w: [7, 6, 3, 3], p: { stride: 2, padding: 1 } }],
  ['7x7 stride 2 pad 3 (ResNet stem)', { x: [1, 3, 16, 15], w: [8, 3, 7, 7], p: { stride: 2, padding: 3 } }],
  ['padding wider than the kernel reach (col2im at stride 1)', { x: [2, 3, 4, 5], w: [4, 3, 2, 2], p: { padding: 3 } }],
  ['dilation 2', { x: [2, 4, 11, 10], w: [5, 4, 3, 3], p: { padding: 2, dilation: 2 } }],
  ['depthwise (groups = channels)', { x: [2, 6, 7, 7], w: [6, 1, 3, 3], p: { padding: 1, groups: 6 } }],
  ['groups 2 with 1x1', { x: [2, 8, 5, 5], w: [6, 4, 1, 1], p: { groups: 2 } }],
  ['1x1 input, 1x1 kernel, batch 1', { x: [1, 1, 1, 1], w: [1, 1, 1, 1], p: {} }],
  ['output 1x1 from a full-size kernel', { x: [2, 3, 5, 4], w: [4, 3, 5, 4], p: {} }],
  ['channels past the tile sizes (MR, NR, 64-column units)', { x: [2, 37, 6, 11], w: [70, 37, 3, 3], p: { padding: 1 } }],
  ['stride 3, dilation 2 (the gather packer)', { x: [2, 5, 17, 16], w: [9, 5, 3, 2], p: { stride: 3, padding: [2, 1], dilation: 2 } }],
  ['1x1 images, deep channels (tiny GEMM columns)', { x: [9, 40, 1, 1], w: [30, 40, 3, 3], p: { padding: 1 } }],
  ['images larger than a column block (one image over several blocks)', { x: [2, 2, 70, 66], w: [3, 2, 3, 3], p: { stride: 2, padding: 1 } }],
  ['a large stride-1 image', { x: [1, 2, 40, 37], w: [3, 2, 3, 3], p: { padding: 1 } }],
  // Output rows a multiple of NR (8) at stride 1: the wasm float32 passes read B in place (macroAt).
  ['rows of 16 read in place, K past one K block', { x: [2, 30, 8, 16], w: [9, 30, 3, 3], p: { padding: 1 } }],
  ['rows of 32 read in place, an image over several column blocks', { x: [2, 3, 20, 32], w: [5, 3, 3, 3], p: { padding: 1 } }],
  ['5x5 on a 2x2 map: the outer ring of taps only meets padding (trimmed to 3x3)', { x: [2, 4, 2, 2], w: [3, 4, 5, 5], p: { padding: 2 } }],
  ['dead taps on one axis only, dilation 2', { x: [2, 3, 2, 6], w: [4, 3, 3, 3], p: { padding: 2, dilation: 2 } }],
  ['dead taps at stride 2 (trimmed col2im)', { x: [2, 3, 1, 3], w: [4, 3, 3, 3], p: { stride: 2, padding: 1 } }],
  ['stride 2 on a 2x2 map: only the first row and column of taps are dead (ResNet layer4 entry)',
    { x: [3, 5, 2, 2], w: [6, 5, 3, 3], p: { stride: 2, padding: 1 } }],
  ['a dead tap at the end of one axis only (stride 2, padding 2)', { x: [2, 3, 1, 3], w: [4, 3, 2, 2], p: { stride: 2, padding: 2 } }],
];

describe('lib/kernels/conv2d', function () {
  this.timeout(60000);
  const savedKernel = getGemmKernel();
  const savedThreads = getNumThreads();
  before(() => setNumThreads(1));
  after(() => {
    setGemmKernel(savedKernel);
    setNumThreads(savedThreads);
  });

  for (const kernel of ['js', 'wasm'] as GemmKernel[]) {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      it(`${kernel} ${dtype}: forward and both backward passes match the reference on random geometries`, () => {
        setGemmKernel(kernel);
        for (let t = 0; t < 25; t++) {
          const s = randomSpec();
          if (s !== null) checkAll(dtype, s);
        }
      });

      it(`${kernel} ${dtype}: each special path matches the reference`, () => {
        setGemmKernel(kernel);
        for (const [, s] of NAMED) checkAll(dtype, s);
      });
    }
  }

  it('wasm float32: inputs in shared memory at odd offsets give the bits of ordinary arrays (staging one float over)', () => {
    // Copies from a SharedArrayBuffer go word by word only when source and staging slot are aligned
    // alike modulo 8 bytes, so the staging classes shift their slot by one float to match. Views
    // starting one float into their buffer, and odd C·H·W (consecutive images alternate), take
    // every shifted path; the results must not move by a bit.
    setGemmKernel('wasm');
    const oddShared = (a: FloatArray): Float32Array => {
      const v = new Float32Array(new SharedArrayBuffer(4 * (a.length + 1)), 4, a.length);
      v.set(a);
      return v;
    };
    const specs = [...NAMED.map(([, s]) => s), ...Array.from({ length: 20 }, randomSpec).filter((s): s is Spec => s !== null)];
    for (const s of specs) {
      const g = conv2dGeometry(s.x, s.w, s.p);
      const x = filled('float32', s.x.reduce((a, b) => a * b));
      const w = filled('float32', s.w.reduce((a, b) => a * b));
      const gy = filled('float32', g.N * g.O * g.OH * g.OW);
      const [xs, ws, gys] = [x, w, gy].map(oddShared);
      const label = JSON.stringify(s);
      expect(Array.from(conv2dForward(xs, ws, null, g)), `forward ${label}`).to.deep.equal(Array.from(conv2dForward(x, w, null, g)));
      expect(Array.from(conv2dBackwardInput(gys, ws, g)), `backward input ${label}`).to.deep.equal(Array.from(conv2dBackwardInput(gy, w, g)));
      expect(Array.from(conv2dBackwardWeight(gys, xs, g)), `backward weight ${label}`).to.deep.equal(Array.from(conv2dBackwardWeight(gy, x, g)));
      const gw = conv2dBackwardWeight(gys, xs, g), ref = conv2dBackwardWeightReference(gy, x, g);
      expect(maxAbsDiff(gw, ref), `backward weight vs reference ${label}`).to.be.at.most(2e-6 * Math.max(4, g.N * g.OH * g.OW));
    }
  });

  it('leaves out kernel taps that only meet padding, keeping the output size', () => {
    const layer4 = conv2dGeometry([32, 512, 1, 1], [512, 512, 3, 3], { padding: 1 });
    const t = trimDeadTaps(layer4);
    expect(t).to.not.equal(null);
    expect([t!.th, t!.tw, t!.g.KH, t!.g.KW, t!.g.ph, t!.g.pw, t!.g.OH, t!.g.OW]).to.deep.equal([1, 1, 1, 1, 0, 0, 1, 1]);
    // Stride 2 on a 2x2 map: taps 1 and 2 of each axis read rows 0 and 1, tap 0 only the padding.
    const entry = trimDeadTaps(conv2dGeometry([32, 256, 2, 2], [512, 256, 3, 3], { stride: 2, padding: 1 }))!;
    expect([entry.th, entry.tw, entry.g.KH, entry.g.KW, entry.g.ph, entry.g.pw, entry.g.OH, entry.g.OW, entry.KH, entry.KW])
      .to.deep.equal([1, 1, 2, 2, 0, 0, 1, 1, 3, 3]);
    // A tap dead at the end only: the padding before the image stays, the kernel shrinks.
    const end = trimDeadTaps(conv2dGeometry([1, 1, 1, 3], [1, 1, 2, 2], { stride: 2, padding: 2 }))!;
    expect([end.th, end.tw, end.g.KH, end.g.KW, end.g.ph, end.g.pw, end.g.OH, end.g.OW]).to.deep.equal([0, 0, 1, 2, 2, 2, 2, 3]);
    expect(trimDeadTaps(conv2dGeometry([32, 256, 2, 2], [256, 256, 3, 3], { padding: 1 })), 'every tap meets the 2x2 map').to.equal(null);
    const dil = trimDeadTaps(conv2dGeometry([1, 1, 2, 6], [1, 1, 3, 3], { padding: 2, dilation: 2 }))!;
    expect([dil.th, dil.tw, dil.g.KH, dil.g.KW, dil.g.ph, dil.g.pw]).to.deep.equal([1, 0, 1, 3, 0, 2]);
    // Dead taps must come in pairs: dropping one end alone would change the output size.
    expect(trimDeadTaps(conv2dGeometry([1, 1, 3, 3], [1, 1, 3, 3], { padding: 1 }))).to.equal(null);
  });

  it('keeps exactly the live taps of every filter when it slices a trimmed weight', () => {
    // One trimmed geometry per gather the slice has (1, 2, 4 and any other number of taps).
    const cases: Array<[number[], number[], Conv2dParams, number]> = [
      [[2, 3, 1, 1], [4, 3, 3, 3], { padding: 1 }, 1],
      [[2, 3, 1, 3], [4, 3, 2, 2], { stride: 2, padding: 2 }, 2],
      [[2, 3, 2, 2], [5, 3, 3, 3], { stride: 2, padding: 1 }, 4],
      [[2, 3, 2, 6], [4, 3, 3, 3], { padding: 2, dilation: 2 }, 3],
      [[2, 4, 2, 2], [3, 4, 5, 5], { padding: 2 }, 9],
    ];
    for (const [xs, ws, p, taps] of cases) {
      const g = conv2dGeometry(xs, ws, p);
      const t = trimDeadTaps(g)!;
      expect(t.g.KH * t.g.KW, `taps kept for ${JSON.stringify([xs, ws, p])}`).to.equal(taps);
      const w = Float64Array.from({ length: ws.reduce((a, b) => a * b) }, (_, i) => i + 0.5);
      const want: number[] = [];
      for (let f = 0; f < ws[0] * ws[1]; f++) {
        for (let i = 0; i < t.g.KH; i++) for (let j = 0; j < t.g.KW; j++) want.push(w[(f * ws[2] + i + t.th) * ws[3] + t.tw + j]);
      }
      expect(Array.from(prepareConvWeight(w, g).w), `slice of ${JSON.stringify([xs, ws, p])}`).to.deep.equal(want);
    }
  });

  it('gives the dropped taps an exact zero weight gradient and ignores their weights', () => {
    const g = conv2dGeometry([3, 4, 1, 1], [5, 4, 3, 3], { padding: 1 });
    const x = filled('float64', 12), w = filled('float64', 180), gy = filled('float64', 15);
    const gw = conv2dBackwardWeight(gy, x, g);
    for (let i = 0; i < gw.length; i++) if (i % 9 !== 4) expect(gw[i], `tap ${i % 9}`).to.equal(0);
    const poisoned = w.slice();
    for (let i = 0; i < poisoned.length; i++) if (i % 9 !== 4) poisoned[i] = NaN;
    expect(conv2dForward(x, poisoned, null, g)).to.deep.equal(conv2dForward(x, w, null, g));
    expect(conv2dBackwardInput(gy, poisoned, g)).to.deep.equal(conv2dBackwardInput(gy, w, g));
  });

  it('sums the bias gradient over batch and pixels', () => {
    const g = conv2dGeometry([2, 1, 2, 2], [3, 1, 1, 1]);
    const gy = Float64Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
    const gb = conv2dBackwardBias(gy, g);
    // o=0: images give 0+1+2+3 and 12+13+14+15.
    expect(Array.from(gb)).to.deep.equal([60, 92, 124]);
  });

  describe('empty sums: no images, no input channels or no output channels', () => {
    // PyTorch gives zeros (the forward: its bias) where a pass sums over nothing; the packed GEMM
    // needs K > 0, so each pass must answer these itself, on every path that could otherwise run.
    const EMPTY: Spec[] = [
      { x: [2, 0, 5, 5], w: [3, 0, 3, 3], p: { padding: 1 } },
      { x: [0, 2, 5, 5], w: [3, 2, 3, 3], p: {} },
      { x: [2, 2, 5, 5], w: [0, 2, 3, 3], p: { stride: 2 } },
      { x: [1, 0, 4, 4], w: [2, 0, 3, 3], p: { groups: 2 } },
      // Dead taps trimmed (1x1 maps) with no channels to slice.
      { x: [2, 0, 1, 1], w: [3, 0, 3, 3], p: { padding: 1 } },
      // Enough tiles for Winograd F(2x2, 3x3) when it is on (float32, wasm).
      { x: [8, 0, 16, 16], w: [4, 0, 3, 3], p: { padding: 1 } },
      { x: [8, 4, 16, 16], w: [0, 4, 3, 3], p: { padding: 1 } },
      { x: [0, 4, 16, 16], w: [4, 4, 3, 3], p: { padding: 1 } },
    ];
    const savedWinograd = getWinograd();
    after(() => {
      setWinograd(savedWinograd);
      setNumThreads(1);
    });
    for (const kernel of ['js', 'wasm'] as GemmKernel[]) {
      for (const dtype of ['float32', 'float64'] as DType[]) {
        it(`${kernel} ${dtype}: every pass matches the reference loops at 1 and 2 threads, Winograd on and off`, () => {
          setGemmKernel(kernel);
          for (const threads of [1, 2]) {
            setNumThreads(threads);
            waitForThreads();
            for (const wino of [false, true]) {
              setWinograd(wino);
              for (const s of EMPTY) {
                const label = `${JSON.stringify(s)}, ${threads} thread(s), Winograd ${wino}`;
                const g = conv2dGeometry(s.x, s.w, s.p, [s.w[0]]);
                const x = filled(dtype, s.x.reduce((a, b) => a * b), true);
                const w = filled(dtype, s.w.reduce((a, b) => a * b), true);
                const bias = filled(dtype, s.w[0], true);
                const gy = filled(dtype, g.N * g.O * g.OH * g.OW, true);
                const fwd = conv2dForwardReference(x, w, bias, g), gxRef = conv2dBackwardInputReference(gy, w, g);
                const gwRef = conv2dBackwardWeightReference(gy, x, g);
                expect(Array.from(conv2dForward(x, w, bias, g)), `forward ${label}`).to.deep.equal(Array.from(fwd));
                expect(Array.from(conv2dForward(x, prepareConvWeight(w, g), null, g)), `forward no bias ${label}`)
                  .to.deep.equal(Array.from(conv2dForwardReference(x, w, null, g)));
                expect(Array.from(conv2dBackwardInput(gy, w, g)), `backward input ${label}`).to.deep.equal(Array.from(gxRef));
                expect(Array.from(conv2dBackwardWeight(gy, x, g)), `backward weight ${label}`).to.deep.equal(Array.from(gwRef));
                for (const deferWeight of [false, true]) {
                  const both = conv2dBackward(gy, x, w, g, true, true, { deferWeight });
                  settleAll();
                  expect(Array.from(both.gx as FloatArray), `paired input gradient ${label}`).to.deep.equal(Array.from(gxRef));
                  expect(Array.from(both.gw as FloatArray), `paired weight gradient ${label}`).to.deep.equal(Array.from(gwRef));
                }
              }
            }
          }
        });
      }
    }
  });

  it('rejects arrays that do not match the geometry or each other', () => {
    const g = conv2dGeometry([1, 2, 4, 4], [3, 2, 3, 3]);
    const x = new Float32Array(32), w = new Float32Array(54);
    expect(() => conv2dForward(new Float32Array(31), w, null, g)).to.throw(/conv2dForward: input has 31 elements, expected 32/);
    expect(() => conv2dForward(x, new Float64Array(54), null, g)).to.throw(/conv2dForward: weight is Float64Array but input is Float32Array/);
    expect(() => conv2dForward(x, w, new Float32Array(2), g)).to.throw(/conv2dForward: bias has 2 elements, expected 3/);
    expect(() => conv2dBackwardInput(new Float32Array(5), w, g)).to.throw(/conv2dBackwardInput: output gradient has 5/);
    expect(() => conv2dBackwardWeight(new Float32Array(12), new Float32Array(3), g)).to.throw(/conv2dBackwardWeight: input has 3/);
    expect(() => prepareConvWeight(new Float32Array(53), g)).to.throw(/prepareConvWeight: weight has 53 elements, expected 54/);
    const other = prepareConvWeight(new Float32Array(27), conv2dGeometry([1, 1, 4, 4], [3, 1, 3, 3]));
    expect(() => conv2dForward(x, other, null, g)).to.throw(/conv2dForward: the prepared weight was made for another geometry \(weight \[3,1,3,3\] after trimming, expected \[3,2,3,3\]\)/);
  });

  describe('conv2dGeometry validation', () => {
    it('derives output sizes as PyTorch does', () => {
      const g = conv2dGeometry([2, 3, 32, 31], [8, 3, 3, 3], { stride: 2, padding: [1, 0], dilation: [1, 2] });
      expect([g.OH, g.OW]).to.deep.equal([16, 14]);
      expect(conv2dGeometry([1, 4, 5, 5], [4, 2, 1, 1], { groups: 2 }).groups).to.equal(2);
    });

    it('names conv2d and the shapes in every error', () => {
      expect(() => conv2dGeometry([2, 4, 8], [16, 3, 3, 3])).to.throw(/conv2d: expected a 4-d NCHW input, got shape \[2,4,8\]/);
      expect(() => conv2dGeometry([2, 4, 8, 8], [16, 3, 3])).to.throw(/conv2d: expected a 4-d \[out, in\/groups, kh, kw\] weight/);
      expect(() => conv2dGeometry([2, 4, 8, 8], [16, 3, 3, 3])).to.throw(/conv2d: input has 4 channels but weight expects 3 \(input \[2,4,8,8\], weight \[16,3,3,3\]/);
      expect(() => conv2dGeometry([2, 4, 8, 8], [6, 2, 3, 3], { groups: 3 })).to.throw(/conv2d: input channels 4 not divisible by groups 3/);
      expect(() => conv2dGeometry([2, 4, 8, 8], [5, 2, 3, 3], { groups: 2 })).to.throw(/conv2d: output channels 5 not divisible by groups 2/);
      expect(() => conv2dGeometry([2, 4, 8, 8], [6, 4, 3, 3], { groups: 0 })).to.throw(/conv2d: groups must be a positive integer/);
      expect(() => conv2dGeometry([1, 1, 2, 2], [1, 1, 3, 3])).to.throw(/conv2d: kernel 3x3 \(dilation 1x1\) is larger than the padded input 2x2/);
      expect(() => conv2dGeometry([1, 1, 2, 2], [1, 1, 3, 3], { padding: 1, dilation: 2 })).to.throw(/conv2d: kernel 3x3 \(dilation 2x2\) is larger than the padded input 4x4/);
      expect(() => conv2dGeometry([1, 2, 4, 4], [3, 2, 1, 1], {}, [2])).to.throw(/conv2d: bias must have shape \[3\], got \[2\]/);
      expect(() => conv2dGeometry([1, 2, 4, 4], [3, 2, 1, 1], { stride: 0 })).to.throw(/conv2d/);
      expect(() => conv2dGeometry([1, 2, 4, 4], [3, 2, 1, 1], { padding: -1 })).to.throw(/conv2d/);
    });
  });

  describe('with 2 threads', () => {
    before(() => {
      setNumThreads(2);
      waitForThreads();
      // These tests check which thread computes what; the guard's fallback to one thread when a
      // run looks starved (timing-dependent, see threads.ts) would make the part counts flaky.
      setContentionGuard(false);
    });
    after(() => {
      setContentionGuard(true);
      setNumThreads(1);
    });

    // Large enough to be split; stride 2 takes the image-split col2im path; groups split weight columns.
    const SPLIT: Spec[] = [
      { x: [4, 16, 16, 16], w: [24, 16, 3, 3], p: { padding: 1 } },
      { x: [5, 12, 30, 26], w: [20, 12, 3, 3], p: { stride: 2, padding: 1 } },
      { x: [4, 32, 16, 16], w: [64, 32, 1, 1], p: {} },
      { x: [2, 24, 14, 14], w: [48, 12, 3, 3], p: { padding: 2, dilation: 2, groups: 2 } },
      { x: [3, 3, 33, 33], w: [64, 3, 3, 3], p: { padding: 1 } },
      // Few pixels: the forward and input gradient split output channels instead of pixels.
      { x: [16, 64, 2, 2], w: [128, 64, 3, 3], p: { padding: 1 } },
      // 1x1 maps: only the centre tap is computed (ResNet18's last stage on 32x32 inputs).
      { x: [64, 256, 1, 1], w: [256, 256, 3, 3], p: { padding: 1 } },
      // Stride 2 down to 1x1: col2im blocks hold many whole images, and the first row and column
      // of taps only meet padding (trimmed to 2x2 at one end).
      { x: [32, 128, 2, 2], w: [256, 128, 3, 3], p: { stride: 2, padding: 1 } },
      // Fewer pixels than twice the rows: the forward (then the input gradient) splits rows, each
      // thread staging only its rows of the weights (80 rows: 48 + 32 at 2 threads).
      { x: [32, 40, 2, 2], w: [80, 40, 3, 3], p: { padding: 1 } },
      { x: [32, 80, 2, 2], w: [40, 80, 3, 3], p: { padding: 1 } },
    ];
    for (const kernel of ['js', 'wasm'] as GemmKernel[]) {
      for (const dtype of ['float32', 'float64'] as DType[]) {
        it(`${kernel} ${dtype}: every pass is bit-identical to 1 thread`, () => {
          setGemmKernel(kernel);
          for (const s of SPLIT) {
            const g = conv2dGeometry(s.x, s.w, s.p);
            const x = filled(dtype, s.x.reduce((a, b) => a * b), true);
            const w = filled(dtype, s.w.reduce((a, b) => a * b), true);
            const bias = filled(dtype, s.w[0], true);
            const gy = filled(dtype, g.N * g.O * g.OH * g.OW, true);
            let syncParts = 0;
            const run = (threads: number): FloatArray[] => {
              setNumThreads(threads);
              // Trimmed weights are sliced once here (a split gather for large ones), as autograd does.
              const cw = prepareConvWeight(w, g);
              const sentBefore = threadStats().partsSent;
              const both = conv2dBackward(gy, x, cw, g, true, true);
              const passes = [conv2dForward(x, cw, bias, g), conv2dBackwardInput(gy, cw, g), conv2dBackwardWeight(gy, x, g)];
              syncParts = threadStats().partsSent - sentBefore;
              passes.push(cw.w);
              const deferredBefore = threadStats().deferred;
              const deferred = conv2dBackward(gy, x, cw, g, true, true, { deferWeight: true });
              // At 2 threads the weight gradient is still a worker's until settled; at 1 it is done.
              expect(pendingOutputs(), `pending after a deferred backward, ${threads} thread(s)`).to.equal(threads - 1);
              expect(threadStats().deferred - deferredBefore).to.equal(threads - 1);
              settle(deferred.gw as FloatArray);
              expect(pendingOutputs()).to.equal(0);
              // Without an input gradient to compute meanwhile, the weight gradient is made right away.
              const weightOnly = conv2dBackward(gy, x, cw, g, false, true, { deferWeight: true });
              expect(pendingOutputs(), 'weight gradient alone is not deferred').to.equal(0);
              expect(weightOnly.gx).to.equal(null);
              return [...passes, both.gx as FloatArray, both.gw as FloatArray, deferred.gx as FloatArray, deferred.gw as FloatArray,
                weightOnly.gw as FloatArray];
            };
            const one = run(1);
            const two = run(2);
            // One part each for the three passes, and one for the paired backward (the worker takes the weight gradient).
            expect(syncParts, `workers took part in all passes ${JSON.stringify(s)}`).to.equal(4);
            for (let i = 0; i < 4; i++) expect(two[i], `pass ${i} of ${JSON.stringify(s)}`).to.deep.equal(one[i]);
            for (const [i, what] of [[4, 'paired'], [6, 'deferred']] as const) {
              expect(one[i], `${what} input gradient, 1 thread ${JSON.stringify(s)}`).to.deep.equal(one[1]);
              expect(one[i + 1], `${what} weight gradient, 1 thread ${JSON.stringify(s)}`).to.deep.equal(one[2]);
              expect(two[i], `${what} input gradient, 2 threads ${JSON.stringify(s)}`).to.deep.equal(one[1]);
              expect(two[i + 1], `${what} weight gradient, 2 threads ${JSON.stringify(s)}`).to.deep.equal(one[2]);
            }
            expect(two[8], `weight gradient alone, 2 threads ${JSON.stringify(s)}`).to.deep.equal(one[2]);
          }
        });
      }
    }

    it('splits a deferred backward\'s input gradient while the worker is free and ops lie ahead, else runs it on the caller', () => {
      // With the worker free and more ops ahead of the caller, the input gradient runs first on both
      // threads (one part posted) and the weight gradient is deferred after it (one more). With
      // nothing ahead the weight gradient is posted first and the input gradient runs after it (on
      // the caller, or split if the worker is free by then); with the worker held by deferred work,
      // the input gradient runs on the calling thread alone and only the weight gradient is posted.
      try {
        checkSplitFirst();
      } finally {
        setOpsAhead(0);
      }
    });

    const isWeightGrad = (task: string): boolean => /Weight$/.test(task);

    function checkSplitFirst(): void {
      // The stride-2 case is SPLIT[1] with a weight gradient of ~6 ms: "worker busy" must outlast a
      // collection that an allocation on the caller may set off (threads.ts) before it counts threads.
      const strided: Spec = { x: [40, 24, 30, 26], w: [40, 24, 3, 3], p: { stride: 2, padding: 1 } };
      for (const s of [SPLIT[0], strided, SPLIT[6]]) {
        const g = conv2dGeometry(s.x, s.w, s.p);
        const x = filled('float32', s.x.reduce((a, b) => a * b), true);
        const w = filled('float32', s.w.reduce((a, b) => a * b), true);
        const gy = filled('float32', g.N * g.O * g.OH * g.OW, true);
        setNumThreads(1);
        const cw1 = prepareConvWeight(w, g);
        const gx1 = conv2dBackwardInput(gy, cw1, g);
        const gw1 = conv2dBackwardWeight(gy, x, g);
        setNumThreads(2);
        waitForThreads();
        const cw = prepareConvWeight(w, g);
        for (const ahead of [1, 0]) {
          setOpsAhead(ahead);
          // Once first, so the caller's path is compiled: a first call slow enough for the worker to
          // finish the small weight gradient meanwhile would free it for the input gradient.
          settleAll();
          settle(conv2dBackward(gy, x, cw, g, true, true, { deferWeight: true }).gw as FloatArray);
          // Which kernels went to the worker, in the order posted (threads.ts keeps the latest 64).
          const sent = threadStats().partsSent;
          const free = conv2dBackward(gy, x, cw, g, true, true, { deferWeight: true });
          const n = threadStats().partsSent - sent;
          const posted = n === 0 ? [] : threadStats().recentTasks.slice(-n);
          expect(pendingOutputs()).to.equal(1);
          settle(free.gw as FloatArray);
          expect(free.gx, `input gradient ${JSON.stringify(s)}`).to.deep.equal(gx1);
          expect(free.gw, `weight gradient ${JSON.stringify(s)}`).to.deep.equal(gw1);
          const label = `worker free, ${ahead} op(s) ahead ${JSON.stringify(s)}: posted ${posted.join(', ')}`;
          if (ahead === 1) {
            // The input gradient first, split (one part to the worker), then the weight gradient.
            expect(posted.map(isWeightGrad), label).to.deep.equal([false, true]);
          } else {
            // The weight gradient first, then the input gradient runs on the caller. It is split too
            // when the worker is already free again (a pause of the caller in between, a collection
            // its output's allocation sets off or the OS, lets a small weight gradient finish
            // first), so how many parts follow depends on timing; that they follow does not.
            expect(posted.length, label).to.be.within(1, 2);
            expect(isWeightGrad(posted[0]), label).to.equal(true);
            for (const t of posted.slice(1)) expect(isWeightGrad(t), label).to.equal(false);
          }
        }

        const gate = new Int32Array(new SharedArrayBuffer(4));
        const held = new Int32Array(new SharedArrayBuffer(4));
        expect(deferTask('parallel.hold', 1, { gate, out: held, timeoutMs: 20000 }, [held])).to.equal(true);
        setOpsAhead(1);
        const sent = threadStats().partsSent;
        const busy = conv2dBackward(gy, x, cw, g, true, true, { deferWeight: true });
        expect(threadStats().partsSent - sent, `worker busy: only the weight gradient is posted ${JSON.stringify(s)}`).to.equal(1);
        expect(pendingOutputs()).to.equal(2);
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
        settleAll();
        expect(held[0], 'the held job ran on the worker').to.equal(1);
        expect(busy.gx, `input gradient, worker busy ${JSON.stringify(s)}`).to.deep.equal(gx1);
        expect(busy.gw, `weight gradient, worker busy ${JSON.stringify(s)}`).to.deep.equal(gw1);
      }
    }

    it('slices a large trimmed weight on both threads, bit-identical to 1 thread', () => {
      for (const s of [SPLIT[6], { x: [8, 64, 1, 1], w: [512, 64, 5, 5], p: { padding: 2 } }]) {
        const g = conv2dGeometry(s.x, s.w, s.p);
        const w = filled('float32', s.w.reduce((a, b) => a * b), true);
        setNumThreads(1);
        const one = prepareConvWeight(w, g).w;
        setNumThreads(2);
        const sent = threadStats().partsSent;
        const two = prepareConvWeight(w, g).w;
        expect(threadStats().partsSent - sent, `a worker took part ${JSON.stringify(s)}`).to.equal(1);
        expect(two).to.deep.equal(one);
        expect(one.length).to.equal(s.w[0] * s.w[1]);
      }
    });

    it('matches the reference from non-shared inputs', () => {
      setGemmKernel('wasm');
      checkAll('float32', SPLIT[0], false);
      checkAll('float64', SPLIT[1], false);
      // A deferred weight gradient copies non-shared inputs into shared memory for the worker.
      const s = SPLIT[6];
      const g = conv2dGeometry(s.x, s.w, s.p);
      const x = filled('float32', s.x.reduce((a, b) => a * b), false);
      const w = filled('float32', s.w.reduce((a, b) => a * b), false);
      const gy = filled('float32', g.N * g.O * g.OH * g.OW, false);
      const { gx, gw } = conv2dBackward(gy, x, w, g, true, true, { deferWeight: true });
      expect(pendingOutputs()).to.equal(1);
      settle(gw as FloatArray);
      expect(maxAbsDiff(gw as FloatArray, conv2dBackwardWeightReference(gy, x, g))).to.be.at.most(2e-6 * g.N * g.OH * g.OW);
      expect(maxAbsDiff(gx as FloatArray, conv2dBackwardInputReference(gy, w, g))).to.be.at.most(2e-6 * g.O * g.KH * g.KW);
    });
  });
});
