import { allocate, type DType } from '../../lib/core/dtype';
import { fail, fmtShape, fmtValue } from '../../lib/core/errors';
import { checkKnownKeys } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { Module, Parameter } from './module';
import { pyBool, pyFloat } from './repr';

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch in the running statistics; null = cumulative average (PyTorch's None). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  dtype?: DType;
}

/**
 * Batch norm over the channel dim, PyTorch semantics: train mode normalises with the biased batch
 * variance and updates running_mean / running_var (unbiased) with momentum 0.1; eval mode uses the
 * running statistics only. γ = 1, β = 0 at construction.
 */
abstract class BatchNormBase extends Module {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  constructor(readonly numFeatures: number, options: BatchNormOptions = {}) {
    super();
    const op = this.constructor.name;
    checkKnownKeys(op, options, ['eps', 'momentum', 'affine', 'trackRunningStats', 'dtype']);
    if (!Number.isInteger(numFeatures) || numFeatures < 1) fail(op, `numFeatures must be a positive integer, got ${fmtValue(numFeatures)}`);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    // The same ranges F.batchNorm checks, here at construction rather than at the first forward.
    if (this.momentum !== null && (typeof this.momentum !== 'number' || !(this.momentum >= 0 && this.momentum <= 1))) {
      fail(op, `momentum must be in [0, 1] or null (a cumulative average), got ${fmtValue(this.momentum)}`);
    }
    if (typeof this.eps !== 'number' || !(this.eps >= 0) || this.eps === Infinity) fail(op, `eps must be a finite non-negative number, got ${fmtValue(this.eps)}`);
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    const dtype = options.dtype ?? 'float32';
    const vec = (v: number): Tensor => {
      const d = allocate(dtype, numFeatures);
      d.fill(v);
      return new Tensor(d, [numFeatures]);
    };
    this.weight = this.registerParameter('weight', this.affine ? new Parameter(vec(1)) : null);
    this.bias = this.registerParameter('bias', this.affine ? new Parameter(vec(0)) : null);
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', vec(0));
      this.registerBuffer('running_var', vec(1));
      this.registerBuffer('num_batches_tracked', new Tensor(allocate('float64', 1), []), { integer: true });
    }
  }

  get runningMean(): Tensor | null {
    return this.trackRunningStats ? this.getBuffer('running_mean') : null;
  }

  get runningVar(): Tensor | null {
    return this.trackRunningStats ? this.getBuffer('running_var') : null;
  }

  get numBatchesTracked(): number {
    return this.trackRunningStats ? this.getBuffer('num_batches_tracked').item() : 0;
  }

  protected abstract checkInput(x: Tensor): void;

  forward(x: Tensor): Tensor {
    return this.normalize(x, false);
  }

  /**
   * relu(this.forward(x)) as one fused op (the same values, statistics and gradients; one output
   * tensor instead of two): what a network's bn → relu calls.
   */
  forwardRelu(x: Tensor): Tensor {
    return this.normalize(x, true, null);
  }

  /**
   * relu(this.forward(x) + residual) as one fused op (bit for bit the same values, statistics and
   * gradients, the residual's included; one output tensor instead of three): a residual block's end.
   */
  forwardAddRelu(x: Tensor, residual: Tensor): Tensor {
    return this.normalize(x, true, residual);
  }

  private normalize(x: Tensor, relu: boolean, residual: Tensor | null = null): Tensor {
    this.checkInput(x);
    if (x.shape[1] !== this.numFeatures) {
      fail(this.constructor.name, `expected ${this.numFeatures} channels, got input of shape ${fmtShape(x.shape)}`);
    }
    let factor = this.momentum ?? 0;
    if (this.training && this.trackRunningStats) {
      const nbt = this.getBuffer('num_batches_tracked');
      nbt.storage[nbt.offset] += 1;
      factor = this.momentum ?? 1 / nbt.item();
    }
    const useBatchStats = this.training || !this.trackRunningStats;
    const track = !this.training || this.trackRunningStats;
    return F.batchNorm(x, track ? this.runningMean : null, track ? this.runningVar : null, this.weight, this.bias, {
      training: useBatchStats, momentum: factor, eps: this.eps, relu, residual,
    });
  }

  override extraRepr(): string {
    const m = this.momentum === null ? 'None' : pyFloat(this.momentum);
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${m}, affine=${pyBool(this.affine)}, track_running_stats=${pyBool(this.trackRunningStats)}`;
  }
}

export class BatchNorm2d extends BatchNormBase {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4) fail('BatchNorm2d', `expected 4D input (got ${x.ndim}D input of shape ${fmtShape(x.shape)})`);
  }
}

export class BatchNorm1d extends BatchNormBase {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) fail('BatchNorm1d', `expected 2D or 3D input (got ${x.ndim}D input of shape ${fmtShape(x.shape)})`);
  }
}
