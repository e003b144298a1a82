import { expect } from 'chai';
import { randn, tensor } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { assertGradcheck } from '../../../autograd/gradcheck';
import { manualSeed } from '../../../lib/random';
import { LayerNorm, Linear, Sequential } from '../../../models/nn/index';

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
