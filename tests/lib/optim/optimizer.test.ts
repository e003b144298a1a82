import { expect } from 'chai';
import { allocateShared, dtypeOf, isShared, type DType, type FloatArray } from '../../../lib/core/dtype';
import { Adam, AdamW } from '../../../lib/optim/adam';
import { Optimizer, OptimizerStateDict, Parameter, BaseHyperParams } from '../../../lib/optim/optimizer';
import { SGD, SGDHyperParams } from '../../../lib/optim/sgd';
import { RMSprop } from '../../../lib/optim/rmsprop';
import { Adagrad } from '../../../lib/optim/adagrad';
import { DTYPES, param, setGrad } from '../../support/optim_helpers';
import { Tensor } from '../../../autograd/tensor';
import { tensor, zeros } from '../../../index';

/** A gradient that depends on the parameter and the step, so state really matters. */
function feedGrads(ps: readonly Parameter[], t: number): void {
  ps.forEach((p, j) => setGrad(p, Array.from(p.data, (x, i) => 2 * x + 0.1 * t * (i + 1) - 0.3 * j)));
}

function clone(p: Parameter): Parameter {
  return { data: p.data.slice(), grad: null };
}

type Factory = (ps: Parameter[]) => Optimizer<BaseHyperParams>;

const FACTORIES: Record<string, Factory> = {
  'SGD nesterov': ([a, b]) =>
    new SGD([{ params: [a] }, { params: [b], lr: 0.05, weightDecay: 0 }], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
  'SGD dampening': ([a, b]) => new SGD([a, b], { lr: 0.1, momentum: 0.8, dampening: 0.3 }),
  'Adam amsgrad': ([a, b]) => new Adam([{ params: [a] }, { params: [b], lr: 0.02, betas: [0.8, 0.95] }], { lr: 0.1, amsgrad: true }),
  AdamW: ([a, b]) => new AdamW([a, b], { lr: 0.1, weightDecay: 0.1 }),
  'RMSprop centered momentum': ([a, b]) =>
    new RMSprop([{ params: [a] }, { params: [b], lr: 0.02, centered: false }], { lr: 0.01, momentum: 0.9, centered: true, weightDecay: 0.01 }),
  Adagrad: ([a, b]) => new Adagrad([{ params: [a] }, { params: [b], initialAccumulatorValue: 0.5 }], { lr: 0.1, lrDecay: 0.05 }),
};

function makeParams(dtype: DType): Parameter[] {
  return [param(dtype, [1, -2, 0.5]), param(dtype, [0.3, 0.7])];
}

/** Moves p's storage into shared memory, as Tensor._shareStorage (Module.shareMemory) does. */
function moveToShared(p: Parameter): void {
  const shared = allocateShared(dtypeOf(p.data), p.data.length);
  shared.set(p.data);
  (p as { data: FloatArray }).data = shared;
}

function stateBuffers(o: Optimizer<BaseHyperParams>): FloatArray[] {
  const out: FloatArray[] = [];
  for (const st of o.state.values()) for (const v of Object.values(st)) if (ArrayBuffer.isView(v)) out.push(v as FloatArray);
  return out;
}

describe('lib/optim/optimizer', () => {
  describe('a step bumps the version of every parameter it updates (so stale graphs are refused)', () => {
    for (const [name, make] of Object.entries(FACTORIES)) {
      it(`${name} bumps each updated tensor once per step and leaves a parameter without grad alone`, () => {
        const a = tensor([1, -2, 0.5], { requiresGrad: true });
        const b = tensor([0.3, 0.7], { requiresGrad: true });
        const opt = make([a, b]);
        a.grad = tensor([0.1, 0.2, 0.3]);
        opt.step();
        expect([a._version, b._version]).to.deep.equal([1, 0]);
        b.grad = tensor([1, 1]);
        opt.step();
        expect([a._version, b._version]).to.deep.equal([2, 1]);
      });
    }

    it('zeroGrad(false) bumps the version of each gradient it zero-fills; plain { data } parameters need no hook', () => {
      const a = tensor([1, 2], { requiresGrad: true });
      const opt = new SGD([a, param('float32', [1], [1])], { lr: 0.1 });
      a.grad = tensor([3, 4]);
      opt.zeroGrad(false);
      expect(a.grad._version).to.equal(1);
      expect(a._version).to.equal(0);
      opt.step();
      expect(a._version).to.equal(1);
    });
  });

  describe('state follows its parameter into shared memory', () => {
    for (const dtype of DTYPES) {
      for (const [label, make] of Object.entries(FACTORIES)) {
        it(`${label} (${dtype}): moves its buffers at the next step and continues bit for bit`, () => {
          const ps = makeParams(dtype);
          const qs = ps.map(clone);
          const a = make(ps);
          const b = make(qs);
          for (let t = 1; t <= 3; t++) {
            feedGrads(ps, t);
            feedGrads(qs, t);
            a.step();
            b.step();
          }
          expect(ps.every((p) => !isShared(p.data))).to.equal(true);
          expect(stateBuffers(a).length).to.be.greaterThan(0);
          expect(stateBuffers(a).every((v) => !isShared(v))).to.equal(true);
          ps.forEach(moveToShared);
          for (let t = 4; t <= 6; t++) {
            feedGrads(ps, t);
            feedGrads(qs, t);
            a.step();
            b.step();
          }
          expect(stateBuffers(a).every((v) => isShared(v))).to.equal(true);
          expect(stateBuffers(b).every((v) => !isShared(v))).to.equal(true);
          ps.forEach((p, j) => expect(Array.from(p.data), `param ${j}`).to.deep.equal(Array.from(qs[j].data)));
          // A parameter made in shared memory gets its state there from the first step.
          const rs = makeParams(dtype);
          rs.forEach(moveToShared);
          const c = make(rs);
          feedGrads(rs, 1);
          c.step();
          expect(stateBuffers(c).length).to.be.greaterThan(0);
          expect(stateBuffers(c).every((v) => isShared(v))).to.equal(true);
        });
      }
    }
  });

  describe('stateDict / loadStateDict', () => {
    for (const dtype of DTYPES) {
      for (const [label, make] of Object.entries(FACTORIES)) {
        it(`${label} (${dtype}): save after 3 steps, load into a fresh optimizer, continue bit for bit`, () => {
          const ps = makeParams(dtype);
          const a = make(ps);
          for (let t = 1; t <= 3; t++) {
            feedGrads(ps, t);
            a.step();
          }
          const sd = a.stateDict();
          expect(sd.paramGroups.map((g) => g.params)).to.deep.equal(a.paramGroups.length === 2 ? [[0], [1]] : [[0, 1]]);
          expect(Object.keys(sd.state)).to.deep.equal(['0', '1']);

          // Same parameter values, fresh optimizer whose hyper-parameters differ until loaded.
          const qs = ps.map(clone);
          const b = make(qs);
          b.paramGroups.forEach((g) => {
            g.lr = 123;
          });
          b.loadStateDict(sd);
          expect(b.paramGroups.map((g) => g.lr)).to.deep.equal(a.paramGroups.map((g) => g.lr));
          // The state dict was copied in: scribbling on it afterwards changes nothing.
          for (const st of Object.values(sd.state)) {
            for (const v of Object.values(st)) if (v instanceof Float32Array || v instanceof Float64Array) v.fill(999);
          }
          // Control: without the saved state the run diverges, so the comparison below means something.
          const rs = ps.map(clone);
          const c = make(rs);

          for (let t = 4; t <= 7; t++) {
            feedGrads(ps, t);
            feedGrads(qs, t);
            feedGrads(rs, t);
            a.step();
            b.step();
            c.step();
          }
          ps.forEach((p, j) => expect(Array.from(qs[j].data), `param ${j}`).to.deep.equal(Array.from(p.data)));
          expect(Array.from(rs[0].data)).to.not.deep.equal(Array.from(ps[0].data));
        });
      }
    }

    it('copies buffers out and keeps everything else JSON-serialisable', () => {
      const p = param('float64', [1, 2], [0.5, -1]);
      const opt = new Adam([p], { lr: 0.1, betas: [0.8, 0.99] });
      opt.step();
      const sd = opt.stateDict();
      const live = opt.state.get(p);
      expect(sd.state[0].expAvg).to.not.equal(live?.expAvg);
      expect(Array.from(sd.state[0].expAvg ?? [])).to.deep.equal(Array.from(live?.expAvg ?? []));
      expect(sd.state[0].step).to.equal(1);
      expect(JSON.parse(JSON.stringify(sd.paramGroups))).to.deep.equal([
        { lr: 0.1, betas: [0.8, 0.99], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, params: [0] },
      ]);
      sd.paramGroups[0].betas[0] = 0.1;
      expect(opt.paramGroups[0].betas[0]).to.equal(0.8);
    });

    describe('validation', () => {
      function trained(): { opt: SGD; sd: OptimizerStateDict<SGDHyperParams> } {
        const a = param('float64', [1, 2], [1, 1]);
        const b = param('float64', [3], [1]);
        const opt = new SGD([{ params: [a] }, { params: [b] }], { lr: 0.1, momentum: 0.9 });
        opt.step();
        return { opt, sd: opt.stateDict() };
      }
      const fresh = (): SGD =>
        new SGD([{ params: [param('float64', [0, 0])] }, { params: [param('float64', [0])] }], { lr: 0.5, momentum: 0.9 });

      it('checks group and parameter counts', () => {
        const { sd } = trained();
        const one = new SGD([param('float64', [0, 0]), param('float64', [0])], { lr: 0.1, momentum: 0.9 });
        expect(() => one.loadStateDict(sd)).to.throw('SGD: loadStateDict: the state dict has 2 param groups but the optimizer has 1');
        const other = new SGD([{ params: [param('float64', [0, 0]), param('float64', [0])] }, { params: [param('float64', [0])] }], {
          lr: 0.1,
          momentum: 0.9,
        });
        expect(() => other.loadStateDict(sd)).to.throw(
          'SGD: loadStateDict: param group 0 has 1 parameters in the state dict but 2 in the optimizer',
        );
      });

      it('checks buffer lengths and dtypes', () => {
        const { sd } = trained();
        sd.state[0].momentumBuffer = new Float64Array(5);
        expect(() => fresh().loadStateDict(sd)).to.throw(
          'SGD: loadStateDict: state of parameter 0: momentumBuffer has 5 elements but the parameter has 2',
        );
        sd.state[0].momentumBuffer = new Float32Array(2);
        expect(() => fresh().loadStateDict(sd)).to.throw(
          'SGD: loadStateDict: state of parameter 0: momentumBuffer is float32 but the parameter is float64',
        );
      });

      it('rejects state and hyper-parameters that belong to another optimizer', () => {
        const p = param('float64', [1, 2], [1, 1]);
        const adam = new Adam([p]);
        adam.step();
        const sgd = new SGD([param('float64', [0, 0])], { lr: 0.1 });
        expect(() => sgd.loadStateDict(adam.stateDict() as unknown as OptimizerStateDict<SGDHyperParams>)).to.throw(
          "SGD: loadStateDict: param group 0 has an unknown key 'betas'",
        );
        const { sd } = trained();
        (sd.state[0] as Record<string, unknown>).expAvg = new Float64Array(2);
        expect(() => fresh().loadStateDict(sd)).to.throw(
          "SGD: loadStateDict: state of parameter 0 has an unknown entry 'expAvg' (SGD keeps momentumBuffer)",
        );
        const adamSd = adam.stateDict();
        delete adamSd.state[0].expAvgSq;
        expect(() => new Adam([param('float64', [0, 0])]).loadStateDict(adamSd)).to.throw(
          "Adam: loadStateDict: state of parameter 0 is missing 'expAvgSq'",
        );
      });

      it('rejects unknown indices, bad hyper-parameters and missing keys, changing nothing', () => {
        const { sd } = trained();
        const target = fresh();
        (sd.state as Record<number, unknown>)[7] = { momentumBuffer: new Float64Array(1) };
        expect(() => target.loadStateDict(sd)).to.throw('SGD: loadStateDict: state has an entry for parameter index 7, which no param group lists');
        delete (sd.state as Record<number, unknown>)[7];
        sd.paramGroups[1].lr = -1;
        expect(() => target.loadStateDict(sd)).to.throw('SGD: lr must be a non-negative number, got -1 (state dict param group 1)');
        sd.paramGroups[1].lr = 0.1;
        delete (sd.paramGroups[0] as Partial<SGDHyperParams>).dampening;
        expect(() => target.loadStateDict(sd)).to.throw("SGD: loadStateDict: param group 0 is missing 'dampening'");
        expect(target.paramGroups.map((g) => g.lr)).to.deep.equal([0.5, 0.5]);
        expect(target.state.size).to.equal(0);
      });
    });
  });

  describe('parameters must be updatable in place (leaf tensors that own their storage)', () => {
    const makers: Record<string, (ps: Tensor[]) => Optimizer<BaseHyperParams>> = {
      SGD: (ps) => new SGD(ps, { lr: 1 }),
      Adam: (ps) => new Adam(ps),
      AdamW: (ps) => new AdamW(ps),
    };
    for (const [name, make] of Object.entries(makers)) {
      it(`${name} rejects a non-leaf tensor, naming its position and shape`, () => {
        const a = tensor([[1, 2], [3, 4]], { requiresGrad: true });
        const ok = tensor([5], { requiresGrad: true });
        expect(() => make([ok, a.mul(2)])).to.throw(
          `${name}: can't optimize a non-leaf tensor: parameter 1 of shape [2,2] (param group 0) is the result of an op`,
        );
      });

      it(`${name} rejects a view instead of updating a copy: a transposed tensor and a slice`, () => {
        const a = tensor([[1, 2], [3, 4]], { requiresGrad: true });
        const v = a.t();
        v.retainGrad();
        v.sum().backward();
        // a.t() is recorded, so it is a non-leaf; detached it is a leaf whose data is a copy.
        expect(() => make([v])).to.throw(`${name}: can't optimize a non-leaf tensor: parameter 0 of shape [2,2] (param group 0)`);
        expect(() => make([a.detach().t().requiresGrad_()])).to.throw(
          `${name}: can't optimize a view: parameter 0 of shape [2,2] (param group 0) is a non-contiguous view, whose data is a copy`,
        );
        expect(() => make([zeros([6]).narrow(0, 1, 2).requiresGrad_()])).to.throw(
          `${name}: can't optimize a view: parameter 0 of shape [2] (param group 0) is a view of part of a larger storage`,
        );
        expect(Array.from(a.data)).to.deep.equal([1, 2, 3, 4]);
      });
    }

    it('accepts leaves that own their storage (a reshape covering all of it included) and updates them in place', () => {
      const a = tensor([[1, 2], [3, 4]], { requiresGrad: true });
      const b = zeros([2, 3]).reshape([6]).requiresGrad_();
      const opt = new SGD([a, b], { lr: 1 });
      a.sum().backward();
      b.sum().backward();
      opt.step();
      expect(Array.from(a.data)).to.deep.equal([0, 1, 2, 3]);
      expect(Array.from(b.data)).to.deep.equal([-1, -1, -1, -1, -1, -1]);
    });

    it('addParamGroup applies the same checks and leaves the optimizer unchanged on failure', () => {
      const a = tensor([1, 2], { requiresGrad: true });
      const opt = new SGD([a], { lr: 0.1 });
      const b = tensor([3, 4, 5], { requiresGrad: true });
      expect(() => opt.addParamGroup({ params: [b, b.mul(3)] })).to.throw(
        "SGD: can't optimize a non-leaf tensor: parameter 1 of shape [3] (param group 1) is the result of an op",
      );
      expect(() => opt.addParamGroup({ params: [zeros([2, 2]).t().requiresGrad_()] })).to.throw(
        "SGD: can't optimize a view: parameter 0 of shape [2,2] (param group 1)",
      );
      expect(opt.paramGroups.length).to.equal(1);
      opt.addParamGroup({ params: [b] }); // b was not registered by the failed call
      expect(opt.paramGroups.length).to.equal(2);
    });

    it('zeroGrad(false) rejects a non-contiguous grad (zero-filling its copy would change nothing), changing no grad', () => {
      const a = tensor([1, 2], { requiresGrad: true });
      const b = tensor([[1, 2], [3, 4]], { requiresGrad: true });
      const opt = new SGD([a, b], { lr: 0.1 });
      a.grad = tensor([7, 8]);
      b.grad = tensor([[1, 2], [3, 4]]).t();
      expect(() => opt.zeroGrad(false)).to.throw(
        'SGD: zeroGrad: the grad of parameter 1 in param group 0 is a non-contiguous view, which cannot be changed in place',
      );
      expect(Array.from(a.grad.data)).to.deep.equal([7, 8]);
      b.grad = b.grad.contiguous();
      opt.zeroGrad(false);
      expect(Array.from(b.grad.data)).to.deep.equal([0, 0, 0, 0]);
    });
  });
});
