/**
 * A narrow, checked wrapper of the parts of ndarray / ndarray-ops that the data pipeline uses:
 * strided views (`lo`, `hi`, `step`, `pick`), element access, and the compiled copy/fill loops.
 *
 * Why a wrapper: ndarray's typings are loose (`get(...args)`, views of any length) and the library
 * checks nothing at run time — `hi(40)` on a 32-long axis silently reads past the view, `lo(-1)`
 * is ignored, and ndarray-ops `assign` copies mismatched shapes without complaint. Every method
 * here validates its arguments so a wrong crop window fails loudly instead of copying garbage.
 * The checks cost a few comparisons per call; the copies they guard move thousands of elements.
 */
// `import = require`, not a default import: ndarray is a CommonJS `export =` module, and a default
// import reads a `default` property, undefined in a consumer compiled without esModuleInterop.
import ndarray = require('ndarray');
import * as ops from 'ndarray-ops';
import { fmtValue } from '../core/errors';

/** The element storages the data pipeline views: raw bytes and float batches. */
export type ViewData = Uint8Array | Float32Array | Float64Array;

// ndarray stores offsets with `|0`, so anything beyond int32 would wrap around silently.
const MAX_INDEX = 2147483647;

function fmt(xs: readonly number[]): string {
  return `[${xs.join(',')}]`;
}

export class NdView<D extends ViewData> {
  private readonly nd: ndarray.NdArray<D>;

  /** Use `view()` to build one; the constructor trusts that `nd` was validated. */
  private constructor(nd: ndarray.NdArray<D>) {
    this.nd = nd;
  }

  /** @internal Wraps an ndarray whose bounds have already been checked. */
  static wrapChecked<E extends ViewData>(nd: ndarray.NdArray<E>): NdView<E> {
    return new NdView<E>(nd);
  }

  /** @internal The underlying ndarray, for the ndarray-ops calls in this module. */
  raw(): ndarray.NdArray<D> {
    return this.nd;
  }

  get data(): D {
    return this.nd.data;
  }

  get shape(): readonly number[] {
    return this.nd.shape.slice();
  }

  get stride(): readonly number[] {
    return this.nd.stride.slice();
  }

  get offset(): number {
    return this.nd.offset;
  }

  get dimension(): number {
    return this.nd.shape.length;
  }

  get size(): number {
    let n = 1;
    for (const s of this.nd.shape) n *= s;
    return n;
  }

  /** Element at `idx` (one index per axis). */
  get(...idx: number[]): number {
    this.checkIndex('NdView.get', idx);
    return this.nd.data[this.flatIndex(idx)];
  }

  set(value: number, ...idx: number[]): void {
    if (typeof value !== 'number') throw new Error(`NdView.set: value must be a number, got ${String(value)}`);
    this.checkIndex('NdView.set', idx);
    this.nd.data[this.flatIndex(idx)] = value;
  }

  /**
   * The view that starts at `starts` (one per axis; `null` keeps the axis as is), like
   * ndarray's `lo`. Each start must lie in [0, shape[i]].
   */
  lo(...starts: Array<number | null>): NdView<D> {
    this.checkPerAxis('NdView.lo', starts, (s, n) => Number.isInteger(s) && s >= 0 && s <= n, 'in [0, size]');
    return new NdView<D>(this.nd.lo(...starts.map(nullToSkip)));
  }

  /** The view truncated to `sizes` (one per axis; `null` keeps the axis), like ndarray's `hi`. */
  hi(...sizes: Array<number | null>): NdView<D> {
    this.checkPerAxis('NdView.hi', sizes, (s, n) => Number.isInteger(s) && s >= 0 && s <= n, 'in [0, size]');
    return new NdView<D>(this.nd.hi(...sizes.map(nullToSkip)));
  }

  /**
   * Every `steps[i]`-th element along axis i (`null` keeps the axis); a negative step walks the
   * axis backwards from its last element, so `step(null, null, -1)` mirrors the last axis.
   */
  step(...steps: Array<number | null>): NdView<D> {
    this.checkPerAxis('NdView.step', steps, (s) => Number.isInteger(s) && s !== 0, 'a non-zero integer');
    // ndarray's step leaves an axis alone only when its argument is not a number at all.
    const args: Array<number | undefined> = steps.map((s) => (s === null ? undefined : s));
    return new NdView<D>(this.nd.step(...(args as number[])));
  }

  /** Fixes the axes given a number and keeps those given `null`, dropping the fixed ones. */
  pick(...idx: Array<number | null>): NdView<D> {
    this.checkPerAxis('NdView.pick', idx, (s, n) => Number.isInteger(s) && s >= 0 && s < n, 'in [0, size)');
    if (!idx.some((i) => i === null) && idx.length === this.dimension) {
      throw new Error(`NdView.pick: picking every axis of shape ${fmt(this.nd.shape)} leaves no view; use get()`);
    }
    return new NdView<D>(this.nd.pick(...idx.map((i) => (i === null ? -1 : i))) as ndarray.NdArray<D>);
  }

  /** The elements in row-major order of this view's shape, as plain numbers (for tests and debugging). */
  toArray(): number[] {
    const out: number[] = [];
    const shape = this.nd.shape;
    const idx = new Array<number>(shape.length).fill(0);
    const n = this.size;
    for (let k = 0; k < n; k++) {
      out.push(this.nd.data[this.flatIndex(idx)]);
      for (let a = shape.length - 1; a >= 0; a--) {
        if (++idx[a] < shape[a]) break;
        idx[a] = 0;
      }
    }
    return out;
  }

  private flatIndex(idx: readonly number[]): number {
    let p = this.nd.offset;
    for (let i = 0; i < idx.length; i++) p += this.nd.stride[i] * idx[i];
    return p;
  }

  private checkIndex(op: string, idx: readonly number[]): void {
    const shape = this.nd.shape;
    if (idx.length !== shape.length) {
      throw new Error(`${op}: got ${idx.length} indices ${fmt(idx)} for a view of shape ${fmt(shape)}`);
    }
    for (let i = 0; i < idx.length; i++) {
      if (!Number.isInteger(idx[i]) || idx[i] < 0 || idx[i] >= shape[i]) {
        throw new Error(`${op}: index ${fmt(idx)} is out of bounds for shape ${fmt(shape)} (axis ${i})`);
      }
    }
  }

  private checkPerAxis(
    op: string,
    args: ReadonlyArray<number | null>,
    ok: (value: number, size: number) => boolean,
    what: string,
  ): void {
    const shape = this.nd.shape;
    if (args.length === 0 || args.length > shape.length) {
      throw new Error(`${op}: got ${args.length} arguments for a view of shape ${fmt(shape)} (need 1..${shape.length})`);
    }
    for (let i = 0; i < args.length; i++) {
      const v = args[i];
      if (v === null) continue;
      if (typeof v !== 'number' || !ok(v, shape[i])) {
        throw new Error(`${op}: argument ${i} is ${String(v)}, must be ${what} for axis ${i} of shape ${fmt(shape)}`);
      }
    }
  }
}

function nullToSkip(v: number | null): number {
  // ndarray's lo/hi leave an axis unchanged when given a negative number.
  return v === null ? -1 : v;
}

/**
 * A strided view of `data` with `shape`; `stride` defaults to row-major and `offset` to 0.
 * Throws if any element the view addresses lies outside `data`.
 */
export function view<D extends ViewData>(
  data: D,
  shape: readonly number[],
  stride?: readonly number[],
  offset = 0,
): NdView<D> {
  if (!(data instanceof Uint8Array || data instanceof Float32Array || data instanceof Float64Array)) {
    throw new Error(`view: data must be a Uint8Array, Float32Array or Float64Array`);
  }
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new Error(`view: shape must be a non-empty list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  let st: number[];
  if (stride === undefined) {
    st = new Array<number>(shape.length);
    for (let i = shape.length - 1, acc = 1; i >= 0; i--) {
      st[i] = acc;
      acc *= shape[i];
    }
  } else {
    if (!Array.isArray(stride) || stride.length !== shape.length || !stride.every((s) => Number.isInteger(s))) {
      throw new Error(`view: stride ${JSON.stringify(stride)} must be ${shape.length} integers for shape ${fmt(shape)}`);
    }
    st = stride.slice();
  }
  if (!Number.isInteger(offset)) throw new Error(`view: offset must be an integer, got ${fmtValue(offset)}`);
  if (data.length > MAX_INDEX) throw new Error(`view: data has ${data.length} elements, more than ndarray can index`);
  const empty = shape.some((s) => s === 0);
  if (!empty) {
    let lo = offset;
    let hi = offset;
    for (let i = 0; i < shape.length; i++) {
      const span = st[i] * (shape[i] - 1);
      if (span < 0) lo += span;
      else hi += span;
    }
    if (lo < 0 || hi >= data.length) {
      throw new Error(
        `view: shape ${fmt(shape)}, stride ${fmt(st)}, offset ${offset} addresses elements ${lo}..${hi} ` +
          `outside data of length ${data.length}`,
      );
    }
  }
  return NdView.wrapChecked(ndarray(data, shape.slice(), st, offset));
}

/**
 * Copies `src` into `dst` element by element (converting between element types, as a JS
 * assignment does), with ndarray-ops' compiled loop. The shapes must match exactly.
 */
export function assign<D extends ViewData, E extends ViewData>(dst: NdView<D>, src: NdView<E>): void {
  if (!(dst instanceof NdView) || !(src instanceof NdView)) throw new Error('assign: dst and src must be NdViews');
  const a = dst.raw().shape;
  const b = src.raw().shape;
  if (a.length !== b.length || a.some((s, i) => s !== b[i])) {
    throw new Error(`assign: shape mismatch, dst ${fmt(a)} vs src ${fmt(b)}`);
  }
  // The typings demand one element type for both sides; the compiled loop handles any pair.
  ops.assign(dst.raw() as unknown as ndarray.NdArray, src.raw() as unknown as ndarray.NdArray);
}

/** Sets every element of `dst` to `value`. */
export function fill<D extends ViewData>(dst: NdView<D>, value: number): void {
  if (!(dst instanceof NdView)) throw new Error('fill: dst must be an NdView');
  if (typeof value !== 'number') throw new Error(`fill: value must be a number, got ${String(value)}`);
  ops.assigns(dst.raw() as unknown as ndarray.NdArray, value);
}
