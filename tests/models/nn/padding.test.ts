/**
 * nn.ConstantPad1d/2d, nn.ZeroPad2d, nn.ReflectionPad1d/2d, nn.ReplicationPad1d/2d and Conv2d's and
 * Conv1d's paddingMode: values against float64 index loops written here (the padded element read
 * back from the input by torch 1.13's rule; the conv as its defining sum over that padded input),
 * gradients by float64 gradcheck, torch 1.13's reprs and the constructor errors. F.pad's own modes
 * are tested in tests/autograd/pad_modes.test.ts.
 */
import { expect } from 'chai';
import { tensor } from '../../../autograd/creation';
import { assertGradcheck } from '../../../autograd/gradcheck';
import type { Tensor } from '../../../autograd/tensor';
import { manualSeed, Random } from '../../../lib/random';
import {
  ConstantPad1d, ConstantPad2d, Conv1d, Conv2d, type Module, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, Sequential, ZeroPad2d,
} from '../../../models/nn/index';
import { at, randomTensor, unravel } from '../../helpers';

const rng = new Random(25018);
type Mode = 'zeros' | 'reflect' | 'replicate' | 'circular';

/** The input index read at position j of a dim of size n padded by (l, r) (non-negative amounts); null: a zero. */
function src(mode: Mode, j: number, n: number, l: number): number | null {
  const p = j - l;
  if (mode === 'zeros') return p >= 0 && p < n ? p : null;
  if (mode === 'reflect') return p < 0 ? -p : p >= n ? 2 * (n - 1) - p : p;
  if (mode === 'replicate') return Math.min(Math.max(p, 0), n - 1);
  return ((p % n) + n) % n;
}

/** Pads the last `k` dims of x by F.pad-ordered `padding` in `mode` (value for 'zeros'), by index. */
function refPad(x: Tensor, padding: readonly number[], mode: Mode, value = 0): { shape: number[]; data: number[] } {
  const nd = x.ndim;
  const lr = (d: number): [number, number] => (2 * (nd - 1 - d) < padding.length ? [padding[2 * (nd - 1 - d)], padding[2 * (nd - 1 - d) + 1]] : [0, 0]);
  const shape = x.shape.map((n, d) => n + lr(d)[0] + lr(d)[1]);
  const data = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, q) => {
    const idx = unravel(q, shape).map((j, d) => src(mode, j, x.shape[d], lr(d)[0]));
    return idx.includes(null) ? value : at(x, idx as number[]);
  });
  return { shape, data };
}

function expectValues(y: Tensor, ref: { shape: number[]; data: number[] }, what: string, tol = 0): void {
  expect(y.shape, what).to.deep.equal(ref.shape);
  const got = y.dataSync();
  ref.data.forEach((e, i) => expect(Math.abs(got[i] - e), `${what} element ${i}: ${got[i]} vs ${e}`).to.be.at.most(tol * Math.max(1, Math.abs(e))));
}

describe('nn padding layers', () => {
  it('pad as their mode, an integer on every side (1-d: [N, C, W] and [C, W]; 2-d: [N, C, H, W] and [C, H, W])', () => {
    const cases: Array<[Module, number[], number[], Mode, number]> = [
      [new ConstantPad1d(2, 3.5), [2, 3, 4], [2, 2], 'zeros', 3.5],
      [new ConstantPad1d([3, -1], -2), [3, 5], [3, -1], 'zeros', -2],
      [new ConstantPad2d([1, 0, 2, 3], 1.5), [2, 2, 3, 3], [1, 0, 2, 3], 'zeros', 1.5],
      [new ConstantPad2d(1, 0.25), [2, 3, 2], [1, 1, 1, 1], 'zeros', 0.25],
      [new ZeroPad2d([2, 1, 0, 1]), [1, 2, 3, 4], [2, 1, 0, 1], 'zeros', 0],
      [new ZeroPad2d(1), [2, 2, 2], [1, 1, 1, 1], 'zeros', 0],
      [new ReflectionPad1d(3), [2, 2, 5], [3, 3], 'reflect', 0],
      [new ReflectionPad1d([0, 2]), [3, 4], [0, 2], 'reflect', 0],
      [new ReflectionPad2d([1, 3, 2, 0]), [2, 2, 3, 4], [1, 3, 2, 0], 'reflect', 0],
      [new ReflectionPad2d(2), [2, 3, 3], [2, 2, 2, 2], 'reflect', 0],
      [new ReplicationPad1d([4, 1]), [2, 3, 2], [4, 1], 'replicate', 0],
      [new ReplicationPad1d(2), [2, 3], [2, 2], 'replicate', 0],
      [new ReplicationPad2d([0, 2, 3, 1]), [1, 2, 2, 3], [0, 2, 3, 1], 'replicate', 0],
      [new ReplicationPad2d(3), [2, 2, 2], [3, 3, 3, 3], 'replicate', 0],
    ];
    for (const [m, shape, padding, mode, value] of cases) {
      const x = randomTensor(rng, shape, 'float64');
      const y = m.forward(x) as Tensor;
      // A negative amount crops: the reference pads the rest and drops the cropped cells.
      if (padding.some((p) => p < 0)) {
        const [l, r] = padding;
        const ref = refPad(x, [Math.max(l, 0), Math.max(r, 0)], mode, value);
        const W = ref.shape[ref.shape.length - 1];
        const rows = ref.data.length / W;
        const data: number[] = [];
        for (let q = 0; q < rows; q++) data.push(...ref.data.slice(q * W + Math.max(-l, 0), (q + 1) * W - Math.max(-r, 0)));
        expectValues(y, { shape: [...ref.shape.slice(0, -1), W + Math.min(l, 0) + Math.min(r, 0)], data }, m.toString());
      } else {
        expectValues(y, refPad(x, padding, mode, value), m.toString());
      }
    }
  });

  it('gradients by float64 gradcheck', () => {
    const mods: Array<[Module, number[]]> = [
      [new ConstantPad2d([1, 2, 0, 1], 2), [1, 2, 3, 3]], [new ZeroPad2d(1), [2, 2, 2]],
      [new ReflectionPad1d([2, 1]), [2, 2, 4]], [new ReflectionPad2d([1, 2, 2, 1]), [1, 2, 3, 4]],
      [new ReplicationPad1d(2), [2, 3]], [new ReplicationPad2d([2, 0, 1, 3]), [1, 1, 3, 3]],
    ];
    for (const [m, shape] of mods) assertGradcheck((x) => m.forward(x) as Tensor, [randomTensor(rng, shape, 'float64').requiresGrad_()]);
  });

  it("torch 1.13's reprs", () => {
    expect(new ConstantPad1d(2, 3.5).toString()).to.equal('ConstantPad1d(padding=(2, 2), value=3.5)');
    expect(new ConstantPad2d([1, 0, 2, 3], 1).toString()).to.equal('ConstantPad2d(padding=(1, 0, 2, 3), value=1.0)');
    expect(new ZeroPad2d(1).toString()).to.equal('ZeroPad2d(padding=(1, 1, 1, 1), value=0.0)');
    expect(new ReflectionPad1d([3, 1]).toString()).to.equal('ReflectionPad1d((3, 1))');
    expect(new ReflectionPad2d(2).toString()).to.equal('ReflectionPad2d((2, 2, 2, 2))');
    expect(new ReplicationPad1d(1).toString()).to.equal('ReplicationPad1d((1, 1))');
    expect(new ReplicationPad2d([1, 1, 2, 0]).toString()).to.equal('ReplicationPad2d((1, 1, 2, 0))');
    expect(new Sequential(new ReflectionPad2d(1), new Conv2d(1, 2, 3)).toString()).to.equal(
      'Sequential(\n  (0): ReflectionPad2d((1, 1, 1, 1))\n  (1): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))\n)');
    expect(new ReflectionPad2d(1).parameters()).to.have.length(0);
  });

  it('constructor errors name the layer; F.pad checks the input', () => {
    expect(() => new ReflectionPad1d([1, 2, 3] as never)).to.throw('ReflectionPad1d: padding must be an integer or a list of 2 integers (left, right), got [1, 2, 3]');
    expect(() => new ReplicationPad2d([1, 1] as never)).to.throw('ReplicationPad2d: padding must be an integer or a list of 4 integers (left, right, top, bottom), got [1, 1]');
    expect(() => new ZeroPad2d(1.5)).to.throw('ZeroPad2d: padding must be an integer or a list of 4 integers');
    expect(() => new ConstantPad1d(1, '0' as never)).to.throw('ConstantPad1d: value must be a number, got "0"');
    expect(() => new ReflectionPad2d(3).forward(randomTensor(rng, [1, 1, 3, 5], 'float64'))).to.throw("pad: 'reflect' padding (3, 3) of dim 2 must be less than its size 3");
    expect(() => new ReflectionPad1d(1).forward(randomTensor(rng, [4], 'float64'))).to.throw("pad: 'reflect' padding pads the last 1, 2 or 3 dims");
  });
});

/** conv of the mode-padded input by its defining sum, float64; pad is F.pad-ordered [left, right, top, bottom]. */
function refConv2d(x: Tensor, w: Tensor, b: Tensor | null, pad: readonly number[], mode: Mode, stride: number[], dilation: number[], groups: number): { shape: number[]; data: number[] } {
  const xp = refPad(x, pad, mode);
  const [N, C, H, W] = xp.shape;
  const [O, Cg, KH, KW] = w.shape;
  const OH = Math.floor((H - dilation[0] * (KH - 1) - 1) / stride[0]) + 1, OW = Math.floor((W - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
  const data: number[] = [];
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    let s = b ? at(b, [o]) : 0;
    const g = Math.floor(o / (O / groups));
    for (let c = 0; c < Cg; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      s += at(w, [o, c, kh, kw]) * xp.data[((n * C + g * Cg + c) * H + i * stride[0] + kh * dilation[0]) * W + j * stride[1] + kw * dilation[1]];
    }
    data.push(s);
  }
  return { shape: [N, O, OH, OW], data };
}

describe("Conv2d and Conv1d paddingMode", () => {
  beforeEach(() => manualSeed(11));

  it("Conv2d pads by F.pad in its mode and convolves with padding 0 (stride, dilation, groups, 'same')", () => {
    for (const mode of ['zeros', 'reflect', 'replicate', 'circular'] as const) {
      const cases: Array<[ConstructorParameters<typeof Conv2d>, number[], number[]]> = [
        [[2, 4, 3, { padding: 1, paddingMode: mode, dtype: 'float64' }], [2, 2, 5, 4], [1, 1, 1, 1]],
        [[4, 2, [2, 3], { padding: [1, 2], stride: [2, 1], dilation: [1, 2], groups: 2, paddingMode: mode, dtype: 'float64' }], [1, 4, 5, 6], [2, 2, 1, 1]],
        // 'same': d·(k − 1) per dim, floor half before and the rest after: H 1 → (0, 1), W 3·1 → (1, 2).
        [[2, 3, 2, { padding: 'same', dilation: [1, 3], paddingMode: mode, bias: false, dtype: 'float64' }], [2, 2, 4, 5], [1, 2, 0, 1]],
      ];
      for (const [args, shape, pad] of cases) {
        const m = new Conv2d(...args);
        const x = randomTensor(rng, shape, 'float64');
        const opts = args[3]!;
        const stride = opts.stride === undefined ? [1, 1] : (opts.stride as number[]);
        const dilation = opts.dilation === undefined ? [1, 1] : (opts.dilation as number[]);
        const ref = refConv2d(x, m.weight, m.bias, pad, mode, stride, dilation, opts.groups ?? 1);
        expectValues(m.forward(x), ref, `${m}`, 1e-12);
      }
    }
  });

  it('Conv2d takes an unbatched [C, H, W] input in every mode', () => {
    const m = new Conv2d(2, 3, 3, { padding: 2, paddingMode: 'reflect', dtype: 'float64' });
    const x = randomTensor(rng, [2, 4, 4], 'float64');
    const ref = refConv2d(x.reshape([1, 2, 4, 4]), m.weight, m.bias, [2, 2, 2, 2], 'reflect', [1, 1], [1, 1], 1);
    expectValues(m.forward(x), { shape: ref.shape.slice(1), data: ref.data }, 'unbatched', 1e-12);
  });

  it('Conv1d pads its length the same way', () => {
    for (const mode of ['reflect', 'replicate', 'circular'] as const) {
      for (const [opts, pad] of [[{ padding: 2, stride: 2 }, [2, 2]], [{ padding: 'same' as const, dilation: 3 }, [3, 3]], [{ padding: 'same' as const }, [1, 2]]] as const) {
        const k = 'dilation' in opts ? 3 : opts.padding === 'same' ? 4 : 3;
        const m = new Conv1d(2, 3, k, { ...opts, paddingMode: mode, dtype: 'float64' });
        const x = randomTensor(rng, [2, 2, 7], 'float64');
        const ref = refConv2d(x.reshape([2, 2, 1, 7]), m.weight.reshape([3, 2, 1, k]), m.bias, [...pad, 0, 0], mode,
          [1, 'stride' in opts ? opts.stride : 1], [1, 'dilation' in opts ? opts.dilation : 1], 1);
        expectValues(m.forward(x), { shape: [2, 3, ref.shape[3]], data: ref.data }, `${m}`, 1e-12);
      }
    }
  });

  it('gradients (input, weight, bias) by float64 gradcheck', () => {
    for (const mode of ['reflect', 'replicate', 'circular'] as const) {
      const m = new Conv2d(2, 2, 3, { padding: [2, 1], stride: [1, 2], paddingMode: mode, dtype: 'float64' });
      const x = randomTensor(rng, [1, 2, 4, 5], 'float64').requiresGrad_();
      // gradcheck perturbs the weight and bias in place, so the module's forward sees them.
      assertGradcheck((t) => m.forward(t), [x, m.weight, m.bias!]);
      const m1 = new Conv1d(2, 2, 3, { padding: 2, paddingMode: mode, dtype: 'float64' });
      assertGradcheck((t) => m1.forward(t), [randomTensor(rng, [2, 2, 5], 'float64').requiresGrad_()]);
    }
  });

  it("torch's reprs: padding_mode after bias, only when not 'zeros'", () => {
    expect(new Conv2d(3, 8, 3, { padding: 1, paddingMode: 'reflect' }).toString()).to.equal(
      'Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), padding_mode=reflect)');
    expect(new Conv2d(3, 8, 3, { padding: 1, bias: false, paddingMode: 'circular' }).toString()).to.equal(
      'Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False, padding_mode=circular)');
    expect(new Conv2d(3, 8, 3, { paddingMode: 'zeros' }).toString()).to.equal('Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))');
    expect(new Conv1d(2, 4, 3, { padding: 'same', paddingMode: 'replicate' }).toString()).to.equal(
      'Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=same, padding_mode=replicate)');
    expect(new Conv2d(1, 1, 3).paddingMode).to.equal('zeros');
  });

  it('errors: a bad mode names the layer; F.pad checks the input against the padding', () => {
    expect(() => new Conv2d(1, 1, 3, { paddingMode: 'reflection' as never })).to.throw(
      `Conv2d: paddingMode must be one of 'zeros', 'reflect', 'replicate', 'circular', got "reflection"`);
    expect(() => new Conv1d(1, 1, 3, { padding_mode: 'reflect' } as never)).to.throw("Conv1d: unknown option 'padding_mode' (did you mean 'paddingMode'?)");
    const m = new Conv2d(1, 1, 3, { padding: 3, paddingMode: 'reflect' });
    expect(() => m.forward(randomTensor(rng, [1, 1, 3, 3], 'float32'))).to.throw("pad: 'reflect' padding (3, 3) of dim 3 must be less than its size 3");
  });

  it('known values: a 1x1 identity conv returns the padded input', () => {
    const m = new Conv2d(1, 1, 1, { padding: 1, paddingMode: 'circular', bias: false });
    m.weight.data[0] = 1;
    expect(m.forward(tensor([[[[1, 2], [3, 4]]]])).toArray()).to.deep.equal([[[[4, 3, 4, 3], [2, 1, 2, 1], [4, 3, 4, 3], [2, 1, 2, 1]]]]);
  });
});

