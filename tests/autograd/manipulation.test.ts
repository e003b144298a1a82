/**
 * split, chunk, repeat, tile, flip, roll, maskedFill, cumsum, prod, logsumexp and norm (every real p) against
 * float64 reference loops written here from the PyTorch 1.13 docs (each output element read back
 * from the input by its index rule), over negative dims, non-contiguous inputs and both dtypes;
 * gradients by float64 gradcheck, and where torch's gradient is a choice (prod with zeros, norm at
 * zero, masked positions, logsumexp on −∞ rows) against those formulas; every error path.
 */
import { expect } from 'chai';
import { tensor, zeros } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { derivatives } from '../../autograd/derivatives';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { at, broadcastIndex, randomTensor, randomTransposed, unravel } from '../helpers';

const rng = new Random(25001);
const GC = { atol: 1e-7, rtol: 1e-6 };

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major values of `shape` computed by `f` at each multi-index. */
function build(shape: readonly number[], f: (idx: number[]) => number): number[] {
  return Array.from({ length: numelOf(shape) }, (_, k) => f(unravel(k, shape)));
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12, what = ''): void {
  expect(actual.length, `${what} length`).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i], a = actual[i];
    if (Number.isNaN(e)) expect(Number.isNaN(a), `${what} element ${i}: ${a} vs NaN`).to.equal(true);
    else if (a === e) continue;
    else expect(Math.abs(a - e), `${what} element ${i}: ${a} vs ${e}`).to.be.at.most(tol * Math.max(1, Math.abs(e)));
  }
}

/** A float64 leaf requiring grad. */
function leaf(shape: number[], fn?: (u: number) => number): Tensor {
  return randomTensor(rng, shape, 'float64', fn).requiresGrad_();
}

/** Contiguous values of t (reference side, read through strides). */
function values(t: Tensor): number[] {
  return build(t.shape, (idx) => at(t, idx));
}

/** A weighted sum of every output, so a gradcheck sees each element with its own weight. */
function weighted(outs: readonly Tensor[]): Tensor {
  return outs.map((o) => F.sum(F.mul(o, randomTensor(new Random(o.numel() + 7), [...o.shape])))).reduce((a, b) => F.add(a, b));
}

describe('split', () => {
  /** The piece of x of `len` elements from `start` along d, by index. */
  function refPiece(x: Tensor, d: number, start: number, len: number): { shape: number[]; data: number[] } {
    const shape = x.shape.map((s, i) => (i === d ? len : s));
    return { shape, data: build(shape, (idx) => { const q = [...idx]; q[d] += start; return at(x, q); }) };
  }

  it('an int size gives pieces of that size, the last one smaller (torch.split)', () => {
    for (const x of [randomTensor(rng, [5, 3]), randomTransposed(rng, [5, 3]), randomTensor(rng, [5, 3], 'float32')]) {
      const parts = F.split(x, 2);
      expect(parts.map((p) => p.shape)).to.deep.equal([[2, 3], [2, 3], [1, 3]]);
      parts.forEach((p, i) => {
        const ref = refPiece(x, 0, 2 * i, p.shape[0]);
        expect(p.shape).to.deep.equal(ref.shape);
        close(p.data, ref.data, 0, `piece ${i}`);
        expect(p.dtype).to.equal(x.dtype);
      });
    }
  });

  it('a list of sizes along a negative dim, zero-length pieces included; pieces are views', () => {
    const x = randomTensor(rng, [2, 6]);
    const parts = x.split([1, 0, 3, 2], -1);
    expect(parts.map((p) => p.shape)).to.deep.equal([[2, 1], [2, 0], [2, 3], [2, 2]]);
    let start = 0;
    for (const p of parts) {
      close(p.data, refPiece(x, 1, start, p.shape[1]).data, 0);
      expect(p.storage).to.equal(x.storage);
      start += p.shape[1];
    }
  });

  it('a size at least the dim gives one piece (a new view, not x itself); an empty dim with size 0 gives one empty piece', () => {
    const x = randomTensor(rng, [3, 2]);
    const [only, ...rest] = F.split(x, 7);
    expect(rest.length).to.equal(0);
    expect(only).to.not.equal(x);
    expect(only.shape).to.deep.equal([3, 2]);
    close(only.data, values(x), 0);
    const e = F.split(zeros([0, 2]), 0);
    expect(e.map((p) => p.shape)).to.deep.equal([[0, 2]]);
    expect(F.split(zeros([0, 2]), 3).map((p) => p.shape)).to.deep.equal([[0, 2]]);
  });

  it('gradients: gradcheck over all pieces, and an unused piece leaves zeros in x.grad', () => {
    assertGradcheck((x) => weighted(F.split(x, 2, 1)), [leaf([2, 5])], GC);
    assertGradcheck((x) => weighted(F.split(x, [2, 1, 1], 0)), [leaf([4, 3])], GC);
    const x = leaf([5, 2]);
    const parts = x.split([2, 3]);
    F.sum(F.mul(parts[1], 3)).backward();
    close(x.grad!.data, build([5, 2], ([i]) => (i >= 2 ? 3 : 0)), 0);
  });

  it('the backward of many pieces is not quadratic: the slice gradients written total at most 2n·⌈log2 k⌉, not n·k (torch: one SplitBackward)', () => {
    // Each recorded slice's backward writes a zero-filled gradient of its input's size; count those elements.
    const def = derivatives.slice as unknown as { backward: (...args: unknown[]) => unknown };
    const original = def.backward;
    let written = 0;
    def.backward = (...args: unknown[]) => {
      const ctx = args[1] as { shapes: { x: readonly number[] } };
      written += numelOf(ctx.shapes.x);
      return original(...args);
    };
    try {
      const x = leaf([300, 4]);
      const parts = F.split(x, 1); // 300 pieces, as `for (const xt of x.split(1))` over time steps
      const w = randomTensor(rng, [300, 1, 4]);
      F.sum(F.mul(F.stack(parts), w)).backward();
      close(x.grad!.data, values(w), 0, 'x.grad is the weights, each piece back in its place');
      const n = 300 * 4;
      expect(written, `elements written by slice backwards (n = ${n}, k = 300)`).to.be.at.most(2 * n * Math.ceil(Math.log2(300)));
    } finally {
      def.backward = original;
    }
    // The pieces keep being views of x at their offsets, and an unused piece still leaves zeros.
    const y = leaf([7, 3]);
    const ps = F.split(y, [1, 2, 0, 3, 1]);
    ps.forEach((p) => expect(p.storage).to.equal(y.storage));
    expect(ps.map((p) => p.offset)).to.deep.equal([0, 3, 9, 9, 18]);
    F.sum(F.add(F.sum(ps[1]), F.mul(F.sum(ps[3]), 2))).backward();
    close(y.grad!.data, build([7, 3], ([i]) => (i >= 1 && i < 3 ? 1 : i >= 3 && i < 6 ? 2 : 0)), 0);
  });

  it('unbind: the slices along dim without it, views of x; gradients back in place; backward not quadratic', () => {
    const x = leaf([3, 4, 2]);
    for (const dim of [0, 1, 2, -1]) {
      const d = dim < 0 ? dim + 3 : dim;
      const parts = F.unbind(x, dim);
      expect(parts.length).to.equal(x.shape[d]);
      parts.forEach((p, k) => {
        expect(p.shape).to.deep.equal(x.shape.filter((_, i) => i !== d));
        expect(p.storage, 'a view').to.equal(x.storage);
        // p[idx] = x[idx with k inserted at d]
        const want: number[] = [];
        for (let j = 0; j < p.numel(); j++) {
          const idx = unravel(j, p.shape);
          idx.splice(d, 0, k);
          want.push(at(x, idx));
        }
        close(values(p.contiguous()), want, 0, `dim ${dim}, slice ${k}`);
      });
    }
    const weighted = (ps: Tensor[]): Tensor => ps.reduce((acc, p, k) => F.add(acc, F.sum(F.mul(F.square(p), k + 1))), F.sum(F.mul(ps[0], 0)));
    assertGradcheck((t) => weighted(F.unbind(t, 1)), [leaf([2, 5, 3])], GC);
    expect(x.unbind(2).length).to.equal(2);
    // Backward: the gradients that slice backwards write total O(n log k) (one select per step, a
    // slice of all of x each, would write n·k).
    const defs = [derivatives.slice] as unknown as Array<{ backward: (...args: unknown[]) => unknown }>;
    const originals = defs.map((def) => def.backward);
    let written = 0;
    defs.forEach((def, i) => {
      def.backward = (...args: unknown[]) => {
        written += numelOf((args[1] as { shapes: { x: readonly number[] } }).shapes.x);
        return originals[i](...args);
      };
    });
    try {
      const y = leaf([256, 3]);
      F.sum(F.stack(F.unbind(y).map((r, i) => F.mul(r, i)))).backward();
      close(y.grad!.data, build([256, 3], ([i]) => i), 0);
      expect(written).to.be.at.most(2 * 768 * 8);
    } finally {
      defs.forEach((def, i) => { def.backward = originals[i]; });
    }
    expect(() => F.unbind(tensor(1))).to.throw('unbind: expects at least a 1-dimensional tensor, got a 0-d tensor');
    expect(() => F.unbind(x, 3)).to.throw('unbind: dim 3 out of range for a 3-d tensor (expected in [-3, 2])');
  });

  it('errors name the op and the shapes', () => {
    const x = zeros([4, 3]);
    expect(() => F.split(x, [2, 1])).to.throw('split: split sizes [2, 1] sum to 3, but dim 0 of shape [4,3] has size 4; they must sum to it exactly');
    expect(() => F.split(x, [2, 1, 2], 1)).to.throw('split: split sizes [2, 1, 2] sum to 5, but dim 1 of shape [4,3] has size 3');
    expect(() => F.split(x, [5, -1])).to.throw('split: split sizes must be a non-negative integer or a list of them, got [5, -1]');
    expect(() => F.split(x, -1)).to.throw('split: splitSize must be a non-negative integer, got -1');
    expect(() => F.split(x, 1.5)).to.throw('split: splitSize must be a non-negative integer, got 1.5');
    expect(() => F.split(x, 0)).to.throw('split: splitSize can only be 0 if dim 0 has size 0, but it has size 4 (shape [4,3])');
    expect(() => F.split(x, 2, 2)).to.throw('split: dim 2 out of range for a 2-d tensor (expected in [-2, 1])');
    expect(() => F.split(tensor(1), 1)).to.throw('split: expects at least a 1-dimensional tensor, got a 0-d tensor');
    expect(() => F.split('x' as unknown as Tensor, 1)).to.throw('split: input must be a Tensor');
  });
});

describe('chunk', () => {
  it("torch.chunk's sizes: ceil(n / chunks) each, the last smaller, possibly fewer chunks (the docs' examples)", () => {
    const sizes = (n: number, chunks: number): number[] => F.chunk(randomTensor(rng, [n]), chunks).map((p) => p.shape[0]);
    expect(sizes(11, 6)).to.deep.equal([2, 2, 2, 2, 2, 1]);
    expect(sizes(12, 6)).to.deep.equal([2, 2, 2, 2, 2, 2]);
    expect(sizes(13, 6)).to.deep.equal([3, 3, 3, 3, 1]);
    expect(sizes(6, 4)).to.deep.equal([2, 2, 2]);
    expect(sizes(3, 5)).to.deep.equal([1, 1, 1]);
    expect(sizes(5, 1)).to.deep.equal([5]);
  });

  it('values along a negative dim of a non-contiguous input, and an empty dim gives `chunks` empty pieces', () => {
    const x = randomTransposed(rng, [2, 7]);
    const parts = x.chunk(3, -1);
    expect(parts.map((p) => p.shape)).to.deep.equal([[2, 3], [2, 3], [2, 1]]);
    parts.forEach((p, c) => close(p.data, build(p.shape, ([i, j]) => at(x, [i, 3 * c + j])), 0));
    expect(F.chunk(zeros([2, 0]), 3, 1).map((p) => p.shape)).to.deep.equal([[2, 0], [2, 0], [2, 0]]);
  });

  it('gradients by gradcheck', () => {
    assertGradcheck((x) => weighted(F.chunk(x, 3, 0)), [leaf([7, 2])], GC);
  });

  it('errors', () => {
    const x = zeros([4]);
    expect(() => F.chunk(x, 0)).to.throw('chunk: chunks must be an integer >= 1, got 0');
    expect(() => F.chunk(x, -2)).to.throw('chunk: chunks must be an integer >= 1, got -2');
    expect(() => F.chunk(x, 1.5)).to.throw('chunk: chunks must be an integer >= 1, got 1.5');
    expect(() => F.chunk(x, 2, 1)).to.throw('chunk: dim 1 out of range for a 1-d tensor');
    expect(() => F.chunk(tensor(3), 2)).to.throw('chunk: expects at least a 1-dimensional tensor, got a 0-d tensor');
  });
});

describe('repeat and tile', () => {
  /** torch.Tensor.repeat by index: out[idx] = x[idx_i mod s_i] over x's shape padded with leading 1s. */
  function refRepeat(x: Tensor, sizes: number[]): { shape: number[]; data: number[] } {
    const padded = [...new Array<number>(sizes.length - x.ndim).fill(1), ...x.shape];
    const shape = padded.map((s, i) => s * sizes[i]);
    const lead = sizes.length - x.ndim;
    return { shape, data: build(shape, (idx) => at(x, idx.slice(lead).map((v, i) => v % x.shape[i]))) };
  }

  it('repeats along each dim, more sizes than dims adding leading dims (torch.Tensor.repeat)', () => {
    const cases: Array<[Tensor, number[]]> = [
      [randomTensor(rng, [2, 3]), [4, 1, 2]],
      [randomTransposed(rng, [3, 2]), [2, 3]],
      [randomTensor(rng, [3]), [2]],
      [randomTensor(rng, [2, 3], 'float32'), [1, 2, 1, 3]],
      [tensor(2.5, { dtype: 'float64' }), [3, 2]],
      [randomTensor(rng, [2, 3]), [0, 2]],
    ];
    for (const [x, sizes] of cases) {
      const y = x.repeat(sizes);
      const ref = refRepeat(x, sizes);
      expect(y.shape, `${x.shape} x ${sizes}`).to.deep.equal(ref.shape);
      close(y.data, ref.data, 0);
    }
    const x = randomTensor(rng, [2, 2]);
    close(x.repeat(2, 1).data, refRepeat(x, [2, 1]).data, 0);
  });

  it('returns new memory even when every size is 1', () => {
    const x = tensor([[1, 2], [3, 4]]);
    const y = x.repeat(1, 1);
    expect(y.storage).to.not.equal(x.storage);
    y.fill_(0);
    expect(x.toArray()).to.deep.equal([[1, 2], [3, 4]]);
    const s = tensor([5]);
    const z = s.repeat(3);
    expect(z.storage).to.not.equal(s.storage);
    z.fill_(1).add_(1);
    expect(z.toArray()).to.deep.equal([2, 2, 2]);
    expect(s.toArray()).to.deep.equal([5]);
  });

  it('tile pads fewer sizes with leading 1s (torch.tile), otherwise repeats', () => {
    const x = randomTensor(rng, [2, 3]);
    const a = F.tile(x, [2]);
    expect(a.shape).to.deep.equal([2, 6]);
    close(a.data, refRepeat(x, [1, 2]).data, 0);
    const b = x.tile(2, 1, 1);
    expect(b.shape).to.deep.equal([2, 2, 3]);
    close(b.data, refRepeat(x, [2, 1, 1]).data, 0);
    close(x.tile([]).data, values(x), 0);
  });

  it('gradients: each input element gets the sum over its copies (gradcheck)', () => {
    assertGradcheck((x) => weighted([F.repeat(x, [2, 1, 3])]), [leaf([2, 2])], GC);
    assertGradcheck((x) => weighted([F.tile(x, [3])]), [leaf([2, 2])], GC);
    const x = leaf([3]);
    F.sum(x.repeat(4, 2)).backward();
    close(x.grad!.data, [8, 8, 8], 0);
  });

  it('errors', () => {
    const x = zeros([2, 3]);
    expect(() => F.repeat(x, [2])).to.throw('repeat: the number of sizes (1: [2]) can not be smaller than the number of dims (2) of shape [2,3]');
    expect(() => x.repeat(2)).to.throw('repeat: the number of sizes (1: [2]) can not be smaller');
    expect(() => F.repeat(x, [2, -1])).to.throw('repeat: sizes must be a non-negative integer or a list of them, got [2, -1]');
    expect(() => F.repeat(x, [2, 1.5])).to.throw('repeat: sizes must be');
    expect(() => F.tile(x, [-1])).to.throw('tile: dims must be a non-negative integer or a list of them, got [-1]');
  });
});

describe('flip', () => {
  function refFlip(x: Tensor, dims: number[]): number[] {
    return build(x.shape, (idx) => at(x, idx.map((v, d) => (dims.includes(d) ? x.shape[d] - 1 - v : v))));
  }

  it('reverses the order along each given dim (negative dims, non-contiguous, float32)', () => {
    const x = randomTensor(rng, [2, 3, 4]);
    close(F.flip(x, [0, 2]).data, refFlip(x, [0, 2]), 0);
    close(F.flip(x, [-1]).data, refFlip(x, [2]), 0);
    close(x.flip(1, 0, 2).data, refFlip(x, [0, 1, 2]), 0);
    const t = randomTransposed(rng, [4, 3]);
    close(t.flip(1).data, refFlip(t, [1]), 0);
    const f = randomTensor(rng, [3, 5], 'float32');
    const y = F.flip(f, 0);
    expect(y.dtype).to.equal('float32');
    close(y.data, refFlip(f, [0]), 0);
  });

  it('an empty dims list and a 0-d input give a copy; an empty tensor flips to an empty one', () => {
    const x = randomTensor(rng, [2, 2]);
    const y = F.flip(x, []);
    expect(y.storage).to.not.equal(x.storage);
    close(y.data, values(x), 0);
    const s = tensor(3, { dtype: 'float64' });
    expect(F.flip(s, [0]).item()).to.equal(3);
    expect(F.flip(zeros([0, 3]), [0, 1]).shape).to.deep.equal([0, 3]);
  });

  it('gradients by gradcheck (the functional op and after a non-contiguous view)', () => {
    assertGradcheck((x) => weighted([F.flip(x, [0, 2])]), [leaf([2, 3, 2])], GC);
    assertGradcheck((x) => weighted([F.flip(F.transpose(x, 0, 1), [1])]), [leaf([3, 4])], GC);
  });

  it('errors', () => {
    const x = zeros([2, 3]);
    expect(() => F.flip(x, [0, -2])).to.throw('flip: dims has duplicates: [0, -2] for shape [2,3]');
    expect(() => F.flip(x, [2])).to.throw('flip: dim 2 out of range for a 2-d tensor (expected in [-2, 1])');
    expect(() => F.flip(x, [0.5])).to.throw('flip: dims must be an integer or a list of integers, got [0.5]');
  });
});

describe('roll', () => {
  function mod(a: number, n: number): number {
    return ((a % n) + n) % n;
  }
  /** torch.roll along one dim by index: out[idx] = x[idx with idx[d] ← (idx[d] − shift) mod n]. */
  function refRoll(x: Tensor, shift: number, d: number): Tensor {
    const data = build(x.shape, (idx) => { const q = [...idx]; q[d] = mod(q[d] - shift, x.shape[d]); return at(x, q); });
    return tensor(data, { dtype: 'float64' }).reshape(x.shape);
  }

  it('shifts along dims with wrap-around (positive, negative, larger than the dim, several dims, a repeated dim)', () => {
    const x = randomTensor(rng, [3, 4, 2]);
    close(F.roll(x, 1, 0).data, refRoll(x, 1, 0).data, 0);
    close(F.roll(x, -1, 1).data, refRoll(x, -1, 1).data, 0);
    close(F.roll(x, 9, -2).data, refRoll(x, 9, 1).data, 0);
    close(F.roll(x, -7, 1).data, refRoll(x, -7, 1).data, 0);
    close(x.roll([1, -3], [0, 2]).data, refRoll(refRoll(x, 1, 0), -3, 2).data, 0);
    close(x.roll([1, 2], [1, 1]).data, refRoll(x, 3, 1).data, 0);
    const t = randomTransposed(rng, [4, 3]);
    close(t.roll(2, 0).data, refRoll(t, 2, 0).data, 0);
  });

  it('without dims rolls the flattened tensor and keeps the shape', () => {
    const x = randomTransposed(rng, [3, 4]);
    const flat = values(x);
    const n = flat.length;
    for (const s of [1, -2, 13]) {
      const y = F.roll(x, s);
      expect(y.shape).to.deep.equal([3, 4]);
      close(y.data, flat.map((_, k) => flat[mod(k - s, n)]), 0);
    }
    expect(F.roll(tensor(4), 3).item()).to.equal(4);
  });

  it('always a copy: a shift of a whole period, a zero shift and an empty tensor too', () => {
    const x = tensor([[1, 2], [3, 4]]);
    for (const y of [F.roll(x, 2, 1), F.roll(x, 0), F.roll(x, [0, 4], [0, 1])]) {
      expect(y.storage).to.not.equal(x.storage);
      expect(y.toArray()).to.deep.equal([[1, 2], [3, 4]]);
    }
    expect(F.roll(zeros([0, 2]), 1, 0).shape).to.deep.equal([0, 2]);
  });

  it('gradients by gradcheck', () => {
    assertGradcheck((x) => weighted([F.roll(x, [1, -2], [0, 1])]), [leaf([3, 4])], GC);
    assertGradcheck((x) => weighted([F.roll(x, 5)]), [leaf([2, 3])], GC);
  });

  it('errors', () => {
    const x = zeros([2, 3]);
    expect(() => F.roll(x, [1, 2], [0])).to.throw('roll: shifts and dims must align: 2 shifts [1, 2] but 1 dims [0]');
    expect(() => F.roll(x, [1, 2])).to.throw('roll: shifts and dims must align: 2 shifts [1, 2] but no dims (a roll of the flattened tensor takes one shift)');
    expect(() => F.roll(x, [])).to.throw('roll: shifts is required (got an empty list)');
    expect(() => F.roll(x, 1, 2)).to.throw('roll: dim 2 out of range for a 2-d tensor');
    expect(() => F.roll(x, 0.5, 0)).to.throw('roll: shifts must be an integer or a list of integers, got 0.5');
    expect(() => F.roll(tensor(1), 1, 0)).to.throw('roll: cannot roll a 0-d tensor along dims [0]; omit dims');
  });
});

describe('maskedFill', () => {
  /** torch.masked_fill out of place: x and mask broadcast together, value where the mask is set. */
  function refFill(x: Tensor, mask: Tensor, v: number): { shape: number[]; data: number[] } {
    const nd = Math.max(x.ndim, mask.ndim);
    const shape = Array.from({ length: nd }, (_, i) => Math.max(x.shape[i - (nd - x.ndim)] ?? 1, mask.shape[i - (nd - mask.ndim)] ?? 1));
    return { shape, data: build(shape, (idx) => (at(mask, broadcastIndex(idx, mask.shape)) === 1 ? v : at(x, broadcastIndex(idx, x.shape)))) };
  }
  function mask01(shape: number[], dtype: 'float32' | 'float64' = 'float64'): Tensor {
    return randomTensor(rng, shape, dtype, (u) => (u > 0 ? 1 : 0));
  }

  it('fills where the mask is 1, broadcasting mask and input both ways', () => {
    const cases: Array<[Tensor, Tensor]> = [
      [randomTensor(rng, [3, 4]), mask01([3, 4])],
      [randomTensor(rng, [2, 3]), mask01([3])],
      [randomTensor(rng, [2, 1, 3]), mask01([4, 1])],
      [randomTransposed(rng, [3, 2]), mask01([3, 1], 'float32')],
      [randomTensor(rng, [2, 3], 'float32'), mask01([2, 3])],
    ];
    for (const [x, m] of cases) {
      for (const v of [-7.5, NaN, -Infinity]) {
        const y = F.maskedFill(x, m, v);
        const ref = refFill(x, m, v);
        expect(y.shape).to.deep.equal(ref.shape);
        expect(y.dtype).to.equal(x.dtype);
        close(y.data, ref.data, 0);
      }
    }
  });

  it("x's gradient is 0 where filled and passes elsewhere; a 0-d value tensor gets the sum over the filled places", () => {
    const x = leaf([2, 3]);
    const m = tensor([[1, 0, 0], [0, 1, 1]], { dtype: 'float64' });
    const w = randomTensor(rng, [2, 3]);
    const v = tensor(0.5, { dtype: 'float64', requiresGrad: true });
    F.sum(F.mul(x.maskedFill(m, v), w)).backward();
    close(x.grad!.data, build([2, 3], (idx) => (at(m, idx) === 1 ? 0 : at(w, idx))), 0);
    close([v.grad!.item()], [at(w, [0, 0]) + at(w, [1, 1]) + at(w, [1, 2])], 1e-15);
    assertGradcheck((a, b) => weighted([F.maskedFill(a, tensor([0, 1, 0], { dtype: 'float64' }), b)]), [leaf([2, 3]), leaf([])], GC);
  });

  it('errors', () => {
    const x = zeros([2, 3]);
    expect(() => F.maskedFill(x, tensor([1, 2, 0]), 0)).to.throw('maskedFill: mask must hold only 0 and 1 (torch takes a bool mask), but mask[1] = 2');
    expect(() => F.maskedFill(x, tensor([[0.5, 0, 0], [1, 1, 1]]), 0)).to.throw('maskedFill: mask must hold only 0 and 1 (torch takes a bool mask), but mask[0,0] = 0.5');
    expect(() => F.maskedFill(x, tensor([1, 0]), 0)).to.throw('maskedFill: cannot broadcast [2,3] with [2]');
    expect(() => F.maskedFill(x, tensor([1, 0, 1]), 1e39)).to.throw('maskedFill: value 1e+39 cannot be converted to float32 without overflow');
    expect(() => F.maskedFill(x, tensor([1, 0, 1]), tensor([1]))).to.throw('maskedFill: value must be a number or a 0-d tensor, got a tensor of shape [1]');
    expect(() => F.maskedFill(x, tensor([1, 0, 1]), tensor(1, { dtype: 'float64' }))).to.throw('maskedFill: value is float64 but input is float32 [2,3]');
    expect(() => F.maskedFill(x, [1, 0, 1] as unknown as Tensor, 0)).to.throw('maskedFill: mask must be a Tensor');
  });
});

describe('cumsum', () => {
  /** Running sum along d in float64, then rounded to the input's dtype. */
  function refCumsum(x: Tensor, d: number): number[] {
    const round = x.dtype === 'float32' ? Math.fround : (v: number) => v;
    return build(x.shape, (idx) => {
      let s = 0;
      for (let k = 0; k <= idx[d]; k++) { const q = [...idx]; q[d] = k; s += at(x, q); }
      return round(s);
    });
  }

  it('the running sum along dim (negative dims, non-contiguous; float32 sums in double, rounded once)', () => {
    const x = randomTensor(rng, [3, 4, 5]);
    for (const d of [0, 1, 2, -1]) close(F.cumsum(x, d).data, refCumsum(x, (d + 3) % 3), 1e-15, `dim ${d}`);
    const t = randomTransposed(rng, [4, 6]);
    close(t.cumsum(0).data, refCumsum(t, 0), 1e-15);
    const f = randomTensor(rng, [2, 300], 'float32', (u) => 1000 * u);
    close(f.cumsum(1).data, refCumsum(f, 1), 0);
    expect(F.cumsum(tensor(2.5), 0).item()).to.equal(2.5);
    expect(F.cumsum(zeros([2, 0]), 1).shape).to.deep.equal([2, 0]);
  });

  it('gradient: the reversed running sum of grad (gradcheck, and by reference)', () => {
    assertGradcheck((x) => weighted([F.cumsum(x, 1)]), [leaf([2, 5])], GC);
    const x = leaf([4]);
    const w = randomTensor(rng, [4]);
    F.sum(F.mul(F.cumsum(x, 0), w)).backward();
    close(x.grad!.data, [0, 1, 2, 3].map((i) => [0, 1, 2, 3].filter((j) => j >= i).reduce((s, j) => s + at(w, [j]), 0)), 1e-15);
  });

  it('errors', () => {
    expect(() => F.cumsum(zeros([2, 3]), 2)).to.throw('cumsum: dim 2 out of range for a 2-d tensor (expected in [-2, 1])');
    expect(() => F.cumsum(zeros([2, 3]), undefined as unknown as number)).to.throw('cumsum: dim is required');
  });
});

describe('prod', () => {
  function refProd(x: Tensor, d: number | null, keepdim = false): { shape: number[]; data: number[] } {
    if (d === null) return { shape: keepdim ? x.shape.map(() => 1) : [], data: [values(x).reduce((a, b) => a * b, 1)] };
    const shape = x.shape.map((s, i) => (i === d ? 1 : s));
    const data = build(shape, (idx) => {
      let p = 1;
      for (let k = 0; k < x.shape[d]; k++) { const q = [...idx]; q[d] = k; p *= at(x, q); }
      return p;
    });
    return { shape: keepdim ? shape : shape.filter((_, i) => i !== d), data };
  }

  /** d prod / d x: at each element the product of the others along its run (all elements when d is null). */
  function refProdGrad(x: Tensor, d: number | null): number[] {
    const flat = values(x);
    return build(x.shape, (idx) => {
      let p = 1;
      if (d === null) {
        const self = idx.reduce((acc, v, i) => acc * x.shape[i] + v, 0);
        flat.forEach((v, k) => { if (k !== self) p *= v; });
        return p;
      }
      for (let k = 0; k < x.shape[d]; k++) { if (k === idx[d]) continue; const q = [...idx]; q[d] = k; p *= at(x, q); }
      return p;
    });
  }

  it('the product over all elements or one dim, with keepdim; an empty product is 1', () => {
    const x = randomTensor(rng, [3, 4, 2]);
    const all = F.prod(x);
    expect(all.shape).to.deep.equal([]);
    close(all.data, refProd(x, null).data, 1e-14);
    for (const [d, keep] of [[0, false], [1, true], [-1, false]] as Array<[number, boolean]>) {
      const y = x.prod(d, keep);
      const ref = refProd(x, (d + 3) % 3, keep);
      expect(y.shape).to.deep.equal(ref.shape);
      close(y.data, ref.data, 1e-14);
    }
    const t = randomTransposed(rng, [3, 5]);
    close(t.prod(0).data, refProd(t, 0).data, 1e-14);
    const f = randomTensor(rng, [4, 6], 'float32');
    close(f.prod(1).data, refProd(f, 1).data.map(Math.fround), 0);
    expect(F.prod(zeros([2, 0]), 1, true).toArray()).to.deep.equal([[1], [1]]);
    expect(F.prod(zeros([0])).item()).to.equal(1);
    expect(F.prod(tensor(-3)).item()).to.equal(-3);
    expect(F.prod(x, null, true).shape).to.deep.equal([1, 1, 1]);
  });

  it('gradients without zeros: gradcheck and the product of the others', () => {
    assertGradcheck((x) => weighted([F.prod(x, 1)]), [leaf([3, 4])], GC);
    assertGradcheck((x) => F.prod(x), [leaf([2, 3])], GC);
    const x = leaf([2, 3]);
    F.prod(x).backward();
    close(x.grad!.data, refProdGrad(x, null), 1e-14);
  });

  it('gradients with zeros: one zero, several zeros in a run, one and two zeros in the whole product (torch formula)', () => {
    // Over a dim: row 0 has one zero, row 1 two, row 2 none.
    const x = leaf([3, 4]);
    x.storage[1] = 0;
    x.storage[4] = 0;
    x.storage[7] = 0;
    const w = randomTensor(rng, [3]);
    F.sum(F.mul(F.prod(x, 1), w)).backward();
    const ref = refProdGrad(x, 1).map((v, k) => v * at(w, [Math.floor(k / 4)]));
    close(x.grad!.data, ref, 1e-14);
    expect(Array.from(x.grad!.data.slice(0, 4)).filter((v) => v !== 0).length, 'only the zero of row 0 gets a gradient').to.equal(1);
    close(x.grad!.data.slice(4, 8), [0, 0, 0, 0], 0, 'row 1, two zeros');
    assertGradcheck((t) => weighted([F.prod(t, 1, true)]), [x.detach().clone().requiresGrad_()], GC);

    for (const zeroAt of [[2], [0, 5]]) {
      const y = leaf([2, 3]);
      for (const k of zeroAt) y.storage[k] = 0;
      F.prod(y).backward();
      close(y.grad!.data, refProdGrad(y, null), 1e-14);
      if (zeroAt.length === 2) expect(Array.from(y.grad!.data)).to.deep.equal([0, 0, 0, 0, 0, 0]);
      assertGradcheck((t) => F.prod(t), [y.detach().clone().requiresGrad_()], GC);
    }
  });

  it('errors', () => {
    const x = zeros([2, 3]);
    expect(() => F.prod(x, [0, 1] as unknown as number)).to.throw('prod: dim must be one integer (torch.prod reduces one dim or all), got [0, 1]');
    expect(() => F.prod(x, 2)).to.throw('prod: dim 2 out of range for a 2-d tensor');
    expect(() => F.prod(x, 0, 1 as unknown as boolean)).to.throw('prod: keepdim must be a boolean, got 1');
  });
});

describe('logsumexp', () => {
  /** log Σ exp over `dims` by the definition (inputs kept small enough that exp does not overflow). */
  function refLse(x: Tensor, dims: number[], keepdim = false): { shape: number[]; data: number[] } {
    const kept = x.shape.map((s, i) => (dims.includes(i) ? 1 : s));
    const data = build(kept, (idx) => {
      let s = 0;
      const sub = dims.map((d) => x.shape[d]);
      for (let k = 0; k < numelOf(sub); k++) {
        const q = [...idx];
        unravel(k, sub).forEach((v, j) => { q[dims[j]] = v; });
        s += Math.exp(at(x, q));
      }
      return Math.log(s);
    });
    return { shape: keepdim ? kept : kept.filter((_, i) => !dims.includes(i)), data };
  }

  it('log Σ exp over one or several dims, keepdim, negative dims, float32', () => {
    const x = randomTensor(rng, [2, 3, 4]);
    for (const [dims, keep] of [[[1], false], [[0, 2], true], [[-1], false], [[0, 1, 2], false]] as Array<[number[], boolean]>) {
      const y = F.logsumexp(x, dims, keep);
      const ref = refLse(x, dims.map((d) => (d + 3) % 3).sort(), keep);
      expect(y.shape).to.deep.equal(ref.shape);
      close(y.data, ref.data, 1e-14);
    }
    const f = randomTensor(rng, [3, 5], 'float32');
    close(f.logsumexp(1).data, refLse(f, [1]).data, 1e-6);
    const t = randomTransposed(rng, [3, 4]);
    close(t.logsumexp(0).data, refLse(t, [0]).data, 1e-14);
  });

  it('stable for large inputs: logsumexp(c + y) = c + logsumexp(y), in float32 too', () => {
    const y = randomTensor(rng, [3, 4]);
    for (const c of [1000, -1000, 1e5]) {
      const shifted = F.add(y, c);
      close(F.logsumexp(shifted, 1).data, refLse(y, [1]).data.map((v) => v + c), 1e-14);
      const f32 = shifted.to('float32');
      const ref32 = refLse(F.sub(f32.to('float64'), c), [1]).data.map((v) => v + c);
      close(F.logsumexp(f32, 1).data, ref32, 1e-6);
    }
  });

  it('−∞ rows give −∞ (not NaN), a +∞ gives +∞, NaN propagates, an empty dim gives −∞', () => {
    const x = tensor([[-Infinity, -Infinity, -Infinity], [-Infinity, 0, Math.log(2)], [1, Infinity, 2], [1, NaN, 2], [Infinity, -Infinity, 0]], { dtype: 'float64' });
    close(F.logsumexp(x, 1).data, [-Infinity, Math.log(3), Infinity, NaN, Infinity], 1e-15);
    expect(F.logsumexp(zeros([2, 0]), 1).toArray()).to.deep.equal([-Infinity, -Infinity]);
  });

  it('gradient: softmax over the dims (gradcheck, and by reference at large values); NaN on a −∞ row as torch', () => {
    assertGradcheck((x) => weighted([F.logsumexp(x, [0, 2])]), [leaf([2, 3, 2])], GC);
    assertGradcheck((x) => weighted([F.logsumexp(x, -1, true)]), [leaf([3, 4])], GC);
    const y = randomTensor(rng, [2, 3]);
    const x = F.add(y, 800).detach().requiresGrad_();
    F.sum(F.logsumexp(x, 1)).backward();
    close(x.grad!.data, build([2, 3], ([i, j]) => Math.exp(at(y, [i, j])) / [0, 1, 2].reduce((s, k) => s + Math.exp(at(y, [i, k])), 0)), 1e-13);
    const z = tensor([[-Infinity, -Infinity], [0, Math.log(3)]], { dtype: 'float64', requiresGrad: true });
    F.sum(F.logsumexp(z, 1)).backward();
    close(z.grad!.data, [NaN, NaN, 0.25, 0.75], 1e-15);
  });

  it('errors', () => {
    const x = zeros([2, 3]);
    expect(() => F.logsumexp(x, undefined as unknown as number)).to.throw('logsumexp: dim is required');
    expect(() => F.logsumexp(x, null as unknown as number)).to.throw('logsumexp: dim is required');
    expect(() => F.logsumexp(x, 2)).to.throw('logsumexp: dim 2 out of range for a 2-d tensor');
    expect(() => F.logsumexp(x, [1, -1])).to.throw('logsumexp: dim -1 appears more than once in [1,-1]');
    expect(() => F.logsumexp(x, 1, 'yes' as unknown as boolean)).to.throw('logsumexp: keepdim must be a boolean, got "yes"');
  });
});

describe('norm', () => {
  function refNorm(x: Tensor, p: number, dims: number[], keepdim = false): { shape: number[]; data: number[] } {
    const kept = x.shape.map((s, i) => (dims.includes(i) ? 1 : s));
    const data = build(kept, (idx) => {
      const sub = dims.map((d) => x.shape[d]);
      let acc = 0;
      for (let k = 0; k < numelOf(sub); k++) {
        const q = [...idx];
        unravel(k, sub).forEach((v, j) => { q[dims[j]] = v; });
        const a = Math.abs(at(x, q));
        if (k === 0 && (p === Infinity || p === -Infinity)) acc = a;
        else if (p === 1) acc += a;
        else if (p === 2) acc += a * a;
        else if (p === Infinity) acc = Number.isNaN(acc) || Number.isNaN(a) ? NaN : Math.max(acc, a);
        else if (p === -Infinity) acc = Number.isNaN(acc) || Number.isNaN(a) ? NaN : Math.min(acc, a);
        else if (p === 0) acc += a === 0 ? 0 : 1; // torch's NormZeroOps: NaN ≠ 0 counts
        else acc += Math.pow(a, p);
      }
      if (p === 2) return Math.sqrt(acc);
      if (p === 1 || p === 0 || p === Infinity || p === -Infinity) return acc;
      return Math.pow(acc, 1 / p);
    });
    return { shape: keepdim ? kept : kept.filter((_, i) => !dims.includes(i)), data };
  }

  it("p = 1, 2, Infinity and 'fro' over all elements, a dim or dims, keepdim", () => {
    const x = randomTensor(rng, [2, 3, 4]);
    const cases: Array<[number | 'fro', number | number[] | undefined, boolean]> = [
      [2, undefined, false], [1, undefined, false], [Infinity, undefined, true], ['fro', undefined, false],
      [2, 1, false], [1, -1, true], [Infinity, [0, 2], false], ['fro', [0, 1], true], [2, [0, 1, 2], false],
    ];
    for (const [p, dim, keep] of cases) {
      const dims = dim === undefined ? [0, 1, 2] : (typeof dim === 'number' ? [dim] : dim).map((d) => (d + 3) % 3).sort();
      const y = x.norm(p, dim, keep);
      const ref = refNorm(x, p === 'fro' ? 2 : p, dims, keep);
      expect(y.shape, `p=${p} dim=${String(dim)}`).to.deep.equal(ref.shape);
      close(y.data, ref.data, 1e-14, `p=${p} dim=${String(dim)}`);
    }
    expect(F.norm(tensor([3, 4])).item()).to.equal(5);
    const t = randomTransposed(rng, [3, 4]);
    close(F.norm(t, 2, 0).data, refNorm(t, 2, [0]).data, 1e-14);
    const f = randomTensor(rng, [3, 5], 'float32');
    close(F.norm(f, 2, 1).data, refNorm(f, 2, [1]).data, 1e-6);
  });

  it('gradients by gradcheck for each p', () => {
    assertGradcheck((x) => weighted([F.norm(x, 2, 1)]), [leaf([3, 4])], GC);
    assertGradcheck((x) => F.norm(x), [leaf([2, 3])], GC);
    assertGradcheck((x) => weighted([F.norm(x, 'fro', [0, 2], true)]), [leaf([2, 2, 3])], GC);
    assertGradcheck((x) => weighted([F.norm(x, 1, 0)]), [leaf([3, 4], (u) => (Math.abs(u) < 0.1 ? u + 0.3 : u))], GC);
    assertGradcheck((x) => weighted([F.norm(x, Infinity, 1)]), [leaf([3, 4])], GC);
  });

  it('p = 2 at an all-zero input (or row) has gradient 0, not NaN, as torch; elsewhere x/‖x‖', () => {
    const z = zeros([3], { dtype: 'float64', requiresGrad: true });
    const n = F.norm(z);
    expect(n.item()).to.equal(0);
    n.backward();
    expect(Array.from(z.grad!.data)).to.deep.equal([0, 0, 0]);
    const x = tensor([[0, 0, 0], [1, -2, 2]], { dtype: 'float64', requiresGrad: true });
    F.sum(F.norm(x, 'fro', 1)).backward();
    close(x.grad!.data, [0, 0, 0, 1 / 3, -2 / 3, 2 / 3], 1e-15);
  });

  it('p = Infinity splits the gradient among tied maxima of |x| with their signs, as torch', () => {
    const x = tensor([1, -3, 3, 2], { dtype: 'float64', requiresGrad: true });
    F.norm(x, Infinity).backward();
    close(x.grad!.data, [0, -0.5, 0.5, 0], 0);
  });

  it('p = Infinity over a dim with a NaN: NaN there, and the gradient 0 on that run as torch (sgn(NaN) = 0), as without dim', () => {
    // torch's norm_backward for inf: sgn(x)·(grad / count)·mask, mask = (|x| == norm) | isnan(x), sgn(NaN) = 0.
    const x = tensor([[1, NaN, -3], [2, -5, 5]], { dtype: 'float64', requiresGrad: true });
    const n = F.norm(x, Infinity, 1);
    close(n.data, [NaN, 5], 0);
    F.sum(F.mul(n, tensor([2, 3], { dtype: 'float64' }))).backward();
    close(x.grad!.data, [0, 0, 0, 0, -1.5, 1.5], 0);
    const y = tensor([[1, NaN], [-4, 2]], { dtype: 'float64', requiresGrad: true });
    const k = F.norm(y, Infinity, 0, true);
    expect(k.shape).to.deep.equal([1, 2]);
    close(k.data, [4, NaN], 0);
    F.sum(k).backward();
    close(y.grad!.data, [0, 0, -1, 0], 0);
    const z = tensor([[1, NaN, -3]], { dtype: 'float64', requiresGrad: true });
    F.norm(z, Infinity).backward();
    close(z.grad!.data, [0, 0, 0], 0, 'without dim');
  });

  it('any real p: 0.5, 1.5, 3, 0, −1, −2, −Infinity over all elements, dims, keepdim, dim null, in both dtypes (Tensor.norm too)', () => {
    const x = randomTensor(rng, [2, 3, 4]);
    const t = randomTransposed(rng, [3, 4]);
    const f = randomTensor(rng, [3, 5], 'float32');
    const cases: Array<[number, number | number[] | null | undefined, boolean]> = [
      [0.5, undefined, false], [3, null, true], [1.5, 1, false], [0, -1, true], [-1, [0, 2], false],
      [-2, 2, true], [-Infinity, 1, false], [-Infinity, null, true], [2.5, [0, 1, 2], false], [0.25, [1, 2], true], [-0.5, 0, false],
    ];
    for (const [p, dim, keep] of cases) {
      const what = `p=${p} dim=${String(dim)} keepdim=${keep}`;
      const dims = dim === undefined || dim === null ? [0, 1, 2] : (typeof dim === 'number' ? [dim] : dim).map((d) => (d + 3) % 3).sort();
      const y = x.norm(p, dim, keep);
      const ref = refNorm(x, p, dims, keep);
      expect(y.shape, what).to.deep.equal(ref.shape);
      expect(y.dtype, what).to.equal('float64');
      close(y.data, ref.data, 1e-14, what);
      close(F.norm(t, p, 0).data, refNorm(t, p, [0]).data, 1e-14, `${what} transposed`);
      const y32 = F.norm(f, p, 1, keep);
      expect(y32.dtype, what).to.equal('float32');
      close(y32.data, refNorm(f, p, [1], keep).data, 1e-6, `${what} float32`);
    }
    const s = tensor(-2.5, { dtype: 'float64' });
    for (const p of [3, 0.5, -1, -Infinity]) close(F.norm(s, p).data, [2.5], 1e-15, `0-d p=${p}`);
    expect(F.norm(s, 0).item()).to.equal(1);
  });

  it('general p at zeros, NaN and infinities: torch 1.13 forward values', () => {
    const x = tensor([[0, 3, -4, 0], [0, 0, 0, 0], [NaN, 1, 0, 2], [Infinity, 1, -2, 0.5]], { dtype: 'float64' });
    // p = 0 counts nonzeros, NaN included (NaN ≠ 0); negative p: a zero makes Σ|x|^p infinite, the norm 0.
    close(F.norm(x, 0, 1).data, [2, 0, 3, 4], 0, 'p=0');
    close(F.norm(x, -1, 1).data, [0, 0, NaN, 1 / (0 + 1 + 0.5 + 2)], 1e-15, 'p=-1');
    close(F.norm(x, 3, 1).data, [Math.cbrt(27 + 64), 0, NaN, Infinity], 1e-15, 'p=3');
    close(F.norm(x, 0.5, 1).data, [(Math.sqrt(3) + 2) ** 2, 0, NaN, Infinity], 1e-15, 'p=0.5');
    close(F.norm(x, -Infinity, 1).data, [0, 0, NaN, 0.5], 0, 'p=-Infinity');
    close(F.norm(tensor([-3, Infinity, -Infinity]), -Infinity).data, [3], 0, 'p=-Infinity with infinities');
    // An empty run: Σ is 0, so p > 0 gives 0 and p = 0 counts 0 (torch's vector_norm).
    for (const p of [0, 0.5, 3]) expect(F.norm(zeros([2, 0]), p, 1).toArray(), `empty p=${p}`).to.deep.equal([0, 0]);
  });

  it('gradients by gradcheck for p = 0.5, 3, 1.5, −1, −2, −Infinity (inputs without zeros or ties)', () => {
    const away = (u: number): number => (u < 0 ? u - 0.3 : u + 0.3);
    assertGradcheck((x) => weighted([F.norm(x, 0.5, 1)]), [leaf([3, 4], away)], GC);
    assertGradcheck((x) => F.norm(x, 0.5), [leaf([2, 3], away)], GC);
    assertGradcheck((x) => weighted([F.norm(x, 3, [0, 2], true)]), [leaf([2, 3, 2])], GC);
    assertGradcheck((x) => F.norm(x, 3, null), [leaf([2, 3])], GC);
    assertGradcheck((x) => weighted([F.norm(x, 1.5, 0)]), [leaf([3, 4])], GC);
    assertGradcheck((x) => weighted([F.norm(x, -1, -1)]), [leaf([3, 4], away)], GC);
    assertGradcheck((x) => weighted([F.norm(x, -2, [0, 1], true)]), [leaf([2, 3, 2], away)], GC);
    assertGradcheck((x) => weighted([F.norm(x, -Infinity, 1)]), [leaf([3, 4], away)], GC);
    assertGradcheck((x) => F.norm(x, -Infinity), [leaf([2, 3], away)], GC);
  });

  it('general p gradient at zeros by torch\'s norm_backward: 0 at a zero entry for p < 1, 0 on an all-zero run, 0 on a run with a zero for p < 0', () => {
    // p = 0.5, row [0, 4, −1]: n = (0 + 2 + 1)² = 9, grad sgn(x)·|x|^(−1/2)·n^(1/2), 0 at the zero.
    const a = tensor([[0, 4, -1], [0, 0, 0]], { dtype: 'float64', requiresGrad: true });
    F.sum(F.mul(F.norm(a, 0.5, 1), tensor([1, 5], { dtype: 'float64' }))).backward();
    close(a.grad!.data, [0, 0.5 * 3, -3, 0, 0, 0], 1e-15, 'p=0.5');
    // p = −1, row [1, −2, 4]: Σ = 1.75, n = 4/7, grad sgn(x)·|x|^(−2)·n²; row [2, 0, 3]: n = 0, grad 0.
    const b = tensor([[1, -2, 4], [2, 0, 3]], { dtype: 'float64', requiresGrad: true });
    const nb = F.norm(b, -1, 1);
    close(nb.data, [4 / 7, 0], 1e-15);
    F.sum(nb).backward();
    close(b.grad!.data, [16 / 49, -4 / 49, 1 / 49, 0, 0, 0], 1e-15, 'p=-1');
    // p = 1.5 and 3: x·|x|^(p−2)/n^(p−1) (as sgn·|x|^(p−1) for p < 2) is 0 at a zero entry; an all-zero run gets 0, not NaN.
    for (const p of [1.5, 3]) {
      const c = tensor([[0, 3, -4], [0, 0, 0]], { dtype: 'float64', requiresGrad: true });
      F.sum(F.norm(c, p, 1)).backward();
      const n = (3 ** p + 4 ** p) ** (1 / p);
      close(c.grad!.data, [0, 3 ** (p - 1) / n ** (p - 1), -(4 ** (p - 1)) / n ** (p - 1), 0, 0, 0], 1e-15, `p=${p}`);
    }
  });

  it('p = 0 has gradient 0 everywhere, NaN entries included, as torch', () => {
    const x = tensor([[1, -2, 0], [NaN, 3, 0]], { dtype: 'float64', requiresGrad: true });
    const n = F.norm(x, 0, 1);
    close(n.data, [2, 2], 0);
    F.sum(n).backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([0, 0, 0, 0, 0, 0]);
  });

  it('general p with a NaN in a run: the norm and the whole run\'s gradient are NaN (torch\'s formulas), other runs unaffected', () => {
    for (const p of [0.5, -1, 1.5, 3]) {
      const x = tensor([[NaN, 2, 0], [1, -2, 2]], { dtype: 'float64', requiresGrad: true });
      const n = F.norm(x, p, 1);
      const n1 = (1 + 2 * 2 ** p) ** (1 / p);
      close(n.data, [NaN, n1], 1e-15, `p=${p}`);
      F.sum(n).backward();
      const g = [1, -2, 2].map((v) => Math.sign(v) * Math.abs(v) ** (p - 1) * n1 ** (1 - p));
      close(x.grad!.data, [NaN, NaN, NaN, ...g], 1e-14, `p=${p} gradient`);
    }
  });

  it('p = −Infinity splits the gradient among tied minima of |x| with their signs; a zero minimum or a NaN run gets 0, as torch', () => {
    const x = tensor([3, -1, 1, 2], { dtype: 'float64', requiresGrad: true });
    F.norm(x, -Infinity).backward();
    close(x.grad!.data, [0, -0.5, 0.5, 0], 0);
    const z = tensor([[0, 2, 0], [4, -1.5, 2]], { dtype: 'float64', requiresGrad: true });
    F.sum(F.mul(F.norm(z, -Infinity, 1), tensor([1, 3], { dtype: 'float64' }))).backward();
    close(z.grad!.data, [0, 0, 0, 0, -3, 0], 0, 'zero minimum');
    const w = tensor([[1, NaN, -3], [2, -5, 5]], { dtype: 'float64', requiresGrad: true });
    const n = F.norm(w, -Infinity, 1, true);
    expect(n.shape).to.deep.equal([2, 1]);
    close(n.data, [NaN, 2], 0);
    F.sum(F.mul(n, tensor([[2], [3]], { dtype: 'float64' }))).backward();
    close(w.grad!.data, [0, 0, 0, 3, 0, 0], 0, 'NaN run');
  });

  it('a negative p over non-empty dims of an empty tensor gives an empty result, as torch 1.13 (it refuses only an empty reduced dim or a whole-tensor reduction)', () => {
    for (const p of [-1, -0.5, -Infinity]) {
      const a = zeros([2, 0], { dtype: 'float64', requiresGrad: true });
      const y = F.norm(a, p, 0);
      expect(y.shape, `p=${p}`).to.deep.equal([0]);
      F.sum(y).backward();
      expect(a.grad!.shape, `p=${p} gradient`).to.deep.equal([2, 0]);
      expect(F.norm(zeros([0, 3]), p, 1, true).shape, `p=${p} keepdim`).to.deep.equal([0, 1]);
      expect(F.norm(zeros([3, 0, 2]), p, [0, 2]).shape, `p=${p} dims [0, 2]`).to.deep.equal([0]);
    }
  });

  it('errors', () => {
    const x = zeros([2, 3, 4]);
    expect(() => F.norm(x, NaN)).to.throw("norm: p must be a number (not NaN) or 'fro', got NaN");
    expect(() => F.norm(x, 'nuc' as 'fro')).to.throw("norm: p='nuc' (the nuclear norm) is not supported; p must be a number or 'fro'");
    expect(() => F.norm(x, 'inf' as 'fro')).to.throw("norm: p must be a number (not NaN) or 'fro', got \"inf\"");
    expect(() => F.norm(x, true as unknown as number)).to.throw("norm: p must be a number (not NaN) or 'fro', got true");
    expect(() => x.norm(NaN, 1)).to.throw("norm: p must be a number (not NaN) or 'fro', got NaN");
    expect(() => F.norm(zeros([2, 0]), -1, 1)).to.throw('norm: cannot take the p=-1 norm over an empty dim or a whole empty tensor (shape [2,0]): a negative order has no identity');
    expect(() => F.norm(zeros([2, 0]), -0.5)).to.throw('norm: cannot take the p=-0.5 norm over an empty dim or a whole empty tensor (shape [2,0]): a negative order has no identity');
    expect(() => F.norm(zeros([0, 3]), -2, [])).to.throw('norm: cannot take the p=-2 norm over an empty dim or a whole empty tensor (shape [0,3]): a negative order has no identity');
    expect(() => F.norm(zeros([0, 3]), -Infinity, [0, 1])).to.throw('norm: cannot take the p=-Infinity norm over an empty dim or a whole empty tensor (shape [0,3]): a negative order has no identity');
    expect(() => F.norm(x, 'fro', [0, 1, 2])).to.throw("norm: p='fro' takes at most 2 dims, got dims [0, 1, 2] for shape [2,3,4]");
    expect(() => F.norm(x, 2, 3)).to.throw('norm: dim 3 out of range for a 3-d tensor');
    expect(() => F.norm(zeros([2, 0]), Infinity, 1)).to.throw('norm: cannot take the Infinity norm over an empty dim (shape [2,0])');
    expect(() => F.norm(zeros([0]), Infinity)).to.throw('norm: cannot take the Infinity norm over an empty dim (shape [0])');
    expect(() => F.norm(x, 2, 0, 0 as unknown as boolean)).to.throw('norm: keepdim must be a boolean, got 0');
  });
});
