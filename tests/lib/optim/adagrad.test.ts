import { expect } from 'chai';
import type { DType } from '../../../lib/core/dtype';
import { Adagrad, AdagradOptions } from '../../../lib/optim/adagrad';
import { Parameter } from '../../../lib/optim/optimizer';
import { DTYPES, expectClose, param, setGrad } from '../../support/optim_helpers';
import { refOps, Vec, within32 } from '../../support/optim_ref';

type GradFn = (p: readonly number[], t: number) => number[];

const wobble: GradFn = (p, t) => p.map((x, i) => 2 * x + 0.7 * Math.sin(1.3 * t + i) - 0.2 * i);

interface Hyper {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  eps: number;
  maximize: boolean;
}

const DEFAULTS: Hyper = { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false };

/**
 * torch 1.13's _single_tensor_adagrad, line by line: the sum starts full of
 * initial_accumulator_value (the constructor's full_like), clr = lr / (1 + (step − 1)·lr_decay) in
 * double. Returns the parameters after each step.
 */
function adagradReference(p0: readonly number[], grads: GradFn, steps: number, h: Hyper, dtype: DType): number[][] {
  const o = refOps(dtype);
  let p: Vec = p0.map(o.r);
  let stateSum: Vec = p0.map(() => o.r(h.initialAccumulatorValue));
  const out: number[][] = [];
  for (let step = 1; step <= steps; step++) {
    let grad: Vec = grads(p, step).map(o.r);
    if (h.maximize) grad = o.neg(grad);
    if (h.weightDecay !== 0) grad = o.add(grad, p, h.weightDecay);
    const clr = h.lr / (1 + (step - 1) * h.lrDecay);
    stateSum = o.addcmul(stateSum, grad, grad, 1);
    const std = o.addScalar(o.sqrt(stateSum), h.eps);
    p = o.addcdiv(p, grad, std, -clr);
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
  plain: { lr: 0.1 },
  lrDecay: { lr: 0.1, lrDecay: 0.5 },
  'weight decay': { lr: 0.05, weightDecay: 0.2 },
  'initial accumulator': { lr: 0.1, initialAccumulatorValue: 0.3 },
  'everything + maximize': { lr: 0.2, lrDecay: 0.1, weightDecay: 0.05, initialAccumulatorValue: 0.1, eps: 1e-3, maximize: true },
};

describe('lib/optim/adagrad', () => {
  it("has torch's defaults: lr 1e-2, lrDecay 0, weightDecay 0, initialAccumulatorValue 0, eps 1e-10, maximize off", () => {
    const opt = new Adagrad([param('float64', [1])]);
    expect({ ...opt.paramGroups[0], params: undefined }).to.deep.equal({
      params: undefined, lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false,
    });
  });

  it("makes every parameter's state in the constructor, as torch: step 0 and sum at its group's initial value", () => {
    const a = param('float32', [1, 2]), b = param('float64', [3]);
    const opt = new Adagrad([{ params: [a] }, { params: [b], initialAccumulatorValue: 0.25 }], { initialAccumulatorValue: 0.5 });
    expect(opt.state.get(a)?.step).to.equal(0);
    expect(opt.state.get(a)?.sum).to.deep.equal(Float32Array.from([0.5, 0.5]));
    expect(opt.state.get(b)?.sum).to.deep.equal(Float64Array.from([0.25]));
    const sd = opt.stateDict();
    expect(Object.keys(sd.state)).to.deep.equal(['0', '1']);
    expect(Object.keys(sd.state[1]).sort()).to.deep.equal(['step', 'sum']);
    expect(sd.paramGroups[1]).to.deep.include({ initialAccumulatorValue: 0.25, params: [1] });
  });

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      it('first step: sum = init + g², p − lr·g/(√sum + eps)', () => {
        const p = param(dtype, [1, -1, 0.5], [0.5, -2, 1e-3]);
        const opt = new Adagrad([p], { lr: 0.1, initialAccumulatorValue: 0.75 });
        opt.step();
        const step = (g: number): number => (0.1 * g) / (Math.sqrt(0.75 + g * g) + 1e-10);
        expectClose(p.data, [1 - step(0.5), -1 - step(-2), 0.5 - step(1e-3)], dtype);
        expectClose(opt.state.get(p)!.sum!, [0.75 + 0.25, 0.75 + 4, 0.75 + 1e-6], dtype, 'sum');
        expect(opt.state.get(p)!.step).to.equal(1);
      });

      it('lrDecay divides lr by 1 + (step − 1)·lrDecay', () => {
        // g = 1 every step, init 0: sum = t, so step t moves by lr/(1 + (t−1)·d)/√t.
        const p = param(dtype, [0]);
        const opt = new Adagrad([p], { lr: 0.5, lrDecay: 0.25, eps: 0 });
        let want = 0;
        for (let t = 1; t <= 4; t++) {
          setGrad(p, [1]);
          opt.step();
          want -= 0.5 / (1 + (t - 1) * 0.25) / Math.sqrt(t);
          expectClose(p.data, [want], dtype, `step ${t}`);
        }
      });

      for (const [label, cfg] of Object.entries(CONFIGS)) {
        it(`${label}: five steps follow torch 1.13's update ${dtype === 'float32' ? 'to float32 rounding' : ''}`, () => {
          const h = { ...DEFAULTS, ...cfg };
          const p0 = [1, -2, 0.5, 0.25, -0.75];
          const p = param(dtype, p0);
          const got = run(new Adagrad([p], { ...cfg } as AdagradOptions), p, wobble, 5);
          const want = adagradReference(p0, wobble, 5, h, dtype);
          want.forEach((e, t) => {
            if (dtype === 'float64') expectClose(got[t], e, dtype, `step ${t + 1}`);
            else within32(got[t], e, 4, `step ${t + 1}`, p0);
          });
          // The reference with a changed setting lands elsewhere, so the comparison tells them apart.
          const other = adagradReference(p0, wobble, 5, { ...h, lrDecay: h.lrDecay + 0.3, initialAccumulatorValue: h.initialAccumulatorValue + 0.2 }, dtype);
          expect(Math.abs(other[4][0] - got[4][0])).to.be.greaterThan(1e-4);
        });
      }

      it('skips parameters whose grad is null: step and sum stay as made', () => {
        const a = param(dtype, [1], [0.5]);
        const b = param(dtype, [2]);
        const opt = new Adagrad([a, b], { lr: 0.1, initialAccumulatorValue: 1 });
        opt.step();
        expect(Array.from(b.data)).to.deep.equal([2]);
        expect(opt.state.get(b)?.step).to.equal(0);
        expect(Array.from(opt.state.get(b)!.sum!)).to.deep.equal([1]);
        setGrad(b, [-4]);
        opt.step();
        expectClose(b.data, [2 + (0.1 * 4) / (Math.sqrt(17) + 1e-10)], dtype);
        expect([opt.state.get(a)?.step, opt.state.get(b)?.step]).to.deep.equal([2, 1]);
      });

      it('param groups keep their own hyper-parameters; a group added later starts at its own initial value', () => {
        const w0 = [1, -2], b0 = [0.5], c0 = [-0.4];
        const w = param(dtype, w0), b = param(dtype, b0), c = param(dtype, c0);
        const opt = new Adagrad([{ params: [w] }, { params: [b], lr: 0.3, lrDecay: 0.2 }], { lr: 0.1 });
        opt.addParamGroup({ params: [c], initialAccumulatorValue: 0.4 });
        expect(opt.state.has(c)).to.equal(false);
        const got: number[][][] = [[], [], []];
        for (let t = 1; t <= 4; t++) {
          for (const q of [w, b, c]) setGrad(q, wobble(Array.from(q.data), t));
          opt.step();
          [w, b, c].forEach((q, j) => got[j].push(Array.from(q.data)));
        }
        const cases: Array<[number[], Partial<Hyper>]> = [[w0, { lr: 0.1 }], [b0, { lr: 0.3, lrDecay: 0.2 }], [c0, { lr: 0.1, initialAccumulatorValue: 0.4 }]];
        cases.forEach(([p0, cfg], j) => adagradReference(p0, wobble, 4, { ...DEFAULTS, ...cfg }, dtype).forEach((e, t) => {
          if (dtype === 'float64') expectClose(got[j][t], e, dtype, `group ${j} step ${t + 1}`);
          else within32(got[j][t], e, 4, `group ${j} step ${t + 1}`, p0);
        }));
      });
    });
  }

  it('state dict round trip continues bit for bit', () => {
    for (const dtype of DTYPES) {
      const mk = (ps: Parameter[]): Adagrad => new Adagrad(ps, { lr: 0.1, lrDecay: 0.1, initialAccumulatorValue: 0.2, weightDecay: 0.01 });
      const p = param(dtype, [1, -2, 0.5]);
      const a = mk([p]);
      run(a, p, wobble, 3);
      const sd = a.stateDict();
      expect(sd.state[0].step).to.equal(3);
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
    it('rejects bad hyper-parameters, naming Adagrad and the value', () => {
      expect(() => new Adagrad([p()], { lr: -1 })).to.throw('Adagrad: lr must be a non-negative number, got -1');
      expect(() => new Adagrad([p()], { lrDecay: -0.1 })).to.throw('Adagrad: lrDecay must be a non-negative number, got -0.1');
      expect(() => new Adagrad([p()], { weightDecay: -0.1 })).to.throw('Adagrad: weightDecay must be a non-negative number, got -0.1');
      expect(() => new Adagrad([p()], { initialAccumulatorValue: -1 })).to.throw(
        'Adagrad: initialAccumulatorValue must be a non-negative number, got -1',
      );
      expect(() => new Adagrad([p()], { eps: Infinity })).to.throw('Adagrad: eps must be a non-negative number, got Infinity');
      expect(() => new Adagrad([p()], { maximize: 'yes' as unknown as boolean })).to.throw('Adagrad: maximize must be a boolean, got "yes"');
      expect(() => new Adagrad([p()], { lr_decay: 0.1 } as unknown as AdagradOptions)).to.throw(
        "Adagrad: unknown option 'lr_decay' (did you mean 'lrDecay'?)",
      );
      expect(() => new Adagrad([{ params: [p()], lrDecay: -1 }])).to.throw('Adagrad: lrDecay must be a non-negative number, got -1 (param group 0)');
    });

    it('a failed step changes no parameter, step count or sum', () => {
      const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
      const opt = new Adagrad([a, b], { initialAccumulatorValue: 0.1 });
      expect(() => opt.step()).to.throw('Adagrad: the grad of parameter 1 in param group 0 has 2 elements but the parameter has 1');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.get(a)?.step).to.equal(0);
      expect(Array.from(opt.state.get(a)!.sum!)).to.deep.equal([0.1, 0.1]);
    });

    it('a step that fails in a later param group changes no earlier group either', () => {
      const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
      const opt = new Adagrad([{ params: [a] }, { params: [b] }], { initialAccumulatorValue: 0.1 });
      expect(() => opt.step()).to.throw('Adagrad: the grad of parameter 0 in param group 1 has 2 elements but the parameter has 1');
      setGrad(b, [7]);
      opt.paramGroups[1].lrDecay = -1;
      expect(() => opt.step()).to.throw('Adagrad: lrDecay must be a non-negative number, got -1 (param group 1)');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.get(a)?.step, 'step count of group 0').to.equal(0);
      expect(Array.from(opt.state.get(a)!.sum!)).to.deep.equal([0.1, 0.1]);
    });

    it('loadStateDict requires step and sum', () => {
      const opt = new Adagrad([p()]);
      const sd = opt.stateDict();
      sd.state[0] = { step: 2 };
      expect(() => opt.loadStateDict(sd)).to.throw("Adagrad: loadStateDict: state of parameter 0 is missing 'sum'");
      sd.state[0] = { step: 2, sum: Float64Array.from([1]), squareAvg: Float64Array.from([1]) };
      expect(() => opt.loadStateDict(sd)).to.throw("Adagrad: loadStateDict: state of parameter 0 has an unknown entry 'squareAvg' (Adagrad keeps step, sum)");
    });
  });
});
