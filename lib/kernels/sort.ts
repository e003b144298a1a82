/**
 * Ordering kernels behind sort, argsort, topk, kthvalue and median: they compute *indices* only.
 * The functional layer reads the values through gather, so their gradient is gather's (a scatter
 * back to the chosen positions) and no backward lives here.
 *
 * The input is contiguous, viewed as [outer, D, inner]; each of the outer·inner lines of length D
 * is copied into a float64 key buffer (exact for float32) and its positions 0..D−1 are merge-sorted
 * bottom-up by key. The order is torch's comparator: a NaN counts as larger than every number
 * (last ascending, first descending), −0 and +0 compare equal. The merge takes from the right run
 * only when its key comes strictly first, so the sort is stable: ties (NaNs among themselves
 * included) keep their original order, ascending and descending alike. torch promises that only
 * with stable=True; its unstable sort, topk and kthvalue may order ties either way, and stable is
 * one of the orders they may return. The median follows torch's CPU rule exactly: the first NaN of
 * the line if it has one, else the element at sorted position ⌊(D − 1)/2⌋ with ties broken by
 * position (torch's nth_element comparator does the same).
 *
 * Cost: O(D log D) per line plus two D-sized scratch arrays, allocated once per call; no closure
 * per call (the comparison is inline in the merge).
 */
import type { FloatArray } from '../core/dtype';

/** Does key a come strictly before key b? Ascending: a < b, or b NaN and a not. Descending mirrors it. */
function before(a: number, b: number, descending: boolean): boolean {
  if (descending) return a > b || (a !== a && b === b);
  return a < b || (b !== b && a === a);
}

/**
 * Sorts positions idx[0, n) by keys[idx[·]], stably, using tmp (length ≥ n) as scratch. The
 * result ends in idx (the runs ping-pong between the two buffers; an odd number of passes copies back).
 */
function mergeSort(keys: Float64Array, idx: Int32Array, tmp: Int32Array, n: number, descending: boolean): void {
  let src = idx, dst = tmp;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n), hi = Math.min(lo + 2 * width, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        // Right first only when strictly before: equal keys keep their order.
        if (before(keys[src[j]], keys[src[i]], descending)) dst[k++] = src[j++];
        else dst[k++] = src[i++];
      }
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    const t = src; src = dst; dst = t;
  }
  if (src !== idx) idx.set(src.subarray(0, n));
}

/**
 * For x contiguous [outer, D, inner]: out[o, j, i] = the position along D of the element at sorted
 * place start + j of line (o, ·, i), for j in [0, count); out is contiguous [outer, count, inner].
 * Positions are written as whole numbers in out's float dtype.
 */
export function sortIndices(
  x: FloatArray, outer: number, D: number, inner: number, descending: boolean, start: number, count: number, out: FloatArray,
): void {
  if (count === 0 || outer * inner === 0) return;
  const keys = new Float64Array(D), idx = new Int32Array(D), tmp = new Int32Array(D);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * D * inner + i;
      for (let d = 0; d < D; d++) {
        keys[d] = x[base + d * inner];
        idx[d] = d;
      }
      mergeSort(keys, idx, tmp, D, descending);
      const to = o * count * inner + i;
      for (let j = 0; j < count; j++) out[to + j * inner] = idx[start + j];
    }
  }
}

/**
 * torch.median(x, dim)'s index per line of x contiguous [outer, D, inner] (D ≥ 1): the first NaN's
 * position if the line has a NaN, else the position of the ⌊(D − 1)/2⌋-th smallest, ties by
 * position. out is contiguous [outer, inner].
 */
export function medianIndices(x: FloatArray, outer: number, D: number, inner: number, out: FloatArray): void {
  if (outer * inner === 0) return;
  const keys = new Float64Array(D), idx = new Int32Array(D), tmp = new Int32Array(D);
  const mid = (D - 1) >> 1;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * D * inner + i;
      let nan = -1;
      for (let d = 0; d < D; d++) {
        const v = x[base + d * inner];
        if (v !== v && nan < 0) nan = d;
        keys[d] = v;
        idx[d] = d;
      }
      if (nan < 0) mergeSort(keys, idx, tmp, D, false);
      out[o * inner + i] = nan >= 0 ? nan : idx[mid];
    }
  }
}
