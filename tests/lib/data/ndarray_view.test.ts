import { expect } from 'chai';
import { assign, fill, view } from '../../../lib/data/ndarray_view';

/** 0, 1, 2, ... in a Uint8Array, so each element's value is its flat index. */
function iota(n: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

describe('lib/data/ndarray_view', () => {
  it('builds row-major views and reads and writes elements at stride-computed positions', () => {
    const data = iota(24);
    const v = view(data, [2, 3, 4]);
    expect(v.shape).to.deep.equal([2, 3, 4]);
    expect(v.stride).to.deep.equal([12, 4, 1]);
    expect(v.size).to.equal(24);
    expect(v.dimension).to.equal(3);
    expect(v.get(1, 2, 3)).to.equal(23);
    expect(v.get(1, 0, 2)).to.equal(14);
    v.set(200, 0, 1, 1);
    expect(data[5]).to.equal(200);
  });

  it('honours an explicit stride and offset', () => {
    // A column-major 3×2 view starting at element 1 of [0..9].
    const v = view(iota(10), [3, 2], [1, 3], 1);
    expect(v.toArray()).to.deep.equal([1, 4, 2, 5, 3, 6]);
  });

  it('lo/hi select a window, step(-1) mirrors an axis, pick drops axes', () => {
    const v = view(iota(48), [3, 4, 4]);
    const w = v.lo(null, 1, 2).hi(null, 2, 2);
    expect(w.shape).to.deep.equal([3, 2, 2]);
    // channel c, rows 1..2, columns 2..3: c*16 + r*4 + col
    expect(w.toArray()).to.deep.equal([6, 7, 10, 11, 22, 23, 26, 27, 38, 39, 42, 43]);
    const f = v.pick(0, null, null).step(null, -1);
    expect(f.toArray()).to.deep.equal([3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12]);
    expect(v.pick(2, 3, null).toArray()).to.deep.equal([44, 45, 46, 47]);
    expect(v.pick(null, null, 0).toArray()).to.deep.equal([0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44]);
    expect(v.step(2, null, 3).toArray()).to.deep.equal([0, 3, 4, 7, 8, 11, 12, 15, 32, 35, 36, 39, 40, 43, 44, 47]);
  });

  it('assign copies a strided (flipped, windowed) byte view into a float view, converting values', () => {
    const src = view(iota(32), [2, 4, 4]);
    const out = new Float32Array(2 * 2 * 3 + 5);
    const dst = view(out, [2, 2, 3], undefined, 5);
    assign(dst, src.lo(null, 1, 0).hi(null, 2, 3).step(null, null, -1));
    const expected = [6, 5, 4, 10, 9, 8, 22, 21, 20, 26, 25, 24];
    expect(Array.from(out.subarray(5))).to.deep.equal(expected);
    expect(Array.from(out.subarray(0, 5))).to.deep.equal([0, 0, 0, 0, 0]);
  });

  it('fill sets every element of a view and nothing outside it', () => {
    const data = new Float64Array(16);
    fill(view(data, [4, 4]).lo(1, 1).hi(2, 2), 0.5);
    const expected = new Array<number>(16).fill(0);
    for (const i of [5, 6, 9, 10]) expected[i] = 0.5;
    expect(Array.from(data)).to.deep.equal(expected);
  });

  it('rejects views that reach outside their data and bad shapes or strides', () => {
    expect(() => view(iota(10), [3, 4])).to.throw(/^view: .*\[3,4\].*outside data of length 10/);
    expect(() => view(iota(10), [2, 2], [1, -3])).to.throw(/^view: .*outside data/);
    expect(() => view(iota(10), [2, 2], [2, 1], 8)).to.throw(/^view: .*offset 8/);
    expect(() => view(iota(10), [2, -1])).to.throw(/^view: shape must be/);
    expect(() => view(iota(10), [])).to.throw(/^view: shape must be/);
    expect(() => view(iota(10), [2, 2], [1])).to.throw(/^view: stride \[1\] must be 2 integers/);
    expect(() => view(iota(10), [2], undefined, 0.5)).to.throw(/^view: offset must be an integer, got 0.5/);
    expect(() => view([1, 2, 3] as unknown as Uint8Array, [3])).to.throw(/^view: data must be/);
  });

  it('rejects out-of-range windows, steps, picks and indices that ndarray itself would accept silently', () => {
    const v = view(iota(48), [3, 4, 4]);
    expect(() => v.hi(null, 5)).to.throw(/^NdView\.hi: argument 1 is 5, must be in \[0, size\] for axis 1 of shape \[3,4,4\]/);
    expect(() => v.lo(null, 5)).to.throw(/^NdView\.lo: argument 1 is 5/);
    expect(() => v.lo(-1)).to.throw(/^NdView\.lo: argument 0 is -1/);
    expect(() => v.lo(0, 0, 0, 0)).to.throw(/^NdView\.lo: got 4 arguments for a view of shape \[3,4,4\]/);
    expect(() => v.step(null, 0)).to.throw(/^NdView\.step: argument 1 is 0, must be a non-zero integer/);
    expect(() => v.pick(3, null, null)).to.throw(/^NdView\.pick: argument 0 is 3, must be in \[0, size\)/);
    expect(() => v.pick(0, 0, 0)).to.throw(/^NdView\.pick: picking every axis/);
    expect(() => v.get(0, 0)).to.throw(/^NdView\.get: got 2 indices \[0,0\] for a view of shape \[3,4,4\]/);
    expect(() => v.get(0, 4, 0)).to.throw(/^NdView\.get: index \[0,4,0\] is out of bounds for shape \[3,4,4\] \(axis 1\)/);
    expect(() => v.set(1, 0, 0, 1.5)).to.throw(/^NdView\.set: index \[0,0,1.5\] is out of bounds/);
  });

  it('assign refuses mismatched shapes instead of copying a partial or overlong region', () => {
    const a = view(new Float32Array(12), [3, 4]);
    const b = view(iota(12), [4, 3]);
    expect(() => assign(a, b)).to.throw(/^assign: shape mismatch, dst \[3,4\] vs src \[4,3\]/);
    expect(() => assign(a, view(iota(12), [12]))).to.throw(/^assign: shape mismatch, dst \[3,4\] vs src \[12\]/);
  });
});
