/**
 * A synthetic 10-class, 32×32 RGB dataset for fast training tests: five shapes (disc, ring,
 * square outline, triangle, plus) and five textures (horizontal, vertical and diagonal stripes,
 * checkerboard, dots), drawn at random positions and sizes in two random colours with pixel noise.
 *
 * What makes it a fair test of a conv net: the foreground and background colours are drawn
 * independently of the class (and either may be the brighter), so neither the colour histogram
 * nor any fixed linear function of the pixels tells the classes apart; what does is local
 * structure — edges, corners, periodic patterns — which is exactly what convolutions detect.
 * Shapes are 10–26 px and texture periods at least 4 px so the classes stay visually distinct.
 *
 * Cost: one pass over the 1,024 pixels per image for the mask and one over the 3,072 bytes for
 * colour and noise (four noise samples per 32-bit draw): about 40 µs an image, 10,000 in ~0.4 s.
 */
import { checkKnownKeys } from '../core/errors';
import { Random } from '../random';
import { CHANNELS, HEIGHT, IMAGE_BYTES, ImageDataset, WIDTH } from './dataset';

export const SYNTHETIC_CLASS_NAMES: readonly string[] = [
  'disc',
  'ring',
  'square outline',
  'triangle',
  'plus',
  'horizontal stripes',
  'vertical stripes',
  'checkerboard',
  'diagonal stripes',
  'dots',
];

export interface SyntheticOptions {
  seed: number;
  trainSize: number;
  testSize: number;
}

/** Half-width of the triangular pixel noise, in 8-bit levels (standard deviation ≈ 9.9). */
const NOISE_AMPLITUDE = 24;
/** Foreground and background must differ by at least this much in some channel to stay visible. */
const MIN_CONTRAST = 80;
// ndarray views index with int32 offsets; keep every split addressable by the loader.
const MAX_IMAGES = Math.floor(2147483647 / IMAGE_BYTES);

/**
 * Generates the train and test splits from `seed`. Each split draws from its own generator,
 * seeded from a different 53-bit value derived from `seed`, so the splits share no images and
 * changing one split's size does not change the other split.
 */
export function makeSyntheticDataset(options: SyntheticOptions): { train: ImageDataset; test: ImageDataset } {
  if (options === null || typeof options !== 'object') {
    throw new Error(`makeSyntheticDataset: options must be { seed, trainSize, testSize }, got ${String(options)}`);
  }
  checkKnownKeys('makeSyntheticDataset', options, ['seed', 'trainSize', 'testSize']);
  const { seed, trainSize, testSize } = options;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new Error(`makeSyntheticDataset: seed must be a safe integer, got ${String(seed)}`);
  for (const [name, n] of [['trainSize', trainSize], ['testSize', testSize]] as const) {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_IMAGES) {
      throw new Error(`makeSyntheticDataset: ${name} must be an integer in [0, ${MAX_IMAGES}], got ${String(n)}`);
    }
  }
  const master = new Random(seed);
  const trainSeed = draw53(master);
  const testSeed = draw53(master);
  return {
    train: generateSplit(new Random(trainSeed), trainSize),
    test: generateSplit(new Random(testSeed), testSize),
  };
}

function draw53(rng: Random): number {
  return (rng.nextUint32() >>> 11) * 4294967296 + rng.nextUint32();
}

function generateSplit(rng: Random, count: number): ImageDataset {
  const classes = SYNTHETIC_CLASS_NAMES.length;
  // Balanced: every class appears floor(count/10) or ceil(count/10) times, in random order.
  const labels = new Uint8Array(count);
  const perm = rng.permutation(count);
  for (let i = 0; i < count; i++) labels[perm[i]] = i % classes;
  const images = new Uint8Array(count * IMAGE_BYTES);
  const clamped = new Uint8ClampedArray(images.buffer, images.byteOffset, images.length);
  const mask = new Uint8Array(HEIGHT * WIDTH);
  for (let i = 0; i < count; i++) {
    drawMask(rng, labels[i], mask);
    paint(rng, mask, clamped, i * IMAGE_BYTES);
  }
  return { images, labels, count, channels: CHANNELS, height: HEIGHT, width: WIDTH, classNames: SYNTHETIC_CLASS_NAMES.slice() };
}

/** Fills `mask` (32×32, 1 = foreground) with one random instance of class `label`. */
function drawMask(rng: Random, label: number, mask: Uint8Array): void {
  mask.fill(0);
  if (label < 5) drawShape(rng, label, mask);
  else drawTexture(rng, label, mask);
}

function drawShape(rng: Random, label: number, mask: Uint8Array): void {
  const size = rng.uniformRange(10, 26);
  const half = size / 2;
  // Keep the whole shape inside the image; pixel centres are at integer + 0.5.
  const cx = rng.uniformRange(half, WIDTH - half);
  const cy = rng.uniformRange(half, HEIGHT - half);
  const x0 = Math.max(0, Math.floor(cx - half - 1));
  const x1 = Math.min(WIDTH, Math.ceil(cx + half + 1));
  const y0 = Math.max(0, Math.floor(cy - half - 1));
  const y1 = Math.min(HEIGHT, Math.ceil(cy + half + 1));
  switch (label) {
    case 0: {
      const r2 = half * half;
      forBox(x0, x1, y0, y1, (dx, dy) => dx * dx + dy * dy <= r2, cx, cy, mask);
      break;
    }
    case 1: {
      // Thickness capped at 40% of the radius so the hole stays clearly open.
      const t = rng.uniformRange(1.5, Math.min(3.5, 0.4 * half));
      const ro2 = half * half;
      const ri2 = (half - t) * (half - t);
      forBox(x0, x1, y0, y1, (dx, dy) => {
        const d2 = dx * dx + dy * dy;
        return d2 <= ro2 && d2 >= ri2;
      }, cx, cy, mask);
      break;
    }
    case 2: {
      const t = rng.uniformRange(1.5, Math.min(3.5, 0.4 * half));
      forBox(x0, x1, y0, y1, (dx, dy) => {
        const m = Math.max(Math.abs(dx), Math.abs(dy));
        return m <= half && m >= half - t;
      }, cx, cy, mask);
      break;
    }
    case 3: {
      // Equilateral, circumradius `half`, any rotation: inside = on the inner side of all three edges.
      const theta = rng.uniformRange(0, 2 * Math.PI);
      const vx: number[] = [];
      const vy: number[] = [];
      for (let k = 0; k < 3; k++) {
        vx.push(half * Math.cos(theta + (2 * Math.PI * k) / 3));
        vy.push(half * Math.sin(theta + (2 * Math.PI * k) / 3));
      }
      forBox(x0, x1, y0, y1, (dx, dy) => {
        for (let k = 0; k < 3; k++) {
          const ax = vx[k], ay = vy[k], bx = vx[(k + 1) % 3], by = vy[(k + 1) % 3];
          // The vertices run counter-clockwise, so the inside is to the left of each edge.
          if ((bx - ax) * (dy - ay) - (by - ay) * (dx - ax) < 0) return false;
        }
        return true;
      }, cx, cy, mask);
      break;
    }
    default: {
      const t = rng.uniformRange(2.5, 4.5) / 2;
      forBox(x0, x1, y0, y1, (dx, dy) => {
        const ax = Math.abs(dx), ay = Math.abs(dy);
        return (ax <= t && ay <= half) || (ay <= t && ax <= half);
      }, cx, cy, mask);
    }
  }
}

function forBox(
  x0: number, x1: number, y0: number, y1: number,
  inside: (dx: number, dy: number) => boolean,
  cx: number, cy: number, mask: Uint8Array,
): void {
  for (let y = y0; y < y1; y++) {
    const dy = y + 0.5 - cy;
    for (let x = x0; x < x1; x++) {
      if (inside(x + 0.5 - cx, dy)) mask[y * WIDTH + x] = 1;
    }
  }
}

function drawTexture(rng: Random, label: number, mask: Uint8Array): void {
  // A texture fills a random rectangle of 14–30 px a side, so its extent and position vary too.
  const w = rng.integer(14, 31);
  const h = rng.integer(14, 31);
  const x0 = rng.integer(0, WIDTH - w + 1);
  const y0 = rng.integer(0, HEIGHT - h + 1);
  let on: (x: number, y: number) => boolean;
  switch (label) {
    case 5: {
      const p = rng.uniformRange(4, 8);
      const ph = rng.uniformRange(0, p);
      on = (_x, y) => frac((y + ph) / p) < 0.5;
      break;
    }
    case 6: {
      const p = rng.uniformRange(4, 8);
      const ph = rng.uniformRange(0, p);
      on = (x) => frac((x + ph) / p) < 0.5;
      break;
    }
    case 7: {
      const c = rng.uniformRange(2, 4);
      const px = rng.uniformRange(0, c);
      const py = rng.uniformRange(0, c);
      on = (x, y) => ((Math.floor((x + px) / c) + Math.floor((y + py) / c)) & 1) === 1;
      break;
    }
    case 8: {
      // Period along x (or y) of 5–9 px, i.e. 3.5–6.4 px across the stripes; either diagonal.
      const p = rng.uniformRange(5, 9);
      const ph = rng.uniformRange(0, p);
      const sign = rng.bernoulli(0.5) ? 1 : -1;
      on = (x, y) => frac((x + sign * y + ph) / p) < 0.5;
      break;
    }
    default: {
      const p = rng.uniformRange(5, 8);
      const r = rng.uniformRange(1.2, 2);
      const r2 = r * r;
      const px = rng.uniformRange(0, p);
      const py = rng.uniformRange(0, p);
      on = (x, y) => {
        const dx = frac((x + px) / p) * p - p / 2;
        const dy = frac((y + py) / p) * p - p / 2;
        return dx * dx + dy * dy <= r2;
      };
    }
  }
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      if (on(x + 0.5, y + 0.5)) mask[y * WIDTH + x] = 1;
    }
  }
}

function frac(v: number): number {
  return v - Math.floor(v);
}

/**
 * Noise value of each byte of a random draw: the centred sum of its two nibbles (triangular on
 * [-15, 15]) scaled to ±NOISE_AMPLITUDE and rounded, so painting needs only integer adds.
 */
const NOISE_TABLE = (() => {
  const t = new Int16Array(256);
  for (let b = 0; b < 256; b++) t[b] = Math.round((((b & 15) + (b >>> 4) - 15) * NOISE_AMPLITUDE) / 15);
  return t;
})();

/**
 * Colours the mask with a random foreground over a random background, adds noise, and writes
 * the CHW bytes through `out`, a clamped view, so values past 0 or 255 saturate.
 */
function paint(rng: Random, mask: Uint8Array, out: Uint8ClampedArray, offset: number): void {
  let fg: number[];
  let bg: number[];
  do {
    fg = [rng.integer(0, 256), rng.integer(0, 256), rng.integer(0, 256)];
    bg = [rng.integer(0, 256), rng.integer(0, 256), rng.integer(0, 256)];
  } while (Math.max(Math.abs(fg[0] - bg[0]), Math.abs(fg[1] - bg[1]), Math.abs(fg[2] - bg[2])) < MIN_CONTRAST);
  const plane = HEIGHT * WIDTH;
  const noise = NOISE_TABLE;
  for (let c = 0; c < CHANNELS; c++) {
    const f = fg[c];
    const b = bg[c];
    const base = offset + c * plane;
    for (let i = 0; i < plane; i += 4) {
      // Four noise samples per 32-bit draw: a quarter of the generator calls of one per pixel.
      const u = rng.nextUint32();
      out[base + i] = (mask[i] ? f : b) + noise[u & 255];
      out[base + i + 1] = (mask[i + 1] ? f : b) + noise[(u >>> 8) & 255];
      out[base + i + 2] = (mask[i + 2] ? f : b) + noise[(u >>> 16) & 255];
      out[base + i + 3] = (mask[i + 3] ? f : b) + noise[u >>> 24];
    }
  }
}
