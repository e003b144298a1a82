/**
 * The two transforms of the Winograd F(2×2, 3×3) convolution (winograd.ts), as WebAssembly SIMD
 * functions in the float32 GEMM module, so they read and write the same linear memory as its
 * macro-kernel. Each works on groups of 4 horizontally adjacent tiles at once, one tile per f32x4
 * lane. All addresses and strides are in bytes.
 *
 *   wgIn(src, C, R, G, rowB, planeB, dst, panelB, xiB)
 *     For each channel c < C and each of the R·4G tiles of R tile rows (G groups of 4 tiles each):
 *     the 4×4 input tile d (rows 2r..2r+3, columns 2t..2t+3 of a zero-padded plane at
 *     src + c·planeB, rows rowB apart) becomes V = Bᵀ·d·B, and its 16 values are written as the GEMM's
 *     B panels: V[ξ] at dst + ξ·xiB + (t >> 3)·panelB + c·32 + (t & 7)·4 for tile t of the block.
 *   wgOut(m, ldcB, xiB, O, R, G, bias, y, owB, ochB)
 *     For each output channel o < O and each tile t: the 16 GEMM results m[ξ] at
 *     m + ξ·xiB + o·ldcB + t·4 become the 2×2 outputs Aᵀ·m·A + bias[o], written to row 2r (and 2r+1),
 *     columns 2t', 2t'+1 of y + o·ochB, rows owB apart.
 *
 *   wgIn4, wgOut4: the same for planes 4 outputs wide (one tile group per pair of tile rows: tiles
 *     (r, 0), (r, 1), (r + 1, 0), (r + 1, 1)); R counts pairs of tile rows and G must be 1.
 *
 *   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]    Aᵀ = [1 1 1 0; 0 1 −1 −1]
 * A tile group's four columns 2t+j (t = 4g..4g+3) are the even and odd lanes of the 8 floats at
 * 8g + j − (j & 1), taken with two loads and one shuffle. Cost per group of 4 tiles and channel:
 * 16 loads, 16 shuffles, 32 adds and 16 stores in; 16 loads, 20 adds, 4 shuffles and 4 stores out.
 */
import { Code, I32, V128, type FuncDef, type ValType } from './wasm_emitter';

export const WINOGRAD_FUNCTIONS = ['wgIn', 'wgOut', 'wgIn4', 'wgOut4'] as const;

const f32Lanes = (l: readonly number[]): number[] => l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
const EVENS = f32Lanes([0, 2, 4, 6]);
const ODDS = f32Lanes([1, 3, 5, 7]);
const LO_PAIRS = f32Lanes([0, 4, 1, 5]);
const HI_PAIRS = f32Lanes([2, 6, 3, 7]);

const i32s = (n: number): ValType[] => Array<ValType>(n).fill(I32);

/** The functions named in WINOGRAD_FUNCTIONS, in that order. */
export function emitWinogradFunctions(): FuncDef[] {
  return [emitIn(false), emitOut(false), emitIn(true), emitOut(true)];
}

/** a − b, a + b as one step on locals. */
function binop(c: Code, dst: number, a: number, b: number, sub: boolean): void {
  c.localGet(a).localGet(b);
  if (sub) c.f32x4Sub();
  else c.f32x4Add();
  c.localSet(dst);
}

function emitIn(narrow: boolean): FuncDef {
  const c = new Code();
  const SRC = 0, C = 1, R = 2, G = 3, ROWB = 4, PLANEB = 5, DST = 6, PANELB = 7, XIB = 8;
  let next = 9;
  const locals: ValType[] = [];
  const local = (t: ValType): number => {
    locals.push(t);
    return next++;
  };
  const CI = local(I32), P = local(I32), DC = local(I32), T = local(I32), RI = local(I32), ROW = local(I32);
  const GI = local(I32), BASE = local(I32), A = local(I32), X = local(I32);
  const LA = local(V128), LB = local(V128);
  const e = [local(V128), local(V128), local(V128), local(V128)];
  const t: number[][] = [];
  for (let i = 0; i < 4; i++) t.push([local(V128), local(V128), local(V128), local(V128)]);
  const V = local(V128);

  c.localGet(SRC).localSet(P).localGet(DST).localSet(DC).localGet(C).localSet(CI);
  c.loop(); // channels
  c.i32Const(0).localSet(T).localGet(P).localSet(ROW).localGet(R).localSet(RI);
  c.loop(); // tile rows
  c.localGet(ROW).localSet(BASE).localGet(G).localSet(GI);
  c.loop(); // groups of 4 tiles
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
  c.localGet(T).i32Const(4).i32Add().localSet(T);
  c.localGet(BASE).i32Const(32).i32Add().localSet(BASE);
  c.localGet(GI).i32Const(-1).i32Add().localTee(GI).brIf(0);
  c.end();
  c.localGet(ROW).localGet(ROWB).i32Const(narrow ? 4 : 2).i32Mul().i32Add().localSet(ROW);
  c.localGet(RI).i32Const(-1).i32Add().localTee(RI).brIf(0);
  c.end();
  c.localGet(P).localGet(PLANEB).i32Add().localSet(P);
  c.localGet(DC).i32Const(32).i32Add().localSet(DC);
  c.localGet(CI).i32Const(-1).i32Add().localTee(CI).brIf(0);
  c.end();
  return { name: narrow ? 'wgIn4' : 'wgIn', params: i32s(9), results: [], locals, code: c };
}

function emitOut(narrow: boolean): FuncDef {
  const c = new Code();
  const M = 0, LDCB = 1, XIB = 2, O = 3, R = 4, G = 5, BIAS = 6, Y = 7, OWB = 8, OCHB = 9;
  let next = 10;
  const locals: ValType[] = [];
  const local = (t: ValType): number => {
    locals.push(t);
    return next++;
  };
  const OI = local(I32), MROW = local(I32), YO = local(I32), BP = local(I32), MA = local(I32), YR = local(I32);
  const RI = local(I32), YA = local(I32), GI = local(I32), X = local(I32);
  const BV = local(V128);
  const m: number[] = [];
  for (let k = 0; k < 16; k++) m.push(local(V128));
  const s: number[][] = [[local(V128), local(V128), local(V128), local(V128)], [local(V128), local(V128), local(V128), local(V128)]];
  const y = [local(V128), local(V128), local(V128), local(V128)];

  c.localGet(M).localSet(MROW).localGet(Y).localSet(YO).localGet(BIAS).localSet(BP).localGet(O).localSet(OI);
  c.loop(); // output channels
  c.localGet(BP).v128Load32Splat(0).localSet(BV);
  c.localGet(MROW).localSet(MA).localGet(YO).localSet(YR).localGet(R).localSet(RI);
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
  c.localGet(MROW).localGet(LDCB).i32Add().localSet(MROW);
  c.localGet(YO).localGet(OCHB).i32Add().localSet(YO);
  c.localGet(BP).i32Const(4).i32Add().localSet(BP);
  c.localGet(OI).i32Const(-1).i32Add().localTee(OI).brIf(0);
  c.end();
  return { name: narrow ? 'wgOut4' : 'wgOut', params: i32s(10), results: [], locals, code: c };
}
