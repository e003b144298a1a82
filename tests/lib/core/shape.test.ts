import { expect } from 'chai';
import { nn } from '../../../index';
import { pair } from '../../../lib/core/shape';

describe('lib/core/shape pair', () => {
  it('accepts an integer or a pair of them', () => {
    expect(pair('op', 'stride', 2, 1)).to.deep.equal([2, 2]);
    expect(pair('op', 'stride', [1, 3], 1)).to.deep.equal([1, 3]);
  });

  it('names a missing or non-iterable value instead of failing with a TypeError from the spread', () => {
    expect(() => pair('maxPool2d', 'kernelSize', undefined as never, 1)).to.throw(Error, 'maxPool2d: kernelSize must be an integer >= 1 or a pair of them, got undefined');
    expect(() => pair('conv2d', 'padding', { a: 1 } as never, 0)).to.throw(Error, 'conv2d: padding must be an integer >= 0 or a pair of them, got an object');
    expect(() => pair('conv2d', 'padding', null as never, 0)).to.throw(Error, 'conv2d: padding must be an integer >= 0 or a pair of them, got null');
    expect(() => pair('op', 'stride', [1, 2, 3], 1)).to.throw(Error, 'op: stride must be an integer >= 1 or a pair of them, got [1,2,3]');
  });

  it('layers built without a kernel size say so', () => {
    expect(() => new (nn.MaxPool2d as unknown as new () => unknown)()).to.throw(Error, 'MaxPool2d: kernelSize must be an integer >= 1 or a pair of them, got undefined');
    expect(() => new (nn.Conv2d as unknown as new (a: number, b: number) => unknown)(1, 1)).to.throw(Error, 'Conv2d: kernelSize must be an integer >= 1 or a pair of them, got undefined');
  });
});
