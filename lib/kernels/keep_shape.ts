/**
 * Keeps the hidden class ("map", in V8) of short-lived kernel objects alive.
 *
 * Optimised code checks the maps of the objects it handles and holds those maps weakly. The GEMM
 * operands and staging classes (conv2d.ts, im2col_wasm.ts, packed_gemm.ts) live for one kernel call,
 * so at a full garbage collection there is often no instance left: their maps are collected, every
 * function specialised on them (the packers, `runPackedGemm`) is deoptimised, and it runs unoptimised
 * until V8 has recompiled it, on a core the kernels are using. The thread pool forces a full
 * collection every 256 MB of shared allocation (threads.ts), a few times per training step at two
 * threads, so this happened every step there: W4 at 2 threads took 225 ms instead of 209, the CIFAR
 * recipe's step 943 instead of 901 (interleaved runs, this machine), and the recipe's stem weight
 * gradient, computed on the calling thread once per step, ran at half speed.
 *
 * Each such class calls keepShape(this) in its constructor: the latest instance of each class stays
 * referenced, which keeps its map. It also keeps that instance's arrays until the next instance of
 * the class replaces it (a bounded delay, one call's inputs per class and thread, never a growth).
 */
const latest = new Map<unknown, object>();

export function keepShape(obj: object): void {
  latest.set(obj.constructor, obj);
}
