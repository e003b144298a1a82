import { expect } from 'chai';
import { allocate, type FloatArray } from '../../../lib/core/dtype';
import {
  conv2dBackward, conv2dBackwardInput, conv2dBackwardInputReference, conv2dBackwardWeight, conv2dBackwardWeightReference,
  conv2dForward, conv2dForwardReference, conv2dGeometry, type Conv2dGeometry,
} from '../../../lib/kernels/conv2d';
import { backendFor, setGemmKernel } from '../../../lib/kernels/gemm_backend';
import { wasmPackersOf } from '../../../lib/kernels/wasm_gemm';
import {
  flippedGeometry, getWinograd, setWinograd, winogradApplies, winogradConv, winogradConvInto, winogradUnits, winogradWeightApplies,
  winogradWeightGrad, winogradWeightGradInto, winogradWeightGradUnits, winogradWeights,
} from '../../../lib/kernels/winograd';
import { Random } from '../../../lib/random';
import { useTwoThreads } from '../../support/kernel_modes';

const rng = new Random(2015);

function filled(n: number, shared = false): Float32Array {
  const a = (shared ? allocate('float32', n) : new Float32Array(n)) as Float32Array;
  for (let i = 0; i < n; i++) a[i] = rng.uniform() * 2 - 1;
  return a;
}

function abs64(a: FloatArray): Float64Array {
  return Float64Array.from(a, Math.abs);
}

/**
 * Holds y to the float64 reference r of the same float32 inputs: |y − r| ≤ 1e-6 · s + 1e-7 per
 * element, where s is the same sum over absolute values (the scale of its rounding errors: a float32
 * sum of K terms is off by up to about K·6e-8·s, and the transforms add and subtract up to 9 terms).
 */
function expectClose(y: FloatArray, r: FloatArray, s: FloatArray, label: string): void {
  expect(y.length, label).to.equal(r.length);
  let worst = 0, at = -1;
  for (let i = 0; i < y.length; i++) {
    const e = Math.abs(y[i] - r[i]) - (1e-6 * s[i] + 1e-7);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  expect(at, `${label}: element ${at} is ${y[at]}, reference ${r[at]} (scale ${s[at]})`).to.equal(-1);
}

interface Case {
  x: [number, number, number, number];
  O: number;
  padding: number;
  /** Whether conv2d picks Winograd for it (4-wide planes and few tiles per channel it does not). */
  used: boolean;
}

/**
 * Wide planes (groups of 4 tiles across), 4-wide ones (2 × 2 tiles), odd channel counts, padding
 * 0–2, several blocks per image with a shorter last one ([1, 100, 26, 24]: 13 tile rows in blocks of 3),
 * blocks of several whole images (small planes), U read in row chunks (210 channels), and cases conv2d
 * leaves to the direct GEMM.
 */
const CASES: Case[] = [
  { x: [2, 3, 8, 8], O: 5, padding: 1, used: true },
  { x: [3, 16, 32, 32], O: 16, padding: 1, used: true },
  { x: [2, 7, 6, 16], O: 9, padding: 1, used: true },
  { x: [2, 40, 16, 16], O: 36, padding: 1, used: true },
  { x: [1, 100, 26, 24], O: 100, padding: 1, used: false },
  { x: [2, 6, 10, 18], O: 3, padding: 0, used: true },
  { x: [2, 3, 6, 6], O: 4, padding: 2, used: true },
  { x: [2, 8, 4, 4], O: 12, padding: 1, used: false },
  { x: [3, 5, 8, 4], O: 7, padding: 1, used: true },
  { x: [2, 6, 6, 6], O: 6, padding: 0, used: false },
  { x: [1, 130, 4, 4], O: 66, padding: 1, used: false },
  { x: [2, 210, 8, 8], O: 210, padding: 1, used: false },
];

/** More cases for the thread splits: blocks of 16 whole 8×8 images (4 units), and of tile rows. */
const TWO_THREADS: Case[] = [
  { x: [64, 16, 8, 8], O: 16, padding: 1, used: true },
  // A first conv (3 channels in): its weight gradient is cut by output channels instead.
  { x: [16, 3, 16, 16], O: 16, padding: 1, used: true },
  { x: [4, 64, 16, 16], O: 64, padding: 1, used: true },
];

function geometryOf(c: Case): Conv2dGeometry {
  return conv2dGeometry(c.x, [c.O, c.x[1], 3, 3], { padding: c.padding }, [c.O]);
}

/**
 * Each case straight through the Winograd functions (forward, input gradient as the flipped conv,
 * weight gradient) against the reference loops; where conv2d's dispatcher picks Winograd
 * (winogradApplies), its passes must give the same bits.
 */
function runCases(): void {
  for (const c of CASES) {
    const g = geometryOf(c);
    const label = `input [${c.x}] -> ${c.O} channels, padding ${c.padding}`;
    const x = filled(g.N * g.C * g.H * g.W, true), w = filled(g.O * g.C * 9, true), bias = filled(g.O, true);
    const gy = filled(g.N * g.O * g.OH * g.OW, true);
    const [x64, w64, b64, gy64] = [x, w, bias, gy].map((a) => Float64Array.from(a));
    const used = winogradApplies(g, x);
    expect(used, label).to.equal(c.used);

    const y = winogradConv(x, w, false, bias, g);
    expectClose(y, conv2dForwardReference(x64, w64, b64, g), conv2dForwardReference(abs64(x), abs64(w), abs64(bias), g), `forward ${label}`);
    const y0 = winogradConv(x, w, false, null, g);
    expectClose(y0, conv2dForwardReference(x64, w64, null, g), conv2dForwardReference(abs64(x), abs64(w), null, g), `forward without bias ${label}`);
    if (used) expect(Array.from(conv2dForward(x, w, bias, g)), `conv2dForward ${label}`).to.deep.equal(Array.from(y));

    const gw = winogradWeightGrad(gy, x, g);
    expectClose(gw, conv2dBackwardWeightReference(gy64, x64, g), conv2dBackwardWeightReference(abs64(gy), abs64(x), g), `weight gradient ${label}`);
    if (winogradWeightApplies(g, x)) expect(Array.from(conv2dBackwardWeight(gy, x, g)), `conv2dBackwardWeight ${label}`).to.deep.equal(Array.from(gw));

    const fg = flippedGeometry(g);
    const flippedOk = g.H % 2 === 0 && (g.W % 8 === 0 || (g.W === 4 && g.H % 4 === 0));
    if (flippedOk) {
      const gx = winogradConv(gy, w, true, null, fg);
      expectClose(gx, conv2dBackwardInputReference(gy64, w64, g), conv2dBackwardInputReference(abs64(gy), abs64(w), g), `input gradient ${label}`);
      if (winogradApplies(fg, gy)) expect(Array.from(conv2dBackwardInput(gy, w, g)), `conv2dBackwardInput ${label}`).to.deep.equal(Array.from(gx));
    } else {
      expect(() => winogradConv(gy, w, true, null, fg)).to.throw(/conv2d\.winograd: needs/);
    }
  }
}

describe('kernels/winograd: F(2x2, 3x3) convolution', () => {
  it('is used for float32 3x3 stride-1 convs of the shapes it handles, and only for those', () => {
    const f32 = new Float32Array(1), f64 = new Float64Array(1);
    const g = (x: [number, number, number, number], p: object): Conv2dGeometry => conv2dGeometry(x, [4, x[1], 3, 3], p);
    expect(winogradApplies(g([2, 3, 8, 8], { padding: 1 }), f32)).to.equal(true);
    expect(winogradApplies(g([2, 3, 4, 4], { padding: 1 }), f32), '4 wide').to.equal(true);
    expect(winogradApplies(g([1, 3, 4, 4], { padding: 1 }), f32), '4 tiles, 4 channels').to.equal(false);
    expect(winogradWeightApplies(g([2, 3, 8, 8], { padding: 1 }), f32), 'weight gradient, 8 wide, 3 channels').to.equal(false);
    expect(winogradWeightApplies(g([2, 3, 8, 16], { padding: 1 }), f32), 'weight gradient, 16 wide').to.equal(true);
    expect(winogradWeightApplies(conv2dGeometry([8, 32, 8, 8], [8, 32, 3, 3], { padding: 1 }), f32), 'weight gradient, 32 channels').to.equal(true);
    expect(winogradApplies(g([1, 64, 8, 8], { padding: 1 }), f32), '16 tiles, 64 channels').to.equal(false);
    expect(winogradApplies(g([8, 64, 8, 8], { padding: 1 }), f32), '128 tiles, 64 channels').to.equal(true);
    expect(winogradApplies(g([2, 3, 8, 8], { padding: 1 }), f64), 'float64').to.equal(false);
    expect(winogradApplies(g([2, 3, 8, 8], { padding: 1, stride: 2 }), f32), 'stride 2').to.equal(false);
    expect(winogradApplies(g([2, 3, 8, 8], { padding: 2, dilation: 2 }), f32), 'dilation 2').to.equal(false);
    expect(winogradApplies(g([2, 3, 8, 6], { padding: 1 }), f32), '6 wide').to.equal(false);
    expect(winogradApplies(g([2, 3, 7, 8], { padding: 1 }), f32), 'odd height').to.equal(false);
    expect(winogradApplies(g([2, 3, 6, 4], { padding: 1 }), f32), '4 wide, 6 high').to.equal(false);
    expect(winogradApplies(conv2dGeometry([2, 4, 8, 8], [4, 2, 3, 3], { padding: 1, groups: 2 }), f32), 'groups').to.equal(false);
    expect(winogradApplies(conv2dGeometry([2, 3, 8, 8], [4, 3, 5, 5], { padding: 2 }), f32), '5x5').to.equal(false);
    setWinograd(false);
    try {
      expect(winogradApplies(g([2, 3, 8, 8], { padding: 1 }), f32), 'switched off').to.equal(false);
    } finally {
      setWinograd(true);
    }
    setGemmKernel('js');
    try {
      expect(winogradApplies(g([2, 3, 8, 8], { padding: 1 }), f32), 'JS GEMM kernel').to.equal(false);
    } finally {
      setGemmKernel('wasm');
    }
    expect(getWinograd()).to.equal(true);
  });

  it('matches the reference loops: forward (with and without bias), input gradient and weight gradient', () => {
    runCases();
  });

  it('gives non-finite results exactly where the direct sum does, NaN in place of some infinities', () => {
    // Winograd's transforms subtract inputs, so an infinite input turns into NaN (∞ − ∞) in some of the
    // outputs where the direct sum gives ±∞ (README, Performance). Where the direct sum is finite
    // the result must be too, and NaN inputs give NaN in the same outputs.
    const g = conv2dGeometry([8, 32, 8, 8], [32, 32, 3, 3], { padding: 1 });
    const pattern = (a: FloatArray): string => Array.from(a, (v) => (Number.isNaN(v) ? 'n' : Number.isFinite(v) ? '.' : 'i')).join('');
    const finite = (a: FloatArray): string => pattern(a).replace(/[ni]/g, 'x');
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const where of ['input', 'weight', 'gradient'] as const) {
        const x = filled(g.N * g.C * g.H * g.W), w = filled(g.O * g.C * 9), gy = filled(g.N * g.O * g.OH * g.OW);
        if (where === 'input') x[3 * 64 + 2 * 8 + 5] = bad;
        else if (where === 'weight') w[5 * 32 * 9 + 7 * 9 + 4] = bad;
        else gy[(g.O + 9) * 64 + 7 * 8] = bad;
        expect(winogradApplies(g, x) && winogradApplies(flippedGeometry(g), gy) && winogradWeightApplies(g, x)).to.equal(true);
        const passes = (): FloatArray[] => [conv2dForward(x, w, null, g), conv2dBackwardInput(gy, w, g), conv2dBackwardWeight(gy, x, g)];
        const wino = passes();
        setWinograd(false);
        let direct: FloatArray[];
        try {
          direct = passes();
        } finally {
          setWinograd(true);
        }
        ['forward', 'input gradient', 'weight gradient'].forEach((pass, i) => {
          const label = `${pass}, ${bad} in the ${where}`;
          expect(finite(wino[i]), label).to.equal(finite(direct[i]));
          if (Number.isNaN(bad)) expect(pattern(wino[i]), label).to.equal(pattern(direct[i]));
        });
        // The case is not vacuous: the bad value reaches some output of each pass that reads it.
        if (where !== 'gradient') expect(finite(direct[0]), `forward, ${bad} in the ${where}`).to.include('x');
        if (where !== 'input') expect(finite(direct[1]), `input gradient, ${bad} in the ${where}`).to.include('x');
        if (where !== 'weight') expect(finite(direct[2]), `weight gradient, ${bad} in the ${where}`).to.include('x');
      }
    }
  });

  it('transforms the weight as G·w·Gᵀ into the macro-kernel\'s A panels, and the flipped transposed weight for the input gradient', () => {
    const O = 5, C = 3, w = filled(O * C * 9);
    const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
    const transform = (k: (i: number, j: number) => number): number[] => {
      const u: number[] = [];
      for (let a = 0; a < 4; a++) {
        for (let b = 0; b < 4; b++) {
          let s = 0;
          for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) s += G[a][i] * k(i, j) * G[b][j];
          u.push(s);
        }
      }
      return u;
    };
    const U = winogradWeights(w, O, C, false), Uf = winogradWeights(w, C, O, true);
    expect(U.length).to.equal(16 * 8 * C);
    for (let o = 0; o < 8; o++) {
      for (let c = 0; c < C; c++) {
        const u = o < O ? transform((i, j) => w[((o * C + c) * 3 + i) * 3 + j]) : new Array<number>(16).fill(0);
        for (let xi = 0; xi < 16; xi++) {
          expect(U[((xi * 2 + (o >> 2)) * C + c) * 4 + (o & 3)]).to.be.closeTo(u[xi], 1e-6);
        }
      }
    }
    for (let c = 0; c < C; c++) {
      for (let o = 0; o < O; o++) {
        const u = transform((i, j) => w[((o * C + c) * 3 + 2 - i) * 3 + 2 - j]);
        for (let xi = 0; xi < 16; xi++) expect(Uf[((xi * 1 + (c >> 2)) * O + o) * 4 + (c & 3)]).to.be.closeTo(u[xi], 1e-6);
      }
    }
  });

  it('computes the weight transform in wasm (wgU, wgUFlip) bit for bit as winogradWeights does', () => {
    const be = backendFor('float32', 'wasm');
    const pk = wasmPackersOf(be);
    expect(pk, 'the float32 wasm backend has the transforms').to.not.equal(null);
    let compared = 0;
    for (const [Oc, Ci] of [[1, 1], [2, 3], [3, 5], [4, 4], [5, 7], [7, 2], [13, 9], [16, 16], [40, 24]]) {
      for (const flip of [false, true]) {
        // Tiny and huge magnitudes too: the float64 sums must round exactly as the JS loop's.
        const w = Float32Array.from(filled(Oc * Ci * 9), (v, i) => (i % 5 === 0 ? v * 1e-38 : i % 7 === 0 ? v * 1e30 : v));
        const ref = winogradWeights(w, Oc, Ci, flip);
        const xs = Math.ceil(Oc / 4) * 4 * Ci, wOff = 0, uOff = w.length + 3;
        const S = be.reserve(uOff + 16 * xs) as Float32Array;
        S.set(w, wOff);
        S.fill(0, uOff, uOff + 16 * xs);
        if (flip) pk!.wgUFlip(wOff * 4, Oc, Ci, 36, Oc * 36, uOff * 4, xs * 4);
        else pk!.wgU(wOff * 4, Oc, Ci, Ci * 36, 36, uOff * 4, xs * 4);
        const got = Array.from(S.subarray(uOff, uOff + 16 * xs));
        expect(got, `${Oc} x ${Ci}, flip ${flip}`).to.deep.equal(Array.from(ref));
        compared += ref.length;
      }
    }
    expect(compared).to.be.greaterThan(10000);
  });

  it('cuts a weight gradient with one panel of input channels by output channels, without changing a bit', () => {
    // 3 and 8 channels in: two blocks of output channels. The same gradient computed 4 output
    // channels at a time (one block each) must give every row the same bits.
    for (const [N, C, H, O] of [[6, 3, 16, 16], [3, 8, 8, 10], [2, 5, 4, 13]]) {
      const g = conv2dGeometry([N, C, H, H], [O, C, 3, 3], { padding: 1 });
      expect(winogradWeightGradUnits(g), `units of [${N},${C},${H},${H}] -> ${O}`).to.equal(2);
      const x = filled(N * C * H * H), gy = filled(N * O * H * H);
      const whole = new Float32Array(O * C * 9);
      winogradWeightGradInto(gy, x, g, whole);
      for (let o0 = 0; o0 < O; o0 += 4) {
        const o1 = Math.min(O, o0 + 4), Oq = o1 - o0;
        const gq = conv2dGeometry([N, C, H, H], [Oq, C, 3, 3], { padding: 1 });
        expect(winogradWeightGradUnits(gq)).to.equal(1);
        const gyq = new Float32Array(N * Oq * H * H);
        for (let n = 0; n < N; n++) gyq.set(gy.subarray((n * O + o0) * H * H, (n * O + o1) * H * H), n * Oq * H * H);
        const part = new Float32Array(Oq * C * 9);
        winogradWeightGradInto(gyq, x, gq, part);
        expect(Array.from(whole.subarray(o0 * C * 9, o1 * C * 9)), `[${N},${C},${H},${H}] -> ${O}, rows ${o0}..${o1 - 1}`)
          .to.deep.equal(Array.from(part));
      }
    }
  });

  it('rejects a geometry or arrays it cannot take, naming conv2d.winograd and the shapes', () => {
    const g = conv2dGeometry([1, 4, 8, 6], [4, 4, 3, 3], { padding: 1 });
    const x = filled(4 * 8 * 6), w = filled(4 * 4 * 9);
    expect(() => winogradConv(x, w, false, null, g)).to.throw(/conv2d\.winograd: .*input \[1,4,8,6\].*output 8x6/);
    const ok = conv2dGeometry([1, 4, 8, 8], [4, 4, 3, 3], { padding: 1 });
    expect(() => winogradConv(filled(10), w, false, null, ok)).to.throw(/conv2d\.winograd: input has 10 elements, expected 256/);
    expect(() => winogradConv(filled(256), w.subarray(1), false, null, ok)).to.throw(/conv2d\.winograd: weight has 143 elements, expected 144/);
    expect(() => winogradConv(filled(256), w, false, filled(3), ok)).to.throw(/bias has 3 elements, expected 4/);
    expect(() => winogradConvInto(filled(256), w, false, null, ok, new Float32Array(5))).to.throw(/output has 5 elements, expected 256/);
    expect(() => winogradWeightGrad(filled(4 * 8 * 6), x, g)).to.throw(/conv2d\.winogradWeight: needs .*input \[1,4,8,6\]/);
    expect(() => winogradWeightGrad(filled(256), filled(7), ok)).to.throw(/conv2d\.winogradWeight: input has 7 elements, expected 256/);
    expect(() => winogradWeightGrad(filled(9), filled(256), ok)).to.throw(/output gradient has 9 elements, expected 256/);
    expect(() => winogradWeightGradInto(filled(256), filled(256), ok, new Float32Array(3))).to.throw(/weight gradient has 3 elements, expected 144/);
  });

  describe('with 2 threads', () => {
    useTwoThreads();

    it('splits blocks of tile rows (weight gradient: channels) over both threads with bit-identical results; the backward pair computes the same gradients', () => {
      let split = 0, weights = 0;
      for (const c of [...CASES.filter((k) => k.used), ...TWO_THREADS]) {
        const g = geometryOf(c);
        if (winogradUnits(g) >= 2) split++;
        const x = filled(g.N * g.C * g.H * g.W, true), w = filled(g.O * g.C * 9, true), bias = filled(g.O, true);
        const gy = filled(g.N * g.O * g.OH * g.OW, true);
        const one = new Float32Array(g.N * g.O * g.OH * g.OW);
        winogradConvInto(x, w, false, bias, g, one);
        expect(Array.from(conv2dForward(x, w, bias, g)), `forward [${c.x}]`).to.deep.equal(Array.from(one));
        const gwOne = new Float32Array(g.O * g.C * 9);
        winogradWeightGradInto(gy, x, g, gwOne);
        expect(Array.from(winogradWeightGrad(gy, x, g)), `weight gradient [${c.x}]`).to.deep.equal(Array.from(gwOne));
        const pair = conv2dBackward(gy, x, w, g, true, true);
        if (winogradWeightApplies(g, x)) {
          weights++;
          expect(Array.from(conv2dBackwardWeight(gy, x, g)), `conv2dBackwardWeight [${c.x}]`).to.deep.equal(Array.from(gwOne));
          expect(Array.from(pair.gw as Float32Array), `backward pair, weight [${c.x}]`).to.deep.equal(Array.from(gwOne));
        }
        if (winogradApplies(flippedGeometry(g), gy)) {
          const gxOne = new Float32Array(g.N * g.C * g.H * g.W);
          winogradConvInto(gy, w, true, null, flippedGeometry(g), gxOne);
          expect(Array.from(conv2dBackwardInput(gy, w, g)), `input gradient [${c.x}]`).to.deep.equal(Array.from(gxOne));
          expect(Array.from(pair.gx as Float32Array), `backward pair, input [${c.x}]`).to.deep.equal(Array.from(gxOne));
        }
      }
      expect(split, 'cases whose forward splits over threads').to.be.at.least(4);
      expect(weights, 'cases whose weight gradient conv2d takes through Winograd').to.be.at.least(3);
    });

    it('matches the reference loops', () => {
      runCases();
    });
  });
});
