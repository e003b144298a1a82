/**
 * THE table of primitive ops: for each, the forward (a call into lib/kernels), what it saves for
 * backward, and the backward formula written with functional ops (PyTorch's derivatives.yaml in
 * TypeScript). Composite ops (sub, mean, min, softmax, linear, dropout, ...) live in functional.ts
 * and have no entry here: their gradients come from the primitives they are made of.
 *
 * Conventions: `grad` is the upstream gradient, ctx.out the forward result; a backward returns
 * gradients keyed by input name (undefined for an input that gets none); broadcasting is undone by
 * sumToShape. Backward runs with recording off.
 */
import { allocate, type DType, type FloatArray } from '../lib/core/dtype';
import { fmtShape, fail } from '../lib/core/errors';
import { broadcastShape, contiguousStrides, numel, viewStrides } from '../lib/core/shape';
import * as bn from '../lib/kernels/batchnorm';
import {
  conv2dBackward, conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, prepareConvWeight, type Conv2dGeometry, type ConvWeight,
} from '../lib/kernels/conv2d';
import * as pool from '../lib/kernels/pool';
import * as rs from '../lib/kernels/resample';
import * as sm from '../lib/kernels/softmax';
import * as ew from '../lib/kernels/elementwise';
import * as lossKernels from '../lib/kernels/loss';
import * as ix from '../lib/kernels/indexing';
import { gemm } from '../lib/kernels/gemm';
import { cumsumAxis, exclusiveProdAxis, extremeAxes, prodAxis, sumAxes, varianceAxes } from '../lib/kernels/reduce';
import { TWO_OVER_SQRT_PI } from '../lib/kernels/special';
import { broadcastView, dense, fromData, strided } from './kernel_args';
import * as F from './functional';
import type { BackwardContext, GradMap } from './tape';
import { Tensor } from './tensor';

export interface OpDef<In, Attrs, Extra> {
  /** Inputs that never receive a gradient (conditions, masks). */
  readonly nondiff?: readonly (keyof In & string)[];
  /** Inputs backward reads. */
  readonly saveInputs?: readonly (keyof In & string)[];
  /** Whether backward reads the op's output. */
  readonly saveOutput?: boolean;
  forward(inputs: In, attrs: Attrs): Tensor | { out: Tensor; extra: Extra };
  backward(grad: Tensor, ctx: BackwardContext<In, Attrs, Extra>): GradMap<In>;
}

function defineOp<In extends Record<string, Tensor | undefined>, Attrs = Record<string, never>, Extra = undefined>(
  def: OpDef<In, Attrs, Extra>,
): OpDef<In, Attrs, Extra> {
  return def;
}

type AB = { a: Tensor; b: Tensor };
type X = { x: Tensor };
const NONE: Record<string, never> = {};
export type NoAttrs = typeof NONE;

// ---- forward helpers ----

function binaryForward(op: ew.BinaryOp, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShape(op, a.shape, b.shape);
  const out = allocate(a.dtype, numel(shape));
  ew.binary(op, shape, broadcastView(a, shape), broadcastView(b, shape), out);
  return fromData(out, shape);
}

function unaryForward(op: ew.UnaryOp, x: Tensor): Tensor {
  const n = x.numel();
  const out = allocate(x.dtype, n);
  ew.unary(op, dense(x), 0, out, n);
  return fromData(out, x.shape);
}

/** Sums `grad` down to `shape`, undoing broadcasting (the one helper every broadcast backward uses). */
export function sumToShape(grad: Tensor, shape: readonly number[]): Tensor {
  if (grad.shape.length === shape.length && grad.shape.every((d, i) => d === shape[i])) return grad;
  const lead = grad.shape.length - shape.length;
  if (lead < 0) fail('sumToShape', `cannot reduce ${fmtShape(grad.shape)} to ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < grad.shape.length; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && grad.shape[i] !== 1) axes.push(i);
    else if (shape[i - lead] !== grad.shape[i]) fail('sumToShape', `cannot reduce ${fmtShape(grad.shape)} to ${fmtShape(shape)}`);
  }
  const data = sumAxes(dense(grad), grad.shape, axes);
  return fromData(data, shape);
}

/**
 * Gradients of maximum (loses = lt) or minimum (loses = gt), as PyTorch's derivatives.yaml:
 * a: where(a == b, g/2, g).masked_fill_(loses(a, b), 0), b likewise with the comparison reversed.
 * A NaN on either side makes every comparison false, so both inputs get the whole gradient.
 */
function extremumGrads(
  g: Tensor, a: Tensor, b: Tensor, needs: { a?: boolean; b?: boolean },
  loses: (x: Tensor, y: Tensor) => Tensor, wins: (x: Tensor, y: Tensor) => Tensor,
): { a: Tensor | undefined; b: Tensor | undefined } {
  const split = F.where(F.eq(a, b), F.mul(g, 0.5), g);
  return {
    a: needs.a ? sumToShape(F.where(loses(a, b), 0, split), a.shape) : undefined,
    b: needs.b ? sumToShape(F.where(wins(a, b), 0, split), b.shape) : undefined,
  };
}

/** Strided-view result sharing x's storage. */
function viewOf(x: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  return new Tensor(x.storage, shape, strides, offset);
}

function copyOf(x: Tensor): Tensor {
  const out = allocate(x.dtype, x.numel());
  ew.copyStrided(x.shape, strided(x), { storage: out, offset: 0, strides: contiguousStrides(x.shape) });
  return fromData(out, x.shape);
}

/** Describes the last two dims of t for gemm: plain row-major, transposed, or needing a copy. */
function gemmOperand(t: Tensor): { trans: boolean; ld: number } | null {
  const nd = t.shape.length;
  const R = t.shape[nd - 2], C = t.shape[nd - 1];
  const sr = t.strides[nd - 2], sc = t.strides[nd - 1];
  if ((C === 1 || sc === 1) && (R === 1 || sr >= Math.max(C, 1))) return { trans: false, ld: R === 1 ? Math.max(C, 1) : sr };
  if ((R === 1 || sr === 1) && (C === 1 || sc >= Math.max(R, 1))) return { trans: true, ld: C === 1 ? Math.max(R, 1) : sc };
  return null;
}

function matmulForward(a0: Tensor, b0: Tensor): Tensor {
  const na = a0.shape.length, nb = b0.shape.length;
  const M = a0.shape[na - 2], K = a0.shape[na - 1], N = b0.shape[nb - 1];
  const batch = broadcastShape('matmul', a0.shape.slice(0, -2), b0.shape.slice(0, -2));
  const outShape = [...batch, M, N];
  const out = allocate(a0.dtype, numel(outShape));
  // An empty sum (K = 0) is zeros, as in PyTorch; an [R, 0] operand has no gemm layout to describe.
  if (K === 0 || out.length === 0) return fromData(out, outShape);
  const a = gemmOperand(a0) ? a0 : copyOf(a0);
  const b = gemmOperand(b0) ? b0 : copyOf(b0);
  const oa = gemmOperand(a)!, ob = gemmOperand(b)!;
  const nBatch = numel(batch);
  const av = broadcastView(a, [...batch, M, K]);
  const bv = broadcastView(b, [...batch, K, N]);
  const idx = new Array<number>(batch.length).fill(0);
  for (let bi = 0; bi < nBatch; bi++) {
    let aOff = a.offset, bOff = b.offset;
    for (let d = 0; d < batch.length; d++) {
      aOff += idx[d] * av.strides[d];
      bOff += idx[d] * bv.strides[d];
    }
    gemm(oa.trans, ob.trans, M, N, K, a.storage, aOff, oa.ld, b.storage, bOff, ob.ld, false, out, bi * M * N, N);
    for (let d = batch.length - 1; d >= 0; d--) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return fromData(out, outShape);
}

// ---- the table ----

export const derivatives = {
  // Elementwise binary ops broadcast; each backward sums the gradient back to its input's shape.
  add: defineOp<AB>({
    forward: ({ a, b }) => binaryForward('add', a, b),
    backward: (g, { shapes, needs }) => ({
      a: needs.a ? sumToShape(g, shapes.a!) : undefined,
      b: needs.b ? sumToShape(g, shapes.b!) : undefined,
    }),
  }),
  mul: defineOp<AB>({
    saveInputs: ['a', 'b'],
    forward: ({ a, b }) => binaryForward('mul', a, b),
    backward: (g, { inputs: { a, b }, needs }) => ({
      a: needs.a ? sumToShape(F.mul(g, b!), a!.shape) : undefined,
      b: needs.b ? sumToShape(F.mul(g, a!), b!.shape) : undefined,
    }),
  }),
  div: defineOp<AB>({
    saveInputs: ['a', 'b'],
    saveOutput: true,
    forward: ({ a, b }) => binaryForward('div', a, b),
    backward: (g, { inputs: { a, b }, out, needs }) => ({
      a: needs.a ? sumToShape(F.div(g, b!), a!.shape) : undefined,
      // d(a/b)/db = -a/b² = -(out/b), times g in PyTorch's order (div_tensor_other_backward:
      // -g·((a/b)/b)), so g·out cannot overflow where the gradient itself is finite.
      b: needs.b ? sumToShape(F.neg(F.mul(g, F.div(out!, b!))), b!.shape) : undefined,
    }),
  }),
  pow: defineOp<AB>({
    saveInputs: ['a', 'b'],
    saveOutput: true,
    forward: ({ a, b }) => binaryForward('pow', a, b),
    backward: (g, { inputs: { a, b }, out, needs }) => {
      let ga: Tensor | undefined;
      let gb: Tensor | undefined;
      if (needs.a) {
        // b·a^(b−1), defined as 0 where b == 0 (as PyTorch), so 0^0 does not produce NaN.
        const d = F.where(F.eq(b!, 0), 0, F.mul(b!, F.pow(a!, F.sub(b!, 1))));
        ga = sumToShape(F.mul(g, d), a!.shape);
      }
      if (needs.b) {
        // a^b·log(a), defined as 0 where a == 0 and b >= 0 (as PyTorch).
        const d = F.where(F.mul(F.eq(a!, 0), F.ge(b!, 0)), 0, F.mul(out!, F.log(a!)));
        gb = sumToShape(F.mul(g, d), b!.shape);
      }
      return { a: ga, b: gb };
    },
  }),
  maximum: defineOp<AB>({
    saveInputs: ['a', 'b'],
    forward: ({ a, b }) => binaryForward('maximum', a, b),
    // Ties split the gradient evenly between a and b, as torch.maximum does; a side gets nothing
    // only where it is strictly smaller, so where either is NaN (no order) both get all of it.
    backward: (g, { inputs: { a, b }, needs }) => extremumGrads(g, a!, b!, needs, F.lt, F.gt),
  }),
  minimum: defineOp<AB>({
    saveInputs: ['a', 'b'],
    forward: ({ a, b }) => binaryForward('minimum', a, b),
    backward: (g, { inputs: { a, b }, needs }) => extremumGrads(g, a!, b!, needs, F.gt, F.lt),
  }),

  // Unary ops; where the derivative is a function of the output, the output is what is saved.
  neg: defineOp<X>({
    forward: ({ x }) => unaryForward('neg', x),
    backward: (g) => ({ x: F.neg(g) }),
  }),
  exp: defineOp<X>({
    saveOutput: true,
    forward: ({ x }) => unaryForward('exp', x),
    backward: (g, { out }) => ({ x: F.mul(g, out!) }),
  }),
  log: defineOp<X>({
    saveInputs: ['x'],
    forward: ({ x }) => unaryForward('log', x),
    backward: (g, { inputs: { x } }) => ({ x: F.div(g, x!) }),
  }),
  sqrt: defineOp<X>({
    saveOutput: true,
    forward: ({ x }) => unaryForward('sqrt', x),
    backward: (g, { out }) => ({ x: F.div(g, F.mul(out!, 2)) }),
  }),
  abs: defineOp<X>({
    saveInputs: ['x'],
    forward: ({ x }) => unaryForward('abs', x),
    backward: (g, { inputs: { x } }) => ({ x: F.mul(g, F.sign(x!)) }),
  }),
  sign: defineOp<X>({
    forward: ({ x }) => unaryForward('sign', x),
    // torch's sign_backward: zeros_like(grad).
    backward: (g) => ({ x: Tensor.empty(g.shape, g.dtype) }),
  }),
  relu: defineOp<X>({
    saveOutput: true,
    forward: ({ x }) => unaryForward('relu', x),
    // Fused (one pass, no mask tensor): relu sits after every conv of a ResNet.
    backward: (g, { out }) => {
      const n = out!.numel();
      const gx = allocate(out!.dtype, n);
      ew.reluBackward(dense(g), dense(out!), gx, n);
      return { x: fromData(gx, out!.shape) };
    },
  }),
  sigmoid: defineOp<X>({
    saveOutput: true,
    forward: ({ x }) => unaryForward('sigmoid', x),
    backward: (g, { out }) => ({ x: F.mul(g, F.mul(out!, F.sub(1, out!))) }),
  }),
  tanh: defineOp<X>({
    saveOutput: true,
    forward: ({ x }) => unaryForward('tanh', x),
    backward: (g, { out }) => ({ x: F.mul(g, F.sub(1, F.mul(out!, out!))) }),
  }),
  // exp(x) − 1 and log(1 + x), accurate near 0 (torch.expm1, torch.log1p): elu, softplus and
  // logSigmoid are composites of them. The derivatives are torch's: grad·(result + 1), grad/(x + 1).
  expm1: defineOp<X>({
    saveOutput: true,
    forward: ({ x }) => unaryForward('expm1', x),
    backward: (g, { out }) => ({ x: F.mul(g, F.add(out!, 1)) }),
  }),
  log1p: defineOp<X>({
    saveInputs: ['x'],
    forward: ({ x }) => unaryForward('log1p', x),
    backward: (g, { inputs: { x } }) => ({ x: F.div(g, F.add(x!, 1)) }),
  }),
  // A primitive since no composite of the others is accurate (lib/kernels/special.ts); the exact
  // GELU is built on it. d erf(x)/dx = 2/√π·exp(−x²).
  erf: defineOp<X>({
    saveInputs: ['x'],
    forward: ({ x }) => unaryForward('erf', x),
    backward: (g, { inputs: { x } }) => ({ x: F.mul(g, F.mul(F.exp(F.neg(F.mul(x!, x!))), TWO_OVER_SQRT_PI)) }),
  }),
  clamp: defineOp<X, { min: number | null; max: number | null }>({
    saveInputs: ['x'],
    forward: ({ x }, { min, max }) => {
      const n = x.numel();
      const out = allocate(x.dtype, n);
      ew.clamp(dense(x), 0, out, n, min, max);
      return fromData(out, x.shape);
    },
    // The gradient passes where min <= x <= max (bounds inclusive, as PyTorch).
    backward: (g, { inputs: { x }, attrs: { min, max } }) => {
      let mask = F.onesLike(x!);
      if (min !== null) mask = F.mul(mask, F.ge(x!, min));
      if (max !== null) mask = F.mul(mask, F.le(x!, max));
      return { x: F.mul(g, mask) };
    },
  }),

  // Reductions over sorted, unique axes.
  sum: defineOp<X, { axes: number[]; keepdim: boolean }>({
    forward: ({ x }, { axes, keepdim }) => {
      const data = sumAxes(dense(x), x.shape, axes);
      return fromData(data, keptShape(x.shape, axes, keepdim));
    },
    backward: (g, { shapes, attrs: { axes } }) => {
      const inShape = shapes.x!;
      return { x: F.expand(F.reshape(g, keptShape(inShape, axes, true)), inShape) };
    },
  }),
  // torch.var: the statistics in float64 (varianceAxes); the backward is torch's var_backward,
  // 2/(count − correction)·grad·(x − mean(x)), with the forward's divisor max(0, count − correction).
  var: defineOp<X, { axes: number[]; keepdim: boolean; correction: number }>({
    saveInputs: ['x'],
    forward: ({ x }, { axes, keepdim, correction }) => {
      const data = varianceAxes(dense(x), x.shape, axes, correction);
      return fromData(data, keptShape(x.shape, axes, keepdim));
    },
    backward: (g, { inputs: { x }, attrs: { axes, correction } }) => ({ x: varBackward(g, x!, axes, correction) }),
  }),
  // torch.std: sqrt of the float64 variance; the backward is torch's std_backward, var_backward of
  // grad / (2·std) with 0 where std == 0 (a constant slice gets 0, not 0·∞ = NaN).
  std: defineOp<X, { axes: number[]; keepdim: boolean; correction: number }>({
    saveInputs: ['x'],
    saveOutput: true,
    forward: ({ x }, { axes, keepdim, correction }) => {
      const data = varianceAxes(dense(x), x.shape, axes, correction, true);
      return fromData(data, keptShape(x.shape, axes, keepdim));
    },
    backward: (g, { inputs: { x }, out, attrs: { axes, correction } }) => {
      const gVar = F.where(F.eq(out!, 0), 0, F.div(g, F.mul(out!, 2)));
      return { x: varBackward(gVar, x!, axes, correction) };
    },
  }),
  /**
   * torch.linalg.vector_norm (what torch.norm calls for a numeric p) for a finite p other than 1 and 2
   * (F.norm keeps its composites for those): (Σ|x|^p)^(1/p) over the axes, or for p = 0 the count of
   * nonzeros (a NaN counts, NaN ≠ 0, as torch's NormZeroOps). |x|^p and the sums are in float64
   * (pairwise, sumAxes), rounded once. Backward: torch 1.13's norm_backward, with n the norm —
   *   p = 0: zero;  p < 1: sgn(x)·|x|^(p−1) (0 where x = 0)·grad·n^(1−p);
   *   1 < p < 2: sgn(x)·|x|^(p−1)·(grad / n^(p−1), 0 where n = 0);  p > 2: x·|x|^(p−2)·(the same).
   */
  normP: defineOp<X, { axes: number[]; keepdim: boolean; p: number }>({
    saveInputs: ['x'],
    saveOutput: true,
    forward: ({ x }, { axes, keepdim, p }) => {
      const xs = dense(x);
      const powers = new Float64Array(xs.length);
      if (p === 0) for (let i = 0; i < xs.length; i++) powers[i] = xs[i] === 0 ? 0 : 1;
      else for (let i = 0; i < xs.length; i++) powers[i] = Math.abs(xs[i]) ** p;
      const sums = sumAxes(powers, x.shape, axes);
      const out = allocate(x.dtype, sums.length);
      for (let i = 0; i < sums.length; i++) out[i] = p === 0 ? sums[i] : sums[i] ** (1 / p);
      return fromData(out, keptShape(x.shape, axes, keepdim));
    },
    backward: (g, { inputs: { x }, out, attrs: { axes, p } }) => {
      if (p === 0) return { x: F.zerosLike(x!) };
      const kept = keptShape(x!.shape, axes, true);
      const gk = F.reshape(g, kept), n = F.reshape(out!, kept);
      const a = F.abs(x!);
      if (p < 1) {
        const scaled = F.where(F.eq(x!, 0), 0, F.mul(F.sign(x!), F.pow(a, p - 1)));
        return { x: F.mul(F.mul(scaled, gk), F.pow(n, 1 - p)) };
      }
      const scaled = p < 2 ? F.mul(F.sign(x!), F.pow(a, p - 1)) : F.mul(x!, F.pow(a, p - 2));
      const scale = F.where(F.eq(n, 0), 0, F.div(gk, F.pow(n, p - 1)));
      return { x: F.mul(scaled, scale) };
    },
  }),
  // amax semantics: among tied maxima the gradient is split evenly. With `all` (torch.max(x), no
  // dim: PyTorch's evenly_distribute_backward) a NaN result's gradient is split among the NaNs.
  max: defineOp<X, { axes: number[]; keepdim: boolean; all?: boolean }>({
    saveInputs: ['x'],
    saveOutput: true,
    forward: ({ x }, { axes, keepdim }) => {
      const data = extremeAxes(dense(x), x.shape, axes, 'max');
      return fromData(data, keptShape(x.shape, axes, keepdim));
    },
    backward: (g, { inputs: { x }, out, attrs: { axes, all } }) => {
      const kept = keptShape(x!.shape, axes, true);
      const m = F.reshape(out!, kept);
      let mask = F.eq(x!, m);
      // NaN never equals NaN: where the result is NaN, the NaNs of x are the maxima.
      if (all === true) mask = F.add(mask, F.mul(F.ne(x!, x!), F.ne(m, m)));
      const count = F.sum(mask, axes, true);
      return { x: F.div(F.mul(F.reshape(g, kept), mask), count) };
    },
  }),

  // Shape ops. reshape/permute/expand/slice return views sharing storage where possible.
  reshape: defineOp<X, { shape: number[] }>({
    // A view whenever the strides allow one (as torch.reshape), else a contiguous copy.
    forward: ({ x }, { shape }) => {
      const strides = x.isContiguous() ? contiguousStrides(shape) : viewStrides(x.shape, x.strides, shape);
      return strides !== null ? viewOf(x, shape, strides, x.offset) : fromData(dense(x), shape);
    },
    backward: (g, { shapes }) => ({ x: F.reshape(g, shapes.x!) }),
  }),
  permute: defineOp<X, { dims: number[] }>({
    forward: ({ x }, { dims }) => viewOf(x, dims.map((d) => x.shape[d]), dims.map((d) => x.strides[d]), x.offset),
    backward: (g, { attrs: { dims } }) => {
      const inv = new Array<number>(dims.length);
      dims.forEach((d, i) => { inv[d] = i; });
      return { x: F.permute(g, inv) };
    },
  }),
  expand: defineOp<X, { shape: number[] }>({
    forward: ({ x }, { shape }) => {
      const v = broadcastView(x, shape);
      return viewOf(x, shape, v.strides, x.offset);
    },
    backward: (g, { shapes }) => ({ x: sumToShape(g, shapes.x!) }),
  }),
  slice: defineOp<X, { dim: number; start: number; end: number; step: number }>({
    forward: ({ x }, { dim, start, end, step }) => {
      const shape = [...x.shape];
      const strides = [...x.strides];
      shape[dim] = Math.max(0, Math.ceil((end - start) / step));
      strides[dim] = x.strides[dim] * step;
      return viewOf(x, shape, strides, x.offset + (shape[dim] > 0 ? start * x.strides[dim] : 0));
    },
    backward: (g, { shapes, attrs }) => {
      const gx = Tensor.empty(shapes.x!, g.dtype);
      const region = derivatives.slice.forward({ x: gx }, attrs) as Tensor;
      ew.copyStrided(g.shape, strided(g), strided(region));
      return { x: gx };
    },
  }),
  cat: defineOp<Record<`t${number}`, Tensor>, { dim: number }>({
    forward: (inputs, { dim }) => {
      const ts = Object.values(inputs);
      const shape = [...ts[0].shape];
      shape[dim] = ts.reduce((s, t) => s + t.shape[dim], 0);
      const out = Tensor.empty(shape, ts[0].dtype);
      let pos = 0;
      for (const t of ts) {
        const region = derivatives.slice.forward({ x: out }, { dim, start: pos, end: pos + t.shape[dim], step: 1 }) as Tensor;
        ew.copyStrided(t.shape, strided(t), strided(region));
        pos += t.shape[dim];
      }
      return out;
    },
    backward: (g, { shapes, needs, attrs: { dim } }) => {
      const res: Record<string, Tensor | undefined> = {};
      let pos = 0;
      for (const [k, shape] of Object.entries(shapes)) {
        const len = shape![dim];
        if (needs[k as `t${number}`]) res[k] = F.slice(g, dim, pos, pos + len);
        pos += len;
      }
      return res;
    },
  }),
  /** Constant padding; pad = [before0, after0, before1, after1, ...] over all dims, negatives crop. */
  pad: defineOp<X, { pad: number[]; value: number }>({
    forward: ({ x }, { pad, value }) => {
      const shape = x.shape.map((d, i) => d + pad[2 * i] + pad[2 * i + 1]);
      const out = Tensor.empty(shape, x.dtype);
      if (value !== 0) out.storage.fill(value);
      const { src, dst } = padRegions(x.shape, pad);
      const from = sliceRegion(x, src);
      const to = sliceRegion(out, dst);
      ew.copyStrided(from.shape, strided(from), strided(to));
      return out;
    },
    backward: (g, { shapes, attrs: { pad } }) => {
      const gx = Tensor.empty(shapes.x!, g.dtype);
      const { src, dst } = padRegions(shapes.x!, pad);
      const from = sliceRegion(g, dst);
      ew.copyStrided(from.shape, strided(from), strided(sliceRegion(gx, src)));
      return { x: gx };
    },
  }),
  /**
   * torch.flip: a copy with the order reversed along `dims` (sorted, unique). The copy reads x through
   * a view with those strides negated, so it is one strided pass; the gradient is the same flip of grad.
   */
  flip: defineOp<X, { dims: number[] }>({
    forward: ({ x }, { dims }) => {
      const strides = [...x.strides];
      let offset = x.offset;
      for (const d of dims) {
        if (x.shape[d] > 0) offset += (x.shape[d] - 1) * x.strides[d];
        strides[d] = -x.strides[d];
      }
      const out = Tensor.empty(x.shape, x.dtype);
      ew.copyStrided(x.shape, { storage: x.storage, offset, strides }, strided(out));
      return out;
    },
    backward: (g, { attrs: { dims } }) => ({ x: F.flip(g, dims) }),
  }),
  /**
   * torch.cumsum along one dim, accumulated in float64 (cumsumAxis). A primitive: as a composite it
   * would be a D×D triangular matmul per run. The gradient is the reversed running sum of grad
   * (torch's cumsum_backward: grad.flip(dim).cumsum(dim).flip(dim)).
   */
  cumsum: defineOp<X, { dim: number }>({
    forward: ({ x }, { dim }) => {
      const { outer, D, inner } = axisDims(x.shape, dim);
      return fromData(cumsumAxis(dense(x), outer, D, inner), x.shape);
    },
    backward: (g, { attrs: { dim } }) => {
      const { outer, D, inner } = axisDims(g.shape, dim);
      return { x: fromData(cumsumAxis(dense(g), outer, D, inner, true), g.shape) };
    },
  }),
  /**
   * torch.prod over one dim, or over all elements when dim is null (multiplied in float64, prodAxis).
   * The backward is torch 1.13's prod_backward: grad·(out/x) when x holds no zero; otherwise the
   * product of the other elements of each run (prefix times suffix products, exact with zeros),
   * and, for the product of all elements with two zeros or more, zeros.
   */
  prod: defineOp<X, { dim: number | null; keepdim: boolean }>({
    saveInputs: ['x'],
    saveOutput: true,
    forward: ({ x }, { dim, keepdim }) => {
      if (dim === null) {
        const n = x.numel();
        return fromData(prodAxis(dense(x), 1, n, 1), keepdim ? x.shape.map(() => 1) : []);
      }
      const { outer, D, inner } = axisDims(x.shape, dim);
      return fromData(prodAxis(dense(x), outer, D, inner), keptShape(x.shape, [dim], keepdim));
    },
    backward: (g, { inputs: { x }, out, attrs: { dim } }) => {
      if (x!.ndim === 0) return { x: g };
      const xs = dense(x!);
      let zeros = 0;
      for (let i = 0; i < xs.length; i++) if (xs[i] === 0) zeros++;
      const kept = dim === null ? x!.shape.map(() => 1) : keptShape(x!.shape, [dim], true);
      const gk = F.reshape(g, kept);
      if (zeros === 0) return { x: F.mul(gk, F.div(F.reshape(out!, kept), x!)) };
      if (dim === null && zeros > 1) return { x: F.zerosLike(x!) };
      const { outer, D, inner } = dim === null ? { outer: 1, D: xs.length, inner: 1 } : axisDims(x!.shape, dim);
      return { x: F.mul(gk, fromData(exclusiveProdAxis(xs, outer, D, inner), x!.shape)) };
    },
  }),
  contiguous: defineOp<X>({
    forward: ({ x }) => copyOf(x),
    backward: (g) => ({ x: g }),
  }),
  toDtype: defineOp<X, { dtype: DType; from: DType }>({
    forward: ({ x }, { dtype }) => {
      const out = allocate(dtype, x.numel());
      out.set(dense(x));
      return fromData(out, x.shape);
    },
    backward: (g, { attrs: { from } }) => ({ x: F.toDtype(g, from) }),
  }),
  where: defineOp<{ condition: Tensor; a: Tensor; b: Tensor }>({
    nondiff: ['condition'],
    saveInputs: ['condition'],
    forward: ({ condition, a, b }) => {
      const shape = broadcastShape('where', broadcastShape('where', condition.shape, a.shape), b.shape);
      const out = allocate(a.dtype, numel(shape));
      ew.where(shape, broadcastView(condition, shape), broadcastView(a, shape), broadcastView(b, shape), out);
      return fromData(out, shape);
    },
    backward: (g, { inputs: { condition }, shapes, needs }) => ({
      a: needs.a ? sumToShape(F.where(condition!, g, 0), shapes.a!) : undefined,
      b: needs.b ? sumToShape(F.where(condition!, 0, g), shapes.b!) : undefined,
    }),
  }),

  // ---- indexing: the index is an input (its version is recorded) that never gets a gradient ----

  /** torch.gather: out[p] = x[p with p[dim] ← index[p]]; the gradient scatter-adds back (repeats accumulate). */
  gather: defineOp<{ x: Tensor; index: Tensor }, { dim: number }>({
    nondiff: ['index'],
    saveInputs: ['index'],
    forward: ({ x, index }, { dim }) => {
      const out = allocate(x.dtype, index.numel());
      ix.gather(strided(x), dim, indexValues(index), index.shape, out);
      return fromData(out, index.shape);
    },
    backward: (g, { inputs: { index }, shapes, attrs: { dim } }) => {
      const gx = Tensor.empty(shapes.x!, g.dtype);
      ix.scatter(strided(gx), dim, indexValues(index!), index!.shape, strided(g), 'add');
      return { x: gx };
    },
  }),
  /**
   * Out-of-place torch.scatter_add: a copy of x with src[p] added at p[dim] ← index[p] for p over
   * index's shape. Gradients: x gets grad; src gets grad.gather(dim, index) on index's region and 0
   * on the rest of a src larger than index (torch 1.13 returns the index-shaped gather there).
   */
  scatterAdd: defineOp<{ x: Tensor; index: Tensor; src: Tensor }, { dim: number }>({
    nondiff: ['index'],
    saveInputs: ['index'],
    forward: ({ x, index, src }, { dim }) => {
      const out = copyOf(x);
      ix.scatter(strided(out), dim, indexValues(index), index.shape, strided(src), 'add');
      return out;
    },
    backward: (g, { inputs: { index }, shapes, attrs: { dim }, needs }) => ({
      x: needs.x ? g : undefined,
      src: needs.src ? gatherToShape(g, dim, index!, shapes.src!, null) : undefined,
    }),
  }),
  /**
   * Out-of-place torch.scatter (src, or the number attrs.value when src is absent). Writes go in
   * index order, so among repeated targets the last one wins (torch leaves that unspecified). The
   * gradient is the derivative of exactly that: x gets grad where nothing was written, src gets
   * grad at the positions whose write survived and 0 at overwritten ones (torch's formula,
   * grad.gather(dim, index), gives every repeat the gradient; the two agree without repeats).
   */
  scatter: defineOp<{ x: Tensor; index: Tensor; src?: Tensor }, { dim: number; value: number | null }, Float64Array>({
    nondiff: ['index'],
    saveInputs: ['index'],
    forward: ({ x, index, src }, { dim, value }) => {
      const out = copyOf(x);
      const owner = new Float64Array(out.numel()).fill(-1);
      ix.scatter(strided(out), dim, indexValues(index), index.shape, src ? strided(src) : value!, 'assign', owner);
      return { out, extra: owner };
    },
    backward: (g, { inputs: { index }, shapes, attrs: { dim }, extra: owner, needs }) => {
      let gx: Tensor | undefined;
      if (needs.x) {
        const d = allocate(g.dtype, g.numel());
        d.set(dense(g));
        for (let i = 0; i < d.length; i++) if (owner[i] !== -1) d[i] = 0;
        gx = fromData(d, shapes.x!);
      }
      return { x: gx, src: needs.src ? gatherToShape(g, dim, index!, shapes.src!, owner) : undefined };
    },
  }),
  /** torch.index_select with a 1-d index; the gradient index-adds back into zeros (repeats accumulate). */
  indexSelect: defineOp<{ x: Tensor; index: Tensor }, { dim: number }>({
    nondiff: ['index'],
    saveInputs: ['index'],
    forward: ({ x, index }, { dim }) => {
      const { outer, D, inner } = axisDims(x.shape, dim);
      const shape = x.ndim === 0 ? [] : x.shape.map((s, i) => (i === dim ? index.numel() : s));
      const out = allocate(x.dtype, outer * index.numel() * inner);
      ix.indexSelect(dense(x), outer, D, inner, indexValues(index), out);
      return fromData(out, shape);
    },
    backward: (g, { inputs: { index }, shapes, attrs: { dim } }) => {
      const { outer, D, inner } = axisDims(shapes.x!, dim);
      const gx = allocate(g.dtype, outer * D * inner);
      ix.indexAdd(gx, outer, D, inner, indexValues(index!), dense(g));
      return { x: fromData(gx, shapes.x!) };
    },
  }),
  /**
   * Embedding lookup: out[..., :] = weight[indices[...], :]. The backward is torch's
   * embedding_dense_backward: rows index-added into zeros, none for paddingIdx (−1: no padding
   * row), each scaled by 1/(its count among the indices) with scaleGradByFreq: that scale is add_'s
   * alpha in torch, converted to the gradient's dtype (float32(1/count) for float32).
   */
  embedding: defineOp<{ weight: Tensor; indices: Tensor }, { paddingIdx: number; scaleGradByFreq: boolean }>({
    nondiff: ['indices'],
    saveInputs: ['indices'],
    forward: ({ weight, indices }) => {
      const [N, D] = weight.shape;
      const out = allocate(weight.dtype, indices.numel() * D);
      ix.indexSelect(dense(weight), 1, N, D, indexValues(indices), out);
      return fromData(out, [...indices.shape, D]);
    },
    backward: (g, { inputs: { indices }, shapes, attrs: { paddingIdx, scaleGradByFreq } }) => {
      const [N, D] = shapes.weight!;
      const idx = indexValues(indices!);
      let scale: FloatArray | null = null;
      if (scaleGradByFreq) {
        const count = new Float64Array(N);
        for (let j = 0; j < idx.length; j++) count[idx[j]]++;
        scale = allocate(g.dtype, N);
        for (let r = 0; r < N; r++) if (count[r] > 0) scale[r] = 1 / count[r];
      }
      const gw = allocate(g.dtype, N * D);
      ix.indexAdd(gw, 1, N, D, idx, dense(g), paddingIdx, scale);
      return { weight: fromData(gw, shapes.weight!) };
    },
  }),

  /** Matrix product of [..., M, K] and [..., K, N] with broadcast batch dims (1-d cases are composites). */
  matmul: defineOp<AB>({
    saveInputs: ['a', 'b'],
    forward: ({ a, b }) => matmulForward(a, b),
    backward: (g, { inputs: { a, b }, needs }) => ({
      a: needs.a ? sumToShape(F.matmul(g, F.transpose(b!, -1, -2)), a!.shape) : undefined,
      b: needs.b ? sumToShape(F.matmul(F.transpose(a!, -1, -2), g), b!.shape) : undefined,
    }),
  }),

  // ---- conv-net ops (fused primitives: speed and numerical stability need their own kernels) ----

  /** NCHW convolution; attrs carry the validated geometry (see lib/kernels/conv2d.ts). */
  /** The weight is prepared once (dead taps trimmed, see the kernel) and kept for backward. */
  conv2d: defineOp<{ input: Tensor; weight: Tensor; bias?: Tensor }, { geometry: Conv2dGeometry }, ConvWeight>({
    // The weight too, though the backward reads the prepared one (extra): saving it records its
    // version, so a backward after an in-place update (an optimizer step) is refused, not run with
    // the new values (or, once taps were trimmed, a stale copy of the old ones).
    saveInputs: ['input', 'weight'],
    forward: ({ input, weight, bias }, { geometry: g }) => {
      const w = prepareConvWeight(dense(weight), g, 'conv2d');
      return { out: fromData(conv2dForward(dense(input), w, bias ? dense(bias) : null, g), [g.N, g.O, g.OH, g.OW]), extra: w };
    },
    backward: (grad, { inputs: { input }, shapes, attrs: { geometry: g }, extra: w, needs }) => {
      const gy = dense(grad);
      // The weight gradient may still be in the making on a worker when this returns: the tape
      // settles every gradient before reading it (see tape.ts).
      const { gx, gw } = conv2dBackward(gy, dense(input!), w, g, needs.input === true, needs.weight === true, { deferWeight: true });
      return {
        input: gx !== null ? fromData(gx, input!.shape) : undefined,
        weight: gw !== null ? fromData(gw, shapes.weight!) : undefined,
        bias: needs.bias ? fromData(conv2dBackwardBias(gy, g), [g.O]) : undefined,
      };
    },
  }),
  /**
   * Transposed convolution as the input gradient of the convolution `geometry` describes
   * (convTranspose2dGeometry): the input [N, Cin, OH, OW] plays that conv's output gradient, the
   * result [N, Cout, H, W] its input gradient, the weight [Cin, Cout/groups, KH, KW] its own. So the
   * backward runs the same conv the other ways: the input's gradient is the conv's forward of grad,
   * the weight's is the conv's weight gradient with grad as the conv's input and the input as its
   * output gradient. The bias is F.convTranspose2d's broadcast add.
   */
  convTranspose2d: defineOp<{ input: Tensor; weight: Tensor }, { geometry: Conv2dGeometry }>({
    saveInputs: ['input', 'weight'],
    forward: ({ input, weight }, { geometry: g }) => fromData(conv2dBackwardInput(dense(input), dense(weight), g), [g.N, g.C, g.H, g.W]),
    backward: (grad, { inputs: { input, weight }, attrs: { geometry: g }, needs }) => {
      const gy = dense(grad);
      return {
        input: needs.input ? fromData(conv2dForward(gy, dense(weight!), null, g), [g.N, g.O, g.OH, g.OW]) : undefined,
        weight: needs.weight ? fromData(conv2dBackwardWeight(dense(input!), gy, g), [g.O, g.C / g.groups, g.KH, g.KW]) : undefined,
      };
    },
  }),
  /**
   * Batch norm over dim 1 of [N, C, *]. Training: normalise with the biased batch variance and, when
   * running statistics are given, update them in place with the unbiased one (PyTorch). Eval: use
   * the running statistics only.
   */
  batchNorm: batchNormOp(false),
  /**
   * relu(batchNorm(input)) as one op (F.batchNorm's `relu` option): the same bits as the two ops,
   * one output tensor instead of two, relu applied in batch norm's output pass and its backward as
   * the gradient is staged (lib/kernels/batchnorm.ts).
   */
  batchNormRelu: batchNormOp(true),
  /**
   * batchNorm(input) + residual as one op (the add's own float32 rounding), and with relu:
   * relu(batchNorm(input) + residual), a ResNet block's bn → add → relu. The residual's gradient is
   * the gradient at the sum (after relu's backward), written by batch norm's backward as it stages it.
   */
  batchNormAdd: batchNormOp(false, true),
  batchNormAddRelu: batchNormOp(true, true),
  /** Max pooling with −∞ padding; the gradient goes to the first maximum of each window. */
  maxPool2d: defineOp<X, { geometry: pool.Pool2dGeometry }, Int32Array>({
    forward: ({ x }, { geometry: g }) => {
      const r = pool.maxPool2dForward(dense(x), g);
      return { out: fromData(r.out, [g.N, g.C, g.OH, g.OW]), extra: r.argmax };
    },
    backward: (grad, { shapes, attrs: { geometry: g }, extra }) => ({
      x: fromData(pool.maxPool2dBackward(dense(grad), extra, g), shapes.x!),
    }),
  }),
  avgPool2d: defineOp<X, { geometry: pool.Pool2dGeometry; options: pool.AvgPool2dOptions }>({
    forward: ({ x }, { geometry: g, options }) => fromData(pool.avgPool2dForward(dense(x), g, options), [g.N, g.C, g.OH, g.OW]),
    backward: (grad, { shapes, attrs: { geometry: g, options } }) => ({
      x: fromData(pool.avgPool2dBackward(dense(grad), g, options), shapes.x!),
    }),
  }),
  /** Average over PyTorch's adaptive bins: start = floor(i·H/OH), end = ceil((i+1)·H/OH). */
  adaptiveAvgPool2d: defineOp<X, { outputSize: [number, number] }>({
    forward: ({ x }, { outputSize: [OH, OW] }) => {
      const [N, C, H, W] = x.shape;
      return fromData(pool.adaptiveAvgPool2dForward(dense(x), N, C, H, W, OH, OW), [N, C, OH, OW]);
    },
    backward: (grad, { shapes, attrs: { outputSize: [OH, OW] } }) => {
      const [N, C, H, W] = shapes.x!;
      return { x: fromData(pool.adaptiveAvgPool2dBackward(dense(grad), N, C, H, W, OH, OW), shapes.x!) };
    },
  }),
  /**
   * Max over PyTorch's adaptive bins (as adaptiveAvgPool2d's); the gradient goes to the first maximum
   * of each bin. With `argmax` given (F.adaptiveMaxPool2d's returnIndices, which computed it to
   * return the indices) the forward reads the values there instead of searching again.
   */
  adaptiveMaxPool2d: defineOp<X, { outputSize: [number, number]; argmax?: Int32Array }, Int32Array>({
    forward: ({ x }, { outputSize: [OH, OW], argmax }) => {
      const [N, C, H, W] = x.shape;
      const g = { N, C, H, W, OH, OW };
      const r = argmax !== undefined ? { out: rs.gatherPlanes(dense(x), argmax, g), argmax } : rs.adaptiveMaxPool2dForward(dense(x), g);
      return { out: fromData(r.out, [N, C, OH, OW]), extra: r.argmax };
    },
    backward: (grad, { shapes, attrs: { outputSize: [OH, OW] }, extra }) => {
      const [N, C, H, W] = shapes.x!;
      return { x: fromData(rs.adaptiveMaxPool2dBackward(dense(grad), extra, { N, C, H, W, OH, OW }), shapes.x!) };
    },
  }),
  /**
   * torch's upsample_nearest2d: each output copies the input element nearestIndices picks
   * (lib/kernels/resample.ts); `shortcuts` picks torch's channels-last kernel over its generic one.
   */
  upsampleNearest2d: defineOp<X, { outputSize: [number, number]; scales: rs.ResampleScales; shortcuts: boolean }>({
    forward: ({ x }, { outputSize: [OH, OW], scales, shortcuts }) => {
      const [N, C, H, W] = x.shape;
      return fromData(rs.upsampleNearest2dForward(dense(x), { N, C, H, W, OH, OW }, scales, shortcuts), [N, C, OH, OW]);
    },
    backward: (grad, { shapes, attrs: { outputSize: [OH, OW], scales, shortcuts } }) => {
      const [N, C, H, W] = shapes.x!;
      return { x: fromData(rs.upsampleNearest2dBackward(dense(grad), { N, C, H, W, OH, OW }, scales, shortcuts), shapes.x!) };
    },
  }),
  /** torch's upsample_bilinear2d (alignCorners or half-pixel centres); linear in x, so the backward spreads grad with the same weights. */
  upsampleBilinear2d: defineOp<X, { outputSize: [number, number]; alignCorners: boolean; scales: rs.ResampleScales }>({
    forward: ({ x }, { outputSize: [OH, OW], alignCorners, scales }) => {
      const [N, C, H, W] = x.shape;
      return fromData(rs.upsampleBilinear2dForward(dense(x), { N, C, H, W, OH, OW }, alignCorners, scales), [N, C, OH, OW]);
    },
    backward: (grad, { shapes, attrs: { outputSize: [OH, OW], alignCorners, scales } }) => {
      const [N, C, H, W] = shapes.x!;
      return { x: fromData(rs.upsampleBilinear2dBackward(dense(grad), { N, C, H, W, OH, OW }, alignCorners, scales), shapes.x!) };
    },
  }),
  /** x − max − log Σ exp(x − max) along dim; backward gx = g − exp(out)·Σ g. */
  logSoftmax: defineOp<X, { dim: number }>({
    saveOutput: true,
    forward: ({ x }, { dim }) => {
      const { outer, D, inner } = axisDims(x.shape, dim);
      return fromData(sm.logSoftmaxForward(dense(x), outer, D, inner), x.shape);
    },
    backward: (grad, { out, attrs: { dim } }) => {
      const { outer, D, inner } = axisDims(out!.shape, dim);
      return { x: fromData(sm.logSoftmaxBackward(dense(grad), dense(out!), outer, D, inner), out!.shape) };
    },
  }),
  /** Fused cross-entropy on logits [N, C] with class indices; its gradient is softmax − smoothed one-hot. */
  // The class weights (attrs.weight, also passed as an input so the tape records their version and
  // whether they require grad) are constants: as in PyTorch, asking for their gradient is an error.
  crossEntropy: defineOp<{ input: Tensor; weight?: Tensor }, CrossEntropyAttrs, FloatArrayOf>({
    saveInputs: ['weight'],
    forward: ({ input }, a) => {
      const [N, C] = input.shape;
      const r = sm.crossEntropyForward(dense(input), N, C, a.target, ceOptions(a));
      return { out: fromData(r.loss, a.reduction === 'none' ? [N] : []), extra: r.logProb };
    },
    backward: (grad, { shapes, attrs: a, extra, needs }) => {
      if (needs.weight) {
        fail('backward', "crossEntropy: the derivative for 'weight' is not implemented (as in PyTorch: class weights are constants); pass weight.detach() or a weight that does not require grad");
      }
      const [N, C] = shapes.input!;
      const g = a.reduction === 'none' ? dense(grad) : grad.item();
      return { input: fromData(sm.crossEntropyBackward(g, extra, N, C, a.target, ceOptions(a)), shapes.input!) };
    },
  }),
  /**
   * torch's nll_loss / nll_loss2d / nll_loss_nd with class-index targets, on the input as it is:
   * [C] (one position), [N, C] or [N, C, d1, ..., dK], no permuted copy. −w[t]·input[n, t, ...] per
   * position (lib/kernels/loss.ts nllLossForward checks each target before reading there); 'none'
   * has the target's shape ([] for [C]), 'sum' and 'mean' are 0-d, the mean over Σ w[t] of the kept
   * targets (kept as extra for the backward, which scatters −w[t]·grad into the picked class).
   * attrs.weight is the class weights' values copied at the call (constants, as the composite this
   * replaced read them once).
   */
  nllLoss: defineOp<{ input: Tensor }, NllLossAttrs, number>({
    forward: ({ input }, a) => {
      const r = lossKernels.nllLossForward(dense(input), nllGeometry(input.shape), a, a.reduction);
      const outShape = a.reduction !== 'none' ? [] : input.ndim === 1 ? [] : [input.shape[0], ...input.shape.slice(2)];
      return { out: fromData(r.loss, outShape), extra: r.total };
    },
    backward: (grad, { shapes, attrs: a, extra }) => {
      const g = a.reduction === 'none' ? dense(grad) : grad.item();
      const dtype = grad.dtype;
      return { input: fromData(lossKernels.nllLossBackward(g, nllGeometry(shapes.input!), a, a.reduction, extra, dtype), shapes.input!) };
    },
  }),
  /**
   * Unreduced binary cross-entropy of probabilities against same-shaped targets, torch's numerics
   * (logs clamped at −100, the input gradient's divisor at least 1e-12; see lib/kernels/loss.ts):
   * a primitive because the composite's gradient is NaN at an input of exactly 0 or 1. The target
   * is differentiable too, as in torch 1.13 (−logit(input)).
   */
  binaryCrossEntropy: defineOp<{ input: Tensor; target: Tensor }>({
    saveInputs: ['input', 'target'],
    forward: ({ input, target }) => fromData(lossKernels.binaryCrossEntropyForward(dense(input), dense(target)), input.shape),
    backward: (g, { inputs: { input, target }, needs }) => ({
      input: needs.input ? fromData(lossKernels.binaryCrossEntropyBackwardInput(dense(g), dense(input!), dense(target!)), input!.shape) : undefined,
      target: needs.target ? fromData(lossKernels.binaryCrossEntropyBackwardTarget(dense(g), dense(input!)), input!.shape) : undefined,
    }),
  }),
};

export type Derivatives = typeof derivatives;
export type OpName = keyof Derivatives;
export type OpInputs<K extends OpName> = Derivatives[K] extends OpDef<infer In, unknown, unknown> ? In : never;
export type OpAttrs<K extends OpName> = Derivatives[K] extends OpDef<Record<string, Tensor | undefined>, infer A, unknown> ? A : never;
export { NONE as noAttrs };


type BatchNormInputs = { input: Tensor; weight?: Tensor; bias?: Tensor; residual?: Tensor };
/**
 * Training: the batch statistics. Eval: the running statistics' versions when the forward read them;
 * the backward reads them again, so it refuses to run if they changed in place since (a training
 * forward's update, loadStateDict), as PyTorch's batch norm, which saves them, does.
 */
type BatchNormExtra = { mean: Float64Array; invstd: Float64Array } | { runningVersions: readonly [number, number] } | null;

function batchNormOp(relu: boolean, withResidual = false): OpDef<BatchNormInputs, BatchNormAttrs, BatchNormExtra> {
  return defineOp<BatchNormInputs, BatchNormAttrs, BatchNormExtra>({
    // Without a residual, the bias too: with it the backward's WebAssembly path rebuilds the fused
    // relu's mask from the input instead of copying the output in (batchNormTrainBackward's reluBias).
    saveInputs: relu && !withResidual ? ['input', 'weight', 'bias'] : ['input', 'weight'],
    // The fused relu's backward needs the output (where it is > 0).
    saveOutput: relu,
    forward: ({ input, weight, bias, residual }, a) => {
      // No elements (no channels, or no images): an empty result and no statistics to update, as in
      // PyTorch. F.batchNorm rejects training on exactly 1 value per channel.
      if (input.numel() === 0) return { out: Tensor.empty(input.shape, input.dtype), extra: null };
      const { N, C, S } = bnDims(input.shape);
      const x = dense(input);
      const w = weight ? dense(weight) : null, b = bias ? dense(bias) : null;
      const res = withResidual ? dense(residual!) : null;
      if (!a.training) {
        const out = bn.batchNormEvalForward(x, N, C, S, dense(a.runningMean!), dense(a.runningVar!), w, b, a.eps, relu, res);
        return { out: fromData(out, input.shape), extra: { runningVersions: [a.runningMean!._version, a.runningVar!._version] } };
      }
      const r = bn.batchNormTrainForward(x, N, C, S, w, b, a.eps, relu, res);
      if (a.runningMean && a.runningVar) {
        // Through storage and stride, so a strided view (which .data would copy) is updated in place.
        const rm = a.runningMean.storage, rv = a.runningVar.storage, m = a.momentum;
        const om = a.runningMean.offset, sm = a.runningMean.strides[0], ov = a.runningVar.offset, sv = a.runningVar.strides[0];
        for (let c = 0; c < C; c++) {
          rm[om + c * sm] = (1 - m) * rm[om + c * sm] + m * r.mean[c];
          rv[ov + c * sv] = (1 - m) * rv[ov + c * sv] + m * r.varUnbiased[c];
        }
        // An in-place update (PyTorch's running_mean.mul_().add_()): an eval graph that read them is stale.
        a.runningMean._bumpVersion();
        a.runningVar._bumpVersion();
      }
      return { out: fromData(r.out, input.shape), extra: { mean: r.mean, invstd: r.invstd } };
    },
    backward: (grad, { inputs: { input, weight, bias }, attrs: a, extra, needs, out }) => {
      const { N, C, S } = bnDims(input!.shape);
      if (input!.numel() === 0) {
        return {
          input: needs.input ? Tensor.empty(input!.shape, grad.dtype) : undefined,
          weight: needs.weight ? Tensor.empty([C], grad.dtype) : undefined,
          bias: needs.bias ? Tensor.empty([C], grad.dtype) : undefined,
          residual: withResidual && needs.residual ? Tensor.empty(input!.shape, grad.dtype) : undefined,
        };
      }
      const w = weight ? dense(weight) : null;
      const reluOut = relu ? dense(out!) : null;
      let r: bn.BatchNormGrads;
      // The gradient at batch norm's output (+ residual): the residual's gradient.
      let gSum: FloatArray | null = null;
      if (extra !== null && 'mean' in extra) {
        gSum = withResidual && needs.residual ? allocate(grad.dtype, grad.numel()) : null;
        const reluBias = relu && !withResidual ? (bias ? dense(bias) : null) : undefined;
        r = bn.batchNormTrainBackward(dense(grad), dense(input!), extra.mean, extra.invstd, w, N, C, S, reluOut, gSum, reluBias);
      } else {
        const [vm, vv] = extra !== null ? extra.runningVersions : [0, 0];
        for (const [name, t, v] of [['runningMean', a.runningMean!, vm], ['runningVar', a.runningVar!, vv]] as const) {
          if (t._version !== v) {
            fail('backward', `${name} (shape ${fmtShape(t.shape)}) read by ${relu || withResidual ? 'a fused ' : ''}batchNorm in eval mode was modified in place ` +
              `(by a training forward's update or loadStateDict) after the forward: version ${t._version}, expected ${v}; compute the loss again after the update`);
          }
        }
        let g = dense(grad);
        if (reluOut !== null) {
          const masked = allocate(grad.dtype, g.length);
          ew.reluBackward(g, reluOut, masked, g.length);
          g = masked;
        }
        if (withResidual && needs.residual) gSum = g;
        r = bn.batchNormEvalBackward(g, dense(input!), dense(a.runningMean!), dense(a.runningVar!), w, a.eps, N, C, S);
      }
      return {
        input: needs.input ? fromData(r.gx, input!.shape) : undefined,
        weight: needs.weight ? fromData(r.gweight, [C]) : undefined,
        bias: needs.bias ? fromData(r.gbias, [C]) : undefined,
        residual: gSum !== null ? fromData(gSum, input!.shape) : undefined,
      };
    },
  });
}

export interface BatchNormAttrs {
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  training: boolean;
  momentum: number;
  eps: number;
}

export interface CrossEntropyAttrs {
  target: Int32Array;
  reduction: 'mean' | 'sum' | 'none';
  labelSmoothing: number;
  ignoreIndex: number;
  weight: Tensor | null;
}

/** The nllLoss op's targets (lossKernels.NllPick: int32 classes, the stored ignore value, the weights' values) and reduction. */
export interface NllLossAttrs extends lossKernels.NllPick {
  reduction: 'mean' | 'sum' | 'none';
}

/** An nllLoss input [C], [N, C] or [N, C, d1, ..., dK] as the kernels' [B, C, S]. */
function nllGeometry(shape: readonly number[]): lossKernels.NllGeometry {
  if (shape.length === 1) return { B: 1, C: shape[0], S: 1 };
  let S = 1;
  for (let i = 2; i < shape.length; i++) S *= shape[i];
  return { B: shape[0], C: shape[1], S };
}

type FloatArrayOf = ReturnType<typeof dense>;

function ceOptions(a: CrossEntropyAttrs): sm.CrossEntropyOptions {
  return { reduction: a.reduction, labelSmoothing: a.labelSmoothing, ignoreIndex: a.ignoreIndex, weight: a.weight ? dense(a.weight) : null };
}

/** torch's var_backward: 2/(count − correction)·g·(x − mean(x)), g of the reduced (kept or not) shape. */
function varBackward(g: Tensor, x: Tensor, axes: readonly number[], correction: number): Tensor {
  let count = 1;
  for (const a of axes) count *= x.shape[a];
  const centred = F.sub(x, F.mean(x, axes, true));
  return F.mul(F.mul(F.reshape(g, keptShape(x.shape, axes, true)), 2 / Math.max(0, count - correction)), centred);
}

/** [N, C, *] as N, C and the size S of the trailing dims. */
function bnDims(shape: readonly number[]): { N: number; C: number; S: number } {
  let S = 1;
  for (let i = 2; i < shape.length; i++) S *= shape[i];
  return { N: shape[0], C: shape[1], S };
}

/** A tensor as [outer, D, inner] around axis `dim`. */
function axisDims(shape: readonly number[], dim: number): { outer: number; D: number; inner: number } {
  let outer = 1, inner = 1;
  for (let i = 0; i < dim; i++) outer *= shape[i];
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, D: shape.length === 0 ? 1 : shape[dim], inner };
}

function keptShape(shape: readonly number[], axes: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

/** For constant padding: the region of the input that survives and where it lands in the output. */
function padRegions(inShape: readonly number[], pad: readonly number[]): { src: Array<[number, number]>; dst: Array<[number, number]> } {
  const src: Array<[number, number]> = [];
  const dst: Array<[number, number]> = [];
  inShape.forEach((d, i) => {
    const before = pad[2 * i], after = pad[2 * i + 1];
    const s0 = Math.max(0, -before), s1 = d - Math.max(0, -after);
    const d0 = Math.max(0, before);
    src.push([s0, Math.max(s0, s1)]);
    dst.push([d0, d0 + Math.max(0, s1 - s0)]);
  });
  return { src, dst };
}

function sliceRegion(t: Tensor, region: Array<[number, number]>): Tensor {
  let offset = t.offset;
  const shape = region.map(([a, b]) => b - a);
  region.forEach(([a], i) => { offset += a * t.strides[i]; });
  return new Tensor(t.storage, shape, t.strides, shape.some((d) => d === 0) ? t.offset : offset);
}

/** An index tensor's values (whole numbers, checked in range by the functional layer) as Int32. */
function indexValues(index: Tensor): Int32Array {
  return Int32Array.from(dense(index));
}

/**
 * grad.gather(dim, index) written into zeros of `srcShape` (src may be larger than index along
 * any dim; the rest of src took no part). With `owner` (scatter's last writers, per element of the
 * contiguous output), an index position whose write was overwritten gets 0.
 */
function gatherToShape(g: Tensor, dim: number, index: Tensor, srcShape: readonly number[], owner: Float64Array | null): Tensor {
  const idx = indexValues(index);
  const vals = allocate(g.dtype, idx.length);
  ix.gather(strided(g), dim, idx, index.shape, vals);
  if (owner !== null) {
    const writer = new Float64Array(idx.length);
    ix.gather({ storage: owner, offset: 0, strides: contiguousStrides(g.shape) }, dim, idx, index.shape, writer);
    for (let k = 0; k < idx.length; k++) if (writer[k] !== k) vals[k] = 0;
  }
  if (index.shape.every((s, i) => s === srcShape[i])) return fromData(vals, srcShape);
  const gs = Tensor.empty(srcShape, g.dtype);
  ew.copyStrided(index.shape, { storage: vals, offset: 0, strides: contiguousStrides(index.shape) }, strided(gs));
  return gs;
}
