/**
 * F.interpolate ('nearest', 'linear', 'bilinear'), F.adaptiveMaxPool2d, F.pixelShuffle /
 * F.pixelUnshuffle, F.unflatten, F.dropout2d and their modules (Upsample, AdaptiveMaxPool2d,
 * PixelShuffle, PixelUnshuffle, Unflatten, Dropout2d). Values against float64 reference loops written
 * here from torch 1.13's formulas (UpSample.h: nearest_idx, area_pixel_compute_scale,
 * area_pixel_compute_source_index; AdaptiveMaxPooling: bins [floor(i·in/out), ceil((i+1)·in/out))),
 * gradients by gradcheck in float64, reprs as torch 1.13 prints them, and the error paths.
 */
import { expect } from 'chai';
import { randn, tensor, zeros } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { assertGradcheck } from '../../../autograd/gradcheck';
import { Tensor } from '../../../autograd/tensor';
import { manualSeed, Random } from '../../../lib/random';
import {
  AdaptiveMaxPool2d, Dropout2d, PixelShuffle, PixelUnshuffle, Sequential, Unflatten, Upsample,
} from '../../../models/nn/index';
import { maxAbsDiff, randomTensor, randomTransposed } from '../../helpers';

const TOL = { atol: 1e-7, rtol: 1e-6 };

/** torch's nearest_idx (its channels-last kernel, taken by a 4-d input with C == 1): the out == in and out == 2·in shortcuts, else min(floor(dst·scale), in − 1) with a float32 scale. */
function nearestSrc(i: number, inSize: number, outSize: number, sf: number | null): number {
  if (outSize === inSize) return i;
  if (outSize === 2 * inSize) return Math.floor(i / 2);
  const scale = Math.fround(sf !== null ? 1 / sf : inSize / outSize);
  return Math.min(Math.floor(Math.fround(i * scale)), inSize - 1);
}

/**
 * torch 1.13's generic nearest kernel (HelperInterpNearest::compute_indices_weights): the scale
 * area_pixel_compute_scale gives in the dtype (1/scaleFactor, or in/out), src = scale·dst in the
 * dtype, then floorf (which takes a float) and min with in − 1. No out == in or out == 2·in cases.
 */
function nearestSrcGeneric(i: number, inSize: number, outSize: number, sf: number | null, dtype: 'float32' | 'float64' = 'float64'): number {
  const r = dtype === 'float32' ? Math.fround : (v: number): number => v;
  const scale = r(sf !== null ? 1 / sf : inSize / outSize);
  return Math.min(Math.floor(Math.fround(r(scale * i))), inSize - 1);
}

/** torch's linear source position of output i, in double: corners mapped, or half-pixel centres clamped at 0. */
function linearSrc(i: number, inSize: number, outSize: number, alignCorners: boolean, sf: number | null): number {
  if (outSize === inSize) return i;
  if (alignCorners) return outSize > 1 ? (i * (inSize - 1)) / (outSize - 1) : 0;
  const scale = sf !== null ? 1 / sf : inSize / outSize;
  return Math.max(scale * (i + 0.5) - 0.5, 0);
}

/** Linear interpolation of row `get(k)`, k in [0, inSize), at a source position. */
function lerp(get: (k: number) => number, src: number, inSize: number): number {
  const k0 = Math.floor(src), k1 = Math.min(k0 + 1, inSize - 1), l = src - k0;
  return (1 - l) * get(k0) + l * get(k1);
}

/** Reference F.interpolate of a 4-d float64 tensor, element by element. */
function interp2dRef(
  x: Tensor, OH: number, OW: number, mode: 'nearest' | 'bilinear', alignCorners: boolean, sf: [number | null, number | null],
): number[][][][] {
  const [N, C, H, W] = x.shape;
  const xv = x.toArray() as number[][][][];
  const out: number[][][][] = [];
  for (let n = 0; n < N; n++) {
    out.push([]);
    for (let c = 0; c < C; c++) {
      const plane: number[][] = [];
      for (let oy = 0; oy < OH; oy++) {
        const row: number[] = [];
        for (let ox = 0; ox < OW; ox++) {
          if (mode === 'nearest') {
            const src = C === 1 ? nearestSrc : nearestSrcGeneric;
            row.push(xv[n][c][src(oy, H, OH, sf[0])][src(ox, W, OW, sf[1])]);
          } else {
            const sy = linearSrc(oy, H, OH, alignCorners, sf[0]), sx = linearSrc(ox, W, OW, alignCorners, sf[1]);
            row.push(lerp((k) => lerp((j) => xv[n][c][k][j], sx, W), sy, H));
          }
        }
        plane.push(row);
      }
      out[n].push(plane);
    }
  }
  return out;
}

function flat(a: unknown): number[] {
  return (a as unknown[]).flat(Infinity as 1) as number[];
}

describe('F.interpolate', () => {
  const rng = new Random(2501);
  const x64 = (shape: number[]): Tensor => randomTensor(rng, shape);

  const cases: Array<{ desc: string; shape: number[]; size?: [number, number]; sf?: [number, number]; mode: 'nearest' | 'bilinear'; ac?: boolean }> = [
    { desc: 'nearest, upscale 3x4 -> 7x9 by size (non-integer ratios)', shape: [2, 3, 3, 4], size: [7, 9], mode: 'nearest' },
    { desc: 'nearest, downscale 7x9 -> 3x4 by size', shape: [1, 2, 7, 9], size: [3, 4], mode: 'nearest' },
    { desc: 'nearest, exact 2x by size', shape: [1, 2, 3, 5], size: [6, 10], mode: 'nearest' },
    { desc: 'nearest, scaleFactor [1.7, 0.6]', shape: [2, 2, 5, 8], sf: [1.7, 0.6], mode: 'nearest' },
    { desc: 'bilinear, upscale 3x4 -> 7x9, half-pixel', shape: [2, 3, 3, 4], size: [7, 9], mode: 'bilinear' },
    { desc: 'bilinear, upscale 3x4 -> 7x9, alignCorners', shape: [2, 3, 3, 4], size: [7, 9], mode: 'bilinear', ac: true },
    { desc: 'bilinear, downscale 9x7 -> 4x3, half-pixel', shape: [1, 2, 9, 7], size: [4, 3], mode: 'bilinear' },
    { desc: 'bilinear, downscale 9x7 -> 4x3, alignCorners', shape: [1, 2, 9, 7], size: [4, 3], mode: 'bilinear', ac: true },
    { desc: 'bilinear, to 1x1 with alignCorners (scale 0: the corner)', shape: [1, 1, 4, 5], size: [1, 1], mode: 'bilinear', ac: true },
    { desc: 'bilinear, scaleFactor [1.7, 2.5], half-pixel', shape: [1, 2, 5, 3], sf: [1.7, 2.5], mode: 'bilinear' },
    { desc: 'bilinear, scaleFactor [0.45, 1.3], alignCorners', shape: [1, 2, 9, 5], sf: [0.45, 1.3], mode: 'bilinear', ac: true },
  ];
  for (const k of cases) {
    it(`matches torch's formulas: ${k.desc}`, () => {
      const x = x64(k.shape);
      const [H, W] = k.shape.slice(2);
      const [OH, OW] = k.size ?? [Math.floor(H * k.sf![0]), Math.floor(W * k.sf![1])];
      const opts = { mode: k.mode, ...(k.size ? { size: k.size } : { scaleFactor: k.sf }), ...(k.ac !== undefined ? { alignCorners: k.ac } : {}) };
      const y = F.interpolate(x, opts);
      expect(y.shape).to.deep.equal([k.shape[0], k.shape[1], OH, OW]);
      const want = flat(interp2dRef(x, OH, OW, k.mode, k.ac ?? false, k.sf ?? [null, null]));
      expect(maxAbsDiff(Array.from(y.contiguous().storage), want)).to.be.below(1e-12);
      // float32: the same positions within float32 rounding.
      const y32 = F.interpolate(x.to('float32'), opts);
      expect(y32.dtype).to.equal('float32');
      expect(maxAbsDiff(Array.from(y32.storage), want)).to.be.below(2e-6);
    });
  }

  it('uses 1/scaleFactor, not in/out, when a scale factor gives a non-integer size (torch without recomputeScaleFactor)', () => {
    // L 5 · 1.7 = 8.5 → 8; 1/1.7 = 0.588 and 5/8 = 0.625 pick different sources for outputs 5 and 7.
    const x = tensor([[[0, 1, 2, 3, 4]]], { dtype: 'float64' });
    expect(F.interpolate(x, { scaleFactor: 1.7 }).toArray()).to.deep.equal([[[0, 0, 1, 1, 2, 2, 3, 4]]]);
    expect(F.interpolate(x, { size: 8 }).toArray()).to.deep.equal([[[0, 0, 1, 1, 2, 3, 3, 4]]]);
    expect(F.interpolate(x, { scaleFactor: 1.7, recomputeScaleFactor: true }).toArray()).to.deep.equal([[[0, 0, 1, 1, 2, 3, 3, 4]]]);
    // linear, half-pixel: output 1 samples 1/1.7·1.5 − 0.5 = 0.38235… with the scale factor, 5/8·1.5 − 0.5 = 0.4375 with the size.
    const lin = F.interpolate(x, { scaleFactor: 1.7, mode: 'linear' }).toArray() as number[][][];
    expect(lin[0][0][1]).to.be.closeTo(1.5 / 1.7 - 0.5, 1e-15);
    expect((F.interpolate(x, { size: 8, mode: 'linear' }).toArray() as number[][][])[0][0][1]).to.be.closeTo(0.4375, 1e-15);
  });

  it("nearest: torch 1.13's generic kernel has no shortcuts (3-d input, or 4-d with C > 1): out == 2·in and out == in follow floor(dst/scaleFactor)", () => {
    // torch 1.13's upsample_nearest1d (and upsample_nearest2d on an NCHW tensor with C > 1) runs the
    // generic kernel (HelperInterpNearest): min(floor(dst·scale), in − 1), no special cases; issue
    // pytorch#62237 (scale_factor 1.00001 giving [1, 1]) was answered with 'nearest-exact', not a fix.
    const x = tensor([[Array.from({ length: 10 }, (_, i) => i)]], { dtype: 'float64' });
    // 10 · 2.05 → 20 = 2·10, yet output 2 reads floor(2/2.05) = 0.
    expect((F.interpolate(x, { scaleFactor: 2.05 }).toArray() as number[][][])[0][0])
      .to.deep.equal([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9]);
    // 10 · 1.05 → 10, yet floor(i/1.05) repeats 0.
    expect((F.interpolate(x, { scaleFactor: 1.05 }).toArray() as number[][][])[0][0]).to.deep.equal([0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(F.interpolate(tensor([[[1, 2]]], { dtype: 'float64' }), { scaleFactor: 1.00001 }).toArray()).to.deep.equal([[[1, 1]]]);
    // 4-d, C = 2: the generic kernel on both axes.
    const x4 = tensor([[[[0, 1, 2, 3]], [[4, 5, 6, 7]]]], { dtype: 'float64' });
    expect(F.interpolate(x4, { scaleFactor: [1, 2.05] }).toArray()).to.deep.equal([[[[0, 0, 0, 1, 1, 2, 2, 3]], [[4, 4, 4, 5, 5, 6, 6, 7]]]]);
    // And the gradient is that of this forward: output 0, 1, 2 read input 0.
    const xg = tensor([[[0, 1, 2, 3]]], { dtype: 'float64', requiresGrad: true });
    F.sum(F.interpolate(xg, { scaleFactor: 2.05 })).backward();
    expect(Array.from(xg.grad!.storage)).to.deep.equal([3, 2, 2, 1]);
  });

  it("nearest: a 4-d input with C == 1 keeps torch's channels-last kernel (nearest_idx: out == 2·in halves, out == in copies)", () => {
    // torch 1.13 sends a tensor that is channels-last contiguous (an NCHW one with C == 1 is) to
    // cpu_upsample_nearest_channels_last, whose nearest_idx keeps the out == in and out == 2·in cases.
    const x = tensor([[[Array.from({ length: 10 }, (_, i) => i)]]], { dtype: 'float64' });
    expect((F.interpolate(x, { scaleFactor: [1, 2.05] }).toArray() as number[][][][])[0][0][0]).to.deep.equal(Array.from({ length: 20 }, (_, i) => i >> 1));
    expect((F.interpolate(x, { scaleFactor: [1, 1.05] }).toArray() as number[][][][])[0][0][0]).to.deep.equal(Array.from({ length: 10 }, (_, i) => i));
    // bilinear at the same size copies too (torch's compute_source_index_and_lambda), though 1/1.05 · (i + 0.5) − 0.5 is not i.
    const x4 = randomTensor(new Random(4), [1, 2, 5, 6]);
    expect(F.interpolate(x4, { scaleFactor: 1.05, mode: 'bilinear' }).toArray()).to.deep.equal(x4.toArray());
  });

  it('nearest: the generic kernel computes the scale in the dtype (double for float64), then floors the float of scale·dst', () => {
    // 2 → 82 by size: 41·(2/82) is 1 in double; with a float32 scale it is 0.99999994, so output 41 reads input 0.
    const x = tensor([[[5, 7]]], { dtype: 'float64' });
    const y64 = (F.interpolate(x, { size: 82 }).toArray() as number[][][])[0][0];
    const y32 = (F.interpolate(x.to('float32'), { size: 82 }).toArray() as number[][][])[0][0];
    const want = (dtype: 'float32' | 'float64'): number[] => Array.from({ length: 82 }, (_, i) => [5, 7][nearestSrcGeneric(i, 2, 82, null, dtype)]);
    expect(y64).to.deep.equal(want('float64'));
    expect(y32).to.deep.equal(want('float32'));
    expect(y64[41]).to.equal(7);
    expect(y32[41]).to.equal(5);
  });

  it("'nearest' and 'linear' on [N, C, L] match the 1-d formulas", () => {
    const x = x64([2, 3, 7]);
    const xv = x.toArray() as number[][][];
    for (const [mode, ac, size, sf] of [
      ['nearest', undefined, 11, null], ['nearest', undefined, null, 0.6], ['linear', false, 11, null], ['linear', true, 4, null], ['linear', undefined, null, 1.9],
    ] as const) {
      const L = size ?? Math.floor(7 * sf!);
      const y = F.interpolate(x, { mode, ...(size !== null ? { size } : { scaleFactor: sf }), ...(ac !== undefined ? { alignCorners: ac } : {}) });
      expect(y.shape).to.deep.equal([2, 3, L]);
      const want: number[] = [];
      for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let i = 0; i < L; i++) {
        want.push(mode === 'nearest' ? xv[n][c][nearestSrcGeneric(i, 7, L, sf)] : lerp((k) => xv[n][c][k], linearSrc(i, 7, L, ac ?? false, sf), 7));
      }
      expect(maxAbsDiff(Array.from(y.contiguous().storage), want), `${mode} ${size} ${sf}`).to.be.below(1e-12);
    }
  });

  it('takes non-contiguous inputs', () => {
    const x = randomTransposed(rng, [1, 2, 4, 3]);
    const y = F.interpolate(x, { size: [5, 7], mode: 'bilinear' });
    expect(maxAbsDiff(Array.from(y.storage), flat(interp2dRef(x, 5, 7, 'bilinear', false, [null, null])))).to.be.below(1e-12);
  });

  describe('gradients (gradcheck, float64)', () => {
    beforeEach(() => manualSeed(11));
    const g = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });
    it('nearest, up and down by size', () => {
      assertGradcheck((x) => F.interpolate(x, { size: [5, 7] }), [g([2, 2, 3, 4])], TOL);
      assertGradcheck((x) => F.interpolate(x, { size: [2, 3] }), [g([1, 2, 5, 7])], TOL);
    });
    it('nearest by scaleFactor, and on [N, C, L]', () => {
      assertGradcheck((x) => F.interpolate(x, { scaleFactor: [1.7, 0.6] }), [g([1, 2, 4, 6])], TOL);
      assertGradcheck((x) => F.interpolate(x, { scaleFactor: 2.5 }), [g([2, 2, 3])], TOL);
    });
    it('bilinear with and without alignCorners, up and down', () => {
      assertGradcheck((x) => F.interpolate(x, { size: [5, 7], mode: 'bilinear' }), [g([2, 2, 3, 4])], TOL);
      assertGradcheck((x) => F.interpolate(x, { size: [5, 7], mode: 'bilinear', alignCorners: true }), [g([1, 2, 3, 4])], TOL);
      assertGradcheck((x) => F.interpolate(x, { size: [3, 2], mode: 'bilinear' }), [g([1, 2, 7, 5])], TOL);
      assertGradcheck((x) => F.interpolate(x, { scaleFactor: 1.6, mode: 'bilinear' }), [g([1, 1, 4, 3])], TOL);
    });
    it('linear on [N, C, L]', () => {
      assertGradcheck((x) => F.interpolate(x, { size: 9, mode: 'linear', alignCorners: true }), [g([2, 2, 4])], TOL);
      assertGradcheck((x) => F.interpolate(x, { scaleFactor: 0.7, mode: 'linear' }), [g([1, 3, 8])], TOL);
    });
  });

  it('rejects bad arguments, naming interpolate', () => {
    const x = randn([1, 2, 4, 4]);
    const x3 = randn([1, 2, 4]);
    expect(() => F.interpolate(x, { size: 8, scaleFactor: 2 })).to.throw('interpolate: only one of size and scaleFactor may be given');
    expect(() => F.interpolate(x, {})).to.throw('interpolate: either size or scaleFactor must be given');
    expect(() => F.interpolate(x, { size: 8, mode: 'bicubic' as never })).to.throw("interpolate: mode 'bicubic' is not supported (supported: 'nearest', 'linear', 'bilinear')");
    expect(() => F.interpolate(x, { size: 8, mode: 'cubic' as never })).to.throw('interpolate: mode must be \'nearest\', \'linear\' or \'bilinear\', got "cubic"');
    expect(() => F.interpolate(x, { size: 8, alignCorners: true })).to.throw("interpolate: alignCorners can only be set with the interpolating modes 'linear' and 'bilinear', not with mode 'nearest'");
    expect(() => F.interpolate(x, { size: 8, mode: 'bilinear', alignCorners: 1 as never })).to.throw('interpolate: alignCorners must be a boolean, got 1');
    expect(() => F.interpolate(randn([4, 4]), { size: 8 })).to.throw('interpolate: expected a 3-d [N, C, L] or 4-d [N, C, H, W] input, got shape [4,4]');
    expect(() => F.interpolate(randn([1, 1, 2, 2, 2]), { size: 4 })).to.throw('interpolate: expected a 3-d [N, C, L] or 4-d [N, C, H, W] input, got shape [1,1,2,2,2]');
    expect(() => F.interpolate(x3, { size: 8, mode: 'bilinear' })).to.throw("interpolate: mode 'bilinear' needs a 4-d [N, C, H, W] input, got shape [1,2,4]");
    expect(() => F.interpolate(x, { size: 8, mode: 'linear' })).to.throw("interpolate: mode 'linear' needs a 3-d [N, C, L] input, got shape [1,2,4,4]");
    expect(() => F.interpolate(x, { size: [8, 8, 8] })).to.throw('interpolate: size must have 2 entries, one per spatial dim of the input [1,2,4,4], got [8, 8, 8]');
    expect(() => F.interpolate(x3, { scaleFactor: [2, 2] })).to.throw('interpolate: scaleFactor must have 1 entry, one per spatial dim of the input [1,2,4], got [2, 2]');
    expect(() => F.interpolate(x, { size: [2.5, 3] })).to.throw('interpolate: size must hold non-negative integers, got [2.5, 3]');
    expect(() => F.interpolate(x, { scaleFactor: -2 })).to.throw('interpolate: scaleFactor must hold positive finite numbers, got -2');
    expect(() => F.interpolate(x, { scaleFactor: 0.2 })).to.throw('interpolate: input and output sizes must be greater than 0, got input [1,2,4,4] and output size [0,0]');
    expect(() => F.interpolate(x, { size: 8, recomputeScaleFactor: true })).to.throw('interpolate: recomputeScaleFactor is not meaningful with an explicit size');
    expect(() => F.interpolate(x, { size: 8, align_corners: true } as never)).to.throw("interpolate: unknown option 'align_corners'");
    expect(() => F.interpolate(x, 8 as never)).to.throw('interpolate: options must be an object with a size or a scaleFactor, got 8');
  });
});

/** Reference adaptive max pool: bins [floor(i·in/out), ceil((i+1)·in/out)), first max in row-major order (a NaN replaces the running max). */
function adaptiveMaxRef(x: Tensor, OH: number, OW: number): { values: number[]; indices: number[] } {
  const [N, C, H, W] = x.shape;
  const xv = x.toArray() as number[][][][];
  const values: number[] = [], indices: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    let best = -Infinity, at = Math.floor((i * H) / OH) * W + Math.floor((j * W) / OW);
    for (let y = Math.floor((i * H) / OH); y < Math.ceil(((i + 1) * H) / OH); y++) {
      for (let xx = Math.floor((j * W) / OW); xx < Math.ceil(((j + 1) * W) / OW); xx++) {
        const v = xv[n][c][y][xx];
        if (v > best || Number.isNaN(v)) { best = v; at = y * W + xx; }
      }
    }
    values.push(best);
    indices.push(at);
  }
  return { values, indices };
}

describe('F.adaptiveMaxPool2d and nn.AdaptiveMaxPool2d', () => {
  const rng = new Random(2502);

  for (const [shape, out] of [[[2, 3, 7, 5], [3, 2]], [[1, 2, 3, 4], [5, 7]], [[1, 1, 6, 6], [3, 3]], [[2, 2, 5, 4], [1, 1]]] as const) {
    it(`matches the reference bins and indices: ${JSON.stringify(shape)} to ${JSON.stringify(out)}`, () => {
      const x = randomTensor(rng, [...shape]);
      const [y, idx] = F.adaptiveMaxPool2d(x, [...out], true);
      const ref = adaptiveMaxRef(x, out[0], out[1]);
      expect(y.shape).to.deep.equal([shape[0], shape[1], out[0], out[1]]);
      expect(Array.from(y.storage)).to.deep.equal(ref.values);
      expect(Array.from(idx.storage)).to.deep.equal(ref.indices);
      expect(idx.requiresGrad).to.equal(false);
      expect(Array.from(F.adaptiveMaxPool2d(x, [...out]).storage)).to.deep.equal(ref.values);
    });
  }

  it('sends the gradient to the first maximum of each bin (overlapping bins of equal values)', () => {
    const x = zeros([1, 1, 5, 5], { dtype: 'float64', requiresGrad: true });
    F.sum(F.adaptiveMaxPool2d(x, 3)).backward();
    // Bins along each axis of 5 → 3: [0, 2), [1, 4), [3, 5); their first elements 0, 1, 3.
    const want = new Array<number>(25).fill(0);
    for (const r of [0, 1, 3]) for (const c of [0, 1, 3]) want[r * 5 + c] = 1;
    expect(Array.from(x.grad!.storage)).to.deep.equal(want);
  });

  it('takes the last NaN of a bin, as torch', () => {
    const x = tensor([[[[1, NaN], [NaN, 2]]]], { dtype: 'float64' });
    const [y, idx] = F.adaptiveMaxPool2d(x, 1, true);
    expect(Number.isNaN(y.storage[0])).to.equal(true);
    expect(idx.storage[0]).to.equal(2);
  });

  it('takes an unbatched [C, H, W] input and a null entry (keep that dim)', () => {
    const x = randomTensor(rng, [2, 5, 4]);
    const [y, idx] = F.adaptiveMaxPool2d(x, [2, null], true);
    expect(y.shape).to.deep.equal([2, 2, 4]);
    expect(idx.shape).to.deep.equal([2, 2, 4]);
    const ref = adaptiveMaxRef(x.unsqueeze(0), 2, 4);
    expect(Array.from(y.contiguous().storage)).to.deep.equal(ref.values);
    expect(Array.from(idx.contiguous().storage)).to.deep.equal(ref.indices);
  });

  it('gradcheck in float64, with and without returnIndices', () => {
    manualSeed(12);
    assertGradcheck((x) => F.adaptiveMaxPool2d(x, [3, 2]), [randn([2, 2, 7, 5], { dtype: 'float64', requiresGrad: true })], TOL);
    assertGradcheck((x) => F.adaptiveMaxPool2d(x, [4, 3], true)[0], [randn([1, 2, 3, 5], { dtype: 'float64', requiresGrad: true })], TOL);
  });

  it('the module: forward, forwardWithIndices, repr', () => {
    const x = randomTensor(rng, [1, 2, 6, 5]);
    const m = new AdaptiveMaxPool2d([3, null]);
    expect(m.forward(x).toArray()).to.deep.equal(F.adaptiveMaxPool2d(x, [3, null]).toArray());
    expect(m.forwardWithIndices(x)[1].toArray()).to.deep.equal(F.adaptiveMaxPool2d(x, [3, null], true)[1].toArray());
    expect(m.toString()).to.equal('AdaptiveMaxPool2d(output_size=(3, None))');
    expect(new AdaptiveMaxPool2d(7).toString()).to.equal('AdaptiveMaxPool2d(output_size=7)');
  });

  it('rejects bad arguments, naming the op', () => {
    expect(() => F.adaptiveMaxPool2d(randn([2, 3]), 2)).to.throw('adaptiveMaxPool2d: expected a 3-d [C, H, W] or 4-d NCHW input, got shape [2,3]');
    expect(() => F.adaptiveMaxPool2d(randn([1, 1, 4, 4]), [2, 2, 2])).to.throw('adaptiveMaxPool2d: outputSize must be an integer or a pair, got [2,2,2]');
    expect(() => F.adaptiveMaxPool2d(randn([1, 1, 4, 4]), 0)).to.throw('adaptiveMaxPool2d: outputSize must be positive integers, got 0');
    expect(() => F.adaptiveMaxPool2d(randn([1, 1, 0, 4]), 2)).to.throw('adaptiveMaxPool2d: input has an empty spatial dim: [1,1,0,4]');
    expect(() => F.adaptiveMaxPool2d(randn([1, 1, 4, 4]), 2, 'yes' as never)).to.throw('adaptiveMaxPool2d: returnIndices must be a boolean, got "yes"');
    expect(() => new AdaptiveMaxPool2d([2, 0])).to.throw('AdaptiveMaxPool2d: outputSize must be a positive integer or a pair of them (null keeps that dim), got [2, 0]');
  });
});

describe('F.pixelShuffle / F.pixelUnshuffle and their modules', () => {
  const rng = new Random(2503);

  it('output (c, h·r + i, w·r + j) is input (c·r² + i·r + j, h, w), with leading batch dims', () => {
    const r = 3;
    const x = randomTensor(rng, [2, 2, 2 * r * r, 2, 3]);
    const y = F.pixelShuffle(x, r);
    expect(y.shape).to.deep.equal([2, 2, 2, 6, 9]);
    const xv = x.toArray() as number[][][][][], yv = y.toArray() as number[][][][][];
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 2; c++) for (let h = 0; h < 2; h++) for (let w = 0; w < 3; w++) {
      for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) expect(yv[a][b][c][h * r + i][w * r + j]).to.equal(xv[a][b][c * r * r + i * r + j][h][w]);
    }
    // pixelUnshuffle inverts it; on a 3-d input too.
    expect(F.pixelUnshuffle(y, r).toArray()).to.deep.equal(x.toArray());
    const x3 = randomTensor(rng, [1, 4, 6]);
    const u = F.pixelUnshuffle(x3, 2);
    expect(u.shape).to.deep.equal([4, 2, 3]);
    const x3v = x3.toArray() as number[][][], uv = u.toArray() as number[][][];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let h = 0; h < 2; h++) for (let w = 0; w < 3; w++) expect(uv[i * 2 + j][h][w]).to.equal(x3v[0][h * 2 + i][w * 2 + j]);
    expect(F.pixelShuffle(u, 2).toArray()).to.deep.equal(x3.toArray());
  });

  it('gradcheck in float64', () => {
    manualSeed(13);
    assertGradcheck((x) => F.pixelShuffle(x, 2), [randn([2, 8, 2, 3], { dtype: 'float64', requiresGrad: true })], TOL);
    assertGradcheck((x) => F.pixelUnshuffle(x, 2), [randn([1, 2, 4, 6], { dtype: 'float64', requiresGrad: true })], TOL);
  });

  it('modules and reprs', () => {
    const x = randomTensor(rng, [1, 8, 2, 2]);
    const seq = new Sequential(new PixelShuffle(2), new PixelUnshuffle(2));
    expect(seq.forward(x).toArray()).to.deep.equal(x.toArray());
    expect(new PixelShuffle(3).toString()).to.equal('PixelShuffle(upscale_factor=3)');
    expect(new PixelUnshuffle(2).toString()).to.equal('PixelUnshuffle(downscale_factor=2)');
  });

  it('rejects bad arguments, naming the op', () => {
    expect(() => F.pixelShuffle(randn([4, 2]), 2)).to.throw('pixelShuffle: expected an input of at least 3 dims [*, C, H, W], got shape [4,2]');
    expect(() => F.pixelShuffle(randn([1, 6, 2, 2]), 2)).to.throw('pixelShuffle: the channel dim (6, of input [1,6,2,2]) must be divisible by upscaleFactor² = 4');
    expect(() => F.pixelShuffle(randn([1, 4, 2, 2]), 0)).to.throw('pixelShuffle: upscaleFactor must be a positive integer, got 0');
    expect(() => F.pixelUnshuffle(randn([1, 1, 5, 4]), 2)).to.throw('pixelUnshuffle: the height (5, of input [1,1,5,4]) must be divisible by downscaleFactor 2');
    expect(() => F.pixelUnshuffle(randn([1, 1, 4, 5]), 2)).to.throw('pixelUnshuffle: the width (5, of input [1,1,4,5]) must be divisible by downscaleFactor 2');
    expect(() => new PixelShuffle(1.5)).to.throw('PixelShuffle: upscaleFactor must be a positive integer, got 1.5');
    expect(() => new PixelUnshuffle(-1)).to.throw('PixelUnshuffle: downscaleFactor must be a positive integer, got -1');
  });
});

describe('nn.Upsample', () => {
  it('forward is F.interpolate with its settings', () => {
    const x = randomTensor(new Random(2504), [1, 2, 3, 4]);
    expect(new Upsample({ scaleFactor: 2, mode: 'bilinear', alignCorners: true }).forward(x).toArray())
      .to.deep.equal(F.interpolate(x, { scaleFactor: 2, mode: 'bilinear', alignCorners: true }).toArray());
    expect(new Upsample({ size: [5, 7] }).forward(x).toArray()).to.deep.equal(F.interpolate(x, { size: [5, 7] }).toArray());
  });

  it('prints as torch 1.13: scale_factor as floats, or size; then the mode', () => {
    expect(new Upsample({ scaleFactor: 2 }).toString()).to.equal('Upsample(scale_factor=2.0, mode=nearest)');
    expect(new Upsample({ scaleFactor: [2, 1.5], mode: 'bilinear', alignCorners: false }).toString()).to.equal('Upsample(scale_factor=(2.0, 1.5), mode=bilinear)');
    expect(new Upsample({ size: [4, 6], mode: 'bilinear' }).toString()).to.equal('Upsample(size=(4, 6), mode=bilinear)');
    expect(new Upsample({ size: 10, mode: 'linear' }).toString()).to.equal('Upsample(size=10, mode=linear)');
  });

  it('rejects bad settings when built, naming Upsample', () => {
    expect(() => new Upsample({})).to.throw('Upsample: either size or scaleFactor must be given');
    expect(() => new Upsample({ size: 4, scaleFactor: 2 })).to.throw('Upsample: only one of size and scaleFactor may be given');
    expect(() => new Upsample({ size: 4, mode: 'area' as never })).to.throw('Upsample: mode must be \'nearest\', \'linear\' or \'bilinear\', got "area"');
    expect(() => new Upsample({ size: 4, alignCorners: false })).to.throw("Upsample: alignCorners can only be set with the interpolating modes 'linear' and 'bilinear', not with mode 'nearest'");
    expect(() => new Upsample({ scale_factor: 2 } as never)).to.throw("Upsample: unknown option 'scale_factor'");
  });
});

describe('F.unflatten and nn.Unflatten', () => {
  it('splits a dim, inferring a -1 entry; the values keep their row-major order', () => {
    const x = randomTensor(new Random(2505), [2, 12, 3]);
    const y = F.unflatten(x, 1, [3, -1]);
    expect(y.shape).to.deep.equal([2, 3, 4, 3]);
    expect(Array.from(y.contiguous().storage)).to.deep.equal(Array.from(x.storage));
    expect(F.unflatten(x, -1, [1, 3]).shape).to.deep.equal([2, 12, 1, 3]);
    const m = new Unflatten(1, [2, 2, 3]);
    expect(m.forward(x).shape).to.deep.equal([2, 2, 2, 3, 3]);
    expect(m.toString()).to.equal('Unflatten(dim=1, unflattened_size=(2, 2, 3))');
    expect(new Unflatten(-1, [5]).toString()).to.equal('Unflatten(dim=-1, unflattened_size=(5,))');
    manualSeed(14);
    assertGradcheck((t) => F.unflatten(t, 0, [2, 3]), [randn([6, 2], { dtype: 'float64', requiresGrad: true })], TOL);
  });

  it('rejects bad arguments, naming the op', () => {
    const x = randn([2, 10]);
    expect(() => F.unflatten(x, 1, [2, 4])).to.throw("unflatten: sizes [2,4] don't multiply up to the size of dim 1 (10) of the input [2,10]");
    expect(() => F.unflatten(x, 1, [-1, -1])).to.throw('unflatten: only one of sizes can be -1, got [-1,-1]');
    expect(() => F.unflatten(x, 1, [3, -1])).to.throw("unflatten: sizes [3,-1] don't multiply up to the size of dim 1 (10) of the input [2,10]");
    expect(() => F.unflatten(x, 1, [])).to.throw('unflatten: sizes must be a non-empty array of integers >= -1, got []');
    expect(() => F.unflatten(x, 2, [2, 5])).to.throw('unflatten: dim 2 out of range for a 2-d tensor (expected in [-2, 1])');
    expect(() => new Unflatten(1, [2, 2.5])).to.throw('Unflatten: unflattenedSize must be an array of integers, but element 1 is 2.5');
    expect(() => new Unflatten(1, 5 as never)).to.throw('Unflatten: unflattenedSize must be an array of integers, got 5');
  });
});

describe('F.dropout2d and nn.Dropout2d', () => {
  it('zeroes whole channels with the mask drawn per (n, c), and scales the kept ones by 1/(1 − p)', () => {
    const p = 0.4;
    const x = randomTensor(new Random(2506), [3, 5, 2, 3]);
    const y = F.dropout2d(x, p, true, new Random(77));
    // The mask the generator gives, one uniform per channel in (n, c) order.
    const g = new Random(77);
    const keep = Array.from({ length: 15 }, () => g.uniform() >= p);
    expect(keep.some((k) => !k) && keep.some((k) => k)).to.equal(true);
    for (let ch = 0; ch < 15; ch++) {
      for (let k = 0; k < 6; k++) {
        const i = ch * 6 + k;
        expect(y.storage[i]).to.be.closeTo(keep[ch] ? x.storage[i] / (1 - p) : 0, 1e-15);
      }
    }
    // A 3-d input is [N, C, L] as in torch 1.13: one draw per (n, c).
    const y3 = F.dropout2d(randomTensor(new Random(1), [4, 6, 5]).add(10), 0.5, true, new Random(3));
    const rows = (y3.toArray() as number[][][]).flat();
    for (const row of rows) expect(row.every((v) => v === 0) || row.every((v) => v !== 0)).to.equal(true);
  });

  it('is the identity in eval mode and for p 0; p 1 zeroes everything', () => {
    const x = randomTensor(new Random(2507), [2, 3, 2, 2]);
    const m = new Dropout2d(0.7);
    m.eval();
    expect(m.forward(x)).to.equal(x);
    expect(F.dropout2d(x, 0)).to.equal(x);
    expect(Array.from(F.dropout2d(x, 1).storage).every((v) => v === 0)).to.equal(true);
    m.train();
    manualSeed(5);
    const a = m.forward(x);
    manualSeed(5);
    expect(a.toArray()).to.deep.equal(F.dropout2d(x, 0.7, true).toArray());
    expect(m.toString()).to.equal('Dropout2d(p=0.7, inplace=False)');
  });

  it('gradcheck in float64 (a fixed mask)', () => {
    manualSeed(15);
    assertGradcheck((x) => F.dropout2d(x, 0.4, true, new Random(9)), [randn([2, 4, 2, 2], { dtype: 'float64', requiresGrad: true })], TOL);
  });

  it('rejects bad arguments, naming the op', () => {
    expect(() => F.dropout2d(randn([5]), 0.5)).to.throw('dropout2d: channel dropout needs at least 2 dims [N, C, ...], got shape [5]');
    expect(() => F.dropout2d(randn([2, 2]), 1.5)).to.throw('dropout2d: p must be in [0, 1], got 1.5');
    expect(() => F.dropout2d(randn([2, 2]), 0.5, 'no' as never)).to.throw('dropout2d: training must be a boolean, got "no"');
    expect(() => new Dropout2d(-0.1)).to.throw('Dropout2d: p must be in [0, 1], got -0.1');
  });
});
