/**
 * The PyTorch conformance runner (scripts/check-torch-fixtures.ts): the shared reference set
 * passes in both dtypes, and the runner demonstrably fails on a wrong value, an unknown op or
 * parameter, an expected tensor it cannot produce, and a case that checks nothing. Hand-built
 * cases with parameters outside the shared set get their expected values from slow reference
 * loops written here (not tsgrad's kernels); the loops are first anchored to PyTorch's own
 * numbers from the shared set where that set has the op.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main, runConformance, type CaseResult } from '../../scripts/check-torch-fixtures';
import { readSafetensors, toFloatArray, writeSafetensors, type SafetensorsTensor } from '../../lib/io/safetensors';

const REPO = path.resolve(__dirname, '..', '..');
const FIXTURES = path.resolve(REPO, '..', 'shared', 'fixtures', 'torch');
const HAVE_FIXTURES = fs.existsSync(path.join(FIXTURES, 'manifest.json'));
const TOL = { float64: { atol: 1e-9, rtol: 1e-9 }, float32: { atol: 1e-4, rtol: 1e-4 } };

// ---- test-local data and files ----

/** A small seeded generator (mulberry32), independent of tsgrad's. */
function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randn(rng: () => number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  return out;
}

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const f64 = (shape: number[], data: Float64Array): SafetensorsTensor => ({ dtype: 'F64', shape, data });
const i64 = (shape: number[], values: number[]): SafetensorsTensor => ({ dtype: 'I64', shape, data: BigInt64Array.from(values.map(BigInt)) });

interface Entry {
  name: string;
  op: string;
  params: Record<string, unknown>;
  file: string;
  tensors: string[];
  tolerance: typeof TOL;
  note: string;
}

/** Writes one case file (with the op/params metadata the shared set carries) and returns its manifest entry. */
function writeCase(dir: string, name: string, op: string, params: Record<string, unknown>, tensors: Record<string, SafetensorsTensor>): Entry {
  const file = `${name}.safetensors`;
  writeSafetensors(path.join(dir, file), tensors, { op, params: JSON.stringify(params) });
  return { name, op, params, file, tensors: Object.keys(tensors).sort(), tolerance: TOL, note: '' };
}

function writeManifest(dir: string, cases: Entry[]): void {
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ version: 1, cases }, null, 1));
}

function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tsgrad-conformance-${tag}-`));
}

function byName(results: CaseResult[], name: string, dtype: 'float32' | 'float64' = 'float64'): CaseResult {
  const r = results.find((x) => x.name === name && x.dtype === dtype);
  if (!r) throw new Error(`no result for case ${name} (${dtype})`);
  return r;
}

function captureMain(argv: string[]): { code: number; out: string[]; err: string[] } {
  const out: string[] = [], err: string[] = [];
  const code = main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

// ---- slow reference loops (NCHW, row-major), PyTorch semantics ----

type Pair = [number, number];

function conv2dRef(
  x: Float64Array, [N, C, H, W]: number[], w: Float64Array, [O, Cg, KH, KW]: number[], b: Float64Array | null,
  [sh, sw]: Pair, [ph, pw]: Pair, [dh, dw]: Pair, groups: number, gy: Float64Array | null,
): { y: Float64Array; shape: number[]; gx: Float64Array; gw: Float64Array; gb: Float64Array } {
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const Og = O / groups;
  const y = new Float64Array(N * O * OH * OW);
  const gx = new Float64Array(x.length), gw = new Float64Array(w.length), gb = new Float64Array(O);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const yi = ((n * O + o) * OH + oh) * OW + ow;
    const g = Math.floor(o / Og);
    let s = b ? b[o] : 0;
    for (let c = 0; c < Cg; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const xi = ((n * C + g * Cg + c) * H + ih) * W + iw;
      const wi = ((o * Cg + c) * KH + kh) * KW + kw;
      s += x[xi] * w[wi];
      if (gy) {
        gx[xi] += gy[yi] * w[wi];
        gw[wi] += gy[yi] * x[xi];
      }
    }
    y[yi] = s;
    if (gy) gb[o] += gy[yi];
  }
  return { y, shape: [N, O, OH, OW], gx, gw, gb };
}

/** PyTorch's pooling_output_shape. */
function pooledSize(size: number, k: number, p: number, s: number, d: number, ceil: boolean): number {
  let o = Math.floor((size + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (o - 1) * s >= size + p) o--;
  return o;
}

function maxPoolRef(
  x: Float64Array, [N, C, H, W]: number[], [KH, KW]: Pair, [sh, sw]: Pair, [ph, pw]: Pair, [dh, dw]: Pair, ceil: boolean, gy: Float64Array | null,
): { y: Float64Array; shape: number[]; gx: Float64Array } {
  const OH = pooledSize(H, KH, ph, sh, dh, ceil), OW = pooledSize(W, KW, pw, sw, dw, ceil);
  const y = new Float64Array(N * C * OH * OW), gx = new Float64Array(x.length);
  for (let nc = 0; nc < N * C; nc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let best = -Infinity, arg = -1;
    for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const xi = (nc * H + ih) * W + iw;
      if (x[xi] > best) { best = x[xi]; arg = xi; }
    }
    const yi = (nc * OH + oh) * OW + ow;
    y[yi] = best;
    if (gy) gx[arg] += gy[yi];
  }
  return { y, shape: [N, C, OH, OW], gx };
}

function avgPoolRef(
  x: Float64Array, [N, C, H, W]: number[], [KH, KW]: Pair, [sh, sw]: Pair, [ph, pw]: Pair, ceil: boolean,
  countIncludePad: boolean, divisorOverride: number | null, gy: Float64Array | null,
): { y: Float64Array; shape: number[]; gx: Float64Array } {
  const OH = pooledSize(H, KH, ph, sh, 1, ceil), OW = pooledSize(W, KW, pw, sw, 1, ceil);
  const y = new Float64Array(N * C * OH * OW), gx = new Float64Array(x.length);
  for (let nc = 0; nc < N * C; nc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const hs = oh * sh - ph, ws = ow * sw - pw;
    const he = Math.min(hs + KH, H + ph), we = Math.min(ws + KW, W + pw);
    const poolSize = (he - hs) * (we - ws);
    const h0 = Math.max(hs, 0), w0 = Math.max(ws, 0), h1 = Math.min(he, H), w1 = Math.min(we, W);
    const div = divisorOverride ?? (countIncludePad ? poolSize : (h1 - h0) * (w1 - w0));
    const yi = (nc * OH + oh) * OW + ow;
    let s = 0;
    for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) {
      s += x[(nc * H + ih) * W + iw];
      if (gy) gx[(nc * H + ih) * W + iw] += gy[yi] / div;
    }
    y[yi] = s / div;
  }
  return { y, shape: [N, C, OH, OW], gx };
}

/**
 * F.cross_entropy on [N, C, D] logits with [N, D] class indices, class weights, ignore_index and
 * label smoothing: per element (1 − ε)·w[t]·(−logp_t) + ε/C·Σ_c w_c·(−logp_c), 0 when ignored;
 * 'mean' divides the sum by Σ w[t] over the elements not ignored. gy is the upstream gradient of
 * the reduced (scalar) or per-element loss.
 */
function crossEntropyRef(
  x: Float64Array, [N, C, D]: number[], t: number[], w: Float64Array, ignoreIndex: number, eps: number,
  reduction: 'mean' | 'none', gy: Float64Array | null,
): { loss: Float64Array; gx: Float64Array } {
  const perElem = new Float64Array(N * D), gx = new Float64Array(x.length);
  let wsum = 0;
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) if (t[n * D + d] !== ignoreIndex) wsum += w[t[n * D + d]];
  let wAll = 0;
  for (let c = 0; c < C; c++) wAll += w[c];
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) {
    const m = n * D + d, tc = t[m];
    if (tc === ignoreIndex) continue;
    const at = (c: number): number => (n * C + c) * D + d;
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, x[at(c)]);
    let se = 0;
    for (let c = 0; c < C; c++) se += Math.exp(x[at(c)] - mx);
    const lse = mx + Math.log(se);
    let smooth = 0;
    for (let c = 0; c < C; c++) smooth += w[c] * (lse - x[at(c)]);
    perElem[m] = (1 - eps) * w[tc] * (lse - x[at(tc)]) + (eps / C) * smooth;
    if (gy) {
      const scale = reduction === 'mean' ? gy[0] / wsum : gy[m];
      for (let c = 0; c < C; c++) {
        const p = Math.exp(x[at(c)] - lse);
        gx[at(c)] += scale * ((1 - eps) * w[tc] * (p - (c === tc ? 1 : 0)) + (eps / C) * (p * wAll - w[c]));
      }
    }
  }
  if (reduction === 'none') return { loss: perElem, gx };
  let total = 0;
  for (let m = 0; m < N * D; m++) total += perElem[m];
  return { loss: Float64Array.of(total / wsum), gx };
}

/** Zero-pads the last two dims of [C, H, W] by (top, bottom, left, right). */
function pad2d(x: Float64Array, [C, H, W]: number[], t: number, b: number, l: number, r: number): { y: Float64Array; shape: number[] } {
  const Hp = H + t + b, Wp = W + l + r;
  const y = new Float64Array(C * Hp * Wp);
  for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) y[(c * Hp + h + t) * Wp + w + l] = x[(c * H + h) * W + w];
  return { y, shape: [C, Hp, Wp] };
}

function crop2d(x: Float64Array, [C, Hp, Wp]: number[], t: number, l: number, H: number, W: number): Float64Array {
  const y = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) y[(c * H + h) * W + w] = x[(c * Hp + h + t) * Wp + w + l];
  return y;
}

/** Softmax over dim 0 of [A, B] (rows are the softmax axis, columns independent), with its backward. */
function softmaxDim0Ref(x: Float64Array, A: number, B: number, gy: Float64Array): { y: Float64Array; gx: Float64Array } {
  const y = new Float64Array(x.length), gx = new Float64Array(x.length);
  for (let j = 0; j < B; j++) {
    let mx = -Infinity, se = 0, dot = 0;
    for (let i = 0; i < A; i++) mx = Math.max(mx, x[i * B + j]);
    for (let i = 0; i < A; i++) se += Math.exp(x[i * B + j] - mx);
    for (let i = 0; i < A; i++) y[i * B + j] = Math.exp(x[i * B + j] - mx) / se;
    for (let i = 0; i < A; i++) dot += gy[i * B + j] * y[i * B + j];
    for (let i = 0; i < A; i++) gx[i * B + j] = y[i * B + j] * (gy[i * B + j] - dot);
  }
  return { y, gx };
}

/** Adaptive average pooling windows: [floor(o·in/out), ceil((o+1)·in/out)). */
function adaptiveAvgRef(x: Float64Array, [N, C, H, W]: number[], OH: number, OW: number, gy: Float64Array): { y: Float64Array; gx: Float64Array } {
  const y = new Float64Array(N * C * OH * OW), gx = new Float64Array(x.length);
  for (let nc = 0; nc < N * C; nc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const h0 = Math.floor((oh * H) / OH), h1 = Math.ceil(((oh + 1) * H) / OH);
    const w0 = Math.floor((ow * W) / OW), w1 = Math.ceil(((ow + 1) * W) / OW);
    const cnt = (h1 - h0) * (w1 - w0), yi = (nc * OH + oh) * OW + ow;
    let s = 0;
    for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) {
      s += x[(nc * H + h) * W + w];
      gx[(nc * H + h) * W + w] += gy[yi] / cnt;
    }
    y[yi] = s / cnt;
  }
  return { y, gx };
}

/** Training-mode batch norm over [N, C, L] without affine parameters or running statistics. */
function batchNormTrainRef(x: Float64Array, [N, C, L]: number[], eps: number, gy: Float64Array): { y: Float64Array; gx: Float64Array } {
  const y = new Float64Array(x.length), gx = new Float64Array(x.length), M = N * L;
  for (let c = 0; c < C; c++) {
    const idx: number[] = [];
    for (let n = 0; n < N; n++) for (let l = 0; l < L; l++) idx.push((n * C + c) * L + l);
    const mean = idx.reduce((s, i) => s + x[i], 0) / M;
    const variance = idx.reduce((s, i) => s + (x[i] - mean) ** 2, 0) / M;
    const inv = 1 / Math.sqrt(variance + eps);
    for (const i of idx) y[i] = (x[i] - mean) * inv;
    const gMean = idx.reduce((s, i) => s + gy[i], 0) / M;
    const gxhatMean = idx.reduce((s, i) => s + gy[i] * y[i], 0) / M;
    for (const i of idx) gx[i] = inv * (gy[i] - gMean - y[i] * gxhatMean);
  }
  return { y, gx };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// ---- hand-built cases ----

function conv2dCase(dir: string, name = 'conv2d_s21_d2_g2', extraParams: Record<string, unknown> = {}): Entry {
  const rng = makeRng(11);
  const xs = [2, 4, 9, 7], ws = [6, 2, 3, 2];
  const x = randn(rng, prod(xs)), w = randn(rng, prod(ws)), b = randn(rng, 6);
  const params = { stride: [2, 1], padding: [2, 1], dilation: 2, groups: 2, ...extraParams };
  const fwd = conv2dRef(x, xs, w, ws, b, [2, 1], [2, 1], [2, 2], 2, null);
  const gy = randn(rng, fwd.y.length);
  const r = conv2dRef(x, xs, w, ws, b, [2, 1], [2, 1], [2, 2], 2, gy);
  return writeCase(dir, name, 'conv2d', params, {
    'in.input': f64(xs, x), 'in.weight': f64(ws, w), 'in.bias': f64([6], b), 'gradout.output': f64(r.shape, gy),
    'out.output': f64(r.shape, r.y), 'grad.input': f64(xs, r.gx), 'grad.weight': f64(ws, r.gw), 'grad.bias': f64([6], r.gb),
  });
}

function maxPoolCase(dir: string): Entry {
  const rng = makeRng(12);
  const xs = [2, 3, 9, 8];
  const x = randn(rng, prod(xs));
  const fwd = maxPoolRef(x, xs, [3, 2], [2, 3], [1, 1], [2, 1], true, null);
  const gy = randn(rng, fwd.y.length);
  const r = maxPoolRef(x, xs, [3, 2], [2, 3], [1, 1], [2, 1], true, gy);
  return writeCase(dir, 'max_pool2d_dil_ceil', 'max_pool2d', { kernel_size: [3, 2], stride: [2, 3], padding: 1, dilation: [2, 1], ceil_mode: true }, {
    'in.input': f64(xs, x), 'gradout.output': f64(r.shape, gy), 'out.output': f64(r.shape, r.y), 'grad.input': f64(xs, r.gx),
  });
}

function avgPoolCases(dir: string): Entry[] {
  const rng = makeRng(13);
  const xs = [2, 3, 7, 8];
  const x = randn(rng, prod(xs));
  const a = avgPoolRef(x, xs, [3, 3], [2, 2], [1, 1], true, false, null, null);
  const gyA = randn(rng, a.y.length);
  const ra = avgPoolRef(x, xs, [3, 3], [2, 2], [1, 1], true, false, null, gyA);
  const b = avgPoolRef(x, xs, [2, 3], [2, 3], [1, 0], false, true, 5, null);
  const gyB = randn(rng, b.y.length);
  const rb = avgPoolRef(x, xs, [2, 3], [2, 3], [1, 0], false, true, 5, gyB);
  return [
    writeCase(dir, 'avg_pool2d_ceil_nopad', 'avg_pool2d', { kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false, divisor_override: null }, {
      'in.input': f64(xs, x), 'gradout.output': f64(ra.shape, gyA), 'out.output': f64(ra.shape, ra.y), 'grad.input': f64(xs, ra.gx),
    }),
    writeCase(dir, 'avg_pool2d_divisor', 'avg_pool2d', { kernel_size: [2, 3], stride: null, padding: [1, 0], divisor_override: 5 }, {
      'in.input': f64(xs, x), 'gradout.output': f64(rb.shape, gyB), 'out.output': f64(rb.shape, rb.y), 'grad.input': f64(xs, rb.gx),
    }),
  ];
}

function crossEntropyCases(dir: string): Entry[] {
  const rng = makeRng(14);
  const xs = [3, 5, 4];
  const x = randn(rng, prod(xs));
  const w = Float64Array.from({ length: 5 }, () => 0.5 + rng());
  // Class 1 is the ignore index, so some targets are ignored although 1 is a valid class.
  const t = [0, 1, 4, 2, 3, 1, 1, 0, 4, 2, 1, 3];
  const mean = crossEntropyRef(x, xs, t, w, 1, 0.2, 'mean', Float64Array.of(1));
  const gyNone = randn(rng, 12);
  const none = crossEntropyRef(x, xs, t, w, 1, 0.2, 'none', gyNone);
  const common = { label_smoothing: 0.2, ignore_index: 1 };
  return [
    writeCase(dir, 'cross_entropy_kdim_mean', 'cross_entropy', { ...common, reduction: 'mean' }, {
      'in.input': f64(xs, x), 'in.target': i64([3, 4], t), 'in.weight': f64([5], w),
      'out.output': f64([], mean.loss), 'grad.input': f64(xs, mean.gx),
    }),
    writeCase(dir, 'cross_entropy_kdim_none', 'cross_entropy', { ...common, reduction: 'none' }, {
      'in.input': f64(xs, x), 'in.target': i64([3, 4], t), 'in.weight': f64([5], w), 'gradout.output': f64([3, 4], gyNone),
      'out.output': f64([3, 4], none.loss), 'grad.input': f64(xs, none.gx),
    }),
  ];
}

/**
 * F.cross_entropy on [N, C, D] logits against class probabilities of the same shape (torch 1.13's
 * cross_entropy_loss_prob_target): per element −Σ_c w_c·t'_c·logp_c with t' = t·(1 − ε) + ε/C;
 * 'mean' divides the sum by N·D (the weights do not enter the divisor). Gradients: logits
 * scale·(p_c·Σ_k w_k·t'_k − w_c·t'_c), target −scale·(1 − ε)·w_c·logp_c.
 */
function crossEntropyProbRef(
  x: Float64Array, [N, C, D]: number[], t: Float64Array, w: Float64Array, eps: number, gy: Float64Array,
): { loss: Float64Array; gx: Float64Array; gt: Float64Array } {
  const gx = new Float64Array(x.length), gt = new Float64Array(x.length);
  let total = 0;
  for (let n = 0; n < N; n++) for (let d = 0; d < D; d++) {
    const at = (c: number): number => (n * C + c) * D + d;
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, x[at(c)]);
    let se = 0;
    for (let c = 0; c < C; c++) se += Math.exp(x[at(c)] - mx);
    const lse = mx + Math.log(se);
    const scale = gy[0] / (N * D);
    let wt = 0;
    for (let c = 0; c < C; c++) {
      const ts = t[at(c)] * (1 - eps) + eps / C;
      total -= w[c] * ts * (x[at(c)] - lse);
      wt += w[c] * ts;
      gt[at(c)] = -scale * (1 - eps) * w[c] * (x[at(c)] - lse);
    }
    for (let c = 0; c < C; c++) {
      const ts = t[at(c)] * (1 - eps) + eps / C;
      gx[at(c)] = scale * (Math.exp(x[at(c)] - lse) * wt - w[c] * ts);
    }
  }
  return { loss: Float64Array.of(total / (N * D)), gx, gt };
}

/** Class probabilities of the logits' shape [3, 5, 4] (K = 1), class weights and label smoothing, 'mean'. */
function crossEntropyProbCase(dir: string): Entry {
  const rng = makeRng(20);
  const xs = [3, 5, 4];
  const x = randn(rng, prod(xs));
  const w = Float64Array.from({ length: 5 }, () => 0.5 + rng());
  const t = new Float64Array(prod(xs));
  for (let n = 0; n < 3; n++) for (let d = 0; d < 4; d++) {
    let z = 0;
    for (let c = 0; c < 5; c++) z += (t[(n * 5 + c) * 4 + d] = 0.1 + rng());
    for (let c = 0; c < 5; c++) t[(n * 5 + c) * 4 + d] /= z;
  }
  const r = crossEntropyProbRef(x, xs, t, w, 0.1, Float64Array.of(1));
  return writeCase(dir, 'cross_entropy_kdim_probabilities', 'cross_entropy', { label_smoothing: 0.1, reduction: 'mean' }, {
    'in.input': f64(xs, x), 'in.target': f64(xs, t), 'in.weight': f64([5], w),
    'out.output': f64([], r.loss), 'grad.input': f64(xs, r.gx), 'grad.target': f64(xs, r.gt),
  });
}

/** padding='same' with an even kernel height (asymmetric padding) on an unbatched [C, H, W] input. */
function conv2dSameCase(dir: string): Entry {
  const rng = makeRng(16);
  const xs = [3, 6, 5], ws = [4, 3, 4, 3];
  const x = randn(rng, prod(xs)), w = randn(rng, prod(ws));
  // dilation [1, 2]: total padding 1·3 = 3 rows (1 top, 2 bottom) and 2·2 = 4 columns (2, 2).
  const padded = pad2d(x, xs, 1, 2, 2, 2);
  const fwd = conv2dRef(padded.y, [1, ...padded.shape], w, ws, null, [1, 1], [0, 0], [1, 2], 1, null);
  const gy = randn(rng, fwd.y.length);
  const r = conv2dRef(padded.y, [1, ...padded.shape], w, ws, null, [1, 1], [0, 0], [1, 2], 1, gy);
  const outShape = r.shape.slice(1);
  expect(outShape).to.deep.equal([4, 6, 5]);
  return writeCase(dir, 'conv2d_same_unbatched', 'conv2d', { padding: 'same', dilation: [1, 2] }, {
    'in.input': f64(xs, x), 'in.weight': f64(ws, w), 'gradout.output': f64(outShape, gy),
    'out.output': f64(outShape, r.y), 'grad.input': f64(xs, crop2d(r.gx, padded.shape, 1, 2, 6, 5)), 'grad.weight': f64(ws, r.gw),
  });
}

/** softmax with dim=None on a 3-d input: PyTorch's implicit dim is 0 there. */
function softmaxImplicitDimCase(dir: string): Entry {
  const rng = makeRng(17);
  const xs = [3, 2, 4];
  const x = randn(rng, 24), gy = randn(rng, 24);
  const r = softmaxDim0Ref(x, 3, 8, gy);
  return writeCase(dir, 'softmax_implicit_dim', 'softmax', { dim: null }, {
    'in.input': f64(xs, x), 'gradout.output': f64(xs, gy), 'out.output': f64(xs, r.y), 'grad.input': f64(xs, r.gx),
  });
}

function adaptiveNoneCase(dir: string): Entry {
  const rng = makeRng(18);
  const xs = [2, 3, 5, 7];
  const x = randn(rng, prod(xs)), gy = randn(rng, 2 * 3 * 5 * 3);
  const r = adaptiveAvgRef(x, xs, 5, 3, gy);
  return writeCase(dir, 'adaptive_avg_pool2d_none_3', 'adaptive_avg_pool2d', { output_size: [null, 3] }, {
    'in.input': f64(xs, x), 'gradout.output': f64([2, 3, 5, 3], gy), 'out.output': f64([2, 3, 5, 3], r.y), 'grad.input': f64(xs, r.gx),
  });
}

function batchNormBareCase(dir: string): Entry {
  const rng = makeRng(19);
  const xs = [4, 3, 5];
  const x = randn(rng, 60), gy = randn(rng, 60);
  const r = batchNormTrainRef(x, xs, 1e-3, gy);
  return writeCase(dir, 'batch_norm_bare_1d', 'batch_norm', { training: true, momentum: 0.3, eps: 1e-3 }, {
    'in.input': f64(xs, x), 'gradout.output': f64(xs, gy), 'out.output': f64(xs, r.y), 'grad.input': f64(xs, r.gx),
  });
}

function reluCase(dir: string, name: string, extra: Record<string, SafetensorsTensor> = {}, op = 'relu'): Entry {
  const rng = makeRng(15);
  const x = randn(rng, 24), gy = randn(rng, 24);
  const y = x.map((v) => Math.max(v, 0));
  const gx = x.map((v, i) => (v > 0 ? gy[i] : 0));
  return writeCase(dir, name, op, {}, {
    'in.input': f64([4, 6], x), 'gradout.output': f64([4, 6], gy), 'out.output': f64([4, 6], y), 'grad.input': f64([4, 6], gx), ...extra,
  });
}

// ---- tests ----

describe('scripts/check-torch-fixtures', function () {
  this.timeout(120000);
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const newDir = (tag: string): string => {
    const d = tempDir(tag);
    dirs.push(d);
    return d;
  };

  describe('the shared PyTorch reference set', () => {
    before(function () {
      if (!HAVE_FIXTURES) {
        console.log(`      (skipped: no reference set at ${FIXTURES})`);
        this.skip();
      }
    });

    it('passes every case in float64 and float32 at the manifest tolerances, comparing every expected tensor', () => {
      const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as { cases: Entry[] };
      const report = runConformance(FIXTURES, ['float64', 'float32']);
      const failures = report.results.filter((r) => r.status !== 'PASS').map((r) => `${r.name}/${r.dtype}: ${r.status} ${r.error} ${r.checks.filter((c) => c.status !== 'PASS').map((c) => `${c.name} ${c.status} ${c.detail}`).join('; ')}`);
      expect(failures, failures.join('\n')).to.deep.equal([]);
      expect(report.ok).to.equal(true);
      expect(report.results).to.have.length(2 * manifest.cases.length);
      for (const r of report.results) {
        const entry = manifest.cases.find((c) => c.name === r.name)!;
        const expectedNames = entry.tensors.filter((n) => /^(out|grad|step)\./.test(n)).sort();
        expect(r.checks.map((c) => c.name).sort(), `${r.name}/${r.dtype}`).to.deep.equal(expectedNames);
        expect(r.checks.every((c) => c.status === 'PASS' && c.maxAbsError <= c.allowed)).to.equal(true);
      }
    });

    it('anchors the test reference loops to PyTorch: conv2d, max_pool2d, avg_pool2d and cross_entropy reproduce the shared cases', () => {
      const read = (file: string): Map<string, Float64Array> => {
        const f = readSafetensors(path.join(FIXTURES, file));
        return new Map([...f.tensors].map(([k, t]) => [k, toFloatArray(t, 'float64') as Float64Array]));
      };
      const shape = (file: string, name: string): number[] => readSafetensors(path.join(FIXTURES, file)).tensors.get(name)!.shape;
      const c = read('conv2d_k3_s1_p1.safetensors');
      const cs = 'conv2d_k3_s1_p1.safetensors';
      const conv = conv2dRef(c.get('in.input')!, shape(cs, 'in.input'), c.get('in.weight')!, shape(cs, 'in.weight'), c.get('in.bias')!,
        [1, 1], [1, 1], [1, 1], 1, c.get('gradout.output')!);
      expect(maxAbsDiff(conv.y, c.get('out.output')!)).to.be.below(1e-12);
      expect(maxAbsDiff(conv.gx, c.get('grad.input')!)).to.be.below(1e-12);
      expect(maxAbsDiff(conv.gw, c.get('grad.weight')!)).to.be.below(1e-12);
      expect(maxAbsDiff(conv.gb, c.get('grad.bias')!)).to.be.below(1e-12);
      const ms = 'max_pool2d_k3_s2_p1.safetensors', m = read(ms);
      const mp = maxPoolRef(m.get('in.input')!, shape(ms, 'in.input'), [3, 3], [2, 2], [1, 1], [1, 1], false, m.get('gradout.output')!);
      expect(maxAbsDiff(mp.y, m.get('out.output')!)).to.equal(0);
      expect(maxAbsDiff(mp.gx, m.get('grad.input')!)).to.be.below(1e-12);
      const as = 'avg_pool2d_k2_s2_p0.safetensors', a = read(as);
      const ap = avgPoolRef(a.get('in.input')!, shape(as, 'in.input'), [2, 2], [2, 2], [0, 0], false, true, null, a.get('gradout.output')!);
      expect(maxAbsDiff(ap.y, a.get('out.output')!)).to.be.below(1e-12);
      expect(maxAbsDiff(ap.gx, a.get('grad.input')!)).to.be.below(1e-12);
      const es = 'cross_entropy.safetensors', ce = readSafetensors(path.join(FIXTURES, es)).tensors;
      const ceX = toFloatArray(ce.get('in.input')!, 'float64') as Float64Array;
      const [N, C] = ce.get('in.input')!.shape;
      const ceT = Array.from(toFloatArray(ce.get('in.target')!, 'float64'));
      const ref = crossEntropyRef(ceX, [N, C, 1], ceT, new Float64Array(C).fill(1), -100, 0, 'mean', Float64Array.of(1));
      expect(maxAbsDiff(ref.loss, toFloatArray(ce.get('out.output')!, 'float64'))).to.be.below(1e-12);
      expect(maxAbsDiff(ref.gx, toFloatArray(ce.get('grad.input')!, 'float64'))).to.be.below(1e-12);
    });
  });

  describe('parameters outside the shared set', () => {
    it('passes hand-built conv2d (stride [2,1], dilation 2, groups 2; padding same), pool, batch-norm, softmax and cross-entropy cases in both dtypes', () => {
      const dir = newDir('params');
      writeManifest(dir, [
        conv2dCase(dir), conv2dSameCase(dir), maxPoolCase(dir), ...avgPoolCases(dir), adaptiveNoneCase(dir),
        batchNormBareCase(dir), softmaxImplicitDimCase(dir), ...crossEntropyCases(dir), crossEntropyProbCase(dir),
      ]);
      const report = runConformance(dir, ['float64', 'float32']);
      for (const r of report.results) {
        const bad = r.checks.filter((c) => c.status !== 'PASS').map((c) => `${c.name} ${c.status} ${c.detail}`);
        expect(r.status, `${r.name}/${r.dtype}: ${r.error} ${bad.join('; ')}`).to.equal('PASS');
        expect(r.checks.length).to.be.at.least(2);
      }
      expect(byName(report.results, 'conv2d_s21_d2_g2').checks.map((c) => c.name).sort())
        .to.deep.equal(['grad.bias', 'grad.input', 'grad.weight', 'out.output']);
      expect(byName(report.results, 'cross_entropy_kdim_probabilities').checks.map((c) => c.name).sort())
        .to.deep.equal(['grad.input', 'grad.target', 'out.output']);
      expect(report.ok).to.equal(true);
    });
  });

  describe('failing on purpose', () => {
    it('fails a copy of a real case with one expected value moved just beyond tolerance, and passes it just within', function () {
      if (!HAVE_FIXTURES) {
        console.log(`      (skipped: no reference set at ${FIXTURES})`);
        this.skip();
      }
      const dir = newDir('perturbed');
      const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as { cases: Entry[] };
      const entry = manifest.cases.find((c) => c.name === 'conv2d_k3_s1_p1')!;
      const src = readSafetensors(path.join(FIXTURES, entry.file));
      const out = toFloatArray(src.tensors.get('out.output')!, 'float64') as Float64Array;
      const maxAbs = out.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const allowed = (dt: 'float64' | 'float32'): number => entry.tolerance[dt].atol + entry.tolerance[dt].rtol * maxAbs;
      const variant = (name: string, delta: number): Entry => {
        const perturbed = out.slice();
        perturbed[7] += delta;
        const tensors = new Map(src.tensors);
        tensors.set('out.output', { dtype: 'F64', shape: src.tensors.get('out.output')!.shape, data: perturbed });
        writeSafetensors(path.join(dir, `${name}.safetensors`), tensors, src.metadata);
        return { ...entry, name, file: `${name}.safetensors` };
      };
      // 1.5× the float32 allowance exceeds both dtypes' tolerances; 0.5× the float64 one is within both.
      writeManifest(dir, [variant('beyond', 1.5 * allowed('float32')), variant('within', 0.5 * allowed('float64'))]);
      const report = runConformance(dir, ['float64', 'float32']);
      for (const dt of ['float64', 'float32'] as const) {
        const beyond = byName(report.results, 'beyond', dt);
        expect(beyond.status).to.equal('FAIL');
        const failed = beyond.checks.filter((c) => c.status === 'FAIL');
        expect(failed.map((c) => c.name)).to.deep.equal(['out.output']);
        // The error is the perturbation give or take the run's own deviation, which the tolerance bounds.
        expect(failed[0].maxAbsError).to.be.above(failed[0].allowed);
        expect(failed[0].maxAbsError).to.be.within(1.5 * allowed('float32') - allowed(dt), 1.5 * allowed('float32') + allowed(dt));
        expect(failed[0].detail).to.contain('flat index 7');
        expect(beyond.checks.filter((c) => c.status === 'PASS')).to.have.length(3);
        expect(byName(report.results, 'within', dt).status).to.equal('PASS');
      }
      expect(report.ok).to.equal(false);
      const cli = captureMain(['--dir', dir, '--dtype', 'float64']);
      expect(cli.code).to.equal(1);
      expect(cli.out.some((l) => /^\s+FAIL\s+beyond \[conv2d, float64\]/.test(l))).to.equal(true);
      expect(cli.out[cli.out.length - 1]).to.match(/^SUMMARY: FAIL: 1 of 2 case runs passed, 1 failed/);
    });

    it('reports an unknown op, an unknown parameter, an unknown input and an unknown optimizer setting as errors', () => {
      const dir = newDir('unknown');
      const resnetParams = { num_classes: 10, width: 8, variant: 'cifar', optimizer: { type: 'sgd', lr: 0.1, nesterovv: true } };
      writeManifest(dir, [
        reluCase(dir, 'conv3d_case', {}, 'conv3d'),
        conv2dCase(dir, 'conv2d_padding_mode', { padding_mode: 'zeros' }),
        reluCase(dir, 'relu_extra_input', { 'in.mask': f64([4, 6], new Float64Array(24)) }),
        writeCase(dir, 'resnet_bad_optimizer', 'resnet18', resnetParams, { 'in.input': f64([1, 3, 8, 8], new Float64Array(192)) }),
        writeCase(dir, 'adam_rmsprop', 'resnet18', { ...resnetParams, optimizer: { type: 'rmsprop', lr: 0.1 } }, { 'in.input': f64([1, 3, 8, 8], new Float64Array(192)) }),
      ]);
      const report = runConformance(dir, ['float64']);
      const err = (name: string): string => {
        const r = byName(report.results, name);
        expect(r.status, name).to.equal('ERROR');
        expect(r.checks, name).to.deep.equal([]);
        return r.error;
      };
      expect(err('conv3d_case')).to.contain("case conv3d_case (conv3d, float64): unknown op 'conv3d' (supported: conv2d,");
      expect(err('conv2d_padding_mode')).to.contain("unknown parameter 'padding_mode' (supported: stride, padding, dilation, groups)");
      expect(err('relu_extra_input')).to.contain("'in.mask' is not an input of this op");
      expect(err('resnet_bad_optimizer')).to.contain("optimizer sgd: unknown parameter 'nesterovv'");
      expect(err('adam_rmsprop')).to.contain('unknown optimizer type "rmsprop"');
      expect(report.ok).to.equal(false);
      expect(captureMain(['--dir', dir]).code).to.equal(1);
    });

    it('lists an expected tensor it cannot produce as SKIPPED and fails the case; a case with nothing to check fails too', () => {
      const dir = newDir('skipped');
      writeManifest(dir, [
        reluCase(dir, 'relu_with_mask', { 'out.mask': f64([4, 6], new Float64Array(24)) }),
        writeCase(dir, 'relu_inputs_only', 'relu', {}, { 'in.input': f64([2, 2], Float64Array.of(1, -1, 2, -2)) }),
        reluCase(dir, 'relu_ok'),
      ]);
      const report = runConformance(dir, ['float64']);
      const masked = byName(report.results, 'relu_with_mask');
      expect(masked.status).to.equal('FAIL');
      expect(masked.checks.map((c) => [c.name, c.status])).to.deep.equal([
        ['grad.input', 'PASS'], ['out.mask', 'SKIPPED'], ['out.output', 'PASS'],
      ]);
      expect(masked.checks[1].detail).to.contain("does not compute 'out.mask'");
      const empty = byName(report.results, 'relu_inputs_only');
      expect(empty.status).to.equal('FAIL');
      expect(empty.error).to.contain('nothing was verified');
      expect(byName(report.results, 'relu_ok').status).to.equal('PASS');
      expect(report.summaries[0]).to.include({ dtype: 'float64', cases: 3, passed: 1, failed: 2 });
    });

    it('rejects a manifest entry that disagrees with its file', () => {
      const dir = newDir('mismatch');
      const entry = reluCase(dir, 'relu_listed');
      writeManifest(dir, [
        { ...entry, tensors: [...entry.tensors, 'out.extra'] },
        { ...reluCase(dir, 'relu_params'), params: { inplace: true } },
      ]);
      const report = runConformance(dir, ['float64']);
      expect(byName(report.results, 'relu_listed').error).to.contain('listed but missing from the file: out.extra');
      expect(byName(report.results, 'relu_params').error).to.contain('has params {} but the manifest has {"inplace":true}');
    });
    it('fails a run that verifies nothing (a manifest with no cases) and a case file no manifest entry names', () => {
      const empty = newDir('empty');
      writeManifest(empty, []);
      const none = runConformance(empty, ['float64', 'float32']);
      expect(none.results).to.deep.equal([]);
      expect(none.ok).to.equal(false);
      expect(none.problems).to.deep.equal([`${path.join(empty, 'manifest.json')} lists no cases: nothing was verified`]);
      const cli = captureMain(['--dir', empty]);
      expect(cli.code).to.equal(1);
      expect(cli.err).to.deep.equal([`check-torch-fixtures: ${path.join(empty, 'manifest.json')} lists no cases: nothing was verified`]);
      expect(cli.out[cli.out.length - 1]).to.match(/^SUMMARY: FAIL: 0 of 0 case runs passed/);

      const orphan = newDir('orphan');
      const listed = reluCase(orphan, 'relu_listed');
      reluCase(orphan, 'relu_unlisted');
      writeManifest(orphan, [listed]);
      const r = runConformance(orphan, ['float64']);
      expect(byName(r.results, 'relu_listed').status).to.equal('PASS');
      expect(r.ok).to.equal(false);
      expect(r.problems).to.deep.equal([
        `${path.join(orphan, 'relu_unlisted.safetensors')} is named by no case of ${path.join(orphan, 'manifest.json')}: its reference values were not checked`,
      ]);
      expect(captureMain(['--dir', orphan]).code).to.equal(1);
      // Running chosen cases with --case does not ask about the others.
      expect(runConformance(orphan, ['float64'], { cases: ['relu_listed'] }).ok).to.equal(true);
    });

    it('reports a missing or truncated case file as an error naming the file, and fails a NaN where the reference has a number', () => {
      const dir = newDir('broken');
      const gone = reluCase(dir, 'relu_gone');
      fs.unlinkSync(path.join(dir, gone.file));
      const cut = reluCase(dir, 'relu_cut');
      const bytes = fs.readFileSync(path.join(dir, cut.file));
      fs.writeFileSync(path.join(dir, cut.file), bytes.subarray(0, bytes.length - 8));
      const rng = makeRng(3);
      const x = randn(rng, 6);
      x[4] = NaN; // relu(NaN) is NaN; the reference says 0
      const nan = writeCase(dir, 'relu_nan', 'relu', {}, { 'in.input': f64([6], x), 'out.output': f64([6], x.map((v) => (v > 0 ? v : 0))) });
      writeManifest(dir, [gone, cut, nan]);
      const r = runConformance(dir, ['float64']);
      expect(byName(r.results, 'relu_gone').status).to.equal('ERROR');
      expect(byName(r.results, 'relu_gone').error).to.contain(path.join(dir, gone.file));
      expect(byName(r.results, 'relu_cut').status).to.equal('ERROR');
      expect(byName(r.results, 'relu_cut').error).to.contain(path.join(dir, cut.file));
      const n = byName(r.results, 'relu_nan');
      expect(n.status).to.equal('FAIL');
      expect(n.checks[0]).to.include({ name: 'out.output', status: 'FAIL', maxAbsError: Infinity });
      expect(n.checks[0].detail).to.equal('worst at flat index 4 of [6]: actual NaN, expected 0');
      expect(r.ok).to.equal(false);
    });
  });

  describe('command line', () => {
    it('prints help, and turns bad options into one line on stderr with exit code 2', () => {
      const help = captureMain(['--help']);
      expect(help.code).to.equal(0);
      expect(help.out.join('\n')).to.contain('usage: check-torch-fixtures --dir DIR');
      const dir = newDir('options');
      writeManifest(dir, [reluCase(dir, 'relu_ok')]);
      const bad = [['--frobnicate'], [], ['--dir', dir, '--dtype', 'half'], ['--dir', path.join(dir, 'no-such-dir')], ['--dir', dir, 'extra'], ['--dir', dir, '--case', 'nope']];
      for (const argv of bad) {
        const r = captureMain(argv);
        expect(r.code, argv.join(' ')).to.equal(2);
        expect(r.err, argv.join(' ')).to.have.length(1);
        expect(r.err[0]).to.match(/^check-torch-fixtures: .+ \(see --help\)$/);
        expect(r.out).to.deep.equal([]);
      }
      const ok = captureMain(['--dir', dir, '--case', 'relu_ok', '--dtype', 'float32']);
      expect(ok.code).to.equal(0);
      expect(ok.out[ok.out.length - 1]).to.match(/^SUMMARY: PASS: 1 of 1 case runs passed, 0 failed \(float32 1\/1 in [\d.]+ s\)$/);
      expect(ok.out.join('\n')).to.match(/PASS\s+relu_ok \[relu, float32\]: 2\/2 tensors passed/);
    });

    // One spawn proves main()'s return value becomes the exit status; each costs a ts-node start-up.
    it('sets the process exit code when run as a script', () => {
      const dir = newDir('cli');
      writeManifest(dir, [reluCase(dir, 'relu_with_mask', { 'out.mask': f64([4, 6], new Float64Array(24)) })]);
      const script = path.join(REPO, 'scripts', 'check-torch-fixtures.ts');
      const run = (args: string[]): ReturnType<typeof spawnSync> =>
        spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', script, ...args], { cwd: REPO, encoding: 'utf8' });
      const failing = run(['--dir', dir, '--dtype', 'float64']);
      expect(failing.status, String(failing.stderr)).to.equal(1);
      expect(String(failing.stdout)).to.contain('SKIPPED');
    });
  });
});
