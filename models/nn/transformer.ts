/**
 * Attention layers as torch.nn 1.13 has them: MultiheadAttention, TransformerEncoderLayer,
 * TransformerEncoder, TransformerDecoderLayer and TransformerDecoder (and nn.Transformer's
 * generate_square_subsequent_mask as generateSquareSubsequentMask), following torch's Python path
 * (F.multi_head_attention_forward and _scaled_dot_product_attention), not its fused inference kernel.
 *
 * Everything is a composite of ops the tape already differentiates (linear, reshape, transpose,
 * matmul with batch broadcasting, softmax, dropout, maskedFill, layerNorm), so the gradients need no
 * table op of their own. Per head: softmax(Q·Kᵀ/√d + mask)·V, Q divided by √d before the product as
 * torch does; heads are folded into the batch ([B·heads, L, d]) so one batched matmul runs them all.
 *
 * Masks. There is no bool dtype here, so a mask holding 0 and 1 is ambiguous between torch's bool
 * mask (1 = masked out, −∞ added) and a float mask (its values added). keyPaddingMask is always a
 * bool mask; attnMask is one by default (attnMaskType 'bool'), and holding anything but 0 and 1 is
 * then an error that points at attnMaskType: 'float' (TransformerEncoderLayer's srcMaskType,
 * TransformerEncoder's maskType, the decoder's tgtMaskType and memoryMaskType, which check their masks under their own names), under which the
 * mask is added as it is (and is differentiable). Not here: addBiasKv, addZeroAttn, float key padding masks, and the fused
 * inference fast path's nested tensors (torch 1.13's TransformerEncoder in eval mode without grad
 * returns zeros at padded positions; this one returns what the Python path computes there).
 */
import { isDType, type DType } from '../../lib/core/dtype';
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { ModuleList } from './container';
import { Dropout } from './dropout';
import { constant_, xavierUniform_ } from './init';
import { Linear } from './linear';
import { Module, Parameter } from './module';
import { LayerNorm } from './normalization';

/** torch's out_proj class: a Linear under another name (it only matters to torch's quantisation), so prints match. */
export class NonDynamicallyQuantizableLinear extends Linear {}

export type MaskType = 'bool' | 'float';

export interface MultiheadAttentionOptions {
  /** Dropout on the attention weights, in train mode only (0). */
  dropout?: number;
  /** in_proj_bias and out_proj.bias (true). */
  bias?: boolean;
  /** Key features (embedDim); a kdim or vdim other than embedDim gives separate q/k/v projection weights. */
  kdim?: number;
  vdim?: number;
  /** Inputs and output as [batch, seq, feature] instead of [seq, batch, feature]. */
  batchFirst?: boolean;
  /** Only false: torch's bias_k/bias_v and zero attention are not implemented. */
  addBiasKv?: boolean;
  addZeroAttn?: boolean;
  dtype?: DType;
}

export interface MultiheadAttentionForwardOptions {
  /** [B, S] (unbatched: [S]) of 0/1, 1 = this key is padding and is ignored. */
  keyPaddingMask?: Tensor | null;
  /** [L, S] or [B·numHeads, L, S] (unbatched: [numHeads, L, S]); see attnMaskType. */
  attnMask?: Tensor | null;
  /** 'bool' (the default): attnMask holds 0/1, 1 = masked out (−∞ added); 'float': attnMask is added. */
  attnMaskType?: MaskType;
  /** Also return the attention weights (true). */
  needWeights?: boolean;
  /** Average the weights over the heads ([B, L, S]) instead of one per head ([B, numHeads, L, S]) (true). */
  averageAttnWeights?: boolean;
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

function probability(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(op, `${name} must be a probability in [0, 1], got ${fmtValue(v)}`);
  return v;
}

function dtypeOption(op: string, v: unknown): DType {
  if (v === undefined) return 'float32';
  if (!isDType(v)) fail(op, `dtype must be 'float32' or 'float64', got ${fmtValue(v)}`);
  return v;
}

function maskTypeOption(op: string, name: string, v: unknown): MaskType {
  if (v === undefined) return 'bool';
  if (v !== 'bool' && v !== 'float') fail(op, `${name} must be 'bool' or 'float', got ${fmtValue(v)}`);
  return v;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function notBoolMask(op: string, name: string, mask: Tensor, i: number, v: number, hint: string): never {
  return fail(op, `${name} is a bool mask and must hold only 0 and 1 (1 = masked out), but element ${i} (row-major) of its shape ${fmtShape(mask.shape)} is ${v}${hint}`);
}

/** A bool mask as an additive one of `dtype`: 0 where it holds 0, −∞ where 1; anything else is an error. */
function boolToAdditive(op: string, name: string, mask: Tensor, dtype: DType, hint: string): Tensor {
  const m = mask.data;
  const out = Tensor.empty(mask.shape, dtype);
  const o = out.storage;
  for (let i = 0; i < m.length; i++) {
    if (m[i] !== 0 && m[i] !== 1) notBoolMask(op, name, mask, i, m[i], hint);
    o[i] = m[i] === 1 ? -Infinity : 0;
  }
  return out;
}

/**
 * The encoder's and its layer's own check of a mask argument (a Tensor or null, and 0/1 when read as a
 * bool mask), so an error names the option the caller passed (mask, srcMask) rather than attnMask.
 */
function checkMaskOption(op: string, name: string, mask: unknown, isBool: boolean, hint: string): void {
  if (mask === undefined || mask === null) return;
  if (!(mask instanceof Tensor)) fail(op, `${name} must be a Tensor or null, got ${fmtValue(mask)}`);
  if (!isBool) return;
  const m = mask.data;
  for (let i = 0; i < m.length; i++) if (m[i] !== 0 && m[i] !== 1) notBoolMask(op, name, mask, i, m[i], hint);
}

/** torch.nn.MultiheadAttention (1.13): forward(query, key, value, options) returns [output, weights | null]. */
export class MultiheadAttention extends Module {
  readonly kdim: number;
  readonly vdim: number;
  readonly headDim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  /** kdim and vdim equal embedDim: one packed in_proj_weight [3·E, E] (torch's _qkv_same_embed_dim). */
  readonly qkvSameEmbedDim: boolean;

  constructor(readonly embedDim: number, readonly numHeads: number, options: MultiheadAttentionOptions = {}) {
    super();
    const op = 'MultiheadAttention';
    checkKnownKeys(op, options, ['dropout', 'bias', 'kdim', 'vdim', 'batchFirst', 'addBiasKv', 'addZeroAttn', 'dtype']);
    positiveInt(op, 'embedDim', embedDim);
    positiveInt(op, 'numHeads', numHeads);
    this.kdim = options.kdim == null ? embedDim : positiveInt(op, 'kdim', options.kdim);
    this.vdim = options.vdim == null ? embedDim : positiveInt(op, 'vdim', options.vdim);
    this.qkvSameEmbedDim = this.kdim === embedDim && this.vdim === embedDim;
    this.dropout = probability(op, 'dropout', options.dropout ?? 0);
    this.batchFirst = bool(op, 'batchFirst', options.batchFirst, false);
    const bias = bool(op, 'bias', options.bias, true);
    if (bool(op, 'addBiasKv', options.addBiasKv, false)) fail(op, 'addBiasKv is not supported (torch\'s bias_k/bias_v); only false');
    if (bool(op, 'addZeroAttn', options.addZeroAttn, false)) fail(op, 'addZeroAttn is not supported; only false');
    const dtype = dtypeOption(op, options.dtype);
    this.headDim = Math.floor(embedDim / numHeads);
    if (this.headDim * numHeads !== embedDim) fail(op, `embedDim must be divisible by numHeads, got embedDim ${embedDim} and numHeads ${numHeads}`);
    const E = embedDim;
    const p = (...shape: number[]): Parameter => new Parameter(Tensor.empty(shape, dtype));
    // torch's registration order, so stateDict() lists the keys as torch's state_dict() does.
    if (this.qkvSameEmbedDim) {
      this.registerParameter('in_proj_weight', p(3 * E, E));
      this.registerParameter('q_proj_weight', null);
      this.registerParameter('k_proj_weight', null);
      this.registerParameter('v_proj_weight', null);
    } else {
      this.registerParameter('q_proj_weight', p(E, E));
      this.registerParameter('k_proj_weight', p(E, this.kdim));
      this.registerParameter('v_proj_weight', p(E, this.vdim));
      this.registerParameter('in_proj_weight', null);
    }
    this.registerParameter('in_proj_bias', bias ? p(3 * E) : null);
    // out_proj draws its Linear init here, before the xavier draws below, as in torch's constructor.
    const outProj = this.registerModule('out_proj', new NonDynamicallyQuantizableLinear(E, E, { bias, dtype }));
    // torch's _reset_parameters.
    if (this.qkvSameEmbedDim) xavierUniform_(this.param('in_proj_weight') as Parameter);
    else for (const n of ['q_proj_weight', 'k_proj_weight', 'v_proj_weight']) xavierUniform_(this.param(n) as Parameter);
    const inBias = this.param('in_proj_bias');
    if (inBias) {
      constant_(inBias, 0);
      if (outProj.bias) constant_(outProj.bias, 0);
    }
  }

  private param(name: string): Parameter | null {
    return new Map(this.registeredParameterEntries()).get(name) ?? null;
  }

  /** torch's in_proj_weight [3·embedDim, embedDim] (null with separate weights). */
  get inProjWeight(): Parameter | null { return this.param('in_proj_weight'); }
  get inProjBias(): Parameter | null { return this.param('in_proj_bias'); }
  /** torch's q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight [E, vdim] (null when packed). */
  get qProjWeight(): Parameter | null { return this.param('q_proj_weight'); }
  get kProjWeight(): Parameter | null { return this.param('k_proj_weight'); }
  get vProjWeight(): Parameter | null { return this.param('v_proj_weight'); }
  /** torch's out_proj. */
  get outProj(): Linear { return this.getModule('out_proj') as Linear; }

  /**
   * query [L, B, E], key [S, B, kdim], value [S, B, vdim] ([B, ·, ·] with batchFirst), or unbatched
   * [L, E], [S, kdim], [S, vdim]. Returns [output [L, B, E] (batchFirst [B, L, E]; unbatched [L, E]),
   * weights [B, L, S] averaged over heads or [B, numHeads, L, S] (unbatched without B), or null when
   * needWeights is false]. The weights are those after dropout, as torch 1.13 returns them.
   */
  forward(query: Tensor, key: Tensor, value: Tensor, options: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const op = 'MultiheadAttention';
    checkKnownKeys(op, options, ['keyPaddingMask', 'attnMask', 'attnMaskType', 'needWeights', 'averageAttnWeights']);
    const needWeights = bool(op, 'needWeights', options.needWeights, true);
    const average = bool(op, 'averageAttnWeights', options.averageAttnWeights, true);
    const maskType = maskTypeOption(op, 'attnMaskType', options.attnMaskType);
    const E = this.embedDim;
    const H = this.numHeads;
    const d = this.headDim;
    const inW = this.param('in_proj_weight');
    const inB = this.param('in_proj_bias');
    const wq = this.param('q_proj_weight');
    const dtype = (inW ?? wq)?.dtype ?? 'float32';
    for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
      if (!(t instanceof Tensor)) fail(op, `${name} must be a Tensor, got ${fmtValue(t)}`);
      if (t.dtype !== dtype) fail(op, `${name} is ${t.dtype} but the parameters are ${dtype}; convert one with .to()`);
    }
    let kpm = options.keyPaddingMask ?? null;
    let attnMask = options.attnMask ?? null;
    if (kpm !== null && !(kpm instanceof Tensor)) fail(op, `keyPaddingMask must be a Tensor or null, got ${fmtValue(kpm)}`);
    if (attnMask !== null && !(attnMask instanceof Tensor)) fail(op, `attnMask must be a Tensor or null, got ${fmtValue(attnMask)}`);

    // torch's _mha_shape_check: ranks decide batched or not.
    const shapes = `query ${fmtShape(query.shape)}, key ${fmtShape(key.shape)}, value ${fmtShape(value.shape)}`;
    let batched: boolean;
    if (query.ndim === 3) {
      batched = true;
      if (key.ndim !== 3 || value.ndim !== 3) fail(op, `for a batched (3-D) query, expected key and value to be 3-D but got ${shapes}`);
      if (kpm && kpm.ndim !== 2) fail(op, `for a batched (3-D) query, expected keyPaddingMask to be null or 2-D [batch, source length] but got shape ${fmtShape(kpm.shape)}`);
    } else if (query.ndim === 2) {
      batched = false;
      if (key.ndim !== 2 || value.ndim !== 2) fail(op, `for an unbatched (2-D) query, expected key and value to be 2-D but got ${shapes}`);
      if (kpm && kpm.ndim !== 1) fail(op, `for an unbatched (2-D) query, expected keyPaddingMask to be null or 1-D [source length] but got shape ${fmtShape(kpm.shape)}`);
    } else {
      fail(op, `query should be an unbatched 2-D or batched 3-D tensor but got a ${query.ndim}-D tensor of shape ${fmtShape(query.shape)}`);
    }
    if (attnMask && attnMask.ndim !== 2 && attnMask.ndim !== 3) fail(op, `expected attnMask to be null, 2-D or 3-D but got shape ${fmtShape(attnMask.shape)}`);

    let q = query;
    let k = key;
    let v = value;
    const selfAttention = q === k && k === v;
    if (!batched) {
      q = F.unsqueeze(q, 1);
      k = F.unsqueeze(k, 1);
      v = F.unsqueeze(v, 1);
      if (kpm) kpm = F.unsqueeze(kpm, 0);
    } else if (this.batchFirst) {
      q = F.transpose(q, 0, 1);
      k = F.transpose(k, 0, 1);
      v = F.transpose(v, 0, 1);
    }
    const [L, B] = q.shape;
    const S = k.shape[0];
    if (q.shape[2] !== E) fail(op, `expected query's embedding dimension ${E} (embedDim), but got ${q.shape[2]} (${shapes})`);
    if (k.shape[2] !== this.kdim) fail(op, `expected key's feature dimension ${this.kdim} (kdim), but got ${k.shape[2]} (${shapes})`);
    if (v.shape[2] !== this.vdim) fail(op, `expected value's feature dimension ${this.vdim} (vdim), but got ${v.shape[2]} (${shapes})`);
    if (k.shape[0] !== v.shape[0] || k.shape[1] !== v.shape[1]) fail(op, `key's sequence and batch dims do not match value's (${shapes})`);
    if (k.shape[1] !== B) fail(op, `key and value have batch size ${k.shape[1]} but query has ${B} (${shapes})`);

    // In-projection (torch's _in_projection_packed / _in_projection).
    const bq = inB ? F.narrow(inB, 0, 0, E) : null;
    const bk = inB ? F.narrow(inB, 0, E, E) : null;
    const bv = inB ? F.narrow(inB, 0, 2 * E, E) : null;
    let qp: Tensor;
    let kp: Tensor;
    let vp: Tensor;
    if (this.qkvSameEmbedDim) {
      if (!inW) fail(op, 'in_proj_weight is not set (null), but kdim and vdim equal embedDim');
      if (selfAttention) {
        [qp, kp, vp] = F.chunk(F.linear(q, inW, inB), 3, -1);
      } else {
        qp = F.linear(q, F.narrow(inW, 0, 0, E), bq);
        kp = F.linear(k, F.narrow(inW, 0, E, E), bk);
        vp = F.linear(v, F.narrow(inW, 0, 2 * E, E), bv);
      }
    } else {
      const wk = this.param('k_proj_weight');
      const wv = this.param('v_proj_weight');
      if (!wq || !wk || !wv) fail(op, 'q_proj_weight, k_proj_weight and v_proj_weight must all be set when kdim or vdim differs from embedDim');
      qp = F.linear(q, wq, bq);
      kp = F.linear(k, wk, bk);
      vp = F.linear(v, wv, bv);
    }

    // Masks, merged into one additive mask of [1 or B·H, L, S].
    const BH = B * H;
    let mask: Tensor | null = null;
    if (attnMask) {
      const expected = attnMask.ndim === 2 ? [L, S] : batched ? [BH, L, S] : [H, L, S];
      const what = attnMask.ndim === 2 ? '[L, S]' : batched ? '[batch·numHeads, L, S]' : '[numHeads, L, S]';
      if (!sameShape(attnMask.shape, expected)) fail(op, `the shape of the ${attnMask.ndim}-D attnMask is ${fmtShape(attnMask.shape)}, but should be ${fmtShape(expected)} (${what})`);
      if (maskType === 'bool') {
        mask = boolToAdditive(op, 'attnMask', attnMask, dtype, "; for a float mask that is added, pass attnMaskType: 'float'");
      } else {
        if (attnMask.dtype !== dtype) fail(op, `attnMask is ${attnMask.dtype} but the query is ${dtype}; convert one with .to()`);
        mask = attnMask;
      }
      if (mask.ndim === 2) mask = F.unsqueeze(mask, 0);
    }
    if (kpm) {
      if (!sameShape(kpm.shape, [B, S])) {
        fail(op, `expected keyPaddingMask of shape ${fmtShape(batched ? [B, S] : [S])} (${batched ? 'batch, ' : ''}source length), but got ${fmtShape((options.keyPaddingMask as Tensor).shape)}`);
      }
      const additive = boolToAdditive(op, 'keyPaddingMask', kpm, dtype, '');
      // [B, S] → [B·H, 1, S], each batch row repeated for its heads.
      const perHead = (t: Tensor): Tensor => F.reshape(F.expand(F.reshape(t, [B, 1, 1, S]), [B, H, 1, S]), [BH, 1, S]);
      // Alone it is the mask; with attnMask, torch fills −∞ into attnMask where a key is padding.
      mask = mask === null ? perHead(additive) : F.maskedFill(mask, perHead(kpm.detach()), -Infinity);
    }

    // [L, B, E] → [B·H, L, d]: the heads folded into the batch, as torch's view + transpose.
    const heads = (t: Tensor, len: number): Tensor => F.transpose(F.reshape(t, [len, BH, d]), 0, 1);
    const qh = F.div(heads(qp, L), Math.sqrt(d));
    const kh = heads(kp, S);
    const vh = heads(vp, S);
    let scores = F.matmul(qh, F.transpose(kh, 1, 2));
    if (mask) scores = F.add(scores, mask);
    let attn = F.softmax(scores, -1);
    if (this.training && this.dropout > 0) attn = F.dropout(attn, this.dropout, true);
    const ctx = F.reshape(F.transpose(F.matmul(attn, vh), 0, 1), [L, B, E]);
    const outProj = this.outProj;
    let out = F.linear(ctx, outProj.weight, outProj.bias);
    if (!batched) out = F.squeeze(out, 1);
    else if (this.batchFirst) out = F.transpose(out, 0, 1);
    if (!needWeights) return [out, null];
    let w = F.reshape(attn, [B, H, L, S]);
    if (average) w = F.div(F.sum(w, 1), H);
    if (!batched) w = F.squeeze(w, 0);
    return [out, w];
  }
}

/** The options of a TransformerEncoderLayer or TransformerDecoderLayer, checked and with torch's defaults. */
function layerOptions(op: string, dModel: number, nhead: number, options: TransformerEncoderLayerOptions): {
  ff: number; p: number; activation: 'relu' | 'gelu'; eps: number; batchFirst: boolean; normFirst: boolean; dtype: DType;
} {
  checkKnownKeys(op, options, ['dimFeedforward', 'dropout', 'activation', 'layerNormEps', 'batchFirst', 'normFirst', 'dtype']);
  positiveInt(op, 'dModel', dModel);
  positiveInt(op, 'nhead', nhead);
  const ff = positiveInt(op, 'dimFeedforward', options.dimFeedforward ?? 2048);
  const p = probability(op, 'dropout', options.dropout ?? 0.1);
  const activation = options.activation ?? 'relu';
  if (activation !== 'relu' && activation !== 'gelu') fail(op, `activation should be 'relu' or 'gelu', not ${fmtValue(activation)}`);
  const eps = options.layerNormEps ?? 1e-5;
  if (typeof eps !== 'number' || !(eps >= 0) || eps === Infinity) fail(op, `layerNormEps must be a finite non-negative number, got ${fmtValue(eps)}`);
  const batchFirst = bool(op, 'batchFirst', options.batchFirst, false);
  const normFirst = bool(op, 'normFirst', options.normFirst, false);
  const dtype = dtypeOption(op, options.dtype);
  if (dModel % nhead !== 0) fail(op, `dModel must be divisible by nhead, got dModel ${dModel} and nhead ${nhead}`);
  return { ff, p, activation, eps, batchFirst, normFirst, dtype };
}

export interface TransformerEncoderLayerOptions {
  /** Width of the feed-forward block (2048). */
  dimFeedforward?: number;
  /** Dropout in attention, after it, and in and after the feed-forward block (0.1). */
  dropout?: number;
  activation?: 'relu' | 'gelu';
  layerNormEps?: number;
  batchFirst?: boolean;
  /** Pre-norm: x + sa(norm1(x)), then x + ff(norm2(x)); post-norm (the default): norm1(x + sa(x)), then norm2(x + ff(x)). */
  normFirst?: boolean;
  dtype?: DType;
}

export interface TransformerEncoderLayerForwardOptions {
  /** The self-attention's attnMask: [L, L] or [B·nhead, L, L]. */
  srcMask?: Tensor | null;
  /** How srcMask is read: 'bool' (the default; 1 = masked out) or 'float' (added). */
  srcMaskType?: MaskType;
  /** [B, L] (unbatched [L]) of 0/1, 1 = padding. */
  srcKeyPaddingMask?: Tensor | null;
}

/** torch.nn.TransformerEncoderLayer (1.13): self-attention and a feed-forward block, each with a residual and a layer norm. */
export class TransformerEncoderLayer extends Module {
  readonly normFirst: boolean;
  readonly activation: 'relu' | 'gelu';
  // Declared for the types; registerModule makes each an accessor of the registered child.
  declare readonly self_attn: MultiheadAttention;
  declare readonly linear1: Linear;
  declare readonly dropout: Dropout;
  declare readonly linear2: Linear;
  declare readonly norm1: LayerNorm;
  declare readonly norm2: LayerNorm;
  declare readonly dropout1: Dropout;
  declare readonly dropout2: Dropout;

  constructor(readonly dModel: number, readonly nhead: number, options: TransformerEncoderLayerOptions = {}) {
    super();
    const { ff, p, activation, eps, batchFirst, normFirst, dtype } = layerOptions('TransformerEncoderLayer', dModel, nhead, options);
    this.activation = activation;
    this.normFirst = normFirst;
    // torch's registration (and so initialisation) order.
    this.registerModule('self_attn', new MultiheadAttention(dModel, nhead, { dropout: p, batchFirst, dtype }));
    this.registerModule('linear1', new Linear(dModel, ff, { dtype }));
    this.registerModule('dropout', new Dropout(p));
    this.registerModule('linear2', new Linear(ff, dModel, { dtype }));
    this.registerModule('norm1', new LayerNorm(dModel, { eps, dtype }));
    this.registerModule('norm2', new LayerNorm(dModel, { eps, dtype }));
    this.registerModule('dropout1', new Dropout(p));
    this.registerModule('dropout2', new Dropout(p));
  }

  /** src [L, B, dModel] ([B, L, dModel] with batchFirst, or unbatched [L, dModel]); the output has its shape. */
  forward(src: Tensor, options: TransformerEncoderLayerForwardOptions = {}): Tensor {
    const op = 'TransformerEncoderLayer';
    checkKnownKeys(op, options, ['srcMask', 'srcMaskType', 'srcKeyPaddingMask']);
    const maskType = maskTypeOption(op, 'srcMaskType', options.srcMaskType);
    checkMaskOption(op, 'srcMask', options.srcMask, maskType === 'bool', "; for a float mask that is added, pass srcMaskType: 'float'");
    checkMaskOption(op, 'srcKeyPaddingMask', options.srcKeyPaddingMask, true, '');
    const sa = (x: Tensor): Tensor => {
      const [y] = (this.getModule('self_attn') as MultiheadAttention).call(x, x, x, {
        attnMask: options.srcMask, attnMaskType: options.srcMaskType, keyPaddingMask: options.srcKeyPaddingMask, needWeights: false,
      });
      return this.getModule('dropout1').call(y) as Tensor;
    };
    const ffb = (x: Tensor): Tensor => {
      const h = this.getModule('linear1').call(x) as Tensor;
      const a = this.activation === 'relu' ? F.relu(h) : F.gelu(h);
      const y = this.getModule('linear2').call(this.getModule('dropout').call(a)) as Tensor;
      return this.getModule('dropout2').call(y) as Tensor;
    };
    const norm1 = (x: Tensor): Tensor => this.getModule('norm1').call(x) as Tensor;
    const norm2 = (x: Tensor): Tensor => this.getModule('norm2').call(x) as Tensor;
    let x = src;
    if (this.normFirst) {
      x = F.add(x, sa(norm1(x)));
      x = F.add(x, ffb(norm2(x)));
    } else {
      x = norm1(F.add(x, sa(x)));
      x = norm2(F.add(x, ffb(x)));
    }
    return x;
  }
}

export interface TransformerEncoderForwardOptions {
  /** Every layer's srcMask: [L, L] or [B·nhead, L, L]. */
  mask?: Tensor | null;
  /** How mask is read: 'bool' (the default; 1 = masked out) or 'float' (added). */
  maskType?: MaskType;
  /** [B, L] (unbatched [L]) of 0/1, 1 = padding. */
  srcKeyPaddingMask?: Tensor | null;
}

/**
 * The checked arguments of TransformerEncoder or TransformerDecoder: numLayers deep copies of `layer`
 * (torch's _get_clones) and the optional final norm.
 */
function layerStack(op: string, name: string, layer: Module, numLayers: number, options: { norm?: Module | null }): {
  layers: ModuleList; norm: Module | null;
} {
  checkKnownKeys(op, options, ['norm']);
  if (!(layer instanceof Module)) fail(op, `${name} must be a Module (an nn.${op}Layer), got ${fmtValue(layer)}`);
  if (typeof numLayers !== 'number' || !Number.isInteger(numLayers) || numLayers < 0) fail(op, `numLayers must be a non-negative integer, got ${fmtValue(numLayers)}`);
  const norm = options.norm ?? null;
  if (norm !== null && !(norm instanceof Module)) fail(op, `norm must be a Module or null, got ${fmtValue(norm)}`);
  return { layers: new ModuleList(Array.from({ length: numLayers }, () => layer.deepCopy())), norm };
}

/**
 * torch.nn.TransformerEncoder (1.13): numLayers deep copies of encoderLayer (torch's _get_clones, so
 * every layer starts from the same weights and the layer given is not itself registered), run in turn,
 * then `norm` when given. Each layer is called as forward(x, { srcMask, srcMaskType, srcKeyPaddingMask }).
 */
export class TransformerEncoder extends Module {
  declare readonly layers: ModuleList;
  readonly norm: Module | null;

  constructor(encoderLayer: Module, readonly numLayers: number, options: { norm?: Module | null } = {}) {
    super();
    const { layers, norm } = layerStack('TransformerEncoder', 'encoderLayer', encoderLayer, numLayers, options);
    this.registerModule('layers', layers);
    this.norm = norm === null ? null : this.registerModule('norm', norm);
  }

  forward(src: Tensor, options: TransformerEncoderForwardOptions = {}): Tensor {
    const op = 'TransformerEncoder';
    checkKnownKeys(op, options, ['mask', 'maskType', 'srcKeyPaddingMask']);
    const maskType = maskTypeOption(op, 'maskType', options.maskType);
    checkMaskOption(op, 'mask', options.mask, maskType === 'bool', "; for a float mask that is added, pass maskType: 'float'");
    checkMaskOption(op, 'srcKeyPaddingMask', options.srcKeyPaddingMask, true, '');
    let x = src;
    for (const layer of this.getModule('layers') as ModuleList) {
      x = layer.call(x, { srcMask: options.mask, srcMaskType: options.maskType, srcKeyPaddingMask: options.srcKeyPaddingMask }) as Tensor;
    }
    return this.norm === null ? x : (this.norm.call(x) as Tensor);
  }
}

/**
 * torch.nn.Transformer.generate_square_subsequent_mask (1.13): a [sz, sz] float mask, −∞ above the
 * diagonal (position i may not attend to j > i) and 0 elsewhere. It is a float mask, so pass it with
 * the float mask type (tgtMaskType: 'float', srcMaskType: 'float', attnMaskType: 'float').
 */
export function generateSquareSubsequentMask(sz: number, options: { dtype?: DType } = {}): Tensor {
  const op = 'generateSquareSubsequentMask';
  checkKnownKeys(op, options, ['dtype']);
  if (typeof sz !== 'number' || !Number.isInteger(sz) || sz < 0) fail(op, `sz must be a non-negative integer, got ${fmtValue(sz)}`);
  const out = Tensor.empty([sz, sz], dtypeOption(op, options.dtype));
  const o = out.storage;
  for (let i = 0; i < sz; i++) for (let j = 0; j < sz; j++) o[i * sz + j] = j > i ? -Infinity : 0;
  return out;
}

export interface TransformerDecoderLayerOptions extends TransformerEncoderLayerOptions {}

export interface TransformerDecoderLayerForwardOptions {
  /** The self-attention's attnMask: [T, T] or [B·nhead, T, T]. */
  tgtMask?: Tensor | null;
  /** How tgtMask is read: 'bool' (the default; 1 = masked out) or 'float' (added). */
  tgtMaskType?: MaskType;
  /** The cross-attention's attnMask: [T, S] or [B·nhead, T, S]. */
  memoryMask?: Tensor | null;
  /** How memoryMask is read: 'bool' (the default) or 'float'. */
  memoryMaskType?: MaskType;
  /** [B, T] (unbatched [T]) of 0/1, 1 = padding. */
  tgtKeyPaddingMask?: Tensor | null;
  /** [B, S] (unbatched [S]) of 0/1, 1 = padding. */
  memoryKeyPaddingMask?: Tensor | null;
}

const FLOAT_HINT = (name: string): string => `; for a float mask that is added, pass ${name}: 'float'`;

/**
 * torch.nn.TransformerDecoderLayer (1.13): self-attention over tgt, attention from tgt to memory and a
 * feed-forward block, each with a residual, a dropout and a layer norm (norm1, norm2, norm3), post-norm
 * or pre-norm (normFirst) as in the encoder layer.
 */
export class TransformerDecoderLayer extends Module {
  readonly normFirst: boolean;
  readonly batchFirst: boolean;
  readonly activation: 'relu' | 'gelu';
  declare readonly self_attn: MultiheadAttention;
  declare readonly multihead_attn: MultiheadAttention;
  declare readonly linear1: Linear;
  declare readonly dropout: Dropout;
  declare readonly linear2: Linear;
  declare readonly norm1: LayerNorm;
  declare readonly norm2: LayerNorm;
  declare readonly norm3: LayerNorm;
  declare readonly dropout1: Dropout;
  declare readonly dropout2: Dropout;
  declare readonly dropout3: Dropout;

  constructor(readonly dModel: number, readonly nhead: number, options: TransformerDecoderLayerOptions = {}) {
    super();
    const { ff, p, activation, eps, batchFirst, normFirst, dtype } = layerOptions('TransformerDecoderLayer', dModel, nhead, options);
    this.activation = activation;
    this.batchFirst = batchFirst;
    this.normFirst = normFirst;
    // torch 1.13's registration (and so initialisation and state-dict) order.
    this.registerModule('self_attn', new MultiheadAttention(dModel, nhead, { dropout: p, batchFirst, dtype }));
    this.registerModule('multihead_attn', new MultiheadAttention(dModel, nhead, { dropout: p, batchFirst, dtype }));
    this.registerModule('linear1', new Linear(dModel, ff, { dtype }));
    this.registerModule('dropout', new Dropout(p));
    this.registerModule('linear2', new Linear(ff, dModel, { dtype }));
    this.registerModule('norm1', new LayerNorm(dModel, { eps, dtype }));
    this.registerModule('norm2', new LayerNorm(dModel, { eps, dtype }));
    this.registerModule('norm3', new LayerNorm(dModel, { eps, dtype }));
    this.registerModule('dropout1', new Dropout(p));
    this.registerModule('dropout2', new Dropout(p));
    this.registerModule('dropout3', new Dropout(p));
  }

  /**
   * tgt [T, B, dModel] and memory [S, B, dModel] ([B, ·, dModel] with batchFirst, or unbatched
   * [T, dModel] and [S, dModel]); the output has tgt's shape.
   */
  forward(tgt: Tensor, memory: Tensor, options: TransformerDecoderLayerForwardOptions = {}): Tensor {
    const op = 'TransformerDecoderLayer';
    checkKnownKeys(op, options, ['tgtMask', 'tgtMaskType', 'memoryMask', 'memoryMaskType', 'tgtKeyPaddingMask', 'memoryKeyPaddingMask']);
    const tgtMaskType = maskTypeOption(op, 'tgtMaskType', options.tgtMaskType);
    const memoryMaskType = maskTypeOption(op, 'memoryMaskType', options.memoryMaskType);
    checkMaskOption(op, 'tgtMask', options.tgtMask, tgtMaskType === 'bool', FLOAT_HINT('tgtMaskType'));
    checkMaskOption(op, 'memoryMask', options.memoryMask, memoryMaskType === 'bool', FLOAT_HINT('memoryMaskType'));
    checkMaskOption(op, 'tgtKeyPaddingMask', options.tgtKeyPaddingMask, true, '');
    checkMaskOption(op, 'memoryKeyPaddingMask', options.memoryKeyPaddingMask, true, '');
    if (!(tgt instanceof Tensor)) fail(op, `tgt must be a Tensor, got ${fmtValue(tgt)}`);
    if (!(memory instanceof Tensor)) fail(op, `memory must be a Tensor, got ${fmtValue(memory)}`);
    const shapes = `tgt ${fmtShape(tgt.shape)}, memory ${fmtShape(memory.shape)}`;
    if (tgt.ndim !== 2 && tgt.ndim !== 3) fail(op, `tgt should be an unbatched 2-D or batched 3-D tensor, got ${shapes}`);
    if (memory.ndim !== tgt.ndim) fail(op, `memory must have as many dimensions as tgt (${tgt.ndim}), got ${shapes}`);
    if (tgt.shape[tgt.ndim - 1] !== this.dModel) fail(op, `tgt's feature dimension must be dModel ${this.dModel}, got ${tgt.shape[tgt.ndim - 1]} (${shapes})`);
    if (memory.shape[memory.ndim - 1] !== this.dModel) fail(op, `memory's feature dimension must be dModel ${this.dModel}, got ${memory.shape[memory.ndim - 1]} (${shapes})`);
    if (tgt.ndim === 3) {
      const bd = this.batchFirst ? 0 : 1;
      if (tgt.shape[bd] !== memory.shape[bd]) fail(op, `tgt and memory must have the same batch size (dimension ${bd}${this.batchFirst ? ', batchFirst' : ''}), got ${shapes}`);
    }
    const sa = (x: Tensor): Tensor => {
      const [y] = (this.getModule('self_attn') as MultiheadAttention).call(x, x, x, {
        attnMask: options.tgtMask, attnMaskType: tgtMaskType, keyPaddingMask: options.tgtKeyPaddingMask, needWeights: false,
      });
      return this.getModule('dropout1').call(y) as Tensor;
    };
    const mha = (x: Tensor): Tensor => {
      const [y] = (this.getModule('multihead_attn') as MultiheadAttention).call(x, memory, memory, {
        attnMask: options.memoryMask, attnMaskType: memoryMaskType, keyPaddingMask: options.memoryKeyPaddingMask, needWeights: false,
      });
      return this.getModule('dropout2').call(y) as Tensor;
    };
    const ffb = (x: Tensor): Tensor => {
      const h = this.getModule('linear1').call(x) as Tensor;
      const a = this.activation === 'relu' ? F.relu(h) : F.gelu(h);
      const y = this.getModule('linear2').call(this.getModule('dropout').call(a)) as Tensor;
      return this.getModule('dropout3').call(y) as Tensor;
    };
    const norm = (name: string, x: Tensor): Tensor => this.getModule(name).call(x) as Tensor;
    let x = tgt;
    if (this.normFirst) {
      x = F.add(x, sa(norm('norm1', x)));
      x = F.add(x, mha(norm('norm2', x)));
      x = F.add(x, ffb(norm('norm3', x)));
    } else {
      x = norm('norm1', F.add(x, sa(x)));
      x = norm('norm2', F.add(x, mha(x)));
      x = norm('norm3', F.add(x, ffb(x)));
    }
    return x;
  }
}

export interface TransformerDecoderForwardOptions extends TransformerDecoderLayerForwardOptions {}

/**
 * torch.nn.TransformerDecoder (1.13): numLayers deep copies of decoderLayer (as TransformerEncoder: the
 * layer given is not itself registered), each called as forward(x, memory, { tgtMask, memoryMask,
 * tgtKeyPaddingMask, memoryKeyPaddingMask, and their mask types }), then `norm` when given.
 */
export class TransformerDecoder extends Module {
  declare readonly layers: ModuleList;
  readonly norm: Module | null;

  constructor(decoderLayer: Module, readonly numLayers: number, options: { norm?: Module | null } = {}) {
    super();
    const { layers, norm } = layerStack('TransformerDecoder', 'decoderLayer', decoderLayer, numLayers, options);
    this.registerModule('layers', layers);
    this.norm = norm === null ? null : this.registerModule('norm', norm);
  }

  forward(tgt: Tensor, memory: Tensor, options: TransformerDecoderForwardOptions = {}): Tensor {
    const op = 'TransformerDecoder';
    checkKnownKeys(op, options, ['tgtMask', 'tgtMaskType', 'memoryMask', 'memoryMaskType', 'tgtKeyPaddingMask', 'memoryKeyPaddingMask']);
    const tgtMaskType = maskTypeOption(op, 'tgtMaskType', options.tgtMaskType);
    const memoryMaskType = maskTypeOption(op, 'memoryMaskType', options.memoryMaskType);
    checkMaskOption(op, 'tgtMask', options.tgtMask, tgtMaskType === 'bool', FLOAT_HINT('tgtMaskType'));
    checkMaskOption(op, 'memoryMask', options.memoryMask, memoryMaskType === 'bool', FLOAT_HINT('memoryMaskType'));
    checkMaskOption(op, 'tgtKeyPaddingMask', options.tgtKeyPaddingMask, true, '');
    checkMaskOption(op, 'memoryKeyPaddingMask', options.memoryKeyPaddingMask, true, '');
    let x = tgt;
    for (const layer of this.getModule('layers') as ModuleList) {
      x = layer.call(x, memory, {
        tgtMask: options.tgtMask, tgtMaskType, memoryMask: options.memoryMask, memoryMaskType,
        tgtKeyPaddingMask: options.tgtKeyPaddingMask, memoryKeyPaddingMask: options.memoryKeyPaddingMask,
      }) as Tensor;
    }
    return this.norm === null ? x : (this.norm.call(x) as Tensor);
  }
}
