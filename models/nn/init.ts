/**
 * Initialisation schemes (torch.nn.init 1.13), in place, drawing from the seeded generator. Each one
 * writes the tensor's storage under noGrad (a requiresGrad leaf stays a leaf) and bumps its version
 * once, so a backward that saved the old values refuses them. Values are computed in float64 and
 * rounded once on store; the draws follow torch's order (row-major over the tensor, then per column
 * for sparse_), though not torch's bits: the generator is ours.
 */
import { fail, fmtShape, fmtValue } from '../../lib/core/errors';
import type { FloatArray } from '../../lib/core/dtype';
import { householderQr } from '../../lib/kernels/qr';
import { erf, erfinv } from '../../lib/kernels/special';
import { globalRng, type Random } from '../../lib/random';
import { checkKnownKeys } from '../../lib/core/errors';
import type { Tensor } from '../../autograd/tensor';
import { noGrad } from '../../autograd/tape';

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu';

/** fan_in = in·receptive field, fan_out = out·receptive field for [out, in, *kernel] weights. */
export function calculateFanInAndFanOut(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) fail('calculateFanInAndFanOut', `fan in and fan out need a tensor with at least 2 dims, got shape ${fmtShape(t.shape)}`);
  let receptive = 1;
  for (let i = 2; i < t.ndim; i++) receptive *= t.shape[i];
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

/** torch.nn.init.calculate_gain. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv2d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    default: return fail('calculateGain', `unsupported nonlinearity ${String(nonlinearity)}`);
  }
}

/** Runs write over t's (contiguous) storage without recording, then bumps t's version once. */
function overwrite(op: string, t: Tensor, write: (d: FloatArray) => void): Tensor {
  if (!t.isContiguous()) fail(op, `tensor of shape ${fmtShape(t.shape)} must be contiguous to initialise in place`);
  noGrad(() => write(t.data));
  t._bumpVersion(); // new values: a backward that saved t must not use them
  return t;
}

function fill(t: Tensor, draw: () => number, op: string): Tensor {
  return overwrite(op, t, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = draw();
  });
}

/** U(low, high); low > high (or NaN) is an error, as torch's "uniform_ expects to return a [from, to) range". */
export function uniform_(t: Tensor, low = 0, high = 1, generator: Random = globalRng()): Tensor {
  if (!(low <= high)) fail('uniform_', `expects a [low, high) range, got low=${fmtValue(low)} > high=${fmtValue(high)}`);
  if (!Number.isFinite(high - low)) fail('uniform_', `low and high must be finite, got low=${fmtValue(low)}, high=${fmtValue(high)}`);
  return fill(t, () => generator.uniformRange(low, high), 'uniform_');
}

/** N(mean, std²); a negative (or NaN) std is an error, as torch's "normal expects std >= 0.0". */
export function normal_(t: Tensor, mean = 0, std = 1, generator: Random = globalRng()): Tensor {
  if (!(std >= 0)) fail('normal_', `expects std >= 0, got std=${fmtValue(std)}`);
  if (!Number.isFinite(mean) || !Number.isFinite(std)) fail('normal_', `mean and std must be finite, got mean=${fmtValue(mean)}, std=${fmtValue(std)}`);
  return fill(t, () => mean + std * generator.normal(), 'normal_');
}

export function constant_(t: Tensor, value: number): Tensor {
  return fill(t, () => value, 'constant_');
}

export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

export interface KaimingOptions {
  /** Negative slope of the leaky ReLU after this layer (a = √5 gives PyTorch's Linear/Conv default). */
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
  generator?: Random;
}

const KAIMING_KEYS = ['a', 'mode', 'nonlinearity', 'generator'] as const;

/** torch's _calculate_correct_fan: an unknown mode is an error, not fan_out. */
function correctFan(op: string, t: Tensor, mode: unknown): number {
  if (mode !== 'fan_in' && mode !== 'fan_out') fail(op, `mode ${JSON.stringify(mode)} not supported, please use one of 'fan_in', 'fan_out'`);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return mode === 'fan_in' ? fanIn : fanOut;
}

/** U(−b, b) with b = gain·√(3/fan). */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  checkKnownKeys('kaimingUniform_', options, KAIMING_KEYS);
  if (t.numel() === 0) return t; // torch: "Initializing zero-element tensors is a no-op" (its fan may be 0)
  const fan = correctFan('kaimingUniform_', t, options.mode ?? 'fan_in');
  const gain = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0);
  const bound = gain * Math.sqrt(3 / fan);
  return uniform_(t, -bound, bound, options.generator);
}

/** N(0, std²) with std = gain/√fan. */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  checkKnownKeys('kaimingNormal_', options, KAIMING_KEYS);
  if (t.numel() === 0) return t; // torch: "Initializing zero-element tensors is a no-op" (its fan may be 0)
  const fan = correctFan('kaimingNormal_', t, options.mode ?? 'fan_in');
  const gain = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0);
  return normal_(t, 0, gain / Math.sqrt(fan), options.generator);
}

/** Xavier/Glorot uniform (torch.nn.init.xavier_uniform_): U(−b, b) with b = gain·√(6/(fan_in + fan_out)). */
export function xavierUniform_(t: Tensor, gain = 1, generator: Random = globalRng()): Tensor {
  const bound = xavierStd('xavierUniform_', t, gain) * Math.sqrt(3);
  return uniform_(t, -bound, bound, generator);
}

/** Xavier/Glorot normal (torch.nn.init.xavier_normal_): N(0, std²) with std = gain·√(2/(fan_in + fan_out)). */
export function xavierNormal_(t: Tensor, gain = 1, generator: Random = globalRng()): Tensor {
  return normal_(t, 0, xavierStd('xavierNormal_', t, gain), generator);
}

function xavierStd(op: string, t: Tensor, gain: unknown): number {
  if (typeof gain !== 'number' || !Number.isFinite(gain)) fail(op, `gain must be a finite number, got ${String(gain)}`);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  if (fanIn + fanOut === 0) fail(op, `fan_in + fan_out is 0 for a tensor of shape ${fmtShape(t.shape)}`);
  return gain * Math.sqrt(2 / (fanIn + fanOut));
}

/** PyTorch's default for Conv2d and Linear: weight kaiming_uniform(a=√5) = U(±1/√fan_in), bias U(±1/√fan_in). */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null, generator: Random = globalRng()): void {
  kaimingUniform_(weight, { a: Math.sqrt(5), generator });
  if (bias) {
    const { fanIn } = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound, generator);
  }
}

/** torch.nn.init.eye_: the identity in a 2-D tensor (ones on the main diagonal of a rectangle too). */
export function eye_(t: Tensor): Tensor {
  if (t.ndim !== 2) fail('eye_', `only tensors with 2 dimensions are supported, got shape ${fmtShape(t.shape)}`);
  const [rows, cols] = t.shape;
  return overwrite('eye_', t, (d) => {
    d.fill(0);
    for (let i = 0; i < Math.min(rows, cols); i++) d[i * cols + i] = 1;
  });
}

/**
 * torch.nn.init.dirac_: a conv weight [out, in, *kernel] (3, 4 or 5 dims) that passes its input
 * through: within each of the groups' out/groups output channels, channel d gets a 1 at input
 * channel d and the kernel centre (index ⌊k/2⌋ per kernel dim), for d < min(out/groups, in).
 */
export function dirac_(t: Tensor, groups = 1): Tensor {
  if (t.ndim < 3 || t.ndim > 5) fail('dirac_', `only tensors with 3, 4, or 5 dimensions are supported, got shape ${fmtShape(t.shape)}`);
  if (!Number.isInteger(groups) || groups < 1) fail('dirac_', `groups must be a positive integer, got ${fmtValue(groups)}`);
  if (t.shape[0] % groups !== 0) fail('dirac_', `dim 0 must be divisible by groups, got shape ${fmtShape(t.shape)} and groups=${groups}`);
  const outPerGroup = t.shape[0] / groups;
  const minDim = Math.min(outPerGroup, t.shape[1]);
  let kernel = 1, centre = 0; // the kernel's size and the centre's row-major offset in it
  for (let i = 2; i < t.ndim; i++) {
    kernel *= t.shape[i];
    centre = centre * t.shape[i] + Math.floor(t.shape[i] / 2);
  }
  const inStride = kernel, outStride = t.shape[1] * kernel;
  return overwrite('dirac_', t, (dst) => {
    dst.fill(0);
    for (let g = 0; g < groups; g++) {
      for (let c = 0; c < minDim; c++) dst[(g * outPerGroup + c) * outStride + c * inStride + centre] = 1;
    }
  });
}

/** The standard normal CDF, Φ(x) = (1 + erf(x/√2))/2, as torch's trunc_normal_ computes it. */
function normCdf(x: number): number {
  return (1 + erf(x / Math.SQRT2)) / 2;
}

/**
 * torch.nn.init.trunc_normal_ (1.13's method): N(mean, std²) truncated to [a, b], by the inverse CDF.
 * u ~ U(2Φ(α) − 1, 2Φ(β) − 1) with α = (a − mean)/std, β = (b − mean)/std, then
 * x = mean + std·√2·erfinv(u), clamped to [a, b] (for the rounding at the ends). erfinv is
 * lib/kernels/special's, accurate to double precision. a = b fills a; infinite a or b are allowed.
 * As in torch the method loses accuracy when [a, b] lies far in one tail (2Φ − 1 rounds to ±1);
 * torch only warns for a mean more than 2 std outside [a, b], which has no channel here.
 */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, generator: Random = globalRng()): Tensor {
  if (typeof mean !== 'number' || !Number.isFinite(mean) || typeof std !== 'number' || !Number.isFinite(std)) {
    fail('truncNormal_', `mean and std must be finite numbers, got mean=${fmtValue(mean)}, std=${fmtValue(std)}`);
  }
  if (!(std > 0)) fail('truncNormal_', `expects std > 0, got std=${fmtValue(std)}`);
  if (typeof a !== 'number' || typeof b !== 'number' || !(a <= b)) {
    fail('truncNormal_', `expects a <= b (the truncation interval [a, b]), got a=${fmtValue(a)}, b=${fmtValue(b)}`);
  }
  const lo = 2 * normCdf((a - mean) / std) - 1;
  const hi = 2 * normCdf((b - mean) / std) - 1;
  const scale = std * Math.SQRT2;
  return fill(t, () => Math.min(b, Math.max(a, mean + scale * erfinv(generator.uniformRange(lo, hi)))), 'truncNormal_');
}

/**
 * torch.nn.init.orthogonal_ (1.13's method): flatten to rows = shape[0] by cols = numel/rows, draw
 * N(0, 1) row-major, take the QR of that matrix (of its transpose when rows < cols), multiply Q's
 * columns by sign(diag(R)) so the result is Haar-distributed (Mezzadri, math-ph/0609050), transpose
 * back, and scale by gain. Rows (rows ≤ cols) or columns (rows ≥ cols) come out orthonormal. The QR is
 * lib/kernels/qr's Householder in float64. A zero-element tensor is left alone, as torch does.
 */
export function orthogonal_(t: Tensor, gain = 1, generator: Random = globalRng()): Tensor {
  if (t.ndim < 2) fail('orthogonal_', `only tensors with 2 or more dimensions are supported, got shape ${fmtShape(t.shape)}`);
  if (typeof gain !== 'number' || !Number.isFinite(gain)) fail('orthogonal_', `gain must be a finite number, got ${fmtValue(gain)}`);
  if (t.numel() === 0) return t;
  const rows = t.shape[0];
  const cols = t.numel() / rows;
  const flat = new Float64Array(rows * cols);
  for (let i = 0; i < flat.length; i++) flat[i] = generator.normal();
  const wide = rows < cols;
  // QR of the tall one: flat itself, or its transpose [cols, rows].
  const [m, n] = wide ? [cols, rows] : [rows, cols];
  let tall = flat;
  if (wide) {
    tall = new Float64Array(m * n);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) tall[j * n + i] = flat[i * cols + j];
  }
  const { q, r } = householderQr(tall, m, n);
  const sign = new Float64Array(n);
  for (let k = 0; k < n; k++) sign[k] = Math.sign(r[k * n + k]); // torch's sign: 0 for a zero pivot
  return overwrite('orthogonal_', t, (d) => {
    for (let i = 0; i < m; i++) {
      for (let k = 0; k < n; k++) {
        const v = gain * q[i * n + k] * sign[k];
        if (wide) d[k * cols + i] = v; // Qᵀ: [rows = n, cols = m]
        else d[i * n + k] = v;
      }
    }
  });
}

/**
 * torch.nn.init.sparse_ on a 2-D [rows, cols] tensor: N(0, std²) everywhere, then in each column the
 * first ⌈sparsity·rows⌉ rows of a fresh random permutation set to 0 (exactly that many per column;
 * the count is torch's math.ceil(sparsity * rows) in float64, so 0.28 of 25 rows is 8, as there).
 */
export function sparse_(t: Tensor, sparsity: number, std = 0.01, generator: Random = globalRng()): Tensor {
  if (t.ndim !== 2) fail('sparse_', `only tensors with 2 dimensions are supported, got shape ${fmtShape(t.shape)}`);
  if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity <= 1)) fail('sparse_', `sparsity must be in [0, 1], got ${fmtValue(sparsity)}`);
  if (typeof std !== 'number' || !(std >= 0) || !Number.isFinite(std)) fail('sparse_', `expects a finite std >= 0, got std=${fmtValue(std)}`);
  const [rows, cols] = t.shape;
  const numZeros = Math.ceil(sparsity * rows);
  return overwrite('sparse_', t, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = std * generator.normal();
    for (let c = 0; c < cols; c++) {
      const perm = generator.permutation(rows);
      for (let k = 0; k < numZeros; k++) d[perm[k] * cols + c] = 0;
    }
  });
}
