import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadCheckpoint, saveCheckpoint } from '../../../lib/io/checkpoint';
import { Adam } from '../../../lib/optim/adam';
import {
  ConstantLR, CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, LRScheduler, MultiplicativeLR, MultiStepLR, OneCycleLR,
  ReduceLROnPlateau, ReduceLROnPlateauOptions, ReduceLROnPlateauStateDict, SchedulerStateDict, SequentialLR, StepLR,
} from '../../../lib/optim/lr_scheduler';
import { tensor } from '../../../index';
import { BaseHyperParams, Optimizer, Parameter, StateLayout } from '../../../lib/optim/optimizer';
import { SGD } from '../../../lib/optim/sgd';
import { expectScalarClose, param, setGrad } from '../../support/optim_helpers';

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
  actual.forEach((row, t) => row.forEach((v, i) => expectScalarClose(v, expected[t][i], rtol, `epoch ${t} group ${i}`)));
}

const cosAt = (base: number, etaMin: number, t: number, tMax: number): number =>
  etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / tMax))) / 2;

describe('lib/optim/lr_scheduler', () => {
  describe('StepLR', () => {
    it('multiplies by gamma every stepSize steps, per group', () => {
      const opt = new SGD([{ params: [p()] }, { params: [p()], lr: 0.1 }], { lr: 1 });
      const s = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
      expect(s.lastEpoch).to.equal(0);
      expect(s.baseLrs).to.deep.equal([1, 0.1]);
      expectTrace(trace(s, 5), [[1, 0.1], [1, 0.1], [0.5, 0.05], [0.5, 0.05], [0.25, 0.025], [0.25, 0.025]]);
      expect(opt.paramGroups.map((g) => g.initialLr)).to.deep.equal([1, 0.1]);
    });

    it('defaults gamma to 0.1', () => {
      const s = new StepLR(new SGD([p()], { lr: 1 }), { stepSize: 1 });
      expectTrace(trace(s, 2), [[1], [0.1], [0.01]]);
    });
  });

  describe('MultiStepLR', () => {
    it('decays at each milestone, by gamma^k for a milestone listed k times', () => {
      const s = new MultiStepLR(new SGD([p()], { lr: 1 }), { milestones: [5, 2], gamma: 0.1 });
      expectTrace(trace(s, 6), [[1], [1], [0.1], [0.1], [0.1], [0.01], [0.01]]);
      const d = new MultiStepLR(new SGD([p()], { lr: 1 }), { milestones: [3, 3], gamma: 0.5 });
      expectTrace(trace(d, 4), [[1], [1], [1], [0.25], [0.25]]);
    });
  });

  describe('CosineAnnealingLR', () => {
    it('follows etaMin + (base − etaMin)(1 + cos(πt/tMax))/2, and keeps going past tMax', () => {
      const s = new CosineAnnealingLR(new SGD([p()], { lr: 1 }), { tMax: 4, etaMin: 0.1 });
      // cos(π/4) = √½, cos(π/2) = 0, cos(3π/4) = −√½, cos(π) = −1, cos(5π/4) = −√½.
      const h = Math.SQRT1_2;
      expectTrace(trace(s, 5), [[1], [0.1 + (0.9 * (1 + h)) / 2], [0.55], [0.1 + (0.9 * (1 - h)) / 2], [0.1], [0.1 + (0.9 * (1 - h)) / 2]]);
    });

    it("agrees with torch's recursive form to rounding", () => {
      // torch: lr_t = (1 + cos(πt/T)) / (1 + cos(π(t−1)/T)) · (lr_{t−1} − ηmin) + ηmin, and at t = T + 1
      // (restart of the period) lr_{t−1} + (base − ηmin)(1 − cos(π/T))/2.
      const T = 7;
      const etaMin = 0.01;
      const base = 0.3;
      const s = new CosineAnnealingLR(new SGD([p()], { lr: base }), { tMax: T, etaMin });
      let rec = base;
      for (let t = 1; t <= 3 * T; t++) {
        s.step();
        if ((t - 1 - T) % (2 * T) === 0) rec = rec + ((base - etaMin) * (1 - Math.cos(Math.PI / T))) / 2;
        else rec = ((1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T))) * (rec - etaMin) + etaMin;
        const got = s.getLastLr()[0];
        expect(Math.abs(got - rec), `t=${t}`).to.be.below(1e-15);
        expectScalarClose(got, cosAt(base, etaMin, t, T), 1e-15, `closed form t=${t}`);
      }
    });
    it('is chainable as in torch: it scales the lr it finds, so it stacks with LinearLR warm-up and outside changes', () => {
      // torch's get_lr is recursive (lr_t from the group's current lr): with etaMin = 0, LinearLR and
      // CosineAnnealingLR stepped back to back multiply, lr_t = base·lin(t)·(1 + cos(πt/T))/2 for t ≤ T,
      // with lin(t) = s + (e − s)·min(t, n)/n; the epoch-0 lr is LinearLR's base·s (cosine keeps what it finds).
      const base = 0.4, s = 0.25, n = 3, T = 8;
      const opt = new SGD([p()], { lr: base });
      const warm = new LinearLR(opt, { startFactor: s, totalIters: n });
      const cos = new CosineAnnealingLR(opt, { tMax: T });
      const lin = (t: number): number => s + ((1 - s) * Math.min(t, n)) / n;
      expectScalarClose(opt.paramGroups[0].lr, base * s, 1e-15, 'epoch 0');
      for (let t = 1; t <= T - 1; t++) {
        warm.step();
        cos.step();
        const expected = (base * lin(t) * (1 + Math.cos((Math.PI * t) / T))) / 2;
        expectScalarClose(opt.paramGroups[0].lr, expected, 1e-13, `epoch ${t}`);
        expect(cos.getLastLr()).to.deep.equal([opt.paramGroups[0].lr]);
      }
      // An outside change (halving the lr by hand) carries through, as with torch's recursive form.
      const opt2 = new SGD([p()], { lr: 1 });
      const c2 = new CosineAnnealingLR(opt2, { tMax: 4, etaMin: 0.1 });
      c2.step();
      opt2.paramGroups[0].lr /= 2;
      c2.step();
      const r1 = 0.1 + (0.9 * (1 + Math.SQRT1_2)) / 2;
      expectScalarClose(opt2.paramGroups[0].lr, ((1 + 0) / (1 + Math.SQRT1_2)) * (r1 / 2 - 0.1) + 0.1, 1e-14, 'after halving');
    });
  });

  describe('LinearLR', () => {
    it('ramps the factor from startFactor to endFactor over totalIters steps', () => {
      const s = new LinearLR(new SGD([p()], { lr: 0.5 }), { startFactor: 0.25, totalIters: 3 });
      expectTrace(trace(s, 4), [[0.125], [0.25], [0.375], [0.5], [0.5]]);
    });

    it('defaults to startFactor 1/3, endFactor 1, totalIters 5', () => {
      const s = new LinearLR(new SGD([p()], { lr: 1 }));
      expectTrace(trace(s, 6), [[1 / 3], [7 / 15], [9 / 15], [11 / 15], [13 / 15], [1], [1]]);
    });

    it('can ramp down', () => {
      const s = new LinearLR(new SGD([p()], { lr: 2 }), { startFactor: 1, endFactor: 0.5, totalIters: 2 });
      expectTrace(trace(s, 3), [[2], [1.5], [1], [1]]);
    });
  });

  describe('SequentialLR', () => {
    it('LinearLR warm-up, then cosine restarting from the base lr at the milestone', () => {
      const opt = new SGD([p()], { lr: 1 });
      const warm = new LinearLR(opt, { startFactor: 0.25, totalIters: 2 });
      const cos = new CosineAnnealingLR(opt, { tMax: 4 });
      const s = new SequentialLR(opt, { schedulers: [warm, cos], milestones: [2] });
      const h = Math.SQRT1_2;
      // t0 0.25, t1 0.25 + 0.75/2, t2 cosine epoch 0 = 1, then (1 + cos(πk/4))/2.
      expectTrace(trace(s, 6), [[0.25], [0.625], [1], [(1 + h) / 2], [0.5], [(1 - h) / 2], [0]]);
      expect(s.lastEpoch).to.equal(6);
      expect(cos.lastEpoch).to.equal(4);
    });

    it('uses the closed form of StepLR when it takes over', () => {
      const opt = new SGD([p()], { lr: 1 });
      const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 3 });
      const step = new StepLR(opt, { stepSize: 2, gamma: 0.1 });
      const s = new SequentialLR(opt, { schedulers: [warm, step], milestones: [3] });
      expectTrace(trace(s, 7), [[0.5], [0.5 + 0.5 / 3], [0.5 + 1 / 3], [1], [1], [0.1], [0.1], [0.01]]);
    });

    it('starts with the first scheduler even at a milestone of 0, as torch (the second then runs from its epoch 0 on)', () => {
      // torch 1.13 always takes schedulers[0]'s initial step; at epoch 1 the milestone (0) is not the
      // current epoch, so the StepLR steps chainably from its undone epoch: epoch 0 keeps lr, then ×0.1.
      const opt = new SGD([p()], { lr: 1 });
      const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 4 });
      const step = new StepLR(opt, { stepSize: 1, gamma: 0.1 });
      const s = new SequentialLR(opt, { schedulers: [warm, step], milestones: [0] });
      expectTrace(trace(s, 3), [[0.5], [0.5], [0.05], [0.005]]);
    });
  });

  describe('OneCycleLR', () => {
    const minLr = 0.04 / 1e4;
    const c7 = Math.cos(Math.PI / 7);

    it('two phases with cosine annealing, cycling SGD momentum inversely', () => {
      const opt = new SGD([p()], { lr: 0.123, momentum: 0.5 });
      const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 10 });
      // initial = 1/25 = 0.04, min = 0.04/1e4. Phase 1 ends at step 0.3·10 − 1 = 2, phase 2 at 9.
      const lrs = trace(s, 10).map((r) => r[0]);
      expectScalarClose(lrs[0], 0.04, 1e-15, 't0');
      expectScalarClose(lrs[1], 1 + (-0.96 / 2) * (Math.cos(Math.PI / 2) + 1), 1e-15, 't1'); // = 0.52
      expectScalarClose(lrs[1], 0.52, 1e-15, 't1 literal');
      expectScalarClose(lrs[2], 1, 1e-15, 't2');
      expectScalarClose(lrs[3], minLr + ((1 - minLr) / 2) * (c7 + 1), 1e-15, 't3');
      expectScalarClose(lrs[9], minLr, 1e-12, 't9');
      // Stepping exactly totalSteps times is allowed (torch extrapolates the last phase once).
      expectScalarClose(lrs[10], minLr + ((1 - minLr) / 2) * (Math.cos((8 * Math.PI) / 7) + 1), 1e-12, 't10');
      expect(() => s.step()).to.throw('OneCycleLR: step() called 11 times, more than totalSteps = 10');
      expect(s.lastEpoch).to.equal(10);
    });

    it('momentum: maxMomentum at the start, baseMomentum at the peak, back to maxMomentum', () => {
      const opt = new SGD([p()], { lr: 0.1, momentum: 0.5 });
      const moms: number[] = [];
      const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 10 });
      moms.push(opt.paramGroups[0].momentum);
      for (let t = 1; t <= 9; t++) {
        s.step();
        moms.push(opt.paramGroups[0].momentum);
      }
      expectScalarClose(moms[0], 0.95, 1e-15, 't0');
      expectScalarClose(moms[1], 0.9, 1e-15, 't1');
      expectScalarClose(moms[2], 0.85, 1e-15, 't2');
      expectScalarClose(moms[3], 0.95 + (-0.1 / 2) * (c7 + 1), 1e-15, 't3');
      expectScalarClose(moms[9], 0.95, 1e-15, 't9');
    });

    it('linear annealing', () => {
      const opt = new SGD([p()], { lr: 0.1, momentum: 0.9 });
      const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 10, annealStrategy: 'linear' });
      const lrs = trace(s, 3).map((r) => r[0]);
      expectScalarClose(lrs[1], (1 - 0.04) * 0.5 + 0.04, 1e-15, 't1');
      expectScalarClose(lrs[3], (minLr - 1) * (1 / 7) + 1, 1e-15, 't3');
      expectScalarClose(opt.paramGroups[0].momentum, (0.95 - 0.85) * (1 / 7) + 0.85, 1e-15, 'momentum t3');
    });

    it('three phases: up, back down to the initial lr, then annihilate', () => {
      const opt = new SGD([p()], { lr: 0.1, momentum: 0.9 });
      const s = new OneCycleLR(opt, { maxLr: 1, epochs: 2, stepsPerEpoch: 5, threePhase: true });
      // Phases end at steps 2, 4 and 9.
      const lrs: number[] = [s.getLastLr()[0]];
      const moms: number[] = [opt.paramGroups[0].momentum];
      for (let t = 1; t <= 6; t++) {
        s.step();
        lrs.push(s.getLastLr()[0]);
        moms.push(opt.paramGroups[0].momentum);
      }
      expectScalarClose(lrs[2], 1, 1e-15, 't2');
      expectScalarClose(lrs[3], 0.04 + ((1 - 0.04) / 2) * (Math.cos(Math.PI / 2) + 1), 1e-15, 't3');
      expectScalarClose(lrs[4], 0.04, 1e-15, 't4');
      expectScalarClose(lrs[5], minLr + ((0.04 - minLr) / 2) * (Math.cos(0.2 * Math.PI) + 1), 1e-15, 't5');
      expectScalarClose(moms[3], 0.9, 1e-15, 'momentum t3');
      expectScalarClose(moms[4], 0.95, 1e-15, 'momentum t4');
      expectScalarClose(moms[6], 0.95, 1e-15, 'momentum t6');
    });

    it("cycles Adam's beta1 and leaves beta2 alone; maxLr per group", () => {
      const opt = new Adam([{ params: [p()] }, { params: [p()] }], { betas: [0.9, 0.99] });
      const s = new OneCycleLR(opt, { maxLr: [1, 0.1], totalSteps: 10, baseMomentum: 0.8, maxMomentum: [0.9, 0.95] });
      expect(opt.paramGroups.map((g) => g.betas)).to.deep.equal([[0.9, 0.99], [0.95, 0.99]]);
      expectTrace([s.getLastLr()], [[0.04, 0.004]], 1e-15);
      s.step();
      expectTrace([s.getLastLr()], [[0.52, 0.052]], 1e-14);
      expectScalarClose(opt.paramGroups[0].betas[0], 0.85, 1e-15, 'beta1 group 0');
      expectScalarClose(opt.paramGroups[1].betas[0], 0.875, 1e-15, 'beta1 group 1');
      expect(opt.paramGroups[1].betas[1]).to.equal(0.99);
    });

    it('validates its options', () => {
      const opt = new SGD([p()], { lr: 0.1, momentum: 0.9 });
      expect(() => new OneCycleLR(opt, { maxLr: 1 })).to.throw('OneCycleLR: give either totalSteps or both epochs and stepsPerEpoch');
      expect(() => new OneCycleLR(opt, { maxLr: 1, totalSteps: 0 })).to.throw('OneCycleLR: totalSteps must be a positive integer, got 0');
      expect(() => new OneCycleLR(opt, { maxLr: 1, totalSteps: 10, pctStart: 1.5 })).to.throw('OneCycleLR: pctStart must be in [0, 1], got 1.5');
      expect(() => new OneCycleLR(opt, { maxLr: 1, totalSteps: 10, annealStrategy: 'exp' as 'cos' })).to.throw(
        "OneCycleLR: annealStrategy must be 'cos' or 'linear', got \"exp\"",
      );
      expect(() => new OneCycleLR(opt, { maxLr: [1, 2], totalSteps: 10 })).to.throw(
        'OneCycleLR: maxLr must have one value per param group (1), got 2 values',
      );
      expect(() => new OneCycleLR(opt, { maxLr: 1, totalSteps: 10, pctStart: 0.1 })).to.throw('OneCycleLR: phase 1 of the cycle is empty');

      class Plain extends Optimizer<BaseHyperParams> {
        constructor(ps: Parameter[]) {
          super('Plain', ps, { lr: 0.1 });
        }
        step(): void {}
        protected checkHyperParams(): void {}
        protected stateLayout(): StateLayout {
          return { required: [], optional: [] };
        }
      }
      expect(() => new OneCycleLR(new Plain([p()]), { maxLr: 1, totalSteps: 10 })).to.throw(
        'OneCycleLR: cycleMomentum needs an optimizer with momentum or betas, got Plain',
      );
      const plain = new Plain([p()]);
      new OneCycleLR(plain, { maxLr: 1, totalSteps: 10, cycleMomentum: false });
      expectScalarClose(plain.paramGroups[0].lr, 0.04, 1e-15, 'lr');
    });
  });

  describe('state dicts and resume', () => {
    function gradsFor(ps: Parameter[], t: number): void {
      ps.forEach((q) => setGrad(q, Array.from(q.data, (x, i) => 2 * x - 0.1 * t + i)));
    }

    type Setup = (ps: Parameter[]) => { opt: Optimizer<BaseHyperParams>; sched: LRScheduler };
    const setups: Record<string, Setup> = {
      'OneCycleLR + SGD momentum': (ps) => {
        const opt = new SGD(ps, { lr: 0.1, momentum: 0.9 });
        return { opt, sched: new OneCycleLR(opt, { maxLr: 0.5, totalSteps: 12 }) };
      },
      'LinearLR → CosineAnnealingLR + Adam': (ps) => {
        const opt = new Adam(ps, { lr: 0.1 });
        const warm = new LinearLR(opt, { startFactor: 0.1, totalIters: 3 });
        const cos = new CosineAnnealingLR(opt, { tMax: 6, etaMin: 1e-3 });
        return { opt, sched: new SequentialLR(opt, { schedulers: [warm, cos], milestones: [3] }) };
      },
      'MultiStepLR + SGD': (ps) => {
        const opt = new SGD(ps, { lr: 0.1, momentum: 0.5 });
        return { opt, sched: new MultiStepLR(opt, { milestones: [2, 6], gamma: 0.3 }) };
      },
    };

    // Saved at step 0 and 2 as well as 4: before SequentialLR's milestone its later schedulers have
    // not started (lastEpoch −1, as in torch), and such a state must load too.
    for (const [label, setup] of Object.entries(setups)) {
      for (const [schedulerFirst, savedAt] of [[true, 4], [false, 4], [true, 0], [false, 2]] as const) {
        it(`${label}: resuming from state saved after ${savedAt} steps continues bit for bit (scheduler loaded ${schedulerFirst ? 'first' : 'last'})`, () => {
          const ps = [param('float64', [1, -2]), param('float64', [0.5])];
          const a = setup(ps);
          for (let t = 1; t <= savedAt; t++) {
            gradsFor(ps, t);
            a.opt.step();
            a.sched.step();
          }
          const optSd = a.opt.stateDict();
          const schedSd = JSON.parse(JSON.stringify(a.sched.stateDict())) as SchedulerStateDict;

          const qs = ps.map((x) => ({ data: x.data.slice(), grad: null }));
          const b = setup(qs); // a fresh run: its constructor resets lr and momentum to the start
          if (schedulerFirst) {
            b.sched.loadStateDict(schedSd);
            b.opt.loadStateDict(optSd);
          } else {
            b.opt.loadStateDict(optSd);
            b.sched.loadStateDict(schedSd);
          }
          expect(b.sched.getLastLr()).to.deep.equal(a.sched.getLastLr());
          expect(b.sched.lastEpoch).to.equal(a.sched.lastEpoch);
          for (let t = savedAt + 1; t <= 10; t++) {
            gradsFor(ps, t);
            gradsFor(qs, t);
            a.opt.step();
            b.opt.step();
            a.sched.step();
            b.sched.step();
            expect(b.sched.getLastLr()).to.deep.equal(a.sched.getLastLr());
            expect(JSON.stringify(b.opt.paramGroups.map(({ params: _p, ...h }) => h))).to.equal(
              JSON.stringify(a.opt.paramGroups.map(({ params: _p, ...h }) => h)),
            );
          }
          ps.forEach((x, j) => expect(Array.from(qs[j].data), `param ${j}`).to.deep.equal(Array.from(x.data)));
        });
      }
    }

    it('two schedulers stepped back to back resume bit for bit when loaded in the order they are stepped', () => {
      const build = (): { opt: SGD; warm: LinearLR; cos: CosineAnnealingLR } => {
        const opt = new SGD([p()], { lr: 0.3 });
        return { opt, warm: new LinearLR(opt, { startFactor: 0.2, totalIters: 4 }), cos: new CosineAnnealingLR(opt, { tMax: 10, etaMin: 0.01 }) };
      };
      const a = build();
      for (let t = 0; t < 3; t++) { a.warm.step(); a.cos.step(); }
      const saved = JSON.parse(JSON.stringify({ warm: a.warm.stateDict(), cos: a.cos.stateDict() })) as Record<string, SchedulerStateDict>;
      const b = build();
      b.warm.loadStateDict(saved.warm);
      b.cos.loadStateDict(saved.cos);
      expect(b.opt.paramGroups[0].lr).to.equal(a.opt.paramGroups[0].lr);
      for (let t = 0; t < 12; t++) {
        a.warm.step(); a.cos.step();
        b.warm.step(); b.cos.step();
        expect(b.opt.paramGroups[0].lr, `step ${t}`).to.equal(a.opt.paramGroups[0].lr);
      }
    });

    it('rejects a state dict from another kind of scheduler or with the wrong group count', () => {
      const opt = new SGD([p()], { lr: 1 });
      const step = new StepLR(opt, { stepSize: 2 });
      const cos = new CosineAnnealingLR(new SGD([p()], { lr: 1 }), { tMax: 3 });
      expect(() => cos.loadStateDict(step.stateDict())).to.throw(
        'CosineAnnealingLR: loadStateDict: the state dict is from a "StepLR", not a CosineAnnealingLR',
      );
      const two = new StepLR(new SGD([{ params: [p()] }, { params: [p()] }], { lr: 1 }), { stepSize: 2 });
      expect(() => two.loadStateDict(step.stateDict())).to.throw(
        'StepLR: loadStateDict: baseLrs must be an array of 2 finite numbers (one per param group), got [1]',
      );
      const sd = step.stateDict();
      sd.stepSize = 0;
      expect(() => new StepLR(new SGD([p()], { lr: 1 }), { stepSize: 2 }).loadStateDict(sd)).to.throw(
        'StepLR: stepSize must be a positive integer, got 0 (state dict)',
      );
      expect(() => new StepLR(new SGD([p()], { lr: 1 }), { stepSize: 2 }).loadStateDict({ ...step.stateDict(), lastEpoch: -2 })).to.throw(
        'StepLR: loadStateDict: lastEpoch must be an integer >= -1, got -2',
      );
    });

    it('SequentialLR loads all of its schedulers or none, leaving the optimizer\'s lr as it was', () => {
      const make = (): { opt: SGD; warm: LinearLR; cos: CosineAnnealingLR; seq: SequentialLR } => {
        const opt = new SGD([p()], { lr: 1, momentum: 0.9 });
        const warm = new LinearLR(opt, { startFactor: 0.1, totalIters: 5 });
        const cos = new CosineAnnealingLR(opt, { tMax: 10 });
        return { opt, warm, cos, seq: new SequentialLR(opt, { schedulers: [warm, cos], milestones: [5] }) };
      };
      const a = make();
      for (let t = 0; t < 3; t++) a.seq.step();
      const bad = JSON.parse(JSON.stringify(a.seq.stateDict())) as SchedulerStateDict & { schedulers: SchedulerStateDict[] };
      bad.schedulers[1].tMax = 0; // the second child's state is invalid; the first one's is fine
      const b = make();
      b.seq.step();
      const states = [b.warm.stateDict(), b.cos.stateDict(), b.seq.stateDict()];
      const lr = b.opt.paramGroups[0].lr;
      expect(() => b.seq.loadStateDict(bad)).to.throw('CosineAnnealingLR: tMax must be a positive integer, got 0 (state dict)');
      expect([b.warm.stateDict(), b.cos.stateDict(), b.seq.stateDict()]).to.deep.equal(states);
      expect(b.opt.paramGroups[0].lr).to.equal(lr);
    });
  });

  describe('argument validation', () => {
    it('names the scheduler and the offending value', () => {
      const opt = new SGD([p()], { lr: 1 });
      expect(() => new StepLR({} as unknown as SGD, { stepSize: 1 })).to.throw('StepLR: optimizer must be an Optimizer, got an object');
      expect(() => new StepLR(opt, { stepSize: 0 })).to.throw('StepLR: stepSize must be a positive integer, got 0');
      expect(() => new StepLR(opt, { stepSize: 1, gamma: -1 })).to.throw('StepLR: gamma must be a non-negative number, got -1');
      expect(() => new StepLR(opt, { step_size: 1 } as unknown as { stepSize: number })).to.throw(
        "StepLR: unknown option 'step_size' (did you mean 'stepSize'?)",
      );
      expect(() => new MultiStepLR(opt, { milestones: [1, -2] })).to.throw('MultiStepLR: milestones[1] must be a non-negative integer, got -2');
      expect(() => new CosineAnnealingLR(opt, { tMax: 2.5 })).to.throw('CosineAnnealingLR: tMax must be a positive integer, got 2.5');
      expect(() => new CosineAnnealingLR(opt, { tMax: 2, etaMin: -1 })).to.throw('CosineAnnealingLR: etaMin must be a non-negative number, got -1');
      expect(() => new LinearLR(opt, { startFactor: 0 })).to.throw('LinearLR: startFactor must be in (0, 1], got 0');
      expect(() => new LinearLR(opt, { endFactor: 1.5 })).to.throw('LinearLR: endFactor must be in [0, 1], got 1.5');
      expect(() => new LinearLR(opt, { totalIters: 0 })).to.throw('LinearLR: totalIters must be a positive integer, got 0');
    });

    it('SequentialLR checks its schedulers and milestones', () => {
      const opt = new SGD([p()], { lr: 1 });
      const a = new LinearLR(opt);
      const b = new StepLR(opt, { stepSize: 2 });
      const other = new StepLR(new SGD([p()], { lr: 1 }), { stepSize: 2 });
      expect(() => new SequentialLR(opt, { schedulers: [], milestones: [] })).to.throw(
        'SequentialLR: schedulers must be a non-empty array of schedulers, got []',
      );
      expect(() => new SequentialLR(opt, { schedulers: [a, other], milestones: [3] })).to.throw(
        'SequentialLR: schedulers[1] (StepLR) belongs to a different optimizer',
      );
      expect(() => new SequentialLR(opt, { schedulers: [a, b], milestones: [] })).to.throw(
        'SequentialLR: milestones must be an array of 1 integers (one fewer than schedulers), got []',
      );
      expect(() => new SequentialLR(opt, { schedulers: [a, b, a], milestones: [4, 2] })).to.throw(
        'SequentialLR: milestones must be strictly increasing, got [4, 2]',
      );
    });
  });
});

describe('lib/optim/lr_scheduler: ExponentialLR, ConstantLR, LambdaLR, MultiplicativeLR', () => {
  describe('ExponentialLR', () => {
    it('multiplies by gamma every step (torch\'s chainable form, bit for bit), = base·gamma^t', () => {
      const opt = new SGD([{ params: [p()] }, { params: [p()], lr: 0.3 }], { lr: 1 });
      const s = new ExponentialLR(opt, { gamma: 0.9 });
      const got = trace(s, 8);
      let rec = [1, 0.3];
      got.forEach((row, t) => {
        if (t > 0) rec = rec.map((x) => x * 0.9);
        expect(row, `epoch ${t}`).to.deep.equal(rec);
        row.forEach((v, i) => expectScalarClose(v, [1, 0.3][i] * 0.9 ** t, 1e-14, `closed form epoch ${t}`));
      });
    });
  });

  describe('ConstantLR', () => {
    it("torch's docs example: factor 0.5, totalIters 4 on lr 0.05 gives 0.025 for epochs 0-3, then 0.05", () => {
      const s = new ConstantLR(new SGD([p()], { lr: 0.05 }), { factor: 0.5, totalIters: 4 });
      expectTrace(trace(s, 6), [[0.025], [0.025], [0.025], [0.025], [0.05], [0.05], [0.05]], 1e-15);
    });

    it('defaults to factor 1/3 for 5 steps; per group', () => {
      const s = new ConstantLR(new SGD([{ params: [p()] }, { params: [p()], lr: 0.6 }], { lr: 0.3 }));
      const rows = trace(s, 7);
      rows.forEach((row, t) => expectTrace([row], [t < 5 ? [0.1, 0.2] : [0.3, 0.6]], 1e-15));
    });
  });

  describe('LambdaLR', () => {
    it('sets base·lrLambda(t), one function for all groups or one per group', () => {
      const opt = new SGD([{ params: [p()] }, { params: [p()], lr: 0.5 }], { lr: 0.2 });
      const s = new LambdaLR(opt, { lrLambda: (t) => 0.95 ** t });
      expectTrace(trace(s, 4), [0, 1, 2, 3, 4].map((t) => [0.2 * 0.95 ** t, 0.5 * 0.95 ** t]), 1e-15);
      const opt2 = new SGD([{ params: [p()] }, { params: [p()], lr: 0.5 }], { lr: 0.2 });
      const s2 = new LambdaLR(opt2, { lrLambda: [(t) => Math.floor(t / 2) + 1, (t) => 1 / (t + 1)] });
      expectTrace(trace(s2, 4), [0, 1, 2, 3, 4].map((t) => [0.2 * (Math.floor(t / 2) + 1), 0.5 / (t + 1)]), 1e-15);
    });

    it('is closed form: an outside lr change is overwritten at the next step, as torch', () => {
      const opt = new SGD([p()], { lr: 1 });
      const s = new LambdaLR(opt, { lrLambda: (t) => 1 / (t + 1) });
      opt.paramGroups[0].lr = 7;
      s.step();
      expect(opt.paramGroups[0].lr).to.equal(0.5);
    });

    it('its state dict leaves the functions out and resumes with the loading scheduler\'s own', () => {
      const mk = (): LambdaLR => new LambdaLR(new SGD([p()], { lr: 0.4 }), { lrLambda: (t) => 0.5 ** t });
      const a = mk();
      for (let t = 0; t < 3; t++) a.step();
      const sd = JSON.parse(JSON.stringify(a.stateDict())) as SchedulerStateDict;
      expect(Object.keys(sd).sort()).to.deep.equal(['baseLrs', 'kind', 'lastEpoch', 'lastLr', 'stepCount']);
      const b = mk();
      b.loadStateDict(sd);
      expect(b.lastEpoch).to.equal(3);
      expect(b.optimizer.paramGroups[0].lr).to.equal(0.4 * 0.5 ** 3);
      b.step();
      expect(b.getLastLr()).to.deep.equal([0.4 * 0.5 ** 4]);
    });

    it('rejects a wrong number of functions, a non-function, and a factor that is not a non-negative finite number', () => {
      const two = new SGD([{ params: [p()] }, { params: [p()] }], { lr: 1 });
      expect(() => new LambdaLR(two, { lrLambda: [(t: number) => t] })).to.throw('LambdaLR: expected 2 lrLambda functions (one per param group), got 1');
      expect(() => new LambdaLR(two, { lrLambda: 0.5 as unknown as (t: number) => number })).to.throw(
        'LambdaLR: lrLambda must be a function or an array of functions (one per param group), got 0.5',
      );
      expect(() => new LambdaLR(two, { lrLambda: [(t: number) => t, 2 as unknown as (t: number) => number] })).to.throw(
        'LambdaLR: lrLambda[1] must be a function, got 2',
      );
      const opt = new SGD([p()], { lr: 1 });
      const s = new LambdaLR(opt, { lrLambda: (t) => (t < 2 ? 1 : NaN) });
      s.step();
      expect(() => s.step()).to.throw('LambdaLR: lrLambda for param group 0 returned NaN at epoch 2; it must return a non-negative finite number');
      expect(s.lastEpoch, 'the failed step did not count').to.equal(1);
      expect(opt.paramGroups[0].lr).to.equal(1);
      expect(() => new LambdaLR(new SGD([p()], { lr: 1 }), { lrLambda: () => -1 })).to.throw(
        'LambdaLR: lrLambda for param group 0 returned -1 at epoch 0',
      );
    });
  });

  describe('MultiplicativeLR', () => {
    it('multiplies lr by lrLambda(t) at each step t ≥ 1 and keeps it at t = 0', () => {
      const opt = new SGD([{ params: [p()] }, { params: [p()], lr: 0.5 }], { lr: 1 });
      const s = new MultiplicativeLR(opt, { lrLambda: [() => 0.95, (t) => 1 / t] });
      // Group 1: 0.5 · 1/1 · 1/2 · 1/3 · 1/4 = 0.5/t!
      const fact = [1, 1, 2, 6, 24];
      expectTrace(trace(s, 4), [0, 1, 2, 3, 4].map((t) => [0.95 ** t, 0.5 / fact[t]]), 1e-15);
    });
    it('rejects bad factors naming MultiplicativeLR', () => {
      const s = new MultiplicativeLR(new SGD([p()], { lr: 1 }), { lrLambda: () => Infinity });
      expect(() => s.step()).to.throw('MultiplicativeLR: lrLambda for param group 0 returned Infinity at epoch 1');
    });
  });

  describe('in SequentialLR', () => {
    it('ConstantLR then ExponentialLR (torch\'s docs example): the second starts from its closed form base·gamma^0 at the milestone', () => {
      // torch's docstring comments 0.9 for epoch 2, but its step(0) takes _get_closed_form_lr at
      // last_epoch 0, which is the base lr: 1, then 0.9, 0.81.
      const opt = new SGD([p()], { lr: 1 });
      const c = new ConstantLR(opt, { factor: 0.1, totalIters: 2 });
      const e = new ExponentialLR(opt, { gamma: 0.9 });
      const s = new SequentialLR(opt, { schedulers: [c, e], milestones: [2] });
      expectTrace(trace(s, 4), [[0.1], [0.1], [1], [0.9], [0.81]], 1e-15);
    });

    it('LambdaLR after a milestone starts at base·lrLambda(0)', () => {
      const opt = new SGD([p()], { lr: 1 });
      const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
      const lam = new LambdaLR(opt, { lrLambda: (t) => 0.8 / (t + 1) });
      const s = new SequentialLR(opt, { schedulers: [warm, lam], milestones: [2] });
      expectTrace(trace(s, 3), [[0.5], [0.75], [0.8], [0.4]], 1e-15);
    });

    it('refuses ReduceLROnPlateau, which is not a chainable schedule', () => {
      const opt = new SGD([p()], { lr: 1 });
      const warm = new LinearLR(opt);
      const plateau = new ReduceLROnPlateau(opt);
      expect(() => new SequentialLR(opt, { schedulers: [warm, plateau as unknown as LRScheduler], milestones: [5] })).to.throw(
        'SequentialLR: schedulers[1] is a ReduceLROnPlateau, which steps on a metric and cannot be chained',
      );
    });
  });

  it('validate their options, naming the scheduler', () => {
    const opt = new SGD([p()], { lr: 1 });
    expect(() => new ExponentialLR(opt, {} as { gamma: number })).to.throw('ExponentialLR: gamma must be a non-negative number, got undefined');
    expect(() => new ExponentialLR(opt, { gamma: -0.5 })).to.throw('ExponentialLR: gamma must be a non-negative number, got -0.5');
    expect(() => new ConstantLR(opt, { factor: 0 })).to.throw('ConstantLR: factor must be in (0, 1], got 0');
    expect(() => new ConstantLR(opt, { factor: 1.5 })).to.throw('ConstantLR: factor must be in (0, 1], got 1.5');
    expect(() => new ConstantLR(opt, { totalIters: 0 })).to.throw('ConstantLR: totalIters must be a positive integer, got 0');
    expect(() => new ConstantLR(opt, { total_iters: 3 } as unknown as { totalIters: number })).to.throw(
      "ConstantLR: unknown option 'total_iters' (did you mean 'totalIters'?)",
    );
    const sd = new ExponentialLR(new SGD([p()], { lr: 1 }), { gamma: 0.5 }).stateDict();
    expect(() => new ConstantLR(new SGD([p()], { lr: 1 })).loadStateDict(sd)).to.throw(
      'ConstantLR: loadStateDict: the state dict is from a "ExponentialLR", not a ConstantLR',
    );
  });
});

/**
 * torch 1.13's ReduceLROnPlateau.step, transcribed: is_better, the cooldown that zeroes bad epochs,
 * _reduce_lr with the eps rule. Works on plain lr arrays.
 */
class PlateauReference {
  best: number;
  bad = 0;
  cooldownCounter = 0;
  constructor(public lrs: number[], private o: Required<Omit<ReduceLROnPlateauOptions, 'minLr'>> & { minLrs: number[] }) {
    this.best = o.mode === 'min' ? Infinity : -Infinity;
  }
  private isBetter(a: number): boolean {
    const { mode, thresholdMode: tm, threshold: th } = this.o;
    if (mode === 'min' && tm === 'rel') return a < this.best * (1 - th);
    if (mode === 'min' && tm === 'abs') return a < this.best - th;
    if (mode === 'max' && tm === 'rel') return a > this.best * (th + 1);
    return a > this.best + th;
  }
  step(current: number): void {
    if (this.isBetter(current)) {
      this.best = current;
      this.bad = 0;
    } else this.bad += 1;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.bad = 0;
    }
    if (this.bad > this.o.patience) {
      this.lrs = this.lrs.map((old, i) => {
        const nu = Math.max(old * this.o.factor, this.o.minLrs[i]);
        return old - nu > this.o.eps ? nu : old;
      });
      this.cooldownCounter = this.o.cooldown;
      this.bad = 0;
    }
  }
}

describe('lib/optim/lr_scheduler: ReduceLROnPlateau', () => {
  const two = (lr0 = 1, lr1 = 0.1): SGD => new SGD([{ params: [p()] }, { params: [p()], lr: lr1 }], { lr: lr0 });

  it("has torch's defaults and starts with best = +Infinity in min mode, −Infinity in max mode", () => {
    const s = new ReduceLROnPlateau(two());
    expect(s.stateDict()).to.deep.include({
      mode: 'min', factor: 0.1, patience: 10, threshold: 1e-4, thresholdMode: 'rel', cooldown: 0, minLrs: [0, 0], eps: 1e-8,
      best: 'inf', numBadEpochs: 0, cooldownCounter: 0, lastEpoch: 0, lastLr: [1, 0.1],
    });
    expect(s.best).to.equal(Infinity);
    expect(new ReduceLROnPlateau(two(), { mode: 'max' }).best).to.equal(-Infinity);
  });

  it('min mode, rel threshold: reduces after more than patience steps without an improvement beyond the threshold', () => {
    const opt = two();
    const s = new ReduceLROnPlateau(opt, { patience: 2, factor: 0.5, threshold: 0.1 });
    // best 10; 9.5 is not below 10·0.9 = 9 (bad 1); 9.2 (bad 2); 9.1 (bad 3 > 2: halve, reset);
    // 8 < 9 is better (best 8); 7.5 not below 7.2 (bad 1), 7.3 (bad 2), 7.25 (bad 3: halve again).
    const metrics = [10, 9.5, 9.2, 9.1, 8, 7.5, 7.3, 7.25];
    const lr0 = [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25];
    const bad = [0, 1, 2, 0, 0, 1, 2, 0];
    metrics.forEach((m, t) => {
      s.step(m);
      expect(opt.paramGroups.map((g) => g.lr), `step ${t + 1}`).to.deep.equal([lr0[t], lr0[t] / 10]);
      expect(s.numBadEpochs, `bad epochs after step ${t + 1}`).to.equal(bad[t]);
      expect(s.getLastLr()).to.deep.equal([lr0[t], lr0[t] / 10]);
    });
    expect(s.best).to.equal(8);
    expect(s.lastEpoch).to.equal(8);
  });

  it('cooldown: bad epochs are not counted for cooldown steps after a reduction', () => {
    const opt = new SGD([p()], { lr: 1 });
    const s = new ReduceLROnPlateau(opt, { patience: 1, factor: 0.5, cooldown: 2 });
    // A constant metric: step 1 sets best; steps 2, 3 bad → reduce at 3 (cooldown 2); steps 4, 5 in
    // cooldown (bad reset to 0); step 6 bad 1, step 7 bad 2 → reduce.
    const lrs: number[] = [];
    const cool: boolean[] = [];
    for (let t = 0; t < 9; t++) {
      s.step(5);
      lrs.push(opt.paramGroups[0].lr);
      cool.push(s.inCooldown);
    }
    expect(lrs).to.deep.equal([1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]);
    expect(cool).to.deep.equal([false, false, true, true, false, false, true, true, false]);
  });

  it('max mode with an abs threshold, and NaN metrics counting as bad', () => {
    const opt = new SGD([p()], { lr: 0.8 });
    const s = new ReduceLROnPlateau(opt, { mode: 'max', thresholdMode: 'abs', threshold: 0.05, patience: 1, factor: 0.25 });
    // best 0.5; 0.54 is not above 0.55 (bad 1); 0.56 is (best 0.56); NaN (bad 1); 0.6 not above 0.61 (bad 2 → reduce).
    const lrs = [0.5, 0.54, 0.56, NaN, 0.6].map((m) => {
      s.step(m);
      return opt.paramGroups[0].lr;
    });
    expect(lrs).to.deep.equal([0.8, 0.8, 0.8, 0.8, 0.2]);
    expect(s.best).to.equal(0.56);
  });

  it('minLr per group floors the reduction; the eps rule skips a reduction of eps or less', () => {
    const opt = new SGD([{ params: [p()] }, { params: [p()], lr: 0.1 }, { params: [p()], lr: 1e-8 }], { lr: 1 });
    const s = new ReduceLROnPlateau(opt, { patience: 0, factor: 0.1, minLr: [0.05, 0, 0] });
    s.step(1); // best
    s.step(1); // bad 1 > 0: group 0 → max(0.1, 0.05) = 0.1; group 1 → 0.01; group 2: 1e-8 − 1e-9 ≤ eps (1e-8), kept
    expect(opt.paramGroups.map((g) => g.lr)).to.deep.equal([0.1, 0.1 * 0.1, 1e-8]);
    s.step(1); // group 0 floors at 0.05; group 1 → 0.001
    expect(opt.paramGroups.map((g) => g.lr)).to.deep.equal([0.05, 0.1 * 0.1 * 0.1, 1e-8]);
    s.step(1); // group 0 stays at its floor (0.05 − 0.05 = 0, not > eps)
    expect(opt.paramGroups[0].lr).to.equal(0.05);
    // With eps 0 the small group is reduced too: 1e-8 − 1e-9 > 0.
    const opt2 = new SGD([p()], { lr: 1e-8 });
    const s2 = new ReduceLROnPlateau(opt2, { patience: 0, eps: 0 });
    s2.step(1);
    s2.step(1);
    expect(opt2.paramGroups[0].lr).to.equal(1e-8 * 0.1);
  });

  it('follows torch 1.13 step for step over a noisy metric, in all four mode/threshold combinations', () => {
    const noise = (t: number): number => Math.sin(12.9898 * t) * 0.3;
    for (const mode of ['min', 'max'] as const) {
      for (const thresholdMode of ['rel', 'abs'] as const) {
        const o = { mode, thresholdMode, factor: 0.5, patience: 3, threshold: thresholdMode === 'rel' ? 0.01 : 0.02, cooldown: 2, eps: 1e-8 };
        const opt = two(0.5, 0.02);
        const s = new ReduceLROnPlateau(opt, { ...o, minLr: [0.01, 0.001] });
        const ref = new PlateauReference([0.5, 0.02], { ...o, minLrs: [0.01, 0.001] });
        let reductions = 0;
        for (let t = 1; t <= 120; t++) {
          const trend = mode === 'min' ? 5 / Math.sqrt(t) : 1 - 1 / Math.sqrt(t);
          const m = trend + noise(t) * 0.2;
          const before = ref.lrs[0];
          s.step(m);
          ref.step(m);
          if (ref.lrs[0] !== before) reductions++;
          expect(opt.paramGroups.map((g) => g.lr), `${mode}/${thresholdMode} step ${t}`).to.deep.equal(ref.lrs);
          expect([s.best, s.numBadEpochs, s.cooldownCounter]).to.deep.equal([ref.best, ref.bad, ref.cooldownCounter]);
        }
        expect(reductions, `${mode}/${thresholdMode}: the run reduced lr`).to.be.greaterThan(1);
      }
    }
  });

  it('takes a one-element tensor as the metric, as torch\'s float(metrics)', () => {
    const opt = new SGD([p()], { lr: 1 });
    const s = new ReduceLROnPlateau(opt, { patience: 0 });
    s.step(tensor(2.5));
    expect(s.best).to.equal(2.5);
    s.step(tensor([3]));
    expect(opt.paramGroups[0].lr).to.equal(0.1);
  });

  it('state dict: JSON, mid-plateau and in cooldown, resumes exactly; best before any step is "inf"', () => {
    const cfg: ReduceLROnPlateauOptions = { patience: 2, cooldown: 1, factor: 0.5, minLr: 0.01, mode: 'max', thresholdMode: 'abs', threshold: 0.01 };
    const metrics = [0.1, 0.2, 0.2, 0.2, 0.2, 0.19, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3];
    for (const cut of [0, 4, 5, 8]) {
      const a = new ReduceLROnPlateau(new SGD([p()], { lr: 1 }), cfg);
      for (let t = 0; t < cut; t++) a.step(metrics[t]);
      const sd = JSON.parse(JSON.stringify(a.stateDict())) as ReduceLROnPlateauStateDict;
      if (cut === 0) expect(sd.best).to.equal('-inf');
      const optB = new SGD([p()], { lr: a.optimizer.paramGroups[0].lr });
      const b = new ReduceLROnPlateau(optB, { mode: 'min' }); // its own settings are replaced by the loaded ones
      b.loadStateDict(sd);
      expect(b.stateDict()).to.deep.equal(a.stateDict());
      for (let t = cut; t < metrics.length; t++) {
        a.step(metrics[t]);
        b.step(metrics[t]);
        expect(b.stateDict(), `cut ${cut}, step ${t + 1}`).to.deep.equal(a.stateDict());
      }
      expect(optB.paramGroups[0].lr).to.equal(a.optimizer.paramGroups[0].lr);
    }
  });

  it('resumes from a checkpoint file next to a chainable scheduler: its reduction survives loading the optimizer first', () => {
    // ExponentialLR (gamma 0.5) stepped per epoch, then the plateau (patience 0, factor 0.1) on a
    // constant metric: epoch 1 sets best, lr 0.5; epoch 2 is bad, lr 0.25·0.1 = 0.025.
    const build = (): { opt: SGD; exp: ExponentialLR; plateau: ReduceLROnPlateau } => {
      const opt = new SGD([p()], { lr: 1 });
      return { opt, exp: new ExponentialLR(opt, { gamma: 0.5 }), plateau: new ReduceLROnPlateau(opt, { patience: 0, factor: 0.1 }) };
    };
    const a = build();
    for (let t = 0; t < 2; t++) {
      a.exp.step();
      a.plateau.step(5);
    }
    expectScalarClose(a.opt.paramGroups[0].lr, 1 * 0.5 * 0.5 * 0.1, 1e-15, 'lr before saving');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-plateau-'));
    try {
      const file = path.join(dir, 'ck.safetensors');
      saveCheckpoint(file, { tensors: {}, state: { optimizer: a.opt.stateDict(), exp: a.exp.stateDict(), plateau: a.plateau.stateDict() } });
      const ck = loadCheckpoint(file);
      // torch's usual resume order (optimizer first), and the schedulers in the order they are stepped.
      const b = build();
      b.opt.loadStateDict(ck.state.optimizer);
      b.exp.loadStateDict(ck.state.exp);
      b.plateau.loadStateDict(ck.state.plateau);
      expect(b.opt.paramGroups[0].lr, 'lr after loading').to.equal(a.opt.paramGroups[0].lr);
      for (let t = 0; t < 3; t++) {
        for (const s of [a, b]) {
          s.exp.step();
          s.plateau.step(5);
        }
        expect(b.opt.paramGroups[0].lr, `lr ${t + 1} epochs after resuming`).to.equal(a.opt.paramGroups[0].lr);
      }
      // A plateau never stepped has set no lr: loaded after the other scheduler, it leaves that one's lr.
      const c = build();
      c.exp.step();
      c.exp.step();
      const d = build();
      d.exp.loadStateDict(c.exp.stateDict());
      d.plateau.loadStateDict(c.plateau.stateDict());
      expect(d.opt.paramGroups[0].lr).to.equal(0.25);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad options, metrics and state dicts, naming ReduceLROnPlateau', () => {
    const opt = two();
    expect(() => new ReduceLROnPlateau(opt, { factor: 1 })).to.throw('ReduceLROnPlateau: factor must be in [0, 1), got 1');
    expect(() => new ReduceLROnPlateau(opt, { mode: 'mean' as 'min' })).to.throw("ReduceLROnPlateau: mode must be 'min' or 'max', got \"mean\"");
    expect(() => new ReduceLROnPlateau(opt, { thresholdMode: 'relative' as 'rel' })).to.throw(
      "ReduceLROnPlateau: thresholdMode must be 'rel' or 'abs', got \"relative\"",
    );
    expect(() => new ReduceLROnPlateau(opt, { patience: 1.5 })).to.throw('ReduceLROnPlateau: patience must be a non-negative integer, got 1.5');
    expect(() => new ReduceLROnPlateau(opt, { cooldown: -1 })).to.throw('ReduceLROnPlateau: cooldown must be a non-negative integer, got -1');
    expect(() => new ReduceLROnPlateau(opt, { threshold: -0.1 })).to.throw('ReduceLROnPlateau: threshold must be a non-negative number, got -0.1');
    expect(() => new ReduceLROnPlateau(opt, { minLr: [0.1] })).to.throw('ReduceLROnPlateau: expected 2 minLr values (one per param group), got 1');
    expect(() => new ReduceLROnPlateau(opt, { minLr: -1 })).to.throw('ReduceLROnPlateau: minLr must be a non-negative number, got -1');
    expect(() => new ReduceLROnPlateau(opt, { min_lr: 0.1 } as unknown as ReduceLROnPlateauOptions)).to.throw(
      "ReduceLROnPlateau: unknown option 'min_lr' (did you mean 'minLr'?)",
    );
    expect(() => new ReduceLROnPlateau({} as unknown as SGD)).to.throw('ReduceLROnPlateau: optimizer must be an Optimizer, got an object');
    const s = new ReduceLROnPlateau(opt);
    expect(() => s.step('0.5' as unknown as number)).to.throw('ReduceLROnPlateau: step: metric must be a number (or a tensor with one element), got "0.5"');
    expect(() => s.step(undefined as unknown as number)).to.throw('ReduceLROnPlateau: step: metric must be a number');
    expect(s.lastEpoch, 'a refused metric does not count').to.equal(0);
    opt.addParamGroup({ params: [p()] });
    expect(() => s.step(1)).to.throw('ReduceLROnPlateau: the optimizer has 3 param groups but the scheduler was built for 2');
    const other = new StepLR(new SGD([p()], { lr: 1 }), { stepSize: 1 }).stateDict();
    const single = new ReduceLROnPlateau(new SGD([p()], { lr: 1 }));
    expect(() => single.loadStateDict(other)).to.throw('ReduceLROnPlateau: loadStateDict: the state dict is from a "StepLR", not a ReduceLROnPlateau');
    const good = single.stateDict();
    expect(() => single.loadStateDict({ ...good, best: null })).to.throw("ReduceLROnPlateau: loadStateDict: best must be a number, 'inf' or '-inf', got null");
    expect(() => single.loadStateDict({ ...good, numBadEpochs: -1 })).to.throw('ReduceLROnPlateau: numBadEpochs must be a non-negative integer, got -1 (state dict)');
    expect(() => single.loadStateDict({ ...good, minLrs: [0, 0] })).to.throw(
      'ReduceLROnPlateau: expected 1 minLr values (one per param group), got 2 (state dict)',
    );
    expect(() => single.loadStateDict({ ...good, factor: 2 })).to.throw('ReduceLROnPlateau: factor must be in [0, 1), got 2 (state dict)');
    expect(single.stateDict(), 'a refused state dict changed nothing').to.deep.equal(good);
  });
});
