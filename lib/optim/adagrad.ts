/**
 * Adagrad, torch.optim.Adagrad's single-tensor (foreach=False) path of torch 1.13.
 *
 * Per parameter and step, in torch's order (each line one torch tensor op):
 *   step += 1
 *   g = ±grad;  g = g + weightDecay·p                        (grad.add(param, alpha=weight_decay))
 *   clr = lr / (1 + (step − 1)·lrDecay)                       (in double, as Python computes it)
 *   s = s + g·g                                               (state_sum.addcmul_(g, g, value=1))
 *   std = sqrt(s) + eps                                       (state_sum.sqrt().add_(eps))
 *   p = p + (−clr·g)/std                                      (param.addcdiv_(g, std, value=−clr))
 * Cost: one pass over each parameter and its sum.
 *
 * Why plain JS loops: see rmsprop.ts. Float64 follows torch's double arithmetic op by op; float32
 * rounds each tensor op's result to float32 and casts the scalars to float32, as torch's float32
 * tensors and kernels do (an add with alpha rounds once, torch's fused multiply-add).
 *
 * As in torch, the constructor makes every parameter's state (`step` 0 and `sum` filled with its
 * group's initialAccumulatorValue), so stateDict() lists every parameter from the start. A group
 * added later with addParamGroup gets its state at its first step (torch's step would fail).
 */
import type { FloatArray } from '../core/dtype';
import {
  BaseHyperParams, checkKnownKeys, Optimizer, Parameter, ParamsArg, ParamState, requireBoolean, requireNonNegative,
  StateLayout,
} from './optimizer';

export interface AdagradHyperParams extends BaseHyperParams {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  eps: number;
  maximize: boolean;
}

export interface AdagradOptions {
  lr?: number;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
  maximize?: boolean;
}

const ADAGRAD_KEYS = ['lr', 'lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps', 'maximize'] as const;

function adagradDefaults(options: AdagradOptions): AdagradHyperParams {
  checkKnownKeys('Adagrad', options, ADAGRAD_KEYS);
  return {
    lr: options.lr ?? 1e-2,
    lrDecay: options.lrDecay ?? 0,
    weightDecay: options.weightDecay ?? 0,
    initialAccumulatorValue: options.initialAccumulatorValue ?? 0,
    eps: options.eps ?? 1e-10,
    maximize: options.maximize ?? false,
  };
}

const keep = (v: number): number => v;

/** torch.optim.Adagrad: scales each element's step by the root of its summed squared gradients. */
export class Adagrad extends Optimizer<AdagradHyperParams> {
  constructor(params: ParamsArg<AdagradHyperParams>, options: AdagradOptions = {}) {
    super('Adagrad', params, adagradDefaults(options));
    this.paramGroups.forEach((group, gi) => group.params.forEach((p, k) => this.initState(p, group, gi, k)));
  }

  protected override checkHyperParams(h: AdagradHyperParams, where: string): void {
    // torch's checks: lr, lr_decay, weight_decay, initial_accumulator_value and eps ≥ 0.
    requireNonNegative('Adagrad', 'lr', h.lr, where);
    requireNonNegative('Adagrad', 'lrDecay', h.lrDecay, where);
    requireNonNegative('Adagrad', 'weightDecay', h.weightDecay, where);
    requireNonNegative('Adagrad', 'initialAccumulatorValue', h.initialAccumulatorValue, where);
    requireNonNegative('Adagrad', 'eps', h.eps, where);
    requireBoolean('Adagrad', 'maximize', h.maximize, where);
  }

  protected override stateLayout(): StateLayout {
    return { required: ['step', 'sum'], optional: [] };
  }

  /** torch's constructor state: step 0 and the sum at the group's initial accumulator value. */
  private initState(p: Parameter, group: AdagradHyperParams, gi: number, k: number): ParamState {
    const st = this.stateOf(p);
    st.step = 0;
    this.stateBuffer(st, 'sum', p, gi, k).fill(group.initialAccumulatorValue);
    return st;
  }

  override step(): void {
    // Every check of every group first (checkedGroups), then state and updates.
    const checked = this.checkedGroups();
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const group = this.paramGroups[gi];
      const { ps, ks, gs } = checked[gi];
      const states: ParamState[] = [];
      const sums: FloatArray[] = [];
      for (let j = 0; j < ps.length; j++) {
        const p = ps[j], k = ks[j];
        const existing = this.state.get(p);
        const st = existing && existing.step !== undefined ? this.stateOf(p) : this.initState(p, group, gi, k);
        sums.push(this.stateBuffer(st, 'sum', p, gi, k));
        states.push(st);
      }
      for (let j = 0; j < ps.length; j++) {
        const st = states[j];
        const step = (st.step as number) + 1;
        ps[j]._bumpVersion?.(); // graphs that saved it are stale
        adagradUpdate(ps[j].data, gs[j], sums[j], group.lr / (1 + (step - 1) * group.lrDecay), group);
        st.step = step;
      }
    }
  }
}

/** One Adagrad update of x with gradient gr and the step's lr `clr` (see the header). */
function adagradUpdate(x: FloatArray, gr: FloatArray, sum: FloatArray, clr: number, h: AdagradHyperParams): void {
  const r = x instanceof Float32Array ? Math.fround : keep;
  const eps = r(h.eps), wd = r(h.weightDecay), negClr = r(-clr), maximize = h.maximize, decay = h.weightDecay !== 0;
  for (let i = 0; i < x.length; i++) {
    let g = maximize ? -gr[i] : gr[i];
    if (decay) g = r(g + wd * x[i]);
    const s = r(sum[i] + r(g * g));
    sum[i] = s;
    const std = r(r(Math.sqrt(s)) + eps);
    x[i] = r(x[i] + r(r(negClr * g) / std));
  }
}
