import { allocate, dtypeOf, type FloatArray } from '../core/dtype';
import { fail, fmtShape } from '../core/errors';
import { pair } from '../core/shape';

/**
 * 2-D convolution (cross-correlation, as PyTorch), NCHW input, OIHW weight ([O, C/groups, KH, KW]).
 * out[n, o, y, x] = bias[o] + Σ_{c in group(o), i, j} w[o, c, i, j] · in[n, c, y·sh − ph + i·dh, x·sw − pw + j·dw]
 * with zero padding. Cost of a forward: 2·N·O·(C/groups)·KH·KW·OH·OW flops.
 */
export interface Conv2dParams {
  stride?: number | readonly number[];
  padding?: number | readonly number[];
  dilation?: number | readonly number[];
  groups?: number;
}

export interface Conv2dGeometry {
  N: number; C: number; H: number; W: number;
  O: number; KH: number; KW: number;
  OH: number; OW: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number;
}

/** Validates shapes and parameters and derives the output size; every error names conv2d and the shapes. */
export function conv2dGeometry(
  xShape: readonly number[], wShape: readonly number[], params: Conv2dParams = {}, biasShape?: readonly number[],
): Conv2dGeometry {
  const op = 'conv2d';
  if (xShape.length !== 4) fail(op, `expected a 4-d NCHW input, got shape ${fmtShape(xShape)}`);
  if (wShape.length !== 4) fail(op, `expected a 4-d [out, in/groups, kh, kw] weight, got shape ${fmtShape(wShape)}`);
  const [sh, sw] = pair(op, 'stride', params.stride ?? 1, 1);
  const [ph, pw] = pair(op, 'padding', params.padding ?? 0, 0);
  const [dh, dw] = pair(op, 'dilation', params.dilation ?? 1, 1);
  const groups = params.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) fail(op, `groups must be a positive integer, got ${groups}`);
  const [N, C, H, W] = xShape;
  const [O, Cg, KH, KW] = wShape;
  if (C % groups !== 0) fail(op, `input channels ${C} not divisible by groups ${groups} (input ${fmtShape(xShape)})`);
  if (O % groups !== 0) fail(op, `output channels ${O} not divisible by groups ${groups} (weight ${fmtShape(wShape)})`);
  if (Cg * groups !== C) {
    fail(op, `input has ${C} channels but weight expects ${Cg * groups} (input ${fmtShape(xShape)}, weight ${fmtShape(wShape)}, groups ${groups})`);
  }
  if (KH < 1 || KW < 1) fail(op, `kernel size must be positive, got weight ${fmtShape(wShape)}`);
  if (biasShape !== undefined && (biasShape.length !== 1 || biasShape[0] !== O)) {
    fail(op, `bias must have shape [${O}], got ${fmtShape(biasShape)} (weight ${fmtShape(wShape)})`);
  }
  const effH = dh * (KH - 1) + 1;
  const effW = dw * (KW - 1) + 1;
  const OH = Math.floor((H + 2 * ph - effH) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - effW) / sw) + 1;
  if (H + 2 * ph < effH || W + 2 * pw < effW || OH < 1 || OW < 1) {
    fail(op, `kernel ${KH}x${KW} (dilation ${dh}x${dw}) is larger than the padded input ${H + 2 * ph}x${W + 2 * pw} (input ${fmtShape(xShape)}, weight ${fmtShape(wShape)}, padding ${ph}x${pw})`);
  }
  return { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups };
}

export function conv2dForward(x: FloatArray, w: FloatArray, bias: FloatArray | null, g: Conv2dGeometry): FloatArray {
  return conv2dForwardReference(x, w, bias, g);
}

export function conv2dBackwardInput(gy: FloatArray, w: FloatArray, g: Conv2dGeometry): FloatArray {
  return conv2dBackwardInputReference(gy, w, g);
}

export function conv2dBackwardWeight(gy: FloatArray, x: FloatArray, g: Conv2dGeometry): FloatArray {
  return conv2dBackwardWeightReference(gy, x, g);
}

/** d(loss)/d(bias)[o] = Σ_{n, y, x} gy[n, o, y, x]. */
export function conv2dBackwardBias(gy: FloatArray, g: Conv2dGeometry): FloatArray {
  const { N, O, OH, OW } = g;
  const P = OH * OW;
  const gb = allocate(dtypeOf(gy), O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let s = 0;
      const base = (n * O + o) * P;
      for (let p = 0; p < P; p++) s += gy[base + p];
      gb[o] += s;
    }
  }
  return gb;
}

// ---- slow, obviously-correct reference loops (tests hold the fast kernels to these) ----

export function conv2dForwardReference(x: FloatArray, w: FloatArray, bias: FloatArray | null, g: Conv2dGeometry): FloatArray {
  const { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups } = g;
  const Cg = C / groups, Og = O / groups;
  const out = allocate(dtypeOf(x), N * O * OH * OW);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / Og);
      for (let y = 0; y < OH; y++)
        for (let xx = 0; xx < OW; xx++) {
          let s = bias ? bias[o] : 0;
          for (let cg = 0; cg < Cg; cg++) {
            const c = grp * Cg + cg;
            for (let i = 0; i < KH; i++) {
              const iy = y * sh - ph + i * dh;
              if (iy < 0 || iy >= H) continue;
              for (let j = 0; j < KW; j++) {
                const ix = xx * sw - pw + j * dw;
                if (ix < 0 || ix >= W) continue;
                s += w[((o * Cg + cg) * KH + i) * KW + j] * x[((n * C + c) * H + iy) * W + ix];
              }
            }
          }
          out[((n * O + o) * OH + y) * OW + xx] = s;
        }
    }
  return out;
}

export function conv2dBackwardInputReference(gy: FloatArray, w: FloatArray, g: Conv2dGeometry): FloatArray {
  const { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups } = g;
  const Cg = C / groups, Og = O / groups;
  const gx = allocate(dtypeOf(gy), N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / Og);
      for (let y = 0; y < OH; y++)
        for (let xx = 0; xx < OW; xx++) {
          const gv = gy[((n * O + o) * OH + y) * OW + xx];
          for (let cg = 0; cg < Cg; cg++) {
            const c = grp * Cg + cg;
            for (let i = 0; i < KH; i++) {
              const iy = y * sh - ph + i * dh;
              if (iy < 0 || iy >= H) continue;
              for (let j = 0; j < KW; j++) {
                const ix = xx * sw - pw + j * dw;
                if (ix < 0 || ix >= W) continue;
                gx[((n * C + c) * H + iy) * W + ix] += w[((o * Cg + cg) * KH + i) * KW + j] * gv;
              }
            }
          }
        }
    }
  return gx;
}

export function conv2dBackwardWeightReference(gy: FloatArray, x: FloatArray, g: Conv2dGeometry): FloatArray {
  const { N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups } = g;
  const Cg = C / groups, Og = O / groups;
  const gw = allocate(dtypeOf(gy), O * Cg * KH * KW);
  for (let o = 0; o < O; o++) {
    const grp = Math.floor(o / Og);
    for (let cg = 0; cg < Cg; cg++) {
      const c = grp * Cg + cg;
      for (let i = 0; i < KH; i++)
        for (let j = 0; j < KW; j++) {
          let s = 0;
          for (let n = 0; n < N; n++)
            for (let y = 0; y < OH; y++) {
              const iy = y * sh - ph + i * dh;
              if (iy < 0 || iy >= H) continue;
              for (let xx = 0; xx < OW; xx++) {
                const ix = xx * sw - pw + j * dw;
                if (ix < 0 || ix >= W) continue;
                s += gy[((n * O + o) * OH + y) * OW + xx] * x[((n * C + c) * H + iy) * W + ix];
              }
            }
          gw[((o * Cg + cg) * KH + i) * KW + j] = s;
        }
    }
  }
  return gw;
}
