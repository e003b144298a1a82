/**
 * The two transforms of the Winograd F(2×2, 3×3) convolution (winograd.ts), as WebAssembly SIMD
 * functions in the float32 GEMM module, so they read and write the same linear memory as its
 * macro-kernel. Each works on groups of 4 horizontally adjacent tiles at once, one tile per f32x4
 * lane. All addresses and strides are in bytes.
 *
 *   wgIn(src, C, R, G, rowB, planeB, dst, panelB, xiB, chanB, K, imgB)
 *     For each channel c < C and each of the K·R·4G tiles of R tile rows (G groups of 4 tiles each)
 *     of K images: the 4×4 input tile d (rows 2r..2r+3, columns 2t..2t+3 of a zero-padded plane at
 *     src + k·imgB + c·planeB, rows rowB apart) becomes V = Bᵀ·d·B, and its 16 values are written to
 *     V[ξ] at dst + ξ·xiB + (t >> 3)·panelB + c·chanB + (t & 7)·4 for tile t of the block: the
 *     forward GEMM's B panels with panelB = 32·C, chanB = 32; a row-major [C × tiles] matrix with
 *     panelB = 32, chanB = 4·tiles (the weight gradient's).
 *   wgOut(m, ldcB, xiB, O, R, G, bias, y, owB, ochB, K, yImgB)
 *     For each output channel o < O and each tile t: the 16 GEMM results m[ξ] at
 *     m + ξ·xiB + o·ldcB + t·4 become the 2×2 outputs Aᵀ·m·A + bias[o], written to row 2r (and 2r+1),
 *     columns 2t', 2t'+1 of y + k·yImgB + o·ochB (image k of the block), rows owB apart.
 *
 *   wgIn4, wgOut4: the same for planes 4 outputs wide (one tile group per pair of tile rows: tiles
 *     (r, 0), (r, 1), (r + 1, 0), (r + 1, 1)); R counts pairs of tile rows and G must be 1.
 *
 *   wgGrad(src, R, G, rowB, planeB, O, dst, ldB, xiB, K, imgB), wgGrad4: the weight gradient's transform
 *     of the output gradient: each 2×2 tile dy of the plane at src + k·imgB + o·planeB (rows rowB apart) becomes
 *     A·dy·Aᵀ, written to dst + ξ·xiB + o·ldB + t·4 (row-major [O × tiles] per ξ).
 *   wgPackA(src, ldB, rows4, T, dst), wgPackB: rows 4q..4q+3 of a row-major [rows × T] matrix (rows
 *     ldB apart) transposed into GEMM panels of width 4 (A) or 8 (B): element (r, t) goes to
 *     dst + ((r div w)·T·w + t·w + r mod w)·4. T is a multiple of 4.
 *
 *   wgU(src, Oc, Ci, soB, scB, dst, xsB), wgUFlip: the weight transform U = G·k·Gᵀ of winograd.ts
 *     winogradWeights, bit for bit (float64 arithmetic in the same order, one rounding to float32):
 *     kernel (o, c) has its 9 taps at src + o·soB + c·scB (wgUFlip: read backwards), and U[ξ] of it
 *     goes to dst + ξ·xsB + ((o >> 2)·Ci·4 + c·4 + (o & 3))·4. Two output channels per f64x2; rows
 *     past Oc in the last panel of 4 are not written.
 *
 *   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]    Aᵀ = [1 1 1 0; 0 1 −1 −1]
 * A tile group's four columns 2t+j (t = 4g..4g+3) are the even and odd lanes of the 8 floats at
 * 8g + j − (j & 1), taken with two loads and one shuffle. Cost per group of 4 tiles and channel:
 * 16 loads, 16 shuffles, 32 adds and 16 stores in; 16 loads, 20 adds, 4 shuffles and 4 stores out.
 */
import { Code, I32, V128, type FuncDef, type ValType } from './wasm_emitter';
import { f32Lanes, HI_HALVES, HI_PAIRS, i32s, LO_HALVES, LO_PAIRS } from './wasm_pack';
import { Asm } from './wasm_simd';

export const WINOGRAD_FUNCTIONS = ['wgIn', 'wgOut', 'wgIn4', 'wgOut4', 'wgGrad', 'wgGrad4', 'wgPackA', 'wgPackB', 'wgU', 'wgUFlip'] as const;

const EVENS = f32Lanes([0, 2, 4, 6]);
const ODDS = f32Lanes([1, 3, 5, 7]);

/** The functions named in WINOGRAD_FUNCTIONS, in that order. */
export function emitWinogradFunctions(): FuncDef[] {
  return [emitIn(false), emitOut(false), emitIn(true), emitOut(true), emitGrad(false), emitGrad(true), emitPack(4), emitPack(8),
    emitWeights(false), emitWeights(true)];
}

/** a − b, a + b as one step on locals. */
function binop(c: Code, dst: number, a: number, b: number, sub: boolean): void {
  c.localGet(a).localGet(b);
  if (sub) c.f32x4Sub();
  else c.f32x4Add();
  c.localSet(dst);
}

/** Numbers a function's locals after its `first` params, in the order asked for. */
function localsFrom(first: number): { locals: ValType[]; local: (t: ValType) => number } {
  const locals: ValType[] = [];
  let next = first;
  const local = (t: ValType): number => {
    locals.push(t);
    return next++;
  };
  return { locals, local };
}

/** Params and locals of the loop nest wgIn and wgGrad share. */
interface PlaneLoops {
  /** Params: first plane, plane count, plane stride, destination, its step per plane, rows, groups, row stride, images, image stride. */
  SRC: number; COUNT: number; PLANEB: number; DST: number; DSTB: number; R: number; G: number; ROWB: number; K: number; IMGB: number;
  /** Locals: plane pointer, destination, counters and the tile index T. */
  P: number; D: number; PI: number; T: number; IMG: number; KI: number; ROW: number; RI: number; BASE: number; GI: number;
}

/**
 * For each plane, each of K images, each tile row (narrow: pair of rows) and each group of 4 tiles:
 * body() with BASE at the group's first input element, D at the plane's destination and T the tile
 * index within the block (counting on across images); groups are `baseStep` bytes apart.
 */
function planeLoops(c: Code, v: PlaneLoops, narrow: boolean, baseStep: number, body: () => void): void {
  c.localGet(v.SRC).localSet(v.P).localGet(v.DST).localSet(v.D).localGet(v.COUNT).localSet(v.PI);
  c.loop(); // planes
  c.i32Const(0).localSet(v.T).localGet(v.P).localSet(v.IMG).localGet(v.K).localSet(v.KI);
  c.loop(); // images
  c.localGet(v.IMG).localSet(v.ROW).localGet(v.R).localSet(v.RI);
  c.loop(); // tile rows (narrow: pairs of them)
  c.localGet(v.ROW).localSet(v.BASE).localGet(v.G).localSet(v.GI);
  c.loop(); // groups of 4 tiles
  body();
  c.localGet(v.T).i32Const(4).i32Add().localSet(v.T);
  c.localGet(v.BASE).i32Const(baseStep).i32Add().localSet(v.BASE);
  c.localGet(v.GI).i32Const(-1).i32Add().localTee(v.GI).brIf(0);
  c.end();
  c.localGet(v.ROW).localGet(v.ROWB).i32Const(narrow ? 4 : 2).i32Mul().i32Add().localSet(v.ROW);
  c.localGet(v.RI).i32Const(-1).i32Add().localTee(v.RI).brIf(0);
  c.end();
  c.localGet(v.IMG).localGet(v.IMGB).i32Add().localSet(v.IMG);
  c.localGet(v.KI).i32Const(-1).i32Add().localTee(v.KI).brIf(0);
  c.end();
  c.localGet(v.P).localGet(v.PLANEB).i32Add().localSet(v.P);
  c.localGet(v.D).localGet(v.DSTB).i32Add().localSet(v.D);
  c.localGet(v.PI).i32Const(-1).i32Add().localTee(v.PI).brIf(0);
  c.end();
}

function emitIn(narrow: boolean): FuncDef {
  const c = new Code();
  const SRC = 0, C = 1, R = 2, G = 3, ROWB = 4, PLANEB = 5, DST = 6, PANELB = 7, XIB = 8, CHANB = 9, K = 10, IMGB = 11;
  const { locals, local } = localsFrom(12);
  const CI = local(I32), P = local(I32), DC = local(I32), T = local(I32), RI = local(I32), ROW = local(I32);
  const GI = local(I32), BASE = local(I32), A = local(I32), X = local(I32);
  const LA = local(V128), LB = local(V128);
  const e = [local(V128), local(V128), local(V128), local(V128)];
  const t: number[][] = [];
  for (let i = 0; i < 4; i++) t.push([local(V128), local(V128), local(V128), local(V128)]);
  const V = local(V128);
  const IMG = local(I32), KI = local(I32);

  const loops: PlaneLoops = {
    SRC, COUNT: C, PLANEB, DST, DSTB: CHANB, R, G, ROWB, K, IMGB, P, D: DC, PI: CI, T, IMG, KI, ROW, RI, BASE, GI,
  };
  planeLoops(c, loops, narrow, 32, () => {
    for (let i = 0; i < 4; i++) {
      if (i === 0) c.localGet(BASE).localSet(A);
      else c.localGet(A).localGet(ROWB).i32Add().localSet(A);
      if (narrow) {
        // Tiles (r, 0), (r, 1), (r + 1, 0), (r + 1, 1): column j of each is lane 0 or 2 of the
        // 4 floats at column j of rows 2r + i and 2r + 2 + i.
        c.localGet(A).localGet(ROWB).i32Add().localGet(ROWB).i32Add().localSet(X);
        for (let j = 0; j < 4; j++) {
          c.localGet(A).v128Load(4 * j).localGet(X).v128Load(4 * j).i8x16Shuffle(EVENS).localSet(e[j]);
        }
      } else {
        c.localGet(A).v128Load(0).localSet(LA).localGet(A).v128Load(16).localSet(LB);
        c.localGet(LA).localGet(LB).i8x16Shuffle(EVENS).localSet(e[0]);
        c.localGet(LA).localGet(LB).i8x16Shuffle(ODDS).localSet(e[1]);
        c.localGet(A).v128Load(8).localSet(LA).localGet(A).v128Load(24).localSet(LB);
        c.localGet(LA).localGet(LB).i8x16Shuffle(EVENS).localSet(e[2]);
        c.localGet(LA).localGet(LB).i8x16Shuffle(ODDS).localSet(e[3]);
      }
      // Along the row: d·B.
      binop(c, t[i][0], e[0], e[2], true);
      binop(c, t[i][1], e[1], e[2], false);
      binop(c, t[i][2], e[2], e[1], true);
      binop(c, t[i][3], e[1], e[3], true);
    }
    // X = DC + (T >> 3)·panelB + (T & 4)·4
    c.localGet(DC).localGet(T).i32Const(3).i32ShrU().localGet(PANELB).i32Mul().i32Add()
      .localGet(T).i32Const(4).i32And().i32Const(4).i32Mul().i32Add().localSet(X);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        // Down the column: Bᵀ·(d·B).
        if (i === 0) binop(c, V, t[0][j], t[2][j], true);
        else if (i === 1) binop(c, V, t[1][j], t[2][j], false);
        else if (i === 2) binop(c, V, t[2][j], t[1][j], true);
        else binop(c, V, t[1][j], t[3][j], true);
        c.localGet(X).localGet(V).v128Store(0);
        if (i < 3 || j < 3) c.localGet(X).localGet(XIB).i32Add().localSet(X);
      }
    }
  });
  return { name: narrow ? 'wgIn4' : 'wgIn', params: i32s(12), results: [], locals, code: c };
}

function emitOut(narrow: boolean): FuncDef {
  const c = new Code();
  const M = 0, LDCB = 1, XIB = 2, O = 3, R = 4, G = 5, BIAS = 6, Y = 7, OWB = 8, OCHB = 9, K = 10, YIMGB = 11;
  const { locals, local } = localsFrom(12);
  const OI = local(I32), MROW = local(I32), YO = local(I32), BP = local(I32), MA = local(I32), YR = local(I32);
  const RI = local(I32), YA = local(I32), GI = local(I32), X = local(I32);
  const BV = local(V128);
  const YIMG = local(I32), KI = local(I32);
  const m: number[] = [];
  for (let k = 0; k < 16; k++) m.push(local(V128));
  const s: number[][] = [[local(V128), local(V128), local(V128), local(V128)], [local(V128), local(V128), local(V128), local(V128)]];
  const y = [local(V128), local(V128), local(V128), local(V128)];

  c.localGet(M).localSet(MROW).localGet(Y).localSet(YO).localGet(BIAS).localSet(BP).localGet(O).localSet(OI);
  c.loop(); // output channels
  c.localGet(BP).v128Load32Splat(0).localSet(BV);
  c.localGet(MROW).localSet(MA).localGet(YO).localSet(YIMG).localGet(K).localSet(KI);
  c.loop(); // images
  c.localGet(YIMG).localSet(YR).localGet(R).localSet(RI);
  c.loop(); // tile rows
  c.localGet(YR).localSet(YA).localGet(G).localSet(GI);
  c.loop(); // groups of 4 tiles
  c.localGet(MA).localSet(X);
  for (let k = 0; k < 16; k++) {
    c.localGet(X).v128Load(0).localSet(m[k]);
    if (k < 15) c.localGet(X).localGet(XIB).i32Add().localSet(X);
  }
  for (let j = 0; j < 4; j++) {
    // Down the column: Aᵀ·m.
    c.localGet(m[j]).localGet(m[4 + j]).f32x4Add().localGet(m[8 + j]).f32x4Add().localSet(s[0][j]);
    c.localGet(m[4 + j]).localGet(m[8 + j]).f32x4Sub().localGet(m[12 + j]).f32x4Sub().localSet(s[1][j]);
  }
  for (let a = 0; a < 2; a++) {
    // Along the row: (Aᵀ·m)·A, plus the bias.
    c.localGet(s[a][0]).localGet(s[a][1]).f32x4Add().localGet(s[a][2]).f32x4Add().localGet(BV).f32x4Add().localSet(y[2 * a]);
    c.localGet(s[a][1]).localGet(s[a][2]).f32x4Sub().localGet(s[a][3]).f32x4Sub().localGet(BV).f32x4Add().localSet(y[2 * a + 1]);
  }
  if (narrow) {
    // Four output rows of 4: tile row r's two rows, then tile row r + 1's.
    c.localGet(YA).localGet(y[0]).localGet(y[1]).i8x16Shuffle(LO_PAIRS).v128Store(0);
    c.localGet(YA).localGet(y[2]).localGet(y[3]).i8x16Shuffle(LO_PAIRS).v128Store(16);
    c.localGet(YA).localGet(y[0]).localGet(y[1]).i8x16Shuffle(HI_PAIRS).v128Store(32);
    c.localGet(YA).localGet(y[2]).localGet(y[3]).i8x16Shuffle(HI_PAIRS).v128Store(48);
  } else {
    c.localGet(YA).localGet(y[0]).localGet(y[1]).i8x16Shuffle(LO_PAIRS).v128Store(0);
    c.localGet(YA).localGet(y[0]).localGet(y[1]).i8x16Shuffle(HI_PAIRS).v128Store(16);
    c.localGet(YA).localGet(OWB).i32Add().localSet(X);
    c.localGet(X).localGet(y[2]).localGet(y[3]).i8x16Shuffle(LO_PAIRS).v128Store(0);
    c.localGet(X).localGet(y[2]).localGet(y[3]).i8x16Shuffle(HI_PAIRS).v128Store(16);
  }
  c.localGet(MA).i32Const(16).i32Add().localSet(MA);
  c.localGet(YA).i32Const(32).i32Add().localSet(YA);
  c.localGet(GI).i32Const(-1).i32Add().localTee(GI).brIf(0);
  c.end();
  c.localGet(YR).localGet(OWB).i32Const(narrow ? 4 : 2).i32Mul().i32Add().localSet(YR);
  c.localGet(RI).i32Const(-1).i32Add().localTee(RI).brIf(0);
  c.end();
  c.localGet(YIMG).localGet(YIMGB).i32Add().localSet(YIMG);
  c.localGet(KI).i32Const(-1).i32Add().localTee(KI).brIf(0);
  c.end();
  c.localGet(MROW).localGet(LDCB).i32Add().localSet(MROW);
  c.localGet(YO).localGet(OCHB).i32Add().localSet(YO);
  c.localGet(BP).i32Const(4).i32Add().localSet(BP);
  c.localGet(OI).i32Const(-1).i32Add().localTee(OI).brIf(0);
  c.end();
  return { name: narrow ? 'wgOut4' : 'wgOut', params: i32s(12), results: [], locals, code: c };
}

function emitGrad(narrow: boolean): FuncDef {
  const c = new Code();
  const SRC = 0, R = 1, G = 2, ROWB = 3, PLANEB = 4, O = 5, DST = 6, LDB = 7, XIB = 8, K = 9, IMGB = 10;
  const { locals, local } = localsFrom(11);
  const OI = local(I32), P = local(I32), D = local(I32), T = local(I32), RI = local(I32), ROW = local(I32);
  const GI = local(I32), BASE = local(I32), A = local(I32), X = local(I32);
  const LA = local(V128), LB = local(V128);
  const d = [[local(V128), local(V128)], [local(V128), local(V128)]];
  const p: number[][] = [];
  for (let a = 0; a < 2; a++) p.push([local(V128), local(V128), local(V128), local(V128)]);
  const V = local(V128);
  const IMG = local(I32), KI = local(I32);

  const loops: PlaneLoops = {
    SRC, COUNT: O, PLANEB, DST, DSTB: LDB, R, G, ROWB, K, IMGB, P, D, PI: OI, T, IMG, KI, ROW, RI, BASE, GI,
  };
  planeLoops(c, loops, narrow, narrow ? 16 : 32, () => {
    for (let a = 0; a < 2; a++) {
      // Row a of the 4 tiles' 2×2 blocks: columns 0 and 1 are the even and odd lanes.
      if (a === 0) c.localGet(BASE).localSet(A);
      else c.localGet(BASE).localGet(ROWB).i32Add().localSet(A);
      if (narrow) {
        c.localGet(A).v128Load(0).localSet(LA);
        c.localGet(A).localGet(ROWB).i32Add().localGet(ROWB).i32Add().v128Load(0).localSet(LB);
      } else {
        c.localGet(A).v128Load(0).localSet(LA).localGet(A).v128Load(16).localSet(LB);
      }
      c.localGet(LA).localGet(LB).i8x16Shuffle(EVENS).localSet(d[a][0]);
      c.localGet(LA).localGet(LB).i8x16Shuffle(ODDS).localSet(d[a][1]);
      // Along the row: dy·Aᵀ = [d0, d0 + d1, d0 − d1, −d1].
      c.localGet(d[a][0]).localSet(p[a][0]);
      binop(c, p[a][1], d[a][0], d[a][1], false);
      binop(c, p[a][2], d[a][0], d[a][1], true);
      c.localGet(d[a][1]).f32x4Neg().localSet(p[a][3]);
    }
    c.localGet(D).localGet(T).i32Const(4).i32Mul().i32Add().localSet(X);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        // Down the column: A·(dy·Aᵀ).
        if (i === 0) c.localGet(p[0][j]).localSet(V);
        else if (i === 1) binop(c, V, p[0][j], p[1][j], false);
        else if (i === 2) binop(c, V, p[0][j], p[1][j], true);
        else c.localGet(p[1][j]).f32x4Neg().localSet(V);
        c.localGet(X).localGet(V).v128Store(0);
        if (i < 3 || j < 3) c.localGet(X).localGet(XIB).i32Add().localSet(X);
      }
    }
  });
  return { name: narrow ? 'wgGrad4' : 'wgGrad', params: i32s(11), results: [], locals, code: c };
}

function emitPack(width: 4 | 8): FuncDef {
  const c = new Code();
  const SRC = 0, LDB = 1, ROWS4 = 2, T = 3, DST = 4;
  const { locals, local } = localsFrom(5);
  const Q = local(I32), S0 = local(I32), D = local(I32), TI = local(I32), A = local(I32), PANELB = local(I32), X = local(I32);
  const r = [local(V128), local(V128), local(V128), local(V128)];
  const h = [local(V128), local(V128), local(V128), local(V128)];

  c.localGet(T).i32Const(width * 4).i32Mul().localSet(PANELB);
  c.i32Const(0).localSet(Q).localGet(SRC).localSet(S0);
  c.loop(); // groups of 4 rows
  // D = dst + (q div (w/4))·T·w·4 + (q mod (w/4))·16
  c.localGet(DST);
  if (width === 8) c.localGet(Q).i32Const(1).i32ShrU().localGet(PANELB).i32Mul().i32Add().localGet(Q).i32Const(1).i32And().i32Const(16).i32Mul().i32Add();
  else c.localGet(Q).localGet(PANELB).i32Mul().i32Add();
  c.localSet(D);
  c.localGet(S0).localSet(A).localGet(T).i32Const(2).i32ShrU().localSet(TI);
  c.loop(); // 4 columns at a time
  c.localGet(A).localSet(X);
  for (let k = 0; k < 4; k++) {
    c.localGet(X).v128Load(0).localSet(r[k]);
    if (k < 3) c.localGet(X).localGet(LDB).i32Add().localSet(X);
  }
  c.localGet(r[0]).localGet(r[1]).i8x16Shuffle(LO_PAIRS).localSet(h[0]);
  c.localGet(r[0]).localGet(r[1]).i8x16Shuffle(HI_PAIRS).localSet(h[1]);
  c.localGet(r[2]).localGet(r[3]).i8x16Shuffle(LO_PAIRS).localSet(h[2]);
  c.localGet(r[2]).localGet(r[3]).i8x16Shuffle(HI_PAIRS).localSet(h[3]);
  c.localGet(D).localGet(h[0]).localGet(h[2]).i8x16Shuffle(LO_HALVES).v128Store(0);
  c.localGet(D).localGet(h[0]).localGet(h[2]).i8x16Shuffle(HI_HALVES).v128Store(width * 4);
  c.localGet(D).localGet(h[1]).localGet(h[3]).i8x16Shuffle(LO_HALVES).v128Store(width * 8);
  c.localGet(D).localGet(h[1]).localGet(h[3]).i8x16Shuffle(HI_HALVES).v128Store(width * 12);
  c.localGet(D).i32Const(width * 16).i32Add().localSet(D);
  c.localGet(A).i32Const(16).i32Add().localSet(A);
  c.localGet(TI).i32Const(-1).i32Add().localTee(TI).brIf(0);
  c.end();
  c.localGet(S0).localGet(LDB).i32Const(4).i32Mul().i32Add().localSet(S0);
  c.localGet(Q).i32Const(1).i32Add().localTee(Q).localGet(ROWS4).i32LtU().brIf(0);
  c.end();
  return { name: width === 4 ? 'wgPackA' : 'wgPackB', params: i32s(5), results: [], locals, code: c };
}

/**
 * wgU / wgUFlip (see the header): for each pair of output channels (a last odd one alone, both lanes
 * reading it and one stored) and each input channel, U = G·k·Gᵀ with
 *   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
 * as winogradWeights computes it: t = G·k row by row, then u = t·Gᵀ, each sum left to right, halved.
 */
function emitWeights(flip: boolean): FuncDef {
  const c = new Asm();
  const SRC = 0, OC = 1, CI = 2, SOB = 3, SCB = 4, DST = 5, XSB = 6;
  const { locals, local } = localsFrom(7);
  const Q = local(I32), NQ = local(I32), A = local(I32), B = local(I32), D = local(I32), X = local(I32), CL = local(I32);
  const HALF = local(V128);
  const k: number[] = [];
  for (let i = 0; i < 9; i++) k.push(local(V128));
  const t1 = [local(V128), local(V128), local(V128)], t2 = [local(V128), local(V128), local(V128)];

  /** ((a ± b) + d) · ½ on the stack. */
  const row = (a: number, b: number, d: number, minus: boolean): void => {
    c.localGet(a).localGet(b);
    if (minus) c.f64x2Sub();
    else c.f64x2Add();
    c.localGet(d).f64x2Add().localGet(HALF).f64x2Mul();
  };
  /** Stores the f64x2 on the stack at X (both lanes, or lane 0 alone), then X += xsB. */
  const store = (single: boolean, value: () => void): void => {
    c.localGet(X);
    value();
    c.f32x4DemoteF64x2Zero();
    if (single) c.v128Store32Lane(0);
    else c.v128Store64Lane(0);
    c.localGet(X).localGet(XSB).i32Add().localSet(X);
  };
  /** Over the input channels, from A (lane 0), B (lane 1) and D. */
  const channels = (single: boolean): void => {
    c.localGet(CI).localSet(CL);
    c.loop();
    for (let i = 0; i < 9; i++) {
      const off = 4 * (flip ? 8 - i : i);
      c.localGet(B).localGet(A).v128Load32Zero(off).v128Load32Lane(1, off).f64x2PromoteLowF32x4().localSet(k[i]);
    }
    for (let j = 0; j < 3; j++) {
      row(k[j], k[3 + j], k[6 + j], false);
      c.localSet(t1[j]);
      row(k[j], k[3 + j], k[6 + j], true);
      c.localSet(t2[j]);
    }
    c.localGet(D).localSet(X);
    for (const r of [[k[0], k[1], k[2]], t1, t2, [k[6], k[7], k[8]]]) {
      store(single, () => c.localGet(r[0]));
      store(single, () => row(r[0], r[1], r[2], false));
      store(single, () => row(r[0], r[1], r[2], true));
      store(single, () => c.localGet(r[2]));
    }
    c.localGet(A).localGet(SCB).i32Add().localSet(A);
    c.localGet(B).localGet(SCB).i32Add().localSet(B);
    c.localGet(D).i32Const(16).i32Add().localSet(D);
    c.localGet(CL).i32Const(-1).i32Add().localTee(CL).brIf(0);
    c.end();
  };
  /** A = src + 2q·soB, B = A + soB (single: A), D = dst + (q >> 1)·Ci·16 + (q & 1)·8 for pair q. */
  const start = (single: boolean): void => {
    c.localGet(SRC).localGet(Q).i32Const(2).i32Mul().localGet(SOB).i32Mul().i32Add().localSet(A);
    c.localGet(A);
    if (!single) c.localGet(SOB).i32Add();
    c.localSet(B);
    c.localGet(DST).localGet(Q).i32Const(1).i32ShrU().localGet(CI).i32Mul().i32Const(16).i32Mul().i32Add()
      .localGet(Q).i32Const(1).i32And().i32Const(8).i32Mul().i32Add().localSet(D);
  };

  c.f64Const(0.5).f64x2Splat().localSet(HALF);
  c.localGet(OC).i32Const(1).i32ShrU().localSet(NQ);
  c.i32Const(0).localSet(Q);
  c.block();
  c.loop(); // pairs of output channels
  c.localGet(Q).localGet(NQ).i32GeU().brIf(1);
  start(false);
  channels(false);
  c.localGet(Q).i32Const(1).i32Add().localSet(Q);
  c.br(0);
  c.end();
  c.end();
  c.localGet(OC).i32Const(1).i32And().if(); // a last, odd output channel (Q = NQ)
  start(true);
  channels(true);
  c.end();
  return { name: flip ? 'wgUFlip' : 'wgU', params: i32s(7), results: [], locals, code: c };
}
