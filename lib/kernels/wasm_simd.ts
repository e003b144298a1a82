/**
 * The instructions our elementwise, batch-norm, optimizer and pooling WebAssembly kernels need
 * beyond the GEMM set of wasm_emitter.ts: scalar f64 arithmetic, f32 <-> f64 conversions (scalar and
 * the f64x2.promote_low / f32x4.demote_zero lane pairs), comparisons and bitwise selects, splats, lane
 * loads and stores; and Fn, the function builder those modules share. Opcodes follow the WebAssembly
 * core spec 2.0 (§5.4) and its SIMD instruction table.
 * This extends Code by appending bytes, so wasm_emitter.ts stays the one module builder.
 */
import { Code, type FuncDef, type ValType } from './wasm_emitter';

const f64Bytes = new Uint8Array(8);
const f64View = new DataView(f64Bytes.buffer);

export class Asm extends Code {
  // ---- scalar ----
  i32Shl(): this { return this.op(0x74); }
  i32GtU(): this { return this.op(0x4b); }
  i32GeU(): this { return this.op(0x4f); }
  i32LeU(): this { return this.op(0x4d); }
  i32GtS(): this { return this.op(0x4a); }
  i32LeS(): this { return this.op(0x4c); }
  f64Load(offset = 0): this { return this.op(0x2b).memarg(3, offset); }
  f64Store(offset = 0): this { return this.op(0x39).memarg(3, offset); }
  f64Const(v: number): this {
    f64View.setFloat64(0, v, true);
    this.bytes.push(0x44);
    for (let i = 0; i < 8; i++) this.bytes.push(f64Bytes[i]);
    return this;
  }
  f64Add(): this { return this.op(0xa0); }
  f64Sub(): this { return this.op(0xa1); }
  f64Mul(): this { return this.op(0xa2); }
  f64Div(): this { return this.op(0xa3); }
  f64Neg(): this { return this.op(0x9a); }
  f64Gt(): this { return this.op(0x64); }
  f64Le(): this { return this.op(0x65); }
  /** select: [a, b, cond] -> cond != 0 ? a : b. */
  select(): this { return this.op(0x1b); }
  f64PromoteF32(): this { return this.op(0xbb); }
  f32DemoteF64(): this { return this.op(0xb6); }

  // ---- SIMD ----
  v128Load32Zero(offset = 0): this { return this.simd(0x5c).memarg(2, offset); }
  v128Load64Zero(offset = 0): this { return this.simd(0x5d).memarg(3, offset); }
  /** [addr, v] -> v with lane `lane` replaced by the f32/i32 at addr. */
  v128Load32Lane(lane: number, offset = 0): this { this.simd(0x56).memarg(2, offset); this.bytes.push(lane); return this; }
  /** v128.store32_lane: [addr, v] -> stores lane `lane` of v at addr. */
  v128Store32Lane(lane: number, offset = 0): this { this.simd(0x5a).memarg(2, offset); this.bytes.push(lane); return this; }
  v128Store64Lane(lane: number, offset = 0): this { this.simd(0x5b).memarg(3, offset); this.bytes.push(lane); return this; }
  i32x4Splat(): this { return this.simd(0x11); }
  f32x4Splat(): this { return this.simd(0x13); }
  f64x2Splat(): this { return this.simd(0x14); }
  f32x4Eq(): this { return this.simd(0x41); }
  f32x4Ne(): this { return this.simd(0x42); }
  f32x4Gt(): this { return this.simd(0x44); }
  f32x4Le(): this { return this.simd(0x45); }
  f64x2Ne(): this { return this.simd(0x48); }
  f64x2Gt(): this { return this.simd(0x4a); }
  f64x2Le(): this { return this.simd(0x4b); }
  v128And(): this { return this.simd(0x4e); }
  /** [a, b] -> a & ~b. */
  v128AndNot(): this { return this.simd(0x4f); }
  v128Or(): this { return this.simd(0x50); }
  v128Bitselect(): this { return this.simd(0x52); }
  f32x4DemoteF64x2Zero(): this { return this.simd(0x5e); }
  f64x2PromoteLowF32x4(): this { return this.simd(0x5f); }
  f32x4Div(): this { return this.simd(0xe7); }
  f64x2Neg(): this { return this.simd(0xed); }
  f64x2Sqrt(): this { return this.simd(0xef); }
  f64x2Sub(): this { return this.simd(0xf1); }
  f64x2Div(): this { return this.simd(0xf3); }
  f64x2Max(): this { return this.simd(0xf5); }
}

/** Builds a kernel function: params first, then locals numbered in the order they are asked for. */
export class Fn {
  readonly c = new Asm();
  private readonly locals: ValType[] = [];
  private next: number;

  constructor(readonly name: string, private readonly params: ValType[]) {
    this.next = params.length;
  }

  local(t: ValType): number {
    this.locals.push(t);
    return this.next++;
  }

  def(): FuncDef {
    return { name: this.name, params: this.params, results: [], locals: this.locals, code: this.c };
  }
}
