import { allocate, dtypeOf, type FloatArray } from '../core/dtype';
import { fail } from '../core/errors';

/**
 * Batch normalization over x viewed as [N, C, S], row-major (S = H·W for BatchNorm2d on NCHW,
 * S = 1 for BatchNorm1d on [N, C]); statistics are per channel over the n = N·S values of that
 * channel. Semantics follow PyTorch: training normalizes with the biased batch variance and also
 * reports the unbiased one (var·n/(n−1)) for the caller's running-variance update; evaluation uses
 * the running statistics only.
 *
 * Every channel is independent, so each kernel has a `...Range(…, c0, c1)` entry point computing
 * channels [c0, c1); the whole-array functions call it with [0, C). Per-channel sums always run in
 * the order (n, s) in a double, so results are bit-identical however the channels are split.
 * The loops walk n outermost and the channel block [c0, c1)·S inside it, which is contiguous both
 * for large S and for S = 1.
 *
 * Cost (reads/writes of the N·C·S elements): train forward 3 passes (mean, centred variance,
 * output), train backward 2 (two sums, gradient), eval forward 1, eval backward 1.
 */

export interface BatchNormTrainResult {
  out: FloatArray;
  /** Batch mean per channel. */
  mean: Float64Array;
  /** 1/sqrt(biased batch variance + eps) per channel, saved for the backward. */
  invstd: Float64Array;
  /** Unbiased batch variance per channel, for running_var = (1−m)·running_var + m·varUnbiased. */
  varUnbiased: Float64Array;
}

export interface BatchNormGrads {
  gx: FloatArray;
  gweight: FloatArray;
  gbias: FloatArray;
}

const shapeStr = (N: number, C: number, S: number): string => `[${N},${C},${S}]`;

function checkDims(op: string, N: number, C: number, S: number): void {
  if (!Number.isInteger(N) || N < 0 || !Number.isInteger(C) || C < 1 || !Number.isInteger(S) || S < 1) {
    fail(op, `expected a non-negative integer N and positive integers C and S, got input ${shapeStr(N, C, S)}`);
  }
}

function checkArray(op: string, name: string, a: FloatArray | null, n: number, what: string, nullable = false): void {
  if (a === null && nullable) return;
  if (!(a instanceof Float32Array || a instanceof Float64Array)) fail(op, `${name} must be a Float32Array or Float64Array, got ${String(a)}`);
  if (a.length !== n) fail(op, `${name} has ${a.length} elements, expected ${n} for ${what}`);
}

function checkEps(op: string, eps: number): void {
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) fail(op, `eps must be a finite number >= 0, got ${eps}`);
}

function checkRange(op: string, c0: number, c1: number, C: number): void {
  if (!Number.isInteger(c0) || !Number.isInteger(c1) || c0 < 0 || c0 > c1 || c1 > C) fail(op, `channel range [${c0}, ${c1}) is not within [0, ${C}]`);
}

function checkTrainable(op: string, N: number, C: number, S: number): void {
  // PyTorch raises the same for an [N, C, ...] input with N·S == 1: the variance of one value is 0
  // and the unbiased one undefined, so training on it is almost certainly a mistake.
  if (N * S <= 1) fail(op, `expected more than 1 value per channel when training, got input ${shapeStr(N, C, S)} (N·S = ${N * S})`);
}

// -------------------------------------------------------------------------------- train forward

function checkTrainForward(
  op: string, x: FloatArray, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
): void {
  checkDims(op, N, C, S);
  checkTrainable(op, N, C, S);
  checkArray(op, 'x', x, N * C * S, `input ${shapeStr(N, C, S)}`);
  checkArray(op, 'weight', weight, C, `${C} channels`, true);
  checkArray(op, 'bias', bias, C, `${C} channels`, true);
  checkEps(op, eps);
}

export function batchNormTrainForward(
  x: FloatArray, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
): BatchNormTrainResult {
  checkTrainForward('batchNormTrainForward', x, N, C, S, weight, bias, eps);
  const res: BatchNormTrainResult = {
    out: allocate(dtypeOf(x), N * C * S),
    mean: new Float64Array(C),
    invstd: new Float64Array(C),
    varUnbiased: new Float64Array(C),
  };
  batchNormTrainForwardImpl(x, N, C, S, weight, bias, eps, res, 0, C);
  return res;
}

/** Writes channels [c0, c1) of every field of `res`. */
export function batchNormTrainForwardRange(
  x: FloatArray, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
  res: BatchNormTrainResult, c0: number, c1: number,
): void {
  const op = 'batchNormTrainForwardRange';
  checkTrainForward(op, x, N, C, S, weight, bias, eps);
  if (res === null || typeof res !== 'object') fail(op, `res must be a BatchNormTrainResult, got ${String(res)}`);
  checkArray(op, 'out', res.out, N * C * S, `input ${shapeStr(N, C, S)}`);
  checkArray(op, 'mean', res.mean, C, `${C} channels`);
  checkArray(op, 'invstd', res.invstd, C, `${C} channels`);
  checkArray(op, 'varUnbiased', res.varUnbiased, C, `${C} channels`);
  checkRange(op, c0, c1, C);
  batchNormTrainForwardImpl(x, N, C, S, weight, bias, eps, res, c0, c1);
}

function batchNormTrainForwardImpl(
  x: FloatArray, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
  res: BatchNormTrainResult, c0: number, c1: number,
): void {
  const { out, mean, invstd, varUnbiased } = res;
  const m = c1 - c0, cnt = N * S;
  const acc = new Float64Array(m);
  // Two-pass variance: Σ(x − mean)² does not cancel catastrophically when |mean| ≫ std, as Σx² − n·mean² would.
  for (let n = 0; n < N; n++) {
    let i = (n * C + c0) * S;
    for (let k = 0; k < m; k++) {
      let a = acc[k];
      for (const end = i + S; i < end; i++) a += x[i];
      acc[k] = a;
    }
  }
  for (let k = 0; k < m; k++) mean[c0 + k] = acc[k] / cnt;
  acc.fill(0);
  for (let n = 0; n < N; n++) {
    let i = (n * C + c0) * S;
    for (let k = 0; k < m; k++) {
      const mu = mean[c0 + k];
      let a = acc[k];
      for (const end = i + S; i < end; i++) {
        const d = x[i] - mu;
        a += d * d;
      }
      acc[k] = a;
    }
  }
  const scale = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const c = c0 + k;
    const is = 1 / Math.sqrt(acc[k] / cnt + eps);
    invstd[c] = is;
    varUnbiased[c] = acc[k] / (cnt - 1);
    scale[k] = (weight ? weight[c] : 1) * is;
  }
  // Centring before scaling (rather than x·scale + shift) avoids cancellation when |mean| ≫ std.
  for (let n = 0; n < N; n++) {
    let i = (n * C + c0) * S;
    for (let k = 0; k < m; k++) {
      const c = c0 + k, mu = mean[c], a = scale[k], b = bias ? bias[c] : 0;
      for (const end = i + S; i < end; i++) out[i] = (x[i] - mu) * a + b;
    }
  }
}

// ------------------------------------------------------------------------------- train backward

function checkTrainBackward(
  op: string, gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
): void {
  checkDims(op, N, C, S);
  checkTrainable(op, N, C, S);
  const what = `input ${shapeStr(N, C, S)}`;
  checkArray(op, 'gy', gy, N * C * S, what);
  checkArray(op, 'x', x, N * C * S, what);
  checkArray(op, 'mean', mean, C, `${C} channels`);
  checkArray(op, 'invstd', invstd, C, `${C} channels`);
  checkArray(op, 'weight', weight, C, `${C} channels`, true);
}

function checkGrads(op: string, res: BatchNormGrads, N: number, C: number, S: number): void {
  if (res === null || typeof res !== 'object') fail(op, `res must be a BatchNormGrads, got ${String(res)}`);
  checkArray(op, 'gx', res.gx, N * C * S, `input ${shapeStr(N, C, S)}`);
  checkArray(op, 'gweight', res.gweight, C, `${C} channels`);
  checkArray(op, 'gbias', res.gbias, C, `${C} channels`);
}

/**
 * gx = w·invstd·(gy − mean(gy) − x̂·mean(gy·x̂)) with x̂ = (x − mean)·invstd, the gradient through the
 * batch statistics; gweight = Σ gy·x̂, gbias = Σ gy (computed even when weight is null).
 */
export function batchNormTrainBackward(
  gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
): BatchNormGrads {
  checkTrainBackward('batchNormTrainBackward', gy, x, mean, invstd, weight, N, C, S);
  const dt = dtypeOf(x);
  const res: BatchNormGrads = { gx: allocate(dt, N * C * S), gweight: allocate(dt, C), gbias: allocate(dt, C) };
  batchNormTrainBackwardImpl(gy, x, mean, invstd, weight, N, C, S, res, 0, C);
  return res;
}

/** Writes channels [c0, c1) of every field of `res`. */
export function batchNormTrainBackwardRange(
  gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
  res: BatchNormGrads, c0: number, c1: number,
): void {
  const op = 'batchNormTrainBackwardRange';
  checkTrainBackward(op, gy, x, mean, invstd, weight, N, C, S);
  checkGrads(op, res, N, C, S);
  checkRange(op, c0, c1, C);
  batchNormTrainBackwardImpl(gy, x, mean, invstd, weight, N, C, S, res, c0, c1);
}

function batchNormTrainBackwardImpl(
  gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
  res: BatchNormGrads, c0: number, c1: number,
): void {
  const { gx, gweight, gbias } = res;
  const m = c1 - c0, cnt = N * S;
  const sumGy = new Float64Array(m), sumGyXc = new Float64Array(m);
  for (let n = 0; n < N; n++) {
    let i = (n * C + c0) * S;
    for (let k = 0; k < m; k++) {
      const mu = mean[c0 + k];
      let a = sumGy[k], b = sumGyXc[k];
      for (const end = i + S; i < end; i++) {
        const g = gy[i];
        a += g;
        b += g * (x[i] - mu);
      }
      sumGy[k] = a;
      sumGyXc[k] = b;
    }
  }
  // gx = k·gy − a·(x − mean) − b, with the per-channel constants folded once here.
  const kGy = new Float64Array(m), aXc = new Float64Array(m), b0 = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const c = c0 + k, is = invstd[c];
    const kk = (weight ? weight[c] : 1) * is;
    kGy[k] = kk;
    aXc[k] = (kk * is * is * sumGyXc[k]) / cnt;
    b0[k] = (kk * sumGy[k]) / cnt;
    gweight[c] = sumGyXc[k] * is;
    gbias[c] = sumGy[k];
  }
  for (let n = 0; n < N; n++) {
    let i = (n * C + c0) * S;
    for (let k = 0; k < m; k++) {
      const mu = mean[c0 + k], kk = kGy[k], a = aXc[k], b = b0[k];
      for (const end = i + S; i < end; i++) gx[i] = kk * gy[i] - a * (x[i] - mu) - b;
    }
  }
}

// --------------------------------------------------------------------------------- eval forward

function checkEvalForward(
  op: string, x: FloatArray, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number,
): void {
  checkDims(op, N, C, S);
  checkArray(op, 'x', x, N * C * S, `input ${shapeStr(N, C, S)}`);
  checkArray(op, 'runningMean', runningMean, C, `${C} channels`);
  checkArray(op, 'runningVar', runningVar, C, `${C} channels`);
  checkArray(op, 'weight', weight, C, `${C} channels`, true);
  checkArray(op, 'bias', bias, C, `${C} channels`, true);
  checkEps(op, eps);
}

export function batchNormEvalForward(
  x: FloatArray, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number,
): FloatArray {
  checkEvalForward('batchNormEvalForward', x, N, C, S, runningMean, runningVar, weight, bias, eps);
  const out = allocate(dtypeOf(x), N * C * S);
  batchNormEvalForwardImpl(x, N, C, S, runningMean, runningVar, weight, bias, eps, out, 0, C);
  return out;
}

/** Writes channels [c0, c1) of out. */
export function batchNormEvalForwardRange(
  x: FloatArray, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number, out: FloatArray, c0: number, c1: number,
): void {
  const op = 'batchNormEvalForwardRange';
  checkEvalForward(op, x, N, C, S, runningMean, runningVar, weight, bias, eps);
  checkArray(op, 'out', out, N * C * S, `input ${shapeStr(N, C, S)}`);
  checkRange(op, c0, c1, C);
  batchNormEvalForwardImpl(x, N, C, S, runningMean, runningVar, weight, bias, eps, out, c0, c1);
}

function batchNormEvalForwardImpl(
  x: FloatArray, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number, out: FloatArray, c0: number, c1: number,
): void {
  const m = c1 - c0;
  const scale = new Float64Array(m);
  for (let k = 0; k < m; k++) scale[k] = (weight ? weight[c0 + k] : 1) / Math.sqrt(runningVar[c0 + k] + eps);
  for (let n = 0; n < N; n++) {
    let i = (n * C + c0) * S;
    for (let k = 0; k < m; k++) {
      const c = c0 + k, mu = runningMean[c], a = scale[k], b = bias ? bias[c] : 0;
      for (const end = i + S; i < end; i++) out[i] = (x[i] - mu) * a + b;
    }
  }
}

// -------------------------------------------------------------------------------- eval backward

function checkEvalBackward(
  op: string, gy: FloatArray, x: FloatArray, runningMean: FloatArray, runningVar: FloatArray, weight: FloatArray | null, eps: number,
  N: number, C: number, S: number,
): void {
  checkDims(op, N, C, S);
  const what = `input ${shapeStr(N, C, S)}`;
  checkArray(op, 'gy', gy, N * C * S, what);
  checkArray(op, 'x', x, N * C * S, what);
  checkArray(op, 'runningMean', runningMean, C, `${C} channels`);
  checkArray(op, 'runningVar', runningVar, C, `${C} channels`);
  checkArray(op, 'weight', weight, C, `${C} channels`, true);
  checkEps(op, eps);
}

/** With fixed running statistics the op is affine per channel: gx = gy·w·invstd, gweight = Σ gy·x̂, gbias = Σ gy. */
export function batchNormEvalBackward(
  gy: FloatArray, x: FloatArray, runningMean: FloatArray, runningVar: FloatArray, weight: FloatArray | null, eps: number,
  N: number, C: number, S: number,
): BatchNormGrads {
  checkEvalBackward('batchNormEvalBackward', gy, x, runningMean, runningVar, weight, eps, N, C, S);
  const dt = dtypeOf(x);
  const res: BatchNormGrads = { gx: allocate(dt, N * C * S), gweight: allocate(dt, C), gbias: allocate(dt, C) };
  batchNormEvalBackwardImpl(gy, x, runningMean, runningVar, weight, eps, N, C, S, res, 0, C);
  return res;
}

/** Writes channels [c0, c1) of every field of `res`. */
export function batchNormEvalBackwardRange(
  gy: FloatArray, x: FloatArray, runningMean: FloatArray, runningVar: FloatArray, weight: FloatArray | null, eps: number,
  N: number, C: number, S: number, res: BatchNormGrads, c0: number, c1: number,
): void {
  const op = 'batchNormEvalBackwardRange';
  checkEvalBackward(op, gy, x, runningMean, runningVar, weight, eps, N, C, S);
  checkGrads(op, res, N, C, S);
  checkRange(op, c0, c1, C);
  batchNormEvalBackwardImpl(gy, x, runningMean, runningVar, weight, eps, N, C, S, res, c0, c1);
}

function batchNormEvalBackwardImpl(
  gy: FloatArray, x: FloatArray, runningMean: FloatArray, runningVar: FloatArray, weight: FloatArray | null, eps: number,
  N: number, C: number, S: number, res: BatchNormGrads, c0: number, c1: number,
): void {
  const { gx, gweight, gbias } = res;
  const m = c1 - c0;
  const invstd = new Float64Array(m), sumGy = new Float64Array(m), sumGyXc = new Float64Array(m);
  for (let k = 0; k < m; k++) invstd[k] = 1 / Math.sqrt(runningVar[c0 + k] + eps);
  for (let n = 0; n < N; n++) {
    let i = (n * C + c0) * S;
    for (let k = 0; k < m; k++) {
      const c = c0 + k, mu = runningMean[c], kk = (weight ? weight[c] : 1) * invstd[k];
      let a = sumGy[k], b = sumGyXc[k];
      for (const end = i + S; i < end; i++) {
        const g = gy[i];
        gx[i] = g * kk;
        a += g;
        b += g * (x[i] - mu);
      }
      sumGy[k] = a;
      sumGyXc[k] = b;
    }
  }
  for (let k = 0; k < m; k++) {
    gweight[c0 + k] = sumGyXc[k] * invstd[k];
    gbias[c0 + k] = sumGy[k];
  }
}

// ---- slow, obviously-correct reference loops (tests hold the fast kernels to these) ----

/** The values of channel c in (n, s) order. */
function channelValues(a: FloatArray, N: number, C: number, S: number, c: number): number[] {
  const v: number[] = [];
  for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) v.push(a[(n * C + c) * S + s]);
  return v;
}

function scatterChannel(dst: FloatArray, vals: readonly number[], N: number, C: number, S: number, c: number): void {
  let j = 0;
  for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) dst[(n * C + c) * S + s] = vals[j++];
}

const sum = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0);

export function batchNormTrainForwardReference(
  x: FloatArray, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
): BatchNormTrainResult {
  const out = allocate(dtypeOf(x), N * C * S);
  const mean = new Float64Array(C), invstd = new Float64Array(C), varUnbiased = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const v = channelValues(x, N, C, S, c);
    const n = v.length;
    const mu = sum(v) / n;
    const ss = sum(v.map((t) => (t - mu) * (t - mu)));
    const variance = ss / n;
    mean[c] = mu;
    invstd[c] = 1 / Math.sqrt(variance + eps);
    varUnbiased[c] = ss / (n - 1);
    const w = weight ? weight[c] : 1, b = bias ? bias[c] : 0;
    scatterChannel(out, v.map((t) => ((t - mu) / Math.sqrt(variance + eps)) * w + b), N, C, S, c);
  }
  return { out, mean, invstd, varUnbiased };
}

export function batchNormTrainBackwardReference(
  gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
): BatchNormGrads {
  const dt = dtypeOf(x);
  const gx = allocate(dt, N * C * S), gweight = allocate(dt, C), gbias = allocate(dt, C);
  for (let c = 0; c < C; c++) {
    const xs = channelValues(x, N, C, S, c), gs = channelValues(gy, N, C, S, c);
    const n = xs.length;
    const xhat = xs.map((t) => (t - mean[c]) * invstd[c]);
    const meanGy = sum(gs) / n;
    const meanGyXhat = sum(gs.map((g, i) => g * xhat[i])) / n;
    const w = weight ? weight[c] : 1;
    scatterChannel(gx, gs.map((g, i) => w * invstd[c] * (g - meanGy - xhat[i] * meanGyXhat)), N, C, S, c);
    gweight[c] = sum(gs.map((g, i) => g * xhat[i]));
    gbias[c] = sum(gs);
  }
  return { gx, gweight, gbias };
}

export function batchNormEvalForwardReference(
  x: FloatArray, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number,
): FloatArray {
  const out = allocate(dtypeOf(x), N * C * S);
  for (let c = 0; c < C; c++) {
    const w = weight ? weight[c] : 1, b = bias ? bias[c] : 0;
    const v = channelValues(x, N, C, S, c).map((t) => ((t - runningMean[c]) / Math.sqrt(runningVar[c] + eps)) * w + b);
    scatterChannel(out, v, N, C, S, c);
  }
  return out;
}

export function batchNormEvalBackwardReference(
  gy: FloatArray, x: FloatArray, runningMean: FloatArray, runningVar: FloatArray, weight: FloatArray | null, eps: number,
  N: number, C: number, S: number,
): BatchNormGrads {
  const dt = dtypeOf(x);
  const gx = allocate(dt, N * C * S), gweight = allocate(dt, C), gbias = allocate(dt, C);
  for (let c = 0; c < C; c++) {
    const xs = channelValues(x, N, C, S, c), gs = channelValues(gy, N, C, S, c);
    const sd = Math.sqrt(runningVar[c] + eps);
    const w = weight ? weight[c] : 1;
    scatterChannel(gx, gs.map((g) => (g * w) / sd), N, C, S, c);
    gweight[c] = sum(gs.map((g, i) => (g * (xs[i] - runningMean[c])) / sd));
    gbias[c] = sum(gs);
  }
  return { gx, gweight, gbias };
}
