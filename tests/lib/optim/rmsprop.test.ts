import { expect } from 'chai';
import type { DType } from '../../../lib/core/dtype';
import { Adam } from '../../../lib/optim/adam';
import { OptimizerStateDict, Parameter } from '../../../lib/optim/optimizer';
import { RMSprop, RMSpropHyperParams, RMSpropOptions } from '../../../lib/optim/rmsprop';
import { DTYPES, expectClose, param, setGrad } from '../../support/optim_helpers';
import { refOps, Vec, within32 } from '../../support/optim_ref';

type GradFn = (p: readonly number[], t: number) => number[];

/** A gradient that varies with the step, so the running averages and the centred variance matter. */
const wobble: GradFn = (p, t) => p.map((x, i) => 2 * x + 0.7 * Math.sin(1.3 * t + i) - 0.2 * i);

interface Hyper {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
}

const DEFAULTS: Hyper = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };

/**
 * torch 1.13's _single_tensor_rmsprop, line by line, one reference tensor op per torch op (state
 * starts as zeros_like, as torch's does). Returns the parameters after each step.
 */
function rmspropReference(p0: readonly number[], grads: GradFn, steps: number, h: Hyper, dtype: DType): number[][] {
  const o = refOps(dtype);
  let p: Vec = p0.map(o.r);
  const zeros = (): Vec => p0.map(() => 0);
  let squareAvg = zeros(), gradAvg = zeros(), buf = zeros();
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    let grad: Vec = grads(p, t).map(o.r);
    if (h.maximize) grad = o.neg(grad);
    if (h.weightDecay !== 0) grad = o.add(grad, p, h.weightDecay);
    squareAvg = o.addcmul(o.mul(squareAvg, h.alpha), grad, grad, 1 - h.alpha);
    let avg: Vec;
    if (h.centered) {
      gradAvg = o.add(o.mul(gradAvg, h.alpha), grad, 1 - h.alpha);
      avg = o.sqrt(o.addcmul(squareAvg, gradAvg, gradAvg, -1));
    } else {
      avg = o.sqrt(squareAvg);
    }
    avg = o.addScalar(avg, h.eps);
    if (h.momentum > 0) {
      buf = o.addcdiv(o.mul(buf, h.momentum), grad, avg);
      p = o.add(p, buf, -h.lr);
    } else {
      p = o.addcdiv(p, grad, avg, -h.lr);
    }
    out.push(p.slice());
  }
  return out;
}

function run(opt: { step(): void }, p: Parameter, grads: GradFn, steps: number): number[][] {
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    setGrad(p, grads(Array.from(p.data), t));
    opt.step();
    out.push(Array.from(p.data));
  }
  return out;
}

const CONFIGS: Record<string, Partial<Hyper>> = {
  plain: { lr: 0.01 },
  'alpha 0.9, weight decay': { lr: 0.02, alpha: 0.9, weightDecay: 0.1 },
  momentum: { lr: 0.01, momentum: 0.9 },
  centered: { lr: 0.01, alpha: 0.8, centered: true },
  'centered + momentum + weight decay + maximize': { lr: 0.005, alpha: 0.9, momentum: 0.5, centered: true, weightDecay: 0.05, maximize: true },
  'large eps': { lr: 0.1, eps: 0.5, alpha: 0.5 },
};

describe('lib/optim/rmsprop', () => {
  it("has torch's defaults: lr 1e-2, alpha 0.99, eps 1e-8, weightDecay 0, momentum 0, centered and maximize off", () => {
    const opt = new RMSprop([param('float64', [1])]);
    expect({ ...opt.paramGroups[0], params: undefined }).to.deep.equal({
      params: undefined, lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false,
    });
  });

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      it('first step: v = (1 − α)·g², p − lr·g/(√v + eps)', () => {
        const p = param(dtype, [1, -1, 0.5], [0.5, -2, 1e-3]);
        const opt = new RMSprop([p], { lr: 0.1, alpha: 0.75 });
        opt.step();
        const step = (g: number): number => (0.1 * g) / (Math.sqrt(0.25 * g * g) + 1e-8);
        expectClose(p.data, [1 - step(0.5), -1 - step(-2), 0.5 - step(1e-3)], dtype);
        const st = opt.state.get(p)!;
        expect(st.step).to.equal(1);
        expect(st.squareAvg).to.be.instanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        expectClose(st.squareAvg!, [0.25 * 0.25, 0.25 * 4, 0.25 * 1e-6], dtype, 'squareAvg');
        expect(Object.keys(st).sort()).to.deep.equal(['squareAvg', 'step']);
      });

      for (const [label, cfg] of Object.entries(CONFIGS)) {
        it(`${label}: five steps follow torch 1.13's update ${dtype === 'float32' ? 'to float32 rounding' : ''}`, () => {
          const h = { ...DEFAULTS, ...cfg };
          const p0 = [1, -2, 0.5, 0.25, -0.75];
          const p = param(dtype, p0);
          const options: RMSpropOptions = { ...cfg };
          const got = run(new RMSprop([p], options), p, wobble, 5);
          const want = rmspropReference(p0, wobble, 5, h, dtype);
          want.forEach((e, t) => {
            if (dtype === 'float64') expectClose(got[t], e, dtype, `step ${t + 1}`);
            else within32(got[t], e, 4, `step ${t + 1}`, p0);
          });
          // The reference with another setting lands elsewhere, so the comparison above tells them apart.
          const other = rmspropReference(p0, wobble, 5, { ...h, centered: !h.centered, momentum: h.momentum > 0 ? 0 : 0.9 }, dtype);
          expect(Math.abs(other[4][0] - got[4][0])).to.be.greaterThan(1e-4);
        });
      }

      it('keeps the buffers torch keeps: momentumBuffer only with momentum, gradAvg only when centered', () => {
        const gs = [[0.5, -1], [0.25, 2], [-0.75, 1.5]];
        const alpha = 0.5;
        for (const [momentum, centered] of [[0, false], [0.9, false], [0, true], [0.9, true]] as const) {
          const p = param(dtype, [0.3, -0.6]);
          const opt = new RMSprop([p], { lr: 0.01, alpha, momentum, centered });
          for (const g of gs) {
            setGrad(p, g);
            opt.step();
          }
          const st = opt.state.get(p)!;
          expect(st.step).to.equal(3);
          expect(st.momentumBuffer !== undefined, `momentum ${momentum}`).to.equal(momentum > 0);
          expect(st.gradAvg !== undefined, `centered ${centered}`).to.equal(centered);
          // Running means of g and g² from zero: (1 − α)(α²·x1 + α·x2 + x3).
          const mean = (f: (x: number) => number): number[] =>
            [0, 1].map((i) => (1 - alpha) * (alpha * alpha * f(gs[0][i]) + alpha * f(gs[1][i]) + f(gs[2][i])));
          expectClose(st.squareAvg!, mean((x) => x * x), dtype, 'squareAvg');
          if (centered) expectClose(st.gradAvg!, mean((x) => x), dtype, 'gradAvg');
        }
      });

      it('skips parameters whose grad is null: no state, no change, its own step count later', () => {
        const a = param(dtype, [1], [0.5]);
        const b = param(dtype, [2]);
        const opt = new RMSprop([a, b], { lr: 0.1, alpha: 0.5 });
        opt.step();
        expect(Array.from(b.data)).to.deep.equal([2]);
        expect(opt.state.has(b)).to.equal(false);
        setGrad(b, [-4]);
        opt.step();
        // b's first step: v = 0.5·16 = 8.
        expectClose(b.data, [2 + (0.1 * 4) / (Math.sqrt(8) + 1e-8)], dtype);
        expect(opt.state.get(a)?.step).to.equal(2);
        expect(opt.state.get(b)?.step).to.equal(1);
      });

      it('param groups keep their own hyper-parameters', () => {
        const w0 = [1, -2], b0 = [0.5];
        const w = param(dtype, w0), b = param(dtype, b0);
        const opt = new RMSprop([{ params: [w] }, { params: [b], lr: 0.05, centered: true, momentum: 0.3 }], { lr: 0.01, alpha: 0.9 });
        const gotW: number[][] = [], gotB: number[][] = [];
        for (let t = 1; t <= 4; t++) {
          setGrad(w, wobble(Array.from(w.data), t));
          setGrad(b, wobble(Array.from(b.data), t));
          opt.step();
          gotW.push(Array.from(w.data));
          gotB.push(Array.from(b.data));
        }
        const check = (got: number[][], want: number[][], what: string, p0: number[]): void => want.forEach((e, t) => {
          if (dtype === 'float64') expectClose(got[t], e, dtype, `${what} step ${t + 1}`);
          else within32(got[t], e, 4, `${what} step ${t + 1}`, p0);
        });
        check(gotW, rmspropReference(w0, wobble, 4, { ...DEFAULTS, lr: 0.01, alpha: 0.9 }, dtype), 'w', w0);
        check(gotB, rmspropReference(b0, wobble, 4, { ...DEFAULTS, lr: 0.05, alpha: 0.9, centered: true, momentum: 0.3 }, dtype), 'b', b0);
      });
    });
  }

  it('state dict: torch\'s state keys in camelCase, and a round trip continues bit for bit', () => {
    for (const dtype of DTYPES) {
      const mk = (ps: Parameter[]): RMSprop => new RMSprop(ps, { lr: 0.01, momentum: 0.9, centered: true, weightDecay: 0.01 });
      const p = param(dtype, [1, -2, 0.5]);
      const a = mk([p]);
      run(a, p, wobble, 3);
      const sd = a.stateDict();
      expect(Object.keys(sd.state[0]).sort()).to.deep.equal(['gradAvg', 'momentumBuffer', 'squareAvg', 'step']);
      expect(sd.state[0].step).to.equal(3);
      expect(sd.paramGroups[0]).to.deep.include({ lr: 0.01, alpha: 0.99, momentum: 0.9, centered: true, weightDecay: 0.01, params: [0] });
      const q = param(dtype, Array.from(p.data));
      const b = mk([q]);
      b.loadStateDict(sd);
      for (let t = 4; t <= 6; t++) {
        setGrad(p, wobble(Array.from(p.data), t));
        setGrad(q, wobble(Array.from(q.data), t));
        a.step();
        b.step();
      }
      expect(Array.from(q.data)).to.deep.equal(Array.from(p.data));
      expect(b.state.get(q)?.step).to.equal(6);
    }
  });

  describe('argument validation', () => {
    const p = (): Parameter => param('float64', [1]);
    it('rejects bad hyper-parameters, naming RMSprop and the value', () => {
      expect(() => new RMSprop([p()], { lr: -0.1 })).to.throw('RMSprop: lr must be a non-negative number, got -0.1');
      expect(() => new RMSprop([p()], { alpha: -0.5 })).to.throw('RMSprop: alpha must be a non-negative number, got -0.5');
      expect(() => new RMSprop([p()], { eps: -1 })).to.throw('RMSprop: eps must be a non-negative number, got -1');
      expect(() => new RMSprop([p()], { momentum: -0.9 })).to.throw('RMSprop: momentum must be a non-negative number, got -0.9');
      expect(() => new RMSprop([p()], { weightDecay: NaN })).to.throw('RMSprop: weightDecay must be a non-negative number, got NaN');
      expect(() => new RMSprop([p()], { centered: 1 as unknown as boolean })).to.throw('RMSprop: centered must be a boolean, got 1');
      expect(() => new RMSprop([{ params: [p()], alpha: -1 }])).to.throw('RMSprop: alpha must be a non-negative number, got -1 (param group 0)');
      expect(() => new RMSprop([p()], { weight_decay: 0.1 } as unknown as RMSpropOptions)).to.throw(
        "RMSprop: unknown option 'weight_decay' (did you mean 'weightDecay'?)",
      );
      expect(() => new RMSprop([])).to.throw('RMSprop: got an empty parameter list');
    });

    it('re-checks a group written after construction', () => {
      const opt = new RMSprop([p()]);
      opt.paramGroups[0].alpha = -0.1;
      expect(() => opt.step()).to.throw('RMSprop: alpha must be a non-negative number, got -0.1 (param group 0)');
    });

    it('a failed step changes nothing and makes no state', () => {
      const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
      const opt = new RMSprop([a, b], { momentum: 0.9, centered: true });
      expect(() => opt.step()).to.throw('RMSprop: the grad of parameter 1 in param group 0 has 2 elements but the parameter has 1');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.size).to.equal(0);
    });

    it('a step that fails in a later param group changes no earlier group either', () => {
      // A bad grad, or a hyper-parameter written wrong, in group 1: group 0 must not have been
      // stepped, or retrying after the fix would step it twice.
      const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
      const opt = new RMSprop([{ params: [a] }, { params: [b] }], { momentum: 0.9 });
      expect(() => opt.step()).to.throw('RMSprop: the grad of parameter 0 in param group 1 has 2 elements but the parameter has 1');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.size, 'no state from the failed step').to.equal(0);
      setGrad(b, [7]);
      opt.paramGroups[1].alpha = -1;
      expect(() => opt.step()).to.throw('RMSprop: alpha must be a non-negative number, got -1 (param group 1)');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.size, 'no state from the failed step').to.equal(0);
    });

    it('loadStateDict refuses state it does not keep, and a missing squareAvg', () => {
      const q = param('float64', [1], [0.5]);
      const adam = new Adam([q]);
      adam.step();
      const opt = new RMSprop([param('float64', [1])]);
      expect(() => opt.loadStateDict(adam.stateDict() as unknown as OptimizerStateDict<RMSpropHyperParams>)).to.throw(
        "RMSprop: loadStateDict: param group 0 has an unknown key 'betas'",
      );
      const sd = opt.stateDict();
      sd.state[0] = { step: 1 };
      expect(() => opt.loadStateDict(sd)).to.throw("RMSprop: loadStateDict: state of parameter 0 is missing 'squareAvg'");
      sd.state[0] = { step: 1, squareAvg: Float64Array.from([1]), expAvg: Float64Array.from([1]) };
      expect(() => opt.loadStateDict(sd)).to.throw(
        "RMSprop: loadStateDict: state of parameter 0 has an unknown entry 'expAvg' (RMSprop keeps step, squareAvg, momentumBuffer, gradAvg)",
      );
    });
  });
});
