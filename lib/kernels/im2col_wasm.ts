/**
 * Operand staging for the WebAssembly float32 backend. Source tensors live in JS memory, the GEMM's
 * panels in the backend's linear memory; element-by-element JS loops between the two cost several
 * ns per element on this machine, so each class here moves data with native copies (set) and lets
 * the wasm helpers of wasm_pack.ts do the rearranging:
 *   StagedPatches  im2col: images of a PatchView (im2col.ts) staged zero-padded, [Cg][Hp][Wp] per
 *                  image slot (Hp = H + 2·ph, Wp = W + 2·pw), then B (or A) panels packed through
 *                  a tap table ((c,i,j) → byte offset in an image) and a pixel table ((n,y,x) →
 *                  byte offset of its tap (0,0)); padding costs nothing per element.
 *   StagedCol2im   col2im: C blocks scatter-added into a staged padded image, cropped out per image.
 *   StagedMatrix   a whole weight matrix (or gemm A) copied once, packed through row/k tables.
 *   StagedBlockB   a strided gemm B, copied one (k, column) block at a time and packed.
 * Cost: one native copy of each staged element (≤ 1/(KH·KW) of the packed elements for images),
 * then about one cycle per packed element; col2im one scalar load-add-store per element.
 */
import type { InPlaceB } from './packed_gemm';
import type { WasmPackers } from './wasm_gemm';
import type { PatchView } from './im2col';
import { keepShape } from './keep_shape';

/** Floats past the last image that rows2 may read (it loads 2·NR floats for NR stride-2 pixels). */
const SLACK = 64;

/**
 * 0 or 1: the shift (in floats) that puts a copy of src[srcOff...] at S[dst + shift] aligned like
 * its source modulo 8 bytes. V8 copies to or from a SharedArrayBuffer (every tensor when threads are
 * on) with a relaxed memcpy that moves 8-byte words only when source and destination share that
 * alignment and otherwise goes byte by byte: 1.8 GB/s against 6.5 GB/s on this machine for 12 KB
 * pieces. Stagings whose destination we choose reserve one float for the shift.
 */
export function alignShift(S: Float32Array, dst: number, src: Float32Array | Float64Array, srcOff: number): number {
  return ((src.byteOffset + src.BYTES_PER_ELEMENT * srcOff - (S.byteOffset + 4 * dst)) & 7) === 0 ? 0 : 1;
}

export class StagedPatches {
  private readonly Hp: number;
  private readonly Wp: number;
  private readonly Cg: number;
  private readonly imgSize: number;
  private readonly K: number;
  private S: Float32Array = new Float32Array(0);
  private I: Int32Array = new Int32Array(0);
  private tapOff = 0;
  private pixOff = 0;
  private descOff = 0;
  private rawOff = 0;
  private imgOff = 0;
  /** Image slots start at S[imgOff + shift] (alignShift of the first staged image when unpadded). */
  private shift = 0;
  private first = 0;
  private count = 0;
  private readonly pixCap: number;
  private readonly descCap: number;
  /** Tap table entries: the K taps, then NR copies of the last (see packCols). */
  private readonly tapCap: number;
  private readonly inPlace: InPlaceB = { panels: 0, taps: 0 };
  /** The output pixel (image, row, column) the table builders are at (seek, advance). */
  private cn = 0;
  private cy = 0;
  private cx = 0;

  /**
   * cg: channels of the view's group; maxImages: images one pack call may span;
   * maxK, maxCols: the largest kc and nc of a pack call (the backend's KC and NC); nr: its NR.
   */
  constructor(
    private readonly v: PatchView, cg: number, private readonly packers: WasmPackers,
    private readonly maxImages: number, maxK: number, maxCols: number, nr: number,
  ) {
    this.pixCap = Math.max(maxK, maxCols) + nr;
    this.descCap = 2 * (Math.ceil(maxCols / nr) + 1);
    this.Cg = cg;
    this.Hp = v.H + 2 * v.ph;
    this.Wp = v.W + 2 * v.pw;
    this.imgSize = cg * this.Hp * this.Wp;
    this.K = cg * v.KH * v.KW;
    this.tapCap = this.K + nr;
    keepShape(this);
  }

  private rawSize(): number {
    return this.v.ph > 0 || this.v.pw > 0 ? this.Cg * this.v.H * this.v.W + 1 : 0;
  }

  scratchElements(): number {
    return this.tapCap + this.pixCap + this.descCap + this.rawSize() + 1 + this.maxImages * this.imgSize + SLACK;
  }

  /** Takes the scratch at S[off...] (float32 elements) and fills the tap table. */
  bind(S: Float32Array, off: number): void {
    this.S = S;
    this.I = new Int32Array(S.buffer, S.byteOffset, S.length);
    this.tapOff = off;
    this.pixOff = off + this.tapCap;
    this.descOff = this.pixOff + this.pixCap;
    this.rawOff = this.descOff + this.descCap;
    this.imgOff = this.rawOff + this.rawSize();
    this.count = 0;
    const { KH, KW, dh, dw } = this.v;
    const { Hp, Wp, I } = this;
    let k = this.tapOff;
    for (let c = 0; c < this.Cg; c++) {
      for (let i = 0; i < KH; i++) {
        for (let j = 0; j < KW; j++) I[k++] = ((c * Hp + i * dh) * Wp + j * dw) * 4;
      }
    }
    for (const last = I[k - 1]; k < this.tapOff + this.tapCap; k++) I[k] = last;
  }

  /**
   * Copies images [n0, n1] into slots 0.. unless they are already staged: one native copy of the
   * group's channels (set) and, with padding, the wasm pad into the slot.
   */
  private stage(n0: number, n1: number): void {
    if (this.count > 0 && n0 >= this.first && n1 < this.first + this.count) return;
    if (n1 - n0 + 1 > this.maxImages) throw new Error(`StagedPatches: ${n1 - n0 + 1} images exceed the ${this.maxImages} slots`);
    const { v, S } = this;
    const chw = this.Cg * v.H * v.W;
    const padded = v.ph > 0 || v.pw > 0;
    this.shift = padded ? 0 : alignShift(S, this.imgOff, v.src, n0 * v.imageStride + v.chBase);
    for (let n = n0; n <= n1; n++) {
      const slot = this.imgOff + this.shift + (n - n0) * this.imgSize;
      const s0 = n * v.imageStride + v.chBase;
      const raw = padded ? this.rawOff + alignShift(S, this.rawOff, v.src, s0) : slot;
      S.set(v.src.subarray(s0, s0 + chw), raw);
      if (padded) this.packers.pad(slot * 4, raw * 4, this.Cg, v.H, v.W, v.ph, v.pw);
    }
    this.first = n0;
    this.count = n1 - n0 + 1;
  }

  /** Byte offset, from the first slot, of tap (0,0) of the cursor's pixel. */
  private pixByte(): number {
    return ((this.cn - this.first) * this.imgSize + this.cy * this.v.sh * this.Wp + this.cx * this.v.sw) * 4;
  }

  /** Puts the cursor on output pixel j (counted over images, rows and columns). */
  private seek(j: number): void {
    const { OH, OW } = this.v;
    this.cn = Math.floor(j / (OH * OW));
    const q = j - this.cn * OH * OW;
    this.cy = Math.floor(q / OW);
    this.cx = q - this.cy * OW;
  }

  /** Moves the cursor `by` pixels along its row (at most to the row's end), then on to the next row or image. */
  private advance(by: number): void {
    this.cx += by;
    if (this.cx === this.v.OW) {
      this.cx = 0;
      if (++this.cy === this.v.OH) {
        this.cy = 0;
        this.cn++;
      }
    }
  }

  /** B panels with k = taps [p0, p0+kc) and columns = pixels [j0, j0+nc) (forward-style). */
  packRows(off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    const { OH, OW, sw } = this.v;
    this.seek(j0);
    this.stage(this.cn, Math.floor((j0 + nc - 1) / (OH * OW)));
    const I = this.I;
    const full = Math.floor(nc / nr);
    let desc = this.descOff, pix = this.pixOff;
    for (let panel = 0; panel < full; panel++, desc += 2) {
      if (this.cx + nr <= OW && sw <= 2) {
        // nr pixels in one output row: a strided run of the staged image.
        I[desc] = sw - 1;
        I[desc + 1] = this.pixByte();
        this.advance(nr);
        continue;
      }
      I[desc] = 2;
      I[desc + 1] = pix * 4;
      for (let p = 0; p < nr; p++) {
        I[pix++] = this.pixByte();
        this.advance(1);
      }
    }
    this.packers.panels(off * 4, (this.imgOff + this.shift) * 4, (this.tapOff + p0) * 4, kc, this.descOff * 4, full);
    const cols = nc - full * nr;
    if (cols > 0) {
      for (let p = 0; p < cols; p++) {
        I[pix + p] = this.pixByte();
        this.advance(1);
      }
      this.tail(off + full * nr * kc, this.tapOff + p0, kc, pix, cols, nr);
    }
  }

  /**
   * The B block packRows would pack, handed over in place (GemmOperands.inPlaceB), or null. Only when
   * every panel is NR pixels of one output row at stride 1 (then its tap t is the NR floats at the
   * pixel's tap (0,0) plus the tap's offset): OW and j0 multiples of NR, nc too. Writes one byte
   * address per panel at descOff; the tap table is the one packRows reads.
   */
  inPlaceRows(p0: number, kc: number, j0: number, nc: number, nr: number): InPlaceB | null {
    const { OH, OW, sw } = this.v;
    if (sw !== 1 || OW % nr !== 0 || j0 % nr !== 0 || nc % nr !== 0) return null;
    this.seek(j0);
    this.stage(this.cn, Math.floor((j0 + nc - 1) / (OH * OW)));
    const I = this.I, img = (this.imgOff + this.shift) * 4;
    for (let d = this.descOff, end = d + nc / nr; d < end; d++) {
      I[d] = img + this.pixByte();
      this.advance(nr);
    }
    this.inPlace.panels = this.descOff;
    this.inPlace.taps = this.tapOff + p0;
    return this.inPlace;
  }

  /**
   * B panels with k = pixels [p0, p0+kc) and columns = taps [j0, j0+nc) (weight gradient). A last
   * partial panel is gathered whole too: its columns past nc read the taps that follow, or copies of
   * the last tap at the end of the table, so they hold image values rather than zeros. That is
   * harmless: a column of B only ever meets the same column of C, and the driver stores only the
   * nc real columns (the stem conv's 3·7·7 = 147 taps would otherwise take a slow JS tail).
   */
  packCols(off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    this.pixelTable(p0, kc);
    const I = this.I;
    const panels = Math.ceil(nc / nr);
    for (let panel = 0, desc = this.descOff; panel < panels; panel++, desc += 2) {
      I[desc] = 3; // gatherT: 4×4 transposes along stride-1 pixel runs
      I[desc + 1] = (this.tapOff + j0 + panel * nr) * 4;
    }
    this.packers.panels(off * 4, (this.imgOff + this.shift) * 4, this.pixOff * 4, kc, this.descOff * 4, panels);
  }

  /**
   * A panels (MR rows = channels [i0, i0+mc) of a 1×1 view, k = pixels [p0, p0+kc)): the output
   * gradient as the A operand of the weight gradient.
   */
  packColsA(off: number, i0: number, mc: number, p0: number, kc: number, mr: number): void {
    this.pixelTable(p0, kc);
    const img = (this.imgOff + this.shift) * 4;
    for (let ip = 0; ip < mc; ip += mr) {
      const rows = Math.min(mr, mc - ip);
      const dst = off + ip * kc;
      if (rows === mr) this.packers.gatherTA(dst * 4, img, this.pixOff * 4, kc, (this.tapOff + i0 + ip) * 4);
      else this.tail(dst, this.pixOff, kc, this.tapOff + i0 + ip, rows, mr);
    }
  }

  /** Stages the images of pixels [p0, p0+kc) and writes their byte offsets at pixOff. */
  private pixelTable(p0: number, kc: number): void {
    const { OH, OW, sw } = this.v;
    this.seek(p0);
    this.stage(this.cn, Math.floor((p0 + kc - 1) / (OH * OW)));
    const I = this.I;
    const step = sw * 4;
    // One output row at a time: its pixels' offsets step by sw elements.
    for (let d = this.pixOff, end = this.pixOff + kc; d < end;) {
      const run = Math.min(OW - this.cx, end - d);
      let b = this.pixByte();
      for (const stop = d + run; d < stop; d++, b += step) I[d] = b;
      this.advance(run);
    }
  }

  /** A partial panel in JS: dst[k][p] = img[kTab[k] + pTab[p]] for p < cols, zero beyond. */
  private tail(dst: number, kTab: number, kc: number, pTab: number, cols: number, nr: number): void {
    const { S, I } = this;
    const img = this.imgOff + this.shift;
    for (let kk = 0; kk < kc; kk++) {
      const d = dst + kk * nr;
      const kb = I[kTab + kk];
      for (let p = 0; p < cols; p++) S[d + p] = S[img + ((kb + I[pTab + p]) >> 2)];
      for (let p = cols; p < nr; p++) S[d + p] = 0;
    }
  }
}

/**
 * col2im for the wasm float32 backend: C blocks (rows = taps (c,i,j), columns = pixels of whole
 * images, or of part of one image) are scatter-added by the wasm col2im into a zero-padded image
 * staged in linear memory, which is cropped into the NCHW gradient once its last pixel is in.
 * Images must arrive in order, each in one block or in consecutive blocks (packed_gemm's
 * colSegment = OH·OW), which also fixes every element's summation order, whatever the threading.
 */
export class StagedCol2im {
  private readonly Hp: number;
  private readonly Wp: number;
  private readonly slotSize: number;
  private readonly taps: number;
  private S: Float32Array = new Float32Array(0);
  private I: Int32Array = new Int32Array(0);
  private tapOff = 0;
  private pixOff = 0;
  private slotOff = 0;
  private rawOff = 0;

  /** pixCap: the most pixels of one image in one block (min(NC, OH·OW)). */
  constructor(private readonly v: PatchView, private readonly cg: number, private readonly packers: WasmPackers,
    private readonly pixCap: number) {
    this.Hp = v.H + 2 * v.ph;
    this.Wp = v.W + 2 * v.pw;
    this.slotSize = cg * this.Hp * this.Wp;
    this.taps = cg * v.KH * v.KW;
    keepShape(this);
  }

  scratchElements(): number {
    return this.taps + this.pixCap + this.slotSize + this.cg * this.v.H * this.v.W + 1;
  }

  bind(S: Float32Array, off: number): void {
    this.S = S;
    this.I = new Int32Array(S.buffer, S.byteOffset, S.length);
    this.tapOff = off;
    this.pixOff = off + this.taps;
    this.slotOff = this.pixOff + this.pixCap;
    this.rawOff = this.slotOff + this.slotSize;
    const { KH, KW, dh, dw } = this.v;
    const { Hp, Wp, I } = this;
    let k = this.tapOff;
    for (let c = 0; c < this.cg; c++) {
      for (let i = 0; i < KH; i++) {
        for (let j = 0; j < KW; j++) I[k++] = ((c * Hp + i * dh) * Wp + j * dw) * 4;
      }
    }
  }

  /** Scatter-adds C rows [i0, i0+mc) × pixels [j0, j0+nc) held at S[off + r·ld + p], image by image. */
  add(off: number, ld: number, i0: number, mc: number, j0: number, nc: number): void {
    const { OH, OW } = this.v;
    const P = OH * OW;
    for (let jj = 0; jj < nc;) {
      const j = j0 + jj;
      const n = Math.floor(j / P);
      const q0 = j - n * P;
      const count = Math.min(nc - jj, P - q0);
      this.addPiece(off + jj, ld, i0, mc, n, q0, count);
      jj += count;
    }
  }

  private addPiece(off: number, ld: number, i0: number, mc: number, n: number, q0: number, count: number): void {
    const { v, S, I, Wp } = this;
    const { OH, OW, sh, sw } = v;
    if (q0 === 0) S.fill(0, this.slotOff, this.slotOff + this.slotSize);
    let y = Math.floor(q0 / OW), x = q0 - y * OW;
    for (let p = 0; p < count; p++) {
      I[this.pixOff + p] = (y * sh * Wp + x * sw) * 4;
      if (++x === OW) {
        x = 0;
        y++;
      }
    }
    this.packers.col2im(off * 4, ld * 4, mc, this.slotOff * 4, (this.tapOff + i0) * 4, count, this.pixOff * 4);
    if (q0 + count === OH * OW) this.cropInto(n);
  }

  private cropInto(n: number): void {
    const { v, S } = this;
    const chw = this.cg * v.H * v.W;
    const d0 = n * v.imageStride + v.chBase;
    const raw = this.rawOff + alignShift(S, this.rawOff, v.src, d0);
    this.packers.unpad(this.slotOff * 4, raw * 4, this.cg, v.H, v.W, v.ph, v.pw);
    v.src.set(S.subarray(raw, raw + chw), d0);
  }
}

/**
 * A GEMM operand (a weight matrix, possibly transposed or flipped; a strided gemm operand) copied
 * once into linear memory with one native copy, then packed by wasm through two offset tables:
 * element (i, k) of an A operand, or (k, j) of a B operand, is copy[offset(outerOffset, i or j) + offset(kOffset, k)] (see AxisMap).
 * An A operand given a RowLayout can stage just the rows a thread computes (bind's r0, r1): a
 * thread that owns half the output rows then copies half the weights, not all of them.
 * A panels go through gatherA; B panels through rows1 when consecutive columns are consecutive in
 * memory, else gather. About one cycle per element instead of a strided JS loop, which matters
 * when the product reuses each packed element little (few columns, small images).
 */
/**
 * Offsets along one axis of a staged matrix, as data rather than a callback (a closure made per
 * call would be optimised afresh by V8 each time it got hot, every step of a training loop):
 * offset(x) = ⌊x / block⌋·blockStride + (x mod block)·step + base.
 */
export interface AxisMap {
  readonly block: number;
  readonly blockStride: number;
  readonly step: number;
  readonly base: number;
}

/** offset(x) = x·stride. */
export function stridedAxis(stride: number): AxisMap {
  return { block: 1, blockStride: stride, step: 0, base: 0 };
}

/**
 * Kernel taps reversed within each block of `taps` (the flipped weights of a convolution's input
 * gradient): offset(x) = ⌊x / taps⌋·blockStride + taps − 1 − (x mod taps).
 */
export function reversedTapsAxis(taps: number, blockStride: number): AxisMap {
  return { block: taps, blockStride, step: -1, base: taps - 1 };
}

export function axisOffset(m: AxisMap, x: number): number {
  const b = Math.floor(x / m.block);
  return b * m.blockStride + (x - b * m.block) * m.step + m.base;
}

/**
 * Where an A operand's rows lie in its source: `blocks` blocks `blockStride` apart from srcOff, and
 * in each block row i takes [i·rowLen, (i+1)·rowLen). Then outerOffset must map i to i·rowLen and
 * kOffset k to block(k)·blockStride + within(k), with within(k) < rowLen.
 */
export interface RowLayout {
  readonly blocks: number;
  readonly blockStride: number;
  readonly rowLen: number;
}

export class StagedMatrix {
  private S: Float32Array = new Float32Array(0);
  private I: Int32Array = new Int32Array(0);
  private copyOff = 0;
  private outerTab = 0;
  private kTab = 0;
  private descTab = 0;
  private readonly descCap: number;
  private readonly unitColumns: boolean;

  /** maxCols, nr: the widest B block and the backend's NR (0 for an A operand). */
  constructor(
    private readonly src: Float32Array, private readonly srcOff: number, private readonly srcLen: number,
    private readonly outer: number, private readonly K: number,
    private readonly outerOffset: AxisMap, private readonly kOffset: AxisMap,
    private readonly packers: WasmPackers, maxCols = 0, nr = 1,
    private readonly rows: RowLayout | null = null,
  ) {
    this.descCap = maxCols > 0 ? 2 * (Math.ceil(maxCols / nr) + 1) : 0;
    this.unitColumns = outer < 2 || axisOffset(outerOffset, 1) - axisOffset(outerOffset, 0) === 1;
    keepShape(this);
  }

  scratchElements(): number {
    return this.srcLen + 1 + this.outer + this.K + this.descCap;
  }

  /**
   * Stages the operand at S[off...]. An A operand with a RowLayout copies only rows [r0, r1) (the
   * only rows packA may then be asked for); otherwise, or for all rows, the whole source span.
   */
  bind(S: Float32Array, off: number, r0 = 0, r1 = this.outer): void {
    this.S = S;
    this.I = new Int32Array(S.buffer, S.byteOffset, S.length);
    this.outerTab = off + this.srcLen + 1;
    this.kTab = this.outerTab + this.outer;
    this.descTab = this.kTab + this.K;
    const I = this.I;
    const lay = this.rows;
    if (lay === null || (r0 <= 0 && r1 >= this.outer)) {
      this.copyOff = off + alignShift(S, off, this.src, this.srcOff);
      S.set(this.src.subarray(this.srcOff, this.srcOff + this.srcLen), this.copyOff);
      for (let i = 0; i < this.outer; i++) I[this.outerTab + i] = axisOffset(this.outerOffset, i) * 4;
      for (let k = 0; k < this.K; k++) I[this.kTab + k] = axisOffset(this.kOffset, k) * 4;
      return;
    }
    if (!(r0 >= 0 && r1 <= this.outer && r0 < r1)) {
      throw new Error(`StagedMatrix.bind: row range [${r0}, ${r1}) is not within the operand's ${this.outer} rows`);
    }
    // Block b's rows [r0, r1) go to copy[b·span ...]: the same layout with rows r0.. moved to 0.
    const { blocks, blockStride, rowLen } = lay;
    const span = (r1 - r0) * rowLen;
    // (Aligned for the first block; the others too when blockStride and span have the same parity.)
    this.copyOff = off + alignShift(S, off, this.src, this.srcOff + r0 * rowLen);
    for (let b = 0; b < blocks; b++) {
      const s = this.srcOff + b * blockStride + r0 * rowLen;
      S.set(this.src.subarray(s, s + span), this.copyOff + b * span);
    }
    for (let i = r0; i < r1; i++) I[this.outerTab + i] = (i - r0) * rowLen * 4;
    for (let k = 0; k < this.K; k++) {
      const o = axisOffset(this.kOffset, k);
      const b = Math.floor(o / blockStride);
      I[this.kTab + k] = (b * span + o - b * blockStride) * 4;
    }
  }

  /** MR-row panels of rows [i0, i0+mc) × k [p0, p0+kc) at S[off...]. */
  packA(off: number, i0: number, mc: number, p0: number, kc: number, mr: number): void {
    const img = this.copyOff * 4;
    for (let ip = 0; ip < mc; ip += mr) {
      const rows = Math.min(mr, mc - ip);
      const dst = off + ip * kc;
      if (rows === mr) this.packers.gatherA(dst * 4, img, (this.kTab + p0) * 4, kc, (this.outerTab + i0 + ip) * 4);
      else this.tail(dst, p0, kc, i0 + ip, rows, mr);
    }
  }

  /** NR-column panels of k [p0, p0+kc) × columns [j0, j0+nc) at S[off...]. */
  packB(off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    const I = this.I;
    const full = Math.floor(nc / nr);
    for (let panel = 0, desc = this.descTab; panel < full; panel++, desc += 2) {
      const j = j0 + panel * nr;
      I[desc] = this.unitColumns ? 0 : 2;
      I[desc + 1] = this.unitColumns ? I[this.outerTab + j] : (this.outerTab + j) * 4;
    }
    this.packers.panels(off * 4, this.copyOff * 4, (this.kTab + p0) * 4, kc, this.descTab * 4, full);
    const cols = nc - full * nr;
    if (cols > 0) this.tail(off + full * nr * kc, p0, kc, j0 + full * nr, cols, nr);
  }

  /** A partial panel in JS: width `count` of `width`, zero beyond. */
  private tail(dst: number, p0: number, kc: number, o0: number, count: number, width: number): void {
    const { S, I } = this;
    for (let kk = 0; kk < kc; kk++) {
      const d = dst + kk * width;
      const kb = I[this.kTab + p0 + kk];
      for (let r = 0; r < count; r++) S[d + r] = S[this.copyOff + ((kb + I[this.outerTab + o0 + r]) >> 2)];
      for (let r = count; r < width; r++) S[d + r] = 0;
    }
  }
}

/**
 * The B operand of a strided gemm, staged one (k, column) block at a time: the block's rows (or,
 * transposed, its columns) are copied with native copies into linear memory, then packed by
 * rows1 (unit-stride columns) or gather. Staging only the block keeps the copy in cache, where
 * copying all of a large B first would stream it through memory twice.
 */
export class StagedBlockB {
  private S: Float32Array = new Float32Array(0);
  private I: Int32Array = new Int32Array(0);
  private blockOff = 0;
  private kTab = 0;
  private pTab = 0;
  private descTab = 0;
  private readonly descCap: number;

  /** Element (k, j) is B[bOff + k·ldb + j], or B[bOff + j·ldb + k] when trans. */
  constructor(
    private readonly B: Float32Array, private readonly bOff: number, private readonly ldb: number,
    private readonly trans: boolean, private readonly packers: WasmPackers,
    private readonly maxK: number, private readonly maxCols: number, nr: number,
  ) {
    this.descCap = 2 * (Math.ceil(maxCols / nr) + 1);
    keepShape(this);
  }

  scratchElements(): number {
    return this.maxK * this.maxCols + this.maxK + this.maxCols + this.descCap;
  }

  bind(S: Float32Array, off: number): void {
    this.S = S;
    this.I = new Int32Array(S.buffer, S.byteOffset, S.length);
    this.blockOff = off;
    this.kTab = off + this.maxK * this.maxCols;
    this.pTab = this.kTab + this.maxK;
    this.descTab = this.pTab + this.maxCols;
  }

  packB(off: number, p0: number, kc: number, j0: number, nc: number, nr: number): void {
    const { S, I, B, bOff, ldb, blockOff } = this;
    // Staged block: [kc][nc] (k rows of the block) or, transposed, [nc][kc].
    if (this.trans) {
      for (let jj = 0; jj < nc; jj++) {
        const s = bOff + (j0 + jj) * ldb + p0;
        S.set(B.subarray(s, s + kc), blockOff + jj * kc);
      }
      for (let kk = 0; kk < kc; kk++) I[this.kTab + kk] = kk * 4;
      for (let jj = 0; jj < nc; jj++) I[this.pTab + jj] = jj * kc * 4;
    } else {
      for (let kk = 0; kk < kc; kk++) {
        const s = bOff + (p0 + kk) * ldb + j0;
        S.set(B.subarray(s, s + nc), blockOff + kk * nc);
      }
      for (let kk = 0; kk < kc; kk++) I[this.kTab + kk] = kk * nc * 4;
      for (let jj = 0; jj < nc; jj++) I[this.pTab + jj] = jj * 4;
    }
    const full = Math.floor(nc / nr);
    for (let panel = 0, desc = this.descTab; panel < full; panel++, desc += 2) {
      I[desc] = this.trans ? 2 : 0;
      I[desc + 1] = this.trans ? (this.pTab + panel * nr) * 4 : panel * nr * 4;
    }
    this.packers.panels(off * 4, blockOff * 4, this.kTab * 4, kc, this.descTab * 4, full);
    const cols = nc - full * nr;
    if (cols === 0) return;
    const dst = off + full * nr * kc;
    for (let kk = 0; kk < kc; kk++) {
      const d = dst + kk * nr;
      const kb = I[this.kTab + kk];
      for (let c = 0; c < cols; c++) S[d + c] = S[blockOff + ((kb + I[this.pTab + full * nr + c]) >> 2)];
      for (let c = cols; c < nr; c++) S[d + c] = 0;
    }
  }
}
