/**
 * The optimizer base class: parameter groups, per-parameter state, zeroGrad and state dicts laid
 * out as torch.optim lays them out.
 *
 * An optimizer only needs `{ data, grad }` pairs of typed arrays, so `lib/` never imports the
 * Tensor class: a Tensor satisfies `Parameter` structurally (`data` is its live contiguous
 * storage, `grad` a Tensor or null). Updates write into `param.data` in place.
 */
import { allocate, allocatePlain, allocateShared, dtypeOf, FloatArray, isShared } from '../core/dtype';
import { checkKnownKeys, fail, fmtShape, fmtValue } from '../core/errors';
import type { CheckpointValue } from '../io/checkpoint';
import { sharedCopy } from '../kernels/parallel';

/**
 * Anything an optimizer can update: live storage plus an optional gradient of the same length.
 * The optional members are a Tensor's; when present they are checked, since an update or a clip
 * written into a tensor's `data` is lost unless `data` is its live storage.
 */
export interface Parameter {
  readonly data: FloatArray;
  grad: Gradient | null;
  /** False for the output of an op, which cannot be optimized (only leaves can). */
  readonly isLeaf?: boolean;
  /** What `data` must be, identically: a view reads part of it (or a copy, if not contiguous). */
  readonly storage?: FloatArray;
  readonly shape?: readonly number[];
  /**
   * A Tensor's: records that `data` was changed in place, so a backward through a graph that
   * saved the old values fails instead of giving a wrong gradient. Called by every update.
   */
  _bumpVersion?(): void;
}

/** A parameter's gradient; `isContiguous` is a Tensor's (a non-contiguous one's `data` is a copy). */
export interface Gradient {
  readonly data: FloatArray;
  isContiguous?(): boolean;
  /** A Tensor's: records that `data` was changed in place (see Parameter). */
  _bumpVersion?(): void;
}

/** The hyper-parameters every optimizer has; schedulers only rely on these. */
export interface BaseHyperParams {
  lr: number;
}

/**
 * A parameter group as the optimizer keeps it: its own copy of every hyper-parameter (readable and
 * writable; schedulers write `lr`), its parameters, and `initialLr`, which the first scheduler
 * attached to the optimizer records (torch's `initial_lr`).
 */
export type ParamGroup<H extends BaseHyperParams> = H & { params: Parameter[]; initialLr?: number };

/** A parameter group as passed to a constructor: parameters plus any per-group overrides. */
export type ParamGroupSpec<H extends BaseHyperParams> = Partial<H> & {
  params: Iterable<Parameter>;
  initialLr?: number;
};

/** What an optimizer constructor accepts: parameters, or parameter groups with overrides. */
export type ParamsArg<H extends BaseHyperParams> = Iterable<Parameter> | Iterable<ParamGroupSpec<H>>;

/**
 * Per-parameter state, torch's keys in camelCase. SGD uses `momentumBuffer`; Adam and AdamW `step`,
 * `expAvg`, `expAvgSq`, `maxExpAvgSq`; RMSprop `step`, `squareAvg`, `momentumBuffer`, `gradAvg`;
 * Adagrad `step` and `sum`; NAdam `step`, `muProduct` (a number: torch's one-element tensor), `expAvg`,
 * `expAvgSq`; RAdam `step`, `expAvg`, `expAvgSq`; Adamax `step`, `expAvg`, `expInf`; Adadelta `step`,
 * `squareAvg`, `accDelta`.
 */
export interface ParamState {
  step?: number;
  momentumBuffer?: FloatArray;
  expAvg?: FloatArray;
  expAvgSq?: FloatArray;
  maxExpAvgSq?: FloatArray;
  squareAvg?: FloatArray;
  gradAvg?: FloatArray;
  sum?: FloatArray;
  expInf?: FloatArray;
  accDelta?: FloatArray;
  muProduct?: number;
}

export type ParamStateKey = keyof ParamState;

/** A parameter group inside a state dict: hyper-parameters plus parameter indices. */
export type SavedParamGroup<H extends BaseHyperParams> = H & { params: number[]; initialLr?: number };

/**
 * torch's optimizer state dict: `state` maps a parameter's index (counted across groups in order)
 * to copies of its buffers; `paramGroups` holds each group's hyper-parameters and the indices of
 * its parameters. Everything except the typed-array buffers is JSON-serialisable.
 */
export interface OptimizerStateDict<H extends BaseHyperParams = BaseHyperParams> {
  state: { [index: number]: ParamState };
  paramGroups: SavedParamGroup<H>[];
}

/** What checkHyperParams is checking (see there). */
export type HyperCheck = 'defaults' | 'group' | 'step' | 'load';

/** One param group as checkedGroups() found it: parameters with a gradient, their indices, their gradients. */
export interface CheckedGroup {
  readonly ps: Parameter[];
  readonly ks: number[];
  readonly gs: FloatArray[];
}

/** Which state entries an optimizer writes, so loadStateDict can reject foreign ones. */
export interface StateLayout {
  readonly required: readonly ParamStateKey[];
  readonly optional: readonly ParamStateKey[];
}

export abstract class Optimizer<H extends BaseHyperParams = BaseHyperParams> {
  /** Class name, used as the prefix of every error message. */
  readonly name: string;
  readonly defaults: Readonly<H>;
  readonly paramGroups: ParamGroup<H>[] = [];
  protected readonly paramState = new Map<Parameter, ParamState>();
  private readonly hyperKeys: readonly string[];
  private readonly placement = new Map<Parameter, string>();

  protected constructor(name: string, params: ParamsArg<H>, defaults: H) {
    this.name = name;
    this.checkHyperParams(defaults, '', 'defaults');
    this.hyperKeys = Object.keys(defaults);
    this.defaults = Object.freeze(copyHyper(defaults, this.hyperKeys) as unknown as H);

    if (params === null || typeof params !== 'object' || !(Symbol.iterator in params)) {
      fail(name, `params must be an array of parameters or of param groups, got ${fmtValue(params)}`);
    }
    const items: unknown[] = Array.from(params as Iterable<unknown>);
    if (items.length === 0) fail(name, 'got an empty parameter list');
    const isGroup = (x: unknown): boolean => isRecord(x) && 'params' in x;
    const nGroups = items.filter(isGroup).length;
    if (nGroups === 0) {
      this.addParamGroup({ params: items as Parameter[] } as unknown as ParamGroupSpec<H>);
    } else if (nGroups === items.length) {
      for (const g of items) this.addParamGroup(g as ParamGroupSpec<H>);
    } else {
      fail(name, 'params mixes parameters and param groups; pass one kind only');
    }
  }

  /** Performs one update of every parameter whose grad is not null. */
  abstract step(): void;

  /**
   * Validates one set of hyper-parameters; `where` is appended to the message (group, source).
   * `when` says what is being checked: the constructor's options ('defaults'), a group being added
   * with the defaults filled in ('group', the constructor's groups included), the groups before a
   * step ('step', after a scheduler or the user may have changed them), or a loaded state ('load').
   * A rule torch checks only on the constructor's options (SGD's nesterov needing momentum) must not
   * refuse a group that overrides them, nor stop a run whose scheduler later moves a value across it.
   */
  protected abstract checkHyperParams(h: H, where: string, when: HyperCheck): void;

  /** The state entries this optimizer writes. */
  protected abstract stateLayout(): StateLayout;

  /** Read-only view of the per-parameter state (buffers are live, do not write them). */
  get state(): ReadonlyMap<Parameter, Readonly<ParamState>> {
    return this.paramState;
  }

  /**
   * Adds a group; unspecified hyper-parameters take the constructor's defaults (as
   * torch.optim.Optimizer.add_param_group). A parameter may belong to one group only.
   */
  addParamGroup(spec: ParamGroupSpec<H>): void {
    const gi = this.paramGroups.length;
    const where = ` (param group ${gi})`;
    if (!isRecord(spec)) fail(this.name, `a param group must be an object with a params array, got ${fmtValue(spec)}`);
    const rec = spec as unknown as Record<string, unknown>;
    checkKnownKeys(this.name, rec, ['params', 'initialLr', ...this.hyperKeys], where);
    const rawParams = rec.params;
    if (rawParams === null || typeof rawParams !== 'object' || !(Symbol.iterator in rawParams)) {
      fail(this.name, `params must be an array of parameters, got ${fmtValue(rawParams)}${where}`);
    }
    const params = Array.from(rawParams as Iterable<unknown>);
    params.forEach((p, k) => {
      if (!isRecord(p) || !isFloatArray(p.data)) {
        fail(this.name, `parameter ${k} must have a Float32Array or Float64Array data, got ${fmtValue(p)}${where}`);
      }
      checkUpdatableInPlace(this.name, p as unknown as Parameter, k, where);
    });

    const merged: Record<string, unknown> = {};
    const def = this.defaults as unknown as Record<string, unknown>;
    for (const k of this.hyperKeys) {
      const v = rec[k] !== undefined ? rec[k] : def[k];
      merged[k] = Array.isArray(v) ? v.slice() : v;
    }
    this.checkHyperParams(merged as unknown as H, where, 'group');
    if (spec.initialLr !== undefined) requireNonNegative(this.name, 'initialLr', spec.initialLr, where);

    const seen = new Map<unknown, number>();
    params.forEach((p, k) => {
      const first = seen.get(p);
      if (first !== undefined) fail(this.name, `param group ${gi} lists the same parameter twice (positions ${first} and ${k})`);
      seen.set(p, k);
      const other = this.placement.get(p as Parameter);
      if (other !== undefined) {
        fail(this.name, `a parameter appears in more than one param group (${other} and param group ${gi} position ${k})`);
      }
    });
    params.forEach((p, k) => this.placement.set(p as Parameter, `param group ${gi} position ${k}`));

    const group = merged as unknown as ParamGroup<H>;
    group.params = params as Parameter[];
    if (spec.initialLr !== undefined) group.initialLr = spec.initialLr;
    this.paramGroups.push(group);
  }

  /**
   * Clears gradients. The default (torch ≥ 2.0) sets them to null, which also makes the next step
   * skip parameters that get no gradient; `setToNone = false` zero-fills them instead.
   */
  zeroGrad(setToNone = true): void {
    if (typeof setToNone !== 'boolean') fail(this.name, `zeroGrad: setToNone must be a boolean, got ${fmtValue(setToNone)}`);
    // All checks first, so a bad grad leaves every grad as it was.
    if (!setToNone) {
      this.paramGroups.forEach((g, gi) => g.params.forEach((p, k) => {
        if (p.grad) liveGradData(`${this.name}: zeroGrad`, p.grad, `parameter ${k} in param group ${gi}`);
      }));
    }
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (setToNone) p.grad = null;
        else if (p.grad) {
          p.grad.data.fill(0);
          p.grad._bumpVersion?.();
        }
      }
    }
  }

  /** A copy of the optimizer's state in torch's layout (see OptimizerStateDict). */
  stateDict(): OptimizerStateDict<H> {
    const state: { [index: number]: ParamState } = {};
    let index = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const saved = copyHyper(g, this.hyperKeys) as unknown as SavedParamGroup<H>;
      saved.params = [];
      if (g.initialLr !== undefined) saved.initialLr = g.initialLr;
      for (const p of g.params) {
        const st = this.paramState.get(p);
        if (st) state[index] = copyState(st);
        saved.params.push(index++);
      }
      return saved;
    });
    return { state, paramGroups };
  }

  /**
   * Replaces hyper-parameters and state with the saved ones. Parameters are matched by position
   * (group by group, as torch does); everything is validated before anything is changed, and
   * buffers are copied in, so the state dict stays independent of the optimizer. Takes a state
   * dict from stateDict() or the value loadCheckpoint read back (`ck.state.optimizer`, typed
   * CheckpointValue | undefined) as it is: every field is checked here, so no cast is needed.
   */
  loadStateDict(sd: OptimizerStateDict<H> | CheckpointValue | undefined): void {
    const op = `${this.name}: loadStateDict:`;
    if (!isRecord(sd) || !isRecord(sd.state) || !Array.isArray(sd.paramGroups)) {
      throw new Error(`${op} expected { state, paramGroups }, got ${fmtValue(sd)}`);
    }
    const saved: unknown[] = sd.paramGroups;
    if (saved.length !== this.paramGroups.length) {
      throw new Error(`${op} the state dict has ${saved.length} param groups but the optimizer has ${this.paramGroups.length}`);
    }
    const byIndex = new Map<number, Parameter>();
    const hypers: H[] = [];
    const initialLrs: (number | undefined)[] = [];
    saved.forEach((raw, gi) => {
      const where = ` (state dict param group ${gi})`;
      if (!isRecord(raw)) throw new Error(`${op} param group ${gi} must be an object, got ${fmtValue(raw)}`);
      for (const key of Object.keys(raw)) {
        if (key !== 'params' && key !== 'initialLr' && !this.hyperKeys.includes(key)) {
          throw new Error(`${op} param group ${gi} has an unknown key '${key}'`);
        }
      }
      for (const key of this.hyperKeys) {
        if (raw[key] === undefined) throw new Error(`${op} param group ${gi} is missing '${key}'`);
      }
      const ids = raw.params;
      if (!Array.isArray(ids)) throw new Error(`${op} param group ${gi} params must be an array of indices, got ${fmtValue(ids)}`);
      const group = this.paramGroups[gi];
      if (ids.length !== group.params.length) {
        throw new Error(
          `${op} param group ${gi} has ${ids.length} parameters in the state dict but ${group.params.length} in the optimizer`,
        );
      }
      ids.forEach((id: unknown, k: number) => {
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
          throw new Error(`${op} param group ${gi} params[${k}] must be a non-negative integer index, got ${fmtValue(id)}`);
        }
        if (byIndex.has(id)) throw new Error(`${op} parameter index ${id} is listed twice`);
        byIndex.set(id, group.params[k]);
      });
      const h = copyHyper(raw, this.hyperKeys) as unknown as H;
      this.checkHyperParams(h, where, 'load');
      if (raw.initialLr !== undefined) requireNonNegative(this.name, 'initialLr', raw.initialLr, where);
      hypers.push(h);
      initialLrs.push(raw.initialLr as number | undefined);
    });

    const layout = this.stateLayout();
    const allowed: readonly string[] = [...layout.required, ...layout.optional];
    const newState = new Map<Parameter, ParamState>();
    const stateRec: Record<string, unknown> = sd.state;
    for (const key of Object.keys(stateRec)) {
      const id = Number(key);
      const p = String(id) === key ? byIndex.get(id) : undefined;
      if (!p) throw new Error(`${op} state has an entry for parameter index ${key}, which no param group lists`);
      const entry = stateRec[key];
      if (!isRecord(entry)) throw new Error(`${op} state of parameter ${key} must be an object, got ${fmtValue(entry)}`);
      for (const k of Object.keys(entry)) {
        if (entry[k] !== undefined && !allowed.includes(k)) {
          throw new Error(`${op} state of parameter ${key} has an unknown entry '${k}' (${this.name} keeps ${allowed.join(', ')})`);
        }
      }
      for (const k of layout.required) {
        if (entry[k] === undefined) throw new Error(`${op} state of parameter ${key} is missing '${k}'`);
      }
      const st: ParamState = {};
      for (const k of allowed as readonly ParamStateKey[]) {
        const v = entry[k];
        if (v === undefined) continue;
        if (k === 'muProduct') {
          if (typeof v !== 'number' || !Number.isFinite(v)) {
            throw new Error(`${op} state of parameter ${key}: muProduct must be a finite number, got ${fmtValue(v)}`);
          }
          st.muProduct = v;
          continue;
        }
        if (k === 'step') {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
            throw new Error(`${op} state of parameter ${key}: step must be a non-negative integer, got ${fmtValue(v)}`);
          }
          st.step = v;
          continue;
        }
        if (!isFloatArray(v)) {
          throw new Error(`${op} state of parameter ${key}: ${k} must be a Float32Array or Float64Array, got ${fmtValue(v)}`);
        }
        if (v.length !== p.data.length) {
          throw new Error(`${op} state of parameter ${key}: ${k} has ${v.length} elements but the parameter has ${p.data.length}`);
        }
        if (dtypeOf(v) !== dtypeOf(p.data)) {
          throw new Error(`${op} state of parameter ${key}: ${k} is ${dtypeOf(v)} but the parameter is ${dtypeOf(p.data)}`);
        }
        st[k] = copyArray(v);
      }
      newState.set(p, st);
    }

    this.paramGroups.forEach((g, gi) => {
      Object.assign(g, hypers[gi]);
      const init = initialLrs[gi];
      if (init === undefined) delete g.initialLr;
      else g.initialLr = init;
    });
    this.paramState.clear();
    for (const [p, st] of newState) this.paramState.set(p, st);
  }

  /**
   * Every check a step makes, for every group, before it makes any state or writes anything: the
   * group's hyper-parameters (writable, so re-checked each step), each gradient (gradOf) and each
   * existing state buffer (checkState). A step that fails in any group so changes nothing, and a
   * retry after the fix steps no group twice. Per group: the parameters with a gradient, their
   * indices in the group, and their gradients.
   */
  protected checkedGroups(): CheckedGroup[] {
    const checked: CheckedGroup[] = [];
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi];
      this.checkHyperParams(group, ` (param group ${gi})`, 'step');
      const ps: Parameter[] = [], ks: number[] = [], gs: FloatArray[] = [];
      for (let k = 0; k < group.params.length; k++) {
        const p = group.params[k];
        const g = this.gradOf(p, gi, k);
        if (!g) continue;
        this.checkState(p, gi, k);
        ps.push(p);
        ks.push(k);
        gs.push(g);
      }
      checked.push({ ps, ks, gs });
    }
    return checked;
  }

  /**
   * The gradient of `p` if it has one, checked against the parameter: same length, same dtype.
   * Null means "skip this parameter", as in torch.
   */
  protected gradOf(p: Parameter, gi: number, k: number): FloatArray | null {
    const g = p.grad;
    if (g === null || g === undefined) return null;
    const gd = g.data;
    if (!isFloatArray(gd)) fail(this.name, `the grad of parameter ${k} in param group ${gi} has no Float32Array/Float64Array data`);
    if (gd.length !== p.data.length) {
      fail(this.name, `the grad of parameter ${k} in param group ${gi} has ${gd.length} elements but the parameter has ${p.data.length}`);
    }
    if (dtypeOf(gd) !== dtypeOf(p.data)) {
      fail(this.name, `the grad of parameter ${k} in param group ${gi} is ${dtypeOf(gd)} but the parameter is ${dtypeOf(p.data)}`);
    }
    return gd;
  }

  /**
   * Checks the state buffers `p` already has against it, creating nothing. Steps call it with
   * gradOf for every parameter of a group before making any state, so a step that fails leaves no
   * half-made state (a buffer without its step count, or a momentum buffer that the next step
   * would no longer start as a copy of the gradient).
   */
  protected checkState(p: Parameter, gi: number, k: number): void {
    const st = this.paramState.get(p);
    if (!st) return;
    for (const key of BUFFER_KEYS) {
      const buf = st[key];
      if (buf !== undefined) this.checkBuffer(buf, key, p, gi, k);
    }
  }

  private checkBuffer(buf: FloatArray, key: BufferKey, p: Parameter, gi: number, k: number): void {
    if (buf.length !== p.data.length || dtypeOf(buf) !== dtypeOf(p.data)) {
      fail(
        this.name,
        `the ${key} of parameter ${k} in param group ${gi} is ${dtypeOf(buf)}[${buf.length}] but the parameter is ` +
          `${dtypeOf(p.data)}[${p.data.length}] ` +
          (buf.length === p.data.length
            ? `(was the model converted with Module.to()/double()/float() after this state was made? build the optimizer after converting the model)`
            : `(was the parameter's storage replaced?)`),
      );
    }
  }

  /**
   * The states of a checked group's parameters (ps, at positions ks of group gi), made on first use
   * as every Adam-like update starts: `step` 0 and a zero buffer for each key (checked against the
   * parameter when they exist).
   */
  protected steppedStates(gi: number, ps: readonly Parameter[], ks: readonly number[], keys: readonly BufferKey[]): ParamState[] {
    const states: ParamState[] = [];
    for (let j = 0; j < ps.length; j++) {
      const st = this.stateOf(ps[j]);
      if (st.step === undefined) st.step = 0;
      for (const key of keys) this.stateBuffer(st, key, ps[j], gi, ks[j]);
      states.push(st);
    }
    return states;
  }

  /** An existing state buffer checked against the parameter, or a new zero-filled one. */
  protected stateBuffer(st: ParamState, key: BufferKey, p: Parameter, gi: number, k: number): FloatArray {
    const buf = st[key];
    if (buf === undefined) {
      // State lives where its parameter lives: in shared memory when the thread pool can see the
      // parameter, so the update can be split over the threads; else in plain memory, since an
      // update with a plain parameter runs on the calling thread anyway.
      const fresh = isShared(p.data) ? allocateShared(dtypeOf(p.data), p.data.length) : allocatePlain(dtypeOf(p.data), p.data.length);
      st[key] = fresh;
      return fresh;
    }
    this.checkBuffer(buf, key, p, gi, k);
    if (isShared(p.data) && !isShared(buf)) {
      // The parameter moved to shared memory (Module.shareMemory) after this state was made.
      const moved = sharedCopy(buf);
      st[key] = moved;
      return moved;
    }
    return buf;
  }

  /** The state record of `p`, created empty on first use. */
  protected stateOf(p: Parameter): ParamState {
    let st = this.paramState.get(p);
    if (!st) {
      st = {};
      this.paramState.set(p, st);
    }
    return st;
  }
}

const BUFFER_KEYS = [
  'momentumBuffer', 'expAvg', 'expAvgSq', 'maxExpAvgSq', 'squareAvg', 'gradAvg', 'sum', 'expInf', 'accDelta',
] as const;

/** The state entries that are buffers shaped like their parameter (all but `step` and `muProduct`). */
export type BufferKey = (typeof BUFFER_KEYS)[number];

// ---- validation helpers shared by the optimizers and schedulers -------------------------------

export function isFloatArray(x: unknown): x is FloatArray {
  return x instanceof Float32Array || x instanceof Float64Array;
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !isFloatArray(x);
}

/**
 * Rejects what an in-place update would silently miss: the output of an op (torch: "can't optimize
 * a non-leaf Tensor"), and a view, whose `data` is a copy (not contiguous) or a window on a larger
 * storage that Module.to / shareMemory would later move away from.
 */
function checkUpdatableInPlace(op: string, p: Parameter, k: number, where: string): void {
  const desc = `parameter ${k}${Array.isArray(p.shape) ? ` of shape ${fmtShape(p.shape)}` : ''}${where}`;
  if (p.isLeaf === false) {
    fail(op, `can't optimize a non-leaf tensor: ${desc} is the result of an op; pass the leaf tensors it was computed from`);
  }
  const storage = p.storage;
  if (storage === undefined) return;
  const data = p.data;
  if (data === storage) return;
  const why = data.buffer === storage.buffer
    ? 'a view of part of a larger storage, which Module.to() or shareMemory() on the tensor it views would leave behind'
    : 'a non-contiguous view, whose data is a copy, so an update in place would be lost';
  fail(op, `can't optimize a view: ${desc} is ${why}; pass the tensor it is a view of, or a copy that owns its storage (t.detach().clone().requiresGrad_())`);
}

/**
 * The gradient's data, checked to be its live storage: a non-contiguous gradient's `data` is a
 * copy, and scaling or zeroing that copy would change nothing. `whose` names the parameter.
 */
export function liveGradData(op: string, g: Gradient, whose: string): FloatArray {
  if (typeof g.isContiguous === 'function' && !g.isContiguous()) {
    fail(op, `the grad of ${whose} is a non-contiguous view, which cannot be changed in place; set a contiguous grad (g.contiguous())`);
  }
  return g.data;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

export function requireNonNegative(op: string, name: string, v: unknown, where = ''): asserts v is number {
  if (!isFiniteNumber(v) || v < 0) fail(op, `${name} must be a non-negative number, got ${fmtValue(v)}${where}`);
}

export function requirePositive(op: string, name: string, v: unknown, where = ''): asserts v is number {
  if (!isFiniteNumber(v) || v <= 0) fail(op, `${name} must be a positive number, got ${fmtValue(v)}${where}`);
}

export function requireFinite(op: string, name: string, v: unknown, where = ''): asserts v is number {
  if (!isFiniteNumber(v)) fail(op, `${name} must be a finite number, got ${fmtValue(v)}${where}`);
}

export function requireBoolean(op: string, name: string, v: unknown, where = ''): asserts v is boolean {
  if (typeof v !== 'boolean') fail(op, `${name} must be a boolean, got ${fmtValue(v)}${where}`);
}

export function requirePositiveInt(op: string, name: string, v: unknown, where = ''): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    fail(op, `${name} must be a positive integer, got ${fmtValue(v)}${where}`);
  }
}

export function requireNonNegativeInt(op: string, name: string, v: unknown, where = ''): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    fail(op, `${name} must be a non-negative integer, got ${fmtValue(v)}${where}`);
  }
}

/** Requires lo ≤ v < hi (or ≤ hi when `hiInclusive`). */
export function requireInRange(
  op: string, name: string, v: unknown, lo: number, hi: number, hiInclusive: boolean, where = '',
): asserts v is number {
  if (!isFiniteNumber(v) || v < lo || (hiInclusive ? v > hi : v >= hi)) {
    fail(op, `${name} must be in [${lo}, ${hi}${hiInclusive ? ']' : ')'}, got ${fmtValue(v)}${where}`);
  }
}

/** A pair (beta1, beta2), each in [0, 1), as torch's Adam family checks them ("Invalid beta parameter at index i"). */
export function requireBetas(op: string, v: unknown, where = ''): asserts v is [number, number] {
  if (!Array.isArray(v) || v.length !== 2) fail(op, `betas must be a pair of numbers, got ${fmtValue(v)}${where}`);
  requireInRange(op, 'betas[0]', v[0], 0, 1, false, where);
  requireInRange(op, 'betas[1]', v[1], 0, 1, false, where);
}

/** Unknown option keys are an Error naming the op (lib/core/errors.ts; re-exported for the optimizers' callers). */
export { checkKnownKeys };

function copyHyper(src: object, keys: readonly string[]): Record<string, unknown> & BaseHyperParams {
  const rec = src as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = rec[k];
    out[k] = Array.isArray(v) ? v.slice() : v;
  }
  return out as Record<string, unknown> & BaseHyperParams;
}

function copyArray(a: FloatArray): FloatArray {
  const out = allocate(dtypeOf(a), a.length);
  out.set(a);
  return out;
}

function copyState(st: ParamState): ParamState {
  const out: ParamState = {};
  if (st.step !== undefined) out.step = st.step;
  if (st.muProduct !== undefined) out.muProduct = st.muProduct;
  for (const key of BUFFER_KEYS) {
    const buf = st[key];
    if (buf) out[key] = copyArray(buf);
  }
  return out;
}
