import { expect } from 'chai';
import { data, manualSeed, Random, tensor, Tensor } from '../../index';
import { arange } from '../../autograd/creation';

const { TensorDataset, Subset, ConcatDataset, DataLoader, randomSplit, defaultCollate } = data;

const values = (t: Tensor): number[] => Array.from(t.contiguous().data);

/** Row-major rows of an [n, k] table whose entry (i, j) is 10·i + j: row i identifies sample i. */
function rowsTable(n: number, k: number): Tensor {
  const out: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out.push(10 * i + j);
  return tensor(out, { shape: [n, k], dtype: 'float64' });
}

/** A dataset whose sample i is i itself, to read a loader's order directly. */
const identity = (n: number): data.Dataset<number> => ({ length: n, get: (i: number) => i });

/** The index lists a reference sequential batcher (torch's BatchSampler over SequentialSampler) gives. */
function referenceBatches(order: readonly number[], batchSize: number, dropLast: boolean): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  for (const i of order) {
    cur.push(i);
    if (cur.length === batchSize) { out.push(cur); cur = []; }
  }
  if (cur.length > 0 && !dropLast) out.push(cur);
  return out;
}

/** A reference Fisher-Yates permutation drawn from a fresh generator of the same seed. */
function referencePermutation(seed: number, n: number): number[] {
  const rng = new Random(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.integer(0, i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

describe('models/data TensorDataset', () => {
  it('get(i) returns the i-th rows of every tensor (negative i from the end), length is the first dim', () => {
    const x = rowsTable(5, 3);
    const y = tensor([0, 1, 2, 3, 4], { dtype: 'float64' });
    const ds = new TensorDataset(x, y);
    expect(ds.length).to.equal(5);
    for (let i = 0; i < 5; i++) {
      const [xi, yi] = ds.get(i);
      expect(xi.shape).to.deep.equal([3]);
      expect(values(xi)).to.deep.equal([10 * i, 10 * i + 1, 10 * i + 2]);
      expect(yi.shape).to.deep.equal([]);
      expect(yi.item()).to.equal(i);
    }
    expect(values(ds.get(-1)[0])).to.deep.equal([40, 41, 42]);
  });

  it('errors name TensorDataset and the sizes', () => {
    expect(() => new TensorDataset(rowsTable(4, 2), rowsTable(3, 2))).to.throw(/^TensorDataset: size mismatch.*tensors\[1\] has 3 rows \(shape \[3,2\]\) but tensors\[0\] has 4 \(shape \[4,2\]\)/);
    expect(() => new TensorDataset()).to.throw(/^TensorDataset: expected at least one tensor/);
    expect(() => new TensorDataset(tensor(3))).to.throw(/^TensorDataset: tensors\[0\] is 0-d/);
    expect(() => new TensorDataset([1, 2] as unknown as Tensor)).to.throw(/^TensorDataset: tensors\[0\] must be a Tensor/);
    const ds = new TensorDataset(rowsTable(4, 2));
    expect(() => ds.get(4)).to.throw(/^TensorDataset: index 4 out of range for a dataset of length 4/);
    expect(() => ds.get(-5)).to.throw(/^TensorDataset: index -5 out of range/);
    expect(() => ds.get(1.5)).to.throw(/^TensorDataset: index 1.5 out of range/);
  });
});

describe('models/data Subset and ConcatDataset', () => {
  it('Subset maps its positions through the indices, in their order', () => {
    const s = new Subset(identity(10), [7, 2, -1, 2]);
    expect(s.length).to.equal(4);
    expect(s.indices).to.deep.equal([7, 2, 9, 2]);
    expect([0, 1, 2, 3].map((i) => s.get(i))).to.deep.equal([7, 2, 9, 2]);
    expect(s.get(-1)).to.equal(2);
    expect(() => new Subset(identity(3), [0, 3])).to.throw(/^Subset: indices\[1\] = 3 out of range for a dataset of length 3/);
    expect(() => new Subset(identity(3), [0.5])).to.throw(/^Subset: indices\[0\] = 0.5/);
    expect(() => new Subset({ length: 2 } as unknown as data.Dataset<number>, [0])).to.throw(/^Subset: dataset must be a Dataset/);
    expect(() => s.get(4)).to.throw(/^Subset: index 4 out of range for a dataset of length 4/);
  });

  it('ConcatDataset visits the datasets one after another (negative indices from the end)', () => {
    const a = identity(3);
    const b: data.Dataset<number> = { length: 0, get: () => { throw new Error('never'); } };
    const c: data.Dataset<number> = { length: 2, get: (i) => 100 + i };
    const cat = new ConcatDataset([a, b, c]);
    expect(cat.length).to.equal(5);
    expect(cat.cumulativeSizes).to.deep.equal([3, 3, 5]);
    expect([0, 1, 2, 3, 4].map((i) => cat.get(i))).to.deep.equal([0, 1, 2, 100, 101]);
    expect(cat.get(-5)).to.equal(0);
    expect(() => cat.get(5)).to.throw(/^ConcatDataset: index 5 out of range for a dataset of length 5/);
    expect(() => new ConcatDataset([])).to.throw(/^ConcatDataset: datasets should not be an empty iterable/);
    expect(() => new ConcatDataset([a, 3 as unknown as data.Dataset<number>])).to.throw(/^ConcatDataset: datasets\[1\] must be a Dataset/);
  });
});

describe('models/data randomSplit', () => {
  const sorted = (xs: readonly number[]): number[] => [...xs].sort((p, q) => p - q);

  it('splits by counts into disjoint subsets covering the dataset, cut from one permutation of the generator', () => {
    const parts = randomSplit(identity(10), [3, 0, 7], { generator: new Random(5) });
    expect(parts.map((p) => p.length)).to.deep.equal([3, 0, 7]);
    const perm = referencePermutation(5, 10);
    expect(parts[0].indices).to.deep.equal(perm.slice(0, 3));
    expect(parts[2].indices).to.deep.equal(perm.slice(3));
    expect(sorted(parts.flatMap((p) => [...p.indices]))).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(parts[2].get(0)).to.equal(perm[3]);
  });

  it('splits by fractions as torch 1.13: floor(n·f) each, the remainder dealt round-robin from the first', () => {
    // n = 11: floor(11·0.5) = 5, floor(11·0.3) = 3, floor(11·0.2) = 2; one left over goes to the first.
    const parts = randomSplit(identity(11), [0.5, 0.3, 0.2], { generator: new Random(1) });
    expect(parts.map((p) => p.length)).to.deep.equal([6, 3, 2]);
    expect(sorted(parts.flatMap((p) => [...p.indices]))).to.deep.equal(Array.from({ length: 11 }, (_, i) => i));
    // n = 10 in thirds: 3 each, remainder 1 to the first.
    expect(randomSplit(identity(10), [1 / 3, 1 / 3, 1 / 3]).map((p) => p.length)).to.deep.equal([4, 3, 3]);
    // n = 5, four quarters: 1 each, remainder 1.
    expect(randomSplit(identity(5), [0.25, 0.25, 0.25, 0.25]).map((p) => p.length)).to.deep.equal([2, 1, 1, 1]);
  });

  it('draws from the global generator reset by manualSeed', () => {
    manualSeed(42);
    const first = randomSplit(identity(20), [0.5, 0.5]).map((p) => [...p.indices]);
    manualSeed(42);
    const again = randomSplit(identity(20), [0.5, 0.5]).map((p) => [...p.indices]);
    expect(again).to.deep.equal(first);
    expect(first.flat()).to.deep.equal(referencePermutation(42, 20));
  });

  it('errors name randomSplit', () => {
    expect(() => randomSplit(identity(10), [3, 6])).to.throw(/^randomSplit: sum of input lengths \(9.*does not equal the length of the input dataset \(10\)/);
    expect(() => randomSplit(identity(10), [0.6, 0.6])).to.throw(/^randomSplit: lengths\[0\] must be a non-negative integer count/);
    expect(() => randomSplit(identity(10), [1.5, -0.5])).to.throw(/^randomSplit: fraction at index 0 is not between 0 and 1/);
    expect(() => randomSplit(identity(10), [])).to.throw(/^randomSplit: lengths must be a non-empty array/);
    expect(() => randomSplit(identity(10), [5, 5], { seed: 1 } as never)).to.throw(/^randomSplit: unknown option 'seed'/);
    expect(() => randomSplit(identity(10), [5, 5], { generator: 3 as unknown as Random })).to.throw(/^randomSplit: generator must be a Random/);
  });
});

describe('models/data DataLoader', () => {
  const orderOf = (loader: Iterable<Tensor>): number[][] => [...loader].map(values);

  it('batches in order against a reference batcher: uneven last batch kept, dropped with dropLast; length counts batches', () => {
    for (const [n, bs] of [[10, 3], [9, 3], [2, 5], [0, 4], [7, 1]]) {
      const order = Array.from({ length: n }, (_, i) => i);
      for (const dropLast of [false, true]) {
        const loader = new DataLoader(identity(n), { batchSize: bs, dropLast });
        const want = referenceBatches(order, bs, dropLast);
        expect(orderOf(loader), `n=${n} bs=${bs} dropLast=${dropLast}`).to.deep.equal(want);
        expect(loader.length).to.equal(want.length);
      }
    }
    expect(new DataLoader(identity(3)).length).to.equal(3); // batchSize defaults to 1
  });

  it('stacks TensorDataset rows into [batch, …] tensors', () => {
    const x = rowsTable(7, 2);
    const y = tensor([0, 1, 0, 1, 1, 0, 1], { dtype: 'float64' });
    const batches = [...new DataLoader(new TensorDataset(x, y), { batchSize: 3 })];
    expect(batches.length).to.equal(3);
    const [xb, yb] = batches[2];
    expect(xb.shape).to.deep.equal([1, 2]);
    expect(values(xb)).to.deep.equal([60, 61]);
    const [xa, ya] = batches[0];
    expect(xa.shape).to.deep.equal([3, 2]);
    expect(xa.dtype).to.equal('float64');
    expect(values(xa)).to.deep.equal([0, 1, 10, 11, 20, 21]);
    expect(values(ya)).to.deep.equal([0, 1, 0]);
    expect(values(yb)).to.deep.equal([1]);
  });

  it('shuffles with a permutation from the given generator, a fresh one each epoch, reproducibly', () => {
    const gen = new Random(7);
    const loader = new DataLoader(identity(10), { batchSize: 4, shuffle: true, generator: gen });
    const epoch1 = orderOf(loader);
    const epoch2 = orderOf(loader);
    const ref = new Random(7);
    expect(epoch1).to.deep.equal(referenceBatches(Array.from(ref.permutation(10)), 4, false));
    expect(epoch2).to.deep.equal(referenceBatches(Array.from(ref.permutation(10)), 4, false));
    expect(epoch2.flat()).to.not.deep.equal(epoch1.flat());
    expect([...epoch1.flat()].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 10 }, (_, i) => i));
    // The given generator is the only source: the global one is neither read nor needed.
    const again = new DataLoader(identity(10), { batchSize: 4, shuffle: true, generator: new Random(7) });
    manualSeed(123);
    expect(orderOf(again)).to.deep.equal(epoch1);
  });

  it('shuffles from the global generator under manualSeed, with dropLast on the shuffled order', () => {
    manualSeed(11);
    const loader = new DataLoader(identity(10), { batchSize: 3, shuffle: true, dropLast: true });
    const first = orderOf(loader);
    const second = orderOf(loader);
    expect(first).to.deep.equal(referenceBatches(referencePermutation(11, 10), 3, true));
    expect(first.length).to.equal(3);
    expect(second.flat()).to.not.deep.equal(first.flat());
    manualSeed(11);
    expect(orderOf(loader)).to.deep.equal(first);
    expect(orderOf(loader)).to.deep.equal(second);
  });

  it('default collate as torch: tuples elementwise, numbers to float64, strings listed, objects by key', () => {
    const ds: data.Dataset<[Tensor, number, string]> = {
      length: 5,
      get: (i) => [arange(0, 3).add(i * 10), i / 2, `s${i}`],
    };
    const batches = [...new DataLoader(ds, { batchSize: 2 })];
    expect(batches.length).to.equal(3);
    const [t, n, s] = batches[1];
    expect(t.shape).to.deep.equal([2, 3]);
    expect(t.dtype).to.equal('float32');
    expect(values(t)).to.deep.equal([20, 21, 22, 30, 31, 32]);
    expect(n.dtype).to.equal('float64');
    expect(values(n)).to.deep.equal([1, 1.5]);
    expect(s).to.deep.equal(['s2', 's3']);
    const obj = defaultCollate([{ a: tensor([1, 2]), b: [true, 3] }, { a: tensor([3, 4]), b: [false, 5] }]);
    expect(values(obj.a)).to.deep.equal([1, 2, 3, 4]);
    expect(values(obj.b[0])).to.deep.equal([1, 0]);
    expect(values(obj.b[1])).to.deep.equal([3, 5]);
  });

  it('a custom collate receives the samples of each batch', () => {
    const seen: number[][] = [];
    const loader = new DataLoader(identity(5), { batchSize: 2, collate: (xs: number[]) => { seen.push(xs); return xs.length; } });
    expect([...loader]).to.deep.equal([2, 2, 1]);
    expect(seen).to.deep.equal([[0, 1], [2, 3], [4]]);
  });

  it('errors name DataLoader / defaultCollate and the offending values', () => {
    expect(() => new DataLoader(identity(4), { batchSize: 0 })).to.throw(/^DataLoader: batchSize must be a positive integer, got 0/);
    expect(() => new DataLoader(identity(4), { batchSize: 2.5 })).to.throw(/^DataLoader: batchSize must be a positive integer, got 2.5/);
    expect(() => new DataLoader(identity(4), { batchSize: '2' as unknown as number })).to.throw(/^DataLoader: batchSize must be a positive integer, got "2"/);
    expect(() => new DataLoader(identity(4), { shuffle: 'yes' as unknown as boolean })).to.throw(/^DataLoader: shuffle must be a boolean/);
    expect(() => new DataLoader(identity(4), { dropLast: 1 as unknown as boolean })).to.throw(/^DataLoader: dropLast must be a boolean/);
    expect(() => new DataLoader(identity(4), { batch_size: 2 } as never)).to.throw(/^DataLoader: unknown option 'batch_size' \(did you mean 'batchSize'\?\)/);
    expect(() => new DataLoader(identity(4), { generator: {} as Random })).to.throw(/^DataLoader: generator must be a Random/);
    expect(() => new DataLoader(identity(0), { shuffle: true })).to.throw(/^DataLoader: shuffle needs a non-empty dataset/);
    expect(() => new DataLoader([1, 2] as unknown as data.Dataset<number>)).to.throw(/^DataLoader: dataset must be a Dataset/);
    const ragged: data.Dataset<Tensor> = { length: 2, get: (i) => arange(0, 2 + i) };
    expect(() => [...new DataLoader(ragged, { batchSize: 2 })]).to.throw(/^defaultCollate: samples\[1\] \(dataset index 1\) has shape \[3\] but samples\[0\] \(dataset index 0\) has \[2\]/);
    expect(() => defaultCollate([[1, 2], [3]])).to.throw(/^defaultCollate: each element in the batch should be of equal size: samples\[1\] has 1 elements/);
    expect(() => defaultCollate([[tensor([1])], [tensor([1], { dtype: 'float64' })]])).to.throw(/^defaultCollate: samples\[1\] at \[0\] is float64 but samples\[0\] at \[0\] is float32/);
    expect(() => defaultCollate([{ a: 1 }, { b: 2 }])).to.throw(/^defaultCollate: samples\[1\] has no key 'a'/);
    expect(() => defaultCollate([1, 'a'] as unknown[])).to.throw(/^defaultCollate: samples\[1\] is a string but samples\[0\] is a number/);
    expect(() => defaultCollate([null])).to.throw(/^defaultCollate: batch must contain tensors, numbers, .*found null/);
    expect(() => defaultCollate([])).to.throw(/^defaultCollate: expected a non-empty array of samples/);
  });
});

describe('models/data DataLoader with batchSize null (no automatic batching, torch batch_size=None)', () => {
  const { defaultConvert } = data;

  it('yields each sample unbatched: the dataset tensors themselves, arrays and objects rebuilt around them, numbers and strings as they are', () => {
    const stored = [0, 1, 2, 3].map((i) => arange(0, 3).add(i * 10));
    const tensors: data.Dataset<Tensor> = { length: 4, get: (i) => stored[i] };
    const loader = new DataLoader<Tensor, Tensor>(tensors, { batchSize: null });
    const out = [...loader];
    expect(out.length).to.equal(4);
    out.forEach((t, i) => {
      expect(t, `sample ${i}`).to.equal(stored[i]); // the same object: no stack, no copy
      expect(t.shape).to.deep.equal([3]); // no batch dim
    });
    const samples = stored.map((t, i) => [t, i, `s${i}`, { a: t, b: [i / 2] }] as [Tensor, number, string, { a: Tensor; b: number[] }]);
    const tuples: data.Dataset<[Tensor, number, string, { a: Tensor; b: number[] }]> = { length: 4, get: (i) => samples[i] };
    const got = [...new DataLoader<typeof samples[0], typeof samples[0]>(tuples, { batchSize: null })];
    got.forEach((g, i) => {
      expect(g).to.not.equal(samples[i]); // default_convert builds a new list, as torch's
      expect(g[0]).to.equal(stored[i]);
      expect(g[1]).to.equal(i); // a number stays a number: default_convert makes no tensor of it
      expect(g[2]).to.equal(`s${i}`);
      expect(g[3]).to.not.equal(samples[i][3]);
      expect(g[3].a).to.equal(stored[i]);
      expect(g[3].b).to.deep.equal([i / 2]);
    });
    const typed = new Float32Array([1, 2]);
    expect(defaultConvert(typed)).to.equal(typed);
    expect(defaultConvert(null)).to.equal(null);
  });

  it('a TensorDataset yields its rows as views [x[i], y[i]] (torch dataset[i], not a copy), so writes reach the dataset', () => {
    const x = rowsTable(4, 2);
    const y = tensor([5, 6, 7, 8], { dtype: 'float64' });
    const loader = new DataLoader<Tensor[], Tensor[]>(new TensorDataset(x, y), { batchSize: null });
    const out = [...loader];
    expect(out.length).to.equal(4);
    out.forEach(([xi, yi], i) => {
      expect(xi.shape).to.deep.equal([2]);
      expect(yi.shape).to.deep.equal([]);
      expect(xi.dtype).to.equal('float64');
      expect(values(xi)).to.deep.equal([10 * i, 10 * i + 1]);
      expect(values(yi)).to.deep.equal([5 + i]);
    });
    out[2][0].mul_(0);
    expect(values(x)).to.deep.equal([0, 1, 10, 11, 0, 0, 30, 31]);
  });

  it('shuffles per sample: the generator permutation, each epoch fresh, the same order as batchSize 1 with the same seed', () => {
    const n = 9;
    const x = rowsTable(n, 2);
    const unbatched = new DataLoader<Tensor[], Tensor[]>(new TensorDataset(x), { batchSize: null, shuffle: true, generator: new Random(3) });
    const batched = new DataLoader(new TensorDataset(x), { batchSize: 1, shuffle: true, generator: new Random(3) });
    const ref = new Random(3);
    for (let epoch = 0; epoch < 2; epoch++) {
      const perm = Array.from(ref.permutation(n));
      const rowsU = [...unbatched].map(([xi]) => { expect(xi.shape).to.deep.equal([2]); return values(xi)[0] / 10; });
      const rowsB = [...batched].map(([xb]) => { expect(xb.shape).to.deep.equal([1, 2]); return values(xb)[0] / 10; });
      expect(rowsU, `epoch ${epoch}`).to.deep.equal(perm);
      expect(rowsB, `epoch ${epoch}`).to.deep.equal(perm);
    }
    // The global generator under manualSeed, through a dataset of numbers.
    manualSeed(11);
    const first = [...new DataLoader<number, number>(identity(10), { batchSize: null, shuffle: true })];
    expect(first).to.deep.equal(referencePermutation(11, 10));
  });

  it('length is the dataset length, and an empty dataset yields nothing', () => {
    for (const n of [0, 1, 7]) {
      const loader = new DataLoader<number, number>(identity(n), { batchSize: null });
      expect(loader.length).to.equal(n);
      expect(loader.batchSize).to.equal(null);
      expect([...loader]).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    }
  });

  it('a custom collate is called once per sample with that sample, not an array of it', () => {
    const seen: unknown[] = [];
    const loader = new DataLoader(identity(4), { batchSize: null, collate: (s: number) => { seen.push(s); return s * 100; } });
    expect([...loader]).to.deep.equal([0, 100, 200, 300]);
    expect(seen).to.deep.equal([0, 1, 2, 3]);
  });

  it('dropLast true with batchSize null is refused (dropLast false is fine), invalid batchSize values keep their message', () => {
    expect(() => new DataLoader(identity(4), { batchSize: null, dropLast: true as false })).to.throw(/^DataLoader: batchSize null disables automatic batching and is mutually exclusive with dropLast/);
    expect(new DataLoader(identity(4), { batchSize: null, dropLast: false }).length).to.equal(4);
    for (const bad of [0, -1, 2.5, NaN, Infinity]) {
      expect(() => new DataLoader(identity(4), { batchSize: bad }), String(bad)).to.throw(/^DataLoader: batchSize must be a positive integer, got/);
    }
    expect(() => new DataLoader(identity(0), { batchSize: null, shuffle: true })).to.throw(/^DataLoader: shuffle needs a non-empty dataset/);
  });

  it('batchSize undefined still means 1: [1, …] batches stacked by defaultCollate', () => {
    const x = rowsTable(3, 2);
    const loader = new DataLoader(new TensorDataset(x), { batchSize: undefined });
    expect(loader.batchSize).to.equal(1);
    expect(loader.length).to.equal(3);
    const out = [...loader];
    out.forEach(([xb], i) => {
      expect(xb.shape).to.deep.equal([1, 2]);
      expect(values(xb)).to.deep.equal([10 * i, 10 * i + 1]);
    });
    expect([...new DataLoader(identity(3), { batchSize: undefined })].map(values)).to.deep.equal([[0], [1], [2]]);
  });
});

describe('models/data batches own their storage (torch.stack always allocates)', () => {
  it('modifying a batch in place never writes into the dataset, a one-sample batch included', () => {
    const x = rowsTable(3, 2);
    const before = values(x);
    // batchSize 1 (the default) and batchSize 2 (last batch has one row): every batch is zeroed in place.
    for (const batchSize of [1, 2]) {
      for (const [xb] of new DataLoader(new TensorDataset(x), { batchSize })) xb.mul_(0);
      expect(values(x), `batchSize ${batchSize}`).to.deep.equal(before);
    }
    // The generic path too: a custom dataset of views, and defaultCollate of one tensor.
    const rows: data.Dataset<Tensor> = { length: 3, get: (i) => x.select(0, i) };
    for (const xb of new DataLoader(rows)) xb.add_(1);
    expect(values(x)).to.deep.equal(before);
    const t = tensor([1, 2, 3]);
    const c = defaultCollate([t]);
    expect(c.shape).to.deep.equal([1, 3]);
    c.mul_(0);
    expect(values(t)).to.deep.equal([1, 2, 3]);
  });
});

describe('models/data DataLoader over TensorDataset rows (one gather per batch)', () => {
  /** x[i, j] = 10·i + j as float32 rows of shape [2, 2], y[i] = i as float64: rows identify samples. */
  function table(n: number): { x: Tensor; y: Tensor } {
    const xs: number[] = [];
    for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) xs.push(10 * i + j);
    return { x: tensor(xs, { shape: [n, 2, 2] }), y: tensor(Array.from({ length: n }, (_, i) => i), { dtype: 'float64' }) };
  }
  const rowsOf = (order: readonly number[]): number[] => order.flatMap((i) => [0, 1, 2, 3].map((j) => 10 * i + j));

  it('batches of a TensorDataset, and of Subsets of one, are its rows in the loader order with shapes and dtypes kept', () => {
    const { x, y } = table(11);
    const ds = new TensorDataset(x, y);
    const sub = new Subset(new Subset(ds, [10, 9, 8, 7, 6, 5, 4, 3, 2]), [8, 0, 3, 3, 5]); // ds rows 2, 10, 7, 7, 5
    const cases: [data.Dataset<Tensor[]>, number[]][] = [[ds, Array.from({ length: 11 }, (_, i) => i)], [sub, [2, 10, 7, 7, 5]]];
    for (const [d, rows] of cases) {
      for (const shuffle of [false, true]) {
        const order = shuffle ? Array.from(new Random(3).permutation(rows.length), (k) => rows[k]) : rows;
        const loader = new DataLoader(d, { batchSize: 4, shuffle, generator: new Random(3) });
        const batches = [...loader];
        const want = referenceBatches(order, 4, false);
        expect(batches.length).to.equal(want.length);
        batches.forEach(([xb, yb], b) => {
          expect(xb.shape).to.deep.equal([want[b].length, 2, 2]);
          expect(xb.dtype).to.equal('float32');
          expect(values(xb)).to.deep.equal(rowsOf(want[b]));
          expect(yb.shape).to.deep.equal([want[b].length]);
          expect(yb.dtype).to.equal('float64');
          expect(values(yb)).to.deep.equal(want[b]);
        });
      }
    }
  });

  it('gradients reach the dataset tensor: each row gets the weight its batch position had, summed over repeats', () => {
    const { x } = table(5);
    x.requiresGrad_();
    const sub = new Subset(new TensorDataset(x), [4, 1, 4, 0]);
    let loss: Tensor | null = null;
    const want = new Array<number>(20).fill(0);
    let pos = 0;
    for (const [xb] of new DataLoader(sub, { batchSize: 3 })) {
      const w = tensor(Array.from({ length: xb.numel() }, (_, k) => pos * 100 + k + 1), { shape: xb.shape });
      const part = xb.mul(w).sum();
      loss = loss === null ? part : loss.add(part);
      for (let r = 0; r < xb.shape[0]; r++) {
        const row = sub.indices[pos + r];
        for (let j = 0; j < 4; j++) want[row * 4 + j] += pos * 100 + r * 4 + j + 1;
      }
      pos += xb.shape[0];
    }
    loss!.backward();
    expect(values(x.grad!)).to.deep.equal(want);
  });

  it('rows are gathered per batch, not got and stacked sample by sample; a subclass overriding get is still asked', () => {
    const { x, y } = table(9);
    const original = TensorDataset.prototype.get;
    let calls = 0;
    TensorDataset.prototype.get = function (this: InstanceType<typeof TensorDataset>, i: number) { calls++; return original.call(this, i); };
    try {
      expect([...new DataLoader(new TensorDataset(x, y), { batchSize: 4, shuffle: true })].length).to.equal(3);
      expect(calls).to.equal(0);
    } finally {
      TensorDataset.prototype.get = original;
    }
    class Doubled extends TensorDataset<[Tensor, Tensor]> {
      override get(i: number): [Tensor, Tensor] { const [a, b] = super.get(i); return [a.mul(2), b]; }
    }
    const [[xb, yb]] = [...new DataLoader(new Doubled(x, y), { batchSize: 2 })];
    expect(values(xb)).to.deep.equal(rowsOf([0, 1]).map((v) => 2 * v));
    expect(values(yb)).to.deep.equal([0, 1]);
  });
});

describe('models/data DataLoader collate errors name the dataset index', () => {
  it('a ragged sample met in a shuffled epoch is named by its index in the dataset, with both shapes', () => {
    // Sample 6 alone is [2, 3]; the others [2, 2]. Where it lands in the epoch depends on the permutation.
    const ds: data.Dataset<[Tensor, number]> = { length: 8, get: (i) => [i === 6 ? arange(0, 6).reshape([2, 3]) : arange(0, 4).reshape([2, 2]), i] };
    const perm = Array.from(new Random(9).permutation(8));
    const at = perm.indexOf(6);
    const first = perm[4 * Math.floor(at / 4)];
    expect(at % 4).to.not.equal(0); // with this seed the ragged sample is not first in its batch
    const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, generator: new Random(9) });
    expect(() => [...loader]).to.throw(new RegExp(`^defaultCollate: samples\\[${at % 4}\\] \\(dataset index 6\\) at \\[0\\] has shape \\[2,3\\] but samples\\[0\\] \\(dataset index ${first}\\) at \\[0\\] has \\[2,2\\]`));
    // Called directly, defaultCollate has only batch positions to name.
    expect(() => defaultCollate([arange(0, 2), arange(0, 3)])).to.throw(/^defaultCollate: samples\[1\] has shape \[3\] but samples\[0\] has \[2\]/);
  });
});
