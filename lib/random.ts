/**
 * Seeded random numbers: xoshiro128** (Blackman & Vigna) seeded through splitmix32.
 * One global generator, reset by `manualSeed`, drives every random draw in the project
 * (initialisation, dropout, shuffling, augmentation), so a seed reproduces a run exactly.
 * Its whole state can be saved and restored, which is how a resumed training run continues
 * with the same draws an uninterrupted one would have made.
 */
import { fmtValue } from './core/errors';
export interface RandomState {
  s: [number, number, number, number];
  /** The second Box-Muller normal, kept so normal() draws come in the same order after a restore. */
  spare: number | null;
}

export class Random {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  constructor(seed = 0) {
    this.seed(seed);
  }

  seed(seed: number): void {
    // An integer JS holds exactly: a fraction would be floored and a larger value would collide with
    // a smaller one (2^64 seeds like 0), where torch raises.
    if (!Number.isSafeInteger(seed)) throw new Error(`manualSeed: seed must be an integer between -(2^53 - 1) and 2^53 - 1, got ${fmtValue(seed)}`);
    // splitmix32 over the low and high 32 bits so seeds above 2^32 still differ.
    let x = (Math.floor(seed) >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x9e3779b9);
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.spare = null;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform on [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Uniform on [0, 1) with 24 random bits (the top ones of one draw): every value is a float32, so
   * storing it in a Float32Array cannot round it up to 1, as 53 bits within 2^-25 of 1 would. This
   * is torch.rand's float32 draw (24 bits scaled by 2^-24).
   */
  uniformFloat32(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** Uniform on [low, high). */
  uniformRange(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /** Standard normal via Box-Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [low, high), without modulo bias. */
  integer(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
      throw new Error(`randint: need integers low < high, got low=${low}, high=${high}`);
    }
    const range = high - low;
    if (range <= 4294967296) {
      const limit = 4294967296 - (4294967296 % range);
      let x = this.nextUint32();
      while (x >= limit) x = this.nextUint32();
      return low + (x % range);
    }
    return low + Math.floor(this.uniform() * range);
  }

  /** Bernoulli(p): true with probability p. */
  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0) throw new Error(`randperm: n must be a non-negative integer, got ${fmtValue(n)}`);
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.integer(0, i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  getState(): RandomState {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.spare };
  }

  setState(state: RandomState): void {
    const s = state?.s;
    if (!Array.isArray(s) || s.length !== 4 || !s.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
      throw new Error(`Random.setState: expected { s: [4 unsigned 32-bit integers], spare }, got ${JSON.stringify(state)}`);
    }
    // xoshiro's one fixed point: from an all-zero state it returns 0 forever.
    if (s.every((v) => v === 0)) {
      throw new Error('Random.setState: the state [0,0,0,0] is not one a generator can reach (it would return 0 forever)');
    }
    // A cached normal draw is finite (JSON turns NaN and ±Infinity into null anyway).
    if (state.spare !== null && !(typeof state.spare === 'number' && Number.isFinite(state.spare))) {
      throw new Error(`Random.setState: spare must be a finite number or null, got ${fmtValue(state.spare)}`);
    }
    this.s0 = s[0] | 0;
    this.s1 = s[1] | 0;
    this.s2 = s[2] | 0;
    this.s3 = s[3] | 0;
    this.spare = state.spare;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const globalRandom = new Random(0);

/** The generator behind every random draw that is not given its own. */
export function globalRng(): Random {
  return globalRandom;
}

/** Seeds the global generator, as torch.manual_seed does. */
export function manualSeed(seed: number): void {
  globalRandom.seed(seed);
}
