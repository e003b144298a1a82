/**
 * MultiheadAttention, TransformerEncoderLayer and TransformerEncoder against a float64 reference written
 * here from torch 1.13's documented equations (per batch element and head: softmax(Q·Kᵀ/√d + mask)·V
 * with Q = W_q·q + b_q …, the heads concatenated and projected by out_proj; bool masks add −∞ where 1,
 * float masks are added, a padded key gets −∞; the weights averaged over heads), one vector at a time
 * over nested arrays, reading the modules' parameters by their torch state-dict names; gradients by
 * gradcheck in float64.
 */
import { expect } from 'chai';
import { randn, tensor } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { assertGradcheck } from '../../../autograd/gradcheck';
import { Tensor } from '../../../autograd/tensor';
import { globalRng, manualSeed } from '../../../lib/random';
import {
  generateSquareSubsequentMask, init, LayerNorm, Linear, Module, MultiheadAttention, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
  TransformerEncoderLayer,
} from '../../../models/nn/index';

type Vec = number[];
type Mat = number[][];
type Mask = (b: number, h: number, l: number, s: number) => number;
const f64 = { dtype: 'float64' as const };

const affine = (W: Mat, b: Vec | null, x: Vec): Vec => W.map((row, i) => row.reduce((s, w, j) => s + w * x[j], b ? b[i] : 0));
const transpose01 = <T>(a: T[][]): T[][] => a[0].map((_, j) => a.map((row) => row[j]));

interface MhaParams { wq: Mat; wk: Mat; wv: Mat; bq: Vec | null; bk: Vec | null; bv: Vec | null; wo: Mat; bo: Vec | null }

/** The projections under torch's names: in_proj_weight's row blocks q, k, v, or q/k/v_proj_weight. */
function mhaParams(m: Module, prefix = ''): MhaParams {
  const sd = m.stateDict();
  const get = (k: string): Tensor | undefined => sd[prefix + k];
  const packed = get('in_proj_weight');
  let wq: Mat;
  let wk: Mat;
  let wv: Mat;
  if (packed) {
    const W = packed.toArray() as Mat;
    const E = W.length / 3;
    [wq, wk, wv] = [W.slice(0, E), W.slice(E, 2 * E), W.slice(2 * E)];
  } else {
    [wq, wk, wv] = ['q_proj_weight', 'k_proj_weight', 'v_proj_weight'].map((k) => (get(k) as Tensor).toArray() as Mat);
  }
  const E = wq.length;
  const b = get('in_proj_bias')?.toArray() as Vec | undefined;
  const bo = get('out_proj.bias')?.toArray() as Vec | undefined;
  return {
    wq, wk, wv, bq: b ? b.slice(0, E) : null, bk: b ? b.slice(E, 2 * E) : null, bv: b ? b.slice(2 * E) : null,
    wo: (get('out_proj.weight') as Tensor).toArray() as Mat, bo: bo ?? null,
  };
}

/**
 * torch's equations for inputs in batch-major nested arrays q [B][L][E], k [B][S][kdim], v [B][S][vdim]:
 * out [B][L][E] and the per-head weights [B][H][L][S]. mask gives the term added to each score (0 for
 * none, −∞ to mask); drop multiplies each weight after the softmax (dropout's kept/scaled mask).
 */
function refMha(p: MhaParams, H: number, q: Mat[], k: Mat[], v: Mat[], mask: Mask = () => 0, drop: Mask = () => 1): { out: Mat[]; w: Mat[][] } {
  const E = p.wq.length;
  const d = E / H;
  const out: Mat[] = [];
  const weights: Mat[][] = [];
  for (let b = 0; b < q.length; b++) {
    const Q = q[b].map((x) => affine(p.wq, p.bq, x));
    const K = k[b].map((x) => affine(p.wk, p.bk, x));
    const V = v[b].map((x) => affine(p.wv, p.bv, x));
    const ctx: Mat = Q.map(() => new Array<number>(E).fill(0));
    const wb: Mat[] = [];
    for (let h = 0; h < H; h++) {
      const wh: Mat = [];
      for (let l = 0; l < Q.length; l++) {
        const scores = K.map((key, s) => {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += Q[l][h * d + j] * key[h * d + j];
          return dot / Math.sqrt(d) + mask(b, h, l, s);
        });
        const mx = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - mx));
        const sum = e.reduce((a, c) => a + c, 0);
        const a = e.map((x, s) => (mx === -Infinity ? NaN : (x / sum) * drop(b, h, l, s)));
        wh.push(a);
        for (let j = 0; j < d; j++) ctx[l][h * d + j] = a.reduce((acc, w, s) => acc + w * V[s][h * d + j], 0);
      }
      wb.push(wh);
    }
    out.push(ctx.map((c) => affine(p.wo, p.bo, c)));
    weights.push(wb);
  }
  return { out, w: weights };
}

/** Mean over heads: [B][H][L][S] → [B][L][S]. */
const averageHeads = (w: Mat[][]): Mat[] => w.map((wb) => wb[0].map((row, l) => row.map((_, s) => wb.reduce((acc, wh) => acc + wh[l][s], 0) / wb.length)));

function flat(a: unknown): number[] {
  return Array.isArray(a) ? a.flatMap((e) => flat(e)) : [a as number];
}

function expectClose(t: Tensor, shape: number[], expected: unknown, tol = 1e-12): void {
  expect(t.shape).to.deep.equal(shape);
  const got = Array.from(t.data);
  const want = flat(expected);
  expect(got.length).to.equal(want.length);
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) expect(got[i], `element ${i}`).to.be.NaN;
    else expect(Math.abs(got[i] - want[i]), `element ${i}: ${got[i]} vs ${want[i]}`).to.be.at.most(tol * Math.max(1, Math.abs(want[i])));
  }
}

/** Every parameter drawn from N(0, 0.5²), so zero-initialised biases and unit norm weights take part too. */
function randomizeParams(m: Module): void {
  for (const p of m.parameters()) {
    const r = randn(p.shape, { dtype: p.dtype });
    const d = p.data;
    for (let i = 0; i < d.length; i++) d[i] = 0.5 * r.data[i];
  }
}

const asMats = (t: Tensor): Mat[] => t.toArray() as Mat[];
/** A module input [L, B, F] (or [B, L, F] with batchFirst) as batch-major nested arrays. */
const batchMajor = (t: Tensor, batchFirst: boolean): Mat[] => (batchFirst ? asMats(t) : transpose01(asMats(t)));
/** Reference output [B][L][E] in the module's layout. */
const moduleLayout = (o: Mat[], batchFirst: boolean): unknown => (batchFirst ? o : transpose01(o));

describe('models/nn/transformer', () => {
  const B = 2;
  const L = 3;
  const S = 4;
  const E = 6;
  const H = 3;

  describe('MultiheadAttention forward against torch\'s equations', () => {
    for (const batchFirst of [false, true]) {
      it(`self-attention through the packed in_proj_weight (batchFirst ${batchFirst}): output, averaged and per-head weights`, () => {
        manualSeed(1);
        const m = new MultiheadAttention(E, H, { batchFirst, dtype: 'float64' });
        randomizeParams(m);
        const x = randn(batchFirst ? [B, L, E] : [L, B, E], f64);
        const xs = batchMajor(x, batchFirst);
        const ref = refMha(mhaParams(m), H, xs, xs, xs);
        const [out, w] = m.forward(x, x, x);
        expectClose(out, batchFirst ? [B, L, E] : [L, B, E], moduleLayout(ref.out, batchFirst));
        expectClose(w as Tensor, [B, L, L], averageHeads(ref.w));
        const [out2, perHead] = m.forward(x, x, x, { averageAttnWeights: false });
        expectClose(out2, out.shape as number[], Array.from(out.data));
        expectClose(perHead as Tensor, [B, H, L, L], ref.w);
        const [out3, none] = m.forward(x, x, x, { needWeights: false });
        expect(none).to.equal(null);
        expectClose(out3, out.shape as number[], Array.from(out.data));
      });

      it(`cross-attention, query length ${L} against ${S} keys, distinct key and value (batchFirst ${batchFirst})`, () => {
        manualSeed(2);
        const m = new MultiheadAttention(E, H, { batchFirst, dtype: 'float64' });
        randomizeParams(m);
        const shape = (n: number): number[] => (batchFirst ? [B, n, E] : [n, B, E]);
        const [q, k, v] = [randn(shape(L), f64), randn(shape(S), f64), randn(shape(S), f64)];
        const ref = refMha(mhaParams(m), H, batchMajor(q, batchFirst), batchMajor(k, batchFirst), batchMajor(v, batchFirst));
        const [out, w] = m.forward(q, k, v);
        expectClose(out, shape(L), moduleLayout(ref.out, batchFirst));
        expectClose(w as Tensor, [B, L, S], averageHeads(ref.w));
      });
    }

    it('kdim and vdim other than embedDim: separate q/k/v projection weights', () => {
      manualSeed(3);
      const m = new MultiheadAttention(4, 2, { kdim: 3, vdim: 5, dtype: 'float64' });
      randomizeParams(m);
      const [q, k, v] = [randn([L, B, 4], f64), randn([S, B, 3], f64), randn([S, B, 5], f64)];
      const ref = refMha(mhaParams(m), 2, transpose01(asMats(q)), transpose01(asMats(k)), transpose01(asMats(v)));
      const [out, w] = m.forward(q, k, v, { averageAttnWeights: false });
      expectClose(out, [L, B, 4], transpose01(ref.out));
      expectClose(w as Tensor, [B, 2, L, S], ref.w);
    });

    it('no biases (bias: false)', () => {
      manualSeed(4);
      const m = new MultiheadAttention(E, H, { bias: false, dtype: 'float64' });
      randomizeParams(m);
      const [q, k] = [randn([L, B, E], f64), randn([S, B, E], f64)];
      const ref = refMha(mhaParams(m), H, transpose01(asMats(q)), transpose01(asMats(k)), transpose01(asMats(k)));
      expect(mhaParams(m).bq).to.equal(null);
      expectClose(m.forward(q, k, k)[0], [L, B, E], transpose01(ref.out));
    });

    describe('masks', () => {
      // Bool masks of 0/1 that never mask key 0, so no row is masked entirely.
      const boolMask = (shape: number[]): Tensor => {
        const t = randn(shape, f64);
        const d = t.data;
        for (let i = 0; i < d.length; i++) d[i] = i % S !== 0 && d[i] > 0 ? 1 : 0;
        return t;
      };
      const kpm = tensor([[0, 0, 1, 1], [0, 1, 0, 0]], f64); // [B, S]: batch 0 pads its last two keys
      const kpmAt = (b: number, s: number): boolean => (kpm.toArray() as Mat)[b][s] === 1;
      const mask2 = boolMask([L, S]);
      const mask3 = boolMask([B * H, L, S]);
      const float2 = randn([L, S], f64);
      const float3 = randn([B * H, L, S], f64);
      float3.data[5] = -Infinity; // a float mask may hold −∞ itself (element [0, 1, 1])
      const at2 = (t: Tensor) => (b: number, h: number, l: number, s: number): number => (t.toArray() as Mat)[l][s];
      const at3 = (t: Tensor) => (b: number, h: number, l: number, s: number): number => (t.toArray() as Mat[])[b * H + h][l][s];
      const boolAdd = (f: Mask): Mask => (b, h, l, s) => (f(b, h, l, s) === 1 ? -Infinity : 0);
      const withPadding = (f: Mask): Mask => (b, h, l, s) => (kpmAt(b, s) ? -Infinity : f(b, h, l, s));
      const cases: { title: string; options: object; mask: Mask }[] = [
        { title: 'bool [L, S] attnMask', options: { attnMask: mask2 }, mask: boolAdd(at2(mask2)) },
        { title: 'bool [B·heads, L, S] attnMask', options: { attnMask: mask3, attnMaskType: 'bool' }, mask: boolAdd(at3(mask3)) },
        { title: 'float [L, S] attnMask, added', options: { attnMask: float2, attnMaskType: 'float' }, mask: at2(float2) },
        { title: 'float [B·heads, L, S] attnMask with a −∞', options: { attnMask: float3, attnMaskType: 'float' }, mask: at3(float3) },
        { title: 'keyPaddingMask alone', options: { keyPaddingMask: kpm }, mask: withPadding(() => 0) },
        { title: 'keyPaddingMask and a bool [L, S] attnMask', options: { keyPaddingMask: kpm, attnMask: mask2 }, mask: withPadding(boolAdd(at2(mask2))) },
        { title: 'keyPaddingMask and a float [B·heads, L, S] attnMask', options: { keyPaddingMask: kpm, attnMask: float3, attnMaskType: 'float' }, mask: withPadding(at3(float3)) },
      ];
      cases.forEach(({ title, options, mask }, i) => {
        const batchFirst = i % 2 === 1;
        it(`${title} (batchFirst ${batchFirst})`, () => {
          manualSeed(10 + i);
          const m = new MultiheadAttention(E, H, { batchFirst, dtype: 'float64' });
          randomizeParams(m);
          const shape = (n: number): number[] => (batchFirst ? [B, n, E] : [n, B, E]);
          const [q, k, v] = [randn(shape(L), f64), randn(shape(S), f64), randn(shape(S), f64)];
          const ref = refMha(mhaParams(m), H, batchMajor(q, batchFirst), batchMajor(k, batchFirst), batchMajor(v, batchFirst), mask);
          const [out, w] = m.forward(q, k, v, { ...options, averageAttnWeights: false });
          expectClose(out, shape(L), moduleLayout(ref.out, batchFirst));
          expectClose(w as Tensor, [B, H, L, S], ref.w);
          // The masked weights are exactly 0.
          for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let l = 0; l < L; l++) for (let s = 0; s < S; s++) {
            if (mask(b, h, l, s) === -Infinity) expect((w as Tensor).toArray()).to.have.nested.property(`[${b}][${h}][${l}][${s}]`, 0);
          }
        });
      });

      it('unbatched [L, E] inputs with a [S] keyPaddingMask and a bool [heads, L, S] or [L, S] attnMask (batchFirst does not apply)', () => {
        manualSeed(20);
        const m = new MultiheadAttention(E, H, { batchFirst: true, dtype: 'float64' });
        randomizeParams(m);
        const [q, k, v] = [randn([L, E], f64), randn([S, E], f64), randn([S, E], f64)];
        const pad = tensor([0, 0, 0, 1], f64);
        const m3 = boolMask([H, L, S]);
        const ref = refMha(mhaParams(m), H, [asMats(q) as unknown as Mat], [asMats(k) as unknown as Mat], [asMats(v) as unknown as Mat],
          (b, h, l, s) => (s === 3 || (m3.toArray() as Mat[])[h][l][s] === 1 ? -Infinity : 0));
        const [out, w] = m.forward(q, k, v, { keyPaddingMask: pad, attnMask: m3, averageAttnWeights: false });
        expectClose(out, [L, E], ref.out[0]);
        expectClose(w as Tensor, [H, L, S], ref.w[0]);
        const ref2 = refMha(mhaParams(m), H, [asMats(q) as unknown as Mat], [asMats(k) as unknown as Mat], [asMats(v) as unknown as Mat],
          (b, h, l, s) => ((mask2.toArray() as Mat)[l][s] === 1 ? -Infinity : 0));
        const [out2, w2] = m.forward(q, k, v, { attnMask: mask2 });
        expectClose(out2, [L, E], ref2.out[0]);
        expectClose(w2 as Tensor, [L, S], averageHeads(ref2.w)[0]);
      });

      it('a query whose keys are all masked gets NaN, as torch\'s softmax over −∞; other batch elements are unaffected', () => {
        manualSeed(21);
        const m = new MultiheadAttention(E, H, { dtype: 'float64' });
        const x = randn([S, B, E], f64);
        const [out, w] = m.forward(x, x, x, { keyPaddingMask: tensor([[1, 1, 1, 1], [0, 0, 1, 0]], f64) });
        const o = out.toArray() as Mat[];
        const ws = w!.toArray() as Mat[];
        for (let l = 0; l < S; l++) {
          expect(o[l][0].every(Number.isNaN)).to.equal(true);
          expect(o[l][1].every(Number.isFinite)).to.equal(true);
          expect(ws[0][l].every(Number.isNaN)).to.equal(true);
          expect(ws[1][l][2]).to.equal(0);
        }
      });
    });

    describe('dropout on the attention weights', () => {
      it('train mode: inverted dropout over [B·heads, L, S] from the seeded generator, the returned weights after dropout (torch 1.13); eval mode: none', () => {
        const p = 0.4;
        manualSeed(30);
        const m = new MultiheadAttention(E, H, { dropout: p, dtype: 'float64' });
        randomizeParams(m);
        const [q, k] = [randn([L, B, E], f64), randn([S, B, E], f64)];
        manualSeed(31);
        const [out, w] = m.forward(q, k, k, { averageAttnWeights: false });
        manualSeed(31);
        const keep = Array.from({ length: B * H * L * S }, () => (globalRng().uniform() < p ? 0 : 1 / (1 - p)));
        const drop: Mask = (b, h, l, s) => keep[((b * H + h) * L + l) * S + s];
        const prm = mhaParams(m);
        const [qs, ks] = [transpose01(asMats(q)), transpose01(asMats(k))];
        const dropped = refMha(prm, H, qs, ks, ks, undefined, drop);
        expect(keep.filter((x) => x === 0).length).to.be.within(5, 40);
        expectClose(out, [L, B, E], transpose01(dropped.out));
        expectClose(w as Tensor, [B, H, L, S], dropped.w);
        m.eval();
        const kept = refMha(prm, H, qs, ks, ks);
        const [outEval, wEval] = m.forward(q, k, k, { averageAttnWeights: false });
        expectClose(outEval, [L, B, E], transpose01(kept.out));
        expectClose(wEval as Tensor, [B, H, L, S], kept.w);
      });
    });
  });

  describe('MultiheadAttention parameters', () => {
    it("torch's state-dict keys, order and shapes: packed, separate (kdim/vdim) and without bias", () => {
      const shapes = (m: Module): [string, readonly number[]][] => Object.entries(m.stateDict()).map(([key, t]) => [key, t.shape]);
      expect(shapes(new MultiheadAttention(8, 2))).to.deep.equal([
        ['in_proj_weight', [24, 8]], ['in_proj_bias', [24]], ['out_proj.weight', [8, 8]], ['out_proj.bias', [8]],
      ]);
      expect(shapes(new MultiheadAttention(8, 2, { kdim: 3, vdim: 5 }))).to.deep.equal([
        ['q_proj_weight', [8, 8]], ['k_proj_weight', [8, 3]], ['v_proj_weight', [8, 5]], ['in_proj_bias', [24]], ['out_proj.weight', [8, 8]], ['out_proj.bias', [8]],
      ]);
      expect(shapes(new MultiheadAttention(8, 2, { kdim: 8, vdim: 5, bias: false }))).to.deep.equal([
        ['q_proj_weight', [8, 8]], ['k_proj_weight', [8, 8]], ['v_proj_weight', [8, 5]], ['out_proj.weight', [8, 8]],
      ]);
      const m = new MultiheadAttention(8, 2);
      expect(m.inProjWeight).to.equal(m.parameters()[0]);
      expect([m.qProjWeight, m.kProjWeight, m.vProjWeight]).to.deep.equal([null, null, null]);
      expect(m.headDim).to.equal(4);
    });

    it("torch's init: out_proj's Linear draws first, then xavier_uniform_ on in_proj_weight; in_proj_bias and out_proj.bias zero", () => {
      manualSeed(40);
      const m = new MultiheadAttention(8, 2);
      manualSeed(40);
      const lin = new Linear(8, 8);
      const w = Tensor.empty([24, 8]); // no draws of its own
      init.xavierUniform_(w);
      expect(Array.from(m.outProj.weight.data)).to.deep.equal(Array.from(lin.weight.data));
      expect(Array.from(m.inProjWeight!.data)).to.deep.equal(Array.from(w.data));
      expect(Array.from(m.inProjBias!.data).every((x) => x === 0)).to.equal(true);
      expect(Array.from(m.outProj.bias!.data).every((x) => x === 0)).to.equal(true);
      const bound = Math.sqrt(6 / (8 + 24));
      const a = Array.from(m.inProjWeight!.data, Math.abs);
      expect(Math.max(...a)).to.be.within(0.8 * bound, bound);
      // Separate weights: each its own xavier bound, √(6 / (embedDim + kdim)) for k_proj_weight [8, 3].
      const sep = new MultiheadAttention(8, 2, { kdim: 3, vdim: 40 });
      expect(Math.max(...Array.from(sep.kProjWeight!.data, Math.abs))).to.be.within(0.6 * Math.sqrt(6 / 11), Math.sqrt(6 / 11));
      expect(Math.max(...Array.from(sep.vProjWeight!.data, Math.abs))).to.be.within(0.8 * Math.sqrt(6 / 48), Math.sqrt(6 / 48));
    });

    it('prints as torch', () => {
      expect(new MultiheadAttention(4, 2).toString()).to.equal(
        'MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear(in_features=4, out_features=4, bias=True)\n)',
      );
    });
  });

  // ---- encoder ----

  const erf = (x: number): number => {
    // Maclaurin series below 2.5 (terms at most ~30, so ~1e-14 lost to cancellation), erfc's continued fraction above.
    const ax = Math.abs(x);
    if (ax < 2.5) {
      let term = x;
      let sum = x;
      for (let n = 1; n < 100; n++) {
        term *= (-x * x) / n;
        sum += term / (2 * n + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * sum;
    }
    let f = ax;
    for (let n = 120; n >= 1; n--) f = ax + n / 2 / f;
    const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
    return Math.sign(x) * (1 - erfc);
  };
  const act = { relu: (x: number): number => Math.max(0, x), gelu: (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2)) };

  it('the reference erf matches known values', () => {
    expect(Math.abs(erf(0.5) - 0.5204998778130465)).to.be.below(1e-15);
    expect(Math.abs(erf(-1.5) + 0.9661051464753108)).to.be.below(1e-15);
    expect(Math.abs(erf(3) - 0.9999779095030014)).to.be.below(1e-15);
  });

  /** torch's TransformerEncoderLayer.forward on batch-major [B][L][E], parameters read from `m` under `prefix`. */
  function refLayer(m: Module, prefix: string, nhead: number, x: Mat[], normFirst: boolean, activation: 'relu' | 'gelu', eps: number, mask?: Mask): Mat[] {
    const sd = m.stateDict();
    const g = (k: string): Mat => sd[prefix + k].toArray() as Mat;
    const gv = (k: string): Vec => sd[prefix + k].toArray() as Vec;
    const ln = (which: string) => (t: Vec): Vec => {
      const mean = t.reduce((a, c) => a + c, 0) / t.length;
      const vr = t.reduce((a, c) => a + (c - mean) ** 2, 0) / t.length;
      return t.map((c, i) => ((c - mean) / Math.sqrt(vr + eps)) * gv(`${which}.weight`)[i] + gv(`${which}.bias`)[i]);
    };
    const map = (y: Mat[], f: (t: Vec) => Vec): Mat[] => y.map((seq) => seq.map(f));
    const add = (a: Mat[], b: Mat[]): Mat[] => a.map((seq, i) => seq.map((t, j) => t.map((c, k) => c + b[i][j][k])));
    const sa = (y: Mat[]): Mat[] => refMha(mhaParams(m, `${prefix}self_attn.`), nhead, y, y, y, mask).out;
    const ff = (y: Mat[]): Mat[] => map(y, (t) => affine(g('linear2.weight'), gv('linear2.bias'), affine(g('linear1.weight'), gv('linear1.bias'), t).map(act[activation])));
    if (normFirst) {
      const x1 = add(x, sa(map(x, ln('norm1'))));
      return add(x1, ff(map(x1, ln('norm2'))));
    }
    const x1 = map(add(x, sa(x)), ln('norm1'));
    return map(add(x1, ff(x1)), ln('norm2'));
  }

  describe('TransformerEncoderLayer', () => {
    const variants: { normFirst: boolean; activation: 'relu' | 'gelu'; batchFirst: boolean }[] = [
      { normFirst: false, activation: 'relu', batchFirst: false },
      { normFirst: true, activation: 'relu', batchFirst: true },
      { normFirst: false, activation: 'gelu', batchFirst: true },
      { normFirst: true, activation: 'gelu', batchFirst: false },
    ];
    for (const { normFirst, activation, batchFirst } of variants) {
      it(`normFirst ${normFirst}, ${activation}, batchFirst ${batchFirst}: matches torch's equations, with a bool srcMask and a key padding mask`, () => {
        manualSeed(50);
        const layer = new TransformerEncoderLayer(E, H, { dimFeedforward: 10, dropout: 0, activation, normFirst, batchFirst, layerNormEps: 1e-3, dtype: 'float64' });
        randomizeParams(layer);
        const x = randn(batchFirst ? [B, L, E] : [L, B, E], f64);
        const xs = batchMajor(x, batchFirst);
        expectClose(layer.forward(x), x.shape as number[], moduleLayout(refLayer(layer, '', H, xs, normFirst, activation, 1e-3), batchFirst));
        const srcMask = tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]], f64); // causal
        const pad = tensor([[0, 0, 1], [0, 0, 0]], f64);
        const mask: Mask = (b, h, l, s) => (s > l || (b === 0 && s === 2) ? -Infinity : 0);
        const got = layer.forward(x, { srcMask, srcKeyPaddingMask: pad });
        expectClose(got, x.shape as number[], moduleLayout(refLayer(layer, '', H, xs, normFirst, activation, 1e-3, mask), batchFirst));
      });
    }

    it('a float srcMask (srcMaskType "float") is added; an unbatched [L, dModel] input', () => {
      manualSeed(51);
      const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, dropout: 0, dtype: 'float64' });
      randomizeParams(layer);
      const x = randn([L, 4], f64);
      const fm = randn([L, L], f64);
      const ref = refLayer(layer, '', 2, [asMats(x) as unknown as Mat], false, 'relu', 1e-5, (b, h, l, s) => (fm.toArray() as Mat)[l][s]);
      expectClose(layer.forward(x, { srcMask: fm, srcMaskType: 'float' }), [L, 4], ref[0]);
    });

    it('dropout (0.1 by default) changes the output in train mode only', () => {
      manualSeed(52);
      const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, dtype: 'float64' });
      expect(layer.dropout.p).to.equal(0.1);
      const x = randn([L, B, 4], f64);
      const ref = refLayer(layer, '', 2, transpose01(asMats(x)), false, 'relu', 1e-5);
      const train = layer.forward(x);
      expect(() => expectClose(train, [L, B, 4], transpose01(ref))).to.throw();
      layer.eval();
      expectClose(layer.forward(x), [L, B, 4], transpose01(ref));
    });

    it("torch's state-dict keys and shapes, construction order (self_attn, linear1, linear2 draw in turn) and print", () => {
      manualSeed(53);
      const layer = new TransformerEncoderLayer(8, 2, { dimFeedforward: 16 });
      expect(Object.entries(layer.stateDict()).map(([k, t]) => [k, t.shape])).to.deep.equal([
        ['self_attn.in_proj_weight', [24, 8]], ['self_attn.in_proj_bias', [24]], ['self_attn.out_proj.weight', [8, 8]], ['self_attn.out_proj.bias', [8]],
        ['linear1.weight', [16, 8]], ['linear1.bias', [16]], ['linear2.weight', [8, 16]], ['linear2.bias', [8]],
        ['norm1.weight', [8]], ['norm1.bias', [8]], ['norm2.weight', [8]], ['norm2.bias', [8]],
      ]);
      manualSeed(53);
      const mha = new MultiheadAttention(8, 2);
      const l1 = new Linear(8, 16);
      const l2 = new Linear(16, 8);
      const sd = layer.stateDict();
      expect(Array.from(sd['self_attn.in_proj_weight'].data)).to.deep.equal(Array.from(mha.inProjWeight!.data));
      expect(Array.from(sd['linear1.weight'].data)).to.deep.equal(Array.from(l1.weight.data));
      expect(Array.from(sd['linear2.bias'].data)).to.deep.equal(Array.from(l2.bias!.data));
      expect(layer.toString()).to.equal([
        'TransformerEncoderLayer(',
        '  (self_attn): MultiheadAttention(',
        '    (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)',
        '  )',
        '  (linear1): Linear(in_features=8, out_features=16, bias=True)',
        '  (dropout): Dropout(p=0.1, inplace=False)',
        '  (linear2): Linear(in_features=16, out_features=8, bias=True)',
        '  (norm1): LayerNorm((8,), eps=1e-05, elementwise_affine=True)',
        '  (norm2): LayerNorm((8,), eps=1e-05, elementwise_affine=True)',
        '  (dropout1): Dropout(p=0.1, inplace=False)',
        '  (dropout2): Dropout(p=0.1, inplace=False)',
        ')',
      ].join('\n'));
    });
  });

  describe('TransformerEncoder', () => {
    it('numLayers deep copies of the layer (same initial values, separate tensors, the layer given not registered), run in turn, then norm', () => {
      manualSeed(60);
      const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, dropout: 0, batchFirst: true, dtype: 'float64' });
      const enc = new TransformerEncoder(layer, 2, { norm: new LayerNorm(4, { dtype: 'float64' }) });
      const sd = enc.stateDict();
      const own = Object.keys(layer.stateDict());
      expect(Object.keys(sd)).to.deep.equal([...own.map((k) => `layers.0.${k}`), ...own.map((k) => `layers.1.${k}`), 'norm.weight', 'norm.bias']);
      for (const k of own) {
        expect(Array.from(sd[`layers.1.${k}`].data), k).to.deep.equal(Array.from(sd[`layers.0.${k}`].data));
        expect(Array.from(sd[`layers.0.${k}`].data), k).to.deep.equal(Array.from(layer.stateDict()[k].data));
        expect(sd[`layers.0.${k}`].storage).to.not.equal(sd[`layers.1.${k}`].storage);
        expect(sd[`layers.0.${k}`].storage).to.not.equal(layer.stateDict()[k].storage);
      }
      expect(enc.parameters()).to.not.include(layer.linear1.weight);
      expect(enc.parameters().length).to.equal(2 * layer.parameters().length + 2);
      randomizeParams(enc); // now every layer differs
      const x = randn([B, L, 4], f64);
      const pad = tensor([[0, 1, 0], [0, 0, 0]], f64);
      const mask: Mask = (b, h, l, s) => (b === 0 && s === 1 ? -Infinity : 0);
      let ref = refLayer(enc, 'layers.0.', 2, asMats(x), false, 'relu', 1e-5, mask);
      ref = refLayer(enc, 'layers.1.', 2, ref, false, 'relu', 1e-5, mask);
      const nw = enc.stateDict()['norm.weight'].toArray() as Vec;
      const nb = enc.stateDict()['norm.bias'].toArray() as Vec;
      ref = ref.map((seq) => seq.map((t) => {
        const mean = t.reduce((a, c) => a + c, 0) / t.length;
        const vr = t.reduce((a, c) => a + (c - mean) ** 2, 0) / t.length;
        return t.map((c, i) => ((c - mean) / Math.sqrt(vr + 1e-5)) * nw[i] + nb[i]);
      }));
      expectClose(enc.forward(x, { srcKeyPaddingMask: pad }), [B, L, 4], ref);
      // Without norm, and with a [L, L] float mask passed to every layer.
      const plain = new TransformerEncoder(layer, 1);
      expect(plain.norm).to.equal(null);
      const fm = randn([L, L], f64);
      const ref1 = refLayer(plain, 'layers.0.', 2, asMats(x), false, 'relu', 1e-5, (b, h, l, s) => (fm.toArray() as Mat)[l][s]);
      expectClose(plain.forward(x, { mask: fm, maskType: 'float' }), [B, L, 4], ref1);
    });
  });

  describe('gradcheck in float64', () => {
    const TOL = { atol: 1e-7, rtol: 1e-6 };
    const x = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });
    it('MultiheadAttention self-attention with a float mask (differentiable) and a key padding mask: inputs, mask, parameters', () => {
      manualSeed(70);
      const m = new MultiheadAttention(4, 2, { dtype: 'float64' });
      randomizeParams(m);
      const pad = tensor([[0, 0, 1], [0, 0, 0]], f64);
      assertGradcheck((input, mask) => {
        const [out, w] = m.forward(input, input, input, { attnMask: mask, attnMaskType: 'float', keyPaddingMask: pad });
        return [out, w as Tensor];
      }, [x([3, 2, 4]), x([3, 3]), ...m.parameters()], TOL);
    });
    it('MultiheadAttention cross-attention with kdim/vdim, batchFirst and a bool mask; per-head weights', () => {
      manualSeed(71);
      const m = new MultiheadAttention(4, 2, { kdim: 3, vdim: 2, batchFirst: true, dtype: 'float64' });
      randomizeParams(m);
      const mask = tensor([[0, 1], [0, 0], [1, 0]], f64);
      assertGradcheck((q, k, v) => {
        const [out, w] = m.forward(q, k, v, { attnMask: mask, averageAttnWeights: false });
        return [out, w as Tensor];
      }, [x([2, 3, 4]), x([2, 2, 3]), x([2, 2, 2]), ...m.parameters()], TOL);
    });
    it('MultiheadAttention unbatched', () => {
      manualSeed(72);
      const m = new MultiheadAttention(4, 2, { dtype: 'float64' });
      randomizeParams(m);
      assertGradcheck((q, k) => m.forward(q, k, k)[0], [x([3, 4]), x([2, 4]), ...m.parameters()], TOL);
    });
    for (const normFirst of [false, true]) {
      it(`TransformerEncoderLayer (gelu, normFirst ${normFirst}) and a two-layer TransformerEncoder with norm (relu)`, () => {
        manualSeed(73);
        const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, dropout: 0, activation: 'gelu', normFirst, dtype: 'float64' });
        randomizeParams(layer);
        assertGradcheck((src) => layer.forward(src, { srcKeyPaddingMask: tensor([[0, 1, 0], [0, 0, 0]], f64) }), [x([3, 2, 4]), ...layer.parameters()], TOL);
        const enc = new TransformerEncoder(new TransformerEncoderLayer(4, 2, { dimFeedforward: 6, dropout: 0, normFirst, dtype: 'float64' }), 2, { norm: new LayerNorm(4, { dtype: 'float64' }) });
        randomizeParams(enc);
        assertGradcheck((src) => enc.forward(src, { mask: tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]], f64) }), [x([3, 2, 4]), ...enc.parameters()], TOL);
      });
    }
  });

  describe('errors name the module', () => {
    it('on bad constructor arguments', () => {
      expect(() => new MultiheadAttention(6, 4)).to.throw('MultiheadAttention: embedDim must be divisible by numHeads, got embedDim 6 and numHeads 4');
      expect(() => new MultiheadAttention(0, 1)).to.throw('MultiheadAttention: embedDim must be a positive integer, got 0');
      expect(() => new MultiheadAttention(4, 1.5)).to.throw('MultiheadAttention: numHeads must be a positive integer, got 1.5');
      expect(() => new MultiheadAttention(4, 2, { kdim: -1 })).to.throw('MultiheadAttention: kdim must be a positive integer, got -1');
      expect(() => new MultiheadAttention(4, 2, { dropout: 1.5 })).to.throw('MultiheadAttention: dropout must be a probability in [0, 1], got 1.5');
      expect(() => new MultiheadAttention(4, 2, { addBiasKv: true })).to.throw('MultiheadAttention: addBiasKv is not supported');
      expect(() => new MultiheadAttention(4, 2, { batch_first: true } as object)).to.throw("MultiheadAttention: unknown option 'batch_first'");
      expect(() => new TransformerEncoderLayer(6, 4)).to.throw('TransformerEncoderLayer: dModel must be divisible by nhead, got dModel 6 and nhead 4');
      expect(() => new TransformerEncoderLayer(4, 2, { activation: 'tanh' as 'relu' })).to.throw("TransformerEncoderLayer: activation should be 'relu' or 'gelu', not \"tanh\"");
      expect(() => new TransformerEncoderLayer(4, 2, { dimFeedforward: 0 })).to.throw('TransformerEncoderLayer: dimFeedforward must be a positive integer, got 0');
      expect(() => new TransformerEncoder({} as Module, 2)).to.throw('TransformerEncoder: encoderLayer must be a Module');
      expect(() => new TransformerEncoder(new TransformerEncoderLayer(4, 2), -1)).to.throw('TransformerEncoder: numLayers must be a non-negative integer, got -1');
    });

    it('on wrong input ranks, sizes and dtypes', () => {
      const m = new MultiheadAttention(4, 2);
      const q = randn([3, 2, 4]);
      expect(() => m.forward(randn([1, 3, 2, 4]), q, q)).to.throw('MultiheadAttention: query should be an unbatched 2-D or batched 3-D tensor but got a 4-D tensor of shape [1,3,2,4]');
      expect(() => m.forward(q, randn([3, 4]), randn([3, 4]))).to.throw('MultiheadAttention: for a batched (3-D) query, expected key and value to be 3-D but got query [3,2,4], key [3,4], value [3,4]');
      expect(() => m.forward(randn([3, 4]), q, q)).to.throw('MultiheadAttention: for an unbatched (2-D) query, expected key and value to be 2-D');
      expect(() => m.forward(randn([3, 2, 5]), q, q)).to.throw("MultiheadAttention: expected query's embedding dimension 4 (embedDim), but got 5");
      expect(() => m.forward(q, randn([3, 2, 3]), q)).to.throw("MultiheadAttention: expected key's feature dimension 4 (kdim), but got 3");
      expect(() => m.forward(q, q, randn([5, 2, 4]))).to.throw("MultiheadAttention: key's sequence and batch dims do not match value's");
      expect(() => m.forward(q, randn([3, 1, 4]), randn([3, 1, 4]))).to.throw('MultiheadAttention: key and value have batch size 1 but query has 2');
      expect(() => m.forward(randn([3, 2, 4], f64), q, q)).to.throw('MultiheadAttention: query is float64 but the parameters are float32; convert one with .to()');
      expect(() => m.forward(q, q, q, { need_weights: false } as object)).to.throw("MultiheadAttention: unknown option 'need_weights'");
    });

    it('on masks of the wrong shape, rank, values or dtype', () => {
      const m = new MultiheadAttention(4, 2);
      const q = randn([3, 2, 4]);
      const k = randn([5, 2, 4]);
      expect(() => m.forward(q, k, k, { attnMask: randn([5, 3]) })).to.throw('MultiheadAttention: the shape of the 2-D attnMask is [5,3], but should be [3,5] ([L, S])');
      expect(() => m.forward(q, k, k, { attnMask: randn([2, 3, 5]) })).to.throw('MultiheadAttention: the shape of the 3-D attnMask is [2,3,5], but should be [4,3,5] ([batch·numHeads, L, S])');
      expect(() => m.forward(randn([3, 4]), randn([5, 4]), randn([5, 4]), { attnMask: randn([1, 3, 5]) })).to.throw('should be [2,3,5] ([numHeads, L, S])');
      expect(() => m.forward(q, k, k, { attnMask: randn([5]) })).to.throw('MultiheadAttention: expected attnMask to be null, 2-D or 3-D but got shape [5]');
      expect(() => m.forward(q, k, k, { keyPaddingMask: randn([2, 3]) })).to.throw('MultiheadAttention: expected keyPaddingMask of shape [2,5] (batch, source length), but got [2,3]');
      expect(() => m.forward(q, k, k, { keyPaddingMask: randn([5]) })).to.throw('MultiheadAttention: for a batched (3-D) query, expected keyPaddingMask to be null or 2-D');
      expect(() => m.forward(q, k, k, { keyPaddingMask: tensor([[0, 0, 0, 0, 2], [0, 0, 0, 0, 0]]) })).to.throw(
        'MultiheadAttention: keyPaddingMask is a bool mask and must hold only 0 and 1 (1 = masked out), but element 4 (row-major) of its shape [2,5] is 2',
      );
      const causal = tensor([[0, -Infinity, -Infinity, -Infinity, -Infinity], [0, 0, -Infinity, -Infinity, -Infinity], [0, 0, 0, -Infinity, -Infinity]]);
      expect(() => m.forward(q, k, k, { attnMask: causal })).to.throw("is -Infinity; for a float mask that is added, pass attnMaskType: 'float'");
      expect(() => m.forward(q, k, k, { attnMask: F.toDtype(causal, 'float64'), attnMaskType: 'float' })).to.throw('MultiheadAttention: attnMask is float64 but the query is float32');
      expect(() => m.forward(q, k, k, { attnMask: causal, attnMaskType: 'additive' as 'float' })).to.throw("MultiheadAttention: attnMaskType must be 'bool' or 'float', got \"additive\"");
      expect(() => m.forward(q, k, k, { attnMask: [[0]] as unknown as Tensor })).to.throw('MultiheadAttention: attnMask must be a Tensor or null');
      const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 8 });
      expect(() => layer.forward(q, { srcMask: tensor([[0, 1], [0, 0]]) })).to.throw('MultiheadAttention: the shape of the 2-D attnMask is [2,2], but should be [3,3]');
      expect(() => layer.forward(q, { src_mask: null } as object)).to.throw("TransformerEncoderLayer: unknown option 'src_mask'");
      expect(() => new TransformerEncoder(layer, 1).forward(q, { srcMask: null } as object)).to.throw("TransformerEncoder: unknown option 'srcMask'");
    });

    it('on mask values given to TransformerEncoderLayer or TransformerEncoder, naming their own options', () => {
      // torch's generate_square_subsequent_mask(3): a float mask of 0 and −∞, the usual causal mask.
      const causal = tensor([[0, -Infinity, -Infinity], [0, 0, -Infinity], [0, 0, 0]]);
      const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 8 });
      const enc = new TransformerEncoder(layer, 2);
      const q = randn([3, 2, 4]);
      expect(() => layer.forward(q, { srcMask: causal })).to.throw(
        "TransformerEncoderLayer: srcMask is a bool mask and must hold only 0 and 1 (1 = masked out), but element 1 (row-major) of its shape [3,3] is -Infinity; for a float mask that is added, pass srcMaskType: 'float'",
      );
      expect(() => enc.forward(q, { mask: causal })).to.throw(
        "TransformerEncoder: mask is a bool mask and must hold only 0 and 1 (1 = masked out), but element 1 (row-major) of its shape [3,3] is -Infinity; for a float mask that is added, pass maskType: 'float'",
      );
      const pad = tensor([[0, 0, 2], [0, 0, 0]]);
      expect(() => layer.forward(q, { srcKeyPaddingMask: pad })).to.throw('TransformerEncoderLayer: srcKeyPaddingMask is a bool mask and must hold only 0 and 1 (1 = masked out), but element 2');
      expect(() => enc.forward(q, { srcKeyPaddingMask: pad })).to.throw('TransformerEncoder: srcKeyPaddingMask is a bool mask and must hold only 0 and 1 (1 = masked out), but element 2');
      expect(() => layer.forward(q, { srcMask: causal, srcMaskType: 'additive' as 'float' })).to.throw("TransformerEncoderLayer: srcMaskType must be 'bool' or 'float', got \"additive\"");
      expect(() => enc.forward(q, { mask: causal, maskType: 'additive' as 'float' })).to.throw("TransformerEncoder: maskType must be 'bool' or 'float', got \"additive\"");
      expect(() => enc.forward(q, { mask: [[0]] as unknown as Tensor })).to.throw('TransformerEncoder: mask must be a Tensor or null');
      // Accepted as float masks, and equal to the bool mask that masks the same keys.
      const bool = tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]]);
      layer.eval();
      enc.eval();
      expect(Array.from(layer.forward(q, { srcMask: causal, srcMaskType: 'float' }).data)).to.deep.equal(Array.from(layer.forward(q, { srcMask: bool }).data));
      expect(Array.from(enc.forward(q, { mask: causal, maskType: 'float' }).data)).to.deep.equal(Array.from(enc.forward(q, { mask: bool }).data));
    });
  });

  // ---- decoder ----

  /**
   * torch 1.13's TransformerDecoderLayer.forward on batch-major tgt [B][T][E] and memory [B][S][E],
   * parameters read from `m` under `prefix`: self-attention (selfMask), attention to memory (crossMask)
   * and the feed-forward block, with norm1/norm2/norm3 after (post-norm) or before (normFirst) each.
   */
  function refDecoderLayer(
    m: Module, prefix: string, nhead: number, x: Mat[], mem: Mat[], normFirst: boolean, activation: 'relu' | 'gelu', eps: number,
    selfMask?: Mask, crossMask?: Mask,
  ): Mat[] {
    const sd = m.stateDict();
    const g = (k: string): Mat => sd[prefix + k].toArray() as Mat;
    const gv = (k: string): Vec => sd[prefix + k].toArray() as Vec;
    const ln = (which: string) => (t: Vec): Vec => {
      const mean = t.reduce((a, c) => a + c, 0) / t.length;
      const vr = t.reduce((a, c) => a + (c - mean) ** 2, 0) / t.length;
      return t.map((c, i) => ((c - mean) / Math.sqrt(vr + eps)) * gv(`${which}.weight`)[i] + gv(`${which}.bias`)[i]);
    };
    const map = (y: Mat[], f: (t: Vec) => Vec): Mat[] => y.map((seq) => seq.map(f));
    const add = (a: Mat[], b: Mat[]): Mat[] => a.map((seq, i) => seq.map((t, j) => t.map((c, k) => c + b[i][j][k])));
    const sa = (y: Mat[]): Mat[] => refMha(mhaParams(m, `${prefix}self_attn.`), nhead, y, y, y, selfMask).out;
    const ca = (y: Mat[]): Mat[] => refMha(mhaParams(m, `${prefix}multihead_attn.`), nhead, y, mem, mem, crossMask).out;
    const ff = (y: Mat[]): Mat[] => map(y, (t) => affine(g('linear2.weight'), gv('linear2.bias'), affine(g('linear1.weight'), gv('linear1.bias'), t).map(act[activation])));
    if (normFirst) {
      const x1 = add(x, sa(map(x, ln('norm1'))));
      const x2 = add(x1, ca(map(x1, ln('norm2'))));
      return add(x2, ff(map(x2, ln('norm3'))));
    }
    const x1 = map(add(x, sa(x)), ln('norm1'));
    const x2 = map(add(x1, ca(x1)), ln('norm2'));
    return map(add(x2, ff(x2)), ln('norm3'));
  }

  describe('generateSquareSubsequentMask', () => {
    it('is torch\'s float mask: -Infinity above the diagonal, 0 on and below it', () => {
      for (const sz of [0, 1, 4]) {
        const m = generateSquareSubsequentMask(sz);
        expect(m.shape).to.deep.equal([sz, sz]);
        expect(m.dtype).to.equal('float32');
        const d = Array.from(m.data);
        for (let i = 0; i < sz; i++) for (let j = 0; j < sz; j++) expect(d[i * sz + j], `${i},${j}`).to.equal(j > i ? -Infinity : 0);
      }
      expect(generateSquareSubsequentMask(2, f64).dtype).to.equal('float64');
      expect(() => generateSquareSubsequentMask(-1)).to.throw('generateSquareSubsequentMask: sz must be a non-negative integer, got -1');
      expect(() => generateSquareSubsequentMask(2.5)).to.throw('generateSquareSubsequentMask: sz must be a non-negative integer, got 2.5');
    });
  });

  describe('TransformerDecoderLayer', () => {
    const variants: { normFirst: boolean; activation: 'relu' | 'gelu'; batchFirst: boolean }[] = [
      { normFirst: false, activation: 'relu', batchFirst: false },
      { normFirst: true, activation: 'relu', batchFirst: true },
      { normFirst: false, activation: 'gelu', batchFirst: true },
      { normFirst: true, activation: 'gelu', batchFirst: false },
    ];
    for (const { normFirst, activation, batchFirst } of variants) {
      it(`normFirst ${normFirst}, ${activation}, batchFirst ${batchFirst}: matches torch's equations, with a causal tgtMask and both key padding masks`, () => {
        manualSeed(80);
        const layer = new TransformerDecoderLayer(E, H, { dimFeedforward: 10, dropout: 0, activation, normFirst, batchFirst, layerNormEps: 1e-3, dtype: 'float64' });
        randomizeParams(layer);
        const tgt = randn(batchFirst ? [B, L, E] : [L, B, E], f64);
        const memory = randn(batchFirst ? [B, S, E] : [S, B, E], f64);
        const ts = batchMajor(tgt, batchFirst);
        const ms = batchMajor(memory, batchFirst);
        expectClose(layer.forward(tgt, memory), tgt.shape as number[], moduleLayout(refDecoderLayer(layer, '', H, ts, ms, normFirst, activation, 1e-3), batchFirst));
        const tgtPad = tensor([[0, 0, 1], [0, 0, 0]], f64);
        const memPad = tensor([[0, 0, 0, 0], [1, 0, 1, 0]], f64);
        const selfMask: Mask = (b, h, l, s) => (s > l || (b === 0 && s === 2) ? -Infinity : 0);
        const crossMask: Mask = (b, h, l, s) => (b === 1 && (s === 0 || s === 2) ? -Infinity : 0);
        const ref = moduleLayout(refDecoderLayer(layer, '', H, ts, ms, normFirst, activation, 1e-3, selfMask, crossMask), batchFirst);
        const boolCausal = tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]], f64);
        expectClose(layer.forward(tgt, memory, { tgtMask: boolCausal, tgtKeyPaddingMask: tgtPad, memoryKeyPaddingMask: memPad }), tgt.shape as number[], ref);
        const floatCausal = generateSquareSubsequentMask(L, f64);
        expectClose(layer.forward(tgt, memory, { tgtMask: floatCausal, tgtMaskType: 'float', tgtKeyPaddingMask: tgtPad, memoryKeyPaddingMask: memPad }), tgt.shape as number[], ref);
      });
    }

    it('a bool memoryMask [T, S] and a float one; an unbatched [T, dModel] tgt with [S, dModel] memory', () => {
      manualSeed(81);
      const layer = new TransformerDecoderLayer(4, 2, { dimFeedforward: 6, dropout: 0, dtype: 'float64' });
      randomizeParams(layer);
      const tgt = randn([L, 4], f64);
      const memory = randn([S, 4], f64);
      const bm = [[0, 1, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0]];
      const ref = refDecoderLayer(layer, '', 2, [asMats(tgt) as unknown as Mat], [asMats(memory) as unknown as Mat], false, 'relu', 1e-5,
        undefined, (b, h, l, s) => (bm[l][s] === 1 ? -Infinity : 0));
      expectClose(layer.forward(tgt, memory, { memoryMask: tensor(bm, f64) }), [L, 4], ref[0]);
      const fm = randn([L, S], f64);
      const fref = refDecoderLayer(layer, '', 2, [asMats(tgt) as unknown as Mat], [asMats(memory) as unknown as Mat], false, 'relu', 1e-5,
        undefined, (b, h, l, s) => (fm.toArray() as Mat)[l][s]);
      expectClose(layer.forward(tgt, memory, { memoryMask: fm, memoryMaskType: 'float' }), [L, 4], fref[0]);
    });

    it('dropout (0.1 by default) changes the output in train mode only', () => {
      manualSeed(82);
      const layer = new TransformerDecoderLayer(4, 2, { dimFeedforward: 6, dtype: 'float64' });
      expect(layer.dropout.p).to.equal(0.1);
      expect(layer.dropout3.p).to.equal(0.1);
      const tgt = randn([L, B, 4], f64);
      const memory = randn([S, B, 4], f64);
      const ref = refDecoderLayer(layer, '', 2, transpose01(asMats(tgt)), transpose01(asMats(memory)), false, 'relu', 1e-5);
      expect(() => expectClose(layer.forward(tgt, memory), [L, B, 4], transpose01(ref))).to.throw();
      layer.eval();
      expectClose(layer.forward(tgt, memory), [L, B, 4], transpose01(ref));
    });

    it("torch 1.13's state-dict keys and shapes in its order, construction order and print", () => {
      manualSeed(83);
      const layer = new TransformerDecoderLayer(8, 2, { dimFeedforward: 16 });
      const attn = (p: string): [string, number[]][] => [
        [`${p}.in_proj_weight`, [24, 8]], [`${p}.in_proj_bias`, [24]], [`${p}.out_proj.weight`, [8, 8]], [`${p}.out_proj.bias`, [8]],
      ];
      expect(Object.entries(layer.stateDict()).map(([k, t]) => [k, t.shape])).to.deep.equal([
        ...attn('self_attn'), ...attn('multihead_attn'),
        ['linear1.weight', [16, 8]], ['linear1.bias', [16]], ['linear2.weight', [8, 16]], ['linear2.bias', [8]],
        ['norm1.weight', [8]], ['norm1.bias', [8]], ['norm2.weight', [8]], ['norm2.bias', [8]], ['norm3.weight', [8]], ['norm3.bias', [8]],
      ]);
      manualSeed(83);
      const sa = new MultiheadAttention(8, 2);
      const ca = new MultiheadAttention(8, 2);
      const l1 = new Linear(8, 16);
      const sd = layer.stateDict();
      expect(Array.from(sd['self_attn.in_proj_weight'].data)).to.deep.equal(Array.from(sa.inProjWeight!.data));
      expect(Array.from(sd['multihead_attn.in_proj_weight'].data)).to.deep.equal(Array.from(ca.inProjWeight!.data));
      expect(Array.from(sd['linear1.weight'].data)).to.deep.equal(Array.from(l1.weight.data));
      const lines = layer.toString().split('\n');
      expect(lines.filter((s) => /^ {2}\(/.test(s)).map((s) => s.trim().split(':')[0])).to.deep.equal([
        '(self_attn)', '(multihead_attn)', '(linear1)', '(dropout)', '(linear2)', '(norm1)', '(norm2)', '(norm3)', '(dropout1)', '(dropout2)', '(dropout3)',
      ]);
      expect(lines[0]).to.equal('TransformerDecoderLayer(');
    });
  });

  describe('TransformerDecoder', () => {
    it('two deep copies of the layer (same initial values, separate tensors), run in turn on the same memory, then norm', () => {
      manualSeed(90);
      const layer = new TransformerDecoderLayer(4, 2, { dimFeedforward: 6, dropout: 0, batchFirst: true, dtype: 'float64' });
      const dec = new TransformerDecoder(layer, 2, { norm: new LayerNorm(4, f64) });
      const sd = dec.stateDict();
      const own = Object.keys(layer.stateDict());
      expect(Object.keys(sd)).to.deep.equal([...own.map((k) => `layers.0.${k}`), ...own.map((k) => `layers.1.${k}`), 'norm.weight', 'norm.bias']);
      for (const k of own) {
        expect(Array.from(sd[`layers.1.${k}`].data), k).to.deep.equal(Array.from(sd[`layers.0.${k}`].data));
        expect(Array.from(sd[`layers.0.${k}`].data), k).to.deep.equal(Array.from(layer.stateDict()[k].data));
        expect(sd[`layers.0.${k}`].storage).to.not.equal(sd[`layers.1.${k}`].storage);
        expect(sd[`layers.0.${k}`].storage).to.not.equal(layer.stateDict()[k].storage);
      }
      expect(dec.parameters()).to.not.include(layer.linear1.weight);
      expect(dec.parameters().length).to.equal(2 * layer.parameters().length + 2);
      randomizeParams(dec);
      const tgt = randn([B, L, 4], f64);
      const memory = randn([B, S, 4], f64);
      const ts = asMats(tgt);
      const ms = asMats(memory);
      const memPad = tensor([[0, 1, 0, 0], [0, 0, 0, 0]], f64);
      const selfMask: Mask = (b, h, l, s) => (s > l ? -Infinity : 0);
      const crossMask: Mask = (b, h, l, s) => (b === 0 && s === 1 ? -Infinity : 0);
      let ref = refDecoderLayer(dec, 'layers.0.', 2, ts, ms, false, 'relu', 1e-5, selfMask, crossMask);
      ref = refDecoderLayer(dec, 'layers.1.', 2, ref, ms, false, 'relu', 1e-5, selfMask, crossMask);
      const nw = dec.stateDict()['norm.weight'].toArray() as Vec;
      const nb = dec.stateDict()['norm.bias'].toArray() as Vec;
      ref = ref.map((seq) => seq.map((t) => {
        const mean = t.reduce((a, c) => a + c, 0) / t.length;
        const vr = t.reduce((a, c) => a + (c - mean) ** 2, 0) / t.length;
        return t.map((c, i) => ((c - mean) / Math.sqrt(vr + 1e-5)) * nw[i] + nb[i]);
      }));
      const tgtMask = generateSquareSubsequentMask(L, f64);
      expectClose(dec.forward(tgt, memory, { tgtMask, tgtMaskType: 'float', memoryKeyPaddingMask: memPad }), [B, L, 4], ref);
      // Without norm: one layer, the output is that layer's.
      const plain = new TransformerDecoder(layer, 1);
      expect(plain.norm).to.equal(null);
      const ref1 = refDecoderLayer(plain, 'layers.0.', 2, ts, ms, false, 'relu', 1e-5);
      expectClose(plain.forward(tgt, memory), [B, L, 4], ref1);
    });
  });

  describe('decoder gradcheck in float64', () => {
    const TOL = { atol: 1e-7, rtol: 1e-6 };
    const x = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });
    for (const normFirst of [false, true]) {
      it(`TransformerDecoderLayer (dModel 4, nhead 2, dimFeedforward 8, normFirst ${normFirst}) w.r.t. tgt, memory and parameters, with masks`, () => {
        manualSeed(95);
        const layer = new TransformerDecoderLayer(4, 2, { dimFeedforward: 8, dropout: 0, normFirst, dtype: 'float64' });
        randomizeParams(layer);
        const tgtMask = tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]], f64);
        const memPad = tensor([[0, 1], [0, 0]], f64);
        assertGradcheck((tgt, memory) => layer.forward(tgt, memory, { tgtMask, memoryKeyPaddingMask: memPad }), [x([3, 2, 4]), x([2, 2, 4]), ...layer.parameters()], TOL);
      });
    }
    it('a two-layer TransformerDecoder with norm (gelu, batchFirst) w.r.t. tgt and memory', () => {
      manualSeed(96);
      const dec = new TransformerDecoder(new TransformerDecoderLayer(4, 2, { dimFeedforward: 8, dropout: 0, activation: 'gelu', batchFirst: true, dtype: 'float64' }), 2, { norm: new LayerNorm(4, f64) });
      randomizeParams(dec);
      const tgtMask = generateSquareSubsequentMask(3, f64);
      assertGradcheck((tgt, memory) => dec.forward(tgt, memory, { tgtMask, tgtMaskType: 'float' }), [x([2, 3, 4]), x([2, 2, 4])], TOL);
    });
  });

  describe('decoder errors name the module', () => {
    it('on bad constructor arguments', () => {
      expect(() => new TransformerDecoderLayer(6, 4)).to.throw('TransformerDecoderLayer: dModel must be divisible by nhead, got dModel 6 and nhead 4');
      expect(() => new TransformerDecoderLayer(4, 2, { activation: 'tanh' as 'relu' })).to.throw("TransformerDecoderLayer: activation should be 'relu' or 'gelu', not \"tanh\"");
      expect(() => new TransformerDecoderLayer(4, 2, { dim_feedforward: 8 } as object)).to.throw("TransformerDecoderLayer: unknown option 'dim_feedforward'");
      expect(() => new TransformerDecoder({} as Module, 2)).to.throw('TransformerDecoder: decoderLayer must be a Module');
      expect(() => new TransformerDecoder(new TransformerDecoderLayer(4, 2), 1.5)).to.throw('TransformerDecoder: numLayers must be a non-negative integer, got 1.5');
    });

    it('on a wrong memory feature size, rank or batch, and on masks of the wrong kind', () => {
      const layer = new TransformerDecoderLayer(4, 2, { dimFeedforward: 8 });
      const tgt = randn([3, 2, 4]);
      expect(() => layer.forward(tgt, randn([5, 2, 6]))).to.throw("TransformerDecoderLayer: memory's feature dimension must be dModel 4, got 6 (tgt [3,2,4], memory [5,2,6])");
      expect(() => layer.forward(randn([3, 2, 5]), randn([5, 2, 4]))).to.throw("TransformerDecoderLayer: tgt's feature dimension must be dModel 4, got 5");
      expect(() => layer.forward(tgt, randn([5, 4]))).to.throw('TransformerDecoderLayer: memory must have as many dimensions as tgt (3), got tgt [3,2,4], memory [5,4]');
      expect(() => layer.forward(tgt, randn([5, 3, 4]))).to.throw('TransformerDecoderLayer: tgt and memory must have the same batch size (dimension 1), got tgt [3,2,4], memory [5,3,4]');
      const memory = randn([5, 2, 4]);
      expect(() => layer.forward(tgt, memory, { tgtMask: generateSquareSubsequentMask(3) })).to.throw("TransformerDecoderLayer: tgtMask is a bool mask and must hold only 0 and 1 (1 = masked out), but element 1 (row-major) of its shape [3,3] is -Infinity; for a float mask that is added, pass tgtMaskType: 'float'");
      expect(() => layer.forward(tgt, memory, { memoryKeyPaddingMask: tensor([[0, 2, 0, 0, 0], [0, 0, 0, 0, 0]]) })).to.throw('TransformerDecoderLayer: memoryKeyPaddingMask is a bool mask and must hold only 0 and 1');
      expect(() => layer.forward(tgt, memory, { memoryMask: randn([3, 4]), memoryMaskType: 'float' })).to.throw('MultiheadAttention: the shape of the 2-D attnMask is [3,4], but should be [3,5]');
      expect(() => layer.forward(tgt, memory, { tgtMaskType: 'additive' as 'float' })).to.throw("TransformerDecoderLayer: tgtMaskType must be 'bool' or 'float', got \"additive\"");
      expect(() => layer.forward(tgt, memory, { tgt_mask: null } as object)).to.throw("TransformerDecoderLayer: unknown option 'tgt_mask'");
      const dec = new TransformerDecoder(layer, 2);
      expect(() => dec.forward(tgt, memory, { memoryMask: tensor([[0.5, 0, 0, 0, 0]]) })).to.throw("TransformerDecoder: memoryMask is a bool mask and must hold only 0 and 1 (1 = masked out), but element 0 (row-major) of its shape [1,5] is 0.5; for a float mask that is added, pass memoryMaskType: 'float'");
    });
  });
});
