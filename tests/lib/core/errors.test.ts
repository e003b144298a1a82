import { expect } from 'chai';
import { checkKnownKeys, fmtValue } from '../../../lib/core/errors';
import { gemm } from '../../../lib/kernels/gemm';
import * as T from '../../../index';
import { nn, randn, resnet18, manualSeed, arange } from '../../../index';

/** The message of the Error fn throws (failing the test if it throws none or something else). */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(Error);
    return (e as Error).message;
  }
  expect.fail('expected an Error');
}

describe('lib/core/errors fmtValue', () => {
  it('prints numbers, booleans, null, undefined and short strings as they are', () => {
    expect(fmtValue(3)).to.equal('3');
    expect(fmtValue(-0.5)).to.equal('-0.5');
    expect(fmtValue(NaN)).to.equal('NaN');
    expect(fmtValue(true)).to.equal('true');
    expect(fmtValue(null)).to.equal('null');
    expect(fmtValue(undefined)).to.equal('undefined');
    expect(fmtValue('abc')).to.equal('"abc"');
  });

  it('describes buffers, long arrays, long strings and objects by kind and size', () => {
    expect(fmtValue(new Float32Array(100000))).to.equal('Float32Array(100000)');
    expect(fmtValue(new Uint8Array(7))).to.equal('Uint8Array(7)');
    expect(fmtValue([1, 2, 3])).to.equal('[1, 2, 3]');
    expect(fmtValue(new Array(50).fill(0))).to.equal('an array of length 50');
    expect(fmtValue('x'.repeat(1000))).to.equal('a string of length 1000');
    expect(fmtValue({ a: 1 })).to.equal('an object');
    expect(fmtValue(new Map())).to.equal('a Map');
    expect(fmtValue(() => 1)).to.equal('a function');
  });

  it('gives a tensor its shape', () => {
    expect(fmtValue(randn([2, 3]))).to.equal('a Tensor of shape [2,3]');
  });
});

describe('validation messages name a wrong-typed argument briefly', () => {
  it('gemm: a buffer passed as an offset', () => {
    const A = new Float32Array(16 * 16);
    const msg = messageOf(() => gemm(false, false, 16, 16, 16, A, A as unknown as number, 16, A, 0, 16, false, A, 0, 16));
    expect(msg).to.equal('gemm: aOff must be a non-negative integer, got Float32Array(256)');
  });

  it('nn layers and resnet18: a tensor or an array passed as a size', () => {
    const x = randn([4, 100]);
    expect(messageOf(() => new nn.Linear(x as unknown as number, 3))).to.equal('Linear: inFeatures must be a positive integer, got a Tensor of shape [4,100]');
    expect(messageOf(() => new nn.Conv2d(new Array(1000).fill(1) as unknown as number, 3, 3)))
      .to.match(/inChannels must be a positive integer, got an array of length 1000$/);
    expect(messageOf(() => new nn.BatchNorm2d(new Float64Array(64) as unknown as number)))
      .to.match(/numFeatures must be a positive integer, got Float64Array\(64\)$/);
    expect(messageOf(() => resnet18({ numClasses: new Float32Array(10) as unknown as number })))
      .to.equal('ResNet: numClasses must be a positive integer, got Float32Array(10)');
  });

  it('manualSeed and arange: non-numbers', () => {
    expect(messageOf(() => manualSeed('7'.repeat(200) as unknown as number))).to.equal('manualSeed: seed must be an integer between -(2^53 - 1) and 2^53 - 1, got a string of length 200');
    expect(messageOf(() => arange(0, new Float32Array(5) as unknown as number))).to.equal('arange: start, end and step must be finite, got 0, Float32Array(5), 1');
  });
});

describe('lib/core/errors checkKnownKeys', () => {
  const keys = ['batchSize', 'shuffle', 'weightDecay', 'lr', 'atol', 'rtol'];

  it('accepts known keys and rejects a non-object', () => {
    expect(() => checkKnownKeys('op', {}, keys)).to.not.throw();
    expect(() => checkKnownKeys('op', { batchSize: 1, lr: 0.1 }, keys)).to.not.throw();
    expect(messageOf(() => checkKnownKeys('op', 3, keys))).to.equal('op: options must be an object, got 3');
    expect(messageOf(() => checkKnownKeys('op', [1], keys))).to.equal('op: options must be an object, got [1]');
    expect(messageOf(() => checkKnownKeys('op', null, keys, ' (param group 0)'))).to.equal('op: options must be an object, got null (param group 0)');
  });

  it('names an unknown key, with a hint for snake_case, other capitalisation and near spellings', () => {
    expect(messageOf(() => checkKnownKeys('SGD', { weight_decay: 1 }, keys))).to.equal("SGD: unknown option 'weight_decay' (did you mean 'weightDecay'?)");
    expect(messageOf(() => checkKnownKeys('op', { batchsize: 1 }, keys))).to.equal("op: unknown option 'batchsize' (did you mean 'batchSize'?)");
    expect(messageOf(() => checkKnownKeys('op', { suffle: true }, keys))).to.equal("op: unknown option 'suffle' (did you mean 'shuffle'?)");
    expect(messageOf(() => checkKnownKeys('op', { shufle: true }, keys, ' (x)'))).to.equal("op: unknown option 'shufle' (did you mean 'shuffle'?) (x)");
    // No hint when unsure: two names are one edit away, or the name is too short to guess from.
    expect(messageOf(() => checkKnownKeys('op', { tol: 1 }, keys))).to.equal("op: unknown option 'tol'");
    expect(messageOf(() => checkKnownKeys('SGD', { lrr: 1 }, keys, ' (param group 0)'))).to.equal("SGD: unknown option 'lrr' (param group 0)");
    expect(messageOf(() => checkKnownKeys('op', { bogus: 1 }, keys))).to.equal("op: unknown option 'bogus'");
  });
});

describe('factories reject misspelt options and a shape given as separate numbers', () => {
  const x = T.zeros([2, 3]);
  const cases: Array<[string, () => unknown, string]> = [
    ['tensor requires_grad', () => T.tensor([1], { requires_grad: true } as never), "tensor: unknown option 'requires_grad' (did you mean 'requiresGrad'?)"],
    ['zeros requires_grad', () => T.zeros([2], { requires_grad: true } as never), "zeros: unknown option 'requires_grad' (did you mean 'requiresGrad'?)"],
    ['ones dtyp', () => T.ones([2], { dtyp: 'float64' } as never), "ones: unknown option 'dtyp' (did you mean 'dtype'?)"],
    ['full requires_grad', () => T.full([2], 1, { requires_grad: true } as never), "full: unknown option 'requires_grad' (did you mean 'requiresGrad'?)"],
    ['rand dtyp', () => T.rand([2], { dtyp: 'float64' } as never), "rand: unknown option 'dtyp' (did you mean 'dtype'?)"],
    ['randn dtyp', () => T.randn([2], { dtyp: 'float64' } as never), "randn: unknown option 'dtyp' (did you mean 'dtype'?)"],
    ['randint requires_grad', () => T.randint(0, 5, [2], { requires_grad: true } as never), "randint: unknown option 'requires_grad' (did you mean 'requiresGrad'?)"],
    ['arange dtyp', () => T.arange(0, 3, 1, { dtyp: 'float64' } as never), "arange: unknown option 'dtyp' (did you mean 'dtype'?)"],
    ['zerosLike requires_grad', () => T.zerosLike(x, { requires_grad: true } as never), "zerosLike: unknown option 'requires_grad' (did you mean 'requiresGrad'?)"],
    ['onesLike bogus', () => T.onesLike(x, { bogus: 1 } as never), "onesLike: unknown option 'bogus'"],
    ['fullLike number options', () => T.fullLike(x, 1, 3 as never), 'fullLike: options must be an object, got 3'],
    ['zeros(2, 3)', () => T.zeros(2, 3 as never), 'zeros: options must be an object, got 3; pass the shape as an array: zeros([2, 3])'],
    ['ones(2, 3)', () => T.ones(2, 3 as never), 'ones: options must be an object, got 3; pass the shape as an array: ones([2, 3])'],
    ['rand(2, 3)', () => T.rand(2, 3 as never), 'rand: options must be an object, got 3; pass the shape as an array: rand([2, 3])'],
    ['randn(2, 3)', () => T.randn(2, 3 as never), 'randn: options must be an object, got 3; pass the shape as an array: randn([2, 3])'],
    ['full(2, 3, 4)', () => T.full(2, 3, 4 as never), 'full: options must be an object, got 4; pass the shape as an array: full([2, 3], 4)'],
    ['randint(0, 10, 2, 3)', () => T.randint(0, 10, 2, 3 as never), 'randint: options must be an object, got 3; pass the shape as an array: randint(0, 10, [2, 3])'],
    ['zeros null options', () => T.zeros([2], null as never), 'zeros: options must be an object, got null'],
    ['tensor string options', () => T.tensor([1], 'float64' as never), 'tensor: options must be an object, got "float64"'],
  ];
  for (const [name, f, msg] of cases) {
    it(name, () => expect(messageOf(f)).to.equal(msg));
  }

  it('still honours the known options', () => {
    expect(T.tensor([1], { requiresGrad: true, dtype: 'float64', shape: [1] }).requiresGrad).to.equal(true);
    expect(T.randn([2], { dtype: 'float64', generator: new T.Random(1) }).dtype).to.equal('float64');
    expect(T.zerosLike(x, { requiresGrad: true }).requiresGrad).to.equal(true);
    expect(T.zeros(4).shape).to.deep.equal([4]);
  });
});
