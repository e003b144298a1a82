/**
 * torch.nn's padding layers: ConstantPad1d/2d, ZeroPad2d, ReflectionPad1d/2d, ReplicationPad1d/2d.
 * Each holds its padding as torch stores it (an integer becomes the same amount on every side) and
 * calls F.pad; the input's rank is F.pad's to check, as torch's modules leave it to F.pad. Printed
 * as torch 1.13 prints them.
 */
import * as F from '../../autograd/functional';
import type { Tensor } from '../../autograd/tensor';
import { fail, fmtValue } from '../../lib/core/errors';
import { Module } from './module';
import { pyFloat, pyTuple } from './repr';

/** torch's _pair / _quadruple of a padding: an integer repeated `n` times, or a list of exactly `n` integers (negatives crop). */
function padTuple(op: string, padding: unknown, n: 2 | 4): number[] {
  if (typeof padding === 'number' && Number.isInteger(padding)) return new Array<number>(n).fill(padding);
  if (!Array.isArray(padding) || padding.length !== n || !padding.every((p) => typeof p === 'number' && Number.isInteger(p))) {
    fail(op, `padding must be an integer or a list of ${n} integers (${n === 2 ? 'left, right' : 'left, right, top, bottom'}), got ${fmtValue(padding)}`);
  }
  return [...(padding as number[])];
}

/** Base of the padding layers: the padding and mode, and torch's forward F.pad(input, padding, mode). */
abstract class PadNd extends Module {
  readonly padding: readonly number[];

  protected constructor(op: string, padding: unknown, n: 2 | 4, private readonly mode: F.PadMode) {
    super();
    this.padding = padTuple(op, padding, n);
  }

  forward(x: Tensor): Tensor {
    return F.pad(x, this.padding, this.mode);
  }

  /** torch's _ReflectionPadNd / _ReplicationPadNd: the padding tuple alone. */
  override extraRepr(): string {
    return pyTuple(this.padding);
  }
}

/** Pads with a constant value; torch's _ConstantPadNd. */
abstract class ConstantPadNd extends PadNd {
  protected constructor(op: string, padding: unknown, n: 2 | 4, readonly value: number) {
    super(op, padding, n, 'constant');
    if (typeof value !== 'number') fail(op, `value must be a number, got ${fmtValue(value)}`);
  }

  override forward(x: Tensor): Tensor {
    return F.pad(x, this.padding, 'constant', this.value);
  }

  /** torch's: padding=(…), value=… (value as the Python float torch's annotation makes it). */
  override extraRepr(): string {
    return `padding=${pyTuple(this.padding)}, value=${pyFloat(this.value)}`;
  }
}

/** Pads the last dim by (left, right) with `value` (any input rank F.pad takes). */
export class ConstantPad1d extends ConstantPadNd {
  constructor(padding: number | readonly [number, number], value: number) {
    super('ConstantPad1d', padding, 2, value);
  }
}

/** Pads the last two dims by (left, right, top, bottom) with `value`. */
export class ConstantPad2d extends ConstantPadNd {
  constructor(padding: number | readonly [number, number, number, number], value: number) {
    super('ConstantPad2d', padding, 4, value);
  }
}

/** ConstantPad2d with zeros; printed by torch 1.13 with its value=0.0. */
export class ZeroPad2d extends ConstantPadNd {
  constructor(padding: number | readonly [number, number, number, number]) {
    super('ZeroPad2d', padding, 4, 0);
  }
}

/** Reflection about the edge element of the last dim of [C, W] or [N, C, W]; each side less than W. */
export class ReflectionPad1d extends PadNd {
  constructor(padding: number | readonly [number, number]) {
    super('ReflectionPad1d', padding, 2, 'reflect');
  }
}

/** Reflection about the edge elements of the last two dims of [C, H, W] or [N, C, H, W]; each side less than its dim. */
export class ReflectionPad2d extends PadNd {
  constructor(padding: number | readonly [number, number, number, number]) {
    super('ReflectionPad2d', padding, 4, 'reflect');
  }
}

/** The edge element repeated along the last dim of [C, W] or [N, C, W]. */
export class ReplicationPad1d extends PadNd {
  constructor(padding: number | readonly [number, number]) {
    super('ReplicationPad1d', padding, 2, 'replicate');
  }
}

/** The edge elements repeated along the last two dims of [C, H, W] or [N, C, H, W]. */
export class ReplicationPad2d extends PadNd {
  constructor(padding: number | readonly [number, number, number, number]) {
    super('ReplicationPad2d', padding, 4, 'replicate');
  }
}
