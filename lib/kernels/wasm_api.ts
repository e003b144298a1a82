/**
 * The slice of the engine's WebAssembly API our kernel modules use (memory, module, instance),
 * typed here because the project compiles without DOM typings. Shared by the GEMM, elementwise,
 * optimizer and pooling kernels, each of which owns one instance and one linear memory per thread.
 */

export interface WasmMemoryLike {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}

export interface WasmApi {
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemoryLike;
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

/** The pages a shared kernel memory may grow to: 4 GiB, all a 32-bit memory can address. */
export const MAX_PAGES = 65536;

let sharedMemory: boolean | undefined;

/**
 * Whether this engine makes shared WebAssembly memories (buffers that are SharedArrayBuffers): it
 * has SharedArrayBuffer and constructs one (not on a page without cross-origin isolation). A module
 * built for a shared memory (ModuleBuilder's `shared`) must be given one, so both follow this answer.
 */
export function sharedMemoryAvailable(): boolean {
  if (sharedMemory === undefined) {
    sharedMemory = false;
    const api = wasmApi();
    if (api !== undefined && typeof SharedArrayBuffer !== 'undefined') {
      try {
        sharedMemory = new api.Memory({ initial: 1, maximum: MAX_PAGES, shared: true }).buffer instanceof SharedArrayBuffer;
      } catch {
        sharedMemory = false;
      }
    }
  }
  return sharedMemory;
}

/** A new kernel memory of `initialPages`, shared (growing to MAX_PAGES at most) or not. */
export function newKernelMemory(api: WasmApi, initialPages: number, shared: boolean): WasmMemoryLike {
  return shared
    ? new api.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true })
    : new api.Memory({ initial: initialPages });
}

/**
 * True for the errors by which an engine says it cannot run a module: no WebAssembly at all
 * (WasmUnavailable) or a module it rejects (CompileError, LinkError: an engine without SIMD). Any
 * other error while emitting or instantiating is a bug in our code and must not turn into a quiet
 * fallback to the JS loops (that once hid a pooling emitter that recursed forever).
 */
export function engineRejected(e: unknown): boolean {
  if (e instanceof WasmUnavailable) return true;
  const name = e instanceof Error ? e.name : '';
  return name === 'CompileError' || name === 'LinkError';
}

/** Thrown where the engine has no WebAssembly object. */
export class WasmUnavailable extends Error {
  constructor(what: string) {
    super(`${what}: WebAssembly is not available`);
    this.name = 'WasmUnavailable';
  }
}

/**
 * A getter for this thread's instance of a generated kernel module: emitted, compiled and
 * instantiated on first use, then cached; null for good (callers use their JS loops) when the
 * engine has no WebAssembly or rejects the module (no SIMD). Other errors are thrown.
 */
export function lazyInstance<T>(emit: () => Uint8Array, make: (api: WasmApi, module: object) => T): () => T | null {
  let instance: T | null | undefined;
  return () => {
    if (instance === undefined) {
      const bytes = emit();
      try {
        const api = wasmApi();
        if (api === undefined) throw new WasmUnavailable('kernel module');
        instance = make(api, new api.Module(bytes));
      } catch (e) {
        if (!engineRejected(e)) throw e;
        instance = null;
      }
    }
    return instance;
  };
}

/**
 * A kernel module instantiated over its own linear memory, with float32, int32 and float64 views of
 * that memory that reserve() keeps current (growing the memory replaces its buffer).
 */
export class KernelInstance {
  protected readonly memory: WasmMemoryLike;
  protected readonly exports: Record<string, unknown>;
  f32: Float32Array;
  i32: Int32Array;
  f64: Float64Array;

  /** `shared` must match the module's memory import (ModuleBuilder's `shared`). */
  constructor(api: WasmApi, module: object, initialPages: number, shared = false) {
    this.memory = newKernelMemory(api, initialPages, shared);
    this.exports = new api.Instance(module, { env: { mem: this.memory } }).exports;
    this.f32 = new Float32Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
  }

  /** Makes the memory at least `bytes` long (the views are refreshed after growth). */
  reserve(bytes: number): void {
    if (!reserveMemory(this.memory, bytes)) return;
    this.f32 = new Float32Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
  }

  /** The exported function `name` (an Error naming `what` if the module has none). */
  protected fn<F>(what: string, name: string): F {
    const f = this.exports[name];
    if (typeof f !== 'function') throw new Error(`${what}: no kernel ${name}`);
    return f as F;
  }
}
