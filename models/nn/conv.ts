import { allocate, type DType } from '../../lib/core/dtype';
import { fail, fmtValue } from '../../lib/core/errors';
import { checkKnownKeys } from '../../lib/core/errors';
import { pair } from '../../lib/core/shape';
import * as F from '../../autograd/functional';
import { checkPaddingString } from '../../autograd/functional';
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
  dtype?: DType;
}

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

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: number | readonly number[], options: Conv2dOptions = {}) {
    super();
    const op = 'Conv2d';
    checkKnownKeys(op, options, ['stride', 'padding', 'dilation', 'groups', 'bias', 'dtype']);
    if (!Number.isInteger(inChannels) || inChannels < 1) fail(op, `inChannels must be a positive integer, got ${fmtValue(inChannels)}`);
    if (!Number.isInteger(outChannels) || outChannels < 1) fail(op, `outChannels must be a positive integer, got ${fmtValue(outChannels)}`);
    this.kernelSize = pair(op, 'kernelSize', kernelSize, 1);
    this.stride = pair(op, 'stride', options.stride ?? 1, 1);
    const padding = options.padding ?? 0;
    if (typeof padding === 'string') checkPaddingString(op, padding, options.stride);
    this.padding = typeof padding === 'string' ? padding : pair(op, 'padding', padding, 0);
    this.dilation = pair(op, 'dilation', options.dilation ?? 1, 1);
    this.groups = options.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups < 1 || inChannels % this.groups || outChannels % this.groups) {
      fail(op, `groups ${this.groups} must be a positive integer dividing inChannels ${inChannels} and outChannels ${outChannels}`);
    }
    const dtype = options.dtype ?? 'float32';
    const shape = [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = this.registerParameter('weight', new Parameter(new Tensor(allocate(dtype, shape.reduce((a, b) => a * b, 1)), shape)));
    this.bias = this.registerParameter('bias', options.bias ?? true ? new Parameter(new Tensor(allocate(dtype, outChannels), [outChannels])) : null);
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${pyTuple(this.kernelSize)}, stride=${pyTuple(this.stride)}`;
    if (typeof this.padding === 'string') s += `, padding=${this.padding}`;
    else if (this.padding.some((p) => p !== 0)) s += `, padding=${pyTuple(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${pyTuple(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += `, bias=${pyBool(false)}`;
    return s;
  }
}
