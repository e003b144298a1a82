import { expect } from 'chai';
import { keepShape } from '../../../lib/kernels/keep_shape';
import { exposeGc } from '../../../lib/platform/gc';

// keepShape holds the first instance of each class (so V8 keeps the class's hidden class across
// full collections) and nothing more: later instances must still be collected.
describe('lib/kernels/keep_shape', () => {
  it('keeps the first instance of each class alive and lets the later ones go', async () => {
    const gc = exposeGc();
    expect(gc, 'a gc() to force a collection').to.not.equal(null);
    class ProbeA {
      readonly payload = new Float64Array(1024);
      constructor() {
        keepShape(this);
      }
    }
    class ProbeB {
      constructor() {
        keepShape(this);
      }
    }
    const refs = [new WeakRef(new ProbeA()), new WeakRef(new ProbeA()), new WeakRef(new ProbeA()), new WeakRef(new ProbeB())];
    // WeakRef targets stay alive until the current job ends; collect after it.
    await new Promise((resolve) => setImmediate(resolve));
    gc!();
    expect(refs[0].deref(), 'the first ProbeA').to.be.instanceOf(ProbeA);
    expect(refs[1].deref(), 'a later ProbeA').to.equal(undefined);
    expect(refs[2].deref(), 'the last ProbeA').to.equal(undefined);
    expect(refs[3].deref(), 'the first ProbeB (another class)').to.be.instanceOf(ProbeB);
  });
});
