import { allocate, dtypeOf, type FloatArray } from '../core/dtype';
import { fail, fmtShape, fmtValue } from '../core/errors';

/**
 * Softmax, log-softmax and the fused cross-entropy loss, over row-major data viewed as
 * [outer, D, inner]: the softmax axis has length D and stride `inner`. A "line" is one (o, i) pair,
 * the D elements x[(o·D + d)·inner + i]; there are outer·inner lines, all independent.
 *
 * Each kernel has a `...Range(…, r0, r1)` entry point computing lines [r0, r1) (for logits [N, C]
 * a line is a sample), and the whole-array functions call it with [0, outer·inner). Per-line sums
 * always run in d order in a double, so results are bit-identical however the lines are split.
 * With inner = 1 a line is a contiguous row; with inner > 1 the loops walk the contiguous inner
 * block of each (o, d) and keep one running max/sum per line in a small Float64Array.
 *
 * Cost per element: forward 3 passes over its line (max, Σ exp, write) and one exp (softmax keeps
 * the exps in `out` and divides in place); backward 2 passes (Σ, write), plus one exp for
 * log-softmax. Cross-entropy adds one pass over each row for the loss, and its backward is one
 * pass with one exp per element.
 */

const viewStr = (outer: number, D: number, inner: number): string => `[${outer},${D},${inner}]`;

function checkView(op: string, outer: number, D: number, inner: number): void {
  if (![outer, D, inner].every((v) => Number.isInteger(v) && v >= 0)) {
    fail(op, `outer, D and inner must be non-negative integers, got view ${viewStr(outer, D, inner)}`);
  }
}

function checkArray(op: string, name: string, a: FloatArray, n: number, what: string): void {
  if (!(a instanceof Float32Array || a instanceof Float64Array)) fail(op, `${name} must be a Float32Array or Float64Array, got ${String(a)}`);
  if (a.length !== n) fail(op, `${name} has ${a.length} elements, expected ${n} for ${what}`);
}

function checkRange(op: string, r0: number, r1: number, total: number): void {
  if (!Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r0 > r1 || r1 > total) fail(op, `line range [${r0}, ${r1}) is not within [0, ${total}]`);
}

/**
 * Calls `block(o, iA, iB)` for each run of lines [r0, r1) that shares one outer index o, so the
 * kernels can walk inner indices [iA, iB) contiguously.
 */
function forEachBlock(inner: number, r0: number, r1: number, block: (o: number, iA: number, iB: number) => void): void {
  if (r0 >= r1) return;
  const oFirst = Math.floor(r0 / inner), oLast = Math.floor((r1 - 1) / inner);
  for (let o = oFirst; o <= oLast; o++) {
    const iA = o === oFirst ? r0 - o * inner : 0;
    const iB = o === oLast ? r1 - o * inner : inner;
    block(o, iA, iB);
  }
}

function validateUnary(op: string, a: FloatArray, aName: string, b: FloatArray, bName: string, outer: number, D: number, inner: number, r0: number, r1: number): void {
  checkView(op, outer, D, inner);
  const n = outer * D * inner, what = `view ${viewStr(outer, D, inner)}`;
  checkArray(op, aName, a, n, what);
  checkArray(op, bName, b, n, what);
  checkRange(op, r0, r1, outer * inner);
}

// ------------------------------------------------------------------------------------ log-softmax

/** out = x − max − log Σ exp(x − max) along D. */
export function logSoftmaxForward(x: FloatArray, outer: number, D: number, inner: number): FloatArray {
  const op = 'logSoftmaxForward';
  checkView(op, outer, D, inner);
  checkArray(op, 'x', x, outer * D * inner, `view ${viewStr(outer, D, inner)}`);
  const out = allocate(dtypeOf(x), outer * D * inner);
  logSoftmaxForwardImpl(x, outer, D, inner, out, 0, outer * inner);
  return out;
}

/** Writes lines [r0, r1) of out. */
export function logSoftmaxForwardRange(x: FloatArray, outer: number, D: number, inner: number, out: FloatArray, r0: number, r1: number): void {
  validateUnary('logSoftmaxForwardRange', x, 'x', out, 'out', outer, D, inner, r0, r1);
  logSoftmaxForwardImpl(x, outer, D, inner, out, r0, r1);
}

function logSoftmaxForwardImpl(x: FloatArray, outer: number, D: number, inner: number, out: FloatArray, r0: number, r1: number): void {
  if (inner === 1) {
    logSoftmaxRows(x, D, out, r0, r1);
    return;
  }
  const mx = new Float64Array(inner), acc = new Float64Array(inner);
  forEachBlock(inner, r0, r1, (o, iA, iB) => {
    const w = iB - iA;
    mx.fill(-Infinity, 0, w);
    acc.fill(0, 0, w);
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) if (x[b + j] > mx[j]) mx[j] = x[b + j];
    }
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) acc[j] += Math.exp(x[b + j] - mx[j]);
    }
    for (let j = 0; j < w; j++) acc[j] = Math.log(acc[j]);
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) out[b + j] = x[b + j] - mx[j] - acc[j];
    }
  });
}

/** Contiguous rows [r0, r1) of length D; shared with cross-entropy. NaN skips the max but poisons the sum, so a NaN row comes out all NaN. */
function logSoftmaxRows(x: FloatArray, D: number, out: FloatArray, r0: number, r1: number): void {
  for (let r = r0; r < r1; r++) {
    const b = r * D, e = b + D;
    let m = -Infinity;
    for (let i = b; i < e; i++) if (x[i] > m) m = x[i];
    let s = 0;
    for (let i = b; i < e; i++) s += Math.exp(x[i] - m);
    const ls = Math.log(s);
    for (let i = b; i < e; i++) out[i] = x[i] - m - ls;
  }
}

/** gx = gy − exp(out)·Σ gy along D (out is the forward result). */
export function logSoftmaxBackward(gy: FloatArray, out: FloatArray, outer: number, D: number, inner: number): FloatArray {
  validateUnary('logSoftmaxBackward', gy, 'gy', out, 'out', outer, D, inner, 0, outer * inner);
  const gx = allocate(dtypeOf(gy), outer * D * inner);
  logSoftmaxBackwardImpl(gy, out, outer, D, inner, gx, 0, outer * inner);
  return gx;
}

/** Writes lines [r0, r1) of gx. */
export function logSoftmaxBackwardRange(
  gy: FloatArray, out: FloatArray, outer: number, D: number, inner: number, gx: FloatArray, r0: number, r1: number,
): void {
  const op = 'logSoftmaxBackwardRange';
  validateUnary(op, gy, 'gy', out, 'out', outer, D, inner, r0, r1);
  checkArray(op, 'gx', gx, outer * D * inner, `view ${viewStr(outer, D, inner)}`);
  logSoftmaxBackwardImpl(gy, out, outer, D, inner, gx, r0, r1);
}

function logSoftmaxBackwardImpl(
  gy: FloatArray, out: FloatArray, outer: number, D: number, inner: number, gx: FloatArray, r0: number, r1: number,
): void {
  if (inner === 1) {
    for (let r = r0; r < r1; r++) {
      const b = r * D, e = b + D;
      let s = 0;
      for (let i = b; i < e; i++) s += gy[i];
      for (let i = b; i < e; i++) gx[i] = gy[i] - Math.exp(out[i]) * s;
    }
    return;
  }
  const acc = new Float64Array(inner);
  forEachBlock(inner, r0, r1, (o, iA, iB) => {
    const w = iB - iA;
    acc.fill(0, 0, w);
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) acc[j] += gy[b + j];
    }
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) gx[b + j] = gy[b + j] - Math.exp(out[b + j]) * acc[j];
    }
  });
}

// ---------------------------------------------------------------------------------------- softmax

/** out = exp(x − max) / Σ exp(x − max) along D. */
export function softmaxForward(x: FloatArray, outer: number, D: number, inner: number): FloatArray {
  const op = 'softmaxForward';
  checkView(op, outer, D, inner);
  checkArray(op, 'x', x, outer * D * inner, `view ${viewStr(outer, D, inner)}`);
  const out = allocate(dtypeOf(x), outer * D * inner);
  softmaxForwardImpl(x, outer, D, inner, out, 0, outer * inner);
  return out;
}

/** Writes lines [r0, r1) of out. */
export function softmaxForwardRange(x: FloatArray, outer: number, D: number, inner: number, out: FloatArray, r0: number, r1: number): void {
  validateUnary('softmaxForwardRange', x, 'x', out, 'out', outer, D, inner, r0, r1);
  softmaxForwardImpl(x, outer, D, inner, out, r0, r1);
}

function softmaxForwardImpl(x: FloatArray, outer: number, D: number, inner: number, out: FloatArray, r0: number, r1: number): void {
  // The exponentials are parked in `out` and divided in place, so each costs one exp.
  if (inner === 1) {
    for (let r = r0; r < r1; r++) {
      const b = r * D, e = b + D;
      let m = -Infinity;
      for (let i = b; i < e; i++) if (x[i] > m) m = x[i];
      let s = 0;
      for (let i = b; i < e; i++) {
        const t = Math.exp(x[i] - m);
        out[i] = t;
        s += t;
      }
      for (let i = b; i < e; i++) out[i] /= s;
    }
    return;
  }
  const mx = new Float64Array(inner), acc = new Float64Array(inner);
  forEachBlock(inner, r0, r1, (o, iA, iB) => {
    const w = iB - iA;
    mx.fill(-Infinity, 0, w);
    acc.fill(0, 0, w);
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) if (x[b + j] > mx[j]) mx[j] = x[b + j];
    }
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) {
        const t = Math.exp(x[b + j] - mx[j]);
        out[b + j] = t;
        acc[j] += t;
      }
    }
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) out[b + j] /= acc[j];
    }
  });
}

/** gx = out·(gy − Σ gy·out) along D. */
export function softmaxBackward(gy: FloatArray, out: FloatArray, outer: number, D: number, inner: number): FloatArray {
  validateUnary('softmaxBackward', gy, 'gy', out, 'out', outer, D, inner, 0, outer * inner);
  const gx = allocate(dtypeOf(gy), outer * D * inner);
  softmaxBackwardImpl(gy, out, outer, D, inner, gx, 0, outer * inner);
  return gx;
}

/** Writes lines [r0, r1) of gx. */
export function softmaxBackwardRange(
  gy: FloatArray, out: FloatArray, outer: number, D: number, inner: number, gx: FloatArray, r0: number, r1: number,
): void {
  const op = 'softmaxBackwardRange';
  validateUnary(op, gy, 'gy', out, 'out', outer, D, inner, r0, r1);
  checkArray(op, 'gx', gx, outer * D * inner, `view ${viewStr(outer, D, inner)}`);
  softmaxBackwardImpl(gy, out, outer, D, inner, gx, r0, r1);
}

function softmaxBackwardImpl(
  gy: FloatArray, out: FloatArray, outer: number, D: number, inner: number, gx: FloatArray, r0: number, r1: number,
): void {
  if (inner === 1) {
    for (let r = r0; r < r1; r++) {
      const b = r * D, e = b + D;
      let s = 0;
      for (let i = b; i < e; i++) s += gy[i] * out[i];
      for (let i = b; i < e; i++) gx[i] = out[i] * (gy[i] - s);
    }
    return;
  }
  const acc = new Float64Array(inner);
  forEachBlock(inner, r0, r1, (o, iA, iB) => {
    const w = iB - iA;
    acc.fill(0, 0, w);
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) acc[j] += gy[b + j] * out[b + j];
    }
    for (let d = 0; d < D; d++) {
      const b = (o * D + d) * inner + iA;
      for (let j = 0; j < w; j++) gx[b + j] = out[b + j] * (gy[b + j] - acc[j]);
    }
  });
}

// ---------------------------------------------------------------------------------- cross-entropy

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  reduction?: Reduction;
  /** ε in [0, 1]: the target distribution becomes (1 − ε)·onehot + ε/C. */
  labelSmoothing?: number;
  /** Samples whose target equals this contribute nothing, not even to the 'mean' denominator. */
  ignoreIndex?: number;
  /** Per-class rescaling weight of length C. */
  weight?: FloatArray | null;
}

interface CeOpts {
  reduction: Reduction;
  eps: number;
  ignoreIndex: number;
  weight: FloatArray | null;
}

const ceShape = (N: number, C: number): string => `logits [${N},${C}]`;

function resolveOptions(op: string, C: number, o: CrossEntropyOptions | undefined): CeOpts {
  const opts = o ?? {};
  if (typeof opts !== 'object') fail(op, `options must be an object, got ${String(opts)}`);
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') fail(op, `reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(reduction)}`);
  const eps = opts.labelSmoothing ?? 0;
  if (typeof eps !== 'number' || !(eps >= 0 && eps <= 1)) fail(op, `labelSmoothing must be between 0.0 and 1.0, got ${fmtValue(eps)}`);
  const ignoreIndex = opts.ignoreIndex ?? -100;
  if (!Number.isInteger(ignoreIndex)) fail(op, `ignoreIndex must be an integer, got ${fmtValue(ignoreIndex)}`);
  const weight = opts.weight ?? null;
  if (weight !== null) {
    if (!(weight instanceof Float32Array || weight instanceof Float64Array)) fail(op, `weight must be a Float32Array or Float64Array, got ${String(weight)}`);
    if (weight.length !== C) fail(op, `weight should be defined for all ${C} classes or no classes, got ${weight.length} weights`);
  }
  return { reduction, eps, ignoreIndex, weight };
}

function checkCe(op: string, N: number, C: number, target: Int32Array): void {
  if (!Number.isInteger(N) || N < 0 || !Number.isInteger(C) || C < 1) fail(op, `expected a non-negative integer N and a positive integer C, got ${ceShape(N, C)}`);
  if (!(target instanceof Int32Array)) fail(op, `target must be an Int32Array of class indices, got ${String(target)}`);
  if (target.length !== N) fail(op, `target has ${target.length} entries, expected ${N} for ${ceShape(N, C)}`);
}

/** Throws for a target outside [0, C) unless it is the ignore index; true if the sample is ignored. */
function ignored(op: string, target: Int32Array, n: number, C: number, ignoreIndex: number): boolean {
  const t = target[n];
  if (t === ignoreIndex) return true;
  if (t < 0 || t >= C) fail(op, `target[${n}] = ${t} is out of bounds for ${C} classes (ignoreIndex ${ignoreIndex})`);
  return false;
}

/** The 'mean' denominator, as PyTorch's nll_loss: Σ weight[target[n]] over non-ignored samples (their count without weights). */
function totalWeight(op: string, N: number, C: number, target: Int32Array, o: CeOpts): number {
  let W = 0;
  for (let n = 0; n < N; n++) if (!ignored(op, target, n, C, o.ignoreIndex)) W += o.weight ? o.weight[target[n]] : 1;
  return W;
}

/**
 * PyTorch's cross_entropy on logits [N, C] with class-index targets:
 *   loss_n = (1 − ε)·(−w[t]·logp[t]) + ε/C·Σ_c(−w[c]·logp[c]), 0 for ignored samples;
 * 'sum' adds them and 'mean' divides the sum by Σ w[t_n] over non-ignored samples (NaN if all are
 * ignored, as PyTorch). `logProb` is the log-softmax of the logits, saved for the backward.
 */
export function crossEntropyForward(
  logits: FloatArray, N: number, C: number, target: Int32Array, options?: CrossEntropyOptions,
): { loss: FloatArray; logProb: FloatArray } {
  const op = 'crossEntropyForward';
  checkCe(op, N, C, target);
  const o = resolveOptions(op, C, options);
  checkArray(op, 'logits', logits, N * C, ceShape(N, C));
  for (let n = 0; n < N; n++) ignored(op, target, n, C, o.ignoreIndex);
  const dt = dtypeOf(logits);
  const logProb = allocate(dt, N * C);
  const rowLoss = new Float64Array(N);
  crossEntropyForwardImpl(logits, C, target, o, logProb, rowLoss, 0, N);
  if (o.reduction === 'none') {
    const loss = allocate(dt, N);
    loss.set(rowLoss);
    return { loss, logProb };
  }
  let total = 0;
  for (let n = 0; n < N; n++) total += rowLoss[n];
  const loss = allocate(dt, 1);
  if (o.reduction === 'sum') loss[0] = total;
  else {
    const W = totalWeight(op, N, C, target, o);
    loss[0] = W === 0 ? zeroWeightMean(logProb, C, target, o, W) : total / W;
  }
  return { loss, logProb };
}

/**
 * 'mean' when Σ w[t_n] = 0 (every sample ignored, or the targets' class weights are 0 or cancel).
 * PyTorch divides the nll sum and the smoothing sum by W separately and then forms
 * (1 − ε)·nll + ε/C·smooth, so 0/0 in the nll part makes the loss NaN even where the combined sum
 * over W would be ±∞.
 */
function zeroWeightMean(logProb: FloatArray, C: number, target: Int32Array, o: CeOpts, W: number): number {
  const { eps, weight } = o;
  let nll = 0, smooth = 0;
  for (let n = 0; n < target.length; n++) {
    const t = target[n], b = n * C;
    if (t === o.ignoreIndex) continue;
    nll -= (weight ? weight[t] : 1) * logProb[b + t];
    if (eps > 0) for (let c = 0; c < C; c++) smooth -= (weight ? weight[c] : 1) * logProb[b + c];
  }
  return eps === 0 ? nll / W : (1 - eps) * (nll / W) + (smooth / W) * (eps / C);
}

/** Rows [r0, r1): writes their log-probabilities and their unreduced losses into rowLoss (0 if ignored). */
export function crossEntropyForwardRange(
  logits: FloatArray, N: number, C: number, target: Int32Array, options: CrossEntropyOptions | undefined,
  logProb: FloatArray, rowLoss: Float64Array, r0: number, r1: number,
): void {
  const op = 'crossEntropyForwardRange';
  checkCe(op, N, C, target);
  const o = resolveOptions(op, C, options);
  checkArray(op, 'logits', logits, N * C, ceShape(N, C));
  checkArray(op, 'logProb', logProb, N * C, ceShape(N, C));
  if (!(rowLoss instanceof Float64Array) || rowLoss.length !== N) fail(op, `rowLoss must be a Float64Array of ${N} elements, got ${String(rowLoss?.length)} elements`);
  checkRange(op, r0, r1, N);
  for (let n = r0; n < r1; n++) ignored(op, target, n, C, o.ignoreIndex);
  crossEntropyForwardImpl(logits, C, target, o, logProb, rowLoss, r0, r1);
}

function crossEntropyForwardImpl(
  logits: FloatArray, C: number, target: Int32Array, o: CeOpts, logProb: FloatArray, rowLoss: Float64Array, r0: number, r1: number,
): void {
  logSoftmaxRows(logits, C, logProb, r0, r1);
  const { eps, weight } = o;
  for (let n = r0; n < r1; n++) {
    if (target[n] === o.ignoreIndex) {
      rowLoss[n] = 0;
      continue;
    }
    const b = n * C, t = target[n];
    const nll = -(weight ? weight[t] : 1) * logProb[b + t];
    if (eps === 0) {
      // PyTorch takes the plain nll path here; skipping the smoothing term also keeps 0·(−∞) out.
      rowLoss[n] = nll;
      continue;
    }
    let smooth = 0;
    if (weight) for (let c = 0; c < C; c++) smooth -= weight[c] * logProb[b + c];
    else for (let c = 0; c < C; c++) smooth -= logProb[b + c];
    rowLoss[n] = (1 - eps) * nll + (eps / C) * smooth;
  }
}

/**
 * d loss / d logits, fused: per non-ignored row n with scale g_n (gLoss[n] for 'none', gLoss for
 * 'sum', gLoss / Σ w[t] for 'mean'),
 *   g_n·[(1 − ε)·w[t]·(p_c − [c = t]) + ε/C·(p_c·Σ_k w[k] − w[c])],  p = exp(logProb),
 * which without weights is g_n·(softmax − smoothed one-hot). Ignored rows get 0.
 */
export function crossEntropyBackward(
  gLoss: number | FloatArray, logProb: FloatArray, N: number, C: number, target: Int32Array, options?: CrossEntropyOptions,
): FloatArray {
  const op = 'crossEntropyBackward';
  const { o, g0, W } = checkCeBackward(op, gLoss, logProb, N, C, target, options, 0, N);
  const gLogits = allocate(dtypeOf(logProb), N * C);
  if (W === 0) zeroWeightMeanBackward(gLoss, W, logProb, C, target, o, gLogits, 0, N);
  else crossEntropyBackwardImpl(gLoss, g0, logProb, C, target, o, gLogits, 0, N);
  return gLogits;
}

/** Writes rows [r0, r1) of gLogits. */
export function crossEntropyBackwardRange(
  gLoss: number | FloatArray, logProb: FloatArray, N: number, C: number, target: Int32Array,
  options: CrossEntropyOptions | undefined, gLogits: FloatArray, r0: number, r1: number,
): void {
  const op = 'crossEntropyBackwardRange';
  const { o, g0, W } = checkCeBackward(op, gLoss, logProb, N, C, target, options, r0, r1);
  checkArray(op, 'gLogits', gLogits, N * C, ceShape(N, C));
  if (W === 0) zeroWeightMeanBackward(gLoss, W, logProb, C, target, o, gLogits, r0, r1);
  else crossEntropyBackwardImpl(gLoss, g0, logProb, C, target, o, gLogits, r0, r1);
}

/** Validates the backward's arguments; returns the resolved options and the scale g0 shared by all rows ('mean'/'sum'). */
function checkCeBackward(
  op: string, gLoss: number | FloatArray, logProb: FloatArray, N: number, C: number, target: Int32Array,
  options: CrossEntropyOptions | undefined, r0: number, r1: number,
): { o: CeOpts; g0: number; W: number } {
  checkCe(op, N, C, target);
  const o = resolveOptions(op, C, options);
  checkArray(op, 'logProb', logProb, N * C, ceShape(N, C));
  checkRange(op, r0, r1, N);
  const perRow = o.reduction === 'none';
  let g0 = 0;
  if (typeof gLoss === 'number') {
    if (perRow) fail(op, `reduction 'none' needs one upstream gradient per sample (${N}), got a scalar`);
    g0 = gLoss;
  } else {
    if (!(gLoss instanceof Float32Array || gLoss instanceof Float64Array)) fail(op, `gLoss must be a number or a Float32Array/Float64Array, got ${String(gLoss)}`);
    const want = perRow ? N : 1;
    if (gLoss.length !== want) fail(op, `gLoss has ${gLoss.length} elements, expected ${want} for reduction '${o.reduction}' and ${ceShape(N, C)}`);
    g0 = gLoss[0];
  }
  let W = NaN;
  if (o.reduction === 'mean') W = totalWeight(op, N, C, target, o);
  else for (let n = r0; n < r1; n++) ignored(op, target, n, C, o.ignoreIndex);
  return { o, g0: o.reduction === 'mean' ? g0 / W : g0, W };
}

function crossEntropyBackwardImpl(
  gLoss: number | FloatArray, g0: number, logProb: FloatArray, C: number, target: Int32Array, o: CeOpts,
  gLogits: FloatArray, r0: number, r1: number,
): void {
  const perRow = o.reduction === 'none';
  const { eps, weight } = o;
  const sC = eps / C;
  let wSum = C;
  if (weight) {
    wSum = 0;
    for (let c = 0; c < C; c++) wSum += weight[c];
  }
  for (let n = r0; n < r1; n++) {
    const b = n * C, e = b + C, t = target[n];
    if (t === o.ignoreIndex) {
      ignoredRowGrad(logProb, gLogits, b, e);
      continue;
    }
    const g = perRow ? (gLoss as FloatArray)[n] : g0;
    if (weight) {
      const a = (1 - eps) * weight[t];
      const pc = a + sC * wSum; // coefficient of p_c
      for (let i = b, c = 0; i < e; i++, c++) gLogits[i] = g * (pc * Math.exp(logProb[i]) - sC * weight[c]);
      gLogits[b + t] = g * (pc * Math.exp(logProb[b + t]) - sC * weight[t] - a);
    } else {
      const hit = 1 - eps + sC;
      for (let i = b; i < e; i++) gLogits[i] = g * (Math.exp(logProb[i]) - sC);
      gLogits[b + t] = g * (Math.exp(logProb[b + t]) - hit);
    }
  }
}

/**
 * An ignored row's gradient: log_softmax_backward of a zero upstream gradient, 0 − exp(logp)·0,
 * which is 0 except where the log-softmax is NaN (a NaN or +∞ logit, or a row all −∞): there
 * PyTorch's gradient is NaN, not 0.
 */
function ignoredRowGrad(logProb: FloatArray, gLogits: FloatArray, b: number, e: number): void {
  for (let i = b; i < e; i++) gLogits[i] = Number.isNaN(logProb[i]) ? NaN : 0;
}

/**
 * The 'mean' gradient when Σ w[t_n] = 0, step by step as PyTorch's composite computes it (the fused
 * form would turn its NaNs into ±∞): nll_loss_backward puts w[t]·(−(1 − ε)·g/W) at the target,
 * the smoothing term adds −w[c]·(ε/C·g)/W to every class, then log_softmax_backward.
 */
function zeroWeightMeanBackward(
  gLoss: number | FloatArray, W: number, logProb: FloatArray, C: number, target: Int32Array, o: CeOpts,
  gLogits: FloatArray, r0: number, r1: number,
): void {
  const { eps, weight } = o;
  const g = typeof gLoss === 'number' ? gLoss : gLoss[0];
  const gNll = -((g * (1 - eps)) / W), gSmooth = (g * (eps / C)) / W;
  const gLp = new Float64Array(C);
  for (let n = r0; n < r1; n++) {
    const b = n * C, t = target[n];
    if (t === o.ignoreIndex) {
      ignoredRowGrad(logProb, gLogits, b, b + C);
      continue;
    }
    for (let c = 0; c < C; c++) gLp[c] = eps > 0 ? -gSmooth * (weight ? weight[c] : 1) : 0;
    gLp[t] += (weight ? weight[t] : 1) * gNll;
    let s = 0;
    for (let c = 0; c < C; c++) s += gLp[c];
    for (let c = 0; c < C; c++) gLogits[b + c] = gLp[c] - Math.exp(logProb[b + c]) * s;
  }
}

// ---- slow, obviously-correct reference loops (tests hold the fast kernels to these) ----

/** The D values of line (o, i), in d order. */
function lineValues(a: FloatArray, D: number, inner: number, o: number, i: number): number[] {
  const v: number[] = [];
  for (let d = 0; d < D; d++) v.push(a[(o * D + d) * inner + i]);
  return v;
}

function mapLines(a: FloatArray, b: FloatArray | null, outer: number, D: number, inner: number, f: (va: number[], vb: number[]) => number[]): FloatArray {
  const res = allocate(dtypeOf(a), outer * D * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const r = f(lineValues(a, D, inner, o, i), b ? lineValues(b, D, inner, o, i) : []);
      for (let d = 0; d < D; d++) res[(o * D + d) * inner + i] = r[d];
    }
  return res;
}

function logSoftmaxLine(v: readonly number[]): number[] {
  const m = Math.max(...v);
  const lse = Math.log(v.reduce((s, t) => s + Math.exp(t - m), 0));
  return v.map((t) => t - m - lse);
}

export function logSoftmaxForwardReference(x: FloatArray, outer: number, D: number, inner: number): FloatArray {
  return mapLines(x, null, outer, D, inner, (v) => logSoftmaxLine(v));
}

export function softmaxForwardReference(x: FloatArray, outer: number, D: number, inner: number): FloatArray {
  return mapLines(x, null, outer, D, inner, (v) => {
    const m = Math.max(...v);
    const e = v.map((t) => Math.exp(t - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((t) => t / s);
  });
}

/** Vector-Jacobian product with the explicit Jacobian d out_j / d x_k = [j = k] − p_k. */
export function logSoftmaxBackwardReference(gy: FloatArray, out: FloatArray, outer: number, D: number, inner: number): FloatArray {
  return mapLines(gy, out, outer, D, inner, (g, lp) => {
    const p = lp.map(Math.exp);
    return p.map((pk, k) => g.reduce((s, gj, j) => s + gj * ((j === k ? 1 : 0) - pk), 0));
  });
}

/** Vector-Jacobian product with the explicit Jacobian d out_j / d x_k = out_j·([j = k] − out_k). */
export function softmaxBackwardReference(gy: FloatArray, out: FloatArray, outer: number, D: number, inner: number): FloatArray {
  return mapLines(gy, out, outer, D, inner, (g, y) => y.map((yk, k) => g.reduce((s, gj, j) => s + gj * y[j] * ((j === k ? 1 : 0) - yk), 0)));
}

/** Cross-entropy against the smoothed target distribution q = (1 − ε)·onehot(t) + ε/C: loss_n = −Σ_c w[c]·q_c·logp_c. */
export function crossEntropyForwardReference(
  logits: FloatArray, N: number, C: number, target: Int32Array, options?: CrossEntropyOptions,
): { loss: FloatArray; logProb: FloatArray } {
  const reduction = options?.reduction ?? 'mean', eps = options?.labelSmoothing ?? 0, ign = options?.ignoreIndex ?? -100;
  const w = (c: number): number => (options?.weight ? options.weight[c] : 1);
  const logProb = logSoftmaxForwardReference(logits, N, C, 1);
  const losses: number[] = [];
  let denom = 0;
  for (let n = 0; n < N; n++) {
    const t = target[n];
    if (t === ign) {
      losses.push(0);
      continue;
    }
    const lp = logSoftmaxLine(lineValues(logits, C, 1, n, 0));
    let l = 0;
    for (let c = 0; c < C; c++) l -= w(c) * ((c === t ? 1 - eps : 0) + eps / C) * lp[c];
    losses.push(l);
    denom += w(t);
  }
  const total = losses.reduce((a, b) => a + b, 0);
  const vals = reduction === 'none' ? losses : [reduction === 'sum' ? total : total / denom];
  const loss = allocate(dtypeOf(logits), vals.length);
  loss.set(vals);
  return { loss, logProb };
}

/** Chain rule through the composite: d loss_n / d logp_c = −w[c]·q_c, then the log-softmax Jacobian. */
export function crossEntropyBackwardReference(
  gLoss: number | FloatArray, logProb: FloatArray, N: number, C: number, target: Int32Array, options?: CrossEntropyOptions,
): FloatArray {
  const reduction = options?.reduction ?? 'mean', eps = options?.labelSmoothing ?? 0, ign = options?.ignoreIndex ?? -100;
  const w = (c: number): number => (options?.weight ? options.weight[c] : 1);
  let denom = 0;
  for (let n = 0; n < N; n++) if (target[n] !== ign) denom += w(target[n]);
  const gl = (n: number): number => {
    const g = typeof gLoss === 'number' ? gLoss : reduction === 'none' ? gLoss[n] : gLoss[0];
    return reduction === 'mean' ? g / denom : g;
  };
  const gLp = allocate('float64', N * C);
  for (let n = 0; n < N; n++) {
    const t = target[n];
    if (t === ign) continue;
    for (let c = 0; c < C; c++) gLp[n * C + c] = gl(n) * -w(c) * ((c === t ? 1 - eps : 0) + eps / C);
  }
  const g = logSoftmaxBackwardReference(gLp, Float64Array.from(logProb), N, C, 1);
  const res = allocate(dtypeOf(logProb), N * C);
  res.set(g);
  return res;
}
