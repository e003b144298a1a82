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

  it('F holds the functional ops, every one also exported at the top level except F-only helpers, and no internal checks', () => {
    const top = T as unknown as Record<string, unknown>;
    const fns = Object.entries(T.F).filter(([, v]) => typeof v === 'function').map(([name]) => name);
    for (const internal of ['optionsObject', 'clampBounds', 'embeddingOptions', 'checkPaddingString', 'checkNormalizedShape']) {
      expect(fns, internal).to.not.include(internal);
    }
    // Reached as F.square or through methods (x.square(), x.to(dtype)), as torch has no top-level form for them here.
    const fOnly = ['square', 'toDtype'];
    expect(fns.filter((name) => top[name] !== (T.F as Record<string, unknown>)[name] && !fOnly.includes(name))).to.deep.equal([]);
  });
});
