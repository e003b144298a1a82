/**
 * Recurrent layers as torch.nn 1.13 has them: the cells RNNCell, LSTMCell and GRUCell (one time step)
 * and the layers RNN, LSTM and GRU (a whole sequence, stacked and optionally bidirectional).
 *
 * Every step is a composite of ops the tape already differentiates (linear, sigmoid, tanh, relu,
 * narrow, select, stack, cat, dropout), so the gradients need no table op of their own. The input
 * projection W_ih·x + b_ih of a layer is one matmul over the whole sequence ([T, B, I] at once); only
 * W_hh·h + b_hh runs per step, as torch's CPU kernel does. The step formulas are torch's native ones
 * (RNN.cpp): LSTM c' = f·c + i·g, h' = o·tanh(c'), gates in the order i, f, g, o; GRU gates r, z, n with
 * n = tanh(W_in·x + b_in + r·(W_hn·h + b_hn)) and h' = n + z·(h − n), which is (1 − z)·n + z·h.
 *
 * LSTM's projSize P (torch's proj_size, 0 = none; 0 < P < hiddenSize H) adds per layer and direction
 * weight_hr [P, H], registered after the biases as torch does (w_ih, w_hh, b_ih, b_hh, w_hr), and the
 * hidden state becomes h' = W_hr·(o·tanh(c')) of size P: weight_hh is [4H, P], the next layer reads
 * P·numDirections features, output is [T, B, D·P] and h_n [D·layers, B, P] while c stays [·, B, H].
 * Without it the step is the same ops as before (no extra op, bit for bit).
 *
 * State-dict keys are torch's (`weight_ih`, `bias_hh`, `weight_ih_l1_reverse`, ...), as BatchNorm keeps
 * `running_mean`; the cells also read them as camelCase getters (weightIh, ...). Every parameter is
 * drawn from U(−1/√hidden, 1/√hidden) in registration order (weight_hr too), as torch's reset_parameters.
 * Not here: PackedSequence inputs; LSTMCell has no projSize (nor has torch's).
 */
import { isDType, type DType } from '../../lib/core/dtype';
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../../lib/core/errors';
import { zeros } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { uniform_ } from './init';
import { Module, Parameter } from './module';
import { pyBool, pyFloat } from './repr';

type Mode = 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU';

/** Rows of W_ih per hidden unit: the gates stacked along dim 0. */
const GATES: Record<Mode, number> = { RNN_TANH: 1, RNN_RELU: 1, LSTM: 4, GRU: 3 };

interface Weights {
  wIh: Tensor;
  wHh: Tensor;
  bIh: Tensor | null;
  bHh: Tensor | null;
  /** LSTM's projection [projSize, H], or null without one. */
  wHr: Tensor | null;
}

/** The parameter names of one layer and direction (or a cell) by role; an absent bias or projection is undefined. */
interface WeightNames {
  wIh: string;
  wHh: string;
  bIh?: string;
  bHh?: string;
  wHr?: string;
}

/**
 * One step from the input projection xp = W_ih·x + b_ih [B, G·H] and the state h (and c for LSTM) [B, H]
 * (h [B, projSize] for a projected LSTM, whose h' is W_hr·(o·tanh(c'))).
 */
function step(mode: Mode, xp: Tensor, h: Tensor, c: Tensor | null, w: Weights, H: number): [Tensor, Tensor | null] {
  const hp = F.linear(h, w.wHh, w.bHh);
  const gate = (t: Tensor, k: number): Tensor => F.narrow(t, -1, k * H, H);
  switch (mode) {
    case 'RNN_TANH': return [F.tanh(F.add(xp, hp)), null];
    case 'RNN_RELU': return [F.relu(F.add(xp, hp)), null];
    case 'LSTM': {
      const g = F.add(xp, hp);
      const i = F.sigmoid(gate(g, 0));
      const f = F.sigmoid(gate(g, 1));
      const cand = F.tanh(gate(g, 2));
      const o = F.sigmoid(gate(g, 3));
      const c2 = F.add(F.mul(f, c as Tensor), F.mul(i, cand));
      const h2 = F.mul(o, F.tanh(c2));
      return [w.wHr === null ? h2 : F.linear(h2, w.wHr), c2];
    }
    case 'GRU': {
      const r = F.sigmoid(F.add(gate(xp, 0), gate(hp, 0)));
      const z = F.sigmoid(F.add(gate(xp, 1), gate(hp, 1)));
      const n = F.tanh(F.add(gate(xp, 2), F.mul(r, gate(hp, 2))));
      return [F.add(n, F.mul(z, F.sub(h, n))), null];
    }
  }
}

/**
 * x[0], x[1], ... along dim 0 as views, reached by halving (narrow) rather than by one select per
 * step: a select's gradient is a zero tensor of x's full shape with its slice filled in, so T selects
 * of a [T, B, G] projection allocated and summed T full-size gradients in the backward, O(T²). Each
 * halving level sums two gradients of its parts' size, so the backward moves O(T·log T) elements.
 */
function timeSteps(x: Tensor): Tensor[] {
  const out: Tensor[] = [];
  const split = (t: Tensor): void => {
    const n = t.shape[0];
    if (n === 1) {
      out.push(F.select(t, 0, 0));
      return;
    }
    const half = n >> 1;
    split(F.narrow(t, 0, 0, half));
    split(F.narrow(t, 0, half, n - half));
  };
  split(x);
  return out;
}

function positiveInt(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(op, `${name} must be a positive integer, got ${fmtValue(v)}`);
  return v;
}

function bool(op: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') fail(op, `${name} must be a boolean, got ${fmtValue(v)}`);
  return v;
}

function dtypeOption(op: string, v: unknown): DType {
  if (v === undefined) return 'float32';
  if (!isDType(v)) fail(op, `dtype must be 'float32' or 'float64', got ${fmtValue(v)}`);
  return v;
}

function nonlinearityOption(op: string, v: unknown): 'tanh' | 'relu' {
  if (v === undefined) return 'tanh';
  if (v !== 'tanh' && v !== 'relu') fail(op, `unknown nonlinearity ${fmtValue(v)} (expected 'tanh' or 'relu')`);
  return v;
}

/** A state tensor: a Tensor of the parameters' dtype and exactly `shape`. */
function checkState(op: string, name: string, t: unknown, shape: readonly number[], dtype: DType, why: string): Tensor {
  if (!(t instanceof Tensor)) fail(op, `${name} must be a Tensor, got ${fmtValue(t)}`);
  if (t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i])) fail(op, `expected ${name} of shape ${fmtShape(shape)} (${why}), got ${fmtShape(t.shape)}`);
  if (t.dtype !== dtype) fail(op, `${name} is ${t.dtype} but the parameters are ${dtype}; convert one with .to()`);
  return t;
}

function checkInput(op: string, x: unknown, ranks: readonly [number, number], inputSize: number, dtype: DType): Tensor {
  if (!(x instanceof Tensor)) fail(op, `input must be a Tensor, got ${fmtValue(x)}`);
  if (x.ndim !== ranks[0] && x.ndim !== ranks[1]) fail(op, `expected input to be ${ranks[0]}-D or ${ranks[1]}-D but received a ${x.ndim}-D tensor of shape ${fmtShape(x.shape)}`);
  if (x.shape[x.ndim - 1] !== inputSize) fail(op, `input has ${x.shape[x.ndim - 1]} features but inputSize is ${inputSize} (input shape ${fmtShape(x.shape)})`);
  if (x.dtype !== dtype) fail(op, `input is ${x.dtype} but the parameters are ${dtype}; convert one with .to()`);
  return x;
}

/** The parameters registered as `names`; an absent bias is null, an absent weight (or a named projection) an error. */
function readWeights(op: string, params: Map<string, Parameter | null>, names: WeightNames): Weights {
  const get = (name: string | undefined): Tensor | null => (name === undefined ? null : params.get(name) ?? null);
  const wIh = get(names.wIh);
  const wHh = get(names.wHh);
  if (!wIh || !wHh) fail(op, `${wIh ? names.wHh : names.wIh} is not set (null); a recurrent layer needs both weights`);
  const wHr = get(names.wHr);
  if (names.wHr !== undefined && !wHr) fail(op, `${names.wHr} is not set (null); an LSTM with projSize > 0 needs it`);
  return { wIh, wHh, bIh: get(names.bIh), bHh: get(names.bHh), wHr };
}

interface CellOptions {
  bias?: boolean;
  dtype?: DType;
}

/** What the three cells share: torch's RNNCellBase (parameters, init, input and state checks). */
abstract class CellBase extends Module {
  readonly bias: boolean;
  protected abstract readonly mode: Mode;

  constructor(readonly inputSize: number, readonly hiddenSize: number, gates: number, options: CellOptions & { nonlinearity?: unknown }, keys: readonly string[]) {
    super();
    const op = this.constructor.name;
    checkKnownKeys(op, options, keys);
    positiveInt(op, 'inputSize', inputSize);
    positiveInt(op, 'hiddenSize', hiddenSize);
    this.bias = bool(op, 'bias', options.bias, true);
    const dtype = dtypeOption(op, options.dtype);
    const p = (...shape: number[]): Parameter => new Parameter(Tensor.empty(shape, dtype));
    this.registerParameter('weight_ih', p(gates * hiddenSize, inputSize));
    this.registerParameter('weight_hh', p(gates * hiddenSize, hiddenSize));
    this.registerParameter('bias_ih', this.bias ? p(gates * hiddenSize) : null);
    this.registerParameter('bias_hh', this.bias ? p(gates * hiddenSize) : null);
    const stdv = 1 / Math.sqrt(hiddenSize);
    for (const w of this.parameters()) uniform_(w, -stdv, stdv);
  }

  private param(name: string): Parameter | null {
    return new Map(this.registeredParameterEntries()).get(name) ?? null;
  }

  /** torch's weight_ih: [gates·hiddenSize, inputSize]. */
  get weightIh(): Parameter | null { return this.param('weight_ih'); }
  get weightHh(): Parameter | null { return this.param('weight_hh'); }
  get biasIh(): Parameter | null { return this.param('bias_ih'); }
  get biasHh(): Parameter | null { return this.param('bias_hh'); }

  private get dtype(): DType {
    return (this.weightIh ?? this.weightHh)?.dtype ?? 'float32';
  }

  /**
   * One step on x [B, inputSize] or an unbatched [inputSize], with the given states (zeros when
   * omitted) of shape [B, hiddenSize] or [hiddenSize]; the results have the input's batching.
   */
  protected run(x: unknown, states: readonly unknown[] | null, names: readonly string[]): [Tensor, Tensor | null] {
    const op = this.constructor.name;
    const input = checkInput(op, x, [1, 2], this.inputSize, this.dtype);
    const batched = input.ndim === 2;
    const shape = batched ? [input.shape[0], this.hiddenSize] : [this.hiddenSize];
    const why = batched ? `batch ${input.shape[0]}, hiddenSize ${this.hiddenSize}` : `unbatched input, hiddenSize ${this.hiddenSize}`;
    const given = names.map((name, i) => (states === null ? zeros(shape, { dtype: this.dtype }) : checkState(op, name, states[i], shape, this.dtype, why)));
    const b = (t: Tensor): Tensor => (batched ? t : F.unsqueeze(t, 0));
    const w = readWeights(op, new Map(this.registeredParameterEntries()), { wIh: 'weight_ih', wHh: 'weight_hh', bIh: 'bias_ih', bHh: 'bias_hh' });
    const [h, c] = step(this.mode, F.linear(b(input), w.wIh, w.bIh), b(given[0]), given.length > 1 ? b(given[1]) : null, w, this.hiddenSize);
    const u = (t: Tensor): Tensor => (batched ? t : F.squeeze(t, 0));
    return [u(h), c === null ? null : u(c)];
  }

  override extraRepr(): string {
    return `${this.inputSize}, ${this.hiddenSize}${this.bias ? '' : `, bias=${pyBool(false)}`}`;
  }
}

/** torch.nn.RNNCell: h' = act(W_ih·x + b_ih + W_hh·h + b_hh), act tanh (the default) or relu. */
export class RNNCell extends CellBase {
  readonly nonlinearity: 'tanh' | 'relu';
  protected readonly mode: Mode;

  constructor(inputSize: number, hiddenSize: number, options: CellOptions & { nonlinearity?: 'tanh' | 'relu' } = {}) {
    super(inputSize, hiddenSize, 1, options, ['bias', 'nonlinearity', 'dtype']);
    this.nonlinearity = nonlinearityOption('RNNCell', options.nonlinearity);
    this.mode = this.nonlinearity === 'tanh' ? 'RNN_TANH' : 'RNN_RELU';
  }

  /** h' from x [B, inputSize] (or [inputSize]) and h [B, hiddenSize] (or [hiddenSize]; zeros when omitted). */
  forward(input: Tensor, hx?: Tensor | null): Tensor {
    return this.run(input, hx == null ? null : [hx], ['hx'])[0];
  }

  override extraRepr(): string {
    return super.extraRepr() + (this.nonlinearity === 'tanh' ? '' : `, nonlinearity=${this.nonlinearity}`);
  }
}

/** torch.nn.LSTMCell: gates i, f, g, o stacked in W_ih [4·hidden, input]; returns [h', c']. */
export class LSTMCell extends CellBase {
  protected readonly mode: Mode = 'LSTM';

  constructor(inputSize: number, hiddenSize: number, options: CellOptions = {}) {
    super(inputSize, hiddenSize, 4, options, ['bias', 'dtype']);
  }

  /** [h', c'] from x and hx = [h, c] (zeros when omitted), each [B, hiddenSize] or unbatched [hiddenSize]. */
  forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null): [Tensor, Tensor] {
    if (hx != null && (!Array.isArray(hx) || hx.length !== 2)) fail('LSTMCell', `hx must be an array [h, c] of two tensors, got ${fmtValue(hx)}`);
    const [h, c] = this.run(input, hx ?? null, ['hx[0]', 'hx[1]']);
    return [h, c as Tensor];
  }
}

/** torch.nn.GRUCell: gates r, z, n stacked in W_ih [3·hidden, input]; returns h'. */
export class GRUCell extends CellBase {
  protected readonly mode: Mode = 'GRU';

  constructor(inputSize: number, hiddenSize: number, options: CellOptions = {}) {
    super(inputSize, hiddenSize, 3, options, ['bias', 'dtype']);
  }

  /** h' from x [B, inputSize] (or [inputSize]) and h [B, hiddenSize] (or [hiddenSize]; zeros when omitted). */
  forward(input: Tensor, hx?: Tensor | null): Tensor {
    return this.run(input, hx == null ? null : [hx], ['hx'])[0];
  }
}

export interface RNNBaseOptions {
  /** Stacked layers, each reading the previous one's output (1). */
  numLayers?: number;
  bias?: boolean;
  /** Input and output as [batch, seq, feature] instead of [seq, batch, feature]; the states keep [layers·dirs, batch, hidden]. */
  batchFirst?: boolean;
  /** Dropout on the output of every layer but the last, in train mode only (0). */
  dropout?: number;
  bidirectional?: boolean;
  dtype?: DType;
}

export interface RNNOptions extends RNNBaseOptions {
  nonlinearity?: 'tanh' | 'relu';
}

export interface LSTMOptions extends RNNBaseOptions {
  /** Size of the projected hidden state h (torch's proj_size): 0 (the default) for none, else below hiddenSize. */
  projSize?: number;
}

/** What the three layers share: torch's RNNBase (parameters per layer and direction, the stacked, bidirectional run). */
abstract class RNNBase extends Module {
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;
  /** torch's proj_size: the size of h when > 0 (LSTM only; always 0 for RNN and GRU). */
  readonly projSize: number;
  /** Per layer and direction (index layer·numDirections + direction), the parameter names in torch's order. */
  private readonly weightNames: string[][] = [];
  /** The same names by role, for the run. */
  private readonly weightRoles: WeightNames[] = [];

  constructor(protected readonly mode: Mode, readonly inputSize: number, readonly hiddenSize: number, options: LSTMOptions, keys: readonly string[]) {
    super();
    const op = this.constructor.name;
    if (mode !== 'LSTM' && options !== null && typeof options === 'object' && 'projSize' in options) {
      fail(op, 'projSize is only supported for LSTM, not RNN or GRU');
    }
    checkKnownKeys(op, options, keys);
    positiveInt(op, 'inputSize', inputSize);
    positiveInt(op, 'hiddenSize', hiddenSize);
    this.numLayers = positiveInt(op, 'numLayers', options.numLayers ?? 1);
    this.bias = bool(op, 'bias', options.bias, true);
    this.batchFirst = bool(op, 'batchFirst', options.batchFirst, false);
    this.bidirectional = bool(op, 'bidirectional', options.bidirectional, false);
    const dropout = options.dropout ?? 0;
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1)) {
      fail(op, `dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got ${fmtValue(dropout)}`);
    }
    this.dropout = dropout;
    const projSize = options.projSize ?? 0;
    if (typeof projSize !== 'number' || !Number.isInteger(projSize) || projSize < 0) {
      fail(op, `projSize should be a positive integer or zero to disable projections, got ${fmtValue(projSize)}`);
    }
    if (projSize >= hiddenSize) fail(op, `projSize has to be smaller than hiddenSize, got projSize ${projSize} and hiddenSize ${hiddenSize}`);
    this.projSize = projSize;
    const dtype = dtypeOption(op, options.dtype);
    const G = GATES[mode] * hiddenSize;
    const realHidden = projSize > 0 ? projSize : hiddenSize;
    const dirs = this.numDirections;
    for (let layer = 0; layer < this.numLayers; layer++) {
      const layerInput = layer === 0 ? inputSize : realHidden * dirs;
      for (let dir = 0; dir < dirs; dir++) {
        const sfx = `_l${layer}${dir === 1 ? '_reverse' : ''}`;
        // torch's order: w_ih, w_hh, b_ih, b_hh, w_hr
        const roles: [keyof WeightNames, string, number[]][] = [['wIh', 'weight_ih', [G, layerInput]], ['wHh', 'weight_hh', [G, realHidden]]];
        if (this.bias) roles.push(['bIh', 'bias_ih', [G]], ['bHh', 'bias_hh', [G]]);
        if (projSize > 0) roles.push(['wHr', 'weight_hr', [projSize, hiddenSize]]);
        const named = { wIh: '', wHh: '' } as WeightNames;
        for (const [role, base, shape] of roles) {
          named[role] = base + sfx;
          this.registerParameter(base + sfx, new Parameter(Tensor.empty(shape, dtype)));
        }
        this.weightNames.push(roles.map(([, base]) => base + sfx));
        this.weightRoles.push(named);
      }
    }
    const stdv = 1 / Math.sqrt(hiddenSize);
    for (const w of this.parameters()) uniform_(w, -stdv, stdv);
  }

  get numDirections(): number {
    return this.bidirectional ? 2 : 1;
  }

  /** torch's all_weights: per layer and direction, [w_ih, w_hh, b_ih, b_hh, w_hr] (the biases only with bias, w_hr only with projSize). */
  get allWeights(): (Parameter | null)[][] {
    const params = new Map(this.registeredParameterEntries());
    return this.weightNames.map((names) => names.map((n) => params.get(n) ?? null));
  }

  /**
   * The whole run: input [T, B, inputSize] ([B, T, inputSize] with batchFirst) or an unbatched
   * [T, inputSize], states [numLayers·numDirections, B, hiddenSize] (unbatched: without B; zeros when
   * omitted; h has projSize in place of hiddenSize when projSize > 0). Returns the last layer's output
   * [T, B, numDirections·(projSize || hiddenSize)] (batchFirst: [B, T, …]) and the final states, in
   * the input's batching.
   */
  protected run(x: unknown, states: readonly unknown[] | null, names: readonly string[]): [Tensor, Tensor[]] {
    const op = this.constructor.name;
    const params = new Map(this.registeredParameterEntries());
    const w0 = params.get(this.weightRoles[0].wIh);
    const dtype = w0 ? w0.dtype : 'float32';
    let input = checkInput(op, x, [2, 3], this.inputSize, dtype);
    const batched = input.ndim === 3;
    const batchDim = this.batchFirst ? 0 : 1;
    if (!batched) input = F.unsqueeze(input, batchDim);
    if (this.batchFirst) input = F.transpose(input, 0, 1);
    const [T, B] = input.shape;
    if (T === 0) fail(op, `expected a sequence length larger than 0, got input of shape ${fmtShape((x as Tensor).shape)}`);
    const LD = this.numLayers * this.numDirections;
    const H = this.hiddenSize;
    const P = this.projSize;
    // state k's last dimension: h (k = 0) has projSize when projecting; c always hiddenSize
    const size = (k: number): number => (k === 0 && P > 0 ? P : H);
    const given = names.map((name, i) => {
      if (states === null) return null;
      const n = size(i);
      const why = `numLayers·numDirections ${LD}${batched ? `, batch ${B}` : ''}, ${n === P ? `projSize ${P}` : `hiddenSize ${H}`}`;
      const s = checkState(op, name, states[i], batched ? [LD, B, n] : [LD, n], dtype, why);
      return batched ? s : F.unsqueeze(s, 1);
    });
    const init = (k: number, idx: number): Tensor => {
      const s = given[k];
      return s === null ? zeros([B, size(k)], { dtype }) : F.select(s, 0, idx);
    };
    const finals: Tensor[][] = names.map(() => []);
    let layerInput = input;
    for (let layer = 0; layer < this.numLayers; layer++) {
      const outs: Tensor[] = [];
      for (let dir = 0; dir < this.numDirections; dir++) {
        const idx = layer * this.numDirections + dir;
        const w = readWeights(op, params, this.weightRoles[idx]);
        const xp = timeSteps(F.linear(layerInput, w.wIh, w.bIh));
        let h = init(0, idx);
        let c = names.length > 1 ? init(1, idx) : null;
        const seq = new Array<Tensor>(T);
        for (let s = 0; s < T; s++) {
          const t = dir === 1 ? T - 1 - s : s;
          [h, c] = step(this.mode, xp[t], h, c, w, H);
          seq[t] = h;
        }
        outs.push(F.stack(seq, 0));
        finals[0].push(h);
        if (c !== null) finals[1].push(c);
      }
      layerInput = outs.length === 1 ? outs[0] : F.cat(outs, 2);
      if (layer < this.numLayers - 1 && this.dropout > 0 && this.training) layerInput = F.dropout(layerInput, this.dropout, true);
    }
    let output = this.batchFirst ? F.contiguous(F.transpose(layerInput, 0, 1)) : layerInput;
    if (!batched) output = F.squeeze(output, batchDim);
    const finalStates = finals.map((f) => {
      const s = F.stack(f, 0);
      return batched ? s : F.squeeze(s, 1);
    });
    return [output, finalStates];
  }

  override extraRepr(): string {
    let s = `${this.inputSize}, ${this.hiddenSize}`;
    if (this.projSize !== 0) s += `, proj_size=${this.projSize}`;
    if (this.numLayers !== 1) s += `, num_layers=${this.numLayers}`;
    if (!this.bias) s += `, bias=${pyBool(false)}`;
    if (this.batchFirst) s += `, batch_first=${pyBool(true)}`;
    if (this.dropout !== 0) s += `, dropout=${pyFloat(this.dropout)}`;
    if (this.bidirectional) s += `, bidirectional=${pyBool(true)}`;
    return s;
  }
}

/** torch.nn.RNN: a stack of tanh (or relu) RNN layers; forward returns [output, hN]. */
export class RNN extends RNNBase {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(inputSize: number, hiddenSize: number, options: RNNOptions = {}) {
    const nonlinearity = nonlinearityOption('RNN', (options as { nonlinearity?: unknown } | null)?.nonlinearity);
    super(nonlinearity === 'tanh' ? 'RNN_TANH' : 'RNN_RELU', inputSize, hiddenSize, options, ['numLayers', 'nonlinearity', 'bias', 'batchFirst', 'dropout', 'bidirectional', 'dtype']);
    this.nonlinearity = nonlinearity;
  }

  /** [output, hN]: output [T, B, D·hiddenSize] ([B, T, …] with batchFirst), hN [numLayers·D, B, hiddenSize]; hx likewise (zeros when omitted). */
  forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor] {
    const [output, [hN]] = this.run(input, hx == null ? null : [hx], ['hx']);
    return [output, hN];
  }
}

/** torch.nn.LSTM: gates i, f, g, o, optionally projected (projSize); forward returns [output, [hN, cN]]. */
export class LSTM extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, options: LSTMOptions = {}) {
    super('LSTM', inputSize, hiddenSize, options, ['numLayers', 'bias', 'batchFirst', 'dropout', 'bidirectional', 'projSize', 'dtype']);
  }

  /**
   * [output, [hN, cN]] from input and hx = [h0, c0] (zeros when omitted): h0 and hN [numLayers·D, B, projSize || hiddenSize],
   * c0 and cN [numLayers·D, B, hiddenSize], output [T, B, D·(projSize || hiddenSize)].
   */
  forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]] {
    if (hx != null && (!Array.isArray(hx) || hx.length !== 2)) fail('LSTM', `hx must be an array [h0, c0] of two tensors, got ${fmtValue(hx)}`);
    const [output, [hN, cN]] = this.run(input, hx ?? null, ['hx[0]', 'hx[1]']);
    return [output, [hN, cN]];
  }
}

/** torch.nn.GRU: gates r, z, n; forward returns [output, hN]. */
export class GRU extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, options: RNNBaseOptions = {}) {
    super('GRU', inputSize, hiddenSize, options, ['numLayers', 'bias', 'batchFirst', 'dropout', 'bidirectional', 'dtype']);
  }

  /** [output, hN], shapes as RNN's. */
  forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor] {
    const [output, [hN]] = this.run(input, hx == null ? null : [hx], ['hx']);
    return [output, hN];
  }
}
