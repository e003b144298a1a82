import { expect } from 'chai';
import { randn, tensor } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { assertGradcheck } from '../../../autograd/gradcheck';
import { manualSeed } from '../../../lib/random';
import { GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LayerNorm, Linear, Sequential } from '../../../models/nn/index';

describe('models/nn LayerNorm', () => {
  beforeEach(() => manualSeed(11));

  it("has torch's parameters: weight = ones and bias = zeros of normalizedShape, stateDict keys weight and bias", () => {
    const ln = new LayerNorm([3, 4]);
    expect(Object.keys(ln.stateDict())).to.deep.equal(['weight', 'bias']);
    expect(ln.weight!.shape).to.deep.equal([3, 4]);
    expect(Array.from(ln.weight!.data)).to.deep.equal(new Array(12).fill(1));
    expect(Array.from(ln.bias!.data)).to.deep.equal(new Array(12).fill(0));
    expect(ln.weight!.dtype).to.equal('float32');
    expect(ln.numParameters()).to.equal(24);
    const net = new Sequential(new Linear(5, 4), new LayerNorm(4));
    expect(Object.keys(net.stateDict())).to.deep.equal(['0.weight', '0.bias', '1.weight', '1.bias']);
    const plain = new LayerNorm(4, { elementwiseAffine: false });
    expect(plain.weight).to.equal(null);
    expect(plain.parameters()).to.deep.equal([]);
    expect(Object.keys(plain.stateDict())).to.deep.equal([]);
  });

  it("prints as torch's print(module)", () => {
    expect(new LayerNorm(10).toString()).to.equal('LayerNorm((10,), eps=1e-05, elementwise_affine=True)');
    expect(new LayerNorm([3, 4], { eps: 1e-6, elementwiseAffine: false }).toString()).to.equal('LayerNorm((3, 4), eps=1e-06, elementwise_affine=False)');
  });

  it('forward is F.layerNorm with its parameters and eps; a loaded state dict is used', () => {
    const ln = new LayerNorm([2, 3], { eps: 0.01, dtype: 'float64' });
    const w = randn([2, 3], { dtype: 'float64' }), b = randn([2, 3], { dtype: 'float64' });
    ln.loadStateDict({ weight: w, bias: b });
    const x = randn([4, 2, 3], { dtype: 'float64' });
    expect(Array.from(ln.forward(x).data)).to.deep.equal(Array.from(F.layerNorm(x, [2, 3], w, b, 0.01).data));
    // The same in eval mode: layer norm keeps no running statistics.
    ln.eval();
    expect(Array.from(ln.forward(x).data)).to.deep.equal(Array.from(F.layerNorm(x, [2, 3], w, b, 0.01).data));
  });

  it('passes gradcheck in float64 for the input and both parameters', () => {
    const ln = new LayerNorm(5, { dtype: 'float64' });
    ln.loadStateDict({ weight: randn([5], { dtype: 'float64' }), bias: randn([5], { dtype: 'float64' }) });
    const x = randn([3, 5], { dtype: 'float64', requiresGrad: true });
    const rep = assertGradcheck((t) => ln.forward(t), [x, ...ln.parameters()], { atol: 1e-7, rtol: 1e-6 });
    expect(rep.inputs.length).to.equal(3);
  });

  it('checks its options at construction and its input at forward, naming the layer or op', () => {
    expect(() => new LayerNorm([])).to.throw('LayerNorm: normalizedShape must have at least one dim, got []');
    expect(() => new LayerNorm(-1)).to.throw('LayerNorm: normalizedShape must be a non-negative integer or an array of them, got -1');
    expect(() => new LayerNorm('4' as never)).to.throw('LayerNorm: normalizedShape must be a non-negative integer or an array of them, got "4"');
    expect(() => new LayerNorm(4, { eps: '1e-5' as never })).to.throw('LayerNorm: eps must be a finite non-negative number, got "1e-5"');
    expect(() => new LayerNorm(4, { elementwiseAffine: 1 as never })).to.throw('LayerNorm: elementwiseAffine must be a boolean, got 1');
    expect(() => new LayerNorm(4, { elementwise_affine: false } as never)).to.throw("LayerNorm: unknown option 'elementwise_affine' (did you mean 'elementwiseAffine'?)");
    expect(() => new LayerNorm(4, { dtype: 'int32' as never })).to.throw("LayerNorm: dtype must be 'float32' or 'float64', got \"int32\"");
    expect(() => new LayerNorm(4).forward(tensor([[1, 2, 3]]))).to.throw('layerNorm: given normalizedShape [4], expected input with shape [*, 4], but got input of shape [1,3]');
    expect(() => new LayerNorm(3).forward(tensor([[1, 2, 3]], { dtype: 'float64' }))).to.throw('layerNorm: weight is float32 but input is float64');
  });
});

describe('models/nn GroupNorm', () => {
  beforeEach(() => manualSeed(12));

  it("has torch's per-channel parameters (weight ones, bias zeros), stateDict keys weight and bias, and repr", () => {
    const gn = new GroupNorm(2, 6);
    expect(Object.keys(gn.stateDict())).to.deep.equal(['weight', 'bias']);
    expect(Array.from(gn.weight!.data)).to.deep.equal([1, 1, 1, 1, 1, 1]);
    expect(Array.from(gn.bias!.data)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(gn.toString()).to.equal('GroupNorm(2, 6, eps=1e-05, affine=True)');
    const plain = new GroupNorm(3, 3, { eps: 0.001, affine: false });
    expect(plain.parameters()).to.deep.equal([]);
    expect(plain.toString()).to.equal('GroupNorm(3, 3, eps=0.001, affine=False)');
    expect(Object.keys(new Sequential(new GroupNorm(1, 2)).stateDict())).to.deep.equal(['0.weight', '0.bias']);
  });

  it('forward is F.groupNorm with its parameters and eps, the same in eval mode; gradcheck in float64', () => {
    const gn = new GroupNorm(2, 4, { eps: 0.01, dtype: 'float64' });
    const w = randn([4], { dtype: 'float64' }), b = randn([4], { dtype: 'float64' });
    gn.loadStateDict({ weight: w, bias: b });
    const x = randn([3, 4, 2, 2], { dtype: 'float64' });
    const expected = Array.from(F.groupNorm(x, 2, w, b, 0.01).data);
    expect(Array.from(gn.forward(x).data)).to.deep.equal(expected);
    gn.eval();
    expect(Array.from(gn.forward(x).data)).to.deep.equal(expected);
    const xg = randn([2, 4, 3], { dtype: 'float64', requiresGrad: true });
    const rep = assertGradcheck((t) => gn.forward(t), [xg, ...gn.parameters()], { atol: 1e-7, rtol: 1e-6 });
    expect(rep.inputs.length).to.equal(3);
  });

  it('checks its options at construction and its input at forward, naming the layer or op', () => {
    expect(() => new GroupNorm(4, 6)).to.throw('GroupNorm: numChannels must be divisible by numGroups, got numChannels=6 and numGroups=4');
    expect(() => new GroupNorm(0, 6)).to.throw('GroupNorm: numGroups must be a positive integer, got 0');
    expect(() => new GroupNorm(2, 2.5)).to.throw('GroupNorm: numChannels must be a positive integer, got 2.5');
    expect(() => new GroupNorm(2, 4, { eps: -1 })).to.throw('GroupNorm: eps must be a finite non-negative number, got -1');
    expect(() => new GroupNorm(2, 4, { affine: 'yes' as never })).to.throw('GroupNorm: affine must be a boolean, got "yes"');
    expect(() => new GroupNorm(2, 4, { elementwiseAffine: false } as never)).to.throw("GroupNorm: unknown option 'elementwiseAffine'");
    expect(() => new GroupNorm(2, 4, { dtype: 'int8' as never })).to.throw("GroupNorm: dtype must be 'float32' or 'float64', got \"int8\"");
    expect(() => new GroupNorm(2, 4).forward(randn([2, 6, 3]))).to.throw('groupNorm: weight must have shape [6] (one value per channel of input [2,6,3]), got [4]');
    expect(() => new GroupNorm(2, 4).forward(randn([2, 5, 3]))).to.throw('groupNorm: the number of channels must be divisible by numGroups, but got input of shape [2,5,3] and numGroups=2');
  });
});

describe('models/nn InstanceNorm2d', () => {
  beforeEach(() => manualSeed(13));

  it("defaults as torch (affine false, no running statistics: no state) and prints torch's repr", () => {
    const inorm = new InstanceNorm2d(3);
    expect(inorm.parameters()).to.deep.equal([]);
    expect(Object.keys(inorm.stateDict())).to.deep.equal([]);
    expect(inorm.toString()).to.equal('InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)');
    const full = new InstanceNorm2d(4, { affine: true, trackRunningStats: true, momentum: 0.2, eps: 1e-3 });
    expect(Object.keys(full.stateDict())).to.deep.equal(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    expect([...full.integerStateKeys()]).to.deep.equal(['num_batches_tracked']);
    expect(Array.from(full.weight!.data)).to.deep.equal([1, 1, 1, 1]);
    expect(Array.from(full.runningVar!.data)).to.deep.equal([1, 1, 1, 1]);
    expect(full.toString()).to.equal('InstanceNorm2d(4, eps=0.001, momentum=0.2, affine=True, track_running_stats=True)');
  });

  it('forward is F.instanceNorm on [N, C, H, W], the same in eval mode without running statistics; unbatched [C, H, W] too', () => {
    const inorm = new InstanceNorm2d(2, { affine: true, dtype: 'float64' });
    const w = randn([2], { dtype: 'float64' }), b = randn([2], { dtype: 'float64' });
    inorm.loadStateDict({ weight: w, bias: b });
    const x = randn([3, 2, 3, 4], { dtype: 'float64' });
    const expected = Array.from(F.instanceNorm(x, null, null, w, b).data);
    expect(Array.from(inorm.forward(x).data)).to.deep.equal(expected);
    inorm.eval();
    expect(Array.from(inorm.forward(x).data)).to.deep.equal(expected);
    const one = F.select(x, 0, 1);
    const y = inorm.forward(one);
    expect(y.shape).to.deep.equal([2, 3, 4]);
    expect(Array.from(y.data)).to.deep.equal(expected.slice(24, 48));
    // With affine false, torch only warns when the channels differ from numFeatures: numFeatures is unused.
    expect(new InstanceNorm2d(5).forward(x).shape).to.deep.equal([3, 2, 3, 4]);
  });

  it('with trackRunningStats, train mode updates running_mean/var as torch and eval mode normalises with them', () => {
    const inorm = new InstanceNorm2d(2, { trackRunningStats: true, momentum: 0.5, dtype: 'float64' });
    const x = randn([2, 2, 2, 3], { dtype: 'float64' });
    const d = Array.from(x.data);
    // Reference: per (n, c) mean and unbiased variance over the 6 spatial values, averaged over n.
    const stats = [0, 1].map((c) => {
      let ms = 0, vs = 0;
      for (let n = 0; n < 2; n++) {
        const row = d.slice((n * 2 + c) * 6, (n * 2 + c + 1) * 6);
        const m = row.reduce((a, v) => a + v, 0) / 6;
        ms += m / 2;
        vs += row.reduce((a, v) => a + (v - m) ** 2, 0) / 5 / 2;
      }
      return { m: 0.5 * 0 + 0.5 * ms, v: 0.5 * 1 + 0.5 * vs };
    });
    const train = inorm.forward(x);
    expect(Array.from(train.data)).to.deep.equal(Array.from(F.instanceNorm(x).data));
    stats.forEach(({ m, v }, c) => {
      expect(inorm.runningMean!.data[c]).to.be.closeTo(m, 1e-14);
      expect(inorm.runningVar!.data[c]).to.be.closeTo(v, 1e-14);
    });
    expect(inorm.stateDict().num_batches_tracked.item(), 'registered but never counted, as torch').to.equal(0);
    inorm.eval();
    const x2 = randn([1, 2, 2, 2], { dtype: 'float64' });
    const y = inorm.forward(x2);
    const d2 = Array.from(x2.data);
    d2.forEach((v, i) => {
      const c = Math.floor(i / 4);
      expect(y.data[i], `eval [${i}]`).to.be.closeTo((v - stats[c].m) / Math.sqrt(stats[c].v + 1e-5), 1e-13);
    });
    expect(inorm.runningMean!.data[0], 'eval leaves the statistics').to.be.closeTo(stats[0].m, 1e-14);
    inorm.double();
    inorm.float();
    expect(inorm.runningMean!.dtype).to.equal('float32');
  });

  it('passes gradcheck in float64 (affine: eval mode with running statistics, and without them)', () => {
    const inorm = new InstanceNorm2d(2, { affine: true, trackRunningStats: true, dtype: 'float64' });
    inorm.loadStateDict({ ...inorm.stateDict(), weight: randn([2], { dtype: 'float64' }), bias: randn([2], { dtype: 'float64' }) });
    inorm.eval();
    const x = randn([2, 2, 2, 2], { dtype: 'float64', requiresGrad: true });
    assertGradcheck((t) => inorm.forward(t), [x, ...inorm.parameters()], { atol: 1e-7, rtol: 1e-6 });
    const plain = new InstanceNorm2d(2, { affine: true, dtype: 'float64' });
    plain.loadStateDict({ weight: randn([2], { dtype: 'float64' }), bias: randn([2], { dtype: 'float64' }) });
    assertGradcheck((t) => plain.forward(t), [x, ...plain.parameters()], { atol: 1e-7, rtol: 1e-6 });
  });

  it('checks its options at construction and its input at forward, naming the layer or op', () => {
    expect(() => new InstanceNorm2d(0)).to.throw('InstanceNorm2d: numFeatures must be a positive integer, got 0');
    expect(() => new InstanceNorm2d(3, { momentum: null as never })).to.throw('InstanceNorm2d: momentum must be a number in [0, 1], got null');
    expect(() => new InstanceNorm2d(3, { momentum: 1.5 })).to.throw('InstanceNorm2d: momentum must be a number in [0, 1], got 1.5');
    expect(() => new InstanceNorm2d(3, { eps: Infinity })).to.throw('InstanceNorm2d: eps must be a finite non-negative number, got Infinity');
    expect(() => new InstanceNorm2d(3, { affine: 1 as never })).to.throw('InstanceNorm2d: affine must be a boolean, got 1');
    expect(() => new InstanceNorm2d(3, { trackRunningStats: 'no' as never })).to.throw('InstanceNorm2d: trackRunningStats must be a boolean, got "no"');
    expect(() => new InstanceNorm2d(3, { track_running_stats: true } as never)).to.throw("InstanceNorm2d: unknown option 'track_running_stats' (did you mean 'trackRunningStats'?)");
    expect(() => new InstanceNorm2d(3).forward(randn([2, 3]))).to.throw('InstanceNorm2d: expected 3D (unbatched) or 4D input (got 2D input of shape [2,3])');
    expect(() => new InstanceNorm2d(3, { affine: true }).forward(randn([2, 4, 2, 2]))).to.throw("InstanceNorm2d: expected input's size at dim=1 to match numFeatures (3), but got input of shape [2,4,2,2]");
    expect(() => new InstanceNorm2d(3, { affine: true }).forward(randn([4, 2, 2]))).to.throw("InstanceNorm2d: expected input's size at dim=0 to match numFeatures (3)");
    expect(() => new InstanceNorm2d(3, { trackRunningStats: true }).forward(randn([2, 4, 2, 2]))).to.throw('instanceNorm: runningMean must have shape [4]');
    expect(() => new InstanceNorm2d(3).forward(randn([2, 3, 1, 1]))).to.throw('instanceNorm: expected more than 1 spatial element when using input statistics (training), got input of shape [2,3,1,1]');
  });
});

describe('models/nn InstanceNorm1d and InstanceNorm3d', () => {
  beforeEach(() => manualSeed(17));

  /**
   * Reference: instance norm of a batched [N, C, S...] float64 array, each (n, c) over its S
   * elements with the biased variance (or with given running statistics), then w[c]·x̂ + b[c].
   */
  function reference(x: number[], N: number, C: number, S: number, w: number[], b: number[], eps: number,
    running?: { m: number[]; v: number[] }): number[] {
    const out = new Array<number>(x.length);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const base = (n * C + c) * S;
        let m = 0, v = 0;
        if (running) {
          m = running.m[c];
          v = running.v[c];
        } else {
          for (let s = 0; s < S; s++) m += x[base + s] / S;
          for (let s = 0; s < S; s++) v += (x[base + s] - m) ** 2 / S;
        }
        for (let s = 0; s < S; s++) out[base + s] = w[c] * (x[base + s] - m) / Math.sqrt(v + eps) + b[c];
      }
    }
    return out;
  }

  const cases = [
    { name: 'InstanceNorm1d', make: (c: number, o = {}) => new InstanceNorm1d(c, o), spatial: [5] },
    { name: 'InstanceNorm3d', make: (c: number, o = {}) => new InstanceNorm3d(c, o), spatial: [2, 3, 2] },
  ];
  for (const { name, make, spatial } of cases) {
    const S = spatial.reduce((a, v) => a * v, 1);
    const k = spatial.length;

    it(`${name}: values against a loop, batched and unbatched, affine; running statistics in train and eval mode; repr`, () => {
      const inorm = make(3, { affine: true, trackRunningStats: true, momentum: 0.25, eps: 1e-3, dtype: 'float64' });
      expect(inorm.toString()).to.equal(`${name}(3, eps=0.001, momentum=0.25, affine=True, track_running_stats=True)`);
      const w = randn([3], { dtype: 'float64' }), b = randn([3], { dtype: 'float64' });
      inorm.loadStateDict({ ...inorm.stateDict(), weight: w, bias: b });
      const wv = Array.from(w.data), bv = Array.from(b.data);
      const x = randn([2, 3, ...spatial], { dtype: 'float64' });
      const xv = Array.from(x.data);
      const y = inorm.forward(x);
      expect(y.shape).to.deep.equal([2, 3, ...spatial]);
      const want = reference(xv, 2, 3, S, wv, bv, 1e-3);
      y.data.forEach((v, i) => expect(v, `[${i}]`).to.be.closeTo(want[i], 1e-12));
      // Running statistics: 0.75·initial + 0.25·(mean over n of each instance's mean / unbiased variance).
      const rm = [0, 1, 2].map((c) => {
        let s = 0;
        for (let n = 0; n < 2; n++) for (let j = 0; j < S; j++) s += xv[(n * 3 + c) * S + j] / S / 2;
        return 0.25 * s;
      });
      const rv = [0, 1, 2].map((c) => {
        let s = 0;
        for (let n = 0; n < 2; n++) {
          const row = xv.slice((n * 3 + c) * S, (n * 3 + c + 1) * S);
          const m = row.reduce((a, v) => a + v, 0) / S;
          s += row.reduce((a, v) => a + (v - m) ** 2, 0) / (S - 1) / 2;
        }
        return 0.75 + 0.25 * s;
      });
      rm.forEach((m, c) => expect(inorm.runningMean!.data[c], `running_mean[${c}]`).to.be.closeTo(m, 1e-14));
      rv.forEach((v, c) => expect(inorm.runningVar!.data[c], `running_var[${c}]`).to.be.closeTo(v, 1e-14));
      // Unbatched [C, S...] in train mode: the same as the batch of one.
      const one = F.select(x, 0, 1);
      const y1 = make(3, { affine: true, dtype: 'float64' });
      y1.loadStateDict({ weight: w, bias: b });
      const u = y1.forward(one);
      expect(u.shape).to.deep.equal([3, ...spatial]);
      const want1 = reference(xv.slice(3 * S), 1, 3, S, wv, bv, 1e-5);
      u.data.forEach((v, i) => expect(v, `unbatched [${i}]`).to.be.closeTo(want1[i], 1e-12));
      // Eval mode normalises with the running statistics.
      inorm.eval();
      const e = inorm.forward(x);
      const wantE = reference(xv, 2, 3, S, wv, bv, 1e-3, { m: rm, v: rv });
      e.data.forEach((v, i) => expect(v, `eval [${i}]`).to.be.closeTo(wantE[i], 1e-12));
    });

    it(`${name}: gradcheck in float64, and input checks naming the layer`, () => {
      const inorm = make(2, { affine: true, dtype: 'float64' });
      inorm.loadStateDict({ weight: randn([2], { dtype: 'float64' }), bias: randn([2], { dtype: 'float64' }) });
      const x = randn([2, 2, ...spatial], { dtype: 'float64', requiresGrad: true });
      assertGradcheck((t) => inorm.forward(t), [x, ...inorm.parameters()], { atol: 1e-7, rtol: 1e-6 });
      const wrongRank = randn([2, 2, ...spatial, 2]);
      expect(() => make(2).forward(wrongRank)).to.throw(`${name}: expected ${k + 1}D (unbatched) or ${k + 2}D input (got ${k + 3}D input of shape`);
      expect(() => make(3, { affine: true }).forward(randn([2, 2, ...spatial]))).to.throw(`${name}: expected input's size at dim=1 to match numFeatures (3)`);
      expect(() => make(0)).to.throw(`${name}: numFeatures must be a positive integer, got 0`);
      expect(() => make(2, { momentum: 2 })).to.throw(`${name}: momentum must be a number in [0, 1], got 2`);
    });
  }
});
