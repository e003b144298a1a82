import { allocate, dtypeOf, type FloatArray } from '../core/dtype';
import { fail, fmtShape, fmtValue } from '../core/errors';
import { pair } from '../core/shape';
import { backendFor, kernelFor, type GemmKernel } from './gemm_backend';
import { packDenseA, runPackedGemm, storeDenseC, type GemmOperands, type InPlaceB, type MicroBackend } from './packed_gemm';
import {
  reversedTapsAxis, StagedCol2im, StagedMatrix, StagedPatches, stridedAxis, type AxisMap, type RowLayout,
} from './im2col_wasm';
import { wasmPackersOf } from './wasm_gemm';
import {
  col2imAdd, packChannelCols, packChannelRows, packPatchCols, packPatchRows, storeChannelRows, type PatchView,
} from './im2col';
import {
  availableThreads, canDefer, deferTask, opsAheadOfCaller, parallelFor, registerTask, sharedCopy, sharedInput, shareIf, type TaskArgs,
} from './parallel';
import { keepShape } from './keep_shape';
import {
  flippedGeometry, winogradApplies, winogradConv, winogradConvInto, winogradUnits, winogradWeightApplies, winogradWeightGrad,
  winogradWeightGradArgs, winogradWeightGradInto, winogradWeightGradUnits,
} from './winograd';

/**
 * 2-D convolution (cross-correlation, as PyTorch), NCHW input, OIHW weight ([O, C/groups, KH, KW]).
 * out[n, o, y, x] = bias[o] + Σ_{c in group(o), i, j} w[o, c, i, j] · in[n, c, y·sh − ph + i·dh, x·sw − pw + j·dw]
 * with zero padding. Cost of a forward, and of each backward pass: 2·N·O·(C/groups)·KH·KW·OH·OW flops.
 *
 * All three passes run on the packed GEMM (packed_gemm.ts), one GEMM per group, with operands
 * that pack straight from the NCHW tensors (implicit im2col: im2col.ts in JS, im2col_wasm.ts
 * through wasm when the float32 SIMD kernel is in use) and C blocks stored straight into NCHW;
 * float32 3×3 stride-1 convs with enough tiles per channel run by Winograd instead (winograd.ts).
 * Work is split between threads by output blocks only, so results are bit-identical for any
 * thread count. The *Reference functions at the end are the slow loops the tests compare against.
 */
export interface Conv2dParams {
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  dilation?: number | readonly number[];
  groups?: number;
}

export interface Conv2dGeometry {
  N: number; C: number; H: number; W: number;
  O: number; KH: number; KW: number;
  OH: number; OW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number;
}

/** Validates shapes and parameters and derives the output size; every error names conv2d and the shapes. */
export function conv2dGeometry(
  xShape: readonly number[], wShape: readonly number[], params: Conv2dParams = {}, biasShape?: readonly number[],
): Conv2dGeometry {
  const op = 'conv2d';
  if (xShape.length !== 4) fail(op, `expected a 4-d NCHW input, got shape ${fmtShape(xShape)}`);
  if (wShape.length !== 4) fail(op, `expected a 4-d [out, in/groups, kh, kw] weight, got shape ${fmtShape(wShape)}`);
  const [sh, sw] = pair(op, 'stride', params.stride ?? 1, 1);
  const [ph, pw] = pair(op, 'padding', params.padding ?? 0, 0);
  const [dh, dw] = pair(op, 'dilation', params.dilation ?? 1, 1);
  const groups = params.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) fail(op, `groups must be a positive integer, got ${fmtValue(groups)}`);
  const [N, C, H, W] = xShape;
  const [O, Cg, KH, KW] = wShape;
  if (C % groups !== 0) fail(op, `input channels ${C} not divisible by groups ${groups} (input ${fmtShape(xShape)})`);
  if (O % groups !== 0) fail(op, `output channels ${O} not divisible by groups ${groups} (weight ${fmtShape(wShape)})`);
  if (Cg * groups !== C) {
    fail(op, `input has ${C} channels but weight expects ${Cg * groups} (input ${fmtShape(xShape)}, weight ${fmtShape(wShape)}, groups ${groups})`);
  }
  if (KH < 1 || KW < 1) fail(op, `kernel size must be positive, got weight ${fmtShape(wShape)}`);
  if (biasShape !== undefined && (biasShape.length !== 1 || biasShape[0] !== O)) {
    fail(op, `bias must have shape [${O}], got ${fmtShape(biasShape)} (weight ${fmtShape(wShape)})`);
  }
  const effH = dh * (KH - 1) + 1;
  const effW = dw * (KW - 1) + 1;
  const OH = Math.floor((H + 2 * ph - effH) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - effW) / sw) + 1;
  if (H + 2 * ph < effH || W + 2 * pw < effW || OH < 1 || OW < 1) {
    fail(op, `kernel ${KH}x${KW} (dilation ${dh}x${dw}) is larger than the padded input ${H + 2 * ph}x${W + 2 * pw} (input ${fmtShape(xShape)}, weight ${fmtShape(wShape)}, padding ${ph}x${pw})`);
  }
  return { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups };
}

export interface ConvTranspose2dParams {
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  outputPadding?: number | readonly number[];
  dilation?: number | readonly number[];
  groups?: number;
}

/**
 * A transposed convolution of an [N, Cin, H, W] input with an [Cin, Cout/groups, KH, KW] weight is
 * the input gradient of the convolution Cout → Cin that uses the same weight array as its OIHW
 * weight (O = Cin, C/groups = Cout/groups): out[n, c, y·s − p + i·d, …] += x[n, o, y, …]·w[o, c, i, …].
 * This returns that convolution's geometry, validated in the transposed op's terms (errors name
 * convTranspose2d and the shapes the caller passed): its input is the transposed output,
 * g.H = (H − 1)·sh − 2·ph + dh·(KH − 1) + oph + 1 (torch's formula), its output g.OH × g.OW.
 * g.OH is H, or H + ⌊oph/sh⌋ when outputPadding reaches the stride (torch allows it up to the
 * dilation): the caller then appends that many zero rows (columns) to the input, whose gradient
 * taps add nothing, so the kernels run one ordinary convolution geometry. An unbatched [C, H, W]
 * input is a batch of one (N = 1), as in torch.
 */
export function convTranspose2dGeometry(
  xShape: readonly number[], wShape: readonly number[], params: ConvTranspose2dParams = {}, biasShape?: readonly number[],
): Conv2dGeometry {
  const op = 'convTranspose2d';
  if (xShape.length !== 3 && xShape.length !== 4) fail(op, `expected a 3-d [C, H, W] or 4-d NCHW input, got shape ${fmtShape(xShape)}`);
  if (wShape.length !== 4) fail(op, `expected a 4-d [in, out/groups, kh, kw] weight, got shape ${fmtShape(wShape)}`);
  const [sh, sw] = pair(op, 'stride', params.stride ?? 1, 1);
  const [ph, pw] = pair(op, 'padding', params.padding ?? 0, 0);
  const [oph, opw] = pair(op, 'outputPadding', params.outputPadding ?? 0, 0);
  const [dh, dw] = pair(op, 'dilation', params.dilation ?? 1, 1);
  const groups = params.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) fail(op, `groups must be a positive integer, got ${fmtValue(groups)}`);
  const [N, Cin, H, W] = xShape.length === 4 ? xShape : [1, ...xShape];
  const [Wi, Cog, KH, KW] = wShape;
  if (Cin % groups !== 0) fail(op, `input channels ${Cin} not divisible by groups ${groups} (input ${fmtShape(xShape)})`);
  if (Wi !== Cin) {
    fail(op, `input has ${Cin} channels but weight expects ${Wi} (input ${fmtShape(xShape)}, weight ${fmtShape(wShape)}, groups ${groups})`);
  }
  if (KH < 1 || KW < 1) fail(op, `kernel size must be positive, got weight ${fmtShape(wShape)}`);
  // torch refuses an empty height or width ("non-empty 3D or 4D input tensor expected"); the output
  // size formula would still give a positive size and blame it.
  if (H < 1 || W < 1) fail(op, `expected a non-empty height and width, got input ${fmtShape(xShape)}`);
  const Cout = Cog * groups;
  if (biasShape !== undefined && (biasShape.length !== 1 || biasShape[0] !== Cout)) {
    fail(op, `bias must have shape [${Cout}], got ${fmtShape(biasShape)} (weight ${fmtShape(wShape)}, groups ${groups})`);
  }
  if ((oph >= sh && oph >= dh) || (opw >= sw && opw >= dw)) {
    fail(op, `output padding must be smaller than either stride or dilation, got outputPadding [${oph},${opw}], stride [${sh},${sw}], dilation [${dh},${dw}]`);
  }
  const OHt = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1;
  const OWt = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1;
  if (OHt < 1 || OWt < 1) {
    fail(op, `output size ${OHt}x${OWt} is too small (input ${fmtShape(xShape)}, weight ${fmtShape(wShape)}, stride ${sh}x${sw}, padding ${ph}x${pw}, dilation ${dh}x${dw}, outputPadding ${oph}x${opw})`);
  }
  const OH = Math.floor((OHt + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((OWt + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  return { N, C: Cout, H: OHt, W: OWt, O: Cin, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups };
}

/**
 * A convolution's weight as its passes use it: without the kernel taps that only ever meet padding
 * (trimDeadTaps), with the geometry that goes with it. Preparing it once for a forward and its
 * backward saves reading the full weight twice (autograd keeps it with the saved tensors).
 */
export interface ConvWeight {
  readonly w: FloatArray;
  /** The trimmed geometry (the conv's own when nothing was trimmed). */
  readonly g: Conv2dGeometry;
  readonly trim: TapTrim | null;
}

export function prepareConvWeight(w: FloatArray, g: Conv2dGeometry, op = 'prepareConvWeight'): ConvWeight {
  if (w.length !== weightSize(g)) {
    fail(op, `weight has ${w.length} elements, expected ${weightSize(g)} (weight [${g.O},${g.C / g.groups},${g.KH},${g.KW}])`);
  }
  const trim = trimDeadTaps(g);
  return trim === null ? { w, g, trim } : { w: sliceTaps(w, g, trim), g: trim.g, trim };
}

const GEOMETRY_KEYS = ['N', 'C', 'H', 'W', 'O', 'KH', 'KW', 'OH', 'OW', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'groups'] as const;

function sameGeometry(a: Conv2dGeometry, b: Conv2dGeometry): boolean {
  for (const k of GEOMETRY_KEYS) if (a[k] !== b[k]) return false;
  return true;
}

/** w prepared for g (checking that a prepared one was made for a conv of this geometry). */
function prepared(op: string, w: FloatArray | ConvWeight, g: Conv2dGeometry): ConvWeight {
  if (ArrayBuffer.isView(w)) return prepareConvWeight(w, g, op);
  const want = trimDeadTaps(g)?.g ?? g;
  if (!sameGeometry(w.g, want)) {
    fail(op, `the prepared weight was made for another geometry (weight [${w.g.O},${w.g.C / w.g.groups},${w.g.KH},${w.g.KW}] after trimming, expected [${want.O},${want.C / want.groups},${want.KH},${want.KW}])`);
  }
  return w;
}

/**
 * Forward through the packed GEMM, per group:
 *   out_g[Og × N·OH·OW] = w_g[Og × Cg·KH·KW] · patches(x)_g[Cg·KH·KW × N·OH·OW]
 * with the patch matrix packed straight from x (1×1 stride-1 unpadded convs read x as a plain
 * [C × H·W] matrix per image, no im2col) and each sum starting from its bias.
 * Threads split the N·OH·OW output columns (or the output channels when there are few pixels).
 * `w` is the [O, C/groups, KH, KW] weight or one made by prepareConvWeight for this geometry.
 */
export function conv2dForward(x: FloatArray, w: FloatArray | ConvWeight, bias: FloatArray | null, g: Conv2dGeometry): FloatArray {
  const cw = prepared('conv2dForward', w, g);
  checkArrays('conv2dForward', g, [['input', x, g.N * g.C * g.H * g.W], ['weight', cw.w, weightSize(cw.g)],
    ['bias', bias, g.O]]);
  if (emptySum(g)) return biasPlanes(x, bias, g);
  return forwardPass(x, cw.w, bias, cw.g);
}

/**
 * True when a pass has nothing to sum or nothing to write: no images, no input or no output
 * channels. The packed GEMM needs K > 0, so the passes answer these with exact zeros (the forward
 * with its bias), as PyTorch does.
 */
function emptySum(g: Conv2dGeometry): boolean {
  return g.N === 0 || g.C === 0 || g.O === 0;
}

/** The forward of a conv with an empty sum (x's dtype): each output plane is its channel's bias, or 0. */
function biasPlanes(x: FloatArray, bias: FloatArray | null, g: Conv2dGeometry): FloatArray {
  const P = g.OH * g.OW;
  const out = allocate(dtypeOf(x), g.N * g.O * P);
  if (bias !== null) {
    for (let n = 0; n < g.N; n++) for (let o = 0; o < g.O; o++) out.fill(bias[o], (n * g.O + o) * P, (n * g.O + o + 1) * P);
  }
  return out;
}

function forwardPass(x: FloatArray, w: FloatArray, bias: FloatArray | null, g: Conv2dGeometry): FloatArray {
  if (winogradApplies(g, x)) {
    return winogradConv(x as Float32Array, w as Float32Array, false, bias as Float32Array | null, g);
  }
  const out = allocate(dtypeOf(x), g.N * g.O * g.OH * g.OW);
  const split = splitOutput(g.O / g.groups, g.N * g.OH * g.OW, g.groups, stagesWeightRows(x));
  const parts = partsFor(forwardFlops(g), split.units);
  parallelFor('conv2d.forward', split.units, {
    ...geometryArgs(g), ...split, x: shareIf(parts, x), w: shareIf(parts, w), bias: shareIf(parts, bias), out,
    kernel: kernelFor(dtypeOf(x)),
  }, parts);
  return out;
}

/**
 * Gradient of the input. Stride 1 (the common case): a stride-1 convolution of gy with the
 * flipped, transposed weight and padding dh·(KH−1)−ph, so it packs like the forward and writes each
 * gx element once. Other strides: C[Cg·KH·KW × N·OH·OW] = w_gᵀ · gy_g, scattered back by col2im,
 * with threads taking whole images (each image's scatter order is then fixed). A batch of one
 * image at stride > 1 therefore runs on one thread.
 */
export function conv2dBackwardInput(gy: FloatArray, w: FloatArray | ConvWeight, g: Conv2dGeometry): FloatArray {
  const cw = prepared('conv2dBackwardInput', w, g);
  checkArrays('conv2dBackwardInput', g, [['output gradient', gy, g.N * g.O * g.OH * g.OW],
    ['weight', cw.w, weightSize(cw.g)]]);
  if (emptySum(g)) return allocate(dtypeOf(gy), g.N * g.C * g.H * g.W);
  const gt = cw.g;
  const fg = flippedGeometry(gt);
  if (winogradInputGrad(gt, gy)) return winogradConv(gy as Float32Array, cw.w as Float32Array, true, null, fg);
  const { split, units } = inputGradUnits(gt, gy);
  // Threads are counted before allocating: a collection the allocation may set off (threads.ts)
  // would otherwise give a deferred job time to finish and decide this split.
  const parts = partsFor(forwardFlops(gt), units);
  const gx = allocate(dtypeOf(gy), g.N * g.C * g.H * g.W);
  const args = { ...geometryArgs(gt), gy: shareIf(parts, gy), w: shareIf(parts, cw.w), gx, kernel: kernelFor(dtypeOf(gy)) };
  if (split !== null) parallelFor('conv2d.backwardInput', units, { ...args, ...split }, parts);
  else parallelFor('conv2d.backwardInputCol2im', units, args, parts);
  return gx;
}

/** True when a conv's input gradient runs through Winograd: a stride-1 conv whose flipped conv qualifies. */
function winogradInputGrad(gt: Conv2dGeometry, gy: FloatArray): boolean {
  return useFlippedBackwardInput(gt) && winogradApplies(flippedGeometry(gt), gy);
}

/**
 * How the input gradient is cut over threads: Winograd blocks, output splits of the flipped conv,
 * else whole images (col2im).
 */
function inputGradUnits(gt: Conv2dGeometry, gy: FloatArray): { split: OutputSplit | null; units: number } {
  const fg = flippedGeometry(gt);
  if (winogradInputGrad(gt, gy)) return { split: null, units: winogradUnits(fg) };
  const split = useFlippedBackwardInput(gt) ? splitOutput(gt.C / gt.groups, gt.N * gt.H * gt.W, gt.groups, stagesWeightRows(gy)) : null;
  return { split, units: split !== null ? split.units : gt.N };
}

/**
 * Gradient of the weight, per group: gw_g[Og × Cg·KH·KW] = gy_g[Og × N·OH·OW] · patches(x)_gᵀ, the
 * sum running over every pixel of every image in one fixed order. Threads split the Cg·KH·KW
 * columns (or the Og rows when there are few columns), each packing only its own patch columns.
 * Taps that only meet padding (trimDeadTaps) are not computed: their gradient is an exact 0.
 */
export function conv2dBackwardWeight(gy: FloatArray, x: FloatArray, g: Conv2dGeometry): FloatArray {
  checkArrays('conv2dBackwardWeight', g, [['output gradient', gy, g.N * g.O * g.OH * g.OW],
    ['input', x, g.N * g.C * g.H * g.W]]);
  if (emptySum(g)) return allocate(dtypeOf(gy), weightSize(g));
  const t = trimDeadTaps(g);
  const gt = t === null ? g : t.g;
  if (winogradWeightApplies(gt, x)) return winogradWeightGrad(gy as Float32Array, x as Float32Array, gt);
  const gw = allocate(dtypeOf(gy), weightSize(g));
  const split = weightGradSplit(gt);
  const parts = partsFor(forwardFlops(gt), split.units);
  parallelFor('conv2d.backwardWeight', split.units,
    weightGradArgs(gt, t, split, shareIf(parts, gy), shareIf(parts, x), gw), parts);
  return gw;
}

/** The weight gradient's output, per group [Og × Cg·KH·KW], cut into thread-split units. */
function weightGradSplit(gt: Conv2dGeometry): OutputSplit {
  return splitOutput(gt.O / gt.groups, (gt.C / gt.groups) * gt.KH * gt.KW, gt.groups);
}

function weightGradArgs(gt: Conv2dGeometry, t: TapTrim | null, split: OutputSplit, gy: FloatArray, x: FloatArray,
  gw: FloatArray): TaskArgs {
  return { ...geometryArgs(gt), ...split, ...spreadArgs(gt, t), gy, x, gw, kernel: kernelFor(dtypeOf(gy)) };
}

export interface Conv2dBackwardOptions {
  /**
   * Let the weight gradient be computed on a worker while this call returns with the input
   * gradient (parallel.ts deferTask): the returned gw must not be read before settle(gw) or
   * settleAll(). Autograd's backward does this: the weight gradient is only read by the optimizer,
   * so the worker works through the weight gradients of the whole backward pass while the calling
   * thread computes the input gradients and every other op. Only when the input gradient is wanted
   * too (otherwise there is nothing to do meanwhile).
   */
  deferWeight?: boolean;
}

/**
 * Both gradients of a convolution. With two threads or more and both gradients wanted, the input
 * gradient and the weight gradient run at the same time, each whole on one thread: the two passes
 * cost the same flops, so this keeps both cores busy without cutting either GEMM into pieces that
 * each pack the full weight or gy (which is what limits splitting the small-image layers deep in a
 * ResNet). With deferWeight, the weight gradient's thread does not even wait for the input
 * gradient. Each pass is computed exactly as by conv2dBackwardInput / conv2dBackwardWeight, so the
 * results are bit-identical to those and for any thread count.
 */
export function conv2dBackward(gy: FloatArray, x: FloatArray, w: FloatArray | ConvWeight, g: Conv2dGeometry,
  needInput: boolean, needWeight: boolean, options: Conv2dBackwardOptions = {}): { gx: FloatArray | null; gw: FloatArray | null } {
  const cw = prepared('conv2dBackward', w, g);
  const big = forwardFlops(cw.g) >= 2 * FLOPS_PER_THREAD;
  // Deferring pays when there is an input gradient to compute meanwhile. Without one (a network's
  // first conv, last in the backward pass) the caller would only wait, so the weight gradient is
  // computed now, on whichever threads are free (the worker may still be busy with deferred ones).
  const defer = options.deferWeight === true && big && canDefer();
  if (!needInput || !needWeight || !big || (!defer && availableThreads() < 2)) {
    return {
      gx: needInput ? conv2dBackwardInput(gy, cw, g) : null,
      gw: needWeight ? conv2dBackwardWeight(gy, x, g) : null,
    };
  }
  checkArrays('conv2dBackward', g, [['output gradient', gy, g.N * g.O * g.OH * g.OW],
    ['input', x, g.N * g.C * g.H * g.W], ['weight', cw.w, weightSize(cw.g)]]);
  if (defer) {
    const gw = allocate(dtypeOf(gy), weightSize(g));
    const split = weightGradSplit(cw.g);
    // A worker with no deferred work left would wait while this thread computes the input gradient
    // alone (late in a backward pass, where the weight gradients are done as fast as they come). So
    // when the input gradient would run on two threads or more now and the caller has more ops to run
    // after this one (opsAheadOfCaller: autograd's backward), it goes first, split like any run, and
    // the weight gradient is deferred after it. With nothing ahead (a lone conv), the two passes run
    // side by side as before: splitting first would leave the caller waiting for the weight gradient.
    const first = opsAheadOfCaller() > 0 && partsFor(forwardFlops(cw.g), inputGradUnits(cw.g, gy).units) >= 2
      ? conv2dBackwardInput(gy, cw, g) : null;
    if (winogradWeightApplies(cw.g, x)) {
      deferTask('conv2d.winogradWeight', winogradWeightGradUnits(cw.g),
        winogradWeightGradArgs(cw.g, sharedCopy(gy as Float32Array), sharedCopy(x as Float32Array), gw as Float32Array), [gw]);
    } else {
      deferTask('conv2d.backwardWeight', split.units, weightGradArgs(cw.g, cw.trim, split, sharedCopy(gy), sharedCopy(x), gw), [gw]);
    }
    return { gx: first ?? conv2dBackwardInput(gy, cw, g), gw };
  }
  const gx = allocate(dtypeOf(gy), g.N * g.C * g.H * g.W);
  const gw = allocate(dtypeOf(gy), weightSize(g));
  const wino = winogradInputGrad(cw.g, gy);
  parallelFor('conv2d.backwardPair', 2, {
    ...geometryArgs(cw.g), ...spreadArgs(cw.g, cw.trim), gy: sharedInput(gy), x: sharedInput(x), w: sharedInput(cw.w),
    gx, gw, wino, winoWeight: winogradWeightApplies(cw.g, x), kernel: kernelFor(dtypeOf(gy)),
  }, 2);
  return { gx, gw };
}

// ---- taps that only meet padding ----

/**
 * A convolution whose kernel is trimmed by th rows and tw columns at its start (and possibly some
 * at its end), with the padding before the image cut to match (same output size, same input
 * positions for every remaining tap). KH, KW: the full kernel.
 */
interface TapTrim {
  g: Conv2dGeometry;
  th: number;
  tw: number;
  KH: number;
  KW: number;
}

/**
 * On small images a kernel's outer taps can fall in the padding for every output pixel (a 3×3,
 * padding-1 conv on a 1×1 map only ever uses its centre tap: ResNet18's last stage on 32×32
 * inputs; the stage's first, stride-2 conv on its 2×2 input never uses its first row and column).
 * Those taps multiply zeros, so they are dropped, and the trimmed conv is an ordinary one with less
 * padding. The result is what the reference loops compute, which skip padding; only 0·w products
 * disappear from the sums.
 */
export function trimDeadTaps(g: Conv2dGeometry): TapTrim | null {
  const [th, bh] = deadTaps(g.KH, g.OH, g.H, g.sh, g.ph, g.dh);
  const [tw, bw] = deadTaps(g.KW, g.OW, g.W, g.sw, g.pw, g.dw);
  if (th + bh === 0 && tw + bw === 0) return null;
  return {
    g: { ...g, KH: g.KH - th - bh, KW: g.KW - tw - bw, ph: g.ph - th * g.dh, pw: g.pw - tw * g.dw },
    th, tw, KH: g.KH, KW: g.KW,
  };
}

/**
 * Dead taps to drop from the start and the end of one kernel axis (k taps, o outputs over an input
 * of length l). The geometry keeps one padding for both sides of an axis, and the kernels stage
 * images with that much on each side: so the trimmed axis may reach past the image's end at most as
 * far as its padding before it (at stride 1, exactly as far: the input gradient then runs as a
 * convolution with the mirrored padding). Drops that do not fit fall back to matching pairs.
 */
function deadTaps(k: number, o: number, l: number, stride: number, pad: number, dil: number): [number, number] {
  let lo = 0;
  while (lo < k && !liveTap(lo, o, l, stride, pad, dil)) lo++;
  if (lo === k) return [0, 0];
  let hi = 0;
  while (!liveTap(k - 1 - hi, o, l, stride, pad, dil)) hi++;
  if (trimFits(lo, hi, k, o, l, stride, pad, dil)) return [lo, hi];
  let t = Math.min(lo, hi);
  while (t > 0 && !trimFits(t, t, k, o, l, stride, pad, dil)) t--;
  return [t, t];
}

/** True when tap i of a kernel axis meets the input for some output position. */
function liveTap(i: number, o: number, l: number, stride: number, pad: number, dil: number): boolean {
  for (let y = 0; y < o; y++) {
    const pos = y * stride - pad + i * dil;
    if (pos >= 0 && pos < l) return true;
  }
  return false;
}

/** True when dropping a taps at the start and b at the end leaves a geometry the kernels can run (see deadTaps). */
function trimFits(a: number, b: number, k: number, o: number, l: number, stride: number, pad: number, dil: number): boolean {
  const before = pad - a * dil;
  if (before < 0) return false;
  const after = (o - 1) * stride - before + (k - a - b - 1) * dil - (l - 1);
  return stride === 1 ? after === before : after <= before;
}

/**
 * The weight's remaining taps, [O, Cg, kh, kw] from row th and column tw. A strided gather that
 * reads every cache line of the full weight (9.4 MB for a 512→512 3×3 conv), so threads split it by
 * filters.
 */
function sliceTaps(w: FloatArray, g: Conv2dGeometry, t: TapTrim): FloatArray {
  const out = allocate(dtypeOf(w), weightSize(t.g));
  const filters = g.O * (g.C / g.groups);
  const parts = Math.min(availableThreads(), Math.floor(filters * g.KH * g.KW / SLICE_PER_THREAD));
  parallelFor('conv2d.sliceTaps', filters, {
    KH: g.KH, KW: g.KW, kh: t.g.KH, kw: t.g.KW, th: t.th, tw: t.tw, w: parts > 1 ? sharedInput(w) : w, out,
  }, Math.max(1, parts));
  return out;
}

/** Weight elements read per thread worth splitting a tap slice for. */
const SLICE_PER_THREAD = 1 << 18;

registerTask('conv2d.sliceTaps', (args: TaskArgs, start: number, end: number) => {
  const { KH, KW, kh, kw, th, tw } = args as unknown as { KH: number; KW: number; kh: number; kw: number; th: number; tw: number };
  const w = args.w as FloatArray, out = args.out as FloatArray;
  // Each filter's kept taps sit at the same offsets from its start: gather those. The counts met on
  // small maps (1, 2 and 4 taps: 1×1, 1×2 and 2×2 maps) get unrolled loops. For the 2×2 taps of
  // ResNet18's layer4 entry conv (512×256 filters) at one thread: 4.4 ms with a nested loop over rows
  // and columns, 2.9–3.1 ms with this one (docs/PERFORMANCE.md).
  const KK = KH * KW, k = kh * kw;
  const offs = new Int32Array(k);
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) offs[i * kw + j] = (i + th) * KW + tw + j;
  if (k === 1) {
    const o0 = offs[0];
    for (let f = start, s = start * KK; f < end; f++, s += KK) out[f] = w[s + o0];
  } else if (k === 2) {
    const o0 = offs[0], o1 = offs[1];
    for (let f = start, d = start * 2, s = start * KK; f < end; f++, d += 2, s += KK) {
      out[d] = w[s + o0];
      out[d + 1] = w[s + o1];
    }
  } else if (k === 4) {
    const o0 = offs[0], o1 = offs[1], o2 = offs[2], o3 = offs[3];
    for (let f = start, d = start * 4, s = start * KK; f < end; f++, d += 4, s += KK) {
      out[d] = w[s + o0];
      out[d + 1] = w[s + o1];
      out[d + 2] = w[s + o2];
      out[d + 3] = w[s + o3];
    }
  } else {
    for (let f = start, d = start * k, s = start * KK; f < end; f++, s += KK) {
      for (let t = 0; t < k; t++) out[d++] = w[s + offs[t]];
    }
  }
});

// ---- GEMM operands of the three passes ----

/** Output columns per thread-split unit (a multiple of every kernel's NR). */
const COL_UNIT = 64;
/** Output rows per unit when a pass splits rows (a multiple of every kernel's MR). */
const ROW_UNIT = 16;
/** Flops below which one more thread does not pay for its dispatch. */
const FLOPS_PER_THREAD = 2e6;

/**
 * How a pass's output (per group: rows × cols) is cut into thread-split units: column blocks of
 * COL_UNIT, or row blocks of ROW_UNIT when there are too few columns to go round (small images
 * deep in a network). Either way each output element has one owner and its sum one fixed order.
 */
interface OutputSplit {
  units: number;
  perGroup: number;
  byRows: boolean;
}

function splitOutput(rows: number, cols: number, groups: number, stagedRows = false): OutputSplit {
  const colUnits = Math.ceil(cols / COL_UNIT), rowUnits = Math.ceil(rows / ROW_UNIT);
  const threads = availableThreads();
  // Splitting columns has every thread copy and pack all of A (rows x K); splitting rows has every
  // thread pack all of B (K x cols). With A staged per row range (stagedRows), a row split costs
  // K*(rows/2 copied + rows/2 gathered + cols packed) per thread against K*(2*rows + cols/2): less
  // once cols < 2*rows.
  const byRows = (colUnits < threads && rowUnits > colUnits) || (stagedRows && rowUnits >= threads && cols < 2 * rows);
  const perGroup = byRows ? rowUnits : colUnits;
  return { units: perGroup * groups, perGroup, byRows };
}

/**
 * Runs units [start, end) of a split: each group's operands over its row or column range. `make` is
 * a module-level function given the task's arguments (a closure made per call would be optimised
 * afresh by V8 every time it got hot).
 */
function runSplit<A extends OutputSplit>(a: A, g: Conv2dGeometry, be: MicroBackend, start: number, end: number,
  make: (g: Conv2dGeometry, grp: number, a: A, be: MicroBackend) => GemmOperands): void {
  const groups = g.groups;
  for (let grp = Math.floor(start / a.perGroup); grp < groups && grp * a.perGroup < end; grp++) {
    const u0 = Math.max(start - grp * a.perGroup, 0), u1 = Math.min(end - grp * a.perGroup, a.perGroup);
    const ops = make(g, grp, a, be);
    if (a.byRows) runPackedGemm(ops, be, u0 * ROW_UNIT, Math.min(ops.M, u1 * ROW_UNIT), 0, ops.N);
    else runPackedGemm(ops, be, 0, ops.M, u0 * COL_UNIT, Math.min(ops.N, u1 * COL_UNIT));
  }
}

function partsFor(flops: number, units: number): number {
  return Math.max(1, Math.min(availableThreads(), units, Math.floor(flops / FLOPS_PER_THREAD)));
}

function forwardFlops(g: Conv2dGeometry): number {
  return 2 * g.N * g.O * (g.C / g.groups) * g.KH * g.KW * g.OH * g.OW;
}

function weightSize(g: Conv2dGeometry): number {
  return g.O * (g.C / g.groups) * g.KH * g.KW;
}

function useFlippedBackwardInput(g: Conv2dGeometry): boolean {
  return g.sh === 1 && g.sw === 1 && g.ph <= g.dh * (g.KH - 1) && g.pw <= g.dw * (g.KW - 1);
}

function checkArrays(op: string, g: Conv2dGeometry, arrays: Array<[string, FloatArray | null, number]>): void {
  const first = arrays[0][1] as FloatArray;
  const shape = `input [${g.N},${g.C},${g.H},${g.W}], weight [${g.O},${g.C / g.groups},${g.KH},${g.KW}]`;
  for (const [nm, a, n] of arrays) {
    if (a === null) continue;
    if (a.length !== n) fail(op, `${nm} has ${a.length} elements, expected ${n} (${shape})`);
    if (a.constructor !== first.constructor) {
      fail(op, `${nm} is ${a.constructor.name} but ${arrays[0][0]} is ${first.constructor.name}`);
    }
  }
}

type GeometryArgs = { [K in keyof Conv2dGeometry]: number };

function geometryArgs(g: Conv2dGeometry): GeometryArgs {
  const { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups } = g;
  return { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups };
}

function patchView(g: Conv2dGeometry, src: FloatArray, grp: number): PatchView {
  const Cg = g.C / g.groups;
  return {
    src, imageStride: g.C * g.H * g.W, chBase: grp * Cg * g.H * g.W, H: g.H, W: g.W, KH: g.KH, KW: g.KW,
    sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, dh: g.dh, dw: g.dw, OH: g.OH, OW: g.OW,
  };
}

/**
 * Channels [ch0, ...) of an NCHW tensor with `channels` channels of P pixels, seen as a 1×1
 * "image" one pixel row long, so each image's [channels × pixels] matrix is staged with one copy.
 */
function channelMatrixView(src: FloatArray, channels: number, ch0: number, P: number): PatchView {
  return {
    src, imageStride: channels * P, chBase: ch0 * P, H: 1, W: P, KH: 1, KW: 1,
    sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, OH: 1, OW: P,
  };
}

/** A weight matrix staged for wasm packing (element (i, k) at w[srcOff + offset(rowOffset, i) + offset(kOffset, k)]), or null. */
function stagedWeights(be: MicroBackend, w: FloatArray, srcOff: number, srcLen: number, rows: number, K: number,
  rowOffset: AxisMap, kOffset: AxisMap, layout: RowLayout): StagedMatrix | null {
  const packers = wasmPackersOf(be);
  if (packers === null || !(w instanceof Float32Array)) return null;
  return new StagedMatrix(w, srcOff, srcLen, rows, K, rowOffset, kOffset, packers, 0, 1, layout);
}

/**
 * Sum of scratch sizes and consecutive binding, for operands with several staged parts; r0, r1 are
 * the rows of the run (staged weight matrices copy only those rows; other parts ignore them).
 */
interface Staged {
  scratchElements(): number;
  bind(S: Float32Array, off: number, r0?: number, r1?: number): void;
}

function scratchOf(parts: Array<Staged | null>): number {
  let n = 0;
  for (const p of parts) if (p !== null) n += p.scratchElements();
  return n;
}

function bindAll(parts: Array<Staged | null>, S: FloatArray, off: number, r0: number, r1: number): void {
  for (const p of parts) {
    if (p === null) continue;
    p.bind(S as Float32Array, off, r0, r1);
    off += p.scratchElements();
  }
}

/** True when a pass over `src` stages its weights in wasm memory (then per thread row range). */
function stagesWeightRows(src: FloatArray): boolean {
  const kernel = kernelFor(dtypeOf(src));
  return src instanceof Float32Array && wasmPackersOf(backendFor(dtypeOf(src), kernel)) !== null;
}

/** Wasm-staged patches when the backend has the float32 wasm packers, else null (JS packing). */
function stagedFor(be: MicroBackend, src: FloatArray, view: PatchView, cg: number, maxImages: number): StagedPatches | null {
  const packers = wasmPackersOf(be);
  if (packers === null || !(src instanceof Float32Array)) return null;
  return new StagedPatches(view, cg, packers, maxImages, be.kc, be.nc, be.nr);
}

class ForwardOperands implements GemmOperands {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly colSegment = 0;
  private readonly view: PatchView;
  private readonly pointwise: boolean;
  private readonly P: number;
  private readonly staged: StagedPatches | null;
  private readonly stagedW: StagedMatrix | null;

  constructor(private readonly g: Conv2dGeometry, private readonly grp: number, private readonly w: FloatArray,
    private readonly bias: FloatArray | null, private readonly out: FloatArray, x: FloatArray, be: MicroBackend) {
    this.M = g.O / g.groups;
    this.K = (g.C / g.groups) * g.KH * g.KW;
    this.P = g.OH * g.OW;
    this.N = g.N * this.P;
    this.view = patchView(g, x, grp);
    this.pointwise = g.KH === 1 && g.KW === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;
    this.staged = stagedFor(be, x, this.view, g.C / g.groups, Math.ceil(be.nc / this.P) + 1);
    const K = this.K;
    this.stagedW = this.staged === null ? null
      : stagedWeights(be, w, grp * this.M * K, this.M * K, this.M, K, stridedAxis(K), stridedAxis(1),
        { blocks: 1, blockStride: this.M * K, rowLen: K });
    keepShape(this);
  }

  scratchElements(): number {
    return scratchOf([this.staged, this.stagedW]);
  }

  bindScratch(S: FloatArray, off: number, i0: number, i1: number): void {
    bindAll([this.staged, this.stagedW], S, off, i0, i1);
  }

  packA(dst: FloatArray, off: number, i0: number, mc: number, p0: number, kc: number, mr: number): void {
    if (this.stagedW !== null) this.stagedW.packA(off, i0, mc, p0, kc, mr);
    else packDenseA(this.w, this.grp * this.M * this.K, this.K, false, dst, off, i0, mc, p0, kc, mr);
  }

  inPlaceB(p0: number, kc: number, j0: number, nc: number, nr: number): InPlaceB | null {
    return this.staged === null ? null : this.staged.inPlaceRows(p0, kc, j0, nc, nr);
  }

  packB(dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    const v = this.view;
    if (this.staged !== null) this.staged.packRows(off, p0, kc, j0, nc, nr);
    else if (this.pointwise) packChannelCols(v.src, v.imageStride, v.chBase, this.P, dst, off, p0, kc, j0, nc, nr);
    else packPatchRows(v, dst, off, p0, kc, j0, nc, nr);
  }

  /** Starts every sum at its bias, as the reference does, so the store is a plain copy. */
  initC(S: FloatArray, off: number, ld: number, i0: number, mc: number, _j0: number, nc: number): boolean {
    const bias = this.bias;
    if (bias === null) return false;
    const chBase = this.grp * this.M + i0;
    for (let r = 0; r < mc; r++) S.fill(bias[chBase + r], off + r * ld, off + r * ld + nc);
    return true;
  }

  storeC(src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number): void {
    const P = this.P, chBase = this.grp * this.M;
    storeChannelRows(this.out, this.g.O * P, chBase * P, P, null, 0, src, off, ld, i0, mc, j0, nc);
  }
}

/** Backward input at stride 1: gx = conv(gy, flipped wᵀ) with padding dh·(KH−1)−ph (a forward conv). */
class FlippedBackwardInputOperands implements GemmOperands {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly colSegment = 0;
  private readonly view: PatchView;
  private readonly pointwise: boolean;
  private readonly staged: StagedPatches | null;
  private readonly stagedW: StagedMatrix | null;

  constructor(private readonly g: Conv2dGeometry, private readonly grp: number, private readonly w: FloatArray,
    private readonly gx: FloatArray, gy: FloatArray, be: MicroBackend) {
    const Og = g.O / g.groups, P = g.OH * g.OW;
    this.M = g.C / g.groups;
    this.K = Og * g.KH * g.KW;
    this.N = g.N * g.H * g.W;
    const ph = g.dh * (g.KH - 1) - g.ph, pw = g.dw * (g.KW - 1) - g.pw;
    this.view = {
      src: gy, imageStride: g.O * P, chBase: grp * Og * P, H: g.OH, W: g.OW, KH: g.KH, KW: g.KW,
      sh: 1, sw: 1, ph, pw, dh: g.dh, dw: g.dw, OH: g.H, OW: g.W,
    };
    this.pointwise = g.KH === 1 && g.KW === 1 && ph === 0 && pw === 0;
    this.staged = stagedFor(be, gy, this.view, Og, Math.ceil(be.nc / (g.H * g.W)) + 1);
    const KK = g.KH * g.KW, CgKK = this.M * KK;
    this.stagedW = this.staged === null ? null
      : stagedWeights(be, w, grp * Og * CgKK, Og * CgKK, this.M, this.K, stridedAxis(KK),
        reversedTapsAxis(KK, CgKK), { blocks: Og, blockStride: CgKK, rowLen: KK });
    keepShape(this);
  }

  scratchElements(): number {
    return scratchOf([this.staged, this.stagedW]);
  }

  bindScratch(S: FloatArray, off: number, i0: number, i1: number): void {
    bindAll([this.staged, this.stagedW], S, off, i0, i1);
  }

  /** Element (c, (o, t)) = w[(grp·Og + o)·Cg·KK + c·KK + KK−1−t]: transposed and flipped. */
  packA(dst: FloatArray, off: number, i0: number, mc: number, p0: number, kc: number, mr: number): void {
    if (this.stagedW !== null) {
      this.stagedW.packA(off, i0, mc, p0, kc, mr);
      return;
    }
    const KK = this.g.KH * this.g.KW, Cg = this.M;
    const w = this.w;
    const wBase = this.grp * (this.K / KK) * Cg * KK;
    const o0 = Math.floor(p0 / KK), t0 = p0 - o0 * KK;
    for (let ip = 0; ip < mc; ip += mr) {
      const rows = Math.min(mr, mc - ip);
      let d = off + ip * kc;
      let o = o0, t = t0;
      for (let kk = 0; kk < kc; kk++) {
        const s = wBase + o * Cg * KK + (i0 + ip) * KK + KK - 1 - t;
        for (let r = 0; r < rows; r++) dst[d + r] = w[s + r * KK];
        for (let r = rows; r < mr; r++) dst[d + r] = 0;
        d += mr;
        if (++t === KK) {
          t = 0;
          o++;
        }
      }
    }
  }

  inPlaceB(p0: number, kc: number, j0: number, nc: number, nr: number): InPlaceB | null {
    return this.staged === null ? null : this.staged.inPlaceRows(p0, kc, j0, nc, nr);
  }

  packB(dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    const v = this.view;
    if (this.staged !== null) this.staged.packRows(off, p0, kc, j0, nc, nr);
    else if (this.pointwise) packChannelCols(v.src, v.imageStride, v.chBase, v.H * v.W, dst, off, p0, kc, j0, nc, nr);
    else packPatchRows(v, dst, off, p0, kc, j0, nc, nr);
  }

  storeC(src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number): void {
    const HW = this.g.H * this.g.W;
    storeChannelRows(this.gx, this.g.C * HW, this.grp * this.M * HW, HW, null, 0, src, off, ld, i0, mc, j0, nc);
  }
}

/** Backward input for any stride: C = w_gᵀ · gy_g, scattered into gx by col2im within one image. */
class Col2imBackwardInputOperands implements GemmOperands {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly colSegment: number;
  private readonly view: PatchView;
  private readonly stagedGy: StagedPatches | null;
  private readonly stagedGx: StagedCol2im | null;
  private readonly stagedW: StagedMatrix | null;

  constructor(private readonly g: Conv2dGeometry, private readonly grp: number, private readonly w: FloatArray,
    gx: FloatArray, private readonly gy: FloatArray, be: MicroBackend) {
    this.M = (g.C / g.groups) * g.KH * g.KW;
    this.K = g.O / g.groups;
    const P = g.OH * g.OW;
    this.colSegment = P;
    this.N = g.N * P;
    this.view = patchView(g, gx, grp);
    this.stagedGy = stagedFor(be, gy, channelMatrixView(gy, g.O, grp * this.K, P), this.K, Math.ceil(be.nc / P) + 1);
    // A 1×1 kernel scatters each value to its own gx element: the JS scatter is cheap and skips
    // staging and cropping a mostly-zero padded image.
    const packers = wasmPackersOf(be);
    this.stagedGx = this.stagedGy !== null && packers !== null && g.KH * g.KW > 1
      ? new StagedCol2im(this.view, g.C / g.groups, packers, Math.min(be.nc, P)) : null;
    const M = this.M;
    this.stagedW = this.stagedGy === null ? null
      : stagedWeights(be, w, grp * this.K * M, this.K * M, M, this.K, stridedAxis(1), stridedAxis(M),
        { blocks: this.K, blockStride: M, rowLen: 1 });
    keepShape(this);
  }

  scratchElements(): number {
    return scratchOf([this.stagedGy, this.stagedGx, this.stagedW]);
  }

  bindScratch(S: FloatArray, off: number, i0: number, i1: number): void {
    bindAll([this.stagedGy, this.stagedGx, this.stagedW], S, off, i0, i1);
  }

  packA(dst: FloatArray, off: number, i0: number, mc: number, p0: number, kc: number, mr: number): void {
    if (this.stagedW !== null) this.stagedW.packA(off, i0, mc, p0, kc, mr);
    else packDenseA(this.w, this.grp * this.K * this.M, this.M, true, dst, off, i0, mc, p0, kc, mr);
  }

  packB(dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    if (this.stagedGy !== null) {
      this.stagedGy.packRows(off, p0, kc, j0, nc, nr);
      return;
    }
    const P = this.colSegment;
    packChannelCols(this.gy, this.g.O * P, this.grp * this.K * P, P, dst, off, p0, kc, j0, nc, nr);
  }

  storeC(src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number): void {
    if (this.stagedGx !== null) this.stagedGx.add(off, ld, i0, mc, j0, nc);
    else col2imAdd(this.view, src, off, ld, i0, mc, j0, nc);
  }
}

class BackwardWeightOperands implements GemmOperands {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly colSegment = 0;
  private readonly view: PatchView;
  private readonly P: number;
  private readonly staged: StagedPatches | null;
  private readonly stagedGy: StagedPatches | null;

  /** Trimmed weights (see trimDeadTaps): offset of each column within a row of the full-size gw. */
  private readonly fullCols: Int32Array | null;
  private readonly fullRow: number;

  constructor(private readonly g: Conv2dGeometry, private readonly grp: number, private readonly gy: FloatArray,
    private readonly gw: FloatArray, x: FloatArray, be: MicroBackend, full: TapSpread | null = null) {
    this.M = g.O / g.groups;
    this.N = (g.C / g.groups) * g.KH * g.KW;
    this.fullCols = full === null ? null : spreadColumns(g, full);
    this.fullRow = full === null ? this.N : (g.C / g.groups) * full.KH * full.KW;
    this.P = g.OH * g.OW;
    this.K = g.N * this.P;
    this.view = patchView(g, x, grp);
    const maxImages = Math.ceil(be.kc / this.P) + 1;
    this.staged = stagedFor(be, x, this.view, g.C / g.groups, maxImages);
    this.stagedGy = this.staged === null ? null
      : stagedFor(be, gy, channelMatrixView(gy, g.O, this.grp * this.M, this.P), this.M, maxImages);
    keepShape(this);
  }

  scratchElements(): number {
    return (this.staged?.scratchElements() ?? 0) + (this.stagedGy?.scratchElements() ?? 0);
  }

  bindScratch(S: FloatArray, off: number): void {
    this.staged?.bind(S as Float32Array, off);
    this.stagedGy?.bind(S as Float32Array, off + (this.staged?.scratchElements() ?? 0));
  }

  packA(dst: FloatArray, off: number, i0: number, mc: number, p0: number, kc: number, mr: number): void {
    if (this.stagedGy !== null) this.stagedGy.packColsA(off, i0, mc, p0, kc, mr);
    else packChannelRows(this.gy, this.g.O * this.P, this.grp * this.M * this.P, this.P, dst, off, i0, mc, p0, kc, mr);
  }

  packB(dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    if (this.staged !== null) this.staged.packCols(off, p0, kc, j0, nc, nr);
    else packPatchCols(this.view, dst, off, p0, kc, j0, nc, nr);
  }

  storeC(src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number): void {
    const cols = this.fullCols;
    if (cols === null) {
      storeDenseC(this.gw, this.grp * this.M * this.N, this.N, false, src, off, ld, i0, mc, j0, nc);
      return;
    }
    const gw = this.gw, row = this.fullRow;
    for (let i = 0; i < mc; i++) {
      const d = (this.grp * this.M + i0 + i) * row, s0 = off + i * ld - j0;
      for (let j = j0; j < j0 + nc; j++) gw[d + cols[j]] = src[s0 + j];
    }
  }
}

/** The full kernel size and trim a weight gradient computed on trimmed taps is written back into. */
interface TapSpread {
  KH: number;
  KW: number;
  th: number;
  tw: number;
}

/** For each column (c, i, j) of a trimmed weight, its offset within a row of the full weight. */
function spreadColumns(g: Conv2dGeometry, full: TapSpread): Int32Array {
  const Cg = g.C / g.groups;
  const cols = new Int32Array(Cg * g.KH * g.KW);
  let k = 0;
  for (let c = 0; c < Cg; c++) {
    for (let i = 0; i < g.KH; i++) {
      for (let j = 0; j < g.KW; j++) cols[k++] = (c * full.KH + i + full.th) * full.KW + j + full.tw;
    }
  }
  return cols;
}

// ---- tasks: the same code runs on the calling thread and in workers ----

interface ConvTaskArgs extends GeometryArgs {
  kernel: GemmKernel;
}

function geometryOf(a: GeometryArgs): Conv2dGeometry {
  const { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups } = a;
  return { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups };
}

type ForwardTaskArgs = ConvTaskArgs & OutputSplit & { x: FloatArray; w: FloatArray; bias: FloatArray | null; out: FloatArray };

function forwardOperands(g: Conv2dGeometry, grp: number, a: ForwardTaskArgs, be: MicroBackend): GemmOperands {
  return new ForwardOperands(g, grp, a.w, a.bias, a.out, a.x, be);
}

registerTask('conv2d.forward', (args: TaskArgs, start: number, end: number) => {
  const a = args as unknown as ForwardTaskArgs;
  runSplit(a, geometryOf(a), backendFor(dtypeOf(a.out), a.kernel), start, end, forwardOperands);
});

type BackwardInputTaskArgs = ConvTaskArgs & OutputSplit & { gy: FloatArray; w: FloatArray; gx: FloatArray };

function backwardInputOperands(g: Conv2dGeometry, grp: number, a: BackwardInputTaskArgs, be: MicroBackend): GemmOperands {
  return new FlippedBackwardInputOperands(g, grp, a.w, a.gx, a.gy, be);
}

registerTask('conv2d.backwardInput', (args: TaskArgs, start: number, end: number) => {
  const a = args as unknown as BackwardInputTaskArgs;
  runSplit(a, geometryOf(a), backendFor(dtypeOf(a.gx), a.kernel), start, end, backwardInputOperands);
});

registerTask('conv2d.backwardInputCol2im', (args: TaskArgs, start: number, end: number) => {
  const a = args as unknown as ConvTaskArgs & { gy: FloatArray; w: FloatArray; gx: FloatArray };
  const g = geometryOf(a);
  const be = backendFor(dtypeOf(a.gx), a.kernel);
  const P = g.OH * g.OW;
  for (let grp = 0; grp < g.groups; grp++) {
    const ops = new Col2imBackwardInputOperands(g, grp, a.w, a.gx, a.gy, be);
    runPackedGemm(ops, be, 0, ops.M, start * P, end * P);
  }
});

/** Task arguments that describe a weight gradient spread back to the full kernel (none: fullKH = KH, fullKW = KW). */
interface SpreadArgs {
  fullKH: number;
  fullKW: number;
  th: number;
  tw: number;
}

function spreadArgs(g: Conv2dGeometry, t: TapTrim | null): SpreadArgs {
  return t === null ? { fullKH: g.KH, fullKW: g.KW, th: 0, tw: 0 }
    : { fullKH: t.KH, fullKW: t.KW, th: t.th, tw: t.tw };
}

function spreadOf(a: SpreadArgs & { KH: number; KW: number }): TapSpread | null {
  return a.fullKH === a.KH && a.fullKW === a.KW ? null : { KH: a.fullKH, KW: a.fullKW, th: a.th, tw: a.tw };
}

type BackwardWeightTaskArgs = ConvTaskArgs & OutputSplit & SpreadArgs & { gy: FloatArray; x: FloatArray; gw: FloatArray };

function backwardWeightOperands(g: Conv2dGeometry, grp: number, a: BackwardWeightTaskArgs, be: MicroBackend): GemmOperands {
  return new BackwardWeightOperands(g, grp, a.gy, a.gw, a.x, be, spreadOf(a));
}

registerTask('conv2d.backwardWeight', (args: TaskArgs, start: number, end: number) => {
  const a = args as unknown as BackwardWeightTaskArgs;
  runSplit(a, geometryOf(a), backendFor(dtypeOf(a.gw), a.kernel), start, end, backwardWeightOperands);
});

/**
 * Unit 0: the whole input gradient (through Winograd, of the flipped weight, when `wino`); unit 1: the
 * whole weight gradient (through Winograd when `winoWeight`; see conv2dBackward).
 */
registerTask('conv2d.backwardPair', (args: TaskArgs, start: number, end: number) => {
  const a = args as unknown as ConvTaskArgs & SpreadArgs & {
    gy: FloatArray; x: FloatArray; w: FloatArray; gx: FloatArray; gw: FloatArray; wino: boolean; winoWeight: boolean;
  };
  const g = geometryOf(a);
  const be = backendFor(dtypeOf(a.gx), a.kernel);
  const full = spreadOf(a);
  for (let u = start; u < end; u++) {
    if (u === 0 && a.wino) {
      winogradConvInto(a.gy as Float32Array, a.w as Float32Array, true, null, flippedGeometry(g), a.gx as Float32Array);
      continue;
    }
    if (u === 1 && a.winoWeight) {
      winogradWeightGradInto(a.gy as Float32Array, a.x as Float32Array, g, a.gw as Float32Array);
      continue;
    }
    for (let grp = 0; grp < g.groups; grp++) {
      let ops: GemmOperands;
      if (u === 1) ops = new BackwardWeightOperands(g, grp, a.gy, a.gw, a.x, be, full);
      else if (useFlippedBackwardInput(g)) ops = new FlippedBackwardInputOperands(g, grp, a.w, a.gx, a.gy, be);
      else ops = new Col2imBackwardInputOperands(g, grp, a.w, a.gx, a.gy, be);
      runPackedGemm(ops, be, 0, ops.M, 0, ops.N);
    }
  }
});

/** d(loss)/d(bias)[o] = Σ_{n, y, x} gy[n, o, y, x]. */
export function conv2dBackwardBias(gy: FloatArray, g: Conv2dGeometry): FloatArray {
  const { N, O, OH, OW } = g;
  const P = OH * OW;
  const gb = allocate(dtypeOf(gy), O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let s = 0;
      const base = (n * O + o) * P;
      for (let p = 0; p < P; p++) s += gy[base + p];
      gb[o] += s;
    }
  }
  return gb;
}

// ---- slow, obviously-correct reference loops (tests hold the fast kernels to these) ----

export function conv2dForwardReference(x: FloatArray, w: FloatArray, bias: FloatArray | null, g: Conv2dGeometry): FloatArray {
  const { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups } = g;
  const Cg = C / groups, Og = O / groups;
  const out = allocate(dtypeOf(x), N * O * OH * OW);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / Og);
      for (let y = 0; y < OH; y++)
        for (let xx = 0; xx < OW; xx++) {
          let s = bias ? bias[o] : 0;
          for (let cg = 0; cg < Cg; cg++) {
            const c = grp * Cg + cg;
            for (let i = 0; i < KH; i++) {
              const iy = y * sh - ph + i * dh;
              if (iy < 0 || iy >= H) continue;
              for (let j = 0; j < KW; j++) {
                const ix = xx * sw - pw + j * dw;
                if (ix < 0 || ix >= W) continue;
                s += w[((o * Cg + cg) * KH + i) * KW + j] * x[((n * C + c) * H + iy) * W + ix];
              }
            }
          }
          out[((n * O + o) * OH + y) * OW + xx] = s;
        }
    }
  return out;
}

export function conv2dBackwardInputReference(gy: FloatArray, w: FloatArray, g: Conv2dGeometry): FloatArray {
  const { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups } = g;
  const Cg = C / groups, Og = O / groups;
  const gx = allocate(dtypeOf(gy), N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / Og);
      for (let y = 0; y < OH; y++)
        for (let xx = 0; xx < OW; xx++) {
          const gv = gy[((n * O + o) * OH + y) * OW + xx];
          for (let cg = 0; cg < Cg; cg++) {
            const c = grp * Cg + cg;
            for (let i = 0; i < KH; i++) {
              const iy = y * sh - ph + i * dh;
              if (iy < 0 || iy >= H) continue;
              for (let j = 0; j < KW; j++) {
                const ix = xx * sw - pw + j * dw;
                if (ix < 0 || ix >= W) continue;
                gx[((n * C + c) * H + iy) * W + ix] += w[((o * Cg + cg) * KH + i) * KW + j] * gv;
              }
            }
          }
        }
    }
  return gx;
}

export function conv2dBackwardWeightReference(gy: FloatArray, x: FloatArray, g: Conv2dGeometry): FloatArray {
  const { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups } = g;
  const Cg = C / groups, Og = O / groups;
  const gw = allocate(dtypeOf(gy), O * Cg * KH * KW);
  for (let o = 0; o < O; o++) {
    const grp = Math.floor(o / Og);
    for (let cg = 0; cg < Cg; cg++) {
      const c = grp * Cg + cg;
      for (let i = 0; i < KH; i++)
        for (let j = 0; j < KW; j++) {
          let s = 0;
          for (let n = 0; n < N; n++)
            for (let y = 0; y < OH; y++) {
              const iy = y * sh - ph + i * dh;
              if (iy < 0 || iy >= H) continue;
              for (let xx = 0; xx < OW; xx++) {
                const ix = xx * sw - pw + j * dw;
                if (ix < 0 || ix >= W) continue;
                s += gy[((n * O + o) * OH + y) * OW + xx] * x[((n * C + c) * H + iy) * W + ix];
              }
            }
          gw[((o * Cg + cg) * KH + i) * KW + j] = s;
        }
    }
  }
  return gw;
}
