/**
 * WebAssembly SIMD128 kernels for float32 max pooling (pool.ts holds the geometry, checks and the JS
 * loops), generated at first use with our emitter (wasm_emitter.ts, wasm_simd.ts). Each thread owns
 * one instance and its linear memory.
 *
 * Forward: four planes at a time. Their pixels are staged (one native copy) and interleaved so that
 * one v128 holds the same pixel of the four planes; each output then walks its window once with a
 * lane-wise compare and two bitselects (value and in-plane index), exactly the JS loop's rule
 * `v > best || v !== v` applied per lane in the same window order, so values, NaNs and argmax ties
 * come out bit-identical. The JS loop pays a branch per tap, which mispredicts on real activations.
 * Backward: per plane, the gradient is added into a float64 accumulator at each argmax (in output
 * order, as the JS loop does) and rounded to float32 once, like the JS loop.
 * Cost: forward one copy in, one interleave pass, KH·KW vector taps per 4 outputs, two copies out;
 * backward one pass over gy and argmax and one over the plane.
 */
import { KernelInstance, lazyInstance, type WasmApi } from './wasm_api';
import { I32, ModuleBuilder, V128, type FuncDef } from './wasm_emitter';
import { Asm, Fn } from './wasm_simd';

/** `l += v` for i32 locals. */
function addTo(c: Asm, l: number, v: number): void {
  c.localGet(l).localGet(v).i32Add().localSet(l);
}

/** `l += 1` for an i32 local. */
function inc(c: Asm, l: number): void {
  c.localGet(l).i32Const(1).i32Add().localSet(l);
}

/** `p += n << shift` for i32 locals (a pointer stepping over n elements of 2^shift bytes). */
function advance(c: Asm, p: number, n: number, shift: number): void {
  c.localGet(p).localGet(n).i32Const(shift).i32Shl().i32Add().localSet(p);
}

/** Emits `while (a < b) { body }` for i32 locals a, b (signed compare); body must advance a. */
function whileLess(c: Asm, a: number, b: number, body: () => void): void {
  c.block();
  c.loop();
  c.localGet(a).localGet(b).i32GeS().brIf(1);
  body();
  c.br(0);
  c.end();
  c.end();
}

/**
 * interleave(src, dst, n, groups): for each group of four planes of n floats at src (planes back to
 * back), writes dst[16·k + 4·lane] = plane[lane][k]; groups follow each other in both buffers.
 */
function emitInterleave(): FuncDef {
  const f = new Fn('interleave', [I32, I32, I32, I32]);
  const [SRC, DST, N, GROUPS] = [0, 1, 2, 3];
  const p = f.local(I32), q = f.local(I32), end = f.local(I32), nb = f.local(I32), g = f.local(I32), v = f.local(V128);
  const c = f.c;
  c.localGet(N).i32Const(2).i32Shl().localSet(nb);
  c.i32Const(0).localSet(g);
  whileLess(c, g, GROUPS, () => {
    c.localGet(SRC).localSet(p);
    c.localGet(SRC).localGet(nb).i32Add().localSet(end);
    c.localGet(DST).localSet(q);
    whileLess(c, p, end, () => {
      c.localGet(p).v128Load32Zero().localSet(v);
      for (let lane = 1; lane < 4; lane++) {
        c.localGet(p).localGet(nb).i32Const(lane).i32Mul().i32Add();
        c.localGet(v).v128Load32Lane(lane).localSet(v);
      }
      c.localGet(q).localGet(v).v128Store();
      c.localGet(p).i32Const(4).i32Add().localSet(p);
      c.localGet(q).i32Const(16).i32Add().localSet(q);
    });
    c.localGet(SRC).localGet(nb).i32Const(4).i32Mul().i32Add().localSet(SRC);
    c.localGet(DST).localGet(nb).i32Const(4).i32Mul().i32Add().localSet(DST);
    inc(c, g);
  });
  return f.def();
}

/**
 * maxPool4(src, W, HW, rows, cols, OH, OW, dh, dw, out, arg, P, groups): src holds `groups` interleaved
 * four-plane images (16·HW bytes each). rows[2·oy], rows[2·oy+1] are an output row's first input
 * row and its exclusive end (step dh); cols likewise for columns. Writes each group's four output
 * planes (P floats each, back to back) at out and their in-plane argmax at arg.
 */
function emitMaxPool4(): FuncDef {
  const f = new Fn('maxPool4', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [SRC, W, HW, ROWS, COLS, OH, OW, DH, DW, OUT, ARG, P, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const g = f.local(I32), oy = f.local(I32), ox = f.local(I32), o = f.local(I32);
  const y0 = f.local(I32), y1 = f.local(I32), x0 = f.local(I32), x1 = f.local(I32);
  const y = f.local(I32), x = f.local(I32), rowE = f.local(I32), e = f.local(I32), pb = f.local(I32);
  const v = f.local(V128), best = f.local(V128), idx = f.local(V128), m = f.local(V128);
  const c = f.c;
  // pb = 4·P bytes: the distance between two lanes' output planes.
  c.localGet(P).i32Const(2).i32Shl().localSet(pb);
  c.i32Const(0).localSet(g);
  whileLess(c, g, GROUPS, () => {
    c.i32Const(0).localSet(o);
    c.i32Const(0).localSet(oy);
    whileLess(c, oy, OH, () => {
      c.localGet(ROWS).localGet(oy).i32Const(3).i32Shl().i32Add().i32Load(0).localSet(y0);
      c.localGet(ROWS).localGet(oy).i32Const(3).i32Shl().i32Add().i32Load(4).localSet(y1);
      c.i32Const(0).localSet(ox);
      whileLess(c, ox, OW, () => {
        c.localGet(COLS).localGet(ox).i32Const(3).i32Shl().i32Add().i32Load(0).localSet(x0);
        c.localGet(COLS).localGet(ox).i32Const(3).i32Shl().i32Add().i32Load(4).localSet(x1);
        // best = −∞ in every lane; idx = the window's first element, as the JS loop starts.
        c.i32Const(0xff800000 | 0).i32x4Splat().localSet(best);
        c.localGet(y0).localGet(W).i32Mul().localGet(x0).i32Add().i32x4Splat().localSet(idx);
        c.localGet(y0).localSet(y);
        whileLess(c, y, y1, () => {
          c.localGet(y).localGet(W).i32Mul().localSet(rowE);
          c.localGet(x0).localSet(x);
          whileLess(c, x, x1, () => {
            c.localGet(rowE).localGet(x).i32Add().localSet(e);
            c.localGet(SRC).localGet(e).i32Const(4).i32Shl().i32Add().v128Load().localSet(v);
            // m = v > best || v !== v, per lane.
            c.localGet(v).localGet(best).f32x4Gt();
            c.localGet(v).localGet(v).f32x4Ne();
            c.v128Or().localSet(m);
            c.localGet(v).localGet(best).localGet(m).v128Bitselect().localSet(best);
            c.localGet(e).i32x4Splat().localGet(idx).localGet(m).v128Bitselect().localSet(idx);
            addTo(c, x, DW);
          });
          addTo(c, y, DH);
        });
        // Lane l goes to output plane l: out + l·4P + 4o.
        for (let lane = 0; lane < 4; lane++) {
          c.localGet(OUT).localGet(o).i32Const(2).i32Shl().i32Add().localGet(pb).i32Const(lane).i32Mul().i32Add();
          c.localGet(best).v128Store32Lane(lane);
          c.localGet(ARG).localGet(o).i32Const(2).i32Shl().i32Add().localGet(pb).i32Const(lane).i32Mul().i32Add();
          c.localGet(idx).v128Store32Lane(lane);
        }
        inc(c, o);
        inc(c, ox);
      });
      inc(c, oy);
    });
    advance(c, SRC, HW, 4);
    advance(c, OUT, pb, 2);
    advance(c, ARG, pb, 2);
    inc(c, g);
  });
  return f.def();
}

/**
 * maxBackward(gy, arg, gx, acc, planes, P, HW): per plane, acc[0, HW) = 0 (float64);
 * acc[arg[o]] += gy[o] for o in order; gx[i] = float32(acc[i]). Planes follow each other in gy,
 * arg (P each) and gx (HW each); every arg entry must be in [0, HW) (the caller checks).
 */
function emitMaxBackward(): FuncDef {
  const f = new Fn('maxBackward', [I32, I32, I32, I32, I32, I32, I32]);
  const [GY, ARG, GX, ACC, PLANES, P, HW] = [0, 1, 2, 3, 4, 5, 6];
  const pl = f.local(I32), o = f.local(I32), a = f.local(I32), i = f.local(I32);
  const c = f.c;
  c.i32Const(0).localSet(pl);
  whileLess(c, pl, PLANES, () => {
    c.localGet(ACC).i32Const(0).localGet(HW).i32Const(3).i32Shl().memoryFill();
    c.i32Const(0).localSet(o);
    whileLess(c, o, P, () => {
      // a = acc + 8·arg[o]; acc[a] = acc[a] + f64(gy[o])
      c.localGet(ACC).localGet(ARG).localGet(o).i32Const(2).i32Shl().i32Add().i32Load().i32Const(3).i32Shl().i32Add().localSet(a);
      c.localGet(a);
      c.localGet(a).f64Load();
      c.localGet(GY).localGet(o).i32Const(2).i32Shl().i32Add().f32Load().f64PromoteF32();
      c.f64Add().f64Store();
      inc(c, o);
    });
    c.i32Const(0).localSet(i);
    whileLess(c, i, HW, () => {
      c.localGet(GX).localGet(i).i32Const(2).i32Shl().i32Add();
      c.localGet(ACC).localGet(i).i32Const(3).i32Shl().i32Add().f64Load().f32DemoteF64();
      c.f32Store();
      inc(c, i);
    });
    advance(c, GY, P, 2);
    advance(c, ARG, P, 2);
    advance(c, GX, HW, 2);
    inc(c, pl);
  });
  return f.def();
}

function emitModule(): Uint8Array {
  const mb = new ModuleBuilder(1);
  mb.addFunction(emitInterleave());
  mb.addFunction(emitMaxPool4());
  mb.addFunction(emitMaxBackward());
  return mb.build();
}

type WasmFn = (...args: number[]) => void;

/** One thread's pooling instance: its memory, views of it and the kernels. */
export class PoolWasm extends KernelInstance {
  readonly interleave = this.fn<WasmFn>('wasm pool', 'interleave');
  readonly maxPool4 = this.fn<WasmFn>('wasm pool', 'maxPool4');
  readonly maxBackward = this.fn<WasmFn>('wasm pool', 'maxBackward');

  constructor(api: WasmApi, module: object) {
    super(api, module, 4);
  }
}

/** This thread's instance, or null when the engine lacks WebAssembly SIMD (callers use JS loops). */
export const poolWasm = lazyInstance(emitModule, (api, module) => new PoolWasm(api, module));
