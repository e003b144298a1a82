import { expect } from 'chai';
import { allocate, type FloatArray } from '../../../lib/core/dtype';
import { accumulate, addInto, binary, clamp, collapseDims, copyStrided, reluBackward, unary, where, type BinaryOp } from '../../../lib/kernels/elementwise';
import { ewWasm } from '../../../lib/kernels/wasm_elementwise';
import { setNumThreads, threadStats } from '../../../lib/platform/threads';
import { argmaxAxis, argminAxis, extremeAxes, sumAxes } from '../../../lib/kernels/reduce';
import { Random } from '../../../lib/random';
import { unravel } from '../../helpers';
import { useTwoThreads, withWasm } from '../../support/kernel_modes';

const rng = new Random(5);

function randArray(n: number, dtype: 'float32' | 'float64' = 'float64'): Float32Array | Float64Array {
  const a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.round(rng.normal() * 4) / 2;
  return a;
}

function randShape(nd: number): number[] {
  return Array.from({ length: nd }, () => rng.integer(1, 5));
}

/** Random strides (possibly broadcast zeros and gaps) for `shape` over a buffer, with the buffer size needed. */
function randomLayout(shape: number[]): { strides: number[]; offset: number; size: number } {
  const strides = new Array<number>(shape.length);
  let s = 1;
  const order = shape.map((_, i) => i).sort(() => rng.uniform() - 0.5);
  for (const d of order) {
    strides[d] = rng.uniform() < 0.2 ? 0 : s;
    s *= shape[d] + (rng.uniform() < 0.3 ? 1 : 0);
  }
  const offset = rng.integer(0, 3);
  return { strides, offset, size: s + offset + 1 };
}

function readAt(data: ArrayLike<number>, offset: number, strides: number[], idx: number[]): number {
  let o = offset;
  idx.forEach((v, d) => { o += v * strides[d]; });
  return data[o];
}

describe('lib/kernels/elementwise against reference loops', () => {
  it('collapseDims merges only dims that are contiguous for every operand', () => {
    expect(collapseDims([2, 3, 4], [[12, 4, 1], [12, 4, 1]])).to.deep.equal({ shape: [24], strides: [[1], [1]] });
    expect(collapseDims([2, 3, 4], [[12, 4, 1], [0, 0, 1]])).to.deep.equal({ shape: [6, 4], strides: [[4, 1], [0, 1]] });
    expect(collapseDims([2, 1, 4], [[4, 99, 1]])).to.deep.equal({ shape: [8], strides: [[1]] });
    expect(collapseDims([], [[]])).to.deep.equal({ shape: [1], strides: [[0]] });
  });

  const ops: Array<[BinaryOp, (x: number, y: number) => number]> = [
    ['add', (x, y) => x + y], ['sub', (x, y) => x - y], ['mul', (x, y) => x * y], ['div', (x, y) => x / y],
    ['pow', Math.pow], ['maximum', Math.max], ['minimum', Math.min], ['eq', (x, y) => +(x === y)],
    ['ne', (x, y) => +(x !== y)], ['lt', (x, y) => +(x < y)], ['le', (x, y) => +(x <= y)], ['gt', (x, y) => +(x > y)], ['ge', (x, y) => +(x >= y)],
  ];
  for (const [op, ref] of ops) {
    it(`binary ${op} over random strided layouts`, () => {
      for (let trial = 0; trial < 30; trial++) {
        const shape = randShape(rng.integer(0, 5));
        const la = randomLayout(shape), lb = randomLayout(shape);
        const A = randArray(la.size), B = randArray(lb.size);
        const n = shape.reduce((p, d) => p * d, 1);
        const out = new Float64Array(n);
        binary(op, shape, { storage: A, offset: la.offset, strides: la.strides }, { storage: B, offset: lb.offset, strides: lb.strides }, out);
        for (let k = 0; k < n; k++) {
          const idx = unravel(k, shape);
          const e = ref(readAt(A, la.offset, la.strides, idx), readAt(B, lb.offset, lb.strides, idx));
          if (Number.isNaN(e)) expect(out[k]).to.be.NaN;
          else expect(out[k]).to.equal(e);
        }
      }
    });
  }

  it('maximum and minimum propagate NaN', () => {
    const out = new Float64Array(2);
    binary('maximum', [2], { storage: new Float64Array([NaN, 1]), offset: 0, strides: [1] }, { storage: new Float64Array([1, NaN]), offset: 0, strides: [1] }, out);
    expect(Number.isNaN(out[0]) && Number.isNaN(out[1])).to.equal(true);
  });

  it('unary ops and clamp match Math', () => {
    const x = randArray(50);
    const refs: Array<[Parameters<typeof unary>[0], (v: number) => number]> = [
      ['neg', (v) => -v], ['exp', Math.exp], ['abs', Math.abs], ['relu', (v) => (v > 0 ? v : 0)], ['tanh', Math.tanh],
      ['sigmoid', (v) => 1 / (1 + Math.exp(-v))], ['sign', Math.sign], ['square', (v) => v * v], ['reciprocal', (v) => 1 / v],
    ];
    for (const [op, f] of refs) {
      const out = new Float64Array(48);
      unary(op, x, 2, out, 48);
      for (let i = 0; i < 48; i++) {
        const e = f(x[i + 2]);
        if (!Number.isFinite(e) || out[i] === e) expect(out[i], op).to.equal(e);
        else expect(out[i], op).to.be.closeTo(e, 1e-15 * Math.max(1, Math.abs(e)));
      }
    }
    const out = new Float64Array(50);
    clamp(x, 0, out, 50, -1, 0.5);
    for (let i = 0; i < 50; i++) expect(out[i]).to.equal(Math.min(Math.max(x[i], -1), 0.5));
    // min > max: torch.clamp's min(max(x, min), max) is max for every element, NaN stays NaN.
    const y = Float64Array.from([-2, 0, 0.25, 0.5, 1, NaN]);
    const o = new Float64Array(6);
    clamp(y, 0, o, 6, 0.5, 0.25);
    for (let i = 0; i < 6; i++) expect(o[i], `clamp(${y[i]}, 0.5, 0.25)`).to.deep.equal(Math.min(Math.max(y[i], 0.5), 0.25));
  });

  it('reluBackward and addInto match their definitions', () => {
    const gy = randArray(64), out = randArray(64).map((v) => Math.max(v, 0)), b = randArray(64);
    const gx = new Float64Array(64), sum = new Float64Array(64);
    reluBackward(gy, out, gx, 64);
    addInto(gy, b, sum, 64);
    for (let i = 0; i < 64; i++) {
      expect(gx[i]).to.equal(out[i] > 0 ? gy[i] : 0);
      expect(sum[i]).to.equal(gy[i] + b[i]);
    }
  });

  it('float32 relu and its backward are exact without branches: NaN kept, negatives and -0 to +0', () => {
    const x = Float32Array.from([1.5, -2, 0, -0, NaN, 3.4e38, -3.4e38, 1e-45, -1e-45, Infinity, -Infinity]);
    const out = new Float32Array(x.length);
    unary('relu', x, 0, out, x.length);
    const expected = [1.5, 0, 0, 0, NaN, 3.4e38, 0, 1e-45, 0, Infinity, 0].map(Math.fround);
    expected.forEach((e, i) => {
      if (Number.isNaN(e)) expect(out[i]).to.be.NaN;
      else expect(Object.is(out[i], e), `relu(${x[i]}) = ${out[i]}`).to.equal(true);
    });
    const g = Float32Array.from(x.map((_, i) => [0.5, -1.25, NaN, Infinity, -Infinity][i % 5]));
    const gx = new Float32Array(x.length);
    reluBackward(g, out, gx, x.length);
    out.forEach((o, i) => expect(Object.is(gx[i], o <= 0 ? 0 : g[i]), `at ${i}: grad ${g[i]}, out ${o} -> ${gx[i]}`).to.equal(true));
    const big = Float32Array.from({ length: 1000 }, () => rng.normal());
    const bo = new Float32Array(1000);
    unary('relu', big, 0, bo, 1000);
    big.forEach((v, i) => expect(bo[i]).to.equal(v > 0 ? v : 0));
  });

  it('where and copyStrided over random layouts', () => {
    for (let trial = 0; trial < 30; trial++) {
      const shape = randShape(rng.integer(1, 5));
      const lc = randomLayout(shape), la = randomLayout(shape), lb = randomLayout(shape);
      const C = randArray(lc.size).map((v) => (v > 0 ? 1 : 0)), A = randArray(la.size), B = randArray(lb.size);
      const n = shape.reduce((p, d) => p * d, 1);
      const out = new Float64Array(n);
      where(shape, { storage: C, offset: lc.offset, strides: lc.strides }, { storage: A, offset: la.offset, strides: la.strides }, { storage: B, offset: lb.offset, strides: lb.strides }, out);
      const copy = new Float64Array(n);
      copyStrided(shape, { storage: A, offset: la.offset, strides: la.strides }, { storage: copy, offset: 0, strides: shape.map((_, d) => shape.slice(d + 1).reduce((p, v) => p * v, 1)) });
      for (let k = 0; k < n; k++) {
        const idx = unravel(k, shape);
        const a = readAt(A, la.offset, la.strides, idx);
        expect(out[k]).to.equal(readAt(C, lc.offset, lc.strides, idx) ? a : readAt(B, lb.offset, lb.strides, idx));
        expect(copy[k]).to.equal(a);
      }
    }
  });
});

describe('lib/kernels/reduce against reference loops', () => {
  it('sumAxes and extremeAxes over every subset of axes of random shapes', () => {
    for (let trial = 0; trial < 20; trial++) {
      const shape = randShape(rng.integer(1, 5));
      const n = shape.reduce((p, d) => p * d, 1);
      const x = randArray(n);
      for (let mask = 0; mask < 1 << shape.length; mask++) {
        const axes = shape.map((_, i) => i).filter((i) => mask & (1 << i));
        const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const m = outShape.reduce((p, d) => p * d, 1);
        const refSum = new Array<number>(m).fill(0), refMax = new Array<number>(m).fill(-Infinity);
        for (let k = 0; k < n; k++) {
          const idx = unravel(k, shape).map((v, i) => (axes.includes(i) ? 0 : v));
          const o = idx.reduce((acc, v, i) => acc * outShape[i] + v, 0);
          refSum[o] += x[k];
          refMax[o] = Math.max(refMax[o], x[k]);
        }
        const s = sumAxes(x, shape, axes), mx = extremeAxes(x, shape, axes, 'max'), mn = extremeAxes(x.map((v) => -v), shape, axes, 'min');
        for (let o = 0; o < m; o++) {
          expect(s[o]).to.be.closeTo(refSum[o], 1e-12);
          expect(mx[o]).to.equal(refMax[o]);
          expect(mn[o]).to.equal(-refMax[o]);
        }
      }
    }
  });

  it('accumulates float32 sums in double precision', () => {
    const x = new Float32Array(1 << 20).fill(0.1);
    const s = sumAxes(x, [1 << 20], [0]);
    expect(Math.abs(s[0] - (1 << 20) * Math.fround(0.1))).to.be.below(1);
    const y = new Float32Array(2 * (1 << 19)).fill(0.1);
    const t = sumAxes(y, [1 << 19, 2], [0]);
    expect(Math.abs(t[0] - (1 << 19) * Math.fround(0.1))).to.be.below(1);
  });

  it('extremes and argmax propagate NaN; argmax picks the first maximum', () => {
    const x = new Float64Array([1, NaN, 3, 3, 2, 3]);
    expect(Number.isNaN(extremeAxes(x, [2, 3], [1], 'max')[0])).to.equal(true);
    expect(extremeAxes(x, [2, 3], [1], 'max')[1]).to.equal(3);
    expect(Array.from(argmaxAxis(x, 2, 3, 1))).to.deep.equal([1, 0]);
    expect(Array.from(argmaxAxis(new Float64Array([1, 5, 5, 0]), 1, 4, 1))).to.deep.equal([1]);
  });

  it('argmin picks the first minimum and, as torch (LessOrNan), the first NaN over any number', () => {
    // Rows [1, NaN, 3] and [3, 2, 3]; then a column reduction (inner 2) of [[4, 0], [1, 0], [1, -1]].
    expect(Array.from(argminAxis(new Float64Array([1, NaN, 3, 3, 2, 3]), 2, 3, 1))).to.deep.equal([1, 1]);
    expect(Array.from(argminAxis(new Float32Array([4, 0, 1, 0, 1, -1]), 1, 3, 2))).to.deep.equal([1, 2]);
    expect(Array.from(argminAxis(new Float64Array([NaN, -Infinity, NaN]), 1, 3, 1))).to.deep.equal([0]);
    expect(Array.from(argminAxis(new Float64Array([-Infinity, -Infinity, 2]), 1, 3, 1))).to.deep.equal([0]);
  });
});

describe('lib/kernels/elementwise fast paths (WebAssembly, threads)', () => {
  const frng = new Random(77);
  const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38, 1, -1];

  /** Float32 data: mostly normal values, some special ones (signed zeros, NaN, infinities, subnormals, huge). */
  function f32(n: number, shared = false): Float32Array {
    const a = shared ? (allocate('float32', n) as Float32Array) : new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = frng.uniform() < 0.05 ? SPECIAL[frng.integer(0, SPECIAL.length)] : frng.normal() * 3;
    return a;
  }

  // Around the JS/WebAssembly threshold (64) and the staging chunk (8192).
  const LENGTHS = [0, 1, 3, 63, 64, 65, 1001, 8191, 8192, 8193, 20011];
  const ARITH: Array<['add' | 'sub' | 'mul' | 'div', (x: number, y: number) => number]> = [
    ['add', (x, y) => x + y], ['sub', (x, y) => x - y], ['mul', (x, y) => x * y], ['div', (x, y) => x / y],
  ];

  it('float32 relu and relu backward: WebAssembly equals the JS loops bit for bit, offsets and lengths included', () => {
    expect(ewWasm(), 'this engine runs the WebAssembly SIMD kernels').to.not.equal(null);
    for (const n of LENGTHS) {
      const x = f32(n + 5), gy = f32(n);
      for (const off of [0, 5]) {
        const js = withWasm(false, () => { const o = new Float32Array(n); unary('relu', x, off, o, n); return o; });
        const wa = withWasm(true, () => { const o = new Float32Array(n); unary('relu', x, off, o, n); return o; });
        expect(wa, `relu n=${n} off=${off}`).to.deep.equal(js);
        for (let i = 0; i < n; i++) {
          const v = x[off + i];
          if (Number.isNaN(v)) expect(wa[i]).to.be.NaN;
          else expect(Object.is(wa[i], v > 0 ? v : 0), `relu(${v})`).to.equal(true);
        }
      }
      const out = withWasm(false, () => { const o = new Float32Array(n); unary('relu', x, 0, o, n); return o; });
      const gjs = withWasm(false, () => { const g = new Float32Array(n); reluBackward(gy, out, g, n); return g; });
      const gwa = withWasm(true, () => { const g = new Float32Array(n); reluBackward(gy, out, g, n); return g; });
      expect(gwa, `relu backward n=${n}`).to.deep.equal(gjs);
      for (let i = 0; i < n; i++) {
        // threshold_backward: 0 where out <= 0, else gy (a NaN out passes gy).
        if (!(out[i] <= 0) && Number.isNaN(gy[i])) expect(gwa[i]).to.be.NaN;
        else expect(gwa[i]).to.equal(out[i] <= 0 ? 0 : gy[i]);
      }
    }
  });

  it('float32 same-shape add/sub/mul/div, accumulate and addInto: WebAssembly equals the JS loops and the rounded double result', () => {
    for (const n of LENGTHS) {
      const a = f32(n + 2), b = f32(n + 3);
      for (const [op, ref] of ARITH) {
        const run = (wasm: boolean): Float32Array => withWasm(wasm, () => {
          const o = new Float32Array(n);
          binary(op, [n], { storage: a, offset: 2, strides: [1] }, { storage: b, offset: 3, strides: [1] }, o);
          return o;
        });
        const js = run(false), wa = run(true);
        expect(wa, `${op} n=${n}`).to.deep.equal(js);
        for (let i = 0; i < n; i++) {
          const e = Math.fround(ref(a[i + 2], b[i + 3]));
          if (Number.isNaN(e)) expect(wa[i]).to.be.NaN;
          else expect(wa[i], `${op}(${a[i + 2]}, ${b[i + 3]})`).to.equal(e);
        }
      }
      const x = f32(n), y = f32(n);
      const sums = [false, true].map((wasm) => withWasm(wasm, () => { const o = new Float32Array(n); addInto(x, y, o, n); return o; }));
      expect(sums[1], `addInto n=${n}`).to.deep.equal(sums[0]);
      const accs = [false, true].map((wasm) => withWasm(wasm, () => { const d = x.slice(); accumulate(d, y, n); return d; }));
      expect(accs[1], `accumulate n=${n}`).to.deep.equal(accs[0]);
      expect(accs[1], 'accumulate is addInto in place').to.deep.equal(sums[1]);
    }
  });

  it('float64 contiguous ops keep their JS loops (exact double arithmetic)', () => {
    const n = 5000;
    const a = randArray(n), b = randArray(n).map((v) => v + 0.25);
    const o = new Float64Array(n), d = a.slice();
    binary('div', [n], { storage: a, offset: 0, strides: [1] }, { storage: b, offset: 0, strides: [1] }, o);
    accumulate(d, b, n);
    for (let i = 0; i < n; i++) {
      expect(o[i]).to.equal(a[i] / b[i]);
      expect(d[i]).to.equal(a[i] + b[i]);
    }
  });

  describe('with 2 threads', () => {
    useTwoThreads();

    /** Runs fn with 1 and then 2 threads; the 2-thread run must use a worker and match bit for bit. */
    function sameOnTwoThreads(what: string, fn: () => FloatArray): void {
      setNumThreads(1);
      const one = fn();
      setNumThreads(2);
      const sent = threadStats().partsSent;
      const two = fn();
      expect(threadStats().partsSent, `${what}: a worker took part`).to.be.greaterThan(sent);
      expect(two, what).to.deep.equal(one);
    }

    for (const dtype of ['float32', 'float64'] as const) {
      for (const wasm of dtype === 'float32' ? [true, false] : [false]) {
        it(`${dtype}${dtype === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: relu, relu backward, binary ops, addInto and accumulate are bit-identical to 1 thread`, () => {
          withWasm(wasm, () => {
            const n = 300007;
            const mk = (): FloatArray => {
              const t = allocate(dtype, n);
              const src = f32(n);
              for (let i = 0; i < n; i++) t[i] = src[i];
              return t;
            };
            const x = mk(), y = mk(), g = mk();
            sameOnTwoThreads('relu', () => { const o = allocate(dtype, n); unary('relu', x, 0, o, n); return o; });
            sameOnTwoThreads('relu backward', () => { const o = allocate(dtype, n); reluBackward(g, x, o, n); return o; });
            for (const [op] of ARITH) {
              sameOnTwoThreads(op, () => {
                const o = allocate(dtype, n - 1);
                binary(op, [n - 1], { storage: x, offset: 1, strides: [1] }, { storage: y, offset: 0, strides: [1] }, o);
                return o;
              });
            }
            sameOnTwoThreads('addInto', () => { const o = allocate(dtype, n); addInto(x, y, o, n); return o; });
            sameOnTwoThreads('accumulate', () => { const d = allocate(dtype, n); d.set(x); accumulate(d, y, n); return d; });
          });
        });
      }
    }
  });
});
