import * as F from '../../autograd/functional';
import type { Tensor } from '../../autograd/tensor';
import { pair, single } from '../../lib/core/shape';
import { checkKnownKeys, fail, fmtValue } from '../../lib/core/errors';
import { Module } from './module';
import { pyBool, pyTuple } from './repr';

type IntOrPair = number | readonly number[];
const show = (v: IntOrPair): string => (typeof v === 'number' ? String(v) : pyTuple(v));

export class MaxPool2d extends Module {
  readonly kernelSize: IntOrPair;
  readonly stride: IntOrPair;
  readonly padding: IntOrPair;
  readonly dilation: IntOrPair;
  readonly ceilMode: boolean;

  constructor(kernelSize: IntOrPair, options: { stride?: IntOrPair; padding?: IntOrPair; dilation?: IntOrPair; ceilMode?: boolean } = {}) {
    super();
    checkKnownKeys('MaxPool2d', options, ['stride', 'padding', 'dilation', 'ceilMode']);
    pair('MaxPool2d', 'kernelSize', kernelSize, 1);
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.ceilMode = options.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode });
  }

  override extraRepr(): string {
    return `kernel_size=${show(this.kernelSize)}, stride=${show(this.stride)}, padding=${show(this.padding)}, dilation=${show(this.dilation)}, ceil_mode=${pyBool(this.ceilMode)}`;
  }
}

export class AvgPool2d extends Module {
  readonly kernelSize: IntOrPair;
  readonly stride: IntOrPair;
  readonly padding: IntOrPair;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | undefined;

  constructor(kernelSize: IntOrPair, options: { stride?: IntOrPair; padding?: IntOrPair; ceilMode?: boolean; countIncludePad?: boolean; divisorOverride?: number } = {}) {
    super();
    checkKnownKeys('AvgPool2d', options, ['stride', 'padding', 'ceilMode', 'countIncludePad', 'divisorOverride']);
    pair('AvgPool2d', 'kernelSize', kernelSize, 1);
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
    this.ceilMode = options.ceilMode ?? false;
    this.countIncludePad = options.countIncludePad ?? true;
    this.divisorOverride = options.divisorOverride;
  }

  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, {
      kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, ceilMode: this.ceilMode,
      countIncludePad: this.countIncludePad, divisorOverride: this.divisorOverride,
    });
  }

  override extraRepr(): string {
    return `kernel_size=${show(this.kernelSize)}, stride=${show(this.stride)}, padding=${show(this.padding)}`;
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | readonly (number | null)[]) {
    super();
  }

  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }

  override extraRepr(): string {
    const o = this.outputSize;
    return `output_size=${typeof o === 'number' ? o : `(${o.map((v) => (v === null ? 'None' : v)).join(', ')})`}`;
  }
}

/**
 * Max pooling to a fixed output size (torch's nn.AdaptiveMaxPool2d); a null entry keeps that input
 * dim. forward returns the pooled values; forwardWithIndices also returns the indices of the maxima
 * (torch's return_indices=True, a separate method because forward returns one Tensor).
 */
export class AdaptiveMaxPool2d extends Module {
  constructor(readonly outputSize: number | readonly (number | null)[]) {
    super();
    const ok = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 1);
    const valid = typeof outputSize === 'number' ? ok(outputSize) : Array.isArray(outputSize) && outputSize.length === 2 && outputSize.every(ok);
    if (!valid) fail('AdaptiveMaxPool2d', `outputSize must be a positive integer or a pair of them (null keeps that dim), got ${fmtValue(outputSize)}`);
  }

  forward(x: Tensor): Tensor {
    return F.adaptiveMaxPool2d(x, this.outputSize);
  }

  forwardWithIndices(x: Tensor): [Tensor, Tensor] {
    return F.adaptiveMaxPool2d(x, this.outputSize, true);
  }

  override extraRepr(): string {
    const o = this.outputSize;
    return `output_size=${typeof o === 'number' ? o : `(${o.map((v) => (v === null ? 'None' : v)).join(', ')})`}`;
  }
}

/**
 * The 1-d pools store their sizes as torch does, so they print alike: MaxPool1d keeps what it was
 * given (kernel_size=3), AvgPool1d makes one-element tuples (kernel_size=(3,)), as torch's _single.
 */
export class MaxPool1d extends Module {
  readonly kernelSize: IntOrPair;
  readonly stride: IntOrPair;
  readonly padding: IntOrPair;
  readonly dilation: IntOrPair;
  readonly ceilMode: boolean;

  constructor(kernelSize: IntOrPair, options: { stride?: IntOrPair | null; padding?: IntOrPair; dilation?: IntOrPair; ceilMode?: boolean } = {}) {
    super();
    checkKnownKeys('MaxPool1d', options, ['stride', 'padding', 'dilation', 'ceilMode']);
    single('MaxPool1d', 'kernelSize', kernelSize, 1);
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.ceilMode = options.ceilMode ?? false;
  }

  forward(x: Tensor): Tensor {
    return F.maxPool1d(x, { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode });
  }

  override extraRepr(): string {
    return `kernel_size=${show(this.kernelSize)}, stride=${show(this.stride)}, padding=${show(this.padding)}, dilation=${show(this.dilation)}, ceil_mode=${pyBool(this.ceilMode)}`;
  }
}

export class AvgPool1d extends Module {
  readonly kernelSize: [number];
  readonly stride: [number];
  readonly padding: [number];
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;

  constructor(kernelSize: IntOrPair, options: { stride?: IntOrPair | null; padding?: IntOrPair; ceilMode?: boolean; countIncludePad?: boolean } = {}) {
    super();
    const op = 'AvgPool1d';
    checkKnownKeys(op, options, ['stride', 'padding', 'ceilMode', 'countIncludePad']);
    this.kernelSize = [single(op, 'kernelSize', kernelSize, 1)];
    this.stride = [single(op, 'stride', options.stride ?? kernelSize, 1)];
    this.padding = [single(op, 'padding', options.padding ?? 0, 0)];
    this.ceilMode = options.ceilMode ?? false;
    this.countIncludePad = options.countIncludePad ?? true;
  }

  forward(x: Tensor): Tensor {
    return F.avgPool1d(x, {
      kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad,
    });
  }

  override extraRepr(): string {
    return `kernel_size=${pyTuple(this.kernelSize)}, stride=${pyTuple(this.stride)}, padding=${pyTuple(this.padding)}`;
  }
}

export class AdaptiveAvgPool1d extends Module {
  constructor(readonly outputSize: number | readonly number[]) {
    super();
    single('AdaptiveAvgPool1d', 'outputSize', outputSize, 1);
  }

  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool1d(x, this.outputSize);
  }

  override extraRepr(): string {
    return `output_size=${show(this.outputSize)}`;
  }
}
