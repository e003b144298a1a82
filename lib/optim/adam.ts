/**
 * Adam and AdamW, torch.optim's single-tensor (foreach=False, fused=False) path.
 *
 * Per parameter and step, in torch's order:
 *   step += 1
 *   AdamW: p *= 1 − lr·weightDecay                (decoupled decay, before anything reads p)
 *   g = ±grad;  Adam: g = g + weightDecay·p         (L2 penalty added to the gradient)
 *   m = m·β1 + (1 − β1)·g                           (torch 1.13's mul_ then add_; lerp_ came in 2.1)
 *   v = v·β2 + (1 − β2)·g·g
 *   bias1 = 1 − β1^step, bias2 = 1 − β2^step, stepSize = lr / bias1
 *   amsgrad: vmax = max(vmax, v) and v̂ = vmax, else v̂ = v
 *   denom = sqrt(v̂) / sqrt(bias2) + eps
 *   p = p + (−stepSize)·m / denom
 * Cost: one pass over each parameter and its two (three with amsgrad) buffers.
 *
 * Float64 parameters follow torch's double arithmetic operation by operation (torch's vectorised
 * add kernels fuse a multiply-add, so agreement is to an ulp or so per step). Float32
 * parameters are computed in double per element and rounded when stored, agreeing with torch's
 * float32 kernels to float32 rounding. The per-element loop is adamUpdate (lib/kernels/optim_update.ts):
 * WebAssembly for float32, same results; a step runs each param group's tensors as one threaded
 * kernel run (adamUpdateMany), with the same per-element arithmetic.
 */
import {
  BaseHyperParams, checkKnownKeys, Optimizer, ParamsArg, requireBoolean, requireInRange,
  requireNonNegative, StateLayout, type ParamState,
} from './optimizer';
import { fail, fmtValue } from '../core/errors';
import type { FloatArray } from '../core/dtype';
import { adamUpdateMany } from '../kernels/optim_update';

export interface AdamHyperParams extends BaseHyperParams {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
}

const ADAM_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'amsgrad', 'maximize'] as const;

function adamDefaults(name: string, options: AdamOptions, defaultWeightDecay: number): AdamHyperParams {
  checkKnownKeys(name, options, ADAM_KEYS);
  const betas = options.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2) fail(name, `betas must be a pair of numbers, got ${fmtValue(betas)}`);
  return {
    lr: options.lr ?? 1e-3,
    betas: [betas[0], betas[1]],
    eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? defaultWeightDecay,
    amsgrad: options.amsgrad ?? false,
    maximize: options.maximize ?? false,
  };
}

/** The shared update; Adam and AdamW differ only in how weight decay enters. */
abstract class AdamBase extends Optimizer<AdamHyperParams> {
  private readonly decoupled: boolean;

  protected constructor(name: string, params: ParamsArg<AdamHyperParams>, defaults: AdamHyperParams, decoupled: boolean) {
    super(name, params, defaults);
    this.decoupled = decoupled;
  }

  protected override checkHyperParams(h: AdamHyperParams, where: string): void {
    requireNonNegative(this.name, 'lr', h.lr, where);
    if (!Array.isArray(h.betas) || h.betas.length !== 2) {
      fail(this.name, `betas must be a pair of numbers, got ${fmtValue(h.betas)}${where}`);
    }
    requireInRange(this.name, 'betas[0]', h.betas[0], 0, 1, false, where);
    requireInRange(this.name, 'betas[1]', h.betas[1], 0, 1, false, where);
    requireNonNegative(this.name, 'eps', h.eps, where);
    requireNonNegative(this.name, 'weightDecay', h.weightDecay, where);
    requireBoolean(this.name, 'amsgrad', h.amsgrad, where);
    requireBoolean(this.name, 'maximize', h.maximize, where);
  }

  protected override stateLayout(): StateLayout {
    return { required: ['step', 'expAvg', 'expAvgSq'], optional: ['maxExpAvgSq'] };
  }

  override step(): void {
    const decoupled = this.decoupled;
    // Every check of every group first (checkedGroups: a step that fails anywhere makes no state and
    // moves no parameter), then each group's parameters in one kernel run (adamUpdateMany); step
    // counts advance once it has run.
    // Plain loops: closures made per step would be optimised afresh by V8 each time they got hot.
    const checked = this.checkedGroups();
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi];
      const { lr, eps, weightDecay, amsgrad, maximize } = group;
      const [beta1, beta2] = group.betas;
      const { ps, ks, gs } = checked[gi];
      const xs: FloatArray[] = [];
      for (const p of ps) xs.push(p.data);
      const ms: FloatArray[] = [], vs: FloatArray[] = [];
      const vmaxs: Array<FloatArray | null> = [], steps: number[] = [], states: ParamState[] = [];
      for (let j = 0; j < ps.length; j++) {
        const p = ps[j], k = ks[j];
        const st = this.stateOf(p);
        ms.push(this.stateBuffer(st, 'expAvg', p, gi, k));
        vs.push(this.stateBuffer(st, 'expAvgSq', p, gi, k));
        // A state dict saved without amsgrad starts the running maximum from zero, i.e. from v.
        vmaxs.push(amsgrad ? this.stateBuffer(st, 'maxExpAvgSq', p, gi, k) : null);
        steps.push((st.step ?? 0) + 1);
        states.push(st);
      }
      for (let k = 0; k < ps.length; k++) ps[k]._bumpVersion?.(); // graphs that saved them are stale
      adamUpdateMany(xs, gs, ms, vs, vmaxs, steps,
        { lr, beta1, beta2, eps, weightDecay, amsgrad, maximize, decoupled, step: 0 });
      for (let k = 0; k < states.length; k++) states[k].step = steps[k];
    }
  }
}

/** torch.optim.Adam: weightDecay is an L2 penalty added to the gradient. */
export class Adam extends AdamBase {
  constructor(params: ParamsArg<AdamHyperParams>, options: AdamOptions = {}) {
    super('Adam', params, adamDefaults('Adam', options, 0), false);
  }
}

/** torch.optim.AdamW: weightDecay shrinks the parameter directly (decoupled), default 1e-2. */
export class AdamW extends AdamBase {
  constructor(params: ParamsArg<AdamHyperParams>, options: AdamOptions = {}) {
    super('AdamW', params, adamDefaults('AdamW', options, 1e-2), true);
  }
}
