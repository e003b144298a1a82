/**
 * Ordering kernels behind sort, argsort, topk, kthvalue and median: they compute *indices* only.
 * The functional layer reads the values through gather, so their gradient is gather's (a scatter
 * back to the chosen positions) and no backward lives here.
 *
 * The input is contiguous, viewed as [outer, D, inner]; each of the outer·inner lines of length D
 * is copied into a float64 key buffer (exact for float32) beside its positions 0..D−1, and the
 * (key, position) pairs are sorted together: insertion sort within runs of 16, then bottom-up merge
 * passes, so every access is sequential. The order is torch's comparator: a NaN counts as larger than every number
 * (last ascending, first descending), −0 and +0 compare equal. The merge takes from the right run
 * only when its key comes strictly first, so the sort is stable: ties (NaNs among themselves
 * included) keep their original order, ascending and descending alike. torch promises that only
 * with stable=True; its unstable sort, topk and kthvalue may order ties either way, and stable is
 * one of the orders they may return. The median follows torch's CPU rule exactly: the first NaN of
 * the line if it has one, else the element at sorted position ⌊(D − 1)/2⌋ with ties broken by
 * position (torch's nth_element comparator does the same).
 *
 * Cost: O(D log D) per line plus four D-sized scratch arrays (two of keys, two of positions),
 * allocated once per call; no closure per call (the comparison is inline in the merge).
 */
import type { FloatArray } from '../core/dtype';

/** Does key a come strictly before key b? Ascending: a < b, or b NaN and a not. Descending mirrors it. */
function before(a: number, b: number, descending: boolean): boolean {
  if (descending) return a > b || (a !== a && b === b);
  return a < b || (b !== b && a === a);
}

/** Runs this long are insertion-sorted before the merge passes (fewer passes, all in cache). */
const RUN = 16;

/**
 * Sorts positions idx[0, n) by their keys, stably; keys[d] is the key of position idx[d] and moves
 * with it, so every pass reads and writes both arrays sequentially (an indirect keys[idx[·]] read
 * missed the cache on long lines: 1e6 elements took over a second). keys2/idx2 (length ≥ n) are the
 * scratch the merge passes ping-pong with; the sorted positions end in idx (copied back after an
 * odd number of passes), the keys wherever the last pass left them.
 */
function mergeSort(
  keys: Float64Array, idx: Int32Array, keys2: Float64Array, idx2: Int32Array, n: number, descending: boolean,
): void {
  // Insertion sort each run; an element moves left only past keys it comes strictly before: stable.
  for (let lo = 0; lo < n; lo += RUN) {
    const hi = Math.min(lo + RUN, n);
    for (let i = lo + 1; i < hi; i++) {
      const k = keys[i], p = idx[i];
      let j = i - 1;
      while (j >= lo && before(k, keys[j], descending)) {
        keys[j + 1] = keys[j];
        idx[j + 1] = idx[j];
        j--;
      }
      keys[j + 1] = k;
      idx[j + 1] = p;
    }
  }
  let sk = keys, si = idx, dk = keys2, di = idx2;
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n), hi = Math.min(lo + 2 * width, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        // Right first only when strictly before: equal keys keep their order.
        if (before(sk[j], sk[i], descending)) { dk[k] = sk[j]; di[k++] = si[j++]; }
        else { dk[k] = sk[i]; di[k++] = si[i++]; }
      }
      while (i < mid) { dk[k] = sk[i]; di[k++] = si[i++]; }
      while (j < hi) { dk[k] = sk[j]; di[k++] = si[j++]; }
    }
    const tk = sk; sk = dk; dk = tk;
    const ti = si; si = di; di = ti;
  }
  if (si !== idx) idx.set(si.subarray(0, n));
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
  const keys = new Float64Array(D), idx = new Int32Array(D), keys2 = new Float64Array(D), idx2 = new Int32Array(D);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * D * inner + i;
      for (let d = 0; d < D; d++) {
        keys[d] = x[base + d * inner];
        idx[d] = d;
      }
      mergeSort(keys, idx, keys2, idx2, D, descending);
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
  const keys = new Float64Array(D), idx = new Int32Array(D), keys2 = new Float64Array(D), idx2 = new Int32Array(D);
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
      if (nan < 0) mergeSort(keys, idx, keys2, idx2, D, false);
      out[o * inner + i] = nan >= 0 ? nan : idx[mid];
    }
  }
}
