import { expect } from 'chai';
import { fmtValue } from '../../../lib/core/errors';
import { gemm } from '../../../lib/kernels/gemm';
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
    expect(messageOf(() => manualSeed('7'.repeat(200) as unknown as number))).to.equal('manualSeed: seed must be a finite number, got a string of length 200');
    expect(messageOf(() => arange(0, new Float32Array(5) as unknown as number))).to.equal('arange: start, end and step must be finite, got 0, Float32Array(5), 1');
  });
});
