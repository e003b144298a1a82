import { expect } from 'chai';
import { SGD } from '../../../lib/optim/sgd';
import { CyclicLR } from '../../../lib/optim/lr_scheduler';
import { Linear } from '../../../models/nn/linear';
import { ones } from '../../../autograd/creation';
import { Parameter } from '../../../lib/optim/optimizer';
import { DTYPES, expectClose, param, setGrad } from '../../support/optim_helpers';

/** Gradient of the loss Σ p², so the dynamics depend on the parameter values. */
function quadGrad(p: Parameter): void {
  setGrad(p, Array.from(p.data, (x) => 2 * x));
}

describe('lib/optim/sgd', () => {
  for (const dtype of DTYPES) {
    describe(dtype, () => {
      it('plain SGD: p ← p − lr·g', () => {
        // g = 2p, lr = 0.1: p ← 0.8·p each step.
        const p = param(dtype, [1, -2, 0.5]);
        const opt = new SGD([p], { lr: 0.1 });
        quadGrad(p);
        opt.step();
        expectClose(p.data, [0.8, -1.6, 0.4], dtype, 'step 1');
        quadGrad(p);
        opt.step();
        expectClose(p.data, [0.64, -1.28, 0.32], dtype, 'step 2');
      });

      it('momentum: the buffer starts as g, then μ·buf + g', () => {
        // Per unit of p0 with g = 2p, μ = 0.9, lr = 0.1:
        // t1: g=2,    buf=2,                 p=1−0.2=0.8
        // t2: g=1.6,  buf=0.9·2+1.6=3.4,     p=0.8−0.34=0.46
        // t3: g=0.92, buf=0.9·3.4+0.92=3.98, p=0.46−0.398=0.062
        const p0 = [1, -2, 0.5];
        const p = param(dtype, p0);
        const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
        const factors = [0.8, 0.46, 0.062];
        for (const f of factors) {
          quadGrad(p);
          opt.step();
          expectClose(p.data, p0.map((x) => x * f), dtype, `factor ${f}`);
        }
        const buf = opt.state.get(p)?.momentumBuffer;
        expect(buf).to.be.instanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        expectClose(buf as ArrayLike<number>, p0.map((x) => 3.98 * x), dtype, 'buffer');
      });

      it('nesterov: step along g + μ·buf', () => {
        // Per unit of p0 with g = 2p, μ = 0.9, lr = 0.1:
        // t1: g=2,      buf=2,                        d=2+1.8=3.8,            p=1−0.38=0.62
        // t2: g=1.24,   buf=1.8+1.24=3.04,            d=1.24+2.736=3.976,     p=0.62−0.3976=0.2224
        // t3: g=0.4448, buf=2.736+0.4448=3.1808,      d=0.4448+2.86272=3.30752, p=0.2224−0.330752=−0.108352
        const p0 = [1, -2, 0.5];
        const p = param(dtype, p0);
        const opt = new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true });
        for (const f of [0.62, 0.2224, -0.108352]) {
          quadGrad(p);
          opt.step();
          expectClose(p.data, p0.map((x) => x * f), dtype, `factor ${f}`);
        }
      });

      it('dampening applies from the second step on', () => {
        // g = [1, −2] fixed, μ = 0.9, dampening 0.5, lr 0.1, p0 = 0:
        // t1: buf=g=[1,−2],                          p=[−0.1, 0.2]
        // t2: buf=0.9·[1,−2]+0.5·[1,−2]=[1.4,−2.8],  p=[−0.24, 0.48]
        // t3: buf=[1.26+0.5, −2.52−1]=[1.76,−3.52], p=[−0.416, 0.832]
        const p = param(dtype, [0, 0]);
        const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
        const expected = [[-0.1, 0.2], [-0.24, 0.48], [-0.416, 0.832]];
        for (const e of expected) {
          setGrad(p, [1, -2]);
          opt.step();
          expectClose(p.data, e, dtype);
        }
      });

      it('weightDecay adds wd·p to the gradient', () => {
        // g = [1, 0], wd = 0.1, lr = 0.1, p0 = [1, 2]:
        // t1: d=[1.1, 0.2],     p=[0.89, 1.98]
        // t2: d=[1.089, 0.198], p=[0.7811, 1.9602]
        const p = param(dtype, [1, 2]);
        const opt = new SGD([p], { lr: 0.1, weightDecay: 0.1 });
        setGrad(p, [1, 0]);
        opt.step();
        expectClose(p.data, [0.89, 1.98], dtype);
        setGrad(p, [1, 0]);
        opt.step();
        expectClose(p.data, [0.7811, 1.9602], dtype);
      });

      it('weightDecay with momentum: the decayed gradient enters the buffer', () => {
        // t1: d=[1.1,0.2], buf=d, p=[0.89,1.98]
        // t2: d=[1.089,0.198], buf=[0.99+1.089, 0.18+0.198]=[2.079,0.378], p=[0.6821,1.9422]
        const p = param(dtype, [1, 2]);
        const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 });
        setGrad(p, [1, 0]);
        opt.step();
        expectClose(p.data, [0.89, 1.98], dtype);
        setGrad(p, [1, 0]);
        opt.step();
        expectClose(p.data, [0.6821, 1.9422], dtype);
      });

      it('maximize ascends; weight decay still pulls towards 0', () => {
        // g = 2p, lr 0.1: p ← 1.2·p.
        const a = param(dtype, [1, -2]);
        const optA = new SGD([a], { lr: 0.1, maximize: true });
        quadGrad(a);
        optA.step();
        expectClose(a.data, [1.2, -2.4], dtype);
        quadGrad(a);
        optA.step();
        expectClose(a.data, [1.44, -2.88], dtype);
        // g = [1, 1], wd 0.5, lr 0.1, p0 = [1, 2]: d = −g + 0.5·p.
        // t1: d=[−0.5, 0],    p=[1.05, 2]
        // t2: d=[−0.475, 0],  p=[1.0975, 2]
        const b = param(dtype, [1, 2]);
        const optB = new SGD([b], { lr: 0.1, maximize: true, weightDecay: 0.5 });
        setGrad(b, [1, 1]);
        optB.step();
        expectClose(b.data, [1.05, 2], dtype);
        setGrad(b, [1, 1]);
        optB.step();
        expectClose(b.data, [1.0975, 2], dtype);
      });

      it('skips parameters whose grad is null, and starts their momentum when a grad arrives', () => {
        const a = param(dtype, [1, 1]);
        const b = param(dtype, [5, -5]);
        const opt = new SGD([a, b], { lr: 0.1, momentum: 0.9 });
        setGrad(a, [1, 2]);
        opt.step();
        expectClose(a.data, [0.9, 0.8], dtype);
        expect(Array.from(b.data)).to.deep.equal([5, -5]);
        expect(opt.state.has(b)).to.equal(false);
        // b's first grad initialises its buffer (no momentum history), a continues its own.
        setGrad(a, [1, 2]);
        setGrad(b, [1, -1]);
        opt.step();
        // a: buf = 0.9·[1,2] + [1,2] = [1.9, 3.8], p = [0.9−0.19, 0.8−0.38]
        expectClose(a.data, [0.71, 0.42], dtype);
        expectClose(b.data, [4.9, -4.9], dtype);
      });

      it('param groups keep their own lr and weightDecay, and group.lr is writable', () => {
        const w = param(dtype, [1]);
        const bias = param(dtype, [1]);
        const opt = new SGD(
          [{ params: [w] }, { params: [bias], lr: 0.01, weightDecay: 0 }],
          { lr: 0.1, weightDecay: 0.1 },
        );
        expect(opt.paramGroups.map((g) => [g.lr, g.weightDecay])).to.deep.equal([[0.1, 0.1], [0.01, 0]]);
        setGrad(w, [1]);
        setGrad(bias, [1]);
        opt.step();
        expectClose(w.data, [0.89], dtype); // 1 − 0.1·(1 + 0.1·1)
        expectClose(bias.data, [0.99], dtype); // 1 − 0.01·1
        opt.paramGroups[0].lr = 1;
        setGrad(w, [1]);
        opt.step();
        expectClose(w.data, [0.89 - 1 * (1 + 0.089)], dtype);
      });
    });
  }

  it('a momentum buffer made before the model was converted to another dtype names Module.to in its error', () => {
    const model = new Linear(2, 1, { dtype: 'float32' });
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    model.forward(ones([3, 2])).sum().backward();
    opt.step();
    model.double();
    model.forward(ones([3, 2], { dtype: 'float64' })).sum().backward();
    expect(() => opt.step()).to.throw(/SGD: the momentumBuffer of parameter 0 in param group 0 is float32\[2\] but the parameter is float64\[2\] \(was the model converted with Module\.to\(\)\/double\(\)\/float\(\) after this state was made\? build the optimizer after converting the model\)/);
  });

  it('zeroGrad sets grads to null by default and zero-fills them on request', () => {
    const p = param('float64', [1, 2], [3, 4]);
    const q = param('float64', [1], [5]);
    const opt = new SGD([p, q], { lr: 0.1 });
    const qGrad = q.grad;
    opt.zeroGrad(false);
    expect(q.grad).to.equal(qGrad);
    expect(Array.from(q.grad?.data ?? [])).to.deep.equal([0]);
    opt.zeroGrad();
    expect(p.grad).to.equal(null);
    expect(q.grad).to.equal(null);
    opt.step(); // every grad is null: nothing moves
    expect(Array.from(p.data)).to.deep.equal([1, 2]);
  });

  it("nesterov keeps training when a scheduler cycles momentum down to 0 (torch checks it in the constructor only), and a state saved there loads", () => {
    const p = param('float64', [1, -2, 0.5]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true });
    const sched = new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 2, baseMomentum: 0, maxMomentum: 0.9 });
    // Reference: torch 1.13's _single_tensor_sgd with the group's lr and momentum of each step; with
    // momentum 0 there is no buffer update and the step is plain SGD, the buffer kept for later.
    const ref = [1, -2, 0.5];
    let buf: number[] | null = null;
    const momenta: number[] = [];
    for (let t = 0; t < 8; t++) {
      const { lr, momentum } = opt.paramGroups[0];
      momenta.push(momentum);
      const g = ref.map((x) => 2 * x);
      let d = g;
      if (momentum !== 0) {
        const b: number[] = buf === null ? g.slice() : buf.map((v, i) => momentum * v + g[i]);
        buf = b;
        d = g.map((v, i) => v + momentum * b[i]);
      }
      for (let i = 0; i < 3; i++) ref[i] -= lr * d[i];
      quadGrad(p);
      opt.step();
      expectClose(p.data, ref, 'float64', `step ${t + 1} (momentum ${momentum})`);
      if (momentum === 0) {
        // A checkpoint taken here: its group has nesterov with momentum 0, and must load.
        const again = new SGD([param('float64', [0, 0, 0])], { lr: 0.1, momentum: 0.9, nesterov: true });
        again.loadStateDict(opt.stateDict());
        expect(again.paramGroups[0].momentum).to.equal(0);
      }
      sched.step();
    }
    expect(momenta, 'the cycle reached momentum 0 and left it again').to.include(0);
    expect(momenta[momenta.length - 1]).to.be.greaterThan(0);
  });

  it("checks nesterov's rule on the constructor's options only, as torch 1.13: a group may set momentum 0 or a dampening (plain SGD / damped nesterov steps)", () => {
    // torch's SGD.__init__ raises for nesterov without momentum or with dampening on its defaults;
    // add_param_group (the constructor's groups included) checks nothing of it.
    const a = param('float64', [1, -2]), b = param('float64', [0.5, 3]), c = param('float64', [-1, 4]);
    const opt = new SGD([{ params: [a], momentum: 0 }, { params: [b] }], { lr: 0.1, momentum: 0.9, nesterov: true });
    opt.addParamGroup({ params: [c], dampening: 0.5 });
    // Reference: torch 1.13's _single_tensor_sgd, g = 2p; the buffer starts as g (no dampening),
    // then μ·buf + (1 − dampening)·g; nesterov steps along g + μ·buf; momentum 0 is plain SGD.
    const ref = [[1, -2], [0.5, 3], [-1, 4]];
    const hyper = [{ m: 0, d: 0 }, { m: 0.9, d: 0 }, { m: 0.9, d: 0.5 }];
    const bufs: Array<number[] | null> = [null, null, null];
    for (let t = 0; t < 3; t++) {
      ref.forEach((x, k) => {
        const { m, d } = hyper[k];
        const g = x.map((v) => 2 * v);
        let dir = g;
        if (m !== 0) {
          const prev = bufs[k];
          const buf: number[] = prev === null ? g.slice() : prev.map((v, i) => m * v + (1 - d) * g[i]);
          bufs[k] = buf;
          dir = g.map((v, i) => v + m * buf[i]);
        }
        x.forEach((v, i) => { x[i] = v - 0.1 * dir[i]; });
      });
      for (const p of [a, b, c]) quadGrad(p);
      opt.step();
      [a, b, c].forEach((p, k) => expectClose(p.data, ref[k], 'float64', `step ${t + 1}, group ${k}`));
    }
    expect(opt.state.get(a)?.momentumBuffer, 'momentum 0 keeps no buffer').to.equal(undefined);
    // The constructor's own options are where torch refuses the combination, whatever the groups say.
    expect(() => new SGD([{ params: [param('float64', [1])], momentum: 0.9 }], { lr: 0.1, nesterov: true })).to.throw(
      'SGD: nesterov requires momentum > 0 and dampening = 0, got momentum 0 and dampening 0',
    );
  });

  describe('argument validation', () => {
    const p = (): Parameter => param('float64', [1, 2], [0, 0]);
    it('rejects bad hyper-parameters with the offending value', () => {
      expect(() => new SGD([p()], { lr: -1 })).to.throw('SGD: lr must be a non-negative number, got -1');
      expect(() => new SGD([p()], { lr: NaN })).to.throw('SGD: lr must be a non-negative number, got NaN');
      expect(() => new SGD([p()], { lr: 0.1, momentum: -0.5 })).to.throw('SGD: momentum must be a non-negative number, got -0.5');
      expect(() => new SGD([p()], { lr: 0.1, weightDecay: -1 })).to.throw('SGD: weightDecay must be a non-negative number, got -1');
      expect(() => new SGD([p()], { lr: 0.1, nesterov: true })).to.throw(
        'SGD: nesterov requires momentum > 0 and dampening = 0, got momentum 0 and dampening 0',
      );
      expect(() => new SGD([p()], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).to.throw(
        'SGD: nesterov requires momentum > 0 and dampening = 0, got momentum 0.9 and dampening 0.1',
      );
      expect(() => new SGD([{ params: [p()], lr: -2 }], { lr: 0.1 })).to.throw(
        'SGD: lr must be a non-negative number, got -2 (param group 0)',
      );
    });

    it('rejects unknown options, pointing at the camelCase name', () => {
      const bad = { lr: 0.1, weight_decay: 1e-4 } as unknown as { lr: number };
      expect(() => new SGD([p()], bad)).to.throw("SGD: unknown option 'weight_decay' (did you mean 'weightDecay'?)");
      expect(() => new SGD([{ params: [p()], lrr: 1 } as unknown as { params: Parameter[] }], { lr: 0.1 })).to.throw(
        "SGD: unknown option 'lrr' (param group 0)",
      );
    });

    it('rejects empty, mixed and duplicated parameter lists', () => {
      expect(() => new SGD([], { lr: 0.1 })).to.throw('SGD: got an empty parameter list');
      const a = p();
      expect(() => new SGD([a, { params: [p()] }] as unknown as Parameter[], { lr: 0.1 })).to.throw('SGD: params mixes');
      expect(() => new SGD([{ params: [a] }, { params: [p(), a] }], { lr: 0.1 })).to.throw(
        'SGD: a parameter appears in more than one param group (param group 0 position 0 and param group 1 position 1)',
      );
      expect(() => new SGD([a, a], { lr: 0.1 })).to.throw('SGD: param group 0 lists the same parameter twice (positions 0 and 1)');
      expect(() => new SGD([{ data: [1, 2] } as unknown as Parameter], { lr: 0.1 })).to.throw(
        'SGD: parameter 0 must have a Float32Array or Float64Array data, got an object (param group 0)',
      );
    });

    it('rejects grads that do not match their parameter', () => {
      const a = param('float64', [1, 2], [1, 2, 3]);
      expect(() => new SGD([a], { lr: 0.1 }).step()).to.throw(
        'SGD: the grad of parameter 0 in param group 0 has 3 elements but the parameter has 2',
      );
      const b = param('float64', [1, 2]);
      b.grad = { data: Float32Array.from([1, 2]) };
      expect(() => new SGD([b], { lr: 0.1 }).step()).to.throw(
        'SGD: the grad of parameter 0 in param group 0 is float32 but the parameter is float64',
      );
    });

    it('leaves every parameter of the group untouched when one grad is bad (all checks come first)', () => {
      const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
      const opt = new SGD([a, b], { lr: 0.1, momentum: 0.9 });
      expect(() => opt.step()).to.throw('SGD: the grad of parameter 1 in param group 0 has 2 elements but the parameter has 1');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.stateDict().state[0]?.momentumBuffer, 'no momentum buffer holds a half-done step').to.satisfy(
        (buf: unknown) => buf === undefined || Array.from(buf as Float64Array).every((v) => v === 0));
    });

    it('a failed step starts no momentum buffer: the next step still clones the gradient (no dampening on it)', () => {
      const a = param('float64', [1, 2], [0.5, -0.25]), b = param('float64', [3], [7, 8]);
      const opt = new SGD([a, b], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
      expect(() => opt.step()).to.throw('SGD: the grad of parameter 1 in param group 0 has 2 elements but the parameter has 1');
      expect(opt.state.size, 'no state from the failed step').to.equal(0);
      b.grad = { data: Float64Array.from([2]) };
      opt.step();
      // torch: buf = clone(g) on a parameter's first real step, so p − lr·g.
      expect(Array.from(opt.state.get(a)!.momentumBuffer!)).to.deep.equal([0.5, -0.25]);
      expectClose(a.data, [1 - 0.1 * 0.5, 2 + 0.1 * 0.25], 'float64');
      expectClose(b.data, [3 - 0.1 * 2], 'float64');
    });

    it('re-checks group hyper-parameters written after construction', () => {
      const opt = new SGD([p()], { lr: 0.1 });
      opt.paramGroups[0].lr = -0.5;
      expect(() => opt.step()).to.throw('SGD: lr must be a non-negative number, got -0.5 (param group 0)');
    });

    it('a step that fails in a later param group changes no earlier group either (a retry would step it twice)', () => {
      const a = param('float64', [1, 2], [0.5, 0.5]), b = param('float64', [3], [7, 8]);
      const opt = new SGD([{ params: [a] }, { params: [b] }], { lr: 0.1, momentum: 0.9 });
      expect(() => opt.step()).to.throw('SGD: the grad of parameter 0 in param group 1 has 2 elements but the parameter has 1');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.size, 'no state from the failed step').to.equal(0);
      setGrad(b, [7]);
      opt.paramGroups[1].lr = -1;
      expect(() => opt.step()).to.throw('SGD: lr must be a non-negative number, got -1 (param group 1)');
      expect(Array.from(a.data)).to.deep.equal([1, 2]);
      expect(opt.state.size, 'no state from the failed step').to.equal(0);
    });
  });
});
