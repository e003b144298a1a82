/**
 * A small WebAssembly binary emitter: just the sections and instructions our generated kernels use
 * (functions over i32/v128 locals, one imported memory, SIMD128 loads, stores and float lanes).
 * Kernels are written as TypeScript loops that emit code, so the wasm is generated at run time (each
 * module on first use) with no external toolchain and no opaque binary in the repository.
 * Encoding follows the WebAssembly core spec 2.0 (binary format, §5) and the SIMD proposal opcodes.
 */

import { MAX_PAGES } from './wasm_api';

export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

function uleb(out: number[], v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new Error(`wasm emitter: bad unsigned LEB value ${v}`);
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

function sleb(out: number[], v: number): void {
  v |= 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return;
  }
}

function append(out: number[], src: readonly number[]): void {
  for (let i = 0; i < src.length; i++) out.push(src[i]);
}

function name(out: number[], s: string): void {
  const bytes = Array.from(s, (ch) => ch.charCodeAt(0));
  uleb(out, bytes.length);
  append(out, bytes);
}

/** One function body; each method appends one instruction and returns this for chaining. */
export class Code {
  readonly bytes: number[] = [];

  protected op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }

  protected simd(opcode: number): this {
    this.bytes.push(0xfd);
    uleb(this.bytes, opcode);
    return this;
  }

  protected memarg(alignLog2: number, offset: number): this {
    uleb(this.bytes, alignLog2);
    uleb(this.bytes, offset);
    return this;
  }

  localGet(i: number): this { this.op(0x20); uleb(this.bytes, i); return this; }
  localSet(i: number): this { this.op(0x21); uleb(this.bytes, i); return this; }
  localTee(i: number): this { this.op(0x22); uleb(this.bytes, i); return this; }
  i32Const(v: number): this { this.op(0x41); sleb(this.bytes, v); return this; }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }
  i32Eqz(): this { return this.op(0x45); }
  i32Eq(): this { return this.op(0x46); }
  i32Ne(): this { return this.op(0x47); }
  i32Or(): this { return this.op(0x72); }
  i32LtS(): this { return this.op(0x48); }
  i32GeS(): this { return this.op(0x4e); }
  i32And(): this { return this.op(0x71); }
  i32ShrU(): this { return this.op(0x76); }
  i32Load(offset = 0): this { return this.op(0x28).memarg(2, offset); }
  f32Load(offset = 0): this { return this.op(0x2a).memarg(2, offset); }
  f32Store(offset = 0): this { return this.op(0x38).memarg(2, offset); }
  i32LtU(): this { return this.op(0x49); }
  f32Add(): this { return this.op(0x92); }
  drop(): this { return this.op(0x1a); }
  /** memory.copy(dst, src, n) and memory.fill(dst, byte, n) of the bulk-memory proposal (memory 0). */
  memoryCopy(): this { return this.op(0xfc, 0x0a, 0x00, 0x00); }
  memoryFill(): this { return this.op(0xfc, 0x0b, 0x00); }

  /** Structured control; blocks here never yield values (block type 0x40). */
  block(): this { return this.op(0x02, 0x40); }
  loop(): this { return this.op(0x03, 0x40); }
  if(): this { return this.op(0x04, 0x40); }
  else(): this { return this.op(0x05); }
  end(): this { return this.op(0x0b); }
  call(funcIndex: number): this { this.op(0x10); uleb(this.bytes, funcIndex); return this; }
  br(depth: number): this { this.op(0x0c); uleb(this.bytes, depth); return this; }
  brIf(depth: number): this { this.op(0x0d); uleb(this.bytes, depth); return this; }

  v128Load(offset = 0): this { return this.simd(0x00).memarg(4, offset); }
  v128Load32Splat(offset = 0): this { return this.simd(0x09).memarg(2, offset); }
  v128Load64Splat(offset = 0): this { return this.simd(0x0a).memarg(3, offset); }
  v128Store(offset = 0): this { return this.simd(0x0b).memarg(4, offset); }
  v128Zero(): this {
    this.simd(0x0c);
    for (let i = 0; i < 16; i++) this.bytes.push(0);
    return this;
  }
  /** i8x16.shuffle: byte l of the result is byte lanes[l] of the 32-byte concatenation of the operands. */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) {
      throw new Error(`wasm emitter: i8x16.shuffle needs 16 lane indices in [0, 31], got [${lanes.join(',')}]`);
    }
    this.simd(0x0d);
    for (const l of lanes) this.bytes.push(l);
    return this;
  }
  f32x4Add(): this { return this.simd(0xe4); }
  /** f32x4.relaxed_madd (relaxed-SIMD proposal): [a, b, c] -> a·b + c, fused where the CPU has FMA. */
  f32x4RelaxedMadd(): this { return this.simd(0x105); }
  f32x4Neg(): this { return this.simd(0xe1); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f64x2Add(): this { return this.simd(0xf0); }
  f64x2Mul(): this { return this.simd(0xf2); }
}

export interface FuncDef {
  name: string;
  params: ValType[];
  results: ValType[];
  locals: ValType[];
  code: Code;
}

/** A module importing one memory as env.mem (a shared one if `shared`) and exporting its functions by name. */
export class ModuleBuilder {
  private readonly funcs: FuncDef[] = [];

  constructor(private readonly memMinPages: number, private readonly shared = false) {}

  /** Adds a function; its locals are numbered after its params, in the order given. */
  addFunction(def: FuncDef): void {
    this.funcs.push(def);
  }

  build(): Uint8Array {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, body: number[]): void => {
      out.push(id);
      uleb(out, body.length);
      append(out, body);
    };

    const types: number[] = [];
    uleb(types, this.funcs.length);
    for (const f of this.funcs) {
      types.push(0x60);
      uleb(types, f.params.length);
      types.push(...f.params);
      uleb(types, f.results.length);
      types.push(...f.results);
    }
    section(1, types);

    const imports: number[] = [];
    uleb(imports, 1);
    name(imports, 'env');
    name(imports, 'mem');
    // Memory limits: flags 0 (minimum only) or 3 (shared, with a maximum; see newKernelMemory).
    if (this.shared) {
      imports.push(0x02, 0x03);
      uleb(imports, this.memMinPages);
      uleb(imports, MAX_PAGES);
    } else {
      imports.push(0x02, 0x00);
      uleb(imports, this.memMinPages);
    }
    section(2, imports);

    const fsec: number[] = [];
    uleb(fsec, this.funcs.length);
    this.funcs.forEach((_, i) => uleb(fsec, i));
    section(3, fsec);

    const exp: number[] = [];
    uleb(exp, this.funcs.length);
    this.funcs.forEach((f, i) => {
      name(exp, f.name);
      exp.push(0x00);
      uleb(exp, i);
    });
    section(7, exp);

    const code: number[] = [];
    uleb(code, this.funcs.length);
    for (const f of this.funcs) {
      const body: number[] = [];
      const groups: Array<[number, ValType]> = [];
      for (const t of f.locals) {
        const last = groups[groups.length - 1];
        if (last !== undefined && last[1] === t) last[0]++;
        else groups.push([1, t]);
      }
      uleb(body, groups.length);
      for (const [count, t] of groups) {
        uleb(body, count);
        body.push(t);
      }
      append(body, f.code.bytes);
      body.push(0x0b);
      uleb(code, body.length);
      append(code, body);
    }
    section(10, code);
    return Uint8Array.from(out);
  }
}
