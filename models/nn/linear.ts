import { allocate, type DType } from '../../lib/core/dtype';
import { fail, fmtValue } from '../../lib/core/errors';
import { checkKnownKeys } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { defaultLayerInit_ } from './init';
import { Module, Parameter } from './module';
import { pyBool } from './repr';

/** y = x·Wᵀ + b with W [out, in]. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: { bias?: boolean; dtype?: DType } = {}) {
    super();
    checkKnownKeys('Linear', options, ['bias', 'dtype']);
    if (!Number.isInteger(inFeatures) || inFeatures < 1) fail('Linear', `inFeatures must be a positive integer, got ${fmtValue(inFeatures)}`);
    if (!Number.isInteger(outFeatures) || outFeatures < 1) fail('Linear', `outFeatures must be a positive integer, got ${fmtValue(outFeatures)}`);
    const dtype = options.dtype ?? 'float32';
    this.weight = this.registerParameter('weight', new Parameter(new Tensor(allocate(dtype, outFeatures * inFeatures), [outFeatures, inFeatures])));
    this.bias = this.registerParameter('bias', options.bias ?? true ? new Parameter(new Tensor(allocate(dtype, outFeatures), [outFeatures])) : null);
    defaultLayerInit_(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}
