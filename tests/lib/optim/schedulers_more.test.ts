import { expect } from 'chai';
import { Adam } from '../../../lib/optim/adam';
import {
  ChainedScheduler, ConstantLR, CosineAnnealingWarmRestarts, CyclicLR, CyclicLROptions, ExponentialLR, LinearLR, LRScheduler,
  PolynomialLR, ReduceLROnPlateau, SequentialLR, StepLR,
} from '../../../lib/optim/lr_scheduler';
import { Parameter } from '../../../lib/optim/optimizer';
import { SGD } from '../../../lib/optim/sgd';
import * as T from '../../../index';
import { expectScalarClose, param } from '../../support/optim_helpers';

const p = (): Parameter => param('float64', [1, 2]);

/** lr of every group after construction (epoch 0) and after each of `steps` further steps. */
function trace(s: LRScheduler, steps: number): number[][] {
  const out = [s.getLastLr()];
  for (let t = 0; t < steps; t++) {
    s.step();
    out.push(s.getLastLr());
    expect(s.optimizer.paramGroups.map((g) => g.lr)).to.deep.equal(s.getLastLr());
  }
  return out;
}

function expectTrace(actual: number[][], expected: number[][], rtol = 1e-14): void {
  expect(actual.length).to.equal(expected.length);
  actual.forEach((row, t) => {
    expect(row.length).to.equal(expected[t].length);
    row.forEach((v, i) => expectScalarClose(v, expected[t][i], rtol, `epoch ${t} group ${i}`));
  });
}

/** expected[t][i] = f(t, i) for t = 0..steps. */
const table = (steps: number, groups: number, f: (t: number, i: number) => number): number[][] =>
  Array.from({ length: steps + 1 }, (_, t) => Array.from({ length: groups }, (_g, i) => f(t, i)));

/** Steps two schedulers side by side and requires the same lrs (and optimizer lrs) every step. */
function expectSameFuture(a: LRScheduler, b: LRScheduler, steps: number): void {
  for (let t = 0; t < steps; t++) {
    a.step();
    b.step();
    expect(b.getLastLr(), `step ${t + 1}`).to.deep.equal(a.getLastLr());
    expect(b.optimizer.paramGroups.map((g) => g.lr)).to.deep.equal(a.optimizer.paramGroups.map((g) => g.lr));
  }
}

/** Requires `f` to throw an error whose message matches every pattern. */
function expectThrows(f: () => unknown, ...patterns: RegExp[]): void {
  let message: string | undefined;
  try {
    f();
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message, 'expected an error').to.be.a('string');
  for (const re of patterns) expect(message).to.match(re);
}

const momentumOf = (s: LRScheduler): number => (s.optimizer.paramGroups[0] as unknown as { momentum: number }).momentum;

/**
 * SGDR's schedule from torch's docs: η_t = η_min + ½(η_max − η_min)(1 + cos(π·T_cur/T_i)), where
 * T_i is the current period (T_0, then ×T_mult at each restart) and T_cur the steps since the restart.
 */
function sgdr(t: number, base: number, t0: number, tMult: number, etaMin: number): number {
  let start = 0;
  let period = t0;
  while (t >= start + period) {
    start += period;
    period *= tMult;
  }
  return etaMin + 0.5 * (base - etaMin) * (1 + Math.cos((Math.PI * (t - start)) / period));
}

/**
 * The triangular policy (Smith, "Cyclical Learning Rates", as torch's CyclicLR docs describe it): the
 * fraction of the way from baseLr to maxLr, up in `up` steps and down in `down`.
 */
function cyclicFrac(t: number, up: number, down: number): number {
  const pos = t % (up + down);
  return pos <= up ? pos / up : 1 - (pos - up) / down;
}

describe('lib/optim/lr_scheduler: CosineAnnealingWarmRestarts, PolynomialLR, CyclicLR, ChainedScheduler', () => {
  it('are exported from optim and at the top level', () => {
    expect(T.CosineAnnealingWarmRestarts).to.equal(CosineAnnealingWarmRestarts);
    expect(T.PolynomialLR).to.equal(PolynomialLR);
    expect(T.CyclicLR).to.equal(CyclicLR);
    expect(T.ChainedScheduler).to.equal(ChainedScheduler);
    expect(T.optim.CyclicLR).to.equal(CyclicLR);
  });

  describe('CosineAnnealingWarmRestarts', () => {
    it('tMult 1: restarts every t0 steps, per group, down to etaMin', () => {
      const opt = new SGD([{ params: [p()] }, { params: [p()], lr: 0.5 }], { lr: 1 });
      const s = new CosineAnnealingWarmRestarts(opt, { t0: 4, etaMin: 0.1 });
      const bases = [1, 0.5];
      expectTrace(trace(s, 13), table(13, 2, (t, i) => sgdr(t, bases[i], 4, 1, 0.1)));
      // Restarts land back on the base lr.
      expect(s.lastEpoch).to.equal(13);
    });

    it('tMult 2: periods t0, 2·t0, 4·t0 (restarts at 3, 9, 21)', () => {
      const s = new CosineAnnealingWarmRestarts(new SGD([p()], { lr: 0.2 }), { t0: 3, tMult: 2 });
      const got = trace(s, 25);
      expectTrace(got, table(25, 1, (t) => sgdr(t, 0.2, 3, 2, 0)));
      for (const restart of [0, 3, 9, 21]) expect(got[restart][0]).to.equal(0.2);
    });

    it('defaults: tMult 1, etaMin 0', () => {
      const s = new CosineAnnealingWarmRestarts(new SGD([p()], { lr: 1 }), { t0: 2 });
      expectTrace(trace(s, 4), [[1], [0.5], [1], [0.5], [1]]);
    });

    it('state dict round trip mid-period continues identically', () => {
      const a = new CosineAnnealingWarmRestarts(new SGD([p()], { lr: 0.3 }), { t0: 2, tMult: 3, etaMin: 0.01 });
      for (let t = 0; t < 4; t++) a.step();
      const sd = JSON.parse(JSON.stringify(a.stateDict()));
      expect(sd).to.deep.include({ kind: 'CosineAnnealingWarmRestarts', t0: 2, tMult: 3, etaMin: 0.01, tI: 6, tCur: 2, lastEpoch: 4 });
      const b = new CosineAnnealingWarmRestarts(new SGD([p()], { lr: 0.3 }), { t0: 5 });
      b.loadStateDict(sd);
      expect(b.getLastLr()).to.deep.equal(a.getLastLr());
      expectSameFuture(a, b, 12);
    });

    it('after a SequentialLR milestone it starts its first period from the base lr', () => {
      const opt = new SGD([p()], { lr: 1 });
      const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
      const cos = new CosineAnnealingWarmRestarts(opt, { t0: 3 });
      const seq = new SequentialLR(opt, { schedulers: [warm, cos], milestones: [2] });
      expectTrace(trace(seq, 8), table(8, 1, (t) => (t < 2 ? 0.5 + 0.25 * t : sgdr(t - 2, 1, 3, 1, 0))));
    });

    it('rejects bad options, naming CosineAnnealingWarmRestarts', () => {
      const opt = new SGD([p()], { lr: 1 });
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ t0: 0 }, /t0 must be a positive integer, got 0/],
        [{ t0: 1.5 }, /t0 must be a positive integer/],
        [{ t0: 2, tMult: 0 }, /tMult must be a positive integer, got 0/],
        [{ t0: 2, tMult: 1.5 }, /tMult must be a positive integer/],
        [{ t0: 2, etaMin: -1 }, /etaMin must be a non-negative number/],
        [{ T_0: 2 }, /unknown option 'T_0'/],
      ];
      for (const [o, re] of bad) {
        expectThrows(() => new CosineAnnealingWarmRestarts(opt, o as never), /^CosineAnnealingWarmRestarts: /, re);
      }
      const s = new CosineAnnealingWarmRestarts(opt, { t0: 2 });
      expect(() => s.loadStateDict({ ...s.stateDict(), tCur: 2 })).to.throw(/^CosineAnnealingWarmRestarts: tCur must be less than tI/);
      expect(() => s.loadStateDict({ ...s.stateDict(), kind: 'StepLR' })).to.throw(/not a CosineAnnealingWarmRestarts/);
    });
  });

  describe('PolynomialLR', () => {
    it('lr = baseLr·(1 − min(t, T)/T)^power, per group, then stays at 0', () => {
      const opt = new SGD([{ params: [p()] }, { params: [p()], lr: 0.1 }], { lr: 1 });
      const s = new PolynomialLR(opt, { totalIters: 4, power: 2 });
      const bases = [1, 0.1];
      expectTrace(trace(s, 7), table(7, 2, (t, i) => bases[i] * (1 - Math.min(t, 4) / 4) ** 2), 1e-13);
      expect(s.getLastLr()).to.deep.equal([0, 0]);
    });

    it("defaults to torch's totalIters 5, power 1 (linear decay to 0)", () => {
      const s = new PolynomialLR(new SGD([p()], { lr: 0.5 }));
      expectTrace(trace(s, 6), table(6, 1, (t) => 0.5 * (1 - Math.min(t, 5) / 5)), 1e-13);
      expect(s.stateDict()).to.deep.include({ totalIters: 5, power: 1 });
    });

    it('a fractional power; state dict round trip continues identically', () => {
      const a = new PolynomialLR(new SGD([p()], { lr: 0.8 }), { totalIters: 6, power: 0.5 });
      expectTrace(trace(a, 2), table(2, 1, (t) => 0.8 * (1 - t / 6) ** 0.5), 1e-13);
      const b = new PolynomialLR(new SGD([p()], { lr: 0.8 }), { totalIters: 2 });
      b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
      expectSameFuture(a, b, 6);
    });

    it('after a SequentialLR milestone it starts from its closed form at 0', () => {
      const opt = new SGD([p()], { lr: 1 });
      const first = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
      const poly = new PolynomialLR(opt, { totalIters: 2 });
      const seq = new SequentialLR(opt, { schedulers: [first, poly], milestones: [2] });
      expectTrace(trace(seq, 5), [[1], [0.5], [1], [0.5], [0], [0]]);
    });

    it('rejects bad options, naming PolynomialLR', () => {
      const opt = new SGD([p()], { lr: 1 });
      expect(() => new PolynomialLR(opt, { totalIters: 0 })).to.throw(/^PolynomialLR: totalIters must be a positive integer, got 0/);
      expect(() => new PolynomialLR(opt, { power: -1 })).to.throw(/^PolynomialLR: power must be a non-negative number, got -1/);
      expect(() => new PolynomialLR(opt, { total_iters: 3 } as never)).to.throw(/^PolynomialLR: unknown option 'total_iters' \(did you mean 'totalIters'\?\)/);
    });
  });

  describe('CyclicLR', () => {
    it("triangular: up in stepSizeUp steps, down in stepSizeDown, momentum inversely (SGD)", () => {
      const opt = new SGD([{ params: [p()] }, { params: [p()] }], { lr: 5, momentum: 0.5 });
      const s = new CyclicLR(opt, { baseLr: [0.1, 0.01], maxLr: [1, 0.05], stepSizeUp: 2, stepSizeDown: 4 });
      const base = [0.1, 0.01], max = [1, 0.05];
      const momentum = (): number[] => opt.paramGroups.map((g) => g.momentum);
      // Construction writes baseLr (epoch 0) and maxMomentum.
      expect(s.getLastLr()).to.deep.equal([0.1, 0.01]);
      expect(momentum()).to.deep.equal([0.9, 0.9]);
      const lrs: number[][] = [s.getLastLr()], moms: number[][] = [momentum()];
      for (let t = 1; t <= 14; t++) {
        s.step();
        lrs.push(s.getLastLr());
        moms.push(momentum());
      }
      expectTrace(lrs, table(14, 2, (t, i) => base[i] + (max[i] - base[i]) * cyclicFrac(t, 2, 4)));
      expectTrace(moms, table(14, 2, (t) => 0.9 - 0.1 * cyclicFrac(t, 2, 4)));
      expectTrace([lrs[2]], [[1, 0.05]]); // the peak after stepSizeUp steps
      expect(opt.paramGroups.map((g) => g.initialLr)).to.deep.equal([0.1, 0.01]);
    });

    it('triangular2 halves the amplitude every cycle; stepSizeDown defaults to stepSizeUp', () => {
      const s = new CyclicLR(new SGD([p()], { lr: 1 }), { baseLr: 0.2, maxLr: 1, stepSizeUp: 3, mode: 'triangular2', cycleMomentum: false });
      expectTrace(trace(s, 20), table(20, 1, (t) => 0.2 + 0.8 * cyclicFrac(t, 3, 3) / 2 ** Math.floor(t / 6)));
    });

    it('exp_range scales the amplitude by gamma^step', () => {
      const s = new CyclicLR(new SGD([p()], { lr: 1 }), { baseLr: 0.1, maxLr: 0.6, stepSizeUp: 2, mode: 'exp_range', gamma: 0.9, cycleMomentum: false });
      expectTrace(trace(s, 12), table(12, 1, (t) => 0.1 + 0.5 * cyclicFrac(t, 2, 2) * 0.9 ** t));
    });

    it("as torch 1.13, cycling momentum needs a momentum option: Adam needs cycleMomentum: false, and keeps its betas", () => {
      const opt = new Adam([p()], { betas: [0.8, 0.99] });
      expect(() => new CyclicLR(opt, { baseLr: 0.1, maxLr: 1 })).to.throw(/^CyclicLR: cycleMomentum needs an optimizer with a momentum option, got Adam/);
      expect(opt.paramGroups[0].lr).to.equal(1e-3); // nothing changed
      const s = new CyclicLR(opt, { baseLr: 0.1, maxLr: 1, stepSizeUp: 1, cycleMomentum: false });
      expectTrace(trace(s, 3), [[0.1], [1], [0.1], [1]]);
      expect(opt.paramGroups[0].betas).to.deep.equal([0.8, 0.99]);
    });

    it('state dict round trip continues identically and restores momentum', () => {
      const mk = (): CyclicLR => new CyclicLR(new SGD([p()], { lr: 1, momentum: 0.1 }), {
        baseLr: 0.01, maxLr: 0.1, stepSizeUp: 3, stepSizeDown: 2, mode: 'exp_range', gamma: 0.95, baseMomentum: 0.7, maxMomentum: 0.95,
      });
      const a = mk();
      for (let t = 0; t < 4; t++) a.step();
      const sd = JSON.parse(JSON.stringify(a.stateDict()));
      const b = new CyclicLR(new SGD([p()], { lr: 1, momentum: 0.1 }), { baseLr: 1, maxLr: 2 });
      b.loadStateDict(sd);
      expect(momentumOf(b)).to.equal(momentumOf(a));
      expect(b.getLastLr()).to.deep.equal(a.getLastLr());
      for (let t = 0; t < 8; t++) {
        a.step();
        b.step();
        expect(b.getLastLr()).to.deep.equal(a.getLastLr());
        expect(momentumOf(b)).to.equal(momentumOf(a));
      }
    });

    it('a resume before a SequentialLR milestone keeps the momentum the waiting CyclicLR set (optimizer loaded first, as train-cifar does)', () => {
      // torch 1.13: CyclicLR's initial step sets momentum to maxMomentum (scale 0 at epoch 0); the
      // warm-up LinearLR never touches it, and loading a scheduler's state changes no param group, so
      // the momentum is maxMomentum all through the warm-up, resumed or not.
      const mk = (): SequentialLR => {
        const opt = new SGD([p()], { lr: 0.1, momentum: 0.5 });
        const warm = new LinearLR(opt, { startFactor: 0.25, totalIters: 4 });
        const cyc = new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 3, stepSizeDown: 2, baseMomentum: 0.8, maxMomentum: 0.9 });
        return new SequentialLR(opt, { schedulers: [warm, cyc], milestones: [4] });
      };
      const a = mk();
      a.step();
      expect(momentumOf(a)).to.equal(0.9);
      const optSd = a.optimizer.stateDict();
      const schedSd = JSON.parse(JSON.stringify(a.stateDict()));
      const b = mk();
      b.optimizer.loadStateDict(optSd);
      b.loadStateDict(schedSd);
      expect(momentumOf(b)).to.equal(0.9);
      expect(b.getLastLr()).to.deep.equal(a.getLastLr());
      for (let t = 0; t < 8; t++) {
        a.step();
        b.step();
        expect(b.getLastLr(), `step ${t + 2}`).to.deep.equal(a.getLastLr());
        expect(momentumOf(b), `step ${t + 2}`).to.equal(momentumOf(a));
      }
    });

    it('the same resume with a waiting OneCycleLR (Adam: beta1) keeps the betas its initial step set', () => {
      const mk = (): SequentialLR => {
        const opt = new Adam([p()], { lr: 0.1 });
        const warm = new LinearLR(opt, { startFactor: 0.25, totalIters: 4 });
        const one = new T.optim.OneCycleLR(opt, { maxLr: 0.1, totalSteps: 20, baseMomentum: 0.8, maxMomentum: 0.9 });
        return new SequentialLR(opt, { schedulers: [warm, one], milestones: [4] });
      };
      const beta1 = (s: LRScheduler): number => (s.optimizer.paramGroups[0] as unknown as { betas: number[] }).betas[0];
      const a = mk();
      const atStart = beta1(a);
      a.step();
      const optSd = a.optimizer.stateDict();
      const schedSd = JSON.parse(JSON.stringify(a.stateDict()));
      const b = mk();
      b.optimizer.loadStateDict(optSd);
      b.loadStateDict(schedSd);
      expect(beta1(b)).to.equal(atStart);
      for (let t = 0; t < 8; t++) {
        a.step();
        b.step();
        expect(b.getLastLr(), `step ${t + 2}`).to.deep.equal(a.getLastLr());
        expect(beta1(b), `step ${t + 2}`).to.equal(beta1(a));
      }
    });

    it('rejects bad options, naming CyclicLR', () => {
      const opt = new SGD([{ params: [p()] }, { params: [p()] }], { lr: 1, momentum: 0.9 });
      const ok: CyclicLROptions = { baseLr: 0.1, maxLr: 1 };
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ mode: 'expRange' }, /mode must be 'triangular', 'triangular2' or 'exp_range', got "expRange"/],
        [{ maxLr: [1] }, /maxLr must have one value per param group \(2\), got 1 values/],
        [{ baseLr: -0.1 }, /baseLr must be a non-negative number/],
        [{ stepSizeUp: 0 }, /stepSizeUp must be a positive number/],
        [{ stepSizeDown: -1 }, /stepSizeDown must be a non-negative number/],
        [{ gamma: 0 }, /gamma must be a positive number/],
        [{ cycleMomentum: 1 }, /cycleMomentum must be a boolean/],
        [{ maxMomentum: [0.9, -1] }, /maxMomentum\[1\] must be a non-negative number/],
        [{ step_size_up: 4 }, /unknown option 'step_size_up' \(did you mean 'stepSizeUp'\?\)/],
      ];
      for (const [o, re] of bad) {
        expectThrows(() => new CyclicLR(opt, { ...ok, ...o } as never), /^CyclicLR: /, re);
      }
      expect(opt.paramGroups.map((g) => g.lr)).to.deep.equal([1, 1]);
      const s = new CyclicLR(opt, ok);
      expect(() => s.loadStateDict({ ...s.stateDict(), mode: 'linear' })).to.throw(/^CyclicLR: mode must be/);
      expect(() => s.loadStateDict({ ...s.stateDict(), maxLrs: [1] })).to.throw(/^CyclicLR: maxLrs must be an array of 2/);
    });
  });

  describe('ChainedScheduler', () => {
    it("torch's example: ConstantLR(0.1, 2) and ExponentialLR(0.9) multiply, lr_t = 0.9^t·(t < 2 ? 0.1 : 1)", () => {
      // torch's docstring lists 0.09, 0.081 (a typo for 0.81), 0.729, 0.6561, 0.59049: the lrs after steps 1 to 5.
      const opt = new SGD([{ params: [p()] }, { params: [p()], lr: 0.5 }], { lr: 1 });
      const s = new ChainedScheduler([new ConstantLR(opt, { factor: 0.1, totalIters: 2 }), new ExponentialLR(opt, { gamma: 0.9 })]);
      const bases = [1, 0.5];
      const got = trace(s, 6);
      expectTrace(got, table(6, 2, (t, i) => bases[i] * 0.9 ** t * (t < 2 ? 0.1 : 1)));
      [0.09, 0.81, 0.729, 0.6561, 0.59049].forEach((v, k) => expectScalarClose(got[k + 1][0], v, 1e-14, `step ${k + 1}`));
      expect(s.lastEpoch).to.equal(6);
      expect(s.baseLrs).to.deep.equal([1, 0.5]);
    });

    it('state dict holds each scheduler\'s; a round trip continues identically', () => {
      const mk = (): ChainedScheduler => {
        const opt = new SGD([p()], { lr: 1 });
        return new ChainedScheduler([new LinearLR(opt, { startFactor: 0.25, totalIters: 4 }), new CosineAnnealingWarmRestarts(opt, { t0: 3 })]);
      };
      const a = mk();
      for (let t = 0; t < 5; t++) a.step();
      const sd = JSON.parse(JSON.stringify(a.stateDict()));
      expect(sd.kind).to.equal('ChainedScheduler');
      expect(sd.schedulers.map((x: { kind: string }) => x.kind)).to.deep.equal(['LinearLR', 'CosineAnnealingWarmRestarts']);
      const b = mk();
      b.loadStateDict(sd);
      expect(b.getLastLr()).to.deep.equal(a.getLastLr());
      expectSameFuture(a, b, 8);
      // A child that rejects its state leaves every child (and the lr) as it was.
      const c = mk();
      const before = c.stateDict();
      expect(() => c.loadStateDict({ ...sd, schedulers: [sd.schedulers[0], { ...sd.schedulers[1], t0: 0 }] }))
        .to.throw(/^CosineAnnealingWarmRestarts: t0 must be a positive integer/);
      expect(c.stateDict()).to.deep.equal(before);
      expect(c.optimizer.paramGroups[0].lr).to.equal(before.lastLr[0]);
    });

    it('rejects what cannot be chained, naming ChainedScheduler', () => {
      const opt = new SGD([p()], { lr: 1 });
      const other = new SGD([p()], { lr: 1 });
      const s1 = new ExponentialLR(opt, { gamma: 0.5 });
      expect(() => new ChainedScheduler([])).to.throw(/^ChainedScheduler: schedulers must be a non-empty array/);
      expect(() => new ChainedScheduler([s1, {} as never])).to.throw(/^ChainedScheduler: schedulers\[1\] must be a scheduler/);
      expect(() => new ChainedScheduler([s1, new StepLR(other, { stepSize: 1 })]))
        .to.throw(/^ChainedScheduler: schedulers\[1\] \(StepLR\) belongs to a different optimizer than schedulers\[0\]/);
      expect(() => new ChainedScheduler([s1, new ReduceLROnPlateau(opt) as never])).to.throw(/^ChainedScheduler: schedulers\[1\] is a ReduceLROnPlateau/);
      const chain = new ChainedScheduler([s1]);
      expect(() => new SequentialLR(opt, { schedulers: [chain, s1], milestones: [1] })).to.throw(/^SequentialLR: schedulers\[0\] is a ChainedScheduler/);
    });
  });
});
