import { expect } from 'chai';
import { ImageDataset } from '../../../lib/data/dataset';
import { SYNTHETIC_CLASS_NAMES, makeSyntheticDataset } from '../../../lib/data/synthetic';
import { Random } from '../../../lib/random';

const PIX = 3072;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

// ---------------------------------------------------------------------------------------------
// Baseline classifiers, written as plain loops so they depend on nothing in the library.
// ---------------------------------------------------------------------------------------------

type Features = (ds: ImageDataset, i: number) => Float64Array;

/** Joint RGB histogram with 4 bins per channel (64 bins), as fractions of the 1,024 pixels. */
const colourHistogram: Features = (ds, i) => {
  const h = new Float64Array(64);
  const o = i * PIX;
  for (let p = 0; p < 1024; p++) {
    const r = ds.images[o + p] >> 6;
    const g = ds.images[o + 1024 + p] >> 6;
    const b = ds.images[o + 2048 + p] >> 6;
    h[(r * 4 + g) * 4 + b] += 1 / 1024;
  }
  return h;
};

const rawPixels: Features = (ds, i) => {
  const f = new Float64Array(PIX);
  for (let d = 0; d < PIX; d++) f[d] = ds.images[i * PIX + d] / 255;
  return f;
};

/** Nearest class mean (Euclidean) in feature space; returns the test accuracy. */
function nearestClassMean(train: ImageDataset, test: ImageDataset, feat: Features, classes = 10): number {
  const dim = feat(train, 0).length;
  const means = Array.from({ length: classes }, () => new Float64Array(dim));
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < train.count; i++) {
    const f = feat(train, i);
    const m = means[train.labels[i]];
    for (let d = 0; d < dim; d++) m[d] += f[d];
    counts[train.labels[i]]++;
  }
  for (let c = 0; c < classes; c++) for (let d = 0; d < dim; d++) means[c][d] /= counts[c];
  let correct = 0;
  for (let i = 0; i < test.count; i++) {
    const f = feat(test, i);
    let best = -1;
    let bestDist = Infinity;
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += (f[d] - means[c][d]) ** 2;
      if (s < bestDist) {
        bestDist = s;
        best = c;
      }
    }
    if (best === test.labels[i]) correct++;
  }
  return correct / test.count;
}

/**
 * Multinomial logistic regression on standardised raw pixels, trained by plain SGD for `epochs`
 * passes (learning rate 1e-3, L2 1e-4); returns the test accuracy.
 */
function softmaxRegression(train: ImageDataset, test: ImageDataset, epochs: number, classes = 10): number {
  const dim = PIX;
  const mean = new Float64Array(dim);
  const sd = new Float64Array(dim);
  for (let i = 0; i < train.count; i++) for (let d = 0; d < dim; d++) mean[d] += train.images[i * PIX + d] / train.count;
  for (let i = 0; i < train.count; i++) for (let d = 0; d < dim; d++) sd[d] += (train.images[i * PIX + d] - mean[d]) ** 2 / train.count;
  for (let d = 0; d < dim; d++) sd[d] = Math.sqrt(sd[d]) + 1e-8;
  const standardise = (ds: ImageDataset, i: number, x: Float64Array): void => {
    for (let d = 0; d < dim; d++) x[d] = (ds.images[i * PIX + d] - mean[d]) / sd[d];
  };
  const W = new Float64Array(classes * dim);
  const b = new Float64Array(classes);
  const z = new Float64Array(classes);
  const x = new Float64Array(dim);
  const scores = (): void => {
    for (let c = 0; c < classes; c++) {
      let s = b[c];
      for (let d = 0; d < dim; d++) s += W[c * dim + d] * x[d];
      z[c] = s;
    }
  };
  const lr = 1e-3;
  const rng = new Random(1234);
  for (let e = 0; e < epochs; e++) {
    for (const i of rng.permutation(train.count)) {
      standardise(train, i, x);
      scores();
      let mx = -Infinity;
      for (let c = 0; c < classes; c++) mx = Math.max(mx, z[c]);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += (z[c] = Math.exp(z[c] - mx));
      for (let c = 0; c < classes; c++) {
        const g = z[c] / sum - (c === train.labels[i] ? 1 : 0);
        b[c] -= lr * g;
        for (let d = 0; d < dim; d++) W[c * dim + d] -= lr * (g * x[d] + 1e-4 * W[c * dim + d]);
      }
    }
  }
  let correct = 0;
  for (let i = 0; i < test.count; i++) {
    standardise(test, i, x);
    scores();
    let best = 0;
    for (let c = 1; c < classes; c++) if (z[c] > z[best]) best = c;
    if (best === test.labels[i]) correct++;
  }
  return correct / test.count;
}

/**
 * Control data for the baselines: classes that ARE separable by colour (each class its own
 * colour) or by a fixed pixel pattern (a white square at a class-specific place on a random,
 * darker background). A baseline that fails these would prove nothing by failing on the synthetic set.
 */
function controlDataset(kind: 'colour' | 'position', count: number, seed: number): ImageDataset {
  const rng = new Random(seed);
  const images = new Uint8Array(count * PIX);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 10;
    labels[i] = label;
    const o = i * PIX;
    for (let c = 0; c < 3; c++) {
      // Class colours: corners and mid-points of the RGB cube, clearly apart.
      const base = kind === 'colour' ? [[40, 40, 40], [220, 40, 40], [40, 220, 40], [40, 40, 220], [220, 220, 40], [220, 40, 220], [40, 220, 220], [220, 220, 220], [130, 130, 40], [40, 130, 130]][label][c] : rng.integer(0, 150);
      for (let p = 0; p < 1024; p++) {
        let v = base + rng.integer(-20, 21);
        if (kind === 'position') {
          const y = p >> 5, x = p & 31;
          const cy = 4 + 8 * Math.floor(label / 4), cx = 4 + 8 * (label % 4);
          if (Math.abs(y - cy) < 4 && Math.abs(x - cx) < 4) v = 255;
        }
        images[o + c * 1024 + p] = Math.max(0, Math.min(255, v));
      }
    }
  }
  return { images, labels, count, channels: 3, height: 32, width: 32, classNames: SYNTHETIC_CLASS_NAMES.slice() };
}

describe('lib/data/synthetic', () => {
  it('is a deterministic function of the seed', () => {
    const a = makeSyntheticDataset({ seed: 5, trainSize: 300, testSize: 100 });
    const b = makeSyntheticDataset({ seed: 5, trainSize: 300, testSize: 100 });
    const c = makeSyntheticDataset({ seed: 6, trainSize: 300, testSize: 100 });
    expect(sameBytes(a.train.images, b.train.images)).to.equal(true);
    expect(sameBytes(a.test.images, b.test.images)).to.equal(true);
    expect(Array.from(a.train.labels)).to.deep.equal(Array.from(b.train.labels));
    expect(sameBytes(a.train.images, c.train.images)).to.equal(false);
    expect(sameBytes(a.test.images, c.test.images)).to.equal(false);
  });

  it('draws each split from its own stream: one split does not depend on the other split size', () => {
    const a = makeSyntheticDataset({ seed: 9, trainSize: 200, testSize: 50 });
    const b = makeSyntheticDataset({ seed: 9, trainSize: 80, testSize: 50 });
    expect(sameBytes(a.test.images, b.test.images)).to.equal(true);
    const c = makeSyntheticDataset({ seed: 9, trainSize: 200, testSize: 0 });
    expect(sameBytes(a.train.images, c.train.images)).to.equal(true);
    expect(c.test.count).to.equal(0);
  });

  it('has the ImageDataset layout, 10 named classes, and balanced labels', () => {
    const { train, test } = makeSyntheticDataset({ seed: 1, trainSize: 1003, testSize: 500 });
    expect(train.count).to.equal(1003);
    expect(train.images.length).to.equal(1003 * PIX);
    expect([train.channels, train.height, train.width]).to.deep.equal([3, 32, 32]);
    expect(train.classNames).to.have.length(10);
    expect(new Set(train.classNames).size).to.equal(10);
    const counts = (ds: ImageDataset): number[] => {
      const n = new Array<number>(10).fill(0);
      for (const l of ds.labels) n[l]++;
      return n;
    };
    const tc = counts(train);
    expect(tc.reduce((a, b) => a + b, 0)).to.equal(1003);
    expect(Math.min(...tc)).to.equal(100);
    expect(Math.max(...tc)).to.equal(101);
    expect(counts(test)).to.deep.equal(new Array<number>(10).fill(50));
  });

  it('shares no image between train and test, and repeats none within a split', () => {
    const { train, test } = makeSyntheticDataset({ seed: 3, trainSize: 2000, testSize: 1000 });
    const seen = new Set<string>();
    for (let i = 0; i < train.count; i++) seen.add(Buffer.from(train.images.subarray(i * PIX, (i + 1) * PIX)).toString('base64'));
    expect(seen.size).to.equal(train.count);
    for (let i = 0; i < test.count; i++) {
      expect(seen.has(Buffer.from(test.images.subarray(i * PIX, (i + 1) * PIX)).toString('base64'))).to.equal(false);
    }
  });

  it('uses the full range of colours in every class (colour is not a class cue)', () => {
    const { train } = makeSyntheticDataset({ seed: 4, trainSize: 2000, testSize: 0 });
    // Per class, the mean of each channel over all pixels should sit near the middle of 0..255,
    // since foreground and background colours are uniform and independent of the class.
    const sums = Array.from({ length: 10 }, () => [0, 0, 0]);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < train.count; i++) {
      const l = train.labels[i];
      counts[l]++;
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let p = 0; p < 1024; p++) s += train.images[i * PIX + c * 1024 + p];
        sums[l][c] += s / 1024;
      }
    }
    for (let l = 0; l < 10; l++) {
      for (let c = 0; c < 3; c++) {
        // 200 images whose mean is a mix of two U(0,255) values: sd of the class mean ≈ 74/√200 ≈ 5.2; 4 sd.
        expect(Math.abs(sums[l][c] / counts[l] - 127.5)).to.be.below(21, `class ${l} channel ${c}`);
      }
    }
  });

  describe('baselines that must fail', () => {
    let train: ImageDataset;
    let test: ImageDataset;
    before(() => {
      ({ train, test } = makeSyntheticDataset({ seed: 11, trainSize: 3000, testSize: 1000 }));
    });

    it('the baseline classifiers work on data that is separable by their features', () => {
      const colTrain = controlDataset('colour', 500, 1);
      const colTest = controlDataset('colour', 200, 2);
      expect(nearestClassMean(colTrain, colTest, colourHistogram)).to.be.above(0.95);
      const posTrain = controlDataset('position', 500, 3);
      const posTest = controlDataset('position', 200, 4);
      expect(nearestClassMean(posTrain, posTest, rawPixels)).to.be.above(0.95);
      expect(softmaxRegression(posTrain, posTest, 2)).to.be.above(0.95);
    });

    it('a colour-histogram nearest-class-mean classifier is near chance', () => {
      const acc = nearestClassMean(train, test, colourHistogram);
      console.log(`      colour-histogram nearest class mean: ${(100 * acc).toFixed(1)}% (chance 10%)`);
      expect(acc).to.be.below(0.35);
    });

    it('a nearest-class-mean classifier on raw pixels is near chance', () => {
      const acc = nearestClassMean(train, test, rawPixels);
      console.log(`      raw-pixel nearest class mean: ${(100 * acc).toFixed(1)}% (chance 10%)`);
      expect(acc).to.be.below(0.35);
    });

    it('softmax regression on raw pixels (3 epochs of SGD) stays far from solving it', () => {
      const acc = softmaxRegression(train, test, 3);
      console.log(`      raw-pixel softmax regression: ${(100 * acc).toFixed(1)}% (chance 10%)`);
      expect(acc).to.be.below(0.35);
    });
  });

  it('rejects bad options with the offending value named', () => {
    expect(() => makeSyntheticDataset({ seed: NaN, trainSize: 1, testSize: 1 })).to.throw('makeSyntheticDataset: seed must be a safe integer, got NaN');
    expect(() => makeSyntheticDataset({ seed: 1, trainSize: -1, testSize: 1 })).to.throw(/^makeSyntheticDataset: trainSize must be an integer in \[0, \d+\], got -1/);
    expect(() => makeSyntheticDataset({ seed: 1, trainSize: 10, testSize: 2.5 })).to.throw(/^makeSyntheticDataset: testSize must be an integer in \[0, \d+\], got 2.5/);
    expect(() => makeSyntheticDataset(null as unknown as { seed: number; trainSize: number; testSize: number })).to.throw(/^makeSyntheticDataset: options must be/);
    expect(() => makeSyntheticDataset({ seed: 1, trainSize: 4, testSize: 1, train_size: 100 } as { seed: number; trainSize: number; testSize: number }))
      .to.throw(Error, "makeSyntheticDataset: unknown option 'train_size' (did you mean 'trainSize'?)");
  });
});
