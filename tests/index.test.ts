import { expect } from 'chai';
import * as T from '../index';

describe('index (the public barrel)', () => {
  it('exports every optimizer, scheduler and gradient-clipping function of optim at the top level too', () => {
    const top = T as unknown as Record<string, unknown>;
    const missing = Object.entries(T.optim)
      .filter(([name, v]) => typeof v === 'function' && name !== 'Optimizer' && name !== 'LRScheduler')
      .filter(([name, v]) => top[name] !== v)
      .map(([name]) => name);
    expect(missing).to.deep.equal([]);
  });
});
