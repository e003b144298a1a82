import { expect } from 'chai';
import { Adam, AdamW } from '../../../lib/optim/adam';
import { Parameter } from '../../../lib/optim/optimizer';
import { DTYPES, expectClose, param, setGrad } from '../../support/optim_helpers';

interface Hyper {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
  amsgrad: boolean;
  maximize: boolean;
  decoupled: boolean;
}

const BASE: Hyper = { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0, amsgrad: false, maximize: false, decoupled: false };

type GradFn = (p: readonly number[], t: number) => number[];

/**
 * Adam written from the paper's formulas (bias-corrected moments, m̂/(√v̂ + ε)), not in torch's
 * rearranged order, in scalar double arithmetic. AMSGrad as torch implements it: the running
 * maximum is taken over the raw second moments and divided by the current bias correction.
 * Returns the parameters after each step.
 */
function adamReference(p0: readonly number[], grads: GradFn, steps: number, h: Hyper): number[][] {
  const p = p0.slice();
  const m = p0.map(() => 0);
  const v = p0.map(() => 0);
  const vmax = p0.map(() => 0);
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    const raw = grads(p, t);
    for (let i = 0; i < p.length; i++) {
      let g = h.maximize ? -raw[i] : raw[i];
      if (h.decoupled) p[i] = p[i] * (1 - h.lr * h.wd);
      else g = g + h.wd * p[i];
      m[i] = h.b1 * m[i] + (1 - h.b1) * g;
      v[i] = h.b2 * v[i] + (1 - h.b2) * g * g;
      vmax[i] = Math.max(vmax[i], v[i]);
      const mHat = m[i] / (1 - h.b1 ** t);
      const vHat = (h.amsgrad ? vmax[i] : v[i]) / (1 - h.b2 ** t);
      p[i] = p[i] - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
    }
    out.push(p.slice());
  }
  return out;
}

const quad: GradFn = (p) => p.map((x) => 2 * x);
/** Large first gradients, then small ones: makes v shrink so that AMSGrad's maximum matters. */
const shrinking: GradFn = (p, t) => p.map((x, i) => (t === 1 ? (i + 1) * 3 : 0.05 * x));

function run(opt: { step(): void }, p: Parameter, grads: GradFn, steps: number): number[][] {
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    setGrad(p, grads(Array.from(p.data), t));
    opt.step();
    out.push(Array.from(p.data));
  }
  return out;
}

describe('lib/optim/adam', () => {
  it('has torch defaults: Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0; AdamW wd 1e-2', () => {
    const a = new Adam([param('float64', [1])]);
    expect(a.paramGroups[0]).to.include({ lr: 1e-3, eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false });
    expect(a.paramGroups[0].betas).to.deep.equal([0.9, 0.999]);
    const w = new AdamW([param('float64', [1])]);
    expect(w.paramGroups[0].weightDecay).to.equal(1e-2);
  });

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      it('first step moves each element by lr·g/(|g| + eps)', () => {
        // After one step m̂ = g and v̂ = g², so p1 = p0 − lr·g/(|g| + ε).
        const p = param(dtype, [1, -1, 0.5], [0.5, -2, 1e-3]);
        const opt = new Adam([p], { lr: 0.1 });
        opt.step();
        expectClose(p.data, [1 - (0.1 * 0.5) / (0.5 + 1e-8), -1 + (0.1 * 2) / (2 + 1e-8), 0.5 - (0.1 * 1e-3) / (1e-3 + 1e-8)], dtype);
        const st = opt.state.get(p);
        expect(st?.step).to.equal(1);
        expect(st?.expAvg).to.be.instanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        expectClose(st?.expAvg as ArrayLike<number>, [0.05, -0.2, 1e-4], dtype, 'expAvg');
        expectClose(st?.expAvgSq as ArrayLike<number>, [0.001 * 0.25, 0.001 * 4, 0.001 * 1e-6], dtype, 'expAvgSq');
      });

      it('follows the Adam formulas over three steps of a quadratic', () => {
        const h = { ...BASE, lr: 0.1 };
        const p0 = [1, -2, 0.5];
        const p = param(dtype, p0);
        const got = run(new Adam([p], { lr: 0.1 }), p, quad, 3);
        adamReference(p0, quad, 3, h).forEach((e, t) => expectClose(got[t], e, dtype, `step ${t + 1}`));
      });

      it('updates the first moment as torch 1.13 does: m·β1 + (1 − β1)·g (mul_ then add_, not 2.1\'s lerp_)', () => {
        // Bit for bit in the storage dtype: m·β1 + (1 − β1)·g in double, rounded once when stored.
        // lerp (m + w·(g − m)) rounds differently for some of these elements.
        const n = 64;
        const rng = (k: number): number => Math.sin(12.9898 * k + 78.233) * 43758.5453 % 1;
        const g1 = Array.from({ length: n }, (_, i) => rng(i) * 3);
        const g2 = Array.from({ length: n }, (_, i) => rng(i + 1000) * 2 - 0.3);
        const p = param(dtype, Array.from({ length: n }, () => 1));
        const opt = new Adam([p], { lr: 0.01, betas: [0.85, 0.99] });
        setGrad(p, g1);
        opt.step();
        const m1 = Array.from(opt.state.get(p)!.expAvg as ArrayLike<number>);
        setGrad(p, g2);
        opt.step();
        const store = dtype === 'float64' ? (v: number) => v : Math.fround;
        const gs = g2.map(store);
        const want = m1.map((m, i) => store(m * 0.85 + (1 - 0.85) * gs[i]));
        expect(Array.from(opt.state.get(p)!.expAvg as ArrayLike<number>)).to.deep.equal(want);
      });

      it('follows the Adam formulas with beta1 ≤ 0.5 too', () => {
        const h = { ...BASE, lr: 0.05, b1: 0.3, b2: 0.8 };
        const p0 = [0.7, -1.3];
        const p = param(dtype, p0);
        const got = run(new Adam([p], { lr: 0.05, betas: [0.3, 0.8] }), p, quad, 3);
        adamReference(p0, quad, 3, h).forEach((e, t) => expectClose(got[t], e, dtype, `step ${t + 1}`));
      });

      it('Adam weightDecay is an L2 term in the gradient', () => {
        // With g = 0 the gradient is wd·p: step 1 moves by lr·(wd·p)/(wd·p + ε).
        const p = param(dtype, [1, -2], [0, 0]);
        const opt = new Adam([p], { lr: 0.1, weightDecay: 0.1 });
        opt.step();
        expectClose(p.data, [1 - (0.1 * 0.1) / (0.1 + 1e-8), -2 + (0.1 * 0.2) / (0.2 + 1e-8)], dtype);
        const q0 = [1, -2, 0.5];
        const q = param(dtype, q0);
        const got = run(new Adam([q], { lr: 0.1, weightDecay: 0.3 }), q, quad, 3);
        adamReference(q0, quad, 3, { ...BASE, lr: 0.1, wd: 0.3 }).forEach((e, t) => expectClose(got[t], e, dtype, `step ${t + 1}`));
      });

      it('AdamW decays the parameter directly: p·(1 − lr·wd), outside the adaptive step', () => {
        // g = 0: the moments stay 0, so only the decoupled decay acts: 1 → 0.99 → 0.9801.
        const p = param(dtype, [1, -2]);
        const opt = new AdamW([p], { lr: 0.1, weightDecay: 0.1 });
        setGrad(p, [0, 0]);
        opt.step();
        expectClose(p.data, [0.99, -1.98], dtype);
        setGrad(p, [0, 0]);
        opt.step();
        expectClose(p.data, [0.9801, -1.9602], dtype);
        const q0 = [1, -2, 0.5];
        const q = param(dtype, q0);
        const got = run(new AdamW([q], { lr: 0.1, weightDecay: 0.1 }), q, quad, 3);
        adamReference(q0, quad, 3, { ...BASE, lr: 0.1, wd: 0.1, decoupled: true }).forEach((e, t) =>
          expectClose(got[t], e, dtype, `step ${t + 1}`),
        );
      });

      it('amsgrad normalises by the largest second moment seen', () => {
        // lr 0.1, β = (0.9, 0.5), ε = 0, g = 2 then 0.1:
        // t1: m=0.2, v=2, bias1=0.1, bias2=0.5, denom=√2/√0.5=2 → p = −(0.1/0.1)·0.2/2 = −0.1
        // t2: m=0.19, v=1.005 < vmax=2, bias1=0.19, bias2=0.75
        //     amsgrad: p = −0.1 − (0.1/0.19)·0.19/√(2/0.75); plain: √(1.005/0.75) instead.
        for (const amsgrad of [true, false]) {
          const p = param(dtype, [0]);
          const opt = new Adam([p], { lr: 0.1, betas: [0.9, 0.5], eps: 0, amsgrad });
          setGrad(p, [2]);
          opt.step();
          expectClose(p.data, [-0.1], dtype, 'step 1');
          setGrad(p, [0.1]);
          opt.step();
          expectClose(p.data, [-0.1 - 0.1 / Math.sqrt((amsgrad ? 2 : 1.005) / 0.75)], dtype, `amsgrad=${amsgrad}`);
          expect(opt.state.get(p)?.maxExpAvgSq === undefined).to.equal(!amsgrad);
        }
        const q0 = [1, -2, 0.5];
        const q = param(dtype, q0);
        const got = run(new Adam([q], { lr: 0.1, amsgrad: true, betas: [0.9, 0.9] }), q, shrinking, 3);
        const h = { ...BASE, lr: 0.1, b2: 0.9, amsgrad: true };
        adamReference(q0, shrinking, 3, h).forEach((e, t) => expectClose(got[t], e, dtype, `step ${t + 1}`));
        // The maximum changed the result: plain Adam lands elsewhere.
        const plain = adamReference(q0, shrinking, 3, { ...h, amsgrad: false })[2];
        expect(Math.abs(plain[0] - got[2][0])).to.be.greaterThan(1e-3);
      });

      it('maximize ascends the gradient', () => {
        const p = param(dtype, [1, -1], [0.5, -2]);
        const opt = new Adam([p], { lr: 0.1, maximize: true });
        opt.step();
        expectClose(p.data, [1 + (0.1 * 0.5) / (0.5 + 1e-8), -1 - (0.1 * 2) / (2 + 1e-8)], dtype);
        const q0 = [1, -2, 0.5];
        const q = param(dtype, q0);
        const got = run(new AdamW([q], { lr: 0.1, maximize: true, weightDecay: 0.2 }), q, quad, 3);
        adamReference(q0, quad, 3, { ...BASE, lr: 0.1, maximize: true, wd: 0.2, decoupled: true }).forEach((e, t) =>
          expectClose(got[t], e, dtype, `step ${t + 1}`),
        );
      });

      it('keeps a step count per parameter and skips parameters whose grad is null', () => {
        const a = param(dtype, [1], [0.5]);
        const b = param(dtype, [2]);
        const opt = new Adam([a, b], { lr: 0.1 });
        opt.step();
        expect(Array.from(b.data)).to.deep.equal([2]);
        expect(opt.state.has(b)).to.equal(false);
        setGrad(b, [-4]);
        opt.step();
        // b's first step uses bias corrections for step 1, not step 2.
        expectClose(b.data, [2 + (0.1 * 4) / (4 + 1e-8)], dtype);
        expect(opt.state.get(a)?.step).to.equal(2);
        expect(opt.state.get(b)?.step).to.equal(1);
      });

      it('param groups keep their own lr and betas', () => {
        const w0 = [1, -2];
        const b0 = [0.5];
        const w = param(dtype, w0);
        const b = param(dtype, b0);
        const opt = new Adam([{ params: [w] }, { params: [b], lr: 0.1, betas: [0.5, 0.9] }], { lr: 0.01 });
        const gotW: number[][] = [];
        const gotB: number[][] = [];
        for (let t = 1; t <= 3; t++) {
          setGrad(w, quad(Array.from(w.data), t));
          setGrad(b, quad(Array.from(b.data), t));
          opt.step();
          gotW.push(Array.from(w.data));
          gotB.push(Array.from(b.data));
        }
        adamReference(w0, quad, 3, { ...BASE, lr: 0.01 }).forEach((e, t) => expectClose(gotW[t], e, dtype, `w step ${t + 1}`));
        adamReference(b0, quad, 3, { ...BASE, lr: 0.1, b1: 0.5, b2: 0.9 }).forEach((e, t) =>
          expectClose(gotB[t], e, dtype, `b step ${t + 1}`),
        );
      });
    });
  }

  describe('argument validation', () => {
    const p = (): Parameter => param('float64', [1]);
    it('rejects bad hyper-parameters with the offending value', () => {
      expect(() => new Adam([p()], { lr: -1 })).to.throw('Adam: lr must be a non-negative number, got -1');
      expect(() => new Adam([p()], { betas: [1, 0.999] })).to.throw('Adam: betas[0] must be in [0, 1), got 1');
      expect(() => new Adam([p()], { betas: [0.9, -0.1] })).to.throw('Adam: betas[1] must be in [0, 1), got -0.1');
      expect(() => new Adam([p()], { eps: -1e-8 })).to.throw('Adam: eps must be a non-negative number, got -1e-8');
      expect(() => new AdamW([p()], { weightDecay: -0.1 })).to.throw('AdamW: weightDecay must be a non-negative number, got -0.1');
      expect(() => new Adam([p()], { betas: 0.9 as unknown as [number, number] })).to.throw(
        'Adam: betas must be a pair of numbers, got 0.9',
      );
      // Not silently cut to the first two, nor read as [0.9, undefined].
      expect(() => new Adam([p()], { betas: [0.9, 0.999, 0.5] as unknown as [number, number] })).to.throw(
        'Adam: betas must be a pair of numbers, got [0.9, 0.999, 0.5]',
      );
      expect(() => new AdamW([p()], { betas: [0.9] as unknown as [number, number] })).to.throw(
        'AdamW: betas must be a pair of numbers, got [0.9]',
      );
      expect(() => new AdamW([{ params: [p()], betas: [0.9] as unknown as [number, number] }])).to.throw(
        'AdamW: betas must be a pair of numbers, got [0.9] (param group 0)',
      );
      expect(() => new Adam([p()], { amsgrad: 1 as unknown as boolean })).to.throw('Adam: amsgrad must be a boolean, got 1');
      expect(() => new Adam([p()], { betas1: 0.9 } as unknown as { lr: number })).to.throw("Adam: unknown option 'betas1'");
    });

    it('leaves every parameter and step count untouched when one grad is bad (all checks come first)', () => {
      const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
      const opt = new Adam([a, b], { lr: 0.1 });
      expect(() => opt.step()).to.throw('Adam: the grad of parameter 1 in param group 0 has 2 elements but the parameter has 1');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      b.grad = { data: Float64Array.from([7]) };
      opt.step();
      expect(opt.stateDict().state[0].step, 'the failed step did not count').to.equal(1);
      expect(opt.stateDict().state[1].step).to.equal(1);
    });

    it('a failed step leaves no state behind, so a state dict saved after it loads back', () => {
      for (const Opt of [Adam, AdamW]) {
        const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
        const opt = new Opt([a, b], { lr: 0.1, amsgrad: true });
        expect(() => opt.step()).to.throw(`${Opt.name}: the grad of parameter 1 in param group 0 has 2 elements but the parameter has 1`);
        expect(opt.state.size, `${Opt.name}: no state from the failed step`).to.equal(0);
        const sd = opt.stateDict();
        const fresh = new Opt([param('float64', [1, 2]), param('float64', [3])], { lr: 0.1, amsgrad: true });
        fresh.loadStateDict(sd);
        expect(fresh.state.size).to.equal(0);
      }
      // Same when the check that fails is on another parameter's existing state (its storage replaced).
      const a = param('float64', [1, 2]), b = param('float64', [3], [1]);
      const opt = new Adam([a, b], { lr: 0.1 });
      opt.step();
      (b as { data: Float64Array }).data = Float64Array.from([3, 4]);
      b.grad = { data: Float64Array.from([1, 1]) };
      a.grad = { data: Float64Array.from([0.5, 0.5]) };
      expect(() => opt.step()).to.throw("Adam: the expAvg of parameter 1 in param group 0 is float64[1] but the parameter is float64[2] (was the parameter's storage replaced?)");
      expect(opt.state.has(a), 'the parameter before it got no state').to.equal(false);
    });

    it('re-checks betas written into a group (e.g. by a scheduler)', () => {
      const opt = new Adam([p()]);
      opt.paramGroups[0].betas = [1.5, 0.999];
      expect(() => opt.step()).to.throw('Adam: betas[0] must be in [0, 1), got 1.5 (param group 0)');
    });

    it('a step that fails in a later param group changes no earlier group either (a retry would step it twice)', () => {
      const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
      const opt = new Adam([{ params: [a] }, { params: [b] }], { lr: 0.1 });
      expect(() => opt.step()).to.throw('Adam: the grad of parameter 0 in param group 1 has 2 elements but the parameter has 1');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.size, 'no state from the failed step').to.equal(0);
      setGrad(b, [7]);
      opt.paramGroups[1].betas = [1.5, 0.999];
      expect(() => opt.step()).to.throw('Adam: betas[0] must be in [0, 1), got 1.5 (param group 1)');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.size, 'no state from the failed step').to.equal(0);
    });
  });
});
