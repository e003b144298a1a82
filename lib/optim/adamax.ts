/**
 * Adamax, torch.optim.Adamax's single-tensor (foreach=False) path of torch 1.13: Adam with the
 * second moment replaced by an exponentially weighted infinity norm.
 *
 * Per parameter and step, in torch's order (each line one torch tensor op or one Python scalar):
 *   step += 1
 *   g = ±grad;  g = g + weightDecay·p                         (grad.add(param, alpha=weight_decay))
 *   m = m·β1;  m = m + (1 − β1)·g                              (mul_ then add_)
 *   u = max(u·β2, |g| + eps)                                   (amax of cat([exp_inf.mul_(β2), grad.abs().add_(eps)]))
 *   clr = lr / (1 − β1^step)
 *   p = p + (−clr)·m/u                                         (param.addcdiv_(exp_avg, exp_inf, value=−clr))
 * Cost: one pass over each parameter and its two buffers. A NaN in u·β2 or |g| + eps propagates,
 * as torch.amax does.
 *
 * Why plain JS loops: see rmsprop.ts. Float64 follows torch's double arithmetic op by op; float32
 * rounds each tensor op's result to float32 and casts the scalars to float32.
 *
 * State is made on a parameter's first step with a gradient: step, expAvg and expInf (zeros).
 */
import type { FloatArray } from '../core/dtype';
import {
  BaseHyperParams, checkKnownKeys, Optimizer, ParamsArg, requireBetas, requireBoolean, requireNonNegative,
  StateLayout,
} from './optimizer';

export interface AdamaxHyperParams extends BaseHyperParams {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  maximize: boolean;
}

export interface AdamaxOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  maximize?: boolean;
}

const ADAMAX_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'maximize'] as const;

function adamaxDefaults(options: AdamaxOptions): AdamaxHyperParams {
  checkKnownKeys('Adamax', options, ADAMAX_KEYS);
  const betas = options.betas ?? [0.9, 0.999];
  requireBetas('Adamax', betas);
  return {
    lr: options.lr ?? 2e-3,
    betas: [betas[0], betas[1]],
    eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? 0,
    maximize: options.maximize ?? false,
  };
}

const keep = (v: number): number => v;

/** torch.optim.Adamax: Adam with an infinity-norm second moment. */
export class Adamax extends Optimizer<AdamaxHyperParams> {
  constructor(params: ParamsArg<AdamaxHyperParams>, options: AdamaxOptions = {}) {
    super('Adamax', params, adamaxDefaults(options));
  }

  protected override checkHyperParams(h: AdamaxHyperParams, where: string): void {
    // torch's checks: lr, eps, weight_decay ≥ 0 and each beta in [0, 1).
    requireNonNegative('Adamax', 'lr', h.lr, where);
    requireBetas('Adamax', h.betas, where);
    requireNonNegative('Adamax', 'eps', h.eps, where);
    requireNonNegative('Adamax', 'weightDecay', h.weightDecay, where);
    requireBoolean('Adamax', 'maximize', h.maximize, where);
  }

  protected override stateLayout(): StateLayout {
    return { required: ['step', 'expAvg', 'expInf'], optional: [] };
  }

  override step(): void {
    // Every check of every group first (checkedGroups), then state and updates.
    const checked = this.checkedGroups();
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi];
      const { ps, ks, gs } = checked[gi];
      const states = this.steppedStates(gi, ps, ks, ['expAvg', 'expInf']);
      for (let j = 0; j < ps.length; j++) {
        const st = states[j];
        const step = (st.step as number) + 1;
        ps[j]._bumpVersion?.(); // graphs that saved it are stale
        adamaxUpdate(ps[j].data, gs[j], st.expAvg!, st.expInf!, group.lr / (1 - group.betas[0] ** step), group);
        st.step = step;
      }
    }
  }
}

/** One Adamax update of x with gradient gr and the step's lr `clr` (see the header). */
function adamaxUpdate(x: FloatArray, gr: FloatArray, m: FloatArray, u: FloatArray, clr: number, h: AdamaxHyperParams): void {
  const r = x instanceof Float32Array ? Math.fround : keep;
  const b1 = r(h.betas[0]), omb1 = r(1 - h.betas[0]), b2 = r(h.betas[1]);
  const eps = r(h.eps), wd = r(h.weightDecay), decay = h.weightDecay !== 0, negClr = r(-clr), maximize = h.maximize;
  for (let i = 0; i < x.length; i++) {
    let g = maximize ? -gr[i] : gr[i];
    if (decay) g = r(g + wd * x[i]);
    const mi = r(r(m[i] * b1) + omb1 * g);
    m[i] = mi;
    const ui = Math.max(r(u[i] * b2), r(Math.abs(g) + eps));
    u[i] = ui;
    x[i] = r(x[i] + r(r(negClr * mi) / ui));
  }
}
