/**
 * WebAssembly helpers that move conv data inside the float32 backend's linear memory: packing
 * GEMM panels (k-major, see packed_gemm.ts) from staged images (im2col_wasm.ts), padding and
 * cropping staged images, and the col2im scatter-add. Inside wasm these cost a few instructions per
 * k step; the same loops in JS cost several ns per element, mostly in typed-array traffic.
 * All addresses are in bytes.
 *
 *   gather(dst, img, kTab, kc, pTab):   dst[k][p] = img[kTab[k] + pTab[p]] for p < NR
 *       (forward: kTab = tap offsets, pTab = pixel offsets; weight gradient: the other way round)
 *   gatherA(dst, img, kTab, kc, pTab):  the same with MR columns (A panels of the weight gradient)
 *   gatherT, gatherTA: gather and gatherA for k = pixels: where 4 consecutive k are 4 consecutive
 *       floats (a stride-1 output row), it loads them as one vector per column and transposes 4×4
 *       blocks with shuffles, else it falls back to scalar moves for those 4 k
 *   rows1(dst, img, kTab, kc, base):    dst[k][p] = img[kTab[k] + base + 4p]   (stride-1 row: v128 copies)
 *   rows2(dst, img, kTab, kc, base):    dst[k][p] = img[kTab[k] + base + 8p]   (stride-2 row: even-lane shuffles)
 *   panels(dst, img, kTab, kc, desc, n): n consecutive NR panels, each described by two i32 at desc
 *       (mode 0 rows1, 1 rows2, 2 gather, 3 gatherT; then its base or pTab), so one JS call packs a block
 *   col2im(cb, ld, rows, acc, tapTab, nPix, pixTab):
 *       acc[tapTab[r] + pixTab[p]] += cb[r·ld + 4p] for r < rows, p < nPix (the scatter-add of col2im)
 *   pad(padded, raw, planes, H, W, ph, pw):   raw [planes][H][W] → zero-padded [planes][H+2ph][W+2pw]
 *   unpad(padded, raw, planes, H, W, ph, pw): the inverse: crops padded back into raw
 * Cost: NR scalar moves per k for gather, NR/4 (rows1) or NR/2 loads + NR/4 shuffles (rows2);
 * col2im is one scalar load-add-store per element; pad/unpad one memory.copy per row.
 */
import { Code, I32, V128, type FuncDef, type ValType } from './wasm_emitter';

const EVEN_LANES = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];

export const PACK_FUNCTIONS = ['col2im', 'gather', 'rows1', 'rows2', 'panels', 'gatherA', 'pad', 'unpad', 'gatherT', 'gatherTA'] as const;

/** i8x16.shuffle lane bytes picking f32 lanes `l` of the 8-lane concatenation of two vectors. */
export const f32Lanes = (l: readonly number[]): number[] => l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
export const LO_PAIRS = f32Lanes([0, 4, 1, 5]);
export const HI_PAIRS = f32Lanes([2, 6, 3, 7]);
export const LO_HALVES = f32Lanes([0, 1, 4, 5]);
export const HI_HALVES = f32Lanes([2, 3, 6, 7]);

export const i32s = (n: number): ValType[] => Array<ValType>(n).fill(I32);

/** The functions named in PACK_FUNCTIONS, in that order; `first` is the module index of col2im. */
export function emitPackFunctions(nr: number, mr: number, first: number): FuncDef[] {
  if (nr % 4 !== 0) throw new Error(`emitPackFunctions: nr ${nr} is not a multiple of 4`);
  const DST = 0, IMG = 1, KTAB = 2, KC = 3, ARG = 4;
  const index = (name: typeof PACK_FUNCTIONS[number]): number => first + PACK_FUNCTIONS.indexOf(name);

  /** The k loop of a packer writing `width` floats per k; `body` runs with local KB = this k's source. */
  const kLoop = (c: Code, width: number, KB: number, addBase: boolean, body: () => void): void => {
    c.block();
    c.localGet(KC).i32Eqz().brIf(0);
    c.loop();
    c.localGet(IMG).localGet(KTAB).i32Load().i32Add();
    if (addBase) c.localGet(ARG).i32Add();
    c.localSet(KB);
    body();
    c.localGet(DST).i32Const(width * 4).i32Add().localSet(DST);
    c.localGet(KTAB).i32Const(4).i32Add().localSet(KTAB);
    c.localGet(KC).i32Const(-1).i32Add().localTee(KC).brIf(0);
    c.end();
    c.end();
  };

  const gatherOf = (width: number): Code => {
    const c = new Code();
    const KB = 5;
    const P = Array.from({ length: width }, (_, p) => 6 + p);
    for (let p = 0; p < width; p++) c.localGet(ARG).i32Load(4 * p).localSet(P[p]);
    kLoop(c, width, KB, false, () => {
      for (let p = 0; p < width; p++) c.localGet(DST).localGet(KB).localGet(P[p]).i32Add().f32Load().f32Store(4 * p);
    });
    return c;
  };

  // gatherT: like gather, but 4 k at a time as 4×4 transposes when their pixels are contiguous.
  const gatherTOf = (width: number): Code => {
    const c = new Code();
    const PT = Array.from({ length: width }, (_, p) => 5 + p);
    const P0 = 5 + width, P1 = P0 + 1, P2 = P0 + 2, P3 = P0 + 3, V = P0 + 4; // V..V+3: v128 columns
    const T = [V + 4, V + 5, V + 6, V + 7]; // v128 temporaries
    const KB = V + 8;
    for (let p = 0; p < width; p++) c.localGet(ARG).i32Load(4 * p).localSet(PT[p]);
    // Groups of 4 k.
    c.block();
    c.loop();
    c.localGet(KC).i32Const(4).i32LtS().brIf(1);
    c.localGet(KTAB).i32Load(0).localSet(P0);
    c.localGet(KTAB).i32Load(4).localSet(P1);
    c.localGet(KTAB).i32Load(8).localSet(P2);
    c.localGet(KTAB).i32Load(12).localSet(P3);
    const contiguous = (): void => {
      c.localGet(P1).localGet(P0).i32Sub().i32Const(4).i32Ne();
      c.localGet(P2).localGet(P0).i32Sub().i32Const(8).i32Ne().i32Or();
      c.localGet(P3).localGet(P0).i32Sub().i32Const(12).i32Ne().i32Or().i32Eqz();
    };
    contiguous();
    c.if();
    c.localGet(IMG).localGet(P0).i32Add().localSet(KB);
    for (let g = 0; g < width / 4; g++) {
      for (let q = 0; q < 4; q++) c.localGet(KB).localGet(PT[4 * g + q]).i32Add().v128Load().localSet(V + q);
      c.localGet(V).localGet(V + 1).i8x16Shuffle(LO_PAIRS).localSet(T[0]);
      c.localGet(V).localGet(V + 1).i8x16Shuffle(HI_PAIRS).localSet(T[1]);
      c.localGet(V + 2).localGet(V + 3).i8x16Shuffle(LO_PAIRS).localSet(T[2]);
      c.localGet(V + 2).localGet(V + 3).i8x16Shuffle(HI_PAIRS).localSet(T[3]);
      const row = (kk: number, a: number, b: number, lanes: number[]): void => {
        c.localGet(DST).localGet(a).localGet(b).i8x16Shuffle(lanes).v128Store((kk * width + 4 * g) * 4);
      };
      row(0, T[0], T[2], LO_HALVES);
      row(1, T[0], T[2], HI_HALVES);
      row(2, T[1], T[3], LO_HALVES);
      row(3, T[1], T[3], HI_HALVES);
    }
    c.else();
    [P0, P1, P2, P3].forEach((PK, kk) => {
      c.localGet(IMG).localGet(PK).i32Add().localSet(KB);
      for (let p = 0; p < width; p++) c.localGet(DST).localGet(KB).localGet(PT[p]).i32Add().f32Load().f32Store((kk * width + p) * 4);
    });
    c.end();
    c.localGet(DST).i32Const(4 * width * 4).i32Add().localSet(DST);
    c.localGet(KTAB).i32Const(16).i32Add().localSet(KTAB);
    c.localGet(KC).i32Const(-4).i32Add().localSet(KC);
    c.br(0);
    c.end();
    c.end();
    // The last kc % 4 k one by one.
    kLoop(c, width, KB, false, () => {
      for (let p = 0; p < width; p++) c.localGet(DST).localGet(KB).localGet(PT[p]).i32Add().f32Load().f32Store(4 * p);
    });
    return c;
  };
  const gatherTLocals = (width: number): ValType[] => [...i32s(width + 4), ...Array<ValType>(8).fill(V128), I32];

  const rows1 = new Code();
  kLoop(rows1, nr, 5, true, () => {
    for (let v = 0; v < nr / 4; v++) rows1.localGet(DST).localGet(5).v128Load(16 * v).v128Store(16 * v);
  });

  const rows2 = new Code();
  kLoop(rows2, nr, 5, true, () => {
    for (let v = 0; v < nr / 4; v++) {
      rows2.localGet(DST).localGet(5).v128Load(32 * v).localGet(5).v128Load(32 * v + 16)
        .i8x16Shuffle(EVEN_LANES).v128Store(16 * v);
    }
  });

  const panels = new Code();
  {
    const DESC = 4, N = 5, PANEL = 6, MODE = 7;
    panels.localGet(KC).i32Const(nr * 4).i32Mul().localSet(PANEL);
    panels.block();
    panels.localGet(N).i32Eqz().brIf(0);
    panels.loop();
    const args = (): Code => panels.localGet(DST).localGet(IMG).localGet(KTAB).localGet(KC).localGet(DESC).i32Load(4);
    panels.localGet(DESC).i32Load().localSet(MODE);
    for (const [mode, fn] of [[0, 'rows1'], [1, 'rows2'], [2, 'gather'], [3, 'gatherT']] as const) {
      panels.localGet(MODE).i32Const(mode).i32Eq().if();
      args().call(index(fn));
      panels.end();
    }
    panels.localGet(DST).localGet(PANEL).i32Add().localSet(DST);
    panels.localGet(DESC).i32Const(8).i32Add().localSet(DESC);
    panels.localGet(N).i32Const(-1).i32Add().localTee(N).brIf(0);
    panels.end();
    panels.end();
  }

  const col2im = new Code();
  {
    const CB = 0, LD = 1, ROWS = 2, ACC = 3, TAPTAB = 4, NPIX = 5, PIXTAB = 6;
    const T = 7, P = 8, PEND = 9, C = 10, ADDR = 11;
    col2im.block();
    col2im.localGet(ROWS).i32Eqz().brIf(0);
    col2im.localGet(NPIX).i32Eqz().brIf(0);
    col2im.loop();
    col2im.localGet(ACC).localGet(TAPTAB).i32Load().i32Add().localSet(T);
    col2im.localGet(PIXTAB).localSet(P);
    col2im.localGet(PIXTAB).localGet(NPIX).i32Const(4).i32Mul().i32Add().localSet(PEND);
    col2im.localGet(CB).localSet(C);
    col2im.loop();
    col2im.localGet(T).localGet(P).i32Load().i32Add().localTee(ADDR);
    col2im.localGet(ADDR).f32Load().localGet(C).f32Load().f32Add().f32Store();
    col2im.localGet(C).i32Const(4).i32Add().localSet(C);
    col2im.localGet(P).i32Const(4).i32Add().localTee(P).localGet(PEND).i32LtU().brIf(0);
    col2im.end();
    col2im.localGet(CB).localGet(LD).i32Add().localSet(CB);
    col2im.localGet(TAPTAB).i32Const(4).i32Add().localSet(TAPTAB);
    col2im.localGet(ROWS).i32Const(-1).i32Add().localTee(ROWS).brIf(0);
    col2im.end();
    col2im.end();
  }

  // pad/unpad: per plane, zero or skip the border and move the H rows of W floats one by one.
  const padOf = (crop: boolean): Code => {
    const c = new Code();
    const D = 0, S = 1, PLANES = 2, H = 3, W = 4, PH = 5, PW = 6;
    const WPB = 7, ROWB = 8, Y = 9, HEAD = 10, PLANEB = 11, PD = 12;
    c.localGet(W).localGet(PW).i32Const(2).i32Mul().i32Add().i32Const(4).i32Mul().localSet(WPB);
    c.localGet(W).i32Const(4).i32Mul().localSet(ROWB);
    // Bytes before the first interior element, and of a whole padded plane (zeroed with one fill).
    c.localGet(PH).localGet(WPB).i32Mul().localGet(PW).i32Const(4).i32Mul().i32Add().localSet(HEAD);
    c.localGet(H).localGet(PH).i32Const(2).i32Mul().i32Add().localGet(WPB).i32Mul().localSet(PLANEB);
    c.block();
    c.localGet(PLANES).i32Eqz().brIf(0);
    c.loop();
    {
      if (!crop) c.localGet(D).i32Const(0).localGet(PLANEB).memoryFill();
      c.localGet(D).localGet(HEAD).i32Add().localSet(PD);
      c.localGet(H).localSet(Y);
      c.block();
      c.localGet(Y).i32Eqz().brIf(0);
      c.loop();
      if (crop) c.localGet(S).localGet(PD).localGet(ROWB).memoryCopy();
      else c.localGet(PD).localGet(S).localGet(ROWB).memoryCopy();
      c.localGet(S).localGet(ROWB).i32Add().localSet(S);
      c.localGet(PD).localGet(WPB).i32Add().localSet(PD);
      c.localGet(Y).i32Const(-1).i32Add().localTee(Y).brIf(0);
      c.end();
      c.end();
      c.localGet(D).localGet(PLANEB).i32Add().localSet(D);
      c.localGet(PLANES).i32Const(-1).i32Add().localTee(PLANES).brIf(0);
    }
    c.end();
    c.end();
    return c;
  };

  const defs: Record<typeof PACK_FUNCTIONS[number], FuncDef> = {
    col2im: { name: 'col2im', params: i32s(7), results: [], locals: i32s(5), code: col2im },
    gather: { name: 'gather', params: i32s(5), results: [], locals: i32s(1 + nr), code: gatherOf(nr) },
    rows1: { name: 'rows1', params: i32s(5), results: [], locals: i32s(1), code: rows1 },
    rows2: { name: 'rows2', params: i32s(5), results: [], locals: i32s(1), code: rows2 },
    panels: { name: 'panels', params: i32s(6), results: [], locals: i32s(2), code: panels },
    gatherA: { name: 'gatherA', params: i32s(5), results: [], locals: i32s(1 + mr), code: gatherOf(mr) },
    pad: { name: 'pad', params: i32s(7), results: [], locals: i32s(6), code: padOf(false) },
    unpad: { name: 'unpad', params: i32s(7), results: [], locals: i32s(6), code: padOf(true) },
    gatherT: { name: 'gatherT', params: i32s(5), results: [], locals: gatherTLocals(nr), code: gatherTOf(nr) },
    // The transposing form needs whole 4-wide groups; other MR keep the scalar gather.
    gatherTA: mr % 4 === 0
      ? { name: 'gatherTA', params: i32s(5), results: [], locals: gatherTLocals(mr), code: gatherTOf(mr) }
      : { name: 'gatherTA', params: i32s(5), results: [], locals: i32s(1 + mr), code: gatherOf(mr) },
  };
  return PACK_FUNCTIONS.map((n) => defs[n]);
}
