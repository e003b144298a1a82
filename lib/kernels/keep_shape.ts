/**
 * Keeps the hidden class ("map", in V8) of short-lived kernel objects alive.
 *
 * Optimised code checks the maps of the objects it handles and holds those maps weakly. The GEMM
 * operands and staging classes (conv2d.ts, im2col_wasm.ts, packed_gemm.ts) and the row cursors of
 * the strided loops (elementwise.ts, reduce.ts) live for one kernel call,
 * so at a full garbage collection there is often no instance left: their maps are collected, every
 * function specialised on them (the packers, `runPackedGemm`) is deoptimised, and it runs unoptimised
 * until V8 has recompiled it, on a core the kernels are using. The thread pool forces a full
 * collection every 256 MB of shared allocation (threads.ts), a few times per training step at two
 * threads, so this happened every step there: W4 at 2 threads took 225 ms instead of 209, the CIFAR
 * recipe's step 943 instead of 901 (interleaved runs, this machine), and the recipe's stem weight
 * gradient, computed on the calling thread once per step, ran at half speed.
 *
 * Each such class calls keepShape(this) in its constructor, and the first instance of each class in
 * each thread stays referenced for the life of the thread, which keeps its map. That pins the arrays
 * of that first call too (bounded: one call's operands per class and thread; 4 MB on the CIFAR
 * recipe). Keeping the latest instance instead leaked: in a worker, each replaced instance had been
 * promoted to the old generation and waited for a full collection that workers rarely run, holding
 * its shared buffers (W4 at 2 threads grew by 3 MB per step).
 */
const pinned = new Map<unknown, object>();

export function keepShape(obj: object): void {
  if (!pinned.has(obj.constructor)) pinned.set(obj.constructor, obj);
}
