/**
 * Activation layers: each holds torch's constructor options, validates them at construction (not
 * at the first forward) and hands the math to the functional op; extraRepr prints what torch's
 * extra_repr does (inplace is not supported, so it never appears).
 */
import { checkKnownKeys, fail, fmtValue } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import type { Tensor } from '../../autograd/tensor';
import { Module } from './module';
import { pyFloat } from './repr';

function finite(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(op, `${name} must be a finite number, got ${fmtValue(v)}`);
  return v;
}

function requiredDim(op: string, dim: unknown): number {
  if (dim === undefined) fail(op, 'dim is required (torch infers one from the input rank with a deprecation warning; pass it, e.g. new nn.Softmax(1))');
  if (typeof dim !== 'number' || !Number.isInteger(dim)) fail(op, `dim must be an integer, got ${fmtValue(dim)}`);
  return dim;
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return F.sigmoid(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return F.tanh(x);
  }
}

export class LeakyReLU extends Module {
  readonly negativeSlope: number;

  constructor(negativeSlope = 0.01) {
    super();
    this.negativeSlope = finite('LeakyReLU', 'negativeSlope', negativeSlope);
  }

  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.negativeSlope);
  }

  override extraRepr(): string {
    return `negative_slope=${pyFloat(this.negativeSlope)}`;
  }
}

export class ELU extends Module {
  readonly alpha: number;

  constructor(alpha = 1) {
    super();
    this.alpha = finite('ELU', 'alpha', alpha);
  }

  forward(x: Tensor): Tensor {
    return F.elu(x, this.alpha);
  }

  override extraRepr(): string {
    return `alpha=${pyFloat(this.alpha)}`;
  }
}

export class SELU extends Module {
  forward(x: Tensor): Tensor {
    return F.selu(x);
  }
}

export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return F.silu(x);
  }
}

export class Mish extends Module {
  forward(x: Tensor): Tensor {
    return F.mish(x);
  }
}

export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';

  constructor(options: F.GeluOptions = {}) {
    super();
    if (typeof options === 'string') fail('GELU', `options must be an object, as new GELU({ approximate: ${JSON.stringify(options)} }), got the string ${JSON.stringify(options)}`);
    checkKnownKeys('GELU', options, ['approximate']);
    const approximate = options.approximate ?? 'none';
    if (approximate !== 'none' && approximate !== 'tanh') fail('GELU', `approximate must be 'none' or 'tanh', got ${fmtValue(approximate)}`);
    this.approximate = approximate;
  }

  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }

  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

export class Softplus extends Module {
  readonly beta: number;
  readonly threshold: number;

  constructor(beta = 1, threshold = 20) {
    super();
    this.beta = finite('Softplus', 'beta', beta);
    this.threshold = finite('Softplus', 'threshold', threshold);
    if (this.beta === 0) fail('Softplus', 'beta must be non-zero (the result divides by it), got 0');
  }

  forward(x: Tensor): Tensor {
    return F.softplus(x, this.beta, this.threshold);
  }

  // torch's defaults are the ints 1 and 20, printed without a decimal point; any other value is
  // printed as the Python float it would be (1e-05, not JavaScript's 0.00001).
  override extraRepr(): string {
    const py = (v: number): string => (Number.isInteger(v) ? String(v) : pyFloat(v));
    return `beta=${py(this.beta)}, threshold=${py(this.threshold)}`;
  }
}

export class Hardtanh extends Module {
  readonly minVal: number;
  readonly maxVal: number;

  constructor(minVal = -1, maxVal = 1) {
    super();
    const op = this.constructor.name;
    this.minVal = finite(op, 'minVal', minVal);
    this.maxVal = finite(op, 'maxVal', maxVal);
    // torch's Hardtanh asserts max_val > min_val.
    if (!(this.maxVal > this.minVal)) fail(op, `maxVal must be greater than minVal, got minVal=${this.minVal}, maxVal=${this.maxVal}`);
  }

  forward(x: Tensor): Tensor {
    return F.hardtanh(x, this.minVal, this.maxVal);
  }

  override extraRepr(): string {
    return `min_val=${pyFloat(this.minVal)}, max_val=${pyFloat(this.maxVal)}`;
  }
}

/** Hardtanh(0, 6), as torch's ReLU6 (which prints no options). */
export class ReLU6 extends Hardtanh {
  constructor() {
    super(0, 6);
  }

  override forward(x: Tensor): Tensor {
    return F.relu6(x);
  }

  override extraRepr(): string {
    return '';
  }
}

export class LogSigmoid extends Module {
  forward(x: Tensor): Tensor {
    return F.logSigmoid(x);
  }
}

export class Softmax extends Module {
  readonly dim: number;

  constructor(dim: number) {
    super();
    this.dim = requiredDim('Softmax', dim);
  }

  forward(x: Tensor): Tensor {
    return F.softmax(x, this.dim);
  }

  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

export class LogSoftmax extends Module {
  readonly dim: number;

  constructor(dim: number) {
    super();
    this.dim = requiredDim('LogSoftmax', dim);
  }

  forward(x: Tensor): Tensor {
    return F.logSoftmax(x, this.dim);
  }

  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}
