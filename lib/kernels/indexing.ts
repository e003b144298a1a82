/**
 * Index kernels: gather, scatter (assign or add), index select / index add, embedding backward.
 * Indices arrive as validated, non-negative Int32Array values (the functional layer checks them
 * against the shapes, naming the op); these loops trust them. The indexed side and the data side
 * are read or written through their own strides, so a non-contiguous input costs no copy.
 *
 * gather/scatter walk the index's shape row-major, one row at a time, with elementwise's RowCursor
 * keeping the row's offsets: the data tensor's without the indexed dim (that coordinate comes from
 * the index value times the dim's stride) and, for scatter, src's; the index position k (= gather's
 * out position, out being contiguous) just counts up. Dims are first collapsed (collapseDims, with
 * the index's contiguous strides among the operands): size-1 dims drop out, so a [B, 1] index walks
 * as one row of B, and dims that step every operand evenly merge into longer rows. The row body is
 * inline and steps each offset by its row stride (the data side's is 0 when the row is the indexed
 * dim), so there is no call and no allocation per element: one pass over the index, O(index.numel)
 * plus O(ndim) per row. Collapsing keeps the row-major order of positions, so every element is
 * visited in the same order as an element-by-element walk of the index: scatter's repeated targets
 * resolve (assign: the last write wins) and accumulate (add: one rounding per addition, in index
 * order) exactly as that walk would. indexSelect/indexAdd view the tensors as [outer, D, inner] and
 * move whole inner runs (single elements when inner = 1).
 */
import type { FloatArray } from '../core/dtype';
import { contiguousStrides } from '../core/shape';
import { collapseDims, RowCursor, type StridedView } from './elementwise';

/** `strides` over index's `nd` dims (0 where absent: a 0-d view) with `dim`'s set to 0 (−1: none). */
function withoutDim(strides: readonly number[], dim: number, nd: number): number[] {
  const s = new Array<number>(nd);
  for (let d = 0; d < nd; d++) s[d] = d === dim ? 0 : (strides[d] ?? 0);
  return s;
}

function count(shape: readonly number[]): number {
  let total = 1;
  for (const d of shape) total *= d;
  return total;
}

/** out[p] = src[p with p[dim] ← index[p]] over index's shape (torch.gather); out contiguous in that shape. */
export function gather(src: StridedView, dim: number, index: Int32Array, indexShape: readonly number[], out: FloatArray): void {
  if (count(indexShape) === 0) return;
  const nd = indexShape.length;
  const c = collapseDims(indexShape, [withoutDim(src.strides, dim, nd), contiguousStrides(indexShape)]);
  const s = src.storage, sd = src.strides[dim] ?? 0;
  const step = c.strides[0][c.shape.length - 1];
  const cur = new RowCursor(c.shape, [c.strides[0]], [src.offset]);
  const { offs, n, rows } = cur;
  let k = 0;
  for (let r = 0; r < rows; r++, cur.next()) {
    let b = offs[0];
    const end = k + n;
    for (; k < end; k++, b += step) out[k] = s[b + index[k] * sd];
  }
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
  if (count(indexShape) === 0) return;
  const nd = indexShape.length;
  const d = dst.storage, dd = dst.strides[dim] ?? 0;
  const scalar = typeof src === 'number';
  const c = collapseDims(indexShape, [
    withoutDim(dst.strides, dim, nd), scalar ? withoutDim([], -1, nd) : withoutDim(src.strides, -1, nd), contiguousStrides(indexShape),
  ]);
  const last = c.shape.length - 1;
  const step = c.strides[0][last];
  const add = mode === 'add';
  if (scalar) {
    const v = src;
    const cur = new RowCursor(c.shape, [c.strides[0]], [dst.offset]);
    const { offs, n, rows } = cur;
    let k = 0;
    for (let r = 0; r < rows; r++, cur.next()) {
      let b = offs[0];
      const end = k + n;
      if (add) for (; k < end; k++, b += step) d[b + index[k] * dd] += v;
      else if (owner === null) for (; k < end; k++, b += step) d[b + index[k] * dd] = v;
      else {
        for (; k < end; k++, b += step) {
          const at = b + index[k] * dd;
          d[at] = v;
          owner[at] = k;
        }
      }
    }
    return;
  }
  const s = src.storage;
  const sStep = c.strides[1][last];
  const cur = new RowCursor(c.shape, [c.strides[0], c.strides[1]], [dst.offset, src.offset]);
  const { offs, n, rows } = cur;
  let k = 0;
  for (let r = 0; r < rows; r++, cur.next()) {
    let b = offs[0], o = offs[1];
    const end = k + n;
    if (add) for (; k < end; k++, b += step, o += sStep) d[b + index[k] * dd] += s[o];
    else if (owner === null) for (; k < end; k++, b += step, o += sStep) d[b + index[k] * dd] = s[o];
    else {
      for (; k < end; k++, b += step, o += sStep) {
        const at = b + index[k] * dd;
        d[at] = s[o];
        owner[at] = k;
      }
    }
  }
}

/** out[o, j, i] = src[o, index[j], i] for src seen as [outer, D, inner] (torch.index_select); out contiguous. */
export function indexSelect(src: FloatArray, outer: number, D: number, inner: number, index: Int32Array, out: FloatArray): void {
  const n = index.length;
  if (inner === 1) {
    // Selecting along the last dim: single elements, no run loop per index.
    for (let o = 0, to = 0; o < outer; o++) {
      const from = o * D;
      for (let j = 0; j < n; j++, to++) out[to] = src[from + index[j]];
    }
    return;
  }
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
  if (inner === 1 && skip === -1 && scale === null) {
    // index_add_ along the last dim: single elements, in the same (o, j) order as below.
    for (let o = 0, from = 0; o < outer; o++) {
      const to = o * D;
      for (let j = 0; j < n; j++, from++) dst[to + index[j]] += src[from];
    }
    return;
  }
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
