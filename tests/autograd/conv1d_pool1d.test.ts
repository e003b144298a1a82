/**
 * F.conv1d, F.maxPool1d, F.avgPool1d and F.adaptiveAvgPool1d against direct float64 loops of torch's
 * documented 1-d formulas (written here, not through the 2-d ops they run on), gradients by float64
 * gradcheck, unbatched and non-contiguous inputs, float32 runs, and their errors in 1-d terms.
 */
import { expect } from 'chai';
import { ones, tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { at, randomTensor, randomTransposed } from '../helpers';

const rng = new Random(2412);

type Ref = { shape: number[]; data: number[] };

function expectClose(actual: Tensor, ref: Ref, tol: number, label: string): void {
  expect(actual.shape, label).to.deep.equal(ref.shape);
  const a = actual.contiguous().data;
  for (let i = 0; i < ref.data.length; i++) {
    expect(Math.abs(a[i] - ref.data[i]), `${label}: element ${i}: ${a[i]} vs ${ref.data[i]}`).to.be.at.most(tol * Math.max(1, Math.abs(ref.data[i])));
  }
}

interface C1 { stride?: number; padding?: number | 'same' | 'valid'; dilation?: number; groups?: number }

/** out[n, o, t] = b[o] + Σ_{c, k} w[o, c, k]·x[n, g·Cg + c, t·s − left + k·d], zeros outside; 'same' puts floor(d(k−1)/2) on the left. */
function conv1dRef(x: Tensor, w: Tensor, b: Tensor | null, o: C1): Ref {
  const [N, , L] = x.shape;
  const [O, Cg, K] = w.shape;
  const s = o.stride ?? 1, d = o.dilation ?? 1, groups = o.groups ?? 1;
  const pad = o.padding ?? 0;
  const left = pad === 'same' ? Math.floor(d * (K - 1) / 2) : pad === 'valid' ? 0 : pad;
  const total = pad === 'same' ? d * (K - 1) : 2 * left;
  const OL = Math.floor((L + total - d * (K - 1) - 1) / s) + 1;
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let oc = 0; oc < O; oc++) {
      const g = Math.floor(oc / (O / groups));
      for (let t = 0; t < OL; t++) {
        let acc = b ? at(b, [oc]) : 0;
        for (let c = 0; c < Cg; c++)
          for (let k = 0; k < K; k++) {
            const pos = t * s - left + k * d;
            if (pos >= 0 && pos < L) acc += at(w, [oc, c, k]) * at(x, [n, g * Cg + c, pos]);
          }
        data.push(acc);
      }
    }
  return { shape: [N, O, OL], data };
}

/** torch's pooling_output_shape: floor or ceil division; in ceil mode the last window must start inside the input or its left padding. */
function pooledLength(L: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  let out = Math.floor((L + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (out - 1) * s >= L + p) out--;
  return out;
}

interface P1 { kernelSize: number; stride?: number; padding?: number; dilation?: number; ceilMode?: boolean; countIncludePad?: boolean }

function maxPool1dRef(x: Tensor, o: P1): Ref {
  const [N, C, L] = x.shape;
  const k = o.kernelSize, s = o.stride ?? k, p = o.padding ?? 0, d = o.dilation ?? 1;
  const OL = pooledLength(L, k, s, p, d, o.ceilMode ?? false);
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let t = 0; t < OL; t++) {
        let m = -Infinity;
        for (let j = 0; j < k; j++) {
          const pos = t * s - p + j * d;
          if (pos >= 0 && pos < L) m = Math.max(m, at(x, [n, c, pos]));
        }
        data.push(m);
      }
  return { shape: [N, C, OL], data };
}

/** torch's avg_pool divisor: the window clipped to [−p, L + p) with countIncludePad, else to the input. */
function avgPool1dRef(x: Tensor, o: P1): Ref {
  const [N, C, L] = x.shape;
  const k = o.kernelSize, s = o.stride ?? k, p = o.padding ?? 0;
  const OL = pooledLength(L, k, s, p, 1, o.ceilMode ?? false);
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let t = 0; t < OL; t++) {
        const start = t * s - p, end = Math.min(start + k, L + p);
        const lo = Math.max(start, 0), hi = Math.min(end, L);
        let sum = 0;
        for (let pos = lo; pos < hi; pos++) sum += at(x, [n, c, pos]);
        data.push(sum / ((o.countIncludePad ?? true) ? end - start : hi - lo));
      }
  return { shape: [N, C, OL], data };
}

/** Adaptive bins: [floor(i·L/O), ceil((i + 1)·L/O)). */
function adaptiveRef(x: Tensor, O: number): Ref {
  const [N, C, L] = x.shape;
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < O; i++) {
        const lo = Math.floor(i * L / O), hi = Math.ceil((i + 1) * L / O);
        let sum = 0;
        for (let pos = lo; pos < hi; pos++) sum += at(x, [n, c, pos]);
        data.push(sum / (hi - lo));
      }
  return { shape: [N, C, O], data };
}

const make = (shape: number[], dtype: 'float32' | 'float64' = 'float64'): Tensor => randomTensor(rng, shape, dtype);

describe('F.conv1d', () => {
  const cases: Array<[string, number[], number[], C1, boolean]> = [
    ['k3, stride 1', [2, 3, 9], [4, 3, 3], {}, true],
    ['k3, stride 2, padding 1', [2, 3, 10], [5, 3, 3], { stride: 2, padding: 1 }, true],
    ['k2, stride 3, padding 2, dilation 2, no bias', [1, 2, 11], [3, 2, 2], { stride: 3, padding: 2, dilation: 2 }, false],
    ['groups 2', [2, 4, 7], [6, 2, 3], { groups: 2, padding: 1 }, true],
    ["padding 'same', odd kernel span", [2, 3, 8], [2, 3, 3], { padding: 'same' }, true],
    ["padding 'same', even kernel span (the odd zero at the end)", [2, 3, 8], [2, 3, 4], { padding: 'same' }, true],
    ["padding 'same', dilation 3", [1, 2, 9], [3, 2, 2], { padding: 'same', dilation: 3 }, true],
    ["padding 'valid'", [2, 3, 6], [2, 3, 3], { padding: 'valid' }, true],
  ];
  for (const [desc, xs, ws, o, withBias] of cases) {
    it(`float64 values match the reference loop: ${desc}`, () => {
      const x = make(xs), w = make(ws), b = withBias ? make([ws[0]]) : null;
      expectClose(F.conv1d(x, w, b, o), conv1dRef(x, w, b, o), 1e-13, desc);
    });
  }

  it('float32 values match the float64 reference within float32 rounding', () => {
    const x = make([2, 6, 20], 'float32'), w = make([4, 3, 3], 'float32'), b = make([4], 'float32');
    const y = F.conv1d(x, w, b, { stride: 2, padding: 1, groups: 2 });
    expect(y.dtype).to.equal('float32');
    expectClose(y, conv1dRef(x.to('float64'), w.to('float64'), b.to('float64'), { stride: 2, padding: 1, groups: 2 }), 1e-5, 'float32');
  });

  it('takes an unbatched [C, L] input and a non-contiguous input and weight', () => {
    const x2 = make([3, 8]), w = make([2, 3, 3]), b = make([2]);
    const y = F.conv1d(x2, w, b, { padding: 'same' });
    const r = conv1dRef(x2.reshape(1, 3, 8), w, b, { padding: 'same' });
    expect(y.shape).to.deep.equal([2, 8]);
    expectClose(y.reshape(1, 2, 8), r, 1e-13, 'unbatched');
    const xt = randomTransposed(rng, [2, 3, 7]), wt = randomTransposed(rng, [4, 3, 2]);
    expect(xt.isContiguous() || wt.isContiguous()).to.equal(false);
    expectClose(F.conv1d(xt, wt, null, { stride: 2 }), conv1dRef(xt, wt, null, { stride: 2 }), 1e-13, 'non-contiguous');
  });

  describe('gradients (float64 gradcheck of input, weight and bias)', () => {
    const grads: Array<[string, number[], number[], C1]> = [
      ['stride 2, padding 1, dilation 2', [2, 2, 9], [3, 2, 3], { stride: 2, padding: 1, dilation: 2 }],
      ['groups 2', [1, 4, 6], [2, 2, 2], { groups: 2 }],
      ["padding 'same', even kernel", [2, 2, 5], [2, 2, 4], { padding: 'same' }],
    ];
    for (const [desc, xs, ws, o] of grads) {
      it(desc, () => {
        const x = make(xs).requiresGrad_(), w = make(ws).requiresGrad_(), b = make([ws[0]]).requiresGrad_();
        assertGradcheck((xi, wi, bi) => F.conv1d(xi, wi, bi, o), [x, w, b]);
      });
    }
    it('unbatched, non-contiguous', () => {
      const x = randomTransposed(rng, [3, 6]).requiresGrad_(), w = make([2, 3, 2]).requiresGrad_();
      expect(x.isContiguous()).to.equal(false);
      assertGradcheck((xi, wi) => F.conv1d(xi, wi, null, { padding: 1 }), [x, w]);
    });
  });

  describe('errors name conv1d and the 1-d shapes passed', () => {
    const x = ones([2, 4, 10]);
    const bad: Array<[string, () => unknown, string]> = [
      ['channels', () => F.conv1d(x, ones([8, 3, 3])), 'conv1d: input has 4 channels but weight expects 3 (input [2,4,10], weight [8,3,3], groups 1)'],
      ['channels, unbatched', () => F.conv1d(ones([4, 10]), ones([8, 3, 3])), 'conv1d: input has 4 channels but weight expects 3 (input [4,10], weight [8,3,3], groups 1)'],
      ['input rank', () => F.conv1d(ones([1, 2, 3, 4]), ones([1, 2, 3])), 'conv1d: expected a 2-d [C, L] or 3-d [N, C, L] input, got shape [1,2,3,4]'],
      ['weight rank', () => F.conv1d(x, ones([8, 4, 3, 3])), 'conv1d: expected a 3-d [out, in/groups, k] weight, got shape [8,4,3,3]'],
      ['kernel longer than the padded input', () => F.conv1d(ones([1, 1, 4]), ones([1, 1, 4]), null, { dilation: 2, padding: 1 }),
        'conv1d: kernel size 4 (dilation 2) is larger than the padded input length 6 (input [1,1,4], weight [1,1,4], padding 1)'],
      ["'same' with a stride", () => F.conv1d(x, ones([2, 4, 3]), null, { padding: 'same', stride: 2 }), "conv1d: padding='same' is not supported for strided convolutions"],
      ['padding string', () => F.conv1d(x, ones([2, 4, 3]), null, { padding: 'full' as never }), 'conv1d: invalid padding string "full", should be one of \'valid\', \'same\''],
      ['2-d stride', () => F.conv1d(x, ones([2, 4, 3]), null, { stride: [1, 2] }), 'conv1d: stride must be an integer >= 1 or a one-element array of one, got [1,2]'],
      ['negative padding', () => F.conv1d(x, ones([2, 4, 3]), null, { padding: -1 }), 'conv1d: padding must be an integer >= 0 or a one-element array of one, got -1'],
      ['groups', () => F.conv1d(x, ones([3, 2, 3]), null, { groups: 2 }), 'conv1d: output channels 3 not divisible by groups 2 (weight [3,2,3])'],
      ['bias shape', () => F.conv1d(x, ones([2, 4, 3]), ones([3])), 'conv1d: bias must have shape [2], got [3] (weight [2,4,3])'],
      ['dtype', () => F.conv1d(x, ones([2, 4, 3], { dtype: 'float64' })), 'conv1d: dtype mismatch: input is float32 [2,4,10] but weight is float64 [2,4,3]; convert one with .to()'],
      ['misspelt option', () => F.conv1d(x, ones([2, 4, 3]), null, { dilations: 2 } as never), "conv1d: unknown option 'dilations' (did you mean 'dilation'?)"],
    ];
    for (const [desc, f, msg] of bad) it(desc, () => expect(f).to.throw(msg));
  });
});

describe('F.maxPool1d, F.avgPool1d, F.adaptiveAvgPool1d', () => {
  const maxCases: Array<[number, P1]> = [
    [9, { kernelSize: 3, stride: 2, padding: 1 }],
    [8, { kernelSize: 2 }],
    [10, { kernelSize: 3, stride: 1, dilation: 2, ceilMode: true }],
    [7, { kernelSize: 2, stride: 2, padding: 1, ceilMode: true }], // ceil mode drops a window starting in the right padding
    [8, { kernelSize: 4, stride: 3, padding: 2, ceilMode: true }],
  ];
  for (const [L, o] of maxCases) {
    it(`maxPool1d matches the reference loop: L ${L}, ${JSON.stringify(o)}`, () => {
      const x = make([2, 3, L]);
      expectClose(F.maxPool1d(x, o), maxPool1dRef(x, o), 0, JSON.stringify(o));
      const xg = make([2, 2, L]).requiresGrad_();
      assertGradcheck((xi) => F.maxPool1d(xi, o), [xg]);
    });
  }

  const avgCases: Array<[number, P1]> = [
    [9, { kernelSize: 3, stride: 2, padding: 1 }],
    [9, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }],
    [6, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }], // a last window past the padding: divisor 2
    [6, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
    [7, { kernelSize: 2 }],
  ];
  for (const [L, o] of avgCases) {
    it(`avgPool1d matches the reference loop: L ${L}, ${JSON.stringify(o)}`, () => {
      const x = make([2, 3, L]);
      expectClose(F.avgPool1d(x, o), avgPool1dRef(x, o), 1e-14, JSON.stringify(o));
      const xg = make([2, 2, L]).requiresGrad_();
      assertGradcheck((xi) => F.avgPool1d(xi, o), [xg]);
    });
  }

  for (const [L, O] of [[10, 3], [7, 7], [5, 1], [4, 6]]) {
    it(`adaptiveAvgPool1d matches the reference loop: L ${L} to ${O} bins`, () => {
      const x = make([2, 3, L]);
      expectClose(F.adaptiveAvgPool1d(x, O), adaptiveRef(x, O), 1e-14, `${L}->${O}`);
      const xg = make([1, 2, L]).requiresGrad_();
      assertGradcheck((xi) => F.adaptiveAvgPool1d(xi, O), [xg]);
    });
  }

  it('float32, unbatched [C, L] and non-contiguous inputs', () => {
    const x32 = make([2, 3, 11], 'float32'), x64 = x32.to('float64');
    const o: P1 = { kernelSize: 3, stride: 2, padding: 1, ceilMode: true };
    expectClose(F.maxPool1d(x32, o), maxPool1dRef(x64, o), 0, 'max float32');
    expectClose(F.avgPool1d(x32, o), avgPool1dRef(x64, o), 1e-6, 'avg float32');
    expectClose(F.adaptiveAvgPool1d(x32, [4]), adaptiveRef(x64, 4), 1e-6, 'adaptive float32');
    const x2 = make([3, 9]);
    const x3 = x2.reshape(1, 3, 9);
    const unb: Array<[string, Tensor, Ref]> = [
      ['max', F.maxPool1d(x2, o), maxPool1dRef(x3, o)],
      ['avg', F.avgPool1d(x2, { ...o, countIncludePad: false }), avgPool1dRef(x3, { ...o, countIncludePad: false })],
      ['adaptive', F.adaptiveAvgPool1d(x2, 4), adaptiveRef(x3, 4)],
    ];
    for (const [name, y, r] of unb) {
      expect(y.shape, name).to.deep.equal(r.shape.slice(1));
      expectClose(y.reshape(...r.shape), r, 1e-14, name);
    }
    const xt = randomTransposed(rng, [2, 3, 8]);
    expectClose(F.maxPool1d(xt, o), maxPool1dRef(xt, o), 0, 'max non-contiguous');
    expectClose(F.avgPool1d(xt, o), avgPool1dRef(xt, o), 1e-14, 'avg non-contiguous');
    expectClose(F.adaptiveAvgPool1d(xt, 3), adaptiveRef(xt, 3), 1e-14, 'adaptive non-contiguous');
    const xg = make([2, 7]).requiresGrad_();
    assertGradcheck((xi) => F.avgPool1d(F.maxPool1d(xi, { kernelSize: 2, stride: 1 }), { kernelSize: 3, padding: 1 }), [xg]);
  });

  it('maxPool1d sends the gradient to the first maximum of each window', () => {
    const x = tensor([[[1, 3, 3, 2, 3]]], { dtype: 'float64', requiresGrad: true });
    F.sum(F.maxPool1d(x, { kernelSize: 3, stride: 2 })).backward();
    expect(x.grad!.toArray()).to.deep.equal([[[0, 1, 1, 0, 0]]]);
  });

  describe('errors name the 1-d op and the shapes passed', () => {
    const x = ones([1, 2, 8]);
    const bad: Array<[string, () => unknown, string]> = [
      ['max padding', () => F.maxPool1d(x, { kernelSize: 3, padding: 2 }), 'maxPool1d: pad 2 should be at most half of the kernel size 3 (input [1,2,8])'],
      ['avg padding, unbatched', () => F.avgPool1d(ones([2, 8]), { kernelSize: 2, padding: 2 }), 'avgPool1d: pad 2 should be at most half of the kernel size 2 (input [2,8])'],
      ['avg output too small', () => F.avgPool1d(ones([1, 1, 2]), { kernelSize: 3 }), 'avgPool1d: output size 0 is too small for input [1,1,2] (kernel 3, stride 3, padding 0)'],
      ['max output too small, dilated', () => F.maxPool1d(ones([1, 1, 4]), { kernelSize: 3, dilation: 2 }),
        'maxPool1d: output size 0 is too small for input [1,1,4] (kernel 3, stride 3, padding 0, dilation 2)'],
      ['max input rank', () => F.maxPool1d(ones([1, 1, 4, 4]), { kernelSize: 2 }), 'maxPool1d: expected a 2-d [C, L] or 3-d [N, C, L] input, got shape [1,1,4,4]'],
      ['avg input rank', () => F.avgPool1d(ones([4]), { kernelSize: 2 }), 'avgPool1d: expected a 2-d [C, L] or 3-d [N, C, L] input, got shape [4]'],
      ['adaptive input rank', () => F.adaptiveAvgPool1d(ones([1, 1, 4, 4]), 2), 'adaptiveAvgPool1d: expected a 2-d [C, L] or 3-d [N, C, L] input, got shape [1,1,4,4]'],
      ['empty length', () => F.maxPool1d(ones([1, 2, 0]), { kernelSize: 1 }), 'maxPool1d: expected non-zero channels and length, got input [1,2,0]'],
      ['2-d kernel', () => F.maxPool1d(x, { kernelSize: [2, 2] }), 'maxPool1d: kernelSize must be an integer >= 1 or a one-element array of one, got [2,2]'],
      ['zero stride', () => F.avgPool1d(x, { kernelSize: 2, stride: 0 }), 'avgPool1d: stride must be an integer >= 1 or a one-element array of one, got 0'],
      ['adaptive size', () => F.adaptiveAvgPool1d(x, 0), 'adaptiveAvgPool1d: outputSize must be an integer >= 1 or a one-element array of one, got 0'],
      ['avg divisorOverride (not in torch\'s avg_pool1d)', () => F.avgPool1d(x, { kernelSize: 2, divisorOverride: 2 } as never), "avgPool1d: unknown option 'divisorOverride'"],
      ['avg misspelt option', () => F.avgPool1d(x, { kernelSize: 2, count_include_pad: false } as never), "avgPool1d: unknown option 'count_include_pad' (did you mean 'countIncludePad'?)"],
      ['max ceilMode type', () => F.maxPool1d(x, { kernelSize: 2, ceilMode: 1 as never }), 'maxPool1d: ceilMode must be a boolean, got 1'],
    ];
    for (const [desc, f, msg] of bad) it(desc, () => expect(f).to.throw(msg));
  });
});
