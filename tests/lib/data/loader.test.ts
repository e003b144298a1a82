import { expect } from 'chai';
import { ImageDataset } from '../../../lib/data/dataset';
import { Batch, DataLoader, DataLoaderOptions } from '../../../lib/data/loader';
import { makeSyntheticDataset } from '../../../lib/data/synthetic';
import { CIFAR10_MEAN, CIFAR10_STD } from '../../../lib/data/transforms';
import { Random, globalRng, manualSeed } from '../../../lib/random';

/**
 * `count` images where image i is recognisable: channel c, pixel p holds (i + 3c + p) mod 256,
 * so pixel 0 of channel 0 is i mod 256; labels are i mod 10.
 */
function indexedDataset(count: number): ImageDataset {
  const images = new Uint8Array(count * 3072);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 10;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) images[i * 3072 + c * 1024 + p] = (i + 3 * c + p) % 256;
  }
  return { images, labels, count, channels: 3, height: 32, width: 32, classNames: 'abcdefghij'.split('') };
}

/** Which source image a non-augmented, scale-only batch slot came from (pixel 0 of channel 0 is i/255). */
function sourceIndex(b: Batch, slot: number): number {
  return Math.round(b.images[slot * 3072] * 255);
}

function take(loader: DataLoader, n: number): Batch[] {
  const out: Batch[] = [];
  while (out.length < n) {
    for (const b of loader) {
      out.push(b);
      if (out.length === n) break;
    }
  }
  return out;
}

function bytesOf(b: Batch): Buffer {
  return Buffer.from(b.images.buffer, b.images.byteOffset, b.images.byteLength);
}

function expectSameBatches(a: Batch[], b: Batch[]): void {
  expect(b.length).to.equal(a.length);
  for (let k = 0; k < a.length; k++) {
    expect(b[k].index).to.equal(a[k].index, `batch ${k} index`);
    expect(b[k].size).to.equal(a[k].size, `batch ${k} size`);
    expect(Array.from(b[k].labels)).to.deep.equal(Array.from(a[k].labels), `batch ${k} labels`);
    expect(bytesOf(b[k]).equals(bytesOf(a[k]))).to.equal(true, `batch ${k} image bytes`);
  }
}

describe('lib/data/loader', () => {
  it('without shuffle or augmentation yields the images in order, scaled to [0,1]', () => {
    const ds = indexedDataset(10);
    const loader = new DataLoader(ds, { batchSize: 4, normalize: false });
    expect(loader.length).to.equal(3);
    const batches = [...loader];
    expect(batches.map((b) => b.size)).to.deep.equal([4, 4, 2]);
    expect(batches.map((b) => b.index)).to.deep.equal([0, 1, 2]);
    expect(Array.from(batches[2].labels)).to.deep.equal([8, 9]);
    expect(batches[0].labels).to.be.instanceOf(Int32Array);
    expect(batches[0].images).to.be.instanceOf(Float32Array);
    expect(batches[2].images.length).to.equal(2 * 3072);
    for (const [k, b] of batches.entries()) {
      for (let s = 0; s < b.size; s++) {
        const i = 4 * k + s;
        for (let j = 0; j < 3072; j += 97) {
          const c = Math.floor(j / 1024);
          expect(b.images[s * 3072 + j]).to.equal(Math.fround(((i + 3 * c + (j % 1024)) % 256) / 255));
        }
      }
    }
  });

  it('normalises with the CIFAR-10 statistics and honours dtype float64', () => {
    const ds = indexedDataset(3);
    const [b] = [...new DataLoader(ds, { batchSize: 3, dtype: 'float64' })];
    expect(b.images).to.be.instanceOf(Float64Array);
    for (let s = 0; s < 3; s++) {
      for (let j = 0; j < 3072; j += 31) {
        const c = Math.floor(j / 1024);
        const byte = (s + 3 * c + (j % 1024)) % 256;
        expect(b.images[s * 3072 + j]).to.equal((byte / 255 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]);
      }
    }
  });

  it('dropLast drops the short final batch', () => {
    const loader = new DataLoader(indexedDataset(10), { batchSize: 4, dropLast: true, normalize: false });
    expect(loader.length).to.equal(2);
    expect([...loader].map((b) => b.size)).to.deep.equal([4, 4]);
    expect(new DataLoader(indexedDataset(8), { batchSize: 4, dropLast: true }).length).to.equal(2);
  });

  it('shuffle visits every image once per epoch, in a new order each epoch, reproducibly from the seed', () => {
    const ds = indexedDataset(50);
    const orders = (seed: number): number[][] => {
      const loader = new DataLoader(ds, { batchSize: 8, shuffle: true, normalize: false, seed });
      const epochs: number[][] = [];
      for (let e = 0; e < 3; e++) {
        const order: number[] = [];
        for (const b of loader) for (let s = 0; s < b.size; s++) order.push(sourceIndex(b, s));
        epochs.push(order);
      }
      return epochs;
    };
    const a = orders(1);
    for (const order of a) expect([...order].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    expect(a[0]).to.not.deep.equal(a[1]);
    expect(a[1]).to.not.deep.equal(a[2]);
    expect(a[0]).to.not.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    expect(orders(1)).to.deep.equal(a);
    expect(orders(2)[0]).to.not.deep.equal(a[0]);
  });

  it('without a seed, shuffling follows manualSeed, as torch.manual_seed drives a DataLoader; an unshuffled loader draws nothing', () => {
    const ds = indexedDataset(40);
    const firstEpoch = (): number[] => {
      const loader = new DataLoader(ds, { batchSize: 40, shuffle: true, normalize: false });
      const [b] = [...loader];
      return Array.from({ length: 40 }, (_, s) => sourceIndex(b, s));
    };
    manualSeed(1);
    const a = firstEpoch();
    manualSeed(2);
    const b = firstEpoch();
    manualSeed(1);
    expect(firstEpoch()).to.deep.equal(a);
    expect(b).to.not.deep.equal(a);
    expect([...b].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i));
    // A plain loader (no shuffle, no augmentation) leaves the global stream where it was.
    manualSeed(3);
    const expected = globalRng().uniform();
    manualSeed(3);
    void [...new DataLoader(ds, { batchSize: 8 })];
    // Nor does a shuffling loader whose options are refused.
    expect(() => new DataLoader(ds, { batchSize: 0, shuffle: true })).to.throw('DataLoader: batchSize must be a positive integer, got 0');
    expect(globalRng().uniform()).to.equal(expected);
  });

  it('augmentation turns each image into one of its 162 crop/flip variants, drawn from the seed', () => {
    const { train } = makeSyntheticDataset({ seed: 3, trainSize: 12, testSize: 0 });
    const loader = new DataLoader(train, { batchSize: 12, augment: true, normalize: false, seed: 5 });
    const [b] = [...loader];
    // The loader's draws, replayed: one (top, left, flip) per image, in batch order.
    const rng = new Random(5);
    let shifted = 0;
    for (let s = 0; s < 12; s++) {
      const top = rng.integer(0, 9), left = rng.integer(0, 9), flip = rng.bernoulli(0.5);
      if (top !== 4 || left !== 4 || flip) shifted++;
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 32; y++) {
          for (let x = 0; x < 32; x++) {
            const sy = y + top - 4;
            const sx = (flip ? 31 - x : x) + left - 4;
            const byte = sy >= 0 && sy < 32 && sx >= 0 && sx < 32 ? train.images[s * 3072 + c * 1024 + sy * 32 + sx] : 0;
            const got = b.images[s * 3072 + c * 1024 + y * 32 + x];
            if (got !== Math.fround(byte / 255)) {
              expect.fail(`image ${s} (top=${top}, left=${left}, flip=${flip}) channel ${c} (${y},${x}): got ${got}, want ${byte}/255`);
            }
          }
        }
      }
    }
    expect(shifted).to.be.above(0);
    expect(Array.from(b.labels)).to.deep.equal(Array.from(train.labels));
  });

  it('counts epochs; breaking out of a loop resumes the same epoch at the next batch', () => {
    const loader = new DataLoader(indexedDataset(10), { batchSize: 3, normalize: false });
    expect(loader.epoch).to.equal(0);
    const first: number[] = [];
    for (const b of loader) {
      first.push(b.index);
      if (b.index === 1) break;
    }
    expect(loader.epoch).to.equal(0);
    const rest = [...loader].map((b) => b.index);
    expect(first.concat(rest)).to.deep.equal([0, 1, 2, 3]);
    expect(loader.epoch).to.equal(1);
    // Stopping right after the last batch, without asking for more, still starts a fresh epoch next time.
    for (const b of loader) if (b.index === 3) break;
    expect(loader.epoch).to.equal(1);
    expect([...loader].map((b) => b.index)).to.deep.equal([0, 1, 2, 3]);
    expect(loader.epoch).to.equal(3);
  });

  describe('getState / setState', () => {
    const options: DataLoaderOptions = { batchSize: 7, shuffle: true, augment: true, dropLast: false, seed: 42 };
    const ds = makeSyntheticDataset({ seed: 1, trainSize: 30, testSize: 0 }).train; // 5 batches an epoch

    /** Uninterrupted reference: the first `n` batches from a fresh loader, crossing epoch boundaries. */
    const reference = (n: number): Batch[] => take(new DataLoader(ds, options), n);

    for (const k of [0, 2, 5, 7, 9]) {
      it(`stopping after ${k} batches and restoring into a new loader continues byte for byte`, () => {
        const total = 13; // 2.6 epochs
        const all = reference(total);
        const first = new DataLoader(ds, options);
        expectSameBatches(all.slice(0, k), take(first, k));
        const saved = JSON.parse(JSON.stringify(first.getState()));
        // A different seed proves the state, not the constructor, decides what comes next.
        const resumed = new DataLoader(ds, { ...options, seed: 999 });
        resumed.setState(saved);
        expect(resumed.epoch).to.equal(first.epoch);
        expectSameBatches(all.slice(k), take(resumed, total - k));
      });
    }

    it('restores after the final batch of an epoch was taken but before the epoch was closed', () => {
      const all = reference(10);
      const first = new DataLoader(ds, options);
      const got: Batch[] = [];
      for (const b of first) {
        got.push(b);
        if (b.index === 4) break; // the last batch of epoch 0
      }
      expect(first.epoch).to.equal(0);
      const resumed = new DataLoader(ds, options);
      resumed.setState(JSON.parse(JSON.stringify(first.getState())));
      expectSameBatches(all.slice(5), take(resumed, 5));
      expect(resumed.epoch).to.equal(1);

      // And after the epoch was closed by running the loop to its end.
      const closed = new DataLoader(ds, options);
      expect([...closed]).to.have.length(5);
      expect(closed.epoch).to.equal(1);
      const again = new DataLoader(ds, { ...options, seed: 7 });
      again.setState(JSON.parse(JSON.stringify(closed.getState())));
      expect(again.epoch).to.equal(1);
      expectSameBatches(all.slice(5), take(again, 5));
    });

    it('rejects a state from a different set-up or with bad fields, leaving the loader untouched', () => {
      const loader = new DataLoader(ds, options);
      take(loader, 2);
      const good = loader.getState();
      const other = new DataLoader(ds, { ...options, batchSize: 8 });
      expect(() => other.setState(good)).to.throw('DataLoader.setState: state was saved from a different loader (batchSize 7 vs 8)');
      const small = new DataLoader(indexedDataset(29), options);
      expect(() => small.setState(good)).to.throw('DataLoader.setState: state was saved from a different loader (datasetSize 30 vs 29)');
      const before = loader.getState();
      expect(() => loader.setState({ ...good, position: 6 })).to.throw('DataLoader.setState: position 6 is outside 0..5');
      expect(() => loader.setState({ ...good, epoch: -1 })).to.throw('DataLoader.setState: epoch must be a non-negative integer, got -1');
      expect(() => loader.setState({ ...good, rng: { s: [1, 2, 3], spare: null } as unknown as typeof good.rng })).to.throw(
        /^DataLoader\.setState: rng is invalid: Random\.setState/,
      );
      expect(() => loader.setState({ ...good, epochStarted: false })).to.throw(/^DataLoader\.setState: epochStarted must be a boolean, and true when position \(2\) > 0/);
      expect(loader.getState()).to.deep.equal(before);
    });
  });

  it('validates its options and dataset with the offending value named', () => {
    const ds = indexedDataset(5);
    const bad = (o: Partial<DataLoaderOptions>): (() => DataLoader) => () => new DataLoader(ds, { batchSize: 2, ...o });
    expect(bad({ batchSize: 0 })).to.throw('DataLoader: batchSize must be a positive integer, got 0');
    expect(bad({ batchSize: 2.5 })).to.throw('DataLoader: batchSize must be a positive integer, got 2.5');
    expect(bad({ batchSize: '4' as unknown as number })).to.throw('DataLoader: batchSize must be a positive integer, got 4');
    expect(bad({ shuffle: 'yes' as unknown as boolean })).to.throw('DataLoader: shuffle must be a boolean, got yes');
    expect(bad({ augment: 1 as unknown as boolean })).to.throw('DataLoader: augment must be a boolean, got 1');
    expect(bad({ dtype: 'int8' as unknown as 'float32' })).to.throw(`DataLoader: dtype must be 'float32' or 'float64', got "int8"`);
    expect(bad({ seed: NaN })).to.throw('DataLoader: seed must be a safe integer, got NaN');
    expect(bad({ batchSize: 3, suffle: true } as Partial<DataLoaderOptions>)).to.throw(Error, "DataLoader: unknown option 'suffle' (did you mean 'shuffle'?)");
    expect(bad({ drop_last: true } as Partial<DataLoaderOptions>)).to.throw(Error, "DataLoader: unknown option 'drop_last' (did you mean 'dropLast'?)");
    expect(bad({ batchSize: 6, dropLast: true })).to.throw('DataLoader: dropLast with batchSize 6 larger than the 5-image dataset leaves no batches');
    expect(() => new DataLoader(indexedDataset(0), { batchSize: 1 })).to.throw('DataLoader: the dataset is empty');
    expect(() => new DataLoader({ ...ds, images: ds.images.subarray(1) }, { batchSize: 1 })).to.throw(
      'DataLoader: dataset images must be a Uint8Array of count×3072 = 15360 bytes, got 15359 bytes',
    );
    expect(() => new DataLoader({ ...ds, labels: new Uint8Array([0, 1, 2, 3, 10]) }, { batchSize: 1 })).to.throw(
      'DataLoader: dataset label 10 of image 4 is not below the 10 classes',
    );
  });
});
