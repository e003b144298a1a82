import { fail, fmtValue } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import type { Tensor } from '../../autograd/tensor';
import { Module } from './module';
import { pyFloat } from './repr';

/** Inverted dropout in train mode, identity in eval mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail('Dropout', `p must be in [0, 1], got ${fmtValue(p)}`);
  }

  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }

  override extraRepr(): string {
    return `p=${pyFloat(this.p)}, inplace=False`;
  }
}

/**
 * Channel dropout (torch's nn.Dropout2d): in train mode each whole channel of [N, C, H, W] is zeroed
 * with probability p and the kept ones scaled by 1/(1 − p); identity in eval mode. A 3-d input is
 * taken as [N, C, L], as torch 1.13 does (see F.dropout2d).
 */
export class Dropout2d extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) fail('Dropout2d', `p must be in [0, 1], got ${fmtValue(p)}`);
  }

  forward(x: Tensor): Tensor {
    return F.dropout2d(x, this.p, this.training);
  }

  override extraRepr(): string {
    return `p=${pyFloat(this.p)}, inplace=False`;
  }
}
