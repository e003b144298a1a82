/**
 * Batches an ImageDataset into NCHW float arrays, with optional shuffling and crop/flip
 * augmentation drawn from the loader's own seeded generator, and a JSON-serialisable state that
 * lets a resumed training run see exactly the batches an uninterrupted run would have seen.
 *
 * Epoch protocol: iterating the loader yields the remaining batches of the current epoch. When
 * the epoch's last batch has been handed out and the iterator is asked for more, `epoch`
 * advances and the iteration ends; the next iteration starts the new epoch. Breaking out of a
 * loop early leaves the position where it was, and the next iteration continues from there.
 * The position lives in the loader, not the iterator, so run one iteration at a time.
 */
import { DType, FloatArray, allocate, isDType } from '../core/dtype';
import { Random, RandomState, globalRng } from '../random';
import { IMAGE_BYTES, ImageDataset, validateImageDataset } from './dataset';
import { NdView, view } from './ndarray_view';
import { CropFlip, PixelTable, bytesToFloats, mapPixels, normalizeTable, sampleCropFlip, scaleTable } from './transforms';
import { checkKnownKeys, fmtValue } from '../core/errors';

export interface DataLoaderOptions {
  batchSize: number;
  /** Visit the images in a fresh random order each epoch (default false). */
  shuffle?: boolean;
  /** Drop the last batch of an epoch if it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Random 32×32 crop of the 4-pixel zero-padded image and random horizontal flip (default false). */
  augment?: boolean;
  /** Normalise each channel with the CIFAR-10 mean/std after scaling to [0,1] (default true). */
  normalize?: boolean;
  /** Element type of the image batches (default 'float32'). */
  dtype?: DType;
  /**
   * Seed of the loader's generator, which alone drives shuffling and augmentation. Without one, a
   * loader that shuffles or augments draws its seed from the global generator when it is built, so
   * manualSeed decides its order as torch.manual_seed decides a DataLoader's (one 32-bit draw; a
   * loader that neither shuffles nor augments draws nothing).
   */
  seed?: number;
}

export interface Batch {
  /** size × 3 × 32 × 32, NCHW, scaled to [0,1] and optionally normalised. A fresh array per batch. */
  images: FloatArray;
  labels: Int32Array;
  /** Number of images in this batch (batchSize except possibly the last batch of an epoch). */
  size: number;
  /** Index of this batch within its epoch. */
  index: number;
}

/**
 * Everything needed to continue an epoch exactly: `position` batches of epoch `epoch` have been
 * handed out. The epoch's order is not stored; it is re-drawn from `epochStartRng`, the generator
 * state before the epoch's shuffle, and then `rng` (the generator now) continues the
 * augmentation draws. datasetSize and batchSize guard against restoring into another set-up.
 */
export interface DataLoaderState {
  epoch: number;
  position: number;
  epochStarted: boolean;
  epochStartRng: RandomState;
  rng: RandomState;
  datasetSize: number;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
  augment: boolean;
}

export class DataLoader implements Iterable<Batch> {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly augment: boolean;
  readonly normalize: boolean;
  readonly dtype: DType;
  /** Batches per epoch. */
  readonly length: number;

  private readonly rng: Random;
  private readonly table: PixelTable;
  private readonly cropFlip: CropFlip;
  private readonly source: NdView<Uint8Array>;
  private epochIndex = 0;
  private position = 0;
  /** Whether the current epoch's order has been drawn (it is drawn lazily, on the first batch). */
  private epochStarted = false;
  private epochStartRng: RandomState;
  private order: Int32Array | null = null;

  constructor(dataset: ImageDataset, options: DataLoaderOptions) {
    validateImageDataset(dataset, 'DataLoader');
    if (options === null || typeof options !== 'object') throw new Error(`DataLoader: options must be an object, got ${String(options)}`);
    checkKnownKeys('DataLoader', options, ['batchSize', 'shuffle', 'dropLast', 'augment', 'normalize', 'dtype', 'seed']);
    const { batchSize, shuffle = false, dropLast = false, augment = false, normalize = true, dtype = 'float32', seed } = options;
    if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize <= 0) {
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${String(batchSize)}`);
    }
    for (const [name, v] of [['shuffle', shuffle], ['dropLast', dropLast], ['augment', augment], ['normalize', normalize]] as const) {
      if (typeof v !== 'boolean') throw new Error(`DataLoader: ${name} must be a boolean, got ${String(v)}`);
    }
    if (!isDType(dtype)) throw new Error(`DataLoader: dtype must be 'float32' or 'float64', got ${JSON.stringify(dtype)}`);
    if (seed !== undefined && (typeof seed !== 'number' || !Number.isSafeInteger(seed))) throw new Error(`DataLoader: seed must be a safe integer, got ${String(seed)}`);
    if (dataset.count === 0) throw new Error('DataLoader: the dataset is empty');
    const length = dropLast ? Math.floor(dataset.count / batchSize) : Math.ceil(dataset.count / batchSize);
    if (length === 0) {
      throw new Error(`DataLoader: dropLast with batchSize ${batchSize} larger than the ${dataset.count}-image dataset leaves no batches`);
    }
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.augment = augment;
    this.normalize = normalize;
    this.dtype = dtype;
    this.length = length;
    // Drawn last, so a loader that fails its checks leaves the global stream untouched.
    this.rng = new Random(seed ?? (shuffle || augment ? globalRng().nextUint32() : 0));
    this.epochStartRng = this.rng.getState();
    this.table = normalize ? normalizeTable() : scaleTable();
    this.cropFlip = new CropFlip();
    this.source = view(dataset.images, [dataset.count, 3, 32, 32]);
  }

  /** The current epoch, counted from 0; it advances once an epoch's batches are exhausted. */
  get epoch(): number {
    return this.epochIndex;
  }

  *[Symbol.iterator](): Iterator<Batch> {
    if (this.position >= this.length) this.finishEpoch();
    while (this.position < this.length) {
      yield this.nextBatch();
    }
    this.finishEpoch();
  }

  getState(): DataLoaderState {
    return {
      epoch: this.epochIndex,
      position: this.position,
      epochStarted: this.epochStarted,
      epochStartRng: cloneRandomState(this.epochStartRng),
      rng: this.rng.getState(),
      datasetSize: this.dataset.count,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
      augment: this.augment,
    };
  }

  /** Continues from a getState() snapshot; the loader must have the same dataset size and options. */
  setState(state: DataLoaderState): void {
    if (state === null || typeof state !== 'object') throw new Error(`DataLoader.setState: state must be an object, got ${String(state)}`);
    const mismatch = (['datasetSize', 'batchSize', 'shuffle', 'dropLast', 'augment'] as const).filter((k) => {
      const mine = k === 'datasetSize' ? this.dataset.count : this[k];
      return state[k] !== mine;
    });
    if (mismatch.length > 0) {
      const desc = mismatch.map((k) => `${k} ${String(state[k])} vs ${String(k === 'datasetSize' ? this.dataset.count : this[k])}`);
      throw new Error(`DataLoader.setState: state was saved from a different loader (${desc.join(', ')})`);
    }
    if (!Number.isInteger(state.epoch) || state.epoch < 0) throw new Error(`DataLoader.setState: epoch must be a non-negative integer, got ${fmtValue(state.epoch)}`);
    if (!Number.isInteger(state.position) || state.position < 0 || state.position > this.length) {
      throw new Error(`DataLoader.setState: position ${state.position} is outside 0..${this.length}`);
    }
    if (typeof state.epochStarted !== 'boolean' || (!state.epochStarted && state.position !== 0)) {
      throw new Error(`DataLoader.setState: epochStarted must be a boolean, and true when position (${state.position}) > 0`);
    }
    // Validate both generator states before touching ours, so a bad state leaves the loader intact.
    const probe = new Random(0);
    for (const key of ['epochStartRng', 'rng'] as const) {
      try {
        probe.setState(state[key]);
      } catch (e) {
        throw new Error(`DataLoader.setState: ${key} is invalid: ${(e as Error).message}`);
      }
    }
    this.epochIndex = state.epoch;
    this.position = state.position;
    this.epochStartRng = cloneRandomState(state.epochStartRng);
    this.epochStarted = false;
    this.order = null;
    if (state.epochStarted) {
      // Re-draw this epoch's order from where it was drawn; the draws after it are in `rng`.
      this.rng.setState(state.epochStartRng);
      this.startEpoch();
    }
    this.rng.setState(state.rng);
  }

  private startEpoch(): void {
    this.epochStartRng = this.rng.getState();
    this.order = this.shuffle ? this.rng.permutation(this.dataset.count) : null;
    this.epochStarted = true;
  }

  private finishEpoch(): void {
    this.epochIndex++;
    this.position = 0;
    this.epochStarted = false;
    this.order = null;
    this.epochStartRng = this.rng.getState();
  }

  private nextBatch(): Batch {
    if (!this.epochStarted) this.startEpoch();
    const index = this.position;
    const start = index * this.batchSize;
    const size = Math.min(this.batchSize, this.dataset.count - start);
    const images = allocate(this.dtype, size * IMAGE_BYTES);
    const labels = new Int32Array(size);
    const dst = this.augment ? view(images, [size, 3, 32, 32]) : null;
    for (let b = 0; b < size; b++) {
      const i = this.order ? this.order[start + b] : start + b;
      labels[b] = this.dataset.labels[i];
      if (dst) {
        this.cropFlip.apply(this.source.pick(i, null, null, null), dst.pick(b, null, null, null), sampleCropFlip(this.rng));
        mapPixels(images, b * IMAGE_BYTES, this.table);
      } else {
        bytesToFloats(this.dataset.images, i * IMAGE_BYTES, images, b * IMAGE_BYTES, this.table);
      }
    }
    this.position++;
    return { images, labels, size, index };
  }
}

function cloneRandomState(s: RandomState): RandomState {
  return { s: [s.s[0], s.s[1], s.s[2], s.s[3]], spare: s.spare };
}
