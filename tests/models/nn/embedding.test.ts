import { expect } from 'chai';
import { tensor } from '../../../autograd/creation';
import * as F from '../../../autograd/functional';
import { assertGradcheck } from '../../../autograd/gradcheck';
import { globalRng, manualSeed } from '../../../lib/random';
import { Embedding, Sequential } from '../../../models/nn/index';

describe('models/nn Embedding', () => {
  beforeEach(() => manualSeed(24));

  it("initialises as torch's reset_parameters: N(0, 1) from the seeded generator, then the padding row zeroed", () => {
    manualSeed(3);
    const e = new Embedding(4, 3, { paddingIdx: -3 });
    manualSeed(3);
    const draws = Array.from({ length: 12 }, () => Math.fround(globalRng().normal()));
    draws.fill(0, 3, 6);
    expect(e.paddingIdx).to.equal(1);
    expect(e.weight.shape).to.deep.equal([4, 3]);
    expect(e.weight.dtype).to.equal('float32');
    expect(Array.from(e.weight.data)).to.deep.equal(draws);
    expect(e.weight.requiresGrad).to.equal(true);
    expect(new Embedding(2, 5, { dtype: 'float64' }).weight.dtype).to.equal('float64');
  });

  it('has the stateDict key weight and prints as torch', () => {
    const e = new Embedding(10, 3, { paddingIdx: 0 });
    expect(Object.keys(e.stateDict())).to.deep.equal(['weight']);
    expect(e.numParameters()).to.equal(30);
    expect(Object.keys(new Sequential(new Embedding(5, 2)).stateDict())).to.deep.equal(['0.weight']);
    expect(e.toString()).to.equal('Embedding(10, 3, padding_idx=0)');
    expect(new Embedding(10, 3).toString()).to.equal('Embedding(10, 3)');
    expect(new Embedding(10, 3, { paddingIdx: -1, maxNorm: 1, normType: 1, scaleGradByFreq: true }).toString())
      .to.equal('Embedding(10, 3, padding_idx=9, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)');
  });

  it('forward looks up rows of a loaded weight for indices of any shape', () => {
    const e = new Embedding(4, 2, { dtype: 'float64' });
    const w = tensor([[1, 2], [3, 4], [5, 6], [7, 8]], { dtype: 'float64' });
    e.loadStateDict({ weight: w });
    expect(e.forward(tensor([[3, 0], [1, 1]])).toArray()).to.deep.equal([[[7, 8], [1, 2]], [[3, 4], [3, 4]]]);
    expect(e.forward([2]).toArray()).to.deep.equal([[5, 6]]);
    expect(e.forward(tensor(1)).toArray()).to.deep.equal([3, 4]);
  });

  it('the padding row gets no gradient; the others the sums of their rows, gradchecked without padding', () => {
    const e = new Embedding(5, 3, { paddingIdx: 2, dtype: 'float64' });
    const idx = tensor([[2, 0, 4], [0, 2, 2]]);
    const g = tensor(Array.from({ length: 18 }, (_, k) => k + 1), { shape: [2, 3, 3], dtype: 'float64' });
    e.forward(idx).backward(g);
    const ref = new Array<number>(15).fill(0);
    idx.data.forEach((r, k) => { if (r !== 2) for (let c = 0; c < 3; c++) ref[r * 3 + c] += g.data[k * 3 + c]; });
    expect(Array.from(e.weight.grad!.data)).to.deep.equal(ref);
    expect(Array.from(e.weight.grad!.data.slice(6, 9))).to.deep.equal([0, 0, 0]);
    const plain = new Embedding(4, 2, { dtype: 'float64' });
    assertGradcheck(() => plain.forward(tensor([3, 3, 1, 0, 3])), [plain.weight], { atol: 1e-7, rtol: 1e-6 });
  });

  it('maxNorm renormalises its weight in place at forward, as F.embedding', () => {
    const e = new Embedding(3, 2, { maxNorm: 1, dtype: 'float64' });
    e.loadStateDict({ weight: tensor([[3, 4], [0.1, 0], [0, 2]], { dtype: 'float64' }) });
    const out = e.forward([0, 1]);
    expect(Array.from(e.weight.data)).to.deep.equal([3 / (5 + 1e-7), 4 / (5 + 1e-7), 0.1, 0, 0, 2]);
    expect(Array.from(out.data)).to.deep.equal(Array.from(F.embedding([0, 1], e.weight).data));
  });

  it('checks its arguments at construction and its input at forward, naming the layer or op', () => {
    expect(() => new Embedding(-1, 3)).to.throw('Embedding: numEmbeddings must be a non-negative integer, got -1');
    expect(() => new Embedding(3, 1.5)).to.throw('Embedding: embeddingDim must be a non-negative integer, got 1.5');
    expect(() => new Embedding(3, 2, { paddingIdx: 3 })).to.throw('Embedding: paddingIdx must be an integer within numEmbeddings 3 (in [-3, 2]), got 3');
    expect(() => new Embedding(3, 2, { sparse: true })).to.throw('Embedding: sparse gradients are not supported (there are no sparse tensors), got sparse: true');
    expect(() => new Embedding(3, 2, { maxNorm: NaN })).to.throw('Embedding: maxNorm must be a finite non-negative number, got NaN');
    expect(() => new Embedding(3, 2, { dtype: 'int64' as never })).to.throw("Embedding: dtype must be 'float32' or 'float64', got \"int64\"");
    expect(() => new Embedding(3, 2, { padding_idx: 0 } as never)).to.throw("Embedding: unknown option 'padding_idx' (did you mean 'paddingIdx'?)");
    expect(() => new Embedding(3, 2).forward([3])).to.throw('embedding: input[0] = 3 is out of bounds for 3 embeddings (input [1], weight [3,2])');
  });
});
