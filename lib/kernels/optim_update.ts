/**
 * The per-element update loops of SGD and Adam/AdamW (lib/optim/sgd.ts, adam.ts hold the rules,
 * hyper-parameters and state; these are their inner loops over one parameter's typed arrays).
 *
 * Every element is independent, so a large parameter is split by element ranges over the thread
 * pool; the optimizers call the "many" forms (sgdUpdateMany, adamUpdateMany), which split a whole
 * param group's elements in one run (see "many tensors at once" below). Float32 parameters run through WebAssembly (wasm_optim.ts) in staged chunks: data is
 * copied into the instance's memory, updated in f64x2 lanes, and copied back. Both paths compute
 * exactly the JS loops below, bit for bit, however the elements are split.
 * Cost: one pass over the parameter, its gradient and its state buffers.
 */
import type { FloatArray } from '../core/dtype';
import { availableThreads, parallelFor, registerTask, type TaskArgs } from './parallel';
import { stageIn, stageOut, wasmElementwiseEnabled } from './wasm_elementwise';
import { adamKernelName, optimWasm, sgdKernelName, type AdamDecay, type OptimWasm, type SgdMode } from './wasm_optim';

export interface SgdStep {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  maximize: boolean;
}

export interface AdamStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  /** AdamW: weight decay shrinks the parameter instead of entering the gradient. */
  decoupled: boolean;
  /** The step count after this update (1 on the first). */
  step: number;
}

/** Below this many elements per thread an update stays on one thread (a dispatch costs ~20-50 µs). */
const MIN_PER_PART = 1 << 16;
/** Below this many elements the JS loop beats staging through WebAssembly memory. */
const MIN_WASM = 256;
/** Floats per staged chunk and stream (16 KiB: the five streams of Adam stay in L1/L2). */
const CHUNK = 4096;

function parts(n: number): number {
  const threads = availableThreads();
  return threads <= 1 ? 1 : Math.max(1, Math.min(threads, Math.floor(n / MIN_PER_PART)));
}

function wasmFor(wasm: boolean, n: number, arrays: readonly (FloatArray | null)[]): OptimWasm | null {
  if (!wasm || n < MIN_WASM) return null;
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return null;
  return optimWasm();
}

/**
 * Runs `kernel` over elements [start, end) of the float32 `streams`, CHUNK at a time: every stream
 * is staged in, the kernel updates them in place, and the streams listed in `outputs` are copied back.
 */
function staged(
  w: OptimWasm, kernel: string, streams: readonly Float32Array[], outputs: readonly number[], consts: readonly number[],
  start: number, end: number,
): void {
  const fn = w.kernel(kernel);
  const k = streams.length;
  w.reserve(k * CHUNK * 4);
  const f32 = w.f32;
  const args: number[] = new Array<number>(k + 1 + consts.length);
  for (let s = 0; s < k; s++) args[s] = s * CHUNK * 4;
  for (let j = 0; j < consts.length; j++) args[k + 1 + j] = consts[j];
  for (let i = start; i < end; i += CHUNK) {
    const len = Math.min(CHUNK, end - i);
    for (let s = 0; s < k; s++) stageIn(f32, s * CHUNK, streams[s], i, len);
    args[k] = (len + 3) >> 2;
    fn(...args);
    for (const s of outputs) stageOut(f32, s * CHUNK, streams[s], i, len);
  }
}

// ------------------------------------------------------------------------------------------ SGD

/**
 * One SGD update of parameter x with gradient g; buf is the momentum buffer (null without
 * momentum), `first` says it is being started this step (torch copies the gradient into it).
 */
export function sgdUpdate(x: FloatArray, g: FloatArray, buf: FloatArray | null, first: boolean, h: SgdStep): void {
  const n = x.length;
  if (n === 0) return;
  parallelFor('optim.sgd', n, {
    x, g, buf, first, lr: h.lr, momentum: h.momentum, dampening: h.dampening, nesterov: h.nesterov,
    weightDecay: h.weightDecay, maximize: h.maximize, wasm: wasmElementwiseEnabled(),
  }, parts(n));
}

function sgdRange(x: FloatArray, g: FloatArray, buf: FloatArray | null, first: boolean, h: SgdStep, start: number, end: number, wasm: boolean): void {
  const { momentum, dampening, nesterov, weightDecay, maximize } = h;
  const negLr = -h.lr;
  const keep = 1 - dampening;
  const w = wasmFor(wasm, end - start, [x, g, buf]);
  if (w !== null) {
    const mode: SgdMode = momentum === 0 ? 'none' : first ? 'first' : 'next';
    const streams = mode === 'none' ? [x, g] : [x, g, buf!];
    const name = sgdKernelName(weightDecay !== 0, mode, nesterov);
    staged(w, name, streams as Float32Array[], mode === 'none' ? [0] : [0, 2], [maximize ? -1 : 1, weightDecay, momentum, keep, negLr], start, end);
    return;
  }
  if (momentum === 0) {
    for (let i = start; i < end; i++) {
      let d = maximize ? -g[i] : g[i];
      if (weightDecay !== 0) d = d + weightDecay * x[i];
      x[i] = x[i] + negLr * d;
    }
    return;
  }
  const b = buf!;
  for (let i = start; i < end; i++) {
    let d = maximize ? -g[i] : g[i];
    if (weightDecay !== 0) d = d + weightDecay * x[i];
    // torch clones the (decayed) gradient into a new buffer on the first step: no dampening.
    if (first) b[i] = d;
    else b[i] = b[i] * momentum + keep * d;
    d = nesterov ? d + momentum * b[i] : b[i];
    x[i] = x[i] + negLr * d;
  }
}

/** The SGD hyper-parameters a task's arguments carry. */
function sgdStepOf(a: TaskArgs): SgdStep {
  return {
    lr: a.lr as number, momentum: a.momentum as number, dampening: a.dampening as number, nesterov: a.nesterov as boolean,
    weightDecay: a.weightDecay as number, maximize: a.maximize as boolean,
  };
}

registerTask('optim.sgd', (a: TaskArgs, start: number, end: number) => {
  const h = sgdStepOf(a);
  sgdRange(a.x as FloatArray, a.g as FloatArray, a.buf as FloatArray | null, a.first as boolean, h, start, end, a.wasm as boolean);
});

// ------------------------------------------------------------------------- many tensors at once
//
// An optimizer step updates every parameter of a group with the same hyper-parameters. Run one
// tensor at a time, each large tensor is its own parallel run (a dispatch, a wake-up, a join) and
// each small one runs on the caller alone while the other threads wait. The "many" forms below
// (PyTorch's multi-tensor foreach path) make the whole group one run: [0, units) enumerates
// MANY_UNIT-element pieces of every tensor in order, so each thread gets a contiguous stretch of
// the group, and every piece starts at a multiple of MANY_UNIT within its tensor (aligned, which
// keeps the staging copies fast). Each element still goes through the same per-range loop as the
// one-tensor form, so results are identical to it (and to any thread count).

const MANY_UNIT = 4096;

/**
 * Runs task `name` over the pieces of tensors x: starts[k] = pieces before tensor k (starts[count] =
 * all pieces) joins the task's arguments, and the thread count follows the total element count.
 */
function runPieces(name: string, x: readonly FloatArray[], args: TaskArgs): void {
  const starts = new Array<number>(x.length + 1);
  starts[0] = 0;
  let total = 0;
  for (let k = 0; k < x.length; k++) {
    starts[k + 1] = starts[k] + Math.ceil(x[k].length / MANY_UNIT);
    total += x[k].length;
  }
  if (starts[x.length] === 0) return;
  parallelFor(name, starts[x.length], { ...args, starts }, parts(total));
}

function checkMany(op: string, x: readonly FloatArray[], others: Array<[string, readonly (FloatArray | null)[] | readonly unknown[], boolean]>): void {
  for (const [name, list, arrays] of others) {
    if (list.length !== x.length) throw new Error(`${op}: ${name} has ${list.length} entries for ${x.length} tensors`);
    if (!arrays) continue;
    for (let k = 0; k < x.length; k++) {
      const a = list[k] as FloatArray | null;
      if (a !== null && a.length !== x[k].length) {
        throw new Error(`${op}: ${name}[${k}] has ${a.length} elements but tensor ${k} has ${x[k].length}`);
      }
    }
  }
}

/**
 * True when no array the update writes shares its buffer with another array of the update. Tensors
 * of one group normally own their storage; if some share a buffer (views of one flat array, an
 * aliased gradient), the many-tensor forms update them one tensor after another as the one-tensor
 * form would, since pieces of different tensors may run at the same time.
 */
function ownBuffers(written: readonly (readonly (FloatArray | null)[])[], read: readonly (readonly (FloatArray | null)[])[]): boolean {
  const seen = new Set<ArrayBufferLike>();
  for (const list of written) {
    for (const a of list) {
      if (a === null) continue;
      if (seen.has(a.buffer)) return false;
      seen.add(a.buffer);
    }
  }
  for (const list of read) for (const a of list) if (a !== null && seen.has(a.buffer)) return false;
  return true;
}

/** Element range [lo, hi) of tensor k that units [start, end) cover (empty when lo >= hi). */
function pieceRange(starts: readonly number[], lengths: number, k: number, start: number, end: number): [number, number] {
  const u0 = Math.max(start, starts[k]) - starts[k], u1 = Math.min(end, starts[k + 1]) - starts[k];
  return [u0 * MANY_UNIT, Math.min(lengths, u1 * MANY_UNIT)];
}

/** The first tensor whose units reach past `unit`. */
function tensorAt(starts: readonly number[], unit: number): number {
  let k = 0;
  while (k < starts.length - 2 && starts[k + 1] <= unit) k++;
  return k;
}

/**
 * sgdUpdate over many tensors with one step's hyper-parameters, as one parallel run: x[k] with
 * gradient g[k] and momentum buffer buf[k] (null without momentum), first[k] on its first step.
 */
export function sgdUpdateMany(
  x: readonly FloatArray[], g: readonly FloatArray[], buf: readonly (FloatArray | null)[], first: readonly boolean[], h: SgdStep,
): void {
  checkMany('sgdUpdateMany', x, [['g', g, true], ['buf', buf, true], ['first', first, false]]);
  if (h.momentum !== 0) {
    for (let k = 0; k < x.length; k++) {
      if (buf[k] === null) throw new Error(`sgdUpdateMany: tensor ${k} has no momentum buffer but momentum is ${h.momentum}`);
    }
  }
  if (!ownBuffers([x, buf], [g])) {
    for (let k = 0; k < x.length; k++) sgdUpdate(x[k], g[k], buf[k], first[k], h);
    return;
  }
  runPieces('optim.sgdMany', x, {
    x, g, buf, first, lr: h.lr, momentum: h.momentum, dampening: h.dampening, nesterov: h.nesterov,
    weightDecay: h.weightDecay, maximize: h.maximize, wasm: wasmElementwiseEnabled(),
  });
}

registerTask('optim.sgdMany', (a: TaskArgs, start: number, end: number) => {
  const h = sgdStepOf(a);
  const x = a.x as FloatArray[], g = a.g as FloatArray[], buf = a.buf as (FloatArray | null)[];
  const first = a.first as boolean[], starts = a.starts as number[];
  for (let k = tensorAt(starts, start); k < x.length && starts[k] < end; k++) {
    const [lo, hi] = pieceRange(starts, x[k].length, k, start, end);
    if (lo < hi) sgdRange(x[k], g[k], buf[k], first[k], h, lo, hi, a.wasm as boolean);
  }
});

// ----------------------------------------------------------------------------------------- Adam

/** One Adam/AdamW update of x with gradient g and moments m, v (and vmax with amsgrad, else null). */
export function adamUpdate(x: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, vmax: FloatArray | null, h: AdamStep): void {
  const n = x.length;
  if (n === 0) return;
  parallelFor('optim.adam', n, {
    x, g, m, v, vmax, lr: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay,
    amsgrad: h.amsgrad, maximize: h.maximize, decoupled: h.decoupled, step: h.step, wasm: wasmElementwiseEnabled(),
  }, parts(n));
}

function adamRange(
  x: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, vmax: FloatArray | null, h: AdamStep,
  start: number, end: number, wasm: boolean,
): void {
  const { lr, beta1, beta2, eps, weightDecay, maximize, decoupled, step } = h;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const decay = 1 - lr * weightDecay;
  const l2 = !decoupled && weightDecay !== 0;
  const shrink = decoupled && weightDecay !== 0;
  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2 = 1 - beta2 ** step;
  const negStepSize = -(lr / biasCorrection1);
  const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);
  const ww = wasmFor(wasm, end - start, [x, g, m, v, vmax]);
  if (ww !== null) {
    const kind: AdamDecay = l2 ? 'l2' : shrink ? 'decoupled' : 'none';
    const streams = vmax !== null ? [x, g, m, v, vmax] : [x, g, m, v];
    const outputs = vmax !== null ? [0, 2, 3, 4] : [0, 2, 3];
    staged(ww, adamKernelName(kind, vmax !== null), streams as Float32Array[], outputs,
      [maximize ? -1 : 1, decay, weightDecay, beta1, c1, beta2, c2, biasCorrection2Sqrt, eps, negStepSize], start, end);
    return;
  }
  for (let i = start; i < end; i++) {
    if (shrink) x[i] = x[i] * decay;
    let gr = maximize ? -g[i] : g[i];
    if (l2) gr = gr + weightDecay * x[i];
    // torch 1.13: exp_avg.mul_(β1).add_(g, alpha=1 − β1) (lerp_ came in torch 2.1).
    m[i] = m[i] * beta1 + c1 * gr;
    v[i] = v[i] * beta2 + c2 * gr * gr;
    let vhat = v[i];
    if (vmax) {
      // Math.max propagates NaN as torch.maximum does.
      vmax[i] = Math.max(vmax[i], vhat);
      vhat = vmax[i];
    }
    const denom = Math.sqrt(vhat) / biasCorrection2Sqrt + eps;
    x[i] = x[i] + (negStepSize * m[i]) / denom;
  }
}

/** The Adam hyper-parameters a task's arguments carry, at step count `step`. */
function adamStepOf(a: TaskArgs, step: number): AdamStep {
  return {
    lr: a.lr as number, beta1: a.beta1 as number, beta2: a.beta2 as number, eps: a.eps as number,
    weightDecay: a.weightDecay as number, amsgrad: a.amsgrad as boolean, maximize: a.maximize as boolean,
    decoupled: a.decoupled as boolean, step,
  };
}

registerTask('optim.adam', (a: TaskArgs, start: number, end: number) => {
  const h = adamStepOf(a, a.step as number);
  adamRange(a.x as FloatArray, a.g as FloatArray, a.m as FloatArray, a.v as FloatArray, a.vmax as FloatArray | null, h, start, end, a.wasm as boolean);
});

/**
 * adamUpdate over many tensors as one parallel run; step[k] is tensor k's step count after this
 * update (the other hyper-parameters are h's, whose own `step` is ignored).
 */
export function adamUpdateMany(
  x: readonly FloatArray[], g: readonly FloatArray[], m: readonly FloatArray[], v: readonly FloatArray[],
  vmax: readonly (FloatArray | null)[], step: readonly number[], h: AdamStep,
): void {
  checkMany('adamUpdateMany', x, [['g', g, true], ['m', m, true], ['v', v, true], ['vmax', vmax, true], ['step', step, false]]);
  if (!ownBuffers([x, m, v, vmax], [g])) {
    for (let k = 0; k < x.length; k++) adamUpdate(x[k], g[k], m[k], v[k], vmax[k], { ...h, step: step[k] });
    return;
  }
  runPieces('optim.adamMany', x, {
    x, g, m, v, vmax, step, lr: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay,
    amsgrad: h.amsgrad, maximize: h.maximize, decoupled: h.decoupled, wasm: wasmElementwiseEnabled(),
  });
}

registerTask('optim.adamMany', (a: TaskArgs, start: number, end: number) => {
  const x = a.x as FloatArray[], g = a.g as FloatArray[], m = a.m as FloatArray[], v = a.v as FloatArray[];
  const vmax = a.vmax as (FloatArray | null)[], step = a.step as number[], starts = a.starts as number[];
  for (let k = tensorAt(starts, start); k < x.length && starts[k] < end; k++) {
    const [lo, hi] = pieceRange(starts, x[k].length, k, start, end);
    if (lo >= hi) continue;
    adamRange(x[k], g[k], m[k], v[k], vmax[k], adamStepOf(a, step[k]), lo, hi, a.wasm as boolean);
  }
});
