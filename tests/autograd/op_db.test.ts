import { expect } from 'chai';
import { apply } from '../../autograd/apply';
import { derivatives, type OpName } from '../../autograd/derivatives';
import { gradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { opDb, type OpSample } from '../op_db';

// Tight tolerance: float64 central differences are accurate to ~1e-9 here.
const TOL = { atol: 1e-7, rtol: 1e-6 };

describe('op_db: every op of the derivatives table passes gradcheck in float64', () => {
  it('has a record with samples for every op', () => {
    for (const op of Object.keys(derivatives) as OpName[]) {
      expect(opDb[op], op).to.not.equal(undefined);
      expect(opDb[op].samples.length, op).to.be.greaterThan(0);
    }
  });

  for (const op of Object.keys(opDb) as OpName[]) {
    for (const sample of opDb[op].samples as OpSample<OpName>[]) {
      it(`${op}: ${sample.desc}`, () => {
        const { inputs, attrs } = sample.make();
        const names = Object.keys(inputs);
        const tensors = names.map((k) => (inputs as Record<string, Tensor>)[k]);
        const fn = (...xs: Tensor[]): Tensor => {
          const ins: Record<string, Tensor> = {};
          names.forEach((k, i) => { ins[k] = xs[i]; });
          const out = apply(op, ins as never, attrs as never);
          // toDtype's sample goes to float32; bring it back so the check runs in float64.
          return out.dtype === 'float64' ? out : apply('toDtype', { x: out }, { dtype: 'float64', from: out.dtype });
        };
        const rep = gradcheck(fn, tensors, { ...TOL, ...sample.gradcheck });
        const detail = rep.inputs.map((r) => `input ${r.index}: max abs err ${r.maxAbsError.toExponential(2)} (${r.checked} checked) ${r.passed ? 'ok' : `worst ${JSON.stringify(r.worst)}`}`).join('; ');
        expect(rep.passed, detail).to.equal(true);
        expect(rep.inputs.reduce((s, r) => s + r.checked, 0)).to.be.greaterThan(0);
      });
    }
  }
});
