/**
 * NAdam, torch.optim.NAdam's single-tensor (foreach=False) path of torch 1.13: Adam with Nesterov
 * momentum and a momentum schedule μ_t (Dozat, "Incorporating Nesterov Momentum into Adam").
 *
 * Per parameter and step, in torch's order (each line one torch tensor op or one Python scalar):
 *   step += 1
 *   g = grad;  g = g + weightDecay·p                          (grad.add(param, alpha=weight_decay))
 *   μ = β1·(1 − ½·0.96^(step·ψ)),  μnext = β1·(1 − ½·0.96^((step+1)·ψ))     (ψ = momentumDecay)
 *   muProduct = muProduct·μ                                    (mu_product *= mu)
 *   m = m·β1;  m = m + (1 − β1)·g                              (torch 1.13's mul_ then add_; lerp_ came later)
 *   v = v·β2;  v = v + (1 − β2)·g·g                            (mul_ then addcmul_)
 *   denom = sqrt(v / (1 − β2^step)) + eps                      (exp_avg_sq.div(bc2).sqrt().add_(eps))
 *   p = p + (−lr·(1 − μ)/(1 − muProduct))·g/denom             (param.addcdiv_(grad, denom, value=…))
 *   p = p + (−lr·μnext/(1 − muProduct·μnext))·m/denom          (param.addcdiv_(exp_avg, denom, value=…))
 * Cost: one pass over each parameter and its two buffers.
 *
 * `muProduct` is the running product of the μ_t. torch 1.13 keeps it in `torch.tensor(1.)`, a tensor of
 * the default dtype, float32, whatever the parameters' dtype, so each product is rounded to float32
 * (and μ cast to float32 first, as torch's mul kernel casts a scalar); it is kept that way here, so
 * float64 parameters follow torch run with its default dtype (under torch.set_default_dtype(float64)
 * torch would keep it in double).
 *
 * Why plain JS loops: see rmsprop.ts. Float64 follows torch's double arithmetic op by op; float32
 * rounds each tensor op's result to float32 and casts the scalars to float32, as torch's float32
 * tensors and kernels do (an add with alpha rounds once, torch's fused multiply-add).
 *
 * torch 1.13's NAdam has no `maximize` (it came in 2.x), so neither has this one. State is made on a
 * parameter's first step with a gradient: step 0, muProduct 1, expAvg and expAvgSq zeros.
 */
import type { FloatArray } from '../core/dtype';
import {
  BaseHyperParams, checkKnownKeys, Optimizer, ParamsArg, requireBetas, requireNonNegative, StateLayout,
} from './optimizer';

export interface NAdamHyperParams extends BaseHyperParams {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  momentumDecay: number;
}

export interface NAdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  momentumDecay?: number;
}

const NADAM_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'momentumDecay'] as const;

function nadamDefaults(options: NAdamOptions): NAdamHyperParams {
  checkKnownKeys('NAdam', options, NADAM_KEYS);
  const betas = options.betas ?? [0.9, 0.999];
  requireBetas('NAdam', betas);
  return {
    lr: options.lr ?? 2e-3,
    betas: [betas[0], betas[1]],
    eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? 0,
    momentumDecay: options.momentumDecay ?? 4e-3,
  };
}

const keep = (v: number): number => v;

/** torch.optim.NAdam: Adam whose momentum looks one step ahead, with a warming momentum schedule. */
export class NAdam extends Optimizer<NAdamHyperParams> {
  constructor(params: ParamsArg<NAdamHyperParams>, options: NAdamOptions = {}) {
    super('NAdam', params, nadamDefaults(options));
  }

  protected override checkHyperParams(h: NAdamHyperParams, where: string): void {
    // torch's checks: lr, eps, weight_decay, momentum_decay ≥ 0 and each beta in [0, 1).
    requireNonNegative('NAdam', 'lr', h.lr, where);
    requireBetas('NAdam', h.betas, where);
    requireNonNegative('NAdam', 'eps', h.eps, where);
    requireNonNegative('NAdam', 'weightDecay', h.weightDecay, where);
    requireNonNegative('NAdam', 'momentumDecay', h.momentumDecay, where);
  }

  protected override stateLayout(): StateLayout {
    return { required: ['step', 'muProduct', 'expAvg', 'expAvgSq'], optional: [] };
  }

  override step(): void {
    // Every check of every group first (checkedGroups), then state and updates.
    const checked = this.checkedGroups();
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi];
      const { ps, ks, gs } = checked[gi];
      const states = this.steppedStates(gi, ps, ks, ['expAvg', 'expAvgSq']);
      for (const st of states) if (st.muProduct === undefined) st.muProduct = 1;
      const [beta1, beta2] = group.betas;
      const psi = group.momentumDecay;
      for (let j = 0; j < ps.length; j++) {
        const st = states[j];
        const x = ps[j].data;
        const step = (st.step as number) + 1;
        const mu = beta1 * (1 - 0.5 * 0.96 ** (step * psi));
        const muNext = beta1 * (1 - 0.5 * 0.96 ** ((step + 1) * psi));
        // torch's float32 mu_product tensor (see the header).
        const muProduct = Math.fround((st.muProduct as number) * Math.fround(mu));
        const muProductNext = muProduct * muNext;
        const gradScale = (-group.lr * (1 - mu)) / (1 - muProduct);
        const avgScale = (-group.lr * muNext) / (1 - muProductNext);
        ps[j]._bumpVersion?.(); // graphs that saved it are stale
        nadamUpdate(x, gs[j], st.expAvg!, st.expAvgSq!, 1 - beta2 ** step, gradScale, avgScale, group);
        st.step = step;
        st.muProduct = muProduct;
      }
    }
  }
}

/** One NAdam update of x with gradient gr; bc2 = 1 − β2^step, the two addcdiv values precomputed. */
function nadamUpdate(
  x: FloatArray, gr: FloatArray, m: FloatArray, v: FloatArray, bc2: number, gradScale: number, avgScale: number,
  h: NAdamHyperParams,
): void {
  const r = x instanceof Float32Array ? Math.fround : keep;
  const b1 = r(h.betas[0]), omb1 = r(1 - h.betas[0]), b2 = r(h.betas[1]), omb2 = r(1 - h.betas[1]);
  const eps = r(h.eps), wd = r(h.weightDecay), decay = h.weightDecay !== 0, bc = r(bc2);
  const c1 = r(gradScale), c2 = r(avgScale);
  for (let i = 0; i < x.length; i++) {
    let g = gr[i];
    if (decay) g = r(g + wd * x[i]);
    const mi = r(r(m[i] * b1) + omb1 * g);
    m[i] = mi;
    const vi = r(r(v[i] * b2) + r(r(omb2 * g) * g));
    v[i] = vi;
    const denom = r(r(Math.sqrt(r(vi / bc))) + eps);
    const x1 = r(x[i] + r(r(c1 * g) / denom));
    x[i] = r(x1 + r(r(c2 * mi) / denom));
  }
}
