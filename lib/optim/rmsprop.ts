/**
 * RMSprop, torch.optim.RMSprop's single-tensor (foreach=False) path of torch 1.13.
 *
 * Per parameter and step, in torch's order (each line one torch tensor op):
 *   step += 1
 *   g = ±grad;  g = g + weightDecay·p                        (grad.add(param, alpha=weight_decay))
 *   v = v·alpha;  v = v + (1 − alpha)·g·g                    (square_avg.mul_(alpha).addcmul_(g, g, value=1 − alpha))
 *   centered: a = a·alpha;  a = a + (1 − alpha)·g            (grad_avg.mul_(alpha).add_(g, alpha=1 − alpha))
 *             avg = sqrt(v − a·a) + eps                       (square_avg.addcmul(a, a, value=−1).sqrt_().add_(eps))
 *   else:     avg = sqrt(v) + eps
 *   momentum > 0: b = b·momentum + g/avg;  p = p − lr·b       (buf.mul_(momentum).addcdiv_(g, avg); param.add_(buf, alpha=−lr))
 *   else:         p = p + (−lr·g)/avg                         (param.addcdiv_(g, avg, value=−lr))
 * Cost: one pass over each parameter and its one to three buffers.
 *
 * Why plain JS loops and not a WebAssembly kernel as SGD and Adam have: RMSprop is not on the
 * training script's path, and a JS loop can round exactly where torch's float32 tensors round.
 * Float64 parameters follow torch's double arithmetic op by op (torch's vectorised add-with-alpha
 * fuses a multiply-add, so agreement is to an ulp or so per step). Float32 parameters round every
 * tensor op's result to float32, as torch's float32 tensors do, with the scalars cast to float32 as
 * torch's kernels cast them and addcmul/addcdiv's inner product and quotient rounded as their
 * kernels compute them (self + value·t1·t2, self + value·t1/t2). This is finer than SGD and Adam,
 * which compute each element in double and round once when storing; an add with alpha rounds
 * once here (torch's fused multiply-add), so agreement with torch is to float32 rounding.
 *
 * State is made on a parameter's first step with a gradient, as torch makes it: `squareAvg`, plus
 * `momentumBuffer` when momentum > 0 and `gradAvg` when centered. Unlike torch (a KeyError), a group
 * switched to momentum or centered later starts the missing buffer from zeros.
 */
import type { FloatArray } from '../core/dtype';
import {
  BaseHyperParams, checkKnownKeys, Optimizer, ParamsArg, ParamState, requireBoolean, requireNonNegative,
  StateLayout,
} from './optimizer';

export interface RMSpropHyperParams extends BaseHyperParams {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
}

export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
  maximize?: boolean;
}

const RMSPROP_KEYS = ['lr', 'alpha', 'eps', 'weightDecay', 'momentum', 'centered', 'maximize'] as const;

function rmspropDefaults(options: RMSpropOptions): RMSpropHyperParams {
  checkKnownKeys('RMSprop', options, RMSPROP_KEYS);
  return {
    lr: options.lr ?? 1e-2,
    alpha: options.alpha ?? 0.99,
    eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? 0,
    momentum: options.momentum ?? 0,
    centered: options.centered ?? false,
    maximize: options.maximize ?? false,
  };
}

const keep = (v: number): number => v;

/** torch.optim.RMSprop: divides the gradient by a running root mean square of its recent values. */
export class RMSprop extends Optimizer<RMSpropHyperParams> {
  constructor(params: ParamsArg<RMSpropHyperParams>, options: RMSpropOptions = {}) {
    super('RMSprop', params, rmspropDefaults(options));
  }

  protected override checkHyperParams(h: RMSpropHyperParams, where: string): void {
    // torch's checks: lr, eps, momentum, weight_decay and alpha ≥ 0 ("Invalid alpha value").
    requireNonNegative('RMSprop', 'lr', h.lr, where);
    requireNonNegative('RMSprop', 'alpha', h.alpha, where);
    requireNonNegative('RMSprop', 'eps', h.eps, where);
    requireNonNegative('RMSprop', 'weightDecay', h.weightDecay, where);
    requireNonNegative('RMSprop', 'momentum', h.momentum, where);
    requireBoolean('RMSprop', 'centered', h.centered, where);
    requireBoolean('RMSprop', 'maximize', h.maximize, where);
  }

  protected override stateLayout(): StateLayout {
    return { required: ['step', 'squareAvg'], optional: ['momentumBuffer', 'gradAvg'] };
  }

  override step(): void {
    // Every check of every group first (checkedGroups), then state and updates.
    const checked = this.checkedGroups();
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi];
      const { momentum, centered } = group;
      const { ps, ks, gs } = checked[gi];
      const states: ParamState[] = [];
      for (let j = 0; j < ps.length; j++) {
        const p = ps[j], k = ks[j];
        const st = this.stateOf(p);
        this.stateBuffer(st, 'squareAvg', p, gi, k);
        if (momentum > 0) this.stateBuffer(st, 'momentumBuffer', p, gi, k);
        if (centered) this.stateBuffer(st, 'gradAvg', p, gi, k);
        states.push(st);
      }
      for (let j = 0; j < ps.length; j++) {
        const st = states[j];
        ps[j]._bumpVersion?.(); // graphs that saved it are stale
        rmspropUpdate(ps[j].data, gs[j], st.squareAvg!, momentum > 0 ? st.momentumBuffer! : null, centered ? st.gradAvg! : null, group);
        st.step = (st.step ?? 0) + 1;
      }
    }
  }
}

/** One RMSprop update of x with gradient gr (see the header for the order and the rounding). */
function rmspropUpdate(
  x: FloatArray, gr: FloatArray, sq: FloatArray, buf: FloatArray | null, gavg: FloatArray | null, h: RMSpropHyperParams,
): void {
  const r = x instanceof Float32Array ? Math.fround : keep;
  const alpha = r(h.alpha), oneMinusAlpha = r(1 - h.alpha), eps = r(h.eps), wd = r(h.weightDecay);
  const momentum = r(h.momentum), negLr = r(-h.lr), maximize = h.maximize, decay = h.weightDecay !== 0;
  for (let i = 0; i < x.length; i++) {
    let g = maximize ? -gr[i] : gr[i];
    if (decay) g = r(g + wd * x[i]);
    const v = r(r(sq[i] * alpha) + r(r(oneMinusAlpha * g) * g));
    sq[i] = v;
    let avg: number;
    if (gavg !== null) {
      const a = r(r(gavg[i] * alpha) + oneMinusAlpha * g);
      gavg[i] = a;
      avg = r(r(Math.sqrt(r(v - r(a * a)))) + eps);
    } else {
      avg = r(r(Math.sqrt(v)) + eps);
    }
    if (buf !== null) {
      const b = r(r(buf[i] * momentum) + r(g / avg));
      buf[i] = b;
      x[i] = r(x[i] + negLr * b);
    } else {
      x[i] = r(x[i] + r(r(negLr * g) / avg));
    }
  }
}
