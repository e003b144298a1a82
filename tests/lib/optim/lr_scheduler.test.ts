import { expect } from 'chai';
import { Adam } from '../../../lib/optim/adam';
import {
  CosineAnnealingLR, LinearLR, LRScheduler, MultiStepLR, OneCycleLR, SchedulerStateDict, SequentialLR, StepLR,
} from '../../../lib/optim/lr_scheduler';
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
