/**
 * 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2015), float32 on the WebAssembly backend.
 *
 * Each 2×2 block of outputs ("tile") of output channel o is
 *   y = Aᵀ·[ Σ_c (G·w[o,c]·Gᵀ) ⊙ (Bᵀ·d_c·B) ]·A
 * where d_c is the 4×4 input patch under the tile in channel c. So per tile and channel pair the
 * 3·3·4 = 36 multiply-adds of the direct conv become 16, and the sum over channels is 16 GEMMs,
 * one per position ξ of the 4×4 transformed tile:  M[ξ] (O × tiles) = U[ξ] (O × C) · V[ξ] (C × tiles),
 * with U = G·w·Gᵀ (the weight, transformed by each thread into its scratch, once per call) and
 * V = Bᵀ·d·B (the input, transformed block by block). The GEMMs run on the float32 macro-kernel
 * (wasm_gemm.ts); the transforms are the wasm functions of wasm_winograd.ts, in the same linear
 * memory, so a block of tiles goes input → V → M → output without leaving the thread's scratch (no
 * 4× larger intermediate tensors).
 *
 * Used for the forward pass, the input gradient (as the stride-1 conv with the flipped transposed
 * weight) and the weight gradient (the algorithm run backwards, winogradWeightGrad below), of convs
 * with a 3×3 kernel, stride and dilation 1, one group and an output whose height
 * is even and width a multiple of 8 (a tile group is 4 tiles across), or 4 wide and a multiple of 4
 * high (a tile group is 2 × 2 tiles), on float32 data, when there are enough tiles per channel
 * (winogradApplies, winogradWeightApplies). Float64
 * keeps the direct GEMM, so the gradient checks compare exact sums. The result differs from the
 * direct sum by rounding only (the transforms are exact in real arithmetic); tests hold it to the
 * reference loop. Non-finite values reach the same outputs as in the direct sum, but where that sum
 * gives ±∞ the transforms' differences often give NaN (∞ − ∞). Threads split whole blocks of tile
 * rows (the weight gradient: input channels in panels of 8), and each output element is computed by
 * one thread in a fixed order, so results are bit-identical for any thread count.
 */
import type { FloatArray } from '../core/dtype';
import type { Conv2dGeometry } from './conv2d';
import { allocate } from '../core/dtype';
import { fail } from '../core/errors';
import { alignShift } from './im2col_wasm';
import { availableThreads, parallelFor, registerTask, shareIf, type TaskArgs } from './parallel';
import { backendFor, kernelFor } from './gemm_backend';
import { wasmPackersOf } from './wasm_gemm';

/** A conv's geometry (conv2d.ts; a type-only import, so no module cycle at run time). */
export type WinogradGeometry = Conv2dGeometry;

let enabled = true;

/** Turns the Winograd path on or off (benchmarks and tests compare it with the direct GEMM). */
export function setWinograd(on: boolean): void {
  enabled = on;
}

export function getWinograd(): boolean {
  return enabled;
}

/**
 * True when the forward (and, for the flipped geometry, the input gradient) of a conv of geometry g
 * on `src` data runs through Winograd F(2×2, 3×3): a shape the transforms take, and at least twice
 * as many tiles in the batch as the larger channel count. Below that the transformed weight
 * (16·O·C floats, 1.8× the direct weight) is read more than the tiles are, and the direct GEMM was
 * faster here (steady state, 2 threads): 512 channels on 4×4 maps, batch 32 (0.3 tiles per channel),
 * 44.6 against 81.4 ms; 128 channels on 4×4 maps, batch 32 (1 tile per channel), 3.4 against 5.9 ms.
 */
export function winogradApplies(g: WinogradGeometry, src: FloatArray): boolean {
  return enabled && src instanceof Float32Array && winogradShape(g)
    && (g.N * g.OH * g.OW) / 4 >= 2 * Math.max(g.C, g.O)
    && kernelFor('float32') === 'wasm' && wasmPackersOf(backendFor('float32', 'wasm')) !== null;
}

/**
 * True when the weight gradient runs through Winograd too: winogradApplies, and planes at least 16
 * wide or at least 32 input channels. Its fixed costs per call (staging every image, the
 * accumulators, threads splitting only 8 channels at a time) made it slower for 16 channels on
 * 8×8 maps (batch 64: 1.36 against 2.10 ms at 1 thread, 1.07 against 3.53 at 2).
 */
export function winogradWeightApplies(g: WinogradGeometry, src: FloatArray): boolean {
  return winogradApplies(g, src) && (g.OW >= 16 || g.C >= 32);
}

/** The geometries the transforms handle (see the header). */
function winogradShape(g: WinogradGeometry): boolean {
  return g.groups === 1 && g.KH === 3 && g.KW === 3 && g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1
    && ((g.OH % 2 === 0 && g.OW % 8 === 0) || (g.OH % 4 === 0 && g.OW === 4))
    && g.H + 2 * g.ph === g.OH + 2 && g.W + 2 * g.pw === g.OW + 2 && g.ph >= 0 && g.pw >= 0;
}

/** The stride-1 conv that computes a conv's input gradient: gy with the flipped, transposed weight. */
export function flippedGeometry(g: WinogradGeometry): WinogradGeometry {
  return {
    N: g.N, C: g.O, H: g.OH, W: g.OW, O: g.C, KH: g.KH, KW: g.KW, OH: g.H, OW: g.W,
    sh: 1, sw: 1, ph: g.dh * (g.KH - 1) - g.ph, pw: g.dw * (g.KW - 1) - g.pw, dh: g.dh, dw: g.dw, groups: g.groups,
  };
}

/** Output rows rounded up to the macro-kernel's MR (4): U's rows. */
function paddedRows(O: number): number {
  return Math.ceil(O / 4) * 4;
}

/**
 * U[ξ] = G·w·Gᵀ for every (output, input) channel pair, laid out as the macro-kernel's A panels:
 * U[((ξ·Op/4 + o/4)·Ci + c)·4 + o%4], zero for the padding rows o ≥ Oc. `flip`: the weight of the
 * input-gradient conv, w'[c, o, i, j] = w[o, c, 2 − i, 2 − j] (w is [Ci, Oc, 3, 3] then).
 * Computed in float64 and rounded once. The reference for the wasm wgU / wgUFlip, which the passes
 * run (tests hold them equal bit for bit).
 *   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
 */
export function winogradWeights(w: Float32Array, Oc: number, Ci: number, flip: boolean): Float32Array {
  const Op = paddedRows(Oc);
  const U = new Float32Array(16 * Op * Ci);
  const xs = Op * Ci;
  for (let o = 0; o < Oc; o++) {
    let dst = (o >> 2) * Ci * 4 + (o & 3);
    for (let c = 0; c < Ci; c++, dst += 4) {
      const base = flip ? (c * Oc + o) * 9 : (o * Ci + c) * 9;
      // k[i][j]: the 3×3 kernel (flipped: read backwards).
      let k00, k01, k02, k10, k11, k12, k20, k21, k22;
      if (flip) {
        k00 = w[base + 8]; k01 = w[base + 7]; k02 = w[base + 6]; k10 = w[base + 5]; k11 = w[base + 4];
        k12 = w[base + 3]; k20 = w[base + 2]; k21 = w[base + 1]; k22 = w[base];
      } else {
        k00 = w[base]; k01 = w[base + 1]; k02 = w[base + 2]; k10 = w[base + 3]; k11 = w[base + 4];
        k12 = w[base + 5]; k20 = w[base + 6]; k21 = w[base + 7]; k22 = w[base + 8];
      }
      // t = G·k (4×3), row by row.
      const t10 = (k00 + k10 + k20) / 2, t11 = (k01 + k11 + k21) / 2, t12 = (k02 + k12 + k22) / 2;
      const t20 = (k00 - k10 + k20) / 2, t21 = (k01 - k11 + k21) / 2, t22 = (k02 - k12 + k22) / 2;
      // u = t·Gᵀ (4×4): row i is [t_i0, (t_i0 + t_i1 + t_i2)/2, (t_i0 − t_i1 + t_i2)/2, t_i2].
      U[dst] = k00; U[dst + xs] = (k00 + k01 + k02) / 2; U[dst + 2 * xs] = (k00 - k01 + k02) / 2; U[dst + 3 * xs] = k02;
      U[dst + 4 * xs] = t10; U[dst + 5 * xs] = (t10 + t11 + t12) / 2; U[dst + 6 * xs] = (t10 - t11 + t12) / 2; U[dst + 7 * xs] = t12;
      U[dst + 8 * xs] = t20; U[dst + 9 * xs] = (t20 + t21 + t22) / 2; U[dst + 10 * xs] = (t20 - t21 + t22) / 2; U[dst + 11 * xs] = t22;
      U[dst + 12 * xs] = k20; U[dst + 13 * xs] = (k20 + k21 + k22) / 2; U[dst + 14 * xs] = (k20 - k21 + k22) / 2; U[dst + 15 * xs] = k22;
    }
  }
  return U;
}

/**
 * How a pass cuts the batch into blocks: R tile rows of one image (K = 1, bpi blocks per image), or
 * K whole images (R = all tile rows) when one image has fewer tiles than a block should hold.
 */
interface BlockPlan {
  K: number;
  R: number;
  bpi: number;
  units: number;
}

function blockPlan(g: WinogradGeometry, targetTiles: number): BlockPlan {
  const TW = g.OW / 2, TH = g.OH / 2;
  if (TH * TW < targetTiles && g.N > 1) {
    const K = Math.max(1, Math.min(g.N, Math.floor(targetTiles / (TH * TW))));
    return { K, R: TH, bpi: 1, units: Math.ceil(g.N / K) };
  }
  let R = Math.max(1, Math.min(TH, Math.floor(targetTiles / TW)));
  // 4 wide: tile groups span two tile rows (TH is even then).
  if (g.OW === 4) R = Math.max(2, R - (R % 2));
  const bpi = Math.ceil(TH / R);
  return { K: 1, R, bpi, units: g.N * bpi };
}

/** Forward blocks: about 8192 / (C + Op) tiles, so one block's V and M (16·(C + Op)·tiles floats) stay near 512 KB. */
function forwardPlan(g: WinogradGeometry): BlockPlan {
  return blockPlan(g, Math.max(8, Math.floor(8192 / (g.C + paddedRows(g.O)))));
}

/** Thread-split units of a Winograd conv: blocks of tile rows or of whole images. */
export function winogradUnits(g: WinogradGeometry): number {
  return forwardPlan(g).units;
}

/** The images and tile rows of unit u. */
function unitBlock(p: BlockPlan, N: number, TH: number, u: number): { n0: number; kk: number; r0: number; rr: number } {
  if (p.K > 1) return { n0: u * p.K, kk: Math.min(p.K, N - u * p.K), r0: 0, rr: TH };
  const n0 = Math.floor(u / p.bpi), r0 = (u - n0 * p.bpi) * p.R;
  return { n0, kk: 1, r0, rr: Math.min(p.R, TH - r0) };
}

/**
 * Floats added between the 16 matrices of V and of M: their natural sizes are often multiples of
 * 4 KB, and the transforms' 16 loads or stores per tile group would then all fall in one L1 set.
 */
const XI_SKEW = 16;

/** Flops below which one more thread does not pay for its dispatch (as conv2d.ts). */
const FLOPS_PER_THREAD = 2e6;

/**
 * out = conv(x, w) + bias through Winograd, for a geometry winogradApplies accepts, split over the
 * threads by blocks. w is the [g.O, g.C, 3, 3] weight, or with `flip` the weight [g.C, g.O, 3, 3] of
 * the conv whose input gradient this is (see winogradWeights).
 */
export function winogradConv(x: Float32Array, w: Float32Array, flip: boolean, bias: Float32Array | null, g: WinogradGeometry): Float32Array {
  checkCall(x, w, bias, g);
  const units = winogradUnits(g);
  const flops = 2 * g.N * g.O * g.C * 9 * g.OH * g.OW;
  // Threads are counted before allocating (see conv2dBackwardInput).
  const p = Math.max(1, Math.min(availableThreads(), units, Math.floor(flops / FLOPS_PER_THREAD)));
  const out = allocate('float32', g.N * g.O * g.OH * g.OW) as Float32Array;
  parallelFor('conv2d.winograd', units, {
    ...winogradArgs(g), x: shareIf(p, x), w: shareIf(p, w), flip, bias: shareIf(p, bias), out,
  }, p);
  return out;
}

/** The same on this thread alone, into `out` (a task that computes a whole pass: conv2d's backward pair). */
export function winogradConvInto(x: Float32Array, w: Float32Array, flip: boolean, bias: Float32Array | null, g: WinogradGeometry,
  out: Float32Array): void {
  checkCall(x, w, bias, g);
  if (out.length !== g.N * g.O * g.OH * g.OW) fail('conv2d.winograd', `output has ${out.length} elements, expected ${g.N * g.O * g.OH * g.OW}`);
  runBlocks({ ...winogradArgs(g), x, w, flip, bias, out }, 0, winogradUnits(g));
}

function checkCall(x: Float32Array, w: Float32Array, bias: Float32Array | null, g: WinogradGeometry): void {
  const op = 'conv2d.winograd';
  const shape = `input [${g.N},${g.C},${g.H},${g.W}], weight [${g.O},${g.C},${g.KH},${g.KW}], output ${g.OH}x${g.OW}`;
  if (!winogradShape(g)) {
    fail(op, `needs a 3x3 stride-1 conv whose output is an even height by a multiple of 8 wide (or 4 wide and a multiple of 4 high), got ${shape}, padding ${g.ph}x${g.pw}`);
  }
  if (x.length !== g.N * g.C * g.H * g.W) fail(op, `input has ${x.length} elements, expected ${g.N * g.C * g.H * g.W} (${shape})`);
  if (w.length !== g.O * g.C * 9) fail(op, `weight has ${w.length} elements, expected ${g.O * g.C * 9} (${shape})`);
  if (bias !== null && bias.length !== g.O) fail(op, `bias has ${bias.length} elements, expected ${g.O} (${shape})`);
}

function winogradArgs(g: WinogradGeometry): Omit<WinogradArgs, 'x' | 'w' | 'flip' | 'bias' | 'out'> {
  const p = forwardPlan(g);
  return { N: g.N, C: g.C, H: g.H, W: g.W, O: g.O, OH: g.OH, OW: g.OW, ph: g.ph, pw: g.pw, K: p.K, R: p.R };
}

interface WinogradArgs {
  N: number; C: number; H: number; W: number; O: number; OH: number; OW: number; ph: number; pw: number; K: number; R: number;
  x: Float32Array; w: Float32Array; flip: boolean; bias: Float32Array | null; out: Float32Array;
}

/** Blocks [start, end) of a Winograd conv on this thread; see the header for the steps. */
function runBlocks(a: WinogradArgs, start: number, end: number): void {
  const { N, C, H, W, O, OH, OW, ph, pw, K, R } = a;
  const be = backendFor('float32', 'wasm');
  const pk = wasmPackersOf(be);
  if (pk === null) throw new Error('conv2d.winograd: the float32 wasm backend has no transform functions');
  const Op = paddedRows(O), TW = OW / 2, TH = OH / 2;
  // Groups of 4 tiles: 4 across a tile row, or (4 wide) 2 across each of two tile rows.
  const narrow = OW === 4, G4 = narrow ? 1 : TW / 4, wgIn = narrow ? pk.wgIn4 : pk.wgIn, wgOut = narrow ? pk.wgOut4 : pk.wgOut;
  const plan: BlockPlan = { K, R, bpi: K > 1 ? 1 : Math.ceil(TH / R), units: 0 };
  const Hp = H + 2 * ph, Wp = W + 2 * pw;
  const nbMax = Math.ceil((K * R * TW) / 8) * 8;
  // Rows of U per macro call: at most 128 KB of it.
  const chunk = Math.max(4, Math.floor(32768 / C / 4) * 4);
  // Scratch (float32 elements): U, bias, raw images (+1 for alignment), padded images (+8 slack),
  // V (16·C·nbMax), M (16·Op·nbMax), Y (K·O·2R·OW, +1 for alignment), the raw weight (O·C·9, +1 for
  // alignment: V8 copies shared memory byte by byte when source and destination differ mod 8, 7× slower).
  const uOff = 0, bOff = uOff + 16 * Op * C, rawOff = bOff + Op, padOff = rawOff + K * C * H * W + 1;
  const vOff = padOff + K * C * Hp * Wp + 8, mOff = vOff + 16 * (C * nbMax + XI_SKEW), yOff = mOff + 16 * (Op * nbMax + XI_SKEW);
  const wBase = yOff + K * O * 2 * R * OW + 2;
  const S = be.reserve(wBase + O * C * 9 + 1) as Float32Array;
  const wOff = wBase + alignShift(S, wBase, a.w, 0);
  // U = G·w·Gᵀ (winogradWeights' arithmetic, in wasm), each thread its own; the padding rows of the
  // last panel of 4 are zero.
  S.set(a.w, wOff);
  const xs = Op * C;
  if (Op > O) for (let xi = 0; xi < 16; xi++) S.fill(0, uOff + xi * xs + (Op - 4) * C, uOff + (xi + 1) * xs);
  if (a.flip) pk.wgUFlip(wOff * 4, O, C, 36, O * 36, uOff * 4, xs * 4);
  else pk.wgU(wOff * 4, O, C, C * 36, 36, uOff * 4, xs * 4);
  if (a.bias !== null) S.set(a.bias, bOff);
  S.fill(0, a.bias !== null ? bOff + O : bOff, bOff + Op);
  // Tiles past a block's end in its last B panel are computed and never read; zeroing V once
  // keeps them ordinary numbers.
  S.fill(0, vOff, mOff);
  const CHW = C * H * W, OP = O * OH * OW;
  let staged = -1;
  for (let u = start; u < end; u++) {
    const { n0, kk, r0, rr } = unitBlock(plan, N, TH, u);
    if (n0 !== staged || kk > 1) {
      const shift = alignShift(S, rawOff, a.x, n0 * CHW);
      S.set(a.x.subarray(n0 * CHW, (n0 + kk) * CHW), rawOff + shift);
      pk.pad(padOff * 4, (rawOff + shift) * 4, kk * C, H, W, ph, pw);
      staged = n0;
    }
    const rows = narrow ? rr / 2 : rr;
    const nPanels = Math.ceil((kk * rr * TW) / 8), ldc = nPanels * 8;
    const vXi = nPanels * C * 8 + XI_SKEW, mXi = Op * ldc + XI_SKEW;
    wgIn((padOff + 2 * r0 * Wp) * 4, C, rows, G4, Wp * 4, Hp * Wp * 4, vOff * 4, C * 32, vXi * 4, 32, kk, C * Hp * Wp * 4);
    for (let xi = 0; xi < 16; xi++) {
      // The macro-kernel reads all of its A panels for each B panel: in chunks of rows, U stays in L2.
      for (let i0 = 0; i0 < Op; i0 += chunk) {
        be.macro(S, uOff + xi * Op * C + i0 * C, vOff + xi * vXi, mOff + xi * mXi + i0 * ldc, ldc,
          Math.min(chunk, Op - i0) / 4, nPanels, C, false);
      }
    }
    const rowLen = 2 * rr * OW, d0 = (n0 * O * OH + 2 * r0) * OW;
    const y0 = yOff + alignShift(S, yOff, a.out, d0);
    wgOut(mOff * 4, ldc * 4, mXi * 4, O, rows, G4, bOff * 4, y0 * 4, OW * 4, rowLen * 4, kk, O * rowLen * 4);
    // Blocks of whole images are one run of the output; otherwise each channel's rows are.
    if (rr === TH) a.out.set(S.subarray(y0, y0 + kk * OP), d0);
    else for (let o = 0; o < O; o++) a.out.set(S.subarray(y0 + o * rowLen, y0 + (o + 1) * rowLen), d0 + o * OH * OW);
  }
}

registerTask('conv2d.winograd', (args: TaskArgs, start: number, end: number) => {
  runBlocks(args as unknown as WinogradArgs, start, end);
});

// ---- the weight gradient ----

/**
 * The weight gradient by the same algorithm, run backwards: the forward is linear in U, so
 *   dU[ξ] (O × C) = Σ_tiles (A·dy·Aᵀ)[ξ] (O × tiles) · (Bᵀ·d·B)[ξ]ᵀ (tiles × C),   dw = Gᵀ·dU·G,
 * 16 GEMMs whose sums run over every tile of every image (the macro-kernel accumulating in its C
 * block, block after block of tiles in a fixed order), then one small transform per weight.
 * Threads split the input channels by 8 (the GEMM's B panels): each stages and transforms only its
 * channels of x, and all of gy. With a single panel (3 channels in: a network's first conv, which
 * runs last in the backward pass while the other thread may be idle) they split the output channels
 * in two instead: each then transforms all of x and only its channels of gy. Every dw element is
 * summed in the same order for any split.
 */
export function winogradWeightGrad(gy: Float32Array, x: Float32Array, g: WinogradGeometry): Float32Array {
  checkGradCall(gy, x, g);
  const gw = allocate('float32', g.O * g.C * 9) as Float32Array;
  const units = winogradWeightGradUnits(g);
  const flops = 2 * g.N * g.O * g.C * 9 * g.OH * g.OW;
  const p = Math.max(1, Math.min(availableThreads(), units, Math.floor(flops / FLOPS_PER_THREAD)));
  parallelFor('conv2d.winogradWeight', units, winogradWeightGradArgs(g, shareIf(p, gy), shareIf(p, x), gw), p);
  return gw;
}

/**
 * Thread-split units of the weight gradient: input channels in 8s, times the blocks of output
 * channels (weightGradOutputBlocks), input panels varying fastest.
 */
export function winogradWeightGradUnits(g: WinogradGeometry): number {
  return Math.ceil(g.C / 8) * weightGradOutputBlocks(g);
}

/**
 * Blocks the output channels of a weight gradient are cut into: 2 when the input channels are a
 * single panel of 8 (a network's first conv, 3 channels in), so both threads can take part; else 1.
 * A block computes its rows of dU over every tile exactly as the whole would (rows of a GEMM are
 * independent), so the cut never changes a bit; it costs each block the input's transform again.
 */
function weightGradOutputBlocks(g: { C: number; O: number }): number {
  return g.C <= 8 && g.O >= 8 ? 2 : 1;
}

/** Output channels [o0, o1) of block b: whole panels of 4 (the macro-kernel's MR). */
function outputBlock(g: { C: number; O: number }, b: number): [number, number] {
  const blocks = weightGradOutputBlocks(g);
  const per = Math.ceil(g.O / blocks / 4) * 4;
  return [Math.min(g.O, b * per), Math.min(g.O, (b + 1) * per)];
}

/** The task arguments of 'conv2d.winogradWeight' (conv2d.ts defers it to a worker). */
export function winogradWeightGradArgs(g: WinogradGeometry, gy: Float32Array, x: Float32Array, gw: Float32Array): TaskArgs {
  const p = gradPlan(g);
  return { ...winogradArgs(g), K: p.K, R: p.R, gy, x, gw };
}

/** The same on this thread alone, into gw. */
export function winogradWeightGradInto(gy: Float32Array, x: Float32Array, g: WinogradGeometry, gw: Float32Array): void {
  checkGradCall(gy, x, g);
  if (gw.length !== g.O * g.C * 9) fail('conv2d.winogradWeight', `weight gradient has ${gw.length} elements, expected ${g.O * g.C * 9}`);
  runWeightBlocks(winogradWeightGradArgs(g, gy, x, gw) as unknown as WeightGradArgs, 0, winogradWeightGradUnits(g));
}

function checkGradCall(gy: Float32Array, x: Float32Array, g: WinogradGeometry): void {
  const op = 'conv2d.winogradWeight';
  const shape = `input [${g.N},${g.C},${g.H},${g.W}], weight [${g.O},${g.C},${g.KH},${g.KW}], output ${g.OH}x${g.OW}`;
  if (!winogradShape(g)) fail(op, `needs a geometry conv2d.winograd takes, got ${shape}, padding ${g.ph}x${g.pw}`);
  if (x.length !== g.N * g.C * g.H * g.W) fail(op, `input has ${x.length} elements, expected ${g.N * g.C * g.H * g.W} (${shape})`);
  if (gy.length !== g.N * g.O * g.OH * g.OW) fail(op, `output gradient has ${gy.length} elements, expected ${g.N * g.O * g.OH * g.OW} (${shape})`);
}

/** Weight-gradient blocks: about 16384 / (C + Op) tiles, at least 64 (the GEMMs' depth). */
function gradPlan(g: WinogradGeometry): BlockPlan {
  return blockPlan(g, Math.max(64, Math.floor(16384 / (g.C + paddedRows(g.O)))));
}

interface WeightGradArgs {
  N: number; C: number; H: number; W: number; O: number; OH: number; OW: number; ph: number; pw: number; K: number; R: number;
  gy: Float32Array; x: Float32Array; gw: Float32Array;
}

/** Units [start, end) of a weight gradient on this thread (see winogradWeightGradUnits). */
function runWeightBlocks(a: WeightGradArgs, start: number, end: number): void {
  const panels = Math.ceil(a.C / 8);
  for (let u = start; u < end;) {
    const b = Math.floor(u / panels), p0 = u - b * panels, p1 = Math.min(panels, p0 + end - u);
    const [o0, o1] = outputBlock(a, b);
    runWeightPanels(a, p0, p1, o0, o1);
    u += p1 - p0;
  }
}

/** Input-channel panels [start, end) × output channels [o0, o1) of a weight gradient. */
function runWeightPanels(a: WeightGradArgs, start: number, end: number, o0: number, o1: number): void {
  const { N, C, H, W, OH, OW, ph, pw, K, R } = a;
  const O = o1 - o0, Ofull = a.O;
  const be = backendFor('float32', 'wasm');
  const pk = wasmPackersOf(be);
  if (pk === null) throw new Error('conv2d.winogradWeight: the float32 wasm backend has no transform functions');
  const c0 = start * 8, c1 = Math.min(C, end * 8), Cw = c1 - c0, Cp = Math.ceil(Cw / 8) * 8;
  const Op = paddedRows(O), TW = OW / 2, TH = OH / 2;
  const narrow = OW === 4, G4 = narrow ? 1 : TW / 4;
  const wgIn = narrow ? pk.wgIn4 : pk.wgIn, wgGrad = narrow ? pk.wgGrad4 : pk.wgGrad;
  const plan: BlockPlan = { K, R, bpi: K > 1 ? 1 : Math.ceil(TH / R), units: 0 };
  const blocks = K > 1 ? Math.ceil(N / K) : N * plan.bpi;
  const Hp = H + 2 * ph, Wp = W + 2 * pw, nbMax = K * R * TW;
  // Scratch (float32 elements): dU accumulators, staged x (raw, padded) and gy, V and dM row-major,
  // and their packed panels.
  const dXi = Op * Cp + XI_SKEW, duOff = 0, rawLen = Cw * H * W + 1;
  const rawOff = duOff + 16 * dXi, padOff = rawOff + K * rawLen, gyOff = padOff + K * Cw * Hp * Wp + 8;
  const vOff = gyOff + K * O * OH * OW + 9, mOff = vOff + 16 * (Cp * nbMax + XI_SKEW), aOff = mOff + 16 * (Op * nbMax + XI_SKEW);
  const bOff = aOff + 16 * Op * nbMax, end_ = bOff + 16 * Cp * nbMax;
  const S = be.reserve(end_) as Float32Array;
  // Rows past Cw of V and past O of dM are never written: zero, so the GEMM's unused rows and
  // columns stay ordinary numbers.
  S.fill(0, vOff, aOff);
  const CHW = C * H * W, OP = Ofull * OH * OW;
  let first = true, staged = -1, gs = gyOff;
  for (let u = 0; u < blocks; u++) {
    const { n0, kk, r0, rr } = unitBlock(plan, N, TH, u);
    if (n0 !== staged || kk > 1) {
      // This thread's channels of each image, padded one image after another.
      for (let k = 0; k < kk; k++) {
        const src = (n0 + k) * CHW + c0 * H * W, raw = rawOff + k * rawLen, xs = alignShift(S, raw, a.x, src);
        S.set(a.x.subarray(src, src + Cw * H * W), raw + xs);
        pk.pad((padOff + k * Cw * Hp * Wp) * 4, (raw + xs) * 4, Cw, H, W, ph, pw);
      }
      // This block's output channels of each image: one run when it has them all.
      const src = n0 * OP + o0 * OH * OW;
      gs = gyOff + alignShift(S, gyOff, a.gy, src);
      if (O === Ofull) S.set(a.gy.subarray(src, src + kk * OP), gs);
      else for (let k = 0; k < kk; k++) S.set(a.gy.subarray(src + k * OP, src + k * OP + O * OH * OW), gs + k * O * OH * OW);
      staged = n0;
    }
    const rows = narrow ? rr / 2 : rr, T = kk * rr * TW;
    const vXi = Cp * T + XI_SKEW, mXi = Op * T + XI_SKEW;
    wgIn((padOff + 2 * r0 * Wp) * 4, Cw, rows, G4, Wp * 4, Hp * Wp * 4, vOff * 4, 32, vXi * 4, T * 4, kk, Cw * Hp * Wp * 4);
    wgGrad((gs + 2 * r0 * OW) * 4, rows, G4, OW * 4, OH * OW * 4, O, mOff * 4, T * 4, mXi * 4, kk, O * OH * OW * 4);
    for (let xi = 0; xi < 16; xi++) {
      pk.wgPackA((mOff + xi * mXi) * 4, T * 4, Op / 4, T, (aOff + xi * Op * T) * 4);
      pk.wgPackB((vOff + xi * vXi) * 4, T * 4, Cp / 4, T, (bOff + xi * Cp * T) * 4);
    }
    for (let xi = 0; xi < 16; xi++) {
      be.macro(S, aOff + xi * Op * T, bOff + xi * Cp * T, duOff + xi * dXi, Cp, Op / 4, Cp / 8, T, !first);
    }
    first = false;
  }
  // dw = Gᵀ·dU·G per weight, Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1].
  const u = new Float64Array(16), t = new Float64Array(12);
  for (let o = 0; o < O; o++) {
    for (let c = c0; c < c1; c++) {
      for (let xi = 0; xi < 16; xi++) u[xi] = S[duOff + xi * dXi + o * Cp + c - c0];
      for (let j = 0; j < 4; j++) {
        const p0 = u[j], p1 = u[4 + j], p2 = u[8 + j], p3 = u[12 + j];
        t[j] = p0 + (p1 + p2) / 2;
        t[4 + j] = (p1 - p2) / 2;
        t[8 + j] = (p1 + p2) / 2 + p3;
      }
      const d = ((o0 + o) * C + c) * 9;
      for (let i = 0; i < 3; i++) {
        const p0 = t[4 * i], p1 = t[4 * i + 1], p2 = t[4 * i + 2], p3 = t[4 * i + 3];
        a.gw[d + 3 * i] = p0 + (p1 + p2) / 2;
        a.gw[d + 3 * i + 1] = (p1 - p2) / 2;
        a.gw[d + 3 * i + 2] = (p1 + p2) / 2 + p3;
      }
    }
  }
}

registerTask('conv2d.winogradWeight', (args: TaskArgs, start: number, end: number) => {
  runWeightBlocks(args as unknown as WeightGradArgs, start, end);
});
