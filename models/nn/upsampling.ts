/**
 * nn.Upsample, nn.PixelShuffle and nn.PixelUnshuffle: modules that hold their settings and call
 * F.interpolate / F.pixelShuffle / F.pixelUnshuffle, printed as torch 1.13 prints them.
 */
import * as F from '../../autograd/functional';
import type { Tensor } from '../../autograd/tensor';
import { checkKnownKeys, fail, fmtValue } from '../../lib/core/errors';
import { Module } from './module';
import { pyFloat } from './repr';

export interface UpsampleOptions {
  size?: number | readonly number[] | null;
  scaleFactor?: number | readonly number[] | null;
  mode?: F.InterpolateMode;
  alignCorners?: boolean | null;
  recomputeScaleFactor?: boolean | null;
}

/** A Python repr of an int or a tuple of them (torch prints what it was given; a TS array reads as a tuple). */
const pySize = (v: number | readonly number[]): string => (typeof v === 'number' ? String(v) : v.length === 1 ? `(${v[0]},)` : `(${v.join(', ')})`);

/**
 * Upsamples [N, C, L] or [N, C, H, W] inputs by F.interpolate with its settings (torch's nn.Upsample;
 * mode 'nearest' by default). The settings are checked here as F.interpolate checks them, so a bad
 * combination fails when the layer is built, not at its first forward.
 */
export class Upsample extends Module {
  readonly size: number | readonly number[] | null;
  readonly scaleFactor: number | readonly number[] | null;
  readonly mode: F.InterpolateMode;
  readonly alignCorners: boolean | null;
  readonly recomputeScaleFactor: boolean | null;

  constructor(options: UpsampleOptions) {
    super();
    const op = 'Upsample';
    if (options === null || typeof options !== 'object') fail(op, `options must be an object with a size or a scaleFactor, got ${fmtValue(options)}`);
    checkKnownKeys(op, options, ['size', 'scaleFactor', 'mode', 'alignCorners', 'recomputeScaleFactor']);
    this.size = options.size ?? null;
    this.scaleFactor = options.scaleFactor ?? null;
    this.mode = options.mode ?? 'nearest';
    this.alignCorners = options.alignCorners ?? null;
    this.recomputeScaleFactor = options.recomputeScaleFactor ?? null;
    if (this.size !== null && this.scaleFactor !== null) fail(op, 'only one of size and scaleFactor may be given');
    if (this.size === null && this.scaleFactor === null) fail(op, 'either size or scaleFactor must be given');
    if (this.mode !== 'nearest' && this.mode !== 'linear' && this.mode !== 'bilinear') {
      fail(op, `mode must be 'nearest', 'linear' or 'bilinear', got ${fmtValue(this.mode)}`);
    }
    if (this.mode === 'nearest' && this.alignCorners !== null) {
      fail(op, `alignCorners can only be set with the interpolating modes 'linear' and 'bilinear', not with mode 'nearest'`);
    }
  }

  forward(x: Tensor): Tensor {
    return F.interpolate(x, {
      size: this.size, scaleFactor: this.scaleFactor, mode: this.mode, alignCorners: this.alignCorners, recomputeScaleFactor: this.recomputeScaleFactor,
    });
  }

  /** torch's: scale_factor (as floats) when given, else size; then the mode (align_corners is not shown). */
  override extraRepr(): string {
    const sf = this.scaleFactor;
    const info = sf !== null
      ? `scale_factor=${typeof sf === 'number' ? pyFloat(sf) : sf.length === 1 ? `(${pyFloat(sf[0])},)` : `(${sf.map(pyFloat).join(', ')})`}`
      : `size=${pySize(this.size!)}`;
    return `${info}, mode=${this.mode}`;
  }
}

/** [*, C·r², H, W] → [*, C, H·r, W·r] (torch's nn.PixelShuffle). */
export class PixelShuffle extends Module {
  constructor(readonly upscaleFactor: number) {
    super();
    if (typeof upscaleFactor !== 'number' || !Number.isInteger(upscaleFactor) || upscaleFactor < 1) {
      fail('PixelShuffle', `upscaleFactor must be a positive integer, got ${fmtValue(upscaleFactor)}`);
    }
  }

  forward(x: Tensor): Tensor {
    return F.pixelShuffle(x, this.upscaleFactor);
  }

  override extraRepr(): string {
    return `upscale_factor=${this.upscaleFactor}`;
  }
}

/** [*, C, H·r, W·r] → [*, C·r², H, W] (torch's nn.PixelUnshuffle). */
export class PixelUnshuffle extends Module {
  constructor(readonly downscaleFactor: number) {
    super();
    if (typeof downscaleFactor !== 'number' || !Number.isInteger(downscaleFactor) || downscaleFactor < 1) {
      fail('PixelUnshuffle', `downscaleFactor must be a positive integer, got ${fmtValue(downscaleFactor)}`);
    }
  }

  forward(x: Tensor): Tensor {
    return F.pixelUnshuffle(x, this.downscaleFactor);
  }

  override extraRepr(): string {
    return `downscale_factor=${this.downscaleFactor}`;
  }
}
