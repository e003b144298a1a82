/**
 * The in-memory image dataset shared by the CIFAR-10 reader, the synthetic generator and the
 * DataLoader: 8-bit pixels kept as they arrive (a 50,000-image split is 150 MB as bytes and would
 * be 600 MB as float32), converted to floats one batch at a time by the loader.
 */
import { fmtValue } from '../core/errors';

export const CHANNELS = 3;
export const HEIGHT = 32;
export const WIDTH = 32;
/** Bytes of one CHW image: 3 × 32 × 32. */
export const IMAGE_BYTES = CHANNELS * HEIGHT * WIDTH;

export interface ImageDataset {
  /** count × 3 × 32 × 32 bytes, each image CHW (R plane, G plane, B plane, rows top to bottom), 0–255. */
  images: Uint8Array;
  /** One class index per image, 0 ≤ label < classNames.length. */
  labels: Uint8Array;
  count: number;
  channels: 3;
  height: 32;
  width: 32;
  classNames: string[];
}

/**
 * Throws `op: ...` unless `ds` is a consistent ImageDataset: sizes agree with `count` and every
 * label names a class. Callers run it once per dataset, not per batch.
 */
export function validateImageDataset(ds: ImageDataset, op: string): void {
  if (ds === null || typeof ds !== 'object') throw new Error(`${op}: dataset must be an ImageDataset object, got ${String(ds)}`);
  const { images, labels, count, classNames } = ds;
  if (!Number.isInteger(count) || count < 0) throw new Error(`${op}: dataset count must be a non-negative integer, got ${fmtValue(count)}`);
  if (ds.channels !== CHANNELS || ds.height !== HEIGHT || ds.width !== WIDTH) {
    throw new Error(`${op}: dataset images must be 3×32×32, got ${ds.channels}×${ds.height}×${ds.width}`);
  }
  if (!(images instanceof Uint8Array) || images.length !== count * IMAGE_BYTES) {
    const got = images instanceof Uint8Array ? `${images.length} bytes` : 'not a Uint8Array';
    throw new Error(`${op}: dataset images must be a Uint8Array of count×3072 = ${count * IMAGE_BYTES} bytes, got ${got}`);
  }
  if (!(labels instanceof Uint8Array) || labels.length !== count) {
    const got = labels instanceof Uint8Array ? `${labels.length} labels` : 'not a Uint8Array';
    throw new Error(`${op}: dataset labels must be a Uint8Array of ${count} labels, got ${got}`);
  }
  if (!Array.isArray(classNames) || classNames.length === 0 || classNames.length > 256) {
    throw new Error(`${op}: dataset classNames must list 1..256 names, got ${JSON.stringify(classNames)}`);
  }
  for (let i = 0; i < count; i++) {
    if (labels[i] >= classNames.length) {
      throw new Error(`${op}: dataset label ${labels[i]} of image ${i} is not below the ${classNames.length} classes`);
    }
  }
}
