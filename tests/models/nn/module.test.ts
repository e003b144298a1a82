import { expect } from 'chai';
import { randn, tensor, zeros } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { Tensor } from '../../../autograd/tensor';
import { isShared, setSharedStorage, sharedStorageEnabled } from '../../../lib/core/dtype';
import { SGD } from '../../../lib/optim/sgd';
import { getNumThreads, setContentionGuard, setNumThreads, threadStats, waitForThreads } from '../../../lib/platform/threads';
import { manualSeed, Random } from '../../../lib/random';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, CrossEntropyLoss, Dropout, Flatten, Identity, init, Linear, MaxPool2d, Module, Parameter, ReLU, Sequential,
} from '../../../models/nn/index';
import type { TensorData } from '../../../models/nn/module';

class Tiny extends Module {
  readonly fc1: Linear;
  readonly bn: BatchNorm1d;
  readonly fc2: Linear;
  readonly scale: Parameter;
  constructor() {
    super();
    this.scale = this.registerParameter('scale', new Parameter(tensor([1])));
    this.fc1 = this.registerModule('fc1', new Linear(3, 4));
    this.bn = this.registerModule('bn', new BatchNorm1d(4));
    this.fc2 = this.registerModule('fc2', new Linear(4, 2, { bias: false }));
  }
  forward(x: Tensor): Tensor {
    return F.mul(this.fc2.forward(F.relu(this.bn.forward(this.fc1.forward(x)))), this.scale);
  }
}

describe('models/nn/module', () => {
  beforeEach(() => manualSeed(0));

  it('visits a module registered twice once, as torch does; stateDict still lists every name', () => {
    const lin = new Linear(2, 2);
    const seq = new Sequential(lin, new ReLU(), lin);
    expect([...seq.namedModules()].map(([n]) => n)).to.deep.equal(['', '0', '1']);
    expect([...seq.children()]).to.have.length(2);
    expect([...seq], 'iterating a Sequential gives its layers, repeats included').to.deep.equal([lin, seq.at(1), lin]);
    expect(seq.parameters()).to.have.length(2);
    let linearCalls = 0;
    seq.apply((m) => { if (m instanceof Linear) linearCalls++; });
    expect(linearCalls, 'apply reaches the shared Linear once').to.equal(1);
    const bn = new BatchNorm1d(2);
    const twice = new Sequential(bn, bn);
    expect(twice.buffers()).to.have.length(3);
    expect(Object.keys(twice.stateDict())).to.deep.equal([
      '0.weight', '0.bias', '0.running_mean', '0.running_var', '0.num_batches_tracked',
      '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked',
    ]);
    expect([...twice.integerStateKeys()]).to.deep.equal(['0.num_batches_tracked', '1.num_batches_tracked']);
    twice.loadStateDict(twice.stateDict()); // both names load (strict)
  });

  it('registers parameters, buffers and children by name, in order', () => {
    const m = new Tiny();
    expect([...m.namedParameters()].map(([k]) => k)).to.deep.equal(['scale', 'fc1.weight', 'fc1.bias', 'bn.weight', 'bn.bias', 'fc2.weight']);
    expect([...m.namedBuffers()].map(([k]) => k)).to.deep.equal(['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
    expect([...m.namedChildren()].map(([k]) => k)).to.deep.equal(['fc1', 'bn', 'fc2']);
    expect([...m.namedModules()].map(([k]) => k)).to.deep.equal(['', 'fc1', 'bn', 'fc2']);
    expect(m.numParameters()).to.equal(1 + 12 + 4 + 4 + 4 + 8);
    expect(m.parameters().every((p) => p.requiresGrad)).to.equal(true);
  });

  it('stateDict has PyTorch dotted keys, shares storage, and lists integer buffers', () => {
    const m = new Tiny();
    const sd = m.stateDict();
    expect(Object.keys(sd)).to.deep.equal([
      'scale', 'fc1.weight', 'fc1.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked', 'fc2.weight',
    ]);
    expect(sd['fc1.weight'].storage).to.equal(m.fc1.weight.storage);
    expect(sd['fc1.weight'].requiresGrad).to.equal(false);
    expect([...m.integerStateKeys()]).to.deep.equal(['bn.num_batches_tracked']);
  });

  it('loadStateDict copies values and reports every missing, unexpected and mis-shaped key by name', () => {
    const a = new Tiny();
    manualSeed(1);
    const b = new Tiny();
    expect(Array.from(b.fc1.weight.data)).to.not.deep.equal(Array.from(a.fc1.weight.data));
    b.loadStateDict(a.stateDict());
    expect(Array.from(b.fc1.weight.data)).to.deep.equal(Array.from(a.fc1.weight.data));
    expect(b.fc1.weight.storage).to.not.equal(a.fc1.weight.storage);

    const sd = a.stateDict();
    delete sd['fc2.weight'];
    delete sd['bn.running_var'];
    sd['extra.weight'] = zeros([2]);
    sd['fc1.bias'] = zeros([5]);
    let msg = '';
    try { b.loadStateDict(sd); } catch (e) { msg = (e as Error).message; }
    expect(msg).to.equal('loadStateDict: error(s) loading state dict into Tiny:\n'
      + '  size mismatch for fc1.bias: checkpoint has shape [5], model has [4]\n'
      + '  missing keys: bn.running_var, fc2.weight\n'
      + '  unexpected keys: extra.weight');
    delete sd['fc1.bias'];
    const res = b.loadStateDict(sd, { strict: false });
    expect(res).to.deep.equal({ missingKeys: ['fc1.bias', 'bn.running_var', 'fc2.weight'], unexpectedKeys: ['extra.weight'] });
    const bad = a.stateDict();
    bad['fc1.bias'] = zeros([5]);
    expect(() => b.loadStateDict(bad, { strict: false })).to.throw('size mismatch for fc1.bias');
  });

  it('loadStateDict sets a batch norm\'s missing num_batches_tracked to 0, as PyTorch does for older state dicts', () => {
    const a = new Tiny();
    const b = new Tiny();
    b.train();
    b.forward(randn([3, 3]));
    b.forward(randn([3, 3]));
    expect(b.bn.numBatchesTracked).to.equal(2);
    const sd = a.stateDict();
    delete sd['bn.num_batches_tracked'];
    const res = b.loadStateDict(sd);
    expect(res).to.deep.equal({ missingKeys: [], unexpectedKeys: [] });
    expect(b.bn.numBatchesTracked).to.equal(0);
    expect(Array.from(b.bn.runningMean!.data)).to.deep.equal(Array.from(a.bn.runningMean!.data));
    // Any other missing buffer is still missing.
    delete sd['bn.running_mean'];
    expect(() => b.loadStateDict(sd)).to.throw('missing keys: bn.running_mean');
  });

  it("loadStateDict reports keys named like Object.prototype's members as unexpected", () => {
    const lin = new Linear(2, 2);
    const names = ['constructor', 'toString', 'hasOwnProperty', '__proto__'];
    const sd = new Map<string, TensorData>(Object.entries(lin.stateDict()));
    for (const k of names) sd.set(k, zeros([1]));
    expect(() => lin.loadStateDict(sd)).to.throw(Error, `unexpected keys: ${names.join(', ')}`);
    expect(lin.loadStateDict(sd, { strict: false })).to.deep.equal({ missingKeys: [], unexpectedKeys: names });
  });

  it('loadStateDict checks the data as well as the shape, changing nothing on failure', () => {
    const m = new Tiny();
    const before = m.stateDict();
    const keep = Object.fromEntries(Object.entries(before).map(([k, t]) => [k, Array.from(t.data)]));
    const withKey = (k: string, v: unknown): Record<string, TensorData> => ({ ...m.stateDict(), [k]: v as TensorData });
    const messageOf = (sd: Record<string, TensorData>): string => {
      try { m.loadStateDict(sd); } catch (e) { return (e as Error).message; }
      return 'no error';
    };
    const head = 'loadStateDict: error(s) loading state dict into Tiny:\n  invalid data for ';
    expect(messageOf(withKey('fc1.bias', { shape: [4], data: [1] }))).to.equal(`${head}fc1.bias: data has 1 elements but shape [4] holds 4`);
    expect(messageOf(withKey('fc1.bias', { shape: [4], data: new Float32Array(5) }))).to.equal(`${head}fc1.bias: data has 5 elements but shape [4] holds 4`);
    expect(messageOf(withKey('fc1.bias', { shape: [4], data: ['a', 'b', 'c', 'd'] }))).to.equal(`${head}fc1.bias: element 0 is "a", not a number`);
    expect(messageOf(withKey('fc1.bias', { shape: [4], data: [1, 2, null, 4] }))).to.equal(`${head}fc1.bias: element 2 is null, not a number`);
    expect(messageOf(withKey('fc1.bias', { shape: [4], data: 7 }))).to.equal(`${head}fc1.bias: data must be an array or a typed array of numbers, got 7`);
    for (const bad of [2.5, -1, 2 ** 53, NaN]) {
      expect(messageOf(withKey('bn.num_batches_tracked', tensor(bad, { dtype: 'float64' })))).to.equal(
        `${head}bn.num_batches_tracked: element 0 is ${bad}, but it must be a non-negative integer (PyTorch stores it as int64)`,
      );
    }
    for (const [k, t] of Object.entries(m.stateDict())) expect(Array.from(t.data), k).to.deep.equal(keep[k]);
    expect(m.bn.numBatchesTracked).to.equal(0);

    // NaN and ±Infinity are float values like any other; integer counters load as integers.
    m.loadStateDict({ ...m.stateDict(), 'fc1.bias': { shape: [4], data: [NaN, Infinity, -Infinity, 0.5] }, 'bn.num_batches_tracked': tensor(3) });
    expect(Array.from(m.fc1.bias!.data)).to.deep.equal([NaN, Infinity, -Infinity, 0.5]);
    expect(m.bn.numBatchesTracked).to.equal(3);
  });

  it('loadStateDict reads a non-contiguous source tensor once per key, not once per element', () => {
    // A transposed tensor's `data` is a fresh row-major copy on every read: read per element, a
    // 400×400 weight took minutes (n² copies). The values must still be the transposed ones.
    const lin = new Linear(40, 30, { bias: false });
    const src = randn([40, 30]).transpose(0, 1);
    expect(src.isContiguous()).to.equal(false);
    const getter = Object.getOwnPropertyDescriptor(Tensor.prototype, 'data')!.get!;
    let reads = 0;
    Object.defineProperty(src, 'data', { get(this: Tensor) { reads++; return getter.call(this); } });
    lin.loadStateDict({ weight: src });
    expect(reads).to.be.at.most(3); // validation and the copy: a few reads, not one per element
    const rows = src.toArray() as number[][];
    for (let i = 0; i < 30; i++) for (let j = 0; j < 40; j++) expect(lin.weight.data[i * 40 + j], `[${i}, ${j}]`).to.equal(rows[i][j]);
  });

  it('loadStateDict rejects a state dict or options that are not objects with a named error', () => {
    const l = new Linear(2, 2);
    for (const bad of [null, undefined, 3, 'weights', [1, 2]]) {
      expect(() => l.loadStateDict(bad as unknown as Record<string, TensorData>)).to.throw(
        Error, `loadStateDict: expected a state dict (an object or Map from names to tensors) for Linear, got ${bad === undefined ? 'undefined' : JSON.stringify(bad).replace(/,/g, ', ')}`,
      );
    }
    expect(() => l.loadStateDict(l.stateDict(), null as unknown as { strict: boolean })).to.throw('loadStateDict: options must be an object, got null');
    expect(() => l.loadStateDict(l.stateDict(), { strcit: false } as unknown as { strict: boolean })).to.throw("loadStateDict: unknown option 'strcit'");
    expect(() => l.loadStateDict(l.stateDict(), { strict: 0 as unknown as boolean })).to.throw('loadStateDict: strict must be a boolean, got 0');
  });

  it('train()/eval() reach every submodule; zeroGrad clears every parameter gradient', () => {
    const m = new Tiny();
    m.eval();
    expect([...m.modules()].every((x) => !x.training)).to.equal(true);
    m.train();
    expect([...m.modules()].every((x) => x.training)).to.equal(true);
    F.sum(m.forward(randn([5, 3]))).backward();
    expect(m.parameters().every((p) => p.grad !== null)).to.equal(true);
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).to.equal(true);
  });

  it('train(mode) requires a boolean, as torch does, and leaves the modes unchanged otherwise', () => {
    const m = new Tiny();
    for (const bad of ['no', 0, null]) {
      expect(() => m.train(bad as unknown as boolean)).to.throw(Error, `train: training mode is expected to be a boolean, got ${bad === 'no' ? '"no"' : String(bad)}`);
    }
    expect([...m.modules()].every((x) => x.training === true)).to.equal(true);
    expect(m.train(false)).to.equal(m);
    expect([...m.modules()].every((x) => x.training === false)).to.equal(true);
  });

  it("train(mode) recurses through each child's own train(), so a subclass override (a frozen BN) holds inside a model, as in torch", () => {
    // torch's Module.train: self.training = mode; for module in self.children(): module.train(mode).
    // The common "keep the backbone's batch norms in eval while fine-tuning" override relies on it.
    class FrozenBatchNorm extends BatchNorm1d {
      override train(_mode = true): this {
        return super.train(false);
      }
    }
    const frozen = new FrozenBatchNorm(4);
    const inner = new Sequential(new Linear(3, 4), frozen);
    const m = new Sequential(inner, new ReLU(), new Linear(4, 2));
    expect(frozen.training, 'built in train mode').to.equal(true);
    expect(m.train()).to.equal(m);
    expect(frozen.training, 'the override ran for the nested child').to.equal(false);
    expect(inner.training).to.equal(true);
    expect(m.at(2).training).to.equal(true);
    m.eval();
    expect([...m.modules()].every((x) => !x.training)).to.equal(true);
    // Overrides are seen at every level, and the return value is still the module.
    const calls: string[] = [];
    class Spy extends Identity {
      override train(mode = true): this {
        calls.push(`train(${mode})`);
        return super.train(mode);
      }
    }
    const spyModel = new Sequential(new Sequential(new Spy()), new Spy());
    expect(spyModel.train(false)).to.equal(spyModel);
    expect(calls).to.deep.equal(['train(false)', 'train(false)']);
  });

  it('to(float64) converts parameters and buffers in place, keeping their identity', () => {
    const m = new Tiny();
    const w = m.fc1.weight;
    const before = Array.from(w.data);
    m.double();
    expect(m.fc1.weight).to.equal(w);
    expect(w.dtype).to.equal('float64');
    expect(Array.from(w.data)).to.deep.equal(before);
    expect(m.bn.runningMean!.dtype).to.equal('float64');
    expect(m.forward(randn([4, 3], { dtype: 'float64' })).dtype).to.equal('float64');
  });

  it('to(float64) that cannot convert one parameter converts none and names it (a model is never left half float32, half float64)', () => {
    class Emb extends Module {
      readonly w: Parameter;
      constructor() {
        super();
        // A contiguous slice of a larger tensor: its storage is not its own to replace in place.
        this.w = this.registerParameter('w', new Parameter(F.narrow(randn([4, 2]), 0, 1, 2)));
      }
      forward(x: Tensor): Tensor { return x; }
    }
    class Net extends Module {
      constructor() { super(); this.registerModule('fc', new Linear(2, 2)); this.registerModule('emb', new Emb()); }
      forward(x: Tensor): Tensor { return x; }
    }
    const net = new Net();
    const before = net.parameters().map((p) => Array.from(p.data));
    expect(() => net.double()).to.throw(/to: .*emb\.w/);
    expect(net.parameters().map((p) => p.dtype)).to.deep.equal(['float32', 'float32', 'float32']);
    expect(net.parameters().map((p) => Array.from(p.data))).to.deep.equal(before);
  });

  it("float()/to() cast floating tensors only: num_batches_tracked (int64 in torch) keeps counting past 2^24", () => {
    // torch's Module.to(dtype) casts only floating-point parameters and buffers; the int64 counter
    // is left alone. Held in float32, 2^24 + 1 rounds back to 2^24 and the count stops.
    const bn = new BatchNorm1d(2);
    const sd = bn.stateDict();
    bn.loadStateDict({ ...sd, num_batches_tracked: { shape: [], data: [2 ** 24] } });
    bn.float();
    expect(bn.runningMean!.dtype).to.equal('float32');
    bn.forward(randn([4, 2]));
    expect(bn.numBatchesTracked).to.equal(2 ** 24 + 1);
    bn.double();
    expect(bn.runningMean!.dtype).to.equal('float64');
    bn.forward(randn([4, 2], { dtype: 'float64' }));
    expect(bn.numBatchesTracked).to.equal(2 ** 24 + 2);
  });

  it('shareMemory moves parameters, gradients and buffers into shared memory in place', () => {
    // Built with plain storage, as while one thread is set.
    const was = sharedStorageEnabled();
    setSharedStorage(false);
    let m: Tiny;
    const x = randn([4, 3]);
    try {
      m = new Tiny();
      m.forward(x).sum().backward();
    } finally {
      setSharedStorage(was);
    }
    const w = m.fc1.weight;
    const grad = w.grad!;
    const values = m.parameters().map((p) => Array.from(p.data));
    const grads = m.parameters().map((p) => Array.from(p.grad!.data));
    const y = Array.from(m.forward(x).data); // (train mode: updates the running statistics)
    const buffers = m.buffers().map((b) => Array.from(b.data));
    expect(isShared(w.data)).to.equal(false);
    expect(isShared(grad.data)).to.equal(false);
    expect(isShared(m.bn.runningMean!.data)).to.equal(false);

    expect(m.shareMemory()).to.equal(m);
    expect(m.fc1.weight).to.equal(w);
    for (const p of m.parameters()) {
      expect(isShared(p.data)).to.equal(true);
      expect(isShared(p.grad!.data)).to.equal(true);
    }
    for (const b of m.buffers()) expect(isShared(b.data)).to.equal(true);
    expect(m.parameters().map((p) => Array.from(p.data))).to.deep.equal(values);
    expect(m.parameters().map((p) => Array.from(p.grad!.data))).to.deep.equal(grads);
    expect(m.buffers().map((b) => Array.from(b.data))).to.deep.equal(buffers);
    expect(Array.from(m.forward(x).data)).to.deep.equal(y);
    // Already shared: nothing moves.
    const storage = w.storage;
    m.shareMemory();
    expect(w.storage).to.equal(storage);
  });

  it('after shareMemory, a model built at one thread has its optimizer update split over two', () => {
    const saved = getNumThreads();
    // The parts sent are counted below: on a loaded machine the contention guard could run the
    // update on one thread (results unchanged, the count not).
    setContentionGuard(false);
    try {
      setNumThreads(1);
      const m = new Sequential(new Linear(512, 256), new ReLU(), new Linear(256, 10));
      const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
      const x = randn([8, 512]);
      const trainStep = (): number => {
        opt.zeroGrad();
        m.forward(x).square().sum().backward();
        const sent = threadStats().partsSent;
        opt.step();
        return threadStats().partsSent - sent;
      };
      expect(trainStep()).to.equal(0);
      setNumThreads(2);
      waitForThreads();
      // Plain parameters and momentum buffers: the pool cannot see them, so the update runs inline.
      expect(trainStep()).to.equal(0);
      m.shareMemory();
      expect(trainStep()).to.be.greaterThan(0);
      expect(opt.state.size).to.equal(4);
      for (const st of opt.state.values()) expect(isShared(st.momentumBuffer!)).to.equal(true);
    } finally {
      setContentionGuard(true);
      setNumThreads(saved);
    }
  });

  it('shareMemory refuses a parameter that is a view into a larger storage', () => {
    const was = sharedStorageEnabled();
    setSharedStorage(false);
    let p: Parameter;
    try {
      p = new Parameter(zeros([4, 3]).narrow(0, 1, 2));
    } finally {
      setSharedStorage(was);
    }
    expect(() => p._shareStorage()).to.throw(/shareMemory: can only move a tensor that owns its contiguous storage \(shape \[2,3\]\)/);
  });

  it('prints the module tree like print(model) in PyTorch', () => {
    const m = new Sequential(
      new Conv2d(3, 8, 3, { stride: 2, padding: 1, bias: false }),
      new BatchNorm2d(8),
      new ReLU(),
      new MaxPool2d(3, { stride: 2, padding: 1 }),
      new AvgPool2d(2),
      new AdaptiveAvgPool2d([1, 1]),
      new Flatten(),
      new Dropout(0.25),
      new Linear(8, 10),
      new Identity(),
    );
    expect(m.toString()).to.equal([
      'Sequential(',
      '  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)',
      '  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)',
      '  (2): ReLU()',
      '  (3): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)',
      '  (4): AvgPool2d(kernel_size=2, stride=2, padding=0)',
      '  (5): AdaptiveAvgPool2d(output_size=(1, 1))',
      '  (6): Flatten(start_dim=1, end_dim=-1)',
      '  (7): Dropout(p=0.25, inplace=False)',
      '  (8): Linear(in_features=8, out_features=10, bias=True)',
      '  (9): Identity()',
      ')',
    ].join('\n'));
    expect(new Tiny().toString()).to.equal([
      'Tiny(',
      '  (fc1): Linear(in_features=3, out_features=4, bias=True)',
      '  (bn): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)',
      '  (fc2): Linear(in_features=4, out_features=2, bias=False)',
      ')',
    ].join('\n'));
  });

  it("prints a multi-line extraRepr one indented line each, as torch's Module.__repr__ (inline only for one line and no children)", () => {
    // torch: lines = extra_repr().split('\n') + child lines; inline only when len(extra_lines) == 1
    // and there are no children, else '(\n  ' + '\n  '.join(lines) + '\n)', each child _addindent'ed by 2.
    class Multi extends Module {
      forward(x: Tensor): Tensor { return x; }
      override extraRepr(): string { return 'a=1\nb=2'; }
    }
    class Outer extends Module {
      constructor() { super(); this.registerModule('m', new Multi()); this.registerModule('seq', new Sequential(new ReLU(), new Multi())); }
      forward(x: Tensor): Tensor { return x; }
      override extraRepr(): string { return 'x=1\ny=2'; }
    }
    expect(new Multi().toString()).to.equal('Multi(\n  a=1\n  b=2\n)');
    expect(new Outer().toString()).to.equal([
      'Outer(',
      '  x=1',
      '  y=2',
      '  (m): Multi(',
      '    a=1',
      '    b=2',
      '  )',
      '  (seq): Sequential(',
      '    (0): ReLU()',
      '    (1): Multi(',
      '      a=1',
      '      b=2',
      '    )',
      '  )',
      ')',
    ].join('\n'));
  });
});

describe('models/nn layers', () => {
  beforeEach(() => manualSeed(0));

  it('Conv2d and Linear use PyTorch default init U(±1/sqrt(fan_in))', () => {
    const c = new Conv2d(16, 32, 3);
    const bound = 1 / Math.sqrt(16 * 9);
    const w = Array.from(c.weight.data);
    expect(Math.max(...w.map(Math.abs))).to.be.at.most(bound);
    expect(Math.max(...w.map(Math.abs))).to.be.above(0.95 * bound);
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const variance = w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length;
    expect(variance).to.be.closeTo(bound * bound / 3, 0.1 * bound * bound / 3);
    expect(Math.max(...Array.from(c.bias!.data).map(Math.abs))).to.be.at.most(bound);
    const l = new Linear(50, 3);
    expect(Math.max(...Array.from(l.weight.data).map(Math.abs))).to.be.at.most(1 / Math.sqrt(50));
  });

  it('BatchNorm2d: train mode updates running stats with momentum 0.1 and the unbiased variance; eval uses them', () => {
    const bn = new BatchNorm2d(2, { dtype: 'float64' });
    const x = randn([4, 2, 3, 3], { dtype: 'float64' });
    const y = bn.forward(x);
    const xs = x.toArray() as number[][][][];
    for (let c = 0; c < 2; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 4; n++) for (const row of xs[n][c]) vals.push(...row);
      const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
      const varB = vals.reduce((s, v) => s + (v - mean) ** 2, 0) / vals.length;
      const varU = varB * vals.length / (vals.length - 1);
      expect(bn.runningMean!.data[c]).to.be.closeTo(0.1 * mean, 1e-14);
      expect(bn.runningVar!.data[c]).to.be.closeTo(0.9 + 0.1 * varU, 1e-14);
      const ys = (y.toArray() as number[][][][])[1][c][2][1];
      expect(ys).to.be.closeTo((xs[1][c][2][1] - mean) / Math.sqrt(varB + 1e-5), 1e-12);
    }
    expect(bn.numBatchesTracked).to.equal(1);
    bn.eval();
    const z = bn.forward(x);
    const rm = bn.runningMean!.data[0], rv = bn.runningVar!.data[0];
    expect((z.toArray() as number[][][][])[0][0][0][0]).to.be.closeTo((xs[0][0][0][0] - rm) / Math.sqrt(rv + 1e-5), 1e-12);
    expect(bn.numBatchesTracked).to.equal(1);
    expect(() => bn.forward(randn([2, 3, 2, 2], { dtype: 'float64' }))).to.throw('BatchNorm2d: expected 2 channels, got input of shape [2,3,2,2]');
    expect(() => bn.forward(randn([2, 2], { dtype: 'float64' }))).to.throw('BatchNorm2d: expected 4D input (got 2D input of shape [2,2])');
    bn.train();
    expect(() => bn.forward(randn([1, 2, 1, 1], { dtype: 'float64' }))).to.throw('expected more than 1 value per channel when training');
  });

  /**
   * Runs BatchNorm2d(6) in train then eval mode through `forward(bn, x, r)` (x and a residual r, both
   * requiring grad) in both dtypes, fused and unfused, and expects the same bits: output, gradients of
   * x, r (when the op uses it), weight and bias, running statistics and the batch count.
   */
  function expectFusedBatchNorm(fused: (bn: BatchNorm2d, x: Tensor, r: Tensor) => Tensor, unfused: (bn: BatchNorm2d, x: Tensor, r: Tensor) => Tensor): void {
    for (const dtype of ['float32', 'float64'] as const) {
      // float32 at this size takes the WebAssembly passes; float64 the JS loops.
      const x = randn([8, 6, 9, 9], { dtype }), r = randn([8, 6, 9, 9], { dtype }), gy = randn([8, 6, 9, 9], { dtype });
      const run = (forward: (bn: BatchNorm2d, x: Tensor, r: Tensor) => Tensor): number[][] => {
        manualSeed(3);
        const bn = new BatchNorm2d(6, { dtype });
        const res: number[][] = [];
        for (const training of [true, false]) {
          bn.train(training);
          const xi = x.detach().requiresGrad_(), ri = r.detach().requiresGrad_();
          const y = forward(bn, xi, ri);
          F.sum(F.mul(y, gy)).backward();
          res.push(Array.from(y.data), Array.from(xi.grad!.data), ri.grad === null ? [] : Array.from(ri.grad.data),
            Array.from(bn.weight!.grad!.data), Array.from(bn.bias!.grad!.data),
            Array.from(bn.runningMean!.data), Array.from(bn.runningVar!.data), [bn.numBatchesTracked]);
          bn.zeroGrad();
        }
        return res;
      };
      const want = run(unfused), got = run(fused);
      expect(want[0].some((v) => v === 0) && want[0].some((v) => v > 0), 'relu cut part of the output').to.equal(true);
      got.forEach((a, i) => expect(a, `${dtype} result ${i}`).to.deep.equal(want[i]));
    }
  }

  it('BatchNorm2d.forwardRelu is relu(forward) bit for bit: output, input and parameter gradients, running stats', () => {
    expectFusedBatchNorm((bn, x) => bn.forwardRelu(x), (bn, x) => F.relu(bn.forward(x)));
  });

  it('BatchNorm2d.forwardAddRelu is relu(forward(x) + residual) bit for bit: output, input, residual and parameter gradients, running stats', () => {
    expectFusedBatchNorm((bn, x, r) => bn.forwardAddRelu(x, r), (bn, x, r) => F.relu(F.add(bn.forward(x), r)));
  });

  it('F.batchNorm names a residual of the wrong shape or dtype', () => {
    const x = randn([2, 3, 4, 4]);
    const rm = zeros([3]), rv = F.add(zeros([3]), 1);
    expect(() => F.batchNorm(x, rm, rv, null, null, { residual: randn([2, 3, 4, 5]) }))
      .to.throw("batchNorm: residual must have the input's shape [2,3,4,4], got [2,3,4,5]");
    expect(() => F.batchNorm(x, rm, rv, null, null, { residual: randn([2, 3, 4, 4], { dtype: 'float64' }) }))
      .to.throw('batchNorm: residual is float64 but input is float32');
  });

  it('BatchNorm with momentum null keeps a cumulative average', () => {
    const bn = new BatchNorm1d(1, { momentum: null, dtype: 'float64' });
    bn.forward(tensor([[1], [3]], { dtype: 'float64' }));
    bn.forward(tensor([[5], [7]], { dtype: 'float64' }));
    expect(bn.runningMean!.data[0]).to.be.closeTo((2 + 6) / 2, 1e-14);
  });

  it('Dropout zeroes about p of the elements in train mode, scales the rest, and is the identity in eval', () => {
    const d = new Dropout(0.3);
    const x = F.add(zeros([10000]), 1);
    const y = Array.from(d.forward(x).data);
    const zerosFrac = y.filter((v) => v === 0).length / y.length;
    expect(zerosFrac).to.be.closeTo(0.3, 0.02);
    expect(y.filter((v) => v !== 0).every((v) => Math.abs(v - 1 / 0.7) < 1e-6)).to.equal(true);
    d.eval();
    expect(d.forward(x)).to.equal(x);
  });

  it("Conv2d and F.conv2d take padding 'same' (extra pad at the bottom/right for even spans, as torch) and 'valid'", () => {
    // Reference: torch's _convolution_same pads d·(k − 1) per dim, floor half before and the rest after.
    const refConv = (x: Tensor, w: Tensor, b: Tensor, dil: [number, number]): number[] => {
      const [N, C, H, W] = x.shape, [O, , KH, KW] = w.shape;
      const top = Math.floor((dil[0] * (KH - 1)) / 2), left = Math.floor((dil[1] * (KW - 1)) / 2);
      const xd = x.data, wd = w.data, out: number[] = [];
      for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
        let acc = b.data[o];
        for (let c = 0; c < C; c++) for (let u = 0; u < KH; u++) for (let v = 0; v < KW; v++) {
          const y = i - top + u * dil[0], z = j - left + v * dil[1];
          if (y >= 0 && y < H && z >= 0 && z < W) acc += xd[((n * C + c) * H + y) * W + z] * wd[((o * C + c) * KH + u) * KW + v];
        }
        out.push(acc);
      }
      return out;
    };
    const x = randn([2, 3, 5, 6], { dtype: 'float64' });
    for (const [k, dil] of [[[2, 4], [1, 1]], [[3, 2], [2, 1]], [[3, 3], [1, 1]], [[2, 3], [3, 2]]] as [[number, number], [number, number]][]) {
      const conv = new Conv2d(3, 4, k, { padding: 'same', dilation: dil, dtype: 'float64' });
      const y = conv.forward(x);
      expect(y.shape, `kernel ${k} dilation ${dil}`).to.deep.equal([2, 4, 5, 6]);
      const want = refConv(x, conv.weight, conv.bias!, dil);
      Array.from(y.data).forEach((v, i) => expect(v, `kernel ${k} dilation ${dil} element ${i}`).to.be.closeTo(want[i], 1e-12));
      const yf = F.conv2d(x, conv.weight, conv.bias, { padding: 'same', dilation: dil });
      expect(Array.from(yf.data)).to.deep.equal(Array.from(y.data));
    }
    const even = new Conv2d(3, 2, [2, 2], { padding: 'same', dtype: 'float64' });
    expect(even.toString()).to.equal('Conv2d(3, 2, kernel_size=(2, 2), stride=(1, 1), padding=same)');
    const valid = new Conv2d(3, 2, 3, { padding: 'valid', dtype: 'float64' });
    expect(valid.toString()).to.equal('Conv2d(3, 2, kernel_size=(3, 3), stride=(1, 1), padding=valid)');
    expect(Array.from(valid.forward(x).data)).to.deep.equal(Array.from(F.conv2d(x, valid.weight, valid.bias).data));
    expect(valid.forward(x).shape).to.deep.equal([2, 2, 3, 4]);
    // The gradient flows through the asymmetric padding to the input's every element.
    const xg = randn([1, 3, 4, 4], { dtype: 'float64', requiresGrad: true });
    F.sum(even.forward(xg)).backward();
    const gx = xg.grad!.data, wsum = (c: number): number => { let s = 0; for (let o = 0; o < 2; o++) for (let t = 0; t < 4; t++) s += even.weight.data[(o * 3 + c) * 4 + t]; return s; };
    // The pad is after: element (0, 0) (top left) meets only tap (0, 0) of each filter, (3, 3) all four.
    let tap00 = 0;
    for (let o = 0; o < 2; o++) tap00 += even.weight.data[(o * 3 + 1) * 4];
    expect(gx[(1 * 4 + 0) * 4 + 0]).to.be.closeTo(tap00, 1e-12);
    expect(gx[(1 * 4 + 3) * 4 + 3]).to.be.closeTo(wsum(1), 1e-12);
    expect(() => new Conv2d(3, 2, 3, { padding: 'same', stride: 2 })).to.throw("Conv2d: padding='same' is not supported for strided convolutions");
    expect(() => F.conv2d(x, even.weight, null, { padding: 'same', stride: [1, 2] })).to.throw("conv2d: padding='same' is not supported for strided convolutions");
    expect(() => new Conv2d(3, 2, 3, { padding: 'full' as never })).to.throw("Conv2d: invalid padding string \"full\", should be one of 'valid', 'same'");
  });

  it('layers validate their arguments and inputs', () => {
    expect(() => new Conv2d(0, 4, 3)).to.throw('Conv2d: inChannels must be a positive integer, got 0');
    expect(() => new Conv2d(4, 6, 3, { groups: 4 })).to.throw('Conv2d: groups 4 must be a positive integer dividing inChannels 4 and outChannels 6');
    expect(() => new Conv2d(3, 4, 3).forward(randn([1, 4, 8, 8]))).to.throw('conv2d: input has 4 channels but weight expects 3 (input [1,4,8,8], weight [4,3,3,3], groups 1)');
    expect(() => new Linear(3, 4).forward(randn([2, 5]))).to.throw('linear: input has 5 features but weight expects 3 (input [2,5], weight [4,3])');
    expect(() => new Dropout(1.5)).to.throw('Dropout: p must be in [0, 1], got 1.5');
    // Checked when the layer is built, not first at its forward.
    expect(() => new BatchNorm2d(2, { momentum: 5 })).to.throw('BatchNorm2d: momentum must be in [0, 1] or null (a cumulative average), got 5');
    expect(() => new BatchNorm1d(2, { eps: -1 })).to.throw('BatchNorm1d: eps must be a finite non-negative number, got -1');
    expect(new BatchNorm2d(2, { momentum: null, eps: 0 }).momentum).to.equal(null);
    expect(() => new MaxPool2d(2).forward(randn([2, 8]))).to.throw('maxPool2d: expected a 3-d [C, H, W] or 4-d NCHW input, got shape [2,8]');
  });

  it('layers and init functions reject unknown options instead of ignoring them', () => {
    const bad = <T>(o: Record<string, unknown>): T => o as T;
    expect(() => new Linear(2, 2, bad({ bais: false }))).to.throw(Error, "Linear: unknown option 'bais'");
    expect(() => new Conv2d(2, 2, 3, bad({ padd: 1 }))).to.throw(Error, "Conv2d: unknown option 'padd'");
    expect(() => new BatchNorm2d(2, bad({ track_running_stats: false }))).to.throw(
      Error, "BatchNorm2d: unknown option 'track_running_stats' (did you mean 'trackRunningStats'?)",
    );
    expect(() => new BatchNorm1d(2, bad({ moment: 0.2 }))).to.throw(Error, "BatchNorm1d: unknown option 'moment'");
    expect(() => new MaxPool2d(2, bad({ ceil_mode: true }))).to.throw(Error, "MaxPool2d: unknown option 'ceil_mode' (did you mean 'ceilMode'?)");
    expect(() => new AvgPool2d(2, bad({ count_include_pad: false }))).to.throw(
      Error, "AvgPool2d: unknown option 'count_include_pad' (did you mean 'countIncludePad'?)",
    );
    expect(() => new Linear(2, 2, null as unknown as { bias: boolean })).to.throw(Error, 'Linear: options must be an object, got null');
    expect(() => init.kaimingNormal_(zeros([2, 2]), bad({ nonlinerity: 'relu' }))).to.throw(Error, "kaimingNormal_: unknown option 'nonlinerity'");
    expect(() => init.kaimingUniform_(zeros([2, 2]), bad({ fan_mode: 'fan_out' }))).to.throw(Error, "kaimingUniform_: unknown option 'fan_mode'");
    // A mode other than fan_in / fan_out is an error, as torch's _calculate_correct_fan raises, and
    // leaves the tensor as it was (it used to draw with fan_out's std).
    for (const [fn, name] of [[init.kaimingNormal_, 'kaimingNormal_'], [init.kaimingUniform_, 'kaimingUniform_']] as const) {
      for (const mode of ['fan_avg', 'FAN_IN', 'fanIn']) {
        const w = zeros([8, 2, 3, 3]);
        expect(() => fn(w, bad({ mode })), `${name} ${mode}`).to.throw(
          Error, `${name}: mode "${mode}" not supported, please use one of 'fan_in', 'fan_out'`,
        );
        expect(w.data.every((v) => v === 0), `${name} ${mode}`).to.equal(true);
      }
    }
    // Every documented option is still accepted.
    new Linear(2, 2, { bias: false, dtype: 'float64' });
    new Conv2d(2, 2, 3, { stride: 1, padding: 1, dilation: 1, groups: 2, bias: false, dtype: 'float64' });
    new BatchNorm2d(2, { eps: 1e-3, momentum: null, affine: false, trackRunningStats: false, dtype: 'float64' });
    new MaxPool2d(2, { stride: 2, padding: 0, dilation: 1, ceilMode: true });
    new AvgPool2d(2, { stride: 2, padding: 0, ceilMode: true, countIncludePad: false, divisorOverride: 3 });
    init.kaimingNormal_(zeros([2, 2]), { a: 0, mode: 'fan_out', nonlinearity: 'relu', generator: new Random(1) });
  });
});

describe('models/nn: xavier init, zeroGrad(false) and requiresGrad_', () => {
  it('xavierUniform_ and xavierNormal_ draw U(±gain·√(6/(fan_in+fan_out))) and N(0, gain²·2/(fan_in+fan_out)), as torch.nn.init', () => {
    const shape = [16, 8, 3, 3]; // fan_in 72, fan_out 144
    const bound = 1.5 * Math.sqrt(6 / (72 + 144)), std = 1.5 * Math.sqrt(2 / (72 + 144));
    const a = init.xavierUniform_(zeros(shape), 1.5, new Random(7));
    const b = init.uniform_(zeros(shape), -bound, bound, new Random(7));
    expect(Array.from(a.data)).to.deep.equal(Array.from(b.data));
    const c = init.xavierNormal_(zeros(shape, { dtype: 'float64' }), 1.5, new Random(8));
    const d = init.normal_(zeros(shape, { dtype: 'float64' }), 0, std, new Random(8));
    expect(Array.from(c.data)).to.deep.equal(Array.from(d.data));
    // The default gain is 1 and the draws really have that spread (1152 draws: within 10%).
    const e = init.xavierNormal_(zeros(shape, { dtype: 'float64' }));
    const sd = Math.sqrt(Array.from(e.data).reduce((s, v) => s + v * v, 0) / e.numel());
    expect(sd).to.be.closeTo(std / 1.5, 0.1 * std / 1.5);
    expect(() => init.xavierUniform_(zeros([3]))).to.throw('calculateFanInAndFanOut: fan in and fan out need a tensor with at least 2 dims');
    expect(() => init.xavierNormal_(zeros([2, 2]), NaN)).to.throw('xavierNormal_: gain must be a finite number, got NaN');
  });

  it('uniform_ and normal_ refuse an empty range and a negative std, as torch.nn.init does, before writing', () => {
    const t = tensor([5, 5, 5]);
    // torch: "uniform_ expects to return a [from, to) range, but found from=1 > to=0"; silently U(0, 1] before.
    expect(() => init.uniform_(t, 1, 0)).to.throw('uniform_: expects a [low, high) range, got low=1 > high=0');
    expect(() => init.uniform_(t, 0, NaN)).to.throw('uniform_: expects a [low, high) range, got low=0 > high=NaN');
    expect(() => init.uniform_(t, -Infinity, 0)).to.throw('uniform_: low and high must be finite, got low=-Infinity, high=0');
    // torch: "normal expects std >= 0.0, but found std -1"; silently N(0, 1) mirrored before.
    expect(() => init.normal_(t, 0, -1)).to.throw('normal_: expects std >= 0, got std=-1');
    expect(() => init.normal_(t, NaN, 1)).to.throw('normal_: mean and std must be finite, got mean=NaN, std=1');
    expect(() => init.normal_(t, 0, Infinity)).to.throw('normal_: mean and std must be finite, got mean=0, std=Infinity');
    expect(Array.from(t.data)).to.deep.equal([5, 5, 5]);
    // The degenerate but valid cases stay allowed: low == high fills low, std 0 fills mean.
    expect(Array.from(init.uniform_(t, 2, 2).data)).to.deep.equal([2, 2, 2]);
    expect(Array.from(init.normal_(t, 3, 0).data)).to.deep.equal([3, 3, 3]);
    // A zero-element tensor (fan_in 0, so an infinite bound) is left alone by kaiming, as torch does.
    expect(init.kaimingUniform_(zeros([3, 0])).numel()).to.equal(0);
    expect(init.kaimingNormal_(zeros([3, 0])).numel()).to.equal(0);
  });

  it('Module.zeroGrad(false) zero-fills the gradients in place; the default sets them to null', () => {
    const m = new Linear(3, 2);
    F.linear(randn([4, 3]), m.weight, m.bias).sum().backward();
    const g = m.weight.grad!;
    m.zeroGrad(false);
    expect(m.weight.grad).to.equal(g);
    expect(Array.from(g.data).every((v) => v === 0)).to.equal(true);
    expect(Array.from(m.bias!.grad!.data)).to.deep.equal([0, 0]);
    m.zeroGrad();
    expect(m.weight.grad).to.equal(null);
    m.weight.grad = randn([3, 2]).transpose(0, 1);
    m.bias!.grad = tensor([1, 2]);
    expect(() => m.zeroGrad(false)).to.throw('zeroGrad: the grad of weight is a non-contiguous view');
    expect(Array.from(m.bias!.grad!.data)).to.deep.equal([1, 2]); // checked before anything changed
    expect(() => m.zeroGrad('no' as never)).to.throw('zeroGrad: setToNone must be a boolean, got "no"');
  });

  it('Module.requiresGrad_(false) freezes every parameter (no gradients), and true thaws them', () => {
    const m = new Sequential(new Linear(3, 4), new Linear(4, 2));
    expect(m.requiresGrad_(false)).to.equal(m);
    expect(m.parameters().every((p) => !p.requiresGrad)).to.equal(true);
    expect(m.numParameters(true)).to.equal(0);
    const x = randn([2, 3], { requiresGrad: true });
    m.forward(x).sum().backward();
    expect(m.parameters().every((p) => p.grad === null)).to.equal(true);
    expect(x.grad).to.not.equal(null);
    m.requiresGrad_();
    m.forward(x).sum().backward();
    expect(m.parameters().every((p) => p.grad !== null)).to.equal(true);
    expect(() => m.requiresGrad_(1 as never)).to.throw('requiresGrad_: requiresGrad must be a boolean, got 1');
  });

  it("assigning to a registered name replaces the child, parameter or buffer, as torch's __setattr__", () => {
    const m = new Tiny();
    const old = m.fc2;
    const fresh = new Linear(4, 5);
    (m as { fc2: Linear }).fc2 = fresh; // torchvision style: model.fc = nn.Linear(in, numClasses)
    expect(m.fc2).to.equal(fresh);
    expect(m.parameters()).to.include(fresh.weight).and.not.include(old.weight);
    expect(Object.keys(m.stateDict())).to.deep.equal(['scale', 'fc1.weight', 'fc1.bias', 'bn.weight', 'bn.bias', 'bn.running_mean',
      'bn.running_var', 'bn.num_batches_tracked', 'fc2.weight', 'fc2.bias']);
    expect(m.stateDict()['fc2.weight'].shape).to.deep.equal([5, 4]);
    expect(m.forward(randn([6, 3])).shape).to.deep.equal([6, 5]);
    expect(m.toString()).to.contain('(fc2): Linear(in_features=4, out_features=5, bias=True)');

    const p = new Parameter(tensor([3]));
    (m as { scale: Parameter }).scale = p;
    expect(m.parameters()[0]).to.equal(p);
    expect(() => { (m as unknown as { scale: unknown }).scale = tensor([1]); }).to.throw(/cannot assign .* as parameter 'scale' \(an nn.Parameter or null expected/);
    expect(() => { (m as unknown as { fc1: unknown }).fc1 = 3; }).to.throw(/cannot assign 3 as child module 'fc1'/);
    expect(m.parameters()[0], 'a refused assignment changes nothing').to.equal(p);

    const rm = tensor([1, 2, 3, 4]);
    (m.bn as unknown as { running_mean: Tensor }).running_mean = rm;
    expect(m.bn.runningMean).to.equal(rm);
    expect(m.stateDict()['bn.running_mean'].data).to.equal(rm.data);
  });

  it('refuses a Module or Parameter kept in a plain field without registering it (the PyTorch habit), naming the fix', () => {
    class Unregistered extends Module {
      fc = new Linear(2, 1);
      forward(x: Tensor): Tensor { return this.fc.forward(x); }
    }
    const bad = new Unregistered();
    expect(() => bad.parameters()).to.throw(/Unregistered\.fc holds a Linear that was never registered, so parameters\(\) and stateDict\(\) would leave it out; register it in the constructor: this\.fc = this\.registerModule\('fc', …\)/);
    expect(() => bad.stateDict()).to.throw(/never registered/);
    class LooseParam extends Module {
      readonly inner = new Sequential(new ReLU());
      w = new Parameter(tensor([1]));
      forward(x: Tensor): Tensor { return F.mul(x, this.w); }
    }
    class Outer extends Module {
      readonly child: LooseParam;
      constructor() { super(); this.child = this.registerModule('child', new LooseParam()); }
      forward(x: Tensor): Tensor { return this.child.forward(x); }
    }
    expect(() => new Outer().parameters()).to.throw(/LooseParam \(child\)\.inner holds a Sequential that was never registered/);
    // An alias of something registered elsewhere in the tree is fine (torch would share it too).
    class Alias extends Module {
      readonly seq: Sequential;
      readonly last: Module;
      readonly w: Parameter;
      constructor() {
        super();
        this.seq = this.registerModule('seq', new Sequential(new Linear(2, 2)));
        this.last = this.seq.at(-1);
        this.w = (this.last as Linear).weight;
      }
      forward(x: Tensor): Tensor { return this.seq.forward(x); }
    }
    expect(new Alias().parameters()).to.have.length(2);
  });

  it("Sequential: seq[0] = new Linear(…) replaces the layer forward() runs, not only the one parameters() returns", () => {
    const lin = new Linear(2, 2);
    const seq = new Sequential(lin, new ReLU(), lin);
    const fresh = new Linear(2, 3);
    (seq as unknown as Record<string, Module>)[2] = fresh;
    expect(seq.parameters()).to.deep.equal([lin.weight, lin.bias, fresh.weight, fresh.bias]);
    expect(seq.at(-1)).to.equal(fresh);
    expect([...seq]).to.deep.equal([lin, seq.at(1), fresh]);
    expect(seq.length).to.equal(3);
    expect(seq.forward(randn([4, 2])).shape).to.deep.equal([4, 3]);
  });

  it("Sequential: a layer added after construction (registerModule, append) is run by forward() and counted by length/at/iteration, as torch's add_module/append", () => {
    const a = new Linear(2, 3);
    const b = new Linear(3, 5);
    const seq = new Sequential(a);
    seq.registerModule('1', b);
    // torch: forward runs every module in _modules; before, parameters() listed b but forward() skipped it.
    expect(seq.parameters()).to.deep.equal([a.weight, a.bias, b.weight, b.bias]);
    const x = randn([4, 2]);
    expect(seq.forward(x).shape).to.deep.equal([4, 5]);
    expect([...seq.forward(x).data]).to.deep.equal([...b.forward(a.forward(x)).data]);
    expect(seq.length).to.equal(2);
    expect(seq.at(-1)).to.equal(b);
    expect([...seq]).to.deep.equal([a, b]);
    // A child under any name counts, by position (torch's __getitem__ indexes _modules.values()).
    const relu = new ReLU();
    seq.registerModule('act', relu);
    expect(seq.at(2)).to.equal(relu);
    // append(m) registers the next index, as torch's Sequential.append; returns the Sequential.
    const c = new Linear(5, 1);
    expect(seq.append(c)).to.equal(seq);
    expect(seq.length).to.equal(4);
    expect(seq.at(3)).to.equal(c);
    expect(Object.keys(seq.stateDict())).to.deep.equal(['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']);
    expect(seq.forward(x).shape).to.deep.equal([4, 1]);
    expect(() => seq.append(42 as unknown as Module)).to.throw(/Sequential/);
  });

  it("checkRegistered accepts aliases registered anywhere: a submodule's own parameters() (param groups) with tied weights, a teacher's layer", () => {
    class Decoder extends Module {
      readonly tied: Parameter;
      constructor(emb: Linear) { super(); this.tied = emb.weight; } // weight tying: an alias, not owned
      forward(x: Tensor): Tensor { return F.linear(x, this.tied, null); }
    }
    class Net extends Module {
      readonly enc: Linear;
      readonly dec: Decoder;
      readonly head: Linear;
      constructor() {
        super();
        this.enc = this.registerModule('enc', new Linear(2, 2));
        this.dec = this.registerModule('dec', new Decoder(this.enc));
        this.head = this.registerModule('head', new Linear(2, 2));
      }
      forward(x: Tensor): Tensor { return this.head.forward(this.dec.forward(this.enc.forward(x))); }
    }
    const net = new Net();
    expect(net.parameters()).to.have.length(4);
    expect(net.dec.parameters(), 'a param group built from one submodule').to.deep.equal([]);
    expect(net.dec.stateDict()).to.deep.equal({});

    const teacher = new Sequential(new Linear(2, 2), new ReLU());
    class Student extends Module {
      readonly fc: Linear;
      readonly teacherFeatures: Module;
      readonly #teacher: Module; // deliberately not part of the student: a #private field
      constructor(t: Sequential) {
        super();
        this.fc = this.registerModule('fc', new Linear(2, 2));
        this.teacherFeatures = t.at(0);
        this.#teacher = t;
      }
      forward(x: Tensor): Tensor { return this.fc.forward(this.#teacher.forward(x)); }
    }
    const st = new Student(teacher);
    expect(st.parameters()).to.deep.equal([st.fc.weight, st.fc.bias]);
    class PlainTeacherField extends Module {
      readonly fc: Linear;
      readonly teacher: Module;
      constructor(t: Module) { super(); this.fc = this.registerModule('fc', new Linear(2, 2)); this.teacher = t; }
      forward(x: Tensor): Tensor { return this.fc.forward(x); }
    }
    expect(() => new PlainTeacherField(teacher).parameters()).to.throw(/PlainTeacherField\.teacher holds a Sequential that was never registered.*a frozen teacher\), hold it in a #private field/);
  });

  it('a class field initializer that registers (define semantics) shadows the accessor: a replacement is refused by name, not called unregistered', () => {
    class Head extends Module {
      fc = this.registerModule('fc', new Linear(2, 2));
      forward(x: Tensor): Tensor { return this.fc.forward(x); }
    }
    const m = new Head();
    expect(Object.getOwnPropertyDescriptor(m, 'fc')!.get, 'tsconfig target ES2022: useDefineForClassFields').to.equal(undefined);
    expect(m.parameters()).to.deep.equal([m.fc.weight, m.fc.bias]);
    m.fc = new Linear(2, 3);
    expect(() => m.parameters()).to.throw(/Head\.fc is a plain field that holds a Linear while 'fc' is registered as another Linear, so the assignment did not replace the registered entry; .*useDefineForClassFields.*declare the field \(fc!: T\) and register it in the constructor body/);
    expect(() => m.stateDict()).to.throw(/is a plain field/);
  });
});

describe('models/nn: deepCopy (torch\'s copy.deepcopy of a module)', () => {
  const values = (t: Tensor): number[] => Array.from(t.data);

  it('copies every parameter and buffer into new storage with the same values, class, names, order and modes', () => {
    manualSeed(3);
    const m = new Tiny();
    m.forward(randn([5, 3])); // moves the batch norm's running statistics and num_batches_tracked off their initial values
    m.bn.eval();
    const c = m.deepCopy();
    expect(c).to.be.instanceOf(Tiny);
    expect(c).to.not.equal(m);
    const sm = m.stateDict();
    const sc = c.stateDict();
    expect(Object.keys(sc)).to.deep.equal(Object.keys(sm));
    for (const k of Object.keys(sm)) {
      expect(sc[k].shape, k).to.deep.equal(sm[k].shape);
      expect(sc[k].dtype, k).to.equal(sm[k].dtype);
      expect(values(sc[k]), k).to.deep.equal(values(sm[k]));
      expect(sc[k].storage, k).to.not.equal(sm[k].storage);
    }
    expect(sm['bn.num_batches_tracked'].item()).to.equal(1);
    expect([...c.integerStateKeys()]).to.deep.equal(['bn.num_batches_tracked']);
    expect([c.training, c.fc1.training, c.bn.training]).to.deep.equal([true, true, false]);
    // The copy's attributes read its own registered children, not the original's.
    expect(c.fc1).to.not.equal(m.fc1);
    expect(c.fc1).to.equal(new Map(c.namedChildren()).get('fc1'));
    m.eval();
    c.eval();
    const x = randn([4, 3]);
    expect(values(c.forward(x))).to.deep.equal(values(m.forward(x)));
    // Independent: changing the copy leaves the original as it was, assignment included.
    const before = values(m.fc1.weight);
    c.fc1.weight.data[0] += 1;
    expect(values(m.fc1.weight)).to.deep.equal(before);
    const head = new Linear(4, 2, { bias: false });
    (c as unknown as { fc2: Linear }).fc2 = head;
    expect(c.parameters()).to.include(head.weight);
    expect(m.parameters()).to.not.include(head.weight);
  });

  it('keeps aliases aliased inside the copy: a child registered twice and a field tied to a registered parameter', () => {
    const lin = new Linear(2, 2);
    const seq = new Sequential(lin, new ReLU(), lin);
    const c = seq.deepCopy();
    expect(c.at(0)).to.equal(c.at(2));
    expect(c.at(0)).to.not.equal(lin);
    expect(c.parameters().length).to.equal(2);
    class Tied extends Module {
      readonly emb: Linear;
      readonly tied: Parameter;
      constructor() {
        super();
        this.emb = this.registerModule('emb', new Linear(3, 3));
        this.tied = this.emb.weight;
      }
      forward(x: Tensor): Tensor { return F.linear(x, this.tied); }
    }
    const t = new Tied().deepCopy();
    expect(t.tied).to.equal(t.emb.weight);
    expect(t.parameters().length).to.equal(2);
  });

  it('copies requiresGrad, not a parameter\'s gradient (torch\'s Parameter.__deepcopy__), a plain tensor\'s gradient too; a tensor produced by an op is refused, as torch\'s deepcopy refuses a non-leaf', () => {
    const m = new Linear(3, 2);
    F.sum(m.forward(randn([4, 3]))).backward();
    m.bias!.requiresGrad = false;
    const c = m.deepCopy();
    expect(c.weight.requiresGrad).to.equal(true);
    expect(c.bias!.requiresGrad).to.equal(false);
    // torch's Parameter.__deepcopy__ is Parameter(self.data.clone(), self.requires_grad): no .grad, so a
    // backward through the copy accumulates from nothing, not onto the original's stale gradient.
    expect(m.weight.grad).to.not.equal(null);
    expect(c.weight.grad).to.equal(null);
    const x = randn([4, 3]);
    F.sum(c.forward(x)).backward();
    // d sum(x·Wᵀ + b) / dW[i][j] = Σ_n x[n][j] for every output row i.
    const colSums = [0, 1, 2].map((j) => [0, 1, 2, 3].reduce((s, n) => s + x.data[n * 3 + j], 0));
    const g = values(c.weight.grad as Tensor);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expect(g[i * 3 + j]).to.be.closeTo(colSums[j], 1e-5);
    // A plain tensor (not a Parameter) keeps its gradient, as torch's Tensor.__deepcopy__.
    class Holder extends Module {
      t: Tensor;
      constructor() {
        super();
        this.t = tensor([1, 2], { requiresGrad: true });
      }
      forward(): Tensor { return this.t; }
    }
    const h = new Holder();
    F.sum(F.mul(h.t, h.t)).backward();
    const hc = h.deepCopy();
    expect(hc.t).to.not.equal(h.t);
    expect(hc.t.requiresGrad).to.equal(true);
    expect(values(hc.t.grad as Tensor)).to.deep.equal([2, 4]);
    expect(hc.t.grad).to.not.equal(h.t.grad);
    class Cached extends Module {
      readonly fc: Linear;
      cache: Tensor | null = null;
      constructor() {
        super();
        this.fc = this.registerModule('fc', new Linear(2, 2));
      }
      forward(x: Tensor): Tensor {
        this.cache = this.fc.forward(x);
        return this.cache;
      }
    }
    const cached = new Cached();
    expect(cached.deepCopy().cache).to.equal(null);
    cached.forward(randn([1, 2]));
    expect(() => cached.deepCopy()).to.throw('deepCopy: Cached.cache is a tensor of shape [1,2] produced by an op (it is not a graph leaf)');
    // Named by its path from the module copied: through a child, an array and a plain object.
    expect(() => new Sequential(new Linear(2, 2), cached).deepCopy()).to.throw('deepCopy: Sequential.1.cache is a tensor of shape [1,2] produced by an op');
    class Nested extends Module {
      states: { h: Tensor[] } = { h: [] };
      forward(x: Tensor): Tensor {
        this.states.h.push(F.mul(x, 2));
        return x;
      }
    }
    const nested = new Nested();
    nested.forward(randn([3], { requiresGrad: true }));
    expect(() => nested.deepCopy()).to.throw('deepCopy: Nested.states.h[0] is a tensor of shape [3] produced by an op');
  });

  it('copies a loss module with its weight buffer', () => {
    const loss = new CrossEntropyLoss({ weight: tensor([1, 2, 3]) });
    const c = loss.deepCopy();
    expect(c.weight).to.not.equal(null);
    expect(c.weight).to.not.equal(loss.weight);
    expect(values(c.weight as Tensor)).to.deep.equal([1, 2, 3]);
    const logits = randn([4, 3]);
    const target = tensor([0, 2, 1, 2]);
    expect(c.forward(logits, target).item()).to.equal(loss.forward(logits, target).item());
  });
});
