/**
 * torch.utils.data for a user's own tensors: the Dataset protocol, TensorDataset, Subset,
 * ConcatDataset, randomSplit, and a DataLoader that batches any Dataset through a collate function
 * (by default torch's default_collate: tensors stacked, numbers gathered into a tensor, arrays and
 * objects collated field by field). With that default collate, a TensorDataset (or a Subset of one,
 * as randomSplit makes) is batched by one indexSelect per tensor rather than a get() and a stack per
 * sample: the same batches and gradients (a shuffled epoch of 50,000 3×32×32 rows at batch 128 took
 * 1.0 s instead of 1.8 s). A batch never shares storage with the dataset (torch.stack allocates), so
 * writing into it in place is safe. `batchSize: null` turns automatic batching off, as torch's
 * batch_size=None: each sample is yielded alone through defaultConvert (torch's default_convert),
 * which leaves tensors as they are — there a sample's tensors are the dataset's own (a
 * TensorDataset's rows are views of its tensors), not copies.
 *
 * It lives here, above autograd/, because batches are Tensors (stack, select) and lib/ must not
 * import autograd/; nothing in it is nn, but models/ is the layer of user-facing building blocks on
 * top of tensors. lib/data/loader.ts stays the CIFAR pipeline (bytes in, float arrays out,
 * augmentation and a resumable state), which the training script uses; this loader is the generic one
 * a PyTorch user writes a training loop with, and has no resumable state.
 *
 * Randomness: shuffling and randomSplit draw their permutations from the `generator` given
 * (lib/random.ts's Random) or the global one that manualSeed resets, so a seed reproduces the order.
 * A shuffling DataLoader draws a fresh permutation each time an iteration (an epoch) starts. The
 * generator is ours, not torch's Philox/MT19937, so the orders are torch's in kind, not in value.
 */
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../lib/core/errors';
import { globalRng, Random } from '../lib/random';
import { tensor } from '../autograd/creation';
import { indexSelect, select, stack } from '../autograd/functional';
import { Tensor } from '../autograd/tensor';

/** A map-style dataset (torch.utils.data.Dataset with __len__ and __getitem__): `length` samples, `get(i)` the i-th. */
export interface Dataset<T> {
  readonly length: number;
  get(index: number): T;
}

/** Throws `op: ...` unless `ds` looks like a Dataset (a non-negative integer length and a get method). */
function checkDataset(op: string, ds: unknown, what = 'dataset'): asserts ds is Dataset<unknown> {
  const d = ds as Partial<Dataset<unknown>> | null;
  if (d === null || typeof d !== 'object' || typeof d.get !== 'function' || !Number.isInteger(d.length) || (d.length as number) < 0) {
    fail(op, `${what} must be a Dataset (a non-negative integer length and a get(index) method), got ${fmtValue(ds)}`);
  }
}

/** `index` as a position in [0, length): an integer, negative ones counting from the end as Python's. */
function checkIndex(op: string, index: unknown, length: number): number {
  if (typeof index !== 'number' || !Number.isInteger(index) || index < -length || index >= length) {
    fail(op, `index ${fmtValue(index)} out of range for a dataset of length ${length}`);
  }
  return index < 0 ? index + length : index;
}

/**
 * Samples are the rows of tensors sharing their first dim (torch.utils.data.TensorDataset):
 * `get(i)` is `[t0[i], t1[i], …]`, each a view of its tensor's i-th row.
 */
export class TensorDataset<T extends Tensor[] = Tensor[]> implements Dataset<T> {
  readonly tensors: Readonly<T>;

  constructor(...tensors: T) {
    const op = 'TensorDataset';
    if (tensors.length === 0) fail(op, 'expected at least one tensor');
    tensors.forEach((t, i) => {
      if (!(t instanceof Tensor)) fail(op, `tensors[${i}] must be a Tensor, got ${fmtValue(t)}`);
      if (t.ndim === 0) fail(op, `tensors[${i}] is 0-d; every tensor needs a first dim to index samples by`);
    });
    const n = tensors[0].shape[0];
    tensors.forEach((t, i) => {
      if (t.shape[0] !== n) {
        fail(op, `size mismatch between tensors: tensors[${i}] has ${t.shape[0]} rows (shape ${fmtShape(t.shape)}) but tensors[0] has ${n} (shape ${fmtShape(tensors[0].shape)})`);
      }
    });
    this.tensors = tensors;
  }

  get length(): number {
    return this.tensors[0].shape[0];
  }

  get(index: number): T {
    const i = checkIndex('TensorDataset', index, this.length);
    return this.tensors.map((t) => select(t, 0, i)) as T;
  }
}

/** The samples of `dataset` at `indices`, in that order (torch.utils.data.Subset). */
export class Subset<T> implements Dataset<T> {
  readonly dataset: Dataset<T>;
  readonly indices: readonly number[];

  /**
   * Indices are checked here (integers within the dataset), not at first use as torch, and negative
   * ones are stored counted from the end: a user's get(i) need only handle 0 ≤ i < length.
   */
  constructor(dataset: Dataset<T>, indices: ArrayLike<number>) {
    const op = 'Subset';
    checkDataset(op, dataset);
    if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number') {
      fail(op, `indices must be an array of integers, got ${fmtValue(indices)}`);
    }
    const list = Array.from(indices);
    list.forEach((v, k) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -dataset.length || v >= dataset.length) {
        fail(op, `indices[${k}] = ${fmtValue(v)} out of range for a dataset of length ${dataset.length}`);
      }
    });
    this.dataset = dataset;
    this.indices = list.map((v) => (v < 0 ? v + dataset.length : v));
  }

  get length(): number {
    return this.indices.length;
  }

  get(index: number): T {
    return this.dataset.get(this.indices[checkIndex('Subset', index, this.indices.length)]);
  }
}

/** Several datasets one after another (torch.utils.data.ConcatDataset). */
export class ConcatDataset<T> implements Dataset<T> {
  readonly datasets: readonly Dataset<T>[];
  /** Running totals of the datasets' lengths (torch's cumulative_sizes). */
  readonly cumulativeSizes: readonly number[];

  constructor(datasets: Iterable<Dataset<T>>) {
    const op = 'ConcatDataset';
    if (datasets === null || typeof datasets !== 'object' || typeof (datasets as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      fail(op, `datasets must be an iterable of datasets, got ${fmtValue(datasets)}`);
    }
    const list = [...datasets];
    if (list.length === 0) fail(op, 'datasets should not be an empty iterable');
    let total = 0;
    const sizes = list.map((d, i) => {
      checkDataset(op, d, `datasets[${i}]`);
      total += d.length;
      return total;
    });
    this.datasets = list;
    this.cumulativeSizes = sizes;
  }

  get length(): number {
    return this.cumulativeSizes[this.cumulativeSizes.length - 1];
  }

  get(index: number): T {
    const i = checkIndex('ConcatDataset', index, this.length);
    // bisect_right: the first dataset whose running total exceeds i.
    let lo = 0, hi = this.cumulativeSizes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulativeSizes[mid] <= i) lo = mid + 1;
      else hi = mid;
    }
    return this.datasets[lo].get(lo === 0 ? i : i - this.cumulativeSizes[lo - 1]);
  }
}

export interface RandomSplitOptions {
  /** Draws the permutation (default: the global generator). */
  generator?: Random;
}

/**
 * Splits `dataset` into non-overlapping random Subsets (torch.utils.data.random_split, 1.13).
 * `lengths` are counts summing to the dataset's length, or fractions summing to 1: then each split
 * gets floor(n·fraction) samples and the remainder is dealt out one by one from the first split on.
 * One permutation of all n indices is drawn and cut into consecutive pieces.
 */
export function randomSplit<T>(dataset: Dataset<T>, lengths: readonly number[], options: RandomSplitOptions = {}): Subset<T>[] {
  const op = 'randomSplit';
  checkDataset(op, dataset);
  checkKnownKeys(op, options, ['generator']);
  const generator = options.generator ?? globalRng();
  if (!(generator instanceof Random)) fail(op, `generator must be a Random, got ${fmtValue(generator)}`);
  if (!Array.isArray(lengths) || lengths.length === 0 || !lengths.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    fail(op, `lengths must be a non-empty array of numbers, got ${fmtValue(lengths)}`);
  }
  const n = dataset.length;
  const total = lengths.reduce((a, b) => a + b, 0);
  let counts: number[];
  // torch's test: math.isclose(sum, 1) (relative tolerance 1e-9) and sum <= 1 means fractions.
  if (Math.abs(total - 1) <= 1e-9 * Math.max(Math.abs(total), 1) && total <= 1) {
    counts = lengths.map((frac, i) => {
      if (frac < 0 || frac > 1) fail(op, `fraction at index ${i} is not between 0 and 1 (got ${fmtValue(frac)})`);
      return Math.floor(n * frac);
    });
    const remainder = n - counts.reduce((a, b) => a + b, 0);
    for (let i = 0; i < remainder; i++) counts[i % counts.length] += 1;
  } else {
    lengths.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0) fail(op, `lengths[${i}] must be a non-negative integer count (or all lengths fractions summing to 1), got ${fmtValue(v)}`);
    });
    counts = [...lengths];
  }
  const sum = counts.reduce((a, b) => a + b, 0);
  if (sum !== n) fail(op, `sum of input lengths (${sum}, from ${fmtValue(lengths)}) does not equal the length of the input dataset (${n})`);
  const perm = generator.permutation(n);
  let offset = 0;
  return counts.map((c) => {
    const part = new Subset(dataset, perm.subarray(offset, offset + c));
    offset += c;
    return part;
  });
}

/**
 * What defaultCollate makes of a batch of samples of type T: tensors and numbers become one
 * tensor, strings stay a list, arrays and objects are collated element by element.
 */
export type Collated<T> =
  T extends Tensor ? Tensor :
  T extends number | boolean ? Tensor :
  T extends string ? string[] :
  T extends readonly unknown[] ? { -readonly [K in keyof T]: Collated<T[K]> } :
  T extends object ? { [K in keyof T]: Collated<T[K]> } :
  never;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function kindOf(v: unknown): string {
  if (v instanceof Tensor) return 'a Tensor';
  if (Array.isArray(v)) return 'an array';
  if (isPlainObject(v)) return 'an object';
  return v === null ? 'null' : typeof v === 'object' ? fmtValue(v) : `a ${typeof v}`;
}

/** How defaultCollate's errors name sample i of a batch: its position (the DataLoader adds its dataset index). */
const samplePosition = (i: number): string => `samples[${i}]`;

function collateAt(batch: readonly unknown[], path: string, name: (i: number) => string): unknown {
  const op = 'defaultCollate';
  const where = path === '' ? '' : ` at ${path}`;
  const elem = batch[0];
  const same = (test: (v: unknown) => boolean): void => {
    batch.forEach((s, i) => {
      if (!test(s)) fail(op, `${name(i)}${where} is ${kindOf(s)} but ${name(0)}${where} is ${kindOf(elem)}`);
    });
  };
  if (elem instanceof Tensor) {
    same((s) => s instanceof Tensor);
    const ts = batch as readonly Tensor[];
    ts.forEach((t, i) => {
      if (t.shape.length !== elem.shape.length || t.shape.some((d, j) => d !== elem.shape[j])) {
        fail(op, `${name(i)}${where} has shape ${fmtShape(t.shape)} but ${name(0)}${where} has ${fmtShape(elem.shape)}; tensors are stacked, so all must be equal`);
      }
      if (t.dtype !== elem.dtype) fail(op, `${name(i)}${where} is ${t.dtype} but ${name(0)}${where} is ${elem.dtype}`);
    });
    // stack always allocates, as torch's (one tensor included): writing into a batch in place never
    // writes into the dataset.
    return stack(ts, 0);
  }
  // torch makes float64 of floats and int64 of ints; our dtypes are float32/float64, and float64
  // holds every integer up to 2^53 exactly. Booleans become 0/1, as this library's masks are.
  if (typeof elem === 'number' || typeof elem === 'boolean') {
    same((s) => typeof s === typeof elem);
    return tensor((batch as readonly (number | boolean)[]).map(Number), { dtype: 'float64' });
  }
  if (typeof elem === 'string') {
    same((s) => typeof s === 'string');
    return [...batch];
  }
  if (Array.isArray(elem)) {
    same((s) => Array.isArray(s));
    const arrays = batch as readonly unknown[][];
    arrays.forEach((a, i) => {
      if (a.length !== elem.length) {
        fail(op, `each element in the batch should be of equal size: ${name(i)}${where} has ${a.length} elements but ${name(0)}${where} has ${elem.length}`);
      }
    });
    return elem.map((_, j) => collateAt(arrays.map((a) => a[j]), `${path}[${j}]`, name));
  }
  if (isPlainObject(elem)) {
    same(isPlainObject);
    const keys = Object.keys(elem);
    const objects = batch as readonly Record<string, unknown>[];
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      objects.forEach((o, i) => {
        if (!(key in o)) fail(op, `${name(i)}${where} has no key '${key}', which ${name(0)}${where} has`);
      });
      out[key] = collateAt(objects.map((o) => o[key]), `${path}.${key}`, name);
    }
    return out;
  }
  fail(op, `batch must contain tensors, numbers, booleans, strings, arrays or plain objects; found ${kindOf(elem)}${where}`);
}

/**
 * torch's default_collate: a batch of tensors is stacked along a new first dim, numbers (and
 * booleans, as 0/1) become a float64 tensor, strings stay a list, and arrays (tuples) and plain
 * objects are collated position by position or key by key, so `[x, y]` samples give `[xs, ys]`.
 */
export function defaultCollate<T>(batch: readonly T[]): Collated<T> {
  if (!Array.isArray(batch) || batch.length === 0) fail('defaultCollate', `expected a non-empty array of samples, got ${fmtValue(batch)}`);
  return collateAt(batch, '', samplePosition) as Collated<T>;
}

/**
 * torch's default_convert, the collate of a DataLoader with `batchSize: null`: tensors are returned
 * as they are (the same objects; no copy, no stacking, no new dim), arrays and plain objects are
 * rebuilt element by element or key by key around the converted values, and anything else (numbers,
 * strings, …) is returned unchanged. torch also turns numpy arrays into tensors; there is no numpy
 * here, and typed arrays are returned unchanged like any other value.
 */
export function defaultConvert<T>(sample: T): T {
  if (sample instanceof Tensor) return sample;
  if (Array.isArray(sample)) return sample.map((v) => defaultConvert(v)) as unknown as T;
  if (isPlainObject(sample)) {
    const out = Object.create(Object.getPrototypeOf(sample)) as Record<string, unknown>;
    for (const key of Object.keys(sample)) out[key] = defaultConvert(sample[key]);
    return out as T;
  }
  return sample;
}

/**
 * The tensors whose rows `dataset` is, and the row of its sample k, when it is exactly a
 * TensorDataset or a Subset of one (Subsets of Subsets too): then a batch is those rows gathered
 * at once. Subclasses, which may override get, and any other dataset give null.
 */
function tensorRows(dataset: Dataset<unknown>): { tensors: readonly Tensor[]; row: (k: number) => number } | null {
  const maps: (readonly number[])[] = [];
  let d: Dataset<unknown> = dataset;
  while (Object.getPrototypeOf(d) === Subset.prototype && !Object.prototype.hasOwnProperty.call(d, 'get')) {
    maps.push((d as Subset<unknown>).indices);
    d = (d as Subset<unknown>).dataset;
  }
  if (Object.getPrototypeOf(d) !== TensorDataset.prototype || Object.prototype.hasOwnProperty.call(d, 'get')) return null;
  return {
    tensors: (d as TensorDataset).tensors,
    row: (k) => { let i = k; for (const m of maps) i = m[i]; return i; },
  };
}

export interface DataLoaderOptions<T, B> {
  /** Samples per batch (default 1); see UnbatchedDataLoaderOptions for null. */
  batchSize?: number;
  /** Visit the samples in a fresh random order each epoch (default false). */
  shuffle?: boolean;
  /** Leave out the last batch of an epoch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Draws the shuffling permutations (default: the global generator, reset by manualSeed). */
  generator?: Random;
  /** Turns a batch's samples into what the loader yields (default defaultCollate). */
  collate?: (samples: T[]) => B;
}

/**
 * A DataLoader without automatic batching (torch's batch_size=None): each sample is yielded on its
 * own, after `collate` (called with that one sample; default defaultConvert, which leaves tensors as
 * they are). dropLast must stay false, as torch requires. Without a collate, name the yielded type:
 * `new DataLoader<T, T>(ds, { batchSize: null })`.
 */
export interface UnbatchedDataLoaderOptions<T, B> {
  batchSize: null;
  /** Visit the samples in a fresh random order each epoch (default false). */
  shuffle?: boolean;
  /** Only false: there are no batches to drop. */
  dropLast?: false;
  /** Draws the shuffling permutations (default: the global generator, reset by manualSeed). */
  generator?: Random;
  /** Turns one sample into what the loader yields (default defaultConvert). */
  collate?: (sample: T) => B;
}

/**
 * Batches of a Dataset (torch.utils.data.DataLoader without worker processes or samplers).
 * Each iteration is an epoch: `for (const [x, y] of loader)` yields the collated batches in order,
 * or in a permutation drawn when the iteration starts if `shuffle`. `length` is the number of
 * batches per epoch. The default collate's errors name each offending sample by its position in the
 * batch and its index in the dataset. With `batchSize: null` the loader yields samples, not batches
 * (see UnbatchedDataLoaderOptions), and `length` is the dataset's length.
 */
export class DataLoader<T, B = Collated<T>> implements Iterable<B> {
  readonly dataset: Dataset<T>;
  /** Samples per batch, or null when automatic batching is off (each sample yielded alone). */
  readonly batchSize: number | null;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly generator: Random | undefined;
  /** Takes a batch's samples, or with batchSize null a single sample. */
  readonly collate: ((samples: T[]) => B) | ((sample: T) => B);

  constructor(dataset: Dataset<T>, options?: DataLoaderOptions<T, B>);
  constructor(dataset: Dataset<T>, options: UnbatchedDataLoaderOptions<T, B>);
  constructor(dataset: Dataset<T>, options: DataLoaderOptions<T, B> | UnbatchedDataLoaderOptions<T, B> = {}) {
    const op = 'DataLoader';
    checkDataset(op, dataset);
    checkKnownKeys(op, options, ['batchSize', 'shuffle', 'dropLast', 'generator', 'collate']);
    const { batchSize = 1, shuffle = false, dropLast = false, generator, collate } = options;
    if (batchSize !== null && (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize <= 0)) {
      fail(op, `batchSize must be a positive integer, got ${fmtValue(batchSize)}`);
    }
    if (typeof shuffle !== 'boolean') fail(op, `shuffle must be a boolean, got ${fmtValue(shuffle)}`);
    if (typeof dropLast !== 'boolean') fail(op, `dropLast must be a boolean, got ${fmtValue(dropLast)}`);
    if (batchSize === null && dropLast) {
      fail(op, 'batchSize null disables automatic batching and is mutually exclusive with dropLast: true (as torch\'s batch_size=None with drop_last)');
    }
    if (generator !== undefined && !(generator instanceof Random)) fail(op, `generator must be a Random, got ${fmtValue(generator)}`);
    if (collate !== undefined && typeof collate !== 'function') fail(op, `collate must be a function, got ${fmtValue(collate)}`);
    // torch 1.13's RandomSampler refuses an empty dataset (num_samples should be a positive integer).
    if (shuffle && dataset.length === 0) fail(op, 'shuffle needs a non-empty dataset (torch\'s RandomSampler refuses num_samples=0)');
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.generator = generator;
    this.collate = collate ?? (batchSize === null
      ? defaultConvert as unknown as (sample: T) => B
      : defaultCollate as unknown as (samples: T[]) => B);
  }

  /** Batches per epoch: ⌈n / batchSize⌉, or ⌊n / batchSize⌋ with dropLast; with batchSize null, samples per epoch (n). */
  get length(): number {
    const n = this.dataset.length;
    if (this.batchSize === null) return n;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /**
   * One epoch; a shuffling loader draws its permutation when the first batch is asked for (as torch's RandomSampler).
   * With the default collate, a TensorDataset (or Subsets of one) is batched by one indexSelect per
   * tensor instead of get() and stack per sample: the same values, shapes, dtypes and gradients.
   */
  *[Symbol.iterator](): Iterator<B> {
    const n = this.dataset.length;
    const order = this.shuffle ? (this.generator ?? globalRng()).permutation(n) : null;
    if (this.batchSize === null) {
      // No automatic batching: one sample at a time, through the collate (defaultConvert by default).
      const convert = this.collate as (sample: T) => B;
      for (let k = 0; k < n; k++) yield convert(this.dataset.get(order === null ? k : order[k]));
      return;
    }
    const batchSize = this.batchSize;
    const batches = this.length;
    const rows = (this.collate as unknown) === defaultCollate ? tensorRows(this.dataset) : null;
    for (let b = 0; b < batches; b++) {
      const start = b * batchSize;
      const end = Math.min(start + batchSize, n);
      if (rows !== null) {
        const idx: number[] = [];
        for (let k = start; k < end; k++) idx.push(rows.row(order === null ? k : order[k]));
        yield rows.tensors.map((t) => indexSelect(t, 0, idx)) as unknown as B;
        continue;
      }
      const samples: T[] = [];
      const idx: number[] = [];
      for (let k = start; k < end; k++) idx.push(order === null ? k : order[k]);
      for (const i of idx) samples.push(this.dataset.get(i));
      // The default collate's errors name each sample's dataset index too: a batch position alone
      // does not find the bad sample in a shuffled epoch.
      yield (this.collate as unknown) === defaultCollate
        ? collateAt(samples, '', (i) => `samples[${i}] (dataset index ${idx[i]})`) as B
        : (this.collate as (samples: T[]) => B)(samples);
    }
  }
}
