/**
 * The slice of the engine's WebAssembly API our kernel modules use (memory, module, instance),
 * typed here because the project compiles without DOM typings. Shared by the GEMM, elementwise and
 * optimizer kernels, each of which owns one instance and one linear memory per thread.
 */

export interface WasmMemoryLike {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}

export interface WasmApi {
  Memory: new (desc: { initial: number }) => WasmMemoryLike;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

/** Bytes in a WebAssembly page. */
export const WASM_PAGE = 65536;

/** The engine's WebAssembly object, or undefined where there is none. */
export function wasmApi(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}

/** Grows `memory` to at least `bytes`; returns whether it grew (its buffer, and views of it, changed). */
export function reserveMemory(memory: WasmMemoryLike, bytes: number): boolean {
  const have = memory.buffer.byteLength;
  if (bytes <= have) return false;
  memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
  return true;
}
