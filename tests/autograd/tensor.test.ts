import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import ndarray from 'ndarray';
import * as ts from 'typescript';
import { arange, eye, full, fullLike, linspace, ones, rand, randint, randn, tensor, zeros, zerosLike, onesLike } from '../../autograd/creation';
import { Tensor } from '../../autograd/tensor';
import * as F from '../../autograd/functional';
import { manualSeed, Random } from '../../lib/random';

describe('autograd/tensor', () => {
  describe('version counter (_version)', () => {
    it('starts at 0 and is shared by the tensor and every view of its storage', () => {
      const t = tensor([[1, 2], [3, 4]]);
      const views = [t.reshape([4]), t.t(), t.slice(0, 1), t.detach(), Tensor.fromNdarray(t.toNdarray())];
      expect(t._version).to.equal(0);
      views[1]._bumpVersion();
      t._bumpVersion();
      for (const v of [t, ...views]) expect(v._version).to.equal(2);
      expect(t.clone()._version).to.equal(0);
      expect(tensor([1, 2, 3, 4])._version).to.equal(0);
    });

    it('is not moved by requiresGrad_, and follows the storage when it moves or is converted', () => {
      const t = tensor([1, 2]);
      t.requiresGrad_();
      t.requiresGrad_(false);
      expect(t._version).to.equal(0);
      t._bumpVersion();
      t._shareStorage(); // same values in new storage: same version
      expect(t._version).to.equal(1);
      const old = t.detach();
      t._convertStorage('float64'); // new values: a change for whoever saved t
      expect(t._version).to.equal(2);
      expect(old._version).to.equal(1);
    });

    it('converting the storage (Module.to) converts .grad too, as torch\'s Module._apply, instead of dropping it', () => {
      const t = tensor([1, 2], { requiresGrad: true });
      F.mul(t, tensor([0.5, 0.25])).sum().backward();
      const g = t.grad!;
      t._convertStorage('float64');
      expect(t.grad).to.equal(g); // torch: param.grad.data = fn(param.grad), the same tensor
      expect(g.dtype).to.equal('float64');
      expect(Array.from(g.data)).to.deep.equal([0.5, 0.25]);
      // A gradient that is a view (assigned by hand) is converted as a copy.
      const u = tensor([1, 2, 3]);
      u.grad = tensor([7, 8, 9, 10]).slice(0, 1);
      u._convertStorage('float64');
      expect(u.grad!.dtype).to.equal('float64');
      expect(Array.from(u.grad!.data)).to.deep.equal([8, 9, 10]);
      F.mul(u.requiresGrad_(), 2).sum().backward();
      expect(Array.from(u.grad!.data)).to.deep.equal([10, 11, 12]);
    });
  });

  describe('factories', () => {
    it('builds from nested arrays, flat arrays with a shape, and typed arrays', () => {
      const a = tensor([[1, 2, 3], [4, 5, 6]]);
      expect(a.shape).to.deep.equal([2, 3]);
      expect(a.dtype).to.equal('float32');
      expect(a.storage).to.be.instanceOf(Float32Array);
      expect(a.toArray()).to.deep.equal([[1, 2, 3], [4, 5, 6]]);
      const b = tensor([1, 2, 3, 4], { shape: [2, 2], dtype: 'float64' });
      expect(b.storage).to.be.instanceOf(Float64Array);
      expect(b.toArray()).to.deep.equal([[1, 2], [3, 4]]);
      const buf = new Float64Array([1, 2]);
      const c = tensor(buf);
      expect(c.dtype).to.equal('float64');
      expect(c.storage).to.equal(buf); // no copy
      expect(tensor(5).shape).to.deep.equal([]);
      expect(tensor(5).item()).to.equal(5);
    });

    it('rejects ragged arrays, non-numbers, bad shapes and unknown dtypes', () => {
      expect(() => tensor([[1, 2], [3]])).to.throw('tensor: ragged nested array: expected length 2 at [1], got 1');
      expect(() => tensor([1, 'x' as unknown as number])).to.throw('tensor: element at [1] is string, expected a number');
      expect(() => tensor([1, 2, 3], { shape: [2, 2] })).to.throw('tensor: shape [2,2] needs 4 values but 3 were given');
      expect(() => zeros([2, -1])).to.throw('zeros: invalid shape [2,-1]: dimensions must be non-negative integers');
      expect(() => zeros([2], { dtype: 'int8' as never })).to.throw('zeros: unknown dtype int8 (expected float32 or float64)');
    });

    it('refuses holes in arrays instead of shifting the later values down (a hole is no number)', () => {
      // forEach skipped holes: [1, , 3] became [1, 3, 0] and new Array(3) a tensor of zeros.
      expect(() => tensor([1, , 3] as never)).to.throw('tensor: element at [1] is undefined, expected a number');
      expect(() => tensor(new Array(3) as never)).to.throw('tensor: element at [0] is undefined, expected a number');
      expect(() => tensor([[1, 2], [3, ,]] as never)).to.throw('tensor: element at [1][1] is undefined, expected a number');
      expect(() => tensor([1, , 3] as never, { shape: [3, 1] })).to.throw('tensor: element at [1] is undefined, expected a number');
      // A hole where a row belongs is a ragged array, not a row of zeros.
      expect(() => tensor([[1, 2], , [5, 6]] as never)).to.throw('tensor: ragged nested array: expected length 2 at [1], got undefined');
    });

    it('builds from an array of typed arrays (torch.tensor of a list of numpy arrays) and names a DataView as unsupported', () => {
      const a = tensor([new Float32Array([1, 2]), new Float32Array([3, 4]), new Float32Array([5, 6])]);
      expect(a.shape).to.deep.equal([3, 2]);
      expect(a.toArray()).to.deep.equal([[1, 2], [3, 4], [5, 6]]);
      const b = tensor([[new Float64Array([0.1, 0.2])], [new Float64Array([0.3, 0.4])]], { dtype: 'float64' });
      expect(b.shape).to.deep.equal([2, 1, 2]);
      expect(Array.from(b.data)).to.deep.equal([0.1, 0.2, 0.3, 0.4]);
      expect(() => tensor([new Float32Array([1, 2]), new Float32Array([3])])).to.throw('tensor: ragged nested array: expected length 2 at [1], got 1');
      expect(() => tensor([new Float32Array([1, 2]), [3, 4]])).to.not.throw();
      expect(() => tensor(new DataView(new ArrayBuffer(8)) as never)).to.throw('tensor: expected a number, nested arrays of numbers or a typed array, got DataView(8)');
      expect(() => tensor(new BigInt64Array(2) as never)).to.throw('tensor: expected a number, nested arrays of numbers or a typed array, got BigInt64Array(2)');
    });

    it('names the factory, the shape and the bytes when the storage cannot be allocated', () => {
      // 10^12 elements: more than any typed array or machine holds, whatever the storage setting.
      const big = [1e6, 1e6];
      const cases: Array<[string, () => unknown, string]> = [
        ['zeros', () => zeros(big), 'float32 tensor of shape [1000000,1000000]: 1000000000000 elements, 4000000000000 bytes'],
        ['ones', () => ones(big, { dtype: 'float64' }), 'float64 tensor of shape [1000000,1000000]: 1000000000000 elements, 8000000000000 bytes'],
        ['full', () => full(big, 2), 'float32 tensor of shape [1000000,1000000]'],
        ['rand', () => rand(big), 'float32 tensor of shape [1000000,1000000]'],
        ['randn', () => randn(big), 'float32 tensor of shape [1000000,1000000]'],
        ['randint', () => randint(0, 2, big), 'float32 tensor of shape [1000000,1000000]'],
        ['empty', () => Tensor.empty(big, 'float64'), 'float64 tensor of shape [1000000,1000000]'],
      ];
      for (const [op, f, detail] of cases) {
        let err: unknown = null;
        try { f(); } catch (e) { err = e; }
        expect(err, op).to.be.instanceOf(Error);
        expect(err, op).to.not.be.instanceOf(RangeError);
        expect((err as Error).message, op).to.contain(`${op}: cannot allocate a ${detail}`);
      }
    });

    it('names the size when an op\'s output cannot be allocated', () => {
      // An expanded view costs nothing; adding to it materialises 10^12 elements.
      const huge = zeros([1, 1]).expand(1e6, 1e6);
      expect(() => huge.add(1)).to.throw(Error, /^allocate: cannot allocate 1000000000000 float32 elements \(4000000000000 bytes, 3725\.3 GiB\) for a tensor: /);
    });

    it('zeros, ones, full, *Like, arange', () => {
      expect(Array.from(zeros([3]).data)).to.deep.equal([0, 0, 0]);
      expect(Array.from(ones([2]).data)).to.deep.equal([1, 1]);
      expect(Array.from(full([2], 7, { dtype: 'float64' }).data)).to.deep.equal([7, 7]);
      const x = tensor([[1, 2]], { dtype: 'float64' });
      expect(zerosLike(x).dtype).to.equal('float64');
      expect(onesLike(x).toArray()).to.deep.equal([[1, 1]]);
      expect(Array.from(arange(4).data)).to.deep.equal([0, 1, 2, 3]);
      expect(Array.from(arange(1, 2, 0.25, { dtype: 'float64' }).data)).to.deep.equal([1, 1.25, 1.5, 1.75]);
      expect(Array.from(arange(3, 0, -1).data)).to.deep.equal([3, 2, 1]);
      expect(() => arange(0, 1, 0)).to.throw('arange: step must be non-zero');
      expect(() => arange(0, 5, -1)).to.throw('arange: upper bound and step sign are inconsistent: start 0, end 5, step -1');
    });

    it('eye: ones on the main diagonal of an n×m matrix (m defaults to n), with dtype and requiresGrad options', () => {
      for (const [n, m] of [[3, 3], [2, 4], [4, 2], [0, 3], [1, 1]]) {
        const e = eye(n, m);
        expect(e.shape, `eye(${n}, ${m})`).to.deep.equal([n, m]);
        const want: number[][] = [];
        for (let i = 0; i < n; i++) want.push(Array.from({ length: m }, (_, j) => (i === j ? 1 : 0)));
        expect(e.toArray(), `eye(${n}, ${m})`).to.deep.equal(want);
      }
      expect(eye(2).toArray()).to.deep.equal([[1, 0], [0, 1]]);
      expect(eye(2, null).shape).to.deep.equal([2, 2]);
      const d = eye(2, { dtype: 'float64', requiresGrad: true });
      expect([d.dtype, d.requiresGrad, d.isLeaf, d.shape]).to.deep.equal(['float64', true, true, [2, 2]]);
      expect(eye(3, 1, { dtype: 'float64' }).toArray()).to.deep.equal([[1], [0], [0]]);
      expect(() => eye(-1)).to.throw('eye: n must be greater or equal to 0, got -1');
      expect(() => eye(2, -3)).to.throw('eye: m must be greater or equal to 0, got -3');
      expect(() => eye(2.5)).to.throw('eye: n must be an integer, got 2.5');
      expect(() => eye(2, 1.5)).to.throw('eye: m must be an integer, got 1.5');
      expect(() => eye(2, { requires_grad: true } as never)).to.throw("eye: unknown option 'requires_grad' (did you mean 'requiresGrad'?)");
      expect(() => eye(2, 2, { dtype: 'int32' as never })).to.throw('eye: unknown dtype int32');
    });

    it('linspace: start + i·step for the first half and end − (steps − 1 − i)·step for the second, as torch\'s CPU kernel', () => {
      expect(Array.from(linspace(-1, 1, 5).data)).to.deep.equal([-1, -0.5, 0, 0.5, 1]);
      expect(Array.from(linspace(3, 7, 1).data)).to.deep.equal([3]);
      expect(linspace(3, 7, 0).shape).to.deep.equal([0]);
      expect(Array.from(linspace(10, 0, 3, { dtype: 'float64' }).data)).to.deep.equal([10, 5, 0]);
      // torch's linspace kernel, written out: step in the dtype, each operation rounded to it.
      const torchLinspace = (s0: number, e0: number, n: number, f32: boolean): number[] => {
        const r = f32 ? Math.fround : (v: number): number => v;
        const s = r(s0), e = r(e0), step = r(r(e - s) / r(n - 1));
        return Array.from({ length: n }, (_, i) => (i < Math.floor(n / 2) ? r(s + r(step * r(i))) : r(e - r(step * r(n - 1 - i)))));
      };
      for (const [s, e, n] of [[0, 1, 50], [0.1, 2.7, 38], [-0.3, 0.3, 4], [-1.7, 1.7, 5], [2, -3, 11], [-0.3, 0.3, 101]]) {
        for (const dtype of ['float32', 'float64'] as const) {
          const x = linspace(s, e, n, { dtype });
          expect(x.dtype).to.equal(dtype);
          expect(Array.from(x.data), `linspace(${s}, ${e}, ${n}) ${dtype}`).to.deep.equal(torchLinspace(s, e, n, dtype === 'float32'));
          // The docs' formula, start + i·(end − start)/(steps − 1), to rounding.
          const tol = (dtype === 'float32' ? 2e-6 : 1e-14) * Math.max(Math.abs(s), Math.abs(e));
          x.data.forEach((v, i) => expect(v).to.be.closeTo(s + (i * (e - s)) / (n - 1), tol));
        }
      }
      // Both ends exact where start + (steps − 1)·step is not: 0.9999999999999999 in float64 for steps 50,
      // 2.7000003 instead of fround(2.7) in float32 for steps 38.
      expect(linspace(0, 1, 50, { dtype: 'float64' }).data[49]).to.equal(1);
      expect(linspace(0.1, 2.7, 38).data[37]).to.equal(Math.fround(2.7));
      expect(linspace(0.1, 2.7, 38).data[0]).to.equal(Math.fround(0.1));
      // A symmetric range gives values symmetric to the bit (start + i·step alone does not for steps 4 and 5).
      for (const [a, n] of [[0.3, 4], [1.7, 5], [0.3, 101], [1.7, 64]]) {
        for (const dtype of ['float32', 'float64'] as const) {
          const x = linspace(-a, a, n, { dtype }).data;
          for (let i = 0; i < Math.floor(n / 2); i++) expect(x[i], `linspace(-${a}, ${a}, ${n}) ${dtype} [${i}]`).to.equal(-x[n - 1 - i]);
        }
      }
      const g = linspace(0, 1, 3, { requiresGrad: true });
      expect([g.requiresGrad, g.isLeaf]).to.deep.equal([true, true]);
      expect(() => linspace(0, 1, -1)).to.throw('linspace: number of steps must be non-negative, got -1');
      expect(() => linspace(0, 1, 2.5)).to.throw('linspace: steps must be an integer, got 2.5');
      expect(() => linspace(0, 1, undefined as unknown as number)).to.throw('linspace: steps must be an integer, got undefined');
      expect(() => linspace(0, '1' as unknown as number, 3)).to.throw('linspace: start and end must be numbers, got 0, "1"');
      expect(() => linspace(0, 1e39, 3)).to.throw('linspace: value 1e+39 cannot be converted to float32 without overflow (use dtype float64)');
      expect(Array.from(linspace(0, 1e39, 3, { dtype: 'float64' }).data)).to.deep.equal([0, 5e38, 1e39]);
      expect(() => linspace(0, 1, 3, { step: 2 } as never)).to.throw("linspace: unknown option 'step'");
    });

    it('an empty arange with a negative step has size 0, not -0 (ceil(-0 / step) is -0)', () => {
      for (const [s, e, st] of [[0, 0, -1], [5, 5, -0.5], [0, 0, 1]]) {
        const a = arange(s, e, st);
        expect(Object.is(a.shape[0], 0), `arange(${s}, ${e}, ${st})`).to.equal(true);
        expect(a.size()).to.deep.equal([0]);
      }
    });

    it('full refuses a finite fill value beyond float32\'s range, as torch ("value cannot be converted to type float without overflow")', () => {
      const fltMax = 3.4028234663852886e38; // (2 - 2^-23) * 2^127
      expect(() => full([2], 1e40)).to.throw('full: value 1e+40 cannot be converted to float32 without overflow (use dtype float64)');
      expect(() => full([2], -1e39)).to.throw('full: value -1e+39 cannot be converted to float32 without overflow');
      // torch compares with FLT_MAX itself, so a value that would round down to it is refused too.
      expect(() => full([1], fltMax * (1 + 2 ** -30))).to.throw('cannot be converted to float32 without overflow');
      expect(() => fullLike(zeros([1]), 1e40)).to.throw('fullLike: value 1e+40 cannot be converted to float32 without overflow');
      expect(full([1], fltMax).data[0]).to.equal(fltMax);
      expect(full([1], Infinity).data[0]).to.equal(Infinity);
      expect(full([1], -Infinity).data[0]).to.equal(-Infinity);
      expect(Number.isNaN(full([1], NaN).data[0])).to.equal(true);
      expect(full([1], 1e40, { dtype: 'float64' }).data[0]).to.equal(1e40);
    });

    it('zerosLike, onesLike and fullLike keep the input dtype when options.dtype is undefined (torch: dtype=None)', () => {
      const x = tensor([[1, 2]], { dtype: 'float64' });
      expect(zerosLike(x, { dtype: undefined }).dtype).to.equal('float64');
      expect(onesLike(x, { dtype: undefined, requiresGrad: true }).dtype).to.equal('float64');
      expect(fullLike(x, 3, { dtype: undefined }).dtype).to.equal('float64');
      expect(fullLike(x, 3, { dtype: 'float32' }).dtype).to.equal('float32');
      expect(Array.from(fullLike(x, NaN).data).every(Number.isNaN)).to.equal(true);
    });

    it('rand, randn and randint are reproducible under manualSeed and in range', () => {
      manualSeed(3);
      const a = randn([100]);
      const u = rand([100]);
      const k = randint(2, 5, [1000]);
      manualSeed(3);
      expect(Array.from(randn([100]).data)).to.deep.equal(Array.from(a.data));
      expect(Array.from(rand([100]).data)).to.deep.equal(Array.from(u.data));
      expect(Array.from(randint(2, 5, [1000]).data)).to.deep.equal(Array.from(k.data));
      expect(Array.from(u.data).every((v) => v >= 0 && v < 1)).to.equal(true);
      expect(new Set(Array.from(k.data))).to.deep.equal(new Set([2, 3, 4]));
      expect(() => randint(3, 3, [2])).to.throw('randint: need integers low < high, got low=3, high=3');
    });

    /**
     * s1 of a generator state whose next 32-bit output is 0xffffffff, built by inverting xoshiro128**'s
     * output function rotl(s1 * 5, 7) * 9 (multiplication by 9 and 5 is invertible mod 2^32).
     */
    const maxDrawS1 = (): number => {
      const inv = (a: number): number => {
        let x = a;
        for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x));
        return x >>> 0;
      };
      const r7 = Math.imul(0xffffffff, inv(9)) >>> 0;
      return Math.imul(((r7 >>> 7) | (r7 << 25)) >>> 0, inv(5)) >>> 0;
    };

    it('rand stays below 1 in float32 even when the generator draws its largest value (torch.rand is [0, 1))', () => {
      const s1 = maxDrawS1();
      const g = new Random(0);
      g.setState({ s: [1, s1, 3, 4], spare: null });
      expect(g.nextUint32()).to.equal(0xffffffff);
      // 53 random bits this close to 1 round to 1 in float32; torch's float path draws 24 bits,
      // so the largest float32 draw is 1 - 2^-24.
      g.setState({ s: [1, s1, 3, 4], spare: null });
      expect(rand([1], { generator: g }).data[0]).to.equal(1 - 2 ** -24);
      g.setState({ s: [1, s1, 3, 4], spare: null });
      const d = rand([1], { generator: g, dtype: 'float64' }).data[0];
      expect(d).to.be.below(1);
      expect(d).to.be.above(1 - 2 ** -26);
    });

    it('randint refuses a range whose integers float32 cannot all hold (high is exclusive)', () => {
      const g = new Random(0);
      g.setState({ s: [1, maxDrawS1(), 3, 4], spare: null });
      // The largest draw of [0, 2^25) is 2^25 - 1, which float64 holds ...
      expect(randint(0, 2 ** 25, [1], { generator: g, dtype: 'float64' }).data[0]).to.equal(2 ** 25 - 1);
      // ... and float32 would round up to 2^25 = high, outside the range.
      expect(Math.fround(2 ** 25 - 1)).to.equal(2 ** 25);
      expect(() => randint(0, 2 ** 25, [1])).to.throw(
        'randint: float32 holds every integer only up to 2^24 in magnitude, got low=0, high=33554432 (use dtype float64)',
      );
      expect(() => randint(-(2 ** 24) - 1, 0, [1])).to.throw('randint: float32 holds every integer only up to 2^24 in magnitude');
      // The edges themselves are fine: [-2^24, 2^24] is exact in float32.
      const k = randint(2 ** 24, 2 ** 24 + 1, [2]);
      expect(Array.from(k.data)).to.deep.equal([2 ** 24, 2 ** 24]);
      expect(Array.from(randint(-(2 ** 24), -(2 ** 24) + 1, [1]).data)).to.deep.equal([-(2 ** 24)]);
    });
  });

  describe('accessors', () => {
    it('numel, size, dim, item and their errors', () => {
      const x = zeros([2, 3, 4]);
      expect(x.numel()).to.equal(24);
      expect(x.size()).to.deep.equal([2, 3, 4]);
      expect(x.size(-1)).to.equal(4);
      expect(x.dim()).to.equal(3);
      expect(() => x.size(3)).to.throw('size: dim 3 out of range for a tensor of shape [2,3,4]');
      expect(() => x.item()).to.throw('item: only one-element tensors can be converted to a number, got shape [2,3,4]');
    });

    it('requiresGrad must be a boolean, as torch\'s "requires_grad must be a bool"', () => {
      // A string from a config file ('false') would otherwise turn gradients on, and 'yes' would be
      // stored as the flag itself.
      expect(() => tensor([1], { requiresGrad: 'false' as unknown as boolean })).to.throw('tensor: requiresGrad must be a boolean, got "false"');
      expect(() => zeros([2], { requiresGrad: 1 as unknown as boolean })).to.throw('zeros: requiresGrad must be a boolean, got 1');
      const x = tensor([1, 2]);
      expect(() => x.requiresGrad_('yes' as unknown as boolean)).to.throw('requiresGrad: must be a boolean, got "yes"');
      expect(() => { x.requiresGrad = 0 as unknown as boolean; }).to.throw('requiresGrad: must be a boolean, got 0');
      expect(x.requiresGrad).to.equal(false);
      expect(tensor([1], { requiresGrad: false }).requiresGrad).to.equal(false);
      expect(x.requiresGrad_().requiresGrad).to.equal(true);
    });

    it('data is live for contiguous tensors and a copy for strided views; dataSync always copies', () => {
      const x = tensor([[1, 2, 3], [4, 5, 6]]);
      x.data[0] = 10;
      expect(x.toArray()).to.deep.equal([[10, 2, 3], [4, 5, 6]]);
      const row = x.slice(0, 1, 2);
      expect(Array.from(row.data)).to.deep.equal([4, 5, 6]);
      row.data[0] = 40; // contiguous slice: live subarray
      expect(x.toArray()).to.deep.equal([[10, 2, 3], [40, 5, 6]]);
      const t = x.transpose(0, 1);
      expect(t.isContiguous()).to.equal(false);
      expect(Array.from(t.data)).to.deep.equal([10, 40, 2, 5, 3, 6]);
      const copy = x.dataSync();
      copy[0] = -1;
      expect(x.data[0]).to.equal(10);
    });

    it('views share storage with their base: reshape, permute, expand, slice', () => {
      const x = arange(6).reshape(2, 3);
      expect(x.reshape([3, 2]).storage).to.equal(x.storage);
      expect(x.permute(1, 0).storage).to.equal(x.storage);
      expect(x.slice(1, 1).storage).to.equal(x.storage);
      expect(x.slice(1, 1).offset).to.equal(1);
      const e = tensor([1, 2]).reshape(2, 1).expand(2, 3);
      expect(e.strides).to.deep.equal([1, 0]);
      expect(e.toArray()).to.deep.equal([[1, 1, 1], [2, 2, 2]]);
      // reshape of a non-contiguous tensor copies
      const tr = x.permute(1, 0);
      expect(tr.reshape(6).storage).to.not.equal(x.storage);
      expect(Array.from(tr.reshape(6).data)).to.deep.equal([0, 3, 1, 4, 2, 5]);
      expect(() => tr.view(6)).to.throw("view: shape [6] is not compatible with the input's shape [3,2] and strides [1,3] (a dim to split or merge spans two separate runs of memory); use reshape() (which copies) or contiguous() first");
    });

    it('view and reshape of a strided tensor are views whenever its strides allow, as torch.view (computeStride)', () => {
      const x = arange(24).reshape(4, 6);
      // A column of a matrix: one run of stride 6, which view can split.
      const col = x.slice(1, 2, 3).reshape(4); // [2, 8, 14, 20]
      const v = col.view(2, 2);
      expect(v.storage).to.equal(x.storage);
      expect(v.strides).to.deep.equal([12, 6]);
      expect(v.toArray()).to.deep.equal([[2, 8], [14, 20]]);
      // Transposed: splitting a dim keeps the view; merging the two swapped dims cannot.
      const t = x.reshape(2, 2, 6).permute(2, 0, 1); // shape [6, 2, 2], strides [1, 12, 6]
      expect(t.view(3, 2, 4).strides).to.deep.equal([2, 1, 6]);
      expect(t.view(3, 2, 4).toArray()).to.deep.equal(t.contiguous().view(3, 2, 4).toArray());
      expect(() => t.view(12, 2)).to.throw('view: shape [12,2] is not compatible');
      // Every split and merge of a random strided tensor: reshape's values always match a contiguous
      // copy's, and reshape shares the storage exactly when view succeeds.
      const base = arange(2 * 3 * 4 * 2).reshape(2, 3, 4, 2);
      const layouts = [base.permute(1, 0, 3, 2), base.slice(2, 1, 4).slice(0, 1, 2), base.permute(3, 2, 1, 0).slice(1, 0, 4, 2)];
      for (const s of layouts) {
        const n = s.numel();
        for (const shape of [[n], [1, n], [n, 1], ...s.shape.map((_, i) => [s.shape.slice(0, i + 1).reduce((p, d) => p * d, 1), n / s.shape.slice(0, i + 1).reduce((p, d) => p * d, 1)])]) {
          const r = s.reshape(shape);
          expect(r.toArray(), `${s.shape} -> ${shape}`).to.deep.equal(s.contiguous().reshape(shape).toArray());
          let viewed = true;
          try { s.view(shape); } catch { viewed = false; }
          expect(r.storage === base.storage, `${s.shape}/${s.strides} -> ${shape}`).to.equal(viewed);
        }
      }
    });

    it('toArray, 0-d tensors and empty tensors', () => {
      expect(tensor(3).toArray()).to.equal(3);
      expect(zeros([0, 2]).toArray()).to.deep.equal([]);
      expect(zeros([2, 0]).toArray()).to.deep.equal([[], []]);
    });
  });

  describe('toString prints like PyTorch', () => {
    it('formats integers, decimals, scientific, float64, requires_grad and grad_fn', () => {
      expect(tensor([[1, 2], [3, 4]]).toString()).to.equal('tensor([[1., 2.],\n        [3., 4.]])');
      expect(tensor([0.5, -1.25]).toString()).to.equal('tensor([ 0.5000, -1.2500])');
      expect(tensor([1e-5, 1, 1000]).toString()).to.equal('tensor([1.0000e-05, 1.0000e+00, 1.0000e+03])');
      expect(tensor([1, 2], { dtype: 'float64' }).toString()).to.equal('tensor([1., 2.], dtype=float64)');
      expect(tensor([1.5], { requiresGrad: true }).toString()).to.equal('tensor([1.5000], requires_grad=True)');
      const y = tensor([1.5], { requiresGrad: true }).mul(2);
      expect(y.toString()).to.equal('tensor([3.], grad_fn=<MulBackward>)');
      expect(tensor(2.5).toString()).to.equal('tensor(2.5000)');
      expect(tensor([NaN, Infinity, 1.5]).toString()).to.equal('tensor([   nan,    inf, 1.5000])');
      // torch's _Formatter sizes the columns from the nonzero finite values only, and Python keeps -0's sign.
      expect(tensor([1, NaN, Infinity, -Infinity]).toString()).to.equal('tensor([1., nan, inf, -inf])');
      expect(tensor([100, Infinity]).toString()).to.equal('tensor([100.,  inf])');
      expect(tensor([-0, 1.5]).toString()).to.equal('tensor([-0.0000, 1.5000])');
      expect(tensor(-0).toString()).to.equal('tensor(-0.)');
      expect(tensor([-0, 1e-5]).toString()).to.equal('tensor([-0.0000e+00, 1.0000e-05])');
      expect(zeros([0]).toString()).to.equal('tensor([])');
    });

    it('moves a suffix that would pass 80 columns to its own line, as torch\'s _add_suffixes', () => {
      // torch: the last line's length + 2, plus the suffix and its ', ', must stay within 80; else
      // ',\n' + 7 spaces + suffix (a Linear's bias prints this way).
      expect(full([8], 0.5, { requiresGrad: true }).toString())
        .to.equal('tensor([0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000],\n       requires_grad=True)');
      expect(full([3], 0.5, { requiresGrad: true }).toString()).to.equal('tensor([0.5000, 0.5000, 0.5000], requires_grad=True)');
      // Last line 'tensor([1., …14…, 1.]' is 63 long: dtype fits (63 + 2 + 13 + 2 = 80), requires_grad then does not.
      expect(ones([14], { dtype: 'float64', requiresGrad: true }).toString())
        .to.equal(`tensor([${Array(14).fill('1.').join(', ')}], dtype=float64,\n       requires_grad=True)`);
      expect(ones([15], { dtype: 'float64', requiresGrad: true }).toString())
        .to.equal(`tensor([${Array(15).fill('1.').join(', ')}],\n       dtype=float64, requires_grad=True)`);
      // Only the last line counts: a long last row moves the suffix, a short one keeps it beside it.
      const m = F.mul(full([2, 8], 0.5, { requiresGrad: true }), 1).toString();
      expect(m.split('\n')).to.deep.equal([
        'tensor([[0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000],',
        '        [0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000]],',
        '       grad_fn=<MulBackward>)',
      ]);
      expect(F.mul(full([2, 2], 0.5, { requiresGrad: true }), 1).toString())
        .to.equal('tensor([[0.5000, 0.5000],\n        [0.5000, 0.5000]], grad_fn=<MulBackward>)');
    });

    it('rounds a value exactly halfway between two printed ones to the even one, as Python\'s format', () => {
      // torch prints with '{:.4f}' / '{:.4e}', which round exact binary ties half to even: in Python,
      // '{:.4f}'.format(0.03125) == '0.0312', '{:.4f}'.format(2.59375) == '2.5938',
      // '{:.4e}'.format(123445.0) == '1.2344e+05', '{:.4e}'.format(1.03125) == '1.0312e+00'.
      // JS's toFixed/toExponential round such ties up (0.0313, 1.2345e+05, 1.0313e+00).
      expect(tensor([0.03125, 1]).toString()).to.equal('tensor([0.0312, 1.0000])');
      expect(tensor([-0.03125, 2.59375]).toString()).to.equal('tensor([-0.0312,  2.5938])');
      expect(tensor([1, 123445]).toString()).to.equal('tensor([1.0000e+00, 1.2344e+05])');
      expect(tensor([1.03125, -1e-5], { dtype: 'float64' }).toString()).to.equal('tensor([ 1.0312e+00, -1.0000e-05], dtype=float64)');
      expect(tensor(0.03125).toString()).to.equal('tensor(0.0312)');
      // Not ties: the nearest value, whichever way.
      expect(tensor([0.03126, 1], { dtype: 'float64' }).toString()).to.equal('tensor([0.0313, 1.0000], dtype=float64)');
      expect(tensor([1, 123446]).toString()).to.equal('tensor([1.0000e+00, 1.2345e+05])');
    });

    it('abbreviates tensors over 1000 elements with ... keeping 3 items per edge', () => {
      expect(full([2000], 3).toString()).to.equal('tensor([3., 3., 3.,  ..., 3., 3., 3.])');
      // 1999/1 > 1000: PyTorch switches integer-valued floats to scientific notation, and wraps at 80 columns.
      expect(arange(2000).toString()).to.equal('tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])');
      const m = F.add(zeros([40, 40]), arange(40)).toString().split('\n');
      expect(m[0]).to.equal('tensor([[ 0.,  1.,  2.,  ..., 37., 38., 39.],');
      expect(m[3]).to.equal('        ...,');
      expect(m.length).to.equal(7);
    });
  });

  describe('ndarray interop', () => {
    it('toNdarray is a zero-copy view with the same shape, strides and offset', () => {
      const x = arange(12, undefined, 1, { dtype: 'float64' }).reshape(3, 4);
      const t = x.transpose(0, 1).slice(0, 1);
      const nd = t.toNdarray();
      expect(nd.data).to.equal(x.storage);
      expect(nd.shape).to.deep.equal([3, 3]);
      expect(nd.get(0, 2)).to.equal(t.toArray() instanceof Array ? (t.toArray() as number[][])[0][2] : NaN);
      nd.set(0, 0, 99);
      expect(x.toArray()).to.deep.equal([[0, 99, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    });

    it('fromNdarray keeps the view (including negative strides) without copying', () => {
      const data = new Float32Array([1, 2, 3, 4, 5, 6]);
      const nd = ndarray(data, [2, 3]).step(1, -1);
      const t = Tensor.fromNdarray(nd);
      expect(t.storage).to.equal(data);
      expect(t.toArray()).to.deep.equal([[3, 2, 1], [6, 5, 4]]);
      expect(F.sum(t, 1).toArray()).to.deep.equal([6, 15]);
      expect(() => Tensor.fromNdarray(ndarray([1, 2, 3], [3]))).to.throw('fromNdarray: expected ndarray data to be a Float32Array or Float64Array, got [object Array]');
      expect(() => Tensor.fromNdarray(ndarray(new Float32Array(4), [3, 2]))).to.throw('fromNdarray: view of shape [3,2] strides [2,1] offset 0 reaches outside its 4-element buffer');
    });

    it('does not need esModuleInterop: the sources compile to a plain require of ndarray', () => {
      // A consumer's tsconfig compiles these sources (main is index.ts); without esModuleInterop a
      // default import of the CommonJS ndarray became `ndarray_1.default`, undefined at run time.
      for (const file of ['autograd/tensor.ts', 'lib/data/ndarray_view.ts']) {
        const source = fs.readFileSync(path.join(__dirname, '../..', file), 'utf8');
        const js = ts.transpileModule(source, {
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: false },
        }).outputText;
        expect(js, file).to.match(/const ndarray = require\("ndarray"\);/);
        expect(js, file).not.to.match(/ndarray_1\b/);
      }
    });
  });

  describe('dtypes', () => {
    it('keeps the inputs dtype and refuses to mix dtypes, naming both', () => {
      const a = ones([2, 3]);
      const b = ones([3], { dtype: 'float64' });
      expect(F.add(b, 1).dtype).to.equal('float64');
      expect(() => F.add(a, b)).to.throw("add: dtype mismatch: 'a' is float32 [2,3] but 'b' is float64 [3]; convert one with .to()");
      expect(F.add(a, b.to('float32')).dtype).to.equal('float32');
      const x = tensor([1.5, 2.5], { dtype: 'float64', requiresGrad: true });
      x.float().mul(2).sum().backward();
      expect(x.grad!.dtype).to.equal('float64');
      expect(Array.from(x.grad!.data)).to.deep.equal([2, 2]);
    });
  });
});
