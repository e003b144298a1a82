/**
 * One record per op of the derivatives table (PyTorch's OpInfo): sample inputs that exercise
 * broadcasting, keepdim, negative dims and non-contiguous views. Typed as a mapped type over
 * OpName, so adding an op to the table without a record here, or removing a record, fails to compile.
 * Inputs are float64 leaves; ops with kinks (relu, abs, max, clamp) get samples away from the kink.
 */
import type { OpAttrs, OpInputs, OpName } from '../autograd/derivatives';
import type { GradcheckOptions } from '../autograd/gradcheck';
import { Tensor } from '../autograd/tensor';
import { Random } from '../lib/random';
import { conv2dGeometry, convTranspose2dGeometry, type Conv2dParams, type ConvTranspose2dParams } from '../lib/kernels/conv2d';
import { pool2dGeometry, type Pool2dParams } from '../lib/kernels/pool';

export interface OpSample<K extends OpName> {
  desc: string;
  make: () => { inputs: OpInputs<K>; attrs: OpAttrs<K> };
  /** Only where a sample needs different finite-difference settings, with the reason beside it. */
  gradcheck?: GradcheckOptions;
}

export interface OpInfo<K extends OpName> {
  samples: OpSample<K>[];
}

const rng = new Random(20261128);

/** A float64 leaf requiring grad, normal values. */
function r(shape: number[], fn: (u: number) => number = (u) => u): Tensor {
  const t = Tensor.empty(shape, 'float64');
  for (let i = 0; i < t.storage.length; i++) t.storage[i] = fn(rng.normal());
  return t.requiresGrad_();
}

/** A non-contiguous float64 leaf of `shape`: the transpose of a contiguous [.., last, second-last] tensor. */
function nc(shape: number[], fn: (u: number) => number = (u) => u): Tensor {
  const n = shape.length;
  const base = Tensor.empty([...shape.slice(0, n - 2), shape[n - 1], shape[n - 2]], 'float64');
  for (let i = 0; i < base.storage.length; i++) base.storage[i] = fn(rng.normal());
  const strides = [...base.strides];
  [strides[n - 2], strides[n - 1]] = [strides[n - 1], strides[n - 2]];
  return new Tensor(base.storage, shape, strides, 0).requiresGrad_();
}

/** A constant (no grad) tensor. */
function c(shape: number[], fn: (u: number) => number = (u) => u): Tensor {
  const t = r(shape, fn);
  t.requiresGrad = false;
  return t;
}

function conv(x: number[], w: number[], p: Conv2dParams, bias = true) {
  return () => ({
    inputs: bias ? { input: r(x), weight: r(w), bias: r([w[0]]) } : { input: r(x), weight: r(w) },
    attrs: { geometry: conv2dGeometry(x, w, p) },
  });
}

/** A transposed conv's sample: x is [N, Cin, H, W], w [Cin, Cout/groups, kh, kw] (outputPadding below the stride, so no input padding). */
function convT(x: number[], w: number[], p: ConvTranspose2dParams) {
  return () => ({ inputs: { input: r(x), weight: r(w) }, attrs: { geometry: convTranspose2dGeometry(x, w, p) } });
}

function pooled(op: string, x: number[], p: Pool2dParams) {
  return pool2dGeometry(op, x, p);
}

function ints(n: number, hi: number): Int32Array {
  return Int32Array.from({ length: n }, () => rng.integer(0, hi));
}

/**
 * A constant float64 index tensor of `shape` holding `values` (row-major); with `transposed`, the
 * values are laid out as the transpose of a [.., last, second-last] buffer, so the tensor is
 * non-contiguous but reads as `values` in row-major order.
 */
function ix(shape: number[], values: number[], transposed = false): Tensor {
  if (!transposed) {
    const t = Tensor.empty(shape, 'float64');
    t.storage.set(values);
    return t;
  }
  const n = shape.length;
  const base = Tensor.empty([...shape.slice(0, n - 2), shape[n - 1], shape[n - 2]], 'float64');
  const strides = [...base.strides];
  [strides[n - 2], strides[n - 1]] = [strides[n - 1], strides[n - 2]];
  const t = new Tensor(base.storage, shape, strides, 0);
  const R = shape[n - 2], C = shape[n - 1], outer = values.length / (R * C);
  for (let o = 0; o < outer; o++) for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) base.storage[o * R * C + j * R + i] = values[o * R * C + i * C + j];
  return t;
}

const positive = (u: number): number => 0.5 + Math.abs(u);
const awayFromZero = (u: number): number => Math.sign(u || 1) * (0.2 + Math.abs(u));
const mask = (u: number): number => (u > 0 ? 1 : 0);
/** A value in [0.05, 0.95]: a probability away from 0 and 1. */
const probability = (u: number): number => 0.05 + 0.9 / (1 + Math.exp(-u));

/** batch norm's samples; the fused batch norm + relu takes the same ones (its op has the same inputs and attrs). */
const batchNormSamples: Array<{ desc: string; make: () => { inputs: OpInputs<'batchNorm'>; attrs: OpAttrs<'batchNorm'> } }> = [
  {
    desc: 'training, [N,C,H,W], with running stats',
    make: () => ({
      inputs: { input: r([3, 2, 2, 3]), weight: r([2]), bias: r([2]) },
      attrs: { runningMean: c([2]), runningVar: c([2], positive), training: true, momentum: 0.1, eps: 1e-5 },
    }),
  },
  {
    desc: 'training, [N,C], no affine, no running stats',
    make: () => ({ inputs: { input: r([5, 3]) }, attrs: { runningMean: null, runningVar: null, training: true, momentum: 0.1, eps: 1e-5 } }),
  },
  {
    desc: 'eval, running stats only',
    make: () => ({
      inputs: { input: r([2, 3, 2, 2]), weight: r([3]), bias: r([3]) },
      attrs: { runningMean: c([3]), runningVar: c([3], positive), training: false, momentum: 0.1, eps: 1e-5 },
    }),
  },
  {
    desc: 'training, non-contiguous input',
    make: () => ({ inputs: { input: nc([2, 3, 4, 3]), weight: r([3]) }, attrs: { runningMean: null, runningVar: null, training: true, momentum: 0.1, eps: 1e-5 } }),
  },
];

/**
 * The fused batch norm + residual (+ relu) ops: batch norm's samples with a residual of the input's
 * shape (a non-contiguous one for the non-contiguous input).
 */
const batchNormAddSamples: Array<{ desc: string; make: () => { inputs: OpInputs<'batchNormAdd'>; attrs: OpAttrs<'batchNormAdd'> } }> =
  batchNormSamples.map(({ desc, make }) => ({
    desc: `${desc}, residual`,
    make: () => {
      const { inputs, attrs } = make();
      const shape = [...inputs.input.shape];
      return { inputs: { ...inputs, residual: inputs.input.isContiguous() ? r(shape) : nc(shape) }, attrs };
    },
  }));

export const opDb: { [K in OpName]: OpInfo<K> } = {
  add: { samples: [
    { desc: 'same shape', make: () => ({ inputs: { a: r([2, 3]), b: r([2, 3]) }, attrs: {} }) },
    { desc: 'broadcast [2,3] + [3]', make: () => ({ inputs: { a: r([2, 3]), b: r([3]) }, attrs: {} }) },
    { desc: 'broadcast [2,1,4] + [3,1]', make: () => ({ inputs: { a: r([2, 1, 4]), b: r([3, 1]) }, attrs: {} }) },
    { desc: '0-d + [2,3]', make: () => ({ inputs: { a: r([]), b: r([2, 3]) }, attrs: {} }) },
    { desc: 'non-contiguous', make: () => ({ inputs: { a: nc([3, 4]), b: r([3, 4]) }, attrs: {} }) },
  ] },
  mul: { samples: [
    { desc: 'same shape', make: () => ({ inputs: { a: r([3, 2]), b: r([3, 2]) }, attrs: {} }) },
    { desc: 'broadcast [4,1] * [1,5]', make: () => ({ inputs: { a: r([4, 1]), b: r([1, 5]) }, attrs: {} }) },
    { desc: 'same tensor twice', make: () => { const x = r([3]); return { inputs: { a: x, b: x }, attrs: {} }; } },
    { desc: 'non-contiguous, constant other', make: () => ({ inputs: { a: nc([2, 3, 4]), b: c([4]) }, attrs: {} }) },
  ] },
  div: { samples: [
    { desc: 'same shape', make: () => ({ inputs: { a: r([2, 3]), b: r([2, 3], awayFromZero) }, attrs: {} }) },
    { desc: 'broadcast [2,3] / [2,1]', make: () => ({ inputs: { a: r([2, 3]), b: r([2, 1], awayFromZero) }, attrs: {} }) },
    { desc: 'non-contiguous divisor', make: () => ({ inputs: { a: r([3, 2]), b: nc([3, 2], awayFromZero) }, attrs: {} }) },
  ] },
  pow: { samples: [
    { desc: 'tensor ** tensor', make: () => ({ inputs: { a: r([2, 3], positive), b: r([2, 3]) }, attrs: {} }) },
    { desc: 'broadcast exponent [3]', make: () => ({ inputs: { a: r([2, 3], positive), b: r([3]) }, attrs: {} }) },
    { desc: 'constant scalar exponent 3 on negative base', make: () => ({ inputs: { a: r([4]), b: c([], () => 3) }, attrs: {} }) },
  ] },
  maximum: { samples: [
    { desc: 'same shape', make: () => ({ inputs: { a: r([2, 4]), b: r([2, 4]) }, attrs: {} }) },
    { desc: 'broadcast [2,4] with [4]', make: () => ({ inputs: { a: r([2, 4]), b: r([4]) }, attrs: {} }) },
  ] },
  minimum: { samples: [
    { desc: 'same shape', make: () => ({ inputs: { a: r([3, 2]), b: r([3, 2]) }, attrs: {} }) },
    { desc: 'broadcast [1,2] with [3,1], non-contiguous', make: () => ({ inputs: { a: r([1, 2]), b: nc([3, 1]) }, attrs: {} }) },
  ] },
  neg: { samples: [{ desc: '[2,3]', make: () => ({ inputs: { x: r([2, 3]) }, attrs: {} }) }] },
  exp: { samples: [
    { desc: '[2,3]', make: () => ({ inputs: { x: r([2, 3]) }, attrs: {} }) },
    { desc: 'non-contiguous', make: () => ({ inputs: { x: nc([3, 2]) }, attrs: {} }) },
  ] },
  log: { samples: [{ desc: 'positive [5]', make: () => ({ inputs: { x: r([5], positive) }, attrs: {} }) }] },
  sqrt: { samples: [{ desc: 'positive [2,2]', make: () => ({ inputs: { x: r([2, 2], positive) }, attrs: {} }) }] },
  abs: { samples: [{ desc: 'away from 0', make: () => ({ inputs: { x: r([2, 3], awayFromZero) }, attrs: {} }) }] },
  // Zero gradient: gradcheck compares it with central differences taken away from the jump at 0.
  sign: { samples: [{ desc: 'away from 0', make: () => ({ inputs: { x: r([2, 3], awayFromZero) }, attrs: {} }) }] },
  relu: { samples: [
    { desc: 'away from 0', make: () => ({ inputs: { x: r([3, 4], awayFromZero) }, attrs: {} }) },
    { desc: 'non-contiguous', make: () => ({ inputs: { x: nc([2, 3], awayFromZero) }, attrs: {} }) },
  ] },
  sigmoid: { samples: [{ desc: '[2,3] incl. large |x|', make: () => ({ inputs: { x: r([2, 3], (u) => 4 * u) }, attrs: {} }) }] },
  tanh: { samples: [{ desc: '[2,3]', make: () => ({ inputs: { x: r([2, 3]) }, attrs: {} }) }] },
  expm1: { samples: [
    { desc: '[2,3] incl. small |x|', make: () => ({ inputs: { x: r([2, 3], (u) => (Math.abs(u) < 0.5 ? u * 1e-3 : u)) }, attrs: {} }) },
    { desc: 'non-contiguous', make: () => ({ inputs: { x: nc([3, 2]) }, attrs: {} }) },
  ] },
  log1p: { samples: [
    { desc: 'x > -0.5 incl. small |x|', make: () => ({ inputs: { x: r([2, 3], (u) => (u < -0.5 ? -0.5 - 0.4 * Math.tanh(-u) : u)) }, attrs: {} }) },
  ] },
  erf: { samples: [
    // Both formulas of the kernel: |x| < 0.5 (Maclaurin) and beyond (Taylor about k/8).
    { desc: '[3,4] spread over [-4, 4]', make: () => ({ inputs: { x: r([3, 4], (u) => 1.5 * u) }, attrs: {} }) },
    { desc: 'non-contiguous', make: () => ({ inputs: { x: nc([2, 3]) }, attrs: {} }) },
  ] },
  clamp: { samples: [
    // Values at least 0.05 from either bound so the kink is not inside a finite-difference step.
    { desc: 'both bounds', make: () => ({ inputs: { x: r([3, 4], (u) => (Math.abs(Math.abs(u) - 0.5) < 0.05 ? u + 0.2 : u)) }, attrs: { min: -0.5, max: 0.5 } }) },
    { desc: 'min only', make: () => ({ inputs: { x: r([5], awayFromZero) }, attrs: { min: 0, max: null } }) },
    { desc: 'max only', make: () => ({ inputs: { x: r([5], awayFromZero) }, attrs: { min: null, max: 0 } }) },
    // torch.clamp with min > max is max everywhere, so no gradient passes.
    { desc: 'min > max', make: () => ({ inputs: { x: r([5]) }, attrs: { min: 0.5, max: -0.5 } }) },
  ] },
  sum: { samples: [
    { desc: 'all', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { axes: [0, 1, 2], keepdim: false } }) },
    { desc: 'dim 1', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { axes: [1], keepdim: false } }) },
    { desc: 'dims [0,2] keepdim', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { axes: [0, 2], keepdim: true } }) },
    { desc: 'last dim of non-contiguous', make: () => ({ inputs: { x: nc([3, 5]) }, attrs: { axes: [1], keepdim: false } }) },
  ] },
  var: { samples: [
    { desc: 'all, Bessel', make: () => ({ inputs: { x: r([3, 4]) }, attrs: { axes: [0, 1], keepdim: false, correction: 1 } }) },
    { desc: 'dims [0,2] keepdim, correction 0', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { axes: [0, 2], keepdim: true, correction: 0 } }) },
    { desc: 'dim 1 of non-contiguous', make: () => ({ inputs: { x: nc([3, 5]) }, attrs: { axes: [1], keepdim: false, correction: 1 } }) },
    { desc: 'leading dim', make: () => ({ inputs: { x: r([4, 3]) }, attrs: { axes: [0], keepdim: false, correction: 1 } }) },
  ] },
  std: { samples: [
    { desc: 'all, Bessel', make: () => ({ inputs: { x: r([3, 4]) }, attrs: { axes: [0, 1], keepdim: false, correction: 1 } }) },
    { desc: 'dims [0,2] keepdim, correction 0', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { axes: [0, 2], keepdim: true, correction: 0 } }) },
    { desc: 'dim 1 of non-contiguous', make: () => ({ inputs: { x: nc([3, 5]) }, attrs: { axes: [1], keepdim: false, correction: 1 } }) },
  ] },
  normP: { samples: [
    // |x| kept at 0.2 or more for p < 1, where the gradient grows without bound near 0; for
    // 1 < p < 2 and p > 2 the gradient is continuous through 0, so those samples hold exact zeros.
    { desc: 'p 0.5 over all', make: () => ({ inputs: { x: r([3, 4], awayFromZero) }, attrs: { axes: [0, 1], keepdim: false, p: 0.5 } }) },
    { desc: 'p 3 over dim 1 keepdim', make: () => ({ inputs: { x: r([3, 4]) }, attrs: { axes: [1], keepdim: true, p: 3 } }) },
    { desc: 'p 1.5 over dims [0,2]', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { axes: [0, 2], keepdim: false, p: 1.5 } }) },
    { desc: 'p -1 over dim 0 of non-contiguous', make: () => ({ inputs: { x: nc([4, 3], awayFromZero) }, attrs: { axes: [0], keepdim: false, p: -1 } }) },
    { desc: 'p -2.5 over dim 1', make: () => ({ inputs: { x: r([2, 5], awayFromZero) }, attrs: { axes: [1], keepdim: false, p: -2.5 } }) },
    { desc: 'p 0 (gradient 0)', make: () => ({ inputs: { x: r([3, 4], awayFromZero) }, attrs: { axes: [1], keepdim: false, p: 0 } }) },
    {
      desc: 'p 1.5 with exact zeros, one row all zero',
      make: () => {
        const x = r([3, 4]);
        x.storage[1] = 0;
        for (let j = 4; j < 8; j++) x.storage[j] = 0;
        return { inputs: { x }, attrs: { axes: [1], keepdim: false, p: 1.5 } };
      },
    },
    {
      desc: 'p 3 with exact zeros, one row all zero',
      make: () => {
        const x = r([3, 4]);
        x.storage[2] = 0;
        for (let j = 8; j < 12; j++) x.storage[j] = 0;
        return { inputs: { x }, attrs: { axes: [1], keepdim: true, p: 3 } };
      },
    },
  ] },
  max: { samples: [
    { desc: 'all', make: () => ({ inputs: { x: r([3, 4]) }, attrs: { axes: [0, 1], keepdim: false } }) },
    { desc: 'dim 0 keepdim', make: () => ({ inputs: { x: r([3, 4]) }, attrs: { axes: [0], keepdim: true } }) },
    { desc: 'dims [1,2]', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { axes: [1, 2], keepdim: false } }) },
    // A 0-d input has no axes: the max is the value itself, its gradient 1.
    { desc: '0-d', make: () => ({ inputs: { x: r([]) }, attrs: { axes: [], keepdim: false } }) },
  ] },
  reshape: { samples: [
    { desc: '[2,3,4] -> [6,4]', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { shape: [6, 4] } }) },
    { desc: 'non-contiguous (copy)', make: () => ({ inputs: { x: nc([3, 4]) }, attrs: { shape: [2, 6] } }) },
  ] },
  permute: { samples: [
    { desc: '[2,3,4] -> (2,0,1)', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { dims: [2, 0, 1] } }) },
  ] },
  expand: { samples: [
    { desc: '[3,1] -> [2,3,4]', make: () => ({ inputs: { x: r([3, 1]) }, attrs: { shape: [2, 3, 4] } }) },
  ] },
  slice: { samples: [
    { desc: 'dim 1, 1:4', make: () => ({ inputs: { x: r([3, 5]) }, attrs: { dim: 1, start: 1, end: 4, step: 1 } }) },
    { desc: 'dim 0, step 2', make: () => ({ inputs: { x: r([5, 2]) }, attrs: { dim: 0, start: 0, end: 5, step: 2 } }) },
    { desc: 'non-contiguous', make: () => ({ inputs: { x: nc([4, 3]) }, attrs: { dim: 1, start: 1, end: 3, step: 1 } }) },
  ] },
  cat: { samples: [
    { desc: 'three along dim 1', make: () => ({ inputs: { t0: r([2, 1]), t1: r([2, 3]), t2: nc([2, 2]) }, attrs: { dim: 1 } }) },
    { desc: 'two along dim 0, one constant', make: () => ({ inputs: { t0: r([1, 3]), t1: c([2, 3]) }, attrs: { dim: 0 } }) },
  ] },
  pad: { samples: [
    { desc: 'pad and crop, value 2', make: () => ({ inputs: { x: r([3, 4]) }, attrs: { pad: [1, 0, -1, 2], value: 2 } }) },
    { desc: 'spatial pad of NCHW', make: () => ({ inputs: { x: r([1, 2, 2, 3]) }, attrs: { pad: [0, 0, 0, 0, 1, 1, 2, 1], value: 0 } }) },
  ] },
  flip: { samples: [
    { desc: 'dims [0,2] of [2,3,4]', make: () => ({ inputs: { x: r([2, 3, 4]) }, attrs: { dims: [0, 2] } }) },
    { desc: 'last dim of non-contiguous', make: () => ({ inputs: { x: nc([3, 4]) }, attrs: { dims: [1] } }) },
  ] },
  cumsum: { samples: [
    { desc: 'dim 1 of [2,4,3]', make: () => ({ inputs: { x: r([2, 4, 3]) }, attrs: { dim: 1 } }) },
    { desc: 'dim 0 of non-contiguous', make: () => ({ inputs: { x: nc([5, 3]) }, attrs: { dim: 0 } }) },
    { desc: '0-d', make: () => ({ inputs: { x: r([]) }, attrs: { dim: 0 } }) },
  ] },
  prod: { samples: [
    // No zeros: the grad·out/x path; with zeros: the prefix·suffix products (torch's safe path).
    { desc: 'all of [2,3]', make: () => ({ inputs: { x: r([2, 3]) }, attrs: { dim: null, keepdim: false } }) },
    { desc: 'dim 1 of [2,4,3] keepdim', make: () => ({ inputs: { x: r([2, 4, 3]) }, attrs: { dim: 1, keepdim: true } }) },
    { desc: 'dim 0 of non-contiguous', make: () => ({ inputs: { x: nc([4, 3]) }, attrs: { dim: 0, keepdim: false } }) },
    {
      desc: 'dim 1 with one zero in a row and two in another',
      make: () => {
        const x = r([3, 4]);
        x.storage[1] = 0;
        x.storage[8] = 0;
        x.storage[10] = 0;
        return { inputs: { x }, attrs: { dim: 1, keepdim: false } };
      },
    },
    {
      desc: 'all with one zero',
      make: () => {
        const x = r([2, 3]);
        x.storage[4] = 0;
        return { inputs: { x }, attrs: { dim: null, keepdim: false } };
      },
    },
    {
      desc: 'all with two zeros, keepdim',
      make: () => {
        const x = r([2, 3]);
        x.storage[0] = 0;
        x.storage[5] = 0;
        return { inputs: { x }, attrs: { dim: null, keepdim: true } };
      },
    },
  ] },
  contiguous: { samples: [{ desc: 'non-contiguous', make: () => ({ inputs: { x: nc([3, 4]) }, attrs: {} }) }] },
  toDtype: { samples: [
    // The float32 round trip rounds every value to 24 bits, so the finite-difference step must be
    // large against float32 spacing (eps 1e-3) and the tolerance loose against it; the derivative is exactly 1.
    {
      desc: 'float64 -> float32 -> float64',
      make: () => ({ inputs: { x: r([4]) }, attrs: { dtype: 'float32', from: 'float64' } }),
      gradcheck: { eps: 1e-3, atol: 1e-3, rtol: 1e-3 },
    },
  ] },
  where: { samples: [
    { desc: 'same shape', make: () => ({ inputs: { condition: c([2, 3], mask), a: r([2, 3]), b: r([2, 3]) }, attrs: {} }) },
    { desc: 'broadcast condition and b', make: () => ({ inputs: { condition: c([3], mask), a: r([2, 3]), b: r([1]) }, attrs: {} }) },
  ] },
  // Repeated indices in every op below that accumulates, so the gradcheck sees the sums.
  gather: { samples: [
    { desc: 'dim 0 of [3,4], repeats', make: () => ({ inputs: { x: r([3, 4]), index: ix([2, 4], [0, 2, 2, 1, 0, 2, 0, 1]) }, attrs: { dim: 0 } }) },
    { desc: 'dim 1 of [2,3,4], index longer along dim and shorter elsewhere', make: () => ({ inputs: { x: r([2, 3, 4]), index: ix([2, 5, 3], Array.from({ length: 30 }, (_, k) => (k * 7) % 3)) }, attrs: { dim: 1 } }) },
    { desc: 'non-contiguous input and index, dim 1', make: () => ({ inputs: { x: nc([3, 4]), index: ix([3, 2], [3, 3, 0, 1, 2, 0], true) }, attrs: { dim: 1 } }) },
  ] },
  scatterAdd: { samples: [
    { desc: 'dim 0 into [3,4], repeats', make: () => ({ inputs: { x: r([3, 4]), index: ix([2, 4], [0, 2, 0, 1, 0, 2, 0, 1]), src: r([2, 4]) }, attrs: { dim: 0 } }) },
    { desc: 'dim 1, src larger than index', make: () => ({ inputs: { x: r([2, 5]), index: ix([2, 3], [4, 0, 4, 1, 1, 3]), src: r([3, 4]) }, attrs: { dim: 1 } }) },
    { desc: 'non-contiguous input, src and index', make: () => ({ inputs: { x: nc([3, 4]), index: ix([3, 2], [0, 2, 2, 2, 1, 0], true), src: nc([3, 2]) }, attrs: { dim: 0 } }) },
  ] },
  scatter: { samples: [
    { desc: 'dim 0 into [3,4], no repeats', make: () => ({ inputs: { x: r([3, 4]), index: ix([2, 4], [0, 2, 1, 1, 2, 0, 0, 2]), src: r([2, 4]) }, attrs: { dim: 0, value: null } }) },
    // The last write wins: the overwritten src entries get 0, which central differences confirm.
    { desc: 'dim 1, repeats (last write wins)', make: () => ({ inputs: { x: r([2, 4]), index: ix([2, 3], [1, 3, 1, 0, 0, 0]), src: r([2, 3]) }, attrs: { dim: 1, value: null } }) },
    { desc: 'a value, no src', make: () => ({ inputs: { x: r([3, 4]), index: ix([3, 2], [1, 3, 0, 0, 2, 1]) }, attrs: { dim: 1, value: 2.5 } }) },
    { desc: 'src larger than index, non-contiguous', make: () => ({ inputs: { x: nc([4, 3]), index: ix([2, 3], [3, 0, 1, 1, 2, 0], true), src: nc([3, 3]) }, attrs: { dim: 0, value: null } }) },
  ] },
  indexSelect: { samples: [
    { desc: 'dim 0 of [4,3], repeats', make: () => ({ inputs: { x: r([4, 3]), index: ix([5], [0, 2, 2, 3, 0]) }, attrs: { dim: 0 } }) },
    { desc: 'dim 1 of non-contiguous [3,5]', make: () => ({ inputs: { x: nc([3, 5]), index: ix([3], [4, 1, 1]) }, attrs: { dim: 1 } }) },
    { desc: 'last dim of [2,3,4]', make: () => ({ inputs: { x: r([2, 3, 4]), index: ix([2], [3, 0]) }, attrs: { dim: 2 } }) },
  ] },
  // paddingIdx and scaleGradByFreq are torch's deliberate departures from the derivative (tested
  // against reference loops in tests/autograd/indexing.test.ts); here a padding row no index hits.
  embedding: { samples: [
    { desc: '[2,3] indices into [5,3], repeats', make: () => ({ inputs: { weight: r([5, 3]), indices: ix([2, 3], [4, 0, 4, 2, 2, 4]) }, attrs: { paddingIdx: -1, scaleGradByFreq: false } }) },
    { desc: 'non-contiguous weight and indices, padding row unused', make: () => ({ inputs: { weight: nc([4, 2]), indices: ix([2, 2], [3, 0, 0, 2], true) }, attrs: { paddingIdx: 1, scaleGradByFreq: false } }) },
  ] },
  matmul: { samples: [
    { desc: '[3,4] @ [4,5]', make: () => ({ inputs: { a: r([3, 4]), b: r([4, 5]) }, attrs: {} }) },
    { desc: 'batched [2,3,4] @ [4,2]', make: () => ({ inputs: { a: r([2, 3, 4]), b: r([4, 2]) }, attrs: {} }) },
    { desc: 'broadcast batch [2,1,3,4] @ [3,4,2]', make: () => ({ inputs: { a: r([2, 1, 3, 4]), b: r([3, 4, 2]) }, attrs: {} }) },
    { desc: 'transposed operands (no copy)', make: () => ({ inputs: { a: nc([3, 4]), b: nc([4, 2]) }, attrs: {} }) },
  ] },
  conv2d: { samples: [
    { desc: '3x3 stride 1 pad 1 with bias', make: conv([2, 3, 5, 5], [4, 3, 3, 3], { stride: 1, padding: 1 }) },
    { desc: '3x3 stride 2 pad 1 no bias', make: conv([1, 2, 6, 7], [3, 2, 3, 3], { stride: 2, padding: 1 }, false) },
    { desc: '1x1 stride 2 (downsample shortcut)', make: conv([2, 4, 5, 5], [3, 4, 1, 1], { stride: 2 }, false) },
    { desc: '1x1 stride 1', make: conv([2, 3, 3, 4], [5, 3, 1, 1], {}) },
    { desc: '7x7 stride 2 pad 3 (ImageNet stem)', make: conv([1, 2, 9, 9], [2, 2, 7, 7], { stride: 2, padding: 3 }, false) },
    { desc: 'rectangular kernel, stride [2,1], pad [0,1], dilation 2', make: conv([1, 2, 7, 6], [2, 2, 2, 3], { stride: [2, 1], padding: [0, 1], dilation: 2 }) },
    { desc: 'groups 2', make: conv([2, 4, 4, 4], [6, 2, 3, 3], { padding: 1, groups: 2 }) },
  ] },
  convTranspose2d: { samples: [
    { desc: '3x3 stride 1 pad 1', make: convT([2, 3, 4, 4], [3, 2, 3, 3], { padding: 1 }) },
    { desc: '3x3 stride 2 pad 1 outputPadding 1 (upsampling by 2)', make: convT([1, 2, 3, 4], [2, 3, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }) },
    { desc: 'rectangular kernel, stride [2,3], pad [0,1], outputPadding [1,2], dilation [1,2]', make: convT([1, 2, 3, 3], [2, 2, 2, 3], { stride: [2, 3], padding: [0, 1], outputPadding: [1, 2], dilation: [1, 2] }) },
    { desc: 'groups 2, 2x2 stride 2', make: convT([2, 4, 3, 2], [4, 3, 2, 2], { stride: 2, groups: 2 }) },
    { desc: 'padding larger than the kernel span', make: convT([1, 2, 5, 5], [2, 2, 3, 3], { stride: 2, padding: 3 }) },
  ] },
  batchNorm: { samples: batchNormSamples },
  batchNormRelu: { samples: batchNormSamples },
  batchNormAdd: { samples: batchNormAddSamples },
  batchNormAddRelu: { samples: batchNormAddSamples },
  maxPool2d: { samples: [
    { desc: 'k3 s2 p1 (ResNet stem pool)', make: () => ({ inputs: { x: r([2, 2, 7, 6]) }, attrs: { geometry: pooled('maxPool2d', [2, 2, 7, 6], { kernelSize: 3, stride: 2, padding: 1 }) } }) },
    { desc: 'k2 s2', make: () => ({ inputs: { x: r([1, 3, 4, 4]) }, attrs: { geometry: pooled('maxPool2d', [1, 3, 4, 4], { kernelSize: 2 }) } }) },
    { desc: 'k[3,2] s1 dilation 2 ceilMode', make: () => ({ inputs: { x: r([1, 2, 7, 5]) }, attrs: { geometry: pooled('maxPool2d', [1, 2, 7, 5], { kernelSize: [3, 2], stride: 2, dilation: 2, ceilMode: true }) } }) },
  ] },
  avgPool2d: { samples: [
    { desc: 'k2 s2', make: () => ({ inputs: { x: r([2, 2, 4, 6]) }, attrs: { geometry: pooled('avgPool2d', [2, 2, 4, 6], { kernelSize: 2 }), options: { countIncludePad: true } } }) },
    { desc: 'k3 s2 p1 countIncludePad false ceilMode', make: () => ({ inputs: { x: r([1, 2, 5, 6]) }, attrs: { geometry: pooled('avgPool2d', [1, 2, 5, 6], { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }), options: { countIncludePad: false } } }) },
    { desc: 'divisorOverride 5', make: () => ({ inputs: { x: r([1, 1, 4, 4]) }, attrs: { geometry: pooled('avgPool2d', [1, 1, 4, 4], { kernelSize: 2, stride: 1 }), options: { divisorOverride: 5 } } }) },
  ] },
  adaptiveAvgPool2d: { samples: [
    { desc: 'to 1x1 (ResNet head)', make: () => ({ inputs: { x: r([2, 3, 4, 4]) }, attrs: { outputSize: [1, 1] } }) },
    { desc: '5x7 to 3x2 (overlapping bins)', make: () => ({ inputs: { x: r([1, 2, 5, 7]) }, attrs: { outputSize: [3, 2] } }) },
  ] },
  adaptiveMaxPool2d: { samples: [
    { desc: '5x7 to 3x2 (overlapping bins)', make: () => ({ inputs: { x: r([2, 2, 5, 7]) }, attrs: { outputSize: [3, 2] } }) },
    { desc: '3x2 to 5x4 (more bins than rows), non-contiguous', make: () => ({ inputs: { x: nc([1, 2, 3, 2]) }, attrs: { outputSize: [5, 4] } }) },
  ] },
  upsampleNearest2d: { samples: [
    { desc: '3x2 to 5x7 by size', make: () => ({ inputs: { x: r([2, 2, 3, 2]) }, attrs: { outputSize: [5, 7], scales: [null, null], shortcuts: false } }) },
    { desc: '5x7 to 3x4 by size (downscale), non-contiguous', make: () => ({ inputs: { x: nc([1, 2, 5, 7]) }, attrs: { outputSize: [3, 4], scales: [null, null], shortcuts: false } }) },
    { desc: 'scale factors [1.7, 2.5] on 3x2 (5x5)', make: () => ({ inputs: { x: r([1, 3, 3, 2]) }, attrs: { outputSize: [5, 5], scales: [1.7, 2.5], shortcuts: false } }) },
    { desc: 'scale factors [2.05, 1.05] on 4x5 (8x5), generic kernel', make: () => ({ inputs: { x: r([1, 2, 4, 5]) }, attrs: { outputSize: [8, 5], scales: [2.05, 1.05], shortcuts: false } }) },
    { desc: 'scale factors [2.05, 1.05] on 4x5 (8x5), nearest_idx shortcuts', make: () => ({ inputs: { x: r([2, 1, 4, 5]) }, attrs: { outputSize: [8, 5], scales: [2.05, 1.05], shortcuts: true } }) },
  ] },
  upsampleBilinear2d: { samples: [
    { desc: '3x4 to 5x7, half-pixel centres', make: () => ({ inputs: { x: r([2, 2, 3, 4]) }, attrs: { outputSize: [5, 7], alignCorners: false, scales: [null, null] } }) },
    { desc: '3x4 to 5x7, alignCorners', make: () => ({ inputs: { x: r([1, 2, 3, 4]) }, attrs: { outputSize: [5, 7], alignCorners: true, scales: [null, null] } }) },
    { desc: '6x5 to 4x2 (downscale), non-contiguous', make: () => ({ inputs: { x: nc([1, 2, 6, 5]) }, attrs: { outputSize: [4, 2], alignCorners: false, scales: [null, null] } }) },
    { desc: 'scale factors [1.5, 0.6] on 4x5 (6x3)', make: () => ({ inputs: { x: r([1, 2, 4, 5]) }, attrs: { outputSize: [6, 3], alignCorners: false, scales: [1.5, 0.6] } }) },
  ] },
  logSoftmax: { samples: [
    { desc: 'dim 1 of [3,5]', make: () => ({ inputs: { x: r([3, 5]) }, attrs: { dim: 1 } }) },
    { desc: 'dim 0 of [4,2,3]', make: () => ({ inputs: { x: r([4, 2, 3]) }, attrs: { dim: 0 } }) },
    { desc: 'large logits, non-contiguous', make: () => ({ inputs: { x: nc([3, 4], (u) => 500 * u) }, attrs: { dim: 1 } }) },
  ] },
  crossEntropy: { samples: [
    { desc: 'mean', make: () => ({ inputs: { input: r([4, 5]) }, attrs: { target: ints(4, 5), reduction: 'mean', labelSmoothing: 0, ignoreIndex: -100, weight: null } }) },
    { desc: 'sum with label smoothing 0.1', make: () => ({ inputs: { input: r([3, 4]) }, attrs: { target: ints(3, 4), reduction: 'sum', labelSmoothing: 0.1, ignoreIndex: -100, weight: null } }) },
    { desc: 'none', make: () => ({ inputs: { input: r([3, 3]) }, attrs: { target: ints(3, 3), reduction: 'none', labelSmoothing: 0, ignoreIndex: -100, weight: null } }) },
    {
      desc: 'class weights, ignore_index and smoothing',
      make: () => ({ inputs: { input: r([5, 4]) }, attrs: { target: Int32Array.from([0, 3, -1, 2, 1]), reduction: 'mean', labelSmoothing: 0.2, ignoreIndex: -1, weight: c([4], positive) } }),
    },
    { desc: 'large logits', make: () => ({ inputs: { input: r([3, 4], (u) => 300 * u) }, attrs: { target: ints(3, 4), reduction: 'mean', labelSmoothing: 0, ignoreIndex: -100, weight: null } }) },
  ] },
  // The pick is linear in the input: any values do; ignored positions (−1 here) get zero gradient.
  nllLoss: { samples: [
    { desc: '[N, C] mean', make: () => ({ inputs: { input: r([4, 5]) }, attrs: { target: ints(4, 5), ignore: -100, weight: null, reduction: 'mean' } }) },
    {
      desc: '[N, C, d1, d2] none with class weights and an ignored target',
      make: () => ({ inputs: { input: r([2, 3, 2, 3]) }, attrs: { target: Int32Array.from([0, 2, -1, 1, 1, 0, 2, 2, 0, -1, 1, 2]), ignore: -1, weight: c([3], positive).data, reduction: 'none' } }),
    },
    {
      desc: '[N, C, d1] non-contiguous, weighted mean',
      make: () => ({ inputs: { input: nc([2, 4, 3]) }, attrs: { target: Int32Array.from([3, 0, -100, 1, 2, 3]), ignore: -100, weight: c([4], positive).data, reduction: 'mean' } }),
    },
    { desc: '[C] sum', make: () => ({ inputs: { input: r([4]) }, attrs: { target: Int32Array.from([2]), ignore: -100, weight: null, reduction: 'sum' } }) },
  ] },
  // Probabilities kept inside [0.05, 0.95], far from the −100 clamps of the logs, so central
  // differences see the smooth function; targets hard (0/1) and soft, both differentiable.
  binaryCrossEntropy: { samples: [
    { desc: 'soft targets', make: () => ({ inputs: { input: r([3, 4], probability), target: r([3, 4], probability) }, attrs: {} }) },
    { desc: 'hard targets, constant', make: () => ({ inputs: { input: r([5], probability), target: c([5], mask) }, attrs: {} }) },
    { desc: 'non-contiguous input and target', make: () => ({ inputs: { input: nc([2, 3], probability), target: nc([2, 3], probability) }, attrs: {} }) },
  ] },
};
