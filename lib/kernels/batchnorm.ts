import { allocate, dtypeOf, type FloatArray } from '../core/dtype';
import { fail, fmtValue } from '../core/errors';
import { availableThreads, parallelFor, registerTask, shareIf, type TaskArgs } from './parallel';
import { reluBackwardJs, reluJs } from './elementwise';
import { align16, ewWasm, stageIn, stageOut, wasmElementwiseEnabled, type EwWasm } from './wasm_elementwise';

/**
 * Batch normalization over x viewed as [N, C, S], row-major (S = H·W for BatchNorm2d on NCHW,
 * S = 1 for BatchNorm1d on [N, C]); statistics are per channel over the n = N·S values of that
 * channel. Semantics follow PyTorch: training normalizes with the biased batch variance and also
 * reports the unbiased one (var·n/(n−1)) for the caller's running-variance update; evaluation uses
 * the running statistics only.
 *
 * Every channel is independent, so each kernel has a `...Range(…, c0, c1)` entry point computing
 * channels [c0, c1); the whole-array functions split [0, C) over the thread pool when the input is
 * large enough. Per-channel sums always run in the order (n, s) in a double, so results are
 * bit-identical however the channels are split.
 * The JS loops walk n outermost and the channel block [c0, c1)·S inside it, which is contiguous both
 * for large S and for S = 1. Float32 inputs instead go through WebAssembly (wasm_elementwise.ts):
 * blocks of channels are copied into the instance's memory as [N][m][S], the passes run there in
 * f64 with the JS loops' exact operations and summation order, and the result is copied back, so
 * both paths give identical bits (tests hold them to each other and to the reference loops).
 *
 * Fused relu: the train and eval forwards take `relu` (out = relu(batch norm), applied to each
 * block before it is copied out, with relu's own loops and wasm function, so the bits are those of
 * the relu op after batch norm), and the train backward takes `reluOut`, that output, to apply
 * relu's backward to gy as it is staged. ResNet's conv-bn-relu then writes one tensor instead of two
 * and skips a pass and an allocation each way. Given the forward's bias too (reluBias: no residual),
 * the WebAssembly backward rebuilds the mask from the staged x instead of copying reluOut in, one
 * copy of three fewer (for ResNet's first batch norm of each block and the stem's).
 *
 * Fused residual: the forwards also take `residual`, an array shaped like x added to the batch norm's
 * (rounded) output before the relu, out = relu(batch norm + residual), with the add's own float32
 * rounding (wasm f32x4.add, or the JS sum of two floats stored back), so the bits are those of add then
 * relu. The train backward's `gResidual` receives the gradient at that sum (gy after relu's backward),
 * which is the residual's gradient. ResNet's last bn → add → relu of each block becomes one op: two
 * tensors and two passes fewer forward, and relu's backward pass folded into batch norm's.
 *
 * Cost (reads/writes of the N·C·S elements): train forward 3 passes (mean, centred variance,
 * output), train backward 2 (two sums, gradient), eval forward 1, eval backward 1; the
 * WebAssembly path adds one copy in and one copy out (~0.4 ns per element each, against ~3.5 ns
 * per element per pass for the JS loops).
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
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) fail(op, `eps must be a finite number >= 0, got ${fmtValue(eps)}`);
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
  relu = false, residual: FloatArray | null = null,
): BatchNormTrainResult {
  checkTrainForward('batchNormTrainForward', x, N, C, S, weight, bias, eps);
  checkResidual('batchNormTrainForward', x, residual, N, C, S);
  const res: BatchNormTrainResult = {
    out: allocate(dtypeOf(x), N * C * S),
    mean: allocateF64(C),
    invstd: allocateF64(C),
    varUnbiased: allocateF64(C),
  };
  const parts = channelParts(N, C, S);
  parallelFor('batchNorm.trainForward', C, {
    ...dims(N, C, S), x: shareIf(parts, x), weight: shareIf(parts, weight), bias: shareIf(parts, bias), eps, ...res,
    relu: relu === true, residual: shareIf(parts, residual),
    wasm: wasmElementwiseEnabled(),
  }, parts);
  return res;
}

/** Writes channels [c0, c1) of every field of `res`. */
export function batchNormTrainForwardRange(
  x: FloatArray, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
  res: BatchNormTrainResult, c0: number, c1: number, relu = false, residual: FloatArray | null = null,
): void {
  const op = 'batchNormTrainForwardRange';
  checkTrainForward(op, x, N, C, S, weight, bias, eps);
  checkResidual(op, x, residual, N, C, S);
  if (res === null || typeof res !== 'object') fail(op, `res must be a BatchNormTrainResult, got ${String(res)}`);
  checkArray(op, 'out', res.out, N * C * S, `input ${shapeStr(N, C, S)}`);
  checkArray(op, 'mean', res.mean, C, `${C} channels`);
  checkArray(op, 'invstd', res.invstd, C, `${C} channels`);
  checkArray(op, 'varUnbiased', res.varUnbiased, C, `${C} channels`);
  checkRange(op, c0, c1, C);
  batchNormTrainForwardImpl(x, N, C, S, weight, bias, eps, res, c0, c1, relu === true, residual, wasmElementwiseEnabled());
}

function batchNormTrainForwardJs(
  x: FloatArray, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
  res: BatchNormTrainResult, c0: number, c1: number, relu: boolean, residual: FloatArray | null,
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
  if (residual !== null) addSegments(out, residual, N, C, S, c0, c1);
  if (relu) reluSegments(out, N, C, S, c0, c1);
}

/**
 * out += residual over channels [c0, c1) of every image: each sum of two stored values is rounded on
 * its store, as the add op's JS loop does (for float32, the correctly rounded float32 sum).
 */
function addSegments(out: FloatArray, residual: FloatArray, N: number, C: number, S: number, c0: number, c1: number): void {
  for (let n = 0; n < N; n++) {
    for (let i = (n * C + c0) * S, end = (n * C + c1) * S; i < end; i++) out[i] = out[i] + residual[i];
  }
}

/** The residual must match x in length and array type. */
function checkResidual(op: string, x: FloatArray, residual: FloatArray | null, N: number, C: number, S: number): void {
  checkArray(op, 'residual', residual, N * C * S, `input ${shapeStr(N, C, S)}`, true);
  if (residual !== null && residual.constructor !== x.constructor) fail(op, `residual is ${residual.constructor.name} but x is ${x.constructor.name}`);
}

/** relu in place over channels [c0, c1) of every image (relu's own loop). */
function reluSegments(out: FloatArray, N: number, C: number, S: number, c0: number, c1: number): void {
  for (let n = 0; n < N; n++) reluJs(out, 0, out, (n * C + c0) * S, (n * C + c1) * S);
}

// ------------------------------------------------------------------------------- train backward

function checkTrainBackward(
  op: string, gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
  reluOut: FloatArray | null = null, gResidual: FloatArray | null = null, reluBias?: FloatArray | null,
): void {
  checkDims(op, N, C, S);
  checkTrainable(op, N, C, S);
  const what = `input ${shapeStr(N, C, S)}`;
  if (reluBias !== undefined) {
    if (reluOut === null) fail(op, 'reluBias is given without reluOut (it describes the forward that made reluOut)');
    if (gResidual !== null) fail(op, 'reluBias is given with gResidual, but a forward with a residual cannot rebuild relu\'s mask from x');
    checkArray(op, 'reluBias', reluBias, C, `${C} channels`, true);
  }
  checkArray(op, 'gy', gy, N * C * S, what);
  checkArray(op, 'x', x, N * C * S, what);
  checkArray(op, 'mean', mean, C, `${C} channels`);
  checkArray(op, 'invstd', invstd, C, `${C} channels`);
  checkArray(op, 'weight', weight, C, `${C} channels`, true);
  checkArray(op, 'reluOut', reluOut, N * C * S, what, true);
  if (reluOut !== null && reluOut.constructor !== gy.constructor) fail(op, `reluOut is ${reluOut.constructor.name} but gy is ${gy.constructor.name}`);
  checkArray(op, 'gResidual', gResidual, N * C * S, what, true);
  if (gResidual !== null && gResidual.constructor !== gy.constructor) fail(op, `gResidual is ${gResidual.constructor.name} but gy is ${gy.constructor.name}`);
}

function checkGrads(op: string, res: BatchNormGrads, N: number, C: number, S: number): void {
  if (res === null || typeof res !== 'object') fail(op, `res must be a BatchNormGrads, got ${String(res)}`);
  checkArray(op, 'gx', res.gx, N * C * S, `input ${shapeStr(N, C, S)}`);
  checkArray(op, 'gweight', res.gweight, C, `${C} channels`);
  checkArray(op, 'gbias', res.gbias, C, `${C} channels`);
}

/**
 * gx = w·invstd·(gy − mean(gy) − x̂·mean(gy·x̂)) with x̂ = (x − mean)·invstd, the gradient through the
 * batch statistics; gweight = Σ gy·x̂, gbias = Σ gy (computed even when weight is null). With
 * reluOut (the output of a forward with relu), gy is first replaced by relu's backward, 0 where
 * reluOut <= 0 and gy elsewhere (a NaN output passes gy): the gradient of the fused batch norm +
 * relu. gResidual, when given, receives that (masked) gy: the gradient of a residual added before the relu (fused forward's
 * `residual`).
 * reluBias, when given (an array, or null for none), says reluOut is relu(batch norm of x) made with
 * this bias, the same weight and these mean and invstd, and no residual. The WebAssembly path then
 * rebuilds relu's mask from x, whose block it copies in anyway, recomputing the forward's float32
 * output before relu bit for bit, instead of copying reluOut in too; results are the same.
 */
export function batchNormTrainBackward(
  gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
  reluOut: FloatArray | null = null, gResidual: FloatArray | null = null, reluBias?: FloatArray | null,
): BatchNormGrads {
  checkTrainBackward('batchNormTrainBackward', gy, x, mean, invstd, weight, N, C, S, reluOut, gResidual, reluBias);
  const dt = dtypeOf(x);
  const res: BatchNormGrads = { gx: allocate(dt, N * C * S), gweight: allocate(dt, C), gbias: allocate(dt, C) };
  const parts = channelParts(N, C, S);
  parallelFor('batchNorm.trainBackward', C, {
    ...dims(N, C, S), gy: shareIf(parts, gy), x: shareIf(parts, x), mean: shareIf(parts, mean), invstd: shareIf(parts, invstd),
    weight: shareIf(parts, weight), ...res,
    reluOut: shareIf(parts, reluOut), gResidual, maskFromX: reluBias !== undefined, reluBias: shareIf(parts, reluBias ?? null),
    wasm: wasmElementwiseEnabled(),
  }, parts);
  return res;
}

/** Writes channels [c0, c1) of every field of `res`. */
export function batchNormTrainBackwardRange(
  gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
  res: BatchNormGrads, c0: number, c1: number, reluOut: FloatArray | null = null, gResidual: FloatArray | null = null,
  reluBias?: FloatArray | null,
): void {
  const op = 'batchNormTrainBackwardRange';
  checkTrainBackward(op, gy, x, mean, invstd, weight, N, C, S, reluOut, gResidual, reluBias);
  checkGrads(op, res, N, C, S);
  checkRange(op, c0, c1, C);
  batchNormTrainBackwardImpl(gy, x, mean, invstd, weight, N, C, S, res, c0, c1, reluOut, gResidual, wasmElementwiseEnabled(),
    reluBias !== undefined, reluBias ?? null);
}

function batchNormTrainBackwardJs(
  gyIn: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
  res: BatchNormGrads, c0: number, c1: number, reluOut: FloatArray | null, gResidual: FloatArray | null,
): void {
  // The fused relu's backward first, into a temporary (channels [c0, c1) only): this path serves
  // float64 and small inputs, where the extra array does not matter.
  const gy = reluOut === null ? gyIn : maskedByRelu(gyIn, reluOut, N, C, S, c0, c1);
  if (gResidual !== null) copySegments(gy, gResidual, N, C, S, c0, c1);
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

/** dst = src over channels [c0, c1) of every image. */
function copySegments(src: FloatArray, dst: FloatArray, N: number, C: number, S: number, c0: number, c1: number): void {
  for (let n = 0; n < N; n++) dst.set(src.subarray((n * C + c0) * S, (n * C + c1) * S), (n * C + c0) * S);
}

/** relu's backward of gy for channels [c0, c1) of every image, in a new array (zeros elsewhere). */
function maskedByRelu(gy: FloatArray, reluOut: FloatArray, N: number, C: number, S: number, c0: number, c1: number): FloatArray {
  const g = gy instanceof Float32Array ? new Float32Array(gy.length) : new Float64Array(gy.length);
  for (let n = 0; n < N; n++) reluBackwardJs(gy, reluOut, g, (n * C + c0) * S, (n * C + c1) * S);
  return g;
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
  weight: FloatArray | null, bias: FloatArray | null, eps: number, relu = false, residual: FloatArray | null = null,
): FloatArray {
  checkEvalForward('batchNormEvalForward', x, N, C, S, runningMean, runningVar, weight, bias, eps);
  checkResidual('batchNormEvalForward', x, residual, N, C, S);
  const out = allocate(dtypeOf(x), N * C * S);
  const parts = channelParts(N, C, S);
  parallelFor('batchNorm.evalForward', C, {
    ...dims(N, C, S), x: shareIf(parts, x), runningMean: shareIf(parts, runningMean), runningVar: shareIf(parts, runningVar),
    weight: shareIf(parts, weight), bias: shareIf(parts, bias), eps, out, relu: relu === true, residual: shareIf(parts, residual),
    wasm: wasmElementwiseEnabled(),
  }, parts);
  return out;
}

/** Writes channels [c0, c1) of out. */
export function batchNormEvalForwardRange(
  x: FloatArray, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number, out: FloatArray, c0: number, c1: number, relu = false,
  residual: FloatArray | null = null,
): void {
  const op = 'batchNormEvalForwardRange';
  checkEvalForward(op, x, N, C, S, runningMean, runningVar, weight, bias, eps);
  checkResidual(op, x, residual, N, C, S);
  checkArray(op, 'out', out, N * C * S, `input ${shapeStr(N, C, S)}`);
  checkRange(op, c0, c1, C);
  batchNormEvalForwardImpl(x, N, C, S, runningMean, runningVar, weight, bias, eps, out, c0, c1, relu === true, residual, wasmElementwiseEnabled());
}

function batchNormEvalForwardJs(
  x: FloatArray, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number, out: FloatArray, c0: number, c1: number, relu: boolean,
  residual: FloatArray | null,
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
  if (residual !== null) addSegments(out, residual, N, C, S, c0, c1);
  if (relu) reluSegments(out, N, C, S, c0, c1);
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
  const parts = channelParts(N, C, S);
  parallelFor('batchNorm.evalBackward', C, {
    ...dims(N, C, S), gy: shareIf(parts, gy), x: shareIf(parts, x), runningMean: shareIf(parts, runningMean),
    runningVar: shareIf(parts, runningVar), weight: shareIf(parts, weight), eps, ...res,
  }, parts);
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
  batchNormEvalBackwardJs(gy, x, runningMean, runningVar, weight, eps, N, C, S, res, c0, c1);
}

function batchNormEvalBackwardJs(
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

// ------------------------------------------------- dispatch: WebAssembly path, threads, tasks

/**
 * Below this many elements per thread a kernel stays on one thread (a dispatch costs ~20-50 µs;
 * the WebAssembly passes run at well under 1 ns per element).
 */
const MIN_PER_PART = 1 << 16;
/** Below this many elements the JS loops win over staging data in WebAssembly memory. */
const MIN_WASM = 256;
/** Floats of one staged input block (1 MiB; larger or smaller measured the same within noise). */
const STAGE_FLOATS = 1 << 18;

function allocateF64(n: number): Float64Array {
  return allocate('float64', n) as Float64Array;
}

function dims(N: number, C: number, S: number): { N: number; C: number; S: number } {
  return { N, C, S };
}

/** Threads worth using for N·C·S elements split by channel. */
function channelParts(N: number, C: number, S: number): number {
  const threads = availableThreads();
  if (threads <= 1) return 1;
  return Math.max(1, Math.min(threads, C, Math.floor((N * C * S) / MIN_PER_PART)));
}

function wasmFor(wasm: boolean, n: number, ...arrays: (FloatArray | null)[]): EwWasm | null {
  if (!wasm || n < MIN_WASM) return null;
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return null;
  return ewWasm();
}

/**
 * Channels per staged block: as many as fit STAGE_FLOATS, but at least four (the reductions
 * interleave four channels) and at most the m of the range.
 */
function blockChannels(m: number, perChannel: number): number {
  return Math.max(1, Math.min(m, Math.max(4, Math.floor(STAGE_FLOATS / perChannel))));
}

/**
 * Bytes of a staged [N][mc][S] float32 block plus the S floats after it that a reduction's phantom
 * channel may read (see wasm_elementwise.ts), rounded to 16.
 */
function stagedBytes(mc: number, N: number, S: number): number {
  return align16((N * mc + 1) * S * 4);
}

function batchNormTrainForwardImpl(
  x: FloatArray, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
  res: BatchNormTrainResult, c0: number, c1: number, relu: boolean, residual: FloatArray | null, wasm: boolean,
): void {
  const w = wasmFor(wasm, N * (c1 - c0) * S, x, res.out, residual);
  if (w !== null) batchNormTrainForwardWasm(w, x as Float32Array, N, C, S, weight, bias, eps, res, c0, c1, relu, residual as Float32Array | null);
  else batchNormTrainForwardJs(x, N, C, S, weight, bias, eps, res, c0, c1, relu, residual);
}

/**
 * The JS loops' arithmetic, staged: per block of channels, copy [N][m][S] in, sum, mean, centred
 * square sum, per-channel constants (in JS, as the JS loop computes them), normalise in place, copy
 * out. The statistics are read back from `res` so a float32 `mean` rounds exactly as in the JS loop.
 */
function batchNormTrainForwardWasm(
  w: EwWasm, x: Float32Array, N: number, C: number, S: number, weight: FloatArray | null, bias: FloatArray | null, eps: number,
  res: BatchNormTrainResult, c0: number, c1: number, relu: boolean, residual: Float32Array | null,
): void {
  const { mean, invstd, varUnbiased } = res;
  const out = res.out as Float32Array;
  const cnt = N * S;
  const mc = blockChannels(c1 - c0, cnt);
  const vec = align16(mc * 8);
  const ACC = 0, MEAN = vec, SCALE = 2 * vec, SHIFT = 3 * vec, X = 4 * vec, R = X + stagedBytes(mc, N, S);
  w.reserve(residual === null ? R : R + stagedBytes(mc, N, S));
  const f32 = w.f32, f64 = w.f64;
  const acc = ACC / 8, mu = MEAN / 8, sc = SCALE / 8, sh = SHIFT / 8, xs = X / 4;
  for (let ca = c0; ca < c1; ca += mc) {
    const m = Math.min(c1, ca + mc) - ca, row = m * S;
    for (let n = 0; n < N; n++) stageIn(f32, xs + n * row, x, (n * C + ca) * S, row);
    f64.fill(0, acc, acc + m);
    w.chSum(X, N, m, S, ACC);
    for (let k = 0; k < m; k++) {
      mean[ca + k] = f64[acc + k] / cnt;
      f64[mu + k] = mean[ca + k];
    }
    f64.fill(0, acc, acc + m);
    w.chSqDev(X, N, m, S, MEAN, ACC);
    for (let k = 0; k < m; k++) {
      const c = ca + k, a = f64[acc + k];
      const is = 1 / Math.sqrt(a / cnt + eps);
      invstd[c] = is;
      varUnbiased[c] = a / (cnt - 1);
      f64[sc + k] = (weight ? weight[c] : 1) * is;
      f64[sh + k] = bias ? bias[c] : 0;
    }
    w.chAffine(X, N, m, S, MEAN, SCALE, SHIFT);
    if (residual !== null) addStaged(w, X, R, residual, N, C, S, ca, m);
    if (relu) w.relu(X, X, (N * row + 3) >> 2);
    for (let n = 0; n < N; n++) stageOut(f32, xs + n * row, out, (n * C + ca) * S, row);
  }
}

/** Stages channels [ca, ca + m) of residual at byte R and adds them to the float32 block at byte X. */
function addStaged(w: EwWasm, X: number, R: number, residual: Float32Array, N: number, C: number, S: number, ca: number, m: number): void {
  const row = m * S, f32 = w.f32, rs = R / 4;
  for (let n = 0; n < N; n++) stageIn(f32, rs + n * row, residual, (n * C + ca) * S, row);
  w.binary.add(X, R, X, (N * row + 3) >> 2);
}

function batchNormTrainBackwardImpl(
  gy: FloatArray, x: FloatArray, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null, N: number, C: number, S: number,
  res: BatchNormGrads, c0: number, c1: number, reluOut: FloatArray | null, gResidual: FloatArray | null, wasm: boolean,
  maskFromX = false, reluBias: FloatArray | null = null,
): void {
  const w = wasmFor(wasm, N * (c1 - c0) * S, gy, x, res.gx, reluOut, gResidual);
  if (w !== null) {
    batchNormTrainBackwardWasm(w, gy as Float32Array, x as Float32Array, mean, invstd, weight, N, C, S, res, c0, c1,
      reluOut as Float32Array | null, gResidual as Float32Array | null, maskFromX, reluBias);
  } else {
    batchNormTrainBackwardJs(gy, x, mean, invstd, weight, N, C, S, res, c0, c1, reluOut, gResidual);
  }
}

/**
 * The JS loops' arithmetic, staged like the forward: gy and x in (with reluOut, that too, and relu's
 * backward applied to the staged gy in place; with maskFromX, relu's mask rebuilt from the staged x
 * instead), two sums, gx in place over gy, out.
 */
function batchNormTrainBackwardWasm(
  w: EwWasm, gy: Float32Array, x: Float32Array, mean: FloatArray, invstd: FloatArray, weight: FloatArray | null,
  N: number, C: number, S: number, res: BatchNormGrads, c0: number, c1: number, reluOut: Float32Array | null,
  gResidual: Float32Array | null, maskFromX: boolean, reluBias: FloatArray | null,
): void {
  const { gweight, gbias } = res;
  const gx = res.gx as Float32Array;
  const cnt = N * S;
  const mc = blockChannels(c1 - c0, cnt);
  const vec = align16(mc * 8), block = stagedBytes(mc, N, S);
  const SG = 0, SGX = vec, MEAN = 2 * vec, KG = 3 * vec, AX = 4 * vec, B0 = 5 * vec, G = 6 * vec, X = G + block, R = X + block;
  // (A float32 invstd holds a rounding of the forward's scale factor, so the mask is read then.)
  const stageRelu = reluOut !== null && !(maskFromX && invstd instanceof Float64Array);
  w.reserve(stageRelu ? R + block : R);
  const f32 = w.f32, f64 = w.f64;
  const sg = SG / 8, sgx = SGX / 8, mu = MEAN / 8, kg = KG / 8, ax = AX / 8, b0 = B0 / 8, gs = G / 4, xs = X / 4, rs = R / 4;
  for (let ca = c0; ca < c1; ca += mc) {
    const m = Math.min(c1, ca + mc) - ca, row = m * S;
    for (let n = 0; n < N; n++) {
      stageIn(f32, gs + n * row, gy, (n * C + ca) * S, row);
      stageIn(f32, xs + n * row, x, (n * C + ca) * S, row);
    }
    for (let k = 0; k < m; k++) f64[mu + k] = mean[ca + k];
    if (stageRelu) {
      for (let n = 0; n < N; n++) stageIn(f32, rs + n * row, reluOut as Float32Array, (n * C + ca) * S, row);
      w.reluBwd(G, R, G, (N * row + 3) >> 2);
    } else if (reluOut !== null) {
      // The forward's scale and shift (batchNormTrainForwardWasm), in the KG and AX slots that the
      // gradient's constants overwrite below.
      for (let k = 0; k < m; k++) {
        const c = ca + k;
        f64[kg + k] = (weight ? weight[c] : 1) * invstd[c];
        f64[ax + k] = reluBias ? reluBias[c] : 0;
      }
      w.chReluMask(G, X, N, m, S, MEAN, KG, AX);
    }
    if (gResidual !== null) for (let n = 0; n < N; n++) stageOut(f32, gs + n * row, gResidual, (n * C + ca) * S, row);
    f64.fill(0, sg, sg + m);
    f64.fill(0, sgx, sgx + m);
    w.chGradSums(G, X, N, m, S, MEAN, SG, SGX);
    for (let k = 0; k < m; k++) {
      const c = ca + k, is = invstd[c];
      const kk = (weight ? weight[c] : 1) * is;
      const sumGy = f64[sg + k], sumGyXc = f64[sgx + k];
      f64[kg + k] = kk;
      f64[ax + k] = (kk * is * is * sumGyXc) / cnt;
      f64[b0 + k] = (kk * sumGy) / cnt;
      gweight[c] = sumGyXc * is;
      gbias[c] = sumGy;
    }
    w.chGradInput(G, X, N, m, S, MEAN, KG, AX, B0);
    for (let n = 0; n < N; n++) stageOut(f32, gs + n * row, gx, (n * C + ca) * S, row);
  }
}

function batchNormEvalForwardImpl(
  x: FloatArray, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number, out: FloatArray, c0: number, c1: number, relu: boolean,
  residual: FloatArray | null, wasm: boolean,
): void {
  const w = wasmFor(wasm, N * (c1 - c0) * S, x, out, residual);
  if (w !== null) {
    batchNormEvalForwardWasm(w, x as Float32Array, N, C, S, runningMean, runningVar, weight, bias, eps, out as Float32Array, c0, c1, relu,
      residual as Float32Array | null);
  } else {
    batchNormEvalForwardJs(x, N, C, S, runningMean, runningVar, weight, bias, eps, out, c0, c1, relu, residual);
  }
}

function batchNormEvalForwardWasm(
  w: EwWasm, x: Float32Array, N: number, C: number, S: number, runningMean: FloatArray, runningVar: FloatArray,
  weight: FloatArray | null, bias: FloatArray | null, eps: number, out: Float32Array, c0: number, c1: number, relu: boolean,
  residual: Float32Array | null,
): void {
  const cnt = N * S;
  const mc = blockChannels(c1 - c0, cnt);
  const vec = align16(mc * 8);
  const MEAN = 0, SCALE = vec, SHIFT = 2 * vec, X = 3 * vec, R = X + stagedBytes(mc, N, S);
  w.reserve(residual === null ? R : R + stagedBytes(mc, N, S));
  const f32 = w.f32, f64 = w.f64;
  const mu = MEAN / 8, sc = SCALE / 8, sh = SHIFT / 8, xs = X / 4;
  for (let ca = c0; ca < c1; ca += mc) {
    const m = Math.min(c1, ca + mc) - ca, row = m * S;
    for (let n = 0; n < N; n++) stageIn(f32, xs + n * row, x, (n * C + ca) * S, row);
    for (let k = 0; k < m; k++) {
      const c = ca + k;
      f64[mu + k] = runningMean[c];
      f64[sc + k] = (weight ? weight[c] : 1) / Math.sqrt(runningVar[c] + eps);
      f64[sh + k] = bias ? bias[c] : 0;
    }
    w.chAffine(X, N, m, S, MEAN, SCALE, SHIFT);
    if (residual !== null) addStaged(w, X, R, residual, N, C, S, ca, m);
    if (relu) w.relu(X, X, (N * row + 3) >> 2);
    for (let n = 0; n < N; n++) stageOut(f32, xs + n * row, out, (n * C + ca) * S, row);
  }
}

type Arr = FloatArray;
type OptArr = FloatArray | null;

registerTask('batchNorm.trainForward', (a: TaskArgs, c0: number, c1: number) => {
  const res = { out: a.out as Arr, mean: a.mean as Float64Array, invstd: a.invstd as Float64Array, varUnbiased: a.varUnbiased as Float64Array };
  batchNormTrainForwardImpl(a.x as Arr, a.N as number, a.C as number, a.S as number, a.weight as OptArr, a.bias as OptArr,
    a.eps as number, res, c0, c1, a.relu as boolean, a.residual as OptArr, a.wasm as boolean);
});

registerTask('batchNorm.trainBackward', (a: TaskArgs, c0: number, c1: number) => {
  const res = { gx: a.gx as Arr, gweight: a.gweight as Arr, gbias: a.gbias as Arr };
  batchNormTrainBackwardImpl(a.gy as Arr, a.x as Arr, a.mean as Arr, a.invstd as Arr, a.weight as OptArr,
    a.N as number, a.C as number, a.S as number, res, c0, c1, a.reluOut as OptArr, a.gResidual as OptArr, a.wasm as boolean,
    a.maskFromX as boolean, a.reluBias as OptArr);
});

registerTask('batchNorm.evalForward', (a: TaskArgs, c0: number, c1: number) => {
  batchNormEvalForwardImpl(a.x as Arr, a.N as number, a.C as number, a.S as number, a.runningMean as Arr, a.runningVar as Arr,
    a.weight as OptArr, a.bias as OptArr, a.eps as number, a.out as Arr, c0, c1, a.relu as boolean, a.residual as OptArr, a.wasm as boolean);
});

registerTask('batchNorm.evalBackward', (a: TaskArgs, c0: number, c1: number) => {
  const res = { gx: a.gx as Arr, gweight: a.gweight as Arr, gbias: a.gbias as Arr };
  batchNormEvalBackwardJs(a.gy as Arr, a.x as Arr, a.runningMean as Arr, a.runningVar as Arr, a.weight as OptArr,
    a.eps as number, a.N as number, a.C as number, a.S as number, res, c0, c1);
});

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
