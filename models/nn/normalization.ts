import { allocate, isDType, type DType } from '../../lib/core/dtype';
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../../lib/core/errors';
import { checkNormalizedShape } from '../../autograd/checks';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { Module, Parameter } from './module';
import { pyBool, pyFloat, pyTuple } from './repr';

export interface LayerNormOptions {
  eps?: number;
  /** A learnable weight (ones) and bias (zeros) of normalizedShape; false: neither (torch's None). */
  elementwiseAffine?: boolean;
  dtype?: DType;
}

/**
 * Layer norm over the last normalizedShape.length dims, torch's nn.LayerNorm: the biased variance
 * of each sample, no running statistics, the same in train and eval mode. Parameters are named
 * weight and bias so stateDict keys match torch's.
 */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    const op = 'LayerNorm';
    checkKnownKeys(op, options, ['eps', 'elementwiseAffine', 'dtype']);
    this.normalizedShape = checkNormalizedShape(op, normalizedShape);
    this.eps = options.eps ?? 1e-5;
    if (typeof this.eps !== 'number' || !(this.eps >= 0) || this.eps === Infinity) fail(op, `eps must be a finite non-negative number, got ${fmtValue(this.eps)}`);
    this.elementwiseAffine = options.elementwiseAffine ?? true;
    if (typeof this.elementwiseAffine !== 'boolean') fail(op, `elementwiseAffine must be a boolean, got ${fmtValue(this.elementwiseAffine)}`);
    const dtype = options.dtype ?? 'float32';
    if (!isDType(dtype)) fail(op, `dtype must be 'float32' or 'float64', got ${fmtValue(dtype)}`);
    const filled = (v: number): Parameter => {
      const shape = [...this.normalizedShape];
      const d = allocate(dtype, shape.reduce((a, b) => a * b, 1));
      d.fill(v);
      return new Parameter(new Tensor(d, shape));
    };
    this.weight = this.registerParameter('weight', this.elementwiseAffine ? filled(1) : null);
    this.bias = this.registerParameter('bias', this.elementwiseAffine ? filled(0) : null);
  }

  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${pyTuple(this.normalizedShape)}, eps=${pyFloat(this.eps)}, elementwise_affine=${pyBool(this.elementwiseAffine)}`;
  }
}

export interface GroupNormOptions {
  eps?: number;
  /** A learnable per-channel weight (ones) and bias (zeros); false: neither. */
  affine?: boolean;
  dtype?: DType;
}

/** A [n] tensor filled with v (a norm layer's weight, bias or running statistic). */
function filled(dtype: DType, n: number, v: number): Tensor {
  const d = allocate(dtype, n);
  d.fill(v);
  return new Tensor(d, [n]);
}

function checkDType(op: string, dtype: unknown): DType {
  if (!isDType(dtype)) fail(op, `dtype must be 'float32' or 'float64', got ${fmtValue(dtype)}`);
  return dtype;
}

function checkCount(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(op, `${name} must be a positive integer, got ${fmtValue(v)}`);
  return v;
}

/**
 * Group norm, torch's nn.GroupNorm: each sample's channels in numGroups groups, each group
 * normalised with its own biased variance, the same in train and eval mode (no running
 * statistics), then a per-channel weight (ones) and bias (zeros) named as torch's stateDict keys.
 * Like torch, forward leaves the channel check to F.groupNorm: with affine, the weight's shape.
 */
export class GroupNorm extends Module {
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  readonly affine: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(numGroups: number, numChannels: number, options: GroupNormOptions = {}) {
    super();
    const op = 'GroupNorm';
    checkKnownKeys(op, options, ['eps', 'affine', 'dtype']);
    this.numGroups = checkCount(op, 'numGroups', numGroups);
    this.numChannels = checkCount(op, 'numChannels', numChannels);
    if (numChannels % numGroups !== 0) fail(op, `numChannels must be divisible by numGroups, got numChannels=${numChannels} and numGroups=${numGroups}`);
    this.eps = options.eps ?? 1e-5;
    if (typeof this.eps !== 'number' || !(this.eps >= 0) || this.eps === Infinity) fail(op, `eps must be a finite non-negative number, got ${fmtValue(this.eps)}`);
    this.affine = options.affine ?? true;
    if (typeof this.affine !== 'boolean') fail(op, `affine must be a boolean, got ${fmtValue(this.affine)}`);
    const dtype = checkDType(op, options.dtype ?? 'float32');
    this.weight = this.registerParameter('weight', this.affine ? new Parameter(filled(dtype, numChannels, 1)) : null);
    this.bias = this.registerParameter('bias', this.affine ? new Parameter(filled(dtype, numChannels, 0)) : null);
  }

  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${pyFloat(this.eps)}, affine=${pyBool(this.affine)}`;
  }
}

export interface InstanceNormOptions {
  eps?: number;
  /** Weight of the new batch in the running statistics (used only with trackRunningStats). */
  momentum?: number;
  /** A learnable per-channel weight (ones) and bias (zeros); torch's default is false. */
  affine?: boolean;
  /** Keep running_mean / running_var, updated in train mode and used in eval mode; torch's default is false. */
  trackRunningStats?: boolean;
  dtype?: DType;
}

/**
 * Instance norm, torch's nn.InstanceNorm1d/2d/3d: each (sample, channel) normalised over its
 * spatial elements (L, H·W or D·H·W) with their biased variance; the input is batched [N, C, *] or
 * unbatched [C, *]. With trackRunningStats, train mode also updates running_mean / running_var (the
 * batch mean of the instances' means and unbiased variances, momentum 0.1) and eval mode normalises
 * with them; without (the default) train and eval are the same. As torch's, it registers
 * num_batches_tracked with the running statistics but never counts it, and with affine false an
 * input whose channels differ from numFeatures is accepted (torch only warns: numFeatures is unused
 * then).
 */
abstract class InstanceNormNd extends Module {
  readonly eps: number;
  readonly momentum: number;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  /** spatialDims: 1, 2 or 3 (the class's name says which). */
  protected constructor(private readonly op: string, private readonly spatialDims: number, readonly numFeatures: number, options: InstanceNormOptions) {
    super();
    checkKnownKeys(op, options, ['eps', 'momentum', 'affine', 'trackRunningStats', 'dtype']);
    checkCount(op, 'numFeatures', numFeatures);
    this.eps = options.eps ?? 1e-5;
    if (typeof this.eps !== 'number' || !(this.eps >= 0) || this.eps === Infinity) fail(op, `eps must be a finite non-negative number, got ${fmtValue(this.eps)}`);
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    // torch 1.13 constructs with momentum=None, but then every forward fails in torch.instance_norm.
    if (typeof this.momentum !== 'number' || !(this.momentum >= 0 && this.momentum <= 1)) fail(op, `momentum must be a number in [0, 1], got ${fmtValue(options.momentum)}`);
    this.affine = options.affine ?? false;
    if (typeof this.affine !== 'boolean') fail(op, `affine must be a boolean, got ${fmtValue(this.affine)}`);
    this.trackRunningStats = options.trackRunningStats ?? false;
    if (typeof this.trackRunningStats !== 'boolean') fail(op, `trackRunningStats must be a boolean, got ${fmtValue(this.trackRunningStats)}`);
    const dtype = checkDType(op, options.dtype ?? 'float32');
    this.weight = this.registerParameter('weight', this.affine ? new Parameter(filled(dtype, numFeatures, 1)) : null);
    this.bias = this.registerParameter('bias', this.affine ? new Parameter(filled(dtype, numFeatures, 0)) : null);
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', filled(dtype, numFeatures, 0));
      this.registerBuffer('running_var', filled(dtype, numFeatures, 1));
      this.registerBuffer('num_batches_tracked', new Tensor(allocate('float64', 1), []), { integer: true });
    }
  }

  get runningMean(): Tensor | null {
    return this.trackRunningStats ? this.getBuffer('running_mean') : null;
  }

  get runningVar(): Tensor | null {
    return this.trackRunningStats ? this.getBuffer('running_var') : null;
  }

  forward(x: Tensor): Tensor {
    const { op, spatialDims: k } = this;
    if (!(x instanceof Tensor)) fail(op, `expected a Tensor input, got ${fmtValue(x)}`);
    if (x.ndim !== k + 1 && x.ndim !== k + 2) fail(op, `expected ${k + 1}D (unbatched) or ${k + 2}D input (got ${x.ndim}D input of shape ${fmtShape(x.shape)})`);
    const batchedInput = x.ndim === k + 2;
    const batched = batchedInput ? x : F.unsqueeze(x, 0);
    if (this.affine && batched.shape[1] !== this.numFeatures) {
      fail(op, `expected input's size at dim=${batchedInput ? 1 : 0} to match numFeatures (${this.numFeatures}), but got input of shape ${fmtShape(x.shape)}`);
    }
    const y = F.instanceNorm(batched, this.runningMean, this.runningVar, this.weight, this.bias, {
      useInputStats: this.training || !this.trackRunningStats, momentum: this.momentum, eps: this.eps,
    });
    return batchedInput ? y : F.squeeze(y, 0);
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${pyFloat(this.momentum)}, affine=${pyBool(this.affine)}, track_running_stats=${pyBool(this.trackRunningStats)}`;
  }
}

/** Instance norm over [N, C, L] or unbatched [C, L] (torch's nn.InstanceNorm1d; see InstanceNormNd). */
export class InstanceNorm1d extends InstanceNormNd {
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super('InstanceNorm1d', 1, numFeatures, options);
  }
}

/** Instance norm over [N, C, H, W] or unbatched [C, H, W] (torch's nn.InstanceNorm2d; see InstanceNormNd). */
export class InstanceNorm2d extends InstanceNormNd {
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super('InstanceNorm2d', 2, numFeatures, options);
  }
}

/** Instance norm over [N, C, D, H, W] or unbatched [C, D, H, W] (torch's nn.InstanceNorm3d; see InstanceNormNd). */
export class InstanceNorm3d extends InstanceNormNd {
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super('InstanceNorm3d', 3, numFeatures, options);
  }
}
