import { expect } from 'chai';
import { ones, randn, tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { derivatives } from '../../autograd/derivatives';
import { grad } from '../../autograd/tape';
import { Tensor } from '../../autograd/tensor';
import { manualSeed } from '../../lib/random';
import { pendingOutputs } from '../../lib/kernels/parallel';
import { getNumThreads, setContentionGuard, setNumThreads, shutdownThreads, threadStats, waitForThreads } from '../../lib/platform/threads';
import { Linear, ReLU, Sequential } from '../../models/nn';

const f64 = (v: number[], requiresGrad = false): Tensor => tensor(v, { dtype: 'float64', requiresGrad });
const vals = (t: Tensor | null): number[] => Array.from(t!.data);
const close = (a: number[], b: number[], tol = 1e-12): void => {
  expect(a.length).to.equal(b.length);
  a.forEach((v, i) => expect(v).to.be.closeTo(b[i], tol));
};

describe('autograd/grad (torch.autograd.grad)', () => {
  beforeEach(() => manualSeed(5));

  it('differentiates a residual x + f(x) and leaves every .grad as it was', () => {
    const x = f64([1, -2, 0.5], true);
    const w = f64([0.3, 2, -1], true);
    const before = f64([7, 8, 9]);
    x.grad = before;
    // y = Σ x + tanh(w·x): dy/dx = 1 + w(1 − t²), dy/dw = x(1 − t²), t = tanh(w·x)
    const h = F.tanh(F.mul(w, x)).retainGrad();
    const y = F.add(x, h).sum();
    const [gx, gw] = grad(y, [x, w]);
    const t = [1, -2, 0.5].map((xi, i) => Math.tanh([0.3, 2, -1][i] * xi));
    close(vals(gx), t.map((ti, i) => 1 + [0.3, 2, -1][i] * (1 - ti * ti)));
    close(vals(gw), t.map((ti, i) => [1, -2, 0.5][i] * (1 - ti * ti)));
    expect(x.grad).to.equal(before);
    expect(vals(x.grad)).to.deep.equal([7, 8, 9]);
    expect(w.grad).to.equal(null);
    expect(h.grad).to.equal(null);
  });

  it('sums the paths of a tensor used twice, in one op (x * x) and across ops', () => {
    const x = f64([1, 2, -3], true);
    close(vals(grad(F.mul(x, x).sum(), x)[0]), [2, 4, -6]);
    // y = Σ x·x + 3x + exp(x): 2x + 3 + exp(x)
    const y = F.add(F.add(F.mul(x, x), F.mul(x, 3)), F.exp(x)).sum();
    close(vals(grad(y, x)[0]), [1, 2, -3].map((v) => 2 * v + 3 + Math.exp(v)));
  });

  it('takes several outputs with gradOutputs: Σ outputs[i]·gradOutputs[i]', () => {
    const x = f64([1, 2, 3], true);
    const y1 = F.mul(x, x); // [3], Jacobian diag(2x)
    const y2 = F.mul(x, 5).sum(); // scalar, gradient 5
    const v = f64([1, -1, 0.5]);
    close(vals(grad([y1, y2], [x], { gradOutputs: [v, 2], retainGraph: true })[0]), [2 + 10, -4 + 10, 3 + 10]);
    // null for a scalar output means 1, as torch's None
    close(vals(grad([y1, y2], [x], { gradOutputs: [v, null] })[0]), [2 + 5, -4 + 5, 3 + 5]);
  });

  it('sums the seeds of an output given twice, and of an output that is also inside another', () => {
    const x = f64([1, 2], true);
    const h = F.mul(x, 3);
    const y = F.mul(h, h).sum(); // dy/dh = 2h
    const [gh] = grad([h, y, h], [h], { gradOutputs: [f64([1, 1]), 1, f64([10, 0])] });
    close(vals(gh), [1 + 6 + 10, 1 + 12]);
  });

  it('differentiates with respect to non-leaf inputs, running only the graph that leads to them', () => {
    const x = f64([1, -2], true);
    const h = F.mul(x, 3);
    const y = F.mul(h, h).sum();
    const [gh, gx] = grad(y, [h, x], { retainGraph: true });
    close(vals(gh), [6, -12]); // 2h
    close(vals(gx), [18, -36]); // 2h·3
    // Only h asked for: the node that made h does not run, so its hook does not fire (torch's pruning).
    let seen = 0;
    x.registerHook(() => { seen++; });
    close(vals(grad(y, h)[0]), [6, -12]);
    expect(seen).to.equal(0);
  });

  it('asks each backward only for the gradients the call returns (a weight gradient is skipped for grad(loss, [x]))', () => {
    // Which inputs each mul / matmul backward was asked for (ctx.needs).
    const defs = { mul: derivatives.mul, matmul: derivatives.matmul } as unknown as Record<string, { backward: (...a: unknown[]) => unknown }>;
    const originals = Object.fromEntries(Object.entries(defs).map(([k, d]) => [k, d.backward]));
    const asked: string[] = [];
    for (const [k, d] of Object.entries(defs)) {
      d.backward = (...args: unknown[]) => {
        const needs = (args[1] as { needs: Record<string, boolean> }).needs;
        asked.push(`${k}:${Object.keys(needs).filter((n) => needs[n]).join(',')}`);
        return originals[k](...args);
      };
    }
    try {
      const x = f64([1, -2, 0.5], true);
      const w = tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float64', requiresGrad: true });
      const v = f64([0.5, -1], true);
      const loss = (): Tensor => F.mul(F.matmul(x, w), v).sum();
      const [gx] = grad(loss(), [x]);
      // d/dx Σ_j v_j Σ_i x_i w_ij = w · v
      close(vals(gx), [1 * 0.5 - 2, 3 * 0.5 - 4, 5 * 0.5 - 6]);
      expect(asked, 'grad(loss, [x])').to.deep.equal(['mul:a', 'matmul:a']);
      asked.length = 0;
      const [gw, gv] = grad(loss(), [w, v]);
      close(vals(gv), [1 * 1 - 2 * 3 + 0.5 * 5, 1 * 2 - 2 * 4 + 0.5 * 6]);
      close(vals(gw), [0.5, -1, -1, 2, 0.25, -0.5]);
      expect(asked, 'grad(loss, [w, v])').to.deep.equal(['mul:a,b', 'matmul:b']);
      asked.length = 0;
      loss().backward();
      expect(asked, 'backward() accumulates into every leaf').to.deep.equal(['mul:a,b', 'matmul:a,b']);
    } finally {
      for (const [k, d] of Object.entries(defs)) d.backward = originals[k];
    }
  });

  it('a gradient asked for alone or in pairs equals backward()\'s through conv, fused batch norms, convTranspose, linear and a weighted cross-entropy', () => {
    // grad() cuts each backward's needs to the way to its inputs: every combination the cut makes
    // (a fused batch norm asked for its residual only, a conv for its bias only) against the full backward.
    const o = { dtype: 'float64' as const, requiresGrad: true };
    const P: Record<string, Tensor> = {
      x: randn([2, 3, 4, 4], o), cw: randn([4, 3, 3, 3], o), cb: randn([4], o), g1: randn([4], o), b1: randn([4], o),
      res: randn([2, 4, 4, 4], o), g2: randn([4], o), b2: randn([4], o), tw: randn([4, 2, 2, 2], o), lw: randn([3, 8], o), lb: randn([3], o),
    };
    const rm = tensor([0.1, -0.2, 0.3, 0], { dtype: 'float64' }), rv = tensor([1, 2, 0.5, 1.5], { dtype: 'float64' });
    const ceWeight = tensor([1, 2, 0.5], { dtype: 'float64', requiresGrad: true }); // never asked for: its derivative is not implemented
    const loss = (classWeight: Tensor): Tensor => {
      const c = F.conv2d(P.x, P.cw, P.cb, { padding: 1 });
      const b = F.batchNorm(c, null, null, P.g1, P.b1, { training: true, relu: true, residual: P.res });
      const e = F.batchNorm(b, rm, rv, P.g2, P.b2, { training: false, residual: c });
      const t = F.convTranspose2d(e, P.tw, null, { stride: 2 });
      const h = F.flatten(F.adaptiveAvgPool2d(t, [2, 2]), 1);
      return F.crossEntropy(F.linear(h, P.lw, P.lb), tensor([0, 2]), { weight: classWeight });
    };
    const names = Object.keys(P);
    // backward() computes every gradient: the class weights detached there, as it would ask for theirs.
    loss(ceWeight.detach()).backward();
    const ref: Record<string, number[]> = {};
    for (const n of names) ref[n] = vals(P[n].grad);
    for (let i = 0; i < names.length; i++) {
      close(vals(grad(loss(ceWeight), [P[names[i]]])[0]), ref[names[i]], 1e-12);
      for (let j = i + 1; j < names.length; j++) {
        const [a, b] = grad(loss(ceWeight), [P[names[i]], P[names[j]]]);
        close(vals(a), ref[names[i]], 1e-12);
        close(vals(b), ref[names[j]], 1e-12);
      }
    }
  });

  it('gives null for an unused input with allowUnused, and names its position otherwise', () => {
    const x = f64([1, 2], true);
    const u = f64([5], true);
    const y = F.mul(x, 2).sum();
    expect(() => grad(y, [x, u], { retainGraph: true }))
      .to.throw('grad: inputs[1] of shape [1] was not used in the graph of the outputs; pass { allowUnused: true } to get null for it');
    const [gx, gu] = grad(y, [x, u], { allowUnused: true });
    close(vals(gx), [2, 2]);
    expect(gu).to.equal(null);
  });

  it('runs twice through a retained graph, and refuses a third time after one that freed it', () => {
    const x = f64([0.5, -1], true);
    const y = F.exp(F.mul(x, x)).sum(); // 2x·exp(x²)
    const want = [0.5, -1].map((v) => 2 * v * Math.exp(v * v));
    close(vals(grad(y, x, { retainGraph: true })[0]), want);
    close(vals(grad(y, x)[0]), want);
    expect(() => grad(y, x)).to.throw(/^grad: trying to backward through the graph a second time .*pass \{ retainGraph: true \} to the first grad\(\)/);
  });

  it('differentiates with respect to a non-leaf whose own graph was freed, as long as nothing behind it is asked for', () => {
    // torch runs only the nodes between the outputs and the inputs: h's freed ExpBackward is not one of them.
    const x = f64([1, 2], true);
    const h = F.exp(x);
    h.sum().backward();
    const y = F.mul(h, h).sum(); // dy/dh = 2h = 2·exp(x)
    close(vals(grad(y, h, { retainGraph: true })[0]), [2 * Math.exp(1), 2 * Math.exp(2)]);
    // x lies behind the freed node: that is the error, not "x was not used".
    expect(() => grad(y, [h, x])).to.throw(/^grad: trying to backward through the graph a second time \(the saved tensors of ExpBackward were freed\); pass \{ retainGraph: true \} to the first backward\(\)/);
    expect(() => grad(y, [h, x], { allowUnused: true })).to.throw(/^grad: trying to backward through the graph a second time/);
  });

  it('names the call that freed the graph when the next one is of the other kind', () => {
    const x = f64([0.5, -1], true);
    const y = F.exp(x).sum();
    grad(y, x);
    expect(() => y.backward()).to.throw(/^backward: trying to backward through the graph a second time .*pass \{ retainGraph: true \} to the first grad\(\)/);
    const z = F.exp(x).sum();
    z.backward();
    expect(() => grad(z, x)).to.throw(/^grad: trying to backward through the graph a second time .*pass \{ retainGraph: true \} to the first backward\(\)/);
  });

  it('returns new tensors: never the seed, a view of it, or the same tensor twice', () => {
    const x = f64([1, 2, 3], true);
    const v = f64([4, 5, 6]);
    const [g] = grad(F.reshape(x, [3, 1]), x, { gradOutputs: F.reshape(v, [3, 1]) });
    close(vals(g), [4, 5, 6]);
    g.storage.fill(0);
    expect(vals(v)).to.deep.equal([4, 5, 6]);
    // An output that is the input itself: the gradient is the seed, copied.
    const [gs] = grad(x, x, { gradOutputs: v });
    expect(gs).to.not.equal(v);
    expect(gs.storage.buffer).to.not.equal(v.storage.buffer);
    const [a, b] = grad(F.mul(x, 2).sum(), [x, x]);
    expect(a).to.not.equal(b);
    close(vals(a), [2, 2, 2]);
    close(vals(b), [2, 2, 2]);
  });

  it('agrees with finite differences for an MLP\'s parameters, their .grad untouched', () => {
    const net = new Sequential(new Linear(3, 4), new ReLU(), new Linear(4, 2)).to('float64');
    const xb = randn([5, 3], { dtype: 'float64' });
    const params = net.parameters();
    const loss = (): Tensor => F.mul(net.forward(xb), net.forward(xb)).mean();
    const gs = grad(loss(), params);
    params.forEach((p, i) => {
      expect(p.grad).to.equal(null);
      const n = p.numel();
      for (let k = 0; k < n; k++) {
        const orig = p.storage[k];
        p.storage[k] = orig + 1e-6;
        const plus = loss().item();
        p.storage[k] = orig - 1e-6;
        const minus = loss().item();
        p.storage[k] = orig;
        expect(gs[i].data[k]).to.be.closeTo((plus - minus) / 2e-6, 1e-6);
      }
    });
  });

  it('fires hooks of the inputs and of the tensors on the way, and returns what the input hooks return', () => {
    const x = f64([1, 2], true);
    const h = F.mul(x, 3);
    const seen: number[][] = [];
    h.registerHook((g) => { seen.push(vals(g)); return F.mul(g, 10); });
    x.registerHook((g) => F.add(g, 1));
    const [gx] = grad(F.mul(h, 1).sum(), x);
    expect(seen).to.deep.equal([[1, 1]]);
    close(vals(gx), [31, 31]); // (1·10)·3 + 1
    expect(x.grad).to.equal(null);
  });

  describe('a convolution weight whose gradient is made on a worker (2 threads)', function () {
    this.timeout(120000);
    const saved = getNumThreads();
    before(() => {
      setNumThreads(2);
      waitForThreads();
      setContentionGuard(false); // the deferral is counted below; a loaded machine must not turn it off
    });
    after(async () => {
      setContentionGuard(true);
      setNumThreads(saved);
      await shutdownThreads();
    });

    /** d/dw Σ conv2d(x, w, padding 1) (float64 sums): every output channel sums the padded input's 3×3 windows. */
    function refConvSumGrad(x: Tensor, wShape: number[]): Float64Array {
      const [n, c, hgt, wid] = x.shape;
      const [o, , k] = wShape;
      const out = new Float64Array(o * c * k * k);
      const xd = x.data;
      for (let ci = 0; ci < c; ci++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
        let s = 0;
        for (let b = 0; b < n; b++) for (let p = 0; p < hgt; p++) for (let q = 0; q < wid; q++) {
          const r = p + i - 1, col = q + j - 1;
          if (r >= 0 && r < hgt && col >= 0 && col < wid) s += xd[((b * c + ci) * hgt + r) * wid + col];
        }
        for (let oi = 0; oi < o; oi++) out[((oi * c + ci) * k + i) * k + j] = s;
      }
      return out;
    }

    it('settles the weight gradient, summed over two convolutions, before a hook or the caller reads it', () => {
      const x1 = randn([8, 16, 12, 12], { requiresGrad: true }); // conv2d defers the weight gradient only when both need one
      const x2 = randn([8, 16, 12, 12], { requiresGrad: true });
      const w = randn([16, 16, 3, 3], { requiresGrad: true });
      const r1 = refConvSumGrad(x1, [16, 16, 3, 3]);
      const r2 = refConvSumGrad(x2, [16, 16, 3, 3]);
      const want = Array.from(r1, (v, i) => v + 2 * r2[i]);
      let atHook: number[] = [];
      let kept: Tensor | null = null;
      const handle = w.registerHook((g) => { atHook = Array.from(g.data); kept = g; });
      const before = threadStats().deferred;
      const y = F.add(F.conv2d(x1, w, null, { padding: 1 }).sum(), F.mul(F.conv2d(x2, w, null, { padding: 1 }), 2).sum());
      // x1 and x2 asked for too: grad() has a conv's backward make only the gradients it returns, and
      // the weight gradient is deferred only while the input gradient is computed beside it.
      const [g] = grad(y, [w, x1, x2], { retainGraph: true });
      expect(threadStats().deferred - before, 'weight gradients went to a worker').to.be.greaterThan(0);
      expect(pendingOutputs()).to.equal(0);
      const tol = (v: number): number => 1e-4 * Math.max(1, Math.abs(v));
      want.forEach((v, i) => {
        expect(g.data[i]).to.be.closeTo(v, tol(v));
        expect(atHook[i]).to.be.closeTo(v, tol(v));
      });
      expect(w.grad).to.equal(null);
      // backward through the same graph: .grad gets the gradient, and the tensor the hook kept stays as
      // it was when a second backward accumulates into .grad in place.
      y.backward(undefined, { retainGraph: true });
      want.forEach((v, i) => expect(w.grad!.data[i]).to.be.closeTo(v, tol(v)));
      expect(w.grad).to.not.equal(kept);
      handle.remove();
      y.backward();
      want.forEach((v, i) => expect(w.grad!.data[i]).to.be.closeTo(2 * v, tol(2 * v)));
      atHook.forEach((v, i) => expect(kept!.data[i]).to.equal(v));
    });
  });

  describe('errors', () => {
    const x = (): Tensor => f64([1, 2, 3], true);

    it('refuses a non-scalar output without gradOutputs, and mismatched gradOutputs', () => {
      const a = x();
      const y = F.mul(a, 2);
      expect(() => grad(y, a)).to.throw('grad: grad can be implicitly created only for scalar outputs; got shape [3] for outputs[0], pass a gradient of that shape');
      expect(() => grad(y, a, { gradOutputs: 1 })).to.throw('grad: a number gradient needs a one-element output; got shape [3] for outputs[0]');
      expect(() => grad(y, a, { gradOutputs: f64([1, 2]) })).to.throw('grad: gradOutputs[0] has shape [2] but outputs[0] has shape [3]');
      expect(() => grad(y, a, { gradOutputs: tensor([1, 2, 3]) })).to.throw('grad: gradOutputs[0] dtype float32 does not match that of outputs[0], float64');
      expect(() => grad([y, y], a, { gradOutputs: [f64([1, 1, 1])] })).to.throw('grad: got 1 gradOutputs for 2 outputs');
      expect(() => grad([y, y], a, { gradOutputs: f64([1, 1, 1]) })).to.throw(/^grad: gradOutputs must be an array of one entry per output for 2 outputs/);
      expect(() => grad(y, a, { gradOutputs: ['1' as unknown as number] })).to.throw('grad: gradOutputs[0] must be a Tensor (or a number, or omitted, for a one-element output), got "1"');
    });

    it('refuses outputs and inputs that do not require grad, and non-tensors', () => {
      const a = x();
      expect(() => grad(F.mul(a, 2).detach().sum(), a)).to.throw('grad: outputs[0] of shape [] does not require grad and has no grad_fn');
      const c = f64([1, 2, 3]);
      expect(() => grad(F.mul(a, c).sum(), [a, c])).to.throw('grad: inputs[1] of shape [3] does not require grad, so it has no gradient');
      expect(() => grad(F.mul(a, c).sum(), [])).to.throw('grad: inputs must not be empty');
      expect(() => grad([], a)).to.throw('grad: outputs must not be empty');
      expect(() => grad(F.mul(a, c).sum(), [a, 3 as unknown as Tensor])).to.throw('grad: inputs[1] must be a Tensor, got 3');
      expect(() => grad(F.mul(a, c).sum(), 'a' as unknown as Tensor)).to.throw('grad: inputs must be a Tensor or an array of Tensors, got "a"');
    });

    it('refuses createGraph, misspelt and non-boolean options', () => {
      const a = x();
      const y = F.mul(a, 2).sum();
      expect(() => grad(y, a, { createGraph: true })).to.throw(/^grad: createGraph is not supported: tsgrad has no double backward/);
      expect(() => grad(y, a, { retain_graph: true } as never)).to.throw("grad: unknown option 'retain_graph' (did you mean 'retainGraph'?)");
      expect(() => grad(y, a, { allowUnused: 1 } as never)).to.throw('grad: allowUnused must be a boolean, got 1');
      // None of these consumed the graph: a valid call still runs.
      close(vals(grad(y, a, { createGraph: false })[0]), [2, 2, 2]);
    });

    it('names grad, not backward, when a saved tensor changed in place', () => {
      const a = x();
      const y = F.mul(a, a).sum();
      const before = ones([3], { dtype: 'float64' });
      a.grad = before;
      a.detach().add_(1);
      expect(() => grad(y, a)).to.throw(/^grad: a tensor of shape \[3\] \(the input 'a'\) saved by mul for the gradient was modified in place/);
      expect(a.grad).to.equal(before);
    });
  });
});
