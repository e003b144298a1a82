/**
 * Packing straight from NCHW tensors into the packed GEMM's panels (packed_gemm.ts), so no im2col
 * matrix is ever materialized, and the matching C-block stores (NCHW with bias, col2im scatter-add).
 *
 * A PatchView is an NCHW tensor seen as the im2col matrix of one convolution group:
 *   rows (c, i, j) of Cg·KH·KW, columns (n, y, x) of N·OH·OW, value
 *   src[n·imageStride + chBase + c·H·W + (y·sh − ph + i·dh)·W + (x·sw − pw + j·dw)], or 0 in the padding.
 * packPatchRows packs it as a B operand (k = (c,i,j), columns = output pixels: forward, and backward
 * input as a stride-1 transposed conv); packPatchCols packs its transpose (k = pixels, columns =
 * (c,i,j): backward weight). Cost: one read and one write per packed element, bounds checks only
 * when there is padding.
 */
import type { FloatArray } from '../core/dtype';

export interface PatchView {
  readonly src: FloatArray;
  readonly imageStride: number;
  readonly chBase: number;
  readonly H: number; readonly W: number;
  readonly KH: number; readonly KW: number;
  readonly sh: number; readonly sw: number;
  readonly ph: number; readonly pw: number;
  readonly dh: number; readonly dw: number;
  readonly OH: number; readonly OW: number;
}

// Per-thread tables of decoded pixel coordinates, grown on demand (never allocated per call).
let tBase = new Int32Array(0);
let tY = new Int32Array(0);
let tX = new Int32Array(0);

function tables(n: number): void {
  if (tBase.length < n) {
    const len = Math.max(n, tBase.length * 2);
    tBase = new Int32Array(len);
    tY = new Int32Array(len);
    tX = new Int32Array(len);
  }
}

/**
 * Decodes pixels [q0, q0+count) (q = (n·OH + y)·OW + x) into tBase (flat index of the tap (0,0)
 * in channel 0, possibly in the padding), tY and tX (its row and column, possibly negative).
 */
function decodePixels(v: PatchView, q0: number, count: number): void {
  tables(count);
  const { OH, OW, W, sh, sw, ph, pw, imageStride, chBase } = v;
  const P = OH * OW;
  let n = Math.floor(q0 / P);
  const rem = q0 - n * P;
  let y = Math.floor(rem / OW);
  let x = rem - y * OW;
  for (let t = 0; t < count; t++) {
    const iy = y * sh - ph, ix = x * sw - pw;
    tY[t] = iy;
    tX[t] = ix;
    tBase[t] = n * imageStride + chBase + iy * W + ix;
    if (++x === OW) {
      x = 0;
      if (++y === OH) {
        y = 0;
        n++;
      }
    }
  }
}

/** B operand, k = (c,i,j) rows [p0, p0+kc), columns = pixels [j0, j0+nc), in nr-column panels. */
export function packPatchRows(v: PatchView, dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
  decodePixels(v, j0, nc);
  const { src, H, W, KH, KW, dh, dw } = v;
  const HW = H * W, KK = KH * KW;
  const padded = v.ph > 0 || v.pw > 0;
  const base = tBase, ty = tY, tx = tX;
  let c = Math.floor(p0 / KK);
  let t = p0 - c * KK;
  let i = Math.floor(t / KW);
  let j = t - i * KW;
  for (let kk = 0; kk < kc; kk++) {
    const di = i * dh, dj = j * dw;
    const rowOff = c * HW + di * W + dj;
    for (let jp = 0; jp < nc; jp += nr) {
      const cols = Math.min(nr, nc - jp);
      const d = off + jp * kc + kk * nr;
      if (padded) {
        for (let cc = 0; cc < cols; cc++) {
          const q = jp + cc;
          const iy = ty[q] + di, ix = tx[q] + dj;
          dst[d + cc] = (iy >>> 0) < H && (ix >>> 0) < W ? src[base[q] + rowOff] : 0;
        }
      } else {
        for (let cc = 0; cc < cols; cc++) dst[d + cc] = src[base[jp + cc] + rowOff];
      }
      for (let cc = cols; cc < nr; cc++) dst[d + cc] = 0;
    }
    if (++j === KW) {
      j = 0;
      if (++i === KH) {
        i = 0;
        c++;
      }
    }
  }
}

/** B operand of the backward weight: k = pixels [p0, p0+kc), columns = (c,i,j) [j0, j0+nc). */
export function packPatchCols(v: PatchView, dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
  decodePixels(v, p0, kc);
  const { src, H, W, KH, KW, dh, dw } = v;
  const HW = H * W, KK = KH * KW;
  const padded = v.ph > 0 || v.pw > 0;
  const base = tBase, ty = tY, tx = tX;
  for (let jp = 0; jp < nc; jp += nr) {
    const cols = Math.min(nr, nc - jp);
    const d0 = off + jp * kc;
    for (let cc = 0; cc < nr; cc++) {
      let d = d0 + cc;
      if (cc >= cols) {
        for (let kk = 0; kk < kc; kk++, d += nr) dst[d] = 0;
        continue;
      }
      const col = j0 + jp + cc;
      const c = Math.floor(col / KK);
      const t = col - c * KK;
      const i = Math.floor(t / KW);
      const j = t - i * KW;
      const di = i * dh, dj = j * dw;
      const colOff = c * HW + di * W + dj;
      if (padded) {
        for (let kk = 0; kk < kc; kk++, d += nr) {
          const iy = ty[kk] + di, ix = tx[kk] + dj;
          dst[d] = (iy >>> 0) < H && (ix >>> 0) < W ? src[base[kk] + colOff] : 0;
        }
      } else {
        for (let kk = 0; kk < kc; kk++, d += nr) dst[d] = src[base[kk] + colOff];
      }
    }
  }
}

/**
 * A operand rows = channels [i0, i0+mc) of an NCHW tensor, k = pixels [p0, p0+kc) over all images:
 * element (ch, (n,p)) = src[n·imageStride + chBase + ch·P + p]. (The output gradient in the backward weight.)
 */
export function packChannelRows(
  src: FloatArray, imageStride: number, chBase: number, P: number,
  dst: FloatArray, off: number, i0: number, mc: number, p0: number, kc: number, mr: number,
): void {
  const n0 = Math.floor(p0 / P);
  const q0 = p0 - n0 * P;
  for (let ip = 0; ip < mc; ip += mr) {
    const rows = Math.min(mr, mc - ip);
    const base = off + ip * kc;
    for (let r = 0; r < mr; r++) {
      let d = base + r;
      if (r >= rows) {
        for (let kk = 0; kk < kc; kk++, d += mr) dst[d] = 0;
        continue;
      }
      const chOff = chBase + (i0 + ip + r) * P;
      let n = n0, q = q0;
      let s = n * imageStride + chOff + q;
      for (let kk = 0; kk < kc; kk++, d += mr) {
        dst[d] = src[s];
        s++;
        if (++q === P) {
          q = 0;
          n++;
          s = n * imageStride + chOff;
        }
      }
    }
  }
}

/**
 * B operand k = channels [p0, p0+kc), columns = pixels [j0, j0+nc) over all images:
 * element (ch, (n,p)) = src[n·imageStride + chBase + ch·P + p]. (1×1 convs; gy in the col2im backward.)
 */
export function packChannelCols(
  src: FloatArray, imageStride: number, chBase: number, P: number,
  dst: FloatArray, off: number, p0: number, kc: number, j0: number, nc: number, nr: number,
): void {
  tables(nc);
  const base = tBase;
  let n = Math.floor(j0 / P);
  let q = j0 - n * P;
  for (let t = 0; t < nc; t++) {
    base[t] = n * imageStride + chBase + p0 * P + q;
    if (++q === P) {
      q = 0;
      n++;
    }
  }
  for (let jp = 0; jp < nc; jp += nr) {
    const cols = Math.min(nr, nc - jp);
    let d = off + jp * kc;
    let rowOff = 0;
    for (let kk = 0; kk < kc; kk++) {
      for (let cc = 0; cc < cols; cc++) dst[d + cc] = src[base[jp + cc] + rowOff];
      for (let cc = cols; cc < nr; cc++) dst[d + cc] = 0;
      d += nr;
      rowOff += P;
    }
  }
}

/**
 * Stores a C block whose rows are channels [i0, i0+mc) and columns pixels [j0, j0+nc) into NCHW
 * dst[n·imageStride + chBase + ch·P + p], adding bias[biasOff + ch] when given.
 */
export function storeChannelRows(
  dst: FloatArray, imageStride: number, chBase: number, P: number, bias: FloatArray | null, biasOff: number,
  src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number,
): void {
  if (P === 1) {
    // 1×1 maps (ResNet18's last stage on 32×32 inputs): each row steps through the images, one
    // strided store per element, instead of one run of length 1 per image and row below.
    for (let r = 0; r < mc; r++) {
      const ch = i0 + r;
      const b = bias === null ? 0 : bias[biasOff + ch];
      const s = off + r * ld;
      let o = j0 * imageStride + chBase + ch;
      if (b === 0) for (let j = 0; j < nc; j++, o += imageStride) dst[o] = src[s + j];
      else for (let j = 0; j < nc; j++, o += imageStride) dst[o] = src[s + j] + b;
    }
    return;
  }
  let n = Math.floor(j0 / P);
  let q = j0 - n * P;
  let jj = 0;
  while (jj < nc) {
    const run = Math.min(nc - jj, P - q);
    const outBase = n * imageStride + chBase + q;
    for (let r = 0; r < mc; r++) {
      const ch = i0 + r;
      const o = outBase + ch * P;
      const s = off + r * ld + jj;
      const b = bias === null ? 0 : bias[biasOff + ch];
      if (b === 0) {
        // A native copy: element loops into large fresh outputs run at several ns per element here.
        if (run >= 32) dst.set(src.subarray(s, s + run), o);
        else for (let t = 0; t < run; t++) dst[o + t] = src[s + t];
      } else {
        for (let t = 0; t < run; t++) dst[o + t] = src[s + t] + b;
      }
    }
    jj += run;
    q = 0;
    n++;
  }
}

/**
 * col2im: adds a C block with rows (c,i,j) [i0, i0+mc) and columns pixels [j0, j0+nc) into the
 * NCHW image it was gathered from (the inverse scatter of packPatchRows, skipping the padding).
 * Within a block the order is fixed (rows, then pixels), so results do not depend on threading as
 * long as blocks are fixed (packed_gemm's colSegment).
 */
export function col2imAdd(v: PatchView, src: FloatArray, off: number, ld: number, i0: number, mc: number, j0: number, nc: number): void {
  decodePixels(v, j0, nc);
  const { H, W, KH, KW, dh, dw } = v;
  const dst = v.src;
  const HW = H * W, KK = KH * KW;
  const base = tBase, ty = tY, tx = tX;
  let c = Math.floor(i0 / KK);
  let t = i0 - c * KK;
  let i = Math.floor(t / KW);
  let j = t - i * KW;
  for (let r = 0; r < mc; r++) {
    const di = i * dh, dj = j * dw;
    const rowOff = c * HW + di * W + dj;
    const s = off + r * ld;
    for (let q = 0; q < nc; q++) {
      const iy = ty[q] + di, ix = tx[q] + dj;
      if ((iy >>> 0) < H && (ix >>> 0) < W) dst[base[q] + rowOff] += src[s + q];
    }
    if (++j === KW) {
      j = 0;
      if (++i === KH) {
        i = 0;
        c++;
      }
    }
  }
}
