import { expect } from 'chai';
import { randn } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { assertGradcheck } from '../../../autograd/gradcheck';
import type { Tensor } from '../../../autograd/tensor';
import { manualSeed } from '../../../lib/random';
import {
  AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d, Linear, MaxPool1d, MaxPool2d, type Module,
} from '../../../models/nn/index';

const TOL = { atol: 1e-7, rtol: 1e-6 };

/** Gradcheck a module: the input and every parameter are perturbed; the module reads its parameters in place. */
function checkModule(m: Module, x: Tensor): void {
  const params = m.parameters();
  const rep = assertGradcheck((input) => m.forward(input), [x, ...params], TOL);
  expect(rep.inputs.length).to.equal(1 + params.length);
}

describe('module gradchecks in float64', () => {
  beforeEach(() => manualSeed(3));
  const x = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });

  it('Conv2d (3x3, stride 2, padding 1, bias)', () => checkModule(new Conv2d(3, 4, 3, { stride: 2, padding: 1, dtype: 'float64' }), x([2, 3, 5, 5])));
  it('Conv2d (1x1 downsample, no bias)', () => checkModule(new Conv2d(4, 2, 1, { stride: 2, bias: false, dtype: 'float64' }), x([2, 4, 4, 4])));
  it("Conv2d (padding 'same', even kernel span: asymmetric pad; groups 2)", () => checkModule(new Conv2d(4, 2, [2, 3], { padding: 'same', dilation: [1, 2], groups: 2, dtype: 'float64' }), x([2, 4, 4, 5])));
  it('Conv1d (k3, stride 2, padding 1, dilation 2, groups 2)', () => checkModule(new Conv1d(4, 2, 3, { stride: 2, padding: 1, dilation: 2, groups: 2, dtype: 'float64' }), x([2, 4, 9])));
  it('ConvTranspose2d (3x3, stride 2, padding 1, outputPadding 1)', () => checkModule(new ConvTranspose2d(3, 2, 3, { stride: 2, padding: 1, outputPadding: 1, dtype: 'float64' }), x([2, 3, 3, 2])));
  it('ConvTranspose2d (groups 2, dilation 2, no bias, unbatched input)', () => checkModule(new ConvTranspose2d(4, 2, [2, 3], { groups: 2, dilation: 2, bias: false, dtype: 'float64' }), x([4, 3, 2])));
  it('BatchNorm2d in train mode', () => checkModule(new BatchNorm2d(3, { dtype: 'float64' }), x([3, 3, 2, 2])));
  it('BatchNorm2d in eval mode', () => {
    const bn = new BatchNorm2d(3, { dtype: 'float64' });
    bn.forward(randn([4, 3, 2, 2], { dtype: 'float64' })); // non-trivial running statistics
    bn.eval();
    checkModule(bn, x([2, 3, 2, 2]));
  });
  it('MaxPool2d (3x3, stride 2, padding 1)', () => checkModule(new MaxPool2d(3, { stride: 2, padding: 1 }), x([2, 2, 6, 5])));
  it('AvgPool2d (2x2)', () => checkModule(new AvgPool2d(2), x([2, 2, 4, 4])));
  it('AdaptiveAvgPool2d to 1x1', () => checkModule(new AdaptiveAvgPool2d([1, 1]), x([2, 3, 3, 3])));
  it('MaxPool1d (k3, stride 2, padding 1, ceilMode)', () => checkModule(new MaxPool1d(3, { stride: 2, padding: 1, ceilMode: true }), x([2, 2, 8])));
  it('AvgPool1d (k3, stride 2, padding 1, countIncludePad false)', () => checkModule(new AvgPool1d(3, { stride: 2, padding: 1, countIncludePad: false }), x([2, 2, 7])));
  it('AdaptiveAvgPool1d to 3', () => checkModule(new AdaptiveAvgPool1d(3), x([2, 2, 7])));
  it('Linear', () => checkModule(new Linear(5, 3, { dtype: 'float64' }), x([4, 5])));
  it('Linear into cross-entropy with label smoothing', () => {
    const lin = new Linear(5, 3, { dtype: 'float64' });
    assertGradcheck((input) => F.crossEntropy(lin.forward(input), [0, 2, 1, 2], { labelSmoothing: 0.1 }), [x([4, 5]), ...lin.parameters()], TOL);
  });
});
