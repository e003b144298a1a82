/**
 * Convolution layers as torch.nn's: Conv2d, Conv1d, ConvTranspose2d. Each holds its parameters,
 * initialised as torch's _ConvNd.reset_parameters does, and hands the math to its F.* function
 * (Conv2d and Conv1d with a paddingMode other than 'zeros' pad by F.pad first, as torch).
 */
import { allocate, type DType } from '../../lib/core/dtype';
import { fail, fmtShape, fmtValue } from '../../lib/core/errors';
import { checkKnownKeys } from '../../lib/core/errors';
import { pair, single } from '../../lib/core/shape';
import * as F from '../../autograd/functional';
import { checkPaddingString } from '../../autograd/checks';
import { Tensor } from '../../autograd/tensor';
import { defaultLayerInit_ } from './init';
import { Module, Parameter } from './module';
import { pyBool, pyTuple } from './repr';

export interface Conv2dOptions {
  stride?: number | readonly number[];
  /** Zeros per side, or 'valid' (none) or 'same' (stride 1; output size = input size), as torch. */
  padding?: number | readonly number[] | 'same' | 'valid';
  dilation?: number | readonly number[];
  groups?: number;
  bias?: boolean;
  /** What the padding holds (torch's padding_mode): 'zeros' (the default), or F.pad's 'reflect', 'replicate', 'circular'. */
  paddingMode?: PaddingMode;
  dtype?: DType;
}

/**
 * torch's padding_mode. With any but 'zeros' the layer pads its input by F.pad in that mode
 * ('zeros' → the conv's own zero padding) and convolves with padding 0, as torch's _conv_forward.
 * An unbatched input in 'circular' is padded too (torch 1.13's F.pad rejects it; torch ≥ 2.1 pads it).
 */
export type PaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';

/** 2-D convolution layer over NCHW input; weight [out, in/groups, kh, kw]. */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  /** [h, w] zeros per side, or the string given ('same' pads as torch: any odd extra at the bottom/right). */
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly groups: number;
  readonly paddingMode: PaddingMode;
  /** torch's _reversed_padding_repeated_twice: F.pad's [left, right, top, bottom] for a paddingMode other than 'zeros'. */
  private readonly padAmounts: number[];

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | readonly number[], options: Conv2dOptions = {}) {
    super();
    const op = 'Conv2d';
    checkKnownKeys(op, options, ['stride', 'padding', 'dilation', 'groups', 'bias', 'paddingMode', 'dtype']);
    checkChannels(op, inChannels, outChannels);
    this.kernelSize = pair(op, 'kernelSize', kernelSize, 1);
    this.stride = pair(op, 'stride', options.stride ?? 1, 1);
    const padding = options.padding ?? 0;
    if (typeof padding === 'string') checkPaddingString(op, padding, options.stride);
    this.padding = typeof padding === 'string' ? padding : pair(op, 'padding', padding, 0);
    this.dilation = pair(op, 'dilation', options.dilation ?? 1, 1);
    this.groups = checkGroups(op, options.groups ?? 1, inChannels, outChannels);
    this.paddingMode = checkPaddingMode(op, options.paddingMode ?? 'zeros');
    this.padAmounts = reversedPadding(this.padding, this.kernelSize, this.dilation);
    const dtype = options.dtype ?? 'float32';
    const shape = [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = this.registerParameter('weight', new Parameter(new Tensor(allocate(dtype, shape.reduce((a, b) => a * b, 1)), shape)));
    this.bias = this.registerParameter('bias', options.bias ?? true ? new Parameter(new Tensor(allocate(dtype, outChannels), [outChannels])) : null);
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    if (this.paddingMode !== 'zeros') {
      return F.conv2d(F.pad(x, this.padAmounts, this.paddingMode), this.weight, this.bias, { stride: this.stride, padding: 0, dilation: this.dilation, groups: this.groups });
    }
    return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override extraRepr(): string {
    return convRepr(this.inChannels, this.outChannels, this.kernelSize, this.stride, this.padding, this.dilation, null, this.groups, this.bias === null, this.paddingMode);
  }
}

export interface Conv1dOptions {
  stride?: number | readonly number[];
  /** Zeros per side, or 'valid' (none) or 'same' (stride 1; output length = input length), as torch. */
  padding?: number | readonly number[] | 'same' | 'valid';
  dilation?: number | readonly number[];
  groups?: number;
  bias?: boolean;
  /** What the padding holds (torch's padding_mode): 'zeros' (the default), or F.pad's 'reflect', 'replicate', 'circular'. */
  paddingMode?: PaddingMode;
  dtype?: DType;
}

/** 1-D convolution layer over [N, C, L] (or [C, L]) input; weight [out, in/groups, k]; F.conv1d does the work. */
export class Conv1d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  /** One-element tuples, as torch's _single stores them (and prints them: kernel_size=(3,)). */
  readonly kernelSize: [number];
  readonly stride: [number];
  readonly padding: [number] | 'same' | 'valid';
  readonly dilation: [number];
  readonly groups: number;
  readonly paddingMode: PaddingMode;
  /** torch's _reversed_padding_repeated_twice: F.pad's [left, right] for a paddingMode other than 'zeros'. */
  private readonly padAmounts: number[];

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | readonly number[], options: Conv1dOptions = {}) {
    super();
    const op = 'Conv1d';
    checkKnownKeys(op, options, ['stride', 'padding', 'dilation', 'groups', 'bias', 'paddingMode', 'dtype']);
    checkChannels(op, inChannels, outChannels);
    this.kernelSize = [single(op, 'kernelSize', kernelSize, 1)];
    this.stride = [single(op, 'stride', options.stride ?? 1, 1)];
    const padding = options.padding ?? 0;
    if (typeof padding === 'string') checkPaddingString(op, padding, [this.stride[0], this.stride[0]]);
    this.padding = typeof padding === 'string' ? padding : [single(op, 'padding', padding, 0)];
    this.dilation = [single(op, 'dilation', options.dilation ?? 1, 1)];
    this.groups = checkGroups(op, options.groups ?? 1, inChannels, outChannels);
    this.paddingMode = checkPaddingMode(op, options.paddingMode ?? 'zeros');
    this.padAmounts = reversedPadding(this.padding, this.kernelSize, this.dilation);
    const dtype = options.dtype ?? 'float32';
    this.weight = this.registerParameter('weight', new Parameter(new Tensor(allocate(dtype, outChannels * (inChannels / this.groups) * this.kernelSize[0]),
      [outChannels, inChannels / this.groups, this.kernelSize[0]])));
    this.bias = this.registerParameter('bias', options.bias ?? true ? new Parameter(new Tensor(allocate(dtype, outChannels), [outChannels])) : null);
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    if (this.paddingMode !== 'zeros') {
      return F.conv1d(F.pad(x, this.padAmounts, this.paddingMode), this.weight, this.bias, { stride: this.stride, padding: 0, dilation: this.dilation, groups: this.groups });
    }
    return F.conv1d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override extraRepr(): string {
    return convRepr(this.inChannels, this.outChannels, this.kernelSize, this.stride, this.padding, this.dilation, null, this.groups, this.bias === null, this.paddingMode);
  }
}

export interface ConvTranspose2dOptions {
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  /** Extra rows/columns at the bottom/right of the output, each below the stride or the dilation (torch's output_padding). */
  outputPadding?: number | readonly number[];
  groups?: number;
  bias?: boolean;
  dilation?: number | readonly number[];
  dtype?: DType;
}

/**
 * 2-D transposed convolution layer (torch's ConvTranspose2d): weight [in, out/groups, kh, kw], so
 * torch's default init, which takes fan_in from weight.size(1)·kh·kw, bounds it by
 * 1/√((out/groups)·kh·kw), as defaultLayerInit_ computes from this shape.
 */
export class ConvTranspose2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | readonly number[], options: ConvTranspose2dOptions = {}) {
    super();
    const op = 'ConvTranspose2d';
    checkKnownKeys(op, options, ['stride', 'padding', 'outputPadding', 'groups', 'bias', 'dilation', 'dtype']);
    checkChannels(op, inChannels, outChannels);
    this.kernelSize = pair(op, 'kernelSize', kernelSize, 1);
    this.stride = pair(op, 'stride', options.stride ?? 1, 1);
    this.padding = pair(op, 'padding', options.padding ?? 0, 0);
    this.outputPadding = pair(op, 'outputPadding', options.outputPadding ?? 0, 0);
    this.dilation = pair(op, 'dilation', options.dilation ?? 1, 1);
    this.groups = checkGroups(op, options.groups ?? 1, inChannels, outChannels);
    const dtype = options.dtype ?? 'float32';
    const shape = [inChannels, outChannels / this.groups, ...this.kernelSize];
    this.weight = this.registerParameter('weight', new Parameter(new Tensor(allocate(dtype, shape.reduce((a, b) => a * b, 1)), shape)));
    this.bias = this.registerParameter('bias', options.bias ?? true ? new Parameter(new Tensor(allocate(dtype, outChannels), [outChannels])) : null);
    defaultLayerInit_(this.weight, this.bias);
  }

  /**
   * With `outputSize` ([OH, OW], or the whole [N, C, OH, OW] / unbatched [C, OH, OW]), torch's
   * forward(input, output_size): the output padding is chosen to give that size, which must lie
   * between the size without output padding and that plus stride − 1 (the module's own
   * outputPadding is then not used, as in torch).
   */
  forward(x: Tensor, outputSize?: readonly number[] | null): Tensor {
    const outputPadding = outputSize === undefined || outputSize === null ? this.outputPadding : this.paddingFor(x, outputSize);
    return F.convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride, padding: this.padding, outputPadding, dilation: this.dilation, groups: this.groups,
    });
  }

  /** torch's _ConvTransposeNd._output_padding for a requested output size. */
  private paddingFor(x: Tensor, outputSize: readonly number[]): [number, number] {
    const op = 'ConvTranspose2d';
    if (!(x instanceof Tensor)) fail(op, `expected a Tensor input, got ${fmtValue(x)}`);
    if (x.ndim !== 3 && x.ndim !== 4) fail(op, `expected 3D (unbatched) or 4D input, got input of shape ${fmtShape(x.shape)}`);
    const nonSpatial = x.ndim - 2;
    if (!Array.isArray(outputSize) || !outputSize.every((v) => Number.isInteger(v) && v >= 0)) {
      fail(op, `outputSize must be an array of non-negative integers, got ${fmtValue(outputSize)}`);
    }
    const size = outputSize.length === nonSpatial + 2 ? outputSize.slice(nonSpatial) : outputSize;
    if (size.length !== 2) {
      fail(op, `for ${x.ndim}D input, outputSize must have 2 or ${nonSpatial + 2} elements (got ${outputSize.length}: ${fmtValue(outputSize)})`);
    }
    const inSpatial = x.shape.slice(nonSpatial);
    const min = [0, 1].map((d) => (inSpatial[d] - 1) * this.stride[d] - 2 * this.padding[d] + this.dilation[d] * (this.kernelSize[d] - 1) + 1);
    const max = [0, 1].map((d) => min[d] + this.stride[d] - 1);
    if (size.some((s, d) => s < min[d] || s > max[d])) {
      fail(op, `requested an output size of ${fmtShape(size)}, but valid sizes range from ${fmtShape(min)} to ${fmtShape(max)} (for an input of ${fmtShape(inSpatial)})`);
    }
    return [size[0] - min[0], size[1] - min[1]];
  }

  override extraRepr(): string {
    return convRepr(this.inChannels, this.outChannels, this.kernelSize, this.stride, this.padding, this.dilation, this.outputPadding, this.groups, this.bias === null);
  }
}

function checkChannels(op: string, inChannels: number, outChannels: number): void {
  if (!Number.isInteger(inChannels) || inChannels < 1) fail(op, `inChannels must be a positive integer, got ${fmtValue(inChannels)}`);
  if (!Number.isInteger(outChannels) || outChannels < 1) fail(op, `outChannels must be a positive integer, got ${fmtValue(outChannels)}`);
}

function checkGroups(op: string, groups: number, inChannels: number, outChannels: number): number {
  if (!Number.isInteger(groups) || groups < 1 || inChannels % groups || outChannels % groups) {
    fail(op, `groups ${groups} must be a positive integer dividing inChannels ${inChannels} and outChannels ${outChannels}`);
  }
  return groups;
}

function checkPaddingMode(op: string, mode: unknown): PaddingMode {
  if (mode !== 'zeros' && mode !== 'reflect' && mode !== 'replicate' && mode !== 'circular') {
    fail(op, `paddingMode must be one of 'zeros', 'reflect', 'replicate', 'circular', got ${fmtValue(mode)}`);
  }
  return mode;
}

/**
 * torch's _reversed_padding_repeated_twice: the amounts per side in F.pad's order (last dim first);
 * for 'same', d·(k − 1) in all per dim, floor half before and the rest after; 'valid' none.
 */
function reversedPadding(padding: readonly number[] | 'same' | 'valid', kernelSize: readonly number[], dilation: readonly number[]): number[] {
  const out: number[] = [];
  for (let d = kernelSize.length - 1; d >= 0; d--) {
    if (padding === 'valid') out.push(0, 0);
    else if (padding === 'same') {
      const total = dilation[d] * (kernelSize[d] - 1);
      out.push(Math.floor(total / 2), total - Math.floor(total / 2));
    } else out.push(padding[d], padding[d]);
  }
  return out;
}

/** torch's _ConvNd.extra_repr: the non-default settings in its order (padding, dilation, output_padding, groups, bias, padding_mode). */
function convRepr(
  inChannels: number, outChannels: number, kernelSize: readonly number[], stride: readonly number[], padding: readonly number[] | string,
  dilation: readonly number[], outputPadding: readonly number[] | null, groups: number, noBias: boolean, paddingMode: PaddingMode = 'zeros',
): string {
  let s = `${inChannels}, ${outChannels}, kernel_size=${pyTuple(kernelSize)}, stride=${pyTuple(stride)}`;
  if (typeof padding === 'string') s += `, padding=${padding}`;
  else if (padding.some((p) => p !== 0)) s += `, padding=${pyTuple(padding)}`;
  if (dilation.some((d) => d !== 1)) s += `, dilation=${pyTuple(dilation)}`;
  if (outputPadding !== null && outputPadding.some((p) => p !== 0)) s += `, output_padding=${pyTuple(outputPadding)}`;
  if (groups !== 1) s += `, groups=${groups}`;
  if (noBias) s += `, bias=${pyBool(false)}`;
  if (paddingMode !== 'zeros') s += `, padding_mode=${paddingMode}`;
  return s;
}
