/**
 * WebAssembly SIMD128 kernels for the float32 elementwise and batch-norm loops of a training step
 * (relu and its backward, same-shape add/sub/mul/div, batch-norm statistics, normalisation and
 * gradient), generated at first use with our emitter (wasm_emitter.ts, wasm_simd.ts).
 *
 * Each thread owns one instance and its linear memory. Callers copy their operands into that
 * memory with TypedArray.set (a memcpy, ~10 GB/s here), run a kernel, and copy the result out;
 * elementwise ops go through in chunks that stay in L1/L2. Even with the two copies this beats a
 * JS loop several times over: V8 does not vectorise JS, and a JS typed-array loop costs ~3.5 ns per
 * element here, against well under 1 ns for copy-in + SIMD + copy-out.
 *
 * Every kernel computes exactly what the JS loop it replaces computes, bit for bit:
 *  - f32x4 add/sub/mul/div equal the JS double operation rounded to float32 (a double has more than
 *    2·24 + 2 significand bits, so the double rounding is harmless for these operations);
 *  - relu and its backward are lane selects with the JS loops' exact results (NaN kept, −0 → +0);
 *  - batch-norm arithmetic runs in f64 lanes operation by operation in the JS order (there is no
 *    fused multiply-add in wasm), and per-channel sums run as sequential f64 chains in (n, s) order,
 *    interleaving four channels so the additions' latency overlaps instead of reordering any sum.
 * Cost: copy-in + one pass per kernel + copy-out; the batch-norm passes reread data staged in cache.
 */
import { KernelInstance, lazyInstance, type WasmApi } from './wasm_api';
import { I32, F64, V128, ModuleBuilder, type FuncDef, type ValType } from './wasm_emitter';
import { Asm, Fn } from './wasm_simd';

// ------------------------------------------------------------------------------ code generation

/** `l += k` for an i32 local. */
function addImm(c: Asm, l: number, k: number): void {
  c.localGet(l).i32Const(k).i32Add().localSet(l);
}

/**
 * Emits `for (; nv != 0; nv--) { body; ptrs += 16 }` over 4-float vectors; body addresses each
 * operand through its pointer local with offset 0.
 */
function vectorLoop(c: Asm, nv: number, ptrs: readonly number[], body: () => void): void {
  c.block();
  c.localGet(nv).i32Eqz().brIf(0);
  c.loop();
  body();
  for (const p of ptrs) addImm(c, p, 16);
  c.localGet(nv).i32Const(1).i32Sub().localTee(nv).brIf(0);
  c.end();
  c.end();
}

/** relu(src, dst, nv): dst = src where src > 0 or src is NaN, else +0 (the JS relu's results). */
function emitRelu(): FuncDef {
  const f = new Fn('relu', [I32, I32, I32]);
  const [SRC, DST, NV] = [0, 1, 2];
  const v = f.local(V128);
  const c = f.c;
  vectorLoop(c, NV, [SRC, DST], () => {
    c.localGet(DST);
    c.localGet(SRC).v128Load().localTee(v);
    c.localGet(v).v128Zero().f32x4Gt();
    c.localGet(v).localGet(v).f32x4Ne();
    c.v128Or().v128And();
    c.v128Store();
  });
  return f.def();
}

/** reluBwd(gy, out, dst, nv): dst = out <= 0 ? +0 : gy + 0 (the JS float32 loop's results; a NaN out passes gy). */
function emitReluBackward(): FuncDef {
  const f = new Fn('reluBwd', [I32, I32, I32, I32]);
  const [G, O, DST, NV] = [0, 1, 2, 3];
  const c = f.c;
  vectorLoop(c, NV, [G, O, DST], () => {
    c.localGet(DST);
    c.localGet(G).v128Load();
    c.localGet(O).v128Load().v128Zero().f32x4Le();
    c.v128AndNot();
    c.v128Zero().f32x4Add();
    c.v128Store();
  });
  return f.def();
}

export type WasmBinaryOp = 'add' | 'sub' | 'mul' | 'div';

/** op(a, b, dst, nv): dst = a (op) b lane by lane. */
function emitBinary(op: WasmBinaryOp): FuncDef {
  const f = new Fn(op, [I32, I32, I32, I32]);
  const [A, B, DST, NV] = [0, 1, 2, 3];
  const c = f.c;
  vectorLoop(c, NV, [A, B, DST], () => {
    c.localGet(DST);
    c.localGet(A).v128Load();
    c.localGet(B).v128Load();
    if (op === 'add') c.f32x4Add();
    else if (op === 'sub') c.f32x4Sub();
    else if (op === 'mul') c.f32x4Mul();
    else c.f32x4Div();
    c.v128Store();
  });
  return f.def();
}

/**
 * Per-channel reductions over a staged block laid out [N][m][S] (float32). Each channel has f64
 * accumulators (in memory, one array per kind) that continue in (n, s) order, exactly the JS loop's
 * sequential sums. Channels go in pairs, one f64x2 lane each (element s of channels k and k+1 loaded
 * with load32_zero + load32_lane and promoted), `group` pairs at a time so that many independent
 * addition chains overlap; no sum is reordered. An odd last channel runs as a pair with a phantom
 * neighbour (it reads the next S floats, which callers leave readable, and its lane is not stored).
 * Params: the input block pointers, N, m, S, one f64 array per per-channel constant, one per
 * accumulator. `update` emits the update of one pair given the promoted inputs xs, constants cst and
 * accumulators acc (all v128 locals) and a scratch local t.
 */
interface ReduceSpec {
  name: string;
  inputs: number;
  consts: number;
  accs: number;
  update: (c: Asm, xs: readonly number[], cst: readonly number[], acc: readonly number[], t: number) => void;
  /** Pairs of channels per group (default 4). */
  group?: number;
}

function emitChannelReduce(spec: ReduceSpec): FuncDef {
  const { inputs, consts, accs } = spec;
  const G = spec.group ?? 4;
  const params: ValType[] = [];
  for (let i = 0; i < inputs + 3 + consts + accs; i++) params.push(I32);
  const f = new Fn(spec.name, params);
  const IN = Array.from({ length: inputs }, (_, i) => i);
  const N = inputs, M = inputs + 1, S = inputs + 2;
  const CST = Array.from({ length: consts }, (_, i) => inputs + 3 + i);
  const ACC = Array.from({ length: accs }, (_, i) => inputs + 3 + consts + i);
  const c = f.c;
  const k = f.local(I32), n = f.local(I32), e = f.local(I32), SB = f.local(I32), RB = f.local(I32);
  const p = IN.map(() => f.local(I32));
  const q = IN.map(() => f.local(I32));
  const off = [-1, ...Array.from({ length: 2 * G - 1 }, () => f.local(I32))];
  const xs = IN.map(() => f.local(V128));
  const t = f.local(V128);
  const cst = Array.from({ length: G }, () => CST.map(() => f.local(V128)));
  const acc = Array.from({ length: G }, () => ACC.map(() => f.local(V128)));
  const at = (arr: number, j: number): void => {
    c.localGet(arr).localGet(k).i32Const(3).i32Shl().i32Add();
    if (j > 0) c.i32Const(16 * j).i32Add();
  };

  c.localGet(S).i32Const(2).i32Shl().localSet(SB);
  c.localGet(M).localGet(SB).i32Mul().localSet(RB);
  for (let j = 1; j < 2 * G; j++) c.localGet(SB).i32Const(j).i32Mul().localSet(off[j]);
  c.i32Const(0).localSet(k);

  for (const width of [G, 1]) {
    c.block();
    c.loop();
    if (width === G) c.localGet(k).i32Const(2 * G).i32Add().localGet(M).i32GtU().brIf(1); // whole groups only
    else c.localGet(k).localGet(M).i32GeU().brIf(1);
    for (let j = 0; j < width; j++) {
      CST.forEach((arr, a) => { at(arr, j); c.v128Load().localSet(cst[j][a]); });
      ACC.forEach((arr, a) => { at(arr, j); c.v128Load().localSet(acc[j][a]); });
    }
    IN.forEach((_, i) => c.localGet(IN[i]).localGet(k).localGet(SB).i32Mul().i32Add().localSet(p[i]));
    c.localGet(N).localSet(n);
    c.loop(); // over n
    IN.forEach((_, i) => c.localGet(p[i]).localSet(q[i]));
    c.localGet(p[0]).localGet(SB).i32Add().localSet(e);
    c.loop(); // over s
    for (let j = 0; j < width; j++) {
      IN.forEach((_, i) => {
        c.localGet(q[i]);
        if (j > 0) c.localGet(off[2 * j]).i32Add();
        c.v128Load32Zero();
        c.localSet(xs[i]);
        c.localGet(q[i]).localGet(off[2 * j + 1]).i32Add().localGet(xs[i]).v128Load32Lane(1);
        c.f64x2PromoteLowF32x4().localSet(xs[i]);
      });
      spec.update(c, xs, cst[j], acc[j], t);
    }
    IN.forEach((_, i) => addImm(c, q[i], 4));
    c.localGet(q[0]).localGet(e).i32LtU().brIf(0);
    c.end();
    IN.forEach((_, i) => c.localGet(p[i]).localGet(RB).i32Add().localSet(p[i]));
    c.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(0);
    c.end();
    for (let j = 0; j < width; j++) {
      ACC.forEach((arr, a) => {
        if (width === G) {
          at(arr, j);
          c.localGet(acc[j][a]).v128Store();
        } else {
          c.localGet(k).i32Const(1).i32Add().localGet(M).i32LtU().if();
          at(arr, j);
          c.localGet(acc[j][a]).v128Store();
          c.else();
          at(arr, j);
          c.localGet(acc[j][a]).v128Store64Lane(0);
          c.end();
        }
      });
    }
    addImm(c, k, 2 * width);
    c.br(0);
    c.end();
    c.end();
  }
  return f.def();
}

/**
 * Per-channel elementwise map over a staged block [N][m][S], in place over the first input: with
 * per-channel f64 constants from arrays, `compute` turns f64 values of the inputs (locals vs) into
 * the result left on the stack. Four elements at a time (promoted to two f64x2 halves, demoted
 * and rejoined), then the last S mod 4 one by one in scalar f64, the same operations in the same
 * order.
 */
interface MapSpec {
  name: string;
  inputs: number;
  consts: number;
  compute: (c: Asm, vs: readonly number[], cst: readonly number[], scalar: boolean) => void;
}

const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
const JOIN_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

function emitChannelMap(spec: MapSpec): FuncDef {
  const { inputs, consts } = spec;
  const params: ValType[] = [];
  for (let i = 0; i < inputs + 3 + consts; i++) params.push(I32);
  const f = new Fn(spec.name, params);
  const IN = Array.from({ length: inputs }, (_, i) => i);
  const N = inputs, M = inputs + 1, S = inputs + 2;
  const CST = Array.from({ length: consts }, (_, i) => inputs + 3 + i);
  const c = f.c;
  const n = f.local(I32), k = f.local(I32), e = f.local(I32), e4 = f.local(I32), SB = f.local(I32);
  const q = IN.map(() => f.local(I32));
  const raw = IN.map(() => f.local(V128));
  const lo = IN.map(() => f.local(V128));
  const hi = IN.map(() => f.local(V128));
  const r = f.local(V128);
  const ss = IN.map(() => f.local(F64));
  const cv = CST.map(() => f.local(V128));
  const cs = CST.map(() => f.local(F64));

  c.localGet(S).i32Const(2).i32Shl().localSet(SB);
  IN.forEach((_, i) => c.localGet(IN[i]).localSet(q[i]));
  c.localGet(N).localSet(n);
  c.loop(); // over n
  c.i32Const(0).localSet(k);
  c.loop(); // over k
  CST.forEach((arr, a) => {
    c.localGet(arr).localGet(k).i32Const(3).i32Shl().i32Add().f64Load().localTee(cs[a]);
    c.f64x2Splat().localSet(cv[a]);
  });
  c.localGet(q[0]).localGet(SB).i32Add().localTee(e);
  c.i32Const(16).i32Sub().localSet(e4);
  // four at a time while q + 16 <= e
  c.block();
  c.loop();
  c.localGet(q[0]).localGet(e4).i32GtS().brIf(1);
  IN.forEach((_, i) => {
    c.localGet(q[i]).v128Load().localTee(raw[i]).f64x2PromoteLowF32x4().localSet(lo[i]);
    c.localGet(raw[i]).localGet(raw[i]).i8x16Shuffle(HIGH_HALF).f64x2PromoteLowF32x4().localSet(hi[i]);
  });
  spec.compute(c, lo, cv, false);
  c.f32x4DemoteF64x2Zero().localSet(r);
  c.localGet(q[0]);
  c.localGet(r);
  spec.compute(c, hi, cv, false);
  c.f32x4DemoteF64x2Zero();
  c.i8x16Shuffle(JOIN_LOW).v128Store();
  IN.forEach((_, i) => addImm(c, q[i], 16));
  c.br(0);
  c.end();
  c.end();
  // the last S mod 4 elements of the segment
  c.block();
  c.loop();
  c.localGet(q[0]).localGet(e).i32GeU().brIf(1);
  IN.forEach((_, i) => c.localGet(q[i]).f32Load().f64PromoteF32().localSet(ss[i]));
  c.localGet(q[0]);
  spec.compute(c, ss, cs, true);
  c.f32DemoteF64().f32Store();
  IN.forEach((_, i) => addImm(c, q[i], 4));
  c.br(0);
  c.end();
  c.end();
  c.localGet(k).i32Const(1).i32Add().localTee(k).localGet(M).i32LtU().brIf(0);
  c.end();
  c.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(0);
  c.end();
  return f.def();
}

function emitModule(): Uint8Array {
  const mb = new ModuleBuilder(1);
  mb.addFunction(emitRelu());
  mb.addFunction(emitReluBackward());
  for (const op of ['add', 'sub', 'mul', 'div'] as const) mb.addFunction(emitBinary(op));
  // a += x
  mb.addFunction(emitChannelReduce({
    name: 'chSum', inputs: 1, consts: 0, accs: 1,
    update: (c, xs, _cst, acc) => { c.localGet(acc[0]).localGet(xs[0]).f64x2Add().localSet(acc[0]); },
  }));
  // d = x − mean; a += d·d
  mb.addFunction(emitChannelReduce({
    name: 'chSqDev', inputs: 1, consts: 1, accs: 1,
    update: (c, xs, cst, acc, t) => {
      c.localGet(acc[0]);
      c.localGet(xs[0]).localGet(cst[0]).f64x2Sub().localTee(t).localGet(t).f64x2Mul();
      c.f64x2Add().localSet(acc[0]);
    },
  }));
  // g = gy; a += g; b += g·(x − mean)   (inputs: gy, x)
  mb.addFunction(emitChannelReduce({
    name: 'chGradSums', inputs: 2, consts: 1, accs: 2, group: 2,
    update: (c, xs, cst, acc) => {
      c.localGet(acc[0]).localGet(xs[0]).f64x2Add().localSet(acc[0]);
      c.localGet(acc[1]);
      c.localGet(xs[0]).localGet(xs[1]).localGet(cst[0]).f64x2Sub().f64x2Mul();
      c.f64x2Add().localSet(acc[1]);
    },
  }));
  // out = (x − mean)·scale + shift, in place
  mb.addFunction(emitChannelMap({
    name: 'chAffine', inputs: 1, consts: 3,
    compute: (c, vs, cst, scalar) => {
      c.localGet(vs[0]).localGet(cst[0]);
      if (scalar) c.f64Sub().localGet(cst[1]).f64Mul().localGet(cst[2]).f64Add();
      else c.f64x2Sub().localGet(cst[1]).f64x2Mul().localGet(cst[2]).f64x2Add();
    },
  }));
  // relu's backward with its mask recomputed from x: y = float32((x − mean)·scale + shift), the
  // forward's output before relu bit for bit; gy = y <= 0 ? +0 : gy + 0, in place over gy
  // (inputs: gy, x; consts: mean, scale, shift). A NaN y (relu's output is then NaN) passes gy, as
  // PyTorch's threshold_backward does.
  mb.addFunction(emitChannelMap({
    name: 'chReluMask', inputs: 2, consts: 3,
    compute: (c, vs, cst, scalar) => {
      if (scalar) {
        c.f64Const(0).localGet(vs[0]).f64Const(0).f64Add();
        c.localGet(vs[1]).localGet(cst[0]).f64Sub().localGet(cst[1]).f64Mul().localGet(cst[2]).f64Add();
        c.f32DemoteF64().f64PromoteF32().f64Const(0).f64Le().select();
      } else {
        c.localGet(vs[0]);
        c.localGet(vs[1]).localGet(cst[0]).f64x2Sub().localGet(cst[1]).f64x2Mul().localGet(cst[2]).f64x2Add();
        c.f32x4DemoteF64x2Zero().f64x2PromoteLowF32x4().v128Zero().f64x2Le();
        c.v128AndNot().v128Zero().f64x2Add();
      }
    },
  }));
  // gx = k·gy − a·(x − mean) − b, in place over gy   (inputs: gy, x; consts: mean, k, a, b)
  mb.addFunction(emitChannelMap({
    name: 'chGradInput', inputs: 2, consts: 4,
    compute: (c, vs, cst, scalar) => {
      if (scalar) {
        c.localGet(cst[1]).localGet(vs[0]).f64Mul();
        c.localGet(cst[2]).localGet(vs[1]).localGet(cst[0]).f64Sub().f64Mul();
        c.f64Sub().localGet(cst[3]).f64Sub();
      } else {
        c.localGet(cst[1]).localGet(vs[0]).f64x2Mul();
        c.localGet(cst[2]).localGet(vs[1]).localGet(cst[0]).f64x2Sub().f64x2Mul();
        c.f64x2Sub().localGet(cst[3]).f64x2Sub();
      }
    },
  }));
  return mb.build();
}

// ----------------------------------------------------------------------------------- instances

type Fn3 = (a: number, b: number, c: number) => void;
type Fn4 = (a: number, b: number, c: number, d: number) => void;
type FnN = (...args: number[]) => void;

const WHAT = 'wasm elementwise';

/** One thread's instance: its memory, float32/float64 views of it, and the kernels. */
export class EwWasm extends KernelInstance {
  readonly relu = this.fn<Fn3>(WHAT, 'relu');
  readonly reluBwd = this.fn<Fn4>(WHAT, 'reluBwd');
  readonly binary: Record<WasmBinaryOp, Fn4> = {
    add: this.fn<Fn4>(WHAT, 'add'), sub: this.fn<Fn4>(WHAT, 'sub'), mul: this.fn<Fn4>(WHAT, 'mul'), div: this.fn<Fn4>(WHAT, 'div'),
  };
  readonly chSum = this.fn<FnN>(WHAT, 'chSum');
  readonly chSqDev = this.fn<FnN>(WHAT, 'chSqDev');
  readonly chGradSums = this.fn<FnN>(WHAT, 'chGradSums');
  readonly chAffine = this.fn<FnN>(WHAT, 'chAffine');
  readonly chReluMask = this.fn<FnN>(WHAT, 'chReluMask');
  readonly chGradInput = this.fn<FnN>(WHAT, 'chGradInput');

  constructor(api: WasmApi, module: object) {
    super(api, module, 16);
  }
}

const instance = lazyInstance(emitModule, (api, module) => new EwWasm(api, module));
let enabled = true;

/** This thread's instance, or null when the engine lacks WebAssembly SIMD (callers use JS loops). */
export function ewWasm(): EwWasm | null {
  return enabled ? instance() : null;
}

/**
 * Turns the WebAssembly kernels off (false) or back on in this thread, so tests can compare them
 * with the JS loops; returns the previous setting.
 */
export function setWasmElementwise(on: boolean): boolean {
  const prev = enabled;
  enabled = on;
  return prev;
}

/** Rounds a byte count up to a multiple of 16 (v128 alignment). */
export function align16(bytes: number): number {
  return (bytes + 15) & ~15;
}

/** Whether kernels should take their WebAssembly path (set by setWasmElementwise; passed to workers). */
export function wasmElementwiseEnabled(): boolean {
  return enabled;
}

/** Below this many elements a piece is copied with a loop (cheaper than a subarray and a set). */
const SMALL_COPY = 32;

/** Copies src[srcOff, srcOff + len) to view[dst, dst + len). */
export function stageIn(view: Float32Array, dst: number, src: Float32Array, srcOff: number, len: number): void {
  if (len < SMALL_COPY) {
    for (let i = 0; i < len; i++) view[dst + i] = src[srcOff + i];
  } else {
    view.set(src.subarray(srcOff, srcOff + len), dst);
  }
}

/** Copies view[src, src + len) to dst[dstOff, dstOff + len). */
export function stageOut(view: Float32Array, src: number, dst: Float32Array, dstOff: number, len: number): void {
  if (len < SMALL_COPY) {
    for (let i = 0; i < len; i++) dst[dstOff + i] = view[src + i];
  } else {
    dst.set(view.subarray(src, src + len), dstOff);
  }
}
