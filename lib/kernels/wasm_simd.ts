/**
 * The instructions our elementwise, batch-norm and optimizer WebAssembly kernels need beyond the
 * GEMM set of wasm_emitter.ts: scalar f64 arithmetic, f32 <-> f64 conversions (scalar and the
 * f64x2.promote_low / f32x4.demote_zero lane pairs), comparisons and bitwise selects, lane loads
 * and stores. Opcodes follow the WebAssembly core spec 2.0 (§5.4) and its SIMD instruction table.
 * This extends Code by appending bytes, so wasm_emitter.ts stays the one module builder.
 */
import { Code } from './wasm_emitter';

function uleb(out: number[], v: number): void {
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

const f64Bytes = new Uint8Array(8);
const f64View = new DataView(f64Bytes.buffer);

export class Asm extends Code {
  private raw(...b: number[]): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }

  private sx(opcode: number): this {
    this.bytes.push(0xfd);
    uleb(this.bytes, opcode);
    return this;
  }

  private mem(alignLog2: number, offset: number): this {
    uleb(this.bytes, alignLog2);
    uleb(this.bytes, offset);
    return this;
  }

  // ---- scalar ----
  i32Shl(): this { return this.raw(0x74); }
  i32GtU(): this { return this.raw(0x4b); }
  i32GeU(): this { return this.raw(0x4f); }
  i32LeU(): this { return this.raw(0x4d); }
  i32GtS(): this { return this.raw(0x4a); }
  i32LeS(): this { return this.raw(0x4c); }
  f64Load(offset = 0): this { return this.raw(0x2b).mem(3, offset); }
  f64Store(offset = 0): this { return this.raw(0x39).mem(3, offset); }
  f64Const(v: number): this {
    f64View.setFloat64(0, v, true);
    this.bytes.push(0x44);
    for (let i = 0; i < 8; i++) this.bytes.push(f64Bytes[i]);
    return this;
  }
  f64Add(): this { return this.raw(0xa0); }
  f64Sub(): this { return this.raw(0xa1); }
  f64Mul(): this { return this.raw(0xa2); }
  f64Div(): this { return this.raw(0xa3); }
  f64Neg(): this { return this.raw(0x9a); }
  f64PromoteF32(): this { return this.raw(0xbb); }
  f32DemoteF64(): this { return this.raw(0xb6); }

  // ---- SIMD ----
  v128Load32Zero(offset = 0): this { return this.sx(0x5c).mem(2, offset); }
  v128Load64Zero(offset = 0): this { return this.sx(0x5d).mem(3, offset); }
  /** [addr, v] -> v with lane `lane` replaced by the f32/i32 at addr. */
  v128Load32Lane(lane: number, offset = 0): this { this.sx(0x56).mem(2, offset); this.bytes.push(lane); return this; }
  v128Store64Lane(lane: number, offset = 0): this { this.sx(0x5b).mem(3, offset); this.bytes.push(lane); return this; }
  f32x4Splat(): this { return this.sx(0x13); }
  f64x2Splat(): this { return this.sx(0x14); }
  f32x4Eq(): this { return this.sx(0x41); }
  f32x4Ne(): this { return this.sx(0x42); }
  f32x4Gt(): this { return this.sx(0x44); }
  f64x2Ne(): this { return this.sx(0x48); }
  f64x2Gt(): this { return this.sx(0x4a); }
  v128And(): this { return this.sx(0x4e); }
  v128AndNot(): this { return this.sx(0x4f); }
  v128Or(): this { return this.sx(0x50); }
  v128Bitselect(): this { return this.sx(0x52); }
  f32x4DemoteF64x2Zero(): this { return this.sx(0x5e); }
  f64x2PromoteLowF32x4(): this { return this.sx(0x5f); }
  f32x4Sub(): this { return this.sx(0xe5); }
  f32x4Div(): this { return this.sx(0xe7); }
  f64x2Neg(): this { return this.sx(0xed); }
  f64x2Sqrt(): this { return this.sx(0xef); }
  f64x2Sub(): this { return this.sx(0xf1); }
  f64x2Div(): this { return this.sx(0xf3); }
  f64x2Max(): this { return this.sx(0xf5); }
}
