/**
 * Chooses the micro-kernel behind the packed GEMM: the WebAssembly SIMD128 kernels when the engine
 * has SIMD (float32 and float64), else the pure-JS kernel. The choice is made once per call on the
 * calling thread and passed to workers by name, so every thread of one call runs the same kernel.
 */
import type { DType } from '../core/dtype';
import { jsBackend } from './gemm_js';
import type { MicroBackend } from './packed_gemm';
import { wasmF32Backend, wasmF64Backend, wasmSimdAvailable } from './wasm_gemm';

export type GemmKernel = 'wasm' | 'js';

let preferred: GemmKernel = 'wasm';

/** 'js' forces the pure-JS kernel (tests, benchmarks); 'wasm' uses SIMD where available. */
export function setGemmKernel(k: GemmKernel): void {
  if (k !== 'wasm' && k !== 'js') throw new Error(`setGemmKernel: expected 'wasm' or 'js', got ${String(k)}`);
  preferred = k;
}

export function getGemmKernel(): GemmKernel {
  return preferred;
}

/** The kernel a call on `dtype` data will use now. */
export function kernelFor(_dtype: DType): GemmKernel {
  return preferred === 'wasm' && wasmSimdAvailable() ? 'wasm' : 'js';
}

export function backendFor(dtype: DType, kernel: GemmKernel): MicroBackend {
  if (kernel === 'wasm' && wasmSimdAvailable()) return dtype === 'float64' ? wasmF64Backend() : wasmF32Backend();
  return jsBackend;
}
