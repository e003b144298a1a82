/**
 * Learning-rate schedules with torch.optim.lr_scheduler's semantics.
 *
 * As in torch, constructing a scheduler performs the initial step, so each group's `lr` already
 * holds the epoch-0 value; call `step()` after each optimizer step (or epoch) to advance, and
 * `getLastLr()` to read what was set. The first scheduler attached to an optimizer records each
 * group's `initialLr` (torch's `initial_lr`); `baseLrs` are read from it.
 *
 * Formulas: StepLR, MultiStepLR, LinearLR and CosineAnnealingLR use torch's chainable (recursive)
 * forms, which scale the group's current lr, so they agree with torch bit for bit and respect
 * outside lr changes (two schedulers stepped back to back stack, as in torch); when SequentialLR
 * switches to one at a milestone it uses torch's closed form, as torch does. Left alone, the cosine
 * follows lr = etaMin + (baseLr − etaMin)·(1 + cos(π·t/tMax))/2 up to rounding (~1e-16 relative
 * per step). OneCycleLR is closed-form in torch too. ExponentialLR, ConstantLR and MultiplicativeLR
 * are chainable as in torch; LambdaLR is torch's closed form baseLr·lrLambda(t). PolynomialLR is
 * chainable; CosineAnnealingWarmRestarts and CyclicLR are closed-form in torch (they read baseLrs), as
 * here. ChainedScheduler steps several schedulers of one optimizer in turn.
 * ReduceLROnPlateau is, as in torch, a class of its own: it steps on a metric, not on a schedule.
 *
 * State dicts hold plain JSON (numbers, strings, arrays) and restore the groups' lr (and
 * OneCycleLR's and CyclicLR's momentum, unless the scheduler is a SequentialLR's still waiting for its
 * milestone) on load, so load order relative to the optimizer does not matter
 * (ReduceLROnPlateau's too, once it has stepped: unlike torch's, since a scheduler loaded after it
 * would otherwise undo its reductions). Two
 * schedulers stepped back to back on one optimizer each saved the lr they set, the first one's before
 * the second scaled it: load them in the order they are stepped (or load the optimizer after them).
 */
import { fail, fmtValue } from '../core/errors';
import type { CheckpointValue } from '../io/checkpoint';
import {
  BaseHyperParams, checkKnownKeys, isRecord, Optimizer, ParamGroup, requireBoolean, requireInRange,
  requireNonNegative, requireNonNegativeInt, requirePositive, requirePositiveInt,
} from './optimizer';

export type JsonValue = number | string | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A scheduler's state: common fields plus the scheduler's own configuration. */
export interface SchedulerStateDict {
  kind: string;
  lastEpoch: number;
  stepCount: number;
  baseLrs: number[];
  lastLr: number[];
  [key: string]: JsonValue;
}

type AnyOptimizer = Optimizer<BaseHyperParams>;

function checkOptimizer(op: string, optimizer: unknown): asserts optimizer is AnyOptimizer {
  if (!(optimizer instanceof Optimizer)) fail(op, `optimizer must be an Optimizer, got ${fmtValue(optimizer)}`);
}

function isNumberArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/** Number of elements of the sorted `a` that are ≤ x (Python's bisect_right). */
function bisectRight(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < a[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export abstract class LRScheduler {
  readonly optimizer: AnyOptimizer;
  /** Class name, used as the prefix of every error message and as the state dict's kind. */
  readonly name: string;
  protected epoch = -1;
  protected stepCount = 0;
  protected bases: number[];
  private lastLrs: number[] = [];

  protected constructor(name: string, optimizer: AnyOptimizer) {
    checkOptimizer(name, optimizer);
    this.name = name;
    this.optimizer = optimizer;
    for (const g of optimizer.paramGroups) {
      if (g.initialLr === undefined) g.initialLr = g.lr;
    }
    this.bases = optimizer.paramGroups.map((g) => g.initialLr as number);
  }

  /** Index of the last step taken; 0 right after construction. */
  get lastEpoch(): number {
    return this.epoch;
  }

  /** Each group's lr at the start of the schedule (torch's base_lrs). */
  get baseLrs(): number[] {
    return this.bases.slice();
  }

  /** The learning rates this scheduler set most recently, one per param group. */
  getLastLr(): number[] {
    return this.lastLrs.slice();
  }

  /** Advances the schedule by one step and writes the new lr into every param group. */
  step(): void {
    this.checkGroupCount();
    const epoch = this.epoch + 1;
    const lrs = this.computeLr(epoch);
    this.stepCount += 1;
    this.epoch = epoch;
    this.applyLr(lrs, epoch);
  }

  /** torch's get_lr: the lrs at `epoch` = lastEpoch + 1, without changing any state. */
  protected abstract computeLr(epoch: number): number[];

  /** torch's _get_closed_form_lr where it exists (used when SequentialLR jumps to epoch 0). */
  protected closedFormLr(epoch: number): number[] {
    return this.computeLr(epoch);
  }

  /** The scheduler's own configuration, saved next to the common fields. */
  protected abstract configState(): { [key: string]: JsonValue };

  /** Validates and restores the configuration saved by configState (throws before changing anything). */
  protected abstract loadConfig(sd: Record<string, unknown>): void;

  protected applyLr(lrs: readonly number[], _epoch: number): void {
    const groups = this.optimizer.paramGroups;
    groups.forEach((g, i) => {
      g.lr = lrs[i];
    });
    this.lastLrs = groups.map((g) => g.lr);
  }

  protected get groups(): ParamGroup<BaseHyperParams>[] {
    return this.optimizer.paramGroups;
  }

  private checkGroupCount(): void {
    const n = this.optimizer.paramGroups.length;
    if (n !== this.bases.length) {
      fail(this.name, `the optimizer has ${n} param groups but the scheduler was built for ${this.bases.length}`);
    }
  }

  /** @internal Resets the step count and takes the step that constructors take. */
  _initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** @internal Sets lastEpoch to `epoch` and the lrs from the closed form (torch's step(epoch)). */
  _jumpTo(epoch: number): void {
    this.checkGroupCount();
    const lrs = this.closedFormLr(epoch);
    this.epoch = epoch;
    this.applyLr(lrs, epoch);
  }

  /** @internal Undoes the epoch count of the constructor's step (SequentialLR's recursive_undo). */
  _undoStep(): void {
    this.epoch -= 1;
  }

  stateDict(): SchedulerStateDict {
    return {
      ...this.configState(),
      kind: this.name,
      lastEpoch: this.epoch,
      stepCount: this.stepCount,
      baseLrs: this.bases.slice(),
      lastLr: this.lastLrs.slice(),
    };
  }

  /**
   * Restores a state saved by stateDict of the same kind of scheduler (configuration included, as
   * torch does) and writes the saved lr back into the optimizer's groups. Takes the value
   * loadCheckpoint read back (`ck.state.scheduler`) as it is: every field is checked here.
   */
  loadStateDict(sd: SchedulerStateDict | CheckpointValue | undefined): void {
    const op = `${this.name}: loadStateDict:`;
    if (!isRecord(sd)) throw new Error(`${op} expected a scheduler state dict, got ${fmtValue(sd)}`);
    if (sd.kind !== this.name) throw new Error(`${op} the state dict is from a ${fmtValue(sd.kind)}, not a ${this.name}`);
    const n = this.optimizer.paramGroups.length;
    const lastEpoch = sd.lastEpoch;
    const stepCount = sd.stepCount;
    // −1: not started yet (a SequentialLR's later schedulers before their milestone, as in torch).
    if (typeof lastEpoch !== 'number' || !Number.isSafeInteger(lastEpoch) || lastEpoch < -1) {
      throw new Error(`${op} lastEpoch must be an integer >= -1, got ${fmtValue(lastEpoch)}`);
    }
    if (typeof stepCount !== 'number' || !Number.isSafeInteger(stepCount) || stepCount < 0) {
      throw new Error(`${op} stepCount must be a non-negative integer, got ${fmtValue(stepCount)}`);
    }
    const checkLrs = (key: 'baseLrs' | 'lastLr'): number[] => {
      const v = sd[key];
      if (!isNumberArray(v) || v.length !== n) {
        throw new Error(`${op} ${key} must be an array of ${n} finite numbers (one per param group), got ${fmtValue(v)}`);
      }
      return v;
    };
    const baseLrs = checkLrs('baseLrs');
    const lastLr = checkLrs('lastLr');
    this.loadConfig(sd);
    this.epoch = lastEpoch;
    this.stepCount = stepCount;
    this.bases = baseLrs.slice();
    this.applyLr(lastLr, lastEpoch);
  }
}

// ---- StepLR ----------------------------------------------------------------------------------

export interface StepLROptions {
  stepSize: number;
  gamma?: number;
}

/** Multiplies lr by gamma every stepSize steps: lr_t = baseLr·gamma^⌊t/stepSize⌋. */
export class StepLR extends LRScheduler {
  private stepSize: number;
  private gamma: number;

  constructor(optimizer: AnyOptimizer, options: StepLROptions) {
    checkKnownKeys('StepLR', options, ['stepSize', 'gamma']);
    const gamma = options.gamma ?? 0.1;
    requirePositiveInt('StepLR', 'stepSize', options.stepSize);
    requireNonNegative('StepLR', 'gamma', gamma);
    super('StepLR', optimizer);
    this.stepSize = options.stepSize;
    this.gamma = gamma;
    this._initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    if (epoch === 0 || epoch % this.stepSize !== 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma);
  }

  protected override closedFormLr(epoch: number): number[] {
    return this.bases.map((b) => b * this.gamma ** Math.floor(epoch / this.stepSize));
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    requirePositiveInt('StepLR', 'stepSize', sd.stepSize, ' (state dict)');
    requireNonNegative('StepLR', 'gamma', sd.gamma, ' (state dict)');
    this.stepSize = sd.stepSize;
    this.gamma = sd.gamma;
  }
}

// ---- MultiStepLR -----------------------------------------------------------------------------

export interface MultiStepLROptions {
  milestones: readonly number[];
  gamma?: number;
}

function checkMilestones(op: string, v: unknown, where = ''): number[] {
  if (!Array.isArray(v)) fail(op, `milestones must be an array of non-negative integers, got ${fmtValue(v)}${where}`);
  v.forEach((m: unknown, i: number) => requireNonNegativeInt(op, `milestones[${i}]`, m, where));
  return (v as number[]).slice().sort((a, b) => a - b);
}

/** Multiplies lr by gamma at each milestone (by gamma^k for a milestone listed k times). */
export class MultiStepLR extends LRScheduler {
  private milestones: number[];
  private gamma: number;

  constructor(optimizer: AnyOptimizer, options: MultiStepLROptions) {
    checkKnownKeys('MultiStepLR', options, ['milestones', 'gamma']);
    const milestones = checkMilestones('MultiStepLR', options.milestones);
    const gamma = options.gamma ?? 0.1;
    requireNonNegative('MultiStepLR', 'gamma', gamma);
    super('MultiStepLR', optimizer);
    this.milestones = milestones;
    this.gamma = gamma;
    this._initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    let count = 0;
    for (const m of this.milestones) if (m === epoch) count++;
    if (count === 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma ** count);
  }

  protected override closedFormLr(epoch: number): number[] {
    return this.bases.map((b) => b * this.gamma ** bisectRight(this.milestones, epoch));
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { milestones: this.milestones.slice(), gamma: this.gamma };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    const milestones = checkMilestones('MultiStepLR', sd.milestones, ' (state dict)');
    requireNonNegative('MultiStepLR', 'gamma', sd.gamma, ' (state dict)');
    this.milestones = milestones;
    this.gamma = sd.gamma;
  }
}

// ---- CosineAnnealingLR -----------------------------------------------------------------------

export interface CosineAnnealingLROptions {
  tMax: number;
  etaMin?: number;
}

/**
 * Cosine annealing without restarts: etaMin + (baseLr − etaMin)(1 + cos(π·t/tMax))/2 when nothing
 * else touches lr, computed with torch's chainable (recursive) form. Past tMax the cosine continues
 * (rising again), as in torch.
 */
export class CosineAnnealingLR extends LRScheduler {
  private tMax: number;
  private etaMin: number;

  constructor(optimizer: AnyOptimizer, options: CosineAnnealingLROptions) {
    checkKnownKeys('CosineAnnealingLR', options, ['tMax', 'etaMin']);
    const etaMin = options.etaMin ?? 0;
    requirePositiveInt('CosineAnnealingLR', 'tMax', options.tMax);
    requireNonNegative('CosineAnnealingLR', 'etaMin', etaMin);
    super('CosineAnnealingLR', optimizer);
    this.tMax = options.tMax;
    this.etaMin = etaMin;
    this._initialStep();
  }

  /**
   * torch's chainable form: epoch 0 keeps the lr it finds; the step after a minimum (t = tMax + 1 +
   * 2k·tMax) adds (base − etaMin)(1 − cos(π/tMax))/2; any other step scales lr − etaMin by the ratio
   * of successive (1 + cos) terms. So it stacks with other schedulers and outside lr changes.
   */
  protected override computeLr(epoch: number): number[] {
    const { etaMin, tMax } = this;
    if (epoch === 0) return this.groups.map((g) => g.lr);
    if ((epoch - 1 - tMax) % (2 * tMax) === 0) {
      return this.groups.map((g, i) => g.lr + ((this.bases[i] - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2);
    }
    const ratio = (1 + Math.cos((Math.PI * epoch) / tMax)) / (1 + Math.cos((Math.PI * (epoch - 1)) / tMax));
    return this.groups.map((g) => ratio * (g.lr - etaMin) + etaMin);
  }

  protected override closedFormLr(epoch: number): number[] {
    const { etaMin, tMax } = this;
    return this.bases.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((Math.PI * epoch) / tMax))) / 2);
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    requirePositiveInt('CosineAnnealingLR', 'tMax', sd.tMax, ' (state dict)');
    requireNonNegative('CosineAnnealingLR', 'etaMin', sd.etaMin, ' (state dict)');
    this.tMax = sd.tMax;
    this.etaMin = sd.etaMin;
  }
}

// ---- LinearLR --------------------------------------------------------------------------------

export interface LinearLROptions {
  startFactor?: number;
  endFactor?: number;
  totalIters?: number;
}

function checkLinear(sf: unknown, ef: unknown, ti: unknown, where = ''): void {
  if (typeof sf !== 'number' || !(sf > 0 && sf <= 1)) {
    fail('LinearLR', `startFactor must be in (0, 1], got ${fmtValue(sf)}${where}`);
  }
  requireInRange('LinearLR', 'endFactor', ef, 0, 1, true, where);
  requirePositiveInt('LinearLR', 'totalIters', ti, where);
}

/**
 * Scales lr linearly from startFactor·baseLr to endFactor·baseLr over totalIters steps, then
 * keeps it (linear warm-up). Closed form: baseLr·(s + (e − s)·min(t, T)/T).
 */
export class LinearLR extends LRScheduler {
  private startFactor: number;
  private endFactor: number;
  private totalIters: number;

  constructor(optimizer: AnyOptimizer, options: LinearLROptions = {}) {
    checkKnownKeys('LinearLR', options, ['startFactor', 'endFactor', 'totalIters']);
    const startFactor = options.startFactor ?? 1 / 3;
    const endFactor = options.endFactor ?? 1;
    const totalIters = options.totalIters ?? 5;
    checkLinear(startFactor, endFactor, totalIters);
    super('LinearLR', optimizer);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this._initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    const { startFactor: s, endFactor: e, totalIters: T } = this;
    if (epoch === 0) return this.groups.map((g) => g.lr * s);
    if (epoch > T) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * (1 + (e - s) / (T * s + (epoch - 1) * (e - s))));
  }

  protected override closedFormLr(epoch: number): number[] {
    const { startFactor: s, endFactor: e, totalIters: T } = this;
    return this.bases.map((b) => b * (s + ((e - s) * Math.min(T, epoch)) / T));
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { startFactor: this.startFactor, endFactor: this.endFactor, totalIters: this.totalIters };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    const { startFactor, endFactor, totalIters } = sd;
    checkLinear(startFactor, endFactor, totalIters, ' (state dict)');
    this.startFactor = startFactor as number;
    this.endFactor = endFactor as number;
    this.totalIters = totalIters as number;
  }
}

// ---- OneCycleLR ------------------------------------------------------------------------------

export type AnnealStrategy = 'cos' | 'linear';

export interface OneCycleLROptions {
  /** Peak lr, one for all groups or one per group. */
  maxLr: number | readonly number[];
  /** Length of the cycle; or give epochs and stepsPerEpoch (totalSteps wins if both are given). */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  pctStart?: number;
  annealStrategy?: AnnealStrategy;
  cycleMomentum?: boolean;
  baseMomentum?: number | readonly number[];
  maxMomentum?: number | readonly number[];
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
}

type LrKey = 'initial' | 'max' | 'min';
type MomentumKey = 'max' | 'base';

interface Phase {
  endStep: number;
  startLr: LrKey;
  endLr: LrKey;
  startMomentum: MomentumKey;
  endMomentum: MomentumKey;
}

function onecyclePhases(totalSteps: number, pctStart: number, threePhase: boolean): Phase[] {
  if (threePhase) {
    return [
      { endStep: pctStart * totalSteps - 1, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
      { endStep: 2 * pctStart * totalSteps - 2, startLr: 'max', endLr: 'initial', startMomentum: 'base', endMomentum: 'max' },
      { endStep: totalSteps - 1, startLr: 'initial', endLr: 'min', startMomentum: 'max', endMomentum: 'max' },
    ];
  }
  return [
    { endStep: pctStart * totalSteps - 1, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
    { endStep: totalSteps - 1, startLr: 'max', endLr: 'min', startMomentum: 'base', endMomentum: 'max' },
  ];
}

function perGroup(op: string, name: string, v: unknown, n: number, check: (x: unknown, label: string) => void): number[] {
  if (Array.isArray(v)) {
    if (v.length !== n) fail(op, `${name} must have one value per param group (${n}), got ${v.length} values`);
    v.forEach((x: unknown, i: number) => check(x, `${name}[${i}]`));
    return (v as number[]).slice();
  }
  check(v, name);
  return new Array<number>(n).fill(v as number);
}

/**
 * The 1cycle policy (torch.optim.lr_scheduler.OneCycleLR): lr rises from maxLr/divFactor to maxLr
 * over the first pctStart of totalSteps, then anneals to initialLr/finalDivFactor (threePhase:
 * back to initialLr first, then down). With cycleMomentum, SGD's momentum or Adam's beta1 moves
 * inversely between maxMomentum and baseMomentum. Stepping more than totalSteps times throws.
 */
export class OneCycleLR extends LRScheduler {
  private totalSteps: number;
  private pctStart: number;
  private annealStrategy: AnnealStrategy;
  private threePhase: boolean;
  private cycleMomentum: boolean;
  private useBeta1: boolean;
  private divFactor: number;
  private finalDivFactor: number;
  private maxLrs: number[];
  private minLrs: number[];
  private maxMomentums: number[];
  private baseMomentums: number[];
  private phases: Phase[];

  constructor(optimizer: AnyOptimizer, options: OneCycleLROptions) {
    const op = 'OneCycleLR';
    checkOptimizer(op, optimizer);
    checkKnownKeys(op, options, [
      'maxLr', 'totalSteps', 'epochs', 'stepsPerEpoch', 'pctStart', 'annealStrategy', 'cycleMomentum',
      'baseMomentum', 'maxMomentum', 'divFactor', 'finalDivFactor', 'threePhase',
    ]);
    let totalSteps: number;
    if (options.totalSteps !== undefined) {
      requirePositiveInt(op, 'totalSteps', options.totalSteps);
      totalSteps = options.totalSteps;
    } else if (options.epochs !== undefined && options.stepsPerEpoch !== undefined) {
      requirePositiveInt(op, 'epochs', options.epochs);
      requirePositiveInt(op, 'stepsPerEpoch', options.stepsPerEpoch);
      totalSteps = options.epochs * options.stepsPerEpoch;
    } else {
      fail(op, 'give either totalSteps or both epochs and stepsPerEpoch');
    }
    const pctStart = options.pctStart ?? 0.3;
    requireInRange(op, 'pctStart', pctStart, 0, 1, true);
    const annealStrategy = options.annealStrategy ?? 'cos';
    if (annealStrategy !== 'cos' && annealStrategy !== 'linear') {
      fail(op, `annealStrategy must be 'cos' or 'linear', got ${fmtValue(annealStrategy)}`);
    }
    const divFactor = options.divFactor ?? 25;
    const finalDivFactor = options.finalDivFactor ?? 1e4;
    requirePositive(op, 'divFactor', divFactor);
    requirePositive(op, 'finalDivFactor', finalDivFactor);
    const threePhase = options.threePhase ?? false;
    const cycleMomentum = options.cycleMomentum ?? true;
    requireBoolean(op, 'threePhase', threePhase);
    requireBoolean(op, 'cycleMomentum', cycleMomentum);
    const n = optimizer.paramGroups.length;
    const nonNeg = (x: unknown, label: string): void => requireNonNegative(op, label, x);
    const maxLrs = perGroup(op, 'maxLr', options.maxLr, n, nonNeg);
    const maxMomentums = perGroup(op, 'maxMomentum', options.maxMomentum ?? 0.95, n, nonNeg);
    const baseMomentums = perGroup(op, 'baseMomentum', options.baseMomentum ?? 0.85, n, nonNeg);
    const defaults = optimizer.defaults as Readonly<Record<string, unknown>>;
    const useBeta1 = 'betas' in defaults;
    if (cycleMomentum && !useBeta1 && !('momentum' in defaults)) {
      fail(op, `cycleMomentum needs an optimizer with momentum or betas, got ${optimizer.name}; pass cycleMomentum: false`);
    }

    super(op, optimizer);
    this.totalSteps = totalSteps;
    this.pctStart = pctStart;
    this.annealStrategy = annealStrategy;
    this.threePhase = threePhase;
    this.cycleMomentum = cycleMomentum;
    this.useBeta1 = useBeta1;
    this.divFactor = divFactor;
    this.finalDivFactor = finalDivFactor;
    this.maxLrs = maxLrs;
    this.maxMomentums = maxMomentums;
    this.baseMomentums = baseMomentums;
    this.phases = onecyclePhases(totalSteps, pctStart, threePhase);
    // torch overwrites initial_lr here (no setdefault): the cycle defines its own starting lr.
    const initialLrs = maxLrs.map((m) => m / divFactor);
    this.minLrs = initialLrs.map((l) => l / finalDivFactor);
    this.groups.forEach((g, i) => {
      g.initialLr = initialLrs[i];
    });
    this.bases = initialLrs;
    if (cycleMomentum) this.setMomentum(maxMomentums);
    this._initialStep();
  }

  private locate(epoch: number): { phase: Phase; pct: number } {
    let start = 0;
    const last = this.phases.length - 1;
    for (let j = 0; j <= last; j++) {
      const phase = this.phases[j];
      if (epoch <= phase.endStep || j === last) {
        const len = phase.endStep - start;
        if (len === 0) {
          fail(this.name, `phase ${j + 1} of the cycle is empty (pctStart ${this.pctStart}, totalSteps ${this.totalSteps}); change either`);
        }
        return { phase, pct: (epoch - start) / len };
      }
      start = phase.endStep;
    }
    throw new Error('unreachable');
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'cos') return end + ((start - end) / 2.0) * (Math.cos(Math.PI * pct) + 1);
    return (end - start) * pct + start;
  }

  private lrOf(key: LrKey, i: number): number {
    return key === 'initial' ? this.bases[i] : key === 'max' ? this.maxLrs[i] : this.minLrs[i];
  }

  private momentumOf(key: MomentumKey, i: number): number {
    return key === 'max' ? this.maxMomentums[i] : this.baseMomentums[i];
  }

  private setMomentum(values: readonly number[]): void {
    this.groups.forEach((g, i) => {
      const h = g as unknown as { momentum?: number; betas?: [number, number] };
      if (this.useBeta1) {
        const betas = h.betas;
        if (!Array.isArray(betas)) fail(this.name, `param group ${i} has no betas to cycle`);
        h.betas = [values[i], betas[1]];
      } else {
        h.momentum = values[i];
      }
    });
  }

  protected override computeLr(epoch: number): number[] {
    if (epoch > this.totalSteps) {
      fail(this.name, `step() called ${epoch} times, more than totalSteps = ${this.totalSteps}`);
    }
    const { phase, pct } = this.locate(epoch);
    return this.bases.map((_b, i) => this.anneal(this.lrOf(phase.startLr, i), this.lrOf(phase.endLr, i), pct));
  }

  protected override applyLr(lrs: readonly number[], epoch: number): void {
    super.applyLr(lrs, epoch);
    // epoch −1: a SequentialLR's scheduler waiting for its milestone, loaded from a state dict. It
    // has set no momentum since its initial step, so the groups keep theirs (see CyclicLR).
    if (!this.cycleMomentum || epoch < 0) return;
    const { phase, pct } = this.locate(epoch);
    this.setMomentum(
      this.bases.map((_b, i) =>
        this.anneal(this.momentumOf(phase.startMomentum, i), this.momentumOf(phase.endMomentum, i), pct),
      ),
    );
  }

  protected override configState(): { [key: string]: JsonValue } {
    return {
      totalSteps: this.totalSteps,
      pctStart: this.pctStart,
      annealStrategy: this.annealStrategy,
      threePhase: this.threePhase,
      cycleMomentum: this.cycleMomentum,
      useBeta1: this.useBeta1,
      divFactor: this.divFactor,
      finalDivFactor: this.finalDivFactor,
      maxLrs: this.maxLrs.slice(),
      minLrs: this.minLrs.slice(),
      maxMomentums: this.maxMomentums.slice(),
      baseMomentums: this.baseMomentums.slice(),
    };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    const op = this.name;
    const where = ' (state dict)';
    requirePositiveInt(op, 'totalSteps', sd.totalSteps, where);
    requireInRange(op, 'pctStart', sd.pctStart, 0, 1, true, where);
    if (sd.annealStrategy !== 'cos' && sd.annealStrategy !== 'linear') {
      fail(op, `annealStrategy must be 'cos' or 'linear', got ${fmtValue(sd.annealStrategy)}${where}`);
    }
    requireBoolean(op, 'threePhase', sd.threePhase, where);
    requireBoolean(op, 'cycleMomentum', sd.cycleMomentum, where);
    requireBoolean(op, 'useBeta1', sd.useBeta1, where);
    requirePositive(op, 'divFactor', sd.divFactor, where);
    requirePositive(op, 'finalDivFactor', sd.finalDivFactor, where);
    const n = this.groups.length;
    const arrays: Record<string, number[]> = {};
    for (const key of ['maxLrs', 'minLrs', 'maxMomentums', 'baseMomentums']) {
      const v = sd[key];
      if (!isNumberArray(v) || v.length !== n || v.some((x) => x < 0)) {
        fail(op, `${key} must be an array of ${n} non-negative numbers${where}, got ${fmtValue(v)}`);
      }
      arrays[key] = v.slice();
    }
    this.totalSteps = sd.totalSteps;
    this.pctStart = sd.pctStart;
    this.annealStrategy = sd.annealStrategy;
    this.threePhase = sd.threePhase;
    this.cycleMomentum = sd.cycleMomentum;
    this.useBeta1 = sd.useBeta1;
    this.divFactor = sd.divFactor;
    this.finalDivFactor = sd.finalDivFactor;
    this.maxLrs = arrays.maxLrs;
    this.minLrs = arrays.minLrs;
    this.maxMomentums = arrays.maxMomentums;
    this.baseMomentums = arrays.baseMomentums;
    this.phases = onecyclePhases(this.totalSteps, this.pctStart, this.threePhase);
  }
}

// ---- ExponentialLR ---------------------------------------------------------------------------

export interface ExponentialLROptions {
  gamma: number;
}

/** Multiplies lr by gamma every step: lr_t = baseLr·gamma^t (torch's chainable form). */
export class ExponentialLR extends LRScheduler {
  private gamma: number;

  constructor(optimizer: AnyOptimizer, options: ExponentialLROptions) {
    checkKnownKeys('ExponentialLR', options, ['gamma']);
    requireNonNegative('ExponentialLR', 'gamma', options.gamma);
    super('ExponentialLR', optimizer);
    this.gamma = options.gamma;
    this._initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    if (epoch === 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma);
  }

  protected override closedFormLr(epoch: number): number[] {
    return this.bases.map((b) => b * this.gamma ** epoch);
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { gamma: this.gamma };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    requireNonNegative('ExponentialLR', 'gamma', sd.gamma, ' (state dict)');
    this.gamma = sd.gamma;
  }
}

// ---- ConstantLR ------------------------------------------------------------------------------

export interface ConstantLROptions {
  factor?: number;
  totalIters?: number;
}

function checkConstant(factor: unknown, totalIters: unknown, where = ''): void {
  // torch accepts 0 and then divides by it at totalIters (ZeroDivisionError); refuse it up front.
  if (typeof factor !== 'number' || !(factor > 0 && factor <= 1)) {
    fail('ConstantLR', `factor must be in (0, 1], got ${fmtValue(factor)}${where}`);
  }
  requirePositiveInt('ConstantLR', 'totalIters', totalIters, where);
}

/**
 * Scales lr by factor for the first totalIters steps, then restores it (torch's chainable form:
 * ×factor at step 0, ×1/factor at step totalIters). Closed form: baseLr·(factor if t < T else 1).
 */
export class ConstantLR extends LRScheduler {
  private factor: number;
  private totalIters: number;

  constructor(optimizer: AnyOptimizer, options: ConstantLROptions = {}) {
    checkKnownKeys('ConstantLR', options, ['factor', 'totalIters']);
    const factor = options.factor ?? 1 / 3;
    const totalIters = options.totalIters ?? 5;
    checkConstant(factor, totalIters);
    super('ConstantLR', optimizer);
    this.factor = factor;
    this.totalIters = totalIters;
    this._initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    if (epoch === 0) return this.groups.map((g) => g.lr * this.factor);
    if (epoch !== this.totalIters) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * (1.0 / this.factor));
  }

  protected override closedFormLr(epoch: number): number[] {
    const f = this.factor;
    return this.bases.map((b) => b * (f + (epoch >= this.totalIters ? 1 : 0) * (1 - f)));
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { factor: this.factor, totalIters: this.totalIters };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    checkConstant(sd.factor, sd.totalIters, ' (state dict)');
    this.factor = sd.factor as number;
    this.totalIters = sd.totalIters as number;
  }
}

// ---- LambdaLR and MultiplicativeLR -----------------------------------------------------------

/** A factor as a function of the step count (torch's lr_lambda). */
export type LrLambda = (epoch: number) => number;

export interface LambdaLROptions {
  /** One function for every param group, or one per group. */
  lrLambda: LrLambda | readonly LrLambda[];
}

function checkLambdas(op: string, v: unknown, groups: number): LrLambda[] {
  if (typeof v === 'function') return new Array<LrLambda>(groups).fill(v as LrLambda);
  if (!Array.isArray(v)) fail(op, `lrLambda must be a function or an array of functions (one per param group), got ${fmtValue(v)}`);
  if (v.length !== groups) fail(op, `expected ${groups} lrLambda functions (one per param group), got ${v.length}`);
  v.forEach((f: unknown, i: number) => {
    if (typeof f !== 'function') fail(op, `lrLambda[${i}] must be a function, got ${fmtValue(f)}`);
  });
  return (v as LrLambda[]).slice();
}

/** Calls group i's function at `epoch`; its result must be a factor an lr can be multiplied by. */
function factorAt(op: string, fns: readonly LrLambda[], i: number, epoch: number): number {
  const f = fns[i](epoch);
  if (typeof f !== 'number' || !Number.isFinite(f) || f < 0) {
    fail(op, `lrLambda for param group ${i} returned ${fmtValue(f)} at epoch ${epoch}; it must return a non-negative finite number`);
  }
  return f;
}

/**
 * lr_t = baseLr·lrLambda(t) (torch.optim.lr_scheduler.LambdaLR, closed form). Its state dict leaves
 * the functions out, as torch's does for plain functions: the loading scheduler keeps its own.
 */
export class LambdaLR extends LRScheduler {
  private readonly lambdas: LrLambda[];

  constructor(optimizer: AnyOptimizer, options: LambdaLROptions) {
    checkOptimizer('LambdaLR', optimizer);
    checkKnownKeys('LambdaLR', options, ['lrLambda']);
    const lambdas = checkLambdas('LambdaLR', options.lrLambda, optimizer.paramGroups.length);
    super('LambdaLR', optimizer);
    this.lambdas = lambdas;
    this._initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    return this.bases.map((b, i) => b * factorAt(this.name, this.lambdas, i, epoch));
  }

  protected override configState(): { [key: string]: JsonValue } {
    return {};
  }

  protected override loadConfig(_sd: Record<string, unknown>): void {}
}

/**
 * Multiplies lr by lrLambda(t) at every step t ≥ 1 (torch.optim.lr_scheduler.MultiplicativeLR,
 * chainable; torch has no closed form, so SequentialLR starting it at a milestone keeps the lr it
 * finds). Its state dict leaves the functions out, as LambdaLR's.
 */
export class MultiplicativeLR extends LRScheduler {
  private readonly lambdas: LrLambda[];

  constructor(optimizer: AnyOptimizer, options: LambdaLROptions) {
    checkOptimizer('MultiplicativeLR', optimizer);
    checkKnownKeys('MultiplicativeLR', options, ['lrLambda']);
    const lambdas = checkLambdas('MultiplicativeLR', options.lrLambda, optimizer.paramGroups.length);
    super('MultiplicativeLR', optimizer);
    this.lambdas = lambdas;
    this._initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    if (epoch === 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g, i) => g.lr * factorAt(this.name, this.lambdas, i, epoch));
  }

  protected override configState(): { [key: string]: JsonValue } {
    return {};
  }

  protected override loadConfig(_sd: Record<string, unknown>): void {}
}

// ---- ReduceLROnPlateau -----------------------------------------------------------------------

export interface ReduceLROnPlateauOptions {
  /** 'min': a lower metric is better (a loss); 'max': a higher one (an accuracy). */
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  /** A floor for every param group, or one per group. */
  minLr?: number | readonly number[];
  eps?: number;
}

/** ReduceLROnPlateau's state: plain JSON; an infinite best (nothing counted yet) is 'inf' / '-inf'. */
export interface ReduceLROnPlateauStateDict {
  kind: 'ReduceLROnPlateau';
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  cooldown: number;
  minLrs: number[];
  eps: number;
  best: number | 'inf' | '-inf';
  numBadEpochs: number;
  cooldownCounter: number;
  lastEpoch: number;
  lastLr: number[];
  [key: string]: JsonValue;
}

interface PlateauConfig {
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  cooldown: number;
  eps: number;
}

function checkPlateauConfig(c: Record<string, unknown>, where = ''): PlateauConfig {
  const op = 'ReduceLROnPlateau';
  if (c.mode !== 'min' && c.mode !== 'max') fail(op, `mode must be 'min' or 'max', got ${fmtValue(c.mode)}${where}`);
  if (c.thresholdMode !== 'rel' && c.thresholdMode !== 'abs') {
    fail(op, `thresholdMode must be 'rel' or 'abs', got ${fmtValue(c.thresholdMode)}${where}`);
  }
  // torch: "Factor should be < 1.0"; a negative one would only ever set minLr.
  requireInRange(op, 'factor', c.factor, 0, 1, false, where);
  requireNonNegativeInt(op, 'patience', c.patience, where);
  requireNonNegative(op, 'threshold', c.threshold, where);
  requireNonNegativeInt(op, 'cooldown', c.cooldown, where);
  requireNonNegative(op, 'eps', c.eps, where);
  return {
    mode: c.mode, factor: c.factor, patience: c.patience, threshold: c.threshold, thresholdMode: c.thresholdMode,
    cooldown: c.cooldown, eps: c.eps,
  };
}

function checkMinLrs(v: unknown, groups: number, where = ''): number[] {
  const op = 'ReduceLROnPlateau';
  if (Array.isArray(v)) {
    if (v.length !== groups) fail(op, `expected ${groups} minLr values (one per param group), got ${v.length}${where}`);
    v.forEach((x: unknown, i: number) => requireNonNegative(op, `minLr[${i}]`, x, where));
    return (v as number[]).slice();
  }
  requireNonNegative(op, 'minLr', v, where);
  return new Array<number>(groups).fill(v);
}

/**
 * Divides lr by 1/factor once a metric has stopped improving for more than `patience` steps
 * (torch.optim.lr_scheduler.ReduceLROnPlateau, torch 1.13's step exactly). `step(metric)` counts a
 * metric as better than the best so far when, in 'min' mode, it is below best·(1 − threshold)
 * ('rel') or best − threshold ('abs'), in 'max' mode above best·(1 + threshold) or best + threshold;
 * a NaN metric is never better. Steps in cooldown count no bad epochs. A reduction sets each group
 * to max(lr·factor, minLr) only where that lowers lr by more than eps.
 *
 * As in torch it is not an LRScheduler: it reads a metric, has no schedule to chain, and SequentialLR
 * refuses it. It sets no initialLr. loadStateDict restores its counters and configuration and, once
 * it has stepped, the groups' lr after its last step (torch's leaves lr to the optimizer's state
 * dict, but here the other schedulers' loads write lr, and would undo its reductions).
 */
export class ReduceLROnPlateau {
  readonly optimizer: AnyOptimizer;
  readonly name = 'ReduceLROnPlateau';
  private config: PlateauConfig;
  private minLrs: number[];
  private bestSoFar: number;
  private badEpochs = 0;
  private cooldownLeft = 0;
  private epoch = 0;
  private lastLrs: number[];

  constructor(optimizer: AnyOptimizer, options: ReduceLROnPlateauOptions = {}) {
    const op = 'ReduceLROnPlateau';
    checkOptimizer(op, optimizer);
    checkKnownKeys(op, options, ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr', 'eps']);
    this.config = checkPlateauConfig({
      mode: options.mode ?? 'min',
      factor: options.factor ?? 0.1,
      patience: options.patience ?? 10,
      threshold: options.threshold ?? 1e-4,
      thresholdMode: options.thresholdMode ?? 'rel',
      cooldown: options.cooldown ?? 0,
      eps: options.eps ?? 1e-8,
    });
    this.minLrs = checkMinLrs(options.minLr ?? 0, optimizer.paramGroups.length);
    this.optimizer = optimizer;
    this.bestSoFar = this.worst();
    this.lastLrs = optimizer.paramGroups.map((g) => g.lr);
  }

  /** The number of steps taken (torch's last_epoch; 0 right after construction). */
  get lastEpoch(): number {
    return this.epoch;
  }

  /** The best metric so far (Infinity in 'min' mode, −Infinity in 'max', before any counts). */
  get best(): number {
    return this.bestSoFar;
  }

  /** Steps since the last improvement, not counting steps in cooldown. */
  get numBadEpochs(): number {
    return this.badEpochs;
  }

  get cooldownCounter(): number {
    return this.cooldownLeft;
  }

  get inCooldown(): boolean {
    return this.cooldownLeft > 0;
  }

  /** The groups' lr after the last step (or at construction). */
  getLastLr(): number[] {
    return this.lastLrs.slice();
  }

  /** Counts one step with this metric value (a number, or a one-element tensor, read with item()). */
  step(metric: number | { item(): number }): void {
    const op = this.name;
    let current: unknown = metric;
    if (typeof metric === 'object' && metric !== null && typeof (metric as { item?: unknown }).item === 'function') {
      current = (metric as { item(): number }).item();
    }
    if (typeof current !== 'number') fail(op, `step: metric must be a number (or a tensor with one element), got ${fmtValue(metric)}`);
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.minLrs.length) {
      fail(op, `the optimizer has ${groups.length} param groups but the scheduler was built for ${this.minLrs.length}`);
    }
    this.epoch += 1;
    if (this.isBetter(current, this.bestSoFar)) {
      this.bestSoFar = current;
      this.badEpochs = 0;
    } else {
      this.badEpochs += 1;
    }
    if (this.cooldownLeft > 0) {
      this.cooldownLeft -= 1;
      this.badEpochs = 0; // bad epochs in cooldown are ignored
    }
    if (this.badEpochs > this.config.patience) {
      groups.forEach((g, i) => {
        const oldLr = g.lr;
        const newLr = Math.max(oldLr * this.config.factor, this.minLrs[i]);
        if (oldLr - newLr > this.config.eps) g.lr = newLr;
      });
      this.cooldownLeft = this.config.cooldown;
      this.badEpochs = 0;
    }
    this.lastLrs = groups.map((g) => g.lr);
  }

  private worst(): number {
    return this.config.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(a: number, best: number): boolean {
    const { mode, thresholdMode, threshold } = this.config;
    if (mode === 'min' && thresholdMode === 'rel') return a < best * (1 - threshold);
    if (mode === 'min') return a < best - threshold;
    if (thresholdMode === 'rel') return a > best * (threshold + 1);
    return a > best + threshold;
  }

  stateDict(): ReduceLROnPlateauStateDict {
    const best = this.bestSoFar;
    return {
      kind: 'ReduceLROnPlateau',
      ...this.config,
      minLrs: this.minLrs.slice(),
      best: best === Infinity ? 'inf' : best === -Infinity ? '-inf' : best,
      numBadEpochs: this.badEpochs,
      cooldownCounter: this.cooldownLeft,
      lastEpoch: this.epoch,
      lastLr: this.lastLrs.slice(),
    };
  }

  /** Restores a state saved by stateDict (every field checked before anything changes). */
  loadStateDict(sd: ReduceLROnPlateauStateDict | CheckpointValue | undefined): void {
    const op = `${this.name}: loadStateDict:`;
    if (!isRecord(sd)) throw new Error(`${op} expected a ReduceLROnPlateau state dict, got ${fmtValue(sd)}`);
    if (sd.kind !== this.name) throw new Error(`${op} the state dict is from a ${fmtValue(sd.kind)}, not a ${this.name}`);
    const where = ' (state dict)';
    const config = checkPlateauConfig(sd, where);
    const n = this.optimizer.paramGroups.length;
    if (!Array.isArray(sd.minLrs)) throw new Error(`${op} minLrs must be an array of ${n} numbers, got ${fmtValue(sd.minLrs)}`);
    const minLrs = checkMinLrs(sd.minLrs, n, where);
    const rawBest = sd.best;
    const best = rawBest === 'inf' ? Infinity : rawBest === '-inf' ? -Infinity : rawBest;
    if (typeof best !== 'number' || Number.isNaN(best)) {
      throw new Error(`${op} best must be a number, 'inf' or '-inf', got ${fmtValue(rawBest)}`);
    }
    requireNonNegativeInt(this.name, 'numBadEpochs', sd.numBadEpochs, where);
    requireNonNegativeInt(this.name, 'cooldownCounter', sd.cooldownCounter, where);
    requireNonNegativeInt(this.name, 'lastEpoch', sd.lastEpoch, where);
    const lastLr = sd.lastLr;
    if (!isNumberArray(lastLr) || lastLr.length !== n) {
      throw new Error(`${op} lastLr must be an array of ${n} finite numbers (one per param group), got ${fmtValue(lastLr)}`);
    }
    this.config = config;
    this.minLrs = minLrs;
    this.bestSoFar = best;
    this.badEpochs = sd.numBadEpochs;
    this.cooldownLeft = sd.cooldownCounter;
    this.epoch = sd.lastEpoch;
    this.lastLrs = lastLr.slice();
    // Like every scheduler here, write back the lr it set, so that loaded after the optimizer (and
    // after a scheduler stepped before it) its reductions are not undone. Never stepped, it set none.
    if (this.epoch > 0) {
      this.optimizer.paramGroups.forEach((g, i) => {
        g.lr = lastLr[i];
      });
    }
  }
}

// ---- SequentialLR ----------------------------------------------------------------------------

export interface SequentialLROptions {
  schedulers: readonly LRScheduler[];
  /** Steps at which the next scheduler takes over; one fewer than schedulers, increasing. */
  milestones: readonly number[];
}

function checkIncreasing(op: string, milestones: unknown, count: number, where = ''): number[] {
  if (!Array.isArray(milestones) || milestones.length !== count) {
    fail(op, `milestones must be an array of ${count} integers (one fewer than schedulers), got ${fmtValue(milestones)}${where}`);
  }
  milestones.forEach((m: unknown, i: number) => {
    requireNonNegativeInt(op, `milestones[${i}]`, m, where);
    if (i > 0 && (m as number) <= milestones[i - 1]) {
      fail(op, `milestones must be strictly increasing, got ${fmtValue(milestones)}${where}`);
    }
  });
  return (milestones as number[]).slice();
}

/**
 * Runs schedulers one after another (torch.optim.lr_scheduler.SequentialLR), e.g. LinearLR
 * warm-up then CosineAnnealingLR. At construction the groups' lr is reset to initialLr and only
 * the first scheduler's initial step is kept; at milestone m the next scheduler restarts from
 * epoch 0 via its closed form.
 */
export class SequentialLR extends LRScheduler {
  private readonly schedulers: LRScheduler[];
  private milestones: number[];

  constructor(optimizer: AnyOptimizer, options: SequentialLROptions) {
    const op = 'SequentialLR';
    checkOptimizer(op, optimizer);
    checkKnownKeys(op, options, ['schedulers', 'milestones']);
    const schedulers = options.schedulers;
    if (!Array.isArray(schedulers) || schedulers.length === 0) {
      fail(op, `schedulers must be a non-empty array of schedulers, got ${fmtValue(schedulers)}`);
    }
    schedulers.forEach((s: unknown, i: number) => {
      if (s instanceof ReduceLROnPlateau) {
        fail(op, `schedulers[${i}] is a ReduceLROnPlateau, which steps on a metric and cannot be chained (as in torch); step it yourself with step(metric)`);
      }
      if (!(s instanceof LRScheduler)) fail(op, `schedulers[${i}] must be a scheduler, got ${fmtValue(s)}`);
      if (s instanceof SequentialLR) fail(op, `schedulers[${i}] is a SequentialLR; nesting is not supported`);
      if (s instanceof ChainedScheduler) fail(op, `schedulers[${i}] is a ChainedScheduler; nesting is not supported`);
      if (s.optimizer !== optimizer) fail(op, `schedulers[${i}] (${s.name}) belongs to a different optimizer`);
    });
    const milestones = checkIncreasing(op, options.milestones, schedulers.length - 1);
    super(op, optimizer);
    this.schedulers = (schedulers as LRScheduler[]).slice();
    this.milestones = milestones;

    this.epoch = 0;
    this.groups.forEach((g) => {
      g.lr = g.initialLr as number;
    });
    for (const s of this.schedulers) s._undoStep();
    // torch takes the first scheduler's initial step whatever the milestones (even one at 0).
    const first = this.schedulers[0];
    first._initialStep();
    this.applyLr(first.getLastLr(), 0);
  }

  override step(): void {
    const epoch = this.epoch + 1;
    const idx = bisectRight(this.milestones, epoch);
    const s = this.schedulers[idx];
    if (idx > 0 && this.milestones[idx - 1] === epoch) s._jumpTo(0);
    else s.step();
    this.epoch = epoch;
    this.stepCount += 1;
    this.applyLr(s.getLastLr(), epoch);
  }

  protected override computeLr(_epoch: number): number[] {
    // step() delegates to the child schedulers; nothing reaches this.
    return this.groups.map((g) => g.lr);
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { milestones: this.milestones.slice(), schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    const where = ' (state dict)';
    const milestones = checkIncreasing(this.name, sd.milestones, this.schedulers.length - 1, where);
    const states = sd.schedulers;
    if (!Array.isArray(states) || states.length !== this.schedulers.length) {
      fail(this.name, `schedulers must be an array of ${this.schedulers.length} state dicts${where}, got ${fmtValue(states)}`);
    }
    // All or nothing: a child that rejects its state must not leave the ones before it (and the
    // optimizer's lrs, which each load writes) changed.
    const before = this.schedulers.map((s) => s.stateDict());
    const lrs = this.groups.map((g) => g.lr);
    try {
      this.schedulers.forEach((s, i) => s.loadStateDict(states[i] as SchedulerStateDict));
    } catch (e) {
      this.schedulers.forEach((s, i) => s.loadStateDict(before[i]));
      this.groups.forEach((g, i) => {
        g.lr = lrs[i];
      });
      throw e;
    }
    this.milestones = milestones;
  }
}

// ---- CosineAnnealingWarmRestarts ---------------------------------------------------------------

export interface CosineAnnealingWarmRestartsOptions {
  /** Steps until the first restart (torch's T_0). */
  t0: number;
  /** Factor by which each period grows after a restart, an integer ≥ 1 (torch's T_mult). */
  tMult?: number;
  etaMin?: number;
}

function checkWarmRestarts(t0: unknown, tMult: unknown, etaMin: unknown, where = ''): void {
  const op = 'CosineAnnealingWarmRestarts';
  requirePositiveInt(op, 't0', t0, where);
  requirePositiveInt(op, 'tMult', tMult, where); // torch: "Expected integer T_mult >= 1"
  requireNonNegative(op, 'etaMin', etaMin, where);
}

/**
 * SGDR (torch.optim.lr_scheduler.CosineAnnealingWarmRestarts): lr = etaMin + (baseLr − etaMin)·
 * (1 + cos(π·tCur/tI))/2, where tCur counts the steps since the last restart and the period tI starts
 * at t0 and is multiplied by tMult at each restart (restarts at t0, t0 + t0·tMult, …). Closed form
 * in torch (it reads baseLrs, not the groups' lr), so it does not stack with other schedulers.
 * torch's step(epoch) with a fractional epoch is not offered: step() advances by one.
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  private t0: number;
  private tMult: number;
  private etaMin: number;
  private tI: number;
  private tCur: number;

  constructor(optimizer: AnyOptimizer, options: CosineAnnealingWarmRestartsOptions) {
    const op = 'CosineAnnealingWarmRestarts';
    checkKnownKeys(op, options, ['t0', 'tMult', 'etaMin']);
    const tMult = options.tMult ?? 1;
    const etaMin = options.etaMin ?? 0;
    checkWarmRestarts(options.t0, tMult, etaMin);
    super(op, optimizer);
    this.t0 = options.t0;
    this.tMult = tMult;
    this.etaMin = etaMin;
    this.tI = options.t0;
    this.tCur = -1; // torch's T_cur = last_epoch before the initial step
    this._initialStep();
  }

  /** tCur and tI after the next step (torch's step() without an epoch; the first one is step(0)). */
  private next(): { tCur: number; tI: number } {
    if (this.epoch < 0) return { tCur: 0, tI: this.t0 };
    let tCur = this.tCur + 1;
    let tI = this.tI;
    if (tCur >= tI) {
      tCur -= tI;
      tI *= this.tMult;
    }
    return { tCur, tI };
  }

  /** tCur and tI at `epoch` counted from the start (torch's step(epoch)). */
  private at(epoch: number): { tCur: number; tI: number } {
    const { t0, tMult } = this;
    if (epoch < t0) return { tCur: epoch, tI: t0 };
    if (tMult === 1) return { tCur: epoch % t0, tI: t0 };
    const n = Math.floor(Math.log((epoch / t0) * (tMult - 1) + 1) / Math.log(tMult));
    return { tCur: epoch - (t0 * (tMult ** n - 1)) / (tMult - 1), tI: t0 * tMult ** n };
  }

  private cosine(tCur: number, tI: number): number[] {
    const etaMin = this.etaMin;
    return this.bases.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((Math.PI * tCur) / tI))) / 2);
  }

  override step(): void {
    const next = this.next();
    super.step(); // computeLr reads next() too; the counters move only once the step has succeeded
    this.tCur = next.tCur;
    this.tI = next.tI;
  }

  /** @internal SequentialLR's step(0) at a milestone: torch's explicit-epoch branch. */
  override _jumpTo(epoch: number): void {
    const at = this.at(epoch);
    super._jumpTo(epoch);
    this.tCur = at.tCur;
    this.tI = at.tI;
  }

  protected override computeLr(_epoch: number): number[] {
    const { tCur, tI } = this.next();
    return this.cosine(tCur, tI);
  }

  protected override closedFormLr(epoch: number): number[] {
    const { tCur, tI } = this.at(epoch);
    return this.cosine(tCur, tI);
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { t0: this.t0, tMult: this.tMult, etaMin: this.etaMin, tI: this.tI, tCur: this.tCur };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    const where = ' (state dict)';
    checkWarmRestarts(sd.t0, sd.tMult, sd.etaMin, where);
    requirePositiveInt(this.name, 'tI', sd.tI, where);
    requireNonNegativeInt(this.name, 'tCur', sd.tCur, where);
    if (sd.tCur >= sd.tI) fail(this.name, `tCur must be less than tI, got tCur ${sd.tCur} and tI ${sd.tI}${where}`);
    this.t0 = sd.t0 as number;
    this.tMult = sd.tMult as number;
    this.etaMin = sd.etaMin as number;
    this.tI = sd.tI;
    this.tCur = sd.tCur;
  }
}

// ---- PolynomialLR ------------------------------------------------------------------------------

export interface PolynomialLROptions {
  totalIters?: number;
  power?: number;
}

function checkPolynomial(totalIters: unknown, power: unknown, where = ''): void {
  // torch checks neither; a negative power would make the last step's factor 0^power infinite.
  requirePositiveInt('PolynomialLR', 'totalIters', totalIters, where);
  requireNonNegative('PolynomialLR', 'power', power, where);
}

/**
 * Decays lr polynomially to 0 over totalIters steps, then keeps it (torch 1.13's
 * torch.optim.lr_scheduler.PolynomialLR, chainable form). Closed form:
 * baseLr·(1 − min(t, totalIters)/totalIters)^power.
 */
export class PolynomialLR extends LRScheduler {
  private totalIters: number;
  private power: number;

  constructor(optimizer: AnyOptimizer, options: PolynomialLROptions = {}) {
    checkKnownKeys('PolynomialLR', options, ['totalIters', 'power']);
    const totalIters = options.totalIters ?? 5;
    const power = options.power ?? 1;
    checkPolynomial(totalIters, power);
    super('PolynomialLR', optimizer);
    this.totalIters = totalIters;
    this.power = power;
    this._initialStep();
  }

  protected override computeLr(epoch: number): number[] {
    const T = this.totalIters;
    if (epoch === 0 || epoch > T) return this.groups.map((g) => g.lr);
    const factor = ((1 - epoch / T) / (1 - (epoch - 1) / T)) ** this.power;
    return this.groups.map((g) => g.lr * factor);
  }

  protected override closedFormLr(epoch: number): number[] {
    const T = this.totalIters;
    return this.bases.map((b) => b * (1 - Math.min(T, epoch) / T) ** this.power);
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { totalIters: this.totalIters, power: this.power };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    checkPolynomial(sd.totalIters, sd.power, ' (state dict)');
    this.totalIters = sd.totalIters as number;
    this.power = sd.power as number;
  }
}

// ---- CyclicLR ----------------------------------------------------------------------------------

/** torch's CyclicLR modes, spelt as torch spells them. */
export type CyclicMode = 'triangular' | 'triangular2' | 'exp_range';

export interface CyclicLROptions {
  /** The cycle's lower lr, one for all groups or one per group; written into the groups at construction. */
  baseLr: number | readonly number[];
  /** The cycle's upper lr, one for all groups or one per group. */
  maxLr: number | readonly number[];
  stepSizeUp?: number;
  /** Defaults to stepSizeUp. */
  stepSizeDown?: number;
  mode?: CyclicMode;
  /** exp_range's factor: the amplitude is scaled by gamma^step. */
  gamma?: number;
  /** Moves the optimizer's momentum inversely to lr (torch 1.13: SGD-style `momentum` only). */
  cycleMomentum?: boolean;
  baseMomentum?: number | readonly number[];
  maxMomentum?: number | readonly number[];
}

const CYCLIC_MODES: readonly string[] = ['triangular', 'triangular2', 'exp_range'];

function checkCyclicMode(op: string, mode: unknown, where = ''): asserts mode is CyclicMode {
  if (typeof mode !== 'string' || !CYCLIC_MODES.includes(mode)) {
    fail(op, `mode must be 'triangular', 'triangular2' or 'exp_range', got ${fmtValue(mode)}${where}`);
  }
}

function hasMomentum(optimizer: AnyOptimizer): boolean {
  return 'momentum' in (optimizer.defaults as Readonly<Record<string, unknown>>);
}

/**
 * Cyclical learning rates (torch 1.13's torch.optim.lr_scheduler.CyclicLR): lr goes from baseLr up
 * to maxLr in stepSizeUp steps and back down in stepSizeDown, the amplitude scaled per cycle by 1
 * ('triangular'), 1/2^(cycle−1) ('triangular2') or per step by gamma^step ('exp_range'). Step it
 * after every batch. Closed form (reads baseLrs, not the groups' lr).
 *
 * With cycleMomentum (the default, as in torch) the groups' `momentum` moves inversely, from
 * maxMomentum at the cycle's low lr to baseMomentum at its peak; as in torch 1.13, that needs an
 * optimizer with a `momentum` option (SGD, RMSprop): for Adam-like optimizers pass
 * cycleMomentum: false (torch 1.13 raises too; cycling beta1 came in later versions). A custom
 * scale function (torch's scale_fn) is not offered.
 */
export class CyclicLR extends LRScheduler {
  private maxLrs: number[];
  private totalSize: number;
  private stepRatio: number;
  private mode: CyclicMode;
  private gamma: number;
  private cycleMomentum: boolean;
  private baseMomentums: number[];
  private maxMomentums: number[];

  constructor(optimizer: AnyOptimizer, options: CyclicLROptions) {
    const op = 'CyclicLR';
    checkOptimizer(op, optimizer);
    checkKnownKeys(op, options, [
      'baseLr', 'maxLr', 'stepSizeUp', 'stepSizeDown', 'mode', 'gamma', 'cycleMomentum', 'baseMomentum', 'maxMomentum',
    ]);
    const n = optimizer.paramGroups.length;
    const nonNeg = (x: unknown, label: string): void => requireNonNegative(op, label, x);
    const baseLrs = perGroup(op, 'baseLr', options.baseLr, n, nonNeg);
    const maxLrs = perGroup(op, 'maxLr', options.maxLr, n, nonNeg);
    const up = options.stepSizeUp ?? 2000;
    requirePositive(op, 'stepSizeUp', up);
    const down = options.stepSizeDown ?? up;
    requireNonNegative(op, 'stepSizeDown', down);
    const mode = options.mode ?? 'triangular';
    checkCyclicMode(op, mode);
    const gamma = options.gamma ?? 1;
    requirePositive(op, 'gamma', gamma);
    const cycleMomentum = options.cycleMomentum ?? true;
    requireBoolean(op, 'cycleMomentum', cycleMomentum);
    const baseMomentums = perGroup(op, 'baseMomentum', options.baseMomentum ?? 0.8, n, nonNeg);
    const maxMomentums = perGroup(op, 'maxMomentum', options.maxMomentum ?? 0.9, n, nonNeg);
    if (cycleMomentum && !hasMomentum(optimizer)) {
      fail(op, `cycleMomentum needs an optimizer with a momentum option, got ${optimizer.name} (as in torch 1.13); pass cycleMomentum: false`);
    }

    // As torch: the groups start at baseLr (and baseMomentum), then the base class records initialLr.
    optimizer.paramGroups.forEach((g, i) => {
      g.lr = baseLrs[i];
      if (cycleMomentum) (g as unknown as { momentum: number }).momentum = baseMomentums[i];
    });
    super(op, optimizer);
    this.bases = baseLrs;
    this.maxLrs = maxLrs;
    this.totalSize = up + down;
    this.stepRatio = up / (up + down);
    this.mode = mode;
    this.gamma = gamma;
    this.cycleMomentum = cycleMomentum;
    this.baseMomentums = baseMomentums;
    this.maxMomentums = maxMomentums;
    this._initialStep();
  }

  /** Where `epoch` sits in its cycle (0 at the low ends, 1 at the peak) and the amplitude's scale. */
  private position(epoch: number): { scale: number; amplitude: number } {
    const cycle = Math.floor(1 + epoch / this.totalSize);
    const x = 1 + epoch / this.totalSize - cycle;
    const scale = x <= this.stepRatio ? x / this.stepRatio : (x - 1) / (this.stepRatio - 1);
    const amplitude =
      this.mode === 'triangular' ? 1 : this.mode === 'triangular2' ? 1 / 2 ** (cycle - 1) : this.gamma ** epoch;
    return { scale, amplitude };
  }

  protected override computeLr(epoch: number): number[] {
    const { scale, amplitude } = this.position(epoch);
    return this.bases.map((b, i) => b + (this.maxLrs[i] - b) * scale * amplitude);
  }

  protected override applyLr(lrs: readonly number[], epoch: number): void {
    super.applyLr(lrs, epoch);
    // epoch −1 only comes from loading the state of a SequentialLR's scheduler still waiting for its
    // milestone: its position −1 is no point of the cycle (it would write maxMomentum − Δ/stepSizeDown),
    // and it has set no momentum since its initial step, so the groups keep what they have (the
    // optimizer's saved momentum, or the initial step's), as torch's load, which writes no group.
    if (!this.cycleMomentum || epoch < 0) return;
    const { scale, amplitude } = this.position(epoch);
    this.groups.forEach((g, i) => {
      const hi = this.maxMomentums[i];
      (g as unknown as { momentum: number }).momentum = hi - (hi - this.baseMomentums[i]) * scale * amplitude;
    });
  }

  protected override configState(): { [key: string]: JsonValue } {
    return {
      maxLrs: this.maxLrs.slice(),
      totalSize: this.totalSize,
      stepRatio: this.stepRatio,
      mode: this.mode,
      gamma: this.gamma,
      cycleMomentum: this.cycleMomentum,
      baseMomentums: this.baseMomentums.slice(),
      maxMomentums: this.maxMomentums.slice(),
    };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    const op = this.name;
    const where = ' (state dict)';
    requirePositive(op, 'totalSize', sd.totalSize, where);
    requireInRange(op, 'stepRatio', sd.stepRatio, 0, 1, true, where);
    if (sd.stepRatio === 0) fail(op, `stepRatio must be in (0, 1], got 0${where}`);
    checkCyclicMode(op, sd.mode, where);
    requirePositive(op, 'gamma', sd.gamma, where);
    requireBoolean(op, 'cycleMomentum', sd.cycleMomentum, where);
    if (sd.cycleMomentum && !hasMomentum(this.optimizer)) {
      fail(op, `the state dict cycles momentum but ${this.optimizer.name} has no momentum option${where}`);
    }
    const n = this.groups.length;
    const arrays: Record<string, number[]> = {};
    for (const key of ['maxLrs', 'baseMomentums', 'maxMomentums']) {
      const v = sd[key];
      if (!isNumberArray(v) || v.length !== n || v.some((x) => x < 0)) {
        fail(op, `${key} must be an array of ${n} non-negative numbers${where}, got ${fmtValue(v)}`);
      }
      arrays[key] = v.slice();
    }
    this.maxLrs = arrays.maxLrs;
    this.totalSize = sd.totalSize;
    this.stepRatio = sd.stepRatio;
    this.mode = sd.mode;
    this.gamma = sd.gamma;
    this.cycleMomentum = sd.cycleMomentum;
    this.baseMomentums = arrays.baseMomentums;
    this.maxMomentums = arrays.maxMomentums;
  }
}

// ---- ChainedScheduler --------------------------------------------------------------------------

/**
 * Steps several schedulers of one optimizer together, each after the other, every step()
 * (torch.optim.lr_scheduler.ChainedScheduler): chainable schedulers multiply their effects, e.g.
 * ConstantLR's warm-up factor on top of ExponentialLR's decay. Built from the schedulers alone, as in
 * torch; it takes no step at construction (they each took theirs). getLastLr() is the groups' lr
 * after the last scheduler. Its state dict holds each scheduler's.
 */
export class ChainedScheduler extends LRScheduler {
  private readonly schedulers: LRScheduler[];

  constructor(schedulers: readonly LRScheduler[]) {
    const op = 'ChainedScheduler';
    if (!Array.isArray(schedulers) || schedulers.length === 0) {
      fail(op, `schedulers must be a non-empty array of schedulers, got ${fmtValue(schedulers)}`);
    }
    schedulers.forEach((s: unknown, i: number) => {
      if (s instanceof ReduceLROnPlateau) {
        fail(op, `schedulers[${i}] is a ReduceLROnPlateau, which steps on a metric and cannot be chained; step it yourself with step(metric)`);
      }
      if (!(s instanceof LRScheduler)) fail(op, `schedulers[${i}] must be a scheduler, got ${fmtValue(s)}`);
      if (s.optimizer !== schedulers[0].optimizer) {
        fail(op, `schedulers[${i}] (${s.name}) belongs to a different optimizer than schedulers[0] (${schedulers[0].name})`);
      }
    });
    super(op, schedulers[0].optimizer);
    this.schedulers = schedulers.slice();
    this.epoch = 0;
    this.applyLr(this.groups.map((g) => g.lr), 0);
  }

  override step(): void {
    for (const s of this.schedulers) s.step();
    this.epoch += 1;
    this.stepCount += 1;
    this.applyLr(this.groups.map((g) => g.lr), this.epoch);
  }

  protected override computeLr(_epoch: number): number[] {
    // step() delegates to the schedulers; nothing reaches this.
    return this.groups.map((g) => g.lr);
  }

  protected override configState(): { [key: string]: JsonValue } {
    return { schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  protected override loadConfig(sd: Record<string, unknown>): void {
    const states = sd.schedulers;
    if (!Array.isArray(states) || states.length !== this.schedulers.length) {
      fail(this.name, `schedulers must be an array of ${this.schedulers.length} state dicts (state dict), got ${fmtValue(states)}`);
    }
    // All or nothing, as SequentialLR's.
    const before = this.schedulers.map((s) => s.stateDict());
    const lrs = this.groups.map((g) => g.lr);
    try {
      this.schedulers.forEach((s, i) => s.loadStateDict(states[i] as SchedulerStateDict));
    } catch (e) {
      this.schedulers.forEach((s, i) => s.loadStateDict(before[i]));
      this.groups.forEach((g, i) => {
        g.lr = lrs[i];
      });
      throw e;
    }
  }
}
