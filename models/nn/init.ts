/**
 * Initialisation schemes (torch.nn.init), in place, drawing from the seeded generator.
 */
import { fail, fmtShape, fmtValue } from '../../lib/core/errors';
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

function fill(t: Tensor, draw: () => number): Tensor {
  if (!t.isContiguous()) fail('init', `tensor of shape ${fmtShape(t.shape)} must be contiguous to initialise in place`);
  noGrad(() => {
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = draw();
  });
  t._bumpVersion(); // new values: a backward that saved t must not use them
  return t;
}

/** U(low, high); low > high (or NaN) is an error, as torch's "uniform_ expects to return a [from, to) range". */
export function uniform_(t: Tensor, low = 0, high = 1, generator: Random = globalRng()): Tensor {
  if (!(low <= high)) fail('uniform_', `expects a [low, high) range, got low=${fmtValue(low)} > high=${fmtValue(high)}`);
  if (!Number.isFinite(high - low)) fail('uniform_', `low and high must be finite, got low=${fmtValue(low)}, high=${fmtValue(high)}`);
  return fill(t, () => generator.uniformRange(low, high));
}

/** N(mean, std²); a negative (or NaN) std is an error, as torch's "normal expects std >= 0.0". */
export function normal_(t: Tensor, mean = 0, std = 1, generator: Random = globalRng()): Tensor {
  if (!(std >= 0)) fail('normal_', `expects std >= 0, got std=${fmtValue(std)}`);
  if (!Number.isFinite(mean) || !Number.isFinite(std)) fail('normal_', `mean and std must be finite, got mean=${fmtValue(mean)}, std=${fmtValue(std)}`);
  return fill(t, () => mean + std * generator.normal());
}

export function constant_(t: Tensor, value: number): Tensor {
  return fill(t, () => value);
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
