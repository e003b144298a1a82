/**
 * 3×3 stride-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2015), float32 on the WebAssembly backend.
 *
 * Each 2×2 block of outputs ("tile") of output channel o is
 *   y = Aᵀ·[ Σ_c (G·w[o,c]·Gᵀ) ⊙ (Bᵀ·d_c·B) ]·A
 * where d_c is the 4×4 input patch under the tile in channel c. So per tile and channel pair the
 * 3·3·4 = 36 multiply-adds of the direct conv become 16, and the sum over channels is 16 GEMMs,
 * one per position ξ of the 4×4 transformed tile:  M[ξ] (O × tiles) = U[ξ] (O × C) · V[ξ] (C × tiles),
 * with U = G·w·Gᵀ (the weight, transformed once per call) and V = Bᵀ·d·B (the input, transformed
 * block by block). The GEMMs run on the float32 macro-kernel (wasm_gemm.ts); the transforms are the
 * wasm functions of wasm_winograd.ts, in the same linear memory, so a block of tiles goes
 * input → V → M → output without leaving the thread's scratch (no 4× larger intermediate tensors).
 *
 * Used for the forward pass and, as the stride-1 conv with the flipped transposed weight, the input
 * gradient, of convs with a 3×3 kernel, stride and dilation 1, one group and an output whose height
 * is even and width a multiple of 8 (a tile group is 4 tiles across), or 4 wide and a multiple of 4
 * high (a tile group is 2 × 2 tiles), on float32 data. Float64
 * keeps the direct GEMM, so the gradient checks compare exact sums. The result differs from the
 * direct sum by rounding only (the transforms are exact in real arithmetic); tests hold it to the
 * reference loop. Threads split whole blocks of tile rows, and each output element is computed by
 * one thread in a fixed order, so results are bit-identical for any thread count.
 */
import type { FloatArray } from '../core/dtype';
import { allocate } from '../core/dtype';
import { fail } from '../core/errors';
import { alignShift } from './im2col_wasm';
import { availableThreads, parallelFor, registerTask, shareIf, type TaskArgs } from './parallel';
import { backendFor, kernelFor } from './gemm_backend';
import { wasmPackersOf } from './wasm_gemm';

/** The conv geometry fields this file reads (conv2d.ts's Conv2dGeometry has them all). */
export interface WinogradGeometry {
  N: number; C: number; H: number; W: number;
  O: number; KH: number; KW: number;
  OH: number; OW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number;
}

let enabled = true;

/** Turns the Winograd path on or off (benchmarks and tests compare it with the direct GEMM). */
export function setWinograd(on: boolean): void {
  enabled = on;
}

export function getWinograd(): boolean {
  return enabled;
}

/** True when a conv of geometry g on `src` data runs through Winograd F(2×2, 3×3). */
export function winogradApplies(g: WinogradGeometry, src: FloatArray): boolean {
  return enabled && src instanceof Float32Array && winogradShape(g)
    && kernelFor('float32') === 'wasm' && wasmPackersOf(backendFor('float32', 'wasm')) !== null;
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
 * Computed in float64 and rounded once.
 *   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
 */
export function winogradWeights(w: Float32Array, Oc: number, Ci: number, flip: boolean): Float32Array {
  const Op = paddedRows(Oc);
  const U = new Float32Array(16 * Op * Ci);
  const k = new Float64Array(9), t = new Float64Array(12);
  for (let o = 0; o < Oc; o++) {
    for (let c = 0; c < Ci; c++) {
      const base = flip ? (c * Oc + o) * 9 : (o * Ci + c) * 9;
      for (let q = 0; q < 9; q++) k[q] = w[base + (flip ? 8 - q : q)];
      // t = G·k (4×3)
      for (let j = 0; j < 3; j++) {
        const a = k[j], b = k[3 + j], d = k[6 + j];
        t[j] = a;
        t[3 + j] = (a + b + d) / 2;
        t[6 + j] = (a - b + d) / 2;
        t[9 + j] = d;
      }
      // u = t·Gᵀ (4×4)
      const dst = ((o >> 2) * Ci + c) * 4 + (o & 3), xiStride = Op * Ci;
      for (let i = 0; i < 4; i++) {
        const a = t[3 * i], b = t[3 * i + 1], d = t[3 * i + 2];
        U[dst + (4 * i) * xiStride] = a;
        U[dst + (4 * i + 1) * xiStride] = (a + b + d) / 2;
        U[dst + (4 * i + 2) * xiStride] = (a - b + d) / 2;
        U[dst + (4 * i + 3) * xiStride] = d;
      }
    }
  }
  return U;
}

/** Tile rows per block: about 8192 / (C + Op) tiles, so one block's V and M (16·(C + Op)·tiles floats) stay near 512 KB. */
function blockRows(g: WinogradGeometry): number {
  const TW = g.OW / 2, TH = g.OH / 2;
  const target = Math.max(8, Math.floor(8192 / (g.C + paddedRows(g.O))));
  const R = Math.max(1, Math.min(TH, Math.floor(target / TW)));
  // 4 wide: tile groups span two tile rows (TH is even then).
  return g.OW === 4 ? Math.max(2, R - (R % 2)) : R;
}

/** Thread-split units of a Winograd conv: blocks of tile rows, whole images apart. */
export function winogradUnits(g: WinogradGeometry): number {
  return g.N * Math.ceil(g.OH / 2 / blockRows(g));
}

/**
 * Floats added between the 16 matrices of V and of M: their natural sizes are often multiples of
 * 4 KB, and the transforms' 16 loads or stores per tile group would then all fall in one L1 set.
 */
const XI_SKEW = 16;

/** Flops below which one more thread does not pay for its dispatch (as conv2d.ts). */
const FLOPS_PER_THREAD = 2e6;

/**
 * out = conv(x, w) + bias through Winograd, for a geometry winogradApplies accepts; U from
 * winogradWeights, split over the threads by blocks.
 */
export function winogradConv(x: Float32Array, U: Float32Array, bias: Float32Array | null, g: WinogradGeometry): Float32Array {
  checkCall(x, U, bias, g);
  const out = allocate('float32', g.N * g.O * g.OH * g.OW) as Float32Array;
  const units = winogradUnits(g);
  const flops = 2 * g.N * g.O * g.C * 9 * g.OH * g.OW;
  const p = Math.max(1, Math.min(availableThreads(), units, Math.floor(flops / FLOPS_PER_THREAD)));
  parallelFor('conv2d.winograd', units, {
    ...winogradArgs(g), x: shareIf(p, x), U: shareIf(p, U), bias: shareIf(p, bias), out,
  }, p);
  return out;
}

/** The same on this thread alone, into `out` (a task that computes a whole pass: conv2d's backward pair). */
export function winogradConvInto(x: Float32Array, U: Float32Array, bias: Float32Array | null, g: WinogradGeometry,
  out: Float32Array): void {
  checkCall(x, U, bias, g);
  if (out.length !== g.N * g.O * g.OH * g.OW) fail('conv2d.winograd', `output has ${out.length} elements, expected ${g.N * g.O * g.OH * g.OW}`);
  runBlocks({ ...winogradArgs(g), x, U, bias, out }, 0, winogradUnits(g));
}

function checkCall(x: Float32Array, U: Float32Array, bias: Float32Array | null, g: WinogradGeometry): void {
  const op = 'conv2d.winograd';
  const shape = `input [${g.N},${g.C},${g.H},${g.W}], weight [${g.O},${g.C},${g.KH},${g.KW}], output ${g.OH}x${g.OW}`;
  if (!winogradShape(g)) {
    fail(op, `needs a 3x3 stride-1 conv whose output is an even height by a multiple of 8 wide (or 4 wide and a multiple of 4 high), got ${shape}, padding ${g.ph}x${g.pw}`);
  }
  if (x.length !== g.N * g.C * g.H * g.W) fail(op, `input has ${x.length} elements, expected ${g.N * g.C * g.H * g.W} (${shape})`);
  if (U.length !== 16 * paddedRows(g.O) * g.C) fail(op, `transformed weight has ${U.length} elements, expected ${16 * paddedRows(g.O) * g.C} (${shape})`);
  if (bias !== null && bias.length !== g.O) fail(op, `bias has ${bias.length} elements, expected ${g.O} (${shape})`);
}

function winogradArgs(g: WinogradGeometry): Omit<WinogradArgs, 'x' | 'U' | 'bias' | 'out'> {
  return { N: g.N, C: g.C, H: g.H, W: g.W, O: g.O, OH: g.OH, OW: g.OW, ph: g.ph, pw: g.pw, R: blockRows(g) };
}

interface WinogradArgs {
  N: number; C: number; H: number; W: number; O: number; OH: number; OW: number; ph: number; pw: number; R: number;
  x: Float32Array; U: Float32Array; bias: Float32Array | null; out: Float32Array;
}

/** Blocks [start, end) of a Winograd conv on this thread; see the header for the steps. */
function runBlocks(a: WinogradArgs, start: number, end: number): void {
  const { C, H, W, O, OH, OW, ph, pw, R } = a;
  const be = backendFor('float32', 'wasm');
  const pk = wasmPackersOf(be);
  if (pk === null) throw new Error('conv2d.winograd: the float32 wasm backend has no transform functions');
  const Op = paddedRows(O), TW = OW / 2, TH = OH / 2;
  // Groups of 4 tiles: 4 across a tile row, or (4 wide) 2 across each of two tile rows.
  const narrow = OW === 4, G4 = narrow ? 1 : TW / 4, wgIn = narrow ? pk.wgIn4 : pk.wgIn, wgOut = narrow ? pk.wgOut4 : pk.wgOut;
  const bpi = Math.ceil(TH / R);
  // Rows of U per macro call: at most 128 KB of it.
  const chunk = Math.max(4, Math.floor(32768 / C / 4) * 4);
  const Hp = H + 2 * ph, Wp = W + 2 * pw;
  const nbMax = Math.ceil((R * TW) / 8) * 8;
  // Scratch (float32 elements): U, bias, raw image (+1 for alignment), padded image (+8 slack),
  // V (16·C·nbMax), M (16·Op·nbMax), Y (O·2R·OW, +1 for alignment).
  const uOff = 0, bOff = uOff + 16 * Op * C, rawOff = bOff + Op, padOff = rawOff + C * H * W + 1;
  const vOff = padOff + C * Hp * Wp + 8, mOff = vOff + 16 * (C * nbMax + XI_SKEW), yOff = mOff + 16 * (Op * nbMax + XI_SKEW);
  const S = be.reserve(yOff + O * 2 * R * OW + 2) as Float32Array;
  S.set(a.U, uOff);
  if (a.bias !== null) S.set(a.bias, bOff);
  S.fill(0, a.bias !== null ? bOff + O : bOff, bOff + Op);
  // Tiles past a block's end in its last B panel are computed and never read; zeroing V once
  // keeps them ordinary numbers.
  S.fill(0, vOff, mOff);
  const CHW = C * H * W;
  let staged = -1;
  for (let u = start; u < end; u++) {
    const n = Math.floor(u / bpi), r0 = (u - n * bpi) * R, rr = Math.min(R, TH - r0);
    if (n !== staged) {
      const shift = alignShift(S, rawOff, a.x, n * CHW);
      S.set(a.x.subarray(n * CHW, (n + 1) * CHW), rawOff + shift);
      pk.pad(padOff * 4, (rawOff + shift) * 4, C, H, W, ph, pw);
      staged = n;
    }
    const nPanels = Math.ceil((rr * TW) / 8), ldc = nPanels * 8;
    const vXi = nPanels * C * 8 + XI_SKEW, mXi = Op * ldc + XI_SKEW;
    wgIn((padOff + 2 * r0 * Wp) * 4, C, narrow ? rr / 2 : rr, G4, Wp * 4, Hp * Wp * 4, vOff * 4, C * 32, vXi * 4);
    for (let xi = 0; xi < 16; xi++) {
      // The macro-kernel reads all of its A panels for each B panel: in chunks of rows, U stays in L2.
      for (let i0 = 0; i0 < Op; i0 += chunk) {
        be.macro(S, uOff + xi * Op * C + i0 * C, vOff + xi * vXi, mOff + xi * mXi + i0 * ldc, ldc,
          Math.min(chunk, Op - i0) / 4, nPanels, C, false);
      }
    }
    const rowLen = 2 * rr * OW, d0 = ((n * O) * OH + 2 * r0) * OW;
    const y0 = yOff + alignShift(S, yOff, a.out, d0);
    wgOut(mOff * 4, ldc * 4, mXi * 4, O, narrow ? rr / 2 : rr, G4, bOff * 4, y0 * 4, OW * 4, rowLen * 4);
    // A block of whole images is one run of the output; otherwise each channel's rows are.
    if (rr === TH) a.out.set(S.subarray(y0, y0 + O * rowLen), d0);
    else for (let o = 0; o < O; o++) a.out.set(S.subarray(y0 + o * rowLen, y0 + (o + 1) * rowLen), d0 + o * OH * OW);
  }
}

registerTask('conv2d.winograd', (args: TaskArgs, start: number, end: number) => {
  runBlocks(args as unknown as WinogradArgs, start, end);
});
