/**
 * Compile WebAssembly with V8's optimising compiler from the start, with relaxed SIMD enabled. By default V8 compiles with its
 * baseline compiler (Liftoff) and re-compiles hot functions with TurboFan on background threads;
 * when every core is busy running kernels those background compiles starve, and a worker thread
 * can run the ~2× slower baseline code of its GEMM kernels for a long time. Our generated modules
 * are tiny, so compiling them optimised up front costs a few milliseconds. The flag is process-wide
 * and affects modules compiled after this import, so the thread pool imports this module first.
 */
import { setFlagsFromString } from 'v8';

setFlagsFromString('--no-liftoff');
// Relaxed SIMD (standard from V8 11.4, behind this flag in Node 20's V8 11.3) gives the float32 GEMM
// kernel a fused multiply-add (wasm_gemm.ts); where a module using it does not compile, the kernel
// falls back to mul + add. Set here, before any kernel module is compiled in any thread.
setFlagsFromString('--experimental-wasm-relaxed-simd');
