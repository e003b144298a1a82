/**
 * The loss modules: forward(input, target) against float64 reference loops from torch's documented
 * formulas, float64 gradchecks through each module (weights included), their weight buffers
 * (stateDict keys, loadStateDict, to()/double(), the caller's tensor left alone), torch's repr, and
 * construction errors naming the module.
 */
import { expect } from 'chai';
import { tensor } from '../../../autograd/creation';
import { assertGradcheck } from '../../../autograd/gradcheck';
import { Tensor } from '../../../autograd/tensor';
import { Random } from '../../../lib/random';
import {
  BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, Linear, MSELoss, Module, NLLLoss, Sequential, SmoothL1Loss,
} from '../../../models/nn/index';
import { randomTensor } from '../../helpers';

const rng = new Random(2412);
const leaf = (shape: number[], fn: (u: number) => number = (u) => u, dtype: 'float32' | 'float64' = 'float64'): Tensor =>
  randomTensor(rng, shape, dtype, fn).requiresGrad_(true);
const f64 = (v: number[]): Tensor => tensor(v, { dtype: 'float64' });
const vals = (t: Tensor): number[] => Array.from(t.data);
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const logSigmoid = (z: number): number => (z < 0 ? z - Math.log1p(Math.exp(z)) : -Math.log1p(Math.exp(-z)));

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]), `element ${i}: ${actual[i]} vs ${expected[i]}`).to.be.at.most(tol * Math.max(1, Math.abs(expected[i])));
  }
}

describe('models/nn/loss: modules', () => {
  it('CrossEntropyLoss with weight, ignoreIndex and labelSmoothing matches torch\'s formula; gradcheck through the module', () => {
    const z = leaf([4, 3]);
    const t = [2, -1, 0, 1];
    const w = [0.5, 2, 1.5];
    const eps = 0.1;
    const rows = z.toArray() as number[][];
    let num = 0, den = 0;
    rows.forEach((r, n) => {
      if (t[n] === -1) return;
      const m = Math.max(...r);
      const lse = m + Math.log(r.reduce((s, v) => s + Math.exp(v - m), 0));
      const logp = r.map((v) => v - lse);
      // (1 − ε)·(−w_t·logp_t) + ε/C·Σ_c(−w_c·logp_c), the mean over Σ w_t (torch's docs).
      num += (1 - eps) * -w[t[n]] * logp[t[n]] + (eps / 3) * logp.reduce((s, v, c) => s - w[c] * v, 0);
      den += w[t[n]];
    });
    const loss = new CrossEntropyLoss({ weight: f64(w), ignoreIndex: -1, labelSmoothing: eps });
    close(loss.forward(z, t).data, [num / den], 1e-14);
    assertGradcheck((x) => loss.forward(x, t), [z]);
    expect(new CrossEntropyLoss({ reduction: 'none' }).forward(z, [0, 1, 2, 0]).shape).to.deep.equal([4]);
  });

  it('NLLLoss with weight and ignoreIndex: the weighted mean over the kept targets; unbatched input; gradcheck', () => {
    const x = leaf([5, 4]);
    const rows = x.toArray() as number[][];
    const t = [3, 0, 7, 1, 3];
    const w = [1, 2, 3, 4];
    const loss = new NLLLoss({ weight: f64(w), ignoreIndex: 7 });
    let num = 0, den = 0;
    t.forEach((c, n) => { if (c !== 7) { num -= w[c] * rows[n][c]; den += w[c]; } });
    close(loss.forward(x, t).data, [num / den], 1e-14);
    assertGradcheck((a) => loss.forward(a, t), [x]);
    const sumLoss = new NLLLoss({ reduction: 'sum' });
    close(sumLoss.forward(x.select(0, 1), tensor(2)).data, [-rows[1][2]], 1e-15);
  });

  it('CrossEntropyLoss and NLLLoss take K-dimensional input [N, C, d1, d2] with targets [N, d1, d2], one sample [C], and probabilities of the logits\' shape', () => {
    const z = leaf([2, 3, 2, 2]); // element (n, c, s) at (n·3 + c)·4 + s
    const zv = vals(z);
    const t = [2, 0, -1, 1, 1, 1, 0, -1];
    const target = f64(t).reshape([2, 2, 2]);
    const w = [0.5, 2, 1.5];
    const eps = 0.2;
    const per: number[] = [];
    let den = 0;
    for (let n = 0; n < 2; n++) {
      for (let s = 0; s < 4; s++) {
        const y = t[n * 4 + s];
        const x = [0, 1, 2].map((c) => zv[(n * 3 + c) * 4 + s]);
        const lse = Math.log(x.reduce((a, v) => a + Math.exp(v), 0));
        const logp = x.map((v) => v - lse);
        if (y === -1) { per.push(0); continue; }
        // (1 − ε)·(−w_y·logp_y) + ε/C·Σ_c(−w_c·logp_c); the mean over Σ w_y of the kept targets.
        per.push((1 - eps) * -w[y] * logp[y] + (eps / 3) * logp.reduce((a, v, c) => a - w[c] * v, 0));
        den += w[y];
      }
    }
    const ce = new CrossEntropyLoss({ weight: f64(w), ignoreIndex: -1, labelSmoothing: eps });
    close(ce.forward(z, target).data, [per.reduce((a, b) => a + b, 0) / den], 1e-14);
    assertGradcheck((x) => ce.forward(x, target), [z]);
    const ceNone = new CrossEntropyLoss({ weight: f64(w), ignoreIndex: -1, labelSmoothing: eps, reduction: 'none' });
    const none = ceNone.forward(z, target);
    expect(none.shape).to.deep.equal([2, 2, 2]);
    close(none.data, per, 1e-14);
    // Probabilities of the logits' shape: one-hot at each kept target is the unsmoothed, unweighted nll, mean over all 8 positions.
    const onehot = new Array<number>(24).fill(0);
    t.forEach((y, k) => { if (y >= 0) onehot[(Math.floor(k / 4) * 3 + y) * 4 + (k % 4)] = 1; });
    let soft = 0;
    t.forEach((y, k) => {
      if (y < 0) return;
      const n = Math.floor(k / 4), s = k % 4;
      const x = [0, 1, 2].map((c) => zv[(n * 3 + c) * 4 + s]);
      soft -= x[y] - Math.log(x.reduce((a, v) => a + Math.exp(v), 0));
    });
    close(new CrossEntropyLoss().forward(z, f64(onehot).reshape([2, 3, 2, 2])).data, [soft / 8], 1e-14);
    const nll = new NLLLoss({ weight: f64(w), ignoreIndex: -1, reduction: 'sum' });
    let nllSum = 0;
    t.forEach((y, k) => { if (y >= 0) nllSum -= w[y] * zv[(Math.floor(k / 4) * 3 + y) * 4 + (k % 4)]; });
    close(nll.forward(z, target).data, [nllSum], 1e-14);
    assertGradcheck((x) => nll.forward(x, target), [z]);
    expect(new NLLLoss({ reduction: 'none' }).forward(z, f64([0, 1, 2, 0, 1, 2, 0, 1]).reshape([2, 2, 2])).shape).to.deep.equal([2, 2, 2]);
    const one = leaf([3]);
    const ov = vals(one);
    const oneLoss = new CrossEntropyLoss({ reduction: 'none' }).forward(one, tensor(1));
    expect(oneLoss.shape).to.deep.equal([]);
    close(oneLoss.data, [Math.log(ov.reduce((a, v) => a + Math.exp(v), 0)) - ov[1]], 1e-14);
    expect(() => ce.forward(z, f64([0, 1, 2, 0]).reshape([2, 2]))).to.throw('crossEntropy: expected class-index target of shape [2,2,2] or class probabilities of shape [2,3,2,2] (a Tensor) for logits [2,3,2,2], got [2,2]');
    expect(() => nll.forward(z, f64([0, 1, 2, 0]).reshape([2, 2]))).to.throw('nllLoss: expected a class-index target of shape [2,2,2] for input [2,3,2,2], got [2,2]');
  });

  it('MSELoss, L1Loss, SmoothL1Loss and HuberLoss match their formulas for each reduction; gradcheck for input and target', () => {
    const x = leaf([3, 4], (u) => 2 * u), y = leaf([3, 4]);
    const d = vals(x).map((v, i) => v - vals(y)[i]);
    const cases: Array<[Module & { forward(a: Tensor, b: Tensor): Tensor }, (d: number) => number]> = [
      [new MSELoss(), (e) => e * e],
      [new L1Loss(), (e) => Math.abs(e)],
      [new SmoothL1Loss({ beta: 0.5 }), (e) => (Math.abs(e) < 0.5 ? (0.5 * e * e) / 0.5 : Math.abs(e) - 0.25)],
      [new SmoothL1Loss(), (e) => (Math.abs(e) < 1 ? 0.5 * e * e : Math.abs(e) - 0.5)],
      [new HuberLoss({ delta: 0.5 }), (e) => (Math.abs(e) < 0.5 ? 0.5 * e * e : 0.5 * (Math.abs(e) - 0.25))],
      [new HuberLoss(), (e) => (Math.abs(e) < 1 ? 0.5 * e * e : Math.abs(e) - 0.5)],
    ];
    for (const [m, f] of cases) {
      close(m.forward(x, y).data, [mean(d.map(f))], 1e-14);
      assertGradcheck((a, b) => m.forward(a, b), [x, y]);
    }
    close(new L1Loss({ reduction: 'sum' }).forward(x, y).data, [d.reduce((s, e) => s + Math.abs(e), 0)], 1e-14);
    close(new MSELoss({ reduction: 'none' }).forward(x, y).data, d.map((e) => e * e), 1e-15);
    expect(new SmoothL1Loss({ beta: 0 }).forward(x, y).item()).to.equal(new L1Loss().forward(x, y).item());
  });

  it('BCELoss with a per-class weight, and BCEWithLogitsLoss with weight and posWeight, match the docs\' formulas; gradcheck', () => {
    const p = leaf([3, 2], (u) => 0.05 + 0.9 / (1 + Math.exp(-u))), y = leaf([3, 2], (u) => (u > 0 ? 1 : 0));
    const w = [2, 0.5];
    const bce = new BCELoss({ weight: f64(w), reduction: 'sum' });
    const refBce = vals(p).reduce((s, v, i) => s - w[i % 2] * (vals(y)[i] * Math.log(v) + (1 - vals(y)[i]) * Math.log(1 - v)), 0);
    close(bce.forward(p, y).data, [refBce], 1e-14);
    assertGradcheck((a, b) => bce.forward(a, b), [p, y]);

    const z = leaf([3, 2], (u) => 3 * u);
    const pw = [3, 0.5];
    const bcel = new BCEWithLogitsLoss({ weight: f64(w), posWeight: f64(pw) });
    const refL = mean(vals(z).map((v, i) => -w[i % 2] * (pw[i % 2] * vals(y)[i] * logSigmoid(v) + (1 - vals(y)[i]) * logSigmoid(-v))));
    close(bcel.forward(z, y).data, [refL], 1e-14);
    assertGradcheck((a, b) => bcel.forward(a, b), [z, y]);
  });

  it('BCEWithLogitsLoss in float32 at logits ±100: finite losses and gradients', () => {
    const z = tensor([[100, -100], [-100, 100]], { requiresGrad: true });
    const loss = new BCEWithLogitsLoss({ posWeight: tensor([2, 1]), reduction: 'none' }).forward(z, tensor([[1, 1], [0, 0]]));
    // −p·y·log σ(x) − (1 − y)·log σ(−x): [[0, 100], [0, 100]] to float32 rounding.
    close(loss.data, [0, 100, 0, 100], 1e-6);
    loss.sum().backward();
    close(z.grad!.data, [0, -1, 0, 1], 1e-6);
  });

  it('weights are buffers under torch\'s keys: in stateDict, loaded by loadStateDict, converted by double() without touching the caller\'s tensor', () => {
    const w = tensor([1, 2, 3]);
    const ce = new CrossEntropyLoss({ weight: w });
    expect(Object.keys(ce.stateDict())).to.deep.equal(['weight']);
    expect(ce.parameters()).to.deep.equal([]);
    ce.double();
    expect(ce.weight!.dtype).to.equal('float64');
    expect(w.dtype, 'the caller\'s tensor').to.equal('float32');
    w.data[0] = 100;
    expect(ce.weight!.data[0], 'a copy, not a view of the caller\'s tensor').to.equal(1);
    const z = leaf([2, 3]);
    const logp = (z.toArray() as number[][]).map((r) => r.map((v) => v - Math.log(r.reduce((s, u) => s + Math.exp(u), 0))));
    close(ce.forward(z, [0, 2]).data, [(-1 * logp[0][0] - 3 * logp[1][2]) / 4], 1e-14);
    ce.loadStateDict({ weight: tensor([4, 5, 6]) });
    expect(Array.from(ce.weight!.data)).to.deep.equal([4, 5, 6]);

    const bcel = new BCEWithLogitsLoss({ weight: tensor([[1, 2]]), posWeight: tensor([3, 4]) });
    expect(Object.keys(bcel.stateDict())).to.deep.equal(['weight', 'pos_weight']);
    expect(Array.from(bcel.posWeight!.data)).to.deep.equal([3, 4]);
    bcel.to('float64');
    expect(bcel.weight!.dtype).to.equal('float64');
    expect(bcel.posWeight!.dtype).to.equal('float64');
    close(bcel.forward(f64([0, 0]).reshape([1, 2]), f64([1, 0]).reshape([1, 2])).data, [(1 * 3 * Math.LN2 + 2 * Math.LN2) / 2], 1e-15);

    const plain = new BCEWithLogitsLoss();
    expect(plain.weight).to.equal(null);
    expect(plain.posWeight).to.equal(null);
    expect(plain.stateDict()).to.deep.equal({});
    expect(new NLLLoss().weight).to.equal(null);
    // A weight that requires grad is stored detached, as a constant.
    expect(new NLLLoss({ weight: tensor([1, 2], { requiresGrad: true }) }).weight!.requiresGrad).to.equal(false);
  });

  it('prints as torch does, without options (torch\'s loss modules have no extra_repr), inside a model too; forward takes two arguments as a Module', () => {
    expect(String(new CrossEntropyLoss({ weight: tensor([1, 2]), labelSmoothing: 0.1 }))).to.equal('CrossEntropyLoss()');
    expect(String(new SmoothL1Loss({ beta: 0.5 }))).to.equal('SmoothL1Loss()');
    expect(String(new BCEWithLogitsLoss({ posWeight: tensor([2]) }))).to.equal('BCEWithLogitsLoss()');
    const lossAsModule: Module = new MSELoss();
    expect(lossAsModule.forward(tensor([1, 2]), tensor([1, 4])).item()).to.equal(2);
    expect(String(new Sequential(new Linear(2, 1), new HuberLoss()))).to.equal('Sequential(\n  (0): Linear(in_features=2, out_features=1, bias=True)\n  (1): HuberLoss()\n)');
    const m = new HuberLoss({ delta: 2, reduction: 'sum' });
    expect([m.delta, m.reduction]).to.deep.equal([2, 'sum']);
    const c = new CrossEntropyLoss();
    expect([c.ignoreIndex, c.labelSmoothing, c.reduction]).to.deep.equal([-100, 0, 'mean']);
  });

  it('construction errors name the module: unknown or snake_case options, reduction, beta, delta, ignoreIndex, labelSmoothing, weight', () => {
    expect(() => new CrossEntropyLoss({ label_smoothing: 0.1 } as never)).to.throw("CrossEntropyLoss: unknown option 'label_smoothing' (did you mean 'labelSmoothing'?)");
    expect(() => new BCEWithLogitsLoss({ pos_weight: tensor([1]) } as never)).to.throw("BCEWithLogitsLoss: unknown option 'pos_weight' (did you mean 'posWeight'?)");
    expect(() => new MSELoss({ reduction: 'elementwise_mean' as 'mean' })).to.throw("MSELoss: reduction must be 'mean', 'sum' or 'none', got \"elementwise_mean\"");
    expect(() => new L1Loss({ beta: 1 } as never)).to.throw("L1Loss: unknown option 'beta'");
    expect(() => new L1Loss(null as never)).to.throw('L1Loss: options must be an object, got null');
    expect(() => new SmoothL1Loss({ beta: -1 })).to.throw('SmoothL1Loss: beta must be a finite non-negative number, got -1');
    expect(() => new HuberLoss({ delta: 0 })).to.throw('HuberLoss: delta must be a finite positive number, got 0');
    expect(() => new NLLLoss({ ignoreIndex: 1.5 })).to.throw('NLLLoss: ignoreIndex must be an integer, got 1.5');
    expect(() => new CrossEntropyLoss({ labelSmoothing: 2 })).to.throw('CrossEntropyLoss: labelSmoothing must be in [0, 1], got 2');
    expect(() => new CrossEntropyLoss({ weight: tensor([[1, 2]]) })).to.throw('CrossEntropyLoss: weight must be a 1-d tensor of one weight per class, got shape [1,2]');
    expect(() => new BCELoss({ weight: [1, 2] as never })).to.throw('BCELoss: weight must be a Tensor, got [1, 2]');
    // Errors found at forward come from the functional op and name it.
    expect(() => new NLLLoss({ weight: tensor([1, 2]) }).forward(tensor([[0.1, 0.2, 0.3]]), [0])).to.throw('nllLoss: weight must have shape [3], got [2]');
    expect(() => new BCELoss().forward(tensor([2]), tensor([1]))).to.throw('binaryCrossEntropy: all elements of input should be between 0 and 1');
  });
});
