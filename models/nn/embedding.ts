/**
 * nn.Embedding: a lookup table of numEmbeddings rows of size embeddingDim (torch.nn.Embedding, in
 * torch's sparse.py). The weight is the one parameter, stateDict key `weight`, initialised N(0, 1)
 * from the seeded generator as torch's reset_parameters, with the padding row then zeroed; the
 * lookup and its gradient are F.embedding's.
 */
import { allocate, isDType, type DType } from '../../lib/core/dtype';
import { checkKnownKeys, fail, fmtValue } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import { embeddingOptions } from '../../autograd/checks';
import { Tensor } from '../../autograd/tensor';
import { normal_ } from './init';
import { Module, Parameter } from './module';
import { pyBool, pyFloat } from './repr';

export interface EmbeddingModuleOptions extends F.EmbeddingOptions {
  dtype?: DType;
}

export class Embedding extends Module {
  readonly weight: Parameter;
  /** Normalised to [0, numEmbeddings) as torch stores it; null for none. */
  readonly paddingIdx: number | null;
  readonly maxNorm: number | null;
  readonly normType: number;
  readonly scaleGradByFreq: boolean;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, options: EmbeddingModuleOptions = {}) {
    super();
    const op = 'Embedding';
    checkKnownKeys(op, options, ['paddingIdx', 'maxNorm', 'normType', 'scaleGradByFreq', 'sparse', 'dtype']);
    if (!Number.isInteger(numEmbeddings) || numEmbeddings < 0) fail(op, `numEmbeddings must be a non-negative integer, got ${fmtValue(numEmbeddings)}`);
    if (!Number.isInteger(embeddingDim) || embeddingDim < 0) fail(op, `embeddingDim must be a non-negative integer, got ${fmtValue(embeddingDim)}`);
    const { dtype = 'float32', ...rest } = options;
    if (!isDType(dtype)) fail(op, `dtype must be 'float32' or 'float64', got ${fmtValue(dtype)}`);
    const o = embeddingOptions(op, rest, numEmbeddings);
    this.paddingIdx = o.paddingIdx === -1 ? null : o.paddingIdx;
    this.maxNorm = o.maxNorm;
    this.normType = o.normType;
    this.scaleGradByFreq = o.scaleGradByFreq;
    this.weight = this.registerParameter('weight', new Parameter(new Tensor(allocate(dtype, numEmbeddings * embeddingDim), [numEmbeddings, embeddingDim])));
    normal_(this.weight);
    if (this.paddingIdx !== null) {
      const d = this.weight.data;
      d.fill(0, this.paddingIdx * embeddingDim, (this.paddingIdx + 1) * embeddingDim);
    }
  }

  private functionalOptions(): F.EmbeddingOptions {
    return { paddingIdx: this.paddingIdx, maxNorm: this.maxNorm, normType: this.normType, scaleGradByFreq: this.scaleGradByFreq };
  }

  /** Indices of any shape (a Tensor or an array of whole numbers) to input.shape + [embeddingDim]. */
  forward(input: Tensor | ArrayLike<number>): Tensor {
    return F.embedding(input, this.weight, this.functionalOptions());
  }

  override extraRepr(): string {
    let s = `${this.numEmbeddings}, ${this.embeddingDim}`;
    if (this.paddingIdx !== null) s += `, padding_idx=${this.paddingIdx}`;
    if (this.maxNorm !== null) s += `, max_norm=${pyFloat(this.maxNorm)}`;
    if (this.normType !== 2) s += `, norm_type=${pyFloat(this.normType)}`;
    if (this.scaleGradByFreq) s += `, scale_grad_by_freq=${pyBool(true)}`;
    return s;
  }
}
