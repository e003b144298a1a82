import { expect } from 'chai';
import { randn } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { assertGradcheck } from '../../../autograd/gradcheck';
import type { Tensor } from '../../../autograd/tensor';
import { manualSeed } from '../../../lib/random';
import {
  ELU, GELU, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, ReLU6, SELU, Sequential, SiLU, Softmax, Softplus, type Module,
} from '../../../models/nn/index';

describe('models/nn activation layers', () => {
  beforeEach(() => manualSeed(7));
  const x64 = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true });

  it("print as torch's print(module) does", () => {
    const cases: Array<[Module, string]> = [
      [new LeakyReLU(), 'LeakyReLU(negative_slope=0.01)'],
      [new LeakyReLU(0.2), 'LeakyReLU(negative_slope=0.2)'],
      [new ELU(), 'ELU(alpha=1.0)'],
      [new ELU(0.5), 'ELU(alpha=0.5)'],
      [new SELU(), 'SELU()'],
      [new SiLU(), 'SiLU()'],
      [new Mish(), 'Mish()'],
      [new GELU(), "GELU(approximate='none')"],
      [new GELU({ approximate: 'tanh' }), "GELU(approximate='tanh')"],
      [new Softplus(), 'Softplus(beta=1, threshold=20)'],
      [new Softplus(0.5, 10), 'Softplus(beta=0.5, threshold=10)'],
      // A non-integer option prints as Python's float repr: 1e-05, not JavaScript's 0.00001.
      [new Softplus(1e-5, 0.5), 'Softplus(beta=1e-05, threshold=0.5)'],
      [new Softplus(2, 1e-7), 'Softplus(beta=2, threshold=1e-07)'],
      [new Hardtanh(), 'Hardtanh(min_val=-1.0, max_val=1.0)'],
      [new Hardtanh(-2, 0.5), 'Hardtanh(min_val=-2.0, max_val=0.5)'],
      [new ReLU6(), 'ReLU6()'],
      [new LogSigmoid(), 'LogSigmoid()'],
      [new Softmax(1), 'Softmax(dim=1)'],
      [new LogSoftmax(-1), 'LogSoftmax(dim=-1)'],
    ];
    for (const [m, s] of cases) expect(m.toString()).to.equal(s);
    expect(new Sequential(new LeakyReLU(0.1), new Softmax(1)).toString()).to.equal(
      'Sequential(\n  (0): LeakyReLU(negative_slope=0.1)\n  (1): Softmax(dim=1)\n)');
  });

  it('forward is the functional op with the stored options, and they hold no parameters', () => {
    const x = randn([3, 5], { dtype: 'float64' });
    const same = (a: Tensor, b: Tensor): void => {
      expect(Array.from(a.data)).to.deep.equal(Array.from(b.data));
    };
    same(new LeakyReLU(0.3).forward(x), F.leakyRelu(x, 0.3));
    same(new ELU(0.7).forward(x), F.elu(x, 0.7));
    same(new SELU().forward(x), F.selu(x));
    same(new SiLU().forward(x), F.silu(x));
    same(new Mish().forward(x), F.mish(x));
    same(new GELU().forward(x), F.gelu(x));
    same(new GELU({ approximate: 'tanh' }).forward(x), F.gelu(x, { approximate: 'tanh' }));
    same(new Softplus(2, 1).forward(x), F.softplus(x, 2, 1));
    same(new Hardtanh(-0.5, 0.25).forward(x), F.hardtanh(x, -0.5, 0.25));
    same(new ReLU6().forward(x.mul(4)), F.relu6(x.mul(4)));
    same(new LogSigmoid().forward(x), F.logSigmoid(x));
    same(new Softmax(0).forward(x), F.softmax(x, 0));
    same(new LogSoftmax(1).forward(x), F.logSoftmax(x, 1));
    for (const m of [new LeakyReLU(), new GELU(), new Softmax(1), new Hardtanh()]) {
      expect(m.parameters()).to.deep.equal([]);
      expect(Object.keys(m.stateDict())).to.deep.equal([]);
    }
  });

  it('pass gradcheck in float64 inside a Sequential', () => {
    const x = x64([4, 6]);
    // Values away from the kinks at 0, ±1 and 6 (randn hits them with probability ~0).
    const net = new Sequential(new ELU(0.5), new GELU(), new Softplus(2), new Hardtanh(-1, 2), new SiLU(), new LogSoftmax(1));
    assertGradcheck((t) => net.forward(t), [x], { atol: 1e-7, rtol: 1e-6 });
  });

  it('check their options at construction, naming the layer', () => {
    expect(() => new LeakyReLU('0.1' as never)).to.throw('LeakyReLU: negativeSlope must be a finite number, got "0.1"');
    expect(() => new LeakyReLU({ negativeSlope: 0.1 } as never)).to.throw('LeakyReLU: negativeSlope must be a finite number, got an object');
    expect(() => new ELU(NaN)).to.throw('ELU: alpha must be a finite number, got NaN');
    expect(() => new GELU({ approximate: 'erf' as never })).to.throw("GELU: approximate must be 'none' or 'tanh', got \"erf\"");
    expect(() => new GELU('tanh' as never)).to.throw('GELU: options must be an object, as new GELU({ approximate: "tanh" })');
    expect(() => new GELU({ aproximate: 'tanh' } as never)).to.throw("GELU: unknown option 'aproximate' (did you mean 'approximate'?)");
    expect(() => new Softplus(0)).to.throw('Softplus: beta must be non-zero');
    expect(() => new Softplus(1, '20' as never)).to.throw('Softplus: threshold must be a finite number, got "20"');
    expect(() => new Hardtanh(1, 1)).to.throw('Hardtanh: maxVal must be greater than minVal, got minVal=1, maxVal=1');
    expect(() => new Hardtanh(undefined, null as never)).to.throw('Hardtanh: maxVal must be a finite number, got null');
    expect(() => new (Softmax as unknown as new () => Module)()).to.throw('Softmax: dim is required');
    expect(() => new LogSoftmax(1.5)).to.throw('LogSoftmax: dim must be an integer, got 1.5');
    expect(() => new Softmax(2).forward(randn([2, 3]))).to.throw('softmax: ');
  });
});
