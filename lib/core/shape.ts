import { fail, fmtShape, fmtValue } from './errors';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

/** Row-major (C-contiguous) strides of `shape`, in elements. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== s) return false;
    s *= shape[i];
  }
  return true;
}

/**
 * Strides that let a tensor of `oldShape` / `oldStrides` be seen as `newShape` without copying,
 * or null when no such strides exist (ATen's computeStride, which torch.view and torch.reshape use:
 * each run of dims that is contiguous within itself must be split or merged only inside that run).
 */
export function viewStrides(oldShape: Shape, oldStrides: readonly number[], newShape: Shape): number[] | null {
  if (oldShape.length === 0) return newShape.map(() => 1);
  const n = numel(oldShape);
  if (n === 0) return shapesEqual(oldShape, newShape) ? oldStrides.slice() : contiguousStrides(newShape);
  const out = new Array<number>(newShape.length);
  let viewD = newShape.length - 1;
  let chunkBase = oldStrides[oldStrides.length - 1];
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = oldShape.length - 1; d >= 0; d--) {
    tensorNumel *= oldShape[d];
    // The end of a chunk: dim d−1 does not continue dims d.. in memory.
    if (d === 0 || (oldShape[d - 1] !== 1 && oldStrides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD];
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = oldStrides[d - 1];
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  return viewD === -1 ? out : null;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function validateShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape)) fail(op, `shape must be an array of integers, got ${String(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) fail(op, `invalid shape ${fmtShape(shape)}: dimensions must be non-negative integers`);
  }
}

/** NumPy/PyTorch broadcasting: align trailing dims; each pair must match or one must be 1. */
export function broadcastShape(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) fail(op, `cannot broadcast ${fmtShape(a)} with ${fmtShape(b)}`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Normalizes a possibly negative axis against `ndim`, PyTorch style (-1 is the last). */
export function normalizeAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis)) fail(op, `dim must be an integer, got ${fmtValue(axis)}`);
  const lo = ndim === 0 ? -1 : -ndim;
  const hi = ndim === 0 ? 0 : ndim - 1;
  if (axis < lo || axis > hi) fail(op, `dim ${axis} out of range for a ${ndim}-d tensor (expected in [${lo}, ${hi}])`);
  return axis < 0 ? axis + Math.max(ndim, 1) : axis;
}

/**
 * The sorted, de-duplicated axes a reduction runs over. `undefined` or `null` (torch's dim=None)
 * means all axes, and so does an empty list, as in PyTorch (`x.sum(dim=[])` sums everything;
 * NumPy's `axis=()` would reduce nothing). A repeated axis is an error, as in PyTorch.
 */
export function reductionAxes(op: string, dims: number | readonly number[] | undefined | null, ndim: number): number[] {
  if (dims === undefined || dims === null || (Array.isArray(dims) && dims.length === 0)) return Array.from({ length: ndim }, (_, i) => i);
  if (typeof dims !== 'number' && !Array.isArray(dims)) fail(op, `dim must be an integer or an array of integers, got ${fmtValue(dims)}`);
  const list = typeof dims === 'number' ? [dims] : dims;
  const seen = new Set<number>();
  for (const d of list) {
    const a = ndim === 0 ? (normalizeAxis(op, d, 0), -1) : normalizeAxis(op, d, ndim);
    if (a < 0) continue;
    if (seen.has(a)) fail(op, `dim ${d} appears more than once in [${list.join(',')}]`);
    seen.add(a);
  }
  return [...seen].sort((x, y) => x - y);
}

/** Shape after reducing `axes` of `shape`, keeping them as size 1 if `keepdim`. */
export function reducedShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (axes.includes(i)) {
      if (keepdim) out.push(1);
    } else out.push(shape[i]);
  }
  return out;
}

function isIntAtLeast(x: number, min: number): boolean {
  return Number.isInteger(x) && x >= min;
}

/** Parses an int or a one-element [l] array, as PyTorch's _single accepts for the 1-d conv and pool sizes. */
export function single(op: string, name: string, v: number | readonly number[], min = 0): number {
  if (typeof v !== 'number' && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
    fail(op, `${name} must be an integer >= ${min} or a one-element array of one, got ${fmtValue(v)}`);
  }
  const p: number[] = typeof v === 'number' ? [v] : [...v];
  if (p.length !== 1 || !isIntAtLeast(p[0], min)) {
    fail(op, `${name} must be an integer >= ${min} or a one-element array of one, got ${JSON.stringify(v)}`);
  }
  return p[0];
}

/** Parses an int or an [h, w] pair, as PyTorch accepts for stride/padding/kernel sizes. */
export function pair(op: string, name: string, v: number | readonly number[], min = 0): [number, number] {
  if (typeof v !== 'number' && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
    fail(op, `${name} must be an integer >= ${min} or a pair of them, got ${fmtValue(v)}`);
  }
  const p: number[] = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || !isIntAtLeast(p[0], min) || !isIntAtLeast(p[1], min)) {
    fail(op, `${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}
