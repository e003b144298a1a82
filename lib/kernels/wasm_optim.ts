/**
 * WebAssembly SIMD128 kernels for the float32 optimizer updates (SGD, Adam/AdamW), generated at
 * first use with our emitter (wasm_emitter.ts, wasm_simd.ts). Each thread owns one instance.
 *
 * The JS loops of optim_update.ts compute each element in double and round to float32 when they
 * store; these kernels do the same in f64x2 lanes, operation by operation in the same order (wasm
 * has no fused multiply-add), and wherever a JS loop stores a value and reads it back they round it
 * through float32 too (demote, promote). Results are therefore bit-identical to the JS loops.
 * Layout: every operand is a float32 stream staged in this instance's memory; a kernel walks `nv`
 * groups of four elements (promoted to two f64x2 halves, computed, demoted, rejoined, stored in
 * place). Scalars arrive as f64 parameters.
 */
import { KernelInstance, lazyInstance, sharedMemoryAvailable, type WasmApi } from './wasm_api';
import { F64, I32, ModuleBuilder, V128, type FuncDef, type ValType } from './wasm_emitter';
import { Asm } from './wasm_simd';

const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
const JOIN_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/** What a map body gets: f64x2 locals of its input streams and constants, and scratch locals. */
interface MapBody {
  readonly c: Asm;
  readonly ins: readonly number[];
  readonly ks: readonly number[];
  /** Scratch v128 local number i (shared by the two halves, which are emitted one after the other). */
  tmp(i: number): number;
  /** Records that the local `l` holds the new value of stream `s` (stored after both halves). */
  result(s: number, l: number): void;
}

/**
 * fn(p0, ..., p{streams-1}, nv, k0, ..., k{consts-1}): for each of nv groups of four float32s,
 * `body` maps the promoted inputs to new values of some streams, which are stored back in place.
 * `outputs` lists the streams the body writes.
 */
function emitMap4(name: string, streams: number, consts: number, outputs: readonly number[], body: (b: MapBody) => void): FuncDef {
  const params: ValType[] = [];
  for (let i = 0; i < streams + 1; i++) params.push(I32);
  for (let i = 0; i < consts; i++) params.push(F64);
  const locals: ValType[] = [];
  let next = params.length;
  const local = (t: ValType): number => {
    locals.push(t);
    return next++;
  };
  const c = new Asm();
  const NV = streams;
  const raw = Array.from({ length: streams }, () => local(V128));
  const lo = Array.from({ length: streams }, () => local(V128));
  const hi = Array.from({ length: streams }, () => local(V128));
  const ks = Array.from({ length: consts }, () => local(V128));
  const resLo = Array.from({ length: streams }, () => local(V128));
  const scratch: number[] = [];
  const tmp = (i: number): number => {
    while (scratch.length <= i) scratch.push(local(V128));
    return scratch[i];
  };
  for (let i = 0; i < consts; i++) c.localGet(streams + 1 + i).f64x2Splat().localSet(ks[i]);
  c.block();
  c.localGet(NV).i32Eqz().brIf(0);
  c.loop();
  for (let s = 0; s < streams; s++) {
    c.localGet(s).v128Load().localTee(raw[s]).f64x2PromoteLowF32x4().localSet(lo[s]);
    c.localGet(raw[s]).localGet(raw[s]).i8x16Shuffle(HIGH_HALF).f64x2PromoteLowF32x4().localSet(hi[s]);
  }
  // Low half: results are copied to resLo so the high half may reuse scratch locals.
  const got = new Map<number, number>();
  body({ c, ins: lo, ks, tmp, result: (s, l) => got.set(s, l) });
  for (const s of outputs) {
    const l = got.get(s);
    if (l === undefined) throw new Error(`wasm optim ${name}: body gave no result for stream ${s}`);
    c.localGet(l).localSet(resLo[s]);
  }
  got.clear();
  body({ c, ins: hi, ks, tmp, result: (s, l) => got.set(s, l) });
  for (const s of outputs) {
    c.localGet(s);
    c.localGet(resLo[s]).f32x4DemoteF64x2Zero();
    c.localGet(got.get(s)!).f32x4DemoteF64x2Zero();
    c.i8x16Shuffle(JOIN_LOW).v128Store();
  }
  for (let s = 0; s < streams; s++) c.localGet(s).i32Const(16).i32Add().localSet(s);
  c.localGet(NV).i32Const(1).i32Sub().localTee(NV).brIf(0);
  c.end();
  c.end();
  return { name, params, results: [], locals, code: c };
}

/** Rounds the f64x2 on the stack to float32 and back (a JS store into a Float32Array and a reload). */
function round32(c: Asm): void {
  c.f32x4DemoteF64x2Zero().f64x2PromoteLowF32x4();
}

export type SgdMode = 'none' | 'first' | 'next';

export function sgdKernelName(weightDecay: boolean, mode: SgdMode, nesterov: boolean): string {
  return `sgd_${weightDecay ? 'wd' : 'nowd'}_${mode}${mode !== 'none' && nesterov ? '_nesterov' : ''}`;
}

/**
 * SGD over streams x (0), g (1) and, with momentum, buf (2); constants sign (±1 for maximize),
 * weightDecay, momentum, keep (1 − dampening), negLr. Per element, as the JS loop:
 *   d = g·sign; [d = d + wd·x]; buf = d (first) or buf·μ + keep·d (next), stored;
 *   d = d + μ·buf (nesterov) or buf; x = x + negLr·d.
 * (g·±1 is exactly ±g, so maximize needs no variant of its own.)
 */
function emitSgd(weightDecay: boolean, mode: SgdMode, nesterov: boolean): FuncDef {
  const streams = mode === 'none' ? 2 : 3;
  const outputs = mode === 'none' ? [0] : [0, 2];
  return emitMap4(sgdKernelName(weightDecay, mode, nesterov), streams, 5, outputs, ({ c, ins, ks, tmp, result }) => {
    const [X, G, B] = ins;
    const [SIGN, WD, MOM, KEEP, NEGLR] = ks;
    const d = tmp(0), bufNew = tmp(1), bufR = tmp(2), xNew = tmp(3);
    c.localGet(G).localGet(SIGN).f64x2Mul().localSet(d);
    if (weightDecay) c.localGet(d).localGet(WD).localGet(X).f64x2Mul().f64x2Add().localSet(d);
    if (mode !== 'none') {
      if (mode === 'first') c.localGet(d).localSet(bufNew);
      else c.localGet(B).localGet(MOM).f64x2Mul().localGet(KEEP).localGet(d).f64x2Mul().f64x2Add().localSet(bufNew);
      result(2, bufNew);
      c.localGet(bufNew);
      round32(c);
      c.localSet(bufR);
      if (nesterov) c.localGet(d).localGet(MOM).localGet(bufR).f64x2Mul().f64x2Add().localSet(d);
      else c.localGet(bufR).localSet(d);
    }
    c.localGet(X).localGet(NEGLR).localGet(d).f64x2Mul().f64x2Add().localSet(xNew);
    result(0, xNew);
  });
}

export type AdamDecay = 'none' | 'l2' | 'decoupled';

export function adamKernelName(decay: AdamDecay, amsgrad: boolean): string {
  return `adam_${decay}${amsgrad ? '_amsgrad' : ''}`;
}

/**
 * Adam/AdamW over streams x (0), g (1), m (2), v (3) and, with amsgrad, vmax (4); constants sign,
 * decay (1 − lr·wd), weightDecay, β1, c1 (1 − β1), β2, c2 (1 − β2), sqrt(bias2), eps,
 * negStepSize. Per element, as the JS loop (each stored value re-read rounded):
 *   [x = x·decay, stored]; gr = g·sign; [gr = gr + wd·x]; m = m·β1 + c1·gr, stored;
 *   v = v·β2 + c2·gr·gr, stored; [vmax = max(vmax, v), stored; v̂ = vmax]; denom = sqrt(v̂)/√bias2 + eps;
 *   x = x + (negStepSize·m)/denom.
 */
function emitAdam(decay: AdamDecay, amsgrad: boolean): FuncDef {
  const streams = amsgrad ? 5 : 4;
  const outputs = amsgrad ? [0, 2, 3, 4] : [0, 2, 3];
  return emitMap4(adamKernelName(decay, amsgrad), streams, 10, outputs, ({ c, ins, ks, tmp, result }) => {
    const [X, G, M, V, VMAX] = ins;
    const [SIGN, DECAY, WD, B1, C1, B2, C2, BC2, EPS, NEGSTEP] = ks;
    const x = tmp(0), gr = tmp(1), mNew = tmp(2), vNew = tmp(3), vhat = tmp(4), vmaxNew = tmp(5), denom = tmp(6), xNew = tmp(7), mR = tmp(8);
    if (decay === 'decoupled') {
      c.localGet(X).localGet(DECAY).f64x2Mul();
      round32(c);
      c.localSet(x);
    } else {
      c.localGet(X).localSet(x);
    }
    c.localGet(G).localGet(SIGN).f64x2Mul().localSet(gr);
    if (decay === 'l2') c.localGet(gr).localGet(WD).localGet(x).f64x2Mul().f64x2Add().localSet(gr);
    // m·β1 + c1·gr (torch 1.13's mul_ then add_)
    c.localGet(M).localGet(B1).f64x2Mul().localGet(C1).localGet(gr).f64x2Mul().f64x2Add().localSet(mNew);
    result(2, mNew);
    c.localGet(mNew);
    round32(c);
    c.localSet(mR);
    // v·β2 + (c2·gr)·gr
    c.localGet(V).localGet(B2).f64x2Mul().localGet(C2).localGet(gr).f64x2Mul().localGet(gr).f64x2Mul().f64x2Add().localSet(vNew);
    result(3, vNew);
    c.localGet(vNew);
    round32(c);
    c.localSet(vhat);
    if (amsgrad) {
      c.localGet(VMAX).localGet(vhat).f64x2Max().localSet(vmaxNew);
      result(4, vmaxNew);
      c.localGet(vmaxNew);
      round32(c);
      c.localSet(vhat);
    }
    c.localGet(vhat).f64x2Sqrt().localGet(BC2).f64x2Div().localGet(EPS).f64x2Add().localSet(denom);
    c.localGet(x).localGet(NEGSTEP).localGet(mR).f64x2Mul().localGet(denom).f64x2Div().f64x2Add().localSet(xNew);
    result(0, xNew);
  });
}

/**
 * The optimizer's memory is shared where the engine allows it. An update streams every parameter,
 * gradient and state buffer through 16 KB stagings, and TypedArray set() between two unshared
 * buffers is the C library's memmove, which on this machine runs at a third of its speed when the
 * destination sits 1-63 bytes past the source modulo 4096 (4K aliasing: 25 against 7 ms to copy
 * 45 MB out of a kernel memory in 16 KB pieces). Where the allocator put a tensor decides that
 * distance, and JS cannot see it; at one thread, tensors are plain buffers and SGD's step on
 * ResNet18 (11.2 M parameters) took 82 ms where it takes 50 with a shared memory. With a
 * SharedArrayBuffer on either side V8 copies with its own word loop, 7-10 ms whatever the distance
 * (the staging offsets are multiples of 16 KB from 8-byte aligned starts, as its word copies need).
 * The other kernel memories stay unshared: their stagings are mostly in cache, where memmove is
 * the faster copy (a 1-thread ResNet18 backward measured 1-8% slower with every memory shared).
 */
function sharedOptimMemory(): boolean {
  return sharedMemoryAvailable();
}

function emitModule(): Uint8Array {
  const mb = new ModuleBuilder(1, sharedOptimMemory());
  for (const wd of [false, true]) {
    mb.addFunction(emitSgd(wd, 'none', false));
    for (const mode of ['first', 'next'] as const) for (const nesterov of [false, true]) mb.addFunction(emitSgd(wd, mode, nesterov));
  }
  for (const decay of ['none', 'l2', 'decoupled'] as const) {
    for (const ams of [false, true]) mb.addFunction(emitAdam(decay, ams));
  }
  return mb.build();
}

// ----------------------------------------------------------------------------------- instances

export type OptimKernel = (...args: number[]) => void;

/** One thread's optimizer instance: memory, a float32 view of it, kernels by name. */
export class OptimWasm extends KernelInstance {
  constructor(api: WasmApi, module: object) {
    super(api, module, 1, sharedOptimMemory());
  }

  kernel(name: string): OptimKernel {
    return this.fn<OptimKernel>('wasm optim', name);
  }
}

/** This thread's instance, or null without WebAssembly SIMD (callers use the JS loops). */
export const optimWasm = lazyInstance(emitModule, (api, module) => new OptimWasm(api, module));
