import { allocate, isDType, type DType } from '../../lib/core/dtype';
import { checkKnownKeys, fail, fmtValue } from '../../lib/core/errors';
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
    this.normalizedShape = F.checkNormalizedShape(op, normalizedShape);
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
