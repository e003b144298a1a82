/**
 * Loss modules, torch.nn's: each holds its options and hands the math to the functional op in
 * forward(input, target). Weights are buffers (`weight`, and BCEWithLogitsLoss's `pos_weight`, torch's
 * state_dict keys), so stateDict(), loadStateDict() and to()/double() see them as torch's do. A buffer
 * is a detached copy of the tensor given: to() converts buffers in place here (where torch makes new
 * tensors), and a copy keeps that from changing the caller's tensor, or refusing a view.
 * Options are checked at construction, naming the module, as the layers' are. Like torch's, the
 * modules print no options: `CrossEntropyLoss()`.
 */
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../../lib/core/errors';
import * as F from '../../autograd/functional';
import { Tensor } from '../../autograd/tensor';
import { Module } from './module';

type Reduction = F.LossReduction;

function reductionOf(op: string, r: unknown): Reduction {
  const v = r ?? 'mean';
  if (v !== 'mean' && v !== 'sum' && v !== 'none') fail(op, `reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(v)}`);
  return v;
}

/** A finite number >= 0 (or > 0), `fallback` when omitted. */
function scalarOf(op: string, name: string, v: unknown, fallback: number, positive: boolean): number {
  const x = v ?? fallback;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || (positive && x === 0)) {
    fail(op, `${name} must be a finite ${positive ? 'positive' : 'non-negative'} number, got ${fmtValue(x)}`);
  }
  return x;
}

/** Base of every loss module: the reduction, and the buffers that hold weights. */
abstract class Loss extends Module {
  readonly reduction: Reduction;

  constructor(options: { reduction?: Reduction }, allowed: readonly string[]) {
    super();
    checkKnownKeys(this.constructor.name, options, ['reduction', ...allowed]);
    this.reduction = reductionOf(this.constructor.name, options.reduction);
  }

  abstract override forward(input: Tensor, target: Tensor): Tensor;

  /** Names of the weight buffers this loss holds. */
  private readonly weightNames = new Set<string>();

  /** Registers a detached copy of `t` as buffer `name`; nothing when t is null or omitted (torch's None). */
  protected weightBuffer(name: string, t: unknown, perClass: boolean): void {
    if (t === undefined || t === null) return;
    const op = this.constructor.name;
    if (!(t instanceof Tensor)) fail(op, `${name} must be a Tensor, got ${fmtValue(t)}`);
    if (perClass && t.ndim !== 1) fail(op, `${name} must be a 1-d tensor of one weight per class, got shape ${fmtShape(t.shape)}`);
    this.registerBuffer(name, F.clone(t.detach()));
    this.weightNames.add(name);
  }

  /** The weight buffer `name`, as converted by to(), or null when none was given. */
  protected weightOf(name: string): Tensor | null {
    return this.weightNames.has(name) ? this.getBuffer(name) : null;
  }
}

/** The options of the functional form (F.CrossEntropyOptions). */
export type CrossEntropyLossOptions = F.CrossEntropyOptions;

/**
 * nn.CrossEntropyLoss: F.crossEntropy of logits [N, C], [C] or [N, C, d1, ..., dK] against class indices
 * ([N], [] or [N, d1, ..., dK]) or class probabilities of the logits' shape.
 */
export class CrossEntropyLoss extends Loss {
  readonly ignoreIndex: number;
  readonly labelSmoothing: number;

  constructor(options: CrossEntropyLossOptions = {}) {
    super(options, ['weight', 'ignoreIndex', 'labelSmoothing']);
    this.ignoreIndex = options.ignoreIndex ?? -100;
    if (typeof this.ignoreIndex !== 'number' || !Number.isInteger(this.ignoreIndex)) fail('CrossEntropyLoss', `ignoreIndex must be an integer, got ${fmtValue(this.ignoreIndex)}`);
    this.labelSmoothing = options.labelSmoothing ?? 0;
    if (typeof this.labelSmoothing !== 'number' || !(this.labelSmoothing >= 0 && this.labelSmoothing <= 1)) {
      fail('CrossEntropyLoss', `labelSmoothing must be in [0, 1], got ${fmtValue(this.labelSmoothing)}`);
    }
    this.weightBuffer('weight', options.weight, true);
  }

  get weight(): Tensor | null {
    return this.weightOf('weight');
  }

  forward(input: Tensor, target: Tensor | ArrayLike<number>): Tensor {
    return F.crossEntropy(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction, labelSmoothing: this.labelSmoothing });
  }
}

/** The options of the functional form (F.NllLossOptions). */
export type NLLLossOptions = F.NllLossOptions;

/** nn.NLLLoss: F.nllLoss of log-probabilities [N, C], [C] or [N, C, d1, ..., dK] against class indices [N], [] or [N, d1, ..., dK]. */
export class NLLLoss extends Loss {
  readonly ignoreIndex: number;

  constructor(options: NLLLossOptions = {}) {
    super(options, ['weight', 'ignoreIndex']);
    this.ignoreIndex = options.ignoreIndex ?? -100;
    if (typeof this.ignoreIndex !== 'number' || !Number.isInteger(this.ignoreIndex)) fail('NLLLoss', `ignoreIndex must be an integer, got ${fmtValue(this.ignoreIndex)}`);
    this.weightBuffer('weight', options.weight, true);
  }

  get weight(): Tensor | null {
    return this.weightOf('weight');
  }

  forward(input: Tensor, target: Tensor | ArrayLike<number>): Tensor {
    return F.nllLoss(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction });
  }
}

/** The options of the functional form (F.MseLossOptions). */
export type ReductionOptions = F.MseLossOptions;

/** nn.MSELoss: F.mseLoss. */
export class MSELoss extends Loss {
  constructor(options: ReductionOptions = {}) {
    super(options, []);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.mseLoss(input, target, { reduction: this.reduction });
  }
}

/** nn.L1Loss: F.l1Loss. */
export class L1Loss extends Loss {
  constructor(options: ReductionOptions = {}) {
    super(options, []);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.l1Loss(input, target, { reduction: this.reduction });
  }
}

/** The options of the functional form (F.SmoothL1LossOptions). */
export type SmoothL1LossOptions = F.SmoothL1LossOptions;

/** nn.SmoothL1Loss: F.smoothL1Loss. */
export class SmoothL1Loss extends Loss {
  readonly beta: number;

  constructor(options: SmoothL1LossOptions = {}) {
    super(options, ['beta']);
    this.beta = scalarOf('SmoothL1Loss', 'beta', options.beta, 1, false);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.smoothL1Loss(input, target, { reduction: this.reduction, beta: this.beta });
  }
}

/** The options of the functional form (F.HuberLossOptions). */
export type HuberLossOptions = F.HuberLossOptions;

/** nn.HuberLoss: F.huberLoss. */
export class HuberLoss extends Loss {
  readonly delta: number;

  constructor(options: HuberLossOptions = {}) {
    super(options, ['delta']);
    this.delta = scalarOf('HuberLoss', 'delta', options.delta, 1, true);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.huberLoss(input, target, { reduction: this.reduction, delta: this.delta });
  }
}

/** The options of the functional form (F.BinaryCrossEntropyOptions). */
export type BCELossOptions = F.BinaryCrossEntropyOptions;

/** nn.BCELoss: F.binaryCrossEntropy of probabilities. */
export class BCELoss extends Loss {
  constructor(options: BCELossOptions = {}) {
    super(options, ['weight']);
    this.weightBuffer('weight', options.weight, false);
  }

  get weight(): Tensor | null {
    return this.weightOf('weight');
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropy(input, target, { weight: this.weight, reduction: this.reduction });
  }
}

/** The options of the functional form (F.BinaryCrossEntropyWithLogitsOptions). */
export type BCEWithLogitsLossOptions = F.BinaryCrossEntropyWithLogitsOptions;

/** nn.BCEWithLogitsLoss: F.binaryCrossEntropyWithLogits, the stable form for logits. */
export class BCEWithLogitsLoss extends Loss {
  constructor(options: BCEWithLogitsLossOptions = {}) {
    super(options, ['weight', 'posWeight']);
    this.weightBuffer('weight', options.weight, false);
    this.weightBuffer('pos_weight', options.posWeight, false);
  }

  get weight(): Tensor | null {
    return this.weightOf('weight');
  }

  get posWeight(): Tensor | null {
    return this.weightOf('pos_weight');
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return F.binaryCrossEntropyWithLogits(input, target, { weight: this.weight, posWeight: this.posWeight, reduction: this.reduction });
  }
}
