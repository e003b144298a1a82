import { expect } from 'chai';
// Test fixtures only: temporary directories are created and removed here with Node's fs; the
// code under test reads them through lib/platform/fs.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CIFAR10_RECORD_BYTES, loadCifar10, type Cifar10Options } from '../../../lib/data/cifar10';
import { readFileRange } from '../../../lib/platform/fs';

const REAL_DIR = path.resolve(__dirname, '../../../../shared/data/cifar-10-batches-bin');
const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** A record whose pixels are a recognisable function of (file, record): byte k = (seed + 7k) mod 256. */
function record(label: number, seed: number): Uint8Array {
  const r = new Uint8Array(CIFAR10_RECORD_BYTES);
  r[0] = label;
  for (let k = 0; k < 3072; k++) r[1 + k] = (seed + 7 * k) % 256;
  return r;
}

function expectedPixels(seed: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < 3072; k++) out.push((seed + 7 * k) % 256);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A fake CIFAR-10 directory: train files 1..5 with 2, 3, 1, 2, 2 records and a 3-record test file.
 * Record j of train file f has label (f + j) % 10 and pixel seed 10·f + j; the test file uses seeds 100+j.
 */
const TRAIN_RECORDS = [2, 3, 1, 2, 2];

function makeFakeDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-cifar-'));
  TRAIN_RECORDS.forEach((n, f) => {
    const recs = Array.from({ length: n }, (_, j) => record((f + 1 + j) % 10, 10 * (f + 1) + j));
    fs.writeFileSync(path.join(dir, `data_batch_${f + 1}.bin`), concat(recs));
  });
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), concat([record(9, 100), record(0, 101), record(5, 102)]));
  // Blank lines (including a trailing one and CRLF endings) are not class names.
  fs.writeFileSync(path.join(dir, 'batches.meta.txt'), `\n${NAMES.slice(0, 5).join('\r\n')}\r\n\n${NAMES.slice(5).join('\n')}\n\n`);
  return dir;
}

describe('lib/data/cifar10', () => {
  let dir = '';
  beforeEach(() => {
    dir = makeFakeDir();
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('concatenates data_batch_1..5 in order, record by record', () => {
    const ds = loadCifar10(dir, { split: 'train' });
    expect(ds.count).to.equal(10);
    expect([ds.channels, ds.height, ds.width]).to.deep.equal([3, 32, 32]);
    expect(ds.images.length).to.equal(10 * 3072);
    const expectedLabels: number[] = [];
    const seeds: number[] = [];
    TRAIN_RECORDS.forEach((n, f) => {
      for (let j = 0; j < n; j++) {
        expectedLabels.push((f + 1 + j) % 10);
        seeds.push(10 * (f + 1) + j);
      }
    });
    expect(Array.from(ds.labels)).to.deep.equal(expectedLabels);
    seeds.forEach((seed, i) => {
      expect(Array.from(ds.images.subarray(i * 3072, (i + 1) * 3072))).to.deep.equal(expectedPixels(seed), `image ${i}`);
    });
    expect(ds.classNames).to.deep.equal(NAMES);
  });

  it('reads the test split from test_batch.bin only', () => {
    const ds = loadCifar10(dir, { split: 'test' });
    expect(ds.count).to.equal(3);
    expect(Array.from(ds.labels)).to.deep.equal([9, 0, 5]);
    expect(Array.from(ds.images.subarray(2 * 3072))).to.deep.equal(expectedPixels(102));
  });

  it('limit keeps the first N images, across file boundaries, and clamps to the split size', () => {
    const full = loadCifar10(dir, { split: 'train' });
    for (const n of [1, 2, 4, 6, 10]) {
      const ds = loadCifar10(dir, { split: 'train', limit: n });
      expect(ds.count).to.equal(n);
      expect(Array.from(ds.labels)).to.deep.equal(Array.from(full.labels.subarray(0, n)));
      expect(Buffer.from(ds.images).equals(Buffer.from(full.images.subarray(0, n * 3072)))).to.equal(true);
    }
    expect(loadCifar10(dir, { split: 'train', limit: 1000 }).count).to.equal(10);
  });

  it('limit reads only the records it needs: a bad label beyond the limit goes unnoticed', () => {
    // Record 1 of data_batch_2 (image 3 of the split) gets label 10.
    const file = path.join(dir, 'data_batch_2.bin');
    const bytes = fs.readFileSync(file);
    bytes[CIFAR10_RECORD_BYTES] = 10;
    fs.writeFileSync(file, bytes);
    expect(loadCifar10(dir, { split: 'train', limit: 3 }).count).to.equal(3);
    expect(() => loadCifar10(dir, { split: 'train', limit: 4 })).to.throw(
      `loadCifar10: ${file} record 1 (image 3 of the train split) has label 10, outside 0–9`,
    );
  });

  it('names a missing directory', () => {
    const missing = path.join(dir, 'nope');
    expect(() => loadCifar10(missing, { split: 'train' })).to.throw(`loadCifar10: directory not found: ${missing}`);
  });

  it('names a missing batch file', () => {
    const file = path.join(dir, 'data_batch_3.bin');
    fs.unlinkSync(file);
    expect(() => loadCifar10(dir, { split: 'train' })).to.throw(new RegExp(`^loadCifar10: missing file ${escape(file)} \\(the train split needs`));
    // The test split does not need it.
    expect(loadCifar10(dir, { split: 'test' }).count).to.equal(3);
    fs.unlinkSync(path.join(dir, 'test_batch.bin'));
    expect(() => loadCifar10(dir, { split: 'test' })).to.throw(/^loadCifar10: missing file .*test_batch\.bin/);
  });

  it('names a file whose size is not a whole number of records, even when limit would not reach it', () => {
    const file = path.join(dir, 'data_batch_4.bin');
    fs.writeFileSync(file, new Uint8Array(2 * CIFAR10_RECORD_BYTES + 5));
    const msg = `loadCifar10: ${file} has 6151 bytes, not a positive multiple of the 3073-byte record (2 whole records and 5 bytes over)`;
    expect(() => loadCifar10(dir, { split: 'train' })).to.throw(msg);
    expect(() => loadCifar10(dir, { split: 'train', limit: 1 })).to.throw(msg);
    fs.writeFileSync(file, new Uint8Array(0));
    expect(() => loadCifar10(dir, { split: 'train' })).to.throw(`loadCifar10: ${file} has 0 bytes`);
  });

  it('names the file and record of a label outside 0-9', () => {
    const file = path.join(dir, 'test_batch.bin');
    fs.writeFileSync(file, concat([record(3, 0), record(255, 1)]));
    expect(() => loadCifar10(dir, { split: 'test' })).to.throw(
      `loadCifar10: ${file} record 1 (image 1 of the test split) has label 255, outside 0–9`,
    );
  });

  it('requires batches.meta.txt with exactly 10 class names', () => {
    const meta = path.join(dir, 'batches.meta.txt');
    fs.writeFileSync(meta, NAMES.slice(0, 9).join('\n') + '\n\n');
    expect(() => loadCifar10(dir, { split: 'test' })).to.throw(`loadCifar10: ${meta} lists 9 class names, expected 10`);
    fs.writeFileSync(meta, [...NAMES, 'extra'].join('\n'));
    expect(() => loadCifar10(dir, { split: 'test' })).to.throw(`loadCifar10: ${meta} lists 11 class names, expected 10`);
    fs.unlinkSync(meta);
    expect(() => loadCifar10(dir, { split: 'test' })).to.throw(`loadCifar10: missing file ${meta}`);
  });

  it('rejects a limit that is not a positive integer, and an unknown split', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, '3']) {
      expect(() => loadCifar10(dir, { split: 'train', limit: bad as number })).to.throw(`loadCifar10: limit must be a positive integer, got ${String(bad)}`);
    }
    expect(() => loadCifar10(dir, { split: 'val' as 'train' })).to.throw(`loadCifar10: split must be 'train' or 'test', got "val"`);
    expect(() => loadCifar10('', { split: 'train' })).to.throw(/^loadCifar10: dir must be a non-empty string/);
  });

  it('rejects an unknown option instead of ignoring it (a misspelt limit would read the whole split)', () => {
    expect(() => loadCifar10(dir, { split: 'test', limt: 5 } as Cifar10Options)).to.throw(Error, "loadCifar10: unknown option 'limt' (did you mean 'limit'?)");
    expect(() => loadCifar10(dir, { split: 'test', max_images: 5 } as Cifar10Options)).to.throw(Error, "loadCifar10: unknown option 'max_images'");
  });

  describe('the real CIFAR-10 files', function () {
    before(function () {
      if (!fs.existsSync(REAL_DIR)) {
        console.log(`    (skipping: CIFAR-10 not found at ${REAL_DIR})`);
        this.skip();
      }
    });

    it('has 10,000 test images, 1,000 per class, and the standard class names', () => {
      const ds = loadCifar10(REAL_DIR, { split: 'test' });
      expect(ds.count).to.equal(10000);
      expect(ds.classNames).to.deep.equal(NAMES);
      const perClass = new Array<number>(10).fill(0);
      for (const l of ds.labels) perClass[l]++;
      expect(perClass).to.deep.equal(new Array<number>(10).fill(1000));
    });

    it('has 50,000 training images in file order, and limit returns a prefix', () => {
      const ds = loadCifar10(REAL_DIR, { split: 'train' });
      expect(ds.count).to.equal(50000);
      const perClass = new Array<number>(10).fill(0);
      for (const l of ds.labels) perClass[l]++;
      expect(perClass.reduce((a, b) => a + b, 0)).to.equal(50000);
      // Image 10,000 is the first record of data_batch_2.bin, and the last image the last record of batch 5.
      const first2 = readFileRange(path.join(REAL_DIR, 'data_batch_2.bin'), 0, CIFAR10_RECORD_BYTES);
      expect(ds.labels[10000]).to.equal(first2[0]);
      expect(Buffer.from(ds.images.subarray(10000 * 3072, 10001 * 3072)).equals(Buffer.from(first2.subarray(1)))).to.equal(true);
      const last5 = readFileRange(path.join(REAL_DIR, 'data_batch_5.bin'), 9999 * CIFAR10_RECORD_BYTES, CIFAR10_RECORD_BYTES);
      expect(ds.labels[49999]).to.equal(last5[0]);
      expect(Buffer.from(ds.images.subarray(49999 * 3072)).equals(Buffer.from(last5.subarray(1)))).to.equal(true);

      const head = loadCifar10(REAL_DIR, { split: 'train', limit: 10001 });
      expect(head.count).to.equal(10001);
      expect(Buffer.from(head.images).equals(Buffer.from(ds.images.subarray(0, 10001 * 3072)))).to.equal(true);
      expect(Array.from(head.labels)).to.deep.equal(Array.from(ds.labels.subarray(0, 10001)));
    });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
