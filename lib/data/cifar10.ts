/**
 * Reader for the CIFAR-10 binary release: files of 3,073-byte records, each one label byte
 * followed by the image as three 32×32 planes (R, G, B), which is already the CHW layout the
 * rest of the project uses, so a record's pixels are copied as one block.
 */
import { dirExists, fileExists, fileSize, joinPath, readFileRange, readTextFile } from '../platform/fs';
import { checkKnownKeys } from '../core/errors';
import { CHANNELS, HEIGHT, IMAGE_BYTES, ImageDataset, WIDTH } from './dataset';

export const CIFAR10_RECORD_BYTES = 1 + IMAGE_BYTES;
export const CIFAR10_NUM_CLASSES = 10;
export const CIFAR10_TRAIN_FILES: readonly string[] = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
];
export const CIFAR10_TEST_FILES: readonly string[] = ['test_batch.bin'];
export const CIFAR10_META_FILE = 'batches.meta.txt';

export type Cifar10Split = 'train' | 'test';

export interface Cifar10Options {
  split: Cifar10Split;
  /** Keep only the first `limit` images of the split; only the bytes they occupy are read. */
  limit?: number;
}

const OP = 'loadCifar10';

/**
 * Loads one split of CIFAR-10 from `dir`: train is data_batch_1..5.bin in order, test is
 * test_batch.bin; class names come from batches.meta.txt. A `limit` larger than the split
 * returns the whole split. Every file of the split must exist and hold whole records even when
 * `limit` means some are not read, so a damaged directory is reported on the first use.
 */
export function loadCifar10(dir: string, options: Cifar10Options): ImageDataset {
  if (typeof dir !== 'string' || dir.length === 0) throw new Error(`${OP}: dir must be a non-empty string, got ${String(dir)}`);
  if (options === null || typeof options !== 'object') throw new Error(`${OP}: options must be { split, limit? }, got ${String(options)}`);
  checkKnownKeys(OP, options, ['split', 'limit']);
  const { split, limit } = options;
  if (split !== 'train' && split !== 'test') {
    throw new Error(`${OP}: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  }
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit <= 0)) {
    throw new Error(`${OP}: limit must be a positive integer, got ${String(limit)}`);
  }
  if (!dirExists(dir)) throw new Error(`${OP}: directory not found: ${dir}`);

  const classNames = readClassNames(joinPath(dir, CIFAR10_META_FILE));

  const names = split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES;
  const files = names.map((name) => {
    const file = joinPath(dir, name);
    if (!fileExists(file)) {
      throw new Error(`${OP}: missing file ${file} (the ${split} split needs ${names.join(', ')})`);
    }
    const bytes = fileSize(file, OP);
    if (bytes === 0 || bytes % CIFAR10_RECORD_BYTES !== 0) {
      throw new Error(
        `${OP}: ${file} has ${bytes} bytes, not a positive multiple of the ${CIFAR10_RECORD_BYTES}-byte record ` +
          `(${Math.floor(bytes / CIFAR10_RECORD_BYTES)} whole records and ${bytes % CIFAR10_RECORD_BYTES} bytes over)`,
      );
    }
    return { file, records: bytes / CIFAR10_RECORD_BYTES };
  });

  const available = files.reduce((n, f) => n + f.records, 0);
  const count = limit === undefined ? available : Math.min(limit, available);
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);

  let done = 0;
  for (const { file, records } of files) {
    if (done === count) break;
    const take = Math.min(records, count - done);
    const raw = readFileRange(file, 0, take * CIFAR10_RECORD_BYTES, OP);
    for (let r = 0; r < take; r++) {
      const at = r * CIFAR10_RECORD_BYTES;
      const label = raw[at];
      if (label >= CIFAR10_NUM_CLASSES) {
        throw new Error(`${OP}: ${file} record ${r} (image ${done + r} of the ${split} split) has label ${label}, outside 0–9`);
      }
      labels[done + r] = label;
      images.set(raw.subarray(at + 1, at + CIFAR10_RECORD_BYTES), (done + r) * IMAGE_BYTES);
    }
    done += take;
  }

  return { images, labels, count, channels: CHANNELS, height: HEIGHT, width: WIDTH, classNames };
}

function readClassNames(file: string): string[] {
  if (!fileExists(file)) throw new Error(`${OP}: missing file ${file} (the class names, one a line)`);
  const names = readTextFile(file, OP)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  if (names.length !== CIFAR10_NUM_CLASSES) {
    throw new Error(`${OP}: ${file} lists ${names.length} class names, expected ${CIFAR10_NUM_CLASSES}`);
  }
  return names;
}
