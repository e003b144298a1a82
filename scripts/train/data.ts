/**
 * The train and test splits a run uses: CIFAR-10 from --data, or the synthetic set generated
 * from the seed (so a checkpoint's config is enough to rebuild exactly the same images).
 */
import { CIFAR10_META_FILE, CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES, loadCifar10 } from '../../lib/data/cifar10';
import { IMAGE_BYTES, ImageDataset } from '../../lib/data/dataset';
import { makeSyntheticDataset } from '../../lib/data/synthetic';
import { dirExists, fileExists, joinPath } from '../../lib/platform/fs';
import { UsageError } from './errors';

export interface DataSpec {
  data: string | null;
  syntheticTrain: number;
  syntheticTest: number;
  limitTrain: number | null;
  limitTest: number | null;
  seed: number;
}

export interface Splits {
  train: ImageDataset;
  test: ImageDataset;
  classNames: string[];
  /** For messages and config.json: "CIFAR-10 at DIR" or "synthetic (seed N)". */
  description: string;
}

/** Checks that `dir` looks like the CIFAR-10 binary release, naming the first missing piece. */
export function checkCifarDir(dir: string, flag = '--data'): void {
  if (!dirExists(dir)) throw new UsageError(`${flag} ${dir}: ${fileExists(dir) ? 'is a file, not a directory' : 'no such directory'}`);
  for (const name of [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES, CIFAR10_META_FILE]) {
    if (!fileExists(joinPath(dir, name))) {
      throw new UsageError(`${flag} ${dir}: missing ${name} (expected the CIFAR-10 binary release: ${[...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES, CIFAR10_META_FILE].join(', ')})`);
    }
  }
}

/** Loads both splits. Errors in the files are the user's input, hence UsageError. */
export function loadSplits(spec: DataSpec, which: { train: boolean; test: boolean } = { train: true, test: true }): Splits {
  if (spec.data !== null) {
    checkCifarDir(spec.data);
    try {
      const train = which.train ? loadCifar10(spec.data, { split: 'train', limit: spec.limitTrain ?? undefined }) : null;
      const test = which.test ? loadCifar10(spec.data, { split: 'test', limit: spec.limitTest ?? undefined }) : null;
      const classNames = (train ?? test)!.classNames;
      return { train: train ?? emptyLike(classNames), test: test ?? emptyLike(classNames), classNames, description: `CIFAR-10 at ${spec.data}` };
    } catch (e) {
      throw new UsageError(`--data ${spec.data}: ${(e as Error).message}`);
    }
  }
  const { train, test } = makeSyntheticDataset({
    seed: spec.seed,
    trainSize: which.train ? spec.syntheticTrain : 0,
    testSize: which.test ? spec.syntheticTest : 0,
  });
  return {
    train: limit(train, spec.limitTrain),
    test: limit(test, spec.limitTest),
    classNames: train.classNames,
    description: `synthetic (seed ${spec.seed})`,
  };
}

/** The first `n` images (views, no copy). */
function limit(ds: ImageDataset, n: number | null): ImageDataset {
  if (n === null || n >= ds.count) return ds;
  return { ...ds, count: n, images: ds.images.subarray(0, n * IMAGE_BYTES), labels: ds.labels.subarray(0, n) };
}

function emptyLike(classNames: string[]): ImageDataset {
  return { images: new Uint8Array(0), labels: new Uint8Array(0), count: 0, channels: 3, height: 32, width: 32, classNames };
}
