/**
 * Binary cross-entropy on probabilities, elementwise over same-length contiguous arrays, with
 * PyTorch's numerics (aten/src/ATen/native/Loss.cpp): each log is clamped at −100 so a probability
 * of exactly 0 or 1 (a saturated float32 sigmoid) gives a finite loss, and the input gradient
 * divides by max(x·(1 − x), 1e-12) so it stays finite there too. A composite of log and clamp
 * cannot do that: its backward divides the zero gradient of the clamp by x = 0 and gives NaN.
 * Arithmetic in double, one rounding on store. Cost: one pass over the elements.
 *
 * Also the class-index pick of nll_loss (nllLossForward / nllLossBackward, the `nllLoss` op): it
 * reads input[n, t, ...] in the input's own [N, C, d1, ...] layout, one element per position, where
 * the composite it replaced (a permuted copy, where() over every class, a row sum) touched all C.
 */
import { allocate, dtypeOf, type DType, type FloatArray } from '../core/dtype';
import { fail } from '../core/errors';

/** torch's EPSILON in binary_cross_entropy_backward. */
const EPS = 1e-12;

function checkLengths(op: string, arrays: Array<[string, FloatArray]>, n: number): void {
  for (const [name, a] of arrays) {
    if (!(a instanceof Float32Array || a instanceof Float64Array)) fail(op, `${name} must be a Float32Array or Float64Array`);
    if (a.length !== n) fail(op, `${name} has ${a.length} elements, expected ${n}`);
  }
}

/** ℓ = −(y·max(log x, −100) + (1 − y)·max(log1p(−x), −100)), in x's dtype. */
export function binaryCrossEntropyForward(x: FloatArray, y: FloatArray): FloatArray {
  const n = x.length;
  checkLengths('binaryCrossEntropyForward', [['x', x], ['y', y]], n);
  const out = allocate(dtypeOf(x), n);
  for (let i = 0; i < n; i++) {
    const xi = x[i], yi = y[i];
    out[i] = (yi - 1) * Math.max(Math.log1p(-xi), -100) - yi * Math.max(Math.log(xi), -100);
  }
  return out;
}

/** d ℓ / d x = g·(x − y) / max(x·(1 − x), 1e-12). */
export function binaryCrossEntropyBackwardInput(g: FloatArray, x: FloatArray, y: FloatArray): FloatArray {
  const n = x.length;
  checkLengths('binaryCrossEntropyBackwardInput', [['g', g], ['x', x], ['y', y]], n);
  const gx = allocate(dtypeOf(x), n);
  for (let i = 0; i < n; i++) gx[i] = (g[i] * (x[i] - y[i])) / Math.max((1 - x[i]) * x[i], EPS);
  return gx;
}

/** d ℓ / d y = −g·logit(x) = g·(log1p(−x) − log x), unclamped as torch's binary_cross_entropy_target_backward. */
export function binaryCrossEntropyBackwardTarget(g: FloatArray, x: FloatArray): FloatArray {
  const n = x.length;
  checkLengths('binaryCrossEntropyBackwardTarget', [['g', g], ['x', x]], n);
  const gy = allocate(dtypeOf(x), n);
  for (let i = 0; i < n; i++) gy[i] = g[i] * (Math.log1p(-x[i]) - Math.log(x[i]));
  return gy;
}

/**
 * The class-index negative log-likelihood's pick (torch 1.13's nll_loss / nll_loss2d / nll_loss_nd)
 * on an input laid out as [B, C, S] row-major: B = N (1 for one sample [C]), S = d1·…·dK (1 for
 * [N, C]). Position p = b·S + s, in the target's row-major order, reads input[b, target[p], s].
 */
export interface NllGeometry {
  B: number;
  C: number;
  S: number;
}

/**
 * The targets of the pick: one int32 class per position, or `ignore` for an ignored one (its
 * position contributes nothing, not even to the mean's divisor); per-class weights or null (all 1).
 */
export interface NllPick {
  target: Int32Array;
  ignore: number;
  weight: FloatArray | null;
}

export type NllReduction = 'none' | 'mean' | 'sum';

function checkNll(op: string, x: FloatArray, g: NllGeometry, pick: NllPick): void {
  const { B, C, S } = g;
  if (!(x instanceof Float32Array || x instanceof Float64Array)) fail(op, 'input must be a Float32Array or Float64Array');
  if (!(pick.target instanceof Int32Array)) fail(op, 'target must be an Int32Array');
  for (const [name, v] of [['B', B], ['C', C], ['S', S]] as const) {
    if (!Number.isInteger(v) || v < 0) fail(op, `${name} must be a non-negative integer, got ${v}`);
  }
  if (x.length !== B * C * S) fail(op, `input has ${x.length} elements, expected B·C·S = ${B}·${C}·${S} = ${B * C * S}`);
  if (pick.target.length !== B * S) fail(op, `target has ${pick.target.length} elements, expected B·S = ${B}·${S} = ${B * S}`);
  if (pick.weight !== null) {
    if (!(pick.weight instanceof Float32Array || pick.weight instanceof Float64Array)) fail(op, 'weight must be a Float32Array or Float64Array');
    if (pick.weight.length !== C) fail(op, `weight has ${pick.weight.length} elements, expected C = ${C}`);
  }
}

/** The Error for a class index outside [0, C) that is not the ignore value, naming its position p = b·S + s. */
function badTarget(op: string, p: number, v: number, g: NllGeometry): never {
  const b = Math.floor(p / g.S), s = p - b * g.S;
  fail(op, `target at position ${p} ([b, s] = [${b}, ${s}] of [${g.B}, ${g.S}]) = ${v} is out of range for ${g.C} classes`);
}

/**
 * Σ over positions [p0, p0 + n) of the rounded per-position losses −x[b, t, s]·w[t] (0 where
 * ignored), added up in float64 in the order the unfused composite (losses, then sum) used: in
 * position order for float32 (each loss rounded to float32 first); for float64 in blocks of 128
 * combined as reduce.ts's pairwiseSum does, so the two agree bit for bit. Adds Σ w[t] over the kept
 * positions to tot[0], in position order.
 */
function nllSum(op: string, x: FloatArray, g: NllGeometry, pick: NllPick, p0: number, n: number, tot: Float64Array): number {
  const f64 = x instanceof Float64Array;
  if (f64 && n > 128) {
    const half = Math.ceil(n / 256) * 128;
    const a = nllSum(op, x, g, pick, p0, half, tot);
    return a + nllSum(op, x, g, pick, p0 + half, n - half, tot);
  }
  const { C, S } = g;
  const { target, ignore, weight } = pick;
  let s = 0, W = tot[0];
  let b = Math.floor(p0 / S), sp = p0 - b * S, base = b * C * S;
  for (let p = p0, end = p0 + n; p < end; p++) {
    const t = target[p];
    if (t !== ignore) {
      if (t < 0 || t >= C) badTarget(op, p, t, g);
      const w = weight === null ? 1 : weight[t];
      const l = -x[base + t * S + sp] * w;
      s += f64 ? l : Math.fround(l);
      W += w;
    }
    if (++sp === S) {
      sp = 0;
      base += C * S;
    }
  }
  tot[0] = W;
  return s;
}

/**
 * Forward of the pick. 'none': the per-position losses −w[t]·input[b, t, s] (0 where ignored), in
 * the input's dtype. 'sum': their sum (nllSum's order), one element. 'mean': that sum divided by
 * total = Σ w[t] over the kept positions, each rounded to the dtype first (NaN when total is 0:
 * every target ignored, or no positions, as torch's 0/0). `total` is returned for the backward.
 * Every target is checked (a class in [0, C) or the ignore value) before the input is read there.
 * Cost: one pass over the B·S positions, reading one input element per kept position.
 */
export function nllLossForward(x: FloatArray, g: NllGeometry, pick: NllPick, reduction: NllReduction): { loss: FloatArray; total: number } {
  const op = 'nllLossForward';
  checkNll(op, x, g, pick);
  const { B, C, S } = g;
  const P = B * S;
  const dtype = dtypeOf(x);
  if (reduction !== 'none') {
    const tot = new Float64Array(1);
    const s = nllSum(op, x, g, pick, 0, P, tot);
    const out = allocate(dtype, 1);
    out[0] = s;
    if (reduction === 'mean') {
      const d = allocate(dtype, 1);
      d[0] = tot[0];
      out[0] = out[0] / d[0];
    } else if (reduction !== 'sum') fail(op, `reduction must be 'none', 'mean' or 'sum', got ${String(reduction)}`);
    return { loss: out, total: tot[0] };
  }
  const { target, ignore, weight } = pick;
  const out = allocate(dtype, P);
  let W = 0;
  for (let b = 0, p = 0; b < B; b++) {
    const base = b * C * S;
    for (let s = 0; s < S; s++, p++) {
      const t = target[p];
      if (t === ignore) continue;
      if (t < 0 || t >= C) badTarget(op, p, t, g);
      const w = weight === null ? 1 : weight[t];
      out[p] = -x[base + t * S + s] * w;
      W += w;
    }
  }
  return { loss: out, total: W };
}

/**
 * Backward of the pick: zeros of the input's [B, C, S] size with −w[t]·γ_p at [b, t, s] for each
 * kept position, γ_p = gLoss[p] for 'none', the scalar gLoss for 'sum', and gLoss / total for
 * 'mean' (total rounded to the dtype, the quotient rounded too, then the product: the unfused
 * composite's div-then-mul roundings). `dtype` is the input's. Targets are checked again.
 * Cost: a zero-filled allocation of the input's size and one pass over the positions.
 */
export function nllLossBackward(gLoss: FloatArray | number, g: NllGeometry, pick: NllPick, reduction: NllReduction, total: number, dtype: DType): FloatArray {
  const op = 'nllLossBackward';
  const { B, C, S } = g;
  const P = B * S;
  const gx = allocate(dtype, B * C * S);
  checkNll(op, gx, g, pick);
  let gs = 0;
  let gv: FloatArray | null = null;
  if (reduction === 'none') {
    if (typeof gLoss === 'number' || gLoss.length !== P) fail(op, `the 'none' gradient must be an array of the ${P} positions, got ${typeof gLoss === 'number' ? 'a number' : `${gLoss.length} elements`}`);
    gv = gLoss;
  } else {
    if (typeof gLoss !== 'number') fail(op, `the '${reduction}' gradient must be a number, got ${gLoss.length} elements`);
    const r = allocate(dtype, 2);
    r[0] = gLoss;
    if (reduction === 'mean') {
      r[1] = total;
      r[0] = r[0] / r[1];
    } else if (reduction !== 'sum') fail(op, `reduction must be 'none', 'mean' or 'sum', got ${String(reduction)}`);
    gs = r[0];
  }
  const { target, ignore, weight } = pick;
  for (let b = 0, p = 0; b < B; b++) {
    const base = b * C * S;
    for (let s = 0; s < S; s++, p++) {
      const t = target[p];
      if (t === ignore) continue;
      if (t < 0 || t >= C) badTarget(op, p, t, g);
      const w = weight === null ? 1 : weight[t];
      gx[base + t * S + s] = (gv === null ? gs : gv[p]) * -w;
    }
  }
  return gx;
}
