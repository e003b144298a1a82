/**
 * F.convTranspose2d against a direct float64 loop of torch's definition (each input pixel scatters
 * weight·x into out[n, g·Cout/g + co, iy·s − p + ky·d, ix·s − p + kx·d], cropped to the output
 * (H − 1)·s − 2p + d·(k − 1) + outputPadding + 1), gradients by float64 gradcheck, and its errors.
 */
import { expect } from 'chai';
import { ones, zeros } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { at, randomTensor, randomTransposed } from '../helpers';

const rng = new Random(2411);

interface TOpts {
  stride?: number | [number, number];
  padding?: number | [number, number];
  outputPadding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

const two = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

/**
 * Reference transposed convolution of a batched [N, Cin, H, W] x (read through its strides) with
 * w [Cin, Cout/groups, KH, KW]: the output values and, per output, Σ|x·w| (to scale float32 checks).
 */
function reference(x: Tensor, w: Tensor, b: Tensor | null, o: TOpts): { shape: number[]; data: Float64Array; mag: Float64Array } {
  const [N, Cin, H, W] = x.shape;
  const [, Cog, KH, KW] = w.shape;
  const [sh, sw] = two(o.stride, 1), [ph, pw] = two(o.padding, 0), [oph, opw] = two(o.outputPadding, 0), [dh, dw] = two(o.dilation, 1);
  const groups = o.groups ?? 1;
  const Cout = Cog * groups, Cig = Cin / groups;
  const OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1;
  const OW = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1;
  const data = new Float64Array(N * Cout * OH * OW), mag = new Float64Array(data.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < Cout; c++)
      for (let k = 0; k < OH * OW; k++) {
        const bv = b ? at(b, [c]) : 0;
        data[(n * Cout + c) * OH * OW + k] = bv;
        mag[(n * Cout + c) * OH * OW + k] = Math.abs(bv);
      }
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Cin; ci++) {
      const g = Math.floor(ci / Cig);
      for (let iy = 0; iy < H; iy++)
        for (let ix = 0; ix < W; ix++) {
          const xv = at(x, [n, ci, iy, ix]);
          for (let co = 0; co < Cog; co++)
            for (let ky = 0; ky < KH; ky++)
              for (let kx = 0; kx < KW; kx++) {
                const oy = iy * sh - ph + ky * dh, ox = ix * sw - pw + kx * dw;
                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                const t = xv * at(w, [ci, co, ky, kx]);
                const idx = ((n * Cout + g * Cog + co) * OH + oy) * OW + ox;
                data[idx] += t;
                mag[idx] += Math.abs(t);
              }
        }
    }
  return { shape: [N, Cout, OH, OW], data, mag };
}

/** Case: input shape, weight shape, options, with bias. */
const cases: Array<[string, number[], number[], TOpts, boolean]> = [
  ['3x3, stride 1, no padding', [2, 3, 4, 5], [3, 2, 3, 3], {}, true],
  ['3x3, stride 2, padding 1, outputPadding 1 (x2 upsampling)', [2, 3, 4, 3], [3, 4, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }, true],
  ['4x4, stride 2, padding 1 (DCGAN block), no bias', [1, 4, 3, 3], [4, 2, 4, 4], { stride: 2, padding: 1 }, false],
  ['rectangular, stride [2,3], padding [1,0], outputPadding [0,2], dilation [2,1]', [2, 2, 3, 4], [2, 3, 2, 3], { stride: [2, 3], padding: [1, 0], outputPadding: [0, 2], dilation: [2, 1] }, true],
  ['outputPadding 1 at stride 1 (below dilation 2)', [1, 2, 3, 4], [2, 3, 2, 3], { dilation: 2, outputPadding: 1 }, true],
  ['outputPadding [2,1] past stride [1,2] (below dilation [3,2])', [2, 2, 3, 3], [2, 2, 3, 2], { stride: [1, 2], dilation: [3, 2], outputPadding: [2, 1] }, true],
  ['groups 2, stride 2', [2, 4, 3, 3], [4, 3, 3, 3], { stride: 2, groups: 2 }, true],
  ['groups = channels (depthwise), padding 1', [1, 3, 4, 4], [3, 1, 3, 3], { padding: 1, groups: 3 }, true],
  ['padding larger than the kernel span, stride 3', [1, 2, 5, 4], [2, 2, 2, 2], { stride: 3, padding: 3 }, true],
  ['1x1 kernel, stride 2 (gaps hold only the bias)', [2, 3, 3, 2], [3, 2, 1, 1], { stride: 2, outputPadding: 1 }, true],
];

function make(shape: number[], dtype: 'float32' | 'float64' = 'float64'): Tensor {
  return randomTensor(rng, shape, dtype);
}

function expectClose(actual: Tensor, ref: { shape: number[]; data: Float64Array; mag: Float64Array }, rel: number, label: string): void {
  expect(actual.shape, label).to.deep.equal(ref.shape);
  const a = actual.contiguous().data;
  for (let i = 0; i < ref.data.length; i++) {
    expect(Math.abs(a[i] - ref.data[i]), `${label}: element ${i}: ${a[i]} vs ${ref.data[i]}`).to.be.at.most(rel * Math.max(ref.mag[i], 1e-300));
  }
}

describe('F.convTranspose2d', () => {
  for (const [desc, xs, ws, o, withBias] of cases) {
    it(`float64 values match the reference loop: ${desc}`, () => {
      const x = make(xs), w = make(ws), b = withBias ? make([ws[1] * (o.groups ?? 1)]) : null;
      expectClose(F.convTranspose2d(x, w, b, o), reference(x, w, b, o), 1e-13, desc);
    });
  }

  it('float32 values match the float64 reference within float32 rounding (the Winograd input-gradient path included)', () => {
    const f32: Array<[number[], number[], TOpts]> = [
      [[2, 8, 16, 16], [8, 8, 3, 3], { padding: 1 }], // 3x3 stride 1 on 16x16: conv2d's Winograd input gradient
      [[2, 3, 4, 3], [3, 4, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }],
      [[2, 4, 3, 3], [4, 3, 3, 3], { stride: 2, groups: 2, dilation: 2, outputPadding: 1 }],
    ];
    for (const [xs, ws, o] of f32) {
      const x = make(xs, 'float32'), w = make(ws, 'float32'), b = make([ws[1] * (o.groups ?? 1)], 'float32');
      const y = F.convTranspose2d(x, w, b, o);
      expect(y.dtype).to.equal('float32');
      // The reference sees the same float32 values, widened; float32 accumulation of Σ|x·w| errs by
      // at most a few units of 2^-24 per term.
      const r = reference(x.to('float64'), w.to('float64'), b.to('float64'), o);
      const nTerms = xs[1] / (o.groups ?? 1) * ws[2] * ws[3];
      expectClose(y, r, 4 * nTerms * 2 ** -24, JSON.stringify(o));
    }
  });

  it('takes an unbatched [C, H, W] input (the [1, C, H, W] result without its batch dim) and non-contiguous input and weight', () => {
    const o: TOpts = { stride: 2, padding: 1, outputPadding: 1, groups: 2 };
    const x3 = make([4, 3, 5]), w = make([4, 1, 3, 2]), b = make([2]);
    const y3 = F.convTranspose2d(x3, w, b, o);
    const r = reference(x3.reshape(1, 4, 3, 5), w, b, o);
    expect(y3.shape).to.deep.equal(r.shape.slice(1));
    expectClose(y3.reshape(...r.shape), r, 1e-13, 'unbatched');
    const xt = randomTransposed(rng, [2, 4, 3, 5]), wt = randomTransposed(rng, [4, 1, 3, 2]);
    expect(xt.isContiguous()).to.equal(false);
    expectClose(F.convTranspose2d(xt, wt, b, o), reference(xt, wt, b, o), 1e-13, 'non-contiguous');
  });

  it('an empty batch gives an empty result of the right shape', () => {
    const y = F.convTranspose2d(zeros([0, 2, 3, 3], { dtype: 'float64' }), make([2, 3, 3, 3]), null, { stride: 2 });
    expect(y.shape).to.deep.equal([0, 3, 7, 7]);
  });

  describe('gradients (float64 gradcheck of input, weight and bias)', () => {
    const grads: Array<[string, number[], number[], TOpts]> = [
      ['stride 2, padding 1, outputPadding 1', [2, 3, 3, 2], [3, 2, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }],
      ['outputPadding past the stride (zero rows appended to the input)', [1, 2, 3, 3], [2, 2, 3, 2], { stride: [1, 2], dilation: [3, 2], outputPadding: [2, 1] }],
      ['groups 2, dilation 2, rectangular stride', [2, 4, 3, 2], [4, 1, 2, 3], { stride: [2, 1], dilation: 2, groups: 2, padding: [0, 1] }],
      ['padding larger than the kernel span', [1, 2, 4, 4], [2, 2, 2, 2], { stride: 3, padding: 3 }],
    ];
    for (const [desc, xs, ws, o] of grads) {
      it(desc, () => {
        const x = make(xs).requiresGrad_(), w = make(ws).requiresGrad_(), b = make([ws[1] * (o.groups ?? 1)]).requiresGrad_();
        assertGradcheck((xi, wi, bi) => F.convTranspose2d(xi, wi, bi, o), [x, w, b]);
      });
    }
    it('unbatched and non-contiguous inputs', () => {
      const o: TOpts = { stride: 2, outputPadding: 1 };
      const x = make([2, 3, 2]).requiresGrad_(), w = randomTransposed(rng, [2, 3, 3, 2]).requiresGrad_(), b = make([3]).requiresGrad_();
      assertGradcheck((xi, wi, bi) => F.convTranspose2d(xi, wi, bi, o), [x, w, b]);
    });
  });

  describe('errors name convTranspose2d and the shapes passed', () => {
    const x = ones([1, 3, 5, 5], { dtype: 'float64' });
    const bad: Array<[string, () => unknown, string]> = [
      ['channels', () => F.convTranspose2d(x, ones([4, 2, 3, 3], { dtype: 'float64' })), 'convTranspose2d: input has 3 channels but weight expects 4 (input [1,3,5,5], weight [4,2,3,3], groups 1)'],
      ['channels, unbatched', () => F.convTranspose2d(ones([3, 5, 5]), ones([2, 2, 3, 3])), 'convTranspose2d: input has 3 channels but weight expects 2 (input [3,5,5], weight [2,2,3,3], groups 1)'],
      ['outputPadding', () => F.convTranspose2d(x, ones([3, 2, 3, 3], { dtype: 'float64' }), null, { outputPadding: 1 }),
        'convTranspose2d: output padding must be smaller than either stride or dilation, got outputPadding [1,1], stride [1,1], dilation [1,1]'],
      ['outputPadding at the stride and the dilation', () => F.convTranspose2d(x, ones([3, 2, 3, 3], { dtype: 'float64' }), null, { stride: [2, 1], dilation: [2, 3], outputPadding: [2, 0] }),
        'convTranspose2d: output padding must be smaller than either stride or dilation, got outputPadding [2,0], stride [2,1], dilation [2,3]'],
      ['output too small', () => F.convTranspose2d(ones([1, 1, 1, 1]), ones([1, 1, 1, 1]), null, { padding: 1 }),
        'convTranspose2d: output size -1x-1 is too small (input [1,1,1,1], weight [1,1,1,1], stride 1x1, padding 1x1, dilation 1x1, outputPadding 0x0)'],
      // An empty height or width is the input's fault (torch: "non-empty 3D or 4D input tensor expected"), not a too small output.
      ['empty height', () => F.convTranspose2d(ones([1, 2, 0, 5]), ones([2, 1, 3, 3])), 'convTranspose2d: expected a non-empty height and width, got input [1,2,0,5]'],
      ['empty width, unbatched', () => F.convTranspose2d(ones([2, 4, 0]), ones([2, 1, 3, 3]), null, { stride: 2 }), 'convTranspose2d: expected a non-empty height and width, got input [2,4,0]'],
      ['bias shape', () => F.convTranspose2d(ones([1, 2, 3, 3]), ones([2, 2, 3, 3]), ones([3]), { groups: 2 }), 'convTranspose2d: bias must have shape [4], got [3] (weight [2,2,3,3], groups 2)'],
      ['groups', () => F.convTranspose2d(x, ones([3, 2, 3, 3], { dtype: 'float64' }), null, { groups: 2 }), 'convTranspose2d: input channels 3 not divisible by groups 2 (input [1,3,5,5])'],
      ['groups not an integer', () => F.convTranspose2d(x, ones([3, 2, 3, 3], { dtype: 'float64' }), null, { groups: 1.5 }), 'convTranspose2d: groups must be a positive integer, got 1.5'],
      ['weight rank', () => F.convTranspose2d(x, ones([3, 2, 3], { dtype: 'float64' })), 'convTranspose2d: expected a 4-d [in, out/groups, kh, kw] weight, got shape [3,2,3]'],
      ['input rank', () => F.convTranspose2d(ones([2, 5]), ones([2, 2, 3, 3])), 'convTranspose2d: expected a 3-d [C, H, W] or 4-d NCHW input, got shape [2,5]'],
      ['dtype', () => F.convTranspose2d(ones([1, 2, 3, 3]), ones([2, 2, 3, 3], { dtype: 'float64' })),
        'convTranspose2d: dtype mismatch: input is float32 [1,2,3,3] but weight is float64 [2,2,3,3]; convert one with .to()'],
      ['bias dtype', () => F.convTranspose2d(ones([1, 2, 3, 3]), ones([2, 2, 3, 3]), ones([2], { dtype: 'float64' })),
        'convTranspose2d: dtype mismatch: input is float32 [1,2,3,3] but bias is float64 [2]; convert one with .to()'],
      ['misspelt option', () => F.convTranspose2d(x, ones([3, 2, 3, 3], { dtype: 'float64' }), null, { output_padding: 1 } as never),
        "convTranspose2d: unknown option 'output_padding' (did you mean 'outputPadding'?)"],
      ['padding string', () => F.convTranspose2d(x, ones([3, 2, 3, 3], { dtype: 'float64' }), null, { padding: 'same' } as never),
        'convTranspose2d: padding must be an integer >= 0 or a pair of them, got "same"'],
      ['negative stride', () => F.convTranspose2d(x, ones([3, 2, 3, 3], { dtype: 'float64' }), null, { stride: 0 }), 'convTranspose2d: stride must be an integer >= 1 or a pair of them, got 0'],
      ['weight not a tensor', () => F.convTranspose2d(x, [1, 2] as never), 'convTranspose2d: weight must be a Tensor, got object'],
    ];
    for (const [desc, f, msg] of bad) it(desc, () => expect(f).to.throw(msg));
  });
});
