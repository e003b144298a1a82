import { expect } from 'chai';
import { clipGradNorm, clipGradValue } from '../../../lib/optim/clip_grad';
import { Parameter } from '../../../lib/optim/optimizer';
import { DTYPES, expectClose, expectScalarClose, param } from '../../support/optim_helpers';
import { tensor } from '../../../index';

const gradOf = (p: Parameter): number[] => Array.from(p.grad?.data ?? []);

describe('lib/optim/clip_grad', () => {
  for (const dtype of DTYPES) {
    describe(dtype, () => {
      it('2-norm: total over all grads, scaled by maxNorm/(total + 1e-6)', () => {
        // ‖[3,4]‖ = 5, ‖[12]‖ = 12, total = √(25 + 144) = 13.
        const a = param(dtype, [0, 0], [3, 4]);
        const b = param(dtype, [0], [12]);
        const total = clipGradNorm([a, b], 6.5);
        expectScalarClose(total, 13, 1e-12, 'total');
        const s = 6.5 / (13 + 1e-6);
        expectClose(gradOf(a), [3 * s, 4 * s], dtype, 'a');
        expectClose(gradOf(b), [12 * s], dtype, 'b');
      });

      it('leaves grads untouched when the norm is below maxNorm', () => {
        const a = param(dtype, [0, 0], [3, 4]);
        expect(clipGradNorm([a], 5.1)).to.equal(5);
        expect(gradOf(a)).to.deep.equal([3, 4]);
      });

      it('inf-norm: the largest |g|', () => {
        const a = param(dtype, [0, 0], [1, -7]);
        const b = param(dtype, [0], [3]);
        expect(clipGradNorm([a, b], 3.5, Infinity)).to.equal(7);
        const s = 3.5 / (7 + 1e-6);
        expectClose(gradOf(a), [s, -7 * s], dtype, 'a');
        expectClose(gradOf(b), [3 * s], dtype, 'b');
      });

      it('1-norm and a general p-norm', () => {
        // 1-norm: ‖[1,−2]‖₁ = 3, ‖[3]‖₁ = 3, total 6.
        const a = param(dtype, [0, 0], [1, -2]);
        const b = param(dtype, [0], [3]);
        expectScalarClose(clipGradNorm([a, b], 100, 1), 6, 1e-12, '1-norm');
        // 3-norm: ‖[1,2]‖₃ = 9^(1/3), ‖[2]‖₃ = 2, total = (9 + 8)^(1/3).
        const c = param(dtype, [0, 0], [1, 2]);
        const d = param(dtype, [0], [2]);
        const total = clipGradNorm([c, d], 1, 3);
        expectScalarClose(total, Math.cbrt(17), 1e-12, '3-norm');
        const s = 1 / (Math.cbrt(17) + 1e-6);
        expectClose(gradOf(c), [s, 2 * s], dtype, 'c');
      });

      it('clipGradValue clamps every element to [−v, v]', () => {
        const a = param(dtype, [0, 0, 0, 0], [0.5, -3, 2, NaN]);
        clipGradValue([a], 1);
        const g = gradOf(a);
        expect(g.slice(0, 3)).to.deep.equal([0.5, -1, 1]);
        expect(Number.isNaN(g[3])).to.equal(true);
      });
    });
  }

  it('skips null grads and returns 0 when there are none', () => {
    const a = param('float64', [1, 2]);
    const b = param('float64', [0, 0], [3, 4]);
    expect(clipGradNorm([a, b], 1)).to.equal(5);
    expect(a.grad).to.equal(null);
    expect(clipGradNorm([a], 1)).to.equal(0);
    expect(clipGradNorm([], 1)).to.equal(0);
  });

  it('scales by a non-finite norm unless errorIfNonfinite is set', () => {
    const a = param('float64', [0, 0], [NaN, 1]);
    const b = param('float64', [0], [2]);
    expect(() => clipGradNorm([a, b], 1, 2, { errorIfNonfinite: true })).to.throw(
      'clipGradNorm: the total norm of order 2 of the gradients is NaN, so it cannot be clipped',
    );
    expect(gradOf(b)).to.deep.equal([2]);
    expect(Number.isNaN(clipGradNorm([a, b], 1))).to.equal(true);
    expect(Number.isNaN(gradOf(b)[0])).to.equal(true);
    const c = param('float64', [0], [Infinity]);
    expect(() => clipGradNorm([c], 1, Infinity, { errorIfNonfinite: true })).to.throw('is Infinity');
    const d = param('float64', [0, 0], [1, NaN]);
    expect(Number.isNaN(clipGradNorm([d], 1, Infinity))).to.equal(true);
  });

  it('takes a single tensor as well as a list, as torch does', () => {
    const a = tensor([3, 4], { requiresGrad: true });
    a.grad = tensor([3, 4]);
    expect(clipGradNorm(a, 1)).to.equal(5);
    const g = Array.from(a.grad.data);
    expect(g[0]).to.be.closeTo(0.6, 1e-6);
    expect(g[1]).to.be.closeTo(0.8, 1e-6);
    clipGradValue(a, 0.7);
    expect(Array.from(a.grad.data)[1]).to.be.closeTo(0.7, 1e-6);
  });

  it('validates its arguments', () => {
    const a = param('float64', [0], [1]);
    expect(() => clipGradNorm([a], -1)).to.throw('clipGradNorm: maxNorm must be a non-negative number, got -1');
    expect(() => clipGradNorm([a], NaN)).to.throw('clipGradNorm: maxNorm must be a non-negative number, got NaN');
    expect(() => clipGradNorm([a], 1, 0)).to.throw('clipGradNorm: normType must be a positive number or Infinity, got 0');
    expect(() => clipGradNorm([a], 1, 2, { error_if_nonfinite: true } as unknown as { errorIfNonfinite: boolean })).to.throw(
      "clipGradNorm: unknown option 'error_if_nonfinite'",
    );
    expect(() => clipGradNorm(null as unknown as Parameter[], 1)).to.throw('clipGradNorm: params must be an array (or iterable) of parameters, got null');
    expect(() => clipGradValue([a], -0.5)).to.throw('clipGradValue: clipValue must be a non-negative number, got -0.5');
  });

  it('rejects a non-contiguous grad, whose data is a copy that clipping in place would not change', () => {
    const a = tensor([3, 4], { requiresGrad: true });
    const b = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    a.grad = tensor([30, 40]);
    b.grad = tensor([[10, 20], [30, 40]]).t();
    expect(() => clipGradNorm([a, b], 1)).to.throw(
      'clipGradNorm: the grad of parameter 1 is a non-contiguous view, which cannot be changed in place',
    );
    expect(() => clipGradValue([a, b], 1)).to.throw('clipGradValue: the grad of parameter 1 is a non-contiguous view');
    expect(Array.from(a.grad.data)).to.deep.equal([30, 40]);
    b.grad = b.grad.contiguous();
    expectScalarClose(clipGradNorm([a, b], 1), Math.sqrt(30 * 30 + 40 * 40 + 100 + 400 + 900 + 1600));
    expect(Math.abs(a.grad.data[1])).to.be.below(1);
  });
});
