import { expect } from 'chai';
import { randn, tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { derivatives } from '../../autograd/derivatives';
import { assertGradcheck, gradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { manualSeed } from '../../lib/random';

describe('autograd/gradcheck', () => {
  beforeEach(() => manualSeed(17));

  it('passes a correct gradient in full-Jacobian mode and reports its errors', () => {
    const x = randn([3, 4], { dtype: 'float64', requiresGrad: true });
    const rep = gradcheck((a) => F.tanh(F.matmul(a, F.transpose(a, 0, 1))), [x], { atol: 1e-7, rtol: 1e-6 });
    expect(rep.passed).to.equal(true);
    expect(rep.inputs[0].mode).to.equal('full');
    expect(rep.inputs[0].checked).to.equal(9 * 12);
    expect(rep.inputs[0].maxAbsError).to.be.below(1e-8);
  });

  it('fails a wrong gradient (x * x.detach() has gradient x, not 2x) and names the worst entry', () => {
    const x = randn([4], { dtype: 'float64', requiresGrad: true });
    const wrong = (a: Tensor): Tensor => F.mul(a, a.detach());
    const rep = gradcheck(wrong, [x]);
    expect(rep.passed).to.equal(false);
    expect(() => assertGradcheck(wrong, [x])).to.throw(/gradcheck: gradients do not match finite differences\n {2}input 0 \[4\] \(full\): max abs error .* worst at d out\[\d\] \/ d in\[\d\]/);
  });

  it('uses random projections for large problems and still catches a wrong gradient', () => {
    const x = randn([40, 60], { dtype: 'float64', requiresGrad: true });
    const w = randn([60, 30], { dtype: 'float64', requiresGrad: true });
    const good = gradcheck((a, b) => F.relu(F.matmul(a, b)), [x, w], { maxFullOutputs: 10 });
    expect(good.passed).to.equal(true);
    expect(good.inputs.map((r) => r.mode)).to.deep.equal(['projected', 'projected']);
    const bad = gradcheck((a, b) => F.matmul(a, F.mul(b, b.detach())), [x, w], { maxFullOutputs: 10 });
    expect(bad.inputs[0].passed).to.equal(true);
    expect(bad.inputs[1].passed).to.equal(false);
  });

  it('skips inputs that do not require grad and checks non-contiguous leaves', () => {
    const base = randn([3, 2], { dtype: 'float64' });
    const nc = new Tensor(base.storage, [2, 3], [1, 2], 0).requiresGrad_();
    const c = randn([3], { dtype: 'float64' });
    const rep = gradcheck((a, b) => F.exp(F.mul(a, b)), [nc, c]);
    expect(rep.passed).to.equal(true);
    expect(rep.inputs.map((r) => r.index)).to.deep.equal([0]);
  });

  it('refuses float32 inputs and outputs that are not connected', () => {
    const x32 = randn([2], { requiresGrad: true });
    expect(() => gradcheck((a) => F.exp(a), [x32])).to.throw('gradcheck: inputs[0] (shape [2]) is float32; finite differences need float64 inputs');
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    expect(() => gradcheck((a) => a.detach(), [x])).to.throw('gradcheck: fn output does not require grad (is it connected to the inputs?)');
    expect(() => gradcheck((a) => a, [tensor([1], { dtype: 'float64' })])).to.throw('gradcheck: no input requires grad');
  });

  it('leaves the inputs\' existing .grad as it was (torch does not touch it)', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const w = tensor([0.5, -1, 2], { dtype: 'float64', requiresGrad: true });
    const g = tensor([7, 8, 9], { dtype: 'float64' });
    x.grad = g;
    expect(gradcheck((a, b) => F.mul(a, b), [x, w]).passed).to.equal(true);
    expect(x.grad).to.equal(g);
    expect(x.grad!.toArray()).to.deep.equal([7, 8, 9]);
    expect(w.grad).to.equal(null);
    // ... also when the check throws part-way.
    expect(() => gradcheck(() => undefined as unknown as Tensor, [x])).to.throw(Error);
    expect(x.grad).to.equal(g);
  });

  it('refuses inputs whose elements share memory (stride 0), which finite differences cannot perturb one at a time', () => {
    const x = tensor([1, 2], { dtype: 'float64' }).expand(3, 2).detach().requiresGrad_();
    expect(() => gradcheck((a) => F.mul(a, a), [x])).to.throw(
      Error, 'gradcheck: input 0 of shape [3,2] has overlapping memory (strides [0,1]); pass a contiguous copy (x.contiguous())',
    );
    const ok = x.contiguous().detach().requiresGrad_();
    expect(gradcheck((a) => F.mul(a, a), [ok]).passed).to.equal(true);
  });

  it('validates fn, inputs, options and what fn returns, naming the offending value', () => {
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const f = (a: Tensor): Tensor => F.exp(a);
    expect(() => gradcheck(f, x as unknown as Tensor[])).to.throw(Error, 'gradcheck: inputs must be an array of Tensors, got a Tensor of shape [2]');
    expect(() => gradcheck(f, [x, 3 as unknown as Tensor])).to.throw(Error, 'gradcheck: inputs[1] must be a Tensor, got 3');
    expect(() => gradcheck(f, [x], { tol: 1 } as never)).to.throw(Error, "gradcheck: unknown option 'tol'");
    expect(() => gradcheck(f, [x], { max_full_inputs: 1 } as never)).to.throw(Error, "gradcheck: unknown option 'max_full_inputs' (did you mean 'maxFullInputs'?)");
    for (const eps of [0, -1e-6, NaN, Infinity]) {
      expect(() => gradcheck(f, [x], { eps })).to.throw(Error, `gradcheck: eps must be a finite number > 0, got ${eps}`);
    }
    expect(() => gradcheck(f, [x], { atol: -1 })).to.throw(Error, 'gradcheck: atol must be a finite number >= 0, got -1');
    expect(() => gradcheck(f, [x], { rtol: NaN })).to.throw(Error, 'gradcheck: rtol must be a finite number >= 0, got NaN');
    expect(() => gradcheck(f, [x], { projections: 0 })).to.throw(Error, 'gradcheck: projections must be an integer >= 1, got 0');
    expect(() => gradcheck((() => undefined) as unknown as typeof f, [x])).to.throw(Error, 'gradcheck: fn must return a Tensor or a non-empty array of Tensors, got undefined');
    expect(() => gradcheck((() => [1]) as unknown as typeof f, [x])).to.throw(Error, 'gradcheck: fn must return a Tensor or a non-empty array of Tensors, got [1]');
  });

  it('puts a perturbed input back when fn throws during the finite differences', () => {
    // Full mode: the second call of fn is the first perturbed one (x[0] + eps).
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    let calls = 0;
    const throwsLater = (a: Tensor): Tensor => {
      if (++calls > 1) throw new Error('domain error');
      return F.exp(a);
    };
    expect(() => gradcheck(throwsLater, [x])).to.throw(Error, 'domain error');
    expect(Array.from(x.storage)).to.deep.equal([1, 2, 3]);
    // Projected mode shifts every element at once.
    const y = tensor([1, 2, 3, 4], { dtype: 'float64', requiresGrad: true });
    calls = 0;
    expect(() => gradcheck(throwsLater, [y], { maxFullOutputs: 0 })).to.throw(Error, 'domain error');
    expect(Array.from(y.storage)).to.deep.equal([1, 2, 3, 4]);
  });

  it('names the non-finite entry when a backward returns NaN, not a passing one', () => {
    const x = tensor([0.5, 1, 1.5], { dtype: 'float64', requiresGrad: true });
    const exp = derivatives.exp as unknown as { backward: (g: Tensor, ctx: unknown) => { x: Tensor } };
    const orig = exp.backward;
    // A wrong derivative of exp: NaN for d out[2] / d in[2] only (every other entry is right).
    exp.backward = (g, ctx) => {
      const d = Array.from(orig(g, ctx).x.dataSync());
      if (d[2] !== 0) d[2] = NaN;
      return { x: tensor(d, { dtype: 'float64' }) };
    };
    try {
      const rep = gradcheck((a) => F.exp(a), [x]);
      expect(rep.passed).to.equal(false);
      expect(rep.inputs[0].worst!.where).to.equal('d out[2] / d in[2]');
      expect(rep.inputs[0].worst!.analytic).to.be.NaN;
      expect(rep.inputs[0].worst!.numeric).to.be.closeTo(Math.exp(1.5), 1e-6);
      expect(() => assertGradcheck((a) => F.exp(a), [x])).to.throw(/worst at d out\[2\] \/ d in\[2\]: analytic NaN vs numeric 4\.48/);
    } finally {
      exp.backward = orig;
    }
  });

  it('fails a monkeypatched wrong derivative and names input, element, analytic and numeric values', () => {
    const x = tensor([0.5, 1, 1.5], { dtype: 'float64', requiresGrad: true });
    const w = tensor([2, 3, 4], { dtype: 'float64', requiresGrad: true });
    const mul = derivatives.mul as unknown as { backward: (g: Tensor, ctx: unknown) => { a?: Tensor; b?: Tensor } };
    const orig = mul.backward;
    // d(a*b)/db scaled by 1.01: a's gradient stays right.
    mul.backward = (g, ctx) => {
      const r = orig(g, ctx);
      return { a: r.a, b: r.b && F.mul(r.b, tensor([1.01], { dtype: 'float64' })) };
    };
    try {
      const rep = gradcheck((a, b) => F.mul(a, b), [x, w]);
      expect(rep.inputs.map((r) => r.passed)).to.deep.equal([true, false]);
      expect(rep.inputs[1].worst!.where).to.equal('d out[2] / d in[2]');
      expect(rep.inputs[1].worst!.numeric).to.be.closeTo(1.5, 1e-8);
      expect(rep.inputs[1].worst!.analytic).to.be.closeTo(1.515, 1e-12);
      expect(() => assertGradcheck((a, b) => F.mul(a, b), [x, w])).to.throw(/\n {2}input 1 \[3\] \(full\): .*worst at d out\[2\] \/ d in\[2\]: analytic 1\.515\d* vs numeric 1\.4999/);
    } finally {
      mul.backward = orig;
    }
  });

  it('leaves .grad of leaves captured by fn (not passed as inputs) as it was, as torch.autograd.grad does', () => {
    const x = tensor([0.5, -1, 2], { dtype: 'float64', requiresGrad: true });
    const w = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const v = tensor([4, 5, 6], { dtype: 'float64', requiresGrad: true });
    const vg = tensor([1, 1, 1], { dtype: 'float64' });
    v.grad = vg;
    expect(gradcheck((a) => F.add(F.mul(a, w), v), [x]).passed).to.equal(true);
    expect(w.grad).to.equal(null);
    expect(v.grad).to.equal(vg);
    expect(vg.toArray()).to.deep.equal([1, 1, 1]);
    // Projected mode too.
    expect(gradcheck((a) => F.add(F.mul(a, w), v), [x], { maxFullOutputs: 0 }).passed).to.equal(true);
    expect(w.grad).to.equal(null);
    expect(vg.toArray()).to.deep.equal([1, 1, 1]);
  });

  it('checks every differentiable output of a fn returning several tensors, skipping outputs that do not require grad', () => {
    const x = tensor([0.5, -1, 2], { dtype: 'float64', requiresGrad: true });
    const w = tensor([1.5, 2, -0.5], { dtype: 'float64', requiresGrad: true });
    const two = (a: Tensor, b: Tensor): Tensor[] => [F.mul(a, b), F.exp(a), F.mul(a, b).detach()];
    const rep = gradcheck(two, [x, w], { atol: 1e-7, rtol: 1e-6 });
    expect(rep.passed).to.equal(true);
    // 6 differentiable output elements (the detached third output is skipped) × 3 input elements.
    expect(rep.inputs.map((r) => r.checked)).to.deep.equal([18, 18]);
    // A wrong gradient in the second output only is caught and located in it.
    const bad = (a: Tensor, b: Tensor): Tensor[] => [F.mul(a, b), F.mul(F.exp(a), F.exp(a.detach()))];
    const r2 = gradcheck(bad, [x, w]);
    expect(r2.inputs.map((r) => r.passed)).to.deep.equal([false, true]);
    expect(r2.inputs[0].worst!.where).to.match(/^d out1\[\d\] \/ d in\[\d\]$/);
    // Projected mode seeds every differentiable output.
    expect(gradcheck(two, [x, w], { maxFullOutputs: 0 }).passed).to.equal(true);
    expect(gradcheck(bad, [x, w], { maxFullOutputs: 0 }).inputs[0].passed).to.equal(false);
    expect(() => gradcheck((a) => [a.detach()], [x])).to.throw(Error, 'gradcheck: no output of fn requires grad (are they connected to the inputs?)');
    expect(() => gradcheck((() => []) as never, [x])).to.throw(Error, 'gradcheck: fn must return a Tensor or a non-empty array of Tensors, got []');
  });
});
