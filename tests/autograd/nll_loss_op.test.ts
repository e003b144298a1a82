/**
 * F.nllLoss as one op of the derivatives table (`nllLoss`, the fused pick of lib/kernels/loss.ts):
 * one graph node straight on the input for [C], [N, C] and K-dimensional [N, C, d1, ..., dK];
 * gradients against a float64 loop from torch's nll_loss backward (−w[t]·γ at the picked class,
 * zero elsewhere), bit for bit since each element is one product; the 'sum' and 'mean' results
 * bit-identical to summing the 'none' losses with F.sum (the unfused composite's order) in both
 * dtypes; float64 gradcheck.
 */
import { expect } from 'chai';
import { tensor } from '../../autograd/creation';
import * as F from '../../autograd/functional';
import { assertGradcheck } from '../../autograd/gradcheck';
import { Tensor } from '../../autograd/tensor';
import { Random } from '../../lib/random';
import { randomTensor } from '../helpers';

const rng = new Random(4099);
type Reduction = 'mean' | 'sum' | 'none';
type DType = 'float32' | 'float64';
const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];
/** [C], [N, C], K = 1, 2 (nll_loss2d's own rank, 150 positions: two pairwise blocks in float64), 3. */
const SHAPES = [[4], [5, 3], [2, 4, 5], [2, 3, 5, 15], [2, 3, 2, 1, 3]];

function layout(shape: readonly number[]): { N: number; C: number; S: number } {
  if (shape.length === 1) return { N: 1, C: shape[0], S: 1 };
  return { N: shape[0], C: shape[1], S: shape.slice(2).reduce((a, b) => a * b, 1) };
}

/** Targets of the input's positions ([] for [C]), about a fifth equal to ignoreIndex. */
function targets(shape: readonly number[], ignoreIndex: number): Tensor {
  const { N, C, S } = layout(shape);
  const t = Array.from({ length: N * S }, () => (rng.uniform() < 0.2 ? ignoreIndex : rng.integer(0, C)));
  return tensor(t, { dtype: 'float64', shape: shape.length === 1 ? [] : [shape[0], ...shape.slice(2)] });
}

function storedValues(t: Tensor): number[] {
  return Array.from(t.data);
}

describe('autograd/functional: nllLoss is one op (the fused class pick)', () => {
  it('records one nllLoss node whose only edge is the input itself, for [C], [N, C] and K dims', () => {
    for (const shape of SHAPES) {
      const x = randomTensor(rng, shape).requiresGrad_(true);
      for (const reduction of REDUCTIONS) {
        const loss = F.nllLoss(x, targets(shape, -100), { reduction });
        expect(loss.gradFn!.op, `[${shape}] ${reduction}`).to.equal('nllLoss');
        expect([...loss.gradFn!.edges!.keys()]).to.deep.equal(['input']);
        expect(loss.gradFn!.edges!.get('input')).to.equal(x);
      }
    }
  });

  for (const dtype of ['float32', 'float64'] as DType[]) {
    it(`${dtype}: input gradients are −w[t]·γ at the picked class and zero elsewhere, bit for bit against the loop, every reduction, weights and ignoreIndex`, () => {
      const r = dtype === 'float32' ? Math.fround : (v: number) => v;
      for (const shape of SHAPES) {
        const { N, C, S } = layout(shape);
        for (const ignoreIndex of [-100, 1]) {
          for (const w of [null, Array.from({ length: C }, () => r(0.25 + rng.uniform()))]) {
            const t = targets(shape, ignoreIndex);
            const tv = storedValues(t);
            let W = 0;
            for (const c of tv) if (c !== ignoreIndex) W += w ? w[c] : 1;
            for (const reduction of REDUCTIONS) {
              const x = randomTensor(rng, shape, dtype).requiresGrad_(true);
              const weight = w ? tensor(w, { dtype }) : null;
              const loss = F.nllLoss(x, t, { weight, ignoreIndex, reduction });
              const g = reduction === 'none' ? randomTensor(rng, [...loss.shape], dtype) : tensor(r(0.5 + rng.uniform()), { dtype });
              loss.backward(g);
              const gv = storedValues(g);
              const expected = new Array<number>(N * C * S).fill(0);
              for (let n = 0; n < N; n++) {
                for (let s = 0; s < S; s++) {
                  const p = n * S + s, c = tv[p];
                  if (c === ignoreIndex) continue;
                  const gamma = reduction === 'none' ? gv[p] : reduction === 'sum' ? gv[0] : r(gv[0] / r(W));
                  expected[(n * C + c) * S + s] = r(-(w ? w[c] : 1) * gamma);
                }
              }
              expect(x.grad!.dtype).to.equal(dtype);
              expect(storedValues(x.grad!), `[${shape}] ignore ${ignoreIndex} ${w ? 'weighted' : ''} ${reduction}`).to.deep.equal(expected);
            }
          }
        }
      }
    });

    it(`${dtype}: sum equals F.sum of the none losses bit for bit, and mean that over Σ w of the kept targets (the unfused composite's roundings)`, () => {
      for (const shape of SHAPES) {
        const { C } = layout(shape);
        const x = randomTensor(rng, shape, dtype);
        const w = Array.from({ length: C }, () => 0.25 + rng.uniform());
        const weight = tensor(w, { dtype });
        const wv = storedValues(weight);
        const t = targets(shape, 2);
        let W = 0;
        for (const c of storedValues(t)) if (c !== 2) W += wv[c];
        const none = F.nllLoss(x, t, { weight, ignoreIndex: 2, reduction: 'none' });
        const s = F.sum(none);
        expect(F.nllLoss(x, t, { weight, ignoreIndex: 2, reduction: 'sum' }).item(), `[${shape}] sum`).to.equal(s.item());
        const mean = F.nllLoss(x, t, { weight, ignoreIndex: 2 }).item();
        const expectedMean = F.div(s, W).item();
        if (Number.isNaN(expectedMean)) expect(Number.isNaN(mean), `[${shape}] mean of no kept targets`).to.equal(true);
        else expect(mean, `[${shape}] mean`).to.equal(expectedMean);
      }
    });
  }

  it('float64 gradcheck for K = 1, 2, 3 and [C], with weights and ignoreIndex, every reduction', () => {
    for (const shape of [[3], [2, 3, 4], [2, 3, 2, 3], [1, 4, 2, 2, 2]]) {
      const x = randomTensor(rng, shape).requiresGrad_(true);
      const weight = tensor(Array.from({ length: layout(shape).C }, () => 0.5 + rng.uniform()), { dtype: 'float64' });
      const t = targets(shape, 0);
      t.storage[0] = layout(shape).C - 1; // one kept target at least, so the mean is finite
      for (const reduction of REDUCTIONS) assertGradcheck((a) => F.nllLoss(a, t, { weight, ignoreIndex: 0, reduction }), [x]);
    }
  });

  it('the class weights are read at the call: changing them in place afterwards changes neither the loss nor its gradient', () => {
    const x = randomTensor(rng, [2, 3, 4]).requiresGrad_(true);
    const weight = tensor([1, 2, 3], { dtype: 'float64' });
    const t = tensor([[0, 1, 2, 1], [2, 2, 0, 1]], { dtype: 'float64' });
    const loss = F.nllLoss(x, t, { weight, reduction: 'sum' });
    weight.storage.fill(10);
    loss.backward();
    expect(loss.item()).to.equal(F.nllLoss(x.detach(), t, { weight: tensor([1, 2, 3], { dtype: 'float64' }), reduction: 'sum' }).item());
    // Position [0, 2] has class 2: its gradient −w[2] = −3 sits at input [0, 2, 2].
    expect(storedValues(x.grad!)[0 * 12 + 2 * 4 + 2]).to.equal(-3);
  });
});
