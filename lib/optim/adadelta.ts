/**
 * Adadelta, torch.optim.Adadelta's single-tensor (foreach=False) path of torch 1.13 (Zeiler,
 * "ADADELTA: an adaptive learning rate method").
 *
 * Per parameter and step, in torch's order (each line one torch tensor op):
 *   step += 1
 *   g = ±grad;  g = g + weightDecay·p                         (grad.add(param, alpha=weight_decay))
 *   v = v·ρ;  v = v + (1 − ρ)·g·g                              (square_avg.mul_(rho).addcmul_(g, g, value=1 − rho))
 *   std = sqrt(v + eps)                                        (square_avg.add(eps).sqrt_())
 *   delta = sqrt(a + eps) / std · g                            (acc_delta.add(eps).sqrt_().div_(std).mul_(g))
 *   a = a·ρ;  a = a + (1 − ρ)·delta·delta                      (acc_delta.mul_(rho).addcmul_(delta, delta, value=1 − rho))
 *   p = p − lr·delta                                           (param.add_(delta, alpha=−lr))
 * Cost: one pass over each parameter and its two buffers.
 *
 * Why plain JS loops: see rmsprop.ts. Float64 follows torch's double arithmetic op by op; float32
 * rounds each tensor op's result to float32 and casts the scalars to float32.
 *
 * State is made on a parameter's first step with a gradient: step, squareAvg and accDelta (zeros).
 */
import type { FloatArray } from '../core/dtype';
import {
  BaseHyperParams, checkKnownKeys, Optimizer, ParamsArg, requireBoolean, requireInRange, requireNonNegative,
  StateLayout,
} from './optimizer';

export interface AdadeltaHyperParams extends BaseHyperParams {
  lr: number;
  rho: number;
  eps: number;
  weightDecay: number;
  maximize: boolean;
}

export interface AdadeltaOptions {
  lr?: number;
  rho?: number;
  eps?: number;
  weightDecay?: number;
  maximize?: boolean;
}

const ADADELTA_KEYS = ['lr', 'rho', 'eps', 'weightDecay', 'maximize'] as const;

function adadeltaDefaults(options: AdadeltaOptions): AdadeltaHyperParams {
  checkKnownKeys('Adadelta', options, ADADELTA_KEYS);
  return {
    lr: options.lr ?? 1.0,
    rho: options.rho ?? 0.9,
    eps: options.eps ?? 1e-6,
    weightDecay: options.weightDecay ?? 0,
    maximize: options.maximize ?? false,
  };
}

const keep = (v: number): number => v;

/** torch.optim.Adadelta: steps scaled by the ratio of running RMS of past updates and of gradients. */
export class Adadelta extends Optimizer<AdadeltaHyperParams> {
  constructor(params: ParamsArg<AdadeltaHyperParams>, options: AdadeltaOptions = {}) {
    super('Adadelta', params, adadeltaDefaults(options));
  }

  protected override checkHyperParams(h: AdadeltaHyperParams, where: string): void {
    // torch's checks: lr, eps, weight_decay ≥ 0 and rho in [0, 1].
    requireNonNegative('Adadelta', 'lr', h.lr, where);
    requireInRange('Adadelta', 'rho', h.rho, 0, 1, true, where);
    requireNonNegative('Adadelta', 'eps', h.eps, where);
    requireNonNegative('Adadelta', 'weightDecay', h.weightDecay, where);
    requireBoolean('Adadelta', 'maximize', h.maximize, where);
  }

  protected override stateLayout(): StateLayout {
    return { required: ['step', 'squareAvg', 'accDelta'], optional: [] };
  }

  override step(): void {
    // Every check of every group first (checkedGroups), then state and updates.
    const checked = this.checkedGroups();
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi];
      const { ps, ks, gs } = checked[gi];
      const states = this.steppedStates(gi, ps, ks, ['squareAvg', 'accDelta']);
      for (let j = 0; j < ps.length; j++) {
        const st = states[j];
        ps[j]._bumpVersion?.(); // graphs that saved it are stale
        adadeltaUpdate(ps[j].data, gs[j], st.squareAvg!, st.accDelta!, group);
        st.step = (st.step as number) + 1;
      }
    }
  }
}

/** One Adadelta update of x with gradient gr (see the header for the order and the rounding). */
function adadeltaUpdate(x: FloatArray, gr: FloatArray, sq: FloatArray, acc: FloatArray, h: AdadeltaHyperParams): void {
  const r = x instanceof Float32Array ? Math.fround : keep;
  const rho = r(h.rho), omr = r(1 - h.rho), eps = r(h.eps), wd = r(h.weightDecay), negLr = r(-h.lr);
  const decay = h.weightDecay !== 0, maximize = h.maximize;
  for (let i = 0; i < x.length; i++) {
    let g = maximize ? -gr[i] : gr[i];
    if (decay) g = r(g + wd * x[i]);
    const v = r(r(sq[i] * rho) + r(r(omr * g) * g));
    sq[i] = v;
    const std = r(Math.sqrt(r(v + eps)));
    const delta = r(r(r(Math.sqrt(r(acc[i] + eps))) / std) * g);
    acc[i] = r(r(acc[i] * rho) + r(r(omr * delta) * delta));
    x[i] = r(x[i] + negLr * delta);
  }
}
