/**
 * Stochastic gradient descent with momentum, torch.optim.SGD's single-tensor (foreach=False) path.
 *
 * Per element, in torch's order: g = ±grad (+ weightDecay·p); with momentum the buffer starts as a
 * copy of g and then becomes momentum·buf + (1 − dampening)·g; the step direction is
 * g + momentum·buf (nesterov) or buf; p += (−lr)·direction. Cost: one pass over each parameter.
 *
 * Float64 parameters follow torch's double arithmetic operation by operation (torch's vectorised
 * CPU kernels may fuse a multiply-add, so expect agreement to an ulp or so, not bitwise). For
 * float32 parameters each element is computed in double and rounded when stored, so results agree
 * with torch's float32 kernels to float32 rounding. The loop itself is sgdUpdate
 * (lib/kernels/optim_update.ts): WebAssembly for float32, same results; a step runs each param
 * group's tensors as one threaded kernel run (sgdUpdateMany), with the same per-element arithmetic.
 */
import {
  checkKnownKeys, Optimizer, ParamsArg, requireBoolean, requireFinite,
  requireNonNegative, StateLayout, BaseHyperParams, type HyperCheck,
} from './optimizer';
import { fail, fmtValue } from '../core/errors';
import type { FloatArray } from '../core/dtype';
import { sgdUpdateMany, type SgdStep } from '../kernels/optim_update';

/** A parameter group's SGD settings: exactly what one update step (the kernel's SgdStep) reads. */
export interface SGDHyperParams extends BaseHyperParams, SgdStep {}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  maximize?: boolean;
}

const SGD_KEYS = ['lr', 'momentum', 'dampening', 'nesterov', 'weightDecay', 'maximize'] as const;

function sgdDefaults(options: SGDOptions): SGDHyperParams {
  checkKnownKeys('SGD', options, SGD_KEYS);
  return {
    lr: options.lr,
    momentum: options.momentum ?? 0,
    dampening: options.dampening ?? 0,
    nesterov: options.nesterov ?? false,
    weightDecay: options.weightDecay ?? 0,
    maximize: options.maximize ?? false,
  };
}

export class SGD extends Optimizer<SGDHyperParams> {
  constructor(params: ParamsArg<SGDHyperParams>, options: SGDOptions) {
    super('SGD', params, sgdDefaults(options));
  }

  protected override checkHyperParams(h: SGDHyperParams, where: string, when: HyperCheck): void {
    requireNonNegative('SGD', 'lr', h.lr, where);
    requireNonNegative('SGD', 'momentum', h.momentum, where);
    requireFinite('SGD', 'dampening', h.dampening, where);
    requireNonNegative('SGD', 'weightDecay', h.weightDecay, where);
    requireBoolean('SGD', 'nesterov', h.nesterov, where);
    requireBoolean('SGD', 'maximize', h.maximize, where);
    // As torch 1.13, only on the constructor's options (SGD.__init__; add_param_group checks none of
    // it): a group may set momentum 0 (its nesterov step is then plain SGD, as torch's) or a
    // dampening, a CyclicLR or OneCycleLR with baseMomentum 0 moves momentum to 0 mid-run, and a
    // checkpoint saved there must load.
    if (when === 'defaults' && h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      fail('SGD', `nesterov requires momentum > 0 and dampening = 0, got momentum ${fmtValue(h.momentum)} and dampening ${fmtValue(h.dampening)}${where}`);
    }
  }

  protected override stateLayout(): StateLayout {
    return { required: [], optional: ['momentumBuffer'] };
  }

  override step(): void {
    // Every check of every group first (checkedGroups: a step that fails anywhere makes no state and
    // moves no parameter), then each group's parameters in one kernel run (sgdUpdateMany).
    // Plain loops: closures made per step would be optimised afresh by V8 each time they got hot.
    const checked = this.checkedGroups();
    for (let gi = 0; gi < this.paramGroups.length; gi++) {
      const { lr, momentum, dampening, nesterov, weightDecay, maximize } = this.paramGroups[gi];
      const { ps, ks, gs } = checked[gi];
      const xs: FloatArray[] = [];
      for (const p of ps) xs.push(p.data);
      const bufs: Array<FloatArray | null> = [], firsts: boolean[] = [];
      for (let j = 0; j < ps.length; j++) {
        if (momentum === 0) {
          bufs.push(null);
          firsts.push(false);
          continue;
        }
        const st = this.stateOf(ps[j]);
        firsts.push(st.momentumBuffer === undefined);
        bufs.push(this.stateBuffer(st, 'momentumBuffer', ps[j], gi, ks[j]));
      }
      for (let k = 0; k < ps.length; k++) ps[k]._bumpVersion?.(); // graphs that saved them are stale
      sgdUpdateMany(xs, gs, bufs, firsts, { lr, momentum, dampening, nesterov, weightDecay, maximize });
    }
  }
}
