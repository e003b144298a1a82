/**
 * F.pad's four modes against a float64 reference loop written here from torch 1.13's index rules
 * (each output element read back from the input: reflection about the edge element, the clamped
 * edge, wrap-around of the cropped input as _pad_circular copies it, or the fill), over every rank
 * torch accepts ('circular' also without a batch dim, as torch ≥ 2.1), asymmetric and negative pads, non-contiguous inputs and both dtypes; gradients by
 * float64 gradcheck and against the reference's scatter (several padded cells reading one input
 * element add up there); the three call forms and every error path.
 */
import { expect } from 'chai';
import { tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { at, randomTensor, randomTransposed, unravel } from '../helpers';

const rng = new Random(25017);
type Mode = 'constant' | 'reflect' | 'replicate' | 'circular';

/** The input index read by output index j along a dim of size n padded by (l, r); null for the fill. */
function source(mode: Mode, j: number, n: number, l: number, r: number): number | null {
  const p = j - l; // position in the input's coordinates
  switch (mode) {
    case 'constant': return p >= 0 && p < n ? p : null;
    case 'reflect': return p < 0 ? -p : p >= n ? 2 * (n - 1) - p : p;
    case 'replicate': return Math.min(Math.max(p, 0), n - 1);
    case 'circular': {
      // torch crops first (negative sides), then wraps the m elements left.
      const c0 = Math.max(-l, 0), m = n - c0 - Math.max(-r, 0);
      const k = j - Math.max(l, 0);
      return c0 + (((k % m) + m) % m);
    }
  }
}

/** Output shape and, per output element, the input multi-index it reads (null: the fill). */
function reference(shape: readonly number[], padding: readonly number[], mode: Mode): { shape: number[]; src: Array<number[] | null> } {
  const nd = shape.length;
  const lr = (d: number): [number, number] => {
    const i = nd - 1 - d;
    return 2 * i < padding.length ? [padding[2 * i], padding[2 * i + 1]] : [0, 0];
  };
  const out = shape.map((n, d) => n + lr(d)[0] + lr(d)[1]);
  const count = out.reduce((a, b) => a * b, 1);
  const src: Array<number[] | null> = [];
  for (let q = 0; q < count; q++) {
    const idx = unravel(q, out);
    const s: number[] = [];
    let fill = false;
    idx.forEach((j, d) => {
      const [l, r] = lr(d);
      const v = source(mode, j, shape[d], l, r);
      if (v === null) fill = true; else s.push(v);
    });
    src.push(fill ? null : s);
  }
  return { shape: out, src };
}

function expectPad(x: Tensor, padding: number[], mode: Mode, value = 0): void {
  const y = mode === 'constant' ? F.pad(x, padding, value) : F.pad(x, padding, mode);
  const ref = reference(x.shape, padding, mode);
  const what = `${mode} ${JSON.stringify(padding)} of [${x.shape}]`;
  expect(y.shape, what).to.deep.equal(ref.shape);
  expect(y.dtype).to.equal(x.dtype);
  const got = y.dataSync();
  ref.src.forEach((s, q) => {
    const e = s === null ? value : at(x, s);
    expect(got[q], `${what} element ${q}`).to.equal(x.dtype === 'float32' ? Math.fround(e) : e);
  });
}

/** Every mode's cases: [input shape, padding]; asymmetric, zero and negative sides, each rank torch takes. */
const CASES: Record<Exclude<Mode, 'constant'>, Array<[number[], number[]]>> = {
  reflect: [
    [[2, 5], [2, 1]], [[2, 3, 5], [4, 0]], [[3, 4], [0, 3]], [[2, 5], [-2, 3]], [[1, 2, 6], [3, -4]],
    [[2, 4, 5], [1, 3, 2, 0]], [[2, 1, 4, 3], [2, 2, 3, 1]], [[1, 2, 4, 5], [-1, 2, 3, -2]],
    [[2, 3, 3, 4], [1, 2, 0, 2, 2, 1]], [[1, 2, 3, 4, 3], [2, 1, 1, 3, 1, 0]],
  ],
  replicate: [
    [[2, 4], [3, 1]], [[2, 3, 2], [0, 5]], [[2, 4], [-3, 4]], [[1, 2, 3], [7, -2]],
    [[2, 3, 2], [2, 0, 1, 4]], [[2, 1, 3, 2], [1, 3, 2, 2]], [[1, 1, 4, 3], [-1, 2, 2, -3]],
    [[2, 2, 3, 2], [1, 1, 0, 2, 3, 1]], [[1, 2, 2, 3, 2], [2, 1, 1, 0, 1, 2]],
  ],
  circular: [
    [[2, 5], [2, 1]], [[2, 3, 4], [4, 4]], [[3, 4], [0, 3]], [[2, 5], [-2, 3]], [[1, 2, 6], [2, -3]],
    [[2, 4, 5], [1, 5, 2, 0]], [[2, 1, 4, 3], [3, 1, 4, 2]], [[1, 2, 4, 5], [-1, 2, 1, -2]], [[2, 3], [-3, 0]],
    [[2, 3, 3, 4], [1, 2, 0, 3, 2, 1]], [[1, 2, 3, 4, 3], [2, 1, 1, 3, 1, 0]],
  ],
};

describe('F.pad modes: values', () => {
  for (const [mode, cases] of Object.entries(CASES) as Array<[Exclude<Mode, 'constant'>, Array<[number[], number[]]>]>) {
    it(`'${mode}' matches the index loop at every rank, in both dtypes`, () => {
      for (const [shape, padding] of cases) {
        expectPad(randomTensor(rng, shape, 'float64'), padding, mode);
        expectPad(randomTensor(rng, shape, 'float32'), padding, mode);
      }
    });
  }

  it("'constant' keeps its fill, negative crops and any number of dims", () => {
    expectPad(randomTensor(rng, [2, 3, 4], 'float64'), [1, -2, 0, 2, -1, 1], 'constant', 2.5);
    expectPad(randomTensor(rng, [5], 'float64'), [3, -1], 'constant', -1);
    expectPad(randomTensor(rng, [2, 2, 2, 2, 2, 2], 'float32'), [1, 0, 0, 1], 'constant', 0);
  });

  it('reads non-contiguous inputs through their strides', () => {
    const x = randomTransposed(rng, [3, 4, 5]); // a transposed view
    expect(x.isContiguous()).to.equal(false);
    for (const mode of ['reflect', 'replicate', 'circular', 'constant'] as const) {
      expectPad(x, [2, 1, 1, 3], mode);
      expectPad(x, [-1, 2], mode);
    }
  });

  it('the three call forms, as torch (mode positional, value after it)', () => {
    const x = tensor([[1, 2, 3]]);
    expect(F.pad(x, [1, 1], 7).toArray()).to.deep.equal([[7, 1, 2, 3, 7]]);
    expect(F.pad(x, [1, 1], 'constant', 7).toArray()).to.deep.equal([[7, 1, 2, 3, 7]]);
    expect(F.pad(x, [1, 1], { value: 7 }).toArray()).to.deep.equal([[7, 1, 2, 3, 7]]);
    expect(F.pad(x, [1, 1], 'constant').toArray()).to.deep.equal([[0, 1, 2, 3, 0]]);
    expect(F.pad(x, [2, 1], { mode: 'reflect' }).toArray()).to.deep.equal([[3, 2, 1, 2, 3, 2]]);
    expect(F.pad(x, [2, 1], 'replicate').toArray()).to.deep.equal([[1, 1, 1, 2, 3, 3]]);
    expect(F.pad(x, [2, 1], 'circular', null).toArray()).to.deep.equal([[2, 3, 1, 2, 3, 1]]);
    // torch takes value 0 (or None) with the other modes.
    expect(F.pad(x, [1, 0], { mode: 'reflect', value: 0 }).toArray()).to.deep.equal([[2, 1, 2, 3]]);
  });

  it("torch's ReflectionPad2d doc example", () => {
    const x = tensor([[[[0, 1, 2], [3, 4, 5], [6, 7, 8]]]]);
    expect(F.pad(x, [2, 2, 2, 2], 'reflect').toArray()).to.deep.equal([[[
      [8, 7, 6, 7, 8, 7, 6], [5, 4, 3, 4, 5, 4, 3], [2, 1, 0, 1, 2, 1, 0], [5, 4, 3, 4, 5, 4, 3],
      [8, 7, 6, 7, 8, 7, 6], [5, 4, 3, 4, 5, 4, 3], [2, 1, 0, 1, 2, 1, 0],
    ]]]);
  });

  it('returns new memory, never the input or a view of it (zero and crop-only padding too)', () => {
    const x = randomTensor(rng, [2, 4], 'float64');
    for (const mode of ['constant', 'reflect', 'replicate', 'circular'] as const) {
      for (const p of [[0, 0], [-1, 0]]) {
        const y = F.pad(x, p, mode);
        expect(y.storage, `${mode} ${JSON.stringify(p)}`).to.not.equal(x.storage);
      }
    }
  });

  it("an empty batch is padded; 'circular' pads empty dims with zero amounts", () => {
    expect(F.pad(randomTensor(rng, [0, 2, 3], 'float64'), [2, 1], 'reflect').shape).to.deep.equal([0, 2, 6]);
    expect(F.pad(randomTensor(rng, [0, 2, 2, 3], 'float64'), [1, 1, 1, 1], 'replicate').shape).to.deep.equal([0, 2, 4, 5]);
    expect(F.pad(randomTensor(rng, [2, 0], 'float64'), [0, 0], 'circular').shape).to.deep.equal([2, 0]);
    expect(F.pad(randomTensor(rng, [2, 3], 'float64'), [-2, -1], 'circular').shape).to.deep.equal([2, 0]);
  });
});

describe('F.pad modes: gradients', () => {
  it('accumulate into the source positions, as the reference scatter', () => {
    const all: Array<[Mode, number[], number[]]> = [
      ...(Object.entries(CASES) as Array<[Mode, Array<[number[], number[]]>]>).flatMap(([m, cs]) => cs.map(([s, p]): [Mode, number[], number[]] => [m, s, p])),
      ['constant', [2, 3, 4], [2, -1, 1, 2]],
    ];
    for (const [mode, shape, padding] of all) {
      const x = randomTensor(rng, shape, 'float64').requiresGrad_();
      const y = F.pad(x, padding, mode);
      const gy = randomTensor(rng, [...y.shape], 'float64');
      F.sum(F.mul(y, gy)).backward();
      const ref = reference(shape, padding, mode);
      const expected = new Float64Array(x.numel());
      const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
      const g = gy.dataSync();
      ref.src.forEach((s, q) => {
        if (s !== null) expected[s.reduce((acc, v, d) => acc + v * strides[d], 0)] += g[q];
      });
      const got = x.grad!.dataSync();
      const what = `${mode} ${JSON.stringify(padding)} of [${shape}]`;
      expected.forEach((e, i) => expect(Math.abs(got[i] - e), `${what} grad ${i}: ${got[i]} vs ${e}`).to.be.at.most(1e-12 * Math.max(1, Math.abs(e))));
    }
  });

  it('gradcheck in float64 for each mode and rank', () => {
    const checks: Array<[Mode, number[], number[]]> = [
      ['reflect', [2, 4], [3, 2]], ['reflect', [1, 2, 3, 4], [2, -1, 1, 2]], ['reflect', [1, 1, 3, 3, 3], [1, 2, 2, 0, 1, 1]],
      ['replicate', [2, 3], [2, 4]], ['replicate', [2, 3, 3], [1, 2, -1, 3]], ['replicate', [1, 2, 2, 3], [1, 0, 2, 1, 0, 2]],
      ['circular', [2, 4], [4, 2]], ['circular', [1, 2, 3, 4], [2, -1, 3, 1]], ['circular', [1, 1, 2, 3, 3], [1, 2, 1, 0, 2, 1]],
      ['constant', [2, 3, 4], [1, 2, -1, 1]],
    ];
    for (const [mode, shape, padding] of checks) {
      const x = randomTensor(rng, shape, 'float64').requiresGrad_();
      assertGradcheck((t) => F.pad(t, padding, mode), [x]);
    }
  });
});

describe('F.pad modes: errors', () => {
  const x = (shape: number[]): Tensor => randomTensor(rng, shape, 'float64');
  const cases: Array<[string, () => unknown, string]> = [
    ['unknown mode', () => F.pad(x([2, 3]), [1, 1], 'mirror' as never),
      `pad: unrecognised padding mode "mirror"; expected 'constant', 'reflect', 'replicate' or 'circular'`],
    ['unknown mode in options', () => F.pad(x([2, 3]), [1, 1], { mode: 'zeros' as never }), 'pad: unrecognised padding mode "zeros"'],
    ['misspelt option', () => F.pad(x([2, 3]), [1, 1], { mdoe: 'reflect' } as never), "pad: unknown option 'mdoe' (did you mean 'mode'?)"],
    ['value given twice', () => (F.pad as (...a: unknown[]) => Tensor)(x([2, 3]), [1, 1], 3, 4), 'pad: the value was given twice'],
    ['value after options', () => (F.pad as (...a: unknown[]) => Tensor)(x([2, 3]), [1, 1], { mode: 'constant' }, 4), 'pad: the value goes in the options object'],
    ['bad third argument', () => F.pad(x([2, 3]), [1, 1], true as never), 'pad: the third argument must be a value (a number), a mode or an options object'],
    ['value with reflect', () => F.pad(x([2, 3]), [1, 1], 'reflect', 2), "pad: padding mode 'reflect' doesn't take a value argument, got value 2"],
    ['value with circular in options', () => F.pad(x([2, 3]), [1, 1], { mode: 'circular', value: -1 }), "pad: padding mode 'circular' doesn't take a value argument"],
    ['non-number value', () => F.pad(x([2, 3]), [1, 1], { value: '1' as never }), 'pad: value must be a number, got string'],
    ['odd padding', () => F.pad(x([2, 3]), [1, 1, 1], 'reflect'), 'pad: padding must be an even-length list of integers covering at most 2 dims, got [1,1,1] for shape [2,3]'],
    ['reflect of a 1-d input', () => F.pad(x([5]), [1, 1], 'reflect'),
      "pad: 'reflect' padding pads the last 1, 2 or 3 dims of a 2-d/3-d, 3-d/4-d or 4-d/5-d input (2, 4 or 6 padding numbers), got 2 numbers for a 1-d input (padding [1,1], input shape [5])"],
    ['replicate of 2 dims of a 2-d input', () => F.pad(x([3, 3]), [1, 1, 1, 1], 'replicate'), "pad: 'replicate' padding pads the last 1, 2 or 3 dims"],
    ['circular of 1 dim of a 4-d input', () => F.pad(x([1, 1, 3, 3]), [1, 1], 'circular'), "got 2 numbers for a 4-d input (padding [1,1], input shape [1,1,3,3])"],
    ['reflect of 4 dims', () => F.pad(x([1, 2, 3, 3, 3, 3]), [1, 1, 1, 1, 1, 1, 1, 1], 'reflect'), "got 8 numbers for a 6-d input"],
    ['reflect with no padding', () => F.pad(x([2, 3]), [], 'reflect'), 'got 0 numbers for a 2-d input'],
    ['reflect as large as the dim', () => F.pad(x([2, 3]), [1, 3], 'reflect'),
      "pad: 'reflect' padding (1, 3) of dim 1 must be less than its size 3 on each side (padding [1,3], input shape [2,3])"],
    ['reflect of H too large', () => F.pad(x([1, 2, 4]), [0, 0, 2, 0], 'reflect'), "pad: 'reflect' padding (2, 0) of dim 1 must be less than its size 2"],
    ['reflect cropping everything', () => F.pad(x([2, 3]), [-2, -1], 'reflect'), "pad: 'reflect' padding (-2, -1) leaves dim 1 of size 3 with 0 elements; it must keep at least 1"],
    ['replicate cropping everything', () => F.pad(x([2, 3]), [-4, 0], 'replicate'), "pad: 'replicate' padding (-4, 0) leaves dim 1 of size 3 with -1 elements"],
    ['replicate of an empty dim', () => F.pad(x([2, 0]), [1, 1], 'replicate'), "pad: 'replicate' padding needs every dim but the batch dim non-empty, dim 1 has size 0"],
    ['reflect of an empty channel dim', () => F.pad(x([2, 0, 3]), [1, 1], 'reflect'), 'dim 1 has size 0'],
    ['circular wrapping twice', () => F.pad(x([2, 3]), [4, 0], 'circular'),
      "pad: 'circular' padding (4, 0) of dim 1 wraps around more than once: each side must be at most its size 3"],
    ['circular after cropping', () => F.pad(x([2, 3]), [-2, 2], 'circular'),
      "pad: 'circular' padding (-2, 2) of dim 1 wraps around more than once: after cropping, 1 of its 3 elements remain, fewer than a side pads"],
    ['circular negative size', () => F.pad(x([2, 3]), [-2, -2], 'circular'), "pad: 'circular' padding (-2, -2) makes dim 1 of size 3 negative"],
    ['constant negative size', () => F.pad(x([2, 2]), [-2, -1]), 'pad: padding [-2,-1] makes dim 1 of shape [2,2] negative'],
    ['not a tensor', () => F.pad([1, 2] as never, [1, 1], 'reflect'), 'pad: input must be a Tensor, got object'],
  ];
  for (const [name, fn, msg] of cases) {
    it(name, () => expect(fn).to.throw(msg));
  }
});
