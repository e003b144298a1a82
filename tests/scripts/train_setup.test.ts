/**
 * train-cifar's --warmup-epochs with the onecycle schedule sets the length of OneCycleLR's rising
 * phase. A short explicit warm-up (fewer epochs than one step's worth, so it rounds to 0 steps)
 * used to fall back silently to onecycle's default 30% of the run; it must stay short (2 steps, the
 * least onecycle's two phases allow). Reference: torch.optim.lr_scheduler.OneCycleLR reaches max_lr
 * at step pct_start * total_steps - 1, and starts at max_lr / div_factor (25).
 */
import { expect } from 'chai';
import { SGD } from '../../lib/optim/index';
import { parseCommandLine } from '../../scripts/train/options';
import { buildScheduler, warmupSteps } from '../../scripts/train/setup';

function lrs(args: string[], stepsPerEpoch: number, steps: number): number[] {
  const { config } = parseCommandLine(args);
  const opt = new SGD([{ data: new Float32Array(1), grad: null }], { lr: config.lr });
  const sched = buildScheduler(config, opt, stepsPerEpoch)!;
  const out = [opt.paramGroups[0].lr];
  for (let i = 0; i < steps; i++) {
    sched.step();
    out.push(opt.paramGroups[0].lr);
  }
  return out;
}

describe('scripts/train setup: warm-up with onecycle', function () {
  it('a warm-up shorter than a step is 2 steps, not 30% of the run', () => {
    const args = ['--epochs', '2', '--schedule', 'onecycle', '--lr', '0.1', '--warmup-epochs', '0.001'];
    expect(warmupSteps(parseCommandLine(args).config, 100)).to.equal(2);
    const lr = lrs(args, 100, 3);
    expect(lr[0]).to.be.closeTo(0.1 / 25, 1e-12);
    // pct_start = 2/200: the peak is at step 2 * 1 - 1 = 1.
    expect(lr[1]).to.be.closeTo(0.1, 1e-12);
    expect(lr[2]).to.be.lessThan(0.1);
  });

  it('no --warmup-epochs (or 0) keeps onecycle\'s own 30% rising phase', () => {
    for (const extra of [[], ['--warmup-epochs', '0']]) {
      const args = ['--epochs', '2', '--schedule', 'onecycle', '--lr', '0.1', ...extra];
      expect(warmupSteps(parseCommandLine(args).config, 100)).to.equal(0);
      const lr = lrs(args, 100, 60);
      // pct_start 0.3 of 200 steps: the peak at step 59.
      expect(lr[59]).to.be.closeTo(0.1, 1e-12);
      expect(lr[58]).to.be.lessThan(0.1);
    }
  });
});
