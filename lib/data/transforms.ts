/**
 * Per-image transforms for 3×32×32 CHW images: the standard CIFAR-10 augmentation (random
 * 32×32 crop of the image zero-padded by 4, random horizontal flip) and the byte → float
 * conversion (scale to [0,1], optionally normalise each channel with the CIFAR-10 statistics).
 *
 * Geometry goes through strided ndarray views, where a crop is a `lo`/`hi` window and a flip is
 * `step(-1)`, copied by ndarray-ops' compiled `assign`. The value mapping is a 256-entry table
 * per channel applied with a plain loop: ndarray-ops has no fused multiply-add, and two passes
 * through its per-call machinery would cost more than the lookup.
 */
import { FloatArray } from '../core/dtype';
import { Random } from '../random';
import { CHANNELS, HEIGHT, IMAGE_BYTES, WIDTH } from './dataset';
import { NdView, ViewData, assign, view } from './ndarray_view';
import { fmtValue } from '../core/errors';

/** Per-channel (R, G, B) mean of the CIFAR-10 training images, on the [0,1] scale. */
export const CIFAR10_MEAN: readonly [number, number, number] = [0.4914, 0.4822, 0.4465];
/** Per-channel (R, G, B) standard deviation of the CIFAR-10 training images, on the [0,1] scale. */
export const CIFAR10_STD: readonly [number, number, number] = [0.247, 0.2435, 0.2616];
/** Zero padding on each side before the random 32×32 crop. */
export const CROP_PADDING = 4;

const PLANE = HEIGHT * WIDTH;

function fmt(xs: readonly number[]): string {
  return `[${xs.join(',')}]`;
}

/**
 * One draw of the augmentation. `top`/`left` is the crop's corner in the padded image, in
 * [0, 2·padding]; (padding, padding) reproduces the original image. `flip` mirrors the crop
 * left to right.
 */
export interface CropFlipParams {
  top: number;
  left: number;
  flip: boolean;
}

/** Draws crop corner and flip from `rng`, in that order (top, left, flip), so seeds reproduce. */
export function sampleCropFlip(rng: Random, padding = CROP_PADDING): CropFlipParams {
  if (!(rng instanceof Random)) throw new Error('sampleCropFlip: rng must be a Random');
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`sampleCropFlip: padding must be a non-negative integer, got ${fmtValue(padding)}`);
  const top = rng.integer(0, 2 * padding + 1);
  const left = rng.integer(0, 2 * padding + 1);
  const flip = rng.bernoulli(0.5);
  return { top, left, flip };
}

/**
 * Random-crop-with-padding and horizontal flip of 3×32×32 images. Holds one zero-bordered
 * 3×(32+2p)×(32+2p) scratch image: each call copies the source into its centre (the border is
 * never written, so it stays zero) and copies the requested window out. Not re-entrant: one
 * instance per loader.
 */
export class CropFlip {
  readonly padding: number;
  private readonly centre: NdView<Uint8Array>;
  /** windows[top][left], built once so a call allocates no views of the scratch image. */
  private readonly windows: NdView<Uint8Array>[][];
  private readonly flipped: NdView<Uint8Array>[][];

  constructor(padding = CROP_PADDING) {
    if (!Number.isInteger(padding) || padding < 0 || padding > 32) {
      throw new Error(`CropFlip: padding must be an integer in [0, 32], got ${fmtValue(padding)}`);
    }
    this.padding = padding;
    const ph = HEIGHT + 2 * padding;
    const pw = WIDTH + 2 * padding;
    const padded = view(new Uint8Array(CHANNELS * ph * pw), [CHANNELS, ph, pw]);
    this.centre = padded.lo(null, padding, padding).hi(null, HEIGHT, WIDTH);
    this.windows = [];
    this.flipped = [];
    for (let top = 0; top <= 2 * padding; top++) {
      const row: NdView<Uint8Array>[] = [];
      const frow: NdView<Uint8Array>[] = [];
      for (let left = 0; left <= 2 * padding; left++) {
        const w = padded.lo(null, top, left).hi(null, HEIGHT, WIDTH);
        row.push(w);
        frow.push(w.step(null, null, -1));
      }
      this.windows.push(row);
      this.flipped.push(frow);
    }
  }

  /** Writes the crop/flip of `src` (a 3×32×32 byte view) into `dst` (a 3×32×32 view of any element type). */
  apply<D extends ViewData>(src: NdView<Uint8Array>, dst: NdView<D>, params: CropFlipParams): void {
    checkImageView('CropFlip.apply', 'src', src);
    checkImageView('CropFlip.apply', 'dst', dst);
    const span = 2 * this.padding;
    const { top, left, flip } = params ?? ({} as CropFlipParams);
    if (!Number.isInteger(top) || top < 0 || top > span || !Number.isInteger(left) || left < 0 || left > span) {
      throw new Error(`CropFlip.apply: crop corner (top=${top}, left=${left}) must be integers in [0, ${span}] for padding ${this.padding}`);
    }
    if (typeof flip !== 'boolean') throw new Error(`CropFlip.apply: flip must be a boolean, got ${String(flip)}`);
    assign(this.centre, src);
    assign(dst, flip ? this.flipped[top][left] : this.windows[top][left]);
  }
}

function checkImageView(op: string, name: string, v: NdView<ViewData>): void {
  if (!(v instanceof NdView)) throw new Error(`${op}: ${name} must be an NdView`);
  const s = v.shape;
  if (s.length !== 3 || s[0] !== CHANNELS || s[1] !== HEIGHT || s[2] !== WIDTH) {
    throw new Error(`${op}: ${name} must have shape [3,32,32], got ${fmt(s)}`);
  }
}

/**
 * A byte → float lookup table, 3×256 entries, entry c·256+b the value of byte b in channel c.
 * Building values in float64 and rounding once on store makes the float32 output equal to the
 * correctly rounded (b/255 − mean)/std.
 */
export type PixelTable = Float64Array;

/** The table mapping 0..255 to [0,1]. */
export function scaleTable(): PixelTable {
  const t = new Float64Array(CHANNELS * 256);
  for (let c = 0; c < CHANNELS; c++) for (let b = 0; b < 256; b++) t[c * 256 + b] = b / 255;
  return t;
}

/** The table mapping byte b of channel c to (b/255 − mean[c]) / std[c]. */
export function normalizeTable(
  mean: readonly number[] = CIFAR10_MEAN,
  std: readonly number[] = CIFAR10_STD,
): PixelTable {
  checkStats('normalizeTable', mean, std);
  const t = new Float64Array(CHANNELS * 256);
  for (let c = 0; c < CHANNELS; c++) for (let b = 0; b < 256; b++) t[c * 256 + b] = (b / 255 - mean[c]) / std[c];
  return t;
}

function checkStats(op: string, mean: readonly number[], std: readonly number[]): void {
  if (!Array.isArray(mean) || mean.length !== CHANNELS || !mean.every((m) => Number.isFinite(m))) {
    throw new Error(`${op}: mean must be 3 finite numbers, got ${JSON.stringify(mean)}`);
  }
  if (!Array.isArray(std) || std.length !== CHANNELS || !std.every((s) => Number.isFinite(s) && s > 0)) {
    throw new Error(`${op}: std must be 3 positive finite numbers, got ${JSON.stringify(std)}`);
  }
}

function checkTable(op: string, table: PixelTable): void {
  if (!(table instanceof Float64Array) || table.length !== CHANNELS * 256) {
    throw new Error(`${op}: table must be a Float64Array of 768 entries (from scaleTable/normalizeTable)`);
  }
}

function checkRange(op: string, name: string, length: number, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + IMAGE_BYTES > length) {
    throw new Error(`${op}: ${name} offset ${offset} does not leave room for a 3072-element image in ${length} elements`);
  }
}

/**
 * Replaces, in place, the 3×32×32 image at `buf[offset..]` — whose elements must be the integers
 * 0..255, as left by CropFlip.apply — with its table values.
 */
export function mapPixels(buf: FloatArray, offset: number, table: PixelTable): void {
  if (!(buf instanceof Float32Array || buf instanceof Float64Array)) throw new Error('mapPixels: buf must be a Float32Array or Float64Array');
  checkRange('mapPixels', 'buf', buf.length, offset);
  checkTable('mapPixels', table);
  for (let c = 0; c < CHANNELS; c++) {
    const base = c * 256;
    const start = offset + c * PLANE;
    const end = start + PLANE;
    for (let i = start; i < end; i++) {
      const v = buf[i];
      // A non-byte value would index another channel's entries or nothing (NaN); one mask catches both.
      if ((v & 255) !== v) throw new Error(`mapPixels: element ${i - offset} of the image is ${v}, not an integer in 0..255`);
      buf[i] = table[base + v];
    }
  }
}

/** Converts the 3×32×32 byte image at `src[srcOffset..]` through `table` into `dst[dstOffset..]`. */
export function bytesToFloats(src: Uint8Array, srcOffset: number, dst: FloatArray, dstOffset: number, table: PixelTable): void {
  if (!(src instanceof Uint8Array)) throw new Error('bytesToFloats: src must be a Uint8Array');
  if (!(dst instanceof Float32Array || dst instanceof Float64Array)) throw new Error('bytesToFloats: dst must be a Float32Array or Float64Array');
  checkRange('bytesToFloats', 'src', src.length, srcOffset);
  checkRange('bytesToFloats', 'dst', dst.length, dstOffset);
  checkTable('bytesToFloats', table);
  for (let c = 0; c < CHANNELS; c++) {
    const base = c * 256;
    const s0 = srcOffset + c * PLANE;
    const d0 = dstOffset + c * PLANE;
    for (let i = 0; i < PLANE; i++) dst[d0 + i] = table[base + src[s0 + i]];
  }
}

/**
 * Normalises, in place, the 3×32×32 float image at `buf[offset..]` whose values are on the [0,1]
 * scale: x → (x − mean[c]) / std[c]. For byte images the table path (normalizeTable) does the
 * scaling and normalising in one pass.
 */
export function normalizeImage(
  buf: FloatArray,
  offset = 0,
  mean: readonly number[] = CIFAR10_MEAN,
  std: readonly number[] = CIFAR10_STD,
): void {
  if (!(buf instanceof Float32Array || buf instanceof Float64Array)) throw new Error('normalizeImage: buf must be a Float32Array or Float64Array');
  checkRange('normalizeImage', 'buf', buf.length, offset);
  checkStats('normalizeImage', mean, std);
  for (let c = 0; c < CHANNELS; c++) {
    const m = mean[c];
    const s = std[c];
    const start = offset + c * PLANE;
    const end = start + PLANE;
    for (let i = start; i < end; i++) buf[i] = (buf[i] - m) / s;
  }
}
