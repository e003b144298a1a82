import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { allocate, DTYPES, isShared, type DType, type FloatArray } from '../../../lib/core/dtype';
import {
  adamUpdate, adamUpdateMany, sgdUpdate, sgdUpdateMany, type AdamStep, type SgdStep,
} from '../../../lib/kernels/optim_update';
import { optimWasm } from '../../../lib/kernels/wasm_optim';
import { Adam, AdamW } from '../../../lib/optim/adam';
import { SGD } from '../../../lib/optim/sgd';
import { setNumThreads, threadStats } from '../../../lib/platform/threads';
import { Random } from '../../../lib/random';
import { useTwoThreads, withWasm } from '../../support/kernel_modes';

const ROOT = path.resolve(__dirname, '../../..');
const rng = new Random(123);
const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1e-45, 3e38];

/** Values of `dtype`: mostly normal, a few special (signed zeros, NaN, infinities, subnormals, huge) unless `plain`. */
function values(dtype: DType, n: number, opts: { positive?: boolean; plain?: boolean } = {}): FloatArray {
  const a = allocate(dtype, n);
  for (let i = 0; i < n; i++) {
    const v = !opts.plain && rng.uniform() < 0.02 ? SPECIAL[rng.integer(0, SPECIAL.length)] : rng.normal();
    a[i] = opts.positive ? Math.abs(v) : v;
  }
  return a;
}

const copies = (arrays: readonly (FloatArray | null)[]): (FloatArray | null)[] => arrays.map((a) => (a === null ? null : a.slice()));

// Around the JS/WebAssembly threshold (256), the staging chunk (4096) and group-of-four tails.
const LENGTHS = [1, 7, 255, 256, 4097, 10003];

const SGD_CASES: SgdStep[] = [
  { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false },
  { lr: 0.05, momentum: 0, dampening: 0, nesterov: false, weightDecay: 1e-3, maximize: true },
  { lr: 0.01, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 5e-4, maximize: false },
  { lr: 0.01, momentum: 0.9, dampening: 0.25, nesterov: false, weightDecay: 0, maximize: false },
  { lr: 0.02, momentum: 0.5, dampening: 0, nesterov: true, weightDecay: 0, maximize: true },
  { lr: 0.02, momentum: 0.8, dampening: 0, nesterov: false, weightDecay: 1e-2, maximize: false },
];

function adamCases(): AdamStep[] {
  const out: AdamStep[] = [];
  for (const decoupled of [false, true]) {
    for (const weightDecay of [0, 1e-2]) {
      for (const beta1 of [0.9, 0.3]) {
        for (const amsgrad of [false, true]) {
          out.push({ lr: 1e-3, beta1, beta2: 0.999, eps: 1e-8, weightDecay, amsgrad, maximize: beta1 === 0.3, decoupled, step: amsgrad ? 1 : 7 });
        }
      }
    }
  }
  return out;
}

// The many-tensor forms cut a group into 4096-element pieces: lengths around that, empty ones, and
// enough in all (over 2·65536) for two threads to share the run.
const MANY_LENGTHS = [4097, 0, 1, 255, 4096, 140003, 4095, 0, 300];

/**
 * Runs the one-tensor and the many-tensor form of an update over the same group (fresh copies in
 * storage allocated now, so shared when threads are on) and expects every array to match bit for bit.
 */
function expectManyMatchesOne(dtype: DType, tag: string, arrays: number, nullable: (k: number, a: number) => boolean,
  one: (k: number, t: (FloatArray | null)[]) => void, many: (t: (FloatArray | null)[][]) => void): (FloatArray | null)[][] {
  const src = MANY_LENGTHS.map((n) => Array.from({ length: arrays }, (_, a) => (nullable(MANY_LENGTHS.indexOf(n), a) ? null
    : values(dtype, n, { positive: a >= 3 }))));
  const fresh = (): (FloatArray | null)[][] => src.map((list) => list.map((t) => {
    if (t === null) return null;
    const c = allocate(dtype, t.length);
    c.set(t);
    return c;
  }));
  const a = fresh(), b = fresh();
  a.forEach((t, k) => one(k, t));
  many(b);
  b.forEach((list, k) => list.forEach((t, i) => expect(t, `${tag}: tensor ${k} (length ${MANY_LENGTHS[k]}) array ${i}`).to.deep.equal(a[k][i])));
  return b;
}

function checkManyForms(dtype: DType): void {
  for (const h of SGD_CASES) {
    const first = MANY_LENGTHS.map((_, k) => h.momentum !== 0 && k % 2 === 0);
    expectManyMatchesOne(dtype, `SGD ${JSON.stringify(h)}`, 3, (_, a) => a === 2 && h.momentum === 0,
      (k, [x, g, buf]) => sgdUpdate(x!, g!, buf, first[k], h),
      (t) => sgdUpdateMany(t.map((l) => l[0]!), t.map((l) => l[1]!), t.map((l) => l[2]), first, h));
  }
  for (const h of adamCases()) {
    const steps = MANY_LENGTHS.map((_, k) => 1 + k * 3);
    expectManyMatchesOne(dtype, `Adam ${JSON.stringify(h)}`, 5, (_, a) => a === 4 && !h.amsgrad,
      (k, [x, g, m, v, vm]) => adamUpdate(x!, g!, m!, v!, vm, { ...h, step: steps[k] }),
      (t) => adamUpdateMany(t.map((l) => l[0]!), t.map((l) => l[1]!), t.map((l) => l[2]!), t.map((l) => l[3]!),
        t.map((l) => l[4]), steps, { ...h, step: 999 }));
  }
}

describe('lib/kernels/optim_update', () => {
  for (const dtype of DTYPES) {
    for (const wasm of dtype === 'float32' ? [true, false] : [false]) {
      it(`${dtype}${dtype === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: the many-tensor forms equal one update per tensor bit for bit`, () => {
        withWasm(wasm, () => checkManyForms(dtype));
      });
    }
  }

  it('the many-tensor forms reject lists that do not match, naming the kernel and the entry', () => {
    const x = [new Float32Array(5), new Float32Array(3)], g = [new Float32Array(5), new Float32Array(3)];
    const h = SGD_CASES[2];
    expect(() => sgdUpdateMany(x, [g[0]], [null, null], [false, false], SGD_CASES[0])).to.throw('sgdUpdateMany: g has 1 entries for 2 tensors');
    expect(() => sgdUpdateMany(x, g, [new Float32Array(5), new Float32Array(4)], [false, false], h))
      .to.throw('sgdUpdateMany: buf[1] has 4 elements but tensor 1 has 3');
    expect(() => sgdUpdateMany(x, g, [null, null], [false], SGD_CASES[0])).to.throw('sgdUpdateMany: first has 1 entries for 2 tensors');
    expect(() => sgdUpdateMany(x, g, [new Float32Array(5), null], [false, false], h))
      .to.throw('sgdUpdateMany: tensor 1 has no momentum buffer but momentum is 0.9');
    const a = adamCases()[0];
    expect(() => adamUpdateMany(x, g, x, [x[0], new Float32Array(2)], [null, null], [1, 1], a))
      .to.throw('adamUpdateMany: v[1] has 2 elements but tensor 1 has 3');
    expect(() => adamUpdateMany(x, g, x, x, [null, null], [1], a)).to.throw('adamUpdateMany: step has 1 entries for 2 tensors');
  });

  it('float32 SGD: WebAssembly equals the JS loop bit for bit in every variant', () => {
    expect(optimWasm(), 'this engine runs the WebAssembly SIMD kernels').to.not.equal(null);
    for (const h of SGD_CASES) {
      for (const n of LENGTHS) {
        for (const first of h.momentum === 0 ? [false] : [true, false]) {
          const x = values('float32', n), g = values('float32', n), buf = h.momentum === 0 ? null : values('float32', n);
          const run = (wasm: boolean): (FloatArray | null)[] => withWasm(wasm, () => {
            const [x2, g2, b2] = copies([x, g, buf]);
            sgdUpdate(x2!, g2!, b2, first, h);
            return [x2, b2];
          });
          const js = run(false), wa = run(true);
          const tag = `${JSON.stringify(h)} n=${n} first=${first}`;
          expect(wa[0], `${tag} x`).to.deep.equal(js[0]);
          expect(wa[1], `${tag} buf`).to.deep.equal(js[1]);
        }
      }
    }
  });

  it('float32 Adam and AdamW: WebAssembly equals the JS loop bit for bit in every variant', () => {
    for (const h of adamCases()) {
      for (const n of LENGTHS) {
        const x = values('float32', n), g = values('float32', n);
        const m = values('float32', n), v = values('float32', n, { positive: true }), vmax = h.amsgrad ? values('float32', n, { positive: true }) : null;
        const run = (wasm: boolean): (FloatArray | null)[] => withWasm(wasm, () => {
          const [x2, g2, m2, v2, vm2] = copies([x, g, m, v, vmax]);
          adamUpdate(x2!, g2!, m2!, v2!, vm2, h);
          return [x2, m2, v2, vm2];
        });
        const js = run(false), wa = run(true);
        ['x', 'm', 'v', 'vmax'].forEach((k, i) => expect(wa[i], `${JSON.stringify(h)} n=${n} ${k}`).to.deep.equal(js[i]));
      }
    }
  });

  it('without shared memory (no SharedArrayBuffer) the optimizer kernels run over an unshared memory, bit for bit the same', function () {
    this.timeout(60000);
    // A fresh process, since this one has built its modules for a shared memory already.
    const script = `
      delete globalThis.SharedArrayBuffer;
      const { sharedMemoryAvailable } = require('./lib/kernels/wasm_api');
      const { optimWasm } = require('./lib/kernels/wasm_optim');
      const { adamUpdate, sgdUpdate } = require('./lib/kernels/optim_update');
      const { setWasmElementwise } = require('./lib/kernels/wasm_elementwise');
      const n = 10003, x = new Float32Array(n), g = new Float32Array(n), m = new Float32Array(n), v = new Float32Array(n);
      for (let i = 0; i < n; i++) { x[i] = Math.sin(i); g[i] = Math.cos(3 * i); m[i] = Math.sin(7 * i) / 5; v[i] = Math.abs(Math.cos(i)) / 9; }
      const run = (wasm) => {
        setWasmElementwise(wasm);
        const a = [x.slice(), g.slice(), m.slice(), x.slice(), v.slice(), m.slice()];
        sgdUpdate(a[0], a[1], a[2], false, { lr: 0.01, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 5e-4, maximize: false });
        adamUpdate(a[3], a[1], a[5], a[4], null, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, decoupled: true, step: 3 });
        return a.map((t) => Array.from(t));
      };
      const js = run(false), wa = run(true);
      console.log(JSON.stringify({ available: sharedMemoryAvailable(), wasm: optimWasm() !== null,
        shared: optimWasm().f32.buffer.constructor.name, same: JSON.stringify(js) === JSON.stringify(wa),
        moved: js[0].some((t, i) => t !== x[i]) }));
    `;
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf-8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).to.deep.equal({ available: false, wasm: true, shared: 'ArrayBuffer', same: true, moved: true });
  });

  it('the optimizers give the same parameters over several steps with the WebAssembly kernels on or off', () => {
    const make = (): { data: FloatArray; grad: { data: FloatArray } | null }[] =>
      [10001, 300, 3].map((n) => ({ data: values('float32', n, { plain: true }), grad: null }));
    const start = make();
    const grads = Array.from({ length: 3 }, () => start.map((p) => values('float32', p.data.length, { plain: true })));
    const train = (wasm: boolean, which: 'sgd' | 'adam' | 'adamw'): FloatArray[] => withWasm(wasm, () => {
      const params = start.map((p) => ({ data: p.data.slice(), grad: null as { data: FloatArray } | null }));
      const opt = which === 'sgd' ? new SGD(params, { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 5e-4 })
        : which === 'adam' ? new Adam(params, { weightDecay: 1e-3, amsgrad: true }) : new AdamW(params, {});
      for (const gs of grads) {
        params.forEach((p, i) => { p.grad = { data: gs[i] }; });
        opt.step();
      }
      return params.map((p) => p.data);
    });
    for (const which of ['sgd', 'adam', 'adamw'] as const) {
      const js = train(false, which), wa = train(true, which);
      js.forEach((a, i) => expect(wa[i], `${which} parameter ${i}`).to.deep.equal(a));
      expect(js[0], `${which} moved the parameters`).to.not.deep.equal(start[0].data);
    }
  });

  describe('with 2 threads', () => {
    useTwoThreads();

    for (const dtype of DTYPES) {
      for (const wasm of dtype === 'float32' ? [true, false] : [false]) {
        it(`${dtype}${dtype === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: SGD and Adam updates are bit-identical to 1 thread`, () => {
          withWasm(wasm, () => {
            const n = 200003;
            const x = values(dtype, n), g = values(dtype, n), a = values(dtype, n), b = values(dtype, n, { positive: true });
            const c = values(dtype, n, { positive: true });
            const d = values(dtype, n), e = values(dtype, n), f = values(dtype, n, { positive: true });
            const run = (threads: number, fn: (arrays: FloatArray[]) => void): FloatArray[] => {
              setNumThreads(threads);
              const arrays = [x, g, a, b, c, d, e, f].map((t) => {
                const s = allocate(dtype, n);
                s.set(t);
                return s;
              });
              fn(arrays);
              return arrays;
            };
            const updates: Array<[string, (arrays: FloatArray[]) => void]> = [
              ['sgd', ([x2, g2, b2]) => sgdUpdate(x2, g2, b2, false, SGD_CASES[2])],
              ['adam', ([x2, g2, m2, v2, vm2]) => adamUpdate(x2, g2, m2, v2, vm2, adamCases()[3])],
            ];
            // Two tensors each (one gradient read by both; every written array its own).
            updates.push(
              ['sgd, many tensors', ([x2, g2, b2, m2, v2]) => sgdUpdateMany([x2, m2], [g2, g2], [b2, v2], [false, true], SGD_CASES[2])],
              ['adam, many tensors', ([x2, g2, m2, v2, vm2, x3, m3, v3]) => adamUpdateMany([x2, x3], [g2, g2], [m2, m3], [v2, v3],
                [vm2, null], [3, 1], adamCases()[3])],
            );
            for (const [what, fn] of updates) {
              const one = run(1, fn);
              const sent = threadStats().partsSent;
              const two = run(2, fn);
              expect(threadStats().partsSent, `${what}: a worker took part`).to.be.greaterThan(sent);
              two.forEach((t, i) => expect(t, `${what} array ${i}`).to.deep.equal(one[i]));
            }
          });
        });

        it(`${dtype}${dtype === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: the many-tensor forms run unshared arrays on the caller, with the same result`, () => {
          withWasm(wasm, () => {
            const n = 150001;
            const xs = [values(dtype, n), values(dtype, 7)], gs = [values(dtype, n), values(dtype, 7)];
            const unshared = xs.map((t) => (dtype === 'float32' ? new Float32Array(t) : new Float64Array(t)));
            expect(isShared(xs[0]), 'allocate() gives shared storage at 2 threads').to.equal(true);
            expect(isShared(unshared[0])).to.equal(false);
            const sent = threadStats().partsSent;
            sgdUpdateMany(unshared, gs, [null, null], [false, false], SGD_CASES[1]);
            expect(threadStats().partsSent, 'no part went to a worker').to.equal(sent);
            xs.forEach((x, k) => sgdUpdate(x, gs[k], null, false, SGD_CASES[1]));
            xs.forEach((x, k) => expect(unshared[k], `tensor ${k}`).to.deep.equal(x));
          });
        });

        it(`${dtype}${dtype === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: the many-tensor forms update tensors that share a buffer one after another`, () => {
          withWasm(wasm, () => {
            // Tensor 1's parameter is tensor 0's gradient: in order, tensor 0 reads it before it moves.
            const n = 150001;
            const p0 = values(dtype, n), shared = values(dtype, n), g1 = values(dtype, n);
            const b0 = values(dtype, n), b1 = values(dtype, n);
            const copy = (t: FloatArray): FloatArray => { const c = allocate(dtype, t.length); c.set(t); return c; };
            const seq = [copy(p0), copy(shared), copy(b0), copy(b1)];
            sgdUpdate(seq[0], seq[1], seq[2], false, SGD_CASES[2]);
            sgdUpdate(seq[1], g1, seq[3], false, SGD_CASES[2]);
            const many = [copy(p0), copy(shared), copy(b0), copy(b1)];
            sgdUpdateMany([many[0], many[1]], [many[1], g1], [many[2], many[3]], [false, false], SGD_CASES[2]);
            many.forEach((t, i) => expect(t, `array ${i}`).to.deep.equal(seq[i]));
          });
        });

        it(`${dtype}${dtype === 'float32' ? (wasm ? ' (WebAssembly)' : ' (JS loops)') : ''}: the many-tensor forms equal one update per tensor with a worker taking part`, () => {
          withWasm(wasm, () => {
            const sent = threadStats().partsSent;
            checkManyForms(dtype);
            expect(threadStats().partsSent, 'a worker took part').to.be.greaterThan(sent);
          });
        });
      }
    }
  });
});
