/**
 * Index kernels: gather, scatter (assign or add), index select / index add, embedding backward.
 * Indices arrive as validated, non-negative Int32Array values (the functional layer checks them
 * against the shapes, naming the op); these loops trust them. The indexed side and the data side
 * are read or written through their own strides, so a non-contiguous input costs no copy.
 *
 * gather/scatter walk the index's shape row-major with an odometer that keeps two offsets: the
 * position in the data tensor without the indexed dim, and the position in the other tensor (out
 * for gather, src for scatter). Cost: one pass over the index, O(index.numel · ndim) at worst,
 * O(index.numel) amortised. indexSelect/indexAdd view the tensors as [outer, D, inner] and move
 * whole inner runs.
 */
import type { FloatArray } from '../core/dtype';
import type { StridedView } from './elementwise';

/**
 * Calls visit(k, base, other) for every row-major position k of `shape`, with base = Σ_{d≠dim}
 * p_d·aStrides[d] and other = Σ_d p_d·bStrides[d] (both without the views' offsets).
 */
function walk(
  shape: readonly number[], dim: number, aStrides: readonly number[], bStrides: readonly number[],
  visit: (k: number, base: number, other: number) => void,
): void {
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const nd = shape.length;
  const p = new Array<number>(nd).fill(0);
  let base = 0, other = 0;
  for (let k = 0; k < total; k++) {
    visit(k, base, other);
    for (let d = nd - 1; d >= 0; d--) {
      if (++p[d] < shape[d]) {
        if (d !== dim) base += aStrides[d];
        other += bStrides[d];
        break;
      }
      if (d !== dim) base -= (shape[d] - 1) * aStrides[d];
      other -= (shape[d] - 1) * bStrides[d];
      p[d] = 0;
    }
  }
}

/** out[p] = src[p with p[dim] ← index[p]] over index's shape (torch.gather); out contiguous in that shape. */
export function gather(src: StridedView, dim: number, index: Int32Array, indexShape: readonly number[], out: FloatArray): void {
  const s = src.storage, o0 = src.offset, sd = src.strides[dim];
  const none = new Array<number>(indexShape.length).fill(0);
  walk(indexShape, dim, src.strides, none, (k, base) => {
    out[k] = s[o0 + base + index[k] * sd];
  });
}

/**
 * dst[p with p[dim] ← index[p]] = src[p] ('assign') or += src[p] ('add') over index's shape
 * (torch.scatter_ / scatter_add_), in index order, so with repeated targets the last write wins
 * under 'assign'. With `owner` (dst-sized, filled with −1 by the caller, dst contiguous) each
 * assigned position records the row-major index position whose value it holds.
 */
export function scatter(
  dst: StridedView, dim: number, index: Int32Array, indexShape: readonly number[], src: StridedView | number,
  mode: 'assign' | 'add', owner: Float64Array | null = null,
): void {
  const d = dst.storage, o0 = dst.offset, dd = dst.strides[dim];
  const scalar = typeof src === 'number';
  const s = scalar ? null : src.storage, so = scalar ? 0 : src.offset;
  const sStrides = scalar ? new Array<number>(indexShape.length).fill(0) : src.strides;
  walk(indexShape, dim, dst.strides, sStrides, (k, base, other) => {
    const at = o0 + base + index[k] * dd;
    const v = scalar ? src : s![so + other];
    if (mode === 'add') d[at] += v;
    else {
      d[at] = v;
      if (owner !== null) owner[at] = k;
    }
  });
}

/** out[o, j, i] = src[o, index[j], i] for src seen as [outer, D, inner] (torch.index_select); out contiguous. */
export function indexSelect(src: FloatArray, outer: number, D: number, inner: number, index: Int32Array, out: FloatArray): void {
  const n = index.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const from = (o * D + index[j]) * inner, to = (o * n + j) * inner;
      for (let i = 0; i < inner; i++) out[to + i] = src[from + i];
    }
  }
}

/**
 * dst[o, index[j], i] += src[o, j, i] (torch.index_add_, the backward of index select and of an
 * embedding lookup), dst contiguous [outer, D, inner]. Rows j whose index equals `skip` add nothing
 * (an embedding's padding row); `scale[index[j]]`, when given, multiplies each added row
 * (scaleGradByFreq's 1/count, already rounded to dst's dtype as torch's add_ alpha).
 */
export function indexAdd(
  dst: FloatArray, outer: number, D: number, inner: number, index: Int32Array, src: FloatArray,
  skip = -1, scale: FloatArray | null = null,
): void {
  const n = index.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const r = index[j];
      if (r === skip) continue;
      const to = (o * D + r) * inner, from = (o * n + j) * inner;
      if (scale === null) for (let i = 0; i < inner; i++) dst[to + i] += src[from + i];
      else {
        const c = scale[r];
        for (let i = 0; i < inner; i++) dst[to + i] += c * src[from + i];
      }
    }
  }
}
