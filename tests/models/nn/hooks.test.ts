/**
 * Module.call (torch's module(x)) and the forward hooks it runs: registerForwardPreHook /
 * registerForwardHook as torch 1.13's _call_impl runs them (registration order over a snapshot of the
 * list, a pre-hook's non-array return wrapped as the single input), hooks firing inside the library's
 * containers and models, forward() bypassing them, and deepCopy copying them as copy.deepcopy does.
 */
import { expect } from 'chai';
import { randn, zeros } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { assertGradcheck } from '../../../autograd/gradcheck';
import { noGrad } from '../../../autograd/tape';
import { Tensor } from '../../../autograd/tensor';
import { manualSeed } from '../../../lib/random';
import {
  BatchNorm2d, GRU, Identity, Linear, Module, ReLU, Sequential, Tanh, TransformerEncoder, TransformerEncoderLayer,
} from '../../../models/nn/index';
import { BasicBlock, resnet18 } from '../../../models/resnet';

/** y = x·Wᵀ + b for x [N, in], by a float64 loop over the layer's own weights. */
function linearRef(lin: Linear, x: readonly number[], n: number): number[] {
  const [outF, inF] = lin.weight.shape;
  const w = lin.weight.data;
  const b = lin.bias!.data;
  const y: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < outF; o++) {
      let s = b[o];
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
      y.push(s);
    }
  }
  return y;
}

function close(actual: ArrayLike<number>, expected: readonly number[], tol = 1e-12): void {
  expect(actual.length).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i]).to.be.closeTo(expected[i], tol, `element ${i}`);
}

/** forward(x) = x, so the hooks alone decide the values. */
class Pass extends Module {
  calls = 0;
  forward(x: Tensor): Tensor {
    this.calls++;
    return x;
  }
}

describe('nn/Module forward hooks (call, registerForwardPreHook, registerForwardHook)', () => {
  beforeEach(() => manualSeed(11));

  it('call() without hooks is forward(), and forward() bypasses hooks, as torch', () => {
    const lin = new Linear(3, 2, { dtype: 'float64' });
    const x = randn([4, 3], { dtype: 'float64' });
    close(lin.call(x).data, linearRef(lin, [...x.data], 4));
    let fired = 0;
    lin.registerForwardPreHook(() => { fired++; });
    lin.registerForwardHook(() => { fired += 10; });
    close(lin.forward(x).data, linearRef(lin, [...x.data], 4));
    expect(fired).to.equal(0);
    lin.call(x);
    expect(fired).to.equal(11);
  });

  it('a pre-hook replaces the input: a Tensor is the single input (torch wraps a non-tuple), an array is the inputs', () => {
    const lin = new Linear(3, 2, { dtype: 'float64' });
    const x = randn([2, 3], { dtype: 'float64' });
    const doubled = [...x.data].map((v) => 2 * v);
    const h = lin.registerForwardPreHook((m, inputs) => {
      expect(m).to.equal(lin);
      expect(inputs).to.have.length(1);
      expect(inputs[0]).to.equal(x);
      return F.mul(inputs[0], 2);
    });
    close(lin.call(x).data, linearRef(lin, doubled, 2));
    h.remove();
    lin.registerForwardPreHook((_m, inputs) => [F.add(inputs[0], 1)]);
    close(lin.call(x).data, linearRef(lin, [...x.data].map((v) => v + 1), 2));
  });

  it('a forward hook gets the inputs forward was given (after the pre-hooks) and replaces the output', () => {
    const lin = new Linear(3, 2, { dtype: 'float64' });
    const x = randn([2, 3], { dtype: 'float64' });
    const replaced = F.neg(x);
    lin.registerForwardPreHook(() => replaced);
    let seen: unknown[] = [];
    let seenOut: Tensor | null = null;
    lin.registerForwardHook((m, inputs, out) => {
      expect(m).to.equal(lin);
      seen = inputs;
      seenOut = out;
      return F.mul(out, 3);
    });
    const y = lin.call(x);
    const ref = linearRef(lin, [...replaced.data], 2);
    expect(seen).to.have.length(1);
    expect(seen[0]).to.equal(replaced);
    close(seenOut!.data, ref);
    close(y.data, ref.map((v) => 3 * v));
  });

  it('several hooks run in registration order, each given the previous result; one function registered twice runs twice', () => {
    const m = new Pass();
    const log: string[] = [];
    const x = randn([5], { dtype: 'float64' });
    m.registerForwardPreHook((_m, [t]) => { log.push('pre1'); return F.add(t, 1); });
    m.registerForwardPreHook((_m, [t]) => { log.push('pre2'); return F.mul(t, 3); });
    const twice = (_m: Pass, _i: unknown, out: Tensor): Tensor => { log.push('twice'); return F.mul(out, 2); };
    m.registerForwardHook(twice);
    m.registerForwardHook((_m, _i, out) => { log.push('plus5'); return F.add(out, 5); });
    m.registerForwardHook(twice);
    const y = m.call(x);
    expect(log).to.deep.equal(['pre1', 'pre2', 'twice', 'plus5', 'twice']);
    close(y.data, [...x.data].map((v) => (((v + 1) * 3) * 2 + 5) * 2));
  });

  it('handles remove their own registration (again: nothing), and removing every hook restores the plain call', () => {
    const m = new Pass();
    const x = randn([3], { dtype: 'float64' });
    const f = (_m: Pass, _i: unknown, out: Tensor): Tensor => F.add(out, 1);
    const h1 = m.registerForwardHook(f);
    const h2 = m.registerForwardHook(f);
    const p = m.registerForwardPreHook((_m, [t]) => F.mul(t, 10));
    close(m.call(x).data, [...x.data].map((v) => 10 * v + 2));
    h1.remove();
    h1.remove();
    close(m.call(x).data, [...x.data].map((v) => 10 * v + 1));
    p.remove();
    h2.remove();
    expect(m._forwardHooks).to.equal(null);
    expect(m._forwardPreHooks).to.equal(null);
    expect(m.call(x)).to.equal(x); // Pass returns its input: no hook touched it
  });

  it('removing during a call is safe: the list is snapshotted when the hooks start, as torch 1.13', () => {
    const m = new Pass();
    const x = randn([2], { dtype: 'float64' });
    const log: string[] = [];
    // A hook that removes itself runs once; one removed by an earlier hook still runs this call, not the next.
    const self: { h?: { remove(): void } } = {};
    self.h = m.registerForwardHook(() => { log.push('a'); self.h!.remove(); });
    const later: { h?: { remove(): void } } = {};
    m.registerForwardHook(() => { log.push('b'); later.h!.remove(); });
    later.h = m.registerForwardHook(() => { log.push('c'); });
    m.registerForwardHook(() => { log.push('d'); });
    m.call(x);
    expect(log).to.deep.equal(['a', 'b', 'c', 'd']);
    log.length = 0;
    m.call(x);
    expect(log).to.deep.equal(['b', 'd']);
    // The forward hooks are read after forward: a pre-hook that removes one keeps it from running this call,
    // and one registered by a pre-hook runs in this call.
    const n = new Pass();
    const out: string[] = [];
    const gone = n.registerForwardHook(() => { out.push('gone'); });
    n.registerForwardPreHook(() => { gone.remove(); n.registerForwardHook(() => { out.push('added'); }); });
    n.call(x);
    expect(out).to.deep.equal(['added']);
    expect(n.calls).to.equal(1);
  });

  it('fires inside Sequential: capture an intermediate, or replace it and change what the next layer gets', () => {
    const l1 = new Linear(3, 4, { dtype: 'float64' });
    const l2 = new Linear(4, 2, { dtype: 'float64' });
    const seq = new Sequential(l1, new Tanh(), l2);
    const x = randn([2, 3], { dtype: 'float64' });
    let feats: Tensor | null = null;
    const h = seq.at(1).registerForwardHook((_m, _i, o: Tensor) => { feats = o; });
    const y = seq.call(x);
    const hidden = linearRef(l1, [...x.data], 2).map(Math.tanh);
    close(feats!.data, hidden);
    close(y.data, linearRef(l2, hidden, 2));
    h.remove();
    // forward() on the Sequential still calls its children: only the Sequential's own hooks are bypassed.
    let outer = 0;
    seq.registerForwardHook(() => { outer++; });
    seq.at(1).registerForwardHook((_m, _i, o: Tensor) => F.mul(o, 0.5));
    close(seq.forward(x).data, linearRef(l2, hidden.map((v) => 0.5 * v), 2));
    expect(outer).to.equal(0);
    seq.call(x);
    expect(outer).to.equal(1);
  });

  it('gradients flow through a replaced output (gradcheck through call with a hook)', () => {
    const lin = new Linear(3, 2, { dtype: 'float64' });
    lin.registerForwardPreHook((_m, [t]) => F.mul(t, t));
    lin.registerForwardHook((_m, _i, o) => F.tanh(o));
    assertGradcheck((x) => lin.call(x), [randn([2, 3], { dtype: 'float64' }), ...lin.parameters()]);
  });

  it("resnet18: a hook on layer3 captures the stage's output, equal to a manual forward through the stem and layers", () => {
    const model = resnet18({ width: 4, variant: 'cifar', numClasses: 3, dtype: 'float64' }).eval();
    const x = randn([2, 3, 8, 8], { dtype: 'float64' });
    let feats: Tensor | null = null;
    model.layer3.registerForwardHook((_m, _i, o) => { feats = o; });
    const logits = noGrad(() => model.call(x));
    const manual = noGrad(() => {
      let h = model.relu.forward(model.bn1.forward(model.conv1.forward(x)));
      h = model.maxpool.forward(h) as Tensor;
      for (const stage of [model.layer1, model.layer2, model.layer3]) {
        for (const block of stage) {
          const b = block as BasicBlock;
          const branch = b.bn2.forward(b.conv2.forward(b.relu.forward(b.bn1.forward(b.conv1.forward(h)))));
          const shortcut = b.downsample ? b.downsample.at(1).forward(b.downsample.at(0).forward(h)) as Tensor : h;
          h = b.relu.forward(F.add(branch, shortcut));
        }
      }
      return h;
    });
    expect([...feats!.shape]).to.deep.equal([2, 16, 2, 2]);
    close(feats!.data, [...manual.data]);
    // The rest of the model runs on what layer3 gave: the logits are layer4 → pool → fc of it.
    const rest = noGrad(() => model.fc.forward(F.flatten(model.avgpool.forward(model.layer4.forward(feats!)), 1)));
    close(logits.data, [...rest.data]);
  });

  it("resnet18: hooks fire in torchvision's BasicBlock order; hooks that return nothing leave the output bit-identical", () => {
    const model = resnet18({ width: 4, variant: 'cifar', numClasses: 3, dtype: 'float64' });
    const x = randn([2, 3, 8, 8], { dtype: 'float64' });
    const plain = noGrad(() => model.eval().call(x));
    const block = model.layer2.at(0) as BasicBlock;
    const log: string[] = [];
    for (const [name, m] of block.namedModules()) m.registerForwardHook(() => { log.push(name || 'block'); });
    const hooked = noGrad(() => model.call(x));
    // torchvision: conv1 bn1 relu conv2 bn2, then downsample, then relu; a module's hook after its children's.
    expect(log).to.deep.equal(['conv1', 'bn1', 'relu', 'conv2', 'bn2', 'downsample.0', 'downsample.1', 'downsample', 'relu', 'block']);
    expect([...hooked.data]).to.deep.equal([...plain.data]);
  });

  it('resnet18: a hook replacing a BatchNorm2d output inside a block is used (the fused bn → add → relu steps aside)', () => {
    const model = resnet18({ width: 4, variant: 'cifar', numClasses: 3, dtype: 'float64' }).eval();
    const x = randn([1, 3, 4, 4], { dtype: 'float64' });
    const block = model.layer1.at(1) as BasicBlock;
    let input: Tensor | null = null;
    block.registerForwardPreHook((_m, [t]) => { input = t; });
    let out: Tensor | null = null;
    block.registerForwardHook((_m, _i, o) => { out = o; });
    block.bn2.registerForwardHook((_m, _i, o) => zeros(o.shape, { dtype: 'float64' }));
    noGrad(() => model.call(x));
    // relu(0 + x) = relu(x): the block's input is already a relu output, so the block passes it through.
    close(out!.data, [...input!.data].map((v) => Math.max(v, 0)));
    expect([...input!.data].every((v) => v >= 0)).to.equal(true);
  });

  it('fires inside TransformerEncoder and its layers; deepCopy copies hooks as torch 1.13 copy.deepcopy does', () => {
    const layer = new TransformerEncoderLayer(4, 2, { dimFeedforward: 8, dropout: 0, dtype: 'float64' });
    let copies = 0;
    layer.registerForwardHook(() => { copies++; });
    const enc = new TransformerEncoder(layer, 3);
    const src = randn([5, 2, 4], { dtype: 'float64' });
    enc.call(src);
    expect(copies).to.equal(3); // each clone carries the hook torch's _get_clones deep-copied
    const first = enc.layers.at(0) as TransformerEncoderLayer;
    let attn: unknown[] = [];
    first.self_attn.registerForwardHook((_m, inputs, o) => { attn = [inputs, o]; });
    first.norm2.registerForwardHook((_m, _i, o: Tensor) => zeros(o.shape, { dtype: 'float64' }));
    let secondIn: Tensor | null = null;
    enc.layers.at(1).registerForwardPreHook((_m, inputs) => { secondIn = inputs[0] as Tensor; });
    enc.call(src);
    const [inputs, o] = attn as [unknown[], [Tensor, Tensor | null]];
    expect(inputs.slice(0, 3).every((t) => t === src)).to.equal(true);
    expect([...o[0].shape]).to.deep.equal([5, 2, 4]);
    expect(o[1]).to.equal(null); // needWeights: false
    expect([...secondIn!.data].every((v) => v === 0)).to.equal(true); // post-norm: the layer's output is norm2's

    // The copy runs the same function with itself as the module; a handle removes only the original's.
    const lin = new Linear(2, 2, { dtype: 'float64' });
    const seen: Module[] = [];
    const h = lin.registerForwardHook((m) => { seen.push(m); });
    const copy = lin.deepCopy();
    h.remove();
    const x = randn([1, 2], { dtype: 'float64' });
    lin.call(x);
    copy.call(x);
    expect(seen).to.have.length(1);
    expect(seen[0]).to.equal(copy);
  });

  it('hooks see a recurrent layer\'s [output, hN] and may replace it with another array', () => {
    const gru = new GRU(3, 2, { dtype: 'float64' });
    const x = randn([4, 1, 3], { dtype: 'float64' });
    const [y0, h0] = gru.forward(x);
    gru.registerForwardHook((_m, _i, [y, h]) => [F.mul(y, 2), h]);
    const [y1, h1] = gru.call(x);
    close(y1.data, [...y0.data].map((v) => 2 * v));
    close(h1.data, [...h0.data]);
  });

  it('errors name the module and the hook kind when a Tensor is needed and a hook returns something else', () => {
    const lin = new Linear(3, 2);
    const x = randn([1, 3]);
    const h = lin.registerForwardHook(() => 3 as unknown as Tensor);
    expect(() => lin.call(x)).to.throw(/^registerForwardHook: a forward hook of Linear returned 3 in place of its output, a Tensor of shape \[1,2\]/);
    h.remove();
    const relu = new ReLU();
    const seq = new Sequential(new Identity(), relu);
    relu.registerForwardPreHook(() => 'x');
    expect(() => seq.call(x)).to.throw(/^registerForwardPreHook: a forward pre-hook of ReLU returned "x", whose input 0 is "x", where ReLU.forward was given a Tensor of shape \[1,3\]/);
    const bn = new BatchNorm2d(2);
    bn.registerForwardPreHook(() => []);
    expect(() => bn.call(randn([1, 2, 2, 2]))).to.throw(/^registerForwardPreHook: a forward pre-hook of BatchNorm2d returned \[\], whose input 0 is undefined/);
    expect(() => lin.registerForwardHook(null as never)).to.throw(/^registerForwardHook: expected a function, got null \(for Linear\)/);
    expect(() => lin.registerForwardPreHook(5 as never)).to.throw(/^registerForwardPreHook: expected a function, got 5 \(for Linear\)/);
  });
});
