/**
 * RAdam, torch.optim.RAdam's single-tensor (foreach=False) path of torch 1.13: Adam whose adaptive
 * step is switched on only once the variance of the adaptive lr is tractable (Liu et al., "On the
 * variance of the adaptive learning rate and beyond").
 *
 * Per parameter and step, in torch's order (each line one torch tensor op or one Python scalar):
 *   step += 1
 *   g = grad;  g = g + weightDecay·p                          (grad.add(param, alpha=weight_decay))
 *   m = m·β1;  m = m + (1 − β1)·g                              (torch 1.13's mul_ then add_)
 *   v = v·β2;  v = v + (1 − β2)·g·g                            (mul_ then addcmul_)
 *   bc1 = 1 − β1^step,  bc2 = 1 − β2^step,  m̂ = m / bc1
 *   ρ∞ = 2/(1 − β2) − 1,  ρ_t = ρ∞ − 2·step·β2^step / bc2
 *   ρ_t > 5: rect = sqrt((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
 *            adaptive = sqrt(bc2) / (sqrt(v) + eps)           (Python float / tensor: reciprocal, then ×)
 *            p = p − ((m̂·lr)·adaptive)·rect
 *   else:    p = p − m̂·lr                                     (plain momentum SGD while ρ_t ≤ 5)
 * Cost: one pass over each parameter and its two buffers. With the default β2 = 0.999 the first
 * five steps are unrectified (ρ_t ≤ 5 up to step 5, > 5 from step 6).
 *
 * Why plain JS loops: see rmsprop.ts. Float64 follows torch's double arithmetic op by op; float32
 * rounds each tensor op's result to float32 and casts the scalars to float32.
 *
 * torch 1.13's RAdam has neither `maximize` nor `decoupledWeightDecay` (both came in 2.x). State is
 * made on a parameter's first step with a gradient.
 */
import type { FloatArray } from '../core/dtype';
import {
  BaseHyperParams, checkKnownKeys, Optimizer, ParamsArg, requireBetas, requireNonNegative, StateLayout,
} from './optimizer';

export interface RAdamHyperParams extends BaseHyperParams {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

export interface RAdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

const RADAM_KEYS = ['lr', 'betas', 'eps', 'weightDecay'] as const;

function radamDefaults(options: RAdamOptions): RAdamHyperParams {
  checkKnownKeys('RAdam', options, RADAM_KEYS);
  const betas = options.betas ?? [0.9, 0.999];
  requireBetas('RAdam', betas);
  return {
    lr: options.lr ?? 1e-3,
    betas: [betas[0], betas[1]],
    eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? 0,
  };
}

const keep = (v: number): number => v;

/** torch.optim.RAdam: rectified Adam. */
export class RAdam extends Optimizer<RAdamHyperParams> {
  constructor(params: ParamsArg<RAdamHyperParams>, options: RAdamOptions = {}) {
    super('RAdam', params, radamDefaults(options));
  }

  protected override checkHyperParams(h: RAdamHyperParams, where: string): void {
    // torch's checks: lr, eps, weight_decay ≥ 0 and each beta in [0, 1).
    requireNonNegative('RAdam', 'lr', h.lr, where);
    requireBetas('RAdam', h.betas, where);
    requireNonNegative('RAdam', 'eps', h.eps, where);
    requireNonNegative('RAdam', 'weightDecay', h.weightDecay, where);
  }

  protected override stateLayout(): StateLayout {
    return { required: ['step', 'expAvg', 'expAvgSq'], optional: [] };
  }

  override step(): void {
    // Every check of every group first (checkedGroups), then state and updates.
    const checked = this.checkedGroups();
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi];
      const { ps, ks, gs } = checked[gi];
      const states = this.steppedStates(gi, ps, ks, ['expAvg', 'expAvgSq']);
      const [beta1, beta2] = group.betas;
      for (let j = 0; j < ps.length; j++) {
        const st = states[j];
        const step = (st.step as number) + 1;
        const bc1 = 1 - beta1 ** step;
        const bc2 = 1 - beta2 ** step;
        const rhoInf = 2 / (1 - beta2) - 1;
        const rhoT = rhoInf - (2 * step * beta2 ** step) / bc2;
        const rect = rhoT > 5 ? Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT)) : null;
        ps[j]._bumpVersion?.(); // graphs that saved it are stale
        radamUpdate(ps[j].data, gs[j], st.expAvg!, st.expAvgSq!, bc1, bc2, rect, group);
        st.step = step;
      }
    }
  }
}

/** One RAdam update of x with gradient gr; rect is null while ρ_t ≤ 5 (see the header). */
function radamUpdate(
  x: FloatArray, gr: FloatArray, m: FloatArray, v: FloatArray, bc1: number, bc2: number, rect: number | null,
  h: RAdamHyperParams,
): void {
  const r = x instanceof Float32Array ? Math.fround : keep;
  const b1 = r(h.betas[0]), omb1 = r(1 - h.betas[0]), b2 = r(h.betas[1]), omb2 = r(1 - h.betas[1]);
  const eps = r(h.eps), wd = r(h.weightDecay), decay = h.weightDecay !== 0, lr = r(h.lr), bc1r = r(bc1);
  const sqrtBc2 = r(Math.sqrt(bc2)), rectR = rect === null ? 0 : r(rect);
  for (let i = 0; i < x.length; i++) {
    let g = gr[i];
    if (decay) g = r(g + wd * x[i]);
    const mi = r(r(m[i] * b1) + omb1 * g);
    m[i] = mi;
    const vi = r(r(v[i] * b2) + r(r(omb2 * g) * g));
    v[i] = vi;
    const mHat = r(mi / bc1r);
    let u: number;
    if (rect !== null) {
      const adaptive = r(r(1 / r(r(Math.sqrt(vi)) + eps)) * sqrtBc2);
      u = r(r(r(mHat * lr) * adaptive) * rectR);
    } else {
      u = r(mHat * lr);
    }
    x[i] = r(x[i] - u);
  }
}
