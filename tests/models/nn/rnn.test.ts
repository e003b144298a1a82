/**
 * The recurrent cells and layers against a float64 reference written here from torch's documented
 * equations (torch.nn.RNNCell/LSTMCell/GRUCell/RNN/LSTM/GRU, 1.13), gate by gate, one batch element
 * and one time step at a time, reading the module's parameters by their torch names; gradients by
 * gradcheck in float64.
 */
import { expect } from 'chai';
import { randn, tensor, zeros } from '../../../autograd/creation';
import { assertGradcheck } from '../../../autograd/gradcheck';
import { Tensor } from '../../../autograd/tensor';
import * as F from '../../../autograd/functional';
import { allocatedBytes } from '../../../lib/core/dtype';
import { globalRng, manualSeed } from '../../../lib/random';
import { GRU, GRUCell, LSTM, LSTMCell, Module, RNN, RNNCell, Sequential } from '../../../models/nn/index';

type Kind = 'tanh' | 'relu' | 'lstm' | 'gru';
type Vec = number[];
type Mat = number[][];
/** wHr: LSTM's projection [P][H] (torch's weight_hr), absent without projSize. */
interface RefParams { wIh: Mat; wHh: Mat; bIh: Vec | null; bHh: Vec | null; wHr?: Mat }

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

/** Rows [k·H, (k+1)·H) of W·v + b. */
function gateRows(W: Mat, b: Vec | null, v: Vec, k: number, H: number): Vec {
  const out: Vec = [];
  for (let j = k * H; j < (k + 1) * H; j++) {
    let s = b ? b[j] : 0;
    for (let q = 0; q < v.length; q++) s += W[j][q] * v[q];
    out.push(s);
  }
  return out;
}

/**
 * One step of torch's documented cell equations; returns [h', c'] (c' only for LSTM). With a projection
 * (LSTM's proj_size) h' = W_hr·(o ⊙ tanh(c')), so h has W_hr's row count and c the hidden size.
 */
function refCell(kind: Kind, p: RefParams, x: Vec, h: Vec, c: Vec | null): [Vec, Vec | null] {
  const H = p.wIh.length / (kind === 'lstm' ? 4 : kind === 'gru' ? 3 : 1);
  const gi = (k: number): Vec => gateRows(p.wIh, p.bIh, x, k, H);
  const gh = (k: number): Vec => gateRows(p.wHh, p.bHh, h, k, H);
  if (kind === 'tanh' || kind === 'relu') {
    const a = gi(0);
    const b = gh(0);
    return [a.map((v, j) => (kind === 'tanh' ? Math.tanh(v + b[j]) : Math.max(0, v + b[j]))), null];
  }
  if (kind === 'lstm') {
    const [ii, hi] = [gi(0), gh(0)];
    const [if_, hf] = [gi(1), gh(1)];
    const [ig, hg] = [gi(2), gh(2)];
    const [io, ho] = [gi(3), gh(3)];
    const cNew: Vec = [];
    const hNew: Vec = [];
    for (let j = 0; j < H; j++) {
      const i = sig(ii[j] + hi[j]);
      const f = sig(if_[j] + hf[j]);
      const g = Math.tanh(ig[j] + hg[j]);
      const o = sig(io[j] + ho[j]);
      cNew.push(f * (c as Vec)[j] + i * g);
      hNew.push(o * Math.tanh(cNew[j]));
    }
    if (p.wHr) return [p.wHr.map((row) => row.reduce((s, w, j) => s + w * hNew[j], 0)), cNew];
    return [hNew, cNew];
  }
  const [ir, hr] = [gi(0), gh(0)];
  const [iz, hz] = [gi(1), gh(1)];
  const [in_, hn] = [gi(2), gh(2)];
  const hNew: Vec = [];
  for (let j = 0; j < H; j++) {
    const r = sig(ir[j] + hr[j]);
    const z = sig(iz[j] + hz[j]);
    const n = Math.tanh(in_[j] + r * hn[j]);
    hNew.push((1 - z) * n + z * h[j]);
  }
  return [hNew, null];
}

/** The parameters registered under torch's names with suffix `sfx` ('' for a cell, '_l1_reverse', ...). */
function refParams(m: Module, sfx: string): RefParams {
  const sd = m.stateDict();
  const mat = (k: string): Mat => sd[k].toArray() as Mat;
  const vec = (k: string): Vec | null => (sd[k] ? (sd[k].toArray() as Vec) : null);
  const p: RefParams = { wIh: mat(`weight_ih${sfx}`), wHh: mat(`weight_hh${sfx}`), bIh: vec(`bias_ih${sfx}`), bHh: vec(`bias_hh${sfx}`) };
  if (sd[`weight_hr${sfx}`]) p.wHr = mat(`weight_hr${sfx}`);
  return p;
}

/**
 * torch's stacked, bidirectional run for one batch element at a time: xs [B][T][I], h0/c0 [L·D][B][H] (h0 [L·D][B][P] with a projection).
 * `keep(l, t, b, j)` scales layer l's output element before layer l + 1 reads it (dropout's mask).
 */
function refLayers(
  kind: Kind, m: Module, L: number, D: number, xs: Vec[][], h0: Mat[], c0: Mat[] | null,
  keep: (l: number, t: number, b: number, j: number) => number = () => 1,
): { out: Vec[][]; hN: Mat[]; cN: Mat[] } {
  const B = xs.length;
  const T = xs[0].length;
  const hN: Mat[] = h0.map(() => []);
  const cN: Mat[] = h0.map(() => []);
  const out: Vec[][] = [];
  for (let b = 0; b < B; b++) {
    let seq: Vec[] = xs[b];
    for (let l = 0; l < L; l++) {
      const ys: Vec[][] = [];
      for (let d = 0; d < D; d++) {
        const p = refParams(m, `_l${l}${d === 1 ? '_reverse' : ''}`);
        let h = h0[l * D + d][b];
        let c = c0 ? c0[l * D + d][b] : null;
        const y: Vec[] = new Array<Vec>(T);
        const order = Array.from({ length: T }, (_, t) => (d === 1 ? T - 1 - t : t));
        for (const t of order) {
          [h, c] = refCell(kind, p, seq[t], h, c);
          y[t] = h;
        }
        ys.push(y);
        hN[l * D + d][b] = h;
        cN[l * D + d][b] = c ?? [];
      }
      seq = Array.from({ length: T }, (_, t) => ys.flatMap((y) => y[t]));
      if (l < L - 1) seq = seq.map((v, t) => v.map((e, j) => e * keep(l, t, b, j)));
    }
    out.push(seq);
  }
  return { out, hN, cN };
}

const flat = (a: unknown): number[] => (Array.isArray(a) ? a.flatMap(flat) : [a as number]);

function expectClose(actual: Tensor, shape: number[], expected: unknown, tol = 1e-12): void {
  expect(actual.shape).to.deep.equal(shape);
  const e = flat(expected);
  const a = Array.from(actual.data);
  expect(a.length).to.equal(e.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - e[i]));
  expect(worst, `max |actual − reference| = ${worst}`).to.be.at.most(tol);
}

const f64 = { dtype: 'float64' as const };
/** [B][T][I] from a time-major [T][B][I] array. */
const batchMajor = (a: Mat[]): Mat[] => a[0].map((_, b) => a.map((row) => row[b]));

describe('models/nn recurrent cells', () => {
  beforeEach(() => manualSeed(25));

  const cells: [string, Kind, () => RNNCell | LSTMCell | GRUCell][] = [
    ['RNNCell (tanh)', 'tanh', () => new RNNCell(3, 4, f64)],
    ['RNNCell (relu, no bias)', 'relu', () => new RNNCell(3, 4, { nonlinearity: 'relu', bias: false, dtype: 'float64' })],
    ['LSTMCell', 'lstm', () => new LSTMCell(3, 4, f64)],
    ['LSTMCell (no bias)', 'lstm', () => new LSTMCell(3, 4, { bias: false, dtype: 'float64' })],
    ['GRUCell', 'gru', () => new GRUCell(3, 4, f64)],
    ['GRUCell (no bias)', 'gru', () => new GRUCell(3, 4, { bias: false, dtype: 'float64' })],
  ];

  /** The cell's step as [h', c'] for a uniform call site. */
  const call = (cell: RNNCell | LSTMCell | GRUCell, x: Tensor, h?: Tensor, c?: Tensor): [Tensor, Tensor | null] => {
    if (cell instanceof LSTMCell) return cell.forward(x, h && c ? [h, c] : undefined);
    return [cell.forward(x, h), null];
  };

  for (const [title, kind, make] of cells) {
    it(`${title}: batched and unbatched steps, given and default states, match torch's equations`, () => {
      const cell = make();
      const p = refParams(cell, '');
      const x = randn([2, 3], f64);
      const h = randn([2, 4], f64);
      const c = randn([2, 4], f64);
      const xs = x.toArray() as Mat;
      const hs = h.toArray() as Mat;
      const cs = c.toArray() as Mat;
      const lstm = kind === 'lstm';
      const [h1, c1] = call(cell, x, h, lstm ? c : undefined);
      const ref = xs.map((xb, b) => refCell(kind, p, xb, hs[b], lstm ? cs[b] : null));
      expectClose(h1, [2, 4], ref.map((r) => r[0]));
      if (lstm) expectClose(c1 as Tensor, [2, 4], ref.map((r) => r[1]));
      else expect(c1).to.equal(null);
      // omitted state: zeros
      const zero = [0, 0, 0, 0];
      const [h0, c0] = call(cell, x);
      const ref0 = xs.map((xb) => refCell(kind, p, xb, zero, lstm ? zero : null));
      expectClose(h0, [2, 4], ref0.map((r) => r[0]));
      if (lstm) expectClose(c0 as Tensor, [2, 4], ref0.map((r) => r[1]));
      // unbatched [I] input and [H] state
      const x1 = randn([3], f64);
      const hU = randn([4], f64);
      const cU = randn([4], f64);
      const [hu, cu] = call(cell, x1, hU, lstm ? cU : undefined);
      const refU = refCell(kind, p, x1.toArray() as Vec, hU.toArray() as Vec, lstm ? (cU.toArray() as Vec) : null);
      expectClose(hu, [4], refU[0]);
      if (lstm) expectClose(cu as Tensor, [4], refU[1]);
      const [hz] = call(cell, x1);
      expectClose(hz, [4], refCell(kind, p, x1.toArray() as Vec, zero, lstm ? zero : null)[0]);
    });
  }

  it('RNNCell with relu meets both sides of the kink (the reference would catch a tanh)', () => {
    const cell = new RNNCell(3, 4, { nonlinearity: 'relu', dtype: 'float64' });
    const y = cell.forward(randn([8, 3], f64), randn([8, 4], f64));
    const d = Array.from(y.data);
    expect(d.some((v) => v === 0)).to.equal(true);
    expect(d.some((v) => v > 0)).to.equal(true);
  });

  it('float32 cells match the float64 reference within float32 rounding', () => {
    const cell = new LSTMCell(3, 5);
    const x = randn([2, 3]);
    const [h, c] = cell.forward(x);
    const p = refParams(cell, '');
    const zero = [0, 0, 0, 0, 0];
    const ref = (x.toArray() as Mat).map((xb) => refCell('lstm', p, xb, zero, zero));
    expect(h.dtype).to.equal('float32');
    expectClose(h, [2, 5], ref.map((r) => r[0]), 1e-6);
    expectClose(c, [2, 5], ref.map((r) => r[1]), 1e-6);
  });

  it("parameters: torch's names and shapes as state-dict keys, camelCase getters, U(-1/√H, 1/√H) in registration order", () => {
    const lstm = new LSTMCell(3, 4);
    const sd = lstm.stateDict();
    expect(Object.keys(sd)).to.deep.equal(['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']);
    expect([sd.weight_ih.shape, sd.weight_hh.shape, sd.bias_ih.shape, sd.bias_hh.shape]).to.deep.equal([[16, 3], [16, 4], [16], [16]]);
    const params = Object.fromEntries(lstm.namedParameters());
    expect(Object.keys(params)).to.deep.equal(Object.keys(sd));
    expect(lstm.weightIh).to.equal(params.weight_ih);
    expect(lstm.weightHh).to.equal(params.weight_hh);
    expect(lstm.biasIh).to.equal(params.bias_ih);
    expect(lstm.biasHh).to.equal(params.bias_hh);
    const gru = new GRUCell(5, 2, { bias: false });
    expect(Object.keys(gru.stateDict())).to.deep.equal(['weight_ih', 'weight_hh']);
    expect(gru.weightIh?.shape).to.deep.equal([6, 5]);
    expect(gru.biasIh).to.equal(null);
    expect(new RNNCell(5, 2).weightHh?.shape).to.deep.equal([2, 2]);
    expect(Object.keys(new Sequential(new RNNCell(2, 3)).stateDict())).to.deep.equal(['0.weight_ih', '0.weight_hh', '0.bias_ih', '0.bias_hh']);

    manualSeed(7);
    const g = new GRUCell(3, 4, f64);
    manualSeed(7);
    const stdv = 1 / Math.sqrt(4);
    const draws = Array.from({ length: 12 * 3 + 12 * 4 + 12 + 12 }, () => globalRng().uniformRange(-stdv, stdv));
    expect(flat(g.parameters().map((t) => Array.from(t.data)))).to.deep.equal(draws);
    expect(draws.every((v) => v >= -stdv && v < stdv)).to.equal(true);
    expect(g.parameters().every((t) => t.requiresGrad)).to.equal(true);
  });

  it('loads a state dict with torch keys and computes with the loaded values', () => {
    const cell = new RNNCell(2, 1, f64);
    cell.loadStateDict({ weight_ih: tensor([[1, -2]]), weight_hh: tensor([[0.5]]), bias_ih: tensor([0.25]), bias_hh: tensor([-0.5]) });
    // tanh(1·1 − 2·2 + 0.25 + 0.5·2 − 0.5) = tanh(-2.25)
    expectClose(cell.forward(tensor([[1, 2]], f64), tensor([[2]], f64)), [1, 1], [Math.tanh(-2.25)]);
  });

  it('prints as torch', () => {
    expect(new RNNCell(3, 4).toString()).to.equal('RNNCell(3, 4)');
    expect(new RNNCell(3, 4, { nonlinearity: 'relu', bias: false }).toString()).to.equal('RNNCell(3, 4, bias=False, nonlinearity=relu)');
    expect(new LSTMCell(3, 4).toString()).to.equal('LSTMCell(3, 4)');
    expect(new GRUCell(3, 4, { bias: false }).toString()).to.equal('GRUCell(3, 4, bias=False)');
  });

  describe('gradcheck in float64', () => {
    const TOL = { atol: 1e-7, rtol: 1e-6 };
    const x = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });
    it('RNNCell (tanh), input, state and parameters', () => {
      const cell = new RNNCell(3, 2, f64);
      const rep = assertGradcheck((input, h) => cell.forward(input, h), [x([2, 3]), x([2, 2]), ...cell.parameters()], TOL);
      expect(rep.inputs.length).to.equal(6);
    });
    it('RNNCell (relu, unbatched)', () => {
      const cell = new RNNCell(3, 2, { nonlinearity: 'relu', dtype: 'float64' });
      assertGradcheck((input, h) => cell.forward(input, h), [x([3]), x([2]), ...cell.parameters()], TOL);
    });
    it('LSTMCell, both outputs', () => {
      const cell = new LSTMCell(3, 2, f64);
      const rep = assertGradcheck((input, h, c) => cell.forward(input, [h, c]), [x([2, 3]), x([2, 2]), x([2, 2]), ...cell.parameters()], TOL);
      expect(rep.inputs.length).to.equal(7);
    });
    it('GRUCell', () => {
      const cell = new GRUCell(3, 2, f64);
      assertGradcheck((input, h) => cell.forward(input, h), [x([2, 3]), x([2, 2]), ...cell.parameters()], TOL);
    });
  });

  describe('errors name the cell', () => {
    it('on bad input rank, size and dtype', () => {
      const cell = new GRUCell(3, 4);
      expect(() => cell.forward(randn([1, 2, 3]))).to.throw('GRUCell: expected input to be 1-D or 2-D but received a 3-D tensor of shape [1,2,3]');
      expect(() => cell.forward(randn([2, 5]))).to.throw('GRUCell: input has 5 features but inputSize is 3 (input shape [2,5])');
      expect(() => cell.forward(randn([2, 3], f64))).to.throw('GRUCell: input is float64 but the parameters are float32; convert one with .to()');
      expect(() => cell.forward([1, 2, 3] as unknown as Tensor)).to.throw('GRUCell: input must be a Tensor, got [1, 2, 3]');
    });
    it('on a state of the wrong shape or dtype', () => {
      const cell = new RNNCell(3, 4);
      expect(() => cell.forward(randn([2, 3]), randn([3, 4]))).to.throw('RNNCell: expected hx of shape [2,4] (batch 2, hiddenSize 4), got [3,4]');
      expect(() => cell.forward(randn([2, 3]), randn([2, 5]))).to.throw('RNNCell: expected hx of shape [2,4] (batch 2, hiddenSize 4), got [2,5]');
      expect(() => cell.forward(randn([3]), randn([1, 4]))).to.throw('RNNCell: expected hx of shape [4] (unbatched input, hiddenSize 4), got [1,4]');
      expect(() => cell.forward(randn([2, 3]), randn([2, 4], f64))).to.throw('RNNCell: hx is float64 but the parameters are float32');
      const lstm = new LSTMCell(3, 4);
      expect(() => lstm.forward(randn([2, 3]), [zeros([2, 4]), zeros([2, 3])])).to.throw('LSTMCell: expected hx[1] of shape [2,4] (batch 2, hiddenSize 4), got [2,3]');
      expect(() => lstm.forward(randn([2, 3]), zeros([2, 4]) as unknown as [Tensor, Tensor])).to.throw('LSTMCell: hx must be an array [h, c] of two tensors, got a Tensor of shape [2,4]');
    });
    it('on bad constructor arguments', () => {
      expect(() => new RNNCell(3, 0)).to.throw('RNNCell: hiddenSize must be a positive integer, got 0');
      expect(() => new LSTMCell(2.5, 3)).to.throw('LSTMCell: inputSize must be a positive integer, got 2.5');
      expect(() => new RNNCell(3, 4, { nonlinearity: 'sigmoid' as 'tanh' })).to.throw("RNNCell: unknown nonlinearity \"sigmoid\" (expected 'tanh' or 'relu')");
      expect(() => new GRUCell(3, 4, { nonlinearity: 'relu' } as object)).to.throw("GRUCell: unknown option 'nonlinearity'");
      expect(() => new LSTMCell(3, 4, { bias: 0 as unknown as boolean })).to.throw('LSTMCell: bias must be a boolean, got 0');
      expect(() => new GRUCell(3, 4, { dtype: 'int32' as 'float32' })).to.throw("GRUCell: dtype must be 'float32' or 'float64', got \"int32\"");
    });
  });
});

describe('models/nn recurrent layers', () => {
  beforeEach(() => manualSeed(26));

  const T = 4;
  const B = 3;
  const I = 3;
  const H = 2;

  interface Case { numLayers: number; bidirectional: boolean; batchFirst: boolean; givenState: boolean; bias?: boolean }
  const configs: Case[] = [
    { numLayers: 2, bidirectional: true, batchFirst: false, givenState: true },
    { numLayers: 2, bidirectional: true, batchFirst: true, givenState: false },
    { numLayers: 2, bidirectional: false, batchFirst: true, givenState: true },
    { numLayers: 2, bidirectional: false, batchFirst: false, givenState: false },
    { numLayers: 1, bidirectional: true, batchFirst: false, givenState: true, bias: false },
  ];
  const kinds: [string, Kind][] = [['RNN (tanh)', 'tanh'], ['RNN (relu)', 'relu'], ['LSTM', 'lstm'], ['GRU', 'gru']];

  function make(kind: Kind, c: Omit<Case, 'givenState'>, extra: { dropout?: number } = {}): RNN | LSTM | GRU {
    const options = { numLayers: c.numLayers, bidirectional: c.bidirectional, batchFirst: c.batchFirst, bias: c.bias ?? true, dtype: 'float64' as const, ...extra };
    if (kind === 'lstm') return new LSTM(I, H, options);
    if (kind === 'gru') return new GRU(I, H, options);
    return new RNN(I, H, { ...options, nonlinearity: kind });
  }

  /** [output, hN, cN | null] for a uniform call site. */
  function run(m: RNN | LSTM | GRU, x: Tensor, h0?: Tensor, c0?: Tensor): [Tensor, Tensor, Tensor | null] {
    if (m instanceof LSTM) {
      const [o, [h, c]] = m.forward(x, h0 && c0 ? [h0, c0] : undefined);
      return [o, h, c];
    }
    const [o, h] = m.forward(x, h0);
    return [o, h, null];
  }

  for (const [title, kind] of kinds) {
    for (const c of configs) {
      const desc = `${c.numLayers} layer${c.numLayers > 1 ? 's' : ''}${c.bidirectional ? ', bidirectional' : ''}, batchFirst ${c.batchFirst}, ${c.givenState ? 'given' : 'default'} state${c.bias === false ? ', no bias' : ''}`;
      it(`${title}, ${desc}: output, hN${kind === 'lstm' ? ', cN' : ''} match torch's equations`, () => {
        const m = make(kind, c);
        const D = c.bidirectional ? 2 : 1;
        const LD = c.numLayers * D;
        const lstm = kind === 'lstm';
        const x = randn(c.batchFirst ? [B, T, I] : [T, B, I], f64);
        const h0 = c.givenState ? randn([LD, B, H], f64) : undefined;
        const c0 = c.givenState && lstm ? randn([LD, B, H], f64) : undefined;
        const [out, hN, cN] = run(m, x, h0, c0);
        const xs = c.batchFirst ? (x.toArray() as Mat[]) : batchMajor(x.toArray() as Mat[]);
        const zeroState = (): Mat[] => Array.from({ length: LD }, () => Array.from({ length: B }, () => new Array<number>(H).fill(0)));
        const ref = refLayers(kind, m, c.numLayers, D, xs, h0 ? (h0.toArray() as Mat[]) : zeroState(),
          lstm ? (c0 ? (c0.toArray() as Mat[]) : zeroState()) : null);
        if (c.batchFirst) expectClose(out, [B, T, D * H], ref.out);
        else expectClose(out, [T, B, D * H], batchMajor(ref.out));
        expectClose(hN, [LD, B, H], ref.hN);
        if (lstm) expectClose(cN as Tensor, [LD, B, H], ref.cN);
        else expect(cN).to.equal(null);
      });
    }

    for (const batchFirst of [false, true]) {
      it(`${title}, unbatched [T, I] input (batchFirst ${batchFirst}), given and default states`, () => {
        const m = make(kind, { numLayers: 2, bidirectional: true, batchFirst });
        const lstm = kind === 'lstm';
        const x = randn([T, I], f64);
        const h0 = randn([4, H], f64);
        const c0 = randn([4, H], f64);
        const toB1 = (s: Tensor): Mat[] => (s.toArray() as Mat).map((row) => [row]);
        for (const given of [true, false]) {
          const [out, hN, cN] = given ? run(m, x, h0, lstm ? c0 : undefined) : run(m, x);
          const zero = Array.from({ length: 4 }, () => [[0, 0]]);
          const ref = refLayers(kind, m, 2, 2, [x.toArray() as Mat], given ? toB1(h0) : zero, lstm ? (given ? toB1(c0) : zero) : null);
          expectClose(out, [T, 2 * H], ref.out[0]);
          expectClose(hN, [4, H], ref.hN.map((s) => s[0]));
          if (lstm) expectClose(cN as Tensor, [4, H], ref.cN.map((s) => s[0]));
        }
      });
    }
  }

  it('float32 LSTM matches the float64 reference within float32 rounding', () => {
    const m = new LSTM(I, H, { numLayers: 2, bidirectional: true });
    const x = randn([T, B, I]);
    const [out, [hN, cN]] = m.forward(x);
    const zero = Array.from({ length: 4 }, () => Array.from({ length: B }, () => [0, 0]));
    const ref = refLayers('lstm', m, 2, 2, batchMajor(x.toArray() as Mat[]), zero, zero);
    expect(out.dtype).to.equal('float32');
    expectClose(out, [T, B, 2 * H], batchMajor(ref.out), 1e-6);
    expectClose(hN, [4, B, H], ref.hN, 1e-6);
    expectClose(cN, [4, B, H], ref.cN, 1e-6);
  });

  describe('dropout between layers', () => {
    it('p = 1 zeroes what layer 2 reads in train mode and nothing in eval mode; the last layer is never dropped', () => {
      const m = make('gru', { numLayers: 2, bidirectional: true, batchFirst: true }, { dropout: 1 });
      const x = randn([B, T, I], f64);
      const h0 = randn([4, B, H], f64);
      const hs = h0.toArray() as Mat[];
      const [outTrain, hTrain] = run(m, x, h0);
      const dropped = refLayers('gru', m, 2, 2, x.toArray() as Mat[], hs, null, () => 0);
      expectClose(outTrain, [B, T, 2 * H], dropped.out);
      expectClose(hTrain, [4, B, H], dropped.hN);
      m.eval();
      const [outEval, hEval] = run(m, x, h0);
      const kept = refLayers('gru', m, 2, 2, x.toArray() as Mat[], hs, null);
      expectClose(outEval, [B, T, 2 * H], kept.out);
      expectClose(hEval, [4, B, H], kept.hN);
      expect(Array.from(outEval.data)).to.not.deep.equal(Array.from(outTrain.data));
    });

    it('0 < p < 1: inverted dropout of layer 1\'s output, mask drawn from the seeded generator over the time-major [T, B, D·H] output', () => {
      const p = 0.4;
      const m = make('lstm', { numLayers: 3, bidirectional: true, batchFirst: false }, { dropout: p });
      const x = randn([T, B, I], f64);
      manualSeed(99);
      const [out, [hN, cN]] = (m as LSTM).forward(x);
      manualSeed(99);
      // F.dropout's mask, one uniform draw per element in row-major order, for layer 0 then layer 1
      const masks = [0, 1].map(() => Array.from({ length: T * B * 2 * H }, () => (globalRng().uniform() < p ? 0 : 1 / (1 - p))));
      const zero = Array.from({ length: 6 }, () => Array.from({ length: B }, () => [0, 0]));
      const ref = refLayers('lstm', m, 3, 2, batchMajor(x.toArray() as Mat[]), zero, zero, (l, t, b, j) => masks[l][(t * B + b) * 2 * H + j]);
      expect(masks.flat().some((v) => v === 0) && masks.flat().some((v) => v > 1)).to.equal(true);
      expectClose(out, [T, B, 2 * H], batchMajor(ref.out));
      expectClose(hN, [6, B, H], ref.hN);
      expectClose(cN, [6, B, H], ref.cN);
    });
  });

  it("parameters: torch's names weight_ih_l{k}[_reverse] and shapes, allWeights, U(-1/√H, 1/√H) in registration order", () => {
    const lstm = new LSTM(3, 5, { numLayers: 2, bidirectional: true });
    const sd = lstm.stateDict();
    const keys: string[] = [];
    const shapes: number[][] = [];
    for (const l of [0, 1]) {
      for (const sfx of ['', '_reverse']) {
        keys.push(`weight_ih_l${l}${sfx}`, `weight_hh_l${l}${sfx}`, `bias_ih_l${l}${sfx}`, `bias_hh_l${l}${sfx}`);
        shapes.push([20, l === 0 ? 3 : 10], [20, 5], [20], [20]);
      }
    }
    expect(Object.keys(sd)).to.deep.equal(keys);
    expect(Object.values(sd).map((t) => t.shape)).to.deep.equal(shapes);
    expect(lstm.allWeights.length).to.equal(4);
    const params = Object.fromEntries(lstm.namedParameters());
    expect(Object.keys(params)).to.deep.equal(keys);
    expect(lstm.allWeights[3]).to.have.ordered.members([params.weight_ih_l1_reverse, params.weight_hh_l1_reverse, params.bias_ih_l1_reverse, params.bias_hh_l1_reverse]);
    expect(lstm.allWeights[0][0]).to.equal(params.weight_ih_l0);
    expect(lstm.numParameters()).to.equal(2 * (20 * 3 + 20 * 5 + 40) + 2 * (20 * 10 + 20 * 5 + 40));

    const gru = new GRU(4, 2, { numLayers: 3, bias: false });
    expect(Object.keys(gru.stateDict())).to.deep.equal(['weight_ih_l0', 'weight_hh_l0', 'weight_ih_l1', 'weight_hh_l1', 'weight_ih_l2', 'weight_hh_l2']);
    expect(Object.values(gru.stateDict()).map((t) => t.shape)).to.deep.equal([[6, 4], [6, 2], [6, 2], [6, 2], [6, 2], [6, 2]]);
    expect(Object.keys(new RNN(2, 3).stateDict())).to.deep.equal(['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']);
    expect(new RNN(2, 3).stateDict().weight_ih_l0.shape).to.deep.equal([3, 2]);

    manualSeed(8);
    const r = new RNN(2, 3, { bidirectional: true, dtype: 'float64' });
    manualSeed(8);
    const stdv = 1 / Math.sqrt(3);
    const draws = Array.from({ length: 2 * (6 + 9 + 3 + 3) }, () => globalRng().uniformRange(-stdv, stdv));
    expect(flat(r.parameters().map((t) => Array.from(t.data)))).to.deep.equal(draws);
  });

  it('held by another module: registered children, state-dict keys with the prefix, toString as torch', () => {
    class Tagger extends Module {
      readonly lstm: LSTM;
      constructor() {
        super();
        this.lstm = this.registerModule('lstm', new LSTM(3, 4, { batchFirst: true }));
      }
      forward(x: Tensor): Tensor {
        return this.lstm.forward(x)[0];
      }
    }
    const t = new Tagger();
    expect(Object.keys(t.stateDict())).to.deep.equal(['lstm.weight_ih_l0', 'lstm.weight_hh_l0', 'lstm.bias_ih_l0', 'lstm.bias_hh_l0']);
    expect(t.forward(randn([2, 5, 3])).shape).to.deep.equal([2, 5, 4]);
    expect(new LSTM(10, 20).toString()).to.equal('LSTM(10, 20)');
    expect(new GRU(10, 20, { numLayers: 2, bias: false, batchFirst: true, dropout: 0.5, bidirectional: true }).toString())
      .to.equal('GRU(10, 20, num_layers=2, bias=False, batch_first=True, dropout=0.5, bidirectional=True)');
    expect(new RNN(10, 20, { nonlinearity: 'relu' }).toString()).to.equal('RNN(10, 20)');
    expect(new RNN(10, 20, { nonlinearity: 'relu' }).nonlinearity).to.equal('relu');
  });

  describe('gradcheck in float64 (input, states and every parameter)', () => {
    const TOL = { atol: 1e-7, rtol: 1e-6 };
    const x = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });
    it('2-layer bidirectional LSTM, output, hN and cN', () => {
      const m = new LSTM(2, 2, { numLayers: 2, bidirectional: true, dtype: 'float64' });
      const rep = assertGradcheck((input, h0, c0) => {
        const [o, [h, c]] = m.forward(input, [h0, c0]);
        return [o, h, c];
      }, [x([3, 2, 2]), x([4, 2, 2]), x([4, 2, 2]), ...m.parameters()], TOL);
      expect(rep.inputs.length).to.equal(3 + 16);
    });
    it('2-layer bidirectional GRU, batchFirst, output and hN', () => {
      const m = new GRU(2, 2, { numLayers: 2, bidirectional: true, batchFirst: true, dtype: 'float64' });
      const rep = assertGradcheck((input, h0) => m.forward(input, h0), [x([2, 3, 2]), x([4, 2, 2]), ...m.parameters()], TOL);
      expect(rep.inputs.length).to.equal(2 + 16);
    });
    it('1-layer bidirectional LSTM over 7 steps (gradients through a long, odd-length sequence)', () => {
      const m = new LSTM(2, 2, { bidirectional: true, dtype: 'float64' });
      assertGradcheck((input, h0, c0) => {
        const [o, [h, c]] = m.forward(input, [h0, c0]);
        return [o, h, c];
      }, [x([7, 1, 2]), x([2, 1, 2]), x([2, 1, 2]), ...m.parameters()], TOL);
    });
    it('GRU over 5 steps, batchFirst', () => {
      const m = new GRU(2, 3, { batchFirst: true, dtype: 'float64' });
      assertGradcheck((input, h0) => m.forward(input, h0), [x([2, 5, 2]), x([1, 2, 3]), ...m.parameters()], TOL);
    });
    it('2-layer RNN (tanh), unbatched', () => {
      const m = new RNN(2, 3, { numLayers: 2, dtype: 'float64' });
      assertGradcheck((input, h0) => m.forward(input, h0), [x([3, 2]), x([2, 3]), ...m.parameters()], TOL);
    });
  });

  it('backward allocations grow as T·log T with the sequence length, not T² (a full-size gradient per step)', () => {
    /** Bytes of tensor storage allocated while fn runs. */
    const bytesAllocatedBy = (fn: () => void): number => {
      const before = allocatedBytes();
      fn();
      return allocatedBytes() - before;
    };
    for (const make of [() => new RNN(4, 4), () => new LSTM(4, 4), () => new GRU(4, 4)]) {
      const [short, long] = [32, 128].map((steps) => {
        const m = make();
        const loss = F.sum(m.forward(randn([steps, 4, 4], { requiresGrad: true }))[0]);
        return bytesAllocatedBy(() => loss.backward());
      });
      // 4× the steps: at most 4·log2(128)/log2(32) = 5.6× the bytes; T² would be 16× (it was 12× here)
      expect(long / short, `${make().constructor.name}: ${short} → ${long} bytes`).to.be.at.most(5.6);
    }
  });

  describe('errors name the layer', () => {
    it('on bad input rank, size, dtype and an empty sequence', () => {
      const m = new LSTM(3, 4);
      expect(() => m.forward(randn([3]))).to.throw('LSTM: expected input to be 2-D or 3-D but received a 1-D tensor of shape [3]');
      expect(() => m.forward(randn([1, 2, 3, 3]))).to.throw('LSTM: expected input to be 2-D or 3-D but received a 4-D tensor of shape [1,2,3,3]');
      expect(() => m.forward(randn([5, 2, 4]))).to.throw('LSTM: input has 4 features but inputSize is 3 (input shape [5,2,4])');
      expect(() => m.forward(randn([5, 2, 3], f64))).to.throw('LSTM: input is float64 but the parameters are float32');
      expect(() => new GRU(3, 4, { batchFirst: true }).forward(randn([2, 0, 3]))).to.throw('GRU: expected a sequence length larger than 0, got input of shape [2,0,3]');
    });
    it('on states of the wrong shape', () => {
      const rnn = new RNN(3, 4, { numLayers: 2, bidirectional: true, batchFirst: true });
      expect(() => rnn.forward(randn([2, 5, 3]), randn([2, 2, 4]))).to.throw('RNN: expected hx of shape [4,2,4] (numLayers·numDirections 4, batch 2, hiddenSize 4), got [2,2,4]');
      expect(() => rnn.forward(randn([2, 5, 3]), randn([4, 5, 4]))).to.throw('RNN: expected hx of shape [4,2,4] (numLayers·numDirections 4, batch 2, hiddenSize 4), got [4,5,4]');
      expect(() => rnn.forward(randn([5, 3]), randn([4, 1, 4]))).to.throw('RNN: expected hx of shape [4,4] (numLayers·numDirections 4, hiddenSize 4), got [4,1,4]');
      const lstm = new LSTM(3, 4);
      expect(() => lstm.forward(randn([5, 2, 3]), [zeros([1, 2, 4]), zeros([1, 2, 3])])).to.throw('LSTM: expected hx[1] of shape [1,2,4] (numLayers·numDirections 1, batch 2, hiddenSize 4), got [1,2,3]');
      expect(() => lstm.forward(randn([5, 2, 3]), [zeros([1, 2, 4])] as unknown as [Tensor, Tensor])).to.throw('LSTM: hx must be an array [h0, c0] of two tensors');
      expect(() => new GRU(3, 4).forward(randn([5, 2, 3]), zeros([1, 2, 4], f64))).to.throw('GRU: hx is float64 but the parameters are float32');
    });
    it('on bad constructor options', () => {
      expect(() => new LSTM(3, 4, { numLayers: 0 })).to.throw('LSTM: numLayers must be a positive integer, got 0');
      expect(() => new GRU(3, 4, { numLayers: 1.5 })).to.throw('GRU: numLayers must be a positive integer, got 1.5');
      for (const dropout of [-0.1, 1.5, NaN]) {
        expect(() => new RNN(3, 4, { dropout })).to.throw(`RNN: dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got ${dropout}`);
      }
      expect(() => new LSTM(3, 4, { dropout: true as unknown as number })).to.throw('LSTM: dropout should be a number in range [0, 1]');
      expect(() => new RNN(3, 4, { nonlinearity: 'gelu' as 'relu' })).to.throw("RNN: unknown nonlinearity \"gelu\" (expected 'tanh' or 'relu')");
      expect(() => new LSTM(3, 4, { batch_first: true } as object)).to.throw("LSTM: unknown option 'batch_first' (did you mean 'batchFirst'?)");
      expect(() => new LSTM(3, 4, { nonlinearity: 'relu' } as object)).to.throw("LSTM: unknown option 'nonlinearity'");
      expect(() => new GRU(0, 4)).to.throw('GRU: inputSize must be a positive integer, got 0');
      expect(() => new RNN(3, 4, { bidirectional: 1 as unknown as boolean })).to.throw('RNN: bidirectional must be a boolean, got 1');
    });
  });
});

describe('models/nn LSTM with projSize (torch proj_size)', () => {
  beforeEach(() => manualSeed(27));

  const T = 4;
  const B = 3;
  const I = 3;
  const H = 5;
  const P = 3;

  interface ProjCase { numLayers: number; bidirectional: boolean; batchFirst: boolean; givenState: boolean; bias?: boolean }
  const configs: ProjCase[] = [
    { numLayers: 2, bidirectional: true, batchFirst: false, givenState: true },
    { numLayers: 2, bidirectional: true, batchFirst: true, givenState: false },
    { numLayers: 3, bidirectional: false, batchFirst: true, givenState: true },
    { numLayers: 1, bidirectional: false, batchFirst: false, givenState: false },
    { numLayers: 2, bidirectional: true, batchFirst: false, givenState: true, bias: false },
  ];
  const states = (LD: number, b: number, n: number, fill?: () => number): Mat[] =>
    Array.from({ length: LD }, () => Array.from({ length: b }, () => Array.from({ length: n }, () => (fill ? fill() : 0))));

  for (const c of configs) {
    const desc = `${c.numLayers} layer${c.numLayers > 1 ? 's' : ''}${c.bidirectional ? ', bidirectional' : ''}, batchFirst ${c.batchFirst}, ${c.givenState ? 'given' : 'default'} state${c.bias === false ? ', no bias' : ''}`;
    it(`${desc}: output [T, B, D·P], hN [L·D, B, P] and cN [L·D, B, H] match the projected equations`, () => {
      const m = new LSTM(I, H, { numLayers: c.numLayers, bidirectional: c.bidirectional, batchFirst: c.batchFirst, bias: c.bias ?? true, projSize: P, dtype: 'float64' });
      const D = c.bidirectional ? 2 : 1;
      const LD = c.numLayers * D;
      const x = randn(c.batchFirst ? [B, T, I] : [T, B, I], f64);
      const h0 = c.givenState ? randn([LD, B, P], f64) : undefined;
      const c0 = c.givenState ? randn([LD, B, H], f64) : undefined;
      const [out, [hN, cN]] = m.forward(x, h0 && c0 ? [h0, c0] : undefined);
      const xs = c.batchFirst ? (x.toArray() as Mat[]) : batchMajor(x.toArray() as Mat[]);
      const ref = refLayers('lstm', m, c.numLayers, D, xs, h0 ? (h0.toArray() as Mat[]) : states(LD, B, P), c0 ? (c0.toArray() as Mat[]) : states(LD, B, H));
      if (c.batchFirst) expectClose(out, [B, T, D * P], ref.out);
      else expectClose(out, [T, B, D * P], batchMajor(ref.out));
      expectClose(hN, [LD, B, P], ref.hN);
      expectClose(cN, [LD, B, H], ref.cN);
    });
  }

  for (const batchFirst of [false, true]) {
    it(`unbatched [T, I] input (batchFirst ${batchFirst}): output [T, 2P], hN [4, P], cN [4, H], given and default states`, () => {
      const m = new LSTM(I, H, { numLayers: 2, bidirectional: true, batchFirst, projSize: P, dtype: 'float64' });
      const x = randn([T, I], f64);
      const h0 = randn([4, P], f64);
      const c0 = randn([4, H], f64);
      const toB1 = (s: Tensor): Mat[] => (s.toArray() as Mat).map((row) => [row]);
      for (const given of [true, false]) {
        const [out, [hN, cN]] = m.forward(x, given ? [h0, c0] : undefined);
        const ref = refLayers('lstm', m, 2, 2, [x.toArray() as Mat], given ? toB1(h0) : states(4, 1, P), given ? toB1(c0) : states(4, 1, H));
        expectClose(out, [T, 2 * P], ref.out[0]);
        expectClose(hN, [4, P], ref.hN.map((s) => s[0]));
        expectClose(cN, [4, H], ref.cN.map((s) => s[0]));
      }
    });
  }

  it('the projection is applied: the same weights with W_hr dropped from the reference give a different result', () => {
    const m = new LSTM(I, H, { projSize: P, dtype: 'float64' });
    const x = randn([T, B, I], f64);
    const [out] = m.forward(x);
    expect(out.shape).to.deep.equal([T, B, P]);
    const p = refParams(m, '_l0');
    // truncating o·tanh(c) to its first P entries (no W_hr) must not reproduce the output
    const noProj = { ...p, wHr: p.wHr?.map((row, r) => row.map((_, j) => (j === r ? 1 : 0))) };
    const xs = batchMajor(x.toArray() as Mat[]);
    const seq = xs.map((xb) => {
      let h = [0, 0, 0];
      let c: Vec | null = [0, 0, 0, 0, 0];
      return xb.map((xt) => {
        [h, c] = refCell('lstm', noProj, xt, h, c);
        return h;
      });
    });
    const a = Array.from(out.data);
    const e = flat(batchMajor(seq));
    expect(Math.max(...a.map((v, i) => Math.abs(v - e[i])))).to.be.greaterThan(1e-3);
  });

  it('float32 matches the float64 reference within float32 rounding', () => {
    const m = new LSTM(I, H, { numLayers: 2, bidirectional: true, projSize: P });
    const x = randn([T, B, I]);
    const [out, [hN, cN]] = m.forward(x);
    const ref = refLayers('lstm', m, 2, 2, batchMajor(x.toArray() as Mat[]), states(4, B, P), states(4, B, H));
    expect(out.dtype).to.equal('float32');
    expectClose(out, [T, B, 2 * P], batchMajor(ref.out), 1e-6);
    expectClose(hN, [4, B, P], ref.hN, 1e-6);
    expectClose(cN, [4, B, H], ref.cN, 1e-6);
  });

  it('dropout p = 1 between layers zeroes the projected [T, B, D·P] output layer 2 reads, in train mode only', () => {
    const m = new LSTM(I, H, { numLayers: 2, bidirectional: true, projSize: P, dropout: 1, dtype: 'float64' });
    const x = randn([T, B, I], f64);
    const xs = batchMajor(x.toArray() as Mat[]);
    const [outTrain, [hTrain, cTrain]] = m.forward(x);
    const dropped = refLayers('lstm', m, 2, 2, xs, states(4, B, P), states(4, B, H), () => 0);
    expectClose(outTrain, [T, B, 2 * P], batchMajor(dropped.out));
    expectClose(hTrain, [4, B, P], dropped.hN);
    expectClose(cTrain, [4, B, H], dropped.cN);
    m.eval();
    const [outEval] = m.forward(x);
    expectClose(outEval, [T, B, 2 * P], batchMajor(refLayers('lstm', m, 2, 2, xs, states(4, B, P), states(4, B, H)).out));
  });

  it("parameters: torch's keys in registration order w_ih, w_hh, b_ih, b_hh, w_hr and their shapes, allWeights, U(-1/√H, 1/√H) for all", () => {
    const m = new LSTM(I, H, { numLayers: 2, bidirectional: true, projSize: P });
    const keys: string[] = [];
    const shapes: number[][] = [];
    for (const l of [0, 1]) {
      for (const sfx of ['', '_reverse']) {
        keys.push(`weight_ih_l${l}${sfx}`, `weight_hh_l${l}${sfx}`, `bias_ih_l${l}${sfx}`, `bias_hh_l${l}${sfx}`, `weight_hr_l${l}${sfx}`);
        shapes.push([4 * H, l === 0 ? I : 2 * P], [4 * H, P], [4 * H], [4 * H], [P, H]);
      }
    }
    const sd = m.stateDict();
    expect(Object.keys(sd)).to.deep.equal(keys);
    expect(Object.values(sd).map((t) => t.shape)).to.deep.equal(shapes);
    const params = Object.fromEntries(m.namedParameters());
    expect(Object.keys(params)).to.deep.equal(keys);
    expect(m.allWeights.length).to.equal(4);
    expect(m.allWeights[1]).to.have.ordered.members([params.weight_ih_l0_reverse, params.weight_hh_l0_reverse, params.bias_ih_l0_reverse, params.bias_hh_l0_reverse, params.weight_hr_l0_reverse]);
    expect(m.projSize).to.equal(P);

    const noBias = new LSTM(I, H, { numLayers: 2, bias: false, projSize: 2 });
    expect(Object.keys(noBias.stateDict())).to.deep.equal(['weight_ih_l0', 'weight_hh_l0', 'weight_hr_l0', 'weight_ih_l1', 'weight_hh_l1', 'weight_hr_l1']);
    expect(Object.values(noBias.stateDict()).map((t) => t.shape)).to.deep.equal([[20, 3], [20, 2], [2, 5], [20, 2], [20, 2], [2, 5]]);
    expect(noBias.allWeights[1].map((w) => w?.shape)).to.deep.equal([[20, 2], [20, 2], [2, 5]]);

    manualSeed(9);
    const r = new LSTM(2, 4, { bidirectional: true, projSize: 1, dtype: 'float64' });
    manualSeed(9);
    const stdv = 1 / Math.sqrt(4);
    // per direction: w_ih 16·2, w_hh 16·1, b_ih 16, b_hh 16, w_hr 1·4
    const draws = Array.from({ length: 2 * (32 + 16 + 16 + 16 + 4) }, () => globalRng().uniformRange(-stdv, stdv));
    expect(flat(r.parameters().map((t) => Array.from(t.data)))).to.deep.equal(draws);
  });

  it('loads a state dict with weight_hr and computes with the loaded projection', () => {
    const m = new LSTM(1, 2, { projSize: 1, bias: false, dtype: 'float64' });
    // W_ih rows i, f, g, o (2 each); W_hh [8, 1]
    const wIh = [[1], [0.5], [-1], [2], [0.25], [-0.5], [1.5], [-2]];
    const wHh = [[0.3], [-0.2], [0.1], [0.4], [-0.6], [0.7], [0.2], [-0.1]];
    const wHr = [[2, -3]];
    m.loadStateDict({ weight_ih_l0: tensor(wIh, f64), weight_hh_l0: tensor(wHh, f64), weight_hr_l0: tensor(wHr, f64) });
    const [out, [hN, cN]] = m.forward(tensor([[[0.5]], [[-1]]], f64), [tensor([[[0.25]]], f64), tensor([[[1, -1]]], f64)]);
    let h = 0.25;
    let c = [1, -1];
    const hs: number[] = [];
    for (const xt of [0.5, -1]) {
      const pre = (r: number): number => wIh[r][0] * xt + wHh[r][0] * h;
      const cell = [0, 1].map((j) => sig(pre(2 + j)) * c[j] + sig(pre(j)) * Math.tanh(pre(4 + j)));
      const o = [0, 1].map((j) => sig(pre(6 + j)) * Math.tanh(cell[j]));
      c = cell;
      h = wHr[0][0] * o[0] + wHr[0][1] * o[1];
      hs.push(h);
    }
    expectClose(out, [2, 1, 1], hs);
    expectClose(hN, [1, 1, 1], [h]);
    expectClose(cN, [1, 1, 2], c);
  });

  it('projSize 0 is the default: the same parameters, keys, output and gradients bit for bit, and torch repr', () => {
    const results = [{}, { projSize: 0 }].map((extra) => {
      manualSeed(11);
      const m = new LSTM(I, H, { numLayers: 2, bidirectional: true, batchFirst: true, ...extra });
      const x = randn([B, T, I], { requiresGrad: true });
      const [out, [hN, cN]] = m.forward(x);
      F.sum(F.add(F.sum(F.mul(out, out)), F.add(F.sum(hN), F.sum(cN)))).backward();
      expect(m.projSize).to.equal(0);
      expect(hN.shape).to.deep.equal([4, B, H]);
      return { keys: Object.keys(m.stateDict()), values: [out, hN, cN, x.grad as Tensor, ...m.parameters(), ...m.parameters().map((p) => p.grad as Tensor)].map((t) => Array.from(t.data)) };
    });
    expect(results[1].keys).to.deep.equal(results[0].keys);
    expect(results[1].keys.some((k) => k.startsWith('weight_hr'))).to.equal(false);
    expect(results[1].values).to.deep.equal(results[0].values);
    expect(new LSTM(10, 20, { projSize: 0 }).toString()).to.equal('LSTM(10, 20)');
    expect(new LSTM(10, 20, { projSize: 5, numLayers: 2, bidirectional: true }).toString()).to.equal('LSTM(10, 20, proj_size=5, num_layers=2, bidirectional=True)');
    expect(new GRU(3, 4).projSize).to.equal(0);
    expect(new RNN(3, 4).projSize).to.equal(0);
  });

  it('gradcheck in float64: 2 layers, bidirectional, T 3, B 2, hidden 4, proj 3, w.r.t. input, h0, c0 and every weight including weight_hr', () => {
    const m = new LSTM(2, 4, { numLayers: 2, bidirectional: true, projSize: 3, dtype: 'float64' });
    const x = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });
    const params = m.parameters();
    expect(Object.keys(m.stateDict()).filter((k) => k.startsWith('weight_hr')).length).to.equal(4);
    const rep = assertGradcheck((input, h0, c0) => {
      const [o, [h, c]] = m.forward(input, [h0, c0]);
      return [o, h, c];
    }, [x([3, 2, 2]), x([4, 2, 3]), x([4, 2, 4]), ...params], { atol: 1e-7, rtol: 1e-6 });
    expect(rep.inputs.length).to.equal(3 + 20);
  });

  describe('errors name LSTM and the values', () => {
    it('projSize not smaller than hiddenSize, negative or not an integer, or given to RNN or GRU', () => {
      expect(() => new LSTM(3, 4, { projSize: 4 })).to.throw('LSTM: projSize has to be smaller than hiddenSize, got projSize 4 and hiddenSize 4');
      expect(() => new LSTM(3, 4, { projSize: 7 })).to.throw('LSTM: projSize has to be smaller than hiddenSize, got projSize 7 and hiddenSize 4');
      expect(() => new LSTM(3, 4, { projSize: -1 })).to.throw('LSTM: projSize should be a positive integer or zero to disable projections, got -1');
      expect(() => new LSTM(3, 4, { projSize: 1.5 })).to.throw('LSTM: projSize should be a positive integer or zero to disable projections, got 1.5');
      expect(() => new LSTM(3, 4, { projSize: '2' as unknown as number })).to.throw('LSTM: projSize should be a positive integer or zero to disable projections, got "2"');
      expect(() => new LSTM(3, 4, { proj_size: 2 } as object)).to.throw("LSTM: unknown option 'proj_size' (did you mean 'projSize'?)");
      expect(() => new GRU(3, 4, { projSize: 2 } as object)).to.throw('GRU: projSize is only supported for LSTM, not RNN or GRU');
      expect(() => new RNN(3, 4, { projSize: 0 } as object)).to.throw('RNN: projSize is only supported for LSTM, not RNN or GRU');
    });
    it('h0 must have projSize and c0 hiddenSize as the last dimension', () => {
      const m = new LSTM(3, 4, { numLayers: 2, bidirectional: true, projSize: 2 });
      const x = randn([5, 2, 3]);
      expect(() => m.forward(x, [zeros([4, 2, 4]), zeros([4, 2, 4])])).to.throw('LSTM: expected hx[0] of shape [4,2,2] (numLayers·numDirections 4, batch 2, projSize 2), got [4,2,4]');
      expect(() => m.forward(x, [zeros([4, 2, 2]), zeros([4, 2, 2])])).to.throw('LSTM: expected hx[1] of shape [4,2,4] (numLayers·numDirections 4, batch 2, hiddenSize 4), got [4,2,2]');
      expect(() => m.forward(randn([5, 3]), [zeros([4, 4]), zeros([4, 4])])).to.throw('LSTM: expected hx[0] of shape [4,2] (numLayers·numDirections 4, projSize 2), got [4,4]');
      expect(() => m.forward(randn([5, 3]), [zeros([4, 2]), zeros([4, 2])])).to.throw('LSTM: expected hx[1] of shape [4,4] (numLayers·numDirections 4, hiddenSize 4), got [4,2]');
      expect(m.forward(x, [zeros([4, 2, 2]), zeros([4, 2, 4])])[0].shape).to.deep.equal([5, 2, 4]);
    });
    it('a weight_hr set to null', () => {
      const m = new LSTM(3, 4, { projSize: 2 });
      m.registerParameter('weight_hr_l0', null);
      expect(() => m.forward(randn([5, 2, 3]))).to.throw('LSTM: weight_hr_l0 is not set (null); an LSTM with projSize > 0 needs it');
    });
  });
});
