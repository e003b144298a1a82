/**
 * WebAssembly SIMD128 macro-kernels for the packed GEMM (packed_gemm.ts), generated at first use
 * with our own emitter (wasm_emitter.ts). Each thread has its own instance and linear memory; JS
 * (or the wasm packers of wasm_pack.ts, in the same module) packs A and B panels into that memory,
 * the kernel runs every MR×NR tile of a block, and the finished C block is copied out (see
 * packed_gemm.ts for the panel format: A panels [k][MR], B panels [k][NR], C block row-major).
 *
 * Micro-kernel (float32 4×8, float64 4×4): the MR·NR/lanes accumulators are v128 locals; each k
 * step loads NR/lanes vectors of the B panel and broadcasts each of the MR A values with
 * v128.load32_splat (load64_splat), then does acc += a·b. Float32 uses f32x4.relaxed_madd where the
 * engine has relaxed SIMD (Node 20 behind a flag the thread pool sets, lib/platform/wasm_tiering.ts):
 * V8 emits a fused multiply-add on CPUs with FMA, which ran the 1024³ matmul 16–19% faster here than
 * mul + add (one instruction instead of two; the product is not rounded before the sum). Elsewhere,
 * and for float64, it is mul + add, exactly as the scalar reference in float32. Either way each element
 * is summed in k order, starting from the C block when loadC is set, and every thread of a process
 * compiles the same kernel, so results do not depend on the thread split.
 * Why 4×8: V8 keeps 15 xmm registers for wasm and hoists the MR splats, so 8 accumulators + 2 B
 * vectors + 4 splats + 1 product is the largest tile without spills (measured, kernel alone on this
 * machine: 4×8 ≈ 25 GFLOP/s, 2×16 ≈ 25, 4×12 ≈ 19, 6×8 ≈ 18, 8×8 ≈ 9). Unrolling k by hand made
 * V8 hoist more loads and spill (4×8 unrolled ×2: 17 GFLOP/s), so the loop is left to V8, which
 * unrolls it itself.
 * Cost per tile: 2·MR·NR·kc flops, NR/lanes + MR loads per k step.
 *
 * macroAt (float32 with the packers only) is the same kernel reading B where it lies instead of from
 * packed panels: B(k, j..j+NR) = mem[panel[j/NR] + tap[k]], NR consecutive floats, where panel is a
 * table of byte addresses (one per B panel) and tap a table of byte offsets (one per k). A stride-1
 * conv's staged, zero-padded image holds each B panel of im2col that way (NR pixels of one output
 * row, each tap a fixed shift), so such a conv skips packing B and its copy through the cache. The
 * loads, the multiply-adds and their order are the macro's, so C is bit-identical to packing first.
 * One more load and add per k step (the tap offset) costs little: 30.5 against 30.6 GFLOP/s for a
 * 16×144 by 144×512 block alone, about 3% inside the CIFAR recipe's convs.
 */
import type { FloatArray } from '../core/dtype';
import type { MicroBackend } from './packed_gemm';
import { Code, I32, ModuleBuilder, V128, type FuncDef, type ValType } from './wasm_emitter';
import { emitPackFunctions } from './wasm_pack';
import { emitWinogradFunctions } from './wasm_winograd';
import { engineRejected, reserveMemory, WasmUnavailable, wasmApi, type WasmMemoryLike } from './wasm_api';

export interface WasmKernelSpec {
  /** 4 for float32 (f32x4), 2 for float64 (f64x2). */
  lanes: 4 | 2;
  mr: number;
  /** A multiple of lanes. */
  nr: number;
  /** k steps per loop iteration. */
  unroll: number;
  /** Float32 only: accumulate with f32x4.relaxed_madd (needs relaxed SIMD) instead of mul + add. */
  fma?: boolean;
}

type MacroFn = (ap: number, bp: number, cb: number, ldc: number,
  mPanels: number, nPanels: number, kc: number, loadC: number) => void;
type MacroAtFn = (ap: number, panels: number, taps: number, cb: number, ldc: number,
  mPanels: number, nPanels: number, kc: number, loadC: number) => void;
type PackFn = (dst: number, img: number, kTab: number, kc: number, arg: number) => void;
type PanelsFn = (dst: number, img: number, kTab: number, kc: number, desc: number, n: number) => void;
type PadFn = (padded: number, raw: number, planes: number, H: number, W: number, ph: number, pw: number) => void;
type Col2imFn = (cb: number, ld: number, rows: number, acc: number, tapTab: number, nPix: number, pixTab: number) => void;
type WgInFn = (src: number, C: number, R: number, G: number, rowB: number, planeB: number, dst: number, panelB: number, xiB: number,
  chanB: number, K: number, imgB: number) => void;
type WgGradFn = (src: number, R: number, G: number, rowB: number, planeB: number, O: number, dst: number, ldB: number, xiB: number,
  K: number, imgB: number) => void;
type WgPackFn = (src: number, ldB: number, rows4: number, T: number, dst: number) => void;
type WgUFn = (src: number, Oc: number, Ci: number, soB: number, scB: number, dst: number, xsB: number) => void;
type WgOutFn = (m: number, ldcB: number, xiB: number, O: number, R: number, G: number, bias: number, y: number, owB: number, ochB: number,
  K: number, yImgB: number) => void;

/** The float32 backend's panel packers (wasm_pack.ts), for operands that stage images in its memory. */
export interface WasmPackers {
  readonly gather: PackFn;
  readonly rows1: PackFn;
  readonly rows2: PackFn;
  readonly col2im: Col2imFn;
  readonly panels: PanelsFn;
  readonly gatherA: PackFn;
  readonly pad: PadFn;
  readonly unpad: PadFn;
  readonly gatherT: PackFn;
  readonly gatherTA: PackFn;
  /** The Winograd F(2×2, 3×3) transforms of wasm_winograd.ts. */
  readonly wgIn: WgInFn;
  readonly wgOut: WgOutFn;
  readonly wgIn4: WgInFn;
  readonly wgOut4: WgOutFn;
  readonly wgGrad: WgGradFn;
  readonly wgGrad4: WgGradFn;
  readonly wgPackA: WgPackFn;
  readonly wgPackB: WgPackFn;
  readonly wgU: WgUFn;
  readonly wgUFlip: WgUFn;
}

export function wasmPackersOf(be: MicroBackend): WasmPackers | null {
  return be instanceof WasmBackend ? be.packers : null;
}

/** The kernel module: macro (below) and, for float32, the conv panel packers of wasm_pack.ts. */
export function emitMacroKernel(spec: WasmKernelSpec): Uint8Array {
  const mb = new ModuleBuilder(1);
  mb.addFunction(emitMacro(spec, false));
  if (hasPackers(spec)) for (const f of emitPackFunctions(spec.nr, spec.mr, 1)) mb.addFunction(f);
  if (hasMacroAt(spec)) mb.addFunction(emitMacro(spec, true));
  if (hasPackers(spec)) for (const f of emitWinogradFunctions()) mb.addFunction(f);
  return mb.build();
}

function hasPackers(spec: WasmKernelSpec): boolean {
  return spec.lanes === 4 && spec.nr % 4 === 0;
}

function hasMacroAt(spec: WasmKernelSpec): boolean {
  return hasPackers(spec) && spec.unroll === 1;
}

/**
 * macro(ap, bp, cb, ldcBytes, mPanels, nPanels, kc, loadC) over byte addresses, or with `at`
 * macroAt(ap, panels, taps, cb, ldcBytes, mPanels, nPanels, kc, loadC); see the header.
 */
function emitMacro(spec: WasmKernelSpec, at: boolean): FuncDef {
  const { lanes, mr, nr, unroll: U } = spec;
  if (at && U !== 1) throw new Error('emitMacroKernel: macroAt is built for unroll 1 only');
  if (nr % lanes !== 0) throw new Error(`emitMacroKernel: nr ${nr} is not a multiple of ${lanes} lanes`);
  const es = lanes === 4 ? 4 : 8;
  const nv = nr / lanes;
  const c = new Code();
  const splat = (off: number): Code => (lanes === 4 ? c.v128Load32Splat(off) : c.v128Load64Splat(off));
  const mul = (): Code => (lanes === 4 ? c.f32x4Mul() : c.f64x2Mul());
  const add = (): Code => (lanes === 4 ? c.f32x4Add() : c.f64x2Add());
  const fma = spec.fma === true;
  if (fma && lanes !== 4) throw new Error('emitMacroKernel: fma is for the float32 kernel only');

  // macroAt: BP is the panel table and TAPS the tap table; the rest shift up by one.
  const AP = 0, BP = 1, TAPS = 2, CB = at ? 3 : 2, LDC = CB + 1, MP = CB + 2, NP = CB + 3, KC = CB + 4, LOADC = CB + 5;
  const locals: ValType[] = [];
  let next = LOADC + 1;
  const local = (t: ValType): number => {
    locals.push(t);
    return next++;
  };
  const JP = local(I32), IP = local(I32), A = local(I32), B = local(I32), Cp = local(I32), K = local(I32);
  const APANEL = local(I32), BPANEL = local(I32), CPANEL = local(I32), CROW = local(I32);
  const ASTRIDE = local(I32), BSTRIDE = local(I32), CSTEP = local(I32), TP = local(I32), PB = local(I32);
  const acc: number[][] = [];
  for (let r = 0; r < mr; r++) {
    acc.push([]);
    for (let v = 0; v < nv; v++) acc[r].push(local(V128));
  }
  const bv: number[] = [];
  for (let v = 0; v < nv; v++) bv.push(local(V128));
  const S = local(V128);

  const addConst = (l: number, k: number): void => {
    c.localGet(l).i32Const(k).i32Add().localSet(l);
  };
  const step = (u: number): void => {
    for (let v = 0; v < nv; v++) c.localGet(B).v128Load((u * nr + v * lanes) * es).localSet(bv[v]);
    for (let r = 0; r < mr; r++) {
      c.localGet(A);
      splat((u * mr + r) * es).localSet(S);
      for (let v = 0; v < nv; v++) {
        if (fma) {
          c.localGet(S).localGet(bv[v]).localGet(acc[r][v]).f32x4RelaxedMadd();
        } else {
          c.localGet(acc[r][v]).localGet(S).localGet(bv[v]);
          mul();
          add();
        }
        c.localSet(acc[r][v]);
      }
    }
  };

  c.localGet(KC).i32Const(mr * es).i32Mul().localSet(ASTRIDE);
  c.localGet(KC).i32Const(nr * es).i32Mul().localSet(BSTRIDE);
  c.localGet(LDC).i32Const(mr).i32Mul().localSet(CSTEP);
  c.localGet(NP).localSet(JP).localGet(BP).localSet(BPANEL).localGet(CB).localSet(CPANEL);
  c.loop(); // over B panels
  {
    // macroAt: BPANEL walks the panel table; B is the panel's address plus each k's tap offset.
    if (at) c.localGet(BPANEL).i32Load().localSet(PB);
    c.localGet(MP).localSet(IP).localGet(AP).localSet(APANEL).localGet(CPANEL).localSet(Cp);
    c.loop(); // over A panels
    {
      c.localGet(APANEL).localSet(A);
      if (at) c.localGet(TAPS).localSet(TP);
      else c.localGet(BPANEL).localSet(B);
      c.localGet(LOADC).if();
      c.localGet(Cp).localSet(CROW);
      for (let r = 0; r < mr; r++) {
        for (let v = 0; v < nv; v++) c.localGet(CROW).v128Load(v * 16).localSet(acc[r][v]);
        if (r < mr - 1) c.localGet(CROW).localGet(LDC).i32Add().localSet(CROW);
      }
      c.else();
      for (let r = 0; r < mr; r++) for (let v = 0; v < nv; v++) c.v128Zero().localSet(acc[r][v]);
      c.end();

      if (at) {
        c.localGet(APANEL).localGet(ASTRIDE).i32Add().localSet(K);
        c.loop();
        c.localGet(TP).i32Load().localGet(PB).i32Add().localSet(B);
        step(0);
        addConst(TP, 4);
        c.localGet(A).i32Const(mr * es).i32Add().localTee(A).localGet(K).i32LtU().brIf(0);
        c.end();
      } else if (U === 1) {
        c.localGet(APANEL).localGet(ASTRIDE).i32Add().localSet(K);
        c.loop();
        step(0);
        addConst(B, nr * es);
        c.localGet(A).i32Const(mr * es).i32Add().localTee(A).localGet(K).i32LtU().brIf(0);
        c.end();
      } else {
      c.localGet(KC).localSet(K);
      c.block();
      c.localGet(K).i32Const(U).i32LtS().brIf(0);
      c.loop();
      for (let u = 0; u < U; u++) step(u);
      addConst(A, U * mr * es);
      addConst(B, U * nr * es);
      addConst(K, -U);
      c.localGet(K).i32Const(U).i32GeS().brIf(0);
      c.end();
      c.end();

      c.block();
      c.localGet(K).i32Eqz().brIf(0);
      c.loop();
      step(0);
      addConst(A, mr * es);
      addConst(B, nr * es);
      addConst(K, -1);
      c.localGet(K).brIf(0);
      c.end();
      c.end();
      }

      c.localGet(Cp).localSet(CROW);
      for (let r = 0; r < mr; r++) {
        for (let v = 0; v < nv; v++) c.localGet(CROW).localGet(acc[r][v]).v128Store(v * 16);
        if (r < mr - 1) c.localGet(CROW).localGet(LDC).i32Add().localSet(CROW);
      }
      c.localGet(APANEL).localGet(ASTRIDE).i32Add().localSet(APANEL);
      c.localGet(Cp).localGet(CSTEP).i32Add().localSet(Cp);
      addConst(IP, -1);
      c.localGet(IP).brIf(0);
    }
    c.end();
    if (at) addConst(BPANEL, 4);
    else c.localGet(BPANEL).localGet(BSTRIDE).i32Add().localSet(BPANEL);
    addConst(CPANEL, nr * es);
    addConst(JP, -1);
    c.localGet(JP).brIf(0);
  }
  c.end();

  const params: ValType[] = new Array<ValType>(LOADC + 1).fill(I32);
  return { name: at ? 'macroAt' : 'macro', params, results: [], locals, code: c };
}


/** A backend owning one wasm instance and its memory (one per thread). */
class WasmBackend implements MicroBackend {
  readonly mr: number;
  readonly nr: number;
  private readonly memory: WasmMemoryLike;
  private readonly fn: MacroFn;
  readonly packers: WasmPackers | null;
  readonly macroAt?: MicroBackend['macroAt'];
  private view: Float32Array | Float64Array;
  private readonly es: number;

  constructor(
    readonly name: string, spec: WasmKernelSpec,
    readonly kc: number, readonly mc: number, readonly nc: number,
  ) {
    const api = wasmApi();
    if (api === undefined) throw new WasmUnavailable('wasm gemm');
    this.mr = spec.mr;
    this.nr = spec.nr;
    this.es = spec.lanes === 4 ? 4 : 8;
    this.memory = new api.Memory({ initial: 16 });
    const instance = new api.Instance(new api.Module(emitMacroKernel(spec)), { env: { mem: this.memory } });
    this.fn = instance.exports.macro as MacroFn;
    if (hasMacroAt(spec)) {
      const at = instance.exports.macroAt as MacroAtFn;
      this.macroAt = (_S, ap, panels, taps, cb, ldc, mPanels, nPanels, kc, loadC) =>
        at(ap * 4, panels * 4, taps * 4, cb * 4, ldc * 4, mPanels, nPanels, kc, loadC ? 1 : 0);
    }
    this.packers = hasPackers(spec) ? {
      gather: instance.exports.gather as PackFn,
      rows1: instance.exports.rows1 as PackFn,
      rows2: instance.exports.rows2 as PackFn,
      col2im: instance.exports.col2im as Col2imFn,
      panels: instance.exports.panels as PanelsFn,
      gatherA: instance.exports.gatherA as PackFn,
      pad: instance.exports.pad as PadFn,
      unpad: instance.exports.unpad as PadFn,
      gatherT: instance.exports.gatherT as PackFn,
      gatherTA: instance.exports.gatherTA as PackFn,
      wgIn: instance.exports.wgIn as WgInFn,
      wgOut: instance.exports.wgOut as WgOutFn,
      wgIn4: instance.exports.wgIn4 as WgInFn,
      wgOut4: instance.exports.wgOut4 as WgOutFn,
      wgGrad: instance.exports.wgGrad as WgGradFn,
      wgGrad4: instance.exports.wgGrad4 as WgGradFn,
      wgPackA: instance.exports.wgPackA as WgPackFn,
      wgPackB: instance.exports.wgPackB as WgPackFn,
      wgU: instance.exports.wgU as WgUFn,
      wgUFlip: instance.exports.wgUFlip as WgUFn,
    } : null;
    this.view = this.makeView();
  }

  private makeView(): Float32Array | Float64Array {
    return this.es === 4 ? new Float32Array(this.memory.buffer) : new Float64Array(this.memory.buffer);
  }

  reserve(n: number): FloatArray {
    const bytes = n * this.es;
    if (reserveMemory(this.memory, bytes) || this.view.buffer !== this.memory.buffer) this.view = this.makeView();
    return this.view;
  }

  macro(_S: FloatArray, ap: number, bp: number, cb: number, ldc: number,
    mPanels: number, nPanels: number, kc: number, loadC: boolean): void {
    const es = this.es;
    this.fn(ap * es, bp * es, cb * es, ldc * es, mPanels, nPanels, kc, loadC ? 1 : 0);
  }
}

/** Builds a backend for one kernel shape and block sizes (the benchmark compares several). */
export function createWasmBackend(spec: WasmKernelSpec, kc: number, mc: number, nc: number): MicroBackend {
  const name = `wasm-${spec.lanes === 4 ? 'f32' : 'f64'}-${spec.mr}x${spec.nr}u${spec.unroll}${spec.fma === true ? '-fma' : ''}`;
  return new WasmBackend(name, spec, kc, mc, nc);
}

export const F32_SPEC: WasmKernelSpec = { lanes: 4, mr: 4, nr: 8, unroll: 1 };
export const F64_SPEC: WasmKernelSpec = { lanes: 2, mr: 4, nr: 4, unroll: 1 };
// KC·NR·4 B bytes (8 KiB) stay in L1 across the A panels; an MC×KC A block (128 KiB) in the
// 512 KiB L2; NC 512 keeps the C block small too. NC 256-1024 and KC 256-384 measured within noise
// of each other here; KC 192 or MC 256 were clearly slower.
const F32_BLOCKS = { kc: 256, mc: 128, nc: 512 };
const F64_BLOCKS = { kc: 256, mc: 64, nc: 512 };

let simd: boolean | undefined;
let f32Backend: MicroBackend | undefined;
let f64Backend: MicroBackend | undefined;

/** True when this engine compiles our SIMD module (checked once per thread). */
export function wasmSimdAvailable(): boolean {
  if (simd === undefined) {
    try {
      wasmF32Backend();
      simd = true;
    } catch (e) {
      if (!engineRejected(e)) throw e;
      simd = false;
    }
  }
  return simd;
}

/** The float32 backend: the relaxed-SIMD multiply-add kernel where the engine compiles it, else mul + add. */
export function wasmF32Backend(): MicroBackend {
  if (f32Backend === undefined) {
    const { kc, mc, nc } = F32_BLOCKS;
    try {
      f32Backend = createWasmBackend({ ...F32_SPEC, fma: true }, kc, mc, nc);
    } catch (e) {
      // An engine without relaxed SIMD rejects the multiply-add module; anything else is a bug.
      if (!engineRejected(e)) throw e;
      f32Backend = createWasmBackend(F32_SPEC, kc, mc, nc);
    }
  }
  return f32Backend;
}

/** True when this thread's float32 GEMM kernel accumulates with relaxed_madd (fused on FMA CPUs). */
export function wasmF32MultiplyAdd(): boolean {
  return wasmSimdAvailable() && wasmF32Backend().name.endsWith('-fma');
}

export function wasmF64Backend(): MicroBackend {
  if (f64Backend === undefined) f64Backend = createWasmBackend(F64_SPEC, F64_BLOCKS.kc, F64_BLOCKS.mc, F64_BLOCKS.nc);
  return f64Backend;
}
