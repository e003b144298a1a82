import { expect } from 'chai';
import { DTYPES } from '../../../lib/core/dtype';
import { Random } from '../../../lib/random';
import {
  pool2dGeometry, type Pool2dGeometry, type Pool2dParams, type AvgPool2dOptions,
  maxPool2dForward, maxPool2dForwardRange, maxPool2dBackward, maxPool2dBackwardRange,
  avgPool2dForward, avgPool2dForwardRange, avgPool2dBackward, avgPool2dBackwardRange,
  adaptiveAvgPool2dForward, adaptiveAvgPool2dForwardRange, adaptiveAvgPool2dBackward, adaptiveAvgPool2dBackwardRange,
  maxPool2dForwardReference, maxPool2dBackwardReference, avgPool2dForwardReference, avgPool2dBackwardReference,
  adaptiveAvgPool2dForwardReference, adaptiveAvgPool2dBackwardReference,
} from '../../../lib/kernels/pool';
import { poolWasm } from '../../../lib/kernels/wasm_pool';
import { setNumThreads, threadStats } from '../../../lib/platform/threads';
import { arr, dot, expectClose, expectSame, nanFilled, numericGrad, randArr, randomChunks } from '../../support/kernel_helpers';
import { useTwoThreads, withWasm } from '../../support/kernel_modes';

// ---- local helpers ----

/** Random valid geometries; configurations the geometry rejects for size reasons are drawn again. */
function randomGeometries(rng: Random, count: number, withDilation: boolean): { g: Pool2dGeometry; params: Pool2dParams }[] {
  const out: { g: Pool2dGeometry; params: Pool2dParams }[] = [];
  let attempts = 0;
  while (out.length < count) {
    attempts++;
    expect(attempts, 'too many rejected random geometries').to.be.below(count * 20);
    const KH = rng.integer(1, 5), KW = rng.integer(1, 5);
    const params: Pool2dParams = {
      kernelSize: [KH, KW],
      stride: rng.bernoulli(0.2) ? undefined : [rng.integer(1, 4), rng.integer(1, 4)],
      padding: [rng.integer(0, Math.floor(KH / 2) + 1), rng.integer(0, Math.floor(KW / 2) + 1)],
      dilation: withDilation ? [rng.integer(1, 4), rng.integer(1, 4)] : 1,
      ceilMode: rng.bernoulli(0.5),
    };
    const shape = [rng.integer(0, 3) === 0 ? rng.integer(0, 2) : rng.integer(1, 4), rng.integer(1, 4), rng.integer(1, 12), rng.integer(1, 12)];
    try {
      out.push({ g: pool2dGeometry('maxPool2d', shape, params), params });
    } catch (e) {
      const m = (e as Error).message;
      if (!/too small|fall in the padding/.test(m)) throw e;
    }
  }
  return out;
}

describe('lib/kernels/pool', () => {
  describe('pool2dGeometry', () => {
    const size = (H: number, params: Pool2dParams): number => pool2dGeometry('maxPool2d', [1, 1, H, H], params).OH;

    it('computes PyTorch output sizes (floor and ceil mode, padding, dilation, default stride)', () => {
      expect(size(112, { kernelSize: 3, stride: 2, padding: 1 })).to.equal(56); // ResNet stem: floor((112+2-3)/2)+1
      expect(size(7, { kernelSize: 2 })).to.equal(3); // stride defaults to the kernel: floor(5/2)+1
      expect(size(7, { kernelSize: 2, ceilMode: true })).to.equal(4); // ceil(5/2)+1
      expect(size(6, { kernelSize: 3, stride: 2, ceilMode: true })).to.equal(3); // ceil(3/2)+1, last window starts at 4 < 6
      // ceil((5+2-3)/3)+1 = 3, but the third window would start at 6 = H + pad, inside the right padding only.
      expect(size(5, { kernelSize: 3, stride: 3, padding: 1, ceilMode: true })).to.equal(2);
      expect(size(10, { kernelSize: 3, stride: 1, dilation: 2 })).to.equal(6); // effective kernel 5
      const g = pool2dGeometry('maxPool2d', [2, 3, 9, 5], { kernelSize: [3, 1], stride: [2, 1], padding: [1, 0] });
      expect([g.OH, g.OW]).to.deep.equal([5, 5]);
    });

    it('rejects bad shapes and parameters with messages naming the op and values', () => {
      const x = [2, 3, 8, 8];
      expect(() => pool2dGeometry('maxPool2d', x, { kernelSize: 3, padding: 3 }))
        .to.throw('maxPool2d: pad 3 should be at most half of the kernel size 3 (input [2,3,8,8])');
      expect(() => pool2dGeometry('avgPool2d', x, { kernelSize: [3, 4], padding: [1, 3] }))
        .to.throw('avgPool2d: pad 3 should be at most half of the kernel size 4 in width (input [2,3,8,8])');
      expect(() => pool2dGeometry('maxPool2d', [3, 8, 8], { kernelSize: 2 })).to.throw('maxPool2d: expected a 4-d NCHW input, got shape [3,8,8]');
      expect(() => pool2dGeometry('maxPool2d', [1, 0, 8, 8], { kernelSize: 2 })).to.throw('maxPool2d: expected non-zero channels, height and width, got input [1,0,8,8]');
      expect(() => pool2dGeometry('maxPool2d', [1, 2, 8.5, 8], { kernelSize: 2 })).to.throw('maxPool2d: invalid input shape [1,2,8.5,8]');
      expect(() => pool2dGeometry('maxPool2d', x, { kernelSize: 0 })).to.throw('maxPool2d: kernelSize must be an integer >= 1');
      expect(() => pool2dGeometry('maxPool2d', x, { kernelSize: 2, stride: 0 })).to.throw('maxPool2d: stride must be an integer >= 1');
      expect(() => pool2dGeometry('maxPool2d', x, { kernelSize: 2, padding: -1 })).to.throw('maxPool2d: padding must be an integer >= 0');
      expect(() => pool2dGeometry('maxPool2d', x, { kernelSize: 2, dilation: [1, 0] })).to.throw('maxPool2d: dilation must be an integer >= 1');
      expect(() => pool2dGeometry('maxPool2d', [1, 1, 2, 8], { kernelSize: 3 }))
        .to.throw('maxPool2d: output size 0x2 is too small for input [1,1,2,8] (kernel 3x3, stride 3x3, padding 0x0, dilation 1x1)');
      // Taps at rows -1 and 1 of a 1-row input: PyTorch would output -inf here (pytorch#114216).
      expect(() => pool2dGeometry('maxPool2d', [1, 1, 1, 8], { kernelSize: 2, stride: 1, padding: 1, dilation: 2 }))
        .to.throw('maxPool2d: output row 0 has a window whose 2 taps (dilation 2, starting at -1) all fall in the padding of input [1,1,1,8]');
      expect(() => pool2dGeometry('maxPool2d', x, { kernelSize: 2, ceilMode: 1 as unknown as boolean })).to.throw('maxPool2d: ceilMode must be a boolean');
    });
  });

  describe('maxPool2d', () => {
    const plane = [
      1, 9, 2, 0,
      3, 4, 8, 8,
      0, 0, -1, -2,
      0, 5, -3, -4,
    ];

    for (const dt of DTYPES) {
      it(`picks window maxima and their in-plane index, first maximum on ties (${dt})`, () => {
        const g = pool2dGeometry('maxPool2d', [1, 1, 4, 4], { kernelSize: 2 });
        const { out, argmax } = maxPool2dForward(arr(dt, plane), g);
        expectSame(out, [9, 8, 5, -1]);
        expectSame(argmax, [1, 6, 13, 10]); // the 8s sit at flat 6 and 7; 6 comes first
        // Second plane of a batch: indices stay relative to the plane.
        const g2 = pool2dGeometry('maxPool2d', [2, 1, 4, 4], { kernelSize: 2 });
        const two = maxPool2dForward(arr(dt, [...plane.map((v) => 0 - v), ...plane]), g2);
        expectSame(two.out, [-1, 0, 0, 4, 9, 8, 5, -1]);
        expectSame(two.argmax, [0, 3, 8, 15, 1, 6, 13, 10]);
      });
    }

    it('pads with −∞, not zero', () => {
      const g = pool2dGeometry('maxPool2d', [1, 1, 2, 2], { kernelSize: 3, stride: 1, padding: 1 });
      const { out, argmax } = maxPool2dForward(arr('float32', [-1, -2, -3, -4]), g);
      expectSame(out, [-1, -1, -1, -1]);
      expectSame(argmax, [0, 0, 0, 0]);
    });

    it('propagates NaN like PyTorch: the output is NaN at the last NaN of the window', () => {
      const g = pool2dGeometry('maxPool2d', [1, 1, 2, 4], { kernelSize: 2 });
      const { out, argmax } = maxPool2dForward(arr('float64', [1, NaN, NaN, 5, 3, 2, 7, NaN]), g);
      expect(Number.isNaN(out[0]) && Number.isNaN(out[1])).to.equal(true);
      expectSame(argmax, [1, 7]);
    });

    it('reports the first in-bounds element of an all −∞ window', () => {
      const g = pool2dGeometry('maxPool2d', [1, 1, 2, 2], { kernelSize: 2, stride: 1, padding: 1 });
      const { out, argmax } = maxPool2dForward(arr('float32', [-Infinity, -Infinity, -Infinity, -Infinity]), g);
      expectSame(out, Array(9).fill(-Infinity));
      expectSame(argmax, [0, 0, 1, 0, 0, 1, 2, 2, 3]);
    });

    it('backward routes gradients to the argmax and adds them where windows overlap', () => {
      const g = pool2dGeometry('maxPool2d', [1, 1, 1, 3], { kernelSize: [1, 2], stride: 1 });
      const { argmax } = maxPool2dForward(arr('float64', [1, 3, 2]), g);
      expectSame(maxPool2dBackward(arr('float64', [10, 0.5]), argmax, g), [0, 10.5, 0]);
    });

    it('matches the reference on random geometries, including dilation and ceil mode, for both dtypes', () => {
      const rng = new Random(11);
      for (const { g } of randomGeometries(rng, 150, true)) {
        for (const dt of DTYPES) {
          const x = randArr(rng, dt, g.N * g.C * g.H * g.W);
          if (x.length > 3 && rng.bernoulli(0.3)) x[rng.integer(0, x.length)] = NaN;
          const fast = maxPool2dForward(x, g), ref = maxPool2dForwardReference(x, g);
          const tag = JSON.stringify(g);
          expectSame(fast.out, ref.out, tag);
          expectSame(fast.argmax, ref.argmax, tag);
          const gy = randArr(rng, dt, fast.out.length);
          expectSame(maxPool2dBackward(gy, fast.argmax, g), maxPool2dBackwardReference(gy, ref.argmax, g), tag);
        }
      }
    });

    it('gives bit-identical results however the planes are split', () => {
      const rng = new Random(12);
      for (const { g } of randomGeometries(rng, 40, true)) {
        const P = g.N * g.C;
        const x = randArr(rng, 'float32', P * g.H * g.W);
        const whole = maxPool2dForward(x, g);
        const out = nanFilled('float32', whole.out.length), argmax = new Int32Array(whole.out.length).fill(-7);
        for (const [a, b] of randomChunks(rng, P)) maxPool2dForwardRange(x, g, out, argmax, a, b);
        expectSame(out, whole.out);
        expectSame(argmax, whole.argmax);
        const gy = randArr(rng, 'float32', whole.out.length);
        const gxWhole = maxPool2dBackward(gy, whole.argmax, g);
        const gx = nanFilled('float32', gxWhole.length);
        for (const [a, b] of randomChunks(rng, P)) maxPool2dBackwardRange(gy, whole.argmax, g, gx, a, b);
        expectSame(gx, gxWhole);
      }
    });

    it('float32 through WebAssembly (four planes per vector) is bit-identical to the JS loop', () => {
      // Without the instance both sides would run the JS loop and this test would compare it with itself.
      expect(poolWasm(), 'this engine runs the pooling WebAssembly kernels').to.not.equal(null);
      const rng = new Random(13);
      // Values that make the selection rule matter: NaNs (last one wins), ±∞, ±0 (+0 is not > −0),
      // and ties with a neighbour (first maximum wins).
      const special = [NaN, Infinity, -Infinity, 0, -0, 1, -1];
      const fill = (n: number): Float32Array => {
        const x = randArr(rng, 'float32', n) as Float32Array;
        for (let i = 0; i < n; i++) {
          const r = rng.uniform();
          if (r < 0.05) x[i] = special[rng.integer(0, special.length)];
          else if (r < 0.3 && i > 0) x[i] = x[i - 1];
        }
        return x;
      };
      const geometries = randomGeometries(rng, 80, true).map(({ g }) => g);
      // Plane counts around multiples of four, and enough planes of a large map for several staging chunks.
      for (const [shape, params] of [
        [[3, 7, 16, 16], { kernelSize: 3, stride: 2, padding: 1 }],
        [[1, 4, 9, 9], { kernelSize: 2, stride: 1 }],
        [[2, 5, 1, 1], { kernelSize: 1 }],
        [[2, 37, 56, 56], { kernelSize: 3, stride: 2, padding: 1 }],
      ] as Array<[number[], Pool2dParams]>) geometries.push(pool2dGeometry('maxPool2d', shape, params));
      for (const g of geometries) {
        const P = g.N * g.C;
        const x = fill(P * g.H * g.W);
        const tag = JSON.stringify(g);
        const js = withWasm(false, () => maxPool2dForward(x, g));
        const wasm = withWasm(true, () => maxPool2dForward(x, g));
        expectSame(wasm.out, js.out, tag);
        expectSame(wasm.argmax, js.argmax, tag);
        const gy = fill(js.out.length);
        expectSame(withWasm(true, () => maxPool2dBackward(gy, js.argmax, g)), withWasm(false, () => maxPool2dBackward(gy, js.argmax, g)), tag);
        // A range starting off a multiple of four planes leaves the planes outside it untouched.
        if (P >= 3) {
          const out = nanFilled('float32', js.out.length), argmax = new Int32Array(js.out.length).fill(-7);
          withWasm(true, () => maxPool2dForwardRange(x, g, out, argmax, 1, P - 1));
          const per = g.OH * g.OW;
          expectSame(out.subarray(per, (P - 1) * per), js.out.subarray(per, (P - 1) * per), tag);
          expectSame(argmax.subarray(per, (P - 1) * per), js.argmax.subarray(per, (P - 1) * per), tag);
          expect(Array.from(argmax.subarray(0, per)).every((a) => a === -7), tag).to.equal(true);
          expect(Array.from(out.subarray((P - 1) * per)).every((v) => Number.isNaN(v)), tag).to.equal(true);
        }
      }
    });

    it('backward agrees with central differences of the forward (float64)', () => {
      const rng = new Random(13);
      for (const params of [{ kernelSize: 3, stride: 2, padding: 1 }, { kernelSize: 2, stride: 1, dilation: 2, ceilMode: true }] as Pool2dParams[]) {
        const g = pool2dGeometry('maxPool2d', [2, 2, 5, 6], params);
        const x = randArr(rng, 'float64', 2 * 2 * 5 * 6) as Float64Array; // distinct values: no ties within h
        const gy = randArr(rng, 'float64', 2 * 2 * g.OH * g.OW);
        const num = numericGrad((v) => dot(gy, maxPool2dForwardReference(v, g).out), x);
        expectClose(maxPool2dBackward(gy, maxPool2dForward(x, g).argmax, g), num, 1e-6, 1e-8);
      }
    });

    it('validates array lengths, argmax entries and ranges', () => {
      const g = pool2dGeometry('maxPool2d', [2, 3, 4, 4], { kernelSize: 2 });
      expect(() => maxPool2dForward(new Float32Array(95), g)).to.throw('maxPool2dForward: x has 95 elements, expected 96 for input [2,3,4,4]');
      const x = new Float32Array(96);
      const { out, argmax } = maxPool2dForward(x, g);
      expect(() => maxPool2dForwardRange(x, g, out, argmax, 2, 7)).to.throw('maxPool2dForwardRange: plane range [2, 7) is not within [0, 6]');
      expect(() => maxPool2dForwardRange(x, g, new Float32Array(3), argmax, 0, 6)).to.throw('maxPool2dForwardRange: out has 3 elements, expected 24 for output [2,3,2,2]');
      expect(() => maxPool2dBackward(new Float32Array(23), argmax, g)).to.throw('maxPool2dBackward: gy has 23 elements, expected 24 for output [2,3,2,2]');
      const bad = argmax.slice();
      bad[5] = 16;
      expect(() => maxPool2dBackward(new Float32Array(24), bad, g)).to.throw('maxPool2dBackward: argmax[5] = 16 is outside the 4x4 plane (input [2,3,4,4])');
      expect(() => maxPool2dBackwardRange(new Float32Array(24), argmax, g, new Float32Array(10), 0, 6))
        .to.throw('maxPool2dBackwardRange: gx has 10 elements, expected 96 for input [2,3,4,4]');
      expect(() => maxPool2dForward(x, { ...g, OH: 3 })).to.throw('maxPool2dForward: geometry output size 3x2 does not match the 2x2 its parameters give (input [2,3,4,4])');
    });
  });

  describe('avgPool2d', () => {
    const g2 = (opts: Pool2dParams, shape = [1, 1, 2, 2]): Pool2dGeometry => pool2dGeometry('avgPool2d', shape, opts);

    for (const dt of DTYPES) {
      it(`averages with zero padding, counting the padding or not (${dt})`, () => {
        const g = g2({ kernelSize: 2, stride: 1, padding: 1 }); // 3x3 output over [[1,2],[3,4]]
        const x = arr(dt, [1, 2, 3, 4]);
        expectClose(avgPool2dForward(x, g), [1 / 4, 3 / 4, 2 / 4, 4 / 4, 10 / 4, 6 / 4, 3 / 4, 7 / 4, 4 / 4], 1e-7, 0);
        expectClose(avgPool2dForward(x, g, { countIncludePad: false }), [1, 3 / 2, 2, 4 / 2, 10 / 4, 6 / 2, 3, 7 / 2, 4], 1e-7, 0);
        expectClose(avgPool2dForward(x, g, { divisorOverride: 2 }), [1 / 2, 3 / 2, 2 / 2, 4 / 2, 10 / 2, 6 / 2, 3 / 2, 7 / 2, 4 / 2], 1e-7, 0);
      });
    }

    it('clips ceil-mode windows at input + padding for the divisor', () => {
      // W = 3, kernel 2, stride 2, ceil: the second window covers only x[2] and is not padded, so it divides by 1.
      expectClose(avgPool2dForward(arr('float64', [1, 2, 3]), g2({ kernelSize: [1, 2], ceilMode: true }, [1, 1, 1, 3])), [1.5, 3], 1e-15, 0);
      // W = 4, kernel 3, stride 2, pad 1, ceil: windows [-1,2), [1,4), [3,5) where 4 is padding and 5 would be beyond it.
      const g = g2({ kernelSize: [1, 3], stride: [1, 2], padding: [0, 1], ceilMode: true }, [1, 1, 1, 4]);
      const x = arr('float64', [1, 2, 3, 4]);
      expectClose(avgPool2dForward(x, g), [3 / 3, 9 / 3, 4 / 2], 1e-15, 0);
      expectClose(avgPool2dForward(x, g, { countIncludePad: false }), [3 / 2, 9 / 3, 4 / 1], 1e-15, 0);
      expectClose(avgPool2dBackward(arr('float64', [1, 1, 1]), g), [1 / 3, 2 / 3, 1 / 3, 1 / 3 + 1 / 2], 1e-15, 0);
    });

    it('matches the reference on random geometries and options, for both dtypes', () => {
      const rng = new Random(21);
      for (const { g } of randomGeometries(rng, 150, false)) {
        const opts: AvgPool2dOptions = { countIncludePad: rng.bernoulli(0.5) };
        if (rng.bernoulli(0.2)) opts.divisorOverride = rng.integer(1, 7) * (rng.bernoulli(0.2) ? -1 : 1);
        for (const dt of DTYPES) {
          const x = randArr(rng, dt, g.N * g.C * g.H * g.W);
          const tag = JSON.stringify({ g, opts });
          expectSame(avgPool2dForward(x, g, opts), avgPool2dForwardReference(x, g, opts), tag);
          const gy = randArr(rng, dt, g.N * g.C * g.OH * g.OW);
          expectSame(avgPool2dBackward(gy, g, opts), avgPool2dBackwardReference(gy, g, opts), tag);
        }
      }
    });

    it('gives bit-identical results however the planes are split', () => {
      const rng = new Random(22);
      for (const { g } of randomGeometries(rng, 40, false)) {
        const opts: AvgPool2dOptions = { countIncludePad: rng.bernoulli(0.5) };
        const P = g.N * g.C;
        const x = randArr(rng, 'float32', P * g.H * g.W), gy = randArr(rng, 'float32', P * g.OH * g.OW);
        const out = nanFilled('float32', gy.length), gx = nanFilled('float32', x.length);
        for (const [a, b] of randomChunks(rng, P)) avgPool2dForwardRange(x, g, opts, out, a, b);
        for (const [a, b] of randomChunks(rng, P)) avgPool2dBackwardRange(gy, g, opts, gx, a, b);
        expectSame(out, avgPool2dForward(x, g, opts));
        expectSame(gx, avgPool2dBackward(gy, g, opts));
      }
    });

    it('backward agrees with central differences of the forward (float64)', () => {
      const rng = new Random(23);
      const g = pool2dGeometry('avgPool2d', [2, 2, 5, 6], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true });
      for (const opts of [{}, { countIncludePad: false }, { divisorOverride: 5 }] as AvgPool2dOptions[]) {
        const x = randArr(rng, 'float64', 2 * 2 * 5 * 6) as Float64Array;
        const gy = randArr(rng, 'float64', 2 * 2 * g.OH * g.OW);
        const num = numericGrad((v) => dot(gy, avgPool2dForwardReference(v, g, opts)), x);
        expectClose(avgPool2dBackward(gy, g, opts), num, 1e-6, 1e-8);
      }
    });

    it('rejects dilation, a zero divisor and bad lengths', () => {
      const gd = pool2dGeometry('avgPool2d', [1, 1, 6, 6], { kernelSize: 2, dilation: 2 });
      expect(() => avgPool2dForward(new Float32Array(36), gd)).to.throw('avgPool2dForward: dilation is not supported by average pooling, got 2x2 (input [1,1,6,6])');
      const g = pool2dGeometry('avgPool2d', [1, 1, 6, 6], { kernelSize: 2 });
      expect(() => avgPool2dForward(new Float32Array(36), g, { divisorOverride: 0 })).to.throw('avgPool2dForward: divisorOverride must be a non-zero integer, got 0');
      expect(() => avgPool2dBackward(new Float32Array(36), g, { divisorOverride: 1.5 })).to.throw('avgPool2dBackward: divisorOverride must be a non-zero integer, got 1.5');
      expect(() => avgPool2dBackward(new Float32Array(8), g)).to.throw('avgPool2dBackward: gy has 8 elements, expected 9 for output [1,1,3,3]');
      expect(() => avgPool2dForwardRange(new Float32Array(36), g, {}, new Float32Array(9), 1, 0)).to.throw('avgPool2dForwardRange: plane range [1, 0) is not within [0, 1]');
      expect(() => avgPool2dBackwardRange(new Float32Array(9), g, {}, new Float32Array(9), 0, 1)).to.throw('avgPool2dBackwardRange: gx has 9 elements, expected 36 for input [1,1,6,6]');
    });
  });

  describe('adaptiveAvgPool2d', () => {
    it('uses bins [floor(i·H/OH), ceil((i+1)·H/OH)), overlapping when H is not a multiple', () => {
      // H = 5 -> 3: bins [0,2), [1,4), [3,5).
      expectClose(adaptiveAvgPool2dForward(arr('float64', [1, 2, 3, 4, 5]), 1, 1, 5, 1, 3, 1), [1.5, 3, 4.5], 1e-15, 0);
      expectClose(adaptiveAvgPool2dBackward(arr('float64', [1, 1, 1]), 1, 1, 5, 1, 3, 1), [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2], 1e-15, 0);
      // Upsampling H = 2 -> 3: bins [0,1), [0,2), [1,2).
      expectClose(adaptiveAvgPool2dForward(arr('float32', [1, 3]), 1, 1, 1, 2, 1, 3), [1, 2, 3], 0, 0);
      // Global average pooling, as ResNet's head: [2,2,2,2] -> [2,2,1,1].
      const x = arr('float32', [1, 2, 3, 4, 10, 20, 30, 40, -1, -1, -1, -1, 0, 0, 0, 8]);
      expectClose(adaptiveAvgPool2dForward(x, 2, 2, 2, 2, 1, 1), [2.5, 25, -1, 2], 0, 0);
    });

    it('matches the reference on random sizes, for both dtypes, and splits bit-identically', () => {
      const rng = new Random(31);
      for (let t = 0; t < 120; t++) {
        const [N, C, H, W] = [rng.integer(0, 3), rng.integer(1, 4), rng.integer(1, 13), rng.integer(1, 13)];
        const [OH, OW] = [rng.integer(1, 9), rng.integer(1, 9)];
        for (const dt of DTYPES) {
          const x = randArr(rng, dt, N * C * H * W), gy = randArr(rng, dt, N * C * OH * OW);
          const tag = JSON.stringify({ N, C, H, W, OH, OW });
          const out = adaptiveAvgPool2dForward(x, N, C, H, W, OH, OW);
          const gx = adaptiveAvgPool2dBackward(gy, N, C, H, W, OH, OW);
          expectSame(out, adaptiveAvgPool2dForwardReference(x, N, C, H, W, OH, OW), tag);
          expectSame(gx, adaptiveAvgPool2dBackwardReference(gy, N, C, H, W, OH, OW), tag);
          const out2 = nanFilled(dt, out.length), gx2 = nanFilled(dt, gx.length);
          for (const [a, b] of randomChunks(rng, N * C)) adaptiveAvgPool2dForwardRange(x, N, C, H, W, OH, OW, out2, a, b);
          for (const [a, b] of randomChunks(rng, N * C)) adaptiveAvgPool2dBackwardRange(gy, N, C, H, W, OH, OW, gx2, a, b);
          expectSame(out2, out, tag);
          expectSame(gx2, gx, tag);
        }
      }
    });

    it('one bin per plane (global pooling, a 1×1 map) matches the reference, −0, NaN and ±∞ included', () => {
      const rng = new Random(33);
      const special = [-0, 0, NaN, Infinity, -Infinity];
      for (const [N, C, H, W] of [[3, 5, 1, 1], [2, 3, 4, 4], [2, 3, 7, 5], [1, 2, 1, 9], [0, 2, 3, 3]]) {
        for (const dt of DTYPES) {
          const x = randArr(rng, dt, N * C * H * W), gy = randArr(rng, dt, N * C);
          for (let i = 0; i < x.length; i += 3) x[i] = special[i % special.length];
          for (let i = 0; i < gy.length; i += 2) gy[i] = special[i % special.length];
          const tag = JSON.stringify({ N, C, H, W, dt });
          expectSame(adaptiveAvgPool2dForward(x, N, C, H, W, 1, 1), adaptiveAvgPool2dForwardReference(x, N, C, H, W, 1, 1), tag);
          expectSame(adaptiveAvgPool2dBackward(gy, N, C, H, W, 1, 1), adaptiveAvgPool2dBackwardReference(gy, N, C, H, W, 1, 1), tag);
        }
      }
    });

    it('backward agrees with central differences of the forward (float64)', () => {
      const rng = new Random(32);
      const x = randArr(rng, 'float64', 2 * 3 * 7 * 5) as Float64Array, gy = randArr(rng, 'float64', 2 * 3 * 3 * 4);
      const num = numericGrad((v) => dot(gy, adaptiveAvgPool2dForwardReference(v, 2, 3, 7, 5, 3, 4)), x);
      expectClose(adaptiveAvgPool2dBackward(gy, 2, 3, 7, 5, 3, 4), num, 1e-6, 1e-8);
    });

    it('gives empty results for no images or no channels (PyTorch requires only H and W)', () => {
      for (const [N, C] of [[0, 3], [2, 0], [0, 0]]) {
        expect(adaptiveAvgPool2dForward(new Float32Array(0), N, C, 4, 5, 2, 3).length).to.equal(0);
        expect(adaptiveAvgPool2dBackward(new Float64Array(0), N, C, 4, 5, 2, 3).length).to.equal(0);
        const out = new Float32Array(0);
        adaptiveAvgPool2dForwardRange(new Float32Array(0), N, C, 4, 5, 1, 1, out, 0, 0);
        adaptiveAvgPool2dBackwardRange(new Float32Array(0), N, C, 4, 5, 1, 1, out, 0, 0);
      }
      expect(() => adaptiveAvgPool2dForward(new Float32Array(0), 1, 1, 0, 2, 1, 1)).to.throw('adaptiveAvgPool2dForward: H must be a positive integer, got 0');
    });

    it('validates sizes and lengths', () => {
      expect(() => adaptiveAvgPool2dForward(new Float32Array(4), 1, 1, 2, 2, 0, 1))
        .to.throw('adaptiveAvgPool2dForward: OH must be a positive integer, got 0 (input [1,1,2,2], output size 0x1)');
      expect(() => adaptiveAvgPool2dForward(new Float32Array(4), -1, 1, 2, 2, 1, 1)).to.throw('adaptiveAvgPool2dForward: N must be a non-negative integer, got -1');
      expect(() => adaptiveAvgPool2dForward(new Float32Array(5), 1, 1, 2, 2, 1, 1)).to.throw('adaptiveAvgPool2dForward: x has 5 elements, expected 4 for input [1,1,2,2]');
      expect(() => adaptiveAvgPool2dBackward(new Float32Array(2), 1, 1, 2, 2, 1, 1)).to.throw('adaptiveAvgPool2dBackward: gy has 2 elements, expected 1 for output [1,1,1,1]');
      expect(() => adaptiveAvgPool2dForwardRange(new Float32Array(4), 1, 1, 2, 2, 1, 1, new Float32Array(1), 0, 2))
        .to.throw('adaptiveAvgPool2dForwardRange: plane range [0, 2) is not within [0, 1]');
      expect(() => adaptiveAvgPool2dBackwardRange(new Float32Array(1), 1, 1, 2, 2, 1, 1, new Float32Array(3), 0, 1))
        .to.throw('adaptiveAvgPool2dBackwardRange: gx has 3 elements, expected 4 for input [1,1,2,2]');
    });
  });

  describe('with 2 threads', () => {
    useTwoThreads();

    for (const dtype of DTYPES) {
      it(`${dtype}: every kernel is bit-identical to 1 thread, overlapping windows and ties included`, () => {
        const rng = new Random(41);
        // Overlapping 3x3/2 windows (the ResNet stem pool), a dilated one, a ceil-mode average pool.
        const cases: Array<{ shape: number[]; params: Pool2dParams; avg: AvgPool2dOptions }> = [
          { shape: [8, 16, 32, 32], params: { kernelSize: 3, stride: 2, padding: 1 }, avg: {} },
          { shape: [16, 12, 30, 26], params: { kernelSize: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [2, 1], ceilMode: true }, avg: { countIncludePad: false } },
        ];
        for (const { shape, params, avg } of cases) {
          const [N, C, H, W] = shape;
          const x = randArr(rng, dtype, N * C * H * W);
          // Ties: a quarter of the values repeat their neighbour, so "first maximum" matters.
          for (let i = 1; i < x.length; i++) if (rng.bernoulli(0.25)) x[i] = x[i - 1];
          const g = pool2dGeometry('maxPool2d', shape, params);
          const gAvg = pool2dGeometry('avgPool2d', shape, { ...params, dilation: 1 });
          const gy = randArr(rng, dtype, N * C * g.OH * g.OW), gyAvg = randArr(rng, dtype, N * C * gAvg.OH * gAvg.OW);
          const gyAdaptive = randArr(rng, dtype, N * C * 3 * 5);
          const run = (threads: number): ArrayLike<number>[] => {
            setNumThreads(threads);
            const m = maxPool2dForward(x, g);
            return [
              m.out, m.argmax, maxPool2dBackward(gy, m.argmax, g),
              avgPool2dForward(x, gAvg, avg), avgPool2dBackward(gyAvg, gAvg, avg),
              adaptiveAvgPool2dForward(x, N, C, H, W, 3, 5), adaptiveAvgPool2dBackward(gyAdaptive, N, C, H, W, 3, 5),
            ];
          };
          const one = run(1);
          const sent = threadStats().partsSent;
          const two = run(2);
          expect(threadStats().partsSent - sent, `a worker took part in all six kernels (${JSON.stringify(shape)})`).to.equal(6);
          two.forEach((a, i) => expectSame(a, one[i], `${JSON.stringify(shape)} result ${i}`));
        }
      });
    }
  });
});
