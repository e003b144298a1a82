import { expect } from 'chai';
import { tensor, ones, randn, zeros } from '../../autograd/creation';
import { enableGrad, isGradEnabled, noGrad, Node, setGradEnabled } from '../../autograd/tape';
import { SGD } from '../../lib/optim/sgd';
import { Adam } from '../../lib/optim/adam';
import { BatchNorm1d, Linear, Sequential, ReLU } from '../../models/nn';
import { Tensor } from '../../autograd/tensor';
import * as F from '../../autograd/functional';
import { manualSeed } from '../../lib/random';
import { allocatedBytes, type FloatArray } from '../../lib/core/dtype';
import { deferTask, opsAheadOfCaller, pendingOutputs } from '../../lib/kernels/parallel';
import { getNumThreads, setContentionGuard, setNumThreads, shutdownThreads, threadStats, waitForThreads } from '../../lib/platform/threads';

/**
 * Bytes of tensor storage allocated through allocate() while fn runs (where every op's output and
 * gradient comes from; shareMemory's copies and optimizer state use allocatePlain/allocateShared
 * directly and are not counted). The storage settings and the pool's observer are left alone.
 */
function bytesAllocatedBy(fn: () => void): number {
  const before = allocatedBytes();
  fn();
  return allocatedBytes() - before;
}

describe('autograd/tape', () => {
  it('gives a tensor used twice the sum of both paths (a skip connection)', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    // y = x + relu(2x): dy/dx = 1 + 2 where 2x > 0
    const y = F.add(x, F.relu(F.mul(x, 2))).sum();
    y.backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([3, 3, 3]);
    const z = tensor([-1, 2], { dtype: 'float64', requiresGrad: true });
    F.add(z, F.relu(F.mul(z, 2))).sum().backward();
    expect(Array.from(z.grad!.data)).to.deep.equal([1, 3]);
  });

  it('accumulates leaf gradients across backward calls until zeroGrad / grad = null', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    F.mul(x, x).sum().backward();
    F.mul(x, 3).sum().backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([2 + 3, 4 + 3]);
    x.zeroGrad();
    expect(x.grad).to.equal(null);
    F.mul(x, 3).sum().backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([3, 3]);
    x.grad = null;
    F.mul(x, x).sum().backward();
    expect(Array.from(x.grad!.data)).to.deep.equal([2, 4]);
  });

  it('defaults the gradient of a scalar output to 1 and refuses a non-scalar output without one', () => {
    const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const y = F.mul(x, 2);
    expect(() => y.backward()).to.throw('backward: grad can be implicitly created only for scalar outputs; got shape [2,2], pass a gradient of that shape');
    expect(() => y.backward(tensor([1, 2]))).to.throw('backward: gradient has shape [2] but the output has shape [2,2]');
    y.backward(tensor([[1, 0], [0, 1]]));
    expect(x.grad!.toArray()).to.deep.equal([[2, 0], [0, 2]]);
  });

  it('refuses backward on a tensor that does not require grad', () => {
    expect(() => tensor([1]).backward()).to.throw('backward: tensor of shape [1] does not require grad and has no grad_fn');
  });

  it('propagates requiresGrad; detach() and noGrad cut the graph; enableGrad restores it', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const c = tensor([3, 4]);
    expect(F.add(x, c).requiresGrad).to.equal(true);
    expect(F.add(c, c).requiresGrad).to.equal(false);
    expect(F.add(x.detach(), c).requiresGrad).to.equal(false);
    const d = x.detach();
    expect(d.storage).to.equal(x.storage); // shares storage
    const y = noGrad(() => {
      expect(isGradEnabled()).to.equal(false);
      const inner = enableGrad(() => F.mul(x, 2));
      expect(inner.requiresGrad).to.equal(true);
      return F.mul(x, 2);
    });
    expect(y.requiresGrad).to.equal(false);
    expect(y.gradFn).to.equal(null);
    expect(isGradEnabled()).to.equal(true);
    expect(() => noGrad(() => { throw new Error('boom'); })).to.throw('boom');
    expect(isGradEnabled()).to.equal(true);
  });

  it('frees the graph after backward unless retainGraph, with a clear error on a second pass', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const h = F.exp(x);
    const y = F.mul(h, h).sum();
    y.backward();
    expect(h.gradFn!.ctx).to.equal(null); // saved tensors released
    expect(() => y.backward()).to.throw(/backward: trying to backward through the graph a second time .*retainGraph: true/);

    const x2 = tensor([1, 2, 3], { requiresGrad: true });
    const y2 = F.mul(F.exp(x2), 2).sum();
    y2.backward(undefined, { retainGraph: true });
    y2.backward();
    const e = Array.from(x2.grad!.data);
    [1, 2, 3].forEach((v, i) => expect(e[i]).to.be.closeTo(4 * Math.exp(v), 1e-4 * Math.exp(v)));
  });

  it('keeps gradients of non-leaves only when retainGrad() is called', () => {
    const x = tensor([1, -2], { requiresGrad: true });
    const h = F.mul(x, 3).retainGrad();
    const k = F.mul(x, 2);
    F.relu(h).sum().backward();
    expect(Array.from(h.grad!.data)).to.deep.equal([1, 0]);
    expect(k.grad).to.equal(null);
    expect(Array.from(x.grad!.data)).to.deep.equal([3, 0]);
  });

  it('checks the shape and dtype of every gradient a backward returns', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const bogus = (g: Tensor): Tensor => { void g; return ones([3]); };
    const y = Tensor.empty([2]);
    y.requiresGrad = true;
    y.gradFn = new Node('bogus', () => ({ x: bogus(y) }), new Map([['x', x]]), { inputs: {}, shapes: { x: [2] }, out: undefined, attrs: {}, extra: undefined, needs: { x: true } });
    expect(() => y.backward(ones([2]))).to.throw("backward: gradient for input 'x' of bogus has shape [3] but the input has shape [2]");
    const z = Tensor.empty([2]);
    z.requiresGrad = true;
    z.gradFn = new Node('bogus', () => ({ x: ones([2], { dtype: 'float64' }) }), new Map([['x', x]]), { inputs: {}, shapes: { x: [2] }, out: undefined, attrs: {}, extra: undefined, needs: { x: true } });
    expect(() => z.backward(ones([2]))).to.throw("backward: gradient for input 'x' of bogus has dtype float64 but the input has dtype float32");
  });

  describe('saved tensors modified in place after they were saved (version counters)', () => {
    it('refuses a backward whose saved parameter an optimizer step changed, leaving .grad as it was', () => {
      const w = tensor([1, 2]).requiresGrad_();
      const opt = new SGD([w], { lr: 1 });
      w.grad = tensor([1, 1]);
      const loss = w.mul(w).sum();
      opt.step();
      expect(() => loss.backward()).to.throw(
        "backward: a tensor of shape [2] (the input 'a') saved by mul for the gradient was modified in place " +
        '(by an in-place op such as add_, an optimizer step or loadStateDict) after it was saved: version 1, expected 0; compute the loss again after the update');
      expect(Array.from(w.grad!.data)).to.deep.equal([1, 1]);
      // Computed again after the update, the loss backpropagates with the new values.
      w.grad = null;
      w.mul(w).sum().backward();
      expect(Array.from(w.grad!.data)).to.deep.equal([0, 2]);
    });

    it('sees a change through any view of the storage (reshape, detach) and in a saved output', () => {
      const w = tensor([1, 2, 3, 4]).requiresGrad_();
      const opt = new Adam([w], { lr: 0.1 });
      const viaView = w.reshape([2, 2]).mul(3).exp().sum();
      const viaDetach = w.detach().mul(w).sum();
      w.grad = ones([4]);
      opt.step();
      expect(() => viaDetach.backward()).to.throw(/saved by mul .* version 1, expected 0/);
      // exp saves its output, which is new storage: only the view saved by mul trips.
      expect(() => viaView.backward()).to.throw(/backward: a tensor of shape \[2,2\] \(the input 'a'\) saved by mul/);
      const y = F.exp(tensor([0, 1], { requiresGrad: true }));
      const z = y.sum();
      y._bumpVersion();
      expect(() => z.backward()).to.throw('backward: a tensor of shape [2] (the output) saved by exp for the gradient was modified in place');
    });

    it('refuses a conv2d backward whose weight an optimizer step changed (trimmed taps or not)', () => {
      // 4x4 maps use every tap; on a 1x1 map a padding-1 conv keeps only the centre tap (a copy).
      for (const H of [4, 1]) {
        const x = randn([1, 2, H, H]).requiresGrad_();
        const w = randn([3, 2, 3, 3]).requiresGrad_();
        const loss = F.conv2d(x, w, null, { padding: 1 }).sum();
        w.grad = ones([3, 2, 3, 3]);
        new SGD([w], { lr: 1 }).step();
        expect(() => loss.backward(), `${H}x${H}`).to.throw(
          "backward: a tensor of shape [3,2,3,3] (the input 'weight') saved by conv2d for the gradient was modified in place");
        expect(x.grad, `${H}x${H}`).to.equal(null);
      }
    });

    it('refuses an eval batch norm backward whose running statistics a training forward updated since', () => {
      manualSeed(0);
      const bn = new BatchNorm1d(2);
      bn.eval();
      const x = randn([4, 2]).requiresGrad_();
      const loss = bn.forward(x).sum();
      bn.train();
      bn.forward(randn([4, 2]).mul(10));
      expect(() => loss.backward()).to.throw(
        'backward: runningMean (shape [2]) read by batchNorm in eval mode was modified in place');
      expect(x.grad).to.equal(null);
      // Unchanged statistics: the backward runs (gradient w·invstd with the default w = 1).
      bn.eval();
      bn.forward(x).sum().backward();
      const invstd = 1 / Math.sqrt(bn.runningVar!.data[0] + 1e-5);
      expect(x.grad!.data[0]).to.be.closeTo(invstd, 1e-6 * invstd);
    });

    it('refuses the second backward of a retained graph after a step', () => {
      const w = tensor([1, 2], { requiresGrad: true });
      const opt = new SGD([w], { lr: 0.5 });
      const loss = F.mul(w, w).sum();
      loss.backward(undefined, { retainGraph: true });
      opt.step();
      expect(() => loss.backward()).to.throw(/modified in place .* version 1, expected 0/);
    });

    it('refuses a backward after loadStateDict copied new values into a saved parameter', () => {
      manualSeed(0);
      const lin = new Linear(3, 2);
      const loss = lin.forward(randn([4, 3])).sum();
      const v = lin.weight._version;
      expect(v, 'the in-place initialisation counts as a change').to.equal(1);
      lin.loadStateDict(lin.stateDict());
      expect(lin.weight._version).to.equal(v + 1);
      expect(() => loss.backward()).to.throw(new RegExp(`saved by .* was modified in place .* version ${v + 1}, expected ${v}`));
    });

    it('lets normal training run: forward, backward, step, repeat, and two backwards accumulated before a step', () => {
      manualSeed(0);
      const model = new Sequential(new Linear(3, 4), new BatchNorm1d(4), new ReLU(), new Linear(4, 1));
      const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const x = randn([8, 3]);
      for (let step = 0; step < 3; step++) {
        opt.zeroGrad();
        model.forward(x).sum().backward();
        opt.step();
      }
      opt.zeroGrad();
      const l1 = model.forward(x).square().mean();
      const l2 = model.forward(x).square().mean();
      l1.backward();
      l2.backward();
      opt.step();
      expect(() => model.forward(x).sum().backward()).to.not.throw();
    });

    it('does not count requiresGrad_, zeroGrad or a backward as changes of the data', () => {
      const w = tensor([1, 2]);
      w.requiresGrad_();
      const loss = F.mul(w, w).sum();
      loss.backward(undefined, { retainGraph: true });
      w.zeroGrad();
      w.requiresGrad_(true);
      expect(w._version).to.equal(0);
      loss.backward();
      expect(Array.from(w.grad!.data)).to.deep.equal([2, 4]);
    });
  });

  describe('argument checks', () => {
    it('rejects a gradient that is not a Tensor or a number', () => {
      const x = tensor([1, 2], { requiresGrad: true });
      expect(() => F.mul(x, 2).backward([1, 1] as unknown as Tensor))
        .to.throw('backward: gradient must be a Tensor (or a number, or omitted, for a one-element output), got [1, 1]');
      expect(() => x.sum().backward(null as unknown as Tensor))
        .to.throw('backward: gradient must be a Tensor (or a number, or omitted, for a one-element output), got null');
      expect(() => x.sum().backward('1' as unknown as number)).to.throw('backward: gradient must be a Tensor');
      x.sum().backward(2);
      expect(Array.from(x.grad!.data)).to.deep.equal([2, 2]);
    });

    it('rejects unknown backward options and a non-boolean retainGraph', () => {
      const x = tensor([1, 2], { requiresGrad: true });
      const y = F.mul(x, x).sum();
      expect(() => y.backward(undefined, { retain_graph: true } as unknown as { retainGraph: boolean }))
        .to.throw("backward: unknown option 'retain_graph' (did you mean 'retainGraph'?)");
      expect(() => y.backward(undefined, { retainGraph: 1 } as unknown as { retainGraph: boolean }))
        .to.throw('backward: retainGraph must be a boolean, got 1');
      expect(() => y.backward(undefined, null as unknown as { retainGraph: boolean })).to.throw('backward: options must be an object, got null');
      expect(x.grad).to.equal(null);
      y.backward(undefined, { retainGraph: true });
      y.backward();
      expect(Array.from(x.grad!.data)).to.deep.equal([4, 8]);
    });

    it('noGrad and enableGrad refuse an async fn, whose code after an await would record in the wrong mode', async () => {
      for (const [name, f] of [['noGrad', noGrad], ['enableGrad', enableGrad]] as const) {
        let after: Promise<unknown> = Promise.resolve();
        expect(() => f(() => {
          after = (async () => { await null; })();
          return after;
        })).to.throw(`${name}: fn returned a Promise: the grad mode is restored when fn returns`);
        await after;
        expect(isGradEnabled(), `${name} restored the mode`).to.equal(true);
        expect(() => f(42 as unknown as () => void)).to.throw(`${name}: expected a function, got 42`);
      }
      expect(noGrad(() => isGradEnabled())).to.equal(false);
    });

    it('an assigned .grad must be a Tensor of the same shape and dtype, or null', () => {
      const w = tensor([1, 2], { requiresGrad: true });
      expect(() => { w.grad = tensor([1, 2], { dtype: 'float64' }); }).to.throw('grad: assigned grad has dtype float64 but the tensor is float32 (shape [2])');
      expect(() => { w.grad = tensor([1, 2, 3]); }).to.throw('grad: assigned grad has shape [3] but the tensor has shape [2]');
      expect(() => { w.grad = [1, 2] as unknown as Tensor; }).to.throw('grad: assigned grad must be a Tensor or null, got [1, 2]');
      expect(w.grad).to.equal(null);
      const g = tensor([3, 4]);
      w.grad = g;
      expect(w.grad).to.equal(g);
      w.grad = null;
      expect(w.grad).to.equal(null);
      // torch: "can't assign Variable as its own grad"; the next backward would add into w's values.
      expect(() => { w.grad = w; }).to.throw("grad: can't assign a tensor as its own grad (shape [2])");
      expect(w.grad).to.equal(null);
      F.mul(w, 2).sum().backward();
      expect(Array.from(w.data)).to.deep.equal([1, 2]);
    });

    it('setGradEnabled requires a boolean', () => {
      expect(() => setGradEnabled('x' as unknown as boolean)).to.throw('setGradEnabled: mode must be a boolean, got "x"');
      expect(isGradEnabled()).to.equal(true);
      setGradEnabled(false);
      expect(isGradEnabled()).to.equal(false);
      setGradEnabled(true);
      expect(isGradEnabled()).to.equal(true);
    });
  });

  it('handles deep graphs without overflowing the stack', () => {
    const x = tensor([1], { dtype: 'float64', requiresGrad: true });
    let y = x;
    for (let i = 0; i < 20000; i++) y = F.add(y, 1e-4);
    y.sum().backward();
    expect(x.grad!.item()).to.equal(1);
  });

  it('releases intermediate activations after backward while the loss is still referenced', function () {
    if (typeof global.gc !== 'function') this.skip();
    manualSeed(1);
    const w = randn([64, 64], { requiresGrad: true });
    let ref: WeakRef<Tensor> | null = null;
    const makeLoss = (): Tensor => {
      const h = F.relu(F.matmul(randn([32, 64]), w));
      ref = new WeakRef(h);
      return F.mul(h, h).sum();
    };
    const loss = makeLoss();
    loss.backward();
    global.gc!();
    return new Promise<void>((resolve) => setImmediate(() => {
      global.gc!();
      expect(ref!.deref()).to.equal(undefined);
      expect(loss.gradFn!.edges).to.equal(null);
      resolve();
    }));
  });

  it('keeps the graph (and its activations) alive with retainGraph', function () {
    if (typeof global.gc !== 'function') this.skip();
    const w = randn([8, 8], { requiresGrad: true });
    let ref: WeakRef<Tensor> | null = null;
    const makeLoss = (): Tensor => {
      const h = F.exp(F.matmul(randn([4, 8]), w));
      ref = new WeakRef(h);
      return F.mul(h, 2).sum();
    };
    const loss = makeLoss();
    loss.backward(undefined, { retainGraph: true });
    global.gc!();
    expect(ref!.deref()).to.not.equal(undefined);
  });

  describe('leaf gradients taken without a copy', () => {
    it('makes a leaf .grad of the gradient its consumer computed instead of copying it', () => {
      const n = 1000;
      const w = randn([n], { requiresGrad: true });
      const c = randn([n]);
      const loss = F.mul(w, c).sum();
      // sum's backward expands the scalar seed (a view); mul's backward makes c * gy: one buffer of n floats.
      const bytes = bytesAllocatedBy(() => loss.backward());
      expect(bytes).to.equal(n * 4 + 4); // the gradient plus the 1-element seed, no copy for w.grad
      expect(Array.from(w.grad!.data)).to.deep.equal(Array.from(c.data));
    });

    it('copies a gradient that two inputs received (add hands both the same gy)', () => {
      const a = tensor([1, 2, 3], { requiresGrad: true });
      const b = tensor([4, 5, 6], { requiresGrad: true });
      F.mul(F.add(a, b), 2).sum().backward();
      expect(a.grad!.storage).to.not.equal(b.grad!.storage);
      a.grad!.storage[0] = 100;
      expect(Array.from(b.grad!.data)).to.deep.equal([2, 2, 2]);
    });

    it('copies the caller\'s gradient and views of it, so changing them later leaves .grad alone', () => {
      const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
      const seed = tensor([1, 2, 3, 4]);
      F.reshape(x, [4]).backward(seed);
      seed.storage.fill(0);
      expect(x.grad!.toArray()).to.deep.equal([[1, 2], [3, 4]]);
      const leafSeed = tensor([5, 6]);
      const leaf = tensor([0, 0], { requiresGrad: true });
      leaf.backward(leafSeed);
      leafSeed.storage.fill(0);
      expect(Array.from(leaf.grad!.data)).to.deep.equal([5, 6]);
    });

    it('keeps accumulating into a taken gradient, also through a retained graph', () => {
      const w = tensor([1, 2], { requiresGrad: true });
      const c = tensor([3, 4]);
      const loss = F.mul(w, c).sum();
      loss.backward(undefined, { retainGraph: true });
      loss.backward();
      expect(Array.from(w.grad!.data)).to.deep.equal([6, 8]);
      expect(Array.from(c.data)).to.deep.equal([3, 4]);
    });
  });

  describe('a tensor used twice: the two gradients summed in place when the backward owns one', () => {
    it('adds the second gradient into the first one the backward made, without a new tensor', () => {
      const n = 1000;
      const x = randn([n], { requiresGrad: true }), c = randn([n]), d1 = randn([n]), d2 = randn([n]);
      const h = F.mul(x, c);
      const loss = F.add(F.mul(h, d1).sum(), F.mul(h, d2).sum());
      // The seed (1 float), d1·gy and d2·gy for h (summed in place), c·g for x (taken as x.grad).
      const bytes = bytesAllocatedBy(() => loss.backward());
      expect(bytes).to.equal(4 + 3 * n * 4);
      // float32: d1·1 + d2·1 rounded once, then times c rounded once.
      const want = Array.from(c.data, (ci, i) => Math.fround(ci * Math.fround(d1.data[i] + d2.data[i])));
      expect(Array.from(x.grad!.data)).to.deep.equal(want);
    });

    it('never adds into a gradient that another input, the caller or a retained .grad holds', () => {
      // add hands the same gy (a view of the expanded seed) to both of its inputs: h's two gradients
      // are that view and d·gy; the sum goes into d·gy, and the seed is left alone.
      const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
      const d = tensor([10, 20, 30], { dtype: 'float64' });
      const h = F.mul(x, 2);
      h.retainGrad();
      const seed = tensor([1, 1, 1], { dtype: 'float64' });
      F.add(h, F.mul(h, d)).backward(seed);
      expect(Array.from(seed.data)).to.deep.equal([1, 1, 1]);
      expect(Array.from(h.grad!.data)).to.deep.equal([11, 21, 31]);
      expect(Array.from(x.grad!.data)).to.deep.equal([22, 42, 62]);
      // add(a, a): both gradients are the same gy, so the sum is a new tensor (2·gy, not gy doubled in place).
      const y = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
      const a = F.mul(y, 3);
      const s = tensor([5, 7], { dtype: 'float64' });
      F.add(a, a).backward(s);
      expect(Array.from(s.data)).to.deep.equal([5, 7]);
      expect(Array.from(y.grad!.data)).to.deep.equal([30, 42]);
      // Three paths into one tensor: the second sum goes into the first one's result again.
      const z = tensor([1, -2], { dtype: 'float64', requiresGrad: true });
      const b = F.mul(z, 1);
      F.add(F.add(F.mul(b, 2), F.mul(b, 3)), F.mul(b, 4)).sum().backward();
      expect(Array.from(z.grad!.data)).to.deep.equal([9, 9]);
    });

    it('never takes a gradient that aliases another one through a subarray of the same buffer', () => {
      // An eval batch norm with a residual hands the residual the gradient it was given; when that
      // gradient is a contiguous view at an offset (cat's backward slices its gradient), `.data` of
      // it is a subarray: a different typed array over the same memory, which must not count as new.
      const o = { dtype: 'float64' as const };
      const rm = zeros([2], o), rv = ones([2], o);
      const r = tensor([1, 2, 3, 4], { ...o, shape: [2, 2, 1, 1], requiresGrad: true });
      const v = tensor([1, 1, 1, 1], { ...o, shape: [2, 2, 1, 1], requiresGrad: true });
      const out = F.batchNorm(F.mul(r, 2), rm, rv, null, null, { residual: r });
      // add(w, out) hands the same gradient S = K[2:4] to out's node (visited first) and to w's.
      const y = F.add(F.mul(v, 3), out);
      const K = tensor([0, 0, 0, 0, 1, 2, 3, 4], { ...o, shape: [4, 2, 1, 1] });
      F.mul(F.cat([zeros([2, 2, 1, 1], o), y], 0), K).sum().backward();
      const s = 1 / Math.sqrt(1 + 1e-5); // d bn(x) / dx with running mean 0, variance 1
      const k = [1, 2, 3, 4];
      expect(Array.from(v.grad!.data)).to.deep.equal(k.map((ki) => 3 * ki));
      Array.from(r.grad!.data).forEach((g, i) => expect(g).to.be.closeTo(k[i] * (1 + 2 * s), 1e-12));
      // The caller's gradient given as such a view is copied too, so changing it later leaves .grad alone.
      const r2 = zeros([2, 2, 1, 1], { ...o, requiresGrad: true });
      const G = tensor([0, 1, 2, 3, 4, 5, 6, 7], { ...o, shape: [4, 2, 1, 1] });
      F.batchNorm(tensor([1, 2, 3, 5], { ...o, shape: [2, 2, 1, 1] }), rm, rv, null, null, { residual: r2 }).backward(G.slice(0, 2, 4));
      G.storage.fill(0);
      expect(Array.from(r2.grad!.data)).to.deep.equal([4, 5, 6, 7]);
    });
  });

  describe('convolution weight gradients made on a worker (2 threads)', function () {
    this.timeout(120000);
    const saved = getNumThreads();
    before(() => {
      setNumThreads(2);
      waitForThreads();
      // These tests count the parts sent to workers: on a loaded machine the contention guard would
      // run some passes on one thread (results unchanged, counts not), so it is off here.
      setContentionGuard(false);
    });
    after(async () => {
      setContentionGuard(true);
      setNumThreads(saved);
      await shutdownThreads(); // the 3-thread runs started a second worker; later tests expect one
    });

    // Large enough for conv2d to defer its weight gradient (see lib/kernels/conv2d.ts).
    const xShape = [8, 16, 12, 12];
    const wShape = [16, 16, 3, 3];

    /**
     * Gradients of `build` at 1 thread, then at 2 and 3 (with two workers, deferred gradients of
     * one weight can be made on different workers and finish in any order); no deferred work may
     * be left after backward.
     */
    function bothThreadCounts(build: () => { loss: () => void; leaves: Tensor[] }): Array<[FloatArray, FloatArray]> {
      const out: FloatArray[][] = [];
      let deferred = 0;
      for (const threads of [1, 2, 3]) {
        setNumThreads(threads);
        waitForThreads();
        manualSeed(5);
        const { loss, leaves } = build();
        const before = threadStats().deferred;
        loss();
        if (threads > 1) deferred = threadStats().deferred - before;
        expect(pendingOutputs(), 'nothing left unsettled after backward').to.equal(0);
        out.push(leaves.map((t) => Float32Array.from(t.grad!.data)));
        if (threads > 1) expect(deferred, `weight gradients went to a worker (${threads} threads)`).to.be.greaterThan(0);
      }
      return out[0].flatMap((g, i): Array<[FloatArray, FloatArray]> => [[g, out[1][i]], [g, out[2][i]]]);
    }

    it('waits for a .grad still being written before accumulating into it', () => {
      setNumThreads(2);
      waitForThreads();
      const w = tensor([1, 2, 3, 4], { requiresGrad: true });
      const c = tensor([10, 20, 30, 40]);
      w.grad = Tensor.empty([4], 'float32');
      // A worker writes 0.5 into w.grad after 300 ms, as a deferred weight gradient would finish late.
      const gate = new Int32Array(new SharedArrayBuffer(4));
      expect(deferTask('parallel.hold', 4, { gate, out: w.grad.storage, value: 0.5, timeoutMs: 300 }, [w.grad.storage])).to.equal(true);
      F.mul(w, c).sum().backward();
      expect(Array.from(w.grad.data)).to.deep.equal([10.5, 20.5, 30.5, 40.5]);
    });

    it('tells a conv\'s backward whether ops of the pass come after it, and resets that after the pass', () => {
      // A conv's backward splits its input gradient over both threads first only when ops lie ahead
      // of it in the pass (lib/kernels/conv2d.ts): a lone conv posts only its deferred weight
      // gradient, a conv with a relu still to come posts one part of its input gradient as well.
      setNumThreads(2);
      waitForThreads();
      manualSeed(3);
      const x = randn(xShape, { requiresGrad: true });
      const w = randn(wShape, { requiresGrad: true });
      // Which kernels went to the worker during one backward, in the order they were posted.
      const postedBy = (run: () => void): string[] => {
        const sent = threadStats().partsSent;
        run();
        const n = threadStats().partsSent - sent;
        return n === 0 ? [] : threadStats().recentTasks.slice(-n);
      };
      const isWeightGrad = (task: string): boolean => /Weight$/.test(task);
      const lone = F.conv2d(x, w, null, { padding: 1 });
      const loneTasks = postedBy(() => lone.backward(ones(lone.shape)));
      // The weight gradient is posted first. If the worker finishes it before the caller starts the
      // input gradient (the caller's thread descheduled on a busy machine), the input gradient may
      // then be split too: only its parts may follow, never a second weight gradient.
      expect(loneTasks.length, `lone conv: posted ${loneTasks.join(', ')}`).to.be.within(1, 2);
      expect(isWeightGrad(loneTasks[0]), `lone conv: the weight gradient goes first (${loneTasks.join(', ')})`).to.equal(true);
      for (const t of loneTasks.slice(1)) expect(isWeightGrad(t), `lone conv: then the input gradient only (${t})`).to.equal(false);
      expect(opsAheadOfCaller()).to.equal(0);
      const gx = Float32Array.from(x.grad!.data);
      x.grad = null;
      const y = F.conv2d(F.relu(x), w, null, { padding: 1 });
      const reluTasks = postedBy(() => y.backward(ones(y.shape)));
      expect(reluTasks.map(isWeightGrad), `conv with a relu ahead: input gradient split, then the weight gradient (${reluTasks.join(', ')})`)
        .to.deep.equal([false, true]);
      expect(opsAheadOfCaller()).to.equal(0);
      // The conv's input gradient does not depend on its input, so relu's backward passes the lone
      // conv's gradient bit for bit where x > 0 and 0 elsewhere.
      const gx2 = x.grad!.data;
      for (let i = 0; i < gx.length; i++) expect(gx2[i], `element ${i}`).to.equal(x.data[i] > 0 ? gx[i] : 0);
    });

    it('gives the same gradients as 1 thread for a weight used by two convolutions', () => {
      for (const [one, two] of bothThreadCounts(() => {
        const x = randn(xShape, { requiresGrad: true });
        const w = randn(wShape, { requiresGrad: true });
        const v = randn(wShape, { requiresGrad: true });
        return {
          leaves: [x, w, v],
          loss: () => F.conv2d(F.relu(F.conv2d(F.conv2d(x, w, null, { padding: 1 }), v, null, { padding: 1 })), w, null, { padding: 1 })
            .square().sum().backward(),
        };
      })) expect(two).to.deep.equal(one);
    });

    it('gives the same gradients as 1 thread when the weight is not a leaf, and when accumulating over a retained graph', () => {
      for (const [one, two] of bothThreadCounts(() => {
        const x = randn(xShape, { requiresGrad: true });
        const w0 = randn(wShape, { requiresGrad: true });
        return {
          leaves: [x, w0],
          loss: () => {
            const y = F.conv2d(x, F.mul(w0, 3), null, { padding: 1 }).square().sum();
            y.backward(undefined, { retainGraph: true });
            y.backward();
          },
        };
      })) expect(two).to.deep.equal(one);
    });

    it('gives the same gradients as 1 thread to a non-leaf that retains its gradient', () => {
      for (const [one, two] of bothThreadCounts(() => {
        const x = randn(xShape, { requiresGrad: true });
        const w = randn(wShape, { requiresGrad: true });
        const h = F.conv2d(x, w, null, { padding: 1 });
        return {
          leaves: [x, w, h],
          loss: () => {
            h.retainGrad();
            F.conv2d(F.relu(h), w, null, { padding: 1 }).sum().backward();
          },
        };
      })) expect(two).to.deep.equal(one);
    });
  });
});
