import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { randn, randint } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { noGrad } from '../../autograd/tape';
import type { Tensor } from '../../autograd/tensor';
import { manualSeed } from '../../lib/random';
import { BatchNorm2d, Conv2d, Identity, Linear, Module, ReLU, Sequential, Tanh } from '../../models/nn/index';
import { BasicBlock, conv1x1, PlainBlock, plain18, plain34, ResNet, resnet18, resnet34, type ResNetOptions } from '../../models/resnet';
import { SHARED_DIR, sharedAvailable } from '../helpers';

const TOL = { atol: 1e-7, rtol: 1e-6 };

describe('models/resnet', () => {
  beforeEach(() => manualSeed(7));

  it("resnet18()'s stateDict keys, shapes and order equal torchvision's resnet18().state_dict()", function () {
    const file = path.join(SHARED_DIR, 'fixtures', 'torch', 'resnet18_state_dict_keys.json');
    if (!sharedAvailable('fixtures/torch')) {
      console.log(`      (skipped: ${file} not found — ../shared is absent in a fresh clone)`);
      this.skip();
    }
    const ref = JSON.parse(fs.readFileSync(file, 'utf-8')) as { keys: Array<[string, number[], string]> };
    const m = resnet18();
    const sd = m.stateDict();
    expect(Object.entries(sd).map(([k, t]) => [k, [...t.shape]])).to.deep.equal(ref.keys.map(([k, s]) => [k, s]));
    const intKeys = ref.keys.filter(([, , dt]) => dt === 'int64').map(([k]) => k);
    expect([...m.integerStateKeys()]).to.deep.equal(intKeys);
    expect(m.numParameters()).to.equal(11689512);
  });

  it('has torchvision structure: stride only in the first block of stages 2-4, padded stem, 1x1 downsample, 2 blocks per stage', () => {
    const m = resnet18({ numClasses: 10 });
    expect(m.conv1.kernelSize).to.deep.equal([7, 7]);
    expect(m.conv1.stride).to.deep.equal([2, 2]);
    expect(m.conv1.padding).to.deep.equal([3, 3]);
    const stages = [m.layer1, m.layer2, m.layer3, m.layer4];
    stages.forEach((stage, i) => {
      expect(stage.length).to.equal(2);
      const b0 = stage.at(0) as BasicBlock, b1 = stage.at(1) as BasicBlock;
      expect(b0.conv1.stride).to.deep.equal(i === 0 ? [1, 1] : [2, 2]);
      expect(b1.conv1.stride).to.deep.equal([1, 1]);
      expect(b0.conv2.stride).to.deep.equal([1, 1]);
      if (i === 0) expect(b0.downsample).to.equal(null);
      else {
        const ds = b0.downsample!.at(0) as Conv2d;
        expect(ds.kernelSize).to.deep.equal([1, 1]);
        expect(ds.stride).to.deep.equal([2, 2]);
        expect(b0.downsample!.at(1)).to.be.instanceOf(BatchNorm2d);
      }
      expect(b1.downsample).to.equal(null);
    });
    const y = noGrad(() => m.eval().forward(randn([2, 3, 32, 32])));
    expect(y.shape).to.deep.equal([2, 10]);
    expect(resnet34().layer3.length).to.equal(6);
  });

  it("children are torchvision's (no extra flatten module): list(model.children())[:-1] is the pooled feature extractor", () => {
    // torchvision's ResNet registers conv1, bn1, relu, maxpool, layer1-4, avgpool, fc and flattens
    // with torch.flatten in forward(), so Sequential(*list(m.children())[:-1]) gives [N, C, 1, 1].
    const m = resnet18({ numClasses: 10, width: 4, variant: 'cifar' });
    expect([...m.namedChildren()].map(([n]) => n)).to.deep.equal(
      ['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc'],
    );
    expect([...m.namedModules()].filter(([n]) => !n.includes('.')).map(([n]) => n)).to.deep.equal(
      ['', 'conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc'],
    );
    const backbone = new Sequential(...[...m.children()].slice(0, -1));
    const x = randn([2, 3, 8, 8]);
    const feats = noGrad(() => backbone.eval().forward(x));
    expect(feats.shape).to.deep.equal([2, 32, 1, 1]);
    const y = noGrad(() => m.eval().forward(x));
    expect(y.shape).to.deep.equal([2, 10]);
    expect(m.toString().split('\n').filter((l) => /^ {2}\(/.test(l)).map((l) => l.slice(3, l.indexOf(')')))).to.deep.equal(
      ['conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc'],
    );
  });

  it('cifar variant: 3x3 stride-1 stem, no max pool; width scales every stage', () => {
    const m = resnet18({ variant: 'cifar', width: 16, numClasses: 10 });
    expect(m.conv1.kernelSize).to.deep.equal([3, 3]);
    expect(m.conv1.stride).to.deep.equal([1, 1]);
    expect(m.maxpool.constructor.name).to.equal('Identity');
    expect((m.layer4.at(0) as BasicBlock).conv2.outChannels).to.equal(128);
    expect(m.fc.inFeatures).to.equal(128);
    expect(noGrad(() => m.forward(randn([2, 3, 32, 32]))).shape).to.deep.equal([2, 10]);
    expect(() => resnet18({ variant: 'tiny' as never })).to.throw("ResNet: variant must be 'imagenet' or 'cifar', got \"tiny\"");
  });

  it('initialises like torchvision: conv kaiming_normal(fan_out, relu), BN gamma 1 beta 0, zeroInitResidual', () => {
    const m = resnet18({ width: 16, numClasses: 10 });
    const w = Array.from((m.layer3.at(1) as BasicBlock).conv1.weight.data);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).to.be.closeTo(Math.sqrt(2 / (64 * 9)), 0.05 * Math.sqrt(2 / (64 * 9)));
    expect(Array.from(m.bn1.weight!.data).every((v) => v === 1)).to.equal(true);
    expect(Array.from(m.bn1.bias!.data).every((v) => v === 0)).to.equal(true);
    const z = resnet18({ width: 8, zeroInitResidual: true });
    expect(Array.from((z.layer2.at(0) as BasicBlock).bn2.weight!.data).every((v) => v === 0)).to.equal(true);
    expect(Array.from((z.layer2.at(0) as BasicBlock).bn1.weight!.data).every((v) => v === 1)).to.equal(true);
  });

  it("fine-tuning: model.fc = new Linear(…) replaces the head everywhere, as with torchvision's model.fc", () => {
    const m = resnet18({ numClasses: 10, width: 4, variant: 'cifar' });
    m.requiresGrad_(false);
    m.fc = new Linear(32, 5);
    const trainable = m.parameters().filter((p) => p.requiresGrad);
    expect(trainable).to.deep.equal([m.fc.weight, m.fc.bias]);
    expect(m.stateDict()['fc.weight'].shape).to.deep.equal([5, 32]);
    expect(m.numParameters()).to.equal(resnet18({ numClasses: 5, width: 4, variant: 'cifar' }).numParameters());
    const out = m.forward(randn([2, 3, 16, 16]));
    expect(out.shape).to.deep.equal([2, 5]);
    F.crossEntropy(out, randint(0, 5, [2])).backward();
    expect(m.fc.weight.grad).to.not.equal(null);
  });

  it('plain18 has the same layers without shortcuts', () => {
    const p = plain18({ width: 8 });
    expect(Object.keys(p.stateDict()).some((k) => k.includes('downsample'))).to.equal(false);
    expect(p.numParameters()).to.be.below(resnet18({ width: 8 }).numParameters());
  });

  it('rejects unknown options (a typo would otherwise build the full-width model) and a non-object', () => {
    for (const [name, make] of Object.entries({ resnet18, resnet34, plain18, plain34 })) {
      expect(() => make({ widht: 8 } as ResNetOptions), name).to.throw(Error, "ResNet: unknown option 'widht'");
      expect(() => make({ width: 2, num_classes: 10 } as ResNetOptions), name).to.throw(
        Error, "ResNet: unknown option 'num_classes' (did you mean 'numClasses'?)",
      );
    }
    expect(() => new ResNet(BasicBlock, [1, 1, 1, 1], { width: 2, zero_init_residual: true } as ResNetOptions)).to.throw(
      "ResNet: unknown option 'zero_init_residual' (did you mean 'zeroInitResidual'?)",
    );
    expect(() => resnet18(null as unknown as ResNetOptions)).to.throw('ResNet: options must be an object, got null');
    const m = resnet18({ numClasses: 3, width: 2, variant: 'cifar', zeroInitResidual: true, dtype: 'float64' });
    expect(m.fc.outFeatures).to.equal(3);
  });
});

describe('extending a built model from outside (public register methods, as torch)', () => {
  it('a downsample registered on a block built without one joins parameters(), stateDict() and forward()', () => {
    manualSeed(4);
    const block = new BasicBlock(4, 4);
    const x = randn([2, 4, 5, 5]);
    const before = noGrad(() => block.forward(x)).toArray();
    const count = block.parameters().length;
    const ds = new Sequential(conv1x1(4, 4), new BatchNorm2d(4));
    block.registerModule('downsample', ds);
    expect(block.downsample).to.equal(ds);
    expect(block.parameters().length).to.equal(count + 3); // the 1x1 conv's weight, the batch norm's weight and bias
    expect(Object.keys(block.stateDict())).to.include('downsample.0.weight');
    // The shortcut now runs through ds: the output changes, and equals the computation done by hand.
    const after = noGrad(() => block.forward(x));
    expect(after.toArray()).to.not.deep.equal(before);
    const main = noGrad(() => block.bn2.forward(block.conv2.forward(block.bn1.forwardRelu(block.conv1.forward(x)))));
    expect(after.toArray()).to.deep.equal(noGrad(() => F.relu(F.add(main, ds.forward(x)))).toArray());
    // A buffer registered from outside is saved too.
    block.registerBuffer('scale', randn([4]));
    expect(Object.keys(block.stateDict())).to.include('scale');
  });
});

describe('swapping layers by assignment changes forward(), as with torchvision', () => {
  // torchvision's BasicBlock.forward calls self.relu, self.bn1 and self.bn2, and ResNet's forward
  // calls self.relu, so `block.relu = nn.Tanh()` or `block.bn2 = nn.Identity()` changes what runs.
  const close = (got: Tensor, want: Tensor): void => {
    expect(got.shape).to.deep.equal(want.shape);
    const g = got.data, w = want.data;
    for (let i = 0; i < w.length; i++) expect(g[i]).to.be.closeTo(w[i], 1e-12);
  };

  it('every ReLU module replaced by Tanh: the blocks and the stem run tanh, not a fused relu', () => {
    manualSeed(5);
    const m = resnet18({ width: 4, numClasses: 3, variant: 'cifar', dtype: 'float64' }).eval();
    for (const mod of [...m.modules()]) {
      for (const [name, child] of [...mod.namedChildren()]) {
        if (child instanceof ReLU) (mod as unknown as Record<string, Module>)[name] = new Tanh();
      }
    }
    expect([...m.modules()].some((mod) => mod instanceof ReLU)).to.equal(false);
    // torchvision's BasicBlock.forward with self.relu = tanh, from the block's own layers.
    const block = (b: BasicBlock, h: Tensor): Tensor => {
      const out = b.bn2.forward(b.conv2.forward(F.tanh(b.bn1.forward(b.conv1.forward(h)))));
      return F.tanh(F.add(out, b.downsample ? b.downsample.forward(h) : h));
    };
    const x = randn([2, 3, 8, 8], { dtype: 'float64' });
    const b0 = m.layer2.at(0) as BasicBlock;
    const h = randn([2, 4, 8, 8], { dtype: 'float64' });
    close(noGrad(() => b0.forward(h)), noGrad(() => block(b0, h)));
    const want = noGrad(() => {
      let t = F.tanh(m.bn1.forward(m.conv1.forward(x)));
      for (const stage of [m.layer1, m.layer2, m.layer3, m.layer4]) for (const b of stage) t = block(b as BasicBlock, t);
      return m.fc.forward(F.flatten(m.avgpool.forward(t), 1));
    });
    close(noGrad(() => m.forward(x)), want);
  });

  it("a block's bn2 replaced by Identity (no batch norm before the add) runs relu(conv2(…) + x)", () => {
    manualSeed(6);
    const b = new BasicBlock(4, 4, 1, null, 'float64').eval();
    b.bn2 = new Identity() as unknown as BatchNorm2d;
    const x = randn([2, 4, 5, 5], { dtype: 'float64' });
    const want = noGrad(() => F.relu(F.add(b.conv2.forward(F.relu(b.bn1.forward(b.conv1.forward(x)))), x)));
    close(noGrad(() => b.forward(x)), want);
    const p = new PlainBlock(4, 4, 1, null, 'float64').eval();
    p.bn1 = new Identity() as unknown as BatchNorm2d;
    close(noGrad(() => p.forward(x)), noGrad(() => F.relu(p.bn2.forward(p.conv2.forward(F.relu(p.conv1.forward(x)))))));
  });
});

describe('the residual path, proven in float64', () => {
  beforeEach(() => manualSeed(11));
  const x64 = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });

  it('BasicBlock with the identity shortcut passes gradcheck (train-mode BN)', () => {
    const b = new BasicBlock(3, 3, 1, null, 'float64');
    assertGradcheck((x) => b.forward(x), [x64([2, 3, 4, 4]), ...b.parameters()], { ...TOL, maxFullInputs: 200 });
  });

  it('BasicBlock with the 1x1-conv downsample shortcut passes gradcheck (train-mode BN)', () => {
    const ds = new Sequential(conv1x1(2, 4, 2, 'float64'), new BatchNorm2d(4, { dtype: 'float64' }));
    const b = new BasicBlock(2, 4, 2, ds, 'float64');
    assertGradcheck((x) => b.forward(x), [x64([3, 2, 4, 4]), ...b.parameters()], { ...TOL, maxFullInputs: 200 });
  });

  for (const variant of ['cifar', 'imagenet'] as const) {
    it(`a whole resnet18({ width: 4, variant: '${variant}' }): loss to the input and to every parameter`, () => {
      const m = resnet18({ width: 4, numClasses: 5, variant, dtype: 'float64' });
      // 32x32 (cifar) and 64x64 (imagenet) leave layer4 with 4x4 and 2x2 maps: large enough that batch
      // norm over 2 images is well conditioned, so no ReLU kink falls inside a finite-difference step.
      const size = variant === 'cifar' ? 32 : 64;
      const input = x64([2, 3, size, size]);
      const target = [1, 4];
      const params = m.parameters();
      // Whole-network check: random projections per tensor, full Jacobian for the small ones.
      const rep = assertGradcheck((x) => F.crossEntropy(m.forward(x), target), [input, ...params], { ...TOL, maxFullInputs: 16, projections: 2 });
      expect(rep.inputs.length).to.equal(1 + params.length);
      expect(params.length).to.equal(62);
    });
  }

  function pathGrads(b: BasicBlock, x: Tensor, v: Tensor): { total: Float64Array; branch: Float64Array; shortcut: Float64Array } {
    const grad = (f: (t: Tensor) => Tensor): Float64Array => {
      x.grad = null;
      F.sum(F.mul(f(x), v)).backward();
      return Float64Array.from(x.grad!.data);
    };
    return {
      total: grad((t) => F.add(b.branch(t), b.shortcut(t))), // before the final ReLU
      branch: grad((t) => b.branch(t)),
      shortcut: grad((t) => b.shortcut(t)),
    };
  }

  it('d(x + f(x))/dx = I + df/dx: the shortcut and branch gradients add up, the identity part exactly', () => {
    const b = new BasicBlock(4, 4, 1, null, 'float64');
    const x = x64([2, 4, 5, 5]);
    const v = randn([2, 4, 5, 5], { dtype: 'float64' });
    const g = pathGrads(b, x, v);
    expect(Array.from(g.shortcut)).to.deep.equal(Array.from(v.data)); // vᵀI = v, exactly
    for (let i = 0; i < g.total.length; i++) expect(g.total[i]).to.be.closeTo(g.branch[i] + g.shortcut[i], 1e-12);
    expect(Math.max(...Array.from(g.branch).map(Math.abs))).to.be.above(1e-3); // the branch really contributes
  });

  it('with the branch\'s last BN gamma = 0 the block gradient is exactly the identity\'s', () => {
    const b = new BasicBlock(4, 4, 1, null, 'float64');
    b.bn2.weight!.data.fill(0);
    const x = x64([2, 4, 5, 5]);
    const v = randn([2, 4, 5, 5], { dtype: 'float64' });
    const g = pathGrads(b, x, v);
    expect(Array.from(g.branch).every((d) => d === 0)).to.equal(true);
    expect(Array.from(g.total)).to.deep.equal(Array.from(v.data));
  });

  it('the same decomposition holds through the 1x1 downsample shortcut', () => {
    const ds = new Sequential(conv1x1(3, 6, 2, 'float64'), new BatchNorm2d(6, { dtype: 'float64' }));
    const b = new BasicBlock(3, 6, 2, ds, 'float64');
    const x = x64([2, 3, 6, 6]);
    const v = randn([2, 6, 3, 3], { dtype: 'float64' });
    const g = pathGrads(b, x, v);
    for (let i = 0; i < g.total.length; i++) expect(g.total[i]).to.be.closeTo(g.branch[i] + g.shortcut[i], 1e-12);
  });

  it('a training step runs through resnet18 end to end and every parameter receives a gradient', () => {
    const m = resnet18({ width: 4, numClasses: 10, variant: 'cifar' });
    const loss = F.crossEntropy(m.forward(randn([4, 3, 16, 16])), randint(0, 10, [4]));
    loss.backward();
    expect(m.parameters().every((p) => p.grad !== null && Array.from(p.grad.data).some((v) => v !== 0))).to.equal(true);
  });
});
