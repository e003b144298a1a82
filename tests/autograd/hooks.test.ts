import { expect } from 'chai';
import { randn, tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { grad } from '../../autograd/tape';
import { Tensor } from '../../autograd/tensor';
import { getNumThreads, setContentionGuard, setNumThreads, shutdownThreads, threadStats, waitForThreads } from '../../lib/platform/threads';

const f64 = (v: number[], requiresGrad = false): Tensor => tensor(v, { dtype: 'float64', requiresGrad });
const vals = (t: Tensor | null): number[] => Array.from(t!.data);

describe('autograd/Tensor.registerHook', () => {
  it('calls a leaf hook once with the summed gradient of a tensor used several times', () => {
    const x = f64([1, -2, 3], true);
    const seen: number[][] = [];
    x.registerHook((g) => { seen.push(vals(g)); });
    // y = Σ x·x + x + relu(x): 2x + 1 + (x > 0)
    F.add(F.add(F.mul(x, x), x), F.relu(x)).sum().backward();
    expect(seen).to.deep.equal([[4, -3, 8]]);
    expect(vals(x.grad)).to.deep.equal([4, -3, 8]);
  });

  it('replaces a leaf\'s gradient with what the hook returns: what .grad accumulates', () => {
    const x = f64([1, 2], true);
    x.registerHook((g) => F.mul(g, 10));
    F.mul(x, 3).sum().backward();
    expect(vals(x.grad)).to.deep.equal([30, 30]);
    F.mul(x, x).sum().backward(); // 2x·10 added
    expect(vals(x.grad)).to.deep.equal([50, 70]);
  });

  it('replaces a non-leaf\'s gradient: what flows further back and what retainGrad keeps', () => {
    const x = f64([1, -1], true);
    const h = F.mul(x, 3).retainGrad();
    const seen: number[][] = [];
    h.registerHook((g) => { seen.push(vals(g)); return F.add(g, 1); });
    F.mul(h, h).sum().backward(); // dy/dh = 2h = [6, -6] → hook → [7, -5]
    expect(seen).to.deep.equal([[6, -6]]);
    expect(vals(h.grad)).to.deep.equal([7, -5]);
    expect(vals(x.grad)).to.deep.equal([21, -15]);
  });

  it('runs several hooks in registration order, each given the previous one\'s result', () => {
    const x = f64([2], true);
    const calls: string[] = [];
    x.registerHook((g) => { calls.push(`a:${g.item()}`); return F.add(g, 1); });
    x.registerHook((g) => { calls.push(`b:${g.item()}`); });
    x.registerHook((g) => { calls.push(`c:${g.item()}`); return F.mul(g, 10); });
    F.mul(x, 5).sum().backward();
    expect(calls).to.deep.equal(['a:5', 'b:6', 'c:6']);
    expect(x.grad!.item()).to.equal(60);
  });

  it('remove() unregisters one hook (twice is harmless), also the same function registered twice', () => {
    const x = f64([1], true);
    let n = 0;
    const fn = (): void => { n++; };
    const h1 = x.registerHook(fn);
    const h2 = x.registerHook(fn);
    F.mul(x, 2).sum().backward();
    expect(n).to.equal(2);
    h1.remove();
    h1.remove();
    F.mul(x, 2).sum().backward();
    expect(n).to.equal(3);
    h2.remove();
    F.mul(x, 2).sum().backward();
    expect(n).to.equal(3);
    expect(x.grad!.item()).to.equal(6);
  });

  it('a hook that removes itself while running still lets the next hook run', () => {
    const x = f64([1], true);
    const calls: string[] = [];
    const h = x.registerHook(() => { calls.push('a'); h.remove(); });
    x.registerHook(() => { calls.push('b'); });
    F.mul(x, 2).sum().backward();
    F.mul(x, 2).sum().backward();
    expect(calls).to.deep.equal(['a', 'b', 'b']);
  });

  it('a leaf hook that keeps its gradient and removes itself: .grad is a copy, not the kept tensor', () => {
    // The one-shot pattern: keep the first gradient, then unregister. The next backward adds into
    // .grad in place; the tensor the hook kept must still hold d(Σ 3x)/dx = 3.
    const x = f64([1, 2], true);
    let kept: Tensor | null = null;
    const h = x.registerHook((g) => { kept = g; h.remove(); });
    F.mul(x, 3).sum().backward();
    expect(x.grad).to.not.equal(kept);
    F.mul(x, 5).sum().backward();
    expect(vals(kept)).to.deep.equal([3, 3]);
    expect(vals(x.grad)).to.deep.equal([8, 8]);
  });

  it('gives the root\'s hook the seed, and a leaf root\'s hook too', () => {
    const x = f64([1, 2], true);
    const y = F.mul(x, 4);
    const seen: number[][] = [];
    y.registerHook((g) => { seen.push(vals(g)); return F.mul(g, 2); });
    y.backward(f64([1, -1]));
    expect(seen).to.deep.equal([[1, -1]]);
    expect(vals(x.grad)).to.deep.equal([8, -8]);
    const leaf = f64([3], true);
    leaf.registerHook((g) => F.mul(g, 3));
    leaf.backward(2);
    expect(leaf.grad!.item()).to.equal(6);
  });

  it('hands hooks tensors they may keep: a skip connection\'s sums and later backwards leave them alone', () => {
    // h = 2x; u = 3h; y = Σ (u + h) + Σ h·h. dy/du = 1, dy/dh = 3 + 1 + 2h, dy/dx = 2·dy/dh.
    // h's gradient is summed from three paths, x's gradient is taken by .grad and accumulated into.
    const x = f64([1, -2], true);
    const kept: Record<string, Tensor> = {};
    const build = (): Tensor => {
      const h = F.mul(x, 2);
      const u = F.mul(h, 3);
      u.registerHook((g) => { kept.u ??= g; });
      h.registerHook((g) => { kept.h ??= g; });
      return F.add(F.add(u, h).sum(), F.mul(h, h).sum());
    };
    x.registerHook((g) => { kept.x ??= g; });
    const y = build();
    y.backward(undefined, { retainGraph: true });
    const want = { u: [1, 1], h: [8, -4], x: [16, -8] };
    expect(vals(x.grad)).to.deep.equal(want.x);
    y.backward(); // through the same graph again: every gradient made anew, .grad accumulated in place
    build().backward(); // and a new graph
    expect(vals(x.grad)).to.deep.equal(want.x.map((v) => 3 * v));
    expect(vals(kept.u)).to.deep.equal(want.u);
    expect(vals(kept.h)).to.deep.equal(want.h);
    expect(vals(kept.x)).to.deep.equal(want.x);
  });

  it('does not fire for a leaf when grad() is asked for other inputs, nor for branches it does not need', () => {
    const a = f64([1, 2], true);
    const b = f64([3, 4], true);
    const c = f64([5, 6], true);
    const fired: string[] = [];
    b.registerHook(() => { fired.push('b'); });
    const ec = F.exp(c);
    ec.registerHook(() => { fired.push('exp(c)'); });
    const y = F.add(F.mul(a, b), ec).sum();
    const [ga] = grad(y, a, { retainGraph: true });
    expect(vals(ga)).to.deep.equal([3, 4]);
    expect(fired).to.deep.equal([]);
    y.backward();
    expect(fired.sort()).to.deep.equal(['b', 'exp(c)']);
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

    it('a hook later in the walk that reads the weight\'s .grad sees it finished', () => {
      // d/dw Σ conv2d(x, w, padding 1): every output channel gets, at tap (i, j) of input channel c,
      // the sum of x's channel c shifted by (i − 1, j − 1) (zero outside), in float64.
      const [n, c, hgt, wid] = [8, 16, 12, 12];
      const x0 = randn([n, c, hgt, wid], { requiresGrad: true }); // the weight gradient is deferred only when x needs one too
      const w = randn([16, c, 3, 3], { requiresGrad: true });
      const xd = x0.data;
      const want: number[] = [];
      for (let o = 0; o < 16; o++) for (let ci = 0; ci < c; ci++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let b = 0; b < n; b++) for (let p = 0; p < hgt; p++) for (let q = 0; q < wid; q++) {
          const r = p + i - 1, col = q + j - 1;
          if (r >= 0 && r < hgt && col >= 0 && col < wid) s += xd[((b * c + ci) * hgt + r) * wid + col];
        }
        want.push(s);
      }
      const x = F.mul(x0, 1); // its hook runs after the conv's backward, which took the weight gradient as w.grad
      let atHook: number[] | null = null;
      x.registerHook(() => { atHook = Array.from(w.grad!.data); });
      const before = threadStats().deferred;
      F.conv2d(x, w, null, { padding: 1 }).sum().backward();
      expect(threadStats().deferred - before, 'the weight gradient went to a worker').to.be.greaterThan(0);
      const tol = (v: number): number => 1e-4 * Math.max(1, Math.abs(v));
      want.forEach((v, i) => expect(atHook![i]).to.be.closeTo(v, tol(v)));
    });
  });

  describe('errors', () => {
    it('refuses a tensor that does not require grad, and a non-function', () => {
      expect(() => f64([1, 2]).registerHook(() => undefined))
        .to.throw("registerHook: cannot register a hook on a tensor that doesn't require gradient (shape [2])");
      expect(() => f64([1], true).registerHook(3 as never)).to.throw('registerHook: expected a function, got 3');
    });

    it('refuses a returned gradient of another shape or dtype, or a non-tensor, naming registerHook', () => {
      const x = f64([1, 2], true);
      const h = x.registerHook(() => f64([1, 2, 3]));
      expect(() => F.mul(x, 2).sum().backward()).to.throw('registerHook: a hook returned a gradient of shape [3] for a tensor of shape [2]');
      h.remove();
      const y = F.mul(x, 2);
      const hy = y.registerHook(() => tensor([1, 2]));
      expect(() => y.sum().backward()).to.throw('registerHook: a hook returned a float32 gradient for a float64 tensor of shape [2]');
      hy.remove();
      x.registerHook(() => 5 as never);
      expect(() => F.mul(x, 2).sum().backward()).to.throw('registerHook: a hook must return a Tensor or nothing, got 5 (tensor of shape [2])');
      expect(x.grad).to.equal(null);
    });
  });
});
