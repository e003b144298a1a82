import { expect } from 'chai';
import type { DType } from '../../../lib/core/dtype';
import { Adadelta } from '../../../lib/optim/adadelta';
import { Adamax } from '../../../lib/optim/adamax';
import { NAdam } from '../../../lib/optim/nadam';
import { BaseHyperParams, Optimizer, Parameter } from '../../../lib/optim/optimizer';
import { RAdam } from '../../../lib/optim/radam';
import * as T from '../../../index';
import { DTYPES, expectClose, param, setGrad } from '../../support/optim_helpers';
import { refOps, Vec, within32 } from '../../support/optim_ref';

type GradFn = (p: readonly number[], t: number) => number[];
type Hyper = Record<string, unknown>;
type AnyOpt = Optimizer<BaseHyperParams>;

/** A gradient that varies with the step and the parameter, so every buffer matters. */
const wobble: GradFn = (p, t) => p.map((x, i) => 2 * x + 0.7 * Math.sin(1.3 * t + i) - 0.2 * i);

const zerosLike = (a: readonly number[]): Vec => a.map(() => 0);

// ---- references: torch 1.13's documented algorithms, one reference op per formula line ---------
// Each returns the parameters after every step. Float64 runs in double; float32 rounds every
// tensor result (refOps), so float32 agreement is to a few float32 ulps.

/**
 * NAdam (torch 1.13 docs): μ_t = β1(1 − ½·0.96^(tψ)), m̂ = μ_{t+1}·m/(1 − Π_{i≤t+1}μ_i) +
 * (1 − μ_t)·g/(1 − Π_{i≤t}μ_i), v̂ = v/(1 − β2^t), θ −= γ·m̂/(√v̂ + ε). `muF32`: keep Π μ_i as torch
 * 1.13 keeps it, in a float32 tensor (torch.tensor(1.)); false: the exact (double) product.
 */
function nadamRef(p0: readonly number[], grads: GradFn, steps: number, h: Hyper, dtype: DType, muF32 = true): number[][] {
  const o = refOps(dtype), r = o.r;
  const lr = h.lr as number, [b1, b2] = h.betas as [number, number], eps = h.eps as number;
  const wd = h.weightDecay as number, psi = h.momentumDecay as number;
  let p: Vec = p0.map(r), m = zerosLike(p0), v = zerosLike(p0), prod = 1;
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    let g: Vec = grads(p, t).map(r);
    if (wd !== 0) g = o.add(g, p, wd);
    const mu = b1 * (1 - 0.5 * Math.pow(0.96, t * psi));
    const muNext = b1 * (1 - 0.5 * Math.pow(0.96, (t + 1) * psi));
    prod = muF32 ? Math.fround(prod * Math.fround(mu)) : prod * mu;
    const prodNext = prod * muNext;
    m = o.add(o.mul(m, b1), g, 1 - b1);
    v = o.addcmul(o.mul(v, b2), g, g, 1 - b2);
    const denom = o.addScalar(o.sqrt(v.map((x) => r(x / r(1 - Math.pow(b2, t))))), eps);
    // θ − γ·(1 − μ)/(1 − Π_t)·g/denom − γ·μnext/(1 − Π_{t+1})·m/denom, as two addcdivs.
    p = o.addcdiv(p, g, denom, (-lr * (1 - mu)) / (1 - prod));
    p = o.addcdiv(p, m, denom, (-lr * muNext) / (1 - prodNext));
    out.push(p.slice());
  }
  return out;
}

/**
 * RAdam (torch 1.13 docs): ρ∞ = 2/(1 − β2) − 1, ρ_t = ρ∞ − 2tβ2^t/(1 − β2^t); if ρ_t > 5:
 * l = √(1 − β2^t)/(√v + ε), r = √((ρ_t−4)(ρ_t−2)ρ∞/((ρ∞−4)(ρ∞−2)ρ_t)), θ −= γ·m̂·r·l; else θ −= γ·m̂.
 */
function radamRef(p0: readonly number[], grads: GradFn, steps: number, h: Hyper, dtype: DType): number[][] {
  const o = refOps(dtype), r = o.r;
  const lr = h.lr as number, [b1, b2] = h.betas as [number, number], eps = h.eps as number, wd = h.weightDecay as number;
  let p: Vec = p0.map(r), m = zerosLike(p0), v = zerosLike(p0);
  const out: number[][] = [];
  const rhoInf = 2 / (1 - b2) - 1;
  for (let t = 1; t <= steps; t++) {
    let g: Vec = grads(p, t).map(r);
    if (wd !== 0) g = o.add(g, p, wd);
    m = o.add(o.mul(m, b1), g, 1 - b1);
    v = o.addcmul(o.mul(v, b2), g, g, 1 - b2);
    const mHat = m.map((x) => r(x / r(1 - Math.pow(b1, t))));
    const rhoT = rhoInf - (2 * t * Math.pow(b2, t)) / (1 - Math.pow(b2, t));
    if (rhoT > 5) {
      const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
      const l = v.map((x) => r(r(Math.sqrt(1 - Math.pow(b2, t))) / r(r(Math.sqrt(x)) + r(eps))));
      p = p.map((x, i) => r(x - r(r(lr) * mHat[i] * r(rect) * l[i])));
    } else {
      p = p.map((x, i) => r(x - r(r(lr) * mHat[i])));
    }
    out.push(p.slice());
  }
  return out;
}

/** Adamax (torch 1.13 docs): m = β1m + (1 − β1)g, u = max(β2u, |g| + ε), θ −= γ/(1 − β1^t)·m/u. */
function adamaxRef(p0: readonly number[], grads: GradFn, steps: number, h: Hyper, dtype: DType): number[][] {
  const o = refOps(dtype), r = o.r;
  const lr = h.lr as number, [b1, b2] = h.betas as [number, number], eps = h.eps as number, wd = h.weightDecay as number;
  let p: Vec = p0.map(r), m = zerosLike(p0), u = zerosLike(p0);
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    let g: Vec = grads(p, t).map(r);
    if (h.maximize) g = o.neg(g);
    if (wd !== 0) g = o.add(g, p, wd);
    m = o.add(o.mul(m, b1), g, 1 - b1);
    u = u.map((x, i) => Math.max(r(x * r(b2)), r(Math.abs(g[i]) + r(eps))));
    p = o.addcdiv(p, m, u, -lr / (1 - Math.pow(b1, t)));
    out.push(p.slice());
  }
  return out;
}

/**
 * Adadelta (torch 1.13 docs): v = ρv + (1 − ρ)g², Δ = √(u + ε)/√(v + ε)·g, u = ρu + (1 − ρ)Δ²,
 * θ −= γΔ.
 */
function adadeltaRef(p0: readonly number[], grads: GradFn, steps: number, h: Hyper, dtype: DType): number[][] {
  const o = refOps(dtype), r = o.r;
  const lr = h.lr as number, rho = h.rho as number, eps = h.eps as number, wd = h.weightDecay as number;
  let p: Vec = p0.map(r), v = zerosLike(p0), u = zerosLike(p0);
  const out: number[][] = [];
  for (let t = 1; t <= steps; t++) {
    let g: Vec = grads(p, t).map(r);
    if (h.maximize) g = o.neg(g);
    if (wd !== 0) g = o.add(g, p, wd);
    v = o.addcmul(o.mul(v, rho), g, g, 1 - rho);
    const std = o.sqrt(o.addScalar(v, eps));
    const delta = o.sqrt(o.addScalar(u, eps)).map((x, i) => r(r(x / std[i]) * g[i]));
    u = o.addcmul(o.mul(u, rho), delta, delta, 1 - rho);
    p = o.add(p, delta, -lr);
    out.push(p.slice());
  }
  return out;
}

// ---- the table -------------------------------------------------------------------------------

interface Spec {
  name: string;
  make(params: Iterable<Parameter> | Iterable<Record<string, unknown>>, options?: Hyper): AnyOpt;
  defaults: Hyper;
  ref(p0: readonly number[], grads: GradFn, steps: number, h: Hyper, dtype: DType): number[][];
  configs: Record<string, Hyper>;
  stateKeys: string[];
  /** Options that must be rejected, each with the option name the message must give. */
  bad: [Hyper, string][];
  /** Options for the state dict and param group tests, one per group. */
  groupA: Hyper;
  groupB: Hyper;
}

const SPECS: Spec[] = [
  {
    name: 'NAdam',
    make: (ps, o) => new NAdam(ps as never, o as never) as unknown as AnyOpt,
    defaults: { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, momentumDecay: 4e-3 },
    ref: nadamRef,
    configs: {
      plain: { lr: 0.01 },
      'weight decay': { lr: 0.01, weightDecay: 0.1 },
      'betas, momentumDecay, eps, weight decay': { lr: 0.02, betas: [0.8, 0.95], momentumDecay: 0.05, eps: 1e-3, weightDecay: 0.05 },
    },
    stateKeys: ['expAvg', 'expAvgSq', 'muProduct', 'step'],
    bad: [
      [{ lr: -1 }, 'lr'], [{ eps: -1e-8 }, 'eps'], [{ weightDecay: -0.1 }, 'weightDecay'], [{ momentumDecay: -1 }, 'momentumDecay'],
      [{ betas: [1, 0.999] }, 'betas\\[0\\]'], [{ betas: [0.9, -0.1] }, 'betas\\[1\\]'], [{ betas: [0.9] }, 'betas'],
      [{ momentum_decay: 0.1 }, "unknown option 'momentum_decay' \\(did you mean 'momentumDecay'\\?\\)"],
      [{ maximize: true }, "unknown option 'maximize'"],
    ],
    groupA: { lr: 0.01 },
    groupB: { lr: 0.03, betas: [0.5, 0.9], weightDecay: 0.1, momentumDecay: 0.1 },
  },
  {
    name: 'RAdam',
    make: (ps, o) => new RAdam(ps as never, o as never) as unknown as AnyOpt,
    defaults: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
    ref: radamRef,
    configs: {
      // β2 = 0.999: steps 1–5 unrectified, 6–8 rectified (ρ_6 ≈ 5.994).
      plain: { lr: 0.01 },
      'weight decay': { lr: 0.01, weightDecay: 0.1 },
      // β2 = 0.9: ρ∞ = 19, ρ_t > 5 from step 2 on.
      'β2 0.9, eps, weight decay': { lr: 0.02, betas: [0.8, 0.9], eps: 1e-3, weightDecay: 0.05 },
    },
    stateKeys: ['expAvg', 'expAvgSq', 'step'],
    bad: [
      [{ lr: -1 }, 'lr'], [{ eps: -1 }, 'eps'], [{ weightDecay: -1 }, 'weightDecay'], [{ betas: [0.9, 1] }, 'betas\\[1\\]'],
      [{ betas: [-0.5, 0.9] }, 'betas\\[0\\]'], [{ weight_decay: 0.1 }, "unknown option 'weight_decay'"],
      [{ decoupledWeightDecay: true }, "unknown option 'decoupledWeightDecay'"],
    ],
    groupA: { lr: 0.01 },
    groupB: { lr: 0.05, betas: [0.7, 0.9], weightDecay: 0.1 },
  },
  {
    name: 'Adamax',
    make: (ps, o) => new Adamax(ps as never, o as never) as unknown as AnyOpt,
    defaults: { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maximize: false },
    ref: adamaxRef,
    configs: {
      plain: { lr: 0.01 },
      'weight decay': { lr: 0.01, weightDecay: 0.1 },
      'betas, eps, weight decay, maximize': { lr: 0.02, betas: [0.8, 0.5], eps: 0.3, weightDecay: 0.05, maximize: true },
    },
    stateKeys: ['expAvg', 'expInf', 'step'],
    bad: [
      [{ lr: -1 }, 'lr'], [{ eps: -1 }, 'eps'], [{ weightDecay: -1 }, 'weightDecay'], [{ betas: [0.9, 1.5] }, 'betas\\[1\\]'],
      [{ maximize: 1 }, 'maximize'], [{ beta1: 0.9 }, "unknown option 'beta1'"],
    ],
    groupA: { lr: 0.01 },
    groupB: { lr: 0.05, betas: [0.5, 0.8], weightDecay: 0.1, maximize: true },
  },
  {
    name: 'Adadelta',
    make: (ps, o) => new Adadelta(ps as never, o as never) as unknown as AnyOpt,
    defaults: { lr: 1.0, rho: 0.9, eps: 1e-6, weightDecay: 0, maximize: false },
    ref: adadeltaRef,
    configs: {
      plain: {},
      'weight decay': { weightDecay: 0.1 },
      'lr, rho, eps, weight decay, maximize': { lr: 0.5, rho: 0.5, eps: 1e-2, weightDecay: 0.05, maximize: true },
    },
    stateKeys: ['accDelta', 'squareAvg', 'step'],
    bad: [
      [{ lr: -1 }, 'lr'], [{ rho: 1.5 }, 'rho must be in \\[0, 1\\]'], [{ rho: -0.1 }, 'rho'], [{ eps: -1 }, 'eps'],
      [{ weightDecay: -1 }, 'weightDecay'], [{ maximize: 'yes' }, 'maximize'], [{ weight_decay: 0 }, "unknown option 'weight_decay'"],
    ],
    groupA: { lr: 1.0 },
    groupB: { lr: 0.3, rho: 0.6, eps: 1e-3, weightDecay: 0.1, maximize: true },
  },
];

function run(opt: { step(): void }, p: Parameter, grads: GradFn, steps: number, from = 1): number[][] {
  const out: number[][] = [];
  for (let t = from; t < from + steps; t++) {
    setGrad(p, grads(Array.from(p.data), t));
    opt.step();
    out.push(Array.from(p.data));
  }
  return out;
}

function compare(got: number[][], want: number[][], dtype: DType, what: string, p0: readonly number[]): void {
  expect(got.length).to.equal(want.length);
  want.forEach((e, t) => {
    if (dtype === 'float64') expectClose(got[t], e, dtype, `${what} step ${t + 1}`);
    else within32(got[t], e, 4, `${what} step ${t + 1}`, p0);
  });
}

const STEPS = 8;

describe('lib/optim: NAdam, RAdam, Adamax, Adadelta', () => {
  it('are exported from optim and at the top level', () => {
    expect(T.NAdam).to.equal(NAdam);
    expect(T.RAdam).to.equal(RAdam);
    expect(T.Adamax).to.equal(Adamax);
    expect(T.Adadelta).to.equal(Adadelta);
    expect(T.optim.NAdam).to.equal(NAdam);
    expect(T.optim.Adadelta).to.equal(Adadelta);
  });

  for (const spec of SPECS) {
    describe(spec.name, () => {
      it(`has torch 1.13's defaults: ${JSON.stringify(spec.defaults)}`, () => {
        const opt = spec.make([param('float64', [1])]);
        expect({ ...opt.paramGroups[0], params: undefined }).to.deep.equal({ ...spec.defaults, params: undefined });
        expect(opt.name).to.equal(spec.name);
      });

      for (const dtype of DTYPES) {
        describe(dtype, () => {
          for (const [label, cfg] of Object.entries(spec.configs)) {
            it(`${label}: ${STEPS} steps follow torch 1.13's algorithm${dtype === 'float32' ? ' to float32 rounding' : ''}`, () => {
              const h = { ...spec.defaults, ...cfg };
              const p0 = [1, -2, 0.5, 0.25, -0.75];
              const p = param(dtype, p0);
              const opt = spec.make([p], cfg);
              const got = run(opt, p, wobble, STEPS);
              compare(got, spec.ref(p0, wobble, STEPS, h, dtype), dtype, label, p0);
              expect(opt.state.get(p)?.step).to.equal(STEPS);
              expect(Object.keys(opt.state.get(p)!).sort()).to.deep.equal(spec.stateKeys);
              // Weight decay (or its absence) matters: the reference with the other setting lands elsewhere.
              const other = spec.ref(p0, wobble, STEPS, { ...h, weightDecay: h.weightDecay === 0 ? 0.3 : 0 }, dtype);
              expect(Math.abs(other[STEPS - 1][0] - got[STEPS - 1][0])).to.be.greaterThan(1e-5);
            });
          }

          it('two param groups keep their own hyper-parameters (and a parameter without grad is skipped)', () => {
            const w0 = [1, -2, 0.3], b0 = [0.5, -0.25];
            const w = param(dtype, w0), b = param(dtype, b0), idle = param(dtype, [7]);
            const opt = spec.make([{ params: [w, idle] }, { params: [b], ...spec.groupB }], spec.groupA);
            const gotW: number[][] = [], gotB: number[][] = [];
            for (let t = 1; t <= STEPS; t++) {
              setGrad(w, wobble(Array.from(w.data), t));
              setGrad(b, wobble(Array.from(b.data), t));
              opt.step();
              gotW.push(Array.from(w.data));
              gotB.push(Array.from(b.data));
            }
            compare(gotW, spec.ref(w0, wobble, STEPS, { ...spec.defaults, ...spec.groupA }, dtype), dtype, 'w', w0);
            compare(gotB, spec.ref(b0, wobble, STEPS, { ...spec.defaults, ...spec.groupA, ...spec.groupB }, dtype), dtype, 'b', b0);
            expect(Array.from(idle.data)).to.deep.equal([7]);
            expect(opt.state.has(idle)).to.equal(false);
          });
        });
      }

      it('state dict: torch\'s keys in camelCase, and a round trip (through JSON for the scalars) continues bit for bit', () => {
        for (const dtype of DTYPES) {
          const w = param(dtype, [1, -2, 0.5]), b = param(dtype, [0.25, -0.75]);
          const a = spec.make([{ params: [w] }, { params: [b], ...spec.groupB }], spec.groupA);
          for (let t = 1; t <= 3; t++) {
            setGrad(w, wobble(Array.from(w.data), t));
            setGrad(b, wobble(Array.from(b.data), t));
            a.step();
          }
          const sd = a.stateDict();
          expect(Object.keys(sd.state).sort()).to.deep.equal(['0', '1']);
          expect(Object.keys(sd.state[0]).sort()).to.deep.equal(spec.stateKeys);
          expect(sd.state[1].step).to.equal(3);
          expect(sd.paramGroups[1]).to.deep.include({ ...spec.defaults, ...spec.groupA, ...spec.groupB, params: [1] });
          // The hyper-parameters and scalar state survive JSON; buffers are typed arrays.
          const groups = JSON.parse(JSON.stringify(sd.paramGroups));
          const state: typeof sd.state = {};
          for (const [k, st] of Object.entries(sd.state)) state[Number(k)] = { ...st, ...JSON.parse(JSON.stringify({ step: st.step, muProduct: st.muProduct })) };
          const w2 = param(dtype, Array.from(w.data)), b2 = param(dtype, Array.from(b.data));
          const c = spec.make([{ params: [w2] }, { params: [b2] }], { lr: 0.5 });
          c.loadStateDict({ state, paramGroups: groups });
          expect(c.paramGroups[1]).to.deep.include({ ...spec.defaults, ...spec.groupA, ...spec.groupB });
          for (let t = 4; t <= 7; t++) {
            for (const [p, q] of [[w, w2], [b, b2]]) {
              const g = wobble(Array.from(p.data), t);
              setGrad(p, g);
              setGrad(q, g);
            }
            a.step();
            c.step();
          }
          expect(Array.from(w2.data)).to.deep.equal(Array.from(w.data));
          expect(Array.from(b2.data)).to.deep.equal(Array.from(b.data));
          expect(c.state.get(b2)?.step).to.equal(7);
          // The loaded state is a copy: stepping c did not write into sd.
          expect(sd.state[0].step).to.equal(3);
        }
      });

      it(`rejects bad options, naming ${spec.name} and the option`, () => {
        for (const [opts, what] of spec.bad) {
          expect(() => spec.make([param('float64', [1])], opts), JSON.stringify(opts)).to.throw(new RegExp(`^${spec.name}: .*${what}`));
        }
        // The same checks per param group, naming the group.
        const [opts, what] = spec.bad[0];
        expect(() => spec.make([{ params: [param('float64', [1])] }, { params: [param('float64', [2])], ...opts }]))
          .to.throw(new RegExp(`^${spec.name}: .*${what}.*\\(param group 1\\)`));
      });

      it('a step after a group\'s option was set out of range changes nothing, in any group', () => {
        const a = param('float64', [1, 2], [0.5, -0.5]), b = param('float64', [3], [1]);
        const opt = spec.make([{ params: [a] }, { params: [b] }]);
        opt.paramGroups[1].lr = -0.1;
        expect(() => opt.step()).to.throw(new RegExp(`^${spec.name}: lr must be a non-negative number, got -0.1 \\(param group 1\\)`));
        expect(Array.from(a.data)).to.deep.equal([1, 2]);
        expect(opt.state.size).to.equal(0);
      });

      it('loadStateDict rejects a state missing an entry, or with a foreign one', () => {
        const p = param('float64', [1, 2], [0.5, -0.5]);
        const opt = spec.make([p]);
        opt.step();
        const sd = opt.stateDict();
        for (const key of spec.stateKeys) {
          const st = { ...sd.state[0] } as Record<string, unknown>;
          delete st[key];
          expect(() => opt.loadStateDict({ state: { 0: st }, paramGroups: sd.paramGroups } as never))
            .to.throw(new RegExp(`^${spec.name}: loadStateDict: state of parameter 0 is missing '${key}'`));
        }
        const foreign = { ...sd.state[0], sum: new Float64Array(2) };
        expect(() => opt.loadStateDict({ state: { 0: foreign }, paramGroups: sd.paramGroups }))
          .to.throw(new RegExp(`^${spec.name}: loadStateDict: state of parameter 0 has an unknown entry 'sum'`));
        expect(opt.state.get(p)?.step).to.equal(1);
      });
    });
  }

  // ---- hand-computed first steps and formula details -------------------------------------------

  for (const dtype of DTYPES) {
    describe(dtype, () => {
      it('NAdam first step: μ1 = β1(1 − ½·0.96^ψ), μ2 likewise, from m = (1 − β1)g and v = (1 − β2)g²', () => {
        const gs = [0.5, -2, 1e-3];
        const p = param(dtype, [1, -1, 0.5], gs);
        const opt = new NAdam([p], { lr: 0.1, betas: [0.9, 0.99], momentumDecay: 0.5 });
        opt.step();
        const mu1 = 0.9 * (1 - 0.5 * 0.96 ** 0.5), mu2 = 0.9 * (1 - 0.5 * 0.96 ** 1);
        // √(v/(1 − β2)) = |g|: the update is γ·g/(|g| + ε)·[(1 − μ1)/(1 − μ1) + μ2·0.1/(1 − μ1μ2)].
        const want = [1, -1, 0.5].map((x, i) => {
          const g = gs[i], d = Math.abs(g) + 1e-8;
          return x - 0.1 * (g / d) - (0.1 * mu2 * 0.1 * g) / ((1 - mu1 * mu2) * d);
        });
        // μ1's product is a float32 (torch.tensor(1.)): about 1e-7 relative in 1 − μ1μ2.
        const rtol = 2e-7;
        want.forEach((w, i) => expect(Math.abs(p.data[i] - w), `[${i}]`).to.be.at.most(rtol * Math.abs(w)));
        expect(opt.state.get(p)?.muProduct).to.equal(Math.fround(mu1));
      });

      it('RAdam while ρ_t ≤ 5 is SGD with bias-corrected momentum: first step p − lr·g', () => {
        const gs = [0.5, -2, 1e-3];
        const p = param(dtype, [1, -1, 0.5], gs);
        new RAdam([p], { lr: 0.1 }).step();
        expectClose(p.data, [1 - 0.05, -1 + 0.2, 0.5 - 1e-4], dtype);
      });

      it('Adamax first step: p − lr·g/(|g| + eps), and expInf = |g| + eps', () => {
        const gs = [0.5, -2, 1e-3];
        const p = param(dtype, [1, -1, 0.5], gs);
        const opt = new Adamax([p], { lr: 0.1, eps: 1e-3 });
        opt.step();
        expectClose(p.data, [1, -1, 0.5].map((x, i) => x - (0.1 * gs[i]) / (Math.abs(gs[i]) + 1e-3)), dtype);
        expectClose(opt.state.get(p)!.expInf!, gs.map((g) => Math.abs(g) + 1e-3), dtype, 'expInf');
      });

      it('Adadelta first step: Δ = √eps/√((1 − ρ)g² + eps)·g, p − lr·Δ, accDelta = (1 − ρ)Δ²', () => {
        const gs = [0.5, -2, 1e-3];
        const p = param(dtype, [1, -1, 0.5], gs);
        const opt = new Adadelta([p], { lr: 0.5, rho: 0.75, eps: 1e-2 });
        opt.step();
        const delta = gs.map((g) => (Math.sqrt(1e-2) / Math.sqrt(0.25 * g * g + 1e-2)) * g);
        expectClose(p.data, [1, -1, 0.5].map((x, i) => x - 0.5 * delta[i]), dtype);
        expectClose(opt.state.get(p)!.accDelta!, delta.map((d) => 0.25 * d * d), dtype, 'accDelta');
        expectClose(opt.state.get(p)!.squareAvg!, gs.map((g) => 0.25 * g * g), dtype, 'squareAvg');
      });
    });
  }

  it('NAdam float64 follows the documented formula with exact μ products to the float32 rounding of muProduct', () => {
    const p0 = [1, -2, 0.5, 0.25, -0.75];
    const h = { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, momentumDecay: 4e-3 };
    const p = param('float64', p0);
    const got = run(new NAdam([p], { lr: 0.01, weightDecay: 0.1 }), p, wobble, STEPS);
    const exact = nadamRef(p0, wobble, STEPS, h, 'float64', false);
    // The two differ (torch keeps Π μ in float32), by far less than one step's movement.
    let maxDiff = 0;
    got.forEach((row, t) => row.forEach((x, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(x - exact[t][i]));
    }));
    expect(maxDiff).to.be.greaterThan(0);
    expect(maxDiff).to.be.lessThan(1e-8);
  });

  it('RAdam switches to the rectified step exactly when ρ_t passes 5 (step 6 for β2 = 0.999)', () => {
    // With a constant gradient m̂ = g every step; unrectified steps move by exactly lr·g.
    const p = param('float64', [0], [1]);
    const opt = new RAdam([p], { lr: 0.1 });
    const moves: number[] = [];
    for (let t = 1; t <= 7; t++) {
      const before = p.data[0];
      setGrad(p, [1]);
      opt.step();
      moves.push(before - p.data[0]);
    }
    for (let t = 0; t < 5; t++) expect(Math.abs(moves[t] - 0.1), `step ${t + 1}`).to.be.lessThan(1e-15);
    // Step 6: v̂ = g² so l·√v = 1 (up to eps); r from ρ_6.
    const b2 = 0.999, rhoInf = 2 / (1 - b2) - 1, rho6 = rhoInf - (12 * b2 ** 6) / (1 - b2 ** 6);
    const rect = Math.sqrt(((rho6 - 4) * (rho6 - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho6));
    expect(rect).to.be.lessThan(0.1);
    expect(Math.abs(moves[5] - 0.1 * rect)).to.be.lessThan(1e-9);
  });

  it('Adamax: a NaN gradient propagates into expInf and the parameter, as torch.amax does', () => {
    const p = param('float64', [1, 2], [NaN, 1]);
    const opt = new Adamax([p]);
    opt.step();
    expect(Number.isNaN(opt.state.get(p)!.expInf![0])).to.equal(true);
    expect(Number.isNaN(p.data[0])).to.equal(true);
    expect(Number.isNaN(p.data[1])).to.equal(false);
  });

  it('NAdam loadStateDict rejects a muProduct that is not a finite number', () => {
    const p = param('float64', [1], [0.5]);
    const opt = new NAdam([p]);
    opt.step();
    const sd = opt.stateDict();
    for (const bad of ['0.9', NaN, null]) {
      expect(() => opt.loadStateDict({ state: { 0: { ...sd.state[0], muProduct: bad as never } }, paramGroups: sd.paramGroups }))
        .to.throw(/^NAdam: loadStateDict: state of parameter 0: muProduct must be a finite number/);
    }
  });

  it('Adadelta accepts rho at both ends of [0, 1]', () => {
    for (const rho of [0, 1]) {
      const p = param('float64', [1], [0.5]);
      new Adadelta([p], { rho }).step();
      expect(Number.isFinite(p.data[0])).to.equal(true);
    }
  });
});
